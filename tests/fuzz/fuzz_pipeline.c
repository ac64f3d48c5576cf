/* fuzz_pipeline.c - libFuzzer target: a whole capture file through tcpmortem's pipeline.
 *
 * Input: the bytes of a capture file (pcap or pcapng, as the seeds from samples/ are). It is read
 * from memory (fmemopen, then capture_set_open_stream: libpcap's pcap_fopen_offline), every frame
 * goes through the engine (dissector, flow table, tracker, classifier) with the segment log
 * watching (seglog: the segments behind ladder diagrams, kept for every connection as for an
 * HTML report, the connections with ids 1 to 16 selected as by --flow), and every finished flow
 * and the summary go to every writer at once, each into memory: text (the summary, and the
 * stories of the selected connections), json, ndjson, csv, markdown (with stories), svg, html.
 * An odd input length also caps the flow table at two flows, so eviction runs too.
 *
 * Checked for every input, beyond "no crash, no leak, no undefined behaviour":
 * - every TCP segment is accounted for exactly once: the reported flows' packets plus the late
 *   segments of finished connections add up to the TCP segments read; every flow is reported
 *   once (its id, the number of its first frame, seen once); each record is within its types
 *   (enums, evidence count and order, evidence frames from the flow's first frame to the last
 *   frame read, a reason whose placeholders all have arguments, first_ts <= last_ts);
 * - the JSON document parses and holds one flow object per flow; every NDJSON line parses and
 *   there is one per flow; the CSV parses strictly, a header and one row per flow, each with as
 *   many fields as the header; the text reports (summary and stories), Markdown, SVG and HTML are valid UTF-8 with no
 *   control character but the newline (and the tab in SVG and HTML), and SVG and HTML end
 *   with their closing tag;
 * - the summary's per-class counts add up to its flow count;
 * - a file that could not be read has an error message.
 */
#include <string.h>

#include <csv.h>
#include <jansson.h>

#include "capture.h"
#include "engine.h"
#include "flow_select.h"
#include "seglog.h"
#include "fuzz.h"
#include "writer_impl.h"

/* ---- a writer that hands everything to the real ones, and checks each record ---------------- */

/* The writers fed, in this order. */
enum out_kind { OUT_TEXT, OUT_STORIES, OUT_JSON, OUT_NDJSON, OUT_CSV, OUT_MARKDOWN, OUT_SVG,
                OUT_HTML, OUT_COUNT };

static const struct {
	enum report_format format;
	bool stories;
} out_kinds[OUT_COUNT] = {
	[OUT_TEXT] = { REPORT_TEXT, false },       [OUT_STORIES] = { REPORT_TEXT, true },
	[OUT_JSON] = { REPORT_JSON, false },       [OUT_NDJSON] = { REPORT_NDJSON, false },
	[OUT_CSV] = { REPORT_CSV, false },         [OUT_MARKDOWN] = { REPORT_MARKDOWN, true },
	[OUT_SVG] = { REPORT_SVG, true },          [OUT_HTML] = { REPORT_HTML, true },
};

struct out {
	char *buf;
	size_t len;
	FILE *fp;
	struct writer *w;
};

struct tee {
	struct writer base;
	struct out outs[OUT_COUNT];
	uint64_t n_flows;
	uint64_t packets;   /* of every reported flow, both directions */
	uint64_t frames;    /* frames read so far: no id or evidence frame may be later */
	uint8_t *seen;      /* seen[id - 1]: flow `id` was reported */
	size_t seen_cap;
};

static void check_record(const struct flow_record *r, uint64_t frames)
{
	char reason[FLOW_REASON_MAX];

	FUZZ_CHECK(r->id >= 1 && r->id <= frames);
	FUZZ_CHECK((unsigned)r->close_class < CLOSE_CLASS_COUNT);
	FUZZ_CHECK((unsigned)r->closer < CLOSER_COUNT);
	FUZZ_CHECK((unsigned)r->handshake < HANDSHAKE_COUNT);
	FUZZ_CHECK((unsigned)r->state[0] < TCPS_COUNT && (unsigned)r->state[1] < TCPS_COUNT);
	FUZZ_CHECK(r->n_evidence <= FLOW_EVIDENCE_MAX);
	/* A classifier sentence, every placeholder filled with an argument of its kind (no "?"). */
	FUZZ_CHECK(r->reason.id > REASON_TEXT && r->reason.id < REASON_COUNT);
	FUZZ_CHECK(r->reason.n_args <= FLOW_REASON_ARGS);
	FUZZ_CHECK(flow_reason_format(&r->reason, reason, sizeof reason) != 0);
	FUZZ_CHECK(strchr(reason, '?') == NULL);
	FUZZ_CHECK(r->first_ts_ns <= r->last_ts_ns);
	FUZZ_CHECK(r->packets[0] + r->packets[1] >= 1);
	FUZZ_CHECK((r->modifiers >> MOD_COUNT_BITS) == 0);
	FUZZ_CHECK(r->client.addr.family == 4 || r->client.addr.family == 6);
	FUZZ_CHECK(r->server.addr.family == r->client.addr.family);
	for (unsigned i = 0; i < r->n_evidence; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		FUZZ_CHECK(e->frame >= r->id && e->frame <= frames);
		FUZZ_CHECK(e->from <= 1);
		FUZZ_CHECK(e->note != NULL);
		FUZZ_CHECK(i == 0 || r->evidence[i - 1].frame < e->frame);
	}
}

static int tee_begin(struct writer *w)
{
	struct tee *t = (struct tee *)w;

	for (int i = 0; i < OUT_COUNT; i++)
		FUZZ_CHECK(writer_begin(t->outs[i].w) == 0);
	return 0;
}

static int tee_flow(struct writer *w, const struct flow_record *r)
{
	struct tee *t = (struct tee *)w;

	check_record(r, t->frames);
	if (r->id > t->seen_cap) {
		size_t cap = t->seen_cap ? t->seen_cap : 64;
		uint8_t *seen;

		while (cap < r->id)
			cap *= 2;
		seen = realloc(t->seen, cap);
		FUZZ_CHECK(seen != NULL);
		memset(seen + t->seen_cap, 0, cap - t->seen_cap);
		t->seen = seen;
		t->seen_cap = cap;
	}
	FUZZ_CHECK(t->seen[r->id - 1] == 0); /* reported once */
	t->seen[r->id - 1] = 1;
	t->n_flows++;
	t->packets += r->packets[0] + r->packets[1];
	for (int i = 0; i < OUT_COUNT; i++)
		FUZZ_CHECK(writer_flow(t->outs[i].w, r) == 0);
	return 0;
}

static int tee_end(struct writer *w, const struct run_summary *s)
{
	struct tee *t = (struct tee *)w;
	uint64_t total = 0;

	for (int c = 0; c < CLOSE_CLASS_COUNT; c++)
		for (int k = 0; k < CLOSER_COUNT; k++)
			total += s->by_class[c][k];
	FUZZ_CHECK(total == s->flows);
	FUZZ_CHECK(s->flows == t->n_flows);
	for (int i = 0; i < OUT_COUNT; i++)
		FUZZ_CHECK(writer_end(t->outs[i].w, s) == 0);
	return 0;
}

static void tee_destroy(struct writer *w)
{
	(void)w; /* the tee lives on the stack; its parts are freed by the caller */
}

static const struct writer_ops tee_ops = {
	.begin = tee_begin,
	.flow = tee_flow,
	.end = tee_end,
	.release = tee_destroy,
};

/* ---- checking the reports ------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4), 0 if ill-formed. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Valid UTF-8, no control character but the newline (and the tab when `tab`), ends in a
 * newline. */
static void check_text(const struct out *o, bool tab)
{
	const unsigned char *s = (const unsigned char *)o->buf;
	size_t i = 0;

	FUZZ_CHECK(o->len > 0 && s[o->len - 1] == '\n');
	while (i < o->len) {
		size_t n;

		FUZZ_CHECK(s[i] == '\n' || (tab && s[i] == '\t') || (s[i] >= 0x20 && s[i] != 0x7F));
		n = utf8_len(s + i, o->len - i);
		FUZZ_CHECK(n != 0);
		i += n;
	}
}

static void check_json(const struct out *o, uint64_t n_flows)
{
	json_error_t err;
	json_t *doc = json_loadb(o->buf, o->len, JSON_REJECT_DUPLICATES, &err);
	json_t *flows, *captures;

	if (!doc)
		fprintf(stderr, "json: %s (line %d)\n", err.text, err.line);
	FUZZ_CHECK(doc != NULL && json_is_object(doc));
	flows = json_object_get(doc, "flows");
	captures = json_object_get(doc, "captures");
	FUZZ_CHECK(json_is_array(flows) && json_array_size(flows) == n_flows);
	FUZZ_CHECK(json_is_array(captures) && json_array_size(captures) == 1);
	FUZZ_CHECK(json_is_object(json_object_get(doc, "summary")));
	json_decref(doc);
}

static void check_ndjson(const struct out *o, uint64_t n_flows)
{
	uint64_t lines = 0;
	size_t start = 0;

	FUZZ_CHECK(o->len == 0 || o->buf[o->len - 1] == '\n');
	while (start < o->len) {
		const char *nl = memchr(o->buf + start, '\n', o->len - start);
		size_t end = (size_t)(nl - o->buf);
		json_error_t err;
		json_t *flow = json_loadb(o->buf + start, end - start, JSON_REJECT_DUPLICATES, &err);

		FUZZ_CHECK(flow != NULL && json_is_object(flow));
		FUZZ_CHECK(json_is_integer(json_object_get(flow, "id")));
		json_decref(flow);
		lines++;
		start = end + 1;
	}
	FUZZ_CHECK(lines == n_flows);
}

struct csv_count {
	size_t fields;
	size_t columns; /* the header's */
	uint64_t rows;
	bool bad_row;
};

static void csv_field_cb(void *s, size_t len, void *data)
{
	(void)s;
	(void)len;
	((struct csv_count *)data)->fields++;
}

static void csv_row_cb(int c, void *data)
{
	struct csv_count *cc = data;

	(void)c;
	if (cc->rows == 0)
		cc->columns = cc->fields;
	else if (cc->fields != cc->columns)
		cc->bad_row = true;
	cc->fields = 0;
	cc->rows++;
}

static void check_csv(const struct out *o, uint64_t n_flows)
{
	struct csv_parser p;
	struct csv_count cc = { 0 };

	FUZZ_CHECK(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) == 0);
	FUZZ_CHECK(csv_parse(&p, o->buf, o->len, csv_field_cb, csv_row_cb, &cc) == o->len);
	FUZZ_CHECK(csv_fini(&p, csv_field_cb, csv_row_cb, &cc) == 0);
	csv_free(&p);
	FUZZ_CHECK(!cc.bad_row && cc.columns >= 20);
	FUZZ_CHECK(cc.rows == n_flows + 1);
}

/* The document ends with `tag` and a newline: it was written to the end. */
static void check_ends_with(const struct out *o, const char *tag)
{
	size_t n = strlen(tag);

	FUZZ_CHECK(o->len >= n + 1 && memcmp(o->buf + o->len - n - 1, tag, n) == 0);
}

/* ---- the target ----------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char name[] = "fuzz.pcap";
	struct engine_options opt = {
		.idle_ns = 5LL * 1000000000,
		.max_flows = (size & 1) ? 2 : 0,
		.hash_seed = 1,
	};
	struct tee tee = { .base = { .ops = &tee_ops, .out = NULL } };
	static const struct seglog_options log_opt = {
		.all = true,
		.report_only_selected = false,
		.head = SEGLOG_ALL_HEAD,
		.tail = SEGLOG_ALL_TAIL,
		.sel_head = SEGLOG_SELECTED_HEAD,
		.sel_tail = SEGLOG_SELECTED_TAIL,
		.budget = SEGLOG_DEFAULT_BUDGET,
	};
	struct flow_selection sel = { 0 };
	char err[128];
	struct seglog *sl;
	struct capture_stats stats;
	struct run_summary sum;
	struct capture_frame frame;
	struct capture_set *cs;
	struct engine *e;
	uint8_t *copy;
	FILE *in;

	/* fmemopen wants a writable buffer even to read; an empty input reads as an empty file. */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	in = size ? fmemopen(copy, size, "rb") : fopen("/dev/null", "rb");
	FUZZ_CHECK(in != NULL);

	cs = capture_set_open_stream(in, name, NULL);
	FUZZ_CHECK(cs != NULL && capture_set_count(cs) == 1);
	for (int i = 0; i < OUT_COUNT; i++) {
		struct out *o = &tee.outs[i];
		struct writer_options wo = { .stories = out_kinds[i].stories,
		                             .close_wait_ns = WRITER_DEFAULT_CLOSE_WAIT_NS };

		o->fp = open_memstream(&o->buf, &o->len);
		FUZZ_CHECK(o->fp != NULL);
		o->w = writer_create_with(out_kinds[i].format, o->fp, &wo);
		FUZZ_CHECK(o->w != NULL);
	}
	FUZZ_CHECK(flow_selection_add(&sel, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", err,
	                              sizeof err) == 0);
	sl = seglog_create(&log_opt, &sel);
	FUZZ_CHECK(sl != NULL);
	opt.hooks = seglog_hooks(sl);
	e = engine_create(&opt, &tee.base, 1);
	FUZZ_CHECK(e != NULL);

	FUZZ_CHECK(writer_begin(&tee.base) == 0);
	while (capture_set_next(cs, &frame) == 1) {
		FUZZ_CHECK(frame.caplen == 0 || frame.data != NULL);
		FUZZ_CHECK(frame.number == tee.frames + 1);
		tee.frames = frame.number;
		FUZZ_CHECK(engine_frame(e, &frame) == 0);
	}
	FUZZ_CHECK(engine_finish(e) == 0);
	engine_summary(e, cs, &stats, &sum);
	FUZZ_CHECK(writer_end(&tee.base, &sum) == 0);

	/* Every TCP segment read belongs to exactly one reported flow or is a late segment. */
	FUZZ_CHECK(engine_dropped(e) == 0);
	FUZZ_CHECK(tee.packets + sum.late_segments == stats.tcp_segments);
	if (capture_file_unreadable(capture_set_file(cs, 0)))
		FUZZ_CHECK(capture_file_error(capture_set_file(cs, 0)) != NULL);

	engine_destroy(e);
	seglog_destroy(sl);
	capture_set_close(cs);
	for (int i = 0; i < OUT_COUNT; i++) {
		struct out *o = &tee.outs[i];

		writer_destroy(o->w);
		FUZZ_CHECK(fclose(o->fp) == 0);
	}
	check_text(&tee.outs[OUT_TEXT], false);
	if (tee.outs[OUT_STORIES].len)
		check_text(&tee.outs[OUT_STORIES], false);
	check_json(&tee.outs[OUT_JSON], tee.n_flows);
	check_ndjson(&tee.outs[OUT_NDJSON], tee.n_flows);
	check_csv(&tee.outs[OUT_CSV], tee.n_flows);
	check_text(&tee.outs[OUT_MARKDOWN], false);
	check_text(&tee.outs[OUT_SVG], true);
	check_ends_with(&tee.outs[OUT_SVG], "</svg>");
	check_text(&tee.outs[OUT_HTML], true);
	check_ends_with(&tee.outs[OUT_HTML], "</html>");

	for (int i = 0; i < OUT_COUNT; i++)
		free(tee.outs[i].buf);
	free(tee.seen);
	free(copy);
	return 0;
}
