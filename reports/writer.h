/* writer.h - the report writers' one interface: begin, one call per finished flow, end.
 *
 * Writers consume finished, immutable flow records and the run summary; they never reach into
 * the analyzer. Every function returns 0 on success and -1 when writing failed (errno set by
 * stdio); the caller reports the failure.
 */
#ifndef TM_WRITER_H
#define TM_WRITER_H

#include <stdint.h>
#include <stdio.h>

#include "flow_record.h"

#define TCPMORTEM_NAME "tcpmortem"
#define TCPMORTEM_VERSION "0.1.0"

enum report_format {
	REPORT_TEXT = 0,
	REPORT_JSON,
	REPORT_NDJSON,
	REPORT_CSV,
	REPORT_MARKDOWN,
	REPORT_SVG,
	REPORT_HTML,
	REPORT_ZEEK,      /* Zeek's conn.log (TSV) */
	REPORT_ZEEK_JSON, /* Zeek's conn.log as JSON lines */
	REPORT_FORMAT_COUNT
};

/* Parses "text", "json", "ndjson", "csv", "markdown" (or "md"), "svg", "html", "zeek",
 * "zeek-json";
 * REPORT_FORMAT_COUNT when unknown. */
enum report_format report_format_from_name(const char *name);

/* One reason a frame was not used, with how many frames it applied to. */
struct skip_count {
	const char *reason; /* static snake_case name ("not_ip", "fragment", ...) */
	uint64_t count;
};

#define SKIP_REASONS_MAX 16

/* What one input file held. */
struct capture_stats {
	const char *path;        /* as given on the command line ("-" for stdin) */
	const char *link_type;   /* human name, NULL if the file could not be opened */
	bool ts_nano;
	uint64_t frames;
	uint64_t bytes;          /* captured bytes of all frames */
	uint64_t tcp_segments;
	unsigned n_skipped;
	struct skip_count skipped[SKIP_REASONS_MAX]; /* only reasons with a count > 0 */
	const char *error;       /* NULL, or the one-line problem found in this file */
	bool live;               /* a live capture: `path` is the interface */
	uint64_t kernel_dropped; /* live: packets the kernel or the interface dropped (pcap_stats) */
};

/* Everything known at the end of the run. */
struct run_summary {
	unsigned n_captures;
	const struct capture_stats *captures;
	uint64_t frames;
	uint64_t flows;
	uint64_t flows_evicted;
	uint64_t flows_expired;  /* finished after a long silence, before the capture ended */
	uint64_t peak_flows;     /* most flows alive at one moment */
	uint64_t late_segments;  /* segments of already finished connections (engine.h) */
	int64_t first_ts_ns;     /* 0 when the capture held no frame */
	int64_t last_ts_ns;
	bool ts_nano;
	uint64_t by_class[CLOSE_CLASS_COUNT][CLOSER_COUNT]; /* flows reported, per class and closer */
};

struct writer;

/* The name of a format ("text", ...); "unknown" when out of range. */
const char *report_format_name(enum report_format format);

/* How the readable formats present the run. The machine formats (json, ndjson, csv) ignore it. */
struct writer_options {
	bool color;            /* text: ANSI colours (the caller decides: terminal, NO_COLOR) */
	bool stories;          /* text: a story (with its ladder diagram) for each flow whose
	                        * record carries a selected segment list, instead of the summary;
	                        * markdown: the summary, then those stories */
	int64_t close_wait_ns; /* text, markdown, html: a side in CLOSE-WAIT for longer than this at
	                        * the end of the capture is reported as stuck half-closed */
};

/* The same default as the classifier's (analyzer/inference/classify.h DEFAULT_CLOSE_WAIT_NS): one
 * --close-wait, one meaning. */
#define WRITER_DEFAULT_CLOSE_WAIT_NS (60LL * 1000000000)

/* Creates a writer of `format` writing to `out` (not closed by the writer), with the default
 * options (no colour, no stories). NULL on allocation failure. */
struct writer *writer_create(enum report_format format, FILE *out);
/* The same with options (NULL: the defaults). */
struct writer *writer_create_with(enum report_format format, FILE *out,
                                  const struct writer_options *opt);
/* Called once before any flow. */
int writer_begin(struct writer *w);
/* Called once per finished flow, in the order flows finish. */
int writer_flow(struct writer *w, const struct flow_record *flow);
/* Called once after the last flow. */
int writer_end(struct writer *w, const struct run_summary *summary);
void writer_destroy(struct writer *w);

#endif
