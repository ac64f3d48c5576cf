/* test_views.c - the readable reports: ladder diagrams (text and SVG), the story's sentences,
 * the escaping of untrusted text for terminals, Markdown, SVG and HTML, the Markdown, SVG and
 * HTML writers, the text writer's colour and story mode, and the summary's digest (slowest
 * closes, stuck half-closed connections).
 *
 * Records are built by hand after the rst_unread_data sample (the server resets 100 ms after
 * 1000 unread bytes), with hostile capture names and reasons. Exits non-zero on any failure.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ladder.h"
#include "rtext.h"
#include "story.h"
#include "writer.h"
#include "cunit_main.h"

#define MS 1000000LL
#define T0 (1764000000LL * 1000000000LL)
#define HOSTILE_NAME "evil<script>alert(1)</script>&\"'|*_`[x](http://e.example)@you #1 $x$\x01\xff.pcap"

static struct ladder_seg seg(uint64_t frame, int64_t us, uint8_t from, uint8_t flags, uint32_t seq,
                             uint32_t ack, uint32_t len, uint32_t win)
{
	struct ladder_seg s = { .frame = frame, .ts_ns = T0 + us * 1000, .from = from, .flags = flags,
	                        .seq = seq, .ack = ack, .len = len, .window = win };

	return s;
}

static struct evidence_frame ev(const struct ladder_seg *s, const char *note)
{
	struct evidence_frame e = { .frame = s->frame, .ts_ns = s->ts_ns, .from = s->from,
	                            .flags = s->flags, .seq = s->seq, .ack = s->ack, .len = s->len,
	                            .note = note };

	return e;
}

/* The rst_unread_data sample's first connection. */
static struct ladder_seg unread_segs[10];
static struct segment_list unread_list;

static void make_unread(struct flow_record *r)
{
	unsigned i = 0;

	unread_segs[i++] = seg(1, 0, FROM_CLIENT, TCP_SYN, 0, 0, 0, 64240);
	unread_segs[i++] = seg(2, 25, FROM_SERVER, TCP_SYN | TCP_ACK, 0, 1, 0, 65160);
	unread_segs[i++] = seg(3, 36, FROM_CLIENT, TCP_ACK, 1, 1, 0, 64512);
	unread_segs[i++] = seg(4, 91, FROM_CLIENT, TCP_PSH | TCP_ACK, 1, 1, 64, 64512);
	unread_segs[i++] = seg(5, 98, FROM_SERVER, TCP_ACK, 1, 65, 0, 65536);
	unread_segs[i++] = seg(6, 2445, FROM_SERVER, TCP_PSH | TCP_ACK, 1, 65, 300, 65536);
	unread_segs[i++] = seg(7, 2458, FROM_CLIENT, TCP_ACK, 65, 301, 0, 64512);
	unread_segs[i++] = seg(8, 2479, FROM_CLIENT, TCP_PSH | TCP_ACK, 65, 301, 1000, 64512);
	unread_segs[i++] = seg(9, 44544, FROM_SERVER, TCP_ACK, 301, 1065, 0, 68608);
	unread_segs[i++] = seg(10, 102715, FROM_SERVER, TCP_RST | TCP_ACK, 301, 1065, 0, 68608);
	unread_list = (struct segment_list){ .seg = unread_segs, .n = i, .total = i, .selected = true };

	memset(r, 0, sizeof *r);
	r->id = 1;
	r->capture = "rst_unread_data.pcap";
	r->client = (struct flow_endpoint){ { .family = 4, .bytes = { 198, 51, 100, 1 } }, 40001 };
	r->server = (struct flow_endpoint){ { .family = 4, .bytes = { 198, 51, 100, 2 } }, 8080 };
	r->first_ts_ns = T0;
	r->last_ts_ns = unread_segs[9].ts_ns;
	r->packets[0] = 5;
	r->packets[1] = 5;
	r->bytes[0] = 1064;
	r->bytes[1] = 300;
	r->handshake = HANDSHAKE_COMPLETE;
	r->close_class = CLOSE_RST_UNREAD_DATA;
	r->closer = CLOSER_SERVER;
	FLOW_REASON(&r->reason, REASON_TEXT, reason_str("the server reset the connection instead of closing it"));
	r->has_close_ts = true;
	r->close_ts_ns = unread_segs[9].ts_ns;
	r->evidence[0] = ev(&unread_segs[5], "last data from the closer");
	r->evidence[1] = ev(&unread_segs[7], "last data from the peer");
	r->evidence[2] = ev(&unread_segs[9], "reset: the socket aborted");
	r->n_evidence = 3;
	r->state[0] = r->state[1] = TCPS_CLOSED;
	r->segments = &unread_list;
}

static char *text_of(struct rbuf *b)
{
	char *s = malloc(b->len + 1);

	CU_ASSERT_FATAL(s != NULL && !b->failed);
	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

/* Removes ANSI SGR sequences in place. */
static void strip_sgr(char *s)
{
	char *o = s;

	for (char *p = s; *p;) {
		if (p[0] == '\x1b' && p[1] == '[') {
			p += 2;
			while (*p && *p != 'm')
				p++;
			if (*p)
				p++;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
}

/* What b holds is `want`; b is freed. */
static void check_text(struct rbuf *b, const char *want)
{
	rbuf_putc(b, '\0');
	CU_ASSERT_STRING_EQUAL(b->data, want);
	rbuf_free(b);
}

/* --- ladder text ------------------------------------------------------------------------------ */

static void test_ladder_label(void)
{
	struct rbuf b = { 0 };
	struct ladder_seg s = seg(8, 0, FROM_CLIENT, TCP_PSH | TCP_ACK, 65, 301, 1000, 64512);

	ladder_label(&b, &s);
	RBUF_LIT(&b, "|");
	s = seg(11, 0, FROM_SERVER, TCP_RST, 302, 0, 0, 0);
	ladder_label(&b, &s); /* no ACK flag: no ack field */
	RBUF_LIT(&b, "|");
	s.marks = LADDER_NO_WINDOW;
	ladder_label(&b, &s);
	check_text(&b, "PSH,ACK seq=65 ack=301 len=1000 win=64512|RST seq=302 len=0 win=0|"
	                 "RST seq=302 len=0");
}

/* Every row: time, frame, then the two bars in the same columns; arrows point the right way. */
static void test_ladder_text_layout(void)
{
	struct flow_record r;
	struct rbuf b = { 0 };
	char *out, *line, *save = NULL;
	long bar1 = -1, bar2 = -1;
	unsigned rows = 0;

	make_unread(&r);
	ladder_text(&b, &r, "  ", false);
	out = text_of(&b);
	CU_ASSERT_PTR_NULL(strchr(out, '\x1b'));
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *first = strchr(line, '|'), *last = strrchr(line, '|');

		CU_ASSERT(strncmp(line, "  ", 2) == 0);
		if (!first) { /* the headings */
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "client 198.51.100.1:40001"));
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "server 198.51.100.2:8080"));
			continue;
		}
		if (bar1 < 0) {
			bar1 = first - line;
			bar2 = last - line;
		}
		CU_ASSERT_EQUAL(first - line, bar1);
		CU_ASSERT_EQUAL(last - line, bar2);
		rows++;
		if (strstr(line, "#1 ")) {
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "0.000000   #1  |-- SYN seq=0 len=0 win=64240 -"));
			CU_ASSERT(last[-1] == '>');
		}
		if (strstr(line, "#10 ")) {
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "0.102715  #10  |<-"));
			CU_ASSERT_PTR_NOT_NULL(strstr(line, " RST,ACK seq=301 ack=1065 len=0 win=68608 --|"));
			CU_ASSERT_PTR_NOT_NULL(strstr(line, "|  reset: the socket aborted"));
		}
		if (strstr(line, "#7 "))
			CU_ASSERT(last[1] == '\0'); /* no note: no trailing blanks */
	}
	CU_ASSERT_EQUAL(rows, 10);
	free(out);
	rbuf_free(&b);
}

/* The right heading ends on the second bar, also for IPv6. */
static void test_ladder_text_headings_ipv6(void)
{
	struct flow_record r;
	struct rbuf b = { 0 };
	char *out, *nl, *row;

	make_unread(&r);
	r.client.addr = (struct ip_addr){ .family = 6, .bytes = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	r.server.addr = (struct ip_addr){ .family = 6, .bytes = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 } };
	ladder_text(&b, &r, "", false);
	out = text_of(&b);
	nl = strchr(out, '\n');
	CU_ASSERT_FATAL(nl != NULL);
	row = nl + 1;
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "client [2001:db8::1]:40001"));
	CU_ASSERT_EQUAL(strchr(row, '|') - row, strstr(out, "client") - out);
	row[strcspn(row, "\n")] = '\0';
	CU_ASSERT_EQUAL(strrchr(row, '|') - row, nl - 1 - out);
	free(out);
	rbuf_free(&b);
}

/* Gap rows: where segments were left out, with the count; colour changes nothing but colour. */
static void test_ladder_text_gaps_and_colour(void)
{
	struct flow_record r;
	struct rbuf plain = { 0 }, coloured = { 0 };
	char *p, *c;

	make_unread(&r);
	unread_segs[3].gap = 18;
	unread_segs[3].gap_bytes = 1800;
	unread_segs[7].marks = LADDER_GAP_SHARED | LADDER_RETRANSMISSION;
	unread_segs[5].gap = 3;
	unread_segs[6].marks = LADDER_GAP_SHARED;
	unread_list.total = 10 + 21;
	ladder_text(&plain, &r, "", false);
	ladder_text(&coloured, &r, "", true);
	p = text_of(&plain);
	c = text_of(&coloured);
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "... 18 segments, 1,800 bytes not shown ..."));
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "... 3 segments not shown between frames 5 and 8 ..."));
	{
		/* The shared gap's second row: ':', blanks, "...", blanks, ':'. */
		bool found = false;

		for (const char *q = p; (q = strstr(q, " ... ")) != NULL; q++) {
			const char *a = q, *z = q + 4;

			while (a > p && a[-1] == ' ')
				a--;
			while (*z == ' ')
				z++;
			found |= a > p && a[-1] == ':' && *z == ':';
		}
		CU_ASSERT(found);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(p, "last data from the peer; retransmission"));
	CU_ASSERT_PTR_NOT_NULL(strchr(c, '\x1b'));
	CU_ASSERT_PTR_NOT_NULL(strstr(c, "\x1b[1;31m")); /* the reset in red */
	strip_sgr(c);
	CU_ASSERT_STRING_EQUAL(c, p);
	/* Each gap row has ':' where the bars are. */
	{
		char *row = strstr(p, "... 18 segments");
		char *start = row, *end = strchr(row, '\n');
		char *bar_row = strstr(p, "#1 ");

		while (start > p && start[-1] != '\n')
			start--;
		while (bar_row > p && bar_row[-1] != '\n')
			bar_row--;
		CU_ASSERT_EQUAL(strchr(start, ':') - start, strchr(bar_row, '|') - bar_row);
		CU_ASSERT_EQUAL(end - 1 - start, strchr(strchr(bar_row, '|') + 1, '|') - bar_row);
	}
	free(p);
	free(c);
	rbuf_free(&plain);
	rbuf_free(&coloured);
	memset(unread_segs, 0, sizeof unread_segs);
}

static void test_ladder_caption(void)
{
	struct segment_list l = { .n = 10, .total = 10 };
	struct rbuf b = { 0 };

	ladder_caption(&b, &l);
	check_text(&b, "all 10 segments"); /* b is empty again */
	l.total = 1234;
	ladder_caption(&b, &l);
	check_text(&b, "10 of 1,234 segments: the first, the FINs and resets, the evidence and the "
	               "last");
}

/* --- the story --------------------------------------------------------------------------------- */

static void test_story_names_closer_bytes_and_reset(void)
{
	struct flow_record r;
	struct rbuf b = { 0 };
	char *s;

	make_unread(&r);
	story_explain(&b, &r);
	s = text_of(&b);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "The server reset the connection 100 ms after receiving 1,000 "
	                                 "bytes from the client that it never answered (the last of "
	                                 "them in frame 8).\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "Its kernel acknowledged them (frame 9)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "carries seq 301, the server's own next sequence number, "
	                                 "and acknowledges what it had received: a socket"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "ECONNRESET"));
	free(s);
	rbuf_clear(&b);

	/* Without segments the acknowledgement cannot be shown, the rest can. */
	r.segments = NULL;
	story_explain(&b, &r);
	s = text_of(&b);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "1,000 bytes"));
	CU_ASSERT_PTR_NULL(strstr(s, "Its kernel acknowledged"));
	free(s);
	rbuf_clear(&b);

	story_handshake(&b, &(struct flow_record){ .handshake = HANDSHAKE_MIDSTREAM,
	                                          .roles_inferred = true });
	rbuf_putc(&b, '|');
	make_unread(&r);
	story_handshake(&b, &r);
	rbuf_putc(&b, '|');
	story_verdict(&b, &r);
	check_text(&b, "not captured: the capture starts in the middle of the "
	                 "connection (client and server inferred from the ports)|"
	                 "complete: SYN, SYN+ACK 25 \xc2\xb5s later, ACK 11 \xc2\xb5s after "
	                 "that (frames 1-3)|rst_unread_data, closed by the server");
}

/* Every class and modifier gets sentences; none crashes on a bare record. */
static void test_story_every_class(void)
{
	for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++) {
		for (unsigned closer = 0; closer < CLOSER_COUNT; closer++) {
			struct flow_record r;
			struct rbuf b = { 0 };

			make_unread(&r);
			r.close_class = (enum close_class)c;
			r.closer = (enum closer_side)closer;
			r.modifiers = (1u << MOD_COUNT_BITS) - 1;
			story_explain(&b, &r);
			CU_ASSERT(b.len > 0 && !b.failed);
			CU_ASSERT(b.data[b.len - 1] == '\n');
			for (size_t i = 0; i + 1 < b.len; i++) /* no broken format directive */
				CU_ASSERT(!(b.data[i] == '%' && b.data[i + 1] == '?'));
			rbuf_free(&b);
		}
	}
}

/* --- escaping ---------------------------------------------------------------------------------- */

/* Markdown: every inline-special character backslash-escaped, "://" broken, controls and bad
 * UTF-8 replaced; XML: the five entities, controls but tab, CR and LF replaced. */
static void test_escaping(void)
{
	static const struct {
		void (*put)(struct rbuf *, const char *);
		const char *in, *want;
	} cases[] = {
		{ put_md_str,
		  "a|b *c* _d_ `e` [f](g) <h> &amp; #12 @me $x$ ~s~ \\ http://x.example\n\t\x01\xff ok",
		  "a\\|b \\*c\\* \\_d\\_ \\`e\\` \\[f\\](g) \\<h\\> \\&amp; \\#12 "
		  "\\@me \\$x\\$ \\~s\\~ \\\\ http\\://x.example  "
		  "\xef\xbf\xbd\xef\xbf\xbd ok" },
		{ put_xml_str,
		  "<a href=\"x\">'&'</a>\x01\x7f\xc3\xa9\xed\xa0\x80\tz",
		  "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
		  "\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd"
		  "\xef\xbf\xbd\tz" },
	};

	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rbuf b = { 0 };

		cases[i].put(&b, cases[i].in);
		check_text(&b, cases[i].want);
	}
}

static void test_numbers_and_durations(void)
{
	struct rbuf b = { 0 };

	put_grouped(&b, 0);
	rbuf_putc(&b, ' ');
	put_grouped(&b, 999);
	rbuf_putc(&b, ' ');
	put_grouped(&b, 1448);
	rbuf_putc(&b, ' ');
	put_grouped(&b, 18446744073709551615u);
	rbuf_putc(&b, '|');
	static const int64_t d[] = { -5, 31000, 2400000, 100200000, 1250000000, 12500000000,
	                             200000000000, 7500000000000 };
	for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++) {
		put_duration_ascii(&b, d[i]);
		rbuf_putc(&b, '|');
	}
	check_text(&b, "0 999 1,448 18,446,744,073,709,551,615|0 us|31 us|2.4 ms|100 ms|"
	                 "1.25 s|12.5 s|3 min 20 s|2 h 5 min|");
}

/* --- writers ----------------------------------------------------------------------------------- */

static struct run_summary summary_of(struct capture_stats *cs)
{
	struct run_summary s = { .n_captures = 1, .captures = cs, .frames = 20, .flows = 1,
	                         .first_ts_ns = T0, .last_ts_ns = T0 + 255 * MS };

	memset(cs, 0, sizeof *cs);
	cs->path = HOSTILE_NAME;
	cs->link_type = "Ethernet";
	cs->frames = 20;
	cs->tcp_segments = 18;
	cs->n_skipped = 1;
	cs->skipped[0] = (struct skip_count){ "not_ip", 2 };
	s.by_class[CLOSE_RST_UNREAD_DATA][CLOSER_SERVER] = 1;
	return s;
}

static char *run(enum report_format f, const struct writer_options *opt, struct flow_record *r,
                 unsigned n)
{
	char *out = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&out, &size);
	struct capture_stats cs;
	struct run_summary s = summary_of(&cs);
	struct writer *w = writer_create_with(f, fp, opt);

	CU_ASSERT_FATAL(fp != NULL && w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	for (unsigned i = 0; i < n; i++)
		CU_ASSERT(writer_flow(w, &r[i]) == 0);
	CU_ASSERT(writer_end(w, &s) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(fp) == 0);
	return out;
}

/* Counts the cell separators of a GFM table row (pipes not escaped by a backslash). */
static unsigned md_cells(const char *row, size_t n)
{
	unsigned pipes = 0;

	for (size_t i = 0; i < n; i++) {
		if (row[i] == '\\') {
			i++;
			continue;
		}
		pipes += row[i] == '|';
	}
	return pipes - 1;
}

static void test_markdown_writer(void)
{
	struct flow_record r;
	struct writer_options opt = { .stories = true, .close_wait_ns = 5000 * MS };
	char *out;
	const char *p;
	unsigned header_cells = 0;

	make_unread(&r);
	r.capture = HOSTILE_NAME;
	FLOW_REASON(&r.reason, REASON_TEXT, reason_str("reason with | pipe and <b>html</b> and `code`"));
	out = run(REPORT_MARKDOWN, &opt, &r, 1);

	CU_ASSERT_PTR_NOT_NULL(strstr(out, "## tcpmortem report: evil\\<script\\>alert(1)\\</script\\>"
	                                   "\\&\"'\\|\\*\\_\\`\\[x\\](http\\://e.example)\\@you \\#1 "
	                                   "\\$x\\$\xef\xbf\xbd\xef\xbf\xbd.pcap\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "<script>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "| `rst_unread_data` | 1 | 100.0% | 0 | 1 | 0 | 0 |\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "reason with \\| pipe and \\<b\\>html\\</b\\> and \\`code\\`"));
	/* Every table row has as many cells as its header. */
	for (p = out; *p; p = strchr(p, '\n') + 1) {
		const char *end = strchr(p, '\n');

		if (!end)
			break;
		if (*p != '|') {
			header_cells = 0;
			continue;
		}
		if (header_cells == 0)
			header_cells = md_cells(p, (size_t)(end - p));
		else
			CU_ASSERT_EQUAL(md_cells(p, (size_t)(end - p)), header_cells);
	}
	/* The story: verdict, ladder in a fence, sentences. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "### Connection #1: `198.51.100.1:40001` \xe2\x86\x92 "
	                                   "`198.51.100.2:8080`"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "```text\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "|  reset: the socket aborted\n```\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "The server reset the connection 100 ms after receiving "
	                                   "1,000 bytes"));
	free(out);

	/* Not selected: no story, the summary only. */
	unread_list.selected = false;
	out = run(REPORT_MARKDOWN, &opt, &r, 1);
	CU_ASSERT_PTR_NULL(strstr(out, "```"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "### Noteworthy connections (1)"));
	free(out);
}

static void test_svg_writer_escapes(void)
{
	struct flow_record r;
	char *out;

	make_unread(&r);
	r.capture = HOSTILE_NAME;
	out = run(REPORT_SVG, NULL, &r, 1);
	CU_ASSERT(strncmp(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
	CU_ASSERT_PTR_NULL(strstr(out, "<script"));
	CU_ASSERT_PTR_NULL(strchr(out, '\x01'));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "evil&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ">RST,ACK</tspan> seq=301 ack=1065 len=0 win=68608</text>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "reset: the socket aborted</text>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "</svg>\n</svg>\n"));
	free(out);

	/* Nothing selected: still a valid picture that says so. */
	unread_list.selected = false;
	out = run(REPORT_SVG, NULL, &r, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "No connection matched --flow"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "</svg>\n"));
	free(out);
}

static void test_html_writer(void)
{
	struct flow_record r[2];
	char *out;
	const char *p;
	unsigned scripts = 0;

	make_unread(&r[0]);
	r[0].capture = HOSTILE_NAME;
	unread_list.selected = false; /* noteworthy, not selected: a story all the same */
	FLOW_REASON(&r[0].reason, REASON_TEXT, reason_str("</td></tr><script>alert(2)</script>"));
	r[1] = r[0];
	r[1].id = 30;
	r[1].close_class = CLOSE_FIN_GRACEFUL;
	r[1].segments = NULL;
	out = run(REPORT_HTML, NULL, r, 2);

	CU_ASSERT(strncmp(out, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
	for (p = out; (p = strstr(p, "<script")); p++)
		scripts++;
	CU_ASSERT_EQUAL(scripts, 1); /* ours, and nothing from the data */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "&lt;/td&gt;&lt;/tr&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<title>tcpmortem: evil&lt;script&gt;"));
	/* Self-contained: no attribute fetches anything. */
	CU_ASSERT_PTR_NULL(strstr(out, " src="));
	CU_ASSERT_PTR_NULL(strstr(out, "href=\"http"));
	CU_ASSERT_PTR_NULL(strstr(out, "url("));
	CU_ASSERT_PTR_NULL(strstr(out, "@import"));
	/* The table links to the story; the story has its ladder. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<a href=\"#flow-1\">#1</a>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<article class=\"story\" id=\"flow-1\">"));
	CU_ASSERT_PTR_NULL(strstr(out, "id=\"flow-30\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ladder\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<table id=\"flow-table\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "data-key=\"bytes\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "</html>\n"));
	free(out);
}

static void test_text_story_mode(void)
{
	struct flow_record r[2];
	struct writer_options opt = { .stories = true, .close_wait_ns = 5000 * MS };
	char *out;

	make_unread(&r[0]);
	r[1] = r[0];
	r[1].id = 40;
	r[1].segments = NULL; /* not selected: not told */
	out = run(REPORT_TEXT, &opt, r, 2);
	CU_ASSERT(strncmp(out, "connection #1  198.51.100.1:40001 -> 198.51.100.2:8080\n", 55) == 0);
	CU_ASSERT_PTR_NULL(strstr(out, "#40"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  ended        rst_unread_data, closed by the server\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ladder (all 10 segments)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  - The server reset the connection 100 ms after receiving"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "classifier: the server reset the connection"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\n-- tcpmortem " TCPMORTEM_VERSION ": evil<script>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\\x01\\xff.pcap")); /* the name, made harmless */
	CU_ASSERT_PTR_NULL(strchr(out, '\x1b'));
	free(out);
}

/* Colour: SGR sequences only, and the columns line up as without. */
static void test_text_colour(void)
{
	struct flow_record r;
	struct writer_options plain = { .close_wait_ns = 5000 * MS };
	struct writer_options colour = { .color = true, .close_wait_ns = 5000 * MS };
	char *a, *b;

	make_unread(&r);
	a = run(REPORT_TEXT, &plain, &r, 1);
	b = run(REPORT_TEXT, &colour, &r, 1);
	CU_ASSERT_PTR_NULL(strchr(a, '\x1b'));
	CU_ASSERT_PTR_NOT_NULL(strstr(b, "\x1b[31mrst_unread_data\x1b[0m"));
	strip_sgr(b);
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "  198.51.100.2:8080 (server)  1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "  not_ip: neither IPv4 nor IPv6"));
	free(a);
	free(b);
}

/* --- the digest: slowest closes, stuck half-closed ---------------------------------------------- */

static void test_digest_closes_and_stuck(void)
{
	struct digest d;
	struct flow_record r;
	struct run_summary s = { .last_ts_ns = T0 + 60000 * MS };
	struct ladder_seg fin_c = seg(10, 0, FROM_CLIENT, TCP_FIN | TCP_ACK, 65, 2001, 0, 0);
	struct ladder_seg fin_s = seg(11, 3000000, FROM_SERVER, TCP_FIN | TCP_ACK, 2001, 66, 0, 0);
	struct ladder_seg ack = seg(12, 3000100, FROM_CLIENT, TCP_ACK, 66, 2002, 0, 0);

	memset(&d, 0, sizeof d);
	for (unsigned i = 0; i < DIGEST_SLOW + 3; i++) {
		memset(&r, 0, sizeof r);
		r.id = 100 + i;
		r.close_class = CLOSE_FIN_GRACEFUL;
		r.closer = CLOSER_CLIENT;
		fin_s.ts_ns = T0 + (int64_t)i * 1000 * MS; /* flow 100+i: the server waited i s */
		ack.ts_ns = fin_s.ts_ns + 100000;
		r.evidence[0] = ev(&fin_c, "first FIN");
		r.evidence[1] = ev(&fin_s, "second FIN");
		r.evidence[2] = ev(&ack, "second FIN acknowledged");
		r.n_evidence = 3;
		CU_ASSERT(digest_add(&d, &r) == 0);
	}
	/* Half-closed at the end: the server in CLOSE-WAIT since 10 s and since 58 s before the end. */
	for (unsigned i = 0; i < 2; i++) {
		memset(&r, 0, sizeof r);
		r.id = 200 + i;
		r.close_class = CLOSE_HALF_CLOSED_AT_END;
		r.closer = CLOSER_CLIENT;
		r.state[FROM_CLIENT] = TCPS_FIN_WAIT_2;
		r.state[FROM_SERVER] = TCPS_CLOSE_WAIT;
		fin_c.ts_ns = T0 + (i == 0 ? 50000 : 2000) * MS;
		r.evidence[0] = ev(&fin_c, "FIN: sending side closed");
		r.n_evidence = 1;
		CU_ASSERT(digest_add(&d, &r) == 0);
	}
	digest_finish(&d, &s, 30000 * MS);
	CU_ASSERT_EQUAL(d.n_closes, DIGEST_SLOW + 3);
	CU_ASSERT_EQUAL(d.n_slow, DIGEST_SLOW);
	CU_ASSERT_EQUAL(d.slow[0].id, 100 + DIGEST_SLOW + 2); /* the slowest first */
	CU_ASSERT_EQUAL(d.slow[0].wait_ns, (int64_t)(DIGEST_SLOW + 2) * 1000 * MS);
	CU_ASSERT_EQUAL(d.slow[DIGEST_SLOW - 1].id, 103);
	CU_ASSERT_EQUAL(d.n_stuck, 2);
	CU_ASSERT_EQUAL(d.n_stuck_over, 1); /* 58 s > 30 s; 10 s is not */
	CU_ASSERT_EQUAL(d.n_stuck_kept, 1);
	CU_ASSERT_EQUAL(d.stuck[0].id, 201);
	CU_ASSERT_EQUAL(d.stuck[0].waiting, FROM_SERVER);
	CU_ASSERT_EQUAL(d.stuck[0].fin_frame, 10);
	digest_free(&d);
}

/* --- registration ------------------------------------------------------------------------------ */

CUNIT_TESTS(ladder_tests,
	    { "ladder_label", test_ladder_label },
	    { "ladder_text_layout", test_ladder_text_layout },
	    { "ladder_text_headings_ipv6", test_ladder_text_headings_ipv6 },
	    { "ladder_text_gaps_and_colour", test_ladder_text_gaps_and_colour },
	    { "ladder_caption", test_ladder_caption });

CUNIT_TESTS(story_tests,
	    { "story_names_closer_bytes_and_reset", test_story_names_closer_bytes_and_reset },
	    { "story_every_class", test_story_every_class });

CUNIT_TESTS(escape_tests,
	    { "escaping", test_escaping },
	    { "numbers_and_durations", test_numbers_and_durations });

CUNIT_TESTS(writer_tests,
	    { "markdown_writer", test_markdown_writer },
	    { "svg_writer_escapes", test_svg_writer_escapes },
	    { "html_writer", test_html_writer },
	    { "text_story_mode", test_text_story_mode },
	    { "text_colour", test_text_colour },
	    { "digest_closes_and_stuck", test_digest_closes_and_stuck });

CUNIT_MAIN("test_views",
           { "ladder", NULL, NULL, NULL, NULL, ladder_tests },
           { "story", NULL, NULL, NULL, NULL, story_tests },
           { "escape", NULL, NULL, NULL, NULL, escape_tests },
           { "writers", NULL, NULL, NULL, NULL, writer_tests })
