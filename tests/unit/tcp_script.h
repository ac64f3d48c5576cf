/* tcp_script.h - scripted TCP conversations for the unit tests of the tracker and the
 * classifier: each side's sequence numbers, clock, TTL and IPv4 ID kept as a Linux stack would
 * (samples/README.md measures what a Linux stack puts on the wire), fed to the tracker segment by
 * segment, then decoded and classified as the engine does. One running script at a time (its flow
 * is freed when the next starts, or by release_script()). Header-only: each runner includes it.
 */
#ifndef TM_TESTS_TCP_SCRIPT_H
#define TM_TESTS_TCP_SCRIPT_H

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "seg_build.h"
#include "store_suite.h" /* where the flows of the tests live */
#include "tracker.h"

#define MS 1000000LL
#define T0 (1764000000LL * 1000000000LL)

/* A two-endpoint conversation: each side's next sequence number and the clock. */
struct script {
	struct live_flow *flow;
	bool started;
	uint64_t frame;
	int64_t now;
	uint32_t nxt[2]; /* next sequence number of client [0] and server [1] */
	uint16_t window[2];
	uint8_t ttl[2];
	uint16_t ip_id[2];     /* next IPv4 ID of each side, +1 a segment (Linux); 0: always 0 */
	bool ip_id_random[2];  /* IDs jump around instead (a random-ID stack) */
	uint32_t syn_order[2]; /* option order of each side's SYN (Linux's by default) */
};

/* The reason's text, as the reports print it (one buffer: valid until the next call). */
static inline const char *reason_text(const struct flow_record *rec)
{
	static char text[FLOW_REASON_MAX];

	flow_reason_format(&rec->reason, text, sizeof text);
	return text;
}

/* The script of the running test: its flow is freed after the test. */
static struct script *current;

static inline void release_script(void)
{
	if (current && current->flow)
		flow_store_free(&store, current->flow);
	current = NULL;
}

static inline void script_init(struct script *s, uint32_t client_isn, uint32_t server_isn)
{
	release_script(); /* a test scripting another connection: the previous one is done */
	memset(s, 0, sizeof *s);
	current = s;
	s->now = T0;
	s->nxt[FROM_CLIENT] = client_isn;
	s->nxt[FROM_SERVER] = server_isn;
	s->window[0] = s->window[1] = 502;
	s->ttl[0] = s->ttl[1] = 64;
	s->syn_order[0] = s->syn_order[1] = 0x31642; /* mss, sackOK, TS, nop, wscale */
}

static inline struct tcp_segment make_seg(enum flow_direction d, uint8_t flags, uint32_t seq,
                                          uint32_t ack, uint32_t len)
{
	struct tcp_segment seg = seg_between(d, test_net2(1), test_net2(2), 40001, 8080, flags, seq,
	                                     ack, len);

	seg.ttl = 64;
	seg.window = 502;
	if (flags & TCP_SYN) {
		seg.options = TCP_OPT_MSS | TCP_OPT_WSCALE | TCP_OPT_SACK_PERM | TCP_OPT_TIMESTAMP;
		seg.wscale = 7;
		seg.mss = 1460;
		seg.window = 64240;
	}
	return seg;
}

/* Feeds a segment with explicit seq/ack, `ms` milliseconds after the previous one. */
static inline void feed(struct script *s, int64_t ms, enum flow_direction d, uint8_t flags,
                        uint32_t seq, uint32_t ack, uint32_t len)
{
	struct tcp_segment seg = make_seg(d, flags, seq, ack, len);

	seg.window = (flags & TCP_SYN) ? 64240 : s->window[d];
	seg.ttl = s->ttl[d];
	if (flags & TCP_SYN)
		seg.option_order = s->syn_order[d];
	/* Linux: a socket's segments count up; the SYN+ACK and socket-less resets carry 0. */
	if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) ||
	    (flags & (TCP_RST | TCP_ACK)) == TCP_RST)
		seg.ip_id = 0;
	else if (s->ip_id_random[d])
		seg.ip_id = (uint16_t)(s->ip_id[d] += 7919u * 13u);
	else if (s->ip_id[d])
		seg.ip_id = s->ip_id[d]++;
	s->now += ms * MS;
	if (!s->started) {
		s->flow = flow_store_new(&store);
		CU_ASSERT_FATAL(s->flow && flow_init(&store, s->flow, 1, &seg, "test.pcap", false, 0));
		s->started = true;
	}
	CU_ASSERT_EQUAL(flow_direction_of(&store, s->flow, &seg), d);
	tracker_segment(&store, s->flow, &seg, d, s->now, ++s->frame);
}

/* Sends the next segment of side d: seq = its next sequence number, ack = the peer's. */
static inline void send(struct script *s, int64_t ms, enum flow_direction d, uint8_t flags,
                        uint32_t len)
{
	uint32_t seq = s->nxt[d];

	feed(s, ms, d, flags, seq, (flags & TCP_ACK) ? s->nxt[!d] : 0, len);
	s->nxt[d] += len + ((flags & TCP_SYN) ? 1 : 0) + ((flags & TCP_FIN) ? 1 : 0);
}

static inline void handshake(struct script *s)
{
	send(s, 0, FROM_CLIENT, TCP_SYN, 0);
	send(s, 1, FROM_SERVER, TCP_SYN | TCP_ACK, 0);
	send(s, 1, FROM_CLIENT, TCP_ACK, 0);
}

/* Classifies the script's flow as the engine does: decoded, then classified. */
static inline void classify_script(const struct script *s, const struct classify_context *ctx,
                                   struct flow_record *rec)
{
	static struct flow view;
	static struct flow_rare view_rare;

	flow_decode(&store, s->flow, &view, &view_rare);
	classify_flow(&view, ctx, rec);
}

static inline void classify(struct script *s, struct flow_record *rec)
{
	struct classify_context ctx = { .capture_end_ns = s->now, .idle_ns = 5000 * MS };

	classify_script(s, &ctx, rec);
}

/* Classifies as if the capture went on `ms` after the last segment (a later packet of another
 * connection), with a CLOSE-WAIT threshold (0: the default). */
static inline void classify_later(struct script *s, int64_t ms, int64_t close_wait_ms,
                                  struct flow_record *rec)
{
	struct classify_context ctx = { .capture_end_ns = s->now + ms * MS, .idle_ns = 5000 * MS,
	                                .close_wait_ns = close_wait_ms * MS };

	classify_script(s, &ctx, rec);
}

/* Feeds a segment with explicit IP fields: what a box in the path forges. */
static inline void feed_forged(struct script *s, int64_t ms, enum flow_direction d,
                               uint8_t flags, uint32_t seq, uint32_t ack, uint8_t ttl,
                               uint16_t ip_id)
{
	struct tcp_segment seg = make_seg(d, flags, seq, ack, 0);

	seg.window = 0;
	seg.ttl = ttl;
	seg.ip_id = ip_id;
	s->now += ms * MS;
	tracker_segment(&store, s->flow, &seg, d, s->now, ++s->frame);
}

/* A request/response after the handshake, the client's ACK of the response included. */
static inline void exchange(struct script *s)
{
	send(s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);
	send(s, 0, FROM_SERVER, TCP_PSH | TCP_ACK, 300);
	send(s, 0, FROM_CLIENT, TCP_ACK, 0);
}

/* A graceful close, the server first: its FIN `fin_ms` after the last segment, the client's FIN
 * `reply_ms` later acknowledging it, the server's ACK of that ending it. */
static inline void server_closes_first(struct script *s, int64_t fin_ms, int64_t reply_ms)
{
	send(s, fin_ms, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(s, reply_ms, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(s, 0, FROM_SERVER, TCP_ACK, 0);
}

/* Linux's answer to lost data: the segment, a tail-loss probe ~205 ms later, then RTO
 * retransmissions doubling from ~208 ms; `rtos` of them. */
static inline void unanswered_data(struct script *s, int64_t after_ms, int rtos)
{
	uint32_t seq = s->nxt[FROM_CLIENT];
	int64_t gap = 208;

	send(s, after_ms, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed(s, 205, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s->nxt[FROM_SERVER], 100);
	for (int i = 0; i < rtos; i++, gap *= 2)
		feed(s, gap, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s->nxt[FROM_SERVER], 100);
}

static inline void assert_class(struct script *s, enum close_class want, enum closer_side closer)
{
	struct flow_record rec;

	classify(s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, want);
	CU_ASSERT_EQUAL(rec.closer, closer);
	CU_ASSERT(reason_text(&rec)[0] != '\0');
	if (want != CLOSE_OPEN_AT_END && want != CLOSE_IDLE_AT_END)
		CU_ASSERT(rec.n_evidence > 0);
	if (rec.close_class != want)
		fprintf(stderr, "\n  got %s: %s\n", close_class_name(rec.close_class), reason_text(&rec));
}

/* --- classification of scripted endings ------------------------------------------------------ */

/* A suite of scripted tests: its flow store made and freed (CU_SuiteInfo init and cleanup); the
 * per-test teardown is release_script. */
static inline int script_suite_init(void)
{
	return store_suite_init();
}

static inline int script_suite_clean(void)
{
	release_script();
	return store_suite_clean();
}

#endif
