/* test_incidents_ref.c - the incidents detector (reports/incidents.c) against a frozen copy of it
 * (incidents_frozen.h): both are fed the same random record streams and must take the same
 * decisions: the same incidents reported at the same moments (numbers, kinds, places, times,
 * members in order, counts, rates, survivors), the same membership of every record (settled at
 * the same moment, CSV's view), the same timeline and the same kept incidents and lookups.
 *
 * The streams are made to reach the corners of the detector's bookkeeping: bursts of equal event
 * times, events exactly at the window's edges and the extension gap W/2, stragglers, steady
 * streams, records coming out late (within the skew and beyond it, into a stretch already
 * decided), very long gaps, event times near the limit of plausible times (2^62 ns) and beyond,
 * flow ids near 0 and 2^64, flows lasting from nothing to days, a first segment after the event,
 * many keys, a sink that fails, membership released as a writer would, and --expire values.
 * Exits non-zero when any assertion failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "cunit_main.h"
#include "incidents.h"
#include "test_rng.h"

#include "incidents_frozen.h"

#define SEC 1000000000LL
#define MS 1000000LL
#define MAX_LOG 64

/* What a sink saw: the incidents in the order reported, members copied. */
struct log {
	unsigned n;
	unsigned fail_at; /* the sink fails at this call (1-based), 0: never */
	unsigned calls;
	struct incident inc[MAX_LOG];
	uint64_t *members[MAX_LOG];
};

static int log_sink(void *ctx, const struct incident *inc)
{
	struct log *g = ctx;

	g->calls++;
	if (g->n < MAX_LOG) {
		g->inc[g->n] = *inc;
		g->members[g->n] = NULL;
		if (inc->members && inc->n_members) {
			g->members[g->n] = malloc(inc->n_members * sizeof *inc->members);
			if (g->members[g->n])
				memcpy(g->members[g->n], inc->members, inc->n_members * sizeof *inc->members);
		}
		g->n++;
	}
	return g->calls == g->fail_at ? -1 : 0;
}

static void log_free(struct log *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->members[i]);
	g->n = 0;
}

static unsigned failures_seen;

/* One assertion per comparison would flood the output on a failure: the first differences are
 * printed with the stream's seed, and the test fails. */
static void differ(uint64_t seed, const char *what, long long a, long long b)
{
	if (failures_seen++ < 10)
		fprintf(stderr, "stream %llu: %s differs: detector %lld, reference %lld\n",
		        (unsigned long long)seed, what, a, b);
	CU_FAIL("the detector and its reference decided differently");
}

#define SAME(seed, what, a, b)                                                     \
	do {                                                                       \
		if ((a) != (b))                                                    \
			differ(seed, what, (long long)(a), (long long)(b));        \
	} while (0)

static void same_incident(uint64_t seed, const struct incident *a, const uint64_t *ma,
                          const struct incident *b, const uint64_t *mb)
{
	SAME(seed, "number", a->number, b->number);
	SAME(seed, "kind", a->kind, b->kind);
	SAME(seed, "scope", a->scope, b->scope);
	SAME(seed, "ts_nano", a->ts_nano, b->ts_nano);
	SAME(seed, "where family", a->where.addr.family, b->where.addr.family);
	SAME(seed, "where address", memcmp(a->where.addr.bytes, b->where.addr.bytes, 16), 0);
	SAME(seed, "where port", a->where.port, b->where.port);
	SAME(seed, "peer family", a->where_peer.family, b->where_peer.family);
	SAME(seed, "peer address", memcmp(a->where_peer.bytes, b->where_peer.bytes, 16), 0);
	SAME(seed, "prefix", a->prefix, b->prefix);
	SAME(seed, "start", a->start_ns, b->start_ns);
	SAME(seed, "end", a->end_ns, b->end_ns);
	SAME(seed, "members", a->n_members, b->n_members);
	SAME(seed, "member list given", ma != NULL, mb != NULL);
	for (uint64_t i = 0; ma && mb && i < a->n_members && i < b->n_members; i++)
		SAME(seed, "member", ma[i], mb[i]);
	for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++)
		SAME(seed, "members of a class", a->by_class[c], b->by_class[c]);
	SAME(seed, "rate before", a->rate_before != b->rate_before, 0);
	SAME(seed, "rate during", a->rate_during != b->rate_during, 0);
	SAME(seed, "rate after", a->rate_after != b->rate_after, 0);
	SAME(seed, "before_s", a->before_s != b->before_s, 0);
	SAME(seed, "after_s", a->after_s != b->after_s, 0);
	SAME(seed, "survivors", a->survivors, b->survivors);
}

/* --- streams --------------------------------------------------------------------------------- */

struct gen {
	uint64_t rng;
	int64_t opened;   /* an episode's flows began before this, mostly (0: any time) */
	int fin_only;     /* an episode's server closes are FINs */
	int idle;         /* an episode's silences were idle first: 1, not: 0, either: -1 */
	int64_t now;      /* event time of the next event */
	uint64_t next_id;
	int64_t expire;
	bool v6;
	int64_t grain;    /* every time a multiple of this: equal times and exact edges abound */
	int64_t recent[8]; /* the last event times */
	unsigned n_recent;
};

static int64_t round_to(int64_t x, int64_t grain)
{
	return grain > 1 && x >= 0 && x <= (INT64_C(1) << 62) + 100 * SEC ? x - x % grain : x;
}

static uint64_t rnd(struct gen *g, uint64_t n)
{
	return n ? xorshift64s(&g->rng) % n : 0;
}

/* A time step: mostly small, sometimes exactly at the rules' edges, sometimes very long. */
static int64_t step(struct gen *g, int64_t mean)
{
	static const int64_t edges[] = { 0, 1, 500 * MS, 500 * MS + 1, 1 * SEC, 1 * SEC + 1,
		                         2 * SEC, 3 * SEC, 1500 * MS, 10 * SEC, 20 * SEC,
		                         20 * SEC + 1, 30 * SEC, 60 * SEC, 60 * SEC + 1, 100 * MS,
		                         100 * MS + 1 };

	switch (rnd(g, 40)) {
	case 0:
		return edges[rnd(g, sizeof edges / sizeof *edges)];
	case 1:
		return (int64_t)rnd(g, 3600) * SEC; /* up to an hour */
	case 2:
		return rnd(g, 20) == 0 ? (int64_t)rnd(g, 30) * 86400 * SEC : 0; /* days */
	default:
		return mean > 0 ? (int64_t)rnd(g, (uint64_t)mean * 2 + 1) : 0;
	}
}

/* How long before its event a flow began: from nothing to days, around the narrow fields' edges,
 * rarely after the event. */
static int64_t lifetime(struct gen *g)
{
	switch (rnd(g, 16)) {
	case 0:
		return 0;
	case 1:
		return (INT64_C(1) << 40) - 1 + (int64_t)rnd(g, 3); /* a 40-bit edge */
	case 2:
		return (INT64_C(1) << 32) - 1 + (int64_t)rnd(g, 3);
	case 3:
		return (int64_t)rnd(g, UINT64_C(3) * 86400) * SEC;
	case 4:
		return -(int64_t)rnd(g, 2 * SEC); /* began after its event (a broken capture) */
	case 5:
	case 6:
		return (int64_t)rnd(g, 10 * SEC); /* open before a burst of the seconds before */
	default:
		return (int64_t)rnd(g, 300 * MS);
	}
}

/* How long after its event the flow's last segment came. */
static int64_t trailer(struct gen *g)
{
	switch (rnd(g, 16)) {
	case 0:
		return 0;
	case 1:
		return (INT64_C(1) << 32) - 1 + (int64_t)rnd(g, 3);
	case 2:
		return (int64_t)rnd(g, 120) * SEC; /* lived on: a possible survivor */
	case 3:
		return 1 * SEC + (int64_t)rnd(g, 3); /* at the survivor margin */
	case 6:
	case 7:
		/* at the survivor margin of a recent event */
		return g->recent[rnd(g, 8)] + 1 * SEC - 1 + (int64_t)rnd(g, 3) - g->now;
	case 4:
		return (int64_t)rnd(g, 10 * SEC);
	default:
		return (int64_t)rnd(g, 40 * MS);
	}
}

static uint64_t flow_id(struct gen *g)
{
	switch (rnd(g, 64)) {
	case 0:
		g->next_id += rnd(g, UINT64_C(1) << 40); /* a jump */
		break;
	case 1:
		return g->next_id - rnd(g, UINT64_C(1) << 30); /* an old flow */
	case 2:
		return UINT64_MAX - rnd(g, 100);
	case 3:
		return rnd(g, 100);
	case 4:
		return g->next_id - (UINT64_C(1) << 26) + rnd(g, 3) - 1; /* narrow edges */
	case 5:
		return g->next_id + (UINT64_C(1) << 26) + rnd(g, 3) - 1;
	default:
		break;
	}
	return g->next_id++;
}

enum kind { K_SERVER, K_CLIENT, K_PATH_RESET, K_SILENCE, K_SYN, K_OTHER, K_COUNT };

/* One finished record of kind `k` whose event is at `t`, at server `srv` and client net `net`. */
static void make_record(struct gen *g, struct flow_record *r, enum kind k, int64_t t, unsigned srv,
                        unsigned net)
{
	static const enum close_class server_classes[] = { CLOSE_FIN_GRACEFUL, CLOSE_HALF_CLOSED_AT_END,
		                                           CLOSE_RST_UNREAD_DATA, CLOSE_RST_ABORT,
		                                           CLOSE_RST_AFTER_CLOSE };
	int64_t start = t - lifetime(g), last = t + trailer(g);

	if (g->opened && rnd(g, 10) && start > g->opened)
		start = g->opened - (int64_t)rnd(g, 2 * SEC);
	start = round_to(start, g->grain);
	last = round_to(last, g->grain);
	g->recent[g->n_recent++ % 8] = t;

	memset(r, 0, sizeof *r);
	r->id = flow_id(g);
	r->ts_nano = rnd(g, 50) == 0;
	r->client.addr.family = r->server.addr.family = g->v6 && rnd(g, 2) ? 6 : 4;
	r->client.addr.bytes[0] = 10;
	r->client.addr.bytes[2] = (uint8_t)net;
	r->client.addr.bytes[3] = (uint8_t)rnd(g, 256);
	r->client.addr.bytes[9] = (uint8_t)rnd(g, 256); /* beyond a /64 */
	r->client.port = (uint16_t)(1024 + rnd(g, 60000));
	r->server.addr.bytes[0] = 192;
	r->server.addr.bytes[2] = (uint8_t)(srv / 2);
	r->server.addr.bytes[3] = (uint8_t)(1 + srv % 2);
	r->server.port = srv % 3 ? 443 : 80;
	r->handshake = HANDSHAKE_COMPLETE;
	r->syns[0] = r->syns[1] = 1;
	r->first_ts_ns = start;
	r->last_ts_ns = last;
	r->has_close_ts = rnd(g, 8) != 0;
	r->close_ts_ns = t;
	switch (k) {
	case K_SERVER:
		r->close_class = server_classes[g->fin_only ? rnd(g, 2) : rnd(g, 5)];
		r->closer = CLOSER_SERVER;
		if (rnd(g, 6)) {
			r->n_evidence = 2;
			r->evidence[0].from = FROM_CLIENT;
			r->evidence[0].flags = TCP_ACK;
			r->evidence[0].ts_ns = start;
			r->evidence[1].from = FROM_SERVER;
			r->evidence[1].flags = r->close_class == CLOSE_RST_UNREAD_DATA ||
			                               r->close_class == CLOSE_RST_ABORT
			                               ? TCP_RST
			                               : TCP_FIN | TCP_ACK;
			r->evidence[1].ts_ns = t;
			r->close_ts_ns = round_to(t + (int64_t)rnd(g, 3) * MS, g->grain);
		} else if (!r->has_close_ts) {
			r->last_ts_ns = t; /* the event is the last segment */
		}
		break;
	case K_CLIENT:
		r->close_class = rnd(g, 2) ? CLOSE_FIN_GRACEFUL : CLOSE_RST_ABORT;
		r->closer = CLOSER_CLIENT;
		break;
	case K_PATH_RESET:
		r->close_class = CLOSE_RST_ABORT;
		r->closer = CLOSER_CLIENT;
		if (rnd(g, 3)) {
			r->modifiers = MOD_RST_FROM_MIDDLEBOX;
		} else {
			r->diagnosis.idle_timeout.present = true;
			r->diagnosis.idle_timeout.reset = true;
		}
		break;
	case K_SILENCE:
		r->close_class = rnd(g, 2) ? CLOSE_PEER_VANISHED : CLOSE_KEEPALIVE_TIMEOUT;
		r->has_close_ts = false;
		r->diagnosis.idle_timeout.present = g->idle < 0 ? rnd(g, 2) != 0 : g->idle && rnd(g, 8);
		if (rnd(g, 4)) {
			r->n_evidence = 1;
			r->evidence[0].note = rnd(g, 2) ? "first segment never answered"
			                                : "first unanswered keepalive probe";
			r->evidence[0].ts_ns = t;
			r->evidence[0].from = FROM_CLIENT;
		}
		break;
	case K_SYN:
		r->first_ts_ns = t;
		if (r->last_ts_ns < t)
			r->last_ts_ns = t;
		switch (rnd(g, 3)) {
		case 0:
			r->close_class = CLOSE_SYN_UNANSWERED;
			r->handshake = HANDSHAKE_SYN_ONLY;
			break;
		case 1:
			r->syns[rnd(g, 2)] = 2;
			r->close_class = CLOSE_FIN_GRACEFUL;
			r->closer = CLOSER_SERVER;
			break;
		default:
			r->handshake = HANDSHAKE_NO_FINAL_ACK;
			r->close_class = CLOSE_RST_ABORT;
			r->closer = CLOSER_CLIENT;
			break;
		}
		break;
	case K_OTHER:
	case K_COUNT:
		r->close_class = rnd(g, 2) ? CLOSE_RST_REFUSED : CLOSE_IDLE_AT_END;
		r->handshake = rnd(g, 2) ? HANDSHAKE_REFUSED : HANDSHAKE_MIDSTREAM;
		break;
	}
	if (rnd(g, 400) == 0) { /* an implausible time: outside 0 .. 2^62 */
		static const int64_t odd[] = { -1, INT64_MIN, INT64_MAX, (INT64_C(1) << 62) + 1 };

		switch (rnd(g, 3)) {
		case 0:
			r->first_ts_ns = odd[rnd(g, 4)];
			break;
		case 1:
			r->last_ts_ns = odd[rnd(g, 4)];
			break;
		default:
			r->close_ts_ns = odd[rnd(g, 4)];
			r->has_close_ts = true;
			break;
		}
	}
}

struct item {
	int64_t out;  /* when the engine hands it out */
	uint64_t order;
	struct flow_record rec;
};

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->out != y->out)
		return x->out < y->out ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* When the record comes out: after its last segment, by up to FINISHED_QUIET (10 s), or by
 * --expire for a flow that went quiet; now and then much later (beyond the skew) or earlier. */
static int64_t out_time(struct gen *g, const struct flow_record *r, enum kind k)
{
	int64_t last = r->last_ts_ns;

	if (last < 0 || last > (INT64_C(1) << 62) + 1000 * SEC)
		last = g->now; /* an implausible time: out with its neighbours */
	switch (rnd(g, 30)) {
	case 0:
		return last + (int64_t)rnd(g, 200) * SEC; /* very late */
	case 1:
		return last - (int64_t)rnd(g, 30) * SEC; /* out of order */
	default:
		break;
	}
	if (k == K_SILENCE)
		return last + g->expire - (int64_t)rnd(g, 2 * SEC);
	return last + (rnd(g, 3) ? (int64_t)rnd(g, 10 * SEC) : (int64_t)rnd(g, 50 * MS));
}

/* The stream of seed `seed`: episodes of background and bursts over a few keys. Returns the
 * records in the order they come out. */
static struct item *make_stream(uint64_t seed, size_t *count, int64_t *expire)
{
	static const int64_t bases[] = { 1764000000LL * SEC, 0, 1000 * SEC,
		                         (INT64_C(1) << 62) - 3600 * SEC, (INT64_C(1) << 62) - 5 * SEC };
	static const int64_t expires[] = { 0, 300 * SEC, 30 * SEC, 1 * SEC, 5 * SEC };
	struct gen g = { .rng = seed * 0x9e3779b97f4a7c15ULL + 1 };
	size_t cap = 200 + rnd(&g, 2500), n = 0;
	struct item *items = calloc(cap, sizeof *items);
	unsigned n_srv = 1 + (unsigned)rnd(&g, 4), n_net = 1 + (unsigned)rnd(&g, 3);

	if (!items)
		return NULL;
	g.now = bases[rnd(&g, sizeof bases / sizeof *bases)] + (int64_t)rnd(&g, SEC);
	g.next_id = rnd(&g, 4) ? 1 : UINT64_MAX - rnd(&g, 2000);
	g.expire = expires[rnd(&g, sizeof expires / sizeof *expires)];
	g.v6 = rnd(&g, 3) == 0;
	{
		static const int64_t grains[] = { 1, 1, 1, MS, 100 * MS, 500 * MS, SEC };

		g.grain = grains[rnd(&g, sizeof grains / sizeof *grains)];
	}
	for (unsigned i = 0; i < 8; i++)
		g.recent[i] = g.now;
	*expire = g.expire;
	if (g.expire == 0)
		g.expire = 300 * SEC;
	while (n < cap) {
		enum kind k = (enum kind)rnd(&g, K_COUNT);
		unsigned srv = (unsigned)rnd(&g, n_srv), net = (unsigned)rnd(&g, n_net);
		size_t m;
		int64_t gap;
		unsigned pattern = (unsigned)rnd(&g, 7);

		if (rnd(&g, 3) == 0)
			k = K_SERVER; /* the family with the most rules */
		g.opened = pattern <= 2 && rnd(&g, 4) ? g.now : 0;
		g.fin_only = rnd(&g, 2) == 0;
		g.idle = (int)rnd(&g, 3) - 1;
		switch (pattern) {
		case 0: /* a tight burst: equal times or within a few ms */
			m = 15 + rnd(&g, 60);
			gap = rnd(&g, 2) ? 0 : (int64_t)rnd(&g, 3 * MS);
			break;
		case 1: /* a burst spread over the window or around W/2 gaps */
			m = 15 + rnd(&g, 40);
			gap = rnd(&g, 2) ? 2 * SEC / (int64_t)m : 500 * MS + (int64_t)rnd(&g, 3) - 1;
			break;
		case 2: /* a long wave */
			m = 100 + rnd(&g, 300);
			gap = 100 * MS;
			break;
		case 3: /* a core of equal times between two stragglers at the cut (50 mean gaps,
		         * and at least 100 ms) or a nanosecond either side */
			m = 40 + rnd(&g, 30);
			gap = 0;
			break;
		default: /* background */
			m = 1 + rnd(&g, 40);
			gap = (int64_t)rnd(&g, 5 * SEC);
			break;
		}
		for (size_t i = 0; i < m && n < cap; i++) {
			struct item *it = &items[n];
			int64_t t = round_to(g.now, g.grain);

			if (pattern == 3 && (i == 1 || i + 1 == m))
				t = g.now += 100 * MS - 1 + (int64_t)rnd(&g, 3);
			make_record(&g, &it->rec, k, t, srv, net);
			it->out = out_time(&g, &it->rec, k);
			it->order = n++;
			/* a neighbour's background now and then */
			if (pattern == 3)
				continue;
			g.now += pattern <= 2 && rnd(&g, 5) ? (rnd(&g, 4) ? gap : (int64_t)rnd(&g, (uint64_t)gap + 1))
			                                    : step(&g, gap);
			if (rnd(&g, 10) == 0)
				g.now -= (int64_t)rnd(&g, 3 * SEC); /* not in event order */
		}
		g.now += step(&g, 2 * SEC);
		if (g.now > (INT64_C(1) << 62) + 10 * SEC)
			g.now = (INT64_C(1) << 62) - 60 * SEC;
	}
	qsort(items, n, sizeof *items, cmp_item);
	*count = n;
	return items;
}

/* --- the comparison -------------------------------------------------------------------------- */

static void compare_stream(uint64_t seed)
{
	size_t n = 0;
	int64_t expire = 0;
	struct item *items = make_stream(seed, &n, &expire);
	struct log la = { 0 }, lb = { 0 };
	struct gen g = { .rng = seed ^ 0x5bd1e995u };
	struct incidents *a;
	struct ref_incidents *b;
	bool track = rnd(&g, 4) != 0;
	uint64_t checked = 0, released = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(items);
	la.fail_at = lb.fail_at = rnd(&g, 8) == 0 ? 1 + (unsigned)rnd(&g, 3) : 0;
	a = incidents_create(log_sink, &la, expire);
	b = ref_incidents_create(log_sink, &lb, expire);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	incidents_track_membership(a, track);
	ref_incidents_track_membership(b, track);
	for (size_t i = 0; i < n; i++) {
		int ra = incidents_add(a, &items[i].rec), rb = ref_incidents_add(b, &items[i].rec);

		SAME(seed, "add's result", ra, rb);
		SAME(seed, "incidents reported so far", la.calls, lb.calls);
		SAME(seed, "records added", incidents_added(a), ref_incidents_added(b));
		uint64_t sa = incidents_settled(a), sb = ref_incidents_settled(b);

		SAME(seed, "records settled", sa, sb);
		for (; checked < sa && checked < sb; checked++)
			SAME(seed, "membership", incidents_member_of(a, checked),
			     ref_incidents_member_of(b, checked));
		if (rnd(&g, 50) == 0) {
			/* a pending record's slot, and then a writer releasing what it wrote */
			uint64_t s = released + rnd(&g, i + 2 - released);

			SAME(seed, "membership (pending)", incidents_member_of(a, s),
			     ref_incidents_member_of(b, s));
			released = checked - rnd(&g, checked - released + 1);
			incidents_release(a, released);
			ref_incidents_release(b, released);
		}
		if (failures_seen > 10)
			break;
	}
	SAME(seed, "finish's result", incidents_finish(a), ref_incidents_finish(b));
	SAME(seed, "records settled at the end", incidents_settled(a), ref_incidents_settled(b));
	for (; checked < incidents_settled(a); checked++)
		SAME(seed, "membership", incidents_member_of(a, checked), ref_incidents_member_of(b, checked));
	SAME(seed, "incidents reported", la.n, lb.n);
	for (unsigned i = 0; i < la.n && i < lb.n; i++)
		same_incident(seed, &la.inc[i], la.members[i], &lb.inc[i], lb.members[i]);
	SAME(seed, "incidents kept", incidents_count(a), ref_incidents_count(b));
	for (unsigned i = 0; i < incidents_count(a) && i < ref_incidents_count(b); i++) {
		const struct incident *x = incidents_get(a, i), *y = ref_incidents_get(b, i);

		same_incident(seed, x, x->members, y, y->members);
	}
	for (size_t i = 0; i < n; i++)
		SAME(seed, "incident of a flow", incidents_find_flow(a, items[i].rec.id),
		     ref_incidents_find_flow(b, items[i].rec.id));
	{
		const struct timeline *x = incidents_timeline(a), *y = ref_incidents_timeline(b);

		SAME(seed, "timeline origin", x->origin_ns, y->origin_ns);
		SAME(seed, "timeline width", x->width_ns, y->width_ns);
		SAME(seed, "timeline buckets", x->n, y->n);
		SAME(seed, "timeline counts", memcmp(x->count, y->count, sizeof x->count), 0);
	}
	incidents_destroy(a);
	ref_incidents_destroy(b);
	log_free(&la);
	log_free(&lb);
	free(items);
}

/* Thousands of streams; the number of incidents they make is checked too, so that the streams
 * keep reaching the code that reports them. */
static void test_random_streams(void)
{
#ifdef __SANITIZE_ADDRESS__
	unsigned streams = 1000; /* ten times slower under the sanitizers */
#else
	unsigned streams = 3000;
#endif
	uint64_t incidents = 0, with = 0, survivors = 0, kinds[INCIDENT_KIND_COUNT] = { 0 };
	const char *env = getenv("TM_INCIDENTS_STREAMS");

	if (env)
		streams = (unsigned)strtoul(env, NULL, 10);
	for (uint64_t seed = 1; seed <= streams && failures_seen <= 10; seed++) {
		unsigned before = failures_seen;

		compare_stream(seed);
		(void)before;
	}
	/* count what the streams made, with the reference alone */
	for (uint64_t seed = 1; seed <= 200; seed++) {
		size_t n = 0;
		int64_t expire = 0;
		struct item *items = make_stream(seed, &n, &expire);
		struct log l = { 0 };
		struct ref_incidents *b = ref_incidents_create(log_sink, &l, expire);

		CU_ASSERT_PTR_NOT_NULL_FATAL(items);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		for (size_t i = 0; i < n; i++)
			ref_incidents_add(b, &items[i].rec);
		ref_incidents_finish(b);
		incidents += l.calls;
		for (unsigned i = 0; i < l.n; i++) {
			kinds[l.inc[i].kind]++;
			survivors += l.inc[i].survivors > 0;
		}
		with += l.calls > 0;
		ref_incidents_destroy(b);
		log_free(&l);
		free(items);
	}
	printf("\n  200 streams: %llu incidents, in %llu streams; %llu with survivors; by kind",
	       (unsigned long long)incidents, (unsigned long long)with,
	       (unsigned long long)survivors);
	for (unsigned k = 0; k < INCIDENT_KIND_COUNT; k++) {
		printf(" %llu", (unsigned long long)kinds[k]);
		CU_ASSERT(kinds[k] > 0);
	}
	printf("\n");
	CU_ASSERT(incidents >= 100);
	CU_ASSERT(with >= 40);
}

CUNIT_TESTS(ref_tests, { "random streams against the frozen detector", test_random_streams });

CUNIT_MAIN("test_incidents_ref", { "incidents_ref", NULL, NULL, NULL, NULL, ref_tests });
