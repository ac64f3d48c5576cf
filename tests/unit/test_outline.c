/* test_outline.c - the readable reports' skeleton (reports/outline.c) and the markup layer
 * (reports/markup.c): the order of the sections and of a story's parts, as a recording medium
 * sees them; cells of columns a medium does not show; the documents' default block marks; the
 * shared helpers (modifier lists, line breaking). The three real media are checked byte for byte
 * by test_views.c and the end-to-end tests. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incidents.h"
#include "markup.h"
#include "outline.h"
#include "rtext.h"
#include "cunit_main.h"

#define T0 (1764000000LL * 1000000000LL)

/* --- a medium that writes down what it is asked ------------------------------------------------ */

static const char *const block_names[BLOCK_COUNT] = {
	[BLOCK_SECTION] = "section", [BLOCK_HEADING] = "heading", [BLOCK_SUBHEAD] = "subhead",
	[BLOCK_INTRO] = "intro",     [BLOCK_NOTE] = "note",       [BLOCK_ASIDE] = "aside",
	[BLOCK_BYLINE] = "byline",   [BLOCK_FIELDS] = "fields",   [BLOCK_FIELD] = "field",
	[BLOCK_BREAK] = "break",     [BLOCK_PARA] = "para",       [BLOCK_REMARK] = "remark",
	[BLOCK_MINOR] = "minor",     [BLOCK_ITEM] = "item",       [BLOCK_SUBITEM] = "subitem",
	[BLOCK_RULE] = "rule",       [BLOCK_GROUP] = "group",     [BLOCK_LINE] = "line",
	[BLOCK_PRE] = "pre",
};

static void rec_escape(struct rbuf *b, const char *s, size_t n)
{
	rbuf_put(b, s, n);
}

static void rec_block(struct markup *m, enum markup_block k, const char *label, bool on)
{
	m_puts(m, on ? "<" : "</");
	m_puts(m, block_names[k]);
	if (on && label) {
		M_LIT(m, " ");
		m_puts(m, label);
	}
	M_LIT(m, ">");
}

static void rec_table(struct markup *m, const struct table *t, bool on)
{
	(void)t;
	m_puts(m, on ? "<table>" : "</table>");
}

static void rec_row(struct markup *m, enum markup_row k, bool on)
{
	(void)k;
	m_puts(m, on ? "<tr>" : "</tr>");
}

static void rec_cell(struct markup *m, const struct column *c, bool on)
{
	(void)c;
	m_puts(m, on ? "<td>" : "</td>");
}

static void rec_class_name(struct markup *m, enum close_class c)
{
	m_puts(m, close_class_name(c));
}

static void rec_flow_id(struct markup *m, uint64_t id)
{
	M_LIT(m, "#");
	rbuf_u64(m->b, id);
}

static void rec_story(struct markup *m, const struct flow_record *r, bool on)
{
	(void)r;
	m_puts(m, on ? "<story>" : "</story>");
}

static void rec_verdict(struct markup *m, enum close_class c, const char *s, size_t n)
{
	(void)c;
	rbuf_put(m->b, s, n);
}

static void rec_ladder(struct markup *m, const struct flow_record *r)
{
	(void)r;
	M_LIT(m, "<ladder>");
}

/* Shows the documents' columns (it says it is Markdown) but writes its own marks. */
static const struct markup_ops rec_ops = {
	.kind = MARKUP_MARKDOWN, .arrow = "->", .code_mark = "",
	.escape = rec_escape, .block = rec_block,
	.table = rec_table, .row = rec_row, .cell = rec_cell,
	.class_name = rec_class_name, .flow_id = rec_flow_id,
	.story = rec_story, .verdict = rec_verdict, .ladder = rec_ladder,
};

/* The labels of the <section ...> marks in `s`, comma-separated, in order. */
static char *sections_of(const char *s)
{
	static char out[512];
	size_t n = 0;

	out[0] = '\0';
	while ((s = strstr(s, "<section ")) != NULL) {
		const char *q;

		s += 9;
		q = strchr(s, '>');
		if (q == NULL || n + (size_t)(q - s) + 2 >= sizeof out)
			break;
		if (n)
			out[n++] = ',';
		memcpy(out + n, s, (size_t)(q - s));
		n += (size_t)(q - s);
		out[n] = '\0';
	}
	return out;
}

static void rec_head(struct markup *m, const struct outline *o)
{
	(void)o;
	M_LIT(m, "<head>");
}

static void rec_foot(struct markup *m, const struct outline *o)
{
	(void)o;
	M_LIT(m, "<foot>");
}

static void rec_connections(struct markup *m, const struct outline *o)
{
	(void)o;
	M_LIT(m, "<section connections>");
}

/* A run with something in every section. */
static struct capture_stats capture = { .path = "a.pcap", .link_type = "Ethernet", .frames = 10 };
static struct digest_reset reset = { .port = 8080, .role = FROM_SERVER, .count = 3 };

static void full_run(struct run_summary *s, struct digest *d)
{
	memset(s, 0, sizeof *s);
	memset(d, 0, sizeof *d);
	s->n_captures = 1;
	s->captures = &capture;
	s->flows = 4;
	s->by_class[CLOSE_RST_ABORT][CLOSER_SERVER] = 3;
	s->by_class[CLOSE_FIN_GRACEFUL][CLOSER_CLIENT] = 1;
	d->resets = &reset;
	d->n_resets = 1;
	d->n_slow = 1;
	d->slow[0].id = 7;
	d->n_stuck_over = d->n_stuck_kept = 1;
	d->stuck[0].id = 9;
	d->n_noteworthy = d->n_kept = 1;
	d->noteworthy[0].id = 2;
	d->noteworthy[0].close_class = CLOSE_RST_ABORT;
}

/* A summary outlined with the recording markup over full_run()'s run and digest: the buffers,
 * the markup and the outline (one story, frame `frame`), set up by render_start(). */
struct rendered {
	struct rbuf out, scratch, stories;
	struct markup m;
	struct run_summary s;
	struct digest d;
	struct outline o;
};

static void render_start(struct rendered *r, const struct outline_frame *frame)
{
	memset(r, 0, sizeof *r);
	r->m = (struct markup){ .ops = &rec_ops, .b = &r->out, .scratch = &r->scratch };
	r->o = (struct outline){ .frame = frame, .stories = &r->stories, .n_stories = 1,
		                 .story_candidates = 1, .summary = &r->s, .digest = &r->d };
	full_run(&r->s, &r->d);
}

/* Outlines the summary again into an emptied buffer; its text, NUL-terminated. */
static const char *render(struct rendered *r)
{
	rbuf_clear(&r->out);
	outline_summary(&r->m, &r->o);
	rbuf_putc(&r->out, '\0');
	return r->out.data;
}

static void render_free(struct rendered *r)
{
	markup_free(&r->m);
	rbuf_free(&r->out);
	rbuf_free(&r->scratch);
	rbuf_free(&r->stories);
}

static void test_section_order(void)
{
	static const struct outline_frame frame = { rec_head, rec_foot, NULL, NULL };
	struct rendered r;
	const char *out;

	render_start(&r, &frame);
	RBUF_LIT(&r.stories, "<a story>");
	out = render(&r);
	CU_ASSERT_STRING_EQUAL(sections_of(out),
	                       "classes,resets,slow,stuck,noteworthy,capture,stories");
	CU_ASSERT(strncmp(out, "<head>", 6) == 0);
	CU_ASSERT(r.out.len > 7 && strcmp(out + r.out.len - 7, "<foot>") == 0);
	CU_ASSERT_EQUAL(r.o.totals.all, 4);
	CU_ASSERT_EQUAL(r.o.totals.resets, 3);
	CU_ASSERT_EQUAL(r.o.totals.by_closer[CLOSER_SERVER], 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<a story>"));

	/* Nothing to say: only the class table and the captures. */
	memset(&r.d, 0, sizeof r.d);
	r.o.story_candidates = r.o.n_stories = 0;
	CU_ASSERT_STRING_EQUAL(sections_of(render(&r)), "classes,capture");
	render_free(&r);
}

/* A server that closed 200 connections within 5 ms, 20 s into a steady stream of client-closed
 * ones: one server_exit incident (incidents.c's rules; test_incidents.c checks them). */
static struct incidents *one_incident(void)
{
	struct incidents *d = incidents_create(NULL, NULL, 0);
	uint64_t id = 1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	for (int i = 0; i < 400; i++) {
		struct flow_record r;

		memset(&r, 0, sizeof r);
		r.id = id++;
		r.client.addr.family = r.server.addr.family = 4;
		r.client.addr.bytes[0] = 10;
		r.client.addr.bytes[3] = (uint8_t)i;
		r.client.port = (uint16_t)(40000 + i);
		r.server.addr.bytes[0] = 192;
		r.server.addr.bytes[3] = 1;
		r.server.port = 443;
		r.handshake = HANDSHAKE_COMPLETE;
		r.syns[0] = r.syns[1] = 1;
		r.has_close_ts = true;
		r.first_ts_ns = T0 + (int64_t)i * 100000000;
		r.last_ts_ns = r.close_ts_ns = r.first_ts_ns + 50000000;
		r.close_class = CLOSE_FIN_GRACEFUL;
		r.closer = CLOSER_CLIENT;
		CU_ASSERT_EQUAL(incidents_add(d, &r), 0);
		if (i != 200)
			continue;
		for (int k = 0; k < 200; k++) { /* the burst */
			r.id = id++;
			r.client.addr.bytes[2] = 2;
			r.client.addr.bytes[3] = (uint8_t)k;
			r.first_ts_ns = T0 + (int64_t)k * 50000000;
			r.last_ts_ns = r.close_ts_ns = T0 + 20000000000LL + (int64_t)k * 25000;
			r.closer = CLOSER_SERVER;
			r.n_evidence = 1;
			r.evidence[0].ts_ns = r.close_ts_ns;
			r.evidence[0].from = FROM_SERVER;
			r.evidence[0].flags = TCP_FIN | TCP_ACK;
			CU_ASSERT_EQUAL(incidents_add(d, &r), 0);
		}
		r.closer = CLOSER_CLIENT;
		r.n_evidence = 0;
		r.client.addr.bytes[2] = 0;
	}
	CU_ASSERT_EQUAL(incidents_finish(d), 0);
	return d;
}

static int timeline_calls;

static void rec_timeline(struct markup *m, const struct outline *o)
{
	(void)o;
	timeline_calls++;
	M_LIT(m, "<section timeline>");
}

/* The incidents come right after the class table, with each one's sentence and first members;
 * a medium with a chart of its own draws it in place of the compact timeline; a told story's
 * connection is said to be part of its incident. */
static void test_incidents_section(void)
{
	static const struct outline_frame frame = { rec_head, NULL, NULL, NULL };
	static const struct outline_frame charted = { rec_head, NULL, NULL, rec_timeline };
	struct incidents *d = one_incident();
	uint64_t story_ids[2] = { 3, 0 };
	struct rendered r;
	const char *out;

	CU_ASSERT_EQUAL_FATAL(incidents_count(d), 1);
	story_ids[1] = incidents_get(d, 0)->members[0];
	render_start(&r, &frame);
	r.o.n_stories = r.o.story_candidates = 2;
	r.o.story_ids = story_ids;
	r.o.n_story_ids = 2;
	r.o.incidents = d;
	out = render(&r);
	CU_ASSERT_STRING_EQUAL(sections_of(out),
	                       "classes,incidents,resets,slow,stuck,noteworthy,capture,stories");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "server_exit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "192.0.0.1:443"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<td>200</td>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<pre>")); /* the compact timeline */
	/* Only the second story's connection was in the incident. */
	CU_ASSERT_PTR_NULL(strstr(out, "Connection #3 was"));
	{
		char want[128];

		snprintf(want, sizeof want, "Connection #%llu was one of the 200 connections of "
		         "incident #1 (server_exit)", (unsigned long long)story_ids[1]);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	}

	r.o.frame = &charted;
	out = render(&r);
	CU_ASSERT_EQUAL(timeline_calls, 1);
	CU_ASSERT_PTR_NULL(strstr(out, "<pre>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(sections_of(out), "classes,timeline,incidents,resets"));

	incidents_destroy(d);
	render_free(&r);
}

/* A medium with its own list of connections shows the stories beside it, once. */
static void test_connections_take_the_noteworthy_place(void)
{
	static const struct outline_frame frame = { rec_head, NULL, rec_connections, NULL };
	struct rendered r;

	render_start(&r, &frame);
	CU_ASSERT_STRING_EQUAL(sections_of(render(&r)),
	                       "classes,resets,slow,stuck,connections,stories,capture");
	render_free(&r);
}

static void test_story_outline(void)
{
	struct rbuf out = { 0 }, scratch = { 0 };
	struct markup m = { .ops = &rec_ops, .b = &out, .scratch = &scratch };
	struct flow_record r = { 0 };
	const char *order[] = { "<story>", "<byline>", "<fields>", "<field Handshake>",
		                "<field Volume>", "<break>", "<field Final state>",
		                "<field Modifiers>", "</fields>", "<ladder>",
		                "<subhead What happened>", "<para>", "</story>" };
	const char *at;

	r.id = 1;
	r.first_ts_ns = T0;
	r.last_ts_ns = T0 + 1000;
	r.close_class = CLOSE_OPEN_AT_END;
	r.modifiers = MOD_MIDSTREAM | MOD_TRUNCATED;
	outline_story(&m, &r);
	rbuf_putc(&out, '\0');
	at = out.data;
	for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
		const char *next = strstr(at, order[i]);

		CU_ASSERT_PTR_NOT_NULL(next);
		if (next == NULL) {
			fprintf(stderr, "story: %s missing or out of order in %s\n", order[i], out.data);
			break;
		}
		at = next + strlen(order[i]);
	}
	/* The modifiers joined once, in bit order. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out.data, "<field Modifiers>midstream, truncated</field>"));
	markup_free(&m);
	rbuf_free(&out);
	rbuf_free(&scratch);
}

/* A cell of a column the medium does not show is written aside and dropped. */
static void test_hidden_columns(void)
{
	static const struct column cols[] = {
		{ "shown", 0, "", 0 },
		{ "text only", COL_TEXT, "", 0 },
		{ "documents only", COL_DOC, "", 0 },
	};
	static const struct table t = { NULL, cols, 3, false };
	struct rbuf out = { 0 };
	struct markup m = { .ops = &rec_ops, .b = &out };

	m_table(&m, &t, true);
	m_row(&m, ROW_PLAIN, true);
	for (unsigned i = 0; i < 3; i++) {
		m_cell(&m, i, true);
		m_puts(&m, cols[i].head);
		m_cell(&m, i, false);
	}
	m_row(&m, ROW_PLAIN, false);
	m_table(&m, &t, false);
	CU_ASSERT_PTR_EQUAL(m.b, &out);
	rbuf_putc(&out, '\0');
	CU_ASSERT_STRING_EQUAL(out.data,
	                       "<table><tr><td>shown</td><td>documents only</td></tr></table>");
	CU_ASSERT_TRUE(markup_shows(&m, &cols[2]));
	CU_ASSERT_FALSE(markup_shows(&m, &cols[1]));
	markup_free(&m);
	rbuf_free(&out);
}

/* A section "resets" holding the heading "Title" and an empty field "Volume". */
static void section_with_field(struct markup *m)
{
	m_block(m, BLOCK_SECTION, "resets", true);
	m_block(m, BLOCK_HEADING, NULL, true);
	M_LIT(m, "Title");
	m_block(m, BLOCK_HEADING, NULL, false);
	m_block(m, BLOCK_FIELD, "Volume", true);
	m_block(m, BLOCK_FIELD, "Volume", false);
	m_block(m, BLOCK_SECTION, "resets", false);
}

/* Without a block operation of its own, a medium gets the documents' marks for its kind. */
static void test_document_block_marks(void)
{
	struct markup_ops md = rec_ops, html = rec_ops;
	struct rbuf out = { 0 };
	struct markup m = { .ops = &md, .b = &out };

	md.block = NULL;
	md.kind = MARKUP_MARKDOWN;
	html.block = NULL;
	html.kind = MARKUP_HTML;
	section_with_field(&m); /* Markdown has no anchors */
	m.ops = &html;
	section_with_field(&m);
	rbuf_putc(&out, '\0');
	CU_ASSERT_STRING_EQUAL(out.data, "\n### Title\n\n\n- **Volume:** "
	                                 "<section id=\"resets\"><h2>Title</h2>"
	                                 "<dt>Volume</dt><dd></dd></section>\n");
	/* Default count and prose. */
	rbuf_clear(&out);
	m_count(&m, 1234567);
	m_prose(&m, "a b", 3);
	rbuf_putc(&out, '\0');
	CU_ASSERT_STRING_EQUAL(out.data, "1,234,567a b");
	rbuf_free(&out);
}

static void test_modifier_list(void)
{
	struct rbuf b = { 0 };

	put_modifier_list(&b, 0, ", ", "`");
	CU_ASSERT_EQUAL(b.len, 0);
	put_modifier_list(&b, MOD_MIDSTREAM | MOD_EVICTED, ";", "\"");
	rbuf_putc(&b, '\0');
	CU_ASSERT_STRING_EQUAL(b.data, "\"midstream\";\"evicted\"");
	rbuf_free(&b);
}

static void test_line_breaking(void)
{
	const char *t = "aaa bbb ccc";
	const char *u = "\xc2\xb5\xc2\xb5\xc2\xb5 x"; /* three two-byte characters */

	CU_ASSERT_EQUAL(wrap_end(t, 11, 0, 8), 7);   /* "aaa bbb" fits, broken at the space */
	CU_ASSERT_EQUAL(wrap_next(t, 11, 7), 8);     /* the space is dropped */
	CU_ASSERT_EQUAL(wrap_end(t, 11, 8, 8), 11);  /* the rest fits */
	CU_ASSERT_EQUAL(wrap_end(t, 11, 0, 2), 2);   /* no space to break at: cut */
	CU_ASSERT_EQUAL(wrap_end(u, 8, 0, 3), 6);    /* characters, not bytes */
}

CUNIT_TESTS(outline_tests,
	    { "section_order", test_section_order },
	    { "incidents_section", test_incidents_section },
	    { "connections_take_the_noteworthy_place", test_connections_take_the_noteworthy_place },
	    { "story_outline", test_story_outline });

CUNIT_TESTS(markup_tests,
	    { "hidden_columns", test_hidden_columns },
	    { "document_block_marks", test_document_block_marks },
	    { "modifier_list", test_modifier_list },
	    { "line_breaking", test_line_breaking });

CUNIT_MAIN("test_outline", { "outline", NULL, NULL, NULL, NULL, outline_tests },
	   { "markup", NULL, NULL, NULL, NULL, markup_tests })
