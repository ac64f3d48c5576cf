/* flow_store.c - the memory of a shard's live flows, and their expansion for the classifier
 * (live_flow.h). */
#include "live_flow.h"
#include "encap_table.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(struct live_flow, last_active_ns) == LIVE_TABLE_BYTES,
               "the table's part of a flow is its first LIVE_TABLE_BYTES bytes");
_Static_assert(offsetof(struct live_flow, fin) < LIVE_TABLE_BYTES &&
                   offsetof(struct live_flow, last_ts_ns) < LIVE_TABLE_BYTES &&
                   offsetof(struct live_flow, first_frame) < LIVE_TABLE_BYTES,
               "what a frozen flow is read for is in its table part");
_Static_assert((sizeof(struct live_flow) - LIVE_TABLE_BYTES) % 4 == 0 &&
                   sizeof(struct live_fin) % 4 == 0,
               "a frozen flow is packed in 32-bit words");

void flow_store_init(struct flow_store *st)
{
	memset(st, 0, sizeof *st);
	pool_init(&st->flows, sizeof(struct live_flow), LIVE_FLOW_SLAB_SHIFT);
	pool_init(&st->fins, sizeof(struct live_fin), LIVE_BLOCK_SLAB_SHIFT);
	pool_init(&st->rares, sizeof(struct live_rare), LIVE_BLOCK_SLAB_SHIFT);
	for (int k = LIVE_SCHED_DATA; k <= LIVE_SCHED_BIG; k++)
		pool_init(&st->scheds[k], LIVE_SCHED_BYTES(k), LIVE_BLOCK_SLAB_SHIFT);
	pool_init(&st->addr6, 32, LIVE_BLOCK_SLAB_SHIFT);
	pool_init(&st->fars, sizeof(struct live_far), LIVE_BLOCK_SLAB_SHIFT);
	for (unsigned k = 0; k < LIVE_FROZEN_CLASSES; k++)
		pool_init(&st->frozen[k], LIVE_FROZEN_MIN + k * LIVE_FROZEN_STEP, LIVE_FROZEN_SLAB_SHIFT);
}

void flow_store_destroy(struct flow_store *st)
{
	pool_destroy(&st->flows);
	pool_destroy(&st->fins);
	pool_destroy(&st->rares);
	for (int k = LIVE_SCHED_DATA; k <= LIVE_SCHED_BIG; k++)
		pool_destroy(&st->scheds[k]);
	pool_destroy(&st->addr6);
	pool_destroy(&st->fars);
	for (unsigned k = 0; k < LIVE_FROZEN_CLASSES; k++)
		pool_destroy(&st->frozen[k]);
	free(st->captures);
	st->captures = NULL;
	st->n_captures = st->cap_captures = 0;
}

struct live_flow *flow_store_new(struct flow_store *st)
{
	uint32_t h = pool_alloc(&st->flows);
	struct live_flow *f;

	if (!h)
		return NULL;
	f = flow_store_at(st, h);
	f->self = h;
	return f;
}

void flow_store_free(struct flow_store *st, struct live_flow *f)
{
	if (flow_is_frozen(f)) { /* its FIN block went when it was frozen */
		if (f->mark & LIVE_ADDR6)
			pool_free(&st->addr6, f->addr[0]);
		pool_free(&st->frozen[(f->self >> LIVE_FROZEN_CLASS_SHIFT) & (LIVE_FROZEN_CLASSES - 1)],
		          f->self & ((1u << LIVE_FROZEN_CLASS_SHIFT) - 1));
		return;
	}
	if (f->fin)
		pool_free(&st->fins, f->fin);
	if (f->rare) {
		const struct live_rare *r = live_rare_of(st, f);

		if (r->far)
			pool_free(&st->fars, r->far);
		pool_free(&st->rares, f->rare);
	}
	if (f->sched)
		pool_free(&st->scheds[LIVE_SCHED_POOL(f->sched)], LIVE_SCHED_HANDLE(f->sched));
	if (f->mark & LIVE_ADDR6)
		pool_free(&st->addr6, f->addr[0]);
	pool_free(&st->flows, f->self);
}

size_t flow_store_bytes(const struct flow_store *st)
{
	size_t frozen = 0;

	for (unsigned k = 0; k < LIVE_FROZEN_CLASSES; k++)
		frozen += pool_bytes(&st->frozen[k]);
	return pool_bytes(&st->flows) + pool_bytes(&st->fins) + pool_bytes(&st->rares) +
	       pool_bytes(&st->scheds[0]) + pool_bytes(&st->scheds[1]) + pool_bytes(&st->scheds[2]) +
	       pool_bytes(&st->addr6) + pool_bytes(&st->fars) + frozen;
}

/* --- frozen flows (live_flow.h) ------------------------------------------------------------ */

#define BODY_WORDS ((sizeof(struct live_flow) - LIVE_TABLE_BYTES) / 4)
#define FIN_WORDS (sizeof(struct live_fin) / 4)
#define PACK_WORDS (BODY_WORDS + FIN_WORDS)
#define TAG_BYTES ((PACK_WORDS + 3) / 4)
_Static_assert(LIVE_TABLE_BYTES + TAG_BYTES + PACK_WORDS * 4 <=
                   LIVE_FROZEN_MIN + (LIVE_FROZEN_CLASSES - 1) * LIVE_FROZEN_STEP,
               "the largest class holds any frozen flow");

/* Packs `n` 32-bit words at `in` to `out`: tags first (2 bits a word: 0 it is zero, 1, 2 or 3
 * it takes 1, 2 or 4 bytes, little-endian), then the words' bytes. Returns the bytes written. */
static size_t pack_words(const unsigned char *in, size_t n, unsigned char *out)
{
	unsigned char *tags = out, *o = out + (n + 3) / 4;

	memset(tags, 0, (n + 3) / 4);
	for (size_t i = 0; i < n; i++) {
		uint32_t v;
		unsigned tag;

		memcpy(&v, in + 4 * i, 4);
		if (!v)
			continue;
		tag = v <= 0xff ? 1 : v <= 0xffff ? 2 : 3;
		tags[i / 4] |= (unsigned char)(tag << (2 * (i % 4)));
		o[0] = (unsigned char)v;
		if (tag >= 2)
			o[1] = (unsigned char)(v >> 8);
		if (tag == 3) {
			o[2] = (unsigned char)(v >> 16);
			o[3] = (unsigned char)(v >> 24);
		}
		o += tag == 3 ? 4 : tag;
	}
	return (size_t)(o - out);
}

static void unpack_words(const unsigned char *in, size_t n, unsigned char *out)
{
	const unsigned char *tags = in, *p = in + (n + 3) / 4;

	for (size_t i = 0; i < n; i++) {
		unsigned tag = (tags[i / 4] >> (2 * (i % 4))) & 3;
		uint32_t v = 0;

		if (tag) {
			v = p[0];
			if (tag >= 2)
				v |= (uint32_t)p[1] << 8;
			if (tag == 3)
				v |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
			p += tag == 3 ? 4 : tag;
		}
		memcpy(out + 4 * i, &v, 4);
	}
}

struct live_flow *flow_store_freeze(struct flow_store *st, struct live_flow *f,
                                    void (*replace)(void *table, struct live_flow *old,
                                                    struct live_flow *now),
                                    void *table)
{
	unsigned char words[PACK_WORDS * 4], packed[TAG_BYTES + PACK_WORDS * 4];
	const struct live_fin *fb = live_fin_of(st, f);
	size_t len, k;
	uint32_t h;
	unsigned char *z;

	if (f->rare || f->sched)
		return f;
	memcpy(words, (const unsigned char *)f + LIVE_TABLE_BYTES, BODY_WORDS * 4);
	if (fb)
		memcpy(words + BODY_WORDS * 4, fb, FIN_WORDS * 4);
	else
		memset(words + BODY_WORDS * 4, 0, FIN_WORDS * 4);
	len = pack_words(words, PACK_WORDS, packed);
	k = LIVE_TABLE_BYTES + len <= LIVE_FROZEN_MIN
	        ? 0
	        : (LIVE_TABLE_BYTES + len - LIVE_FROZEN_MIN + LIVE_FROZEN_STEP - 1) / LIVE_FROZEN_STEP;
	h = pool_alloc(&st->frozen[k]);
	if (!h || h >= (1u << LIVE_FROZEN_CLASS_SHIFT)) {
		if (h)
			pool_free(&st->frozen[k], h);
		return f;
	}
	z = pool_at(&st->frozen[k], h);
	memcpy(z, f, LIVE_TABLE_BYTES);
	memcpy(z + LIVE_TABLE_BYTES, packed, len);
	struct live_flow *frozen = (struct live_flow *)z;
	frozen->self = LIVE_FROZEN_BIT | (uint32_t)k << LIVE_FROZEN_CLASS_SHIFT | h;
	frozen->fin = fb ? 1 : 0; /* whether it had a FIN block */
	replace(table, f, frozen);
	if (f->fin)
		pool_free(&st->fins, f->fin);
	pool_free(&st->flows, f->self);
	return frozen;
}

struct live_flow *flow_store_thaw(struct flow_store *st, struct live_flow *frozen,
                                  void (*replace)(void *table, struct live_flow *old,
                                                  struct live_flow *now),
                                  void *table)
{
	unsigned char words[PACK_WORDS * 4];
	unsigned k = (frozen->self >> LIVE_FROZEN_CLASS_SHIFT) & (LIVE_FROZEN_CLASSES - 1);
	uint32_t h = pool_alloc(&st->flows), fh = 0;
	struct live_flow *f;

	if (!h)
		return NULL;
	if (frozen->fin && !(fh = pool_alloc(&st->fins))) {
		pool_free(&st->flows, h);
		return NULL;
	}
	f = flow_store_at(st, h);
	unpack_words((const unsigned char *)frozen + LIVE_TABLE_BYTES, PACK_WORDS, words);
	memcpy(f, frozen, LIVE_TABLE_BYTES);
	memcpy((unsigned char *)f + LIVE_TABLE_BYTES, words, BODY_WORDS * 4);
	f->self = h;
	f->fin = fh;
	if (fh)
		memcpy(live_fin_of(st, f), words + BODY_WORDS * 4, FIN_WORDS * 4);
	replace(table, frozen, f);
	pool_free(&st->frozen[k], frozen->self & ((1u << LIVE_FROZEN_CLASS_SHIFT) - 1));
	return f;
}

void live_endpoint(const struct flow_store *st, const struct live_flow *f, int side,
                   struct flow_endpoint *out)
{
	memset(out, 0, sizeof *out);
	out->port = f->port[side];
	if (f->mark & LIVE_ADDR6) {
		out->addr.family = 6;
		memcpy(out->addr.bytes, live_addr6(st, f) + (size_t)16 * (unsigned)side, 16);
	} else {
		out->addr.family = 4;
		memcpy(out->addr.bytes, &f->addr[side], 4);
	}
}

/* --- expansion --------------------------------------------------------------------------- */

static void snap_decode(const struct flow_store *st, const struct live_flow *f,
                        const struct live_snap *s, struct seg_snap *out)
{
	uint64_t v = ((uint64_t)(s->t_hi & 0x3f) << 32) | s->t_lo;

	if (!s->frame) {
		*out = (struct seg_snap){ 0 };
		return;
	}
	switch (s->t_hi >> 6) {
	case LIVE_T_NS:
		out->ts_ns = f->first_ts_ns + (int64_t)v;
		break;
	case LIVE_T_US:
		out->ts_ns = f->first_ts_ns + (int64_t)v * 1000;
		break;
	default:
		out->ts_ns = live_snap_ts(st, f, s);
		break;
	}
	out->frame = s->frame;
	out->seq = s->seq;
	out->ack = s->ack;
	out->len = s->len;
	out->flags = s->flags;
}

static void dir_decode(const struct flow_store *st, const struct live_flow *f,
                       const struct live_dir *d,
                       const struct live_fin *fb, const struct live_rare *r, int side,
                       struct flow_dir *out)
{
	out->isn = d->isn;
	out->packets = d->packets;
	out->payload_bytes = d->payload_bytes;
	out->payload_segments = d->payload_segments;
	out->small_payload_segments = d->small_payload_segments;
	out->retransmissions = d->retransmissions;
	out->syn_count = d->syn_count;
	out->rst_count = d->rst_count;
	out->ttl = d->ttl;
	out->ttl_last = d->ttl_last;
	out->bits = d->bits;
	out->syn_layout = d->syn_layout;
	snap_decode(st, f, &d->last, &out->last);
	snap_decode(st, f, &d->last_payload, &out->last_payload);
	if (fb) {
		out->payload_after_peer_fin = fb->payload_after_peer_fin[side];
		snap_decode(st, f, &fb->fin[side], &out->fin);
		snap_decode(st, f, &fb->fin_ack[side], &out->fin_ack);
	} else {
		out->payload_after_peer_fin = 0;
		out->fin = out->fin_ack = (struct seg_snap){ 0 };
	}
	out->probes = r ? r->probes[side] : 0;
	out->rtt_us = d->rtt_us & ~LIVE_RTT_FROM_DATA;
	out->rtt_from_data = out->rtt_us && (d->rtt_us & LIVE_RTT_FROM_DATA);
}

static void sched_decode(const struct flow_store *st, const struct live_flow *f,
                         struct live_sched *s, struct sched *out)
{
	const uint32_t *e = live_sched_entries(f, s);

	if (s->kind == SCHED_NONE)
		return; /* forgotten: all zero */
	if (s->kind == SCHED_SYN) {
		out->t0 = live_sched_time(s, 0);
		out->last_ns = live_sched_time(s, 1);
	} else { /* its run's */
		out->t0 = live_snap_ts(st, f, &f->silent.first);
		out->last_ns = live_snap_ts(st, f, &f->silent.last);
	}
	out->n = s->n;
	out->total = s->total;
	out->kind = s->kind;
	out->from = s->from;
	out->off_us[0] = 0;
	for (unsigned k = 1; k < s->n && k < SCHED_MAX; k++)
		out->off_us[k] = e[k - 1];
}

static void rare_decode(const struct flow_store *st, const struct live_flow *f,
                        const struct live_rare *r, struct flow_rare *out)
{
	snap_decode(st, f, &r->first_rst, &out->first_rst);
	snap_decode(st, f, &r->rst_answers, &out->rst_answers);
	snap_decode(st, f, &r->first_probe, &out->first_probe);
	snap_decode(st, f, &r->last_probe, &out->last_probe);
	out->rst_unread_bytes = r->rst_unread_bytes;
	for (int d = 0; d < 2; d++) {
		out->rst_frame[d] = r->rst_frame[d];
		out->rst_ttl[d] = r->rst_ttl[d];
		out->rst_ip_id[d] = r->rst_ip_id[d];
		out->rst_prev_ip_id[d] = r->rst_prev_ip_id[d];
		out->rst_id_counter[d] = r->rst_id_counter[d];
		out->odd_rst_frame[d] = r->odd_rst_frame[d];
		out->odd_rst_ttl[d] = r->odd_rst_ttl[d];
	}
	out->rst_own_window = r->rst_own_window;
	out->rst_own_max_window = r->rst_own_max_window;
	out->rst_win_updates = r->rst_win_updates;
	out->rst_own_next = r->rst_own_next;
	out->rst_own_ack = r->rst_own_ack;
	out->rst_own_bits = r->rst_own_bits;
	out->rst_ack_since_ns = r->first_rst.frame ? f->first_ts_ns +
	                                                 (int64_t)r->rst_ack_since_us * 1000
	                                           : 0;
	out->rst_peer_prev_ns = r->first_rst.frame && r->rst_peer_prev_us
	                            ? f->first_ts_ns + (int64_t)(r->rst_peer_prev_us - 1) * 1000
	                            : 0;
	out->first_rst_from = r->first_rst_from;
	out->rst_run_long_idle = r->rst_run_long_idle;
	out->rst_run_idle_ms = r->rst_run_idle_ms;
	out->first_probe_idle_ms = r->first_probe_idle_ms;
	out->reuse_gap_ms = r->reuse_gap_ms;
	out->reuse_time_wait = r->reuse_time_wait;
	out->reused = r->reused;
}

void flow_decode(const struct flow_store *st, const struct live_flow *f, struct flow *out,
                 struct flow_rare *rare)
{
	const struct live_fin *fb = live_fin_of(st, f);
	const struct live_rare *r = live_rare_of(st, f);
	struct live_sched *s = live_sched_of(st, f);

	/* Every member is set below (no memset of the whole view: this runs once per flow). */
	live_endpoint(st, f, FROM_CLIENT, &out->ep[FROM_CLIENT]);
	live_endpoint(st, f, FROM_SERVER, &out->ep[FROM_SERVER]);
	out->first_frame = f->first_frame;
	out->capture = f->capture < st->n_captures ? st->captures[f->capture] : NULL;
	out->encap = st->encaps && LIVE_ENCAP_ID(f->encap)
	                 ? encap_table_get(st->encaps, LIVE_ENCAP_ID(f->encap))
	                 : NULL;
	out->first_ts_ns = f->first_ts_ns;
	out->last_ts_ns = f->last_ts_ns;
	out->last_active_ns = f->last_active_ns;
	for (int d = 0; d < 2; d++)
		dir_decode(st, f, &f->dir[d], fb, r, d, &out->dir[d]);
	out->silent.from = f->silent.from;
	out->silent.long_idle = f->silent.long_idle;
	out->silent.probes = f->silent.probes;
	out->silent.segs = f->silent.segs;
	out->silent.rtx = f->silent.rtx;
	out->silent.idle_before_ms = f->silent.idle_before_ms;
	out->silent.last_rtx_gap_ns = f->silent.last_rtx_gap_ns;
	snap_decode(st, f, &f->silent.first, &out->silent.first);
	snap_decode(st, f, &f->silent.last, &out->silent.last);
	/* The evidence block, when decoded, also holds the schedule and the data after a FIN. A flow
	 * has one when it has a live_rare or a schedule: a flow whose only evidence was data after a
	 * FIN has none, which no reader can tell from one holding only that (classify.c reads it
	 * after a RST only, timers.c with a RST's evidence). */
	out->rare = NULL;
	if (r || s) {
		memset(rare, 0, sizeof *rare);
		if (r)
			rare_decode(st, f, r, rare);
		if (s)
			sched_decode(st, f, s, &rare->sched);
		if (fb) {
			snap_decode(st, f, &fb->payload_after_fin, &rare->payload_after_fin);
			rare->payload_after_fin_from = fb->payload_after_fin_from;
		}
		out->rare = rare;
	}
	out->modifiers = f->modifiers;
	out->state[0] = f->state[0];
	out->state[1] = f->state[1];
	out->roles_inferred = f->mark & LIVE_ROLES_INFERRED;
	out->ts_nano = f->mark & LIVE_TS_NANO;
	out->synack_seen = f->mark & LIVE_SYNACK_SEEN;
	out->handshake_acked = f->mark & LIVE_HANDSHAKE_ACKED;
	out->starts_with_syn = f->mark & LIVE_STARTS_WITH_SYN;
	out->max_gap_ms = f->max_gap_ms;
	if (st->skip_zeek)
		memset(&out->zeek, 0, sizeof out->zeek);
	else
		zeek_decode(st, f, &out->ep[FROM_CLIENT], &out->ep[FROM_SERVER], &out->zeek);
}
