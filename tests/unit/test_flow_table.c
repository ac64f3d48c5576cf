/* test_flow_table.c - the flow table (analyzer/engine/flow_table.h): lookups in both directions,
 * the activity lists, tombstones of finished flows and their expiry.
 */
#include <CUnit/CUnit.h>
#include <stddef.h>
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

/* A frozen flow keeps its place (chain, list) and is found as before; thawed, it is byte for byte
 * the flow that was frozen, FIN block included; a flow with other blocks stays live. */
static void test_freeze(void)
{
	struct flow_table *t = flow_table_create(7, &store);
	struct tcp_segment a = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	struct tcp_segment b = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	struct tcp_segment c = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	struct live_flow *f, *g, *h, *z, before;
	struct live_fin fin_before;
	unsigned char *bytes;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	b.sport = 2000;
	c.sport = 3000;
	f = bare_flow(t, &a);
	g = bare_flow(t, &b);
	h = bare_flow(t, &c);
	CU_ASSERT_EQUAL(flow_table_insert(t, f), 0);
	CU_ASSERT_EQUAL(flow_table_insert(t, g), 0);
	CU_ASSERT_EQUAL(flow_table_insert(t, h), 0);
	/* Values of every width over the body and the FIN block. */
	bytes = (unsigned char *)f;
	for (size_t i = LIVE_TABLE_BYTES; i < sizeof *f; i++)
		bytes[i] = (unsigned char)(i % 7 == 0 ? 0 : i % 5 == 0 ? 0x7f : i * 37);
	f->last_ts_ns = 123456789;
	CU_ASSERT_PTR_NOT_NULL_FATAL(live_fin_get(&store, f));
	bytes = (unsigned char *)live_fin_of(&store, f);
	for (size_t i = 0; i < sizeof(struct live_fin); i++)
		bytes[i] = (unsigned char)(i % 3 ? i : 0);
	flow_table_touch(t, f, FLOW_LIST_FINISHED);
	flow_table_touch(t, g, FLOW_LIST_FINISHED);
	before = *f;
	fin_before = *live_fin_of(&store, f);
	z = flow_store_freeze(&store, f, flow_table_replace, t);
	CU_ASSERT_TRUE_FATAL(flow_is_frozen(z));
	CU_ASSERT_EQUAL(flow_table_count(t), 3);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), z);
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, z), g);
	CU_ASSERT_EQUAL(z->last_ts_ns, 123456789);
	CU_ASSERT_EQUAL(z->first_frame, before.first_frame);
	CU_ASSERT_PTR_EQUAL(flow_table_find(t, &a, flow_table_hash(t, &a)), z);
	CU_ASSERT_PTR_EQUAL(flow_table_find(t, &b, flow_table_hash(t, &b)), g);
	f = flow_store_thaw(&store, z, flow_table_replace, t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_FALSE(flow_is_frozen(f));
	CU_ASSERT_PTR_EQUAL(flow_table_find(t, &a, flow_table_hash(t, &a)), f);
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), f);
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, f), g);
	CU_ASSERT_EQUAL(memcmp((const unsigned char *)f + LIVE_TABLE_BYTES,
	                       (const unsigned char *)&before + LIVE_TABLE_BYTES,
	                       sizeof *f - LIVE_TABLE_BYTES), 0);
	CU_ASSERT_EQUAL(memcmp(f, &before, offsetof(struct live_flow, fin)), 0);
	CU_ASSERT_EQUAL(memcmp(live_fin_of(&store, f), &fin_before, sizeof fin_before), 0);
	/* A flow with a rare block is not frozen; a frozen flow without a FIN block thaws without. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(live_rare_get(&store, h));
	CU_ASSERT_PTR_EQUAL(flow_store_freeze(&store, h, flow_table_replace, t), h);
	z = flow_store_freeze(&store, g, flow_table_replace, t);
	CU_ASSERT_TRUE(flow_is_frozen(z));
	CU_ASSERT_PTR_EQUAL(flow_table_oldest(t, FLOW_LIST_FINISHED), f);
	CU_ASSERT_PTR_EQUAL(flow_table_newer(t, f), z);
	/* A frozen flow is removed and freed as it is. */
	flow_table_remove(t, z);
	flow_store_free(&store, z);
	CU_ASSERT_PTR_NULL(flow_table_find(t, &b, flow_table_hash(t, &b)));
	CU_ASSERT_EQUAL(flow_table_count(t), 2);
	flow_table_remove(t, f);
	flow_table_remove(t, h);
	flow_store_free(&store, f);
	flow_store_free(&store, h);
	flow_table_destroy(t);
}

static CU_TestInfo flow_table_tests[] = {
	{ "frozen flows", test_freeze },
	{ "flow table", test_flow_table },
	{ "tombstones", test_tombstones },
	CU_TEST_INFO_NULL,
};

CUNIT_MAIN("test_flow_table",
           { "flow table", script_suite_init, script_suite_clean, NULL, release_script, flow_table_tests })
