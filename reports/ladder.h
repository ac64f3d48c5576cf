/* ladder.h - private to reports/: a connection's segments as a ladder diagram, two columns
 * (client, server) with an arrow per segment, in text and in SVG.
 *
 * Both read only the record and its segment list (flow_record.segments; nothing is drawn when it
 * is NULL). Each row shows the time since the connection's first packet, the frame number, the
 * flags, relative seq/ack, payload length and window, and on the right the classifier's note
 * when the frame is evidence, or what the collector noticed (a retransmission). Segments that
 * were left out show as a gap row where they were, with how many.
 */
#ifndef TM_REPORTS_LADDER_H
#define TM_REPORTS_LADDER_H

#include <stdbool.h>

#include "flow_record.h"
#include "rbuf.h"

/* The arrow's text: "PSH,ACK seq=65 ack=301 len=1000 win=64512". */
void ladder_label(struct rbuf *b, const struct ladder_seg *s);

/* "all 10 segments", or "24 of 58 segments: the first, ..." */
void ladder_caption(struct rbuf *b, const struct segment_list *l);

/* Plain text, one line per row, each line starting with `indent` and ending in '\n'; ANSI colours
 * when `color`. Every line is ASCII apart from the colour sequences. The two bars sit in the same
 * columns on every row. */
void ladder_text(struct rbuf *b, const struct flow_record *r, const char *indent, bool color);

/* An <svg> element (with xmlns, no XML declaration), LADDER_SVG_WIDTH wide; returns its height.
 * `with_story`: a heading and the story's sentences under the diagram, for an SVG file on its
 * own; without, only the diagram, for HTML that writes the story around it. `y` (when not 0) is
 * written as the element's y attribute, to stack diagrams inside an outer <svg>. */
#define LADDER_SVG_WIDTH 1000
int ladder_svg(struct rbuf *b, const struct flow_record *r, bool with_story, int y);

#endif
