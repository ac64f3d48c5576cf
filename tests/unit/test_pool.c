/* test_pool.c - CUnit suite: the fixed-size item pool behind live flows and their blocks
 * (analyzer/flow/pool.h).
 *
 * Handles are never 0 and name distinct items; items come zero-filled, also when reused; a freed
 * item is the next one handed out; items never move as the pool grows; and the memory a pool
 * holds follows its peak count of items, not how many were ever allocated.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "cunit_main.h"

struct item {
	uint32_t a;
	uint64_t b;
	unsigned char c[27];
};

static void test_sizes_rounded(void)
{
	struct pool p;

	pool_init(&p, 4, 4);
	CU_ASSERT_EQUAL(p.item_size, 8);
	pool_destroy(&p);
	pool_init(&p, 20, 4);
	CU_ASSERT_EQUAL(p.item_size, 24);
	pool_destroy(&p);
	pool_init(&p, sizeof(struct item), 30);
	CU_ASSERT_EQUAL(p.item_size % 8, 0);
	CU_ASSERT(p.item_size >= sizeof(struct item));
	CU_ASSERT_EQUAL(p.shift, 16);
	pool_destroy(&p);
}

static void test_distinct_zeroed_stable(void)
{
	enum { N = 5000 };
	struct pool p;
	uint32_t *h = calloc(N, sizeof *h);
	struct item **at = calloc(N, sizeof *at);

	CU_ASSERT_FATAL(h && at);
	pool_init(&p, sizeof(struct item), 5); /* 32 items a slab: many slabs */
	for (unsigned i = 0; i < N; i++) {
		const unsigned char *bytes;
		unsigned nonzero = 0;

		h[i] = pool_alloc(&p);
		CU_ASSERT_FATAL(h[i] != 0);
		at[i] = pool_at(&p, h[i]);
		bytes = (const unsigned char *)at[i];
		for (size_t k = 0; k < p.item_size; k++)
			nonzero += bytes[k] != 0;
		CU_ASSERT_EQUAL(nonzero, 0);
		at[i]->a = i;
		at[i]->b = (uint64_t)i * 3;
		memset(at[i]->c, (int)(i & 0xff), sizeof at[i]->c);
	}
	CU_ASSERT_EQUAL(p.live, N);
	/* Every handle names its own item, at the address it had when it was handed out. */
	for (unsigned i = 0; i < N; i++) {
		const struct item *it = pool_at(&p, h[i]);

		CU_ASSERT_PTR_EQUAL(it, at[i]);
		CU_ASSERT_EQUAL(it->a, i);
		CU_ASSERT_EQUAL(it->b, (uint64_t)i * 3);
		CU_ASSERT_EQUAL(it->c[26], i & 0xff);
		if (i > 0)
			CU_ASSERT_NOT_EQUAL(h[i], h[i - 1]);
	}
	pool_destroy(&p);
	free(h);
	free(at);
}

static void test_lifo_reuse_zeroed(void)
{
	struct pool p;
	uint32_t a, b, c, d;
	struct item *it;

	pool_init(&p, sizeof(struct item), 2);
	a = pool_alloc(&p);
	b = pool_alloc(&p);
	c = pool_alloc(&p);
	it = pool_at(&p, b);
	it->a = 77;
	it->b = 78;
	memset(it->c, 0x5a, sizeof it->c);
	pool_free(&p, b);
	pool_free(&p, a);
	CU_ASSERT_EQUAL(p.live, 1);
	/* Freed last, handed out first; and filled with zeros again. */
	CU_ASSERT_EQUAL(pool_alloc(&p), a);
	d = pool_alloc(&p);
	CU_ASSERT_EQUAL(d, b);
	it = pool_at(&p, d);
	CU_ASSERT_EQUAL(it->a, 0);
	CU_ASSERT_EQUAL(it->b, 0);
	CU_ASSERT_EQUAL(it->c[0], 0);
	CU_ASSERT_EQUAL(it->c[26], 0);
	/* Then fresh items again. */
	CU_ASSERT(pool_alloc(&p) > c);
	CU_ASSERT_EQUAL(p.live, 4);
	pool_destroy(&p);
}

/* Memory follows the peak of items alive at once: a million allocations with never more than
 * 1000 alive take the slabs for 1000, however they interleave. */
static void test_memory_follows_peak(void)
{
	enum { ALIVE = 1000, ROUNDS = 1000000 };
	struct pool p;
	uint32_t live[ALIVE];
	size_t bytes;
	unsigned seed = 12345;

	pool_init(&p, sizeof(struct item), 6);
	for (unsigned i = 0; i < ALIVE; i++)
		live[i] = pool_alloc(&p);
	bytes = pool_bytes(&p);
	CU_ASSERT(bytes >= ALIVE * (size_t)p.item_size);
	CU_ASSERT(bytes <= (ALIVE + 64) * (size_t)p.item_size + 16 * sizeof(void *) * 4);
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned k;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % ALIVE;
		pool_free(&p, live[k]);
		live[k] = pool_alloc(&p);
		CU_ASSERT_FATAL(live[k] != 0);
	}
	CU_ASSERT_EQUAL(p.live, ALIVE);
	CU_ASSERT_EQUAL(pool_bytes(&p), bytes);
	CU_ASSERT(p.fresh <= ALIVE);
	/* All freed and allocated again: still no new slab. */
	for (unsigned i = 0; i < ALIVE; i++)
		pool_free(&p, live[i]);
	CU_ASSERT_EQUAL(p.live, 0);
	for (unsigned i = 0; i < ALIVE; i++)
		CU_ASSERT(pool_alloc(&p) <= ALIVE);
	CU_ASSERT_EQUAL(pool_bytes(&p), bytes);
	pool_destroy(&p);
	CU_ASSERT_EQUAL(pool_bytes(&p), 0);
}

CUNIT_TESTS(pool_tests,
	    { "sizes_rounded", test_sizes_rounded },
	    { "distinct_zeroed_stable", test_distinct_zeroed_stable },
	    { "lifo_reuse_zeroed", test_lifo_reuse_zeroed },
	    { "memory_follows_peak", test_memory_follows_peak });

CUNIT_MAIN("test_pool",
           { "pool", NULL, NULL, NULL, NULL, pool_tests })
