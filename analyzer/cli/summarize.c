/* summarize.c - `tcpmortem summarize REPORT.ndjson...`: one summary from many reports.
 *
 * Pipelines run tcpmortem once per capture (on many machines, with GNU parallel) and keep the
 * NDJSON reports; this merges them: counts per class and closer, flows, evictions, the span, and
 * which captures the flows came from. The summary is written by the same writers as a run's
 * summary (text or json), so it reads the same.
 */
#include "summarize.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

#define CAPTURES_MAX 4096

struct merged {
	struct run_summary sum;
	struct capture_stats captures[CAPTURES_MAX];
	char *names[CAPTURES_MAX];
	uint64_t lines;
	uint64_t bad_lines;
};

/* "1764000000.123456789" -> nanoseconds, exactly (the JSON text, not a double). */
static int64_t ts_from_text(const char *s)
{
	int64_t sec = 0, frac = 0;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		sec = sec * 10 + (*s - '0');
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9' && digits < 9; s++, digits++)
			frac = frac * 10 + (*s - '0');
	for (; digits < 9; digits++)
		frac *= 10;
	return sec * 1000000000 + frac;
}

/* The raw text of a JSON number field in `line` (jansson would make it a double). */
static int64_t ts_field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? ts_from_text(p + strlen(key)) : 0;
}

static void count_capture(struct merged *m, const char *name)
{
	unsigned i;

	for (i = 0; i < m->sum.n_captures; i++)
		if (strcmp(m->names[i], name) == 0)
			break;
	if (i == m->sum.n_captures) {
		if (i == CAPTURES_MAX)
			return;
		m->names[i] = strdup(name);
		if (!m->names[i])
			return;
		m->captures[i].path = m->names[i];
		m->sum.n_captures++;
	}
}

static int merge_line(struct merged *m, const char *line)
{
	json_error_t err;
	json_t *flow = json_loads(line, 0, &err);
	json_t *close;
	const char *cls, *closer, *capture;
	enum close_class c;
	enum closer_side who;
	int64_t first, last;

	if (!flow)
		return -1;
	close = json_object_get(flow, "close");
	cls = json_string_value(json_object_get(close, "class"));
	closer = json_string_value(json_object_get(close, "closer"));
	capture = json_string_value(json_object_get(flow, "capture"));
	c = cls ? close_class_from_name(cls) : CLOSE_CLASS_COUNT;
	if (c == CLOSE_CLASS_COUNT) {
		json_decref(flow);
		return -1;
	}
	who = closer_from_name(closer);
	m->sum.by_class[c][who]++;
	m->sum.flows++;
	json_t *mods = json_object_get(flow, "modifiers");
	for (size_t i = 0; i < json_array_size(mods); i++)
		if (json_string_value(json_array_get(mods, i)) &&
		    strcmp(json_string_value(json_array_get(mods, i)), "evicted") == 0)
			m->sum.flows_evicted++;
	if (capture)
		count_capture(m, capture);
	first = ts_field(line, "\"first_ts\":");
	last = ts_field(line, "\"last_ts\":");
	if (first && (m->sum.first_ts_ns == 0 || first < m->sum.first_ts_ns))
		m->sum.first_ts_ns = first;
	if (last > m->sum.last_ts_ns)
		m->sum.last_ts_ns = last;
	if (strstr(line, "\"first_ts\":") && strchr(strstr(line, "\"first_ts\":"), '.') &&
	    strspn(strchr(strstr(line, "\"first_ts\":"), '.') + 1, "0123456789") == 9)
		m->sum.ts_nano = true;
	json_decref(flow);
	return 0;
}

static int merge_file(struct merged *m, const char *path)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0, bad = 0;

	if (!in) {
		fprintf(stderr, "tcpmortem summarize: %s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, in)) > 0) {
		lineno++;
		if (n == 1 && line[0] == '\n')
			continue;
		m->lines++;
		if (merge_line(m, line) != 0 && bad++ == 0)
			fprintf(stderr, "tcpmortem summarize: %s: line %llu is not a tcpmortem flow "
			                "record (ndjson)\n", path, (unsigned long long)lineno);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	m->bad_lines += bad;
	return bad ? 1 : 0;
}

int summarize_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum report_format format = REPORT_TEXT;
	const char *output = NULL;
	struct merged *m;
	struct writer *w;
	FILE *out = stdout;
	int c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			format = report_format_from_name(optarg);
			if (format != REPORT_TEXT && format != REPORT_JSON) {
				fprintf(stderr, "tcpmortem summarize: -f takes text or json\n");
				return 2;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			printf("Usage: tcpmortem summarize [-f text|json] [-o FILE] REPORT.ndjson...\n"
			       "Merges the NDJSON reports of several runs ('-' reads standard input) into\n"
			       "one summary: flows per close class and closer, evictions, span, captures.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "tcpmortem summarize: no report given (try --help)\n");
		return 2;
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		fprintf(stderr, "tcpmortem summarize: out of memory\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		int rc = merge_file(m, argv[i]);

		if (rc < 0)
			status = 2;
		else if (rc > 0 && status == 0)
			status = 1;
	}
	m->sum.captures = m->captures;
	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "tcpmortem summarize: %s: cannot write: %s\n", output, strerror(errno));
		status = 2;
	} else if ((w = writer_create(format, out)) != NULL) {
		if (writer_begin(w) != 0 || writer_end(w, &m->sum) != 0 || fflush(out) != 0) {
			fprintf(stderr, "tcpmortem summarize: write failed: %s\n", strerror(errno));
			status = 2;
		}
		writer_destroy(w);
		if (out != stdout)
			fclose(out);
	} else {
		status = 2;
	}
	for (unsigned i = 0; i < m->sum.n_captures; i++)
		free(m->names[i]);
	free(m);
	return status;
}
