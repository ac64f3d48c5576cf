/* file_heap.h - the input files in the order their next frames merge: by the time of each file's
 * next frame, ties to the file named first (capture.h: "several files are merged by timestamp").
 * Both readers of several files keep one: capture.c (libpcap, one frame a file ahead) and the
 * reader threads' dispatcher (readers.c, one chunk of frames a file ahead).
 */
#ifndef TM_FILE_HEAP_H
#define TM_FILE_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct file_heap {
	unsigned *idx;  /* file indexes, idx[0] the earliest; room for every file */
	unsigned len;
	const void *ctx;
	int64_t (*ts)(const void *ctx, unsigned file); /* the time of `file`'s next frame */
};

/* Room for `n` files (at least one); false when out of memory. */
bool file_heap_init(struct file_heap *h, unsigned n, const void *ctx,
                    int64_t (*ts)(const void *ctx, unsigned file));
void file_heap_free(struct file_heap *h);
/* `a`'s next frame merges before `b`'s. */
bool file_heap_before(const struct file_heap *h, unsigned a, unsigned b);
/* Adds `file` (it has a next frame). */
void file_heap_push(struct file_heap *h, unsigned file);
/* Orders files added with h->idx[h->len++] = file (all at once, cheaper than a push each). */
void file_heap_build(struct file_heap *h);
/* The top file moved on to its next frame (`more`), or has none left and leaves. */
void file_heap_replace_top(struct file_heap *h, bool more);

#endif
