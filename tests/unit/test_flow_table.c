/* test_flow_table.c - the flow table (analyzer/engine/flow_table.h): lookups in both directions,
 * the activity lists, tombstones of finished flows and their expiry.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "flow_table.h"
#include "tcp_script.h"

static void test_flow_table(void)
{
	struct flow_table *t = flow_table_create(42, &store);
	enum { N = 5000 };
	struct live_flow **flows = calloc(N, sizeof *flows);
	struct tcp_segment seg;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(flows);
	for (unsigned i = 0; i < N; i++) {
		seg = make_seg(FROM_CLIENT, TCP_SYN, i, 0, 0);
		seg.sport = (uint16_t)(1024 + i);
		flows[i] = flow_store_new(&store);
		CU_ASSERT_FATAL(flows[i] && flow_init(&store, flows[i], i + 1, &seg, "t", false, 0));
		flows[i]->hash = flow_table_hash(t, &seg);
		CU_ASSERT_EQUAL(flow_table_insert(t, flows[i]), 0);
	}
	CU_ASSERT_EQUAL(flow_table_count(t), N);
	for (unsigned i = 0; i < N; i += 97) {
		/* Both directions find the same flow. */
		seg = make_seg(FROM_SERVER, TCP_ACK, 0, 0, 0);
		seg.dport = (uint16_t)(1024 + i);
		CU_ASSERT_PTR_EQUAL(flow_table_find(t, &seg, flow_table_hash(t, &seg)), flows[i]);
		seg = make_seg(FROM_CLIENT, TCP_ACK, 0, 0, 0);
		seg.sport = (uint16_t)(1024 + i);
		CU_ASSERT_PTR_EQUAL(flow_table_find(t, &seg, flow_table_hash(t, &seg)), flows[i]);
	}
	/* Activity order: the oldest is the first inserted until it is touched. */
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_LIVE), flows[0]);
	flow_table_touch(t, flows[0], FLOW_LIST_FINISHED);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_LIVE), flows[1]);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), flows[0]);
	flow_table_remove(t, flows[0]);
	CU_ASSERT_PTR_NULL(flow_table_oldest(t, FLOW_LIST_FINISHED));
	seg = make_seg(FROM_CLIENT, TCP_ACK, 0, 0, 0);
	seg.sport = 1024;
	CU_ASSERT_PTR_NULL(flow_table_find(t, &seg, flow_table_hash(t, &seg)));
	CU_ASSERT_EQUAL(flow_table_count(t), N - 1);
	flow_table_destroy(t);
	for (unsigned i = 0; i < N; i++)
		flow_store_free(&store, flows[i]);
	free(flows);
}

/* A flow of `seg`'s 4-tuple that has seen nothing yet, f->hash set for `t`. */
static struct live_flow *bare_flow(const struct flow_table *t, const struct tcp_segment *seg)
{
	struct live_flow *f = flow_store_new(&store);

	CU_ASSERT_FATAL(f && flow_init(&store, f, 1, seg, "t", false, 0));
	f->hash = flow_table_hash(t, seg);
	return f;
}

/* A flow of its own 4-tuple (client port `port`) given hash `hash`: the tests below choose hashes
 * to place flows in the same probe run. */
static struct live_flow *flow_with_hash(uint16_t port, uint32_t hash, struct tcp_segment *seg)
{
	struct live_flow *f = flow_store_new(&store);

	*seg = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	seg->sport = port;
	CU_ASSERT_FATAL(f && flow_init(&store, f, port, seg, "t", false, 0));
	f->hash = hash;
	return f;
}

static bool found(const struct flow_table *t, const struct live_flow *f, const struct tcp_segment *seg)
{
	return flow_table_find(t, seg, f->hash) == f;
}

static size_t slot_of(const struct flow_table *t, const struct live_flow *f)
{
	size_t n;

	return flow_table_slot_of(t, f, &n);
}

/* A hash whose home is slot `want` of `t`, empty (found by trying: the home function is the
 * table's own business), starting the search at `from`. */
static uint32_t hash_homed_at(struct flow_table *t, size_t want, uint32_t from)
{
	struct tcp_segment seg;
	struct live_flow *probe = flow_with_hash(60000, 0, &seg);

	for (uint32_t h = from;; h++) {
		size_t at;

		probe->hash = h;
		CU_ASSERT_FATAL(flow_table_insert(t, probe) == 0);
		at = slot_of(t, probe);
		flow_table_remove(t, probe);
		if (at == want) {
			flow_store_free(&store, probe);
			return h;
		}
	}
}

/* Removal in the middle of a probe run, the run wrapping round the end of the array: the slots
 * after the hole move back, but never before their home. */
static void test_probe_runs(void)
{
	struct flow_table *t = flow_table_create(3, &store);
	struct tcp_segment sv[3], sw, su;
	struct live_flow *v[3], *w, *u;
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(flow_table_slot_of(t, &(struct live_flow){ 0 }, &n), SIZE_MAX);
	uint32_t hv = hash_homed_at(t, n - 1, 1), hw = hash_homed_at(t, 0, 1);
	uint32_t hu = hash_homed_at(t, 1, 1);

	/* Three flows of one hash from the last slot, wrapping to 0 and 1; one homed at 0 after them. */
	for (int i = 0; i < 3; i++) {
		v[i] = flow_with_hash((uint16_t)(2000 + i), hv, &sv[i]);
		CU_ASSERT_EQUAL(flow_table_insert(t, v[i]), 0);
	}
	w = flow_with_hash(3000, hw, &sw);
	CU_ASSERT_EQUAL(flow_table_insert(t, w), 0);
	CU_ASSERT_EQUAL(slot_of(t, v[0]), n - 1);
	CU_ASSERT_EQUAL(slot_of(t, v[1]), 0);
	CU_ASSERT_EQUAL(slot_of(t, v[2]), 1);
	CU_ASSERT_EQUAL(slot_of(t, w), 2);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(found(t, v[i], &sv[i]));
	CU_ASSERT_TRUE(found(t, w, &sw));
	/* The run's head goes: everything after it moves back one, across the end. */
	flow_table_remove(t, v[0]);
	CU_ASSERT_FALSE(found(t, v[0], &sv[0]));
	CU_ASSERT_EQUAL(slot_of(t, v[0]), SIZE_MAX);
	CU_ASSERT_EQUAL(slot_of(t, v[1]), n - 1);
	CU_ASSERT_EQUAL(slot_of(t, v[2]), 0);
	CU_ASSERT_EQUAL(slot_of(t, w), 1);
	/* The middle: w (home 0) moves back into slot 0, its home. */
	flow_table_remove(t, v[2]);
	CU_ASSERT_EQUAL(slot_of(t, v[1]), n - 1);
	CU_ASSERT_EQUAL(slot_of(t, w), 0);
	CU_ASSERT_TRUE(found(t, v[1], &sv[1]));
	CU_ASSERT_TRUE(found(t, w, &sw));
	CU_ASSERT_FALSE(found(t, v[2], &sv[2]));
	CU_ASSERT_EQUAL(flow_table_count(t), 2);
	/* v[2] back with w's hash (home 0, so at 1), then u, homed at 1, at 2. */
	v[2]->hash = hw;
	CU_ASSERT_EQUAL(flow_table_insert(t, v[2]), 0);
	u = flow_with_hash(3001, hu, &su);
	CU_ASSERT_EQUAL(flow_table_insert(t, u), 0);
	CU_ASSERT_EQUAL(slot_of(t, v[2]), 1);
	CU_ASSERT_EQUAL(slot_of(t, u), 2);
	/* w goes: v[2] (home 0) moves to 0, u (home 1) to 1. */
	flow_table_remove(t, w);
	CU_ASSERT_EQUAL(slot_of(t, v[2]), 0);
	CU_ASSERT_EQUAL(slot_of(t, u), 1);
	CU_ASSERT_TRUE(found(t, u, &su));
	CU_ASSERT_TRUE(found(t, v[2], &sv[2]));
	/* v[2] goes: u stays at its home 1, the hole at 0 stays empty. */
	flow_table_remove(t, v[2]);
	CU_ASSERT_EQUAL(slot_of(t, u), 1);
	CU_ASSERT_TRUE(found(t, u, &su));
	CU_ASSERT_TRUE(found(t, v[1], &sv[1]));
	CU_ASSERT_EQUAL(flow_table_count(t), 2);
	flow_table_destroy(t);
	for (int i = 0; i < 3; i++)
		flow_store_free(&store, v[i]);
	flow_store_free(&store, w);
	flow_store_free(&store, u);
}

/* Inserts and removals at random over a few hashes shared by many flows (long runs, removals in
 * their middle, the array growing while they are long): after every step each flow in the table
 * is found, each flow out of it is not, and the count and the activity list agree. */
static void test_probe_runs_random(void)
{
	struct flow_table *t = flow_table_create(5, &store);
	enum { N = 1500, HASHES = 37, STEPS = 20000 };
	struct live_flow **f = calloc(N, sizeof *f);
	struct tcp_segment *seg = calloc(N, sizeof *seg);
	bool *in = calloc(N, sizeof *in);
	uint32_t hashes[HASHES];
	uint64_t rng = 88172645463325252ULL;
	size_t count = 0, slots0, slots;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_FATAL(f && seg && in);
	for (int k = 0; k < HASHES; k++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		hashes[k] = (uint32_t)rng;
	}
	for (unsigned i = 0; i < N; i++)
		f[i] = flow_with_hash((uint16_t)(1024 + i), hashes[i % HASHES], &seg[i]);
	(void)flow_table_slot_of(t, f[0], &slots0);
	for (int step = 0; step < STEPS; step++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		unsigned i = (unsigned)(rng % N);

		/* Mostly inserts at first, so the table grows; then as many of each. */
		if (!in[i] && (step < STEPS / 4 || (rng >> 32) % 2)) {
			CU_ASSERT_EQUAL(flow_table_insert(t, f[i]), 0);
			in[i] = true;
			count++;
		} else if (in[i]) {
			flow_table_remove(t, f[i]);
			in[i] = false;
			count--;
		}
		if (step % 97 == 0 || step == STEPS - 1) {
			size_t listed = 0;

			for (unsigned j = 0; j < N; j++)
				CU_ASSERT_EQUAL(found(t, f[j], &seg[j]), in[j]);
			for (struct live_flow *g = flow_table_oldest(t, FLOW_LIST_LIVE); g;
			     g = flow_table_newer(t, g))
				listed++;
			CU_ASSERT_EQUAL(listed, count);
		}
		CU_ASSERT_EQUAL(flow_table_count(t), count);
	}
	(void)flow_table_slot_of(t, f[0], &slots);
	CU_ASSERT(slots > slots0); /* it grew */
	flow_table_destroy(t);
	for (unsigned i = 0; i < N; i++)
		flow_store_free(&store, f[i]);
	free(f);
	free(seg);
	free(in);
}

static void test_tombstones(void)
{
	struct flow_table *t = flow_table_create(7, &store);
	struct live_flow *f;
	struct tcp_segment seg = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	struct tcp_segment back = make_seg(FROM_SERVER, TCP_ACK, 1, 0, 0);
	struct tcp_segment other = make_seg(FROM_CLIENT, TCP_ACK, 1, 0, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	other.sport = 40002;
	f = bare_flow(t, &seg);
	CU_ASSERT_FALSE(flow_table_grave(t, &seg, f->hash, false, NULL));
	CU_ASSERT_EQUAL(flow_table_bury(t, f, 100), 0);
	/* Found from both directions, not for another 4-tuple. */
	CU_ASSERT_TRUE(flow_table_grave(t, &seg, flow_table_hash(t, &seg), false, NULL));
	CU_ASSERT_TRUE(flow_table_grave(t, &back, flow_table_hash(t, &back), false, NULL));
	CU_ASSERT_FALSE(flow_table_grave(t, &other, flow_table_hash(t, &other), false, NULL));
	/* Removed: no longer found, still counted until its time is up. */
	CU_ASSERT_TRUE(flow_table_grave(t, &seg, f->hash, true, NULL));
	CU_ASSERT_FALSE(flow_table_grave(t, &seg, f->hash, false, NULL));
	flow_store_free(&store, f);
	CU_ASSERT_EQUAL(flow_table_graves(t), 1);
	/* Many tombstones over several chunks die in order. */
	for (int i = 0; i < 5000; i++) {
		other.sport = (uint16_t)(1000 + i);
		f = bare_flow(t, &other);
		CU_ASSERT_EQUAL(flow_table_bury(t, f, 200 + i), 0);
		flow_store_free(&store, f);
	}
	flow_table_expire_graves(t, 150);
	CU_ASSERT_EQUAL(flow_table_graves(t), 5000);
	flow_table_expire_graves(t, 200 + 2500);
	CU_ASSERT_EQUAL(flow_table_graves(t), 2500);
	other.sport = 1000 + 2499;
	CU_ASSERT_FALSE(flow_table_grave(t, &other, flow_table_hash(t, &other), false, NULL));
	other.sport = 1000 + 2500;
	CU_ASSERT_TRUE(flow_table_grave(t, &other, flow_table_hash(t, &other), false, NULL));
	flow_table_destroy(t);
}

/* A tombstone gives back its connection's last segment to the nanosecond (a reused 4-tuple's
 * printed gap is taken from it) and who held its TIME-WAIT; removing it keeps neither found. */
static void test_tombstone_times(void)
{
	struct flow_table *t = flow_table_create(7, &store);
	static const int64_t last[] = { 1, 999999, 1234567891, 59999999999LL, 7LL * 24 * 3600000000000 };
	struct grave_info info;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (unsigned i = 0; i < sizeof last / sizeof last[0]; i++) {
		struct tcp_segment seg = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
		struct live_flow *f;

		seg.sport = (uint16_t)(30000 + i);
		f = bare_flow(t, &seg);
		f->last_ts_ns = last[i];
		f->state[FROM_CLIENT] = i % 2 ? TCPS_TIME_WAIT : TCPS_CLOSED;
		f->state[FROM_SERVER] = i % 3 ? TCPS_CLOSED : TCPS_TIME_WAIT;
		/* the engine buries at the flow's finish + TOMBSTONE_NS: at least 60 s on */
		CU_ASSERT_EQUAL(flow_table_bury(t, f, last[i] + 60000000000LL + (int64_t)i * 777), 0);
		flow_store_free(&store, f);
		memset(&info, 0, sizeof info);
		CU_ASSERT_TRUE(flow_table_grave(t, &seg, flow_table_hash(t, &seg), true, &info));
		CU_ASSERT_EQUAL(info.last_ts_ns, last[i]);
		CU_ASSERT_EQUAL(info.time_wait, i % 2 ? (i % 3 ? CLOSER_CLIENT : CLOSER_BOTH)
		                                      : (i % 3 ? CLOSER_NONE : CLOSER_SERVER));
		CU_ASSERT_FALSE(flow_table_grave(t, &seg, flow_table_hash(t, &seg), false, NULL));
	}
	flow_table_destroy(t);
}

/* Freezes `f` (in `t`) in its place, as the engine does when a flow has ended on the wire. */
static struct live_flow *freeze_in(struct flow_table *t, struct live_flow *f)
{
	uint32_t h = f->self;
	struct live_flow *z = flow_store_freeze(&store, f);

	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	flow_table_freeze(t, h, z);
	return z;
}

/* Waiting (frozen) flows: found in their slots from both directions as frozen flows, the live ones
 * beside them as live ones; on the finished list in the order they were frozen; removed from the
 * middle of it; enough of them to grow the slot array. */
static void test_waiting_flows(void)
{
	struct flow_table *t = flow_table_create(9, &store);
	enum { N = 3000 };
	struct live_flow **flows = calloc(N, sizeof *flows);
	struct tcp_segment seg, back;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(flows);
	for (unsigned i = 0; i < N; i++) {
		seg = make_seg(FROM_CLIENT, TCP_SYN, i, 0, 0);
		seg.sport = (uint16_t)(1024 + i);
		flows[i] = bare_flow(t, &seg);
		CU_ASSERT_EQUAL(flow_table_insert(t, flows[i]), 0);
	}
	for (unsigned i = 0; i < N; i += 2)
		flows[i] = freeze_in(t, flows[i]);
	CU_ASSERT_EQUAL(flow_table_count(t), N);
	CU_ASSERT_EQUAL(flow_table_waiting(t), N / 2);
	for (unsigned i = 0; i < N; i++) {
		seg = make_seg(FROM_CLIENT, TCP_ACK, 0, 0, 0);
		seg.sport = (uint16_t)(1024 + i);
		back = make_seg(FROM_SERVER, TCP_ACK, 0, 0, 0);
		back.dport = (uint16_t)(1024 + i);
		struct live_flow *f = flow_table_find(t, &seg, flow_table_hash(t, &seg));

		CU_ASSERT_PTR_EQUAL(f, flows[i]);
		CU_ASSERT_PTR_EQUAL(flow_table_find(t, &back, flow_table_hash(t, &back)), flows[i]);
		CU_ASSERT_EQUAL(f && live_is_frozen(f), i % 2 == 0);
	}
	/* The finished list: the frozen flows, in order; the live list: the others. */
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), flows[0]);
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, flows[0]), flows[2]);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_LIVE), flows[1]);
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, flows[1]), flows[3]);
	flow_table_remove(t, flows[2]);
	flow_store_free(&store, flows[2]);
	flows[2] = NULL;
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, flows[0]), flows[4]);
	CU_ASSERT_EQUAL(flow_table_count(t), N - 1);
	CU_ASSERT_EQUAL(flow_table_waiting(t), N / 2 - 1);
	/* Drained oldest first, as expiry does. */
	for (struct live_flow *f; (f = flow_table_oldest(t, FLOW_LIST_FINISHED));) {
		flow_table_remove(t, f);
		flow_store_free(&store, f);
	}
	CU_ASSERT_EQUAL(flow_table_waiting(t), 0);
	CU_ASSERT_EQUAL(flow_table_count(t), N / 2);
	for (struct live_flow *f; (f = flow_table_oldest(t, FLOW_LIST_LIVE));) {
		flow_table_remove(t, f);
		flow_store_free(&store, f);
	}
	CU_ASSERT_EQUAL(flow_table_count(t), 0);
	flow_table_destroy(t);
	free(flows);
}

/* A copy of live flow `f` and of its FIN block, in the store and in no table. */
static struct live_flow *clone_flow(const struct live_flow *f)
{
	struct live_flow *c = flow_store_new(&store);
	uint32_t self;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	self = c->self;
	*c = *f;
	c->self = self;
	c->fin = 0;
	if (f->fin) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(live_fin_get(&store, c));
		*live_fin_of(&store, c) = *live_fin_of(&store, f);
	}
	return c;
}

/* A late segment on a waiting flow: a box in the path resets the connection after both FINs
 * (rst_from_middlebox's case). The frozen flow is thawed in its place, tracked, frozen again:
 * it then decodes and classifies exactly as the same flow never frozen does. */
static void test_late_segment_on_waiting_flow(void)
{
	struct flow_table *t = flow_table_create(3, &store);
	struct script s;
	struct live_flow *z, *f, *never;
	struct tcp_segment first, rst;
	static struct flow view[2];
	static struct flow_rare rare[2];
	struct flow_record rec[2];
	struct classify_context ctx = { .idle_ns = 5000 * MS };

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	script_init(&s, 1000, 5000);
	handshake(&s);
	exchange(&s);
	server_closes_first(&s, 1, 1);
	CU_ASSERT_TRUE_FATAL(flow_is_finished(s.flow));
	first = make_seg(FROM_CLIENT, TCP_SYN, 0, 0, 0);
	s.flow->hash = flow_table_hash(t, &first);
	CU_ASSERT_EQUAL(flow_table_insert(t, s.flow), 0);
	never = clone_flow(s.flow);
	z = freeze_in(t, s.flow);
	s.flow = NULL; /* the table's now */
	CU_ASSERT_PTR_EQUAL(flow_table_find(t, &first, z->hash), z);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), z);
	CU_ASSERT_PTR_NULL(flow_table_oldest(t, FLOW_LIST_LIVE));

	/* 17 s later, a reset no endpoint sent (TTL 250, ID 0). */
	rst = make_seg(FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 0);
	rst.ttl = 250;
	s.now += 17000 * MS;
	f = flow_store_thaw(&store, z);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	flow_table_thaw(t, z, f);
	flow_store_free_frozen(&store, z);
	CU_ASSERT_PTR_EQUAL(flow_table_find(t, &rst, f->hash), f);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), f);
	CU_ASSERT_EQUAL(flow_table_count(t), 1);
	CU_ASSERT_EQUAL(flow_table_waiting(t), 0);
	tracker_segment(&store, f, &rst, FROM_SERVER, s.now, s.frame + 1);
	tracker_segment(&store, never, &rst, FROM_SERVER, s.now, s.frame + 1);
	z = freeze_in(t, f);
	CU_ASSERT_EQUAL(flow_table_waiting(t), 1);

	/* Both decode and classify alike; the reset is the evidence of a box in the path. */
	ctx.capture_end_ns = s.now + 30000 * MS;
	memset(view, 0, sizeof view);
	memset(rare, 0, sizeof rare);
	flow_decode(&store, z, &view[0], &rare[0]);
	flow_decode(&store, never, &view[1], &rare[1]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view[0].rare);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view[1].rare);
	CU_ASSERT_EQUAL(memcmp((const void *)&rare[0], (const void *)&rare[1], sizeof rare[0]), 0);
	view[0].rare = view[1].rare = NULL;
	CU_ASSERT_EQUAL(memcmp((const void *)&view[0], (const void *)&view[1], sizeof view[0]), 0);
	CU_ASSERT_EQUAL(rare[0].first_rst.frame, s.frame + 1);
	flow_decode(&store, z, &view[0], &rare[0]);
	classify_flow(&view[0], &ctx, &rec[0]);
	flow_decode(&store, never, &view[1], &rare[1]);
	classify_flow(&view[1], &ctx, &rec[1]);
	CU_ASSERT_EQUAL(rec[0].close_class, rec[1].close_class);
	CU_ASSERT_EQUAL(rec[0].modifiers, rec[1].modifiers);
	CU_ASSERT_TRUE(rec[0].modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_EQUAL(memcmp((const void *)&rec[0].diagnosis, (const void *)&rec[1].diagnosis,
	                       sizeof rec[0].diagnosis),
	                0);
	CU_ASSERT_STRING_EQUAL(reason_text(&rec[0]), reason_text(&rec[1]));

	flow_table_remove(t, z);
	flow_store_free(&store, z);
	flow_store_free(&store, never);
	CU_ASSERT_EQUAL(flow_table_count(t), 0);
	flow_table_destroy(t);
}

CUNIT_TESTS(flow_table_tests,
	    { "flow table", test_flow_table },
	    { "probe runs", test_probe_runs },
	    { "probe runs at random", test_probe_runs_random },
	    { "tombstones", test_tombstones },
	    { "a tombstone's times", test_tombstone_times },
	    { "waiting flows", test_waiting_flows },
	    { "a late segment on a waiting flow", test_late_segment_on_waiting_flow });

CUNIT_MAIN("test_flow_table",
           { "flow table", script_suite_init, script_suite_clean, NULL, release_script, flow_table_tests })
