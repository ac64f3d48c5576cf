/* zeek_track.c - Zeek's view of a connection, per packet (zeek_conn.h says what and why).
 *
 * Each function below is named after the part of Zeek it follows (Zeek's
 * src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc unless said otherwise) and is called in
 * Zeek's order: history, window, last sequence number, state machine, acknowledgement.
 * Zeek's per-endpoint sequence bookkeeping (start, last and ack sequence numbers) is tcpmortem's
 * own (live_dir isn, next_seq, max_ack), read before the tracker updates it: they are set the same
 * way (a SYN or the first sequence number seen - 1, the highest sequence number sent, the highest
 * acknowledged).
 */
#include <string.h>

#include "live_flow.h"
#include "seq.h"
#include "tracker.h"

/* TCPSessionAdapter's TOO_LARGE_SEQ_DELTA. */
#define ZEEK_TOO_LARGE_SEQ_DELTA 1048576

static inline enum zeek_ep_state ep_state(const struct live_zeek *z, int side)
{
	return ZEEK_EP_STATE(z->ep[side]);
}

/* TCP_Endpoint::SetState: the previous state is kept (Size(), UpdateEstablishedState). */
static void set_state(struct live_zeek *z, int side, enum zeek_ep_state s)
{
	uint8_t b = z->ep[side];

	if (ZEEK_EP_STATE(b) == s)
		return;
	z->ep[side] = (uint8_t)((b & ZEEK_EP_FIN) | ((b & 7u) << 3) | (unsigned)s);
}

static inline int orig_side(const struct live_zeek *z)
{
	return (z->meta & ZEEK_META_ORIG_SERVER) ? FROM_SERVER : FROM_CLIENT;
}

/* The steady state of both sides ends (a hole, a flip of the roles). */
static inline void unsteady(struct live_zeek *z)
{
	z->ep[0] &= (uint8_t)~ZEEK_EP_STEADY;
	z->ep[1] &= (uint8_t)~ZEEK_EP_STEADY;
}

/* Connection::FlipRoles: the other endpoint becomes the originator; '^' in the history. */
static void flip_roles(struct live_zeek *z)
{
	unsteady(z);
	z->meta ^= ZEEK_META_ORIG_SERVER;
	zeek_history_add_code(z, ZEEK_CODE_FLIP);
}

/* A connection that began with a SYN+ACK (history "H", nothing else yet) followed by an ACK or
 * data, either way: the SYN+ACK's sender is the responder after all, as if flipped from the start
 * (Zeek PR #2191: a stealth scan's SYN+ACK gets a RST or nothing, never an ACK or data). The
 * history becomes "^h" and the SYN+ACK's sender established, so that the ACK establishes the
 * originator (UpdateInactiveState: "we just missed that initial SYN"). */
static void flip_after_synack(struct live_zeek *z)
{
	int synack_side = orig_side(z);
	uint8_t seen = z->seen[0];

	unsteady(z);
	memset(z->hist, 0, sizeof z->hist);
	z->meta = (uint8_t)(z->meta & ~ZEEK_META_LEN);
	z->meta ^= ZEEK_META_ORIG_SERVER;
	z->seen[0] = z->seen[1];
	z->seen[1] = seen;
	zeek_history_add_code(z, ZEEK_CODE_FLIP);
	zeek_history_add_code(z, ZEEK_CODE_H + ZEEK_CODE_RESPONDER);
	set_state(z, synack_side, ZEEK_ESTABLISHED);
}

/* The code of an event of side `d` (`upper`: the originator's, enum zeek_code): the
 * responder's is ZEEK_CODE_RESPONDER further. */
static inline unsigned letter(const struct live_zeek *z, int d, unsigned upper)
{
	return d == orig_side(z) ? upper : upper + ZEEK_CODE_RESPONDER;
}

/* Connection::CheckHistory: the letter only the first time for the role. True: seen before. */
static inline bool check_history(struct live_zeek *z, int d, unsigned bit, unsigned upper)
{
	int role = d == orig_side(z) ? 0 : 1;

	if (z->seen[role] & bit)
		return true;
	z->seen[role] |= (uint8_t)bit;
	zeek_history_add_code(z, upper + (role ? ZEEK_CODE_RESPONDER : 0));
	return false;
}

/* Connection::ScaledHistoryEntry on a saturating 16-bit counter. */
static void scaled_event(struct live_zeek *z, uint16_t *count, int d, unsigned upper)
{
	if (*count == UINT16_MAX)
		return;
	if (zeek_scaled(++*count))
		zeek_history_add_code(z, letter(z, d, upper));
}

/* Zeek's start sequence number of side `d` once this segment's init_endpoint() has run. */
static uint32_t start_seq(const struct live_flow *f, int d, const struct tcp_segment *seg)
{
	const struct live_zeek *z = &f->zeek;
	const struct live_dir *me = &f->dir[d];
	enum zeek_ep_state s = ep_state(z, d);
	bool syn = seg->flags & TCP_SYN;

	if (s == ZEEK_INACTIVE || !(me->bits & DIR_SEQ_KNOWN))
		return syn ? seg->seq : seg->seq - 1;
	if (syn && (s != ZEEK_CLOSED && (s != ZEEK_RESET || ZEEK_EP_PREV(z->ep[d]) == ZEEK_INACTIVE)))
		return seg->seq; /* a SYN re-initialises the numbering (SYN_seq_jump) */
	return me->isn;
}

/* update_history(). */
static void update_history(struct flow_store *st, struct live_flow *f, int d,
                           const struct tcp_segment *seg)
{
	struct live_zeek *z = &f->zeek;
	uint8_t fl = seg->flags;
	int bits = !!(fl & TCP_SYN) + !!(fl & TCP_FIN) + !!(fl & TCP_RST);

	if (bits > 1) {
		if ((fl & TCP_FIN) && (fl & TCP_RST))
			check_history(z, d, ZH_FIN_RST, ZEEK_CODE_I);
		else
			check_history(z, d, ZH_MULTI, ZEEK_CODE_Q);
		return;
	}
	if (bits == 0) {
		if (seg->payload_len)
			check_history(z, d, ZH_DATA, ZEEK_CODE_D);
		else if (fl & TCP_ACK)
			check_history(z, d, ZH_ACK, ZEEK_CODE_A);
		return;
	}
	if (fl & TCP_SYN) {
		/* A SYN's relative number is 0 wherever Zeek renumbers at a SYN; only one arriving
		 * after the side closed or reset can differ from the last SYN's. */
		enum zeek_ep_state s = ep_state(z, d);
		unsigned code = (fl & TCP_ACK) ? ZEEK_CODE_H : ZEEK_CODE_S;
		uint32_t start = start_seq(f, d, seg);

		if (check_history(z, d, ZH_SYN, code) && seg->seq != start &&
		    (s == ZEEK_CLOSED || s == ZEEK_RESET))
			zeek_history_add_code(z, letter(z, d, code));
	}
	if (fl & TCP_FIN) {
		/* The FIN's number is at the end of its data. */
		struct live_fin *fb = live_fin_get(st, f);
		uint32_t end = seg->seq + seg->payload_len;

		if (check_history(z, d, ZH_FIN, ZEEK_CODE_F) && fb && fb->zeek_fin_end[d] != end)
			zeek_history_add_code(z, letter(z, d, ZEEK_CODE_F));
		if (fb)
			fb->zeek_fin_end[d] = end;
	}
	if (fl & TCP_RST) {
		struct live_rare *r = live_rare_get(st, f);

		if (check_history(z, d, ZH_RST, ZEEK_CODE_R) && r && r->zeek.rst_seq[d] != seg->seq)
			zeek_history_add_code(z, letter(z, d, ZEEK_CODE_R));
		if (r)
			r->zeek.rst_seq[d] = seg->seq;
	}
}

/* update_last_seq(): 'T' for a segment with data wholly at or below the highest sequence
 * number the side has sent. */
static void update_last_seq(struct live_flow *f, int d, const struct tcp_segment *seg,
                            uint32_t seg_len)
{
	struct live_zeek *z = &f->zeek;
	const struct live_dir *me = &f->dir[d];
	enum zeek_ep_state s = ep_state(z, d);
	uint32_t start = (seg->flags & (TCP_SYN | TCP_FIN)) ? start_seq(f, d, seg) : 0;
	uint32_t last;
	int32_t delta;

	if (s == ZEEK_INACTIVE || !(me->bits & DIR_SEQ_KNOWN))
		/* init_endpoint(): a SYN starts after itself, anything else at its first byte. */
		last = (seg->flags & TCP_SYN) ? seg->seq + seg_len : seg->seq;
	else if ((seg->flags & TCP_SYN) && start == seg->seq)
		last = seg->seq + seg_len; /* renumbered by this SYN */
	else
		last = me->next_seq;
	delta = (int32_t)(seg->seq + seg_len - last);
	if ((seg->flags & (TCP_SYN | TCP_RST)) &&
	    (delta > ZEEK_TOO_LARGE_SEQ_DELTA || delta < -ZEEK_TOO_LARGE_SEQ_DELTA))
		return;
	if ((seg->flags & TCP_FIN) && last == start + 1)
		return;
	if (s == ZEEK_RESET || delta > 0)
		return;
	if (seg->payload_len > 0)
		scaled_event(z, &z->rxmt[d], d, ZEEK_CODE_T);
}

/* UpdateInactiveState(). */
static void inactive_state(struct live_zeek *z, int d, int p, const struct tcp_segment *seg)
{
	uint8_t fl = seg->flags;
	bool is_orig = d == orig_side(z);

	if (fl & TCP_SYN) {
		if (is_orig) {
			set_state(z, d, (fl & TCP_ACK) ? ZEEK_SYN_ACK_SENT : ZEEK_SYN_SENT);
		} else {
			/* A SYN answering a SYN+ACK seen first: the roles were the wrong way round
			 * (Zeek checks the SYN's number against the one the SYN+ACK acknowledged,
			 * which init_endpoint() has just set to it). */
			if (!(fl & TCP_ACK) && ep_state(z, p) == ZEEK_SYN_ACK_SENT) {
				flip_roles(z);
				set_state(z, p, ZEEK_ESTABLISHED);
			}
			if (ep_state(z, p) == ZEEK_SYN_SENT)
				set_state(z, p, ZEEK_ESTABLISHED);
			set_state(z, d, ZEEK_ESTABLISHED);
		}
	}
	if (fl & TCP_FIN)
		set_state(z, d, ZEEK_CLOSED);
	if (fl & TCP_RST)
		set_state(z, d, ZEEK_RESET);
	if (ep_state(z, d) == ZEEK_INACTIVE) {
		/* No control flag moved it. A bare ACK of the originator's SYN before the SYN+ACK
		 * (some stacks do that) does not make a partial connection. */
		if (!is_orig && seg->payload_len == 0 && ep_state(z, orig_side(z)) == ZEEK_SYN_SENT)
			return;
		if ((fl & TCP_ACK) && ep_state(z, p) == ZEEK_ESTABLISHED)
			set_state(z, d, ZEEK_ESTABLISHED); /* its SYN was missed */
		else
			set_state(z, d, ZEEK_PARTIAL);
	}
}

/* UpdateStateMachine() and the states it dispatches to. */
static void update_state_machine(struct live_zeek *z, int d, const struct tcp_segment *seg)
{
	int p = !d;
	uint8_t fl = seg->flags;

	switch (ep_state(z, d)) {
	case ZEEK_INACTIVE:
		inactive_state(z, d, p, seg);
		break;
	case ZEEK_SYN_SENT:
	case ZEEK_SYN_ACK_SENT:
		if (fl & TCP_FIN)
			set_state(z, d, ZEEK_CLOSED);
		if (fl & TCP_RST)
			set_state(z, d, ZEEK_RESET);
		break;
	case ZEEK_ESTABLISHED:
	case ZEEK_PARTIAL:
		if ((fl & (TCP_SYN | TCP_ACK)) == TCP_SYN && ep_state(z, d) == ZEEK_PARTIAL &&
		    ep_state(z, p) == ZEEK_INACTIVE)
			set_state(z, d, ZEEK_SYN_SENT); /* SYN_after_partial */
		if ((fl & TCP_FIN) && !(fl & TCP_RST)) {
			set_state(z, d, ZEEK_CLOSED);
			/* The peer's FIN then RST was a normal termination after all. */
			if (ep_state(z, p) == ZEEK_RESET && ZEEK_EP_PREV(z->ep[p]) == ZEEK_CLOSED)
				set_state(z, p, ZEEK_CLOSED);
		}
		if (fl & TCP_RST)
			set_state(z, d, ZEEK_RESET);
		break;
	case ZEEK_CLOSED:
		/* After a FIN exchange a RST does not change the state. */
		if ((fl & TCP_RST) && ep_state(z, p) != ZEEK_CLOSED)
			set_state(z, d, ZEEK_RESET);
		break;
	case ZEEK_RESET:
		break;
	}
}

/* TCP_Reassembler's is_clean(): established, or closed from established. */
static inline bool is_clean(const struct live_zeek *z, int side)
{
	enum zeek_ep_state s = ep_state(z, side);

	return s == ZEEK_ESTABLISHED ||
	       (s == ZEEK_CLOSED && ZEEK_EP_PREV(z->ep[side]) == ZEEK_ESTABLISHED);
}

static inline bool has_hole(const struct live_rare *r, int side)
{
	return r && r->zeek.hole_lo[side] != r->zeek.hole_hi[side];
}

/* A hole was closed: the fast paths may skip the rare block again when no side has one. */
static void hole_closed(struct live_flow *f, struct live_rare *r)
{
	if (!has_hole(r, FROM_CLIENT) && !has_hole(r, FROM_SERVER))
		f->zeek.meta &= (uint8_t)~ZEEK_META_HOLE;
}

/* Data of side `d` (before the tracker moves next_seq): bytes the reassembler will not have in
 * order. A segment starting beyond everything sent so far opens a hole; one filling the hole
 * from its bottom closes it (the data seen above it is then in order); a truncated payload is
 * never delivered (TCP_Endpoint::DataSent needs the whole payload), so it is a hole too. A
 * second hole while one is open is not tracked. */
static void track_data(struct flow_store *st, struct live_flow *f, int d,
                       const struct tcp_segment *seg)
{
	const struct live_dir *me = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];
	uint32_t seq = seg->seq + ((seg->flags & TCP_SYN) ? 1u : 0u);
	uint32_t end = seq + seg->payload_len;
	uint32_t ns = me->next_seq;
	struct live_rare *r;

	if (seg->payload_len == 0 || (seg->flags & TCP_RST) || !(me->bits & DIR_SEQ_KNOWN))
		return;
	/* In order, nothing missing: the common case, decided without the rare block. */
	if (!(f->zeek.meta & ZEEK_META_HOLE) && !seg->truncated && seq_le(seq, ns))
		return;
	r = (f->zeek.meta & ZEEK_META_HOLE) ? live_rare_of(st, f) : NULL;
	/* Data already acknowledged is dropped (TCP_Reassembler::DataSent). */
	if ((peer->bits & DIR_ACK_KNOWN) && seq_lt(seq, peer->max_ack))
		seq = seq_lt(end, peer->max_ack) ? end : peer->max_ack;
	if (has_hole(r, d)) {
		struct live_zeek_rare *zr = &r->zeek;

		if (seg->truncated) {
			if (zr->hole_hi[d] == ns && seq_gt(end, ns))
				zr->hole_hi[d] = end; /* the hole grows at the top */
		} else if (seq_le(seq, zr->hole_lo[d]) && seq_gt(end, zr->hole_lo[d])) {
			zr->hole_lo[d] = end;
			if (seq_ge(end, zr->hole_hi[d])) {
				zr->hole_lo[d] = zr->hole_hi[d] = 0;
				hole_closed(f, r);
			}
		}
		return;
	}
	if (seg->truncated ? seq_gt(end, ns) : seq_gt(seq, ns)) {
		uint32_t lo = seq_max(ns, (peer->bits & DIR_ACK_KNOWN) ? peer->max_ack : ns);
		uint32_t hi = seg->truncated ? end : seq;

		if (seq_ge(lo, hi))
			return;
		r = live_rare_get(st, f);
		if (r) {
			r->zeek.hole_lo[d] = lo;
			r->zeek.hole_hi[d] = hi;
			f->zeek.meta |= ZEEK_META_HOLE;
			unsteady(&f->zeek);
		}
	}
}

/* TCP_Reassembler::AckReceived() of side `s`, acknowledged up to `ack` by the other side (whose
 * highest earlier acknowledgement was `trim`, valid when `trim_known`): bytes below it the
 * reassembler never had are a content gap, reported (history 'G', missed_bytes) while both sides
 * are established or closing cleanly. */
static void ack_received(struct flow_store *st, struct live_flow *f, int s, uint32_t ack,
                         uint32_t trim, bool trim_known)
{
	struct live_zeek *z = &f->zeek;
	const struct live_dir *sender = &f->dir[s];
	struct live_rare *r;
	uint32_t top = sender->next_seq, missing = 0;

	if (!(sender->bits & DIR_SEQ_KNOWN))
		return; /* init_peer(): nothing to compare with */
	/* Nothing acknowledged beyond what was seen in order: the common case. */
	if (!(z->meta & ZEEK_META_HOLE) && seq_le(ack, top))
		return;
	r = (z->meta & ZEEK_META_HOLE) ? live_rare_of(st, f) : NULL;
	if (z->ep[s] & ZEEK_EP_FIN) {
		/* The FIN's own number is not data. */
		const struct live_fin *fb = live_fin_of(st, f);

		if (fb && seq_gt(ack, fb->zeek_fin_end[s]))
			ack = fb->zeek_fin_end[s];
		if (fb && seq_gt(top, fb->zeek_fin_end[s]))
			top = fb->zeek_fin_end[s];
	}
	if (trim_known && seq_le(ack, trim))
		return;
	if (!trim_known)
		trim = sender->isn + 1;
	/* A partial connection's first acknowledgement of the byte it starts at (Undelivered). */
	if (!(f->mark & LIVE_STARTS_WITH_SYN) && (uint32_t)(ack - sender->isn) <= 2)
		return;
	if (has_hole(r, s)) {
		struct live_zeek_rare *zr = &r->zeek;
		uint32_t lo = seq_max(zr->hole_lo[s], trim);
		uint32_t hi = seq_lt(ack, zr->hole_hi[s]) ? ack : zr->hole_hi[s];

		if (seq_gt(hi, lo))
			missing += hi - lo;
		if (seq_ge(ack, zr->hole_hi[s])) {
			zr->hole_lo[s] = zr->hole_hi[s] = 0;
			hole_closed(f, r);
		} else if (seq_gt(ack, zr->hole_lo[s]))
			zr->hole_lo[s] = ack;
	}
	if (seq_gt(ack, top))
		missing += ack - seq_max(top, trim);
	if (missing == 0 || !is_clean(z, s) || !is_clean(z, !s))
		return;
	r = live_rare_get(st, f);
	if (!r)
		return;
	uint64_t m = ((uint64_t)r->zeek.missed_hi << 32 | r->zeek.missed_lo) + missing;

	r->zeek.missed_lo = (uint32_t)m;
	r->zeek.missed_hi = (uint32_t)(m >> 32);
	if (r->zeek.gaps[s] != UINT16_MAX && zeek_scaled(++r->zeek.gaps[s]))
		zeek_history_add_code(z, letter(z, s, ZEEK_CODE_G));
}

/* The side's IP and TCP header bytes (Zeek's *_ip_bytes less the payload), saturating. */
static inline void zeek_add_header_bytes(struct live_zeek *z, int d, const struct tcp_segment *seg)
{
	z->hdr_bytes[d] = z->hdr_bytes[d] > UINT32_MAX - seg->header_len
	                      ? UINT32_MAX
	                      : z->hdr_bytes[d] + seg->header_len;
}

/* The bulk of a long connection's segments, decided on the fewest tests: a segment of a side in
 * the steady state (ZEEK_EP_STEADY: ESTABLISHED or closed by its FIN, its role's 'D' and 'A'
 * given, both sides' numbering known, no hole) without SYN, FIN or RST, whole, with a window
 * above zero, new data in order (starting at or below the highest number sent, ending above it:
 * no 'T') or none, and acknowledging nothing beyond what the peer sent. fast_segment() below
 * would only count its header bytes: so does this. False, having changed nothing, for any other
 * segment. */
static inline bool steady_segment(struct live_flow *f, const struct tcp_segment *seg, int d)
{
	struct live_zeek *z = &f->zeek;
	uint32_t len = seg->payload_len;

	if (!(z->ep[d] & ZEEK_EP_STEADY) || (seg->flags & (TCP_SYN | TCP_FIN | TCP_RST)) ||
	    seg->truncated || seg->window == 0 ||
	    (len != 0 && f->dir[d].next_seq - seg->seq >= len) ||
	    ((seg->flags & TCP_ACK) && seq_gt(seg->ack, f->dir[!d].next_seq)))
		return false;
	zeek_add_header_bytes(z, d, seg);
	return true;
}

/* What zeek_track_segment() does for the common segment, decided on its own: no SYN or RST, from
 * a side Zeek has ESTABLISHED (or, without a FIN, CLOSED: its FIN is behind it) and whose
 * sequence numbers are known, no hole anywhere, the whole payload captured, the data and the
 * acknowledgement within what was sent so far. Then the role cannot flip (that needs a side still
 * INACTIVE or SYN_ACK_SENT), track_data() and ack_received() have nothing to do, and the state
 * machine at most closes the side on its FIN: only the header bytes, the history letters (in
 * update_history, update_window, update_last_seq's order) and that remain. False, having changed
 * nothing, for any other segment. */
static inline bool fast_segment(struct flow_store *st, struct live_flow *f,
                                const struct tcp_segment *seg, int d)
{
	struct live_zeek *z = &f->zeek;
	const struct live_dir *me = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];
	uint8_t fl = seg->flags;
	uint32_t len = seg->payload_len;
	enum zeek_ep_state s = ep_state(z, d);

	if ((fl & (TCP_SYN | TCP_RST)) ||
	    (s != ZEEK_ESTABLISHED && (s != ZEEK_CLOSED || (fl & TCP_FIN))) ||
	    (z->meta & ZEEK_META_HOLE) || seg->truncated || !(me->bits & DIR_SEQ_KNOWN) ||
	    (len != 0 && seq_gt(seg->seq, me->next_seq)) ||
	    ((fl & TCP_ACK) && (peer->bits & DIR_SEQ_KNOWN) && seq_gt(seg->ack, peer->next_seq)))
		return false;
	/* Such a side has sent before: this is not the connection's first packet. */
	zeek_add_header_bytes(z, d, seg);
	if (!(fl & TCP_FIN)) {
		if (len != 0)
			check_history(z, d, ZH_DATA, ZEEK_CODE_D);
		else if (fl & TCP_ACK)
			check_history(z, d, ZH_ACK, ZEEK_CODE_A);
		if (seg->window == 0 && ep_state(z, !d) != ZEEK_CLOSED)
			scaled_event(z, &z->win0[d], d, ZEEK_CODE_W);
		if (len != 0 && (int32_t)(seg->seq + len - me->next_seq) <= 0)
			scaled_event(z, &z->rxmt[d], d, ZEEK_CODE_T);
		if ((peer->bits & DIR_SEQ_KNOWN) &&
		    (z->seen[d == orig_side(z) ? 0 : 1] & (ZH_DATA | ZH_ACK)) == (ZH_DATA | ZH_ACK))
			z->ep[d] |= ZEEK_EP_STEADY;
		return true;
	}
	/* The FIN of an ESTABLISHED side: update_history's FIN part (its number is at the end of its
	 * data), the window, update_last_seq (the FIN counts one; none of it when the side's
	 * numbering still stands at its start), then ESTABLISHED -> CLOSED. */
	{
		struct live_fin *fb = live_fin_get(st, f);
		uint32_t end = seg->seq + len;

		if (check_history(z, d, ZH_FIN, ZEEK_CODE_F) && fb && fb->zeek_fin_end[d] != end)
			zeek_history_add_code(z, letter(z, d, ZEEK_CODE_F));
		if (fb)
			fb->zeek_fin_end[d] = end;
	}
	if (seg->window == 0 && ep_state(z, !d) != ZEEK_CLOSED)
		scaled_event(z, &z->win0[d], d, ZEEK_CODE_W);
	z->ep[d] |= ZEEK_EP_FIN;
	if (me->next_seq != me->isn + 1 && len != 0 &&
	    (int32_t)(seg->seq + len + 1 - me->next_seq) <= 0)
		scaled_event(z, &z->rxmt[d], d, ZEEK_CODE_T);
	{
		uint8_t steady = z->ep[d] & ZEEK_EP_STEADY;

		set_state(z, d, ZEEK_CLOSED);
		z->ep[d] |= steady; /* what follows its FIN is as steady as before */
	}
	/* The peer's FIN then RST was a normal termination after all. */
	if (ep_state(z, !d) == ZEEK_RESET && ZEEK_EP_PREV(z->ep[!d]) == ZEEK_CLOSED)
		set_state(z, !d, ZEEK_CLOSED);
	return true;
}

/* The handshake's first two segments, decided on their own: a pure SYN opening the connection
 * (its sender is the originator: zeek_flips_first() keeps a pure SYN's direction), then the other
 * side's SYN+ACK to it, each the sender's first numbered segment, whole, acknowledging nothing
 * beyond what was sent. update_last_seq() then starts the side's numbering at this segment (no
 * 'T' but for data on it, as in Zeek), track_data() has no numbering to compare with, and
 * ack_received() nothing to do. False, having changed nothing, for any other segment. */
static inline bool fast_handshake(struct live_flow *f, const struct tcp_segment *seg, int d)
{
	struct live_zeek *z = &f->zeek;
	const struct live_dir *me = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];
	uint8_t fl = seg->flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST);
	bool first = f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets == 0;
	bool synack;

	if (seg->truncated || (me->bits & DIR_SEQ_KNOWN) || (z->meta & ZEEK_META_HOLE))
		return false;
	if (first && fl == TCP_SYN) {
		synack = false;
	} else if (!first && fl == (TCP_SYN | TCP_ACK) && d != orig_side(z) &&
	           ep_state(z, d) == ZEEK_INACTIVE && ep_state(z, !d) == ZEEK_SYN_SENT &&
	           (!(peer->bits & DIR_SEQ_KNOWN) || seq_le(seg->ack, peer->next_seq))) {
		synack = true;
	} else {
		return false;
	}
	if (!synack && d == FROM_SERVER)
		z->meta |= ZEEK_META_ORIG_SERVER;
	zeek_add_header_bytes(z, d, seg);
	check_history(z, d, ZH_SYN, synack ? ZEEK_CODE_H : ZEEK_CODE_S);
	/* The peer is INACTIVE (before a SYN) or SYN_SENT (before a SYN+ACK): never CLOSED. */
	if (seg->window == 0)
		scaled_event(z, &z->win0[d], d, ZEEK_CODE_W);
	if (seg->payload_len > 0)
		scaled_event(z, &z->rxmt[d], d, ZEEK_CODE_T);
	if (synack) {
		set_state(z, !d, ZEEK_ESTABLISHED);
		set_state(z, d, ZEEK_ESTABLISHED);
	} else {
		set_state(z, d, ZEEK_SYN_SENT);
	}
	return true;
}

__attribute__((noinline)) static void track_segment(struct flow_store *st, struct live_flow *f,
                                                    const struct tcp_segment *seg,
                                                    enum flow_direction d);

/* The rest, out of line (the tracker's loop, which the steady path joins, keeps its registers
 * and stays small enough for the compiler to inline what it calls): the common segment's fast
 * path, the handshake's, else Zeek's whole order. */
__attribute__((noinline)) static void slow_segment(struct flow_store *st, struct live_flow *f,
                                                   const struct tcp_segment *seg,
                                                   enum flow_direction d)
{
	if (!fast_segment(st, f, seg, (int)d) && !fast_handshake(f, seg, (int)d))
		track_segment(st, f, seg, d);
}

/* Every other segment: Zeek's whole order (out of line too: the fast paths above need few
 * registers). */
__attribute__((noinline)) static void track_segment(struct flow_store *st, struct live_flow *f,
                                                    const struct tcp_segment *seg,
                                                    enum flow_direction d)
{
	struct live_zeek *z = &f->zeek;
	struct live_dir *me = &f->dir[d];
	uint8_t fl = seg->flags;
	uint32_t seg_len = seg->payload_len + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);

	if (fl & TCP_RST)
		seg_len -= seg->payload_len; /* a RST's data is not part of the stream */
	if (f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets == 0) {
		/* The first packet's sender is the originator, unless Zeek flips it. */
		bool flip = zeek_flips_first(fl, seg->sport, seg->dport);
		int orig = flip ? !d : (int)d;

		if (orig == FROM_SERVER)
			z->meta |= ZEEK_META_ORIG_SERVER;
		if (flip)
			zeek_history_add_code(z, ZEEK_CODE_FLIP);
	} else if (!(fl & (TCP_SYN | TCP_FIN | TCP_RST)) && ((fl & TCP_ACK) || seg->payload_len) &&
	           ep_state(z, orig_side(z)) == ZEEK_SYN_ACK_SENT &&
	           ep_state(z, !orig_side(z)) == ZEEK_INACTIVE && (z->meta & ZEEK_META_LEN) == 1) {
		flip_after_synack(z);
	}
	zeek_add_header_bytes(z, d, seg);
	update_history(st, f, d, seg);
	/* update_window(): a zero window, unless with a RST, after the side reset or once the peer
	 * closed. */
	if (seg->window == 0 && !(fl & TCP_RST) && ep_state(z, !d) != ZEEK_CLOSED &&
	    ep_state(z, d) != ZEEK_RESET)
		scaled_event(z, &z->win0[d], d, ZEEK_CODE_W);
	if (fl & TCP_FIN)
		z->ep[d] |= ZEEK_EP_FIN;
	update_last_seq(f, d, seg, seg_len);
	update_state_machine(z, d, seg);
	track_data(st, f, d, seg);
	/* The acknowledgement, after the state machine (AckReceived). */
	if (fl & TCP_ACK)
		ack_received(st, f, !d, seg->ack, me->max_ack, me->bits & DIR_ACK_KNOWN);
}

void zeek_track_segment(struct flow_store *st, struct live_flow *f, const struct tcp_segment *seg,
                        enum flow_direction d)
{
	if (!steady_segment(f, seg, (int)d))
		slow_segment(st, f, seg, d);
}

/* A segment tracker_fast_path_applies() to (tracker.h), the segment most of a connection is
 * made of: flags ACK (no SYN, FIN or RST), at its sender's next sequence number, whose sender has
 * sent before. For it fast_segment() above only counts the header bytes and gives the role's
 * first 'D' or 'A' and the 'W' of a zero window: it cannot be a retransmission (no 'T': it starts
 * at the next number and, with data, ends above it), flip the roles, or open or close a hole.
 * This does the same on the tests the tracker has not already made. */

/* The letters: the role's first 'D' or 'A', a zero window's 'W', and the steady state once both
 * letters are given (fast_segment's order). */
static inline void in_order_letters(struct live_flow *f, const struct tcp_segment *seg, int d)
{
	struct live_zeek *z = &f->zeek;

	if (seg->payload_len != 0)
		check_history(z, d, ZH_DATA, ZEEK_CODE_D);
	else
		check_history(z, d, ZH_ACK, ZEEK_CODE_A);
	if (seg->window == 0 && ep_state(z, !d) != ZEEK_CLOSED)
		scaled_event(z, &z->win0[d], d, ZEEK_CODE_W);
	if ((f->dir[!d].bits & DIR_SEQ_KNOWN) &&
	    (z->seen[d == orig_side(z) ? 0 : 1] & (ZH_DATA | ZH_ACK)) == (ZH_DATA | ZH_ACK))
		z->ep[d] |= ZEEK_EP_STEADY;
}

/* Not inlined into the tracker's fast path (which LTO would do): its registers stay its own. */
__attribute__((noinline)) void zeek_track_in_order(struct flow_store *st, struct live_flow *f,
                                                   const struct tcp_segment *seg,
                                                   enum flow_direction d)
{
	struct live_zeek *z = &f->zeek;
	const struct live_dir *peer = &f->dir[!d];
	uint8_t ep = z->ep[d];
	enum zeek_ep_state s = ZEEK_EP_STATE(ep);

	/* fast_segment()'s tests that the tracker has not made (steady_segment's all fail when
	 * these do). */
	if ((s != ZEEK_ESTABLISHED && s != ZEEK_CLOSED) || (z->meta & ZEEK_META_HOLE) ||
	    seg->truncated || ((peer->bits & DIR_SEQ_KNOWN) && seq_gt(seg->ack, peer->next_seq))) {
		slow_segment(st, f, seg, d);
		return;
	}
	zeek_add_header_bytes(z, d, seg);
	if (!(ep & ZEEK_EP_STEADY) || seg->window == 0)
		in_order_letters(f, seg, (int)d);
}
