/* progress.h - the progress line on standard error during a long run.
 *
 *   tcpmortem: 43% of 280 MB, 1.21 M packets/s, 12,345 live flows, ETA 0:14
 *
 * Auto mode draws it only when the stream is a terminal and the run has lasted a second (short
 * runs print nothing); forced on (--progress), it starts at once, and on something that is not a
 * terminal it writes plain lines (at most one a second) and a last line with the totals. Updates
 * are rate-limited to PROGRESS_HZ a second, the line is cut to the terminal's width, and
 * progress_finish() erases it, so the report and any message that follows start on a clean line.
 * Without a known total size (standard input) it shows bytes read and no percentage or ETA.
 */
#ifndef TM_PROGRESS_H
#define TM_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_HZ 4

enum progress_mode { PROGRESS_AUTO = 0, PROGRESS_ON, PROGRESS_OFF };

struct progress;

/* NULL when off (PROGRESS_OFF, or auto and `to` is not a terminal) or out of memory: every
 * function accepts NULL and then does nothing. */
struct progress *progress_create(enum progress_mode mode, FILE *to);

/* Cheap enough to call every few hundred frames: looks at the clock and draws at most
 * PROGRESS_HZ times a second. `total` is 0 when unknown. */
void progress_update(struct progress *p, uint64_t bytes, uint64_t total, uint64_t frames,
                     uint64_t live_flows);

/* Erases the line (terminal) or writes the totals (forced, not a terminal); frees p. */
void progress_finish(struct progress *p, uint64_t bytes, uint64_t frames);

/* Formats one progress line into buf (no newline). Exposed for the tests. */
void progress_format(char *buf, size_t size, uint64_t bytes, uint64_t total, double seconds,
                     double frames_per_s, uint64_t live_flows);

#endif
