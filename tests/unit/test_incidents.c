/* test_incidents.c - the incidents detector (reports/incidents.c) on records built by hand.
 *
 * Each test feeds a stream of finished records, in the order an engine would hand them out (by
 * finish time), and checks what the detector reports: a burst of server closes with resets is a
 * server_exit, one with survivors a keepalive_sweep; a steady stream, a load test's short
 * connections and a burst below the minimum are not incidents; path resets, silences and SYN waves
 * get their kinds; membership for CSV rows settles; the timeline keeps every ending. Exits
 * non-zero when any assertion failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "incidents.h"
#include "cunit_main.h"

#define SEC 1000000000LL
#define MS 1000000LL
#define T0 (1764000000LL * SEC)

struct got {
	unsigned n;
	struct incident inc[8];
	uint64_t members[8][512];
};

static int sink(void *ctx, const struct incident *inc)
{
	struct got *g = ctx;

	if (g->n < 8) {
		g->inc[g->n] = *inc;
		for (uint64_t i = 0; i < inc->n_members && i < 512 && inc->members; i++)
			g->members[g->n][i] = inc->members[i];
		g->n++;
	}
	return 0;
}

static uint64_t next_id = 1;

/* A connection from 10.0.<c>.<d>:port to 192.0.2.1:443 (or `server_last` as its last byte). */
static struct flow_record conn(uint8_t c, uint8_t d, uint8_t server_last, int64_t start, int64_t end)
{
	struct flow_record r;

	memset(&r, 0, sizeof r);
	r.id = next_id++;
	r.client.addr.family = 4;
	r.client.addr.bytes[0] = 10;
	r.client.addr.bytes[2] = c;
	r.client.addr.bytes[3] = d;
	r.client.port = (uint16_t)(40000 + d);
	r.server.addr.family = 4;
	r.server.addr.bytes[0] = 192;
	r.server.addr.bytes[2] = 2;
	r.server.addr.bytes[3] = server_last;
	r.server.port = 443;
	r.first_ts_ns = start;
	r.last_ts_ns = end;
	r.has_close_ts = true;
	r.close_ts_ns = end;
	r.handshake = HANDSHAKE_COMPLETE;
	r.syns[0] = r.syns[1] = 1;
	return r;
}

/* Closed by the server with a FIN (or a RST over unread data) at `end`. */
static struct flow_record server_closed(uint8_t c, uint8_t d, int64_t start, int64_t end, bool rst)
{
	struct flow_record r = conn(c, d, 1, start, end);

	r.close_class = rst ? CLOSE_RST_UNREAD_DATA : CLOSE_FIN_GRACEFUL;
	r.closer = CLOSER_SERVER;
	r.n_evidence = 1;
	r.evidence[0].ts_ns = end;
	r.evidence[0].from = FROM_SERVER;
	r.evidence[0].flags = rst ? TCP_RST : (TCP_FIN | TCP_ACK);
	return r;
}

static struct flow_record client_closed(uint8_t c, uint8_t d, int64_t start, int64_t end)
{
	struct flow_record r = conn(c, d, 1, start, end);

	r.close_class = CLOSE_FIN_GRACEFUL;
	r.closer = CLOSER_CLIENT;
	return r;
}

static struct incidents *make(struct got *g, bool track)
{
	struct incidents *d;

	memset(g, 0, sizeof *g);
	next_id = 1;
	d = incidents_create(sink, g, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	incidents_track_membership(d, track);
	return d;
}

/* 200 connections opened over 10 s, all closed by the server within 5 ms at T0 + 20 s, some
 * with a reset; background: a client-closed connection every 100 ms. */
static void test_server_exit(void)
{
	struct got g;
	struct incidents *d = make(&g, true);
	uint64_t burst_first = 0;

	for (int i = 0; i < 400; i++) { /* 40 s of background */
		struct flow_record bg = client_closed(1, (uint8_t)i, T0 + (int64_t)i * 100 * MS,
		                                      T0 + (int64_t)i * 100 * MS + 50 * MS);

		CU_ASSERT_EQUAL(incidents_add(d, &bg), 0);
		if (i == 200) {
			for (int k = 0; k < 200; k++) {
				struct flow_record r = server_closed(2, (uint8_t)k, T0 + (int64_t)k * 50 * MS,
				                                     T0 + 20 * SEC + (int64_t)k * 25000, k % 3 == 0);

				if (!burst_first)
					burst_first = r.id;
				CU_ASSERT_EQUAL(incidents_add(d, &r), 0);
			}
		}
	}
	CU_ASSERT_EQUAL(incidents_finish(d), 0);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_EQUAL(g.inc[0].kind, INCIDENT_SERVER_EXIT);
	CU_ASSERT_EQUAL(g.inc[0].n_members, 200);
	CU_ASSERT_EQUAL(g.inc[0].start_ns, T0 + 20 * SEC);
	CU_ASSERT_EQUAL(g.inc[0].end_ns, T0 + 20 * SEC + 199LL * 25000);
	CU_ASSERT_EQUAL(g.members[0][0], burst_first);
	CU_ASSERT_EQUAL(g.inc[0].by_class[CLOSE_RST_UNREAD_DATA], 67);
	CU_ASSERT(g.inc[0].rate_during > 1000.0);
	CU_ASSERT_EQUAL(incidents_count(d), 1);
	CU_ASSERT_EQUAL(incidents_find_flow(d, burst_first), 1);
	CU_ASSERT_EQUAL(incidents_find_flow(d, 1), 0);
	/* every record settled; the members name the incident */
	CU_ASSERT_EQUAL(incidents_settled(d), incidents_added(d));
	CU_ASSERT_EQUAL(incidents_member_of(d, 201), 1); /* the first of the burst (seq 201) */
	CU_ASSERT_EQUAL(incidents_member_of(d, 0), 0);
	{
		char buf[512];

		incident_sentence(&g.inc[0], buf, sizeof buf);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "192.0.2.1:443"));
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "200 connections"));
	}
	incidents_destroy(d);
}

/* Only FINs, and connections of the endpoint open before and after it: a sweep. */
static void test_keepalive_sweep(void)
{
	struct got g;
	struct incidents *d = make(&g, false);

	for (int k = 0; k < 50; k++) {
		struct flow_record r = server_closed(2, (uint8_t)k, T0 + (int64_t)k * 10 * MS, T0 + 10 * SEC + k * MS,
		                                     false);
		incidents_add(d, &r);
	}
	for (int k = 0; k < 10; k++) { /* busy ones, closed later by their clients */
		struct flow_record r = client_closed(3, (uint8_t)k, T0, T0 + 15 * SEC + k * SEC);

		incidents_add(d, &r);
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_EQUAL(g.inc[0].kind, INCIDENT_KEEPALIVE_SWEEP);
	CU_ASSERT_EQUAL(g.inc[0].survivors, 10);
	CU_ASSERT_EQUAL(g.inc[0].n_members, 50);
	incidents_destroy(d);
}

/* The endpoint's own endings decided long before the burst still count: in the baseline by their
 * time, and as survivors when their flow went on past the burst (a FIN half-closed the connection
 * and the client kept sending), which the detector keeps of a decided ending. */
static void test_decided_endings_count(void)
{
	struct got g;
	struct incidents *d = make(&g, false);
	struct flow_record a = server_closed(4, 1, T0, T0 + 1 * SEC, false);
	struct flow_record c = server_closed(4, 30, T0, T0 + 22 * SEC + 500 * MS, false);

	a.last_ts_ns = T0 + 40 * SEC; /* half-closed at T0 + 1 s, seen until T0 + 40 s */
	for (int i = 0; i < 24; i++) { /* a baseline: one a second, over at once */
		struct flow_record b = server_closed(4, (uint8_t)(2 + i), T0, T0 + (2 + i) * SEC, false);

		incidents_add(d, &b);
	}
	incidents_add(d, &a); /* the capture is at T0 + 40 s: a comes after decided endings */
	c.last_ts_ns = T0 + 45 * SEC; /* the same, undecided when it comes */
	incidents_add(d, &c);
	for (int k = 0; k < 50; k++) {
		struct flow_record r = server_closed(2, (uint8_t)k, T0 + (int64_t)k * 10 * MS,
		                                     T0 + 30 * SEC + k * MS, false);
		incidents_add(d, &r);
	}
	for (int k = 0; k < 120; k++) { /* the capture goes on */
		struct flow_record r = client_closed(3, (uint8_t)k, T0 + 41 * SEC + k * SEC,
		                                     T0 + 41 * SEC + k * SEC + 50 * MS);
		incidents_add(d, &r);
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL_FATAL(g.n, 1);
	CU_ASSERT_EQUAL(g.inc[0].n_members, 50);
	CU_ASSERT_EQUAL(g.inc[0].kind, INCIDENT_KEEPALIVE_SWEEP);
	CU_ASSERT_EQUAL(g.inc[0].survivors, 2); /* a and c, none of the baseline */
	CU_ASSERT_DOUBLE_EQUAL(g.inc[0].rate_before, 26.0 / 30.0, 1e-9); /* from the origin, T0 */
	incidents_destroy(d);
}

/* A server closing 50 connections a second for a minute, steadily: no burst. */
static void test_steady_stream_is_no_incident(void)
{
	struct got g;
	struct incidents *d = make(&g, false);

	for (int i = 0; i < 3000; i++) {
		struct flow_record r = server_closed((uint8_t)(i / 250), (uint8_t)i, T0 - 5 * SEC,
		                                     T0 + (int64_t)i * 20 * MS, false);

		incidents_add(d, &r);
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL(g.n, 0);
	for (unsigned i = 0; i < g.n; i++)
		fprintf(stderr, "steady: %u at %lld..%lld, %llu members, rates %.1f %.1f %.1f over %.1f %.1f\n",
		        (unsigned)g.inc[i].kind, (long long)(g.inc[i].start_ns - T0), (long long)(g.inc[i].end_ns - T0),
		        (unsigned long long)g.inc[i].n_members, g.inc[i].rate_before, g.inc[i].rate_during,
		        g.inc[i].rate_after, g.inc[i].before_s, g.inc[i].after_s);
	incidents_destroy(d);
}

/* A load test: 150 connections opened at once, each closed by the server 5 ms after it opened:
 * dense and above any baseline, but no two were open together before the first ended. */
static void test_load_test_is_no_incident(void)
{
	struct got g;
	struct incidents *d = make(&g, false);

	for (int k = 0; k < 150; k++) {
		int64_t start = T0 + 10 * SEC + (int64_t)k * 200000;
		struct flow_record r = server_closed(2, (uint8_t)k, start, start + 5 * MS, false);

		incidents_add(d, &r);
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL(g.n, 0);
	incidents_destroy(d);
}

/* 19 at once is below the minimum; 20 is a burst. */
static void test_minimum(void)
{
	for (int n = 19; n <= 20; n++) {
		struct got g;
		struct incidents *d = make(&g, false);

		for (int k = 0; k < n; k++) {
			struct flow_record r = server_closed(2, (uint8_t)k, T0, T0 + 10 * SEC + k * MS, true);

			incidents_add(d, &r);
		}
		incidents_finish(d);
		CU_ASSERT_EQUAL(g.n, n >= 20 ? 1u : 0u);
		incidents_destroy(d);
	}
}

/* Resets from the path, silences and SYN waves. */
static void test_path_and_syn_kinds(void)
{
	struct got g;
	struct incidents *d = make(&g, false);

	for (int k = 0; k < 40; k++) { /* forged resets within 800 ms */
		struct flow_record r = conn(1, (uint8_t)k, 1, T0, T0 + 10 * SEC + (int64_t)k * 20 * MS);

		r.close_class = CLOSE_RST_ABORT;
		r.closer = CLOSER_SERVER;
		r.modifiers = MOD_RST_FROM_MIDDLEBOX;
		incidents_add(d, &r);
	}
	for (int k = 0; k < 40; k++) { /* silence from 10.0.7.x to 192.0.2.9 */
		struct flow_record r = conn(7, (uint8_t)k, 9, T0, T0 + 60 * SEC);

		r.close_class = CLOSE_PEER_VANISHED;
		r.closer = CLOSER_CLIENT;
		r.n_evidence = 1;
		r.evidence[0].ts_ns = T0 + 30 * SEC + (int64_t)k * 10 * MS;
		r.evidence[0].note = "first segment never answered";
		incidents_add(d, &r);
	}
	for (int k = 0; k < 30; k++) { /* SYNs retried to 192.0.2.5:443 */
		struct flow_record r = conn(8, (uint8_t)k, 5, T0 + 100 * SEC + k * MS, T0 + 104 * SEC);

		r.close_class = CLOSE_FIN_GRACEFUL;
		r.closer = CLOSER_CLIENT;
		r.syns[0] = 3;
		incidents_add(d, &r);
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL_FATAL(g.n, 3);
	bool seen[INCIDENT_KIND_COUNT] = { false };
	for (unsigned i = 0; i < g.n; i++)
		seen[g.inc[i].kind] = true;
	CU_ASSERT(seen[INCIDENT_PATH_RESET]);
	CU_ASSERT(seen[INCIDENT_PATH_OUTAGE]);
	CU_ASSERT(seen[INCIDENT_LISTEN_OVERFLOW]);
	for (unsigned i = 0; i < g.n; i++) {
		char where[128];

		incident_where(&g.inc[i], where, sizeof where);
		if (g.inc[i].kind == INCIDENT_PATH_OUTAGE)
			CU_ASSERT_STRING_EQUAL(where, "10.0.7.0/24 - 192.0.2.0/24");
		if (g.inc[i].kind == INCIDENT_LISTEN_OVERFLOW) {
			CU_ASSERT_STRING_EQUAL(where, "192.0.2.5:443");
			CU_ASSERT_EQUAL(g.inc[i].n_members, 30);
		}
	}
	incidents_destroy(d);
}

/* An incident is reported once the capture has moved on, not only at the end (NDJSON streams). */
static void test_reported_when_over(void)
{
	struct got g;
	struct incidents *d = make(&g, false);

	for (int k = 0; k < 30; k++) {
		struct flow_record r = server_closed(2, (uint8_t)k, T0, T0 + 10 * SEC + k * MS, true);

		incidents_add(d, &r);
	}
	for (int i = 0; i < 100 && g.n == 0; i++) { /* later, unrelated endings move the clock */
		struct flow_record r = client_closed(5, (uint8_t)i, T0 + 11 * SEC, T0 + 11 * SEC + i * SEC);

		incidents_add(d, &r);
	}
	CU_ASSERT_EQUAL(g.n, 1);
	incidents_finish(d);
	CU_ASSERT_EQUAL(g.n, 1);
	incidents_destroy(d);
}

/* The timeline counts every ending once, whatever its span. */
static void test_timeline_keeps_every_ending(void)
{
	struct got g;
	struct incidents *d = make(&g, false);
	uint64_t total = 0;

	for (int i = 0; i < 5000; i++) {
		struct flow_record r = client_closed(1, (uint8_t)i, T0, T0 + (int64_t)(i % 997) * 7 * SEC);

		incidents_add(d, &r);
	}
	incidents_finish(d);
	const struct timeline *tl = incidents_timeline(d);

	CU_ASSERT(tl->n <= TIMELINE_MAX_BUCKETS);
	CU_ASSERT(tl->width_ns >= SEC);
	for (unsigned b = 0; b < tl->n; b++)
		for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++)
			total += tl->count[b][c];
	CU_ASSERT_EQUAL(total, 5000);
	CU_ASSERT(tl->origin_ns <= T0);
	CU_ASSERT(tl->origin_ns + (int64_t)tl->n * tl->width_ns > T0 + 996LL * 7 * SEC);
	incidents_destroy(d);
}

/* Many keys, few endings each: bounded, and nothing found. */
static void test_many_keys_bounded(void)
{
	struct got g;
	struct incidents *d = make(&g, true);

	for (int i = 0; i < 200000; i++) {
		struct flow_record r = server_closed(1, 1, T0, T0 + (int64_t)i * MS, false);

		r.server.addr.bytes[1] = (uint8_t)(i >> 16);
		r.server.addr.bytes[2] = (uint8_t)(i >> 8);
		r.server.addr.bytes[3] = (uint8_t)i;
		incidents_add(d, &r);
		incidents_release(d, incidents_settled(d));
	}
	incidents_finish(d);
	CU_ASSERT_EQUAL(g.n, 0);
	CU_ASSERT_EQUAL(incidents_settled(d), incidents_added(d));
	incidents_destroy(d);
}

/* Timestamps at int64_t's limits (a hostile capture): no arithmetic overflow, the record is
 * settled at once and takes part in nothing. */
static void test_implausible_times(void)
{
	struct got g;
	struct incidents *d = make(&g, true);
	struct flow_record r = server_closed(1, 1, INT64_MIN, INT64_MAX, true);

	CU_ASSERT_EQUAL(incidents_add(d, &r), 0);
	r = server_closed(1, 2, T0, T0 + SEC, false);
	CU_ASSERT_EQUAL(incidents_add(d, &r), 0);
	CU_ASSERT_EQUAL(incidents_finish(d), 0);
	CU_ASSERT_EQUAL(g.n, 0);
	CU_ASSERT_EQUAL(incidents_settled(d), 2);
	CU_ASSERT_EQUAL(incidents_member_of(d, 0), 0);
	CU_ASSERT_EQUAL(incidents_timeline(d)->origin_ns, T0 + SEC); /* its ending's second */
	incidents_destroy(d);
}

CUNIT_TESTS(tests,
	    { "server_exit", test_server_exit },
	    { "keepalive_sweep", test_keepalive_sweep },
	    { "decided_endings_count", test_decided_endings_count },
	    { "steady_stream_is_no_incident", test_steady_stream_is_no_incident },
	    { "load_test_is_no_incident", test_load_test_is_no_incident },
	    { "minimum", test_minimum },
	    { "path_and_syn_kinds", test_path_and_syn_kinds },
	    { "reported_when_over", test_reported_when_over },
	    { "timeline_keeps_every_ending", test_timeline_keeps_every_ending },
	    { "many_keys_bounded", test_many_keys_bounded },
	    { "implausible_times", test_implausible_times });

CUNIT_MAIN("test_incidents",
	   { "incidents", NULL, NULL, NULL, NULL, tests })
