/* writer_impl.h - private to reports/: what every format implements behind writer.h.
 *
 * A format embeds `struct writer` as the first member of its own state and fills `ops`; writer.c
 * only dispatches. Functions return 0 or -1 as writer.h says; `destroy` frees the format's state
 * and never closes `out`.
 */
#ifndef TM_REPORTS_WRITER_IMPL_H
#define TM_REPORTS_WRITER_IMPL_H

#include <stdio.h>

#include "writer.h"

struct writer_ops {
	int (*begin)(struct writer *w);
	int (*flow)(struct writer *w, const struct flow_record *flow);
	int (*end)(struct writer *w, const struct run_summary *summary);
	void (*destroy)(struct writer *w);
};

struct writer {
	const struct writer_ops *ops;
	FILE *out;
};

/* One constructor per format; each returns NULL on allocation failure. `opt` is never NULL. */
struct writer *report_text_create(FILE *out, const struct writer_options *opt);
struct writer *report_json_create(FILE *out, const struct writer_options *opt);
struct writer *report_ndjson_create(FILE *out, const struct writer_options *opt);
struct writer *report_csv_create(FILE *out, const struct writer_options *opt);
struct writer *report_markdown_create(FILE *out, const struct writer_options *opt);
struct writer *report_svg_create(FILE *out, const struct writer_options *opt);
struct writer *report_html_create(FILE *out, const struct writer_options *opt);
struct writer *report_zeek_create(FILE *out, const struct writer_options *opt);
struct writer *report_zeek_json_create(FILE *out, const struct writer_options *opt);

/* "none" where closer_name() gives NULL: the summary tables' column for CLOSER_NONE. */
static inline const char *closer_label(enum closer_side c)
{
	const char *name = closer_name(c);

	return name != NULL ? name : "none";
}

#endif
