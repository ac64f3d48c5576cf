/* file_heap.c - a binary min-heap of file indexes (file_heap.h). */
#include "file_heap.h"

#include <stdlib.h>

bool file_heap_init(struct file_heap *h, unsigned n, const void *ctx,
                    int64_t (*ts)(const void *ctx, unsigned file))
{
	*h = (struct file_heap){ calloc(n ? n : 1, sizeof *h->idx), 0, ctx, ts };
	return h->idx != NULL;
}

void file_heap_free(struct file_heap *h)
{
	free(h->idx);
	h->idx = NULL;
	h->len = 0;
}

bool file_heap_before(const struct file_heap *h, unsigned a, unsigned b)
{
	int64_t ta = h->ts(h->ctx, a), tb = h->ts(h->ctx, b);

	return ta < tb || (ta == tb && a < b);
}

static void swap(unsigned *x, unsigned *y)
{
	unsigned t = *x;

	*x = *y;
	*y = t;
}

static void sift_down(struct file_heap *h, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->len && file_heap_before(h, h->idx[l], h->idx[m]))
			m = l;
		if (r < h->len && file_heap_before(h, h->idx[r], h->idx[m]))
			m = r;
		if (m == i)
			return;
		swap(&h->idx[i], &h->idx[m]);
		i = m;
	}
}

void file_heap_push(struct file_heap *h, unsigned file)
{
	unsigned i = h->len++;

	h->idx[i] = file;
	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (!file_heap_before(h, h->idx[i], h->idx[parent]))
			return;
		swap(&h->idx[i], &h->idx[parent]);
		i = parent;
	}
}

void file_heap_build(struct file_heap *h)
{
	for (unsigned i = h->len / 2; i-- > 0;)
		sift_down(h, i);
}

void file_heap_replace_top(struct file_heap *h, bool more)
{
	if (!more)
		h->idx[0] = h->idx[--h->len];
	if (h->len > 1)
		sift_down(h, 0);
}
