/* pool.c - fixed-size items addressed by 32-bit handles (pool.h). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer a freed item is poisoned (all but its free-list link), so a use after
 * free inside a pool is reported as it would be with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define TM_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TM_POOL_ASAN 1
#endif
#endif
#ifdef TM_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(a, n) ASAN_POISON_MEMORY_REGION((a), (n))
#define UNPOISON(a, n) ASAN_UNPOISON_MEMORY_REGION((a), (n))
#else
#define POISON(a, n) ((void)(a), (void)(n))
#define UNPOISON(a, n) ((void)(a), (void)(n))
#endif

/* The free list's link sits in the first 8 bytes of a freed item (ASan poisons in 8-byte units). */
#define LINK_BYTES 8u

void pool_init(struct pool *p, size_t item_size, unsigned shift)
{
	memset(p, 0, sizeof *p);
	if (item_size < LINK_BYTES)
		item_size = LINK_BYTES;
	p->item_size = (uint32_t)((item_size + 7) & ~(size_t)7);
	p->shift = shift > 16 ? 16 : shift;
}

void pool_destroy(struct pool *p)
{
	for (uint32_t i = 0; i < p->n_slabs; i++) {
		UNPOISON(p->slabs[i], (size_t)p->item_size << p->shift);
		free(p->slabs[i]);
	}
	free(p->slabs);
	p->slabs = NULL;
	p->n_slabs = p->cap_slabs = 0;
	p->fresh = p->free_head = p->live = 0;
}

/* One more slab, for fresh items. */
static int add_slab(struct pool *p)
{
	unsigned char *slab;

	if (p->n_slabs == p->cap_slabs) {
		uint32_t cap = p->cap_slabs ? p->cap_slabs * 2 : 16;
		unsigned char **dir;

		if (cap <= p->cap_slabs)
			return -1;
		dir = realloc(p->slabs, (size_t)cap * sizeof *dir);
		if (!dir)
			return -1;
		p->slabs = dir;
		p->cap_slabs = cap;
	}
	slab = malloc((size_t)p->item_size << p->shift);
	if (!slab)
		return -1;
	p->slabs[p->n_slabs++] = slab;
	return 0;
}

uint32_t pool_alloc(struct pool *p)
{
	uint32_t h = p->free_head;
	unsigned char *item;

	if (h) {
		item = pool_at(p, h);
		memcpy(&p->free_head, item, sizeof p->free_head);
		UNPOISON(item, p->item_size);
	} else {
		/* Handles run from 1 to UINT32_MAX. */
		if (p->fresh == UINT32_MAX)
			return 0;
		if ((p->fresh >> p->shift) >= p->n_slabs && add_slab(p) != 0)
			return 0;
		h = ++p->fresh;
		item = pool_at(p, h);
	}
	memset(item, 0, p->item_size);
	p->live++;
	return h;
}

void pool_free(struct pool *p, uint32_t h)
{
	unsigned char *item = pool_at(p, h);

	memcpy(item, &p->free_head, sizeof p->free_head);
	POISON(item + LINK_BYTES, p->item_size - LINK_BYTES);
	p->free_head = h;
	p->live--;
}

size_t pool_bytes(const struct pool *p)
{
	return (size_t)p->n_slabs * ((size_t)p->item_size << p->shift) +
	       (size_t)p->cap_slabs * sizeof *p->slabs;
}
