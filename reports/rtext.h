/* rtext.h - private to reports/: text helpers the human-readable writers share (text, Markdown,
 * SVG, HTML): escaping untrusted strings for each medium, and numbers, durations, times and
 * endpoints as people read them.
 *
 * Untrusted strings (capture file names, reasons) pass through exactly one of the put_* escapers
 * of the medium they land in; none of them can end a construct early (a table cell, an element,
 * an attribute) or drive a terminal. All append to an rbuf and never fail on their own (an rbuf
 * allocation failure is sticky, see rbuf.h).
 */
#ifndef TM_REPORTS_RTEXT_H
#define TM_REPORTS_RTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_record.h"
#include "rbuf.h"

/* Terminal text: printable ASCII and well-formed UTF-8 as they are, except the C1 controls;
 * control characters as \n \r \t or \xNN; ill-formed bytes as \xNN. NULL: "(none)". */
void put_visible(struct rbuf *b, const char *s, size_t n);
void put_visible_str(struct rbuf *b, const char *s);

/* GitHub-flavoured Markdown inline text (a paragraph or a table cell): every ASCII punctuation
 * character that Markdown or GitHub gives a meaning to inline (emphasis, links, code, tables,
 * HTML, entities, math, mentions, issue references, URL autolinks) is backslash-escaped, newlines
 * and tabs become spaces, other control characters and ill-formed UTF-8 become U+FFFD. */
void put_md(struct rbuf *b, const char *s, size_t n);
void put_md_str(struct rbuf *b, const char *s);

/* XML 1.0 / HTML text and attribute values: & < > " ' as entities; characters XML forbids even
 * as references (controls other than tab, newline, carriage return) and ill-formed UTF-8 become
 * U+FFFD, so the output always parses. */
void put_xml(struct rbuf *b, const char *s, size_t n);
void put_xml_str(struct rbuf *b, const char *s);

/* count's share of `of`: "50.0%"; "-" when `of` is 0. */
void put_share(struct rbuf *b, uint64_t count, uint64_t of);
/* Line breaking for prose (UTF-8, untrusted): where the line that starts at text[i] ends when
 * it may hold `room` characters: at the last space that lets it fit, or after `room` characters
 * when no space does. */
size_t wrap_end(const char *text, size_t n, size_t i, size_t room);
/* Where the next line starts after one that ended at `end`: the spaces are dropped. */
size_t wrap_next(const char *text, size_t n, size_t end);

/* 1448 -> "1,448" */
void put_grouped(struct rbuf *b, uint64_t v);
/* A duration as people say it: "31 µs", "2.4 ms", "100 ms", "1.25 s", "12.5 s", "3 min 20 s",
 * "2 h 5 min". Negative durations print as 0. */
void put_duration(struct rbuf *b, int64_t ns);
/* Same, with "us" for "µs": for columns that must be one byte per character. */
void put_duration_ascii(struct rbuf *b, int64_t ns);
/* Seconds since a reference, with 6 or 9 decimals: "0.102715". */
void put_seconds(struct rbuf *b, int64_t ns, bool nano);
/* "2025-11-24 16:00:00.123456" (UTC, no zone suffix). */
void put_utc(struct rbuf *b, int64_t ts_ns, bool nano);
/* "198.51.100.1:40001", "[2001:db8::1]:443" */
void put_endpoint(struct rbuf *b, const struct flow_endpoint *e);
size_t endpoint_width(const struct flow_endpoint *e);
unsigned digits_of(uint64_t v);

/* "client" / "server" for a direction (direction_name(), the one place that names it); "the
 * client" style is left to the caller. */
static inline const char *side_word(unsigned from)
{
	return direction_name((enum flow_direction)from);
}

#endif
