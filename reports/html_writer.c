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
#include "rbuf.h"
#include "rtext.h"
#include "story.h"
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
	struct writer base;
	struct writer_options opt;
	struct digest digest;
	struct html_row *rows;
	size_t n_rows, rows_cap;
	size_t replace_from;   /* where to look for an orderly row to replace */
	uint64_t rows_dropped;
	struct html_story stories[STORIES_MAX];
	unsigned n_stories;
	uint64_t story_candidates;
	bool any_selected;
	struct rbuf out;
	struct rbuf scratch;
	bool failed;
};

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

static void pct(struct rbuf *b, uint64_t count, uint64_t of)
{
	char t[16];

	if (of == 0)
		snprintf(t, sizeof t, "-");
	else
		snprintf(t, sizeof t, "%.1f%%", 100.0 * (double)count / (double)of);
	rbuf_puts(b, t);
}

/* --- per flow ---------------------------------------------------------------------------------- */

static void render_story(struct rbuf *b, struct rbuf *s, const struct flow_record *r)
{
	char reason[FLOW_REASON_MAX];
	size_t reason_len;
	RBUF_LIT(b, "<article class=\"story\" id=\"flow-");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, "\"><h3>#");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, " <span class=\"mono\">");
	put_endpoint(b, &r->client);
	RBUF_LIT(b, " \xe2\x86\x92 ");
	put_endpoint(b, &r->server);
	RBUF_LIT(b, "</span> ");
	badge(b, r->close_class);
	RBUF_LIT(b, "</h3>\n<p class=\"muted\">");
	rbuf_clear(s);
	story_verdict(s, r);
	put_xml(b, s->data, s->len);
	RBUF_LIT(b, " \xc2\xb7 ");
	put_utc(b, r->first_ts_ns, r->ts_nano);
	RBUF_LIT(b, " UTC \xc2\xb7 lasted ");
	put_duration(b, r->last_ts_ns - r->first_ts_ns);
	if (r->capture) {
		RBUF_LIT(b, " \xc2\xb7 ");
		put_xml_str(b, r->capture);
	}
	RBUF_LIT(b, "</p>\n<dl><dt>Handshake</dt><dd>");
	rbuf_clear(s);
	story_handshake(s, r);
	put_xml(b, s->data, s->len);
	RBUF_LIT(b, "</dd><dt>Volume</dt><dd>");
	rbuf_clear(s);
	story_volume(s, r, "\xe2\x86\x92");
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		if (start)
			RBUF_LIT(b, "<br>");
		put_xml(b, s->data + start, i - start);
		start = i + 1;
	}
	RBUF_LIT(b, "</dd><dt>Final state</dt><dd>client ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_CLIENT]));
	RBUF_LIT(b, ", server ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_SERVER]));
	RBUF_LIT(b, "</dd>");
	if (r->modifiers) {
		RBUF_LIT(b, "<dt>Modifiers</dt><dd>");
		for (unsigned bit = 0, n = 0; bit < MOD_COUNT_BITS; bit++) {
			if (!(r->modifiers & (1u << bit)))
				continue;
			if (n++)
				RBUF_LIT(b, ", ");
			rbuf_puts(b, flow_modifier_name(1u << bit));
		}
		RBUF_LIT(b, "</dd>");
	}
	RBUF_LIT(b, "</dl>\n");
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
	RBUF_LIT(b, "<h4>What happened</h4>\n");
	rbuf_clear(s);
	story_explain(s, r);
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		RBUF_LIT(b, "<p>");
		put_xml(b, s->data + start, i - start);
		RBUF_LIT(b, "</p>\n");
		start = i + 1;
	}
	reason_len = flow_reason_format(&r->reason, reason, sizeof reason);
	if (reason_len != 0) {
		RBUF_LIT(b, "<p class=\"muted\">Classifier: ");
		put_xml(b, reason, reason_len);
		RBUF_LIT(b, "</p>\n");
	}
	RBUF_LIT(b, "</article>\n");
}

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
	render_story(&slot->html, &hw->scratch, r);
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
	if (digest_add(&hw->digest, f) != 0)
		return -1;
	if (hw->failed) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* --- the document ------------------------------------------------------------------------------ */

/* The timeline of endings (incidents.h): stacked bars per time bucket by class family, each
 * incident a shaded band over its window; clicking a band (or its entry in the list below)
 * shows only its connections in the table. */
static void timeline_section(struct rbuf *b, const struct incidents *d)
{
	const struct timeline *tl = incidents_timeline(d);
	const int width = 900, height = 150, top = 8, left = 40;
	uint64_t max = 0;
	char t[256];

	if (tl->n == 0)
		return;
	for (unsigned i = 0; i < tl->n; i++) {
		uint64_t sum = 0;

		for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
			sum += tl->count[i][k];
		if (sum > max)
			max = sum;
	}
	double bw = (double)(width - left) / tl->n;
	double span = (double)tl->width_ns * tl->n;

	RBUF_LIT(b, "<section id=\"timeline\"><h2>Endings over time");
	if (incidents_count(d))
		RBUF_LIT(b, " and incidents");
	snprintf(t, sizeof t, "</h2><p class=\"muted\">Connections ending per %lld s, by how they "
	                      "ended (colour as above); shaded: incidents, click one to see its "
	                      "connections.</p>",
	         (long long)(tl->width_ns / 1000000000));
	rbuf_puts(b, t);
	snprintf(t, sizeof t,
	         "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	         "height=\"%d\" role=\"img\" aria-label=\"endings over time\" font-size=\"11\" "
	         "font-family=\"system-ui,'DejaVu Sans',sans-serif\">",
	         width, height + 20);
	rbuf_puts(b, t);
	snprintf(t, sizeof t, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#59636e\">",
	         left - 4, top + 10);
	rbuf_puts(b, t);
	rbuf_u64(b, max);
	RBUF_LIT(b, "</text>");
	for (unsigned i = 0; i < tl->n; i++) {
		double y = top + height;

		for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
			double h;

			if (!tl->count[i][k])
				continue;
			h = (double)height * (double)tl->count[i][k] / (double)max;
			y -= h;
			snprintf(t, sizeof t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			                      "fill=\"%s\"><title>",
			         left + i * bw, y, bw > 1.5 ? bw - 0.5 : bw, h,
			         family_color(family((enum close_class)k)));
			rbuf_puts(b, t);
			rbuf_u64(b, tl->count[i][k]);
			RBUF_LIT(b, " ");
			rbuf_puts(b, close_class_name((enum close_class)k));
			RBUF_LIT(b, "</title></rect>");
		}
	}
	for (unsigned i = 0; i < incidents_count(d); i++) {
		const struct incident *inc = incidents_get(d, i);
		double x0 = left + (double)(inc->start_ns - tl->origin_ns) / span * (width - left);
		double x1 = left + (double)(inc->end_ns - tl->origin_ns) / span * (width - left);
		char sentence[1024];

		if (x1 - x0 < 4)
			x1 = x0 + 4;
		snprintf(t, sizeof t, "<rect class=\"incident\" data-show-incident=\"%u\" x=\"%.1f\" "
		                      "y=\"%d\" width=\"%.1f\" height=\"%d\"><title>#%u ",
		         inc->number, x0 - 2, top, x1 - x0 + 4, height, inc->number);
		rbuf_puts(b, t);
		put_xml_str(b, incident_sentence(inc, sentence, sizeof sentence));
		snprintf(t, sizeof t, "</title></rect><text x=\"%.1f\" y=\"%d\" fill=\"#cf222e\">#%u</text>",
		         x1 + 3, top + height + 14, inc->number);
		rbuf_puts(b, t);
	}
	RBUF_LIT(b, "</svg>");
	if (incidents_count(d)) {
		RBUF_LIT(b, "<ul class=\"incidents\">");
		for (unsigned i = 0; i < incidents_count(d); i++) {
			const struct incident *inc = incidents_get(d, i);
			char sentence[1024];

			snprintf(t, sizeof t, "<li><button type=\"button\" data-show-incident=\"%u\">#%u "
			                      "%s</button> ",
			         inc->number, inc->number, incident_kind_name(inc->kind));
			rbuf_puts(b, t);
			put_xml_str(b, incident_sentence(inc, sentence, sizeof sentence));
			snprintf(t, sizeof t, ". <span class=\"muted\">Endings a second there: %.1f before, "
			                      "%.1f during, %.1f after.</span></li>",
			         inc->rate_before, inc->rate_during, inc->rate_after);
			rbuf_puts(b, t);
		}
		RBUF_LIT(b, "<li><button type=\"button\" data-show-incident=\"\">show every "
		            "connection</button></li></ul>");
	}
	RBUF_LIT(b, "</section>\n");
}

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
	"svg.timeline rect.incident{fill:#cf222e;fill-opacity:.15;stroke:#cf222e;cursor:pointer}"
	"ul.incidents{padding-left:18px}ul.incidents button{font:inherit;cursor:pointer}"
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
	"Array.prototype.forEach.call(document.querySelectorAll('[data-show-incident]'),function(el){"
	"el.addEventListener('click',function(){var n=el.getAttribute('data-show-incident');"
	"Array.prototype.forEach.call(table.tBodies[0].rows,function(r){"
	"r.hidden=n!==''&&r.getAttribute('data-incident')!==n;});"
	"if(n!=='')document.getElementById('flows').scrollIntoView();});});\n"
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
static void chart(struct rbuf *b, const uint64_t totals[CLOSE_CLASS_COUNT], uint64_t all)
{
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
		pct(b, totals[k], all);
		RBUF_LIT(b, ")</text>");
		y += row_h;
	}
	RBUF_LIT(b, "</svg>");
}

static void class_table(struct rbuf *b, const struct run_summary *s,
                        const uint64_t totals[CLOSE_CLASS_COUNT], uint64_t all)
{
	static const enum closer_side order[] = { CLOSER_CLIENT, CLOSER_SERVER, CLOSER_BOTH,
						  CLOSER_NONE };
	uint64_t closers[CLOSER_COUNT] = { 0 };

	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
		for (unsigned c = 0; c < CLOSER_COUNT; c++)
			closers[c] += s->by_class[k][c];
	RBUF_LIT(b, "<table class=\"classes\"><thead><tr><th>close class</th><th class=\"n\">flows"
	            "</th><th class=\"n\">share</th><th class=\"n\">client</th><th class=\"n\">server"
	            "</th><th class=\"n\">both</th><th class=\"n\">none</th></tr></thead><tbody>");
	for (unsigned k = 0; k <= CLOSE_CLASS_COUNT; k++) {
		bool total = k == CLOSE_CLASS_COUNT;
		uint64_t row = total ? all : totals[k];
		const uint64_t *by = total ? closers : s->by_class[k];

		if (!total && row == 0)
			continue;
		rbuf_puts(b, total ? "<tr class=\"total\"><td>total</td>" : "<tr><td>");
		if (!total) {
			badge(b, (enum close_class)k);
			RBUF_LIT(b, "</td>");
		}
		RBUF_LIT(b, "<td class=\"n\">");
		put_grouped(b, row);
		RBUF_LIT(b, "</td><td class=\"n\">");
		pct(b, row, all);
		RBUF_LIT(b, "</td>");
		for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
			RBUF_LIT(b, "<td class=\"n\">");
			put_grouped(b, by[order[i]]);
			RBUF_LIT(b, "</td>");
		}
		RBUF_LIT(b, "</tr>");
	}
	RBUF_LIT(b, "</tbody></table>\n");
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

static void digest_sections(struct rbuf *b, const struct html_writer *hw)
{
	const struct digest *d = &hw->digest;

	if (d->n_resets) {
		size_t shown = d->n_resets < DIGEST_TOP_RESETS ? d->n_resets : DIGEST_TOP_RESETS;

		RBUF_LIT(b, "<section id=\"resets\"><h2>Top reset sources</h2><table><thead><tr><th>"
		            "endpoint</th><th>side</th><th class=\"n\">resets</th></tr></thead><tbody>");
		for (size_t i = 0; i < shown; i++) {
			const struct digest_reset *r = &d->resets[i];
			char ip[48];

			RBUF_LIT(b, "<tr><td class=\"mono\">");
			if (r->role == FROM_SERVER) {
				struct flow_endpoint e = { r->addr, r->port };

				put_endpoint(b, &e);
			} else {
				rbuf_puts(b, ip_addr_format(&r->addr, ip, sizeof ip));
			}
			RBUF_LIT(b, "</td><td>");
			rbuf_puts(b, side_word(r->role));
			RBUF_LIT(b, "</td><td class=\"n\">");
			put_grouped(b, r->count);
			RBUF_LIT(b, "</td></tr>");
		}
		RBUF_LIT(b, "</tbody></table>");
		if (d->n_resets > shown) {
			rbuf_puts(b, d->resets_overflowed ? "<p class=\"muted\">and more than "
			                                  : "<p class=\"muted\">and ");
			put_grouped(b, d->n_resets - shown);
			RBUF_LIT(b, " more sources</p>");
		}
		if (d->resets_error != 0) {
			RBUF_LIT(b, "<p class=\"muted\">too many sources to count each: a count above "
			            "may be up to ");
			put_grouped(b, d->resets_error);
			RBUF_LIT(b, " too high</p>");
		}
		RBUF_LIT(b, "</section>\n");
	}
	if (d->n_slow) {
		RBUF_LIT(b, "<section id=\"slow\"><h2>Slowest closes</h2><table><thead><tr><th class=\"n"
		            "\">#</th><th>client</th><th>server</th><th class=\"n\">first FIN to last "
		            "ACK</th><th>closed first</th><th class=\"n\">the other closed</th></tr>"
		            "</thead><tbody>");
		for (unsigned i = 0; i < d->n_slow; i++) {
			const struct digest_close *c = &d->slow[i];

			RBUF_LIT(b, "<tr><td class=\"n\">");
			flow_link(b, hw, c->id);
			RBUF_LIT(b, "</td>");
			endpoint_cell(b, &c->client);
			endpoint_cell(b, &c->server);
			RBUF_LIT(b, "<td class=\"n\">");
			put_duration(b, c->end_ns - c->start_ns);
			RBUF_LIT(b, "</td><td>");
			rbuf_puts(b, side_word(c->first));
			RBUF_LIT(b, "</td><td class=\"n\">");
			put_duration(b, c->wait_ns);
			RBUF_LIT(b, " later</td></tr>");
		}
		RBUF_LIT(b, "</tbody></table></section>\n");
	}
	if (d->n_stuck_over) {
		RBUF_LIT(b, "<section id=\"stuck\"><h2>Stuck half-closed: ");
		put_grouped(b, d->n_stuck_over);
		RBUF_LIT(b, "</h2><p class=\"muted\">A side in CLOSE-WAIT (it received a FIN and has not "
		            "closed its socket) for more than ");
		put_duration(b, hw->opt.close_wait_ns);
		RBUF_LIT(b, " when the capture ended.</p><table><thead><tr><th class=\"n\">#</th><th>"
		            "client</th><th>server</th><th>in CLOSE-WAIT</th><th class=\"n\">for</th>"
		            "<th class=\"n\">FIN in frame</th><th>still sending</th></tr></thead><tbody>");
		for (unsigned i = 0; i < d->n_stuck_kept; i++) {
			const struct digest_stuck *st = &d->stuck[i];

			RBUF_LIT(b, "<tr><td class=\"n\">");
			flow_link(b, hw, st->id);
			RBUF_LIT(b, "</td>");
			endpoint_cell(b, &st->client);
			endpoint_cell(b, &st->server);
			RBUF_LIT(b, "<td>");
			rbuf_puts(b, side_word(st->waiting));
			RBUF_LIT(b, "</td><td class=\"n\">");
			put_duration(b, d->capture_end_ns - st->fin_ns);
			RBUF_LIT(b, "</td><td class=\"n\">");
			if (st->fin_frame)
				rbuf_u64(b, st->fin_frame);
			RBUF_LIT(b, "</td><td>");
			rbuf_puts(b, st->sent_after_fin ? "yes" : "no");
			RBUF_LIT(b, "</td></tr>");
		}
		RBUF_LIT(b, "</tbody></table>");
		if (d->n_stuck_over > d->n_stuck_kept) {
			RBUF_LIT(b, "<p class=\"muted\">and ");
			put_grouped(b, d->n_stuck_over - d->n_stuck_kept);
			RBUF_LIT(b, " more</p>");
		}
		RBUF_LIT(b, "</section>\n");
	}
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

static void flow_table(struct rbuf *b, struct html_writer *hw, const struct run_summary *s)
{
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

		uint32_t inc = incidents_find_flow(hw->base.incidents, r->id);

		if (inc) {
			RBUF_LIT(b, "<tr data-incident=\"");
			rbuf_u64(b, inc);
			RBUF_LIT(b, "\"><td class=\"n\" data-v=\"");
		} else {
			RBUF_LIT(b, "<tr><td class=\"n\" data-v=\"");
		}
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

static void capture_section(struct rbuf *b, const struct run_summary *s)
{
	RBUF_LIT(b, "<section id=\"capture\"><h2>Capture</h2><table><thead><tr><th>file</th><th>link "
	            "type</th><th class=\"n\">frames</th><th class=\"n\">TCP segments</th>"
	            "<th class=\"n\">bytes</th><th>skipped</th><th>problem</th></tr></thead><tbody>");
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];
		unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

		RBUF_LIT(b, "<tr><td class=\"mono\">");
		put_xml_str(b, c->path);
		RBUF_LIT(b, "</td><td>");
		put_xml_str(b, c->link_type ? c->link_type : "-");
		RBUF_LIT(b, "</td>");
		num_cell(b, c->frames);
		num_cell(b, c->tcp_segments);
		num_cell(b, c->bytes);
		RBUF_LIT(b, "<td>");
		for (unsigned k = 0; k < n; k++) {
			if (k)
				RBUF_LIT(b, ", ");
			put_xml_str(b, c->skipped[k].reason);
			rbuf_putc(b, ' ');
			put_grouped(b, c->skipped[k].count);
		}
		if (n == 0)
			RBUF_LIT(b, "none");
		RBUF_LIT(b, "</td><td>");
		put_xml_str(b, c->error ? c->error : "none");
		RBUF_LIT(b, "</td></tr>");
	}
	RBUF_LIT(b, "</tbody></table></section>\n");
}

static int html_begin(struct writer *w)
{
	(void)w;
	return 0;
}

static int html_end(struct writer *w, const struct run_summary *s)
{
	struct html_writer *hw = (struct html_writer *)w;
	struct rbuf *b = &hw->out;
	uint64_t totals[CLOSE_CLASS_COUNT] = { 0 }, all = 0, resets = 0;

	digest_finish(&hw->digest, s, hw->opt.close_wait_ns);
	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		for (unsigned c = 0; c < CLOSER_COUNT; c++)
			totals[k] += s->by_class[k][c];
		all += totals[k];
		if (class_is_reset((enum close_class)k))
			resets += totals[k];
	}
	RBUF_LIT(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	            "<meta name=\"generator\" content=\"" TCPMORTEM_NAME " " TCPMORTEM_VERSION "\">\n"
	            "<title>tcpmortem: ");
	for (unsigned i = 0; i < s->n_captures && i < 4; i++) {
		if (i)
			RBUF_LIT(b, ", ");
		put_xml_str(b, s->captures[i].path);
	}
	if (s->n_captures > 4)
		RBUF_LIT(b, ", \xe2\x80\xa6");
	RBUF_LIT(b, "</title>\n<style>");
	rbuf_put(b, style, sizeof style - 1);
	RBUF_LIT(b, "</style>\n</head>\n<body>\n<header><h1>How the TCP connections ended</h1><p>");
	for (unsigned i = 0; i < s->n_captures && i < 6; i++) {
		if (i)
			RBUF_LIT(b, ", ");
		put_xml_str(b, s->captures[i].path);
	}
	if (s->n_captures > 6) {
		RBUF_LIT(b, " and ");
		rbuf_u64(b, s->n_captures - 6);
		RBUF_LIT(b, " more (see <a href=\"#capture\">Capture</a>)");
	}
	if (s->frames) {
		RBUF_LIT(b, " \xc2\xb7 ");
		put_utc(b, s->first_ts_ns, s->ts_nano);
		RBUF_LIT(b, " to ");
		put_utc(b, s->last_ts_ns, s->ts_nano);
		RBUF_LIT(b, " UTC (");
		put_duration(b, s->last_ts_ns - s->first_ts_ns);
		RBUF_LIT(b, ")");
	}
	RBUF_LIT(b, " \xc2\xb7 " TCPMORTEM_NAME " " TCPMORTEM_VERSION "</p></header>\n<main>\n");

	RBUF_LIT(b, "<div class=\"cards\">");
	card(b, s->flows, "connections", false);
	card(b, hw->digest.n_noteworthy, "noteworthy", hw->digest.n_noteworthy != 0);
	card(b, resets, "ended by a reset", resets != 0);
	card(b, hw->digest.n_stuck_over, "stuck half-closed", hw->digest.n_stuck_over != 0);
	card(b, s->frames, "frames", false);
	if (s->flows_evicted)
		card(b, s->flows_evicted, "evicted (--max-flows)", true);
	RBUF_LIT(b, "</div>\n");

	RBUF_LIT(b, "<section id=\"classes\"><h2>How they ended</h2><div class=\"row\">");
	chart(b, totals, all);
	class_table(b, s, totals, all);
	RBUF_LIT(b, "</div></section>\n");
	timeline_section(b, w->incidents);
	digest_sections(b, hw);
	flow_table(b, hw, s);

	if (hw->n_stories) {
		qsort(hw->stories, hw->n_stories, sizeof hw->stories[0], by_story_id);
		RBUF_LIT(b, "<section id=\"stories\"><h2>");
		rbuf_puts(b, hw->any_selected ? "Selected connections" : "Noteworthy connections");
		if (hw->story_candidates > hw->n_stories) {
			RBUF_LIT(b, " (the first ");
			put_grouped(b, hw->n_stories);
			RBUF_LIT(b, " of ");
			put_grouped(b, hw->story_candidates);
			RBUF_LIT(b, ")");
		}
		RBUF_LIT(b, "</h2><p class=\"muted\">Ladder diagrams: time in seconds since the "
		            "connection's first packet; seq/ack relative to each side's initial sequence "
		            "number; highlighted rows are the classifier's evidence.</p>\n");
		for (unsigned i = 0; i < hw->n_stories; i++)
			rbuf_put(b, hw->stories[i].html.data, hw->stories[i].html.len);
		RBUF_LIT(b, "</section>\n");
	}
	capture_section(b, s);
	RBUF_LIT(b, "<footer>Generated by " TCPMORTEM_NAME " " TCPMORTEM_VERSION ". Classes and "
	            "how they are decided: <code>man tcpmortem</code>.</footer>\n</main>\n<script>\n");
	rbuf_put(b, script, sizeof script - 1);
	RBUF_LIT(b, "</script>\n</body>\n</html>\n");
	if (b->failed || hw->failed) {
		errno = ENOMEM;
		return -1;
	}
	if (fwrite(b->data, 1, b->len, w->out) != b->len || fflush(w->out) != 0 || ferror(w->out))
		return -1;
	return 0;
}

static void html_destroy(struct writer *w)
{
	struct html_writer *hw = (struct html_writer *)w;

	digest_free(&hw->digest);
	free(hw->rows);
	for (unsigned i = 0; i < STORIES_MAX; i++)
		rbuf_free(&hw->stories[i].html);
	rbuf_free(&hw->out);
	rbuf_free(&hw->scratch);
	free(hw);
}

static const struct writer_ops html_ops = {
	.begin = html_begin,
	.flow = html_flow,
	.end = html_end,
	.destroy = html_destroy,
};

struct writer *report_html_create(FILE *out, const struct writer_options *opt)
{
	struct html_writer *hw = calloc(1, sizeof *hw);

	if (hw == NULL)
		return NULL;
	hw->base.ops = &html_ops;
	hw->base.out = out;
	hw->opt = *opt;
	return &hw->base;
}
