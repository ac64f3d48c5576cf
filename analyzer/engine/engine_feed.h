/* engine_feed.h - the engine's door for frames dissected elsewhere: the parallel readers
 * (readers.c) read and dissect in threads of their own and feed the engine in capture order,
 * frame by frame, as engine_frame() would have been fed. Private to analyzer/engine. */
#ifndef TM_ENGINE_FEED_H
#define TM_ENGINE_FEED_H

#include "engine.h"

/* One frame, dissected, for the shards. `shard` < 0: not a TCP segment (time only). */
struct batch_item {
	struct tcp_segment seg;
	int64_t ts_ns;
	uint64_t frame;
	const char *capture;
	uint32_t hash;
	uint32_t encap;       /* id of the description of its outer layers, 0: none */
	int shard;
	bool ts_nano;
};

/* The shard workers a threaded engine runs (0: single-threaded). */
unsigned engine_shards(const struct engine *e);
/* Dissects `caplen` bytes of link type `dlt` into it->seg, as engine_frame() does; for a TCP
 * segment also its outer layers' description (it->encap), its hash and shard. `layers` is the
 * caller's scratch. Safe from any thread (the description table takes a lock). */
enum dissect_result engine_dissect(struct engine *e, int dlt, const uint8_t *data, uint32_t caplen,
                                   struct encap_stack *layers, struct batch_item *it);

/* Feeds the next frame of the capture, number `frame`, as engine_frame() does after dissecting:
 * `it` holds the frame's timestamp and what engine_dissect() made of it (result `r`); `caplen`
 * bytes were captured of it in file `file_index`.
 * -1 when the writer failed. */
int engine_feed(struct engine *e, const struct batch_item *it, uint64_t frame,
                enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                unsigned file_index);
/* As engine_feed(), but the batch refers to `*it` where it is instead of copying it, and
 * completes it in place (frame number, capture, shard): `*it` must stay untouched until
 * engine_batches_done() reaches the engine_batch_filling() read right after this call. */
int engine_feed_ref(struct engine *e, struct batch_item *it, uint64_t frame,
                    enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                    unsigned file_index);
/* The number of the batch being filled; batches numbered up to engine_batches_done() are read by
 * no worker any more (calling thread only). */
uint64_t engine_batch_filling(const struct engine *e);
uint64_t engine_batches_done(const struct engine *e);
/* Waits until no worker reads a batch (then engine_batches_done() covers every batch
 * published). */
void engine_wait(struct engine *e);
/* CPU time the shard workers have used so far, in seconds (0 single-threaded). */
double engine_shards_cpu_s(const struct engine *e);
/* A frame the filter left out, read outside capture.c (counted as filtered in the summary). */
void engine_filtered(struct engine *e, unsigned file_index);

#endif
