/* diagnosis_text.h - private to reports/: a flow's diagnoses (flow_record.h, struct
 * flow_diagnosis) in plain words, shared by the human-readable writers, and in the compact
 * key=value form of the CSV columns. */
#ifndef TM_REPORTS_DIAGNOSIS_TEXT_H
#define TM_REPORTS_DIAGNOSIS_TEXT_H

#include <stdbool.h>

#include "flow_record.h"
#include "rbuf.h"

/* Whether a flow's diagnoses are worth a reader's attention even when its class is not (a
 * forged reset, a middlebox timeout, a CLOSE-WAIT, a 4-tuple reused during TIME-WAIT). */
bool diagnosis_noteworthy(const struct flow_diagnosis *d);

/* Calls emit(ctx, text, len) once per diagnosis, with one plain English sentence (ending in a
 * full stop, no line end), in a fixed order: who sent the reset, the idle timeout, CLOSE-WAIT,
 * TIME-WAIT reuse, TIME-WAIT, each side's timers, the stacks. `scratch` is the caller's reusable
 * buffer. Nothing is emitted for what was not found. */
void diagnosis_sentences(const struct flow_diagnosis *d, struct rbuf *scratch,
                         void (*emit)(void *ctx, const char *text, size_t len), void *ctx);

/* Appends one side's timers as "key=value;key=value" (ranges as MIN..MAX, MIN.. or ..MAX) to
 * `b`, which must be empty; nothing when none were seen. */
void diagnosis_timers_compact(const struct endpoint_timers *t, struct rbuf *b);

#endif
