/* test_flow_table.c - the flow table (analyzer/engine/flow_table.h): lookups in both directions,
 * the activity lists, tombstones of finished flows and their expiry.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>

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

CUNIT_TESTS(flow_table_tests,
	    { "flow table", test_flow_table },
	    { "tombstones", test_tombstones });

CUNIT_MAIN("test_flow_table",
           { "flow table", script_suite_init, script_suite_clean, NULL, release_script, flow_table_tests })
