/* pool.c - fixed-size items addressed by 32-bit handles (pool.h). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

/* The huge page size of x86-64 and of arm64 with 4 KiB pages (a PMD). Where it is another, the
 * regions are only aligned for nothing: the pool works the same on ordinary pages. */
#define HUGE_PAGE ((size_t)2 << 20)
/* A region is as large as what the pool already holds (at least a slab, at most REGION_MAX),
 * rounded up to huge pages: a growing pool takes few mappings, and what a region has beyond the
 * pool's peak is never touched, so it takes address space but no memory. */
#define REGION_MAX ((size_t)64 << 20)

static size_t slab_bytes(const struct pool *p)
{
	return (size_t)p->item_size << p->shift;
}

void pool_share(struct pool *p, struct pool_space *s)
{
	p->space = s;
}

void pool_destroy(struct pool *p)
{
	for (uint32_t i = 0; i < p->n_slabs; i++)
		UNPOISON(p->slabs[i], slab_bytes(p));
	for (uint32_t i = 0; i < p->n_chunks; i++) {
		if (p->chunks[i].len)
			munmap(p->chunks[i].base, p->chunks[i].len);
		else
			free(p->chunks[i].base);
	}
	free(p->chunks);
	free(p->slabs);
	p->slabs = NULL;
	p->chunks = NULL;
	p->n_slabs = p->cap_slabs = p->n_chunks = p->cap_chunks = 0;
	p->region_next = NULL;
	p->region_left = 0; /* the space, if any, stays */
	p->fresh = p->free_head = p->live = 0;
}

/* Room for one more entry of `size` bytes in the array *arr holding n of *cap: doubled when
 * full (16 at first). -1 when memory or the count ran out. */
static int grow_array(void **arr, uint32_t n, uint32_t *cap, size_t size)
{
	uint32_t more = *cap ? *cap * 2 : 16;
	void *grown;

	if (n < *cap)
		return 0;
	if (more <= *cap)
		return -1;
	grown = realloc(*arr, (size_t)more * size);
	if (!grown)
		return -1;
	*arr = grown;
	*cap = more;
	return 0;
}

/* Records a block of memory in *arr holding n of *cap (pool_chunk). */
static int add_block(struct pool_chunk **arr, uint32_t *n, uint32_t *cap, void *base, size_t len)
{
	void *blocks = *arr;

	if (grow_array(&blocks, *n, cap, sizeof **arr) != 0)
		return -1;
	*arr = blocks;
	(*arr)[*n].base = base;
	(*arr)[*n].len = len;
	(*n)++;
	return 0;
}

/* Records a block of memory the pool now owns. */
static int add_chunk(struct pool *p, void *base, size_t len)
{
	return add_block(&p->chunks, &p->n_chunks, &p->cap_chunks, base, len);
}

/* `len` bytes (a multiple of HUGE_PAGE) of zeros starting on a HUGE_PAGE boundary, so that each
 * aligned 2 MiB of it can be one huge page; NULL when mmap failed. mmap only promises page
 * alignment: map HUGE_PAGE more and unmap the ends. */
static unsigned char *map_region(size_t len)
{
	size_t over = len + HUGE_PAGE;
	unsigned char *raw = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                          -1, 0);
	unsigned char *start;
	size_t head;

	if (raw == MAP_FAILED)
		return NULL;
	head = (HUGE_PAGE - (uintptr_t)raw % HUGE_PAGE) % HUGE_PAGE;
	start = raw + head;
	if (head)
		munmap(raw, head);
	munmap(start + len, over - head - len);
#ifdef MADV_HUGEPAGE
	/* A hint: THP "never", or a kernel without THP, refuses it or ignores it, and the region is
	 * ordinary pages. With THP's defrag setting "madvise" (Debian's default) a fault here may
	 * compact memory to find a huge page, as glibc's malloc does with glibc.malloc.hugetlb=1. */
	(void)madvise(start, len, MADV_HUGEPAGE);
#endif
	return start;
}

/* Memory for one more slab: malloc'd while the pool holds less than POOL_SMALL_BYTES, else
 * carved from the current region (a new one when it has no room left; the bytes it had, less
 * than a slab, are left unused). Falls back to malloc when mapping failed. */
static unsigned char *new_slab(struct pool *p)
{
	size_t bytes = slab_bytes(p), held = (size_t)p->n_slabs * bytes;
	unsigned char *slab;

	if (held >= POOL_SMALL_BYTES && p->region_left < bytes) {
		size_t len = held > REGION_MAX ? REGION_MAX : held;
		unsigned char *region;

		if (len < bytes)
			len = bytes;
		len = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
		region = map_region(len);
		if (region && add_chunk(p, region, len) == 0) {
			p->region_next = region;
			p->region_left = len;
		} else if (region) {
			munmap(region, len);
		}
	}
	if (held >= POOL_SMALL_BYTES && p->region_left >= bytes) {
		slab = p->region_next;
		p->region_next += bytes;
		p->region_left -= bytes;
		return slab;
	}
	slab = malloc(bytes);
	if (slab && add_chunk(p, slab, 0) != 0) {
		free(slab);
		return NULL;
	}
	return slab;
}

void pool_space_init(struct pool_space *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
}

void pool_space_destroy(struct pool_space *s)
{
	for (uint32_t i = 0; i < s->n_regions; i++)
		munmap(s->regions[i].base, s->regions[i].len);
	free(s->regions);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof *s);
}

/* new_slab() for a pool of a space: malloc'd while the pool holds less than POOL_SMALL_BYTES (as
 * without a space), else carved from the space's current region (a new one, as large as what the
 * space's regions hold, when it has no room left), under the space's lock. */
static unsigned char *space_slab(struct pool *p)
{
	struct pool_space *s = p->space;
	size_t bytes = slab_bytes(p), held = (size_t)p->n_slabs * bytes;
	unsigned char *slab = NULL;

	if (held >= POOL_SMALL_BYTES) {
		pthread_mutex_lock(&s->lock);
		if (s->region_left < bytes) {
			size_t len = s->held > REGION_MAX ? REGION_MAX : s->held;
			unsigned char *region;

			if (len < bytes)
				len = bytes;
			len = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
			region = map_region(len);
			if (region &&
			    add_block(&s->regions, &s->n_regions, &s->cap_regions, region, len) == 0) {
				s->region_next = region;
				s->region_left = len;
			} else if (region) {
				munmap(region, len);
			}
		}
		if (s->region_left >= bytes) {
			slab = s->region_next;
			s->region_next += bytes;
			s->region_left -= bytes;
			s->held += bytes;
		}
		pthread_mutex_unlock(&s->lock);
		if (slab)
			return slab;
	}
	slab = malloc(bytes); /* a small pool, or no region could be mapped */
	if (slab && add_chunk(p, slab, 0) != 0) {
		free(slab);
		return NULL;
	}
	return slab;
}

/* One more slab, for fresh items. */
static int add_slab(struct pool *p)
{
	unsigned char *slab;
	void *dir = p->slabs;

	if (grow_array(&dir, p->n_slabs, &p->cap_slabs, sizeof *p->slabs) != 0)
		return -1;
	p->slabs = dir;
	slab = p->space ? space_slab(p) : new_slab(p);
	if (!slab)
		return -1;
	p->slabs[p->n_slabs++] = slab;
	return 0;
}

/* An item (its handle, and its bytes at *item), or 0. */
static inline uint32_t alloc_item(struct pool *p, unsigned char **item)
{
	uint32_t h = p->free_head;

	if (h) {
		*item = pool_at(p, h);
		memcpy(&p->free_head, *item, sizeof p->free_head);
		UNPOISON(*item, p->item_size);
	} else {
		/* Handles run from 1 to UINT32_MAX. */
		if (p->fresh == UINT32_MAX)
			return 0;
		if ((p->fresh >> p->shift) >= p->n_slabs && add_slab(p) != 0)
			return 0;
		h = ++p->fresh;
		*item = pool_at(p, h);
	}
	p->live++;
	return h;
}

uint32_t pool_alloc(struct pool *p)
{
	unsigned char *item;
	uint32_t h = alloc_item(p, &item);

	if (h)
		memset(item, 0, p->item_size);
	return h;
}

uint32_t pool_alloc_raw(struct pool *p, void **item)
{
	unsigned char *at = NULL;
	uint32_t h = alloc_item(p, &at);

	*item = at;
	return h;
}

void pool_free_at(struct pool *p, uint32_t h, void *item)
{
	memcpy(item, &p->free_head, sizeof p->free_head);
	POISON((unsigned char *)item + LINK_BYTES, p->item_size - LINK_BYTES);
	p->free_head = h;
	p->live--;
}

void pool_free(struct pool *p, uint32_t h)
{
	pool_free_at(p, h, pool_at(p, h));
}

size_t pool_bytes(const struct pool *p)
{
	return (size_t)p->n_slabs * slab_bytes(p) + (size_t)p->cap_slabs * sizeof *p->slabs +
	       (size_t)p->cap_chunks * sizeof *p->chunks;
}
