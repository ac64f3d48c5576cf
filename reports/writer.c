/* writer.c - writer.h's entry points: pick a format by name, then dispatch through its ops.
 *
 * Knows the list of formats and nothing about any of them.
 */
#include <string.h>

#include "writer_impl.h"

static const struct {
	const char *name;
	struct writer *(*create)(FILE *out);
} formats[] = {
	[REPORT_TEXT] = { "text", report_text_create },
	[REPORT_JSON] = { "json", report_json_create },
	[REPORT_NDJSON] = { "ndjson", report_ndjson_create },
	[REPORT_CSV] = { "csv", report_csv_create },
};
_Static_assert(sizeof formats / sizeof formats[0] == REPORT_FORMAT_COUNT, "a format has no entry");

enum report_format report_format_from_name(const char *name)
{
	if (name == NULL)
		return REPORT_FORMAT_COUNT;
	for (unsigned i = 0; i < REPORT_FORMAT_COUNT; i++) {
		if (strcmp(name, formats[i].name) == 0)
			return (enum report_format)i;
	}
	return REPORT_FORMAT_COUNT;
}

struct writer *writer_create(enum report_format format, FILE *out)
{
	if ((unsigned)format >= REPORT_FORMAT_COUNT || out == NULL)
		return NULL;
	return formats[format].create(out);
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
