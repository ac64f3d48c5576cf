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
 * Not thread-safe: each shard of the engine has its own pools.
 */
#ifndef TM_POOL_H
#define TM_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pool {
	unsigned char **slabs;
	uint32_t n_slabs, cap_slabs;
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

/* A zero-filled item, or 0 when memory ran out (or the handles did). */
uint32_t pool_alloc(struct pool *p);
/* Gives item `h` (not 0, in use) back. */
void pool_free(struct pool *p, uint32_t h);

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

/* Bytes the pool holds: its slabs and their directory. */
size_t pool_bytes(const struct pool *p);

#endif
