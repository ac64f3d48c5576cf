/* flow_select.h - the connections the user asked for with --flow: by id, or by its two endpoints.
 *
 * A selection is a small fixed list (FLOW_SELECT_MAX entries, one per --flow argument or per id
 * in a comma-separated list); matching is a linear scan. Each entry counts the connections it
 * matched, so the program can say which ones matched nothing.
 */
#ifndef TM_FLOW_SELECT_H
#define TM_FLOW_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_record.h"

#define FLOW_SELECT_MAX 64
#define FLOW_SELECT_TEXT_MAX 112

struct flow_select_entry {
	bool by_endpoints;
	uint64_t id;                  /* when !by_endpoints */
	struct flow_endpoint a, b;    /* when by_endpoints: either may be the client */
	uint64_t matched;             /* connections matched so far */
	char text[FLOW_SELECT_TEXT_MAX]; /* as the user wrote it, for messages */
};

struct flow_selection {
	unsigned n;
	struct flow_select_entry entry[FLOW_SELECT_MAX];
};

/* Adds what one --flow argument names:
 *   "7", "#7", "3,7,12"                     connection ids;
 *   "ADDR:PORT ADDR:PORT"                   both endpoints, in either order; ADDR is an IPv4
 *                                           address or an IPv6 one in brackets ([2001:db8::1]:443);
 *                                           the two may be separated by spaces, a comma, "->",
 *                                           "<->" or ">", and tcpdump's ADDR.PORT spelling (with
 *                                           a trailing ':') is accepted too, so a line can be
 *                                           pasted from tcpdump.
 * Returns 0, or -1 with a one-line message in err (nothing added). */
int flow_selection_add(struct flow_selection *s, const char *arg, char *err, size_t err_size);

/* Parses one endpoint ("198.51.100.1:80", "[2001:db8::1]:443", "198.51.100.1.80"). Returns 0 or
 * -1. Exposed for the tests. */
int flow_endpoint_parse(const char *text, struct flow_endpoint *out);

/* True when the connection (its id and endpoints) is selected. Does not count. */
bool flow_selection_matches(const struct flow_selection *s, uint64_t id,
                            const struct flow_endpoint *client, const struct flow_endpoint *server);

/* Same, and counts the match on every entry that matches. */
bool flow_selection_count(struct flow_selection *s, uint64_t id,
                          const struct flow_endpoint *client, const struct flow_endpoint *server);

#endif
