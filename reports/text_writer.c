/* text_writer.c - `-f text`, the default: the investigator's summary, or connection stories.
 *
 * Summary (written at the end). Sections, in order: a header (capture files, frames, flows, time
 * span); the table of close classes by closer (one row per class that occurred, then a total
 * row; the flows column is the share of all flows, each closer column the share of its row);
 * the top reset sources (digest.h: servers by endpoint, clients by address, most first, up to
 * DIGEST_TOP_RESETS); the slowest closes; the flows stuck half-closed (a side in CLOSE-WAIT for
 * longer than the threshold when the capture ended); the noteworthy flows (every class but
 * fin_graceful, fin_simultaneous, open_at_end and idle_at_end, and flows whose diagnoses need
 * reading: the DIGEST_NOTEWORTHY lowest ids, one line each, then one indented plain sentence per
 * diagnosis, and how many more there were); the capture facts (per file: link type, frames,
 * TCP segments, bytes), the frames skipped per capture and reason with what each reason means,
 * and capture errors.
 *
 * Stories (options.stories, --flow): each flow whose record carries a selected segment list is
 * written as it finishes: the connection, how it opened, what each side sent, the ladder diagram
 * of its segments, what happened in sentences, and the classifier's one-line reason; the end adds
 * the capture facts.
 *
 * The sections and the story are the readable reports' skeleton (outline.h); this file is the
 * terminal's markup (aligned lines, colour, wrapped paragraphs) and its head and foot.
 *
 * Colour (options.color) is ANSI SGR only, never anything else; alignment counts only visible
 * columns. Records are freed by the caller once writer_flow returns, so the summary keeps what it
 * needs in a digest (digest.h). Untrusted text (reasons, file names) is printed with control
 * characters and ill-formed UTF-8 escaped (put_visible), so a capture cannot drive the terminal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ladder.h"
#include "outline.h"
#include "rbuf.h"
#include "rtext.h"
#include "writer_impl.h"

#define STORY_WIDTH 100       /* story paragraphs wrap at this column */
#define LABEL_WIDTH 15        /* "  final state  " */

/* SGR parameters. */
#define C_BOLD "1"
#define C_DIM "2"
#define C_RED "31"
#define C_GREEN "32"
#define C_YELLOW "33"

struct text_writer {
	struct readable r;     /* r.out: the report (a story, in story mode) before it is written */
	uint64_t stories;      /* stories written */
	bool styled;           /* a style is on (an SGR sequence other than the reset was written) */
	const char *indent;    /* where wrapped prose goes on, after a line break */
	size_t cell_at;        /* the open cell's first byte, */
	size_t cell_col;       /* and its first column */
	size_t group_col;      /* the first column of the cells it continues (empty `sep`) */
};

static struct text_writer *writer_of(struct markup *m)
{
	return (struct text_writer *)(void *)((char *)m - offsetof(struct text_writer, r.m));
}

/* --- lines ------------------------------------------------------------------------------------- */

/* The visible column where the last line of `b` now ends: colour sequences (ours: untrusted text
 * has its escapes escaped) and UTF-8 continuation bytes take no column ("µs" is two columns). */
static size_t column(const struct rbuf *b)
{
	size_t start = b->len, cols = 0;

	while (start > 0 && b->data[start - 1] != '\n')
		start--;
	for (size_t i = start; i < b->len; i++) {
		if (b->data[i] == '\x1b') {
			while (i < b->len && b->data[i] != 'm')
				i++;
			continue;
		}
		cols += ((unsigned char)b->data[i] & 0xC0) != 0x80;
	}
	return cols;
}

/* Pads with spaces until `width` columns were written since column `from`. */
static void pad_to(struct rbuf *b, size_t from, size_t width)
{
	for (size_t col = column(b); col - from < width; col++)
		rbuf_putc(b, ' ');
}

/* Starts colour `code` (SGR parameters) when colour is on. */
static void sgr(struct text_writer *tw, const char *code)
{
	if (!tw->r.opt.color)
		return;
	RBUF_LIT(tw->r.m.b, "\x1b[");
	rbuf_puts(tw->r.m.b, code);
	rbuf_putc(tw->r.m.b, 'm');
}

static const char *class_color(enum close_class c)
{
	switch (c) {
	case CLOSE_FIN_GRACEFUL:
	case CLOSE_FIN_SIMULTANEOUS:
		return C_GREEN;
	case CLOSE_RST_UNREAD_DATA:
	case CLOSE_RST_ABORT:
	case CLOSE_RST_AFTER_CLOSE:
	case CLOSE_RST_PEER_RESTARTED:
	case CLOSE_RST_REFUSED:
		return C_RED;
	case CLOSE_HALF_CLOSED_AT_END:
	case CLOSE_SYN_UNANSWERED:
	case CLOSE_KEEPALIVE_TIMEOUT:
	case CLOSE_PEER_VANISHED:
		return C_YELLOW;
	case CLOSE_OPEN_AT_END:
	case CLOSE_IDLE_AT_END:
	case CLOSE_CLASS_COUNT:
		break;
	}
	return NULL;
}

/* --- the markup -------------------------------------------------------------------------------- */

static void text_style(struct markup *m, enum markup_style st, bool on)
{
	static const char *const codes[] = {
		[STYLE_STRONG] = C_BOLD, [STYLE_DIM] = C_DIM, [STYLE_ALERT] = C_RED,
		[STYLE_WARN] = C_YELLOW, [STYLE_CODE] = NULL,
	};
	struct text_writer *tw = writer_of(m);

	if (codes[st] == NULL)
		return;
	if (on) {
		sgr(tw, codes[st]);
		tw->styled = true;
	} else if (tw->styled) {
		sgr(tw, "0");
		tw->styled = false;
	}
}

/* A label as the terminal writes it: lower case ("Final state" -> "final state"), then
 * `suffix`, in style `st`. */
static void put_label(struct markup *m, enum markup_style st, const char *label,
                      const char *suffix)
{
	text_style(m, st, true);
	rbuf_putc(m->b, (char)tolower((unsigned char)label[0]));
	rbuf_puts(m->b, label + 1);
	rbuf_puts(m->b, suffix);
	text_style(m, st, false);
}

static void text_block(struct markup *m, enum markup_block k, const char *label, bool on)
{
	struct text_writer *tw = writer_of(m);
	struct rbuf *b = m->b;

	switch (k) {
	case BLOCK_HEADING:
		if (on)
			rbuf_putc(b, '\n');
		text_style(m, STYLE_STRONG, on);
		if (!on)
			rbuf_putc(b, '\n');
		break;
	case BLOCK_SUBHEAD:
	case BLOCK_MINOR:
		if (on) {
			rbuf_putc(b, '\n');
			put_label(m, STYLE_STRONG, label, "");
			rbuf_putc(b, '\n');
		}
		break;
	case BLOCK_INTRO:
	case BLOCK_NOTE:
	case BLOCK_BYLINE:
		rbuf_puts(b, on ? "  " : "\n");
		break;
	case BLOCK_ASIDE:
		rbuf_puts(b, on ? "  (" : ")\n");
		break;
	case BLOCK_FIELD:
		if (on) {
			RBUF_LIT(b, "  ");
			put_label(m, STYLE_STRONG, label, "");
			pad_to(b, 0, LABEL_WIDTH);
			tw->indent = "               "; /* LABEL_WIDTH */
		} else {
			rbuf_putc(b, '\n');
		}
		break;
	case BLOCK_BREAK:
		rbuf_putc(b, '\n');
		pad_to(b, 0, LABEL_WIDTH);
		break;
	case BLOCK_PARA:
	case BLOCK_ITEM:
		rbuf_puts(b, on ? "  - " : "\n");
		tw->indent = "    ";
		break;
	case BLOCK_REMARK:
		if (on) {
			RBUF_LIT(b, "  ");
			put_label(m, STYLE_DIM, label, ": ");
			tw->indent = "    ";
		} else {
			rbuf_putc(b, '\n');
		}
		break;
	case BLOCK_SUBITEM:
		rbuf_puts(b, on ? "      " : "\n");
		break;
	case BLOCK_RULE:
	case BLOCK_LINE:
		if (!on || k == BLOCK_RULE)
			rbuf_putc(b, '\n');
		break;
	case BLOCK_SECTION:
	case BLOCK_FIELDS:
	case BLOCK_GROUP:
	case BLOCK_COUNT:
		break;
	}
}

/* Untrusted prose in lines of at most STORY_WIDTH columns, broken at spaces; the lines after the
 * first start with the block's indent. */
static void text_prose(struct markup *m, const char *text, size_t n)
{
	struct text_writer *tw = writer_of(m);
	size_t i = 0;

	while (i < n) {
		size_t col = column(m->b);
		size_t j = wrap_end(text, n, i, STORY_WIDTH > col ? STORY_WIDTH - col : 20);

		put_visible(m->b, text + i, j - i);
		i = wrap_next(text, n, j);
		if (i < n) {
			rbuf_putc(m->b, '\n');
			rbuf_puts(m->b, tw->indent);
		}
	}
}

/* The header row, where the table has one: bold, each header right-aligned over its column and
 * the columns that continue it (an empty `sep`), or left-aligned in its own. */
static void text_table(struct markup *m, const struct table *t, bool on)
{
	if (!on || !t->text_head)
		return;
	text_style(m, STYLE_STRONG, true);
	for (unsigned i = 0; i < t->n_cols; i++) {
		const struct column *c = &t->cols[i];
		size_t start = column(m->b), span;

		if (!markup_shows(m, c) || (i > 0 && c->sep[0] == '\0'))
			continue;
		if (!(c->flags & COL_RIGHT)) {
			m_puts(m, c->head);
			pad_to(m->b, start, c->width);
			continue;
		}
		span = strlen(c->sep) + c->width;
		for (unsigned j = i + 1; j < t->n_cols && t->cols[j].sep[0] == '\0'; j++)
			if (markup_shows(m, &t->cols[j]))
				span += t->cols[j].width;
		pad_to(m->b, start, span - strlen(c->head));
		m_puts(m, c->head);
	}
	text_style(m, STYLE_STRONG, false);
	rbuf_putc(m->b, '\n');
}

static void text_row(struct markup *m, enum markup_row k, bool on)
{
	(void)k;
	if (!on)
		rbuf_putc(m->b, '\n');
}

/* A cell after its separator, padded to its width; a right-aligned one is padded in front once
 * its width is known. A fixed one takes its separator's room first. A left-aligned cell that
 * continues the one before (empty `sep`) pads the two together. */
static void text_cell(struct markup *m, const struct column *c, bool on)
{
	struct text_writer *tw = writer_of(m);
	bool fixed = (c->flags & COL_FIXED) && (c->flags & COL_RIGHT);
	size_t w, want;

	if (on) {
		if (!fixed)
			rbuf_puts(m->b, c->sep);
		tw->cell_at = m->b->len;
		tw->cell_col = column(m->b);
		if (c->sep[0] != '\0' || m->cells == 0)
			tw->group_col = tw->cell_col;
		return;
	}
	if (!(c->flags & COL_RIGHT)) {
		pad_to(m->b, tw->group_col, c->width);
		return;
	}
	w = column(m->b) - tw->cell_col;
	want = fixed ? strlen(c->sep) + c->width : c->width;
	if (w < want && rbuf_reserve(m->b, want - w)) {
		char *at = m->b->data + tw->cell_at;

		memmove(at + (want - w), at, m->b->len - tw->cell_at);
		memset(at, ' ', want - w);
		m->b->len += want - w;
	}
}

static void text_class_name(struct markup *m, enum close_class c)
{
	struct text_writer *tw = writer_of(m);
	const char *color = class_color(c);

	if (color)
		sgr(tw, color);
	m_puts(m, close_class_name(c));
	if (color)
		sgr(tw, "0");
}

static void text_flow_id(struct markup *m, uint64_t id)
{
	text_style(m, STYLE_STRONG, true);
	rbuf_putc(m->b, '#');
	rbuf_u64(m->b, id);
	text_style(m, STYLE_STRONG, false);
}

static void text_count(struct markup *m, uint64_t v)
{
	rbuf_u64(m->b, v); /* the terminal does not group */
}

static void text_story(struct markup *m, const struct flow_record *r, bool on)
{
	struct text_writer *tw = writer_of(m);

	if (!on)
		return;
	if (tw->stories++ != 0)
		rbuf_putc(m->b, '\n');
	text_style(m, STYLE_STRONG, true);
	M_LIT(m, "connection #");
	rbuf_u64(m->b, r->id);
	M_LIT(m, "  ");
	m_endpoints(m, &r->client, &r->server);
	text_style(m, STYLE_STRONG, false);
	rbuf_putc(m->b, '\n');
}

static void text_verdict(struct markup *m, enum close_class c, const char *s, size_t n)
{
	struct text_writer *tw = writer_of(m);

	if (class_color(c))
		sgr(tw, class_color(c));
	rbuf_put(m->b, s, n);
	sgr(tw, "0");
}

static void text_ladder(struct markup *m, const struct flow_record *r)
{
	const struct segment_list *l = r->segments;

	rbuf_putc(m->b, '\n');
	text_style(m, STYLE_STRONG, true);
	if (!l || l->n == 0) {
		M_LIT(m, "ladder: the segments were not collected");
		text_style(m, STYLE_STRONG, false);
		rbuf_putc(m->b, '\n');
		return;
	}
	M_LIT(m, "ladder (");
	ladder_caption(m->b, l);
	M_LIT(m, ")");
	text_style(m, STYLE_STRONG, false);
	rbuf_putc(m->b, '\n');
	text_style(m, STYLE_DIM, true);
	M_LIT(m, "  time: seconds since the first packet; seq/ack: relative to each side's first "
	         "sequence number");
	text_style(m, STYLE_DIM, false);
	rbuf_putc(m->b, '\n');
	ladder_text(m->b, r, "  ", writer_of(m)->r.opt.color);
}

static const struct markup_ops text_markup = {
	.kind = MARKUP_TEXT, .arrow = "->", .code_mark = "", .escape = put_visible,
	.prose = text_prose, .style = text_style, .block = text_block, .table = text_table,
	.row = text_row, .cell = text_cell, .class_name = text_class_name, .flow_id = text_flow_id,
	.count = text_count, .story = text_story, .verdict = text_verdict, .ladder = text_ladder,
};

/* --- head and foot ----------------------------------------------------------------------------- */

/* The capture files, then frames, flows and the time span. */
static void text_head(struct markup *m, const struct outline *o)
{
	const struct run_summary *s = o->summary;
	struct rbuf *b = m->b;
	unsigned more;

	text_style(m, STYLE_STRONG, true);
	RBUF_LIT(b, TCPMORTEM_NAME " " TCPMORTEM_VERSION ": ");
	more = outline_paths(m, s, 8, true);
	if (more) {
		RBUF_LIT(b, " and ");
		rbuf_u64(b, more);
		RBUF_LIT(b, " more");
	}
	text_style(m, STYLE_STRONG, false);
	rbuf_putc(b, '\n');

	rbuf_u64(b, s->frames);
	rbuf_puts(b, s->frames == 1 ? " frame, " : " frames, ");
	rbuf_u64(b, s->flows);
	rbuf_puts(b, s->flows == 1 ? " flow" : " flows");
	if (s->flows_evicted != 0) {
		RBUF_LIT(b, " (");
		rbuf_u64(b, s->flows_evicted);
		RBUF_LIT(b, " evicted)");
	}
	if (s->late_segments != 0) {
		RBUF_LIT(b, ", ");
		rbuf_u64(b, s->late_segments);
		RBUF_LIT(b, " late segments of finished connections");
	}
	if (s->frames != 0 || s->last_ts_ns != 0) {
		RBUF_LIT(b, ", ");
		put_utc(b, s->first_ts_ns, s->ts_nano);
		RBUF_LIT(b, " to ");
		put_utc(b, s->last_ts_ns, s->ts_nano);
		RBUF_LIT(b, " UTC (");
		/* Unsigned difference: no overflow whatever the input says. */
		rbuf_ts(b, (int64_t)((uint64_t)s->last_ts_ns - (uint64_t)s->first_ts_ns), s->ts_nano);
		RBUF_LIT(b, " s)");
	}
	rbuf_putc(b, '\n');
}

/* Where the stories are. */
static void text_foot(struct markup *m, const struct outline *o)
{
	if (o->digest->n_noteworthy == 0)
		return;
	rbuf_putc(m->b, '\n');
	text_style(m, STYLE_DIM, true);
	M_LIT(m, "a connection's story and ladder diagram: tcpmortem --flow ID FILE...");
	text_style(m, STYLE_DIM, false);
	rbuf_putc(m->b, '\n');
}

static const struct outline_frame text_frame = { text_head, text_foot, NULL };

/* --- the writer -------------------------------------------------------------------------------- */

static int text_flow(struct writer *w, const struct flow_record *f)
{
	struct text_writer *tw = (struct text_writer *)w;
	struct rbuf *out = &tw->r.out;

	if (!tw->r.opt.stories)
		return digest_add(&tw->r.digest, f);
	if (!f->segments || !f->segments->selected)
		return 0;
	rbuf_clear(out);
	outline_story(&tw->r.m, f);
	if (out->failed || tw->r.scratch.failed) {
		errno = ENOMEM;
		return -1;
	}
	fwrite(out->data, 1, out->len, w->out); /* errors: ferror() */
	return ferror(w->out) ? -1 : 0;
}

static int text_end(struct writer *w, const struct run_summary *s)
{
	struct text_writer *tw = (struct text_writer *)w;
	struct markup *m = &tw->r.m;
	struct outline o = { .frame = &text_frame, .summary = s };

	if (!tw->r.opt.stories)
		return readable_summary(w, s, &o, tw->r.scratch.failed);
	/* After the stories, the capture facts. */
	rbuf_clear(m->b);
	rbuf_putc(m->b, '\n');
	text_style(m, STYLE_DIM, true);
	M_LIT(m, "-- ");
	text_style(m, STYLE_DIM, false);
	text_head(m, &o);
	outline_captures(m, &o);
	return writer_put(w, m->b, tw->r.scratch.failed);
}

static void text_init(struct writer *w, const struct writer_options *opt)
{
	readable_init(w, opt, &text_markup);
	((struct text_writer *)w)->indent = "";
}

const struct writer_ops report_text_ops = { .size = sizeof(struct text_writer), .init = text_init,
	.flow = text_flow, .end = text_end, .release = readable_release };
