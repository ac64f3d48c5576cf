/* html_writer.c - `-f html`: one self-contained HTML file to open in a browser or attach.
 *
 * Everything is inline: CSS in <style>, the chart and the ladder diagrams as inline <svg>, a few
 * lines of script in <script>; no URL is ever fetched (there is no src= or external href= at
 * all). Sections: the capture at a glance (cards), a bar chart of the close classes, the class ×
 * closer table, the top reset sources, the slowest closes, the connections stuck half-closed, a
 * sortable and filterable table of the connections, the story and ladder diagram of each
 * noteworthy connection (or of the --flow selection), and the capture files with what was
 * skipped. The table sorts on a header click, or from the address: report.html#sort=bytes-desc.
 *
 * The sections and the stories are the readable reports' skeleton (outline.h); this file is the
 * HTML markup, the page around them (head, cards, chart, footer) and the table of connections.
 *
 * Written at the end (the summary comes first), from bounded state: at most ROWS_MAX table rows
 * (when full, a noteworthy connection takes the place of an orderly one) and STORIES_MAX stories,
 * rendered as the connection finishes (its record and segments are gone afterwards) and kept
 * for the lowest ids. Every untrusted string goes through put_xml, in text and attributes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ladder.h"
#include "outline.h"
#include "rbuf.h"
#include "rtext.h"
#include "writer_impl.h"

#define ROWS_MAX 5000
#define STORIES_MAX 30

struct html_row {
	uint64_t id;
	struct flow_endpoint client, server;
	enum close_class close_class;
	enum closer_side closer;
	int64_t duration_ns;
	uint64_t packets, bytes;
	bool has_story;
	struct flow_reason reason;
};

struct html_story {
	uint64_t id;
	struct rbuf html;
};

struct html_writer {
	struct readable r;     /* the page is built in r.out at the end */
	struct html_row *rows;
	size_t n_rows, rows_cap;
	size_t replace_from;   /* where to look for an orderly row to replace */
	uint64_t rows_dropped;
	struct html_story stories[STORIES_MAX];
	unsigned n_stories;
	uint64_t story_candidates;
	bool any_selected;
	bool failed;
};

static struct html_writer *writer_of(struct markup *m)
{
	return (struct html_writer *)(void *)((char *)m - offsetof(struct html_writer, r.m));
}

/* --- pieces ----------------------------------------------------------------------------------- */

static const char *family(enum close_class c)
{
	switch (c) {
	case CLOSE_FIN_GRACEFUL:
	case CLOSE_FIN_SIMULTANEOUS:
		return "fin";
	case CLOSE_RST_UNREAD_DATA:
	case CLOSE_RST_ABORT:
	case CLOSE_RST_AFTER_CLOSE:
	case CLOSE_RST_PEER_RESTARTED:
	case CLOSE_RST_REFUSED:
		return "rst";
	case CLOSE_HALF_CLOSED_AT_END:
	case CLOSE_SYN_UNANSWERED:
	case CLOSE_KEEPALIVE_TIMEOUT:
	case CLOSE_PEER_VANISHED:
		return "warn";
	case CLOSE_OPEN_AT_END:
	case CLOSE_IDLE_AT_END:
	case CLOSE_CLASS_COUNT:
		break;
	}
	return "open";
}

static const char *family_color(const char *f)
{
	if (strcmp(f, "fin") == 0)
		return "#1a7f37";
	if (strcmp(f, "rst") == 0)
		return "#cf222e";
	if (strcmp(f, "warn") == 0)
		return "#bf8700";
	return "#0969da";
}

static void badge(struct rbuf *b, enum close_class c)
{
	RBUF_LIT(b, "<span class=\"badge c-");
	rbuf_puts(b, family(c));
	RBUF_LIT(b, "\">");
	rbuf_puts(b, close_class_name(c));
	RBUF_LIT(b, "</span>");
}

static void endpoint_cell(struct rbuf *b, const struct flow_endpoint *e)
{
	RBUF_LIT(b, "<td class=\"mono\">");
	put_endpoint(b, e); /* digits, dots, colons, brackets: nothing to escape */
	RBUF_LIT(b, "</td>");
}

static void num_cell(struct rbuf *b, uint64_t v)
{
	RBUF_LIT(b, "<td class=\"n\" data-v=\"");
	rbuf_u64(b, v);
	RBUF_LIT(b, "\">");
	put_grouped(b, v);
	RBUF_LIT(b, "</td>");
}

/* --- per flow ---------------------------------------------------------------------------------- */

/* Keeps the story of `r` if it is among the STORIES_MAX lowest ids. Returns whether it was. */
static bool keep_story(struct html_writer *hw, const struct flow_record *r)
{
	struct html_story *slot = NULL;

	hw->story_candidates++;
	if (hw->n_stories < STORIES_MAX) {
		slot = &hw->stories[hw->n_stories++];
	} else {
		for (unsigned i = 0; i < STORIES_MAX; i++)
			if (!slot || hw->stories[i].id > slot->id)
				slot = &hw->stories[i];
		if (r->id >= slot->id)
			return false;
		/* the replaced story's row no longer links to it */
		for (size_t i = 0; i < hw->n_rows; i++)
			if (hw->rows[i].id == slot->id)
				hw->rows[i].has_story = false;
	}
	slot->id = r->id;
	rbuf_clear(&slot->html);
	hw->r.m.b = &slot->html;
	outline_story(&hw->r.m, r);
	if (slot->html.failed)
		hw->failed = true;
	return true;
}

/* A row for `r`: appended, or (when full) in place of an orderly connection's row. */
static struct html_row *row_slot(struct html_writer *hw, const struct flow_record *r)
{
	if (hw->n_rows == hw->rows_cap && hw->rows_cap < ROWS_MAX) {
		size_t cap = hw->rows_cap ? hw->rows_cap * 2 : 256;
		struct html_row *p;

		if (cap > ROWS_MAX)
			cap = ROWS_MAX;
		p = realloc(hw->rows, cap * sizeof *p);
		if (!p) {
			hw->failed = true;
			return NULL;
		}
		hw->rows = p;
		hw->rows_cap = cap;
	}
	if (hw->n_rows < hw->rows_cap)
		return &hw->rows[hw->n_rows++];
	hw->rows_dropped++;
	if (!class_is_noteworthy(r->close_class))
		return NULL;
	for (; hw->replace_from < hw->n_rows; hw->replace_from++)
		if (!class_is_noteworthy(hw->rows[hw->replace_from].close_class))
			return &hw->rows[hw->replace_from++];
	return NULL;
}

static int html_flow(struct writer *w, const struct flow_record *f)
{
	struct html_writer *hw = (struct html_writer *)w;
	bool selected = f->segments && f->segments->selected;
	bool story = false;
	struct html_row *row;

	if (selected && !hw->any_selected) {
		/* A --flow selection: its stories replace the noteworthy ones. */
		for (unsigned i = 0; i < hw->n_stories; i++)
			rbuf_free(&hw->stories[i].html);
		for (size_t i = 0; i < hw->n_rows; i++)
			hw->rows[i].has_story = false;
		hw->n_stories = 0;
		hw->story_candidates = 0;
		hw->any_selected = true;
	}
	if (hw->any_selected ? selected : class_is_noteworthy(f->close_class))
		story = keep_story(hw, f);
	row = row_slot(hw, f);
	if (row) {
		row->id = f->id;
		row->client = f->client;
		row->server = f->server;
		row->close_class = f->close_class;
		row->closer = f->closer;
		row->duration_ns = f->last_ts_ns - f->first_ts_ns;
		row->packets = f->packets[0] + f->packets[1];
		row->bytes = f->bytes[0] + f->bytes[1];
		row->has_story = story;
		row->reason = f->reason;
	}
	if (digest_add(&hw->r.digest, f) != 0)
		return -1;
	if (hw->failed) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* --- the document ------------------------------------------------------------------------------ */

static const char style[] =
	":root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}"
	"*{box-sizing:border-box}"
	"body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',"
	"sans-serif;color:var(--fg);background:#fff}"
	"header{background:#1f2328;color:#fff;padding:22px 32px 18px}"
	"header h1{margin:0;font-size:22px;font-weight:600}"
	"header p{margin:6px 0 0;color:#d1d9e0;overflow-wrap:anywhere}header a{color:#9ecbff}"
	"main{padding:4px 32px 48px;max-width:1280px}"
	"section{margin-top:30px}"
	"h2{font-size:18px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}"
	"h3{font-size:16px;margin:0 0 4px}h4{margin:14px 0 4px;font-size:14px}"
	".cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:22px}"
	".card{border:1px solid var(--line);border-radius:8px;padding:10px 18px;min-width:150px;"
	"background:var(--soft)}"
	".card b{display:block;font-size:24px;line-height:1.2}.card span{color:var(--muted)}"
	".card.alert b{color:#cf222e}"
	".row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}"
	"table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
	"th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}"
	"th{background:var(--soft);font-weight:600;white-space:nowrap}"
	".n{text-align:right;white-space:nowrap}"
	"tr.total td{font-weight:600}"
	"#flow-table{width:100%}td.reason{min-width:220px;color:var(--muted)}"
	"td.mono{white-space:nowrap}"
	"th.sort{cursor:pointer;user-select:none}th.sort:hover{background:#eaeef2}"
	"th.sort::after{content:' \\2195';color:#8c959f}"
	"th.asc::after{content:' \\25b2';color:var(--fg)}th.desc::after{content:' \\25bc';color:var(--fg)}"
	".mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',"
	"monospace;font-size:12.5px}"
	".badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;"
	"color:#fff;white-space:nowrap}"
	".c-fin{background:#1a7f37}.c-rst{background:#cf222e}.c-warn{background:#bf8700}"
	".c-open{background:#0969da}"
	".muted{color:var(--muted)}"
	"a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}"
	"#filter{font:inherit;padding:5px 10px;border:1px solid var(--line);border-radius:6px;"
	"width:320px;margin-bottom:10px}"
	".scroll{overflow-x:auto}"
	".story{border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:0 0 18px}"
	".story p{margin:4px 0;max-width:980px}"
	".story dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}"
	".story dt{font-weight:600}.story dd{margin:0}"
	".ladder-wrap{overflow-x:auto;margin:6px 0}.ladder-wrap svg{display:block}"
	"footer{margin-top:40px;color:var(--muted);font-size:12px}";

/* Sorting, filtering, #sort=KEY-asc|desc. Plain ES5, no globals. */
static const char script[] =
	"(function(){\n"
	"'use strict';\n"
	"document.documentElement.classList.add('js');\n"
	"var table=document.getElementById('flow-table');\n"
	"if(!table)return;\n"
	"var heads=table.tHead.rows[0].cells;\n"
	"function key(cell,num){var v=cell.getAttribute('data-v');"
	"return num?Number(v!==null?v:cell.textContent):cell.textContent.toLowerCase();}\n"
	"function sortBy(th,dir){\n"
	"  var body=table.tBodies[0],i=th.cellIndex,num=th.classList.contains('n');\n"
	"  var rows=Array.prototype.slice.call(body.rows);\n"
	"  rows.sort(function(a,b){var x=key(a.cells[i],num),y=key(b.cells[i],num);"
	"return (x<y?-1:x>y?1:0)*dir||(Number(a.cells[0].getAttribute('data-v'))-"
	"Number(b.cells[0].getAttribute('data-v')));});\n"
	"  rows.forEach(function(r){body.appendChild(r);});\n"
	"  Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc');"
	"h.removeAttribute('aria-sort');});\n"
	"  th.classList.add(dir>0?'asc':'desc');\n"
	"  th.setAttribute('aria-sort',dir>0?'ascending':'descending');\n"
	"}\n"
	"Array.prototype.forEach.call(heads,function(th){\n"
	"  th.classList.add('sort');\n"
	"  th.addEventListener('click',function(){sortBy(th,th.classList.contains('asc')?-1:1);});\n"
	"});\n"
	"var m=/sort=([a-z]+)-(asc|desc)/.exec(location.hash);\n"
	"if(m){var th=table.querySelector('th[data-key=\"'+m[1]+'\"]');"
	"if(th)sortBy(th,m[2]==='asc'?1:-1);}\n"
	"var f=document.getElementById('filter');\n"
	"if(f)f.addEventListener('input',function(){var q=f.value.toLowerCase();"
	"Array.prototype.forEach.call(table.tBodies[0].rows,function(r){"
	"r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});\n"
	"})();\n";

static void card(struct rbuf *b, uint64_t value, const char *label, bool alert)
{
	rbuf_puts(b, alert ? "<div class=\"card alert\"><b>" : "<div class=\"card\"><b>");
	put_grouped(b, value);
	RBUF_LIT(b, "</b><span>");
	rbuf_puts(b, label);
	RBUF_LIT(b, "</span></div>");
}

/* Horizontal bars, one per class that occurred, coloured by family. */
static void html_chart(struct markup *m, const uint64_t totals[CLOSE_CLASS_COUNT], uint64_t all)
{
	struct rbuf *b = m->b;
	const int label_w = 150, bar_w = 250, row_h = 26, width = 500;
	uint64_t max = 0;
	int rows = 0, y;

	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		if (totals[k] > max)
			max = totals[k];
		rows += totals[k] != 0;
	}
	if (rows == 0)
		return;
	RBUF_LIT(b, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"");
	rbuf_u64(b, (uint64_t)width);
	RBUF_LIT(b, "\" height=\"");
	rbuf_u64(b, (uint64_t)rows * (uint64_t)row_h + 8);
	RBUF_LIT(b, "\" role=\"img\" aria-label=\"connections per close class\" font-size=\"13\" "
	            "font-family=\"system-ui,'DejaVu Sans',sans-serif\">");
	y = 4;
	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		char t[96];
		int w;

		if (totals[k] == 0)
			continue;
		w = (int)((double)bar_w * (double)totals[k] / (double)max + 0.5);
		if (w < 2)
			w = 2;
		snprintf(t, sizeof t,
		         "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#1f2328\">", label_w - 8,
		         y + 17);
		rbuf_puts(b, t);
		rbuf_puts(b, close_class_name((enum close_class)k));
		snprintf(t, sizeof t, "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\" rx=\"3\" "
		                      "fill=\"",
		         label_w, y + 4, w);
		rbuf_puts(b, t);
		rbuf_puts(b, family_color(family((enum close_class)k)));
		snprintf(t, sizeof t, "\"/><text x=\"%d\" y=\"%d\" fill=\"#59636e\">", label_w + w + 8,
		         y + 17);
		rbuf_puts(b, t);
		put_grouped(b, totals[k]);
		RBUF_LIT(b, " (");
		put_share(b, totals[k], all);
		RBUF_LIT(b, ")</text>");
		y += row_h;
	}
	RBUF_LIT(b, "</svg>");
}

static void flow_link(struct rbuf *b, const struct html_writer *hw, uint64_t id)
{
	for (unsigned i = 0; i < hw->n_stories; i++) {
		if (hw->stories[i].id == id) {
			RBUF_LIT(b, "<a href=\"#flow-");
			rbuf_u64(b, id);
			RBUF_LIT(b, "\">#");
			rbuf_u64(b, id);
			RBUF_LIT(b, "</a>");
			return;
		}
	}
	rbuf_putc(b, '#');
	rbuf_u64(b, id);
}

static int by_row_id(const void *pa, const void *pb)
{
	const struct html_row *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

static int by_story_id(const void *pa, const void *pb)
{
	const struct html_story *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* Every connection kept (ROWS_MAX), sortable and filterable. */
static void html_connections(struct markup *m, const struct outline *o)
{
	struct html_writer *hw = writer_of(m);
	const struct run_summary *s = o->summary;
	struct rbuf *b = m->b;
	char reason[FLOW_REASON_MAX];
	if (hw->n_rows > 1) /* rows is NULL when there are none: no qsort(NULL, ...) */
		qsort(hw->rows, hw->n_rows, sizeof *hw->rows, by_row_id);
	RBUF_LIT(b, "<section id=\"flows\"><h2>Connections (");
	put_grouped(b, s->flows);
	RBUF_LIT(b, ")</h2>");
	if (hw->rows_dropped) {
		RBUF_LIT(b, "<p class=\"muted\">The table holds ");
		put_grouped(b, hw->n_rows);
		RBUF_LIT(b, " of them, noteworthy ones first; <code>-f csv</code> lists all.</p>");
	}
	RBUF_LIT(b, "<input id=\"filter\" type=\"search\" placeholder=\"Filter rows: address, class, "
	            "reason\xe2\x80\xa6\" aria-label=\"filter the connections\">"
	            "<div class=\"scroll\"><table id=\"flow-table\"><thead><tr>"
	            "<th class=\"n\" data-key=\"id\">#</th><th data-key=\"client\">client</th>"
	            "<th data-key=\"server\">server</th><th data-key=\"class\">class</th>"
	            "<th data-key=\"closer\">closer</th>"
	            "<th class=\"n\" data-key=\"duration\">duration</th>"
	            "<th class=\"n\" data-key=\"packets\">packets</th>"
	            "<th class=\"n\" data-key=\"bytes\">bytes</th><th data-key=\"reason\">reason</th>"
	            "</tr></thead><tbody>\n");
	for (size_t i = 0; i < hw->n_rows; i++) {
		const struct html_row *r = &hw->rows[i];

		RBUF_LIT(b, "<tr><td class=\"n\" data-v=\"");
		rbuf_u64(b, r->id);
		RBUF_LIT(b, "\">");
		if (r->has_story)
			flow_link(b, hw, r->id);
		else
			rbuf_u64(b, r->id);
		RBUF_LIT(b, "</td>");
		endpoint_cell(b, &r->client);
		endpoint_cell(b, &r->server);
		RBUF_LIT(b, "<td>");
		badge(b, r->close_class);
		RBUF_LIT(b, "</td><td>");
		rbuf_puts(b, closer_label(r->closer));
		RBUF_LIT(b, "</td><td class=\"n\" data-v=\"");
		rbuf_u64(b, r->duration_ns > 0 ? (uint64_t)r->duration_ns : 0);
		RBUF_LIT(b, "\">");
		put_duration(b, r->duration_ns);
		RBUF_LIT(b, "</td>");
		num_cell(b, r->packets);
		num_cell(b, r->bytes);
		RBUF_LIT(b, "<td class=\"reason\">");
		put_xml(b, reason, flow_reason_format(&r->reason, reason, sizeof reason));
		RBUF_LIT(b, "</td></tr>\n");
	}
	RBUF_LIT(b, "</tbody></table></div></section>\n");
}

/* --- the markup -------------------------------------------------------------------------------- */

static void html_table(struct markup *m, const struct table *t, bool on)
{
	if (!on) {
		M_LIT(m, "</tbody></table>");
		return;
	}
	if (t->name == NULL) {
		M_LIT(m, "<table><thead><tr>");
	} else { /* a class of our own: nothing to escape */
		M_LIT(m, "<table class=\"");
		m_puts(m, t->name);
		M_LIT(m, "\"><thead><tr>");
	}
	for (unsigned i = 0; i < t->n_cols; i++) {
		if (!markup_shows(m, &t->cols[i]))
			continue;
		m_puts(m, (t->cols[i].flags & COL_RIGHT) ? "<th class=\"n\">" : "<th>");
		m_puts(m, t->cols[i].head);
		M_LIT(m, "</th>");
	}
	M_LIT(m, "</tr></thead><tbody>");
}

static void html_row(struct markup *m, enum markup_row k, bool on)
{
	if (!on)
		M_LIT(m, "</tr>");
	else
		m_puts(m, k == ROW_TOTAL ? "<tr class=\"total\">" : "<tr>");
}

static void html_cell(struct markup *m, const struct column *c, bool on)
{
	if (!on) {
		M_LIT(m, "</td>");
	} else if ((c->flags & COL_RIGHT) && (c->flags & COL_SORT)) {
		M_LIT(m, "<td class=\"n\" data-v=\"");
		rbuf_u64(m->b, m->value);
		M_LIT(m, "\">");
	} else {
		m_puts(m, (c->flags & COL_RIGHT)  ? "<td class=\"n\">"
		          : (c->flags & COL_MONO) ? "<td class=\"mono\">"
		                                  : "<td>");
	}
}

static void html_class_name(struct markup *m, enum close_class c)
{
	badge(m->b, c);
}

static void html_flow_id(struct markup *m, uint64_t id)
{
	flow_link(m->b, writer_of(m), id);
}

static void html_story(struct markup *m, const struct flow_record *r, bool on)
{
	struct rbuf *b = m->b;

	if (!on) {
		RBUF_LIT(b, "</article>\n");
		return;
	}
	RBUF_LIT(b, "<article class=\"story\" id=\"flow-");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, "\"><h3>#");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, " <span class=\"mono\">");
	m_endpoints(m, &r->client, &r->server);
	RBUF_LIT(b, "</span> ");
	badge(b, r->close_class);
	RBUF_LIT(b, "</h3>\n");
}

static void html_verdict(struct markup *m, enum close_class c, const char *s, size_t n)
{
	(void)c;
	put_xml(m->b, s, n);
}

static void html_ladder(struct markup *m, const struct flow_record *r)
{
	struct rbuf *b = m->b;

	if (r->segments && r->segments->n) {
		RBUF_LIT(b, "<div class=\"ladder-wrap\">");
		ladder_svg(b, r, false, 0);
		RBUF_LIT(b, "</div>\n");
	} else {
		RBUF_LIT(b, "<p class=\"muted\">No ladder diagram: the segments of this connection did "
		            "not fit the memory kept for diagrams. <code>tcpmortem --flow ");
		rbuf_u64(b, r->id);
		RBUF_LIT(b, "</code> draws it.</p>\n");
	}
}

/* --- the page ---------------------------------------------------------------------------------- */

static void html_head(struct markup *m, const struct outline *o)
{
	const struct run_summary *s = o->summary;
	const struct digest *d = o->digest;
	uint64_t resets = o->totals.resets;
	struct rbuf *b = m->b;
	unsigned more;

	RBUF_LIT(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	            "<meta name=\"generator\" content=\"" TCPMORTEM_NAME " " TCPMORTEM_VERSION "\">\n"
	            "<title>tcpmortem: ");
	if (outline_paths(m, s, 4, false))
		RBUF_LIT(b, ", \xe2\x80\xa6");
	RBUF_LIT(b, "</title>\n<style>");
	rbuf_put(b, style, sizeof style - 1);
	RBUF_LIT(b, "</style>\n</head>\n<body>\n<header><h1>How the TCP connections ended</h1><p>");
	more = outline_paths(m, s, 6, false);
	if (more) {
		RBUF_LIT(b, " and ");
		rbuf_u64(b, more);
		RBUF_LIT(b, " more (see <a href=\"#capture\">Capture</a>)");
	}
	if (s->frames) {
		RBUF_LIT(b, " \xc2\xb7 ");
		outline_time_span(m, s->first_ts_ns, s->last_ts_ns, s->ts_nano);
	}
	RBUF_LIT(b, " \xc2\xb7 " TCPMORTEM_NAME " " TCPMORTEM_VERSION "</p></header>\n<main>\n");

	RBUF_LIT(b, "<div class=\"cards\">");
	card(b, s->flows, "connections", false);
	card(b, d->n_noteworthy, "noteworthy", d->n_noteworthy != 0);
	card(b, resets, "ended by a reset", resets != 0);
	card(b, d->n_stuck_over, "stuck half-closed", d->n_stuck_over != 0);
	card(b, s->frames, "frames", false);
	if (s->flows_evicted)
		card(b, s->flows_evicted, "evicted (--max-flows)", true);
	RBUF_LIT(b, "</div>\n");
}

static void html_foot(struct markup *m, const struct outline *o)
{
	(void)o;
	M_LIT(m, "<footer>Generated by " TCPMORTEM_NAME " " TCPMORTEM_VERSION ". Classes and how "
	         "they are decided: <code>man tcpmortem</code>.</footer>\n</main>\n<script>\n");
	rbuf_put(m->b, script, sizeof script - 1);
	M_LIT(m, "</script>\n</body>\n</html>\n");
}

static const struct outline_frame html_frame = { html_head, html_foot, html_connections };

/* --- the writer -------------------------------------------------------------------------------- */

static int html_end(struct writer *w, const struct run_summary *s)
{
	struct html_writer *hw = (struct html_writer *)w;
	struct rbuf stories = { 0 };
	struct outline o = {
		.frame = &html_frame,
		.stories = &stories,
		.n_stories = hw->n_stories,
		.story_candidates = hw->story_candidates,
		.selected = hw->any_selected,
	};
	int rc;

	if (hw->n_stories > 1)
		qsort(hw->stories, hw->n_stories, sizeof hw->stories[0], by_story_id);
	for (unsigned i = 0; i < hw->n_stories; i++)
		rbuf_put(&stories, hw->stories[i].html.data, hw->stories[i].html.len);
	rc = readable_summary(w, s, &o, hw->failed || stories.failed);
	rbuf_free(&stories);
	return rc;
}

static void html_release(struct writer *w)
{
	struct html_writer *hw = (struct html_writer *)w;

	readable_release(w);
	free(hw->rows);
	for (unsigned i = 0; i < STORIES_MAX; i++)
		rbuf_free(&hw->stories[i].html);
}

static void html_init(struct writer *w, const struct writer_options *opt)
{
	/* HTML: no inline styles (the page's CSS carries them), blocks from markup.c. */
	static const struct markup_ops html = {
		.kind = MARKUP_HTML, .arrow = "\xe2\x86\x92", .code_mark = "", .escape = put_xml,
		.table = html_table, .row = html_row, .cell = html_cell,
		.class_name = html_class_name, .flow_id = html_flow_id, .story = html_story,
		.verdict = html_verdict, .ladder = html_ladder, .chart = html_chart,
	};

	readable_init(w, opt, &html);
}

const struct writer_ops report_html_ops = { .size = sizeof(struct html_writer), .init = html_init,
	.flow = html_flow, .end = html_end, .release = html_release };
