/* outline.c - the readable reports' one skeleton (outline.h).
 *
 * A summary is the medium's head, then the sections of `sections[]` in that order, then its
 * foot; a story is outline_story's parts in order.
 *
 * Adding a section (one place): write its function here, drawing it with the markup calls only
 * (m_block headings, notes and paragraphs; m_table, m_row, m_cell with a column list whose
 * COL_TEXT / COL_DOC flags say which medium shows a column; m_count, m_escape), and add it to
 * `sections[]` where it belongs; text, Markdown and HTML then all have it. Its data comes from
 * struct outline (the digest, or a new field the writers fill the same way); a unit test of its
 * place goes to tests/unit/test_outline.c. A new part of a story goes into outline_story.
 *
 * The three media say a few things in their own words, and those differences are spelt out
 * here where they occur (`m->ops->kind`, say3): the terminal has no column headers, so its
 * titles carry what the documents' headers say, and it writes each row as a sentence; HTML
 * lists every connection in a table of its own and tells the stories beside it. A new section
 * needs none of that.
 */
#include "outline.h"

#include <stdio.h>
#include <string.h>

#include "diagnosis_text.h"
#include "incidents.h"
#include "ladder.h"
#include "rtext.h"
#include "story.h"
#include "writer_impl.h"

/* --- shared pieces ----------------------------------------------------------------------------- */

void class_totals_of(const struct run_summary *s, struct class_totals *t)
{
	memset(t, 0, sizeof *t);
	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		for (unsigned c = 0; c < CLOSER_COUNT; c++) {
			t->by_class[k] += s->by_class[k][c];
			t->by_closer[c] += s->by_class[k][c];
		}
		t->all += t->by_class[k];
		if (class_is_reset((enum close_class)k))
			t->resets += t->by_class[k];
	}
}

unsigned outline_paths(struct markup *m, const struct run_summary *s, unsigned max, bool none)
{
	if (s->n_captures == 0 && none)
		M_LIT(m, "no capture");
	for (unsigned i = 0; i < s->n_captures && i < max; i++) {
		if (i != 0)
			M_LIT(m, ", ");
		m_escape_str(m, s->captures[i].path);
	}
	return s->n_captures > max ? s->n_captures - max : 0;
}

void outline_time_span(struct markup *m, int64_t first_ns, int64_t last_ns, bool nano)
{
	put_utc(m->b, first_ns, nano);
	M_LIT(m, " to ");
	put_utc(m->b, last_ns, nano);
	M_LIT(m, " UTC (");
	put_duration(m->b, last_ns - first_ns);
	M_LIT(m, ")");
}

/* One of three wordings, where the media have said it differently from the start. */
static const char *say3(const struct markup *m, const char *text, const char *markdown,
                        const char *html)
{
	return m->ops->kind == MARKUP_TEXT ? text : m->ops->kind == MARKUP_MARKDOWN ? markdown : html;
}

static void heading(struct markup *m, const char *title)
{
	m_block(m, BLOCK_HEADING, NULL, true);
	m_puts(m, title);
	m_block(m, BLOCK_HEADING, NULL, false);
}

static void endpoint(struct markup *m, const struct flow_endpoint *e)
{
	m_style(m, STYLE_CODE, true);
	put_endpoint(m->b, e);
	m_style(m, STYLE_CODE, false);
}

/* --- tables of flows --------------------------------------------------------------------------- */

/* The first three columns of a table of flows: "#12 198.51.100.1:40001 -> 198.51.100.2:8080". */
#define FLOW_COLUMNS 3

struct flow_widths {
	size_t id, client, server;
};

static void widen(struct flow_widths *w, uint64_t id, const struct flow_endpoint *c,
                  const struct flow_endpoint *s)
{
	if (1 + digits_of(id) > w->id)
		w->id = 1 + digits_of(id);
	if (endpoint_width(c) > w->client)
		w->client = endpoint_width(c);
	if (endpoint_width(s) > w->server)
		w->server = endpoint_width(s);
}

/* The columns of a table of the connections list[0..n) (each with id, client and server): the
 * flow columns as wide as the widest, then proto's. A macro: the lists differ in type. */
#define LIST_COLUMNS(cols, proto, list, n)                                                    \
	do {                                                                                  \
		struct flow_widths w_ = { 0, 0, 0 };                                          \
		for (unsigned i_ = 0; i_ < (n); i_++)                                         \
			widen(&w_, (list)[i_].id, &(list)[i_].client, &(list)[i_].server);    \
		flow_columns((cols), (proto), sizeof(proto) / sizeof((proto)[0]), &w_);      \
	} while (0)

/* Copies `proto` (whose first FLOW_COLUMNS are the flow's) with the flow columns' widths. */
static void flow_columns(struct column *cols, const struct column *proto, unsigned n,
                         const struct flow_widths *w)
{
	static const struct column head[FLOW_COLUMNS] = {
		{ "#", COL_RIGHT, "  ", 0 },
		{ "client", COL_MONO, " ", 0 },
		{ "server", COL_MONO, " -> ", 0 },
	};

	memcpy(cols, head, sizeof head);
	memcpy(cols + FLOW_COLUMNS, proto, n * sizeof *proto);
	cols[0].width = w->id;
	cols[1].width = w->client;
	cols[2].width = w->server;
}

static void flow_cells(struct markup *m, uint64_t id, const struct flow_endpoint *client,
                       const struct flow_endpoint *server)
{
	m_cell(m, 0, true);
	m->ops->flow_id(m, id);
	m_cell(m, 0, false);
	m_cell(m, 1, true);
	endpoint(m, client);
	m_cell(m, 1, false);
	m_cell(m, 2, true);
	endpoint(m, server);
	m_cell(m, 2, false);
}

/* A plain row begun with the connection's cells. */
static void flow_row(struct markup *m, uint64_t id, const struct flow_endpoint *c,
                     const struct flow_endpoint *s)
{
	m_row(m, ROW_PLAIN, true);
	flow_cells(m, id, c, s);
}

/* "and 3 more" under a list that was cut. */
static void and_more(struct markup *m, uint64_t more, const char *what)
{
	m_block(m, BLOCK_NOTE, NULL, true);
	M_LIT(m, "and ");
	m_count(m, more);
	m_puts(m, what);
	m_block(m, BLOCK_NOTE, NULL, false);
}

/* --- the sections ------------------------------------------------------------------------------ */

/* Column order: client, server, both, none (as in the JSON summary). */
static const enum closer_side closer_order[] = { CLOSER_CLIENT, CLOSER_SERVER, CLOSER_BOTH,
						 CLOSER_NONE };
#define N_CLOSERS (sizeof closer_order / sizeof closer_order[0])

/* A count and its share of `of`; the terminal dims the empty ones. */
static void count_share(struct markup *m, unsigned col, uint64_t count, uint64_t of)
{
	m_cell(m, col, true);
	if (count == 0)
		m_style(m, STYLE_DIM, true);
	m_count(m, count);
	m_cell(m, col, false);
	m_cell(m, col + 1, true);
	put_share(m->b, count, of);
	if (count == 0)
		m_style(m, STYLE_DIM, false);
	m_cell(m, col + 1, false);
}

/* How the connections ended: one row per class that occurred, then the total. The flows column
 * is the share of all flows; the terminal also gives each closer's share of its row. */
static void classes(struct markup *m, const struct outline *o)
{
	/* A column with an empty `sep` continues the one before it in text: its header is that
	 * one's. */
	static const struct column proto[] = {
		{ "close class", 0, "", 0 },
		{ "flows", COL_RIGHT, "  ", 0 }, { "share", COL_RIGHT, "", 7 },
		{ "client", COL_RIGHT, "  ", 0 }, { NULL, COL_RIGHT | COL_TEXT, "", 7 },
		{ "server", COL_RIGHT, "  ", 0 }, { NULL, COL_RIGHT | COL_TEXT, "", 7 },
		{ "both", COL_RIGHT, "  ", 0 }, { NULL, COL_RIGHT | COL_TEXT, "", 7 },
		{ "none", COL_RIGHT, "  ", 0 }, { NULL, COL_RIGHT | COL_TEXT, "", 7 },
	};
	struct column cols[sizeof proto / sizeof proto[0]];
	const struct table t = { "classes", cols, sizeof cols / sizeof cols[0], true };
	const struct class_totals *tot = &o->totals;
	size_t name_width = strlen("close class");

	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
		if (tot->by_class[k] != 0 && strlen(close_class_name((enum close_class)k)) > name_width)
			name_width = strlen(close_class_name((enum close_class)k));
	memcpy(cols, proto, sizeof proto);
	cols[0].width = name_width;
	for (unsigned i = 1; i < t.n_cols; i += 2)
		cols[i].width = digits_of(tot->all); /* the total is the widest count */

	m_block(m, BLOCK_SECTION, "classes", true);
	if (m->ops->kind == MARKUP_TEXT)
		m_block(m, BLOCK_LINE, NULL, false); /* a blank line: the header row is the title */
	else
		heading(m, say3(m, NULL, "How the connections ended", "How they ended"));
	m_block(m, BLOCK_GROUP, NULL, true);
	if (m->ops->chart)
		m->ops->chart(m, tot->by_class, tot->all);
	m_table(m, &t, true);
	for (unsigned k = 0; k <= CLOSE_CLASS_COUNT; k++) {
		bool total = k == CLOSE_CLASS_COUNT;
		uint64_t row = total ? tot->all : tot->by_class[k];
		const uint64_t *by = total ? tot->by_closer : o->summary->by_class[k];

		if (!total && row == 0)
			continue;
		m_row(m, total ? ROW_TOTAL : ROW_PLAIN, true);
		m_cell(m, 0, true);
		if (total) {
			m_style(m, STYLE_STRONG, true);
			M_LIT(m, "total");
			m_style(m, STYLE_STRONG, false);
		} else {
			m->ops->class_name(m, (enum close_class)k);
		}
		m_cell(m, 0, false);
		count_share(m, 1, row, tot->all);
		for (unsigned i = 0; i < N_CLOSERS; i++)
			count_share(m, 3 + 2 * i, by[closer_order[i]], row);
		m_row(m, total ? ROW_TOTAL : ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	m_block(m, BLOCK_GROUP, NULL, false);
	m_block(m, BLOCK_SECTION, "classes", false);
}

/* Who reset connections most: servers by endpoint, clients by address (digest.h). */
static void resets(struct markup *m, const struct outline *o)
{
	const struct digest *d = o->digest;
	size_t shown = d->n_resets < DIGEST_TOP_RESETS ? d->n_resets : DIGEST_TOP_RESETS;
	/* Text: "198.51.100.2:8080 (server)", the count aligned after the widest. */
	struct column cols[] = {
		{ "endpoint", COL_MONO, "  ", 0 },
		{ "side", COL_DOC, "", 0 },
		{ NULL, COL_TEXT, "", 0 },
		{ "resets", COL_RIGHT, "  ", 0 },
	};
	const struct table t = { NULL, cols, sizeof cols / sizeof cols[0], false };

	if (d->n_resets == 0)
		return;
	for (size_t i = 0; i < shown; i++) {
		const struct digest_reset *r = &d->resets[i];
		struct flow_endpoint e = { r->addr, r->port };
		char ip[48];
		size_t w = r->role == FROM_SERVER ? endpoint_width(&e)
		                                  : strlen(ip_addr_format(&r->addr, ip, sizeof ip));

		if (w + strlen(" (server)") > cols[2].width)
			cols[2].width = w + strlen(" (server)");
	}
	cols[3].width = digits_of(d->resets[0].count); /* most first */

	m_block(m, BLOCK_SECTION, "resets", true);
	heading(m, say3(m, "top reset sources (closer of an rst_* flow)", "Top reset sources",
	                "Top reset sources"));
	m_table(m, &t, true);
	for (size_t i = 0; i < shown; i++) {
		const struct digest_reset *r = &d->resets[i];
		char ip[48];

		m_row(m, ROW_PLAIN, true);
		m_cell(m, 0, true);
		m_style(m, STYLE_CODE, true);
		if (r->role == FROM_SERVER) {
			struct flow_endpoint e = { r->addr, r->port };

			put_endpoint(m->b, &e);
		} else {
			m_puts(m, ip_addr_format(&r->addr, ip, sizeof ip));
		}
		m_style(m, STYLE_CODE, false);
		m_cell(m, 0, false);
		m_cell(m, 1, true);
		m_puts(m, side_word(r->role));
		m_cell(m, 1, false);
		m_cell(m, 2, true);
		M_LIT(m, " (");
		m_puts(m, side_word(r->role));
		M_LIT(m, ")");
		m_cell(m, 2, false);
		m_cell(m, 3, true);
		m_style(m, STYLE_ALERT, true);
		m_count(m, r->count);
		m_style(m, STYLE_ALERT, false);
		m_cell(m, 3, false);
		m_row(m, ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	if (d->n_resets > shown) {
		m_block(m, BLOCK_NOTE, NULL, true);
		m_puts(m, d->resets_overflowed ? "and more than " : "and ");
		m_count(m, d->n_resets - shown);
		M_LIT(m, " more sources");
		m_block(m, BLOCK_NOTE, NULL, false);
	}
	if (d->resets_error != 0) {
		m_block(m, BLOCK_ASIDE, NULL, true);
		M_LIT(m, "too many sources to count each: a count above may be up to ");
		m_count(m, d->resets_error);
		M_LIT(m, " too high");
		m_block(m, BLOCK_ASIDE, NULL, false);
	}
	m_block(m, BLOCK_SECTION, "resets", false);
}

/* The closes that took longest, from the first FIN to the last ACK. */
static void slowest(struct markup *m, const struct outline *o)
{
	static const struct column proto[] = {
		{ "first FIN to last ACK", COL_RIGHT | COL_FIXED, "  ", 10 },
		{ "closed first", COL_DOC, "", 0 },
		{ "the other closed", COL_RIGHT | COL_DOC, "", 0 },
		{ NULL, COL_TEXT, "  ", 0 },
	};
	struct column cols[FLOW_COLUMNS + sizeof proto / sizeof proto[0]];
	const struct table t = { NULL, cols, sizeof cols / sizeof cols[0], false };
	const struct digest *d = o->digest;

	if (d->n_slow == 0)
		return;
	LIST_COLUMNS(cols, proto, d->slow, d->n_slow);

	m_block(m, BLOCK_SECTION, "slow", true);
	heading(m, say3(m, "slowest closes (first FIN to the last ACK)", "Slowest closes",
	                "Slowest closes"));
	m_table(m, &t, true);
	for (unsigned i = 0; i < d->n_slow; i++) {
		const struct digest_close *c = &d->slow[i];

		flow_row(m, c->id, &c->client, &c->server);
		m_cell(m, 3, true);
		put_duration(m->b, c->end_ns - c->start_ns);
		m_cell(m, 3, false);
		m_cell(m, 4, true);
		m_puts(m, side_word(c->first));
		m_cell(m, 4, false);
		m_cell(m, 5, true);
		put_duration(m->b, c->wait_ns);
		M_LIT(m, " later");
		m_cell(m, 5, false);
		m_cell(m, 6, true);
		M_LIT(m, "the ");
		m_puts(m, side_word(c->first));
		M_LIT(m, " closed first, the ");
		m_puts(m, side_word(!c->first));
		M_LIT(m, " ");
		put_duration(m->b, c->wait_ns);
		M_LIT(m, " later");
		m_cell(m, 6, false);
		m_row(m, ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	m_block(m, BLOCK_SECTION, "slow", false);
}

/* Connections with a side in CLOSE-WAIT for longer than the threshold when the capture ended. */
static void stuck(struct markup *m, const struct outline *o)
{
	static const struct column proto[] = {
		{ "in CLOSE-WAIT", COL_DOC, "", 0 },
		{ "for", COL_RIGHT | COL_DOC, "", 0 },
		{ NULL, COL_RIGHT | COL_DOC, "", 0 }, /* its header below */
		{ "still sending", COL_DOC, "", 0 },
		{ NULL, COL_TEXT, "  ", 0 },
	};
	struct column cols[FLOW_COLUMNS + sizeof proto / sizeof proto[0]];
	const struct digest *d = o->digest;

	if (d->n_stuck_over == 0)
		return;
	LIST_COLUMNS(cols, proto, d->stuck, d->n_stuck_kept);
	cols[5].head = say3(m, NULL, "since the FIN in frame", "FIN in frame");
	const struct table t = { NULL, cols, sizeof cols / sizeof cols[0], false };

	m_block(m, BLOCK_SECTION, "stuck", true);
	m_block(m, BLOCK_HEADING, NULL, true);
	if (m->ops->kind == MARKUP_TEXT) { /* the threshold in the title, the count standing out */
		M_LIT(m, "stuck half-closed (CLOSE-WAIT for more than ");
		put_duration(m->b, o->close_wait_ns);
		M_LIT(m, " at the end of the capture): ");
		m_style(m, STYLE_STRONG, false);
		m_style(m, STYLE_WARN, true);
		m_count(m, d->n_stuck_over);
		m_style(m, STYLE_WARN, false);
	} else {
		M_LIT(m, "Stuck half-closed: ");
		m_count(m, d->n_stuck_over);
	}
	m_block(m, BLOCK_HEADING, NULL, false);
	if (m->ops->kind != MARKUP_TEXT) {
		m_block(m, BLOCK_INTRO, NULL, true);
		M_LIT(m, "A side in CLOSE-WAIT (it received a FIN and has not closed");
		m_puts(m, say3(m, "", "", " its socket"));
		M_LIT(m, ") for more than ");
		put_duration(m->b, o->close_wait_ns);
		M_LIT(m, " when the capture ended.");
		m_block(m, BLOCK_INTRO, NULL, false);
	}
	m_table(m, &t, true);
	for (unsigned i = 0; i < d->n_stuck_kept; i++) {
		const struct digest_stuck *st = &d->stuck[i];

		flow_row(m, st->id, &st->client, &st->server);
		m_cell(m, 3, true);
		m_puts(m, side_word(st->waiting));
		m_cell(m, 3, false);
		m_cell(m, 4, true);
		put_duration(m->b, d->capture_end_ns - st->fin_ns);
		m_cell(m, 4, false);
		m_cell(m, 5, true);
		if (st->fin_frame)
			rbuf_u64(m->b, st->fin_frame);
		m_cell(m, 5, false);
		m_cell(m, 6, true);
		m_puts(m, st->sent_after_fin ? "yes" : "no");
		m_cell(m, 6, false);
		m_cell(m, 7, true);
		m_puts(m, side_word(st->waiting));
		M_LIT(m, " in CLOSE-WAIT for ");
		put_duration(m->b, d->capture_end_ns - st->fin_ns);
		M_LIT(m, " since the ");
		m_puts(m, side_word(!st->waiting));
		M_LIT(m, "'s FIN");
		if (st->fin_frame) {
			M_LIT(m, " (frame ");
			rbuf_u64(m->b, st->fin_frame);
			M_LIT(m, ")");
		}
		if (st->sent_after_fin)
			M_LIT(m, ", still sending");
		m_cell(m, 7, false);
		m_row(m, ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	if (d->n_stuck_over > d->n_stuck_kept)
		and_more(m, d->n_stuck_over - d->n_stuck_kept, " more");
	m_block(m, BLOCK_SECTION, "stuck", false);
}

/* One diagnosis sentence as a list item under its flow. */
static void diagnosis_item(void *ctx, const char *text, size_t len)
{
	struct markup *m = ctx;

	m_block(m, BLOCK_SUBITEM, NULL, true);
	m_escape(m, text, len);
	m_block(m, BLOCK_SUBITEM, NULL, false);
}

/* Under the noteworthy table: each listed connection's diagnoses; nothing when none has any. */
static void diagnoses(struct markup *m, const struct digest *d)
{
	bool any = false;

	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct digest_flow *n = &d->noteworthy[i];
		size_t before = m->b->len, head;

		if (!any) {
			m_block(m, BLOCK_MINOR, "Diagnoses", true);
			m_block(m, BLOCK_MINOR, "Diagnoses", false);
		}
		m_block(m, BLOCK_ITEM, NULL, true);
		m_style(m, STYLE_STRONG, true);
		M_LIT(m, "#");
		rbuf_u64(m->b, n->id);
		m_style(m, STYLE_STRONG, false);
		M_LIT(m, " ");
		m_endpoints(m, &n->client, &n->server);
		m_block(m, BLOCK_ITEM, NULL, false);
		head = m->b->len;
		diagnosis_sentences(&n->diagnosis, m->scratch, diagnosis_item, m);
		if (m->b->len == head) {
			m->b->len = before; /* nothing to say about this one: take its lines back */
			continue;
		}
		any = true;
	}
}

/* The connections worth reading, lowest ids first, with the classifier's reason. */
static void noteworthy_table(struct markup *m, const struct outline *o)
{
	static const struct column proto[] = {
		{ "class", 0, "  ", 0 },
		{ "closer", COL_DOC, "", 0 },
		{ "reason", COL_DOC, "", 0 },
		{ NULL, COL_TEXT, "", 0 },
	};
	struct column cols[FLOW_COLUMNS + sizeof proto / sizeof proto[0]];
	const struct table t = { NULL, cols, sizeof cols / sizeof cols[0], false };
	const struct digest *d = o->digest;
	char reason[FLOW_REASON_MAX];

	if (d->n_noteworthy == 0)
		return;
	LIST_COLUMNS(cols, proto, d->noteworthy, d->n_kept);

	m_block(m, BLOCK_SECTION, "noteworthy", true);
	m_block(m, BLOCK_HEADING, NULL, true);
	m_puts(m, say3(m, "noteworthy flows (", "Noteworthy connections (", NULL));
	m_count(m, d->n_noteworthy);
	M_LIT(m, ")");
	m_block(m, BLOCK_HEADING, NULL, false);
	m_table(m, &t, true);
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct digest_flow *n = &d->noteworthy[i];
		size_t reason_len = flow_reason_format(&n->reason, reason, sizeof reason);

		flow_row(m, n->id, &n->client, &n->server);
		m_cell(m, 3, true);
		m->ops->class_name(m, n->close_class);
		m_cell(m, 3, false);
		m_cell(m, 4, true);
		m_puts(m, closer_label(n->closer));
		m_cell(m, 4, false);
		m_cell(m, 5, true);
		m_escape(m, reason, reason_len);
		m_cell(m, 5, false);
		m_cell(m, 6, true);
		M_LIT(m, " (");
		m_puts(m, closer_label(n->closer));
		M_LIT(m, ")");
		if (reason_len != 0) {
			M_LIT(m, ": ");
			m_escape(m, reason, reason_len);
		}
		m_cell(m, 6, false);
		m_row(m, ROW_PLAIN, false);
		/* The terminal's rows carry their diagnoses; a grid's come after it. */
		if (m->ops->kind == MARKUP_TEXT)
			diagnosis_sentences(&n->diagnosis, m->scratch, diagnosis_item, m);
	}
	m_table(m, &t, false);
	if (d->n_noteworthy > d->n_kept)
		and_more(m, d->n_noteworthy - d->n_kept,
		         say3(m, " more", " more (`-f csv` lists every connection)", NULL));
	if (m->ops->kind != MARKUP_TEXT)
		diagnoses(m, d);
	m_block(m, BLOCK_SECTION, "noteworthy", false);
}

/* Incidents (incidents.h): many connections ending at once for one cause. A table of them, each
 * one's sentence, evidence and first connections, then endings over time: the medium's own chart
 * (frame->timeline) or the compact timeline with the incidents marked under it. */
#define INCIDENT_IDS_SHOWN 12 /* member ids listed per incident (all are in -f json / csv) */
#define SPARK_COLS 72

static void incident_item(struct markup *m, const struct incident *inc)
{
	char text[1024];
	int n;

	m_block(m, BLOCK_ITEM, NULL, true);
	m_incident_id(m, inc->number);
	M_LIT(m, " ");
	incident_sentence(inc, text, sizeof text);
	n = snprintf(text + strlen(text), sizeof text - strlen(text),
	             ". Endings a second there: %.1f in the %.0f s before, %.1f during, %.1f in the "
	             "%.0f s after.",
	             inc->rate_before, inc->before_s, inc->rate_during, inc->rate_after, inc->after_s);
	(void)n; /* truncated at worst: the sentence comes first */
	m_prose(m, text, strlen(text));
	m_block(m, BLOCK_ITEM, NULL, false);
	m_block(m, BLOCK_SUBITEM, NULL, true);
	M_LIT(m, "connections:");
	for (uint64_t k = 0; inc->members && k < inc->n_members && k < INCIDENT_IDS_SHOWN; k++) {
		m_puts(m, k ? ", " : " ");
		m->ops->flow_id(m, inc->members[k]);
	}
	if (inc->n_members > INCIDENT_IDS_SHOWN) {
		M_LIT(m, ", \xe2\x80\xa6 (all: ");
		m_style(m, STYLE_CODE, true);
		M_LIT(m, "-f json");
		m_style(m, STYLE_CODE, false);
		M_LIT(m, " or ");
		m_style(m, STYLE_CODE, true);
		M_LIT(m, "-f csv");
		m_style(m, STYLE_CODE, false);
		M_LIT(m, ")");
	}
	m_block(m, BLOCK_SUBITEM, NULL, false);
}

static void compact_timeline(struct markup *m, const struct incidents *d)
{
	char spark[8 * SPARK_COLS + 16], title[96];
	double col_s = incidents_sparkline(d, SPARK_COLS, spark, sizeof spark);
	const char *line = spark, *nl;

	if (col_s <= 0)
		return;
	snprintf(title, sizeof title, "Endings over time (a column is %.3g s; incidents marked under it)",
	         col_s);
	m_block(m, BLOCK_MINOR, title, true);
	m_block(m, BLOCK_MINOR, title, false);
	m_block(m, BLOCK_PRE, NULL, true);
	for (unsigned i = 0; i < 2 && (nl = strchr(line, '\n')) != NULL; i++, line = nl + 1) {
		m_puts(m, say3(m, "  ", "", ""));
		m_puts(m, i == 0 ? "|" : " ");
		rbuf_put(m->b, line, (size_t)(nl - line));
		m_puts(m, i == 0 ? "|\n" : "\n");
	}
	m_block(m, BLOCK_PRE, NULL, false);
}

static void incidents_section(struct markup *m, const struct outline *o)
{
	static const struct column cols[] = {
		{ "#", COL_RIGHT, "  ", 0 },
		{ "kind", 0, " ", 0 },
		{ "where", COL_MONO, "  ", 0 },
		{ "connections", COL_RIGHT, "  ", 0 },
		{ NULL, COL_TEXT, " ", 0 }, /* "connections" after the count */
		{ "start (UTC)", COL_DOC, "", 0 },
		{ "lasted", COL_RIGHT | COL_DOC, "", 0 },
	};
	const struct table t = { "incidents", cols, sizeof cols / sizeof cols[0], false };
	const struct incidents *d = o->incidents;
	unsigned n = d != NULL ? incidents_count(d) : 0;
	char where[256];

	if (d != NULL && o->frame->timeline)
		o->frame->timeline(m, o);
	if (n == 0)
		return;
	m_block(m, BLOCK_SECTION, "incidents", true);
	heading(m, say3(m, "incidents (many connections ending at once for one cause)",
	                "Incidents: many connections ending at once", "Incidents"));
	m_table(m, &t, true);
	for (unsigned i = 0; i < n; i++) {
		const struct incident *inc = incidents_get(d, i);

		m_row(m, ROW_PLAIN, true);
		m_cell(m, 0, true);
		m_incident_id(m, inc->number);
		m_cell(m, 0, false);
		m_cell(m, 1, true);
		m_style(m, STYLE_ALERT, true);
		m_style(m, STYLE_CODE, true);
		m_puts(m, incident_kind_name(inc->kind));
		m_style(m, STYLE_CODE, false);
		m_style(m, STYLE_ALERT, false);
		m_cell(m, 1, false);
		m_cell(m, 2, true);
		m_style(m, STYLE_CODE, true);
		m_puts(m, incident_where(inc, where, sizeof where));
		m_style(m, STYLE_CODE, false);
		m_cell(m, 2, false);
		m_cell_number(m, 3, inc->n_members);
		m_cell(m, 4, true);
		M_LIT(m, "connections");
		m_cell(m, 4, false);
		m_cell(m, 5, true);
		put_utc(m->b, inc->start_ns, inc->ts_nano);
		m_cell(m, 5, false);
		m_cell(m, 6, true);
		put_duration(m->b, inc->end_ns - inc->start_ns);
		m_cell(m, 6, false);
		m_row(m, ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	m_block(m, BLOCK_MINOR, "What happened", true);
	m_block(m, BLOCK_MINOR, "What happened", false);
	for (unsigned i = 0; i < n; i++)
		incident_item(m, incidents_get(d, i));
	if (!o->frame->timeline)
		compact_timeline(m, d);
	m_block(m, BLOCK_SECTION, "incidents", false);
}

void outline_story_incidents(struct markup *m, const struct outline *o)
{
	char text[1024];

	for (uint64_t i = 0; o->incidents != NULL && i < o->n_story_ids; i++) {
		uint32_t k = incidents_find_flow(o->incidents, o->story_ids[i]);
		const struct incident *inc;

		if (k == 0)
			continue;
		inc = incidents_get(o->incidents, k - 1);
		m_block(m, BLOCK_PARA, NULL, true);
		M_LIT(m, "Connection ");
		m->ops->flow_id(m, o->story_ids[i]);
		M_LIT(m, " was one of the ");
		m_count(m, inc->n_members);
		M_LIT(m, " connections of incident ");
		m_incident_id(m, k);
		M_LIT(m, " (");
		m_puts(m, incident_kind_name(inc->kind));
		M_LIT(m, "): ");
		incident_sentence(inc, text, sizeof text);
		m_prose(m, text, strlen(text));
		M_LIT(m, ".");
		m_block(m, BLOCK_PARA, NULL, false);
	}
}

/* The stories rendered as the connections finished (outline_story). */
static void stories(struct markup *m, const struct outline *o)
{
	if (o->story_candidates == 0)
		return;
	m_block(m, BLOCK_SECTION, "stories", true);
	if (m->ops->kind == MARKUP_HTML) {
		m_block(m, BLOCK_HEADING, NULL, true);
		m_puts(m, o->selected ? "Selected connections" : "Noteworthy connections");
		if (o->story_candidates > o->n_stories) {
			M_LIT(m, " (the first ");
			put_grouped(m->b, o->n_stories);
			M_LIT(m, " of ");
			put_grouped(m->b, o->story_candidates);
			M_LIT(m, ")");
		}
		m_block(m, BLOCK_HEADING, NULL, false);
		m_block(m, BLOCK_INTRO, NULL, true);
		M_LIT(m, "Ladder diagrams: time in seconds since the connection's first packet; seq/ack "
		         "relative to each side's initial sequence number; highlighted rows are the "
		         "classifier's evidence.");
		m_block(m, BLOCK_INTRO, NULL, false);
		M_LIT(m, "\n");
	} else {
		m_block(m, BLOCK_RULE, NULL, true);
	}
	rbuf_put(m->b, o->stories->data, o->stories->len);
	outline_story_incidents(m, o);
	if (m->ops->kind != MARKUP_HTML && o->story_candidates > o->n_stories)
		and_more(m, o->story_candidates - o->n_stories,
		         " more selected connections, not shown");
	m_block(m, BLOCK_SECTION, "stories", false);
}

/* The noteworthy connections; where the medium lists every connection (HTML), that list and the
 * stories beside it. */
static void noteworthy(struct markup *m, const struct outline *o)
{
	if (o->frame->connections) {
		o->frame->connections(m, o);
		stories(m, o);
	} else {
		noteworthy_table(m, o);
	}
}

/* What each skip reason means (dissect_result_name() names, and "filtered"). */
static const char *skip_meaning(const char *reason)
{
	static const struct {
		const char *name, *meaning;
	} meanings[] = {
		{ "not_ip", "neither IPv4 nor IPv6 (ARP, LLDP, ...)" },
		{ "not_tcp", "IP but not TCP (UDP, ICMP, ...)" },
		{ "fragment", "IP fragments, not reassembled" },
		{ "truncated", "headers cut short by the capture's snapshot length" },
		{ "malformed", "headers that contradict themselves" },
		{ "unsupported_link", "a link type tcpmortem does not read" },
		{ "bad_encapsulation", "a tunnel or encapsulation header that contradicts itself" },
		{ "encapsulation_too_deep", "tunnels nested more than 8 layers deep" },
		{ "filtered", "not matching --filter" },
	};

	for (unsigned i = 0; reason && i < sizeof meanings / sizeof meanings[0]; i++)
		if (strcmp(reason, meanings[i].name) == 0)
			return meanings[i].meaning;
	return NULL;
}

/* The terminal's capture facts: a line per file, then what was skipped and why, then errors. */
static void capture_lines(struct markup *m, const struct run_summary *s)
{
	bool any_skipped = false, any_error = false;
	const char *seen[SKIP_REASONS_MAX * 2];
	unsigned n_seen = 0;

	if (s->n_captures != 0)
		heading(m, s->n_captures == 1 ? "capture" : "captures");
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];

		any_skipped |= c->n_skipped != 0;
		any_error |= c->error != NULL;
		m_block(m, BLOCK_NOTE, NULL, true);
		m_escape_str(m, c->path);
		M_LIT(m, ": ");
		if (c->link_type) {
			m_puts(m, c->link_type);
			M_LIT(m, ", ");
		}
		put_grouped(m->b, c->frames);
		M_LIT(m, " frames, ");
		put_grouped(m->b, c->tcp_segments);
		M_LIT(m, " TCP segments, ");
		put_grouped(m->b, c->bytes);
		M_LIT(m, " bytes");
		if (c->ts_nano)
			M_LIT(m, ", nanosecond timestamps");
		if (c->live) {
			M_LIT(m, ", live: ");
			put_grouped(m->b, c->kernel_dropped);
			M_LIT(m, " dropped by the kernel");
		}
		m_block(m, BLOCK_NOTE, NULL, false);
	}
	if (any_skipped) {
		heading(m, "skipped frames");
		for (unsigned i = 0; i < s->n_captures; i++) {
			const struct capture_stats *c = &s->captures[i];
			unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

			if (n == 0)
				continue;
			m_block(m, BLOCK_NOTE, NULL, true);
			m_escape_str(m, c->path);
			M_LIT(m, ":");
			for (unsigned k = 0; k < n; k++) {
				bool known = false;

				m_puts(m, k == 0 ? " " : ", ");
				m_escape_str(m, c->skipped[k].reason);
				M_LIT(m, " ");
				rbuf_u64(m->b, c->skipped[k].count);
				for (unsigned j = 0; j < n_seen; j++)
					known |= strcmp(seen[j], c->skipped[k].reason) == 0;
				if (!known && skip_meaning(c->skipped[k].reason) &&
				    n_seen < sizeof seen / sizeof seen[0])
					seen[n_seen++] = c->skipped[k].reason;
			}
			m_block(m, BLOCK_NOTE, NULL, false);
		}
		for (unsigned j = 0; j < n_seen; j++) {
			m_block(m, BLOCK_LINE, NULL, true);
			m_style(m, STYLE_DIM, true);
			M_LIT(m, "  ");
			m_puts(m, seen[j]);
			M_LIT(m, ": ");
			m_puts(m, skip_meaning(seen[j]));
			m_style(m, STYLE_DIM, false);
			m_block(m, BLOCK_LINE, NULL, false);
		}
	}
	if (any_error) {
		heading(m, "capture errors");
		for (unsigned i = 0; i < s->n_captures; i++) {
			if (s->captures[i].error == NULL)
				continue;
			m_block(m, BLOCK_NOTE, NULL, true);
			m_escape_str(m, s->captures[i].path);
			M_LIT(m, ": ");
			m_style(m, STYLE_ALERT, true);
			m_escape_str(m, s->captures[i].error);
			m_style(m, STYLE_ALERT, false);
			m_block(m, BLOCK_NOTE, NULL, false);
		}
	}
}

/* The documents' capture table: a row per file, with what was skipped and any problem. */
static void capture_table(struct markup *m, const struct run_summary *s)
{
	static const struct column cols[] = {
		{ "file", COL_MONO, "", 0 },
		{ "link type", 0, "", 0 },
		{ "frames", COL_RIGHT | COL_SORT, "", 0 },
		{ "TCP segments", COL_RIGHT | COL_SORT, "", 0 },
		{ "bytes", COL_RIGHT | COL_SORT, "", 0 },
		{ "skipped", 0, "", 0 },
		{ "problem", 0, "", 0 },
	};
	static const struct table t = { NULL, cols, sizeof cols / sizeof cols[0], false };

	if (s->n_captures == 0 && m->ops->kind == MARKUP_MARKDOWN)
		return;
	m_block(m, BLOCK_SECTION, "capture", true);
	heading(m, "Capture");
	m_table(m, &t, true);
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];
		unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

		m_row(m, ROW_PLAIN, true);
		m_cell(m, 0, true);
		m_escape_str(m, c->path);
		m_cell(m, 0, false);
		m_cell(m, 1, true);
		m_escape_str(m, c->link_type ? c->link_type : "-");
		m_cell(m, 1, false);
		m_cell_number(m, 2, c->frames);
		m_cell_number(m, 3, c->tcp_segments);
		m_cell_number(m, 4, c->bytes);
		m_cell(m, 5, true);
		for (unsigned k = 0; k < n; k++) {
			if (k)
				M_LIT(m, ", ");
			m_escape_str(m, c->skipped[k].reason);
			M_LIT(m, " ");
			put_grouped(m->b, c->skipped[k].count);
		}
		if (n == 0)
			M_LIT(m, "none");
		m_cell(m, 5, false);
		m_cell(m, 6, true);
		m_escape_str(m, c->error ? c->error : "none");
		m_cell(m, 6, false);
		m_row(m, ROW_PLAIN, false);
	}
	m_table(m, &t, false);
	m_block(m, BLOCK_SECTION, "capture", false);
}

void outline_captures(struct markup *m, const struct outline *o)
{
	if (m->ops->kind == MARKUP_TEXT)
		capture_lines(m, o->summary);
	else
		capture_table(m, o->summary);
}

/* The --flow selection's stories, after everything else; a medium that showed them beside its
 * list of connections (HTML) is done. */
static void selected_stories(struct markup *m, const struct outline *o)
{
	if (!o->frame->connections)
		stories(m, o);
}

/* The sections of a summary, in order. */
static void (*const sections[])(struct markup *m, const struct outline *o) = {
	classes,         /* how the connections ended, by class and closer */
	incidents_section, /* many connections ending at once for one cause; endings over time */
	resets,          /* the top reset sources */
	slowest,         /* the slowest closes */
	stuck,           /* the connections stuck half-closed */
	noteworthy,      /* the connections worth reading */
	outline_captures, /* the capture files, what was skipped, errors */
	selected_stories, /* the stories of the --flow selection */
};

void outline_summary(struct markup *m, struct outline *o)
{
	class_totals_of(o->summary, &o->totals);
	o->frame->head(m, o);
	for (unsigned i = 0; i < sizeof sections / sizeof sections[0]; i++)
		sections[i](m, o);
	if (o->frame->foot)
		o->frame->foot(m, o);
}

/* --- a connection's story ---------------------------------------------------------------------- */

void outline_story(struct markup *m, const struct flow_record *r)
{
	char reason[FLOW_REASON_MAX];
	size_t reason_len;
	struct rbuf *s = m->scratch;

	m->ops->story(m, r, true);
	rbuf_clear(s);
	story_verdict(s, r);
	if (m->ops->kind == MARKUP_TEXT) { /* the facts as fields, in full */
		m_block(m, BLOCK_FIELD, "Ended", true);
		m->ops->verdict(m, r->close_class, s->data, s->len);
		m_block(m, BLOCK_FIELD, "Ended", false);
		m_block(m, BLOCK_FIELD, "When", true);
		outline_time_span(m, r->first_ts_ns, r->last_ts_ns, r->ts_nano);
		m_block(m, BLOCK_FIELD, "When", false);
		if (r->capture) {
			m_block(m, BLOCK_FIELD, "Capture", true);
			m_escape_str(m, r->capture);
			m_block(m, BLOCK_FIELD, "Capture", false);
		}
	} else { /* the facts in a byline */
		m_block(m, BLOCK_BYLINE, NULL, true);
		m->ops->verdict(m, r->close_class, s->data, s->len);
		M_LIT(m, " \xc2\xb7 ");
		put_utc(m->b, r->first_ts_ns, r->ts_nano);
		M_LIT(m, " UTC \xc2\xb7 lasted ");
		put_duration(m->b, r->last_ts_ns - r->first_ts_ns);
		if (r->capture) {
			M_LIT(m, " \xc2\xb7 ");
			m_escape_str(m, r->capture);
		}
		m_block(m, BLOCK_BYLINE, NULL, false);
	}
	m_block(m, BLOCK_FIELDS, NULL, true);

	m_block(m, BLOCK_FIELD, "Handshake", true);
	rbuf_clear(s);
	story_handshake(s, r);
	m_prose(m, s->data, s->len);
	m_block(m, BLOCK_FIELD, "Handshake", false);

	m_block(m, BLOCK_FIELD, "Volume", true);
	rbuf_clear(s);
	story_volume(s, r, m->ops->arrow);
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		if (start != 0)
			m_block(m, BLOCK_BREAK, NULL, true);
		m_escape(m, s->data + start, i - start);
		start = i + 1;
	}
	if (m->ops->kind == MARKUP_TEXT && r->keepalive_probes) {
		m_block(m, BLOCK_BREAK, NULL, true);
		rbuf_u64(m->b, r->keepalive_probes);
		M_LIT(m, " keepalive probes");
	}
	m_block(m, BLOCK_FIELD, "Volume", false);

	m_block(m, BLOCK_FIELD, "Final state", true);
	M_LIT(m, "client ");
	m_puts(m, tcp_state_name(r->state[FROM_CLIENT]));
	M_LIT(m, ", server ");
	m_puts(m, tcp_state_name(r->state[FROM_SERVER]));
	m_block(m, BLOCK_FIELD, "Final state", false);
	if (r->modifiers) {
		m_block(m, BLOCK_FIELD, "Modifiers", true);
		put_modifier_list(m->b, r->modifiers, ", ", m->ops->code_mark);
		m_block(m, BLOCK_FIELD, "Modifiers", false);
	}
	m_block(m, BLOCK_FIELDS, NULL, false);

	m->ops->ladder(m, r);

	m_block(m, BLOCK_SUBHEAD, "What happened", true);
	m_block(m, BLOCK_SUBHEAD, "What happened", false);
	rbuf_clear(s);
	story_explain(s, r);
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		m_block(m, BLOCK_PARA, NULL, true);
		m_prose(m, s->data + start, i - start);
		m_block(m, BLOCK_PARA, NULL, false);
		start = i + 1;
	}
	reason_len = flow_reason_format(&r->reason, reason, sizeof reason);
	if (reason_len != 0) {
		m_block(m, BLOCK_REMARK, "Classifier", true);
		m_prose(m, reason, reason_len);
		m_block(m, BLOCK_REMARK, "Classifier", false);
	}
	m->ops->story(m, r, false);
}

/* --- the readable writers' common state -------------------------------------------------------- */

void readable_init(struct writer *w, const struct writer_options *opt,
                   const struct markup_ops *ops)
{
	struct readable *r = (struct readable *)w;

	r->opt = *opt;
	r->m = (struct markup){ .ops = ops, .b = &r->out, .scratch = &r->scratch };
}

void readable_release(struct writer *w)
{
	struct readable *r = (struct readable *)w;

	digest_free(&r->digest);
	markup_free(&r->m);
	rbuf_free(&r->out);
	rbuf_free(&r->scratch);
}

int readable_summary(struct writer *w, const struct run_summary *s, struct outline *o,
                     bool failed)
{
	struct readable *r = (struct readable *)w;

	digest_finish(&r->digest, s, r->opt.close_wait_ns);
	o->summary = s;
	o->digest = &r->digest;
	o->close_wait_ns = r->opt.close_wait_ns;
	o->incidents = w->incidents;
	r->m.b = &r->out;
	outline_summary(&r->m, o);
	return writer_put(w, &r->out, failed);
}
