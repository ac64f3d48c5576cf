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

/* Freezes `f` (in `t`) in its place, as the engine does when a flow has ended on the wire. */
static struct live_flow *freeze_in(struct flow_table *t, struct live_flow *f)
{
	uint32_t h = f->self;
	struct live_flow *z = flow_store_freeze(&store, f);

	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	flow_table_freeze(t, h, z);
	return z;
}

/* Waiting (frozen) flows: in chains of their own, found by flow_table_find_waiting from both
 * directions and by flow_table_find never; on the finished list in the order they were frozen;
 * removed from the middle of it; enough of them to grow their bucket array. */
static void test_waiting_chains(void)
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
		struct live_flow *live = i % 2 ? flows[i] : NULL, *waiting = i % 2 ? NULL : flows[i];

		CU_ASSERT_PTR_EQUAL(flow_table_find(t, &seg, flow_table_hash(t, &seg)), live);
		CU_ASSERT_PTR_EQUAL(flow_table_find(t, &back, flow_table_hash(t, &back)), live);
		CU_ASSERT_PTR_EQUAL(flow_table_find_waiting(t, &seg, flow_table_hash(t, &seg)), waiting);
		CU_ASSERT_PTR_EQUAL(flow_table_find_waiting(t, &back, flow_table_hash(t, &back)),
		                    waiting);
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
	send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	CU_ASSERT_TRUE_FATAL(flow_is_finished(s.flow));
	first = make_seg(FROM_CLIENT, TCP_SYN, 0, 0, 0);
	s.flow->hash = flow_table_hash(t, &first);
	CU_ASSERT_EQUAL(flow_table_insert(t, s.flow), 0);
	never = clone_flow(s.flow);
	z = freeze_in(t, s.flow);
	s.flow = NULL; /* the table's now */
	CU_ASSERT_PTR_NULL(flow_table_find(t, &first, z->hash));
	CU_ASSERT_PTR_EQUAL(flow_table_find_waiting(t, &first, z->hash), z);
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
	CU_ASSERT_PTR_NULL(flow_table_find_waiting(t, &rst, f->hash));
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
	CU_ASSERT_EQUAL(memcmp(&rare[0], &rare[1], sizeof rare[0]), 0);
	view[0].rare = view[1].rare = NULL;
	CU_ASSERT_EQUAL(memcmp(&view[0], &view[1], sizeof view[0]), 0);
	CU_ASSERT_EQUAL(rare[0].first_rst.frame, s.frame + 1);
	flow_decode(&store, z, &view[0], &rare[0]);
	classify_flow(&view[0], &ctx, &rec[0]);
	flow_decode(&store, never, &view[1], &rare[1]);
	classify_flow(&view[1], &ctx, &rec[1]);
	CU_ASSERT_EQUAL(rec[0].close_class, rec[1].close_class);
	CU_ASSERT_EQUAL(rec[0].modifiers, rec[1].modifiers);
	CU_ASSERT_TRUE(rec[0].modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_EQUAL(memcmp(&rec[0].diagnosis, &rec[1].diagnosis, sizeof rec[0].diagnosis), 0);
	CU_ASSERT_STRING_EQUAL(reason_text(&rec[0]), reason_text(&rec[1]));

	flow_table_remove(t, z);
	flow_store_free(&store, z);
	flow_store_free(&store, never);
	CU_ASSERT_EQUAL(flow_table_count(t), 0);
	flow_table_destroy(t);
}

CUNIT_TESTS(flow_table_tests,
	    { "flow table", test_flow_table },
	    { "tombstones", test_tombstones },
	    { "waiting chains", test_waiting_chains },
	    { "a late segment on a waiting flow", test_late_segment_on_waiting_flow });

CUNIT_MAIN("test_flow_table",
           { "flow table", script_suite_init, script_suite_clean, NULL, release_script, flow_table_tests })
