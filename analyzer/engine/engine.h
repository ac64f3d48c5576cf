/* engine.h - frames in, finished flow records out.
 *
 * The engine owns the flow table. Each frame is dissected, its flow found or started and
 * tracked; flows are finished (classified, handed to the writer, freed) as soon as they are over
 * in capture time, so memory follows the flows alive at one moment, not the flows in the file.
 *
 * Expiry rules (capture time, i.e. the latest frame timestamp seen, never the wall clock):
 *  - A flow that has ended on the wire (a RST, or both FINs acknowledged) is finished once
 *    nothing was seen on it for FINISHED_QUIET_NS: the peer's segments still in flight and
 *    further resets arrive within that. It waits frozen (live_flow.h), thawed for a late segment.
 *  - Any other flow is finished once silent for `expire_ns` (default 300 s, never less than the
 *    idle threshold): it is classified as if the capture ended there (idle_at_end, peer_vanished,
 *    keepalive_timeout, half_closed_at_end, ...).
 *  - When the table holds `max_flows`, the least recently active flow is finished at once,
 *    marked `evicted`.
 *  - A finished flow leaves a tombstone of its 4-tuple for TOMBSTONE_NS (Linux holds TIME-WAIT
 *    60 s, TCP_TIMEWAIT_LEN): a later segment on it is counted as a late segment of a finished
 *    connection, never taken for a new connection, and a new SYN on it starts a flow marked
 *    `port_reuse`. So a flow is never finished early and then reported again as a second flow
 *    unless it stays silent past `expire_ns` and then TOMBSTONE_NS more.
 *  - At the end of the capture every flow left is finished, in the order they started.
 */
#ifndef TM_ENGINE_H
#define TM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "writer.h"

/* 20 s: a stateful box in the path that resets a connection its endpoints had already ended
 * (its close timeout expiring, e.g. conntrack's 10 s, then its next sweep) was seen to do so 16
 * to 18 s after the last segment (zeek's Teredo trace, tests/realworld/); such a reset is
 * evidence about the path (rst_from_middlebox) and belongs to the connection. */
#define FINISHED_QUIET_NS (20LL * 1000000000)
#define TOMBSTONE_NS (60LL * 1000000000)
#define DEFAULT_EXPIRE_NS (300LL * 1000000000)

struct flow;
struct live_flow;

/* An observer of the engine, for features that need more than the finished records (the
 * segment log behind stories and ladder diagrams, seglog.h). Every member may be NULL. Hooks
 * are called from the analysing thread and see records before they are buffered, so an engine
 * with hooks analyses in one thread (engine_create ignores `threads`). */
struct engine_hooks {
	void *ctx;
	/* `seg` (frame `fr`, direction `d`) was just applied to `f`; `first`: it started `f`. */
	void (*segment)(void *ctx, const struct live_flow *f, const struct tcp_segment *seg,
	                enum flow_direction d, int64_t ts_ns, uint64_t frame, bool first);
	/* `f` (decoded: the live flow is gone) is finished and classified into *rec; called for
	 * every flow, before it is reported. May attach data to *rec that lives until the next call.
	 * Returns false to leave the flow out of the report (as only_flow does). */
	bool (*finish)(void *ctx, const struct flow *f, struct flow_record *rec);
};

struct engine_options {
	int64_t idle_ns;          /* DESIGN §2 idle_at_end threshold */
	int64_t expire_ns;        /* silence that finishes a live flow; 0: DEFAULT_EXPIRE_NS */
	uint64_t max_flows;       /* 0: no cap */
	uint32_t class_mask;      /* bit per enum close_class to report; 0: all */
	uint64_t only_flow;       /* report only this flow id; 0: all */
	uint64_t hash_seed;
	unsigned threads;         /* threads in all; 0 or 1: all in the calling thread; N > 1: the
	                             calling thread reads, N - 1 track shards of the flows */
	const struct engine_hooks *hooks; /* NULL: none */
	int64_t close_wait_ns;    /* CLOSE-WAIT this long is reported; 0: DEFAULT_CLOSE_WAIT_NS */
	bool paced_input;         /* an input is a pipe that may pause: single-threaded, every
	                             frame is tracked at once (no batch waits for the next frames),
	                             so records come out while the writer of the pipe is quiet */
	bool skip_zeek;           /* no report reads the records' Zeek fields: Zeek's view is not
	                             tracked, and the records' zeek fields are all zero */
};

struct engine;

/* `n_files` is capture_set_count() of the set whose frames will be fed. NULL when out of memory. */
struct engine *engine_create(const struct engine_options *opt, struct writer *out, unsigned n_files);
void engine_destroy(struct engine *e);

/* Feeds one frame. Returns -1 when the writer failed (the run should stop), else 0. */
int engine_frame(struct engine *e, const struct capture_frame *frame);

/* Live capture: the time is `now_ns` (the wall clock), frames or not, so that flows silent past
 * --expire are finished while the interface is quiet. Single-threaded engines only (a threaded
 * one ignores it). */
void engine_tick(struct engine *e, int64_t now_ns);

/* Finishes every flow still open, at the end of the capture. -1 when the writer failed. */
int engine_finish(struct engine *e);

/* Fills the run summary (the per-file parts included) for `cs`. `stats` must hold
 * capture_set_count(cs) entries and stay alive as long as the summary is used. */
void engine_summary(const struct engine *e, const struct capture_set *cs,
                    struct capture_stats *stats, struct run_summary *sum);

uint64_t engine_evicted(const struct engine *e);
/* Most flows alive at one moment. */
uint64_t engine_peak_flows(const struct engine *e);
/* Connections in memory now (threaded: as of the last batch the workers finished). */
uint64_t engine_live_flows(const struct engine *e);
/* Flows that could not be tracked because memory ran out. */
uint64_t engine_dropped(const struct engine *e);

#endif
