/* classify.c - the one place where evidence becomes a close class.
 *
 * Precedence, first match wins (DESIGN §2; calibrated on samples/, see samples/README.md):
 *
 *  0. before the class    rst_from_middlebox (modifier): a side's first RST whose TTL / hop limit
 *                         differs from that side's other segments (the first one's, or the last
 *                         one's after a route change), or whose IPv4 ID does not continue the
 *                         side's ID counter (steps of 1..IP_ID_STEP_MAX seen at least twice and
 *                         rarely broken: Linux counts per socket, by one; Windows per host, which
 *                         its other traffic moves on, so a host-wide counter is only held to it
 *                         within a second of the side's last segment). ID 0 always
 *                         fits: a kernel answering without a socket sends it (Linux
 *                         tcp_v4_send_reset, nf_send_reset alike), so iptables REJECT's reset is
 *                         convicted by its TTL (the router's 64 where the server's packets arrive
 *                         with 63), an injector that copies the TTL by its ID. The evidence keeps
 *                         the expected and seen values. A side that sent nothing but resets gives
 *                         nothing to compare with.
 *  1. syn_unanswered      the client's SYN(s) and nothing at all from the server.
 *  2. rst_refused         the server's first answer to the SYN is a RST (no SYN+ACK).
 *  3. keepalive_timeout   a side's keepalive probes are unanswered up to its RST or to the end
 *                         of the flow (two or more probes). Explains a later RST from the prober.
 *                         closer: the prober (Linux resets when it gives up; without the
 *                         RST the capture ended while it was still probing). Detail
 *                         middlebox_idle_timeout when the first unanswered probe came after a
 *                         long idle (below).
 *  4. peer_vanished       a side's data or FIN stays unanswered to the end, retransmitted at
 *                         least twice, or once over more than a second of unanswered sending,
 *                         and the peer never sends anything again (detail heartbeat when the
 *                         side had been exchanging small messages, else retransmit_timeout).
 *                         Explains a later RST from the side that gave up. closer: the side
 *                         left sending; the reason says whether its retransmissions stopped
 *                         (the next backoff interval passed with none: Linux gives up
 *                         silently) or were still going on when the capture ended. Detail
 *                         middlebox_idle_timeout instead when the unanswered sending began after
 *                         a long idle and the peer had answered before it.
 *  5. the first RST decides (both FINs sent and acknowledged before it: step 6 instead). Its
 *     kind comes from its sequence number (read_reset below): its sender's own next one is a
 *     socket aborting itself, the ack of the segment it answers is a kernel answering for a
 *     socket it no longer had; when the two coincide, a socket that had acknowledged that
 *     segment, the ACK flag, or an answer within the round trip to the sender decide.
 *     from the path       rst_from_middlebox on this RST (TTL, a socket reset's IP ID on a
 *                         per-connection counter, or a reaction sooner than its sender could
 *                         have received what it reacts to): classified by shape only, a
 *                         kernel-like one rst_peer_restarted, a socket-like one rst_abort.
 *                         closer: the side it names. Detail middlebox_idle_timeout when it
 *                         answered the first segment after a long idle;
 *     rst_after_close     its sender had sent FIN, and the RST is its kernel answering data or
 *                         a FIN its FIN had not acknowledged (or a socket never acknowledging
 *                         data sent to it after its FIN); detail fin_wait_2_timeout when it
 *                         answered the peer's late FIN later than the shortest FIN-WAIT-2 Linux
 *                         keeps (3.5 RTO, RTO >= 200 ms + the round trip between the sides);
 *     rst_peer_restarted  a kernel's answer from a side that never sent FIN;
 *     rst_unread_data     a socket's reset whose receive buffer was full (zero window never
 *                         reopened: certain; a window below a quarter of its largest up to the
 *                         reset: likely), or, without window evidence, from a side that had
 *                         received bytes after its own last data and never answered them (a
 *                         server with a request pending, a client never having sent anything):
 *                         ambiguous, with rst_abort as the alternative;
 *     rst_abort           any other socket reset: a window update after the peer's last data
 *                         (its application read: likely), a client reset after the answer to
 *                         its request (ambiguous, rst_unread_data the alternative), or nothing
 *                         left unanswered (likely).
 *  6. both FINs           fin_simultaneous when neither FIN's ACK covers the other FIN (they
 *                         crossed, RFC 9293 §3.6 case 2), else fin_graceful.
 *  7. one FIN             half_closed_at_end; detail close_wait_stuck when the side that
 *                         acknowledged the FIN has been in CLOSE-WAIT (RFC 9293 §3.6: it lasts
 *                         until the application closes) for --close-wait seconds (60 by default)
 *                         at the end, sending nothing since that ACK or its last data: a socket
 *                         its application never closed.
 *  8. nothing             idle_at_end when no payload, SYN or FIN for longer than the idle
 *                         threshold before the capture ends, else open_at_end.
 *
 * A long idle (middlebox_idle_timeout) is a silence of at least MIDDLEBOX_IDLE_MIN_MS (5 s) with
 * no segment either way, and at least LONG_IDLE_FACTOR (3) times every earlier gap of the flow:
 * a box that drops idle connections strikes at the first silence longer than its timeout, so a
 * connection whose usual pace already had such silences was not timed out by one. Stateful
 * firewalls and NATs time connections out after seconds to hours (Linux conntrack
 * nf_conntrack_tcp_timeout_established, cloud load balancers 350 s, 4 min); a peer that died
 * during the silence looks the same from one side, and the reason says so.
 *
 * Diagnoses reported whatever the class (flow_record.h struct flow_diagnosis):
 *  - close_wait           as in 7, for every class: also a side that closed (FIN or RST) only
 *                         after at least the threshold in CLOSE-WAIT (no detail then).
 *  - time_wait            the side(s) whose inferred state is TIME-WAIT at the end (RFC 9293
 *                         §3.6: the side that closed first; both after a simultaneous close).
 *  - time_wait_reuse      a SYN reused the 4-tuple of a connection that ended less than
 *                         TIME_WAIT_MAX_NS (RFC 9293: 2 MSL, 4 minutes; Linux 60 s) before, while
 *                         a side held its TIME-WAIT; whether the new SYN was accepted (RFC 6191).
 *  - timers, stack        timers.c: the settings behind the retransmission, keepalive and
 *                         FIN-WAIT-2 timing, and each side's likely stack family.
 */
#include "classify.h"

#include <string.h>

#include "segment.h"
#include "seq.h"
#include "timers.h"
#include "tracker.h"

/* Unanswered retransmissions that make a vanished peer, or the span of unanswered sending
 * (with at least one retransmission) that does. */
#define VANISHED_MIN_RETRANSMISSIONS 2
#define VANISHED_MIN_SPAN_NS (1000LL * 1000000)
/* Linux's minimum retransmission timeout (TCP_RTO_MIN, 200 ms). */
#define RTO_MIN_NS (200LL * 1000000)
/* Unanswered keepalive probes that make a timeout when no RST follows (capture ended). */
#define KEEPALIVE_MIN_UNANSWERED 2
/* Heartbeat-sized messages a side must have sent, and the peer answered, for `heartbeat`. */
#define HEARTBEAT_MIN_MESSAGES 3
/* Silence before a segment the path dropped or reset that makes a middlebox idle timeout (it
 * must also be LONG_IDLE_FACTOR times any earlier gap of the flow, flow.h). */
#define MIDDLEBOX_IDLE_MIN_MS 5000
/* RFC 9293 §3.4.2 (quiet time) and §3.6: TIME-WAIT lasts 2 MSL, 4 minutes with the RFC's MSL;
 * Linux holds it 60 s (TCP_TIMEWAIT_LEN). A reuse within this may meet the old TIME-WAIT. */
#define TIME_WAIT_MAX_NS (240LL * 1000000000)

static const struct seg_snap no_snap;

/* The record's reason: a template of contract/flow_reason.c and its arguments, formatted only by
 * the writers that print it. Arguments are values or static text, never pointers into the flow. */
#define REASON(rec, id, ...) FLOW_REASON(&(rec)->reason, (id), __VA_ARGS__)
#define STR(s) reason_str(s)
#define NUM(u) reason_uint(u)
#define DUR(ns) reason_ns(ns)

static enum closer_side closer_of(enum flow_direction d)
{
	return d == FROM_CLIENT ? CLOSER_CLIENT : CLOSER_SERVER;
}

static void add_evidence(struct flow_record *rec, const struct flow *f, const struct seg_snap *s,
                         enum flow_direction from, const char *note)
{
	struct evidence_frame *e;
	uint64_t frame = snap_frame(f, s);

	if (!frame || rec->n_evidence >= FLOW_EVIDENCE_MAX)
		return;
	for (unsigned i = 0; i < rec->n_evidence; i++)
		if (rec->evidence[i].frame == frame)
			return;
	e = &rec->evidence[rec->n_evidence++];
	e->frame = frame;
	e->ts_ns = s->ts_ns;
	e->from = (uint8_t)from;
	e->flags = s->flags;
	e->seq = s->seq - f->dir[from].isn;
	e->ack = (s->flags & TCP_ACK) && (f->dir[!from].bits & DIR_SEQ_KNOWN)
	             ? s->ack - f->dir[!from].isn
	             : s->ack;
	e->len = s->len;
	e->note = note;
}

/* Evidence in frame order reads as a story. */
static void sort_evidence(struct flow_record *rec)
{
	for (unsigned i = 1; i < rec->n_evidence; i++) {
		struct evidence_frame e = rec->evidence[i];
		unsigned j = i;

		while (j > 0 && rec->evidence[j - 1].frame > e.frame) {
			rec->evidence[j] = rec->evidence[j - 1];
			j--;
		}
		rec->evidence[j] = e;
	}
}

static void set_close(struct flow_record *rec, enum close_class c, enum closer_side closer,
                      const struct seg_snap *decisive)
{
	rec->close_class = c;
	rec->closer = closer;
	if (decisive && decisive->frame) {
		rec->has_close_ts = true;
		rec->close_ts_ns = decisive->ts_ns;
	}
}

/* The client's first SYN, rebuilt: it is the flow's first segment when the flow starts with
 * one, and its fields are known (seq = ISN, no ACK, no data). */
static struct seg_snap client_syn(const struct flow *f)
{
	if (!f->starts_with_syn)
		return no_snap;
	return (struct seg_snap){ .ts_ns = f->first_ts_ns, .frame = 1,
	                          .seq = f->dir[FROM_CLIENT].isn, .flags = TCP_SYN };
}

static enum handshake_kind handshake_of(const struct flow *f)
{
	if (f->synack_seen)
		return f->handshake_acked ? HANDSHAKE_COMPLETE : HANDSHAKE_NO_FINAL_ACK;
	if (f->starts_with_syn && f->dir[FROM_SERVER].rst_count)
		return HANDSHAKE_REFUSED;
	if (f->starts_with_syn)
		return HANDSHAKE_SYN_ONLY;
	return HANDSHAKE_MIDSTREAM;
}

static bool try_syn_unanswered(const struct flow *f, struct flow_record *rec)
{
	const struct flow_dir *c = &f->dir[FROM_CLIENT];
	struct seg_snap syn = client_syn(f);

	if (!syn.frame || f->dir[FROM_SERVER].packets > 0 || f->synack_seen)
		return false;
	set_close(rec, CLOSE_SYN_UNANSWERED, CLOSER_NONE, NULL);
	add_evidence(rec, f, &syn, FROM_CLIENT, "connection attempt");
	if (c->syn_count > 1) {
		add_evidence(rec, f, &c->last, FROM_CLIENT, "last SYN retransmission");
		REASON(rec, REASON_SYN_UNANSWERED, NUM(c->syn_count),
		       DUR(c->last.ts_ns - syn.ts_ns));
	} else {
		flow_reason_set(&rec->reason, REASON_SYN_UNANSWERED_ONCE, NULL, 0);
	}
	return true;
}

static bool try_refused(const struct flow *f, struct flow_record *rec)
{
	struct seg_snap syn = client_syn(f);
	const struct flow_rare *r = f->rare;

	if (!syn.frame || f->synack_seen || !r || !r->rst_frame[FROM_SERVER])
		return false;
	if (r->first_rst_from != FROM_SERVER)
		return false;
	set_close(rec, CLOSE_RST_REFUSED, CLOSER_SERVER, &r->first_rst);
	add_evidence(rec, f, &syn, FROM_CLIENT, "connection attempt");
	add_evidence(rec, f, &r->first_rst, FROM_SERVER, "reset instead of SYN+ACK");
	REASON(rec, REASON_REFUSED, DUR(r->first_rst.ts_ns - r->rst_answers.ts_ns),
	       NUM(f->ep[FROM_SERVER].port));
	return true;
}

/* A silence long enough, and longer than any before it, for a stateful box in the path to
 * have dropped the connection's state. */
static bool after_long_idle(uint32_t idle_ms, bool longest)
{
	return longest && idle_ms >= MIDDLEBOX_IDLE_MIN_MS;
}

static void note_idle_timeout(struct flow_record *rec, enum flow_direction from, uint32_t idle_ms,
                              bool reset)
{
	struct idle_timeout_evidence *t = &rec->diagnosis.idle_timeout;

	t->present = true;
	t->from = (uint8_t)from;
	t->idle_ns = (int64_t)idle_ms * 1000000;
	t->reset = reset;
}

static bool try_keepalive(const struct flow *f, struct flow_record *rec)
{
	const struct silent_run *run = &f->silent;
	enum flow_direction k = (enum flow_direction)run->from;
	const struct flow_rare *r = f->rare;
	int64_t gap;
	bool reset;

	if (run->probes == 0 || !r)
		return false;
	reset = r->rst_frame[k] > r->first_probe.frame;
	if (!reset && run->probes < KEEPALIVE_MIN_UNANSWERED)
		return false;
	/* Linux resets when keepalive gives up (tcp_keepalive_timer); without that RST the prober
	 * was still probing when the capture ended. Either way the prober is the side that ends
	 * the connection. */
	set_close(rec, CLOSE_KEEPALIVE_TIMEOUT, closer_of(k), reset ? &r->first_rst : &r->last_probe);
	rec->confidence = CONFIDENCE_LIKELY;
	if (after_long_idle(run->idle_before_ms, run->long_idle)) {
		/* The first probe came after a silence longer than any before it, and nothing ever
		 * answered again: the path forgot the connection (or the peer died while idle). */
		rec->close_detail = "middlebox_idle_timeout";
		note_idle_timeout(rec, k, run->idle_before_ms, false);
	}
	add_evidence(rec, f, &f->dir[!k].last, (enum flow_direction)!k, "last segment from the peer");
	add_evidence(rec, f, &r->first_probe, k, "first unanswered keepalive probe");
	add_evidence(rec, f, &r->last_probe, k, "last unanswered keepalive probe");
	if (reset && r->first_rst_from == k)
		add_evidence(rec, f, &r->first_rst, k, "keepalive gave up: reset");
	gap = run->probes > 1
	          ? (r->last_probe.ts_ns - r->first_probe.ts_ns) / (int64_t)(run->probes - 1)
	          : 0;
	if (rec->diagnosis.idle_timeout.present) {
		REASON(rec, REASON_KEEPALIVE_IDLE, DUR((int64_t)run->idle_before_ms * 1000000),
		       STR(direction_name(k)), NUM(run->probes), DUR(gap),
		       STR(reset ? "it reset the connection" : "the capture ends"));
		return true;
	}
	REASON(rec, REASON_KEEPALIVE, STR(direction_name(k)), NUM(run->probes), DUR(gap),
	       STR(reset ? "it gave up and reset the connection"
	                 : "the capture ends while they are unanswered"));
	return true;
}

/* The side had been exchanging small messages with its peer (application heartbeats). */
static bool was_heartbeating(const struct flow *f, enum flow_direction k)
{
	const struct flow_dir *me = &f->dir[k];
	const struct flow_dir *peer = &f->dir[!k];

	return me->small_payload_segments >= HEARTBEAT_MIN_MESSAGES &&
	       me->small_payload_segments * 2 >= me->payload_segments &&
	       peer->payload_segments >= HEARTBEAT_MIN_MESSAGES - 1 &&
	       f->silent.first.len <= HEARTBEAT_MAX_BYTES;
}

/* Linux gives up on retransmissions silently (tcp_write_err: no segment is sent), so giving up
 * shows only as the retransmissions stopping: no further one by the time the exponential
 * backoff (RFC 6298 §5.5) would have sent it. A RST after them also ends it. */
static bool gave_up_retransmitting(const struct flow *f, const struct classify_context *ctx)
{
	const struct silent_run *run = &f->silent;
	/* Saturating: gaps between capture timestamps can be as large as the timestamps. */
	int64_t next_gap = run->last_rtx_gap_ns > INT64_MAX / 2 ? INT64_MAX : 2 * run->last_rtx_gap_ns;
	int64_t limit;

	if (next_gap < RTO_MIN_NS)
		next_gap = RTO_MIN_NS;
	limit = next_gap > INT64_MAX / 3 * 2 ? INT64_MAX : next_gap + next_gap / 2;
	if (f->rare && f->rare->rst_frame[run->from] > run->first.frame)
		return true;
	return ctx->capture_end_ns - run->last.ts_ns > limit;
}

static bool try_vanished(const struct flow *f, const struct classify_context *ctx,
                         struct flow_record *rec)
{
	const struct silent_run *run = &f->silent;
	enum flow_direction k = (enum flow_direction)run->from;
	const struct flow_dir *me = &f->dir[k];
	const struct flow_dir *peer = &f->dir[!k];
	int64_t span, silent;
	const char *end;
	bool heartbeat, gave_up;

	/* Data (or a FIN) left unanswered to the end, retransmitted at least once, over a second
	 * or with at least two retransmissions: the peer is gone, not just slow. */
	if (run->rtx == 0)
		return false;
	if (run->rtx < VANISHED_MIN_RETRANSMISSIONS &&
	    run->last.ts_ns - run->first.ts_ns < VANISHED_MIN_SPAN_NS)
		return false;
	heartbeat = was_heartbeating(f, k);
	gave_up = gave_up_retransmitting(f, ctx);

	/* The closer is the side left sending to nobody, whether or not the capture shows it
	 * giving up: Linux gives up silently, and captures usually stop soon after. */
	set_close(rec, CLOSE_PEER_VANISHED, closer_of(k), &run->last);
	rec->confidence = CONFIDENCE_LIKELY;
	rec->close_detail = heartbeat ? "heartbeat" : "retransmit_timeout";
	if (peer->packets > 0 && after_long_idle(run->idle_before_ms, run->long_idle)) {
		/* The first segment after the longest silence of the flow went unanswered: a
		 * stateful firewall or NAT most likely forgot the connection and drops it. */
		rec->close_detail = "middlebox_idle_timeout";
		note_idle_timeout(rec, k, run->idle_before_ms, false);
	}
	add_evidence(rec, f, &peer->last, (enum flow_direction)!k, "last sign of life from the peer");
	add_evidence(rec, f, &run->first, k, "first segment never answered");
	add_evidence(rec, f, &run->last, k, "last unanswered segment");
	if (me->fin.frame > peer->last.frame)
		add_evidence(rec, f, &me->fin, k, "FIN never acknowledged");
	if (f->rare && f->rare->first_rst_from == k && f->rare->first_rst.frame > run->first.frame)
		add_evidence(rec, f, &f->rare->first_rst, k, "reset after giving up");
	span = run->last.ts_ns - run->first.ts_ns;
	silent = ctx->capture_end_ns - peer->last.ts_ns;
	end = gave_up ? "the retransmissions stopped: it gave up"
	              : "still retransmitting when the capture ended";
	if (rec->diagnosis.idle_timeout.present)
		REASON(rec, REASON_VANISHED_IDLE, DUR((int64_t)run->idle_before_ms * 1000000),
		       STR(direction_name(k)), NUM(run->rtx), DUR(span), STR(end));
	else
		REASON(rec, heartbeat ? REASON_VANISHED_HEARTBEAT : REASON_VANISHED,
		       STR(direction_name((enum flow_direction)!k)), STR(direction_name(k)), NUM(run->segs),
		       NUM(run->rtx), DUR(span), DUR(silent), STR(end));
	return true;
}

/* --- resets ----------------------------------------------------------------------------------
 *
 * Two kinds of RST, told apart by their sequence number on every stack (RFC 9293 §3.10.7.1):
 *  - a socket aborting itself (close() with unread data, SO_LINGER 0, Windows' abortive
 *    closesocket, a keepalive give-up) sends its *own next sequence number*, usually with ACK;
 *  - a kernel answering a segment for which it has no open socket (closed, never existed, state
 *    lost) takes the reset's sequence number from that segment's ACK field, without ACK.
 * When the two numbers are the same (nothing sent since the peer's last acknowledgement), the
 * socket had acknowledged the answered segment first (it was alive when it came), or the ACK
 * flag, or the timing tells: a kernel answers within the round trip from the capture point to
 * it; a reset much later than that is the side's own decision. The ACK flag alone decides
 * nothing: Windows aborts with a bare RST, carrying its own next sequence number.
 */
enum reset_kind { RESET_SOCKET, RESET_ANSWER };

struct reset_reading {
	enum reset_kind kind;
	bool certain;          /* the sequence numbers alone told */
	int64_t delay;         /* from the peer's last segment before it to the reset */
	int64_t delay_first;   /* from the peer's first segment carrying the ack it took its seq
	                          from (a kernel's answer cannot come sooner than a round trip) */
	uint32_t answered_end; /* sequence space end of the segment it answers (data, FIN) */
	bool answered_data;    /* that segment carried data or a FIN */
	/* It reacted to a segment sooner after that segment passed the capture point than the
	 * round trip from there to its sender: the sender had not received it yet. */
	bool too_early;
	int64_t reacted_after; /* that segment to the reset */
};

/* A round trip this short is within what a busy host adds to its own answers (scheduling,
 * interrupt coalescing: up to about a millisecond) and the capture clock's jitter: no timing
 * rule about who sent a reset uses it. */
#define RTT_TRUSTED_NS (5LL * 1000 * 1000)

/* Slack for a kernel's answer: its own processing and the jitter of the capture's clock. */
#define ANSWER_SLACK_NS (1000LL * 1000)

static struct reset_reading read_reset_kind(const struct flow *f)
{
	const struct flow_rare *ra = f->rare;
	enum flow_direction r = (enum flow_direction)ra->first_rst_from;
	const struct seg_snap *rst = &ra->first_rst;
	const struct seg_snap *ans = &ra->rst_answers;
	bool own_known = ra->rst_own_bits & DIR_SEQ_KNOWN;
	bool own_seq = own_known && rst->seq == ra->rst_own_next;
	bool ans_seq = ans->frame && (ans->flags & TCP_ACK) && rst->seq == ans->ack;
	int64_t since = ans_seq && ra->rst_ack_since_ns && ra->rst_ack_since_ns <= rst->ts_ns
	                    ? ra->rst_ack_since_ns
	                    : ans->ts_ns;
	struct reset_reading out = { .kind = RESET_SOCKET };

	out.delay = ans->frame ? rst->ts_ns - ans->ts_ns : 0;
	out.delay_first = ans->frame ? rst->ts_ns - since : 0;
	out.answered_end = ans->seq + ans->len + ((ans->flags & TCP_FIN) ? 1u : 0u);
	out.answered_data = ans->frame && (ans->len > 0 || (ans->flags & TCP_FIN));
	if (own_seq != ans_seq) {
		out.kind = ans_seq ? RESET_ANSWER : RESET_SOCKET;
		out.certain = true;
		return out;
	}
	if (!own_seq) {
		/* Neither: a reset out of the blue (or of a side whose numbers the capture missed);
		 * its shape is all there is. */
		out.kind = (rst->flags & TCP_ACK) ? RESET_SOCKET : RESET_ANSWER;
		return out;
	}
	/* Both numbers the same. A socket that had acknowledged the answered segment was alive
	 * when it came; RST+ACK is a socket's (a kernel answering a segment with ACK sends none). */
	if (((ra->rst_own_bits & DIR_ACK_KNOWN) && out.answered_data &&
	     seq_ge(ra->rst_own_ack, out.answered_end)) ||
	    (rst->flags & TCP_ACK)) {
		out.kind = RESET_SOCKET;
		return out;
	}
	/* A bare reset: an answer if it came within the round trip to its sender. */
	if (f->dir[r].rtt_us && !f->dir[r].rtt_from_data &&
	    out.delay > 2 * (int64_t)f->dir[r].rtt_us * 1000 + ANSWER_SLACK_NS)
		out.kind = RESET_SOCKET;
	else
		out.kind = RESET_ANSWER;
	return out;
}

/* What kind of reset the flow's first RST is, and whether it came sooner than its sender
 * could have reacted to what it reacts to. */
static struct reset_reading read_reset(const struct flow *f)
{
	const struct flow_rare *ra = f->rare;
	enum flow_direction r = (enum flow_direction)ra->first_rst_from;
	const struct seg_snap *rst = &ra->first_rst;
	const struct seg_snap *ans = &ra->rst_answers;
	bool ans_seq = ans->frame && (ans->flags & TCP_ACK) && rst->seq == ans->ack;
	struct reset_reading out = read_reset_kind(f);

	/* A reset that takes its seq from the peer's ACK, or acknowledges the peer's last data,
	 * reacts to a segment its sender must have received: not sooner than the round trip from
	 * the capture point to that sender (measured on the handshake, the kernel's own speed). */
	if (f->dir[r].rtt_us && !f->dir[r].rtt_from_data &&
	    (int64_t)f->dir[r].rtt_us * 1000 >= RTT_TRUSTED_NS) {
		int64_t rtt = (int64_t)f->dir[r].rtt_us * 1000;

		/* A kernel answers a segment one round trip after it passed (give or take a quarter
		 * and the clock's jitter). The peer's segments carrying that ack were its last one and
		 * possibly earlier ones; if the last came too recently and the one before it too long
		 * before, none could have been answered by this reset. */
		int64_t before_last = ra->rst_peer_prev_ns && ra->rst_peer_prev_ns <= rst->ts_ns
		                          ? rst->ts_ns - ra->rst_peer_prev_ns
		                          : INT64_MAX;

		if (out.kind == RESET_ANSWER && ans_seq && (out.delay_first < rtt / 2 ||
		                (out.delay < rtt / 2 && before_last > rtt + rtt / 4 + ANSWER_SLACK_NS))) {
			out.too_early = true;
			out.reacted_after = out.delay_first < rtt / 2 ? out.delay_first : out.delay;
		} else if ((rst->flags & TCP_ACK) && out.answered_data &&
		           seq_ge(rst->ack, out.answered_end) && out.delay < rtt / 2) {
			out.too_early = true;
			out.reacted_after = out.delay;
		}
	}
	return out;
}

/* The round trip between the two sides (the capture point's to each, added), nanoseconds; 0 when
 * one is unknown. */
static int64_t path_rtt_ns(const struct flow *f)
{
	if (!f->dir[FROM_CLIENT].rtt_us || !f->dir[FROM_SERVER].rtt_us)
		return 0;
	return ((int64_t)f->dir[FROM_CLIENT].rtt_us + f->dir[FROM_SERVER].rtt_us) * 1000;
}

static void add_alternative(struct flow_record *rec, enum close_class c, const char *why)
{
	if (rec->n_alternatives >= FLOW_ALTERNATIVES_MAX)
		return;
	rec->alternatives[rec->n_alternatives].cls = c;
	rec->alternatives[rec->n_alternatives].why = why;
	rec->n_alternatives++;
}

/* The reasons that name the resetting side r, the bytes it left unanswered and its peer. */
static void reason_unread(struct flow_record *rec, enum flow_reason_id id, enum flow_direction r,
                          uint32_t unread)
{
	REASON(rec, id, STR(direction_name(r)), NUM(unread),
	       STR(direction_name((enum flow_direction)!r)));
}

/* The class just set is `conf`, and the packets also allow `alt`, for the reason `why`. */
static void doubt(struct flow_record *rec, enum close_confidence conf, enum close_class alt,
                  const char *why)
{
	rec->confidence = conf;
	add_alternative(rec, alt, why);
}

/* A reset by side r read as `c` at confidence `conf`, the packets also allowing `alt` (`why`). */
static void rst_reading(struct flow_record *rec, enum close_class c, enum flow_direction r,
                        const struct seg_snap *rst, enum close_confidence conf,
                        enum close_class alt, const char *why)
{
	set_close(rec, c, closer_of(r), rst);
	doubt(rec, conf, alt, why);
}

/* Bytes the aborting side `r` had received and left unanswered when it reset: what its
 * application may never have read. The kernel's RST is the same for close() with unread data
 * and for SO_LINGER 0 (Linux tcp_close: tcp_send_active_reset either way), so the evidence is
 * the conversation: bytes that arrived after r's own last data. A client that had sent a request
 * and aborts after the server's answer has most likely read it, but the wire cannot prove it:
 * the class says what is likely and the alternatives what else the packets allow. */
static uint32_t unread_bytes(const struct flow *f)
{
	return f->rare->rst_unread_bytes;
}

/* What the resetting side's advertised windows say about its receive buffer when it reset
 * (samples/README.md, "Window experiments": Linux 6.x receivers with 100 B to 1 MB unread, and
 * real software). The RST's own window is no evidence: close() frees the unread data before the
 * RST is built. */
enum buffer_evidence {
	BUFFER_SILENT,  /* the windows cannot tell (below about 60 kB unread, default buffers) */
	BUFFER_FULL,    /* a zero window never reopened (certain), or a window far below its
	                   largest and staying there (likely): the application was not reading */
	BUFFER_READ,    /* a window update after the peer's last data: the application read */
};

/* A window below this fraction of the side's largest one, up to its reset, is a buffer holding
 * most of what came: the unread cases measured went below 21 % and stayed, the read ones
 * bottomed at 80 % before the window reopened. */
#define BUFFER_FULL_PERCENT 25
/* Windows this small say nothing of the buffer's use (a tiny SO_RCVBUF, an embedded stack). */
#define BUFFER_MIN_WINDOW 8192

static enum buffer_evidence buffer_evidence(const struct flow *f)
{
	const struct flow_rare *ra = f->rare;
	enum flow_direction p = (enum flow_direction)!ra->first_rst_from;

	if (f->dir[p].payload_bytes == 0 || ra->rst_own_max_window < BUFFER_MIN_WINDOW)
		return BUFFER_SILENT;
	if (ra->rst_own_window == 0 ||
	    (uint64_t)ra->rst_own_window * 100 < (uint64_t)ra->rst_own_max_window * BUFFER_FULL_PERCENT)
		return BUFFER_FULL;
	if (ra->rst_win_updates > 0)
		return BUFFER_READ;
	return BUFFER_SILENT;
}

/* The first RST came from the path (rst_from_middlebox): the endpoint it names did not send
 * it, so what it says about that endpoint's application (unread data, a closed socket) does
 * not apply. Its shape still tells what the box imitated: a kernel's answer (its sequence
 * number the ack of the segment it answers, as iptables REJECT --reject-with tcp-reset and Linux
 * nf_send_reset build it) is rst_peer_restarted, a socket's abort rst_abort. closer: the side it
 * names. If it answered the first segment after the longest silence of the flow, the box had most
 * likely timed the connection out: close.detail middlebox_idle_timeout. */
static void classify_path_reset(const struct flow *f, struct flow_record *rec,
                                const struct reset_reading *rd)
{
	const struct flow_rare *ra = f->rare;
	enum flow_direction r = (enum flow_direction)ra->first_rst_from;
	enum flow_direction p = (enum flow_direction)!r;
	const struct seg_snap *rst = &ra->first_rst;
	bool answer = rd->kind == RESET_ANSWER;
	bool idle = after_long_idle(ra->rst_run_idle_ms, ra->rst_run_long_idle);
	const struct middlebox_evidence *m = &rec->diagnosis.middlebox;
	/* What gave it away: "TTL 64 where the server's packets arrive with 63", or the IP ID. */
	bool ttl = m->ttl_mismatch;
	struct flow_reason_arg seen = NUM(ttl ? m->seen_ttl : m->seen_ip_id);
	struct flow_reason_arg claimed = STR(direction_name((enum flow_direction)m->claimed));
	struct flow_reason_arg expected = NUM(ttl ? m->expected_ttl : m->expected_ip_id);

	set_close(rec, answer ? CLOSE_RST_PEER_RESTARTED : CLOSE_RST_ABORT, closer_of(r), rst);
	rec->confidence = CONFIDENCE_LIKELY;
	rec->reset_origin = RESET_ORIGIN_PATH;
	add_evidence(rec, f, &f->dir[r].last, r, "last segment really from that side");
	add_evidence(rec, f, &ra->rst_answers, p, "segment the reset answers");
	add_evidence(rec, f, rst, r, "reset from the path, in this side's name");
	if (!ttl && !m->ip_id_mismatch && m->too_early) {
		if (idle) {
			rec->close_detail = "middlebox_idle_timeout";
			note_idle_timeout(rec, p, ra->rst_run_idle_ms, true);
		}
		REASON(rec, REASON_PATH_RESET_TIMING, STR(direction_name(r)), DUR(m->answer_ns),
		       STR(direction_name(p)), DUR((int64_t)m->rtt_us * 1000), STR(direction_name(r)));
		return;
	}
	if (idle) {
		rec->close_detail = "middlebox_idle_timeout";
		note_idle_timeout(rec, p, ra->rst_run_idle_ms, true);
		REASON(rec, ttl ? REASON_PATH_RESET_IDLE_TTL : REASON_PATH_RESET_IDLE_IP_ID,
		       DUR((int64_t)ra->rst_run_idle_ms * 1000000), STR(direction_name(p)), DUR(rd->delay),
		       STR(direction_name(r)), seen, claimed, expected);
		return;
	}
	REASON(rec, ttl ? REASON_PATH_RESET_TTL : REASON_PATH_RESET_IP_ID, STR(direction_name(r)),
	       STR(direction_name(p)), DUR(rd->delay), STR(direction_name(r)), seen, claimed, expected);
}

/* The shortest FIN-WAIT-2 a closed (orphaned) Linux socket keeps: tcp_fin_time() never lets it
 * be shorter than 3.5 retransmission timeouts, and the timeout is at least TCP_RTO_MIN (200 ms)
 * plus the round trip between the two sides. A socket gone sooner did not time out. */
static int64_t fin_wait_2_min_ns(const struct flow *f)
{
	return (RTO_MIN_NS + path_rtt_ns(f)) * 7 / 2;
}

static void classify_reset(const struct flow *f, struct flow_record *rec)
{
	const struct flow_rare *ra = f->rare;
	enum flow_direction r = (enum flow_direction)ra->first_rst_from;
	enum flow_direction p = (enum flow_direction)!r;
	const struct flow_dir *me = &f->dir[r];
	const struct flow_dir *peer = &f->dir[p];
	const struct seg_snap *rst = &ra->first_rst;
	const struct seg_snap *paf = &ra->payload_after_fin;
	bool sent_fin_before = me->fin.frame && me->fin.frame < rst->frame;
	struct reset_reading rd = read_reset(f);
	uint32_t unread;

	rec->reset_origin = rd.kind == RESET_ANSWER ? RESET_ORIGIN_KERNEL : RESET_ORIGIN_SOCKET;
	if (rec->diagnosis.middlebox.present && rec->diagnosis.middlebox.claimed == r &&
	    rec->diagnosis.middlebox.frame == snap_frame(f, rst)) {
		classify_path_reset(f, rec, &rd);
		return;
	}
	/* A side that had closed (FIN) and whose kernel then answered data or a FIN its FIN had
	 * not acknowledged: the socket was gone (Linux tcp_rcv_state_process resets an orphan that
	 * receives data, tcp_v4_send_reset answers with the segment's ack). Or a socket that had
	 * closed and never acknowledged data sent to it after its FIN resets it (other stacks). */
	if (sent_fin_before &&
	    ((rd.kind == RESET_ANSWER && rd.answered_data &&
	      (!(me->fin.flags & TCP_ACK) || seq_gt(rd.answered_end, me->fin.ack))) ||
	     (paf->frame && ra->payload_after_fin_from == p && paf->frame < rst->frame &&
	      !((ra->rst_own_bits & DIR_ACK_KNOWN) &&
	        seq_ge(ra->rst_own_ack, paf->seq + paf->len))))) {
		bool late_fin = ra->rst_answers.frame == peer->fin.frame && peer->fin.frame &&
		                me->fin_ack.frame && me->fin_ack.frame < peer->fin.frame &&
		                !(paf->frame && ra->payload_after_fin_from == p);

		set_close(rec, CLOSE_RST_AFTER_CLOSE, closer_of(r), rst);
		rec->confidence = rd.certain || rd.kind == RESET_ANSWER ? CONFIDENCE_CERTAIN
		                                                        : CONFIDENCE_LIKELY;
		add_evidence(rec, f, &me->fin, r, "closed: FIN");
		if (late_fin && peer->fin.ts_ns - me->fin_ack.ts_ns >= fin_wait_2_min_ns(f)) {
			/* The peer's FIN came after ours was acknowledged, later than the shortest
			 * FIN-WAIT-2 the stack keeps, and found no socket: our FIN-WAIT-2 state had
			 * expired (Linux tcp_fin_timeout, 60 s by default, for a socket the application
			 * closed; tcp_timewait_state_process accepts the FIN while it lasts). */
			rec->close_detail = "fin_wait_2_timeout";
			add_evidence(rec, f, &me->fin_ack, p, "FIN acknowledged: FIN-WAIT-2");
			add_evidence(rec, f, &peer->fin, p, "the peer's FIN, late");
			add_evidence(rec, f, rst, r, "reset: FIN-WAIT-2 was over");
			REASON(rec, REASON_FIN_WAIT_2_TIMEOUT, STR(direction_name(r)), STR(direction_name(p)),
			       DUR(peer->fin.ts_ns - me->fin_ack.ts_ns), STR(direction_name(r)));
			return;
		}
		if (late_fin) {
			add_evidence(rec, f, &peer->fin, p, "the peer's FIN, after ours");
			add_evidence(rec, f, rst, r, "reset: the socket was gone");
			REASON(rec, REASON_RST_AFTER_CLOSE_FIN, STR(direction_name(r)), STR(direction_name(p)),
			       DUR(rd.delay));
			return;
		}
		add_evidence(rec, f, paf->frame && ra->payload_after_fin_from == p ? paf
		                                                                  : &ra->rst_answers,
		             p, "data sent to the closed side");
		add_evidence(rec, f, rst, r, "reset from the closed socket");
		REASON(rec, REASON_RST_AFTER_CLOSE, STR(direction_name(r)), DUR(rd.delay), STR(direction_name(p)));
		return;
	}
	if (rd.kind == RESET_ANSWER && !sent_fin_before) {
		set_close(rec, CLOSE_RST_PEER_RESTARTED, closer_of(r), rst);
		rec->confidence = rd.certain ? CONFIDENCE_LIKELY : CONFIDENCE_AMBIGUOUS;
		if (!rd.certain)
			add_alternative(rec, CLOSE_RST_ABORT,
			                "its sequence number is also its own next one: a socket aborting "
			                "itself at that moment would send the same reset");
		add_evidence(rec, f, &ra->rst_answers, p, "segment the reset answers");
		add_evidence(rec, f, rst, r, "reset taking its seq from that segment's ack: no socket");
		REASON(rec, REASON_PEER_RESTARTED, STR(direction_name(r)), STR(direction_name(p)),
		       DUR(rd.delay));
		return;
	}
	/* The socket reset itself. */
	add_evidence(rec, f, &peer->last_payload, p, "last data from the peer");
	add_evidence(rec, f, &me->last_payload, r, "last data from the closer");
	add_evidence(rec, f, rst, r, "reset: the socket aborted");
	unread = unread_bytes(f);
	switch (buffer_evidence(f)) {
	case BUFFER_FULL:
		set_close(rec, CLOSE_RST_UNREAD_DATA, closer_of(r), rst);
		rec->confidence = ra->rst_own_window == 0 ? CONFIDENCE_CERTAIN : CONFIDENCE_LIKELY;
		REASON(rec, ra->rst_own_window == 0 ? REASON_UNREAD_ZERO_WINDOW : REASON_UNREAD_WINDOW,
		       STR(direction_name(r)), NUM(ra->rst_own_window), NUM(ra->rst_own_max_window),
		       STR(direction_name(p)));
		return;
	case BUFFER_READ:
		if (unread == 0)
			break;
		rst_reading(rec, CLOSE_RST_ABORT, r, rst, CONFIDENCE_LIKELY, CLOSE_RST_UNREAD_DATA,
		            "a window update shows the application reading after the peer's last "
		            "data; whether it read every byte the packets cannot tell");
		reason_unread(rec, REASON_ABORT_AFTER_READ, r, unread);
		return;
	case BUFFER_SILENT:
		break;
	}
	if (unread > 0 && !(r == FROM_CLIENT && me->payload_segments > 0 && !f->roles_inferred)) {
		/* A side with a message pending (a server with a request, a client never having
		 * sent anything: an unread banner) that resets: RFC 2525 §2.17. */
		rst_reading(rec, CLOSE_RST_UNREAD_DATA, r, rst, CONFIDENCE_AMBIGUOUS, CLOSE_RST_ABORT,
		            "the bytes were acknowledged and never answered; an application that read "
		            "them and then aborted (SO_LINGER 0) puts the same packets on the wire");
		reason_unread(rec, REASON_UNREAD_DATA, r, unread);
		return;
	}
	set_close(rec, CLOSE_RST_ABORT, closer_of(r), rst);
	if (unread > 0) {
		/* A client that had asked and got its answer: most likely read, not proven. */
		doubt(rec, CONFIDENCE_AMBIGUOUS, CLOSE_RST_UNREAD_DATA,
		      "the peer's last bytes were acknowledged but never answered: whether the "
		      "application read them before resetting, the packets cannot tell");
		reason_unread(rec, REASON_ABORT_AFTER_ANSWER, r, unread);
		return;
	}
	rec->confidence = CONFIDENCE_LIKELY;
	REASON(rec, REASON_ABORT, STR(direction_name(r)));
}

static bool try_fins(const struct flow *f, struct flow_record *rec)
{
	const struct flow_dir *c = &f->dir[FROM_CLIENT];
	const struct flow_dir *s = &f->dir[FROM_SERVER];

	if (c->fin.frame && s->fin.frame) {
		enum flow_direction first = c->fin.frame < s->fin.frame ? FROM_CLIENT : FROM_SERVER;
		const struct flow_dir *a = &f->dir[first];
		const struct flow_dir *b = &f->dir[!first];
		bool both_acked = c->fin_ack.frame && s->fin_ack.frame;

		add_evidence(rec, f, &a->fin, first, "first FIN");
		add_evidence(rec, f, &b->fin, (enum flow_direction)!first, "second FIN");
		add_evidence(rec, f, &a->fin_ack, (enum flow_direction)!first, "first FIN acknowledged");
		add_evidence(rec, f, &b->fin_ack, first, "second FIN acknowledged");
		if (!(c->bits & DIR_FIN_KNEW_PEER_FIN) && !(s->bits & DIR_FIN_KNEW_PEER_FIN)) {
			set_close(rec, CLOSE_FIN_SIMULTANEOUS, CLOSER_BOTH, &b->fin);
			REASON(rec, REASON_FIN_SIMULTANEOUS, DUR(b->fin.ts_ns - a->fin.ts_ns),
			       STR(both_acked ? "; both were then acknowledged" : ""));
			return true;
		}
		if (a->bits & DIR_FIN_KNEW_PEER_FIN) /* capture order and TCP order disagree: TCP wins */
			first = (enum flow_direction)!first;
		set_close(rec, CLOSE_FIN_GRACEFUL, closer_of(first), &f->dir[first].fin);
		REASON(rec, REASON_FIN_GRACEFUL, STR(direction_name(first)),
		       STR(direction_name((enum flow_direction)!first)),
		       DUR(f->dir[!first].fin.ts_ns - f->dir[first].fin.ts_ns),
		       STR(both_acked ? " and both FINs were acknowledged"
		                      : "; the last ACK is not in the capture"));
		return true;
	}
	if (c->fin.frame || s->fin.frame) {
		enum flow_direction d = c->fin.frame ? FROM_CLIENT : FROM_SERVER;
		const struct flow_dir *other = &f->dir[!d];

		set_close(rec, CLOSE_HALF_CLOSED_AT_END, closer_of(d), &f->dir[d].fin);
		add_evidence(rec, f, &f->dir[d].fin, d, "FIN: sending side closed");
		add_evidence(rec, f, &f->dir[d].fin_ack, (enum flow_direction)!d, "FIN acknowledged");
		add_evidence(rec, f, &other->last_payload, (enum flow_direction)!d, "peer's last data");
		if (other->payload_after_peer_fin > 0)
			REASON(rec, REASON_HALF_CLOSED_SENDING, STR(direction_name(d)),
			       STR(direction_name((enum flow_direction)!d)),
			       NUM(other->payload_after_peer_fin));
		else
			REASON(rec, REASON_HALF_CLOSED, STR(direction_name(d)),
			       STR(direction_name((enum flow_direction)!d)));
		return true;
	}
	return false;
}

static void classify_no_close(const struct flow *f, const struct classify_context *ctx,
                              struct flow_record *rec)
{
	const struct flow_dir *c = &f->dir[FROM_CLIENT];
	const struct flow_dir *s = &f->dir[FROM_SERVER];
	enum flow_direction from = c->last_payload.ts_ns >= s->last_payload.ts_ns ? FROM_CLIENT
	                                                                          : FROM_SERVER;
	int64_t last_ts = f->last_active_ns ? f->last_active_ns : f->first_ts_ns;
	int64_t silence = ctx->capture_end_ns - last_ts;

	add_evidence(rec, f, &f->dir[from].last_payload, from, "last data");
	if (silence > ctx->idle_ns) {
		set_close(rec, CLOSE_IDLE_AT_END, CLOSER_NONE, NULL);
		REASON(rec, REASON_IDLE_AT_END, DUR(silence),
		       STR((c->probes || s->probes) ? " (keepalive probes answered)" : ""));
	} else {
		set_close(rec, CLOSE_OPEN_AT_END, CLOSER_NONE, NULL);
		REASON(rec, REASON_OPEN_AT_END, DUR(silence));
	}
}

/* Does a RST's TTL fit the side it names? Its other segments had one TTL, or, after a route
 * change (or behind a device that answered the handshake for it), its latest one. */
static bool ttl_fits(const struct flow_dir *d, uint8_t ttl)
{
	return ttl == d->ttl_last || (!(d->bits & DIR_TTL_VARIES) && ttl == d->ttl);
}

/* Does a RST's IPv4 ID fit the side it names? Only a socket's own reset tells, and only where the
 * side's IDs count up by one per segment (Linux numbers a socket's segments): the reset
 * continues them. A kernel answering without a socket takes its ID from elsewhere (Linux: 0 or
 * its control socket's generator, IOS a second counter); a host-wide counter (Windows) is moved
 * by the host's other traffic; random IDs (BSD, macOS) continue nothing. None is proof. */
static bool ip_id_fits(const struct flow_rare *r, int d, bool socket_reset)
{
	uint16_t step = (uint16_t)(r->rst_ip_id[d] - r->rst_prev_ip_id[d]);

	if (!socket_reset || r->rst_id_counter[d] != 1 || r->rst_ip_id[d] == 0)
		return true;
	return step >= 1 && step <= IP_ID_STEP_MAX;
}

/* A RST whose TTL / hop limit (or, for a socket's own reset, IPv4 ID) does not fit the side it
 * names as its sender was made by a box in the path (firewall REJECT, load balancer, IPS):
 * modifier rst_from_middlebox, with the expected and seen values, for the earliest such RST.
 * Every reset of a side is held to its TTL (tracker.c), so a box resetting what the endpoints
 * had already ended, or the segments still in flight, is seen too. A side that never sent
 * anything but resets gives nothing to compare with. */
static void check_rst_origin(const struct flow *f, struct flow_record *rec)
{
	const struct flow_rare *r = f->rare;
	struct middlebox_evidence *m = &rec->diagnosis.middlebox;
	uint32_t frame[2] = { 0, 0 };
	uint8_t ttl[2] = { 0, 0 };
	bool by_id[2] = { false, false };
	bool by_time[2] = { false, false };
	int best = -1;

	if (!r)
		return;
	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		bool socket_reset;

		if (!r->rst_frame[d] || !(f->dir[d].bits & DIR_TTL_KNOWN))
			continue;
		socket_reset = r->first_rst.frame == r->rst_frame[d] &&
		               read_reset(f).kind == RESET_SOCKET;
		if (!ttl_fits(&f->dir[d], r->rst_ttl[d])) {
			frame[d] = r->rst_frame[d];
			ttl[d] = r->rst_ttl[d];
		} else if (!ip_id_fits(r, d, socket_reset)) {
			frame[d] = r->rst_frame[d];
			ttl[d] = r->rst_ttl[d];
			by_id[d] = true;
		} else if (r->first_rst.frame == r->rst_frame[d] && read_reset(f).too_early) {
			frame[d] = r->rst_frame[d];
			ttl[d] = r->rst_ttl[d];
			by_time[d] = true;
		} else if (r->odd_rst_frame[d]) {
			frame[d] = r->odd_rst_frame[d];
			ttl[d] = r->odd_rst_ttl[d];
		} else {
			continue;
		}
		if (best < 0 || frame[d] < frame[best])
			best = d;
	}
	if (best < 0)
		return;
	rec->modifiers |= MOD_RST_FROM_MIDDLEBOX;
	m->present = true;
	m->claimed = (uint8_t)best;
	m->frame = f->first_frame + frame[best] - 1;
	m->expected_ttl = f->dir[best].ttl_last;
	m->seen_ttl = ttl[best];
	m->ttl_mismatch = !by_id[best] && !by_time[best];
	m->has_ip_id = by_id[best];
	if (by_time[best]) {
		struct reset_reading rd = read_reset(f);

		m->too_early = true;
		m->answer_ns = rd.reacted_after;
		m->rtt_us = f->dir[best].rtt_us;
	}
	if (m->has_ip_id) {
		m->expected_ip_id = (uint16_t)(r->rst_prev_ip_id[best] + 1);
		m->seen_ip_id = r->rst_ip_id[best];
		m->ip_id_mismatch = true;
	}
}

/* A side that acknowledged its peer's FIN and then did not close (no FIN, no RST) for at least
 * the threshold (RFC 9293 §3.6: CLOSE-WAIT lasts until the application closes), while sending
 * nothing either: a side that goes on sending after its peer's FIN is using the half-close, not
 * forgetting to close. Measured from its ACK of the FIN to its own FIN, a RST, or the end of the
 * capture (or of the flow, when the engine expired it); the silent part, from the later of that
 * ACK and its last data, must reach the threshold. Still open at the end: close_wait_stuck on
 * half_closed_at_end, the classic leaked socket; closed late: reported, no detail. */
static void check_close_wait(const struct flow *f, const struct classify_context *ctx,
                             struct flow_record *rec)
{
	int64_t threshold = ctx->close_wait_ns > 0 ? ctx->close_wait_ns : DEFAULT_CLOSE_WAIT_NS;
	struct close_wait_evidence *cw = &rec->diagnosis.close_wait;

	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		const struct flow_dir *closer = &f->dir[d];
		const struct flow_dir *waiter = &f->dir[!d];
		int64_t start = closer->fin_ack.ts_ns, end = ctx->capture_end_ns;
		int64_t quiet_from = start;
		bool open = true;

		if (!closer->fin.frame || !closer->fin_ack.frame)
			continue;
		if (waiter->fin.frame && waiter->fin.frame < closer->fin_ack.frame)
			continue; /* it had closed before it acknowledged: no CLOSE-WAIT */
		if (waiter->fin.frame) {
			end = waiter->fin.ts_ns;
			open = false;
		}
		if (f->rare && f->rare->first_rst.frame > closer->fin_ack.frame &&
		    f->rare->first_rst.ts_ns < end) {
			end = f->rare->first_rst.ts_ns;
			open = false;
		}
		if (waiter->last_payload.frame && waiter->last_payload.ts_ns > start &&
		    waiter->last_payload.ts_ns <= end)
			quiet_from = waiter->last_payload.ts_ns;
		if (end - quiet_from < threshold)
			continue;
		cw->present = true;
		cw->side = (uint8_t)!d;
		cw->duration_ns = end - start;
		cw->still_open = open;
		if (open && rec->close_class == CLOSE_HALF_CLOSED_AT_END) {
			rec->close_detail = "close_wait_stuck";
			REASON(rec, REASON_CLOSE_WAIT_STUCK, STR(direction_name((enum flow_direction)d)),
			       STR(direction_name((enum flow_direction)!d)), DUR(cw->duration_ns),
			       DUR(threshold));
		}
		return;
	}
}

/* Who holds TIME-WAIT, and whether this connection reused a 4-tuple while an earlier one could
 * still be in TIME-WAIT (the engine notes the reuse: flow_note_reuse). */
static void check_time_wait(const struct flow *f, struct flow_record *rec)
{
	const struct flow_rare *r = f->rare;
	struct time_wait_reuse_evidence *tw = &rec->diagnosis.time_wait_reuse;

	rec->diagnosis.time_wait = flow_time_wait_side(f);
	if (!r || !r->reused || r->reuse_time_wait == CLOSER_NONE ||
	    (int64_t)r->reuse_gap_ms * 1000000 >= TIME_WAIT_MAX_NS)
		return;
	tw->present = true;
	tw->side = (enum closer_side)r->reuse_time_wait;
	tw->gap_ns = (int64_t)r->reuse_gap_ms * 1000000;
	tw->accepted = f->synack_seen;
}

/* Both FINs were sent and acknowledged before the first reset: the connection had ended
 * gracefully, and a reset after that (a firewall sweeping the finished connection, a stray
 * segment answered) does not change how it ended. */
static bool closed_before_reset(const struct flow *f)
{
	const struct flow_dir *c = &f->dir[FROM_CLIENT], *s = &f->dir[FROM_SERVER];
	uint32_t rst = f->rare->first_rst.frame;

	return c->fin_ack.frame && s->fin_ack.frame && c->fin_ack.frame < rst &&
	       s->fin_ack.frame < rst;
}

/* The round trips from the capture point to the two sides, and where the capture point is: next
 * to a side whose round trip is at most a quarter of the other's, else between them (or, both
 * near, on one host or LAN). */
static void note_vantage(const struct flow *f, struct flow_record *rec)
{
	uint64_t c = f->dir[FROM_CLIENT].rtt_us, s = f->dir[FROM_SERVER].rtt_us;

	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		rec->rtt_us[d] = f->dir[d].rtt_us;
		rec->rtt_from_data[d] = f->dir[d].rtt_from_data;
	}
	if (!c || !s)
		rec->vantage = VANTAGE_UNKNOWN;
	else if (4 * c <= s)
		rec->vantage = VANTAGE_CLIENT;
	else if (4 * s <= c)
		rec->vantage = VANTAGE_SERVER;
	else
		rec->vantage = VANTAGE_BETWEEN;
}

void classify_flow(const struct flow *f, const struct classify_context *ctx,
                   struct flow_record *rec)
{
	memset(rec, 0, sizeof *rec);
	rec->id = f->first_frame;
	rec->capture = f->capture;
	rec->encap = f->encap;
	rec->client = f->ep[FROM_CLIENT];
	rec->server = f->ep[FROM_SERVER];
	rec->roles_inferred = f->roles_inferred;
	rec->ts_nano = f->ts_nano;
	rec->first_ts_ns = f->first_ts_ns;
	rec->last_ts_ns = f->last_ts_ns;
	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		rec->packets[d] = f->dir[d].packets;
		rec->bytes[d] = f->dir[d].payload_bytes;
		rec->retransmissions[d] = f->dir[d].retransmissions;
		rec->syns[d] = f->dir[d].syn_count;
		rec->state[d] = (enum tcp_state)f->state[d];
		rec->keepalive_probes += f->dir[d].probes;
	}
	rec->handshake = handshake_of(f);
	rec->modifiers = f->modifiers;
	note_vantage(f, rec);
	rec->zeek = f->zeek;
	check_rst_origin(f, rec);

	if (try_syn_unanswered(f, rec) || try_refused(f, rec) || try_keepalive(f, rec) ||
	    try_vanished(f, ctx, rec)) {
		/* decided */
	} else if (f->rare && f->rare->first_rst.frame && !closed_before_reset(f)) {
		classify_reset(f, rec);
	} else if (!try_fins(f, rec)) {
		classify_no_close(f, ctx, rec);
	}
	check_close_wait(f, ctx, rec);
	check_time_wait(f, rec);
	timers_infer(f, ctx, rec);
	sort_evidence(rec);
}
