/* pool.h - fixed-size items addressed by 32-bit handles: the memory of live flows and their
 * blocks (live_flow.h).
 *
 * Items come from slabs of 2^shift items, allocated when the last one is full and kept until the
 * pool is destroyed. A freed item is the next one handed out (LIFO), so the items in use stay
 * packed into the slabs already touched, and a pool holds its peak count of items (rounded up to
 * a slab) with no per-item header: no malloc bookkeeping, no fragmentation from items of
 * different sizes freed in between. Items never move: a pointer stays valid until its item is
 * freed. Handle 0 means none; handle h is the pool's item h - 1.
 *
 * Huge pages: the live flows of a busy capture are tens of MB, read in no particular order, so
 * with 4 KiB pages nearly every flow touched is a TLB miss. A pool's first slabs (POOL_SMALL_BYTES
 * in all) are malloc'd as ever, so a small pool costs no more than its items; past that, slabs
 * are carved from 2 MiB-aligned anonymous regions marked MADV_HUGEPAGE, which the kernel backs
 * with transparent huge pages when it can (THP "always" or "madvise"). Where it cannot (THP off,
 * madvise or mmap refused) the same code runs on ordinary pages: only the speed differs. The
 * price: a big pool's memory is rounded up to a huge page, not a slab (under 2 MiB a pool, and a
 * few slabs' worth at the regions' ends).
 *
 * Shared space: a huge page is only all memory or none, so a pool whose items end a little past a
 * 2 MiB boundary holds the whole page; with a region of its own per pool, every pool of every
 * shard of the engine rounded up this way (on the short-connection benchmark, --threads 4 and 8
 * -f csv peaked at 53.5 and 54.5 MiB with regions per pool, 50.0 and 51.0 MiB with one space, and
 * 49.1 and 49.9 MiB with no huge pages at all). Pools given one struct pool_space (pool_share)
 * still take their first POOL_SMALL_BYTES each from malloc (a small pool's partly used slabs cost
 * only the pages its items touched: carving those from huge pages took --threads 4 on the
 * long-connection benchmark from 27.4 to 31.3-33.7 MiB), and past that carve their slabs one
 * after the other from the space's regions: only the space's last huge page is partly used. Slabs
 * are taken rarely (one per 256 or 512 items), so the space's lock costs nothing measurable.
 *
 * Not thread-safe: each shard of the engine has its own pools (a pool_space may be shared by
 * pools used in different threads).
 */
#ifndef TM_POOL_H
#define TM_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A block of memory a pool owns: a malloc'd slab (len 0) or a mapped region (len bytes). */
struct pool_chunk {
	void *base;
	size_t len;
};

/* A pool takes its first slabs from malloc until they hold this many bytes, then from huge-page
 * regions: below it a huge page would cost more memory than the TLB misses it saves. */
#define POOL_SMALL_BYTES ((size_t)2 << 20)

/* Regions several pools carve their slabs from (see the top). */
struct pool_space {
	pthread_mutex_t lock;
	struct pool_chunk *regions;  /* the mapped regions, to give back */
	uint32_t n_regions, cap_regions;
	unsigned char *region_next;  /* the current region's first byte not yet carved */
	size_t region_left;          /* and the bytes left after it */
	size_t held;                 /* slab bytes carved from its regions */
};

struct pool {
	struct pool_space *space;   /* NULL: regions of the pool's own (pool_share) */
	unsigned char **slabs;
	uint32_t n_slabs, cap_slabs;
	struct pool_chunk *chunks;  /* every block of memory holding slabs, to give back */
	uint32_t n_chunks, cap_chunks;
	unsigned char *region_next; /* the current region's first byte not yet carved into a slab */
	size_t region_left;         /* and the bytes left after it */
	uint32_t item_size;    /* bytes, a multiple of 8 */
	uint32_t shift;        /* 2^shift items a slab */
	uint32_t fresh;        /* items ever handed out: the next fresh one has handle fresh + 1 */
	uint32_t free_head;    /* handle of the item freed last, 0: none */
	uint32_t live;         /* items in use */
};

/* `item_size` at least 4 bytes (a freed item holds the free list's link), rounded up to 8; a slab
 * holds 2^shift items (shift at most 16). */
void pool_init(struct pool *p, size_t item_size, unsigned shift);
/* Frees every slab: every item of the pool is gone. */
void pool_destroy(struct pool *p);

void pool_space_init(struct pool_space *s);
/* Unmaps the space's regions: every pool that took slabs from it must be destroyed first. */
void pool_space_destroy(struct pool_space *s);
/* From now on the pool (no slab taken yet) carves its slabs from `s`; pool_destroy leaves that. */
void pool_share(struct pool *p, struct pool_space *s);

/* A zero-filled item, or 0 when memory ran out (or the handles did). */
uint32_t pool_alloc(struct pool *p);
/* The same, its bytes left as they are (for an item about to be written whole), at *item. */
uint32_t pool_alloc_raw(struct pool *p, void **item);
/* Gives item `h` (not 0, in use) back. */
void pool_free(struct pool *p, uint32_t h);
/* pool_free() of item `h` when its bytes are at hand (pool_at(p, h)). */
void pool_free_at(struct pool *p, uint32_t h, void *item);

/* The item of handle `h` (not 0). */
static inline void *pool_at(const struct pool *p, uint32_t h)
{
	uint32_t i = h - 1;

	return p->slabs[i >> p->shift] + (size_t)(i & ((1u << p->shift) - 1)) * p->item_size;
}

/* pool_at for a pool whose item size and shift are known constants (the compiler then needs no
 * multiplication): they must be the pool's. */
static inline void *pool_item(const struct pool *p, uint32_t h, size_t size, unsigned shift)
{
	uint32_t i = h - 1;

	return p->slabs[i >> shift] + (size_t)(i & ((1u << shift) - 1)) * size;
}

/* Bytes the pool holds: its slabs and their directory (not what is mapped and not yet carved:
 * untouched pages take no memory). */
size_t pool_bytes(const struct pool *p);

#endif
