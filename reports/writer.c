/* writer.c - writer.h's entry points: pick a format by name, then dispatch through its ops.
 *
 * Knows the list of formats and nothing about any of them.
 */
#include <string.h>

#include "writer_impl.h"

static const struct {
	const char *name;
	struct writer *(*create)(FILE *out, const struct writer_options *opt);
} formats[] = {
	[REPORT_TEXT] = { "text", report_text_create },
	[REPORT_JSON] = { "json", report_json_create },
	[REPORT_NDJSON] = { "ndjson", report_ndjson_create },
	[REPORT_CSV] = { "csv", report_csv_create },
	[REPORT_MARKDOWN] = { "markdown", report_markdown_create },
	[REPORT_SVG] = { "svg", report_svg_create },
	[REPORT_HTML] = { "html", report_html_create },
	[REPORT_ZEEK] = { "zeek", report_zeek_create },
	[REPORT_ZEEK_JSON] = { "zeek-json", report_zeek_json_create },
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

	if ((unsigned)format >= REPORT_FORMAT_COUNT || out == NULL)
		return NULL;
	return formats[format].create(out, opt != NULL ? opt : &defaults);
}

struct writer *writer_create(enum report_format format, FILE *out)
{
	return writer_create_with(format, out, NULL);
}

int writer_begin(struct writer *w)
{
	return w->ops->begin(w);
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
	if (w != NULL)
		w->ops->destroy(w);
}
