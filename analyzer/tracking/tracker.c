/* tracker.c - per-segment updates of a flow.
 *
 * Every segment is placed in its sender's sequence space (RFC 9293 §3.4): new data, a
 * retransmission (it starts below the highest sequence number already sent), or a keepalive
 * probe. The receiver's view comes from the sender's ACK field. Nothing here decides how the
 * connection ended; it only records what the classifier will need, as counters and snapshots.
 */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

#include "seq.h"
#include "tcp_state.h"

/* RFC 7323 §2.3: a shift above 14 is used as 14. */
#define WSCALE_MAX 14

/* Zeek's tcp_close_delay (5 s): how long it keeps a connection that ended on the wire. */
#define ZEEK_CLOSE_DELAY_NS (5LL * 1000000000)

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

/* The index of capture file name `name` in the store (names are compared by address: the
 * capture set gives each file one string for the whole run). UINT32_MAX without memory. */
static uint32_t capture_index(struct flow_store *st, const char *name)
{
	for (uint32_t i = st->n_captures; i-- > 0;)
		if (st->captures[i] == name)
			return i;
	if (st->n_captures == st->cap_captures) {
		uint32_t cap = st->cap_captures ? st->cap_captures * 2 : 4;
		const char **names = cap > st->cap_captures
		                         ? realloc(st->captures, (size_t)cap * sizeof *names)
		                         : NULL;

		if (!names)
			return UINT32_MAX;
		st->captures = names;
		st->cap_captures = cap;
	}
	st->captures[st->n_captures] = name;
	return st->n_captures++;
}

/* Endpoint `side` := (a, port). IPv6 addresses go to a block, allocated with the client's. */
static bool set_endpoint(struct flow_store *st, struct live_flow *f, int side,
                         const struct ip_addr *a, uint16_t port)
{
	f->port[side] = port;
	if (a->family == 4) {
		memcpy(&f->addr[side], a->bytes, sizeof f->addr[side]);
		return true;
	}
	if (!f->addr[0]) {
		f->addr[0] = pool_alloc(&st->addr6);
		if (!f->addr[0])
			return false;
		f->mark |= LIVE_ADDR6;
	}
	memcpy((uint8_t *)pool_at(&st->addr6, f->addr[0]) + (size_t)16 * (unsigned)side, a->bytes,
	       16);
	return true;
}

bool flow_init(struct flow_store *st, struct live_flow *f, uint64_t first_frame,
               const struct tcp_segment *first, const char *capture, bool ts_nano,
               uint32_t encap)
{
	bool sender_is_client;
	int s, r;

	f->first_frame = first_frame;
	f->tunnel_id = first->tunnel_id;
	f->encap = (uint32_t)first->tunnel << 24 | LIVE_ENCAP_ID(encap);
	f->capture = capture_index(st, capture);
	if (ts_nano)
		f->mark |= LIVE_TS_NANO;
	if ((first->flags & (TCP_SYN | TCP_RST)) == TCP_SYN) {
		/* SYN: its sender is the client; SYN+ACK: its sender is the server. */
		sender_is_client = !(first->flags & TCP_ACK);
		if (sender_is_client)
			f->mark |= LIVE_STARTS_WITH_SYN;
	} else {
		int src = port_server_likeness(first->sport);
		int dst = port_server_likeness(first->dport);

		sender_is_client = (src == dst) ? true : src < dst;
		f->mark |= LIVE_ROLES_INFERRED;
		f->modifiers |= MOD_MIDSTREAM;
	}
	s = sender_is_client ? FROM_CLIENT : FROM_SERVER;
	r = !s;
	f->state[FROM_CLIENT] = TCPS_UNKNOWN;
	f->state[FROM_SERVER] = TCPS_UNKNOWN;
	return f->capture != UINT32_MAX && set_endpoint(st, f, s, &first->src, first->sport) &&
	       set_endpoint(st, f, r, &first->dst, first->dport);
}

static uint32_t ms_saturating(int64_t ns)
{
	if (ns <= 0)
		return 0;
	return ns / 1000000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000000);
}

/* --- timer schedules (live_sched, struct sched when decoded) --------------------------------- */

static void sched_set_time(struct live_sched *s, int which, int64_t t)
{
	memcpy(&s->x[(size_t)2 * (unsigned)which], &t, sizeof t);
}

/* The first time of schedule `s` (of kind SCHED_SYN or SCHED_DATA). */
static int64_t sched_t0(const struct flow_store *st, const struct live_flow *f,
                        const struct live_sched *s)
{
	return s->kind == SCHED_SYN ? live_sched_time(s, 0) : live_snap_ts(st, f, &f->silent.first);
}

/* Entry 0 is t0 itself (offset 0) and is not stored; entries 1 to SCHED_INLINE fit the small
 * blocks, the first one past them moves the schedule to a big block (SCHED_MAX entries). A data
 * schedule's last time is its run's last segment's, stored right after this by the caller. */
static void sched_push(struct flow_store *st, struct live_flow *f, struct live_sched *s,
                       int64_t ts_ns)
{
	int64_t off = (ts_ns - sched_t0(st, f, s)) / 1000;

	if (s->total != UINT16_MAX)
		s->total++;
	if (s->kind == SCHED_SYN)
		sched_set_time(s, 1, ts_ns);
	if (s->n >= SCHED_MAX)
		return;
	if (s->n == SCHED_INLINE + 1 && LIVE_SCHED_POOL(f->sched) != LIVE_SCHED_BIG) {
		enum live_sched_pool from = LIVE_SCHED_POOL(f->sched);
		uint32_t big = pool_alloc(&st->scheds[LIVE_SCHED_BIG]);
		struct live_sched *b;

		if (!big)
			return; /* without memory the schedule keeps what it has */
		b = pool_at(&st->scheds[LIVE_SCHED_BIG], big);
		*b = *s;
		memcpy(b->x + LIVE_SCHED_TIMES - (from == LIVE_SCHED_DATA ? 0 : LIVE_SCHED_TIMES),
		       s->x, LIVE_SCHED_BYTES(from) - sizeof *s);
		pool_free(&st->scheds[from], LIVE_SCHED_HANDLE(f->sched));
		f->sched = (uint32_t)LIVE_SCHED_BIG << LIVE_SCHED_POOL_SHIFT | big;
		s = b;
	}
	if (s->n > 0)
		live_sched_entries(f, s)[s->n - 1] =
		    off < 0 ? 0 : off > UINT32_MAX ? UINT32_MAX : (uint32_t)off;
	s->n++;
}

/* A new schedule (its block allocated if needed: a small one of its kind, or the big one it may
 * already have), or NULL without memory. */
static struct live_sched *sched_start(struct flow_store *st, struct live_flow *f,
                                      enum sched_kind kind, enum flow_direction from, int64_t t0)
{
	enum live_sched_pool want = kind == SCHED_SYN ? LIVE_SCHED_SYN : LIVE_SCHED_DATA;
	struct live_sched *s;

	if (f->sched && LIVE_SCHED_POOL(f->sched) != want &&
	    LIVE_SCHED_POOL(f->sched) != LIVE_SCHED_BIG) {
		pool_free(&st->scheds[LIVE_SCHED_POOL(f->sched)], LIVE_SCHED_HANDLE(f->sched));
		f->sched = 0;
	}
	if (!f->sched) {
		uint32_t h = pool_alloc(&st->scheds[want]);

		if (!h)
			return NULL;
		f->sched = (uint32_t)want << LIVE_SCHED_POOL_SHIFT | h;
	}
	s = live_sched_of(st, f);
	memset(s, 0, LIVE_SCHED_BYTES(LIVE_SCHED_POOL(f->sched)));
	s->kind = (uint8_t)kind;
	s->from = (uint8_t)from;
	if (kind == SCHED_SYN)
		sched_set_time(s, 0, t0);
	sched_push(st, f, s, t0);
	return live_sched_of(st, f);
}

/* A run into silence ended (the other side spoke) or a new one began: its schedule is void. */
static void sched_forget_run(struct flow_store *st, struct live_flow *f)
{
	struct live_sched *s = live_sched_of(st, f);

	if (s && s->kind == SCHED_DATA)
		memset(s, 0, LIVE_SCHED_BYTES(LIVE_SCHED_POOL(f->sched)));
}

/* Which stack family a SYN's option layout belongs to (option codes, the first in the low
 * nibble): Linux tcp_syn_options() writes mss, then sackOK+TS as one word (or nop,nop,sackOK
 * without timestamps), then nop,wscale; Windows mss,nop,wscale,nop,nop,sackOK; macOS
 * mss,nop,wscale,nop,nop,TS,sackOK,eol and FreeBSD mss,nop,wscale,sackOK,TS. */
static enum syn_layout syn_layout_of(uint32_t order)
{
	switch (order) {
	case 0x31642:     /* mss sackOK TS nop wscale */
	case 0x314112:    /* mss nop nop sackOK nop wscale */
	case 0x3142:      /* mss sackOK nop wscale */
		return SYN_LAYOUT_LINUX;
	case 0x411312:    /* mss nop wscale nop nop sackOK */
	case 0x61411312:  /* mss nop wscale nop nop sackOK nop nop (TS cut: 8 codes kept) */
		return SYN_LAYOUT_WINDOWS;
	case 0x74611312:  /* mss nop wscale nop nop TS sackOK eol */
	case 0x64312:     /* mss nop wscale sackOK TS */
	case 0x4611312:   /* mss nop wscale nop nop TS sackOK */
		return SYN_LAYOUT_BSD;
	default:
		return order ? SYN_LAYOUT_OTHER : SYN_LAYOUT_UNKNOWN;
	}
}

/* TTL and IPv4 ID habits of a side, from its non-RST segments. Zero IDs are skipped: Linux sends
 * them on segments it builds without a socket (SYN+ACK, TIME-WAIT ACKs), and on IPv6 there are
 * none. */
static inline __attribute__((always_inline)) void track_ip_habits(struct live_dir *me,
                                                             const struct tcp_segment *seg)
{
	if (seg->flags & TCP_RST)
		return;
	if (!(me->bits & DIR_TTL_KNOWN)) {
		me->ttl = seg->ttl;
		me->bits |= DIR_TTL_KNOWN;
	} else if (seg->ttl != me->ttl) {
		me->bits |= DIR_TTL_VARIES;
	}
	me->ttl_last = seg->ttl;
	if (seg->src.family != 4 || seg->ip_id == 0)
		return;
	if (me->bits & DIR_ID_KNOWN) {
		uint16_t step = (uint16_t)(seg->ip_id - me->last_ip_id);

		if (step >= 1 && step <= IP_ID_STEP_MAX) {
			if (me->ip_id_steps != UINT8_MAX)
				me->ip_id_steps++;
			if (step > 1)
				me->ip_id_wide = 1;
		} else if (step != 0 && me->ip_id_jumps != UINT8_MAX) {
			me->ip_id_jumps++;
		}
	}
	me->last_ip_id = seg->ip_id;
	me->bits |= DIR_ID_KNOWN;
}

/* 1: the side's IDs count up by one per segment, as Linux numbers a socket's segments (a reset
 * from that socket continues them), 0: they do not (random, as BSD and macOS), 2: nothing known
 * (IPv6, or too few nonzero IDs seen), 3: a host-wide counter (Windows, older BSDs), which the
 * host's other traffic moves on: a reset's ID may be anything after it, never proof. */
static uint8_t ip_id_counter(const struct live_dir *me, const struct tcp_segment *seg)
{
	if (seg->src.family != 4 || !(me->bits & DIR_ID_KNOWN) || me->ip_id_steps < 2)
		return 2;
	if (me->ip_id_jumps > me->ip_id_steps / 8)
		return 0;
	if (me->ip_id_wide)
		return 3;
	return 1;
}

/* Blocks are allocated on first need; without memory the evidence is just lost. */
struct live_rare *live_rare_get(struct flow_store *st, struct live_flow *f)
{
	if (!f->rare)
		f->rare = pool_alloc(&st->rares);
	return live_rare_of(st, f);
}

struct live_fin *live_fin_get(struct flow_store *st, struct live_flow *f)
{
	if (!f->fin)
		f->fin = pool_alloc(&st->fins);
	return live_fin_of(st, f);
}

/* --- snapshots (live_flow.h: struct live_snap) ------------------------------------------------ */

static void set_time(struct live_snap *s, enum live_time_tag tag, uint64_t v)
{
	s->t_lo = (uint32_t)v;
	s->t_hi = (uint8_t)(((unsigned)tag << 6) | (unsigned)(v >> 32));
}

/* The time field of `s` := ts_ns relative to `base`: nanoseconds when they fit, else whole
 * microseconds when they fit, else LIVE_T_PENDING (settle_far() keeps it in the far block). */
static void encode_time(struct live_snap *s, int64_t ts_ns, int64_t base)
{
	const uint64_t max = (uint64_t)1 << LIVE_T_VALUE_BITS;
	/* Modulo 2^64: exactly ts_ns - base when that is from 0 to 2^64 - 1, and at least 2^63
	 * when it is negative; either way too large for both encodings unless it fits. */
	uint64_t off = (uint64_t)ts_ns - (uint64_t)base;

	if (off < max)
		set_time(s, LIVE_T_NS, off);
	else if (off % 1000 == 0 && off / 1000 < max)
		set_time(s, LIVE_T_US, off / 1000);
	else
		set_time(s, LIVE_T_PENDING, 0);
}

static struct live_snap snapshot(const struct live_flow *f, const struct tcp_segment *seg,
                                 int64_t ts_ns, uint64_t frame)
{
	uint64_t rel = frame - f->first_frame + 1;
	struct live_snap s = {
		/* A flow spanning more than 4 billion frames keeps its last evidence frames wrong
		 * rather than growing every snapshot by 4 bytes. */
		.frame = rel > UINT32_MAX ? UINT32_MAX : (uint32_t)rel,
		.seq = seg->seq,
		.ack = seg->ack,
		.len = (uint16_t)(seg->payload_len > UINT16_MAX ? UINT16_MAX : seg->payload_len),
		.flags = seg->flags,
	};

	encode_time(&s, ts_ns, f->first_ts_ns);
	return s;
}

/* The snapshot kept at `slot`, NULL when its block does not exist. */
static struct live_snap *slot_of(const struct flow_store *st, struct live_flow *f, int slot)
{
	struct live_fin *fb = live_fin_of(st, f);
	struct live_rare *r = live_rare_of(st, f);

	switch (slot) {
	case LIVE_SLOT_LAST:
	case LIVE_SLOT_LAST + 1:
		return &f->dir[slot - LIVE_SLOT_LAST].last;
	case LIVE_SLOT_LAST_PAYLOAD:
	case LIVE_SLOT_LAST_PAYLOAD + 1:
		return &f->dir[slot - LIVE_SLOT_LAST_PAYLOAD].last_payload;
	case LIVE_SLOT_RUN_FIRST:
		return &f->silent.first;
	case LIVE_SLOT_RUN_LAST:
		return &f->silent.last;
	case LIVE_SLOT_FIN:
	case LIVE_SLOT_FIN + 1:
		return fb ? &fb->fin[slot - LIVE_SLOT_FIN] : NULL;
	case LIVE_SLOT_FIN_ACK:
	case LIVE_SLOT_FIN_ACK + 1:
		return fb ? &fb->fin_ack[slot - LIVE_SLOT_FIN_ACK] : NULL;
	case LIVE_SLOT_FIRST_RST:
		return r ? &r->first_rst : NULL;
	case LIVE_SLOT_RST_ANSWERS:
		return r ? &r->rst_answers : NULL;
	case LIVE_SLOT_FIRST_PROBE:
		return r ? &r->first_probe : NULL;
	case LIVE_SLOT_LAST_PROBE:
		return r ? &r->last_probe : NULL;
	case LIVE_SLOT_PAYLOAD_AFTER_FIN:
		return fb ? &fb->payload_after_fin : NULL;
	default:
		return NULL;
	}
}

/* Keeps the time of *dst (kept at `slot`), ts_ns, in the far block. */
static void put_far(struct flow_store *st, struct live_flow *f, enum live_slot slot,
                    struct live_snap *dst, int64_t ts_ns)
{
	struct live_rare *r = live_rare_get(st, f);

	if (r && !r->far)
		r->far = pool_alloc(&st->fars);
	if (!r || !r->far) {
		/* Without memory the time is the nearest one that fits, not none. */
		set_time(dst, LIVE_T_US,
		         ts_ns <= f->first_ts_ns ? 0 : ((uint64_t)1 << LIVE_T_VALUE_BITS) - 1);
		return;
	}
	live_far_of(st, r)->ts_ns[slot] = ts_ns;
	set_time(dst, LIVE_T_FAR, (uint64_t)slot);
}

/* *dst (kept at `slot`) := *src, a snapshot of time ts_ns kept elsewhere (its far time, if it
 * has one, is at the other place). */
static void copy_snap(struct flow_store *st, struct live_flow *f, enum live_slot slot,
                      struct live_snap *dst, const struct live_snap *src, int64_t ts_ns)
{
	*dst = *src;
	if ((dst->t_hi >> 6) >= LIVE_T_FAR)
		put_far(st, f, slot, dst, ts_ns);
}

/* After a segment whose time fits no snapshot (LIVE_T_PENDING): the places it was stored at
 * keep it in the far block. Stored there as plain copies until now, so that storing the current
 * segment costs no test per place. */
static void settle_far(struct flow_store *st, struct live_flow *f, int64_t ts_ns)
{
	for (int slot = 0; slot < LIVE_SLOTS; slot++) {
		struct live_snap *p = slot_of(st, f, slot);

		if (p && p->frame && (p->t_hi >> 6) == LIVE_T_PENDING)
			put_far(st, f, (enum live_slot)slot, p, ts_ns);
	}
}

/* The flow's first timestamp (the origin of its snapshots' times) becomes ts_ns: the times kept
 * relative to the old one are encoded again. */
static void set_first_ts(struct flow_store *st, struct live_flow *f, int64_t ts_ns)
{
	int64_t old = f->first_ts_ns;
	bool any = f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets != 0;

	f->first_ts_ns = ts_ns;
	for (int slot = 0; any && slot < LIVE_SLOTS; slot++) {
		struct live_snap *p = slot_of(st, f, slot);
		uint64_t v;
		int64_t t;

		if (!p || !p->frame || (p->t_hi >> 6) == LIVE_T_FAR)
			continue;
		v = ((uint64_t)(p->t_hi & 0x3f) << 32) | p->t_lo;
		t = old + ((p->t_hi >> 6) == LIVE_T_US ? (int64_t)v * 1000 : (int64_t)v);
		encode_time(p, t, ts_ns);
		if ((p->t_hi >> 6) == LIVE_T_PENDING)
			put_far(st, f, (enum live_slot)slot, p, t);
	}
}

/* A keepalive probe (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): no SYN/FIN/RST, no data (Linux) or one
 * garbage byte (Windows, old BSD), seq = next sequence number - 1, sent when the peer has
 * acknowledged everything. A zero-window probe has the same shape (Linux tcp_xmit_probe_skb);
 * it is told apart by the peer's last advertised window being zero. */
static bool is_keepalive_probe(const struct live_flow *f, enum flow_direction d,
                               const struct tcp_segment *seg)
{
	const struct live_dir *me = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];

	if (seg->flags & (TCP_SYN | TCP_FIN | TCP_RST))
		return false;
	if (!(seg->flags & TCP_ACK) || seg->payload_len > 1 || !(me->bits & DIR_SEQ_KNOWN) ||
	    (me->seen & LIVE_FIN_SENT))
		return false;
	if (seg->seq != me->next_seq - 1)
		return false;
	if (!(peer->bits & DIR_ACK_KNOWN) || peer->max_ack != me->next_seq)
		return false;
	return peer->packets == 0 || peer->window != 0;
}

/* The side `d` sends into the peer's silence: start or extend its run. A run starts with the
 * silence before it (`gap_ns`, since the flow's previous segment) and whether that silence was
 * the longest of the flow so far (classify.c: middlebox idle timeouts). */
static inline struct live_silent *silent_run_of(struct flow_store *st, struct live_flow *f,
                                         enum flow_direction d, int64_t gap_ns)
{
	if (f->silent.from != d || (f->silent.segs == 0 && f->silent.probes == 0)) {
		uint32_t gap_ms = ms_saturating(gap_ns);

		memset(&f->silent, 0, sizeof f->silent);
		sched_forget_run(st, f);
		f->silent.from = (uint8_t)d;
		f->silent.idle_before_ms = gap_ms;
		f->silent.long_idle = (uint64_t)gap_ms >= (uint64_t)LONG_IDLE_FACTOR * f->max_gap_ms;
	}
	return &f->silent;
}

/* Places the segment in its sender's sequence space. Returns true for a keepalive probe. */
static bool track_sequence(struct flow_store *st, struct live_flow *f, enum flow_direction d,
                           const struct tcp_segment *seg, const struct live_snap *snap,
                           int64_t ts_ns, int64_t gap_ns)
{
	struct live_dir *me = &f->dir[d];
	uint32_t span = seg->payload_len + ((seg->flags & TCP_SYN) ? 1u : 0u) +
	                ((seg->flags & TCP_FIN) ? 1u : 0u);
	uint32_t end = seg->seq + span;

	if (seg->flags & TCP_RST)
		return false; /* a RST's seq says what it claims, not what was sent: see classify.c */

	if (seg->flags & TCP_SYN) {
		if ((me->bits & DIR_SYN_SEEN) && me->syn_count > 1 && seg->seq == me->isn) {
			struct live_sched *s = live_sched_of(st, f);

			me->retransmissions++;
			/* The SYN retry schedule: the previous segment of this side is its last SYN. */
			if (!s || s->kind == SCHED_NONE)
				s = sched_start(st, f, SCHED_SYN, d, live_snap_ts(st, f, &me->last));
			if (s && s->kind == SCHED_SYN && s->from == d)
				sched_push(st, f, s, ts_ns);
			return false;
		}
		me->isn = seg->seq;
		me->next_seq = end;
		me->bits |= DIR_SEQ_KNOWN | DIR_SYN_SEEN;
		return false;
	}
	if (!(me->bits & DIR_SEQ_KNOWN)) {
		/* Midstream: number the first byte seen 1, as if its SYN were just before it. */
		me->isn = seg->seq - 1;
		me->next_seq = end;
		me->bits |= DIR_SEQ_KNOWN;
		return false;
	}
	if (is_keepalive_probe(f, d, seg)) {
		struct live_silent *run = silent_run_of(st, f, d, gap_ns);
		struct live_rare *r = live_rare_get(st, f);

		if (r) {
			if (r->probes[FROM_CLIENT] + r->probes[FROM_SERVER] == 0)
				r->first_probe_idle_ms = ms_saturating(gap_ns);
			if (run->probes == 0)
				r->first_probe = *snap;
			r->last_probe = *snap;
			r->probes[d]++;
		}
		if (run->probes != UINT16_MAX)
			run->probes++;
		return true;
	}
	if (span > 0) {
		struct live_silent *run = silent_run_of(st, f, d, gap_ns);
		struct live_sched *s;

		if (seq_lt(seg->seq, me->next_seq)) {
			me->retransmissions++;
			run->last_rtx_gap_ns = ts_ns - (run->segs ? live_snap_ts(st, f, &run->last) : ts_ns);
			if (run->rtx++ == 0 && run->segs > 0) {
				/* The first retransmission into this silence: keep the schedule from the
				 * oldest unanswered segment on (and the one just before this, which may
				 * be a tail-loss probe carrying new data). */
				s = sched_start(st, f, SCHED_DATA, d, live_snap_ts(st, f, &run->first));
				if (s && run->last.frame != run->first.frame)
					sched_push(st, f, s, live_snap_ts(st, f, &run->last));
			}
		}
		s = run->rtx > 0 ? live_sched_of(st, f) : NULL;
		if (s && s->kind == SCHED_DATA && s->from == d)
			sched_push(st, f, s, ts_ns);
		if (run->segs++ == 0)
			run->first = *snap;
		run->last = *snap;
	}
	me->next_seq = seq_max(me->next_seq, end);
	return false;
}

/* Microseconds from the flow's first timestamp to ts_ns, saturating (0 before it). */
static uint32_t us_since_first(const struct live_flow *f, int64_t ts_ns)
{
	int64_t us = (ts_ns - f->first_ts_ns) / 1000;

	return us <= 0 ? 0 : us >= UINT32_MAX - 1 ? UINT32_MAX - 2 : (uint32_t)us;
}

/* us_since_first() of snapshot `s`'s time (s->frame != 0), read from its encoding when it has one
 * (per segment: no round trip through nanoseconds and a division). */
static uint32_t snap_us(const struct flow_store *st, const struct live_flow *f,
                        const struct live_snap *s)
{
	uint64_t v = ((uint64_t)(s->t_hi & 0x3f) << 32) | s->t_lo;

	switch (s->t_hi >> 6) {
	case LIVE_T_US:
		break;
	case LIVE_T_NS:
		v /= 1000;
		break;
	default:
		return us_since_first(f, live_snap_ts(st, f, s));
	}
	return v >= UINT32_MAX - 1 ? UINT32_MAX - 2 : (uint32_t)v;
}

/* `me`'s segment at `now` (µs) acknowledges `peer`'s timed one: a sample of `me`'s round trip,
 * kept if it is the smallest, a handshake's preferred (track_rtt below says why). */
static inline __attribute__((always_inline)) void rtt_answered(struct live_dir *me,
                                                                struct live_dir *peer, uint32_t now)
{
	bool handshake = (peer->bits & DIR_SYN_SEEN) && peer->rtt_probe_end == peer->isn + 1;
	uint32_t sample = now - (peer->rtt_probe_us - 1);
	uint32_t had = me->rtt_us & ~LIVE_RTT_FROM_DATA;
	bool had_handshake = me->rtt_us && !(me->rtt_us & LIVE_RTT_FROM_DATA);

	if (sample == 0)
		sample = 1;
	if (sample >= LIVE_RTT_FROM_DATA)
		sample = LIVE_RTT_FROM_DATA - 1;
	if (handshake && (!had_handshake || sample < had))
		me->rtt_us = sample;
	else if (!handshake && !had_handshake && (!had || sample < had))
		me->rtt_us = sample | LIVE_RTT_FROM_DATA;
	peer->rtt_probe_us = 0;
}

/* The round trip from the capture point to each side: the time from a segment the capture saw
 * going to a side until that side's ACK of it came back past the capture point (RFC 6298 §3: not
 * on retransmitted segments, Karn's algorithm). One segment per direction is timed at a time.
 * The handshake's SYN -> SYN+ACK and SYN+ACK -> ACK are answered by the kernel at once; data
 * may be acknowledged late (delayed ACK, up to 40 ms on Linux, 200 ms on Windows) or with the
 * application's answer, so the smallest sample is kept and a handshake sample is preferred. A
 * capture that holds every frame twice (a mirror port seen twice) times from the first copy. */
static void track_rtt(const struct flow_store *st, struct live_flow *f, enum flow_direction d,
                      const struct tcp_segment *seg, uint32_t now)
{
	struct live_dir *me = &f->dir[d];
	struct live_dir *peer = &f->dir[!d];
	uint32_t span = seg->payload_len + ((seg->flags & TCP_SYN) ? 1u : 0u) +
	                ((seg->flags & TCP_FIN) ? 1u : 0u);

	if (seg->flags & TCP_RST) {
		/* Whatever acknowledges the timed segment later is no answer to it: the connection was
		 * reset in between (a scanner's kernel resets the SYN+ACK, then sends on the tuple). */
		peer->rtt_probe_us = 0;
		return;
	}
	/* This segment acknowledges the peer's timed one: a sample of this side's round trip. */
	if ((seg->flags & TCP_ACK) && peer->rtt_probe_us && seq_ge(seg->ack, peer->rtt_probe_end))
		rtt_answered(me, peer, now);
	if (span == 0)
		return;
	if (!(me->bits & DIR_SEQ_KNOWN)) {
		if (!(seg->flags & TCP_SYN))
			return; /* midstream: where its sequence space is is not known yet */
	} else if (seq_lt(seg->seq, me->next_seq)) {
		/* A retransmission: the timed segment's answer can no longer be told apart, unless
		 * this is the same frame captured twice (the peer said nothing in between). */
		bool twice = me->rtt_probe_us && seg->seq + span == me->rtt_probe_end &&
		             live_snap_ts(st, f, &peer->last) < f->first_ts_ns +
		                                                    (int64_t)(me->rtt_probe_us - 1) * 1000;

		if (!twice && me->rtt_probe_us && seq_gt(me->rtt_probe_end, seg->seq))
			me->rtt_probe_us = 0;
		return;
	}
	if (!me->rtt_probe_us) {
		me->rtt_probe_end = seg->seq + span;
		me->rtt_probe_us = now + 1;
	}
}

/* What the sender's ACK field says about the peer's data and FIN. */
static void track_ack(struct flow_store *st, struct live_flow *f, enum flow_direction d,
                      const struct tcp_segment *seg, const struct live_snap *snap,
                      uint32_t now_us)
{
	struct live_dir *me = &f->dir[d];
	struct live_dir *peer = &f->dir[!d];

	if (!(seg->flags & TCP_ACK) || (seg->flags & TCP_RST))
		return; /* a RST's ack field is the sender's claim, checked by the classifier */
	if (!(me->bits & DIR_ACK_KNOWN) || seq_gt(seg->ack, me->max_ack)) {
		me->max_ack = seg->ack;
		me->bits |= DIR_ACK_KNOWN;
		me->ack_since_us = now_us;
	}
	/* ACKs for bytes the capture never showed: the capture missed segments (RFC 9293 §3.10.7.4
	 * makes a real stack ignore an ACK of unsent data, so the data was sent). */
	if ((peer->bits & DIR_SEQ_KNOWN) && seq_gt(seg->ack, peer->next_seq))
		f->modifiers |= MOD_CAPTURE_GAP;
	if ((peer->seen & (LIVE_FIN_SENT | LIVE_FIN_ACKED)) == LIVE_FIN_SENT) {
		struct live_fin *fb = live_fin_of(st, f);

		if (seq_ge(seg->ack, fb->fin_seq[!d] + 1)) {
			fb->fin_ack[!d] = *snap;
			peer->seen |= LIVE_FIN_ACKED;
		}
	}
	if (d == FROM_CLIENT && (f->mark & (LIVE_SYNACK_SEEN | LIVE_HANDSHAKE_ACKED)) ==
	                            LIVE_SYNACK_SEEN &&
	    !(seg->flags & TCP_SYN) && seq_ge(seg->ack, peer->isn + 1))
		f->mark |= LIVE_HANDSHAKE_ACKED;
}

static void update_states(const struct flow_store *st, struct live_flow *f,
                          enum flow_direction d, const struct tcp_segment *seg)
{
	const struct live_dir *rcv = &f->dir[!d];
	struct state_event send_ev = { .flags = seg->flags };
	struct state_event recv_ev = { .flags = seg->flags };

	if ((seg->flags & TCP_ACK) && !(seg->flags & TCP_RST)) {
		bool fin = rcv->seen & LIVE_FIN_SENT;
		bool acks_fin = fin && seq_ge(seg->ack, live_fin_of(st, f)->fin_seq[!d] + 1);

		send_ev.ignores_peer_fin = fin && !acks_fin;
		recv_ev.acks_own_fin = acks_fin;
		recv_ev.acks_own_syn = (rcv->bits & DIR_SYN_SEEN) && seq_ge(seg->ack, rcv->isn + 1);
	}
	f->state[d] = (uint8_t)tcp_state_on_send((enum tcp_state)f->state[d], &send_ev);
	f->state[!d] = (uint8_t)tcp_state_on_receive((enum tcp_state)f->state[!d], &recv_ev);
}

/* Does a RST's TTL / hop limit fit the side it names? Its other segments had one TTL, or, after
 * a route change (or behind a device that answers handshakes for it), its latest one. */
static bool rst_ttl_fits(const struct live_dir *me, uint8_t ttl)
{
	if (!(me->bits & DIR_TTL_KNOWN))
		return true;
	return ttl == me->ttl_last || (!(me->bits & DIR_TTL_VARIES) && ttl == me->ttl);
}

static void track_rst(struct flow_store *st, struct live_flow *f, enum flow_direction d,
                      const struct tcp_segment *seg, const struct live_snap *snap)
{
	struct live_dir *me = &f->dir[d];
	struct live_rare *r = live_rare_get(st, f);

	me->rst_count++;
	if (!r)
		return;
	if (!r->rst_frame[d]) {
		r->rst_frame[d] = snap->frame;
		r->rst_ttl[d] = seg->ttl;
		r->rst_ip_id[d] = seg->ip_id;
		r->rst_prev_ip_id[d] = me->last_ip_id;
		r->rst_id_counter[d] = ip_id_counter(me, seg);
	}
	/* Every reset is held to its side's TTL: a box in the path may reset what the endpoint
	 * already ended, or the segments still in flight after it. */
	if (!r->odd_rst_frame[d] && !rst_ttl_fits(me, seg->ttl)) {
		r->odd_rst_frame[d] = snap->frame;
		r->odd_rst_ttl[d] = seg->ttl;
	}
	if (!r->first_rst.frame) {
		r->first_rst = *snap;
		r->first_rst_from = (uint8_t)d;
		copy_snap(st, f, LIVE_SLOT_RST_ANSWERS, &r->rst_answers, &f->dir[!d].last,
		          live_snap_ts(st, f, &f->dir[!d].last));
		r->rst_unread_bytes = me->bytes_in_since_own_payload;
		r->rst_own_next = me->next_seq;
		r->rst_own_ack = me->max_ack;
		r->rst_own_bits = me->bits;
		r->rst_ack_since_us = f->dir[!d].ack_since_us;
		r->rst_peer_prev_us = f->dir[!d].prev_us;
		r->rst_own_window = me->window;
		r->rst_own_max_window = me->max_window;
		r->rst_win_updates = me->win_updates;
	}
}

/* The first RST of the flow, answering the other side's run into silence: remember how that
 * run began (after how long a silence) before the run is forgotten. */
static void note_run_answered_by_reset(struct flow_store *st, struct live_flow *f,
                                       enum flow_direction d)
{
	const struct live_silent *run = &f->silent;
	struct live_rare *r = live_rare_of(st, f);

	if (run->from == d || (run->segs == 0 && run->probes == 0))
		return;
	if (r && r->first_rst.frame)
		return;
	r = live_rare_get(st, f);
	if (!r)
		return;
	r->rst_run_idle_ms = run->idle_before_ms;
	r->rst_run_long_idle = run->long_idle;
}

static uint32_t add_saturating(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void tracker_segment_general(struct flow_store *st, struct live_flow *f,
                             const struct tcp_segment *seg, enum flow_direction d, int64_t ts_ns,
                             uint64_t frame)
{
	struct live_dir *me = &f->dir[d];
	struct live_dir *peer = &f->dir[!d];
	uint32_t window = live_scaled_window(f, d, seg);
	struct live_snap snap;
	/* The silence before this segment (none before the flow's first). */
	int64_t gap_ns = (f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets) != 0
	                     ? ts_ns - f->last_ts_ns
	                     : 0;
	bool probe, ack_moved;
	uint32_t now_us;

	/* Zeek's view first: it reads the state before this segment. Zeek forgets a connection
	 * that ended on the wire ZEEK_CLOSE_DELAY_NS after its last packet (tcp_close_delay) and
	 * logs what comes later as another connection; tcpmortem keeps listening longer
	 * (FINISHED_QUIET_NS: a path's late reset belongs to the connection), but its Zeek view
	 * stops where Zeek's does. Nothing of it is read when no report shows it (skip_zeek): the
	 * blocks it may allocate (live_rare for a content gap) decode to the same view as none. */
	if (!st->skip_zeek && !(flow_is_finished(f) && gap_ns > ZEEK_CLOSE_DELAY_NS))
		zeek_track_segment(st, f, seg, d);
	if (f->first_ts_ns == 0 || ts_ns < f->first_ts_ns)
		set_first_ts(st, f, ts_ns);
	snap = snapshot(f, seg, ts_ns, frame);
	if (ts_ns > f->last_ts_ns)
		f->last_ts_ns = ts_ns;
	if (seg->truncated)
		f->modifiers |= MOD_TRUNCATED;

	/* Anything from this side answers the peer's run into silence. */
	if (f->silent.from != d) {
		if (seg->flags & TCP_RST)
			note_run_answered_by_reset(st, f, d);
		memset(&f->silent, 0, sizeof f->silent);
		sched_forget_run(st, f);
	}

	if (me->packets != UINT32_MAX)
		me->packets++;
	me->payload_bytes += seg->payload_len;
	track_ip_habits(me, seg);
	if (seg->flags & TCP_SYN) {
		if (me->syn_count != UINT16_MAX)
			me->syn_count++;
		if (!(me->bits & DIR_SYN_SEEN) && !(seg->flags & TCP_RST))
			me->syn_layout = (uint8_t)syn_layout_of(seg->option_order);
		if (!(me->bits & DIR_SYN_SEEN) && (seg->options & TCP_OPT_WSCALE)) {
			me->wscale = seg->wscale > WSCALE_MAX ? WSCALE_MAX : seg->wscale;
			me->bits |= DIR_WSCALE;
		}
		if ((seg->flags & TCP_ACK) && d == FROM_SERVER && !(seg->flags & TCP_RST))
			f->mark |= LIVE_SYNACK_SEEN;
	}

	/* Payload bytes not sent before: retransmitted bytes are not new data for the receiver. */
	uint32_t new_bytes = seg->payload_len;

	if ((me->bits & DIR_SEQ_KNOWN) && !(seg->flags & (TCP_SYN | TCP_RST)) &&
	    seq_lt(seg->seq, me->next_seq))
		new_bytes = seq_ge(seg->seq + seg->payload_len, me->next_seq)
		                ? seg->seq + seg->payload_len - me->next_seq
		                : 0;

	update_states(st, f, d, seg);
	now_us = us_since_first(f, ts_ns);
	track_rtt(st, f, d, seg, now_us); /* before track_sequence moves next_seq */
	probe = track_sequence(st, f, d, seg, &snap, ts_ns, gap_ns);
	ack_moved = !(me->bits & DIR_ACK_KNOWN) || seq_gt(seg->ack, me->max_ack);
	track_ack(st, f, d, seg, &snap, now_us);
	if (gap_ns >= ((int64_t)f->max_gap_ms + 1) * 1000000) /* ms_saturating(gap_ns) > max_gap_ms */
		f->max_gap_ms = ms_saturating(gap_ns);

	if (seg->flags & TCP_RST) {
		track_rst(st, f, d, seg, &snap);
	} else {
		if (window == 0 && me->window != 0 && me->packets > 1 && me->zero_windows != UINT16_MAX)
			me->zero_windows++;
		/* A window update: more room, nothing new acknowledged (Linux tcp_cleanup_rbuf sends
		 * one when the application's reading opened the window enough). */
		if (!ack_moved && (seg->flags & TCP_ACK) && seg->payload_len == 0 &&
		    !(seg->flags & (TCP_SYN | TCP_FIN)) && window > me->window && me->packets > 1 &&
		    me->win_updates != UINT16_MAX)
			me->win_updates++;
		if (!(seg->flags & TCP_SYN) && window > me->max_window)
			me->max_window = window;
		me->window = window;
	}
	if ((seg->flags & TCP_FIN) && !(seg->flags & TCP_RST) && !(me->seen & LIVE_FIN_SENT)) {
		struct live_fin *fb = live_fin_get(st, f);

		if (fb) { /* without memory the FIN is not known */
			fb->fin[d] = snap;
			fb->fin_seq[d] = seg->seq + seg->payload_len;
			me->seen |= LIVE_FIN_SENT;
			if ((peer->seen & LIVE_FIN_SENT) && (seg->flags & TCP_ACK) &&
			    seq_ge(seg->ack, fb->fin_seq[!d] + 1))
				me->bits |= DIR_FIN_KNEW_PEER_FIN;
		}
	}
	if (seg->payload_len > 0 && !(seg->flags & TCP_RST) && !probe) {
		me->payload_segments++;
		if (seg->payload_len <= HEARTBEAT_MAX_BYTES)
			me->small_payload_segments++;
		me->last_payload = snap;
		/* Bytes each side received since it last sent data itself: when a side later aborts,
		 * this is what its application may have left unread (DESIGN §3). */
		me->bytes_in_since_own_payload = 0;
		peer->bytes_in_since_own_payload =
		    add_saturating(peer->bytes_in_since_own_payload, new_bytes);
		if (new_bytes)
			peer->win_updates = 0; /* what it read before these bytes says nothing of them */
		if (peer->seen & LIVE_FIN_SENT) {
			struct live_fin *fb = live_fin_of(st, f);

			if (fb->payload_after_peer_fin[d] == 0 && !fb->payload_after_fin.frame) {
				fb->payload_after_fin = snap;
				fb->payload_after_fin_from = (uint8_t)d;
			}
			fb->payload_after_peer_fin[d] = add_saturating(fb->payload_after_peer_fin[d],
			                                               new_bytes);
		}
	}
	if (!probe && (seg->payload_len > 0 || (seg->flags & (TCP_SYN | TCP_FIN))))
		f->last_active_ns = ts_ns;
	if (me->last.frame)
		me->prev_us = snap_us(st, f, &me->last) + 1;
	me->last = snap;
	if ((snap.t_hi >> 6) == LIVE_T_PENDING)
		settle_far(st, f, ts_ns);
}

bool tracker_fast_path_applies(const struct live_flow *f, const struct tcp_segment *seg,
                               enum flow_direction d, int64_t ts_ns)
{
	const struct live_dir *me = &f->dir[d];

	return (seg->flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) == TCP_ACK &&
	       (me->bits & DIR_SEQ_KNOWN) && seg->seq == me->next_seq &&
	       !(f->dir[!d].seen & LIVE_FIN_SENT) && !f->sched && f->first_ts_ns != 0 &&
	       (uint64_t)ts_ns - (uint64_t)f->first_ts_ns < (uint64_t)1 << LIVE_T_VALUE_BITS;
}

/* tracker_segment_general() for a segment tracker_fast_path_applies() to: what the general path
 * tests per segment is known here, so only what such a segment can change is done, in the same
 * order (what is read after a write reads the same). With it in order and no SYN, FIN or RST, it
 * is no retransmission and no keepalive probe (seq is next_seq, not next_seq - 1), all its
 * payload is new, no FIN block is read (the peer sent no FIN) and no schedule exists; its time
 * fits a snapshot in nanoseconds, so the flow's origin does not move and nothing goes far. */
/* Not inlined: the engine's shard_segment, which everything else is inlined into, ran out of
 * registers, and this path is short enough to have them all. */
__attribute__((noinline)) static void tracker_segment_fast(struct flow_store *st,
                                                           struct live_flow *f,
                                                           const struct tcp_segment *seg,
                                                           enum flow_direction d, int64_t ts_ns,
                                                           uint64_t frame)
{
	struct live_dir *me = &f->dir[d];
	struct live_dir *peer = &f->dir[!d];
	/* Read once: the stores into the flow below could alias them as far as C knows. */
	const uint32_t len = seg->payload_len, seq = seg->seq, ack = seg->ack;
	const uint32_t window = live_scaled_window(f, d, seg);
	const uint64_t off = (uint64_t)ts_ns - (uint64_t)f->first_ts_ns; /* < 2^38: LIVE_T_NS */
	const uint32_t now_us = (uint32_t)(off / 1000);                 /* us_since_first() */
	const int64_t gap_ns = (f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets) != 0
	                           ? ts_ns - f->last_ts_ns
	                           : 0;
	uint64_t rel = frame - f->first_frame + 1;
	struct live_snap snap = {
		.frame = rel > UINT32_MAX ? UINT32_MAX : (uint32_t)rel,
		.seq = seq,
		.ack = ack,
		.len = (uint16_t)(len > UINT16_MAX ? UINT16_MAX : len),
		.flags = seg->flags,
	};
	bool ack_moved;

	if (!st->skip_zeek && !(flow_is_finished(f) && gap_ns > ZEEK_CLOSE_DELAY_NS))
		zeek_track_in_order(st, f, seg, d);
	set_time(&snap, LIVE_T_NS, off);
	if (ts_ns > f->last_ts_ns)
		f->last_ts_ns = ts_ns;
	if (seg->truncated)
		f->modifiers |= MOD_TRUNCATED;
	/* The peer's run into silence is answered. A run without segments or probes is all zero
	 * (silent_run_of() starts one only to count one), so then there is nothing to clear. */
	if (f->silent.from != d && (f->silent.segs || f->silent.probes))
		memset(&f->silent, 0, sizeof f->silent);

	if (me->packets != UINT32_MAX)
		me->packets++;
	me->payload_bytes += len;
	track_ip_habits(me, seg);
	if (f->state[d] != TCPS_ESTABLISHED || f->state[!d] != TCPS_ESTABLISHED)
		update_states(st, f, d, seg);

	/* track_rtt(): this segment may answer the peer's timed one; data starts a timing. */
	if (peer->rtt_probe_us && seq_ge(ack, peer->rtt_probe_end))
		rtt_answered(me, peer, now_us);
	if (len && !me->rtt_probe_us) {
		me->rtt_probe_end = seq + len;
		me->rtt_probe_us = now_us + 1;
	}

	/* track_sequence(): new data extends this side's run into the peer's silence. */
	if (len) {
		struct live_silent *run = silent_run_of(st, f, d, gap_ns);

		if (run->segs++ == 0)
			run->first = snap;
		run->last = snap;
		me->next_seq = seq + len;
	}

	/* track_ack() */
	ack_moved = !(me->bits & DIR_ACK_KNOWN) || seq_gt(ack, me->max_ack);
	if (ack_moved) {
		me->max_ack = ack;
		me->bits |= DIR_ACK_KNOWN;
		me->ack_since_us = now_us;
	}
	if ((peer->bits & DIR_SEQ_KNOWN) && seq_gt(ack, peer->next_seq))
		f->modifiers |= MOD_CAPTURE_GAP;
	if (d == FROM_CLIENT && (f->mark & (LIVE_SYNACK_SEEN | LIVE_HANDSHAKE_ACKED)) ==
	                            LIVE_SYNACK_SEEN &&
	    seq_ge(ack, peer->isn + 1))
		f->mark |= LIVE_HANDSHAKE_ACKED;
	if (gap_ns >= ((int64_t)f->max_gap_ms + 1) * 1000000)
		f->max_gap_ms = ms_saturating(gap_ns);

	/* The window, as for any segment but a RST. */
	if (window == 0 && me->window != 0 && me->packets > 1 && me->zero_windows != UINT16_MAX)
		me->zero_windows++;
	if (!ack_moved && len == 0 && window > me->window && me->packets > 1 &&
	    me->win_updates != UINT16_MAX)
		me->win_updates++;
	if (window > me->max_window)
		me->max_window = window;
	me->window = window;

	if (len) {
		me->payload_segments++;
		if (len <= HEARTBEAT_MAX_BYTES)
			me->small_payload_segments++;
		me->last_payload = snap;
		me->bytes_in_since_own_payload = 0;
		peer->bytes_in_since_own_payload = add_saturating(peer->bytes_in_since_own_payload, len);
		peer->win_updates = 0;
		f->last_active_ns = ts_ns;
	}
	if (me->last.frame)
		me->prev_us = snap_us(st, f, &me->last) + 1;
	me->last = snap;
}

void tracker_segment(struct flow_store *st, struct live_flow *f, const struct tcp_segment *seg,
                     enum flow_direction d, int64_t ts_ns, uint64_t frame)
{
	if (tracker_fast_path_applies(f, seg, d, ts_ns))
		tracker_segment_fast(st, f, seg, d, ts_ns, frame);
	else
		tracker_segment_general(st, f, seg, d, ts_ns, frame);
}

static enum closer_side time_wait_side(const uint8_t state[2])
{
	bool c = state[FROM_CLIENT] == TCPS_TIME_WAIT;
	bool sv = state[FROM_SERVER] == TCPS_TIME_WAIT;

	return c && sv ? CLOSER_BOTH : c ? CLOSER_CLIENT : sv ? CLOSER_SERVER : CLOSER_NONE;
}

enum closer_side flow_time_wait_side(const struct flow *f)
{
	return time_wait_side(f->state);
}

enum closer_side live_time_wait_side(const struct live_flow *f)
{
	return time_wait_side(f->state);
}

void flow_note_reuse(struct flow_store *st, struct live_flow *f, int64_t gap_ns,
                     enum closer_side time_wait)
{
	struct live_rare *r = live_rare_get(st, f);

	if (!r)
		return;
	r->reused = 1;
	r->reuse_gap_ms = ms_saturating(gap_ns);
	r->reuse_time_wait = (uint8_t)time_wait;
}
