/* markdown_writer.c - `-f markdown`: the summary, and the stories of the selected connections,
 * as GitHub-flavoured Markdown to paste into a ticket.
 *
 * Written at the end: a heading with the capture facts, the class table (a GFM table, one row per
 * class that occurred and a total), the top reset sources, the slowest closes, the connections
 * stuck half-closed, the noteworthy connections, the capture files and what was skipped; then,
 * for each connection the user selected with --flow (at most STORIES_MAX, in the order they
 * finished), its story: verdict, handshake, volume, the ladder diagram in a fenced code block,
 * and what happened in sentences.
 *
 * Escaping: every untrusted string (file names, reasons) goes through put_md, so it cannot open
 * a link, an image, HTML, a mention, a table cell or a code span; addresses and class names are
 * our own text and sit in code spans. The ladder is ASCII we generate, inside a ``` fence (it
 * holds no backtick). Stories are rendered as they finish, into a buffer bounded by STORIES_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_text.h"
#include "digest.h"
#include "ladder.h"
#include "rbuf.h"
#include "rtext.h"
#include "story.h"
#include "writer_impl.h"

#define STORIES_MAX 20

struct markdown_writer {
	struct writer base;
	struct writer_options opt;
	struct digest digest;
	struct rbuf stories;   /* rendered stories, written after the summary */
	uint64_t n_stories;    /* selected connections seen (rendered: up to STORIES_MAX) */
	struct rbuf out;       /* the document, built at the end */
	struct rbuf scratch;
	bool failed;
	uint64_t story_ids[STORIES_MAX]; /* the rendered stories' connections */
};

/* `198.51.100.1:40001` */
static void md_endpoint(struct rbuf *b, const struct flow_endpoint *e)
{
	rbuf_putc(b, '`');
	put_endpoint(b, e);
	rbuf_putc(b, '`');
}

static void md_class(struct rbuf *b, enum close_class c)
{
	rbuf_putc(b, '`');
	rbuf_puts(b, close_class_name(c));
	rbuf_putc(b, '`');
}

static void md_pct(struct rbuf *b, uint64_t count, uint64_t of)
{
	char t[16];

	if (of == 0)
		snprintf(t, sizeof t, "-");
	else
		snprintf(t, sizeof t, "%.1f%%", 100.0 * (double)count / (double)of);
	rbuf_puts(b, t);
}

static void story(struct markdown_writer *mw, const struct flow_record *r)
{
	char reason[FLOW_REASON_MAX];
	size_t reason_len;
	struct rbuf *b = &mw->stories;
	struct rbuf *s = &mw->scratch;
	const struct segment_list *l = r->segments;

	RBUF_LIT(b, "\n### Connection #");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, ": ");
	md_endpoint(b, &r->client);
	RBUF_LIT(b, " \xe2\x86\x92 ");
	md_endpoint(b, &r->server);
	RBUF_LIT(b, "\n\n**");
	rbuf_clear(s);
	story_verdict(s, r);
	put_md(b, s->data, s->len);
	RBUF_LIT(b, "** \xc2\xb7 ");
	put_utc(b, r->first_ts_ns, r->ts_nano);
	RBUF_LIT(b, " UTC \xc2\xb7 lasted ");
	put_duration(b, r->last_ts_ns - r->first_ts_ns);
	if (r->capture) {
		RBUF_LIT(b, " \xc2\xb7 ");
		put_md_str(b, r->capture);
	}
	RBUF_LIT(b, "\n\n- **Handshake:** ");
	rbuf_clear(s);
	story_handshake(s, r);
	put_md(b, s->data, s->len);
	RBUF_LIT(b, "\n- **Volume:** ");
	rbuf_clear(s);
	story_volume(s, r, "\xe2\x86\x92");
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		if (start)
			RBUF_LIT(b, "; ");
		put_md(b, s->data + start, i - start);
		start = i + 1;
	}
	RBUF_LIT(b, "\n- **Final state:** client ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_CLIENT]));
	RBUF_LIT(b, ", server ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_SERVER]));
	if (r->modifiers) {
		RBUF_LIT(b, "\n- **Modifiers:** ");
		for (unsigned bit = 0, n = 0; bit < MOD_COUNT_BITS; bit++) {
			if (!(r->modifiers & (1u << bit)))
				continue;
			if (n++)
				RBUF_LIT(b, ", ");
			rbuf_putc(b, '`');
			rbuf_puts(b, flow_modifier_name(1u << bit));
			rbuf_putc(b, '`');
		}
	}
	RBUF_LIT(b, "\n\n");
	if (l && l->n) {
		RBUF_LIT(b, "Ladder diagram (");
		ladder_caption(b, l);
		RBUF_LIT(b, "; time in seconds since the first packet, seq/ack relative):\n\n```text\n");
		ladder_text(b, r, "", false);
		RBUF_LIT(b, "```\n\n");
	}
	RBUF_LIT(b, "**What happened**\n\n");
	rbuf_clear(s);
	story_explain(s, r);
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		put_md(b, s->data + start, i - start);
		RBUF_LIT(b, "\n\n");
		start = i + 1;
	}
	reason_len = flow_reason_format(&r->reason, reason, sizeof reason);
	if (reason_len != 0) {
		RBUF_LIT(b, "> **Classifier:** ");
		put_md(b, reason, reason_len);
		RBUF_LIT(b, "\n");
	}
}

static int md_flow(struct writer *w, const struct flow_record *f)
{
	struct markdown_writer *mw = (struct markdown_writer *)w;

	if (mw->opt.stories && f->segments && f->segments->selected &&
	    mw->n_stories++ < STORIES_MAX) {
		mw->story_ids[mw->n_stories - 1] = f->id;
		story(mw, f);
	}
	if (mw->stories.failed || mw->scratch.failed)
		mw->failed = true;
	return digest_add(&mw->digest, f);
}

static void summary_table(struct rbuf *b, const struct run_summary *s)
{
	static const enum closer_side order[] = { CLOSER_CLIENT, CLOSER_SERVER, CLOSER_BOTH,
						  CLOSER_NONE };
	uint64_t totals[CLOSE_CLASS_COUNT] = { 0 }, closers[CLOSER_COUNT] = { 0 }, all = 0;

	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		for (unsigned c = 0; c < CLOSER_COUNT; c++) {
			totals[k] += s->by_class[k][c];
			closers[c] += s->by_class[k][c];
		}
		all += totals[k];
	}
	RBUF_LIT(b, "\n### How the connections ended\n\n"
	            "| close class | flows | share | client | server | both | none |\n"
	            "|:--|--:|--:|--:|--:|--:|--:|\n");
	for (unsigned k = 0; k <= CLOSE_CLASS_COUNT; k++) {
		bool total = k == CLOSE_CLASS_COUNT;
		const uint64_t *by = total ? closers : s->by_class[k];
		uint64_t row = total ? all : totals[k];

		if (!total && row == 0)
			continue;
		RBUF_LIT(b, "| ");
		if (total)
			RBUF_LIT(b, "**total**");
		else
			md_class(b, (enum close_class)k);
		RBUF_LIT(b, " | ");
		put_grouped(b, row);
		RBUF_LIT(b, " | ");
		md_pct(b, row, all);
		for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
			RBUF_LIT(b, " | ");
			put_grouped(b, by[order[i]]);
		}
		RBUF_LIT(b, " |\n");
	}
}

static void resets(struct rbuf *b, const struct digest *d)
{
	size_t shown = d->n_resets < DIGEST_TOP_RESETS ? d->n_resets : DIGEST_TOP_RESETS;

	if (d->n_resets == 0)
		return;
	RBUF_LIT(b, "\n### Top reset sources\n\n| endpoint | side | resets |\n|:--|:--|--:|\n");
	for (size_t i = 0; i < shown; i++) {
		const struct digest_reset *r = &d->resets[i];
		char ip[48];

		RBUF_LIT(b, "| `");
		if (r->role == FROM_SERVER) {
			struct flow_endpoint e = { r->addr, r->port };

			put_endpoint(b, &e);
		} else {
			rbuf_puts(b, ip_addr_format(&r->addr, ip, sizeof ip));
		}
		RBUF_LIT(b, "` | ");
		rbuf_puts(b, side_word(r->role));
		RBUF_LIT(b, " | ");
		put_grouped(b, r->count);
		RBUF_LIT(b, " |\n");
	}
	if (d->n_resets > shown) {
		rbuf_puts(b, d->resets_overflowed ? "\nand more than " : "\nand ");
		put_grouped(b, d->n_resets - shown);
		RBUF_LIT(b, " more sources\n");
	}
	if (d->resets_error != 0) {
		RBUF_LIT(b, "\n(too many sources to count each: a count above may be up to ");
		put_grouped(b, d->resets_error);
		RBUF_LIT(b, " too high)\n");
	}
}

static void slow(struct rbuf *b, const struct digest *d)
{
	if (d->n_slow == 0)
		return;
	RBUF_LIT(b, "\n### Slowest closes\n\n"
	            "| # | client | server | first FIN to last ACK | closed first | the other closed |\n"
	            "|--:|:--|:--|--:|:--|--:|\n");
	for (unsigned i = 0; i < d->n_slow; i++) {
		const struct digest_close *c = &d->slow[i];

		RBUF_LIT(b, "| ");
		rbuf_u64(b, c->id);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &c->client);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &c->server);
		RBUF_LIT(b, " | ");
		put_duration(b, c->end_ns - c->start_ns);
		RBUF_LIT(b, " | ");
		rbuf_puts(b, side_word(c->first));
		RBUF_LIT(b, " | ");
		put_duration(b, c->wait_ns);
		RBUF_LIT(b, " later |\n");
	}
}

static void stuck(struct rbuf *b, const struct digest *d, int64_t threshold)
{
	if (d->n_stuck_over == 0)
		return;
	RBUF_LIT(b, "\n### Stuck half-closed: ");
	put_grouped(b, d->n_stuck_over);
	RBUF_LIT(b, "\n\nA side in CLOSE-WAIT (it received a FIN and has not closed) for more than ");
	put_duration(b, threshold);
	RBUF_LIT(b, " when the capture ended.\n\n"
	            "| # | client | server | in CLOSE-WAIT | for | since the FIN in frame | still sending |\n"
	            "|--:|:--|:--|:--|--:|--:|:--|\n");
	for (unsigned i = 0; i < d->n_stuck_kept; i++) {
		const struct digest_stuck *st = &d->stuck[i];

		RBUF_LIT(b, "| ");
		rbuf_u64(b, st->id);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &st->client);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &st->server);
		RBUF_LIT(b, " | ");
		rbuf_puts(b, side_word(st->waiting));
		RBUF_LIT(b, " | ");
		put_duration(b, d->capture_end_ns - st->fin_ns);
		RBUF_LIT(b, " | ");
		if (st->fin_frame)
			rbuf_u64(b, st->fin_frame);
		RBUF_LIT(b, " | ");
		rbuf_puts(b, st->sent_after_fin ? "yes" : "no");
		RBUF_LIT(b, " |\n");
	}
	if (d->n_stuck_over > d->n_stuck_kept) {
		RBUF_LIT(b, "\nand ");
		put_grouped(b, d->n_stuck_over - d->n_stuck_kept);
		RBUF_LIT(b, " more\n");
	}
}

/* A diagnosis sentence as a list item ("- ...\n"). */
static void md_diagnosis(void *ctx, const char *text, size_t len)
{
	struct rbuf *b = ctx;

	RBUF_LIT(b, "  - ");
	put_md(b, text, len);
	rbuf_putc(b, '\n');
}

/* Under the noteworthy table: each listed connection's diagnoses, one sentence each; nothing
 * when none has any. */
static void diagnoses(struct rbuf *b, const struct digest *d, struct rbuf *scratch)
{
	bool any = false;

	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct digest_flow *n = &d->noteworthy[i];
		size_t before = b->len, head;

		if (!any)
			RBUF_LIT(b, "\n#### Diagnoses\n\n");
		RBUF_LIT(b, "- **#");
		rbuf_u64(b, n->id);
		RBUF_LIT(b, "** ");
		md_endpoint(b, &n->client);
		RBUF_LIT(b, " → ");
		md_endpoint(b, &n->server);
		rbuf_putc(b, '\n');
		head = b->len;
		diagnosis_sentences(&n->diagnosis, scratch, md_diagnosis, b);
		if (b->len == head) {
			b->len = before; /* nothing to say about this one: take its lines back */
			continue;
		}
		any = true;
	}
}

static void noteworthy(struct rbuf *b, const struct digest *d)
{
	char reason[FLOW_REASON_MAX];
	if (d->n_noteworthy == 0)
		return;
	RBUF_LIT(b, "\n### Noteworthy connections (");
	put_grouped(b, d->n_noteworthy);
	RBUF_LIT(b, ")\n\n| # | client | server | class | closer | reason |\n"
	            "|--:|:--|:--|:--|:--|:--|\n");
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct digest_flow *n = &d->noteworthy[i];

		RBUF_LIT(b, "| ");
		rbuf_u64(b, n->id);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &n->client);
		RBUF_LIT(b, " | ");
		md_endpoint(b, &n->server);
		RBUF_LIT(b, " | ");
		md_class(b, n->close_class);
		RBUF_LIT(b, " | ");
		rbuf_puts(b, closer_label(n->closer));
		RBUF_LIT(b, " | ");
		put_md(b, reason, flow_reason_format(&n->reason, reason, sizeof reason));
		RBUF_LIT(b, " |\n");
	}
	if (d->n_noteworthy > d->n_kept) {
		RBUF_LIT(b, "\nand ");
		put_grouped(b, d->n_noteworthy - d->n_kept);
		RBUF_LIT(b, " more (`-f csv` lists every connection)\n");
	}
}

static void captures(struct rbuf *b, const struct run_summary *s)
{
	if (s->n_captures == 0)
		return;
	RBUF_LIT(b, "\n### Capture\n\n| file | link type | frames | TCP segments | bytes | skipped | "
	            "problem |\n|:--|:--|--:|--:|--:|:--|:--|\n");
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];
		unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

		RBUF_LIT(b, "| ");
		put_md_str(b, c->path);
		RBUF_LIT(b, " | ");
		put_md_str(b, c->link_type ? c->link_type : "-");
		RBUF_LIT(b, " | ");
		put_grouped(b, c->frames);
		RBUF_LIT(b, " | ");
		put_grouped(b, c->tcp_segments);
		RBUF_LIT(b, " | ");
		put_grouped(b, c->bytes);
		RBUF_LIT(b, " | ");
		for (unsigned k = 0; k < n; k++) {
			if (k)
				RBUF_LIT(b, ", ");
			put_md_str(b, c->skipped[k].reason);
			rbuf_putc(b, ' ');
			put_grouped(b, c->skipped[k].count);
		}
		if (n == 0)
			RBUF_LIT(b, "none");
		RBUF_LIT(b, " | ");
		put_md_str(b, c->error ? c->error : "none");
		RBUF_LIT(b, " |\n");
	}
}

static int md_begin(struct writer *w)
{
	(void)w;
	return 0;
}

/* Incidents (incidents.h): a table, each one's sentence, and the compact timeline. */
static void incidents_section(struct rbuf *b, const struct incidents *d)
{
	unsigned n = incidents_count(d);
	char text[1024];

	if (n == 0)
		return;
	RBUF_LIT(b, "\n### Incidents: many connections ending at once\n\n"
	            "| # | kind | where | connections | start (UTC) | lasted | endings/s before, during, "
	            "after |\n|---:|---|---|---:|---|---:|---|\n");
	for (unsigned i = 0; i < n; i++) {
		const struct incident *inc = incidents_get(d, i);

		RBUF_LIT(b, "| ");
		rbuf_u64(b, inc->number);
		RBUF_LIT(b, " | `");
		rbuf_puts(b, incident_kind_name(inc->kind));
		RBUF_LIT(b, "` | `");
		rbuf_puts(b, incident_where(inc, text, sizeof text));
		RBUF_LIT(b, "` | ");
		put_grouped(b, inc->n_members);
		RBUF_LIT(b, " | ");
		put_utc(b, inc->start_ns, inc->ts_nano);
		RBUF_LIT(b, " | ");
		put_duration(b, inc->end_ns - inc->start_ns);
		snprintf(text, sizeof text, " | %.1f, %.1f, %.1f |\n", inc->rate_before, inc->rate_during,
		         inc->rate_after);
		rbuf_puts(b, text);
	}
	RBUF_LIT(b, "\n");
	for (unsigned i = 0; i < n; i++) {
		const struct incident *inc = incidents_get(d, i);

		RBUF_LIT(b, "- **#");
		rbuf_u64(b, inc->number);
		RBUF_LIT(b, "** ");
		put_md_str(b, incident_sentence(inc, text, sizeof text));
		RBUF_LIT(b, ". Connections: ");
		for (uint64_t k = 0; inc->members && k < inc->n_members && k < 12; k++) {
			if (k)
				RBUF_LIT(b, ", ");
			rbuf_putc(b, '#');
			rbuf_u64(b, inc->members[k]);
		}
		if (inc->n_members > 12)
			RBUF_LIT(b, ", \xe2\x80\xa6 (all: `-f json` or `-f csv`)");
		RBUF_LIT(b, "\n");
	}
	double col_s = incidents_sparkline(d, 72, text, sizeof text);

	if (col_s > 0) {
		char num[160];

		snprintf(num, sizeof num, "\nEndings over time, a column is %.3g s; incidents marked "
		                          "under it:\n\n```\n", col_s);
		rbuf_puts(b, num);
		rbuf_puts(b, text);
		RBUF_LIT(b, "```\n");
	}
}

static int md_end(struct writer *w, const struct run_summary *s)
{
	struct markdown_writer *mw = (struct markdown_writer *)w;
	struct rbuf *b = &mw->out;

	digest_finish(&mw->digest, s, mw->opt.close_wait_ns);
	RBUF_LIT(b, "## tcpmortem report: ");
	if (s->n_captures == 0)
		RBUF_LIT(b, "no capture");
	for (unsigned i = 0; i < s->n_captures && i < 8; i++) {
		if (i)
			RBUF_LIT(b, ", ");
		put_md_str(b, s->captures[i].path);
	}
	if (s->n_captures > 8) {
		RBUF_LIT(b, " and ");
		rbuf_u64(b, s->n_captures - 8);
		RBUF_LIT(b, " more");
	}
	RBUF_LIT(b, "\n\n**");
	put_grouped(b, s->flows);
	rbuf_puts(b, s->flows == 1 ? " connection" : " connections");
	RBUF_LIT(b, "** in ");
	put_grouped(b, s->frames);
	RBUF_LIT(b, " frames");
	if (s->flows_evicted) {
		RBUF_LIT(b, " (");
		put_grouped(b, s->flows_evicted);
		RBUF_LIT(b, " finished early under `--max-flows`)");
	}
	if (s->frames) {
		RBUF_LIT(b, ", ");
		put_utc(b, s->first_ts_ns, s->ts_nano);
		RBUF_LIT(b, " to ");
		put_utc(b, s->last_ts_ns, s->ts_nano);
		RBUF_LIT(b, " UTC (");
		put_duration(b, s->last_ts_ns - s->first_ts_ns);
		RBUF_LIT(b, ")");
	}
	RBUF_LIT(b, " \xc2\xb7 " TCPMORTEM_NAME " " TCPMORTEM_VERSION "\n");
	summary_table(b, s);
	incidents_section(b, w->incidents);
	resets(b, &mw->digest);
	slow(b, &mw->digest);
	stuck(b, &mw->digest, mw->opt.close_wait_ns);
	noteworthy(b, &mw->digest);
	diagnoses(b, &mw->digest, &mw->scratch);
	captures(b, s);
	if (mw->n_stories) {
		RBUF_LIT(b, "\n---\n");
		rbuf_put(b, mw->stories.data, mw->stories.len);
		for (uint64_t i = 0; i < mw->n_stories && i < STORIES_MAX; i++) {
			uint32_t k = incidents_find_flow(w->incidents, mw->story_ids[i]);
			char text[1024];

			if (!k)
				continue;
			RBUF_LIT(b, "\nConnection #");
			rbuf_u64(b, mw->story_ids[i]);
			RBUF_LIT(b, " was one of the connections of incident #");
			rbuf_u64(b, k);
			RBUF_LIT(b, ": ");
			put_md_str(b, incident_sentence(incidents_get(w->incidents, k - 1), text, sizeof text));
			RBUF_LIT(b, ".\n");
		}
		if (mw->n_stories > STORIES_MAX) {
			RBUF_LIT(b, "\nand ");
			put_grouped(b, mw->n_stories - STORIES_MAX);
			RBUF_LIT(b, " more selected connections, not shown\n");
		}
	}
	if (b->failed || mw->failed) {
		errno = ENOMEM;
		return -1;
	}
	if (fwrite(b->data, 1, b->len, w->out) != b->len || fflush(w->out) != 0 || ferror(w->out))
		return -1;
	return 0;
}

static void md_destroy(struct writer *w)
{
	struct markdown_writer *mw = (struct markdown_writer *)w;

	digest_free(&mw->digest);
	rbuf_free(&mw->stories);
	rbuf_free(&mw->out);
	rbuf_free(&mw->scratch);
	free(mw);
}

static const struct writer_ops markdown_ops = {
	.begin = md_begin,
	.flow = md_flow,
	.end = md_end,
	.destroy = md_destroy,
};

struct writer *report_markdown_create(FILE *out, const struct writer_options *opt)
{
	struct markdown_writer *mw = calloc(1, sizeof *mw);

	if (mw == NULL)
		return NULL;
	mw->base.ops = &markdown_ops;
	mw->base.out = out;
	mw->opt = *opt;
	return &mw->base;
}
