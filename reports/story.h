/* story.h - private to reports/: a connection's story in words, the same for every format.
 *
 * Everything here reads one finished record (its class, closer, counters, evidence frames and,
 * when collected, its segments) and writes plain UTF-8 text, one paragraph per line ('\n'
 * terminated); the caller escapes it for its medium (put_visible, put_md, put_xml). Nothing here
 * decides anything: the classifier did; these sentences say what it concluded, from which frames,
 * and what that means for the two applications.
 */
#ifndef TM_REPORTS_STORY_H
#define TM_REPORTS_STORY_H

#include "flow_record.h"
#include "rbuf.h"

/* How the connection opened: "complete: SYN, SYN+ACK 25 µs later, ACK 11 µs after that
 * (frames 1-3)". One line, no newline. */
void story_handshake(struct rbuf *b, const struct flow_record *r);

/* What each side sent: "client -> server 5 packets, 1,064 bytes; server -> client ...". One line
 * per direction, each ending in '\n'. `arrow` separates the two sides ("->" or "→"). */
void story_volume(struct rbuf *b, const struct flow_record *r, const char *arrow);

/* How it ended, in sentences: what happened on the wire (with frame numbers and delays), what it
 * means, and the modifiers. Paragraphs end in '\n'. */
void story_explain(struct rbuf *b, const struct flow_record *r);

/* The evidence note for a frame, or NULL. */
const char *story_note(const struct flow_record *r, uint64_t frame);

/* "rst_unread_data, closed by the server" / "open_at_end" (no closer). No newline. */
void story_verdict(struct rbuf *b, const struct flow_record *r);

#endif
