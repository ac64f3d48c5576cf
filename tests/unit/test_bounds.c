/* test_bounds.c - CUnit suite: what keeps memory and time bounded under adversarial input.
 *
 * The flow table's tombstones: at most the limit the engine sets from --max-flows, the oldest
 * forgotten first; still found, each of them, after the bucket array has grown many times.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <string.h>

#include "flow_table.h"
#include "tracker.h"
#include "cunit_main.h"
#include "store_suite.h"

/* A segment 198.51.100.1:(1024 + n / 250) -> 198.51.100.(2 + n % 250):443, and the flow
 * whose 4-tuple it is. */
static struct tcp_segment seg_n(unsigned n)
{
	struct tcp_segment seg;

	memset(&seg, 0, sizeof seg);
	seg.src.family = seg.dst.family = 4;
	seg.src.bytes[0] = seg.dst.bytes[0] = 198;
	seg.src.bytes[1] = seg.dst.bytes[1] = 51;
	seg.src.bytes[2] = seg.dst.bytes[2] = 100;
	seg.src.bytes[3] = 1;
	seg.dst.bytes[3] = (uint8_t)(2 + n % 250);
	seg.sport = (uint16_t)(1024 + n / 250);
	seg.dport = 443;
	return seg;
}

static void bury_n(struct flow_table *t, unsigned n, int64_t until)
{
	struct tcp_segment seg = seg_n(n);
	struct live_flow *f = flow_store_new(&store);

	CU_ASSERT_FATAL(f && flow_init(&store, f, 1, &seg, "t", false, 0));
	f->hash = flow_table_hash(t, &seg);
	CU_ASSERT_EQUAL(flow_table_bury(t, f, until), 0);
	flow_store_free(&store, f);
}

static bool grave_n(struct flow_table *t, unsigned n)
{
	struct tcp_segment seg = seg_n(n);

	return flow_table_grave(t, &seg, flow_table_hash(t, &seg), false, NULL);
}

static void test_tombstones_limited_oldest_forgotten(void)
{
	struct flow_table *t = flow_table_create(7, &store);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	flow_table_limit_graves(t, 1000);
	for (unsigned n = 0; n < 50000; n++)
		bury_n(t, n, 1000000 + n);
	CU_ASSERT_EQUAL(flow_table_graves(t), 1000);
	CU_ASSERT_FALSE(grave_n(t, 0));
	CU_ASSERT_FALSE(grave_n(t, 48999));
	for (unsigned n = 49000; n < 50000; n++)
		CU_ASSERT_TRUE(grave_n(t, n));
	/* Expiry still releases them in order, past the early releases. */
	flow_table_expire_graves(t, 1000000 + 49500);
	CU_ASSERT_EQUAL(flow_table_graves(t), 500);
	CU_ASSERT_FALSE(grave_n(t, 49499));
	CU_ASSERT_TRUE(grave_n(t, 49500));
	/* Lowering the limit forgets the oldest at once. */
	flow_table_limit_graves(t, 10);
	CU_ASSERT_EQUAL(flow_table_graves(t), 10);
	CU_ASSERT_FALSE(grave_n(t, 49989));
	CU_ASSERT_TRUE(grave_n(t, 49990));
	flow_table_destroy(t);
}

static void test_tombstones_found_after_growth(void)
{
	struct flow_table *t = flow_table_create(11, &store);
	unsigned found = 0, absent = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	/* 300000 tombstones: the bucket array doubles from 4096 to 524288. */
	for (unsigned n = 0; n < 300000; n++)
		bury_n(t, n, 1000);
	CU_ASSERT_EQUAL(flow_table_graves(t), 300000);
	for (unsigned n = 0; n < 300000; n++)
		found += grave_n(t, n);
	for (unsigned n = 300000; n < 310000; n++)
		absent += !grave_n(t, n);
	CU_ASSERT_EQUAL(found, 300000);
	CU_ASSERT_EQUAL(absent, 10000);
	/* All expire, chains unlink cleanly after the rehashes. */
	flow_table_expire_graves(t, 1001);
	CU_ASSERT_EQUAL(flow_table_graves(t), 0);
	CU_ASSERT_FALSE(grave_n(t, 12345));
	bury_n(t, 5, 2000);
	CU_ASSERT_TRUE(grave_n(t, 5));
	flow_table_destroy(t);
}

/* Millions of tombstones through a FIFO of a few thousand: chunks are recycled and their
 * sequence numbers go round the ring of chunks many times; the newest are always found, the
 * ones just forgotten never. */
static void test_tombstones_fifo_goes_round(void)
{
	struct flow_table *t = flow_table_create(13, &store);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	flow_table_limit_graves(t, 3000);
	for (unsigned n = 0; n < 2000000; n++) {
		bury_n(t, n, 5000000 + n);
		if (n % 99991 == 0 && n >= 3000) {
			CU_ASSERT_TRUE(grave_n(t, n));
			CU_ASSERT_TRUE(grave_n(t, n - 2999));
			CU_ASSERT_FALSE(grave_n(t, n - 3000));
		}
	}
	CU_ASSERT_EQUAL(flow_table_graves(t), 3000);
	/* Expiry empties it; a new one starts it over. */
	flow_table_expire_graves(t, 5000000 + 2000000);
	CU_ASSERT_EQUAL(flow_table_graves(t), 0);
	CU_ASSERT_FALSE(grave_n(t, 1999999));
	bury_n(t, 7, 9000000);
	CU_ASSERT_TRUE(grave_n(t, 7));
	CU_ASSERT_EQUAL(flow_table_graves(t), 1);
	flow_table_destroy(t);
}

/* Released tombstones stay linked in their chains (a walk stops at them): a chunk emptied and
 * taken again, round after round, with the same 4-tuples and others in the same buckets, never
 * shows a released one, never loses a live one, never loops. */
static void test_tombstones_stale_links(void)
{
	struct flow_table *t = flow_table_create(19, &store);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (unsigned round = 0; round < 2000; round++) {
		int64_t until = 1000000 + 10 * (int64_t)round;
		unsigned first = (round % 4) * 50; /* apart from the last round's */

		for (unsigned n = first; n < first + 40 + round % 7; n++)
			bury_n(t, n, until);
		for (unsigned n = 0; n < 200; n++)
			CU_ASSERT_EQUAL(grave_n(t, n), n >= first && n < first + 40 + round % 7);
		if (round % 5 == 4) { /* some expire with newer ones left */
			bury_n(t, 199, until + 5);
			flow_table_expire_graves(t, until + 1);
			CU_ASSERT_TRUE(grave_n(t, 199));
			CU_ASSERT_FALSE(grave_n(t, first));
		}
		flow_table_expire_graves(t, until + 6);
		CU_ASSERT_EQUAL(flow_table_graves(t), 0);
		CU_ASSERT_FALSE(grave_n(t, first));
	}
	flow_table_destroy(t);
}

/* A tombstone's time counts from its chunk's first one, in 32 bits of nanoseconds: tombstones
 * seconds apart take a chunk each (part empty), and still die in order, exactly on time. */
static void test_tombstones_sparse_in_time(void)
{
	const int64_t gap = 5000000000LL; /* more than a chunk spans */
	struct flow_table *t = flow_table_create(17, &store);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (unsigned n = 0; n < 100; n++) {
		bury_n(t, n, 1000000000LL + n * gap);
		bury_n(t, 1000 + n, 1000000000LL + n * gap + 3); /* same chunk as n */
	}
	CU_ASSERT_EQUAL(flow_table_graves(t), 200);
	for (unsigned n = 0; n < 100; n++)
		CU_ASSERT_TRUE(grave_n(t, n) && grave_n(t, 1000 + n));
	/* Exactly on time: a tombstone lives while its time is not before now. */
	flow_table_expire_graves(t, 1000000000LL + 49 * gap + 3);
	CU_ASSERT_TRUE(grave_n(t, 1049));
	CU_ASSERT_FALSE(grave_n(t, 49));
	CU_ASSERT_EQUAL(flow_table_graves(t), 101);
	flow_table_expire_graves(t, 1000000000LL + 49 * gap + 4);
	CU_ASSERT_FALSE(grave_n(t, 1049));
	CU_ASSERT_TRUE(grave_n(t, 50));
	CU_ASSERT_EQUAL(flow_table_graves(t), 100);
	/* Limited: the oldest go first, chunk after part-empty chunk. */
	flow_table_limit_graves(t, 7);
	CU_ASSERT_EQUAL(flow_table_graves(t), 7);
	CU_ASSERT_FALSE(grave_n(t, 96));
	CU_ASSERT_TRUE(grave_n(t, 1096) && grave_n(t, 97) && grave_n(t, 1099));
	/* All gone; a time before the last chunk's base starts it over. */
	flow_table_limit_graves(t, 0);
	flow_table_expire_graves(t, INT64_MAX);
	CU_ASSERT_EQUAL(flow_table_graves(t), 0);
	bury_n(t, 5, 10);
	bury_n(t, 6, 11);
	CU_ASSERT_TRUE(grave_n(t, 5) && grave_n(t, 6));
	flow_table_expire_graves(t, 11);
	CU_ASSERT_FALSE(grave_n(t, 5));
	CU_ASSERT_TRUE(grave_n(t, 6));
	flow_table_destroy(t);
}

CUNIT_TESTS(tombstone_tests,
	    { "tombstones_limited_oldest_forgotten", test_tombstones_limited_oldest_forgotten },
	    { "tombstones_found_after_growth", test_tombstones_found_after_growth },
	    { "tombstones_fifo_goes_round", test_tombstones_fifo_goes_round },
	    { "tombstones_sparse_in_time", test_tombstones_sparse_in_time },
	    { "tombstones_stale_links", test_tombstones_stale_links });

CUNIT_MAIN("test_bounds",
           { "tombstones", store_suite_init, store_suite_clean, NULL, NULL, tombstone_tests })
