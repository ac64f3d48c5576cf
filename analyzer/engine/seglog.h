/* seglog.h - the segments behind stories and ladder diagrams, collected in the one pass.
 *
 * The engine streams: a connection is freed as soon as it is finished, and its record carries
 * only a few evidence frames. A ladder diagram needs the connection's segments, so this module
 * watches the engine (engine_hooks) and keeps, per connection it cares about, a bounded log:
 *
 *   - the first `head` segments (the handshake) and a ring of the last `tail` segments (the
 *     closing exchange), counting what falls between them;
 *   - for the connections the user selected (--flow, by id or by endpoints: both are known when
 *     the connection's first segment arrives) with the larger story bounds;
 *   - with `all` (the HTML report), for every connection, with the smaller bounds, while the
 *     logs in memory stay under `budget` bytes; a connection that starts over budget gets none
 *     and is counted (seglog_unlogged).
 *
 * Memory is therefore bounded by the connections alive at one moment, like the flow table:
 * selected connections cost (sel_head + sel_tail) entries of 40 bytes each (a 4-tuple has at most
 * one live connection at a time), every other one at most (head + tail) entries, allocated as the
 * connection grows, and all of them together at most `budget` bytes. Nothing is read twice, so
 * standard input works like a file.
 *
 * When a connection finishes, its log becomes the record's segment_list (relative sequence
 * numbers, as in the evidence), valid until the next connection finishes; the log is then freed.
 * The finish hook also applies the selection to the report when `report_only_selected` is set.
 */
#ifndef TM_SEGLOG_H
#define TM_SEGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "flow_select.h"

/* Story bounds: the handshake and the last 32 segments of a selected connection. */
#define SEGLOG_SELECTED_HEAD 8
#define SEGLOG_SELECTED_TAIL 32
/* Picture bounds: every connection of an HTML report. */
#define SEGLOG_ALL_HEAD 4
#define SEGLOG_ALL_TAIL 16
#define SEGLOG_DEFAULT_BUDGET (64u << 20)

struct seglog_options {
	bool all;                  /* a log for every connection, not only the selected ones */
	bool report_only_selected; /* the finish hook drops connections the selection does not name */
	uint32_t head, tail;       /* bounds for every connection (with `all`) */
	uint32_t sel_head, sel_tail; /* bounds for selected connections */
	size_t budget;             /* bytes of unselected logs in memory at once */
};

struct seglog;

/* `sel` (may be NULL: nothing selected) must outlive the seglog; its match counts are updated as
 * connections finish. Returns NULL when out of memory. */
struct seglog *seglog_create(const struct seglog_options *opt, struct flow_selection *sel);
void seglog_destroy(struct seglog *sl);

/* The hooks to put in engine_options.hooks; they live as long as the seglog. */
const struct engine_hooks *seglog_hooks(struct seglog *sl);

/* Connections that got no log because the budget was spent, or memory ran out. */
uint64_t seglog_unlogged(const struct seglog *sl);

#endif
