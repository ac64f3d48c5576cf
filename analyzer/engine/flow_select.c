/* flow_select.c - parsing and matching --flow arguments. Untrusted command-line text: every
 * length is checked before copying, and nothing is added when an argument is wrong. */
#include "flow_select.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARG_MAX_LEN 512

static void set_text(struct flow_select_entry *e, const char *text, size_t len)
{
	if (len >= sizeof e->text)
		len = sizeof e->text - 1;
	memcpy(e->text, text, len);
	e->text[len] = '\0';
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, struct ip_addr *a)
{
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, s, a->bytes) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->bytes) == 1) {
		a->family = 6;
		return 0;
	}
	return -1;
}

int flow_endpoint_parse(const char *text, struct flow_endpoint *out)
{
	char buf[128];
	size_t len = strlen(text);

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, text, len + 1);
	if (buf[len - 1] == ':') /* tcpdump: "198.51.100.2.8080:" */
		buf[--len] = '\0';
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return -1;
		*close = '\0';
		if (parse_addr(buf + 1, &out->addr) != 0 || out->addr.family != 6)
			return -1;
		return parse_port(close + 2, &out->port);
	}
	/* The last ':' or '.' separates the port: "198.51.100.1:80", tcpdump's "198.51.100.1.80"
	 * and "2001:db8::1.443". */
	for (char *sep = buf + len; sep-- > buf;) {
		if (*sep != ':' && *sep != '.')
			continue;
		*sep = '\0';
		if (parse_addr(buf, &out->addr) == 0 && parse_port(sep + 1, &out->port) == 0)
			return 0;
		return -1;
	}
	return -1;
}

static bool all_ids(const char *s)
{
	bool digit = false;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			digit = true;
		else if (*s != ',' && *s != '#' && *s != ' ')
			return false;
	}
	return digit;
}

static int add_ids(struct flow_selection *s, const char *arg, char *err, size_t err_size)
{
	char buf[ARG_MAX_LEN];
	char *save = NULL;
	unsigned n = s->n;

	memcpy(buf, arg, strlen(arg) + 1);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		struct flow_select_entry *e;
		char *end;
		unsigned long long v;

		if (*tok == '#')
			tok++;
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (!isdigit((unsigned char)*tok) || errno || *end || v == 0) {
			snprintf(err, err_size, "'%s' is not a connection id (1, 2, ...)", tok);
			return -1;
		}
		if (n >= FLOW_SELECT_MAX) {
			snprintf(err, err_size, "at most %d connections can be selected", FLOW_SELECT_MAX);
			return -1;
		}
		e = &s->entry[n++];
		memset(e, 0, sizeof *e);
		e->id = v;
		snprintf(e->text, sizeof e->text, "%llu", v);
	}
	s->n = n;
	return 0;
}

int flow_selection_add(struct flow_selection *s, const char *arg, char *err, size_t err_size)
{
	char buf[ARG_MAX_LEN];
	char *tok[3];
	unsigned n_tok = 0;
	char *save = NULL;
	size_t len = strlen(arg);
	struct flow_select_entry e = { .by_endpoints = true };

	if (len == 0 || len >= sizeof buf) {
		snprintf(err, err_size, "expected an id or 'ADDR:PORT ADDR:PORT'");
		return -1;
	}
	if (all_ids(arg))
		return add_ids(s, arg, err, err_size);

	/* Arrows and commas become spaces; then exactly two endpoints. */
	memcpy(buf, arg, len + 1);
	for (char *p = buf; *p; p++) {
		if ((p[0] == '-' && p[1] == '>') || (p[0] == '<' && p[1] == '-'))
			p[0] = p[1] = ' ';
		else if (*p == ',' || *p == '<' || *p == '>' || *p == '\t')
			*p = ' ';
	}
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (strcmp(t, "-") == 0)
			continue;
		if (n_tok == 3)
			break;
		tok[n_tok++] = t;
	}
	if (n_tok != 2) {
		snprintf(err, err_size, "'%s': expected an id or two endpoints 'ADDR:PORT ADDR:PORT'", arg);
		return -1;
	}
	if (flow_endpoint_parse(tok[0], &e.a) != 0 || flow_endpoint_parse(tok[1], &e.b) != 0) {
		snprintf(err, err_size,
		         "'%s': an endpoint is ADDR:PORT, with an IPv6 address in brackets "
		         "([2001:db8::1]:443)",
		         flow_endpoint_parse(tok[0], &e.a) != 0 ? tok[0] : tok[1]);
		return -1;
	}
	if (s->n >= FLOW_SELECT_MAX) {
		snprintf(err, err_size, "at most %d connections can be selected", FLOW_SELECT_MAX);
		return -1;
	}
	set_text(&e, arg, len);
	s->entry[s->n++] = e;
	return 0;
}

static bool endpoint_equal(const struct flow_endpoint *x, const struct flow_endpoint *y)
{
	return x->port == y->port && x->addr.family == y->addr.family &&
	       memcmp(x->addr.bytes, y->addr.bytes, sizeof x->addr.bytes) == 0;
}

static bool entry_matches(const struct flow_select_entry *e, uint64_t id,
                          const struct flow_endpoint *client, const struct flow_endpoint *server)
{
	if (!e->by_endpoints)
		return e->id == id;
	return (endpoint_equal(&e->a, client) && endpoint_equal(&e->b, server)) ||
	       (endpoint_equal(&e->a, server) && endpoint_equal(&e->b, client));
}

bool flow_selection_matches(const struct flow_selection *s, uint64_t id,
                            const struct flow_endpoint *client, const struct flow_endpoint *server)
{
	for (unsigned i = 0; i < s->n; i++)
		if (entry_matches(&s->entry[i], id, client, server))
			return true;
	return false;
}

bool flow_selection_count(struct flow_selection *s, uint64_t id,
                          const struct flow_endpoint *client, const struct flow_endpoint *server)
{
	bool any = false;

	for (unsigned i = 0; i < s->n; i++) {
		if (entry_matches(&s->entry[i], id, client, server)) {
			s->entry[i].matched++;
			any = true;
		}
	}
	return any;
}
