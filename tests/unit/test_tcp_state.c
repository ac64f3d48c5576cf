/* test_tcp_state.c - the state table written in analyzer/tracking/tcp_state.h against the code:
 * every row the table lists is what the code does, and every transition the code makes, for every
 * state and every event, is a row of the table. A change to either alone fails here.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "flow_record.h"
#include "segment.h"
#include "tcp_state.h"

#ifndef TM_SOURCE_DIR
#error "TM_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

/* The events of the table's vocabulary (tcp_state.h explains each). */
struct event {
	const char *name;
	bool sent;
	struct state_event ev;
};

static const struct event events[] = {
	{ "sent SYN", true, { .flags = TCP_SYN } },
	{ "sent SYN+ACK", true, { .flags = TCP_SYN | TCP_ACK } },
	{ "sent ACK", true, { .flags = TCP_ACK } },
	{ "sent bare FIN", true, { .flags = TCP_FIN } },
	{ "sent FIN", true, { .flags = TCP_FIN | TCP_ACK } },
	{ "sent crossing FIN", true, { .flags = TCP_FIN | TCP_ACK, .ignores_peer_fin = true } },
	{ "sent RST", true, { .flags = TCP_RST } },
	{ "received SYN", false, { .flags = TCP_SYN } },
	{ "received SYN+ACK", false, { .flags = TCP_SYN | TCP_ACK } },
	{ "received ACK", false, { .flags = TCP_ACK } },
	{ "received ACK of own SYN", false, { .flags = TCP_ACK, .acks_own_syn = true } },
	{ "received ACK of own FIN", false, { .flags = TCP_ACK, .acks_own_fin = true } },
	{ "received FIN", false, { .flags = TCP_FIN | TCP_ACK } },
	{ "received FIN with ACK of own FIN", false, { .flags = TCP_FIN | TCP_ACK, .acks_own_fin = true } },
	{ "received RST", false, { .flags = TCP_RST } },
};
#define N_EVENTS (sizeof events / sizeof events[0])

/* table[event][state]: the state the table says follows; TCPS_COUNT when no row lists the pair. */
static enum tcp_state table[N_EVENTS][TCPS_COUNT];
static unsigned rows, parse_errors;

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
	size_t i = strspn(s, " \t");
	memmove(s, s + i, strlen(s + i) + 1);
}

static int state_of(const char *name)
{
	for (int s = 0; s < TCPS_COUNT; s++) {
		if (strcmp(tcp_state_name((enum tcp_state)s), name) == 0)
			return s;
	}
	return -1;
}

static int event_of(const char *name)
{
	for (unsigned i = 0; i < N_EVENTS; i++) {
		if (strcmp(events[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* "UNKNOWN, CLOSED" or "every state but CLOSED[, X]": sets from[s] for the states named. */
static bool parse_states(char *text, bool from[TCPS_COUNT])
{
	static const char every[] = "every state but ";
	bool negate = strncmp(text, every, sizeof every - 1) == 0;

	memset(from, 0, sizeof(bool) * TCPS_COUNT);
	for (char *save = NULL, *tok = strtok_r(negate ? text + sizeof every - 1 : text, ",", &save);
	     tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		trim(tok);
		int s = state_of(tok);
		if (s < 0)
			return false;
		from[s] = true;
	}
	if (negate) {
		for (int s = 0; s < TCPS_COUNT; s++)
			from[s] = !from[s];
	}
	return true;
}

/* One row: "FROM[, FROM...] —EVENT→ TO[  (note)]". */
static void parse_row(char *line)
{
	char *dash = strstr(line, "—"), *arrow = dash ? strstr(dash, "→") : NULL;
	bool from[TCPS_COUNT];

	if (arrow == NULL)
		return;
	*dash = '\0';
	*arrow = '\0';
	char *event_name = dash + strlen("—"), *to = arrow + strlen("→");
	char *note = strchr(to, '(');
	if (note != NULL)
		*note = '\0';
	trim(line);
	trim(event_name);
	trim(to);
	int e = event_of(event_name), t = state_of(to);
	if (e < 0 || t < 0 || !parse_states(line, from)) {
		fprintf(stderr, "tcp_state.h: cannot read row '%s' -%s-> '%s'\n", line, event_name, to);
		parse_errors++;
		return;
	}
	for (int s = 0; s < TCPS_COUNT; s++) {
		if (!from[s])
			continue;
		if (table[e][s] != TCPS_COUNT) {
			fprintf(stderr, "tcp_state.h: %s -%s-> listed twice\n", tcp_state_name((enum tcp_state)s),
			        event_name);
			parse_errors++;
		}
		table[e][s] = (enum tcp_state)t;
	}
	rows++;
}

static int read_table(void)
{
	FILE *f = fopen(TM_SOURCE_DIR "/analyzer/tracking/tcp_state.h", "r");
	char line[512];
	bool in_table = false;

	for (unsigned e = 0; e < N_EVENTS; e++) {
		for (int s = 0; s < TCPS_COUNT; s++)
			table[e][s] = TCPS_COUNT;
	}
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "State table:") != NULL) {
			in_table = true;
			continue;
		}
		if (in_table && strstr(line, "*/") != NULL)
			break;
		if (in_table && strncmp(line, " *", 2) == 0)
			parse_row(line + 2);
	}
	fclose(f);
	return 0;
}

static void test_table_is_read(void)
{
	CU_ASSERT_EQUAL(parse_errors, 0);
	CU_ASSERT(rows >= 20);
}

/* Both directions at once: for every state and event, the code's answer is the table's, where
 * an unlisted pair means "unchanged". */
static void test_table_matches_code(void)
{
	for (unsigned e = 0; e < N_EVENTS; e++) {
		for (int s = 0; s < TCPS_COUNT; s++) {
			enum tcp_state from = (enum tcp_state)s;
			enum tcp_state got = events[e].sent ? tcp_state_on_send(from, &events[e].ev)
			                                    : tcp_state_on_receive(from, &events[e].ev);
			enum tcp_state want = table[e][s] == TCPS_COUNT ? from : table[e][s];
			if (got != want)
				fprintf(stderr, "%s -%s-> code %s, table %s\n", tcp_state_name(from), events[e].name,
				        tcp_state_name(got), tcp_state_name(want));
			CU_ASSERT_EQUAL(got, want);
			/* A row that says "unchanged" would be noise in the table. */
			CU_ASSERT(table[e][s] != from);
		}
	}
}

/* The RFC 9293 Figure 5 paths, read in sequence: the table composes into the life cycles. */
static enum tcp_state run(enum tcp_state s, const char *const *names)
{
	for (; *names != NULL; names++) {
		int e = event_of(*names);
		CU_ASSERT_FATAL(e >= 0);
		s = events[e].sent ? tcp_state_on_send(s, &events[e].ev) : tcp_state_on_receive(s, &events[e].ev);
	}
	return s;
}

static void test_life_cycles(void)
{
	static const char *const active[] = { "sent SYN", "received SYN+ACK", "sent ACK", "sent FIN",
		                              "received ACK of own FIN", "received FIN", NULL };
	static const char *const passive[] = { "received SYN", "sent SYN+ACK", "received ACK of own SYN",
		                               "received FIN", "sent FIN", "received ACK of own FIN", NULL };
	static const char *const simultaneous[] = { "sent FIN", "received FIN", "received ACK of own FIN",
		                                    NULL };

	CU_ASSERT_EQUAL(run(TCPS_UNKNOWN, active), TCPS_TIME_WAIT);
	CU_ASSERT_EQUAL(run(TCPS_UNKNOWN, passive), TCPS_CLOSED);
	CU_ASSERT_EQUAL(run(TCPS_ESTABLISHED, simultaneous), TCPS_TIME_WAIT);
}

/* The suite's set-up: a header that cannot be read leaves the table empty, which
 * test_table_is_read reports (rows < 20) rather than CUnit's set-up failure. */
static int load_table(void)
{
	(void)read_table();
	return 0;
}

CUNIT_TESTS(tests,
	    { "the header's table is read", test_table_is_read },
	    { "the table is the code, every state x every event", test_table_matches_code },
	    { "RFC 9293 life cycles", test_life_cycles });

CUNIT_MAIN("test_tcp_state",
	   { "tcp_state", load_table, NULL, NULL, NULL, tests })
