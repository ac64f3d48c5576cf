/* engine_feed.h - the engine's door for frames dissected elsewhere: the parallel readers
 * (readers.c) read and dissect in threads of their own and feed the engine in capture order,
 * frame by frame, as engine_frame() would have been fed. Private to analyzer/engine. */
#ifndef TM_ENGINE_FEED_H
#define TM_ENGINE_FEED_H

#include "engine.h"

struct encap_table;

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
/* Fills it->hash and it->shard for the TCP segment it->seg. Safe from any thread. */
void engine_place(const struct engine *e, struct batch_item *it);
/* The table of outer-layer descriptions (encap_table_intern is safe from any thread). */
struct encap_table *engine_encaps(struct engine *e);

/* Feeds the next frame of the capture, number `frame`, as engine_frame() does after dissecting:
 * `it` holds the frame's timestamp, and for a TCP segment (r == DISSECT_TCP) the segment placed
 * by engine_place() with its encap id; `caplen` bytes were captured of it in file `file_index`.
 * -1 when the writer failed. */
int engine_feed(struct engine *e, const struct batch_item *it, uint64_t frame,
                enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                unsigned file_index);
/* CPU time the shard workers have used so far, in seconds (0 single-threaded). */
double engine_shards_cpu_s(const struct engine *e);
/* A frame the filter left out, read outside capture.c (counted as filtered in the summary). */
void engine_filtered(struct engine *e, unsigned file_index);

#endif
