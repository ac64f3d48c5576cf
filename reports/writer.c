/* writer.c - writer.h's entry points: pick a format by name, then dispatch through its ops.
 *
 * Knows the list of formats and nothing about any of them but their size. Every finished flow
 * goes through the incidents detector (incidents.h) before the format sees it; incidents go to
 * the format's `incident` op as they end.
 */
#include <errno.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int on_incident(void *ctx, const struct incident *inc)
{
	struct writer *w = ctx;

	return w->ops->incident ? w->ops->incident(w, inc) : 0;
}

/* Whether records may gather before they are written (struct writer.batch): nobody reads the
 * stream while it grows. So a regular file or a device other than a terminal (/dev/null); not a
 * pipe, a socket or a terminal (a pipeline or a person reads each row while the capture is being
 * read), nor a stream made line-buffered (a live capture: each row at once). A stream without a
 * descriptor (a memory stream) keeps one write per record. */
static bool may_batch(FILE *out)
{
	struct stat st;
	int fd = fileno(out);

	if (fd < 0 || __flbf(out) || fstat(fd, &st) != 0)
		return false;
	return S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && !isatty(fd));
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
	if (opt == NULL)
		opt = &defaults;
	ops = formats[format].ops;
	w = calloc(1, ops->size);
	if (w == NULL)
		return NULL;
	w->ops = ops;
	w->out = out;
	w->variant = formats[format].variant;
	w->batch = may_batch(out);
	w->incidents = incidents_create(on_incident, w, opt->expire_ns);
	if (w->incidents == NULL) {
		free(w);
		return NULL;
	}
	incidents_track_membership(w->incidents, ops->membership);
	if (ops->init)
		ops->init(w, opt);
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

int writer_drain(struct writer *w, struct rbuf *b)
{
	size_t n = b->len;

	if (b->failed) {
		errno = ENOMEM;
		return -1;
	}
	rbuf_clear(b);
	return n == 0 || fwrite(b->data, 1, n, w->out) == n ? 0 : -1;
}

int writer_emit(struct writer *w, struct rbuf *b)
{
	if (w->batch && b->len < WRITER_BATCH && !b->failed)
		return 0;
	return writer_drain(w, b);
}

int writer_begin(struct writer *w)
{
	return w->ops->begin != NULL ? w->ops->begin(w) : 0;
}

/* A writer made elsewhere than writer_create (a test's tee in front of real writers) has no
 * detector: its flows go on to the writers behind it, which have theirs. */
static int observe(struct writer *w, const struct flow_record *flow)
{
	return w->incidents != NULL ? incidents_add(w->incidents, flow) : 0;
}

int writer_flow(struct writer *w, const struct flow_record *flow)
{
	int st = observe(w, flow);

	return w->ops->flow(w, flow) != 0 ? -1 : st;
}

int writer_observe(struct writer *w, const struct flow_record *flow)
{
	return observe(w, flow);
}

int writer_end(struct writer *w, const struct run_summary *summary)
{
	int st = w->incidents != NULL ? incidents_finish(w->incidents) : 0;

	return w->ops->end(w, summary) != 0 ? -1 : st;
}

void writer_destroy(struct writer *w)
{
	if (w == NULL)
		return;
	incidents_destroy(w->incidents);
	if (w->ops->release)
		w->ops->release(w);
	free(w);
}
