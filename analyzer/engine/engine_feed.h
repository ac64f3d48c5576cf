/* engine_feed.h - the engine's door for frames dissected elsewhere: the parallel readers
 * (readers.c) read and dissect in threads of their own and feed the engine in capture order,
 * frame by frame, as engine_frame() would have been fed. Private to analyzer/engine. */
#ifndef TM_ENGINE_FEED_H
#define TM_ENGINE_FEED_H

#include "engine.h"

/* batch_item.shard of a frame that is not a TCP segment (it moves the clock only), and of a
 * record the filter left out (numbered, not a frame for the engine: engine_feed_run). */
#define SHARD_NONE (-1)
#define SHARD_FILTERED (-2)

/* One frame, dissected, for the shards. `shard` < 0: SHARD_NONE or SHARD_FILTERED. `frame` is
 * set single-threaded only (threaded, the batch numbers its runs). */
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
 * completes it in place (capture, shard; `stride`: the distance from it to the next item of its
 * array, so that consecutive ones make one run of the batch): `*it` must stay untouched until
 * engine_batches_done() reaches the engine_batch_filling() read right after this call. */
int engine_feed_ref(struct engine *e, struct batch_item *it, size_t stride, uint64_t frame,
                    enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                    unsigned file_index);

/* What a run of consecutive records of one file adds to the counts, as engine_feed() would add
 * them frame by frame: `frames` are the records fed (the filter kept them), `bytes` their caplen,
 * first_ts_ns what count_frame()'s rule (the first time, or an earlier one) makes of their times
 * starting from 0, `zero_ts` whether one of them is at time 0 (the rule then forgets what came
 * before), max_ts_ns the latest of them. */
struct feed_counts {
	uint64_t bytes;
	uint32_t frames;
	uint32_t tcp_segments;
	uint32_t filtered;
	uint32_t skipped[DISSECT_RESULT_COUNT];
	bool zero_ts;
	int64_t first_ts_ns;
	int64_t max_ts_ns;
};

/* Feeds `n` consecutive records of file `file_index`, numbered from `frame0`, in one go (threaded
 * engine only: -1 otherwise): the items are `stride` bytes apart from `first`, complete (shard
 * SHARD_NONE when not TCP, SHARD_FILTERED when filtered; capture and ts_nano set), and stay
 * untouched until engine_batches_done() reaches the engine_batch_filling() read right after this
 * call; `c` their counts. The merging thread does nothing per frame. -1 when the writer failed. */
int engine_feed_run(struct engine *e, const struct batch_item *first, size_t stride, unsigned n,
                    uint64_t frame0, const struct feed_counts *c, const struct capture_file *file,
                    unsigned file_index);
/* The number of the batch being filled; batches numbered up to engine_batches_done() are read by
 * no worker any more (calling thread only). */
uint64_t engine_batch_filling(const struct engine *e);
uint64_t engine_batches_done(const struct engine *e);
/* Waits until no worker reads a batch (then engine_batches_done() covers every batch
 * published). */
void engine_wait(struct engine *e);
/* Publishes the frames fed so far and waits until no worker reads a batch: engine_batches_done()
 * then covers every frame fed (nothing else changes: engine_finish() does it first anyway). */
void engine_drain(struct engine *e);
/* CPU time the shard workers have used so far, in seconds (0 single-threaded). */
double engine_shards_cpu_s(const struct engine *e);
/* A frame the filter left out, read outside capture.c (counted as filtered in the summary). */
void engine_filtered(struct engine *e, unsigned file_index);

#endif
