/* writer_impl.h - private to reports/: what every format implements behind writer.h.
 *
 * A format describes itself in a struct writer_ops: the size of its state (which embeds `struct
 * writer` as its first member) and its functions; writer.c allocates the state, dispatches and
 * frees it. Functions return 0 or -1 as writer.h says; `release` frees what the format allocated
 * and never closes `out`.
 */
#ifndef TM_REPORTS_WRITER_IMPL_H
#define TM_REPORTS_WRITER_IMPL_H

#include <stdio.h>

#include "incidents.h"
#include "rbuf.h"
#include "writer.h"

struct writer_ops {
	size_t size; /* the format's state, zeroed by writer_create, with struct writer first */
	void (*init)(struct writer *w, const struct writer_options *opt); /* NULL: nothing to set */
	int (*begin)(struct writer *w); /* NULL: nothing to do before the first flow */
	int (*flow)(struct writer *w, const struct flow_record *flow);
	/* An incident is over (NULL: the format reads w->incidents at the end, if at all). Called
	 * between flows, and from writer_end before `end`. */
	int (*incident)(struct writer *w, const struct incident *inc);
	int (*end)(struct writer *w, const struct run_summary *summary);
	void (*release)(struct writer *w); /* frees what the format allocated (not `w` itself) */
	/* The format needs each row's incident (incidents_member_of): the detector tracks it. */
	bool membership;
};

struct writer {
	const struct writer_ops *ops;
	FILE *out;
	struct incidents *incidents; /* fed by writer.c before each flow reaches the format */
	bool variant; /* the format's other form: NDJSON for JSON, JSON lines for Zeek's log */
	bool batch;   /* records gather up to WRITER_BATCH bytes before one write (writer_emit) */
};

/* How much output a format gathers before it writes: one write(2) per 64 KiB instead of one
 * per record or per 4 KiB stdio buffer (a system call costs about as much as formatting a
 * record, issue 15). */
#define WRITER_BATCH (64u << 10)

/* A format appends its records to `b` and calls this after each one: `b` is written out (and
 * cleared) at once when the stream is read as it grows (w->batch false: a pipe, a socket, a
 * terminal, a line-buffered stream), else once it holds WRITER_BATCH bytes. Returns 0, or -1
 * with errno set (ENOMEM when `b` lost something for want of memory, else by stdio). */
int writer_emit(struct writer *w, struct rbuf *b);
/* Writes out (and clears) whatever `b` holds: at the end, and before anything goes to the stream
 * another way. Same returns. */
int writer_drain(struct writer *w, struct rbuf *b);

/* Writes a report built in `b` and flushes: -1 with errno ENOMEM when `b` or the format lost
 * something for want of memory (`failed`), -1 when writing failed, else 0. */
int writer_put(struct writer *w, const struct rbuf *b, bool failed);

/* The formats; writer.c picks one by name. */
extern const struct writer_ops report_text_ops, report_json_ops, report_csv_ops,
	report_markdown_ops, report_svg_ops, report_html_ops, report_zeek_ops;

/* "none" where closer_name() gives NULL: the summary tables' column for CLOSER_NONE. */
static inline const char *closer_label(enum closer_side c)
{
	const char *name = closer_name(c);

	return name != NULL ? name : "none";
}

#endif
