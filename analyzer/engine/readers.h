/* readers.h - several threads read and dissect the capture, so that reading stops capping what
 * more threads can do (issue 15).
 *
 * With --threads N over files that pcap_map.h can read in place, reader threads walk the files in
 * chunks (pcap_map's verified split) and dissect them; the calling thread takes the chunks in file
 * order, checks each chunk's boundary, merges the files by timestamp, numbers the frames and feeds
 * the engine (engine_feed.h), whose shard workers track the flows and whose records it merges and
 * writes as before. The frames, their numbers and their order are exactly what capture_set_next()
 * gives, so the output is the single-threaded output. Thread roles and memory: readers.c.
 */
#ifndef TM_READERS_H
#define TM_READERS_H

#include <stdint.h>

#include "capture.h"
#include "engine.h"

struct readers;

/* Decides whether the files of `cs` are read by reader threads: NULL when not (one thread, hooks,
 * no file pcap_map can read, ...; the caller reads through capture_set_next()). Otherwise it also
 * sets opt->threads to what engine_create() must start (its shard workers plus the calling
 * thread). */
struct readers *readers_open(struct capture_set *cs, struct engine_options *opt);

struct readers_progress {
	void *ctx;
	/* Called every few thousand frames: bytes read of `total` (0: unknown), frames fed. */
	void (*update)(void *ctx, uint64_t read, uint64_t total, uint64_t frames);
};

/* Reads every file into `e` (created with the options readers_open() set), stopping after
 * `count` frames when count > 0; *frames: the frames fed. -1 when the writer failed. */
int readers_run(struct readers *rd, struct engine *e, const struct readers_progress *prog,
                uint64_t count, uint64_t *frames);

/* Bytes read so far over all files, *total their sizes (0: unknown). */
uint64_t readers_bytes_read(const struct readers *rd, uint64_t *total);

void readers_close(struct readers *rd);

#endif
