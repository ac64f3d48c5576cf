/* test_pool.c - CUnit suite: the fixed-size item pool behind live flows and their blocks
 * (analyzer/flow/pool.h).
 *
 * Handles are never 0 and name distinct items; items come zero-filled, also when reused; a freed
 * item is the next one handed out; items never move as the pool grows; and the memory a pool
 * holds follows its peak count of items, not how many were ever allocated. Past POOL_SMALL_BYTES a
 * pool's slabs are carved from 2 MiB-aligned regions (huge pages): the same holds there, across
 * many slabs and regions, with items freed and reused. Pools sharing a pool_space (the engine's
 * shards) take malloc'd slabs until they hold POOL_SMALL_BYTES together, then carve theirs one
 * after the other from the same regions, also from several threads at once.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdint.h>
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

/* A flow-sized item (as live_flow.h's pool of flows): its handle and a pattern of its index. */
struct big_item {
	uint32_t handle;
	uint32_t index;
	unsigned char fill[448];
};

static int big_item_ok(const struct big_item *it, uint32_t h, uint32_t index)
{
	return it->handle == h && it->index == index && it->fill[0] == (unsigned char)index &&
	       it->fill[447] == (unsigned char)(index >> 8);
}

static void big_item_set(struct big_item *it, uint32_t h, uint32_t index)
{
	it->handle = h;
	it->index = index;
	memset(it->fill, 0, sizeof it->fill);
	it->fill[0] = (unsigned char)index;
	it->fill[447] = (unsigned char)(index >> 8);
}

/* Enough items for ~30 MB (many slabs past the malloc'd ones, several regions): every item stays
 * at its address, every handle gives back its item, half of them freed and handed out again
 * (zero-filled, the others untouched, no new slab), and the slabs past POOL_SMALL_BYTES are
 * aligned on 2 MiB where each region starts and packed one after the other within it. */
static void test_huge_regions(void)
{
	enum { N = 64000, SHIFT = 8 };
	struct pool p;
	uint32_t *h = calloc(N, sizeof *h);
	struct big_item **at = calloc(N, sizeof *at);
	size_t slab, bytes, aligned = 0, packed = 0;
	uint32_t first_big, n_slabs;
	int ok = 1;

	CU_ASSERT_FATAL(h && at);
	pool_init(&p, sizeof(struct big_item), SHIFT);
	slab = (size_t)p.item_size << SHIFT;
	for (uint32_t i = 0; i < N; i++) {
		h[i] = pool_alloc(&p);
		CU_ASSERT_FATAL(h[i] == i + 1);
		at[i] = pool_at(&p, h[i]);
		ok &= at[i]->handle == 0 && at[i]->fill[447] == 0;
		big_item_set(at[i], h[i], i);
	}
	CU_ASSERT(ok);
	n_slabs = p.n_slabs;
	CU_ASSERT_EQUAL(n_slabs, (N + (1u << SHIFT) - 1) >> SHIFT);
	bytes = pool_bytes(&p);
	CU_ASSERT(bytes >= (size_t)n_slabs * slab);
	/* The first slab past the malloc'd ones starts a region; each later slab follows the one
	 * before it, or starts a new region on a 2 MiB boundary. */
	first_big = (uint32_t)((POOL_SMALL_BYTES + slab - 1) / slab);
	CU_ASSERT_FATAL(first_big + 20 < n_slabs);
	CU_ASSERT_EQUAL((uintptr_t)p.slabs[first_big] % ((size_t)2 << 20), 0);
	for (uint32_t k = first_big + 1; k < n_slabs; k++) {
		if (p.slabs[k] == p.slabs[k - 1] + slab)
			packed++;
		else if ((uintptr_t)p.slabs[k] % ((size_t)2 << 20) == 0)
			aligned++;
	}
	CU_ASSERT_EQUAL(packed + aligned, n_slabs - first_big - 1);
	CU_ASSERT(aligned >= 2);          /* several regions */
	CU_ASSERT(packed > 10 * aligned); /* regions grow with the pool: few of them */
	/* Round trips: item to handle and back, at the address it had. */
	for (uint32_t i = 0; i < N; i++) {
		const struct big_item *it = pool_item(&p, h[i], sizeof(struct big_item), SHIFT);

		ok &= it == at[i] && big_item_ok(it, h[i], i);
	}
	CU_ASSERT(ok);
	/* Free the odd ones, then take as many again: the freed handles come back, zeroed. */
	for (uint32_t i = 1; i < N; i += 2)
		pool_free(&p, h[i]);
	CU_ASSERT_EQUAL(p.live, N / 2);
	for (uint32_t i = 1; i < N; i += 2) {
		uint32_t again = pool_alloc(&p);
		struct big_item *it = pool_at(&p, again);

		ok &= again != 0 && again <= N && (again - 1) % 2 == 1 && it->handle == 0 &&
		      it->index == 0 && it->fill[447] == 0;
		big_item_set(it, again, again - 1);
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(p.live, N);
	CU_ASSERT_EQUAL(p.fresh, N);
	CU_ASSERT_EQUAL(p.n_slabs, n_slabs);
	CU_ASSERT_EQUAL(pool_bytes(&p), bytes);
	for (uint32_t i = 0; i < N; i++)
		ok &= pool_at(&p, h[i]) == at[i] && big_item_ok(at[i], h[i], i);
	CU_ASSERT(ok);
	/* Emptied, the pool starts over: small slabs first again. */
	pool_destroy(&p);
	CU_ASSERT_EQUAL(pool_bytes(&p), 0);
	CU_ASSERT_EQUAL(pool_alloc(&p), 1);
	CU_ASSERT_EQUAL(p.n_slabs, 1);
	pool_destroy(&p);
	free(h);
	free(at);
}

/* Slabs larger than a huge page (2^16 items of 64 bytes: 4 MiB): each region still holds whole
 * slabs, on 2 MiB boundaries. */
static void test_slabs_larger_than_huge_page(void)
{
	enum { SHIFT = 16, N = 4 << SHIFT };
	struct pool p;
	size_t slab;
	int ok = 1;

	pool_init(&p, 64, SHIFT);
	slab = (size_t)p.item_size << SHIFT;
	for (uint32_t i = 0; i < N; i++) {
		uint32_t h = pool_alloc(&p);
		uint32_t *it = pool_at(&p, h);

		ok &= h == i + 1 && it[0] == 0 && it[15] == 0;
		it[0] = h;
		it[15] = ~h;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(p.n_slabs, 4);
	for (uint32_t k = 1; k < 4; k++)
		CU_ASSERT_EQUAL((uintptr_t)p.slabs[k] % ((size_t)2 << 20), 0);
	for (uint32_t i = 0; i < N; i++) {
		const uint32_t *it = pool_at(&p, i + 1);

		ok &= it[0] == i + 1 && it[15] == ~(i + 1);
	}
	CU_ASSERT(ok);
	CU_ASSERT(pool_bytes(&p) >= 4 * slab);
	pool_destroy(&p);
}

/* Every slab of pools `ps` (n of them): their byte ranges must not overlap. */
struct slab_span {
	uintptr_t from, to;
};

static int by_from(const void *a, const void *b)
{
	uintptr_t x = ((const struct slab_span *)a)->from, y = ((const struct slab_span *)b)->from;

	return (x > y) - (x < y);
}

/* Sorted spans of the slabs of `n` pools in *out; their count. */
static size_t slab_spans(struct pool *const *ps, unsigned n, struct slab_span **out)
{
	size_t total = 0, k = 0;

	for (unsigned i = 0; i < n; i++)
		total += ps[i]->n_slabs;
	*out = calloc(total ? total : 1, sizeof **out);
	CU_ASSERT_FATAL(*out != NULL);
	for (unsigned i = 0; i < n; i++)
		for (uint32_t j = 0; j < ps[i]->n_slabs; j++) {
			(*out)[k].from = (uintptr_t)ps[i]->slabs[j];
			(*out)[k].to = (*out)[k].from + ((size_t)ps[i]->item_size << ps[i]->shift);
			k++;
		}
	qsort(*out, total, sizeof **out, by_from);
	return total;
}

/* Two pools of different item sizes sharing a space, growing in turns: each takes its first
 * POOL_SMALL_BYTES from malloc; past that each new slab, whichever pool takes it, follows the
 * space's last one or starts a region on a 2 MiB boundary, so the partly used huge page is the
 * space's, not each pool's. Items stay zero-filled and where they were. */
static void test_shared_space(void)
{
	enum { N = 40000, SHIFT = 8 };
	struct pool_space sp;
	struct pool a, b;
	struct pool *both[2] = { &a, &b };
	struct slab_span *spans;
	size_t n, packed = 0, aligned = 0, small = 0, carved = 0, slab_a, slab_b, small_a, small_b;
	uint32_t *ha = calloc(N, sizeof *ha), *hb = calloc(N, sizeof *hb);
	int ok = 1;

	CU_ASSERT_FATAL(ha && hb);
	pool_space_init(&sp);
	pool_init(&a, sizeof(struct big_item), SHIFT);
	pool_init(&b, 296, SHIFT);
	pool_share(&a, &sp);
	pool_share(&b, &sp);
	for (uint32_t i = 0; i < N; i++) {
		struct big_item *x;
		unsigned char *y;

		ha[i] = pool_alloc(&a);
		hb[i] = pool_alloc(&b);
		CU_ASSERT_FATAL(ha[i] == i + 1 && hb[i] == i + 1);
		x = pool_at(&a, ha[i]);
		y = pool_at(&b, hb[i]);
		ok &= x->handle == 0 && x->fill[447] == 0 && y[0] == 0 && y[295] == 0;
		big_item_set(x, ha[i], i);
		memset(y, (int)(i & 0xff), 296);
	}
	CU_ASSERT(ok);
	/* Slabs in address order: the malloc'd ones (the first POOL_SMALL_BYTES taken) anywhere,
	 * the others packed one after the other within regions. */
	n = slab_spans(both, 2, &spans);
	CU_ASSERT_EQUAL(n, a.n_slabs + b.n_slabs);
	slab_a = (size_t)a.item_size << SHIFT;
	slab_b = (size_t)b.item_size << SHIFT;
	small_a = (POOL_SMALL_BYTES + slab_a - 1) / slab_a; /* malloc'd slabs of each pool */
	small_b = (POOL_SMALL_BYTES + slab_b - 1) / slab_b;
	CU_ASSERT_FATAL(a.n_slabs > small_a + 10 && b.n_slabs > small_b + 10);
	carved = (a.n_slabs - small_a) * slab_a + (b.n_slabs - small_b) * slab_b;
	CU_ASSERT_EQUAL(sp.held, carved);
	CU_ASSERT_EQUAL(a.n_chunks, small_a); /* a pool owns its malloc'd slabs only */
	CU_ASSERT_EQUAL(b.n_chunks, small_b);
	for (size_t k = 1; k < n; k++) {
		CU_ASSERT(spans[k].from >= spans[k - 1].to); /* no two slabs overlap */
		if (spans[k].from == spans[k - 1].to)
			packed++;
		else if (spans[k].from % ((size_t)2 << 20) == 0)
			aligned++;
		else
			small++;
	}
	/* Within a region, slabs of the two pools alternate (they grow in turns): a carved slab of
	 * one pool follows one of the other. */
	CU_ASSERT(packed > n / 2);
	CU_ASSERT(aligned >= 1 && aligned <= 8);
	CU_ASSERT(sp.n_regions >= 2 && sp.n_regions <= 8);
	CU_ASSERT(small <= small_a + small_b);
	{
		size_t adjacent = 0; /* carved slabs of a right after a carved slab of b */

		for (uint32_t j = (uint32_t)small_a; j < a.n_slabs; j++)
			for (uint32_t k = (uint32_t)small_b; k < b.n_slabs; k++)
				adjacent += (uintptr_t)a.slabs[j] == (uintptr_t)b.slabs[k] + slab_b;
		CU_ASSERT(adjacent > (a.n_slabs - small_a) / 2);
	}
	free(spans);
	for (uint32_t i = 0; i < N; i++) {
		const struct big_item *x = pool_at(&a, ha[i]);
		const unsigned char *y = pool_at(&b, hb[i]);

		ok &= big_item_ok(x, ha[i], i) && y[0] == (unsigned char)i && y[295] == (unsigned char)i;
	}
	CU_ASSERT(ok);
	pool_destroy(&a);
	pool_destroy(&b);
	CU_ASSERT_PTR_EQUAL(a.space, &sp); /* a destroyed pool keeps its space */
	pool_space_destroy(&sp);
	free(ha);
	free(hb);
}

struct grower {
	struct pool p;
	uint32_t n;
	int ok;
};

static void *grow_pool(void *arg)
{
	struct grower *g = arg;

	g->ok = 1;
	for (uint32_t i = 0; i < g->n; i++) {
		uint32_t h = pool_alloc(&g->p);
		uint32_t *it = h ? pool_at(&g->p, h) : NULL;

		g->ok &= h == i + 1 && it[0] == 0 && it[15] == 0;
		if (it) {
			it[0] = h;
			it[15] = ~h;
		}
	}
	return NULL;
}

/* Four threads, each growing its own pool of one shared space at once (the engine's shards): no
 * slab is handed out twice, every item keeps what its thread wrote. */
static void test_shared_space_threads(void)
{
	enum { T = 4, N = 60000 };
	struct pool_space sp;
	struct grower g[T];
	pthread_t th[T];
	struct pool *ps[T];
	struct slab_span *spans;
	size_t n;
	int ok = 1;

	pool_space_init(&sp);
	for (unsigned k = 0; k < T; k++) {
		pool_init(&g[k].p, 64, 8);
		pool_share(&g[k].p, &sp);
		g[k].n = N;
		ps[k] = &g[k].p;
	}
	for (unsigned k = 0; k < T; k++)
		CU_ASSERT_FATAL(pthread_create(&th[k], NULL, grow_pool, &g[k]) == 0);
	for (unsigned k = 0; k < T; k++) {
		pthread_join(th[k], NULL);
		CU_ASSERT(g[k].ok);
	}
	n = slab_spans(ps, T, &spans);
	for (size_t k = 1; k < n; k++)
		ok &= spans[k].from >= spans[k - 1].to;
	CU_ASSERT(ok);
	CU_ASSERT(sp.n_regions >= 1);
	free(spans);
	for (unsigned k = 0; k < T; k++)
		for (uint32_t i = 0; i < N; i++) {
			const uint32_t *it = pool_at(&g[k].p, i + 1);

			ok &= it[0] == i + 1 && it[15] == ~(i + 1);
		}
	CU_ASSERT(ok);
	for (unsigned k = 0; k < T; k++)
		pool_destroy(&g[k].p);
	pool_space_destroy(&sp);
}

CUNIT_TESTS(pool_tests,
	    { "sizes_rounded", test_sizes_rounded },
	    { "distinct_zeroed_stable", test_distinct_zeroed_stable },
	    { "lifo_reuse_zeroed", test_lifo_reuse_zeroed },
	    { "memory_follows_peak", test_memory_follows_peak },
	    { "huge_regions", test_huge_regions },
	    { "slabs_larger_than_huge_page", test_slabs_larger_than_huge_page },
	    { "shared_space", test_shared_space },
	    { "shared_space_threads", test_shared_space_threads });

CUNIT_MAIN("test_pool",
           { "pool", NULL, NULL, NULL, NULL, pool_tests })
