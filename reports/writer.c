/* writer.c - writer.h's entry points: pick a format by name, then dispatch through its ops.
 *
 * Knows the list of formats and nothing about any of them but their size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "writer_impl.h"

static const struct {
	const char *name;
	const struct writer_ops *ops;
	bool variant; /* struct writer.variant */
} formats[] = {
	[REPORT_TEXT] = { "text", &report_text_ops, false },
	[REPORT_JSON] = { "json", &report_json_ops, false },
	[REPORT_NDJSON] = { "ndjson", &report_json_ops, true },
	[REPORT_CSV] = { "csv", &report_csv_ops, false },
	[REPORT_MARKDOWN] = { "markdown", &report_markdown_ops, false },
	[REPORT_SVG] = { "svg", &report_svg_ops, false },
	[REPORT_HTML] = { "html", &report_html_ops, false },
	[REPORT_ZEEK] = { "zeek", &report_zeek_ops, false },
	[REPORT_ZEEK_JSON] = { "zeek-json", &report_zeek_ops, true },
};
_Static_assert(sizeof formats / sizeof formats[0] == REPORT_FORMAT_COUNT, "a format has no entry");

enum report_format report_format_from_name(const char *name)
{
	if (name == NULL)
		return REPORT_FORMAT_COUNT;
	if (strcmp(name, "md") == 0)
		return REPORT_MARKDOWN;
	for (unsigned i = 0; i < REPORT_FORMAT_COUNT; i++) {
		if (strcmp(name, formats[i].name) == 0)
			return (enum report_format)i;
	}
	return REPORT_FORMAT_COUNT;
}

const char *report_format_name(enum report_format format)
{
	if ((unsigned)format >= REPORT_FORMAT_COUNT)
		return "unknown";
	return formats[format].name;
}

struct writer *writer_create_with(enum report_format format, FILE *out,
                                  const struct writer_options *opt)
{
	static const struct writer_options defaults = {
		.close_wait_ns = WRITER_DEFAULT_CLOSE_WAIT_NS,
	};

	const struct writer_ops *ops;
	struct writer *w;

	if ((unsigned)format >= REPORT_FORMAT_COUNT || out == NULL)
		return NULL;
	ops = formats[format].ops;
	w = calloc(1, ops->size);
	if (w == NULL)
		return NULL;
	w->ops = ops;
	w->out = out;
	w->variant = formats[format].variant;
	if (ops->init)
		ops->init(w, opt != NULL ? opt : &defaults);
	return w;
}

struct writer *writer_create(enum report_format format, FILE *out)
{
	return writer_create_with(format, out, NULL);
}

int writer_put(struct writer *w, const struct rbuf *b, bool failed)
{
	if (b->failed || failed) {
		errno = ENOMEM;
		return -1;
	}
	if (fwrite(b->data, 1, b->len, w->out) != b->len || fflush(w->out) != 0 || ferror(w->out))
		return -1;
	return 0;
}

int writer_begin(struct writer *w)
{
	return w->ops->begin != NULL ? w->ops->begin(w) : 0;
}

int writer_flow(struct writer *w, const struct flow_record *flow)
{
	return w->ops->flow(w, flow);
}

int writer_end(struct writer *w, const struct run_summary *summary)
{
	return w->ops->end(w, summary);
}

void writer_destroy(struct writer *w)
{
	if (w == NULL)
		return;
	if (w->ops->release)
		w->ops->release(w);
	free(w);
}
