/* classify.h - from a finished flow's evidence to its close class, closer, reason and proof. */
#ifndef TM_CLASSIFY_H
#define TM_CLASSIFY_H

#include <stdint.h>

#include "flow.h"

struct classify_context {
	int64_t capture_end_ns; /* timestamp of the capture's last frame (or now, for an eviction) */
	int64_t idle_ns;        /* silence before capture end that makes a flow idle, not open */
	int64_t close_wait_ns;  /* CLOSE-WAIT at least this long is reported (--close-wait);
	                           0: DEFAULT_CLOSE_WAIT_NS */
};

/* A side that acknowledged its peer's FIN and has not closed for this long is reported. */
#define DEFAULT_CLOSE_WAIT_NS (60LL * 1000000000)

/* Fills *rec entirely from *f. Pure: reads the flow, writes the record, nothing else. */
void classify_flow(const struct flow *f, const struct classify_context *ctx,
                   struct flow_record *rec);

#endif
