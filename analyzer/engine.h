/* engine.h - frames in, finished flow records out.
 *
 * The engine owns the flow table. Each frame is dissected, its flow found or started and
 * tracked; flows are finished (classified, handed to the writer, freed) as soon as they are over
 * in capture time, when the table is full (the longest idle first, marked `evicted`), when the
 * 4-tuple is reused, or at the end of the capture.
 *
 * Expiry rule: a flow that has ended on the wire (RST seen, or both FINs acknowledged) is
 * finished once nothing was seen on it for FINISHED_QUIET_NS of capture time (Linux holds
 * TIME-WAIT for 60 s, TCP_TIMEWAIT_LEN, and segments still in flight, a peer's retransmissions
 * or further resets belong to the same connection until then). A flow that has not ended stays
 * until the end of the capture, so it can never be finished early and then reappear.
 */
#ifndef TM_ENGINE_H
#define TM_ENGINE_H

#include <stdint.h>

#include "capture.h"
#include "reports/writer.h"

#define FINISHED_QUIET_NS (60LL * 1000000000)

struct flow;

/* An observer of the engine, for features that need more than the finished records (the
 * segment log behind stories and ladder diagrams, seglog.h). Every member may be NULL. */
struct engine_hooks {
	void *ctx;
	/* `seg` (frame `fr`, direction `d`) was just applied to `f`; `first`: it started `f`. */
	void (*segment)(void *ctx, const struct flow *f, const struct tcp_segment *seg,
	                enum flow_direction d, const struct capture_frame *fr, bool first);
	/* `f` is finished and classified into *rec; called for every flow, before it is reported
	 * and freed. May attach data to *rec that lives until the next call. Returns false to leave
	 * the flow out of the report (as only_flow does). */
	bool (*finish)(void *ctx, const struct flow *f, struct flow_record *rec);
};

struct engine_options {
	int64_t idle_ns;          /* DESIGN §2 idle_at_end threshold */
	uint64_t max_flows;       /* 0: no cap */
	uint32_t class_mask;      /* bit per enum close_class to report; 0: all */
	uint64_t only_flow;       /* report only this flow id; 0: all */
	uint64_t hash_seed;
	const struct engine_hooks *hooks; /* NULL: none */
};

struct engine;

/* `n_files` is capture_set_count() of the set whose frames will be fed. NULL when out of memory. */
struct engine *engine_create(const struct engine_options *opt, struct writer *out, unsigned n_files);
void engine_destroy(struct engine *e);

/* Feeds one frame. Returns -1 when the writer failed (the run should stop), else 0. */
int engine_frame(struct engine *e, const struct capture_frame *frame);

/* Finishes every flow still open, at the end of the capture. -1 when the writer failed. */
int engine_finish(struct engine *e);

/* Fills the run summary (the per-file parts included) for `cs`. `stats` must hold
 * capture_set_count(cs) entries and stay alive as long as the summary is used. */
void engine_summary(const struct engine *e, const struct capture_set *cs,
                    struct capture_stats *stats, struct run_summary *sum);

uint64_t engine_evicted(const struct engine *e);
/* Connections in memory now. */
uint64_t engine_live_flows(const struct engine *e);
/* Flows that could not be tracked because memory ran out. */
uint64_t engine_dropped(const struct engine *e);

#endif
