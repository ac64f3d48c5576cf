/* writer_impl.h - private to reports/: what every format implements behind writer.h.
 *
 * A format embeds `struct writer` as the first member of its own state and fills `ops`; writer.c
 * only dispatches. Functions return 0 or -1 as writer.h says; `destroy` frees the format's state
 * and never closes `out`.
 */
#ifndef TM_REPORTS_WRITER_IMPL_H
#define TM_REPORTS_WRITER_IMPL_H

#include <stdio.h>

#include "rbuf.h"
#include "writer.h"

struct writer_ops {
	int (*begin)(struct writer *w); /* NULL: nothing to do before the first flow */
	int (*flow)(struct writer *w, const struct flow_record *flow);
	int (*end)(struct writer *w, const struct run_summary *summary);
	void (*destroy)(struct writer *w);
};

struct writer {
	const struct writer_ops *ops;
	FILE *out;
};

/* A format's zeroed state of `size` bytes, whose first member is the struct writer, set up with
 * `ops` and `out`; NULL on allocation failure. */
void *writer_alloc(size_t size, const struct writer_ops *ops, FILE *out);

/* Writes a report built in `b` and flushes: -1 with errno ENOMEM when `b` or the format lost
 * something for want of memory (`failed`), -1 when writing failed, else 0. */
int writer_put(struct writer *w, const struct rbuf *b, bool failed);

/* One constructor per format; each returns NULL on allocation failure. `opt` is never NULL. */
struct writer *report_text_create(FILE *out, const struct writer_options *opt);
struct writer *report_json_create(FILE *out, const struct writer_options *opt);
struct writer *report_ndjson_create(FILE *out, const struct writer_options *opt);
struct writer *report_csv_create(FILE *out, const struct writer_options *opt);
struct writer *report_markdown_create(FILE *out, const struct writer_options *opt);
struct writer *report_svg_create(FILE *out, const struct writer_options *opt);
struct writer *report_html_create(FILE *out, const struct writer_options *opt);

/* "none" where closer_name() gives NULL: the summary tables' column for CLOSER_NONE. */
static inline const char *closer_label(enum closer_side c)
{
	const char *name = closer_name(c);

	return name != NULL ? name : "none";
}

#endif
