/* test_seglog.c - what stories and ladder diagrams are made of: the --flow selection, the
 * bounded segment log behind them (analyzer/engine/seglog.c) and the progress line's text.
 *
 * Flows are scripted segment by segment through the real tracker and classifier (no pcap), and
 * the log is driven through the same engine hooks the engine calls. The log's invariants: the
 * shown segments plus every gap add up to the connection; the first segments, the FINs and
 * resets, the evidence frames and the last segment are always shown; sequence numbers are
 * relative like the evidence; memory stays within the budget. Exits non-zero on any failure.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "flow_select.h"
#include "progress.h"
#include "seglog.h"
#include "tracker.h"
#include "cunit_main.h"
#include "seg_build.h"
#include "store_suite.h" /* where the flows of the tests live */

#define MS 1000000LL
#define T0 (1764000000LL * 1000000000LL)

/* --- scripting a connection ------------------------------------------------------------------ */

struct conv {
	struct live_flow *flow;
	const struct engine_hooks *hooks;
	uint64_t *frame;      /* shared by the connections of one test: frames are global */
	int64_t now;
	uint32_t nxt[2];
	uint16_t client_port;
};

static struct tcp_segment make_seg(const struct conv *c, enum flow_direction d, uint8_t flags,
                                   uint32_t seq, uint32_t ack, uint32_t len)
{
	struct tcp_segment seg = seg_between(d, test_net2(1), test_net2(2), c->client_port, 8080,
	                                     flags, seq, ack, len);

	seg.ttl = 64;
	seg.window = (flags & TCP_RST) ? 7 : 500; /* a window of its own: the ladder shows each's */
	if (flags & TCP_SYN) {
		seg.options = TCP_OPT_WSCALE;
		seg.wscale = 7;
		seg.window = 64240;
	}
	return seg;
}

static void conv_init(struct conv *c, const struct engine_hooks *hooks, uint64_t *frame,
                      uint16_t client_port)
{
	memset(c, 0, sizeof *c);
	c->hooks = hooks;
	c->frame = frame;
	c->now = T0;
	c->nxt[FROM_CLIENT] = 1000;
	c->nxt[FROM_SERVER] = 5000000;
	c->client_port = client_port;
}

/* Feeds one segment with explicit seq/ack through the tracker and the log's hook. */
static void feed(struct conv *c, int64_t ms, enum flow_direction d, uint8_t flags, uint32_t seq,
                 uint32_t ack, uint32_t len)
{
	struct tcp_segment seg = make_seg(c, d, flags, seq, ack, len);
	bool first = c->flow == NULL;

	c->now += ms * MS;
	++*c->frame;
	if (first) {
		c->flow = flow_store_new(&store);
		CU_ASSERT_FATAL(c->flow != NULL);
		CU_ASSERT_FATAL(flow_init(&store, c->flow, *c->frame, &seg, "test.pcap", false, 0));
	}
	tracker_segment(&store, c->flow, &seg, d, c->now, *c->frame);
	c->hooks->segment(c->hooks->ctx, c->flow, &seg, d, c->now, *c->frame, first);
}

static void send(struct conv *c, int64_t ms, enum flow_direction d, uint8_t flags, uint32_t len)
{
	uint32_t seq = c->nxt[d];

	feed(c, ms, d, flags, seq, (flags & TCP_ACK) ? c->nxt[!d] : 0, len);
	c->nxt[d] += len + ((flags & TCP_SYN) ? 1u : 0u) + ((flags & TCP_FIN) ? 1u : 0u);
}

static void handshake(struct conv *c)
{
	send(c, 0, FROM_CLIENT, TCP_SYN, 0);
	send(c, 1, FROM_SERVER, TCP_SYN | TCP_ACK, 0);
	send(c, 1, FROM_CLIENT, TCP_ACK, 0);
}

/* Classifies and finishes the connection as the engine does; *keep says whether the hook
 * reported it. The record's segment list is valid until the next finish. */
static void finish(struct conv *c, struct flow_record *rec, bool *keep)
{
	struct classify_context ctx = { .capture_end_ns = c->now, .idle_ns = 5000 * MS };
	static struct flow view;
	static struct flow_rare view_rare;
	bool k;

	flow_decode(&store, c->flow, &view, &view_rare);
	flow_store_free(&store, c->flow);
	c->flow = NULL;
	classify_flow(&view, &ctx, rec);
	k = c->hooks->finish(c->hooks->ctx, &view, rec);
	if (keep)
		*keep = k;
}

static struct seglog *make_log(bool all, uint32_t head, uint32_t tail, size_t budget,
                               struct flow_selection *sel, bool only_selected)
{
	/* The same ring for the selected connections as for the others. */
	struct seglog_options o = { .all = all, .report_only_selected = only_selected,
		                    .head = head, .tail = tail, .sel_head = head, .sel_tail = tail,
		                    .budget = budget };
	struct seglog *sl = seglog_create(&o, sel);

	CU_ASSERT_FATAL(sl != NULL);
	return sl;
}

/* One test's log of one selected connection, reported alone (as --flow does). */
struct logged {
	struct flow_selection sel;
	uint64_t frame;
	struct seglog *sl;
	struct conv c;
};

/* A log of the connection(s) `which` selects (a --flow argument) that keeps the first `head`
 * segments and a ring of the last `tail`, and connection 40001 through its handshake: its
 * conversation. */
static struct conv *start_logged(struct logged *t, const char *which, uint32_t head,
                                 uint32_t tail)
{
	char err[64];

	memset(t, 0, sizeof *t);
	CU_ASSERT_EQUAL_FATAL(flow_selection_add(&t->sel, which, err, sizeof err), 0);
	t->sl = make_log(false, head, tail, SEGLOG_DEFAULT_BUDGET, &t->sel, true);
	conv_init(&t->c, seglog_hooks(t->sl), &t->frame, 40001);
	handshake(&t->c);
	return &t->c;
}

/* The invariant of every list: shown + left out = the whole connection, in frame order. */
static void check_accounting(const struct segment_list *l)
{
	uint64_t sum = l->n;

	for (uint32_t i = 0; i < l->n; i++) {
		sum += l->seg[i].gap;
		if (i)
			CU_ASSERT(l->seg[i].frame > l->seg[i - 1].frame);
	}
	CU_ASSERT_EQUAL(sum, l->total);
}

/* finish()es a logged connection: its list, which must be there and add up. */
static const struct segment_list *finish_logged(struct conv *c, struct flow_record *rec,
                                                bool *keep)
{
	finish(c, rec, keep);
	CU_ASSERT_FATAL(rec->segments != NULL);
	check_accounting(rec->segments);
	return rec->segments;
}

static const struct ladder_seg *find_frame(const struct segment_list *l, uint64_t frame)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->seg[i].frame == frame)
			return &l->seg[i];
	return NULL;
}

/* Every evidence frame is shown, and the evidence's numbers are the ladder's numbers. */
static void check_evidence_shown(const struct segment_list *l, const struct flow_record *rec)
{
	for (unsigned i = 0; i < rec->n_evidence; i++) {
		const struct ladder_seg *s = find_frame(l, rec->evidence[i].frame);

		CU_ASSERT_FATAL(s != NULL);
		CU_ASSERT_EQUAL(s->seq, rec->evidence[i].seq);
		CU_ASSERT_EQUAL(s->ack, rec->evidence[i].ack);
		CU_ASSERT_EQUAL(s->len, rec->evidence[i].len);
	}
}

/* --- the selection --------------------------------------------------------------------------- */

static void test_selection_parses_ids_and_endpoints(void)
{
	struct flow_selection s = { 0 };
	char err[256];
	struct flow_endpoint c = { { .family = 4, .bytes = { 198, 51, 100, 1 } }, 40001 };
	struct flow_endpoint v = { { .family = 4, .bytes = { 198, 51, 100, 2 } }, 8080 };
	struct flow_endpoint c6 = { { .family = 6, .bytes = { 0x20, 0x01, 0x0d, 0xb8 } }, 51000 };
	struct flow_endpoint v6 = { { .family = 6, .bytes = { 0x20, 0x01, 0x0d, 0xb8 } }, 443 };

	c6.addr.bytes[15] = 1;
	v6.addr.bytes[15] = 2;
	CU_ASSERT_EQUAL(flow_selection_add(&s, "7", err, sizeof err), 0);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "#12, 30", err, sizeof err), 0);
	CU_ASSERT_EQUAL(s.n, 3);
	CU_ASSERT(!s.entry[0].by_endpoints && s.entry[0].id == 7);
	CU_ASSERT(s.entry[1].id == 12 && s.entry[2].id == 30);
	CU_ASSERT(flow_selection_matches(&s, 30, &c, &v));
	CU_ASSERT(!flow_selection_matches(&s, 31, &c, &v));

	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "198.51.100.1:40001 198.51.100.2:8080", err, sizeof err), 0);
	CU_ASSERT(flow_selection_matches(&s, 99, &c, &v));
	CU_ASSERT(flow_selection_matches(&s, 99, &v, &c)); /* either order */
	v.port = 8081;
	CU_ASSERT(!flow_selection_matches(&s, 99, &c, &v));
	v.port = 8080;

	/* Arrows, commas, tcpdump's spelling, IPv6 in brackets. */
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "198.51.100.2:8080->198.51.100.1:40001", err, sizeof err), 0);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "198.51.100.1.40001 > 198.51.100.2.8080:", err, sizeof err), 0);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "[2001:db8::1]:51000 <-> [2001:db8::2]:443", err, sizeof err), 0);
	CU_ASSERT_EQUAL(flow_selection_add(&s, "2001:db8::2.443,2001:db8::1.51000", err, sizeof err), 0);
	CU_ASSERT_EQUAL(s.n, 4);
	CU_ASSERT(flow_selection_count(&s, 5, &c, &v));
	CU_ASSERT_EQUAL(s.entry[0].matched, 1);
	CU_ASSERT_EQUAL(s.entry[1].matched, 1);
	CU_ASSERT_EQUAL(s.entry[2].matched, 0);
	CU_ASSERT(flow_selection_count(&s, 6, &c6, &v6));
	CU_ASSERT_EQUAL(s.entry[2].matched, 1);
	CU_ASSERT_EQUAL(s.entry[3].matched, 1);
	CU_ASSERT_STRING_EQUAL(s.entry[2].text, "[2001:db8::1]:51000 <-> [2001:db8::2]:443");

	/* Wrong: nothing added, a message. */
	static const char *const bad[] = {
		"0", "", "abc", "198.51.100.1:80", "198.51.100.1:80 198.51.100.2:99999",
		"198.51.100.1:80 198.51.100.2:80 198.51.100.3:80", "[2001:db8::1]443 [::1]:1",
		"198.51.100.300:80 198.51.100.2:80", "-5", "1,,x",
	};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned n = s.n;

		err[0] = '\0';
		CU_ASSERT_EQUAL(flow_selection_add(&s, bad[i], err, sizeof err), -1);
		CU_ASSERT(err[0] != '\0');
		CU_ASSERT_EQUAL(s.n, n);
	}
}

static void test_selection_is_bounded(void)
{
	struct flow_selection s = { 0 };
	char err[256], arg[16];

	for (unsigned i = 1; i <= FLOW_SELECT_MAX; i++) {
		snprintf(arg, sizeof arg, "%u", i);
		CU_ASSERT_EQUAL(flow_selection_add(&s, arg, err, sizeof err), 0);
	}
	CU_ASSERT_EQUAL(flow_selection_add(&s, "65", err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most"));
	CU_ASSERT_EQUAL(s.n, FLOW_SELECT_MAX);
}

/* --- the log --------------------------------------------------------------------------------- */

/* A short connection is kept whole, with relative numbers and scaled windows. */
static void test_short_connection_kept_whole(void)
{
	struct logged t;
	struct flow_record rec;
	const struct segment_list *l;
	bool keep;
	struct conv *c = start_logged(&t, "1", 8, 32);

	send(c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);
	send(c, 1, FROM_SERVER, TCP_ACK, 0);
	send(c, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 300);
	send(c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000);
	send(c, 40, FROM_SERVER, TCP_ACK, 0);
	send(c, 60, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	l = finish_logged(c, &rec, &keep);

	CU_ASSERT(keep);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_UNREAD_DATA);
	CU_ASSERT(l->selected);
	CU_ASSERT_EQUAL(l->n, 9);
	CU_ASSERT_EQUAL(l->total, 9);
	CU_ASSERT_EQUAL(l->seg[0].seq, 0);                 /* SYN: the ISN is 0 */
	CU_ASSERT_EQUAL(l->seg[1].ack, 1);                 /* SYN+ACK acks the SYN */
	CU_ASSERT_EQUAL(l->seg[3].seq, 1);
	CU_ASSERT_EQUAL(l->seg[3].len, 64);
	CU_ASSERT_EQUAL(l->seg[8].flags, TCP_RST | TCP_ACK);
	CU_ASSERT_EQUAL(l->seg[8].seq, 301);
	CU_ASSERT_EQUAL(l->seg[8].ack, 1065);
	CU_ASSERT_EQUAL(l->seg[8].from, FROM_SERVER);
	CU_ASSERT_EQUAL(l->seg[4].window, 500u << 7);      /* scaled: both SYNs had wscale 7 */
	CU_ASSERT_EQUAL(l->seg[8].window, 7u << 7);        /* the RST's own, not the ACK's before */
	check_evidence_shown(l, &rec);
	seglog_destroy(t.sl);
}

/* A long half-closed connection: the head, the pinned FIN, the evidence and the tail, with the
 * gaps between them counted exactly. */
static void test_long_connection_bounded_with_gaps(void)
{
	struct logged t;
	struct flow_record rec;
	const struct segment_list *l;
	const struct ladder_seg *fin;
	struct conv *c = start_logged(&t, "198.51.100.2:8080 198.51.100.1:40001", 4, 6); /* frames 1-3 */

	send(c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);    /* 4 */
	send(c, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);     /* 5: the half-close */
	for (int i = 0; i < 100; i++) {                    /* 6-205 */
		send(c, 50, FROM_SERVER, TCP_PSH | TCP_ACK, 200);
		send(c, 0, FROM_CLIENT, TCP_ACK, 0);
	}
	l = finish_logged(c, &rec, NULL);

	CU_ASSERT_EQUAL(rec.close_class, CLOSE_HALF_CLOSED_AT_END);
	CU_ASSERT_EQUAL(l->total, 205);
	CU_ASSERT(l->n <= 4 + 4 + 6 + FLOW_EVIDENCE_MAX);  /* head + pins + tail + evidence */
	for (uint64_t f = 1; f <= 4; f++)
		CU_ASSERT_PTR_NOT_NULL(find_frame(l, f));
	fin = find_frame(l, 5);
	CU_ASSERT_FATAL(fin != NULL);                      /* pinned when it left the ring */
	CU_ASSERT_EQUAL(fin->flags, TCP_FIN | TCP_ACK);
	CU_ASSERT(!(fin->marks & LADDER_NO_WINDOW));
	for (uint64_t f = 200; f <= 205; f++)
		CU_ASSERT_PTR_NOT_NULL(find_frame(l, f));     /* the ring: the last six */
	check_evidence_shown(l, &rec);
	CU_ASSERT_EQUAL(l->seg[l->n - 1].frame, 205);
	seglog_destroy(t.sl);
}

/* With a tiny ring, evidence frames fall in a gap: they are shown anyway, their window unknown,
 * and the gap they split is counted once. */
static void test_evidence_in_a_gap_is_shown(void)
{
	struct logged t;
	struct flow_record rec;
	const struct segment_list *l;
	unsigned merged = 0, shared = 0;
	struct conv *c = start_logged(&t, "1", 1, 1);

	send(c, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 300); /* the closer's last data: evidence */
	for (int i = 0; i < 20; i++)
		send(c, 1, FROM_CLIENT, TCP_ACK, 0);
	send(c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000); /* the unread bytes: evidence */
	for (int i = 0; i < 20; i++)
		send(c, 1, FROM_SERVER, TCP_ACK, 0);
	send(c, 100, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	l = finish_logged(c, &rec, NULL);

	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_UNREAD_DATA);
	check_evidence_shown(l, &rec);
	for (uint32_t i = 0; i < l->n; i++) {
		merged += (l->seg[i].marks & LADDER_NO_WINDOW) != 0;
		shared += (l->seg[i].marks & LADDER_GAP_SHARED) != 0;
	}
	CU_ASSERT(merged >= 2);
	CU_ASSERT(shared >= 1);
	CU_ASSERT_EQUAL(find_frame(l, 4)->len, 300);
	CU_ASSERT_EQUAL(find_frame(l, 4)->seq, 1);
	seglog_destroy(t.sl);
}

static void test_retransmission_marked(void)
{
	struct logged t;
	struct flow_record rec;
	struct conv *c = start_logged(&t, "1", 8, 32);

	send(c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);          /* 4 */
	feed(c, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, 1001, c->nxt[1], 100); /* 5: the same again */
	send(c, 1, FROM_SERVER, TCP_ACK, 0);                      /* 6 */
	finish(c, &rec, NULL);
	CU_ASSERT_FATAL(rec.segments != NULL);
	CU_ASSERT(!(find_frame(rec.segments, 4)->marks & LADDER_RETRANSMISSION));
	CU_ASSERT(find_frame(rec.segments, 5)->marks & LADDER_RETRANSMISSION);
	CU_ASSERT(!(find_frame(rec.segments, 6)->marks & LADDER_RETRANSMISSION));
	seglog_destroy(t.sl);
}

/* Only the selected connection is logged and, when asked, reported; an endpoint pair selects
 * every connection on it. */
static void test_selection_decides_log_and_report(void)
{
	struct flow_selection sel = { 0 };
	char err[64];
	uint64_t frame = 0;
	struct seglog *sl;
	struct conv a, b, again;
	struct flow_record rec;
	bool keep;

	CU_ASSERT_EQUAL(flow_selection_add(&sel, "198.51.100.1:40002 198.51.100.2:8080", err, sizeof err), 0);
	sl = make_log(false, 8, 32, SEGLOG_DEFAULT_BUDGET, &sel, true);
	conv_init(&a, seglog_hooks(sl), &frame, 40001);
	conv_init(&b, seglog_hooks(sl), &frame, 40002);
	handshake(&a);
	handshake(&b);
	send(&a, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&b, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	finish(&a, &rec, &keep);
	CU_ASSERT(!keep);
	CU_ASSERT_PTR_NULL(rec.segments);
	finish(&b, &rec, &keep);
	CU_ASSERT(keep);
	CU_ASSERT_FATAL(rec.segments != NULL);
	CU_ASSERT(rec.segments->selected);
	CU_ASSERT_EQUAL(rec.segments->total, 4);

	conv_init(&again, seglog_hooks(sl), &frame, 40002); /* the same 4-tuple, later */
	handshake(&again);
	finish(&again, &rec, &keep);
	CU_ASSERT(keep);
	CU_ASSERT_FATAL(rec.segments != NULL);
	CU_ASSERT_EQUAL(rec.segments->seg[0].frame, 9);
	CU_ASSERT_EQUAL(sel.entry[0].matched, 2);
	seglog_destroy(sl);
}

/* All connections (the HTML report), within a memory budget that is given back as they end. */
static void test_all_mode_respects_budget(void)
{
	uint64_t frame = 0;
	struct seglog *sl;
	struct conv c[3];
	struct flow_record rec;
	bool keep;
	/* Room for two small logs at once (each starts with head + 4 pins + 4 ring entries). */
	size_t one = 1024;

	sl = make_log(true, 4, 16, 2 * one, NULL, false);
	for (int i = 0; i < 3; i++) {
		conv_init(&c[i], seglog_hooks(sl), &frame, (uint16_t)(40001 + i));
		handshake(&c[i]);
	}
	CU_ASSERT_EQUAL(seglog_unlogged(sl), 1);
	finish(&c[0], &rec, &keep);
	CU_ASSERT(keep);
	CU_ASSERT_PTR_NOT_NULL(rec.segments);
	CU_ASSERT(!rec.segments->selected);
	finish(&c[2], &rec, &keep);
	CU_ASSERT(keep);
	CU_ASSERT_PTR_NULL(rec.segments); /* started over budget */

	/* Room again: a new connection gets its log, its ring grows only within the budget. */
	conv_init(&c[2], seglog_hooks(sl), &frame, 40010);
	handshake(&c[2]);
	for (int i = 0; i < 50; i++)
		send(&c[2], 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	finish(&c[2], &rec, NULL);
	CU_ASSERT_FATAL(rec.segments != NULL);
	check_accounting(rec.segments);
	CU_ASSERT_EQUAL(rec.segments->total, 53);
	finish(&c[1], &rec, NULL);
	CU_ASSERT_PTR_NOT_NULL(rec.segments);
	CU_ASSERT_EQUAL(seglog_unlogged(sl), 1);
	seglog_destroy(sl);
}

/* A connection still open when the run stops is freed with the log (ASan checks). */
static void test_destroy_frees_open_logs(void)
{
	struct flow_selection sel = { 0 };
	char err[64];
	uint64_t frame = 0;
	struct seglog *sl;
	struct conv c;

	CU_ASSERT_EQUAL(flow_selection_add(&sel, "1", err, sizeof err), 0);
	sl = make_log(true, 4, 16, SEGLOG_DEFAULT_BUDGET, &sel, false);
	conv_init(&c, seglog_hooks(sl), &frame, 40001);
	handshake(&c);
	for (int i = 0; i < 100; i++)
		send(&c, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	seglog_destroy(sl);
	flow_store_free(&store, c.flow);
}

/* --- the progress line ----------------------------------------------------------------------- */

static void test_progress_line(void)
{
	char line[256];

	progress_format(line, sizeof line, 120000000, 280000000, 10.0, 1210000.0, 12345);
	CU_ASSERT_STRING_EQUAL(line, "tcpmortem: 43% of 280 MB, 1.21 M packets/s, 12,345 live flows, "
	                             "ETA 0:13");
	progress_format(line, sizeof line, 2500000000ull, 0, 100.0, 5400.0, 7);
	CU_ASSERT_STRING_EQUAL(line, "tcpmortem: 2.5 GB read, 5 k packets/s, 7 live flows");
	progress_format(line, sizeof line, 1000, 3600000, 1.0, 10.0, 0);
	CU_ASSERT_STRING_EQUAL(line, "tcpmortem: 0% of 4 MB, 10 packets/s, 0 live flows, ETA 59:59");
	/* Never more than 100%, and no ETA once everything is read. */
	progress_format(line, sizeof line, 300, 200, 1.0, 10.0, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "100% of"));
	CU_ASSERT_PTR_NULL(strstr(line, "ETA"));
}

/* --- registration ---------------------------------------------------------------------------- */

CUNIT_TESTS(selection_tests,
	    { "selection_parses_ids_and_endpoints", test_selection_parses_ids_and_endpoints },
	    { "selection_is_bounded", test_selection_is_bounded });

CUNIT_TESTS(log_tests,
	    { "short_connection_kept_whole", test_short_connection_kept_whole },
	    { "long_connection_bounded_with_gaps", test_long_connection_bounded_with_gaps },
	    { "evidence_in_a_gap_is_shown", test_evidence_in_a_gap_is_shown },
	    { "retransmission_marked", test_retransmission_marked },
	    { "selection_decides_log_and_report", test_selection_decides_log_and_report },
	    { "all_mode_respects_budget", test_all_mode_respects_budget },
	    { "destroy_frees_open_logs", test_destroy_frees_open_logs });

CUNIT_TESTS(progress_tests,
	    { "progress_line", test_progress_line });

CUNIT_MAIN("test_seglog",
	   { "selection", NULL, NULL, NULL, NULL, selection_tests },
	   { "seglog", store_suite_init, store_suite_clean, NULL, NULL, log_tests },
	   { "progress", NULL, NULL, NULL, NULL, progress_tests })
