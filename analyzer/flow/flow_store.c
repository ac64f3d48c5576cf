/* flow_store.c - the memory of a shard's live flows, and their expansion for the classifier
 * (live_flow.h). */
#include "live_flow.h"
#include "encap_table.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The parts of a waiting flow (live_flow.h) are these runs of bytes. */
_Static_assert(offsetof(struct live_flow, dir) == LIVE_HEAD_BYTES, "the head ends at dir");
_Static_assert(offsetof(struct live_dir, next_seq) == LIVE_DIR_KEPT &&
                   offsetof(struct live_dir, max_ack) == LIVE_DIR_KEPT + 4 &&
                   offsetof(struct live_dir, rtt_probe_end) == LIVE_DIR_KEPT + 8 &&
                   offsetof(struct live_dir, max_window) == LIVE_DIR_KEPT + 12 &&
                   offsetof(struct live_dir, retransmissions) == LIVE_DIR_KEPT + LIVE_DIR_DERIVED &&
                   offsetof(struct live_dir, last) ==
                       LIVE_DIR_KEPT + LIVE_DIR_DERIVED + LIVE_DIR_ZEROS &&
                   sizeof(struct live_dir) ==
                       offsetof(struct live_dir, last) + sizeof(struct live_snap),
               "live_dir: kept, derived, zeros, last");
_Static_assert(offsetof(struct live_fin, fin_ack) == 2 * sizeof(struct live_snap) &&
                   offsetof(struct live_fin, fin_seq) == 4 * sizeof(struct live_snap) &&
                   offsetof(struct live_fin, payload_after_peer_fin) ==
                       offsetof(struct live_fin, fin_seq) + 8 &&
                   offsetof(struct live_fin, zeek_fin_end) ==
                       offsetof(struct live_fin, payload_after_peer_fin) + LIVE_FIN_AFTER &&
                   sizeof(struct live_fin) == offsetof(struct live_fin, zeek_fin_end) + 8,
               "live_fin: FINs, their ACKs, their sequence numbers, data after a FIN, Zeek's");
_Static_assert(sizeof(struct live_short_dir) == 60 && LIVE_SHORT_BYTES == 248 &&
                   LIVE_SHORT_ZEEK_BYTES == 296 &&
                   LIVE_SHORT_HEAD == offsetof(struct live_flow, last_active_ns) &&
                   offsetof(struct live_flow, last_active_ns) + 8 == LIVE_HEAD_BYTES &&
                   offsetof(struct live_flow, dir) + 2 * sizeof(struct live_dir) ==
                       offsetof(struct live_flow, silent) &&
                   offsetof(struct live_flow, silent) + sizeof(struct live_silent) ==
                       offsetof(struct live_flow, zeek) &&
                   offsetof(struct live_flow, zeek) + sizeof(struct live_zeek) ==
                       sizeof(struct live_flow) &&
                   offsetof(struct live_dir, last_ip_id) + 8 ==
                       offsetof(struct live_dir, payload_bytes) &&
                   LIVE_FROZEN_POOLS <= 32,
               "live_short: the head to last_ts_ns, then last_active_ns; live_dir's IP habits");
#define FROZEN_FIXED ((size_t)LIVE_HEAD_BYTES + 4 + (size_t)2 * LIVE_DIR_KEPT)
#define FROZEN_MAX                                                                             \
	(FROZEN_FIXED + sizeof(struct live_fin) + 2 * sizeof(struct live_snap) +                 \
	 (size_t)2 * (LIVE_DIR_DERIVED + LIVE_DIR_ZEROS) + sizeof(struct live_silent) +         \
	 sizeof(struct live_zeek))
#define FROZEN_LARGEST                                                                         \
	((size_t)LIVE_FROZEN_MIN + (size_t)(LIVE_FROZEN_CLASSES - 1) * LIVE_FROZEN_STEP)
_Static_assert(FROZEN_FIXED + 2 * sizeof(struct live_snap) <= LIVE_FROZEN_MIN &&
                   FROZEN_MAX <= FROZEN_LARGEST && LIVE_FROZEN_CLASSES <= 32,
               "the frozen classes hold every waiting flow");

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
		pool_init(&st->frozen[k], LIVE_FROZEN_MIN + (size_t)k * LIVE_FROZEN_STEP,
		          LIVE_FLOW_SLAB_SHIFT);
	pool_init(&st->frozen[LIVE_FROZEN_SHORT], LIVE_SHORT_BYTES, LIVE_FLOW_SLAB_SHIFT);
	pool_init(&st->frozen[LIVE_FROZEN_SHORT_ZEEK], LIVE_SHORT_ZEEK_BYTES, LIVE_FLOW_SLAB_SHIFT);
}

void flow_store_share(struct flow_store *st, struct pool_space *space)
{
	pool_share(&st->flows, space);
	pool_share(&st->fins, space);
	pool_share(&st->rares, space);
	for (int k = LIVE_SCHED_DATA; k <= LIVE_SCHED_BIG; k++)
		pool_share(&st->scheds[k], space);
	pool_share(&st->addr6, space);
	pool_share(&st->fars, space);
	for (unsigned k = 0; k < LIVE_FROZEN_POOLS; k++)
		pool_share(&st->frozen[k], space);
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
	for (unsigned k = 0; k < LIVE_FROZEN_POOLS; k++)
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

void flow_store_free_frozen(struct flow_store *st, struct live_flow *z)
{
	pool_free_at(&st->frozen[LIVE_FROZEN_CLASS(z->self)], LIVE_FROZEN_HANDLE(z->self), z);
}

void flow_store_free(struct flow_store *st, struct live_flow *f)
{
	if (f->fin) /* 0 when frozen: the FIN block is in the frozen item */
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
	if (live_is_frozen(f))
		flow_store_free_frozen(st, f);
	else
		pool_free_at(&st->flows, f->self, f);
}

size_t flow_store_bytes(const struct flow_store *st)
{
	size_t frozen = 0;

	for (unsigned k = 0; k < LIVE_FROZEN_POOLS; k++)
		frozen += pool_bytes(&st->frozen[k]);
	return pool_bytes(&st->flows) + pool_bytes(&st->fins) + pool_bytes(&st->rares) +
	       pool_bytes(&st->scheds[0]) + pool_bytes(&st->scheds[1]) + pool_bytes(&st->scheds[2]) +
	       pool_bytes(&st->addr6) + pool_bytes(&st->fars) + frozen;
}

/* --- waiting flows (live_flow.h: "A waiting flow") ------------------------------------- */

/* The FIN block's data after a FIN (LIVE_FIN_AFTER bytes), and side d's live_dir from `next_seq`
 * (LIVE_DIR_DERIVED bytes) and from `retransmissions` (LIVE_DIR_ZEROS bytes): to read, and to
 * write. */
static inline const unsigned char *fin_after(const struct live_fin *fb)
{
	return (const unsigned char *)fb + offsetof(struct live_fin, payload_after_peer_fin);
}

static inline unsigned char *fin_after_w(struct live_fin *fb)
{
	return (unsigned char *)fb + offsetof(struct live_fin, payload_after_peer_fin);
}

static inline const unsigned char *dir_derived(const struct live_flow *f, int d)
{
	return (const unsigned char *)&f->dir[d] + LIVE_DIR_KEPT;
}

static inline unsigned char *dir_derived_w(struct live_flow *f, int d)
{
	return (unsigned char *)&f->dir[d] + LIVE_DIR_KEPT;
}

static inline const unsigned char *dir_zeros(const struct live_flow *f, int d)
{
	return (const unsigned char *)&f->dir[d] + LIVE_DIR_KEPT + LIVE_DIR_DERIVED;
}

static inline unsigned char *dir_zeros_w(struct live_flow *f, int d)
{
	return (unsigned char *)&f->dir[d] + LIVE_DIR_KEPT + LIVE_DIR_DERIVED;
}

/* The sequence number side d's FIN occupies, as its snapshot tells it (0: it sent none): the
 * tracker's fin_seq, the FIN's seq + its payload (an IP packet's payload fits 16 bits). */
static inline uint32_t fin_seq_of(const struct live_fin *fb, int d)
{
	return fb->fin[d].frame ? fb->fin[d].seq + fb->fin[d].len : 0;
}

/* Do the FINs of `f` (FIN block `fb`) tell its FINs' sequence numbers and each side's
 * LIVE_DIR_DERIVED part? (A connection closed by both FINs: each side's next_seq is its FIN's +
 * 1, its max_ack the peer's FIN's + 1, its rtt_probe_end its next_seq, its max_window its last
 * window.) */
static bool fins_tell(const struct live_flow *f, const struct live_fin *fb)
{
	const uint32_t fs[2] = { fin_seq_of(fb, 0), fin_seq_of(fb, 1) };
	uint32_t diff = (fb->fin_seq[0] ^ fs[0]) | (fb->fin_seq[1] ^ fs[1]);

	for (int d = 0; d < 2; d++) {
		const struct live_dir *me = &f->dir[d];

		diff |= (me->next_seq ^ (fs[d] + 1)) | (me->max_ack ^ (fs[!d] + 1)) |
		        (me->rtt_probe_end ^ me->next_seq) | (me->max_window ^ me->window);
	}
	return diff == 0;
}

/* What fins_tell() found: the FINs' sequence numbers and each side's derived part, from the FINs
 * and each side's window. */
static void fins_told(struct live_flow *f, struct live_fin *fb)
{
	for (int d = 0; d < 2; d++)
		fb->fin_seq[d] = fin_seq_of(fb, d);
	for (int d = 0; d < 2; d++) {
		struct live_dir *me = &f->dir[d];

		me->next_seq = fb->fin_seq[d] + 1;
		me->max_ack = fb->fin_seq[!d] + 1;
		me->rtt_probe_end = me->next_seq;
		me->max_window = me->window;
	}
}

/* Are `a` and `b` the same snapshot, byte for byte? */
static inline bool snap_same(const struct live_snap *a, const struct live_snap *b)
{
	uint64_t a0, a1, b0, b1;
	uint32_t a2, b2;

	memcpy(&a0, a, 8);
	memcpy(&a1, (const char *)a + 8, 8);
	memcpy(&a2, (const char *)a + 16, 4);
	memcpy(&b0, b, 8);
	memcpy(&b1, (const char *)b + 8, 8);
	memcpy(&b2, (const char *)b + 16, 4);
	return ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2)) == 0;
}

/* Is every byte of p[0 .. n) zero? (n a constant multiple of 8: unrolled, no branch a word.) */
static inline bool all_zero(const void *p, size_t n)
{
	uint64_t acc = 0;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;

		memcpy(&w, (const char *)p + i, 8);
		acc |= w;
	}
	return acc == 0;
}

/* The parts of `f` (FIN block `fb`, NULL: none) a waiting flow keeps (enum live_frozen_part), and
 * the bytes they take in all. */
static uint32_t frozen_parts(const struct flow_store *st, const struct live_flow *f,
                             const struct live_fin *fb, size_t *bytes)
{
	const size_t snap = sizeof(struct live_snap);
	uint32_t parts = 0;
	size_t n = FROZEN_FIXED + 2 * snap; /* the lasts: kept unless the FIN block has them */

	if (fb) {
		parts |= LIVE_FZ_FIN;
		n += 2 * snap + 2 * snap; /* the FINs, their acknowledgements */
		for (int d = 0; d < 2; d++) {
			if (snap_same(&fb->fin_ack[d], &fb->fin[!d])) {
				parts |= LIVE_FZ_FIN_ACK_DUP << d;
				n -= snap;
			}
			if (snap_same(&f->dir[d].last, &fb->fin_ack[!d])) {
				parts |= LIVE_FZ_LAST_DUP << d;
				n -= snap;
			}
		}
		if (fins_tell(f, fb))
			parts |= LIVE_FZ_DERIVED;
		else
			n += sizeof fb->fin_seq + (size_t)2 * LIVE_DIR_DERIVED;
		if (!all_zero(fin_after(fb), LIVE_FIN_AFTER)) {
			parts |= LIVE_FZ_AFTER;
			n += LIVE_FIN_AFTER;
		}
	} else {
		n += (size_t)2 * LIVE_DIR_DERIVED;
	}
	if (!all_zero(dir_zeros(f, 0), LIVE_DIR_ZEROS) || !all_zero(dir_zeros(f, 1), LIVE_DIR_ZEROS)) {
		parts |= LIVE_FZ_ZEROS;
		n += (size_t)2 * LIVE_DIR_ZEROS;
	}
	if (!all_zero(&f->silent, sizeof f->silent)) {
		parts |= LIVE_FZ_SILENT;
		n += sizeof f->silent;
	}
	/* Without a report that reads it, Zeek's view is never touched (tracker.c): all zero. */
	if (!st->skip_zeek) {
		parts |= LIVE_FZ_ZEEK;
		n += sizeof f->zeek + (fb ? sizeof fb->zeek_fin_end : 0);
	}
	*bytes = n;
	return parts;
}

/* Appends n bytes at `src` to *out. */
static inline void put(unsigned char **out, const void *src, size_t n)
{
	memcpy(*out, src, n);
	*out += n;
}

/* Takes n bytes from *in to `dst`. */
static inline void take(const unsigned char **in, void *dst, size_t n)
{
	memcpy(dst, *in, n);
	*in += n;
}

/* --- the short form (live_flow.h: "The short form of a waiting flow") ---------------------- */

/* The time of snapshot `s` in nanoseconds after first_ts_ns when it is kept so (LIVE_T_NS, as
 * the tracker keeps every time within 4.6 minutes), else 2^63 (no short form). */
static inline uint64_t short_ns(const struct live_snap *s)
{
	uint64_t v = ((uint64_t)(s->t_hi & 0x3f) << 32) | s->t_lo;

	return (s->t_hi >> 6) == LIVE_T_NS ? v : (uint64_t)1 << 63;
}

/* Does `f` (FIN block `fb`) fit the short form? *first: the side that closed first. The conditions
 * are word compares OR'ed together: few branches. */
static bool short_fits(const struct live_flow *f, const struct live_fin *fb, unsigned *first)
{
	const uint32_t fs[2] = { fin_seq_of(fb, 0), fin_seq_of(fb, 1) };
	unsigned c, a; /* the side that closed first, the side whose FIN acknowledged it */
	const struct live_snap *ack;
	uint64_t bad, since;

	if (!fb->fin[0].frame || !fb->fin[1].frame)
		return false;
	if (snap_same(&fb->fin_ack[0], &fb->fin[1]))
		c = 0;
	else if (snap_same(&fb->fin_ack[1], &fb->fin[0]))
		c = 1;
	else
		return false;
	a = !c;
	ack = &fb->fin_ack[a]; /* the final ACK, the last segment of side c */
	if (!snap_same(&f->dir[a].last, &fb->fin[a]) || !snap_same(&f->dir[c].last, ack) ||
	    !fins_tell(f, fb))
		return false;
	since = (uint64_t)f->last_ts_ns - (uint64_t)f->first_ts_ns;
	bad = (ack->seq ^ (fs[c] + 1)) | (ack->ack ^ (fs[a] + 1)) | (ack->flags ^ TCP_ACK) |
	      ack->len | (ack->frame >> 31) | (short_ns(ack) ^ since);
	/* The second FIN is the last active segment; each side's ACK field moved last on its
	 * segment acknowledging the peer's FIN. */
	bad |= ((uint64_t)f->last_active_ns - (uint64_t)f->first_ts_ns) ^ short_ns(&fb->fin[a]);
	bad |= (f->dir[a].ack_since_us ^ short_ns(&fb->fin[a]) / 1000) |
	       (f->dir[c].ack_since_us ^ since / 1000);
	for (int d = 0; d < 2; d++) {
		const struct live_dir *me = &f->dir[d];

		bad |= (me->payload_bytes >> 32) |
		       ((me->packets | me->payload_segments | me->small_payload_segments) >> 16) |
		       ((uint32_t)(me->syn_count | me->rst_count) >> 8);
	}
	*first = c;
	return bad == 0 && all_zero(dir_zeros(f, 0), LIVE_DIR_ZEROS) &&
	       all_zero(dir_zeros(f, 1), LIVE_DIR_ZEROS) && all_zero(fin_after(fb), LIVE_FIN_AFTER) &&
	       all_zero(&f->silent, sizeof f->silent);
}

/* The short form of `f` (FIN block `fb`, which fits it, side c closing first) at *z. */
static void short_put(const struct live_flow *f, const struct live_fin *fb, unsigned c,
                      struct live_short *z)
{
	memcpy(z->head, f, LIVE_SHORT_HEAD);
	z->final_ack = fb->fin_ack[!c].frame | (unsigned)!c << 31;
	for (int d = 0; d < 2; d++) {
		const struct live_dir *me = &f->dir[d];
		struct live_short_dir *out = &z->dir[d];

		out->isn = me->isn;
		out->window = me->window;
		out->packets = (uint16_t)me->packets;
		out->payload_segments = (uint16_t)me->payload_segments;
		out->small_payload_segments = (uint16_t)me->small_payload_segments;
		out->syn_count = (uint8_t)me->syn_count;
		out->rst_count = (uint8_t)me->rst_count;
		out->bytes_in_since_own_payload = me->bytes_in_since_own_payload;
		memcpy(out->ip, &me->last_ip_id, sizeof out->ip);
		out->payload_bytes = (uint32_t)me->payload_bytes;
		out->last_payload = me->last_payload;
		out->rtt_us = me->rtt_us;
		out->prev_us = me->prev_us;
	}
	memcpy(z->fin, fb->fin, sizeof z->fin);
}

/* The live form of short `z` into *f and *fb (a FIN block it always has): every byte; unless
 * `whole`, only what flow_decode() reads of a flow whose Zeek view is not read (expand()). */
static inline __attribute__((always_inline)) struct live_fin *
short_get(const struct live_flow *zf, struct live_flow *f, struct live_fin *fb, bool whole)
{
	const struct live_short *z = (const struct live_short *)(const void *)zf;
	const unsigned a = z->final_ack >> 31, c = !a;
	const uint64_t since = (uint64_t)zf->last_ts_ns - (uint64_t)zf->first_ts_ns;
	struct live_snap *ack = &fb->fin_ack[a];

	memcpy(f, z->head, LIVE_SHORT_HEAD);
	f->self = 0;
	for (int d = 0; d < 2; d++) {
		const struct live_short_dir *in = &z->dir[d];
		struct live_dir *me = &f->dir[d];

		me->isn = in->isn;
		me->packets = in->packets;
		me->payload_segments = in->payload_segments;
		me->small_payload_segments = in->small_payload_segments;
		me->syn_count = in->syn_count;
		me->rst_count = in->rst_count;
		memcpy(&me->last_ip_id, in->ip, sizeof in->ip);
		me->payload_bytes = in->payload_bytes;
		me->last_payload = in->last_payload;
		me->rtt_us = in->rtt_us;
		memset(dir_zeros_w(f, d), 0, LIVE_DIR_ZEROS);
		if (whole) {
			me->window = in->window;
			me->bytes_in_since_own_payload = in->bytes_in_since_own_payload;
			me->prev_us = in->prev_us;
		}
	}
	memcpy(fb->fin, z->fin, sizeof fb->fin);
	fb->fin_ack[c] = fb->fin[a];
	ack->frame = z->final_ack & ~(1u << 31);
	ack->seq = fin_seq_of(fb, (int)c) + 1;
	ack->ack = fin_seq_of(fb, (int)a) + 1;
	ack->t_lo = (uint32_t)since;
	ack->t_hi = (uint8_t)(LIVE_T_NS << 6 | (unsigned)(since >> 32));
	ack->flags = TCP_ACK;
	ack->len = 0;
	f->dir[a].last = fb->fin[a];
	f->dir[c].last = *ack;
	f->last_active_ns = f->first_ts_ns + (int64_t)short_ns(&fb->fin[a]);
	memset(fin_after_w(fb), 0, LIVE_FIN_AFTER);
	memset(&f->silent, 0, sizeof f->silent);
	if (!whole)
		return fb;
	fins_told(f, fb);
	f->dir[a].ack_since_us = (uint32_t)(short_ns(&fb->fin[a]) / 1000);
	f->dir[c].ack_since_us = (uint32_t)(since / 1000);
	if (LIVE_FROZEN_CLASS(zf->self) == LIVE_FROZEN_SHORT_ZEEK) {
		memcpy(&f->zeek, z + 1, sizeof f->zeek);
		memcpy(fb->zeek_fin_end, (const unsigned char *)(z + 1) + sizeof f->zeek,
		       sizeof fb->zeek_fin_end);
	} else {
		memset(&f->zeek, 0, sizeof f->zeek);
		memset(fb->zeek_fin_end, 0, sizeof fb->zeek_fin_end);
	}
	return fb;
}

/* Is frozen `z` in the short form? */
static inline bool is_short(const struct live_flow *z)
{
	return LIVE_FROZEN_CLASS(z->self) >= LIVE_FROZEN_SHORT;
}

/* An item of frozen pool `k` whose handle fits a frozen handle (0: none, nothing taken). */
static uint32_t frozen_alloc(struct flow_store *st, unsigned k, void **item)
{
	uint32_t h = pool_alloc_raw(&st->frozen[k], item);

	if (h > LIVE_FROZEN_HANDLE(~0u)) {
		pool_free_at(&st->frozen[k], h, *item);
		return 0;
	}
	return h;
}

/* Item `h` of frozen pool `k`, written, becomes `f`'s frozen form: `f` and its FIN block `fb`
 * go back to their pools. */
static struct live_flow *frozen_commit(struct flow_store *st, struct live_flow *f,
                                       struct live_fin *fb, void *item, unsigned k, uint32_t h)
{
	struct live_flow *frozen = item;

	frozen->self = LIVE_FROZEN_BIT | (uint32_t)k << LIVE_FROZEN_CLASS_SHIFT | h;
	frozen->fin = 0;
	if (fb)
		pool_free_at(&st->fins, f->fin, fb);
	pool_free_at(&st->flows, f->self, f);
	return frozen;
}

/* Freezes `f` (FIN block `fb`) in the short form; NULL when it does not fit it or there is no
 * memory for it. */
static struct live_flow *freeze_short(struct flow_store *st, struct live_flow *f,
                                      struct live_fin *fb)
{
	unsigned k = st->skip_zeek ? LIVE_FROZEN_SHORT : LIVE_FROZEN_SHORT_ZEEK, c;
	void *item;
	uint32_t h;

	if (!short_fits(f, fb, &c) || !(h = frozen_alloc(st, k, &item)))
		return NULL;
	short_put(f, fb, c, item);
	if (!st->skip_zeek) {
		unsigned char *zeek = (unsigned char *)item + sizeof(struct live_short);

		memcpy(zeek, &f->zeek, sizeof f->zeek);
		memcpy(zeek + sizeof f->zeek, fb->zeek_fin_end, sizeof fb->zeek_fin_end);
	}
	return frozen_commit(st, f, fb, item, k, h);
}

struct live_flow *flow_store_freeze(struct flow_store *st, struct live_flow *f)
{
	struct live_fin *fb = live_fin_of(st, f);
	struct live_flow *shorter = fb ? freeze_short(st, f, fb) : NULL;
	size_t bytes;
	uint32_t parts;
	unsigned k;
	void *item;
	uint32_t h;
	unsigned char *out;

	if (shorter)
		return shorter;
	parts = frozen_parts(st, f, fb, &bytes);
	k = bytes <= LIVE_FROZEN_MIN
	        ? 0
	        : (unsigned)((bytes - LIVE_FROZEN_MIN + LIVE_FROZEN_STEP - 1) / LIVE_FROZEN_STEP);
	if (!(h = frozen_alloc(st, k, &item)))
		return NULL;
	out = item;
	put(&out, f, LIVE_HEAD_BYTES);
	put(&out, &parts, sizeof parts);
	put(&out, &f->dir[0], LIVE_DIR_KEPT);
	put(&out, &f->dir[1], LIVE_DIR_KEPT);
	if (fb) {
		put(&out, fb->fin, sizeof fb->fin);
		for (int d = 0; d < 2; d++)
			if (!(parts & (LIVE_FZ_FIN_ACK_DUP << d)))
				put(&out, &fb->fin_ack[d], sizeof fb->fin_ack[d]);
	}
	for (int d = 0; d < 2; d++)
		if (!(parts & (LIVE_FZ_LAST_DUP << d)))
			put(&out, &f->dir[d].last, sizeof f->dir[d].last);
	if (!(parts & LIVE_FZ_DERIVED)) {
		if (fb)
			put(&out, fb->fin_seq, sizeof fb->fin_seq);
		put(&out, dir_derived(f, 0), LIVE_DIR_DERIVED);
		put(&out, dir_derived(f, 1), LIVE_DIR_DERIVED);
	}
	if (parts & LIVE_FZ_ZEROS) {
		put(&out, dir_zeros(f, 0), LIVE_DIR_ZEROS);
		put(&out, dir_zeros(f, 1), LIVE_DIR_ZEROS);
	}
	if (parts & LIVE_FZ_AFTER)
		put(&out, fin_after(fb), LIVE_FIN_AFTER);
	if (parts & LIVE_FZ_SILENT)
		put(&out, &f->silent, sizeof f->silent);
	if (parts & LIVE_FZ_ZEEK) {
		put(&out, &f->zeek, sizeof f->zeek);
		if (fb)
			put(&out, fb->zeek_fin_end, sizeof fb->zeek_fin_end);
	}
	return frozen_commit(st, f, fb, item, k, h);
}

/* Expands frozen `zf` into *f and *fb (returns fb, or NULL when the flow had no FIN block; f->self
 * and f->fin are 0); unless `whole`, only what flow_decode() reads of a flow whose Zeek view is
 * not read (the derived part and Zeek's are left as they are). */
static inline __attribute__((always_inline)) struct live_fin *
expand(const struct live_flow *zf, struct live_flow *f, struct live_fin *fb, bool whole)
{
	const unsigned char *in = (const unsigned char *)zf;
	uint32_t parts;

	if (is_short(zf))
		return fb ? short_get(zf, f, fb, whole) : NULL;
	take(&in, f, LIVE_HEAD_BYTES);
	take(&in, &parts, sizeof parts);
	f->self = 0;
	take(&in, &f->dir[0], LIVE_DIR_KEPT);
	take(&in, &f->dir[1], LIVE_DIR_KEPT);
	if ((parts & LIVE_FZ_FIN) && fb) { /* fb: room for one exactly when it had one */
		take(&in, fb->fin, sizeof fb->fin);
		for (int d = 0; d < 2; d++) {
			if (!(parts & (LIVE_FZ_FIN_ACK_DUP << d)))
				take(&in, &fb->fin_ack[d], sizeof fb->fin_ack[d]);
			else
				fb->fin_ack[d] = fb->fin[!d];
		}
	} else {
		fb = NULL;
	}
	for (int d = 0; d < 2; d++) {
		if (!(parts & (LIVE_FZ_LAST_DUP << d)) || !fb) /* a copy only with a FIN block */
			take(&in, &f->dir[d].last, sizeof f->dir[d].last);
		else
			f->dir[d].last = fb->fin_ack[!d];
	}
	if (!(parts & LIVE_FZ_DERIVED)) {
		if (fb)
			take(&in, fb->fin_seq, sizeof fb->fin_seq);
		take(&in, dir_derived_w(f, 0), LIVE_DIR_DERIVED);
		take(&in, dir_derived_w(f, 1), LIVE_DIR_DERIVED);
	} else if (whole && fb) {
		fins_told(f, fb);
	}
	if (parts & LIVE_FZ_ZEROS) {
		take(&in, dir_zeros_w(f, 0), LIVE_DIR_ZEROS);
		take(&in, dir_zeros_w(f, 1), LIVE_DIR_ZEROS);
	} else {
		memset(dir_zeros_w(f, 0), 0, LIVE_DIR_ZEROS);
		memset(dir_zeros_w(f, 1), 0, LIVE_DIR_ZEROS);
	}
	if (fb) {
		if (parts & LIVE_FZ_AFTER)
			take(&in, fin_after_w(fb), LIVE_FIN_AFTER);
		else
			memset(fin_after_w(fb), 0, LIVE_FIN_AFTER);
	}
	if (parts & LIVE_FZ_SILENT)
		take(&in, &f->silent, sizeof f->silent);
	else
		memset(&f->silent, 0, sizeof f->silent);
	if (parts & LIVE_FZ_ZEEK) {
		take(&in, &f->zeek, sizeof f->zeek);
		if (fb)
			take(&in, fb->zeek_fin_end, sizeof fb->zeek_fin_end);
	} else if (whole) {
		memset(&f->zeek, 0, sizeof f->zeek);
		if (fb)
			memset(fb->zeek_fin_end, 0, sizeof fb->zeek_fin_end);
	}
	return fb;
}

struct live_flow *flow_store_thaw(struct flow_store *st, const struct live_flow *z)
{
	void *item, *fin = NULL;
	uint32_t parts, h = pool_alloc_raw(&st->flows, &item), fh = 0;
	struct live_flow *f = item;

	memcpy(&parts, (const unsigned char *)z + LIVE_HEAD_BYTES, sizeof parts);
	if (is_short(z))
		parts = LIVE_FZ_FIN; /* a short form always had one */
	if (!h)
		return NULL;
	if ((parts & LIVE_FZ_FIN) && !(fh = pool_alloc_raw(&st->fins, &fin))) {
		pool_free_at(&st->flows, h, item);
		return NULL;
	}
	expand(z, f, fin, true); /* a FIN block exactly when it had one */
	f->self = h;
	f->fin = fh;
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

static inline __attribute__((always_inline)) void snap_decode(const struct flow_store *st,
                                                            const struct live_flow *f,
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

/* flow_decode of live `f`, whose FIN block is `fb` (NULL: none). */
static void decode(const struct flow_store *st, const struct live_flow *f,
                   const struct live_fin *fb, struct flow *out, struct flow_rare *rare)
{
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
		zeek_decode(st, f, fb, &out->ep[FROM_CLIENT], &out->ep[FROM_SERVER], &out->zeek);
}

void flow_decode(const struct flow_store *st, const struct live_flow *f, struct flow *out,
                 struct flow_rare *rare)
{
	if (live_is_frozen(f)) {
		/* Expanded here, where the decoding reads it: a waiting flow is never thawed into
		 * the pools just to be finished. */
		struct live_flow lf;
		struct live_fin fin;
		const struct live_fin *fb = expand(f, &lf, &fin, !st->skip_zeek);

		decode(st, &lf, fb, out, rare);
		return;
	}
	decode(st, f, live_fin_of(st, f), out, rare);
}

bool flow_decode_detached(const struct flow_store *st, const void *item, const char *capture,
                          struct flow *out, struct flow_rare *rare)
{
	/* A detachable flow reads no pool (live_detachable), only the name of its capture file (made
	 * index 0 of a copy of `st`), its tunnel's description and skip_zeek. */
	const char *names[1] = { capture };
	struct flow_store at = *st;
	struct live_flow lf;
	struct live_fin fin;
	const struct live_fin *fb;

	if (!live_detachable((const struct live_flow *)item))
		return false;
	at.captures = names;
	at.n_captures = 1;
	fb = expand((const struct live_flow *)item, &lf, &fin, !st->skip_zeek);
	lf.capture = 0;
	decode(&at, &lf, fb, out, rare);
	return true;
}
