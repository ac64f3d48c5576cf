/* markdown_writer.c - `-f markdown`: the summary, and the stories of the selected connections,
 * as GitHub-flavoured Markdown to paste into a ticket.
 *
 * The sections and the stories are the readable reports' skeleton (outline.h), written at the
 * end: a heading with the capture facts, the class table (a GFM table, one row per class that
 * occurred and a total), the top reset sources, the slowest closes, the connections stuck
 * half-closed, the noteworthy connections and their diagnoses, the capture files and what was
 * skipped; then, for each connection the user selected with --flow (at most STORIES_MAX, in the
 * order they finished), its story: verdict, handshake, volume, the ladder diagram in a fenced
 * code block, and what happened in sentences. This file is the Markdown markup and that head.
 *
 * Escaping: every untrusted string (file names, reasons) goes through put_md, so it cannot open
 * a link, an image, HTML, a mention, a table cell or a code span; addresses and class names are
 * our own text and sit in code spans. The ladder is ASCII we generate, inside a ``` fence (it
 * holds no backtick). Stories are rendered as they finish, into a buffer bounded by STORIES_MAX.
 */
#include <stdlib.h>

#include "digest.h"
#include "ladder.h"
#include "outline.h"
#include "rbuf.h"
#include "rtext.h"
#include "writer_impl.h"

#define STORIES_MAX 20

struct markdown_writer {
	struct readable r;     /* the document is built in r.out at the end */
	struct rbuf stories;   /* rendered stories, written after the summary */
	uint64_t n_stories;    /* selected connections seen (rendered: up to STORIES_MAX) */
	bool failed;
};

/* --- the markup -------------------------------------------------------------------------------- */

static void md_style(struct markup *m, enum markup_style st, bool on)
{
	(void)on;
	if (st == STYLE_STRONG)
		M_LIT(m, "**");
	else if (st == STYLE_CODE)
		M_LIT(m, "`");
}

static void md_table(struct markup *m, const struct table *t, bool on)
{
	if (!on)
		return;
	for (unsigned i = 0; i < t->n_cols; i++) {
		if (markup_shows(m, &t->cols[i])) {
			M_LIT(m, "| ");
			m_puts(m, t->cols[i].head);
			M_LIT(m, " ");
		}
	}
	M_LIT(m, "|\n");
	for (unsigned i = 0; i < t->n_cols; i++)
		if (markup_shows(m, &t->cols[i]))
			m_puts(m, (t->cols[i].flags & COL_RIGHT) ? "|--:" : "|:--");
	M_LIT(m, "|\n");
}

static void md_row(struct markup *m, enum markup_row k, bool on)
{
	(void)k;
	m_puts(m, on ? "| " : " |\n");
}

static void md_cell(struct markup *m, const struct column *c, bool on)
{
	(void)c;
	if (on && m->cells != 0)
		M_LIT(m, " | ");
}

static void md_class_name(struct markup *m, enum close_class c)
{
	M_LIT(m, "`");
	m_puts(m, close_class_name(c));
	M_LIT(m, "`");
}

static void md_flow_id(struct markup *m, uint64_t id)
{
	rbuf_u64(m->b, id);
}

static void md_story(struct markup *m, const struct flow_record *r, bool on)
{
	if (!on)
		return;
	M_LIT(m, "\n### Connection #");
	rbuf_u64(m->b, r->id);
	M_LIT(m, ": ");
	m_endpoints(m, &r->client, &r->server);
	M_LIT(m, "\n\n");
}

static void md_verdict(struct markup *m, enum close_class c, const char *s, size_t n)
{
	(void)c;
	M_LIT(m, "**");
	put_md(m->b, s, n);
	M_LIT(m, "**");
}

static void md_ladder(struct markup *m, const struct flow_record *r)
{
	const struct segment_list *l = r->segments;

	if (!l || !l->n)
		return;
	M_LIT(m, "Ladder diagram (");
	ladder_caption(m->b, l);
	M_LIT(m, "; time in seconds since the first packet, seq/ack relative):\n\n```text\n");
	ladder_text(m->b, r, "", false);
	M_LIT(m, "```\n\n");
}

static const struct markup_ops markdown_markup = {
	.kind = MARKUP_MARKDOWN, .arrow = "\xe2\x86\x92", .code_mark = "`", .escape = put_md,
	.style = md_style, .table = md_table, .row = md_row, .cell = md_cell,
	.class_name = md_class_name, .flow_id = md_flow_id, .story = md_story,
	.verdict = md_verdict, .ladder = md_ladder,
};

/* --- the writer -------------------------------------------------------------------------------- */

static int md_flow(struct writer *w, const struct flow_record *f)
{
	struct markdown_writer *mw = (struct markdown_writer *)w;

	if (mw->r.opt.stories && f->segments && f->segments->selected &&
	    mw->n_stories++ < STORIES_MAX) {
		mw->r.m.b = &mw->stories;
		outline_story(&mw->r.m, f);
	}
	if (mw->stories.failed || mw->r.scratch.failed)
		mw->failed = true;
	return digest_add(&mw->r.digest, f);
}

/* --- the head ---------------------------------------------------------------------------------- */

static void md_head(struct markup *m, const struct outline *o)
{
	const struct run_summary *s = o->summary;
	unsigned more;

	M_LIT(m, "## tcpmortem report: ");
	more = outline_paths(m, s, 8, true);
	if (more) {
		M_LIT(m, " and ");
		rbuf_u64(m->b, more);
		M_LIT(m, " more");
	}
	M_LIT(m, "\n\n**");
	put_grouped(m->b, s->flows);
	m_puts(m, s->flows == 1 ? " connection" : " connections");
	M_LIT(m, "** in ");
	put_grouped(m->b, s->frames);
	M_LIT(m, " frames");
	if (s->flows_evicted) {
		M_LIT(m, " (");
		put_grouped(m->b, s->flows_evicted);
		M_LIT(m, " finished early under `--max-flows`)");
	}
	if (s->frames) {
		M_LIT(m, ", ");
		outline_time_span(m, s->first_ts_ns, s->last_ts_ns, s->ts_nano);
	}
	M_LIT(m, " \xc2\xb7 " TCPMORTEM_NAME " " TCPMORTEM_VERSION "\n");
}

static const struct outline_frame markdown_frame = { md_head, NULL, NULL };

static int md_end(struct writer *w, const struct run_summary *s)
{
	struct markdown_writer *mw = (struct markdown_writer *)w;
	struct outline o = {
		.frame = &markdown_frame,
		.stories = &mw->stories,
		.n_stories = mw->n_stories < STORIES_MAX ? mw->n_stories : STORIES_MAX,
		.story_candidates = mw->n_stories,
		.selected = true,
	};

	return readable_summary(w, s, &o, mw->failed);
}

static void md_release(struct writer *w)
{
	readable_release(w);
	rbuf_free(&((struct markdown_writer *)w)->stories);
}

static void md_init(struct writer *w, const struct writer_options *opt)
{
	readable_init(w, opt, &markdown_markup);
}

const struct writer_ops report_markdown_ops = { .size = sizeof(struct markdown_writer),
	.init = md_init, .flow = md_flow, .end = md_end, .release = md_release };
