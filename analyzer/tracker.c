/* tracker.c - per-segment updates of a flow.
 *
 * Every segment is placed in its sender's sequence space (RFC 9293 §3.4): new data, a
 * retransmission (it starts below the highest sequence number already sent), or a keepalive
 * probe. The receiver's view comes from the sender's ACK field. Nothing here decides how the
 * connection ended; it only records what the classifier will need, as counters and snapshots.
 */
#include "tracker.h"

#include <string.h>

#include "seq.h"
#include "tcp_state.h"

/* RFC 7323 §2.3: a shift above 14 is used as 14. */
#define WSCALE_MAX 14

static bool endpoint_equal(const struct flow_endpoint *e, const struct ip_addr *a, uint16_t port)
{
	return e->port == port && memcmp(&e->addr, a, sizeof *a) == 0;
}

/* Ports the kernels hand out to connect() without bind(): Linux 32768-60999, IANA and Windows
 * 49152-65535. A well-known port (< 1024) is always the server's. */
static int port_server_likeness(uint16_t port)
{
	if (port < 1024)
		return 2;
	if (port < 32768)
		return 1;
	return 0;
}

void flow_init(struct flow *f, uint64_t id, const struct tcp_segment *first, const char *capture,
               bool ts_nano)
{
	bool sender_is_client;

	memset(f, 0, sizeof *f);
	f->id = id;
	f->capture = capture;
	f->ts_nano = ts_nano;
	if ((first->flags & (TCP_SYN | TCP_RST)) == TCP_SYN) {
		/* SYN: its sender is the client; SYN+ACK: its sender is the server. */
		sender_is_client = !(first->flags & TCP_ACK);
		f->handshake = HANDSHAKE_SYN_ONLY;
	} else {
		int src = port_server_likeness(first->sport);
		int dst = port_server_likeness(first->dport);

		sender_is_client = (src == dst) ? true : src < dst;
		f->roles_inferred = true;
		f->handshake = HANDSHAKE_MIDSTREAM;
		f->modifiers |= MOD_MIDSTREAM;
	}
	if (sender_is_client) {
		f->ep[FROM_CLIENT] = (struct flow_endpoint){ first->src, first->sport };
		f->ep[FROM_SERVER] = (struct flow_endpoint){ first->dst, first->dport };
	} else {
		f->ep[FROM_CLIENT] = (struct flow_endpoint){ first->dst, first->dport };
		f->ep[FROM_SERVER] = (struct flow_endpoint){ first->src, first->sport };
	}
	f->state[FROM_CLIENT] = TCPS_UNKNOWN;
	f->state[FROM_SERVER] = TCPS_UNKNOWN;
}

enum flow_direction flow_direction_of(const struct flow *f, const struct tcp_segment *seg)
{
	return endpoint_equal(&f->ep[FROM_CLIENT], &seg->src, seg->sport) ? FROM_CLIENT : FROM_SERVER;
}

bool flow_is_reused_by(const struct flow *f, const struct tcp_segment *seg, enum flow_direction d)
{
	const struct flow_dir *sender = &f->dir[d];

	if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
		return false;
	if (sender->syn.frame)
		return seg->seq != sender->syn.seq; /* same ISN: a SYN retransmission */
	/* No SYN from this side yet: a SYN now opens a connection unless this is the handshake the
	 * flow is waiting for (the server's SYN arrives as SYN+ACK, excluded above). */
	return f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets > 0;
}

bool flow_is_finished(const struct flow *f)
{
	const struct flow_dir *c = &f->dir[FROM_CLIENT];
	const struct flow_dir *s = &f->dir[FROM_SERVER];

	if (c->rst.frame || s->rst.frame)
		return true;
	return c->fin.frame && s->fin.frame && c->fin_ack.frame && s->fin_ack.frame;
}

static struct seg_snap snapshot(const struct tcp_segment *seg, uint32_t window, int64_t ts_ns,
                                uint64_t frame)
{
	return (struct seg_snap){
		.frame = frame,
		.ts_ns = ts_ns,
		.seq = seg->seq,
		.ack = seg->ack,
		.len = seg->payload_len,
		.window = window,
		.flags = seg->flags,
		.ttl = seg->ttl,
		.options_len = seg->options_len,
	};
}

/* RFC 7323 §2.2: scaling applies only when both SYNs carried the option, never to a SYN. */
static uint32_t scaled_window(const struct flow *f, enum flow_direction d,
                              const struct tcp_segment *seg)
{
	const struct flow_dir *me = &f->dir[d];
	const struct flow_dir *peer = &f->dir[!d];

	if (seg->flags & TCP_SYN)
		return seg->window;
	if (me->wscale_announced && peer->wscale_announced)
		return (uint32_t)seg->window << me->wscale;
	return seg->window;
}

/* A keepalive probe (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): no SYN/FIN/RST, no data (Linux) or one
 * garbage byte (Windows, old BSD), seq = next sequence number - 1, sent when the peer has
 * acknowledged everything. A zero-window probe has the same shape (Linux tcp_xmit_probe_skb);
 * it is told apart by the peer's last advertised window being zero. */
static bool is_keepalive_probe(const struct flow *f, enum flow_direction d,
                               const struct tcp_segment *seg)
{
	const struct flow_dir *me = &f->dir[d];
	const struct flow_dir *peer = &f->dir[!d];

	if (seg->flags & (TCP_SYN | TCP_FIN | TCP_RST))
		return false;
	if (!(seg->flags & TCP_ACK) || seg->payload_len > 1 || !me->seq_known || me->fin.frame)
		return false;
	if (seg->seq != me->next_seq - 1)
		return false;
	if (!peer->ack_known || peer->max_ack != me->next_seq)
		return false;
	return peer->packets == 0 || peer->window != 0;
}

/* Places the segment in its sender's sequence space. */
static void track_sequence(struct flow *f, enum flow_direction d, const struct tcp_segment *seg,
                           const struct seg_snap *snap)
{
	struct flow_dir *me = &f->dir[d];
	uint32_t span = seg->payload_len + ((seg->flags & TCP_SYN) ? 1u : 0u) +
	                ((seg->flags & TCP_FIN) ? 1u : 0u);
	uint32_t end = seg->seq + span;

	if (seg->flags & TCP_RST)
		return; /* a RST's seq says what it claims, not what was sent: see classify.c */

	if (seg->flags & TCP_SYN) {
		if (me->syn_count > 1 && seg->seq == me->isn) {
			me->retransmissions++;
			return;
		}
		me->isn = seg->seq;
		me->next_seq = end;
		me->seq_known = true;
		return;
	}
	if (!me->seq_known) {
		/* Midstream: number the first byte seen 1, as if its SYN were just before it. */
		me->isn = seg->seq - 1;
		me->next_seq = end;
		me->seq_known = true;
		return;
	}
	if (is_keepalive_probe(f, d, seg)) {
		me->probes++;
		if (me->probes_unanswered_run++ == 0)
			me->first_probe_of_run = *snap;
		me->last_probe = *snap;
		return;
	}
	if (span > 0) {
		if (me->unanswered_segs++ == 0)
			me->first_unanswered = *snap;
		if (seq_lt(seg->seq, me->next_seq)) {
			me->retransmissions++;
			me->unanswered_rtx++;
			me->last_rtx_gap_ns = snap->ts_ns - me->last_unanswered.ts_ns;
			me->last_rtx = *snap;
		}
		me->last_unanswered = *snap;
	}
	me->next_seq = seq_max(me->next_seq, end);
}

/* What the sender's ACK field says about the peer's data and FIN. */
static void track_ack(struct flow *f, enum flow_direction d, const struct tcp_segment *seg,
                      const struct seg_snap *snap)
{
	struct flow_dir *me = &f->dir[d];
	struct flow_dir *peer = &f->dir[!d];

	if (!(seg->flags & TCP_ACK))
		return;
	if (!me->ack_known || seq_gt(seg->ack, me->max_ack)) {
		me->max_ack = seg->ack;
		me->ack_known = true;
	}
	/* ACKs for bytes the capture never showed: the capture missed segments (RFC 9293 §3.10.7.4
	 * makes a real stack ignore an ACK of unsent data, so the data was sent). RSTs are left out:
	 * their ack field is the sender's claim, checked by the classifier. */
	if (peer->seq_known && !(seg->flags & TCP_RST) && seq_gt(seg->ack, peer->next_seq))
		f->modifiers |= MOD_CAPTURE_GAP;
	if (peer->fin.frame && !peer->fin_ack.frame && !(seg->flags & TCP_RST) &&
	    seq_ge(seg->ack, peer->fin_seq + 1))
		peer->fin_ack = *snap;
	if (d == FROM_CLIENT && f->synack_seen && !f->handshake_acked &&
	    seq_ge(seg->ack, peer->isn + 1) && !(seg->flags & (TCP_SYN | TCP_RST)))
		f->handshake_acked = true;
}

static void update_states(struct flow *f, enum flow_direction d, const struct tcp_segment *seg)
{
	const struct flow_dir *rcv = &f->dir[!d];
	struct state_event send_ev = { .flags = seg->flags };

	send_ev.ignores_peer_fin = rcv->fin.frame && (seg->flags & TCP_ACK) &&
	                           !seq_ge(seg->ack, rcv->fin_seq + 1);
	struct state_event recv_ev = { .flags = seg->flags };

	if ((seg->flags & TCP_ACK) && !(seg->flags & TCP_RST)) {
		recv_ev.acks_own_fin = rcv->fin.frame && seq_ge(seg->ack, rcv->fin_seq + 1);
		recv_ev.acks_own_syn = rcv->syn.frame && seq_ge(seg->ack, rcv->isn + 1);
	}
	f->state[d] = tcp_state_on_send(f->state[d], &send_ev);
	f->state[!d] = tcp_state_on_receive(f->state[!d], &recv_ev);
}

void tracker_segment(struct flow *f, const struct tcp_segment *seg, enum flow_direction d,
                     int64_t ts_ns, uint64_t frame)
{
	struct flow_dir *me = &f->dir[d];
	struct flow_dir *peer = &f->dir[!d];
	uint32_t window = scaled_window(f, d, seg);
	struct seg_snap snap = snapshot(seg, window, ts_ns, frame);

	if (f->first_ts_ns == 0 || ts_ns < f->first_ts_ns)
		f->first_ts_ns = ts_ns;
	if (ts_ns > f->last_ts_ns)
		f->last_ts_ns = ts_ns;
	if (seg->truncated)
		f->modifiers |= MOD_TRUNCATED;

	/* Anything from this side answers the peer's outstanding probes and retransmissions. */
	peer->probes_unanswered_run = 0;
	peer->unanswered_segs = 0;
	peer->unanswered_rtx = 0;

	me->packets++;
	me->payload_bytes += seg->payload_len;
	if (!me->ttl_known && !(seg->flags & TCP_RST)) {
		me->ttl = seg->ttl;
		me->ttl_known = true;
	}

	if (seg->flags & TCP_SYN) {
		me->syn_count++;
		if (!me->syn.frame) {
			me->syn = snap;
			if (seg->options & TCP_OPT_WSCALE) {
				me->wscale = seg->wscale > WSCALE_MAX ? WSCALE_MAX : seg->wscale;
				me->wscale_announced = true;
			}
		}
		if ((seg->flags & TCP_ACK) && d == FROM_SERVER && !(seg->flags & TCP_RST))
			f->synack_seen = true;
	}

	update_states(f, d, seg);
	track_sequence(f, d, seg, &snap);
	track_ack(f, d, seg, &snap);

	if (!(seg->flags & TCP_RST)) {
		if (window == 0 && me->window != 0 && me->packets > 1)
			me->zero_windows++;
		me->window = window;
		if (window > me->window_max)
			me->window_max = window;
	}

	if (seg->flags & TCP_RST) {
		me->rst_count++;
		if (!me->rst.frame) {
			me->rst = snap;
			me->rst_answers = peer->last;
			me->rst_unread_bytes = me->bytes_in_since_own_payload;
		}
		if (!f->first_rst_frame) {
			f->first_rst_frame = frame;
			f->first_rst_from = (uint8_t)d;
		}
	}
	if ((seg->flags & TCP_FIN) && !(seg->flags & TCP_RST) && !me->fin.frame) {
		me->fin = snap;
		me->fin_seq = seg->seq + seg->payload_len;
		me->fin_knew_peer_fin = peer->fin.frame && (seg->flags & TCP_ACK) &&
		                        seq_ge(seg->ack, peer->fin_seq + 1);
	}
	bool probe = me->last_probe.frame == frame;

	if (seg->payload_len > 0 && !(seg->flags & TCP_RST) && !probe) {
		me->payload_segments++;
		if (seg->payload_len <= HEARTBEAT_MAX_BYTES)
			me->small_payload_segments++;
		me->last_payload = snap;
		/* Bytes each side received since it last sent data itself: when a side later aborts,
		 * this is what its application may have left unread (DESIGN §3). */
		me->bytes_in_since_own_payload = 0;
		peer->bytes_in_since_own_payload += seg->payload_len;
		if (peer->fin.frame) {
			if (me->payload_after_peer_fin == 0)
				me->first_payload_after_peer_fin = snap;
			me->payload_after_peer_fin += seg->payload_len;
		}
	}
	if (!probe && (seg->payload_len > 0 || (seg->flags & (TCP_SYN | TCP_FIN))))
		me->last_active = snap;
	me->last = snap;
}
