/* ladder.c - ladder diagrams in text and SVG (ladder.h).
 *
 * Text layout, for each row (all widths computed over the rows first, so columns line up):
 *
 *     <indent><time, right-aligned>  <#frame, right-aligned>  |<arrow, W wide>|  <note>
 *
 * A client-to-server arrow is "-- LABEL ----->", a server-to-client one "<----- LABEL --", both
 * exactly W characters; W fits the longest label and the two endpoint headings. A gap row has ':'
 * where the bars are and says how many segments and bytes are not shown.
 *
 * SVG layout: two vertical lines; each segment a slanted arrow from the sender's line to the
 * receiver's, one row lower, labelled above its middle; times and frame numbers on the left,
 * notes on the right; rows that are evidence are shaded. Arrowheads are drawn as polygons (no
 * markers, so several diagrams can share one HTML document without id clashes).
 */
#include "ladder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rtext.h"
#include "story.h"

#define ARROW_MIN 40
#define SGR_RESET "\x1b[0m"

/* The label after the flags: " seq=.. ack=.. len=.. win=..", the ack only when the ACK flag is
 * set and the window only when it is known. */
static void label_numbers(struct rbuf *b, const struct ladder_seg *s)
{
	RBUF_LIT(b, " seq=");
	rbuf_u64(b, s->seq);
	if (s->flags & TCP_ACK) {
		RBUF_LIT(b, " ack=");
		rbuf_u64(b, s->ack);
	}
	RBUF_LIT(b, " len=");
	rbuf_u64(b, s->len);
	if (!(s->marks & LADDER_NO_WINDOW)) {
		RBUF_LIT(b, " win=");
		rbuf_u64(b, s->window);
	}
}

void ladder_label(struct rbuf *b, const struct ladder_seg *s)
{
	char flags[32];

	rbuf_puts(b, tcp_flags_format(s->flags, flags, sizeof flags));
	label_numbers(b, s);
}

void ladder_caption(struct rbuf *b, const struct segment_list *l)
{
	if (l->n >= l->total) {
		RBUF_LIT(b, "all ");
		put_grouped(b, l->n);
		rbuf_puts(b, l->n == 1 ? " segment" : " segments");
		return;
	}
	put_grouped(b, l->n);
	RBUF_LIT(b, " of ");
	put_grouped(b, l->total);
	RBUF_LIT(b, " segments: the first, the FINs and resets, the evidence and the last");
}

/* The row's note: the evidence note, then what the collector marked. */
static void put_note(struct rbuf *b, const struct flow_record *r, const struct ladder_seg *s)
{
	const char *note = story_note(r, s->frame);
	size_t start = b->len;

	if (note)
		rbuf_puts(b, note);
	if ((s->marks & LADDER_RETRANSMISSION) && !(note && strstr(note, "retransmission"))) {
		if (b->len != start)
			RBUF_LIT(b, "; ");
		RBUF_LIT(b, "retransmission");
	}
	if (s->marks & LADDER_TRUNCATED) {
		if (b->len != start)
			RBUF_LIT(b, "; ");
		RBUF_LIT(b, "truncated by the capture");
	}
}

/* What colours a segment's arrow, in order of precedence. */
enum seg_kind { SEG_RST, SEG_FIN, SEG_SYN, SEG_DATA, SEG_BARE };

static enum seg_kind seg_kind(const struct ladder_seg *s)
{
	if (s->flags & TCP_RST)
		return SEG_RST;
	if (s->flags & TCP_FIN)
		return SEG_FIN;
	if (s->flags & TCP_SYN)
		return SEG_SYN;
	return s->len > 0 ? SEG_DATA : SEG_BARE;
}

/* ANSI colour of a segment's arrow (none for a bare ACK). */
static const char *seg_sgr(const struct ladder_seg *s)
{
	static const char *const sgr[] = {
		[SEG_RST] = "\x1b[1;31m", [SEG_FIN] = "\x1b[33m", [SEG_SYN] = "\x1b[32m",
		[SEG_DATA] = "\x1b[36m", [SEG_BARE] = NULL,
	};

	return sgr[seg_kind(s)];
}

static void spaces(struct rbuf *b, size_t n)
{
	while (n-- > 0)
		rbuf_putc(b, ' ');
}

static void dashes(struct rbuf *b, size_t n)
{
	while (n-- > 0)
		rbuf_putc(b, '-');
}

/* ladder_label's length, computed rather than formatted. */
static size_t label_len(const struct ladder_seg *s)
{
	char flags[32];
	size_t n = strlen(tcp_flags_format(s->flags, flags, sizeof flags));

	n += 5 + digits_of(s->seq);
	if (s->flags & TCP_ACK)
		n += 5 + digits_of(s->ack);
	n += 5 + digits_of(s->len);
	if (!(s->marks & LADDER_NO_WINDOW))
		n += 5 + digits_of(s->window);
	return n;
}

static size_t time_len(int64_t ns, bool nano)
{
	char text[TS_TEXT_MAX];
	char *p = ts_digits(ns, nano, text + sizeof text);

	return (size_t)(text + sizeof text - p);
}

/* A gap row goes before seg[i] when segments were left out right before it. */
static bool gap_before(const struct segment_list *l, uint32_t i)
{
	return l->seg[i].gap != 0 || (l->seg[i].marks & LADDER_GAP_SHARED);
}

static void gap_text(struct rbuf *b, const struct segment_list *l, uint32_t i)
{
	const struct ladder_seg *s = &l->seg[i];

	if (s->gap == 0) {
		RBUF_LIT(b, "...");
		return;
	}
	RBUF_LIT(b, "... ");
	put_grouped(b, s->gap);
	rbuf_puts(b, s->gap == 1 ? " segment" : " segments");
	if (s->gap_bytes) {
		RBUF_LIT(b, ", ");
		put_grouped(b, s->gap_bytes);
		RBUF_LIT(b, " bytes");
	}
	RBUF_LIT(b, " not shown");
	if (i + 1 < l->n && (l->seg[i + 1].marks & LADDER_GAP_SHARED)) {
		/* The count covers the gaps up to the end of the run of shared ones. */
		uint32_t last = i + 1;

		while (last + 1 < l->n && (l->seg[last + 1].marks & LADDER_GAP_SHARED))
			last++;
		RBUF_LIT(b, " between frames ");
		rbuf_u64(b, i > 0 ? l->seg[i - 1].frame : s->frame);
		RBUF_LIT(b, " and ");
		rbuf_u64(b, l->seg[last].frame);
	}
	RBUF_LIT(b, " ...");
}

void ladder_text(struct rbuf *b, const struct flow_record *r, const char *indent, bool color)
{
	const struct segment_list *l = r->segments;
	size_t wt = 1, wf = 1, w = ARROW_MIN, lead;
	char head_l[80], head_r[80];
	struct rbuf gap = { 0 }, note = { 0 };

	if (!l || l->n == 0)
		return;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct ladder_seg *s = &l->seg[i];
		size_t n = time_len(s->ts_ns - r->first_ts_ns, r->ts_nano);

		if (n > wt)
			wt = n;
		if (1 + digits_of(s->frame) > wf)
			wf = 1 + digits_of(s->frame);
		if (label_len(s) + 8 > w)
			w = label_len(s) + 8;
	}
	for (int k = FROM_CLIENT; k <= FROM_SERVER; k++) {
		const struct flow_endpoint *e = k == FROM_CLIENT ? &r->client : &r->server;
		char ip[48];

		ip_addr_format(&e->addr, ip, sizeof ip);
		snprintf(k == FROM_CLIENT ? head_l : head_r, sizeof head_l,
		         e->addr.family == 6 ? "%s [%s]:%u" : "%s %s:%u", side_word((unsigned)k), ip,
		         (unsigned)e->port);
	}
	if (strlen(head_l) + strlen(head_r) + 6 > w + 2)
		w = strlen(head_l) + strlen(head_r) + 4;
	for (uint32_t i = 0; i < l->n; i++) {
		if (!gap_before(l, i))
			continue;
		rbuf_clear(&gap);
		gap_text(&gap, l, i);
		if (gap.len + 4 > w)
			w = gap.len + 4;
	}
	lead = wt + 2 + wf + 2; /* column of the first bar */

	/* Headings: "client ..." from the first bar, "server ..." ending on the second. */
	rbuf_puts(b, indent);
	spaces(b, lead);
	rbuf_puts(b, head_l);
	spaces(b, w + 2 - strlen(head_l) - strlen(head_r));
	rbuf_puts(b, head_r);
	rbuf_putc(b, '\n');

	for (uint32_t i = 0; i < l->n; i++) {
		const struct ladder_seg *s = &l->seg[i];
		const char *sgr = color ? seg_sgr(s) : NULL;
		size_t n = label_len(s);

		if (gap_before(l, i)) {
			size_t left;

			rbuf_clear(&gap);
			gap_text(&gap, l, i);
			left = (w - gap.len) / 2;

			rbuf_puts(b, indent);
			spaces(b, lead);
			rbuf_putc(b, ':');
			spaces(b, left);
			if (color)
				RBUF_LIT(b, "\x1b[2m");
			rbuf_put(b, gap.data, gap.len);
			if (color)
				RBUF_LIT(b, SGR_RESET);
			spaces(b, w - left - gap.len);
			rbuf_putc(b, ':');
			rbuf_putc(b, '\n');
		}
		rbuf_puts(b, indent);
		spaces(b, wt - time_len(s->ts_ns - r->first_ts_ns, r->ts_nano));
		put_seconds(b, s->ts_ns - r->first_ts_ns, r->ts_nano);
		RBUF_LIT(b, "  ");
		spaces(b, wf - 1 - digits_of(s->frame));
		rbuf_putc(b, '#');
		rbuf_u64(b, s->frame);
		RBUF_LIT(b, "  |");
		if (sgr)
			rbuf_puts(b, sgr);
		if (s->from == FROM_CLIENT) {
			RBUF_LIT(b, "-- ");
			ladder_label(b, s);
			rbuf_putc(b, ' ');
			dashes(b, w - n - 5);
			rbuf_putc(b, '>');
		} else {
			rbuf_putc(b, '<');
			dashes(b, w - n - 5);
			rbuf_putc(b, ' ');
			ladder_label(b, s);
			RBUF_LIT(b, " --");
		}
		if (sgr)
			RBUF_LIT(b, SGR_RESET);
		rbuf_putc(b, '|');
		rbuf_clear(&note);
		put_note(&note, r, s);
		if (note.len) {
			bool bold = color && story_note(r, s->frame);

			RBUF_LIT(b, "  ");
			if (bold)
				RBUF_LIT(b, "\x1b[1m");
			rbuf_put(b, note.data, note.len);
			if (bold)
				RBUF_LIT(b, SGR_RESET);
		}
		rbuf_putc(b, '\n');
	}
	if (gap.failed || note.failed)
		b->failed = true;
	rbuf_free(&gap);
	rbuf_free(&note);
}

/* --- SVG --------------------------------------------------------------------------------------- */

#define SVG_WIDTH LADDER_SVG_WIDTH
#define X_TIME 96     /* right edge of the time column */
#define X_FRAME 150   /* right edge of the frame column */
#define X_CLIENT 200
#define X_SERVER 680
#define X_NOTE 700
#define ROW_H 34      /* a row: the label on top, the arrow below it */
#define SLANT 8       /* how far an arrow drops from sender to receiver */
#define FONT "ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace"
#define SANS "system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"
#define WRAP_CHARS 128

static const char *seg_color(const struct ladder_seg *s)
{
	static const char *const color[] = {
		[SEG_RST] = "#cf222e", [SEG_FIN] = "#bc4c00", [SEG_SYN] = "#1a7f37",
		[SEG_DATA] = "#0969da", [SEG_BARE] = "#6e7781",
	};

	return color[seg_kind(s)];
}

static void put_int(struct rbuf *b, long v)
{
	char t[24];

	snprintf(t, sizeof t, "%ld", v);
	rbuf_puts(b, t);
}

static void put_num(struct rbuf *b, double v)
{
	char t[32];

	snprintf(t, sizeof t, "%.1f", v);
	rbuf_puts(b, t);
}

/* Writes `text` (UTF-8) as <tspan> lines of at most WRAP_CHARS characters, broken at spaces.
 * Returns the number of lines; with b NULL, only counts them. */
static int wrapped(struct rbuf *b, const char *text, size_t n, int x, int y, int line_h)
{
	int lines = 0;
	size_t i = 0;

	while (i < n) {
		size_t j = wrap_end(text, n, i, WRAP_CHARS);

		if (b) {
			RBUF_LIT(b, "<tspan x=\"");
			put_int(b, x);
			RBUF_LIT(b, "\" y=\"");
			put_int(b, y + lines * line_h);
			RBUF_LIT(b, "\">");
			put_xml(b, text + i, j - i);
			RBUF_LIT(b, "</tspan>");
		}
		lines++;
		i = wrap_next(text, n, j);
	}
	return lines;
}

static void svg_text(struct rbuf *b, int x, int y, const char *anchor, const char *style)
{
	RBUF_LIT(b, "<text x=\"");
	put_int(b, x);
	RBUF_LIT(b, "\" y=\"");
	put_int(b, y);
	RBUF_LIT(b, "\"");
	if (anchor) {
		RBUF_LIT(b, " text-anchor=\"");
		rbuf_puts(b, anchor);
		RBUF_LIT(b, "\"");
	}
	if (style) {
		rbuf_putc(b, ' ');
		rbuf_puts(b, style);
	}
	rbuf_putc(b, '>');
}

static void svg_arrow(struct rbuf *b, struct rbuf *scratch, const struct flow_record *r,
                      const struct ladder_seg *s, int y)
{
	int x1 = s->from == FROM_CLIENT ? X_CLIENT : X_SERVER;
	int x2 = s->from == FROM_CLIENT ? X_SERVER : X_CLIENT;
	const char *color = seg_color(s);
	int ya = y + 17; /* `y` is the row's top; the arrow starts here */
	double dx = x2 - x1, dy = SLANT, len = sqrt(dx * dx + dy * dy);
	double ux = dx / len, uy = dy / len;           /* unit vector along the arrow */
	double tipx = x2 - ux * 1.5, tipy = ya + SLANT - uy * 1.5;
	double bx = tipx - ux * 10, by = tipy - uy * 10; /* base of the head */
	const char *note = story_note(r, s->frame);

	svg_text(b, X_TIME, ya + 8, "end", "fill=\"#57606a\"");
	RBUF_LIT(b, "+");
	put_seconds(b, s->ts_ns - r->first_ts_ns, r->ts_nano);
	RBUF_LIT(b, "</text>");
	svg_text(b, X_FRAME, ya + 8, "end", "fill=\"#57606a\"");
	rbuf_putc(b, '#');
	rbuf_u64(b, s->frame);
	RBUF_LIT(b, "</text>");

	RBUF_LIT(b, "<g stroke=\"");
	rbuf_puts(b, color);
	RBUF_LIT(b, "\" fill=\"");
	rbuf_puts(b, color);
	RBUF_LIT(b, "\"><line x1=\"");
	put_int(b, x1);
	RBUF_LIT(b, "\" y1=\"");
	put_int(b, ya);
	RBUF_LIT(b, "\" x2=\"");
	put_num(b, bx);
	RBUF_LIT(b, "\" y2=\"");
	put_num(b, by);
	RBUF_LIT(b, "\" stroke-width=\"");
	rbuf_puts(b, (s->flags & (TCP_RST | TCP_FIN | TCP_SYN)) ? "2" : "1.5");
	RBUF_LIT(b, "\"/><polygon stroke=\"none\" points=\"");
	put_num(b, tipx);
	rbuf_putc(b, ',');
	put_num(b, tipy);
	rbuf_putc(b, ' ');
	put_num(b, bx - uy * 4.5);
	rbuf_putc(b, ',');
	put_num(b, by + ux * 4.5);
	rbuf_putc(b, ' ');
	put_num(b, bx + uy * 4.5);
	rbuf_putc(b, ',');
	put_num(b, by - ux * 4.5);
	RBUF_LIT(b, "\"/></g>");

	svg_text(b, (X_CLIENT + X_SERVER) / 2, y + 14, "middle", NULL);
	RBUF_LIT(b, "<tspan font-weight=\"bold\" fill=\"");
	rbuf_puts(b, color);
	RBUF_LIT(b, "\">");
	{
		char flags[32];

		rbuf_puts(b, tcp_flags_format(s->flags, flags, sizeof flags));
	}
	RBUF_LIT(b, "</tspan>");
	label_numbers(b, s);
	RBUF_LIT(b, "</text>");

	rbuf_clear(scratch);
	put_note(scratch, r, s);
	if (scratch->len) {
		svg_text(b, X_NOTE, ya + 8, NULL,
		         note ? "class=\"note\" font-weight=\"bold\"" : "class=\"note\"");
		put_xml(b, scratch->data, scratch->len);
		RBUF_LIT(b, "</text>");
	}
}

/* "Connection #ID", `sep`, then "client → server" (the SVG's title and heading). */
static void put_conn_name(struct rbuf *b, const struct flow_record *r, const char *sep)
{
	RBUF_LIT(b, "Connection #");
	rbuf_u64(b, r->id);
	rbuf_puts(b, sep);
	put_endpoint(b, &r->client);
	RBUF_LIT(b, " \xe2\x86\x92 ");
	put_endpoint(b, &r->server);
}

int ladder_svg(struct rbuf *b, const struct flow_record *r, bool standalone, int y_attr)
{
	const struct segment_list *l = r->segments;
	uint32_t n = l ? l->n : 0;
	int rows = (int)n + (n == 0); /* an empty diagram says so on one row */
	int top = standalone ? 100 : 18;
	int y0 = top + 24;
	int bottom, height;
	struct rbuf story = { 0 };
	struct rbuf verdict = { 0 };
	struct rbuf scratch = { 0 };

	for (uint32_t i = 0; i < n; i++)
		rows += gap_before(l, i);
	bottom = y0 + rows * ROW_H;
	height = bottom + 12;

	story_verdict(&verdict, r);
	if (standalone) {
		story_explain(&story, r);
		/* Each paragraph wraps to a few lines; count them for the height. */
		size_t start = 0;
		for (size_t i = 0; i < story.len; i++) {
			if (story.data[i] != '\n')
				continue;
			height += 18 * wrapped(NULL, story.data + start, i - start, 0, 0, 0) + 6;
			start = i + 1;
		}
		height += 60;
	}
	RBUF_LIT(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ladder\" width=\"");
	put_int(b, SVG_WIDTH);
	RBUF_LIT(b, "\" height=\"");
	put_int(b, height);
	RBUF_LIT(b, "\" viewBox=\"0 0 ");
	put_int(b, SVG_WIDTH);
	rbuf_putc(b, ' ');
	put_int(b, height);
	if (y_attr) {
		RBUF_LIT(b, "\" y=\"");
		put_int(b, y_attr);
	}
	RBUF_LIT(b, "\" role=\"img\" font-family=\"" FONT "\" font-size=\"12\">\n");
	RBUF_LIT(b, "<title>");
	put_conn_name(b, r, " ");
	RBUF_LIT(b, ": ");
	put_xml(b, verdict.data, verdict.len);
	RBUF_LIT(b, "</title>\n");
	RBUF_LIT(b, "<style>.note{fill:#24292f;font-family:" SANS "}"
	            ".head{font-family:" SANS ";fill:#24292f}"
	            ".story{font-family:" SANS ";font-size:13px;fill:#24292f}</style>\n");
	RBUF_LIT(b, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
	if (standalone) {
		svg_text(b, 16, 30, NULL, "class=\"head\" font-size=\"18\" font-weight=\"bold\"");
		put_conn_name(b, r, "  ");
		RBUF_LIT(b, "</text>\n");
		svg_text(b, 16, 54, NULL, "class=\"head\" font-size=\"14\"");
		put_xml(b, verdict.data, verdict.len);
		if (r->capture) {
			RBUF_LIT(b, " \xc2\xb7 ");
			put_xml_str(b, r->capture);
		}
		RBUF_LIT(b, "</text>\n");
		svg_text(b, 16, 76, NULL, "class=\"head\" font-size=\"12\" fill=\"#57606a\"");
		RBUF_LIT(b, "time: seconds since the connection's first packet; seq/ack relative to each "
		            "side's initial sequence number</text>\n");
	}
	/* Evidence rows shaded, under everything else. */
	{
		int y = y0;

		for (uint32_t i = 0; i < n; i++) {
			y += gap_before(l, i) ? ROW_H : 0;
			if (story_note(r, l->seg[i].frame)) {
				RBUF_LIT(b, "<rect x=\"4\" y=\"");
				put_int(b, y + 1);
				RBUF_LIT(b, "\" width=\"");
				put_int(b, SVG_WIDTH - 8);
				RBUF_LIT(b, "\" height=\"");
				put_int(b, ROW_H - 2);
				RBUF_LIT(b, "\" rx=\"4\" fill=\"#fff8c5\"/>\n");
			}
			y += ROW_H;
		}
	}
	/* Column heads and the two lines. */
	for (int k = FROM_CLIENT; k <= FROM_SERVER; k++) {
		int x = k == FROM_CLIENT ? X_CLIENT : X_SERVER;

		svg_text(b, x, top, "middle", "class=\"head\" font-weight=\"bold\" font-size=\"13\"");
		rbuf_puts(b, side_word((unsigned)k));
		RBUF_LIT(b, "</text>");
		svg_text(b, x, top + 15, "middle", "fill=\"#57606a\"");
		put_endpoint(b, k == FROM_CLIENT ? &r->client : &r->server);
		RBUF_LIT(b, "</text>");
		RBUF_LIT(b, "<line x1=\"");
		put_int(b, x);
		RBUF_LIT(b, "\" y1=\"");
		put_int(b, top + 22);
		RBUF_LIT(b, "\" x2=\"");
		put_int(b, x);
		RBUF_LIT(b, "\" y2=\"");
		put_int(b, bottom);
		RBUF_LIT(b, "\" stroke=\"#24292f\" stroke-width=\"2\"/>\n");
	}
	if (n == 0) {
		svg_text(b, (X_CLIENT + X_SERVER) / 2, y0, "middle", "class=\"note\" fill=\"#57606a\"");
		RBUF_LIT(b, "segments not collected</text>\n");
	}
	int y = y0;
	for (uint32_t i = 0; i < n; i++) {
		if (gap_before(l, i)) {
			for (int k = 0; k < 2; k++) { /* break marks on both lines */
				RBUF_LIT(b, "<rect x=\"");
				put_int(b, (k ? X_SERVER : X_CLIENT) - 6);
				RBUF_LIT(b, "\" y=\"");
				put_int(b, y + 8);
				RBUF_LIT(b, "\" width=\"12\" height=\"18\" fill=\"#ffffff\"/>");
			}
			rbuf_clear(&scratch);
			gap_text(&scratch, l, i);
			svg_text(b, (X_CLIENT + X_SERVER) / 2, y + 22, "middle",
			         "class=\"note\" font-style=\"italic\" fill=\"#57606a\"");
			put_xml(b, scratch.data, scratch.len);
			RBUF_LIT(b, "</text>\n");
			y += ROW_H;
		}
		svg_arrow(b, &scratch, r, &l->seg[i], y);
		rbuf_putc(b, '\n');
		y += ROW_H;
	}
	if (standalone) {
		int ty = bottom + 36;
		size_t start = 0;

		svg_text(b, 16, ty, NULL, "class=\"story\" font-weight=\"bold\" font-size=\"14\"");
		RBUF_LIT(b, "What happened</text>\n");
		ty += 22;
		for (size_t i = 0; i < story.len; i++) {
			if (story.data[i] != '\n')
				continue;
			RBUF_LIT(b, "<text class=\"story\">");
			ty += 18 * wrapped(b, story.data + start, i - start, 16, ty, 18) + 6;
			RBUF_LIT(b, "</text>\n");
			start = i + 1;
		}
	}
	RBUF_LIT(b, "</svg>\n");
	if (story.failed || verdict.failed || scratch.failed)
		b->failed = true;
	rbuf_free(&story);
	rbuf_free(&verdict);
	rbuf_free(&scratch);
	return height;
}
