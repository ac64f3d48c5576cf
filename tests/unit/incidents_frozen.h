/* incidents_frozen.h - a frozen copy of the incidents detector (reports/incidents.c) as it decided
 * before its events were packed (issue 15, memory: one array of times per key, narrow times,
 * 16-byte relative records). Included by test_incidents_ref.c alone, so it is compiled only into
 * that test, which feeds it and the real detector the same random record streams and requires
 * the same decisions. Never edit it to follow the real detector: it is the reference the
 * detector's decisions must keep. Only the names changed (ref_incidents_*, static) and the words
 * (sentences, names, sparkline) were left out; the rules and their reasons are explained at the
 * top of reports/incidents.c.
 */
#ifndef TM_TESTS_INCIDENTS_FROZEN_H
#define TM_TESTS_INCIDENTS_FROZEN_H

#include "incidents.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ref_incidents;
static void ref_incidents_destroy(struct ref_incidents *d);

#define SEC 1000000000LL

#define MIN_MEMBERS 20
#define BEFORE_NS (60 * SEC)
#define AFTER_NS (30 * SEC)
#define BASE_FLOOR_NS (10 * SEC)
#define RATE_FACTOR 5.0
#define COEXIST 0.9
#define SKEW_NS (20 * SEC)
#define DEFAULT_EXPIRE (300 * SEC)
#define MAX_SPAN_NS (20 * SEC)
#define BASELINE_SPAN_FACTOR 2.0
#define STRAGGLER_FACTOR 50
#define STRAGGLER_MIN_NS (100000000LL)
#define SURVIVOR_MARGIN_NS (1 * SEC) /* a survivor was seen this long after the burst */
#define MAP_SLOTS (1u << 18)  /* hash table of keys: at most half full */
#define MAX_KEYS (MAP_SLOTS / 2)
#define DENSE_LISTED 8        /* dense endpoints compared directly (more: a hash lookup) */
#define CHUNK 1024            /* buckets allocated together */
#define INLINE_EVENTS 4       /* a key's first endings live in its bucket */
#define WHEEL 1024            /* decision wheel: one slot per second of capture time */
#define MAX_EVENTS (4u << 20)
#define MEMBERS_KEPT_MAX (4u << 20) /* member ids kept for lookups, over all kept incidents */
#define HOLD_MAX (1u << 20)         /* membership slots of records not yet released */

enum family { FAM_SERVER_CLOSE = 0, FAM_PATH_RESET, FAM_PATH_SILENCE, FAM_SYN, FAM_COUNT,
	      FAM_NONE = FAM_COUNT };

static const struct {
	int64_t window_ns;
	bool coexist;
	bool long_skew; /* records may wait for --expire */
} rules[FAM_COUNT] = {
	[FAM_SERVER_CLOSE] = { 1 * SEC, true, false },
	[FAM_PATH_RESET] = { 2 * SEC, true, false },
	[FAM_PATH_SILENCE] = { 3 * SEC, true, true },
	[FAM_SYN] = { 2 * SEC, false, false },
};

enum { EV_RST = 1, EV_IDLE = 2 };

/* An undecided event (see "Memory" at the top): all that a member needs. */
struct event {
	int64_t t;      /* event time */
	int64_t start;  /* the flow's first segment */
	int64_t last;   /* its last segment */
	uint64_t id;
	uint64_t packed; /* seq (order of arrival, the membership slot) << 16 | flags << 8 | class */
};

#define SEQ_BITS 48 /* a record number is kept modulo 2^48: see event_seq() */

/* A decided event that was no member and whose flow went on for more than SURVIVOR_MARGIN after
 * it: the only decided ones that a later incident can count as survivors (see evaluate()). */
struct linger {
	int64_t t, start, last;
};

/* The other flows of a closing endpoint's key, for survivors. */
struct span {
	int64_t start, last;
};

/* A hash table entry: the bucket and its hash's high half, so a probe rarely touches a bucket
 * that is not the one sought. */
struct slot {
	uint32_t id;  /* bucket id + 1, 0: empty */
	uint32_t tag; /* hash >> 32 */
};

struct key {
	uint8_t family;
	uint8_t addr_family;
	uint16_t port;
	uint8_t a[16];
	uint8_t b[16];
};

struct bucket {
	struct key key;
	uint64_t hash;
	bool used;
	bool queued;         /* on the wheel */
	bool dense;          /* server_close: MIN_MEMBERS endings within the window lately */
	int64_t dense_until; /* ... until the burst's after-window is decided */
	uint32_t wheel_next; /* next bucket id + 1 in its wheel slot, 0: none */
	int64_t due;         /* capture time at which something of it may be decided */
	uint32_t id;
	/* The events in event time order: the decided ones first (times only), then the undecided
	 * ones (the cursor is the first of those). */
	int64_t *dt;         /* decided: dt[dt_head..dt_n) */
	size_t dt_head, dt_n, dt_cap;
	struct event *ev;    /* undecided: ev[ev_head..ev_n); `inl` or allocated */
	size_t ev_head, ev_n, ev_cap;
	struct linger *lg;   /* decided that may still be survivors: lg[lg_head..lg_n), by time */
	size_t lg_head, lg_n, lg_cap;
	struct span *sp;
	size_t sp_head, sp_n, sp_cap;
	struct event inl[INLINE_EVENTS]; /* last: not cleared for a new bucket */
};

struct kept {
	struct incident inc;
	uint64_t *members; /* NULL once the kept members budget ran out */
};

struct ref_incidents {
	incident_sink sink;
	void *ctx;
	int64_t expire_ns;
	bool started;
	int64_t origin_ns;   /* earliest first segment seen */
	int64_t watermark;   /* latest last segment seen */
	int64_t last_sweep;
	bool ts_nano;
	int status;
	struct slot *map;    /* MAP_SLOTS, open addressing */
	unsigned n_dense;    /* server_close buckets with a burst in view (survivors wanted) */
	uint32_t dense_ids[DENSE_LISTED]; /* the first of them, so a record's endpoint is matched
	                                   * against a few without hashing it */
	struct bucket *chunk[MAX_KEYS / CHUNK]; /* buckets by id, CHUNK at a time (never moved) */
	uint32_t pool_n, pool_cap;
	uint32_t *free_ids;
	uint32_t n_free;
	unsigned n_active;   /* buckets in use */
	uint32_t wheel[WHEEL]; /* bucket id + 1 of the first in each slot */
	int64_t wheel_sec;   /* the next second the wheel will look at */
	size_t n_events;
	bool saturated;
	uint64_t seq;        /* records added */
	/* membership slots: hold[i] for record seq hold_base + i */
	bool track;
	uint32_t *hold;      /* incident number + 1 for a pending record: see PENDING */
	size_t hold_n, hold_cap, hold_off;
	uint64_t hold_base;
	uint64_t hold_pending; /* pending slots */
	struct timeline tl;
	struct kept *kept;
	unsigned n_kept, cap_kept;
	uint64_t kept_members;
	uint32_t next_number;
	uint64_t *scratch;
	size_t scratch_cap;
};

#define PENDING UINT32_MAX

/* --- keys ------------------------------------------------------------------------------------ */

static uint64_t key_hash(const struct key *k)
{
	/* Keys come from untrusted addresses, but the table is bounded and probed linearly; a
	 * crafted capture can only make lookups slower. Eight-byte words, multiply and fold. */
	uint64_t w[5] = { 0 }, h = 0x9e3779b97f4a7c15ULL;

	memcpy(w, k, sizeof *k);
	for (int i = 0; i < 5; i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static struct bucket *bucket_at(struct ref_incidents *d, uint32_t id)
{
	return &d->chunk[id / CHUNK][id % CHUNK];
}

static struct bucket *lookup(struct ref_incidents *d, const struct key *k, bool create)
{
	uint64_t h = key_hash(k);
	size_t mask = MAP_SLOTS - 1;
	size_t i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t id = d->map[i].id;

		if (id == 0) {
			uint32_t nid;
			struct bucket *b;

			if (!create || d->n_active >= MAX_KEYS)
				return NULL;
			if (d->n_free) {
				nid = d->free_ids[--d->n_free];
			} else {
				if (d->pool_n == d->pool_cap) {
					uint32_t cap = d->pool_cap + CHUNK;
					struct bucket *p = malloc(CHUNK * sizeof *p);
					uint32_t *f = realloc(d->free_ids, cap * sizeof *f);

					if (f)
						d->free_ids = f;
					if (!p || !f) {
						free(p);
						return NULL;
					}
					d->chunk[d->pool_cap / CHUNK] = p;
					d->pool_cap = cap;
				}
				nid = d->pool_n++;
			}
			b = bucket_at(d, nid);
			memset(b, 0, offsetof(struct bucket, inl));
			b->id = nid;
			b->ev = b->inl;
			b->ev_cap = INLINE_EVENTS;
			b->used = true;
			b->key = *k;
			b->hash = h;
			d->map[i] = (struct slot){ nid + 1, (uint32_t)(h >> 32) };
			d->n_active++;
			return b;
		}
		if (d->map[i].tag != (uint32_t)(h >> 32))
			continue;
		struct bucket *b = bucket_at(d, id - 1);

		if (b->hash == h && memcmp(&b->key, k, sizeof *k) == 0)
			return b;
	}
}

/* `b` has no burst in view any more. The listed ids stay the first min(n_dense, DENSE_LISTED)
 * dense buckets in no particular order; an unlisted one found dense by a lookup is listed when
 * a listed one goes. */
static void undense(struct ref_incidents *d, struct bucket *b)
{
	unsigned listed = d->n_dense < DENSE_LISTED ? d->n_dense : DENSE_LISTED;
	unsigned i = 0;

	b->dense = false;
	while (i < listed && d->dense_ids[i] != b->id)
		i++;
	if (i < listed) /* the last listed id takes the freed place */
		d->dense_ids[i] = d->dense_ids[listed - 1];
	d->n_dense--;
	if (d->n_dense >= DENSE_LISTED) {
		/* one unlisted dense bucket takes the free place: find one */
		for (uint32_t id = 0; id < d->pool_n; id++) {
			struct bucket *o = bucket_at(d, id);
			bool in = false;

			if (!o->used || !o->dense)
				continue;
			for (unsigned k = 0; k + 1 < DENSE_LISTED; k++)
				in |= d->dense_ids[k] == id;
			if (!in) {
				d->dense_ids[DENSE_LISTED - 1] = id;
				break;
			}
		}
	}
}

/* Removes a bucket (not on the wheel): its map entry goes with a backward shift of the probe
 * run behind it (linear probing deletion, no tombstones). */
static void remove_bucket(struct ref_incidents *d, struct bucket *b)
{
	size_t mask = MAP_SLOTS - 1;
	uint32_t id = b->id;
	size_t i = (size_t)b->hash & mask;

	while (d->map[i].id != id + 1)
		i = (i + 1) & mask;
	if (b->ev != b->inl)
		free(b->ev);
	free(b->dt);
	free(b->lg);
	free(b->sp);
	b->used = false;
	d->free_ids[d->n_free++] = id;
	d->n_active--;
	if (b->dense)
		undense(d, b);
	d->map[i].id = 0;
	for (size_t j = (i + 1) & mask; d->map[j].id; j = (j + 1) & mask) {
		size_t home = (size_t)bucket_at(d, d->map[j].id - 1)->hash & mask;
		/* j's entry may move to i when i lies cyclically in [home, j) */
		bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);

		if (movable) {
			d->map[i] = d->map[j];
			d->map[j].id = 0;
			i = j;
		}
	}
}

/* Puts `b` on the wheel for capture time `due` (unless it is already on it). */
static void schedule(struct ref_incidents *d, struct bucket *b, int64_t due)
{
	int64_t sec = due / SEC + 1;
	uint32_t slot;

	if (b->queued)
		return;
	if (sec < d->wheel_sec)
		sec = d->wheel_sec;
	slot = (uint32_t)(sec % WHEEL);
	b->due = due;
	b->queued = true;
	b->wheel_next = d->wheel[slot];
	d->wheel[slot] = b->id + 1;
}

static void net_of(const struct ip_addr *a, uint8_t out[16], uint8_t *prefix)
{
	memset(out, 0, 16);
	if (a->family == 6) {
		memcpy(out, a->bytes, 8); /* /64 */
		*prefix = 64;
	} else {
		memcpy(out, a->bytes, 3); /* /24 */
		*prefix = 24;
	}
}

/* --- families -------------------------------------------------------------------------------- */

static bool has_note(const struct flow_record *r, const char *note, int64_t *ts)
{
	for (unsigned i = 0; i < r->n_evidence; i++) {
		if (r->evidence[i].note && strcmp(r->evidence[i].note, note) == 0) {
			*ts = r->evidence[i].ts_ns;
			return true;
		}
	}
	return false;
}

/* The closer's first FIN or RST among the evidence, else the decisive segment's time. */
static int64_t closer_first(const struct flow_record *r, enum flow_direction side)
{
	for (unsigned i = 0; i < r->n_evidence; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if (e->from == side && (e->flags & (TCP_FIN | TCP_RST)))
			return e->ts_ns; /* evidence is in frame order */
	}
	return r->has_close_ts ? r->close_ts_ns : r->last_ts_ns;
}

/* The opening went wrong: SYNs unanswered or retried, the SYN+ACK retried (a server whose
 * accept queue was full drops the final ACK and retries its SYN+ACK, Linux tcp_check_req with
 * tcp_abort_on_overflow 0), or the final ACK never seen. */
static bool syn_trouble(const struct flow_record *r)
{
	if (r->close_class == CLOSE_SYN_UNANSWERED)
		return true;
	if (r->handshake == HANDSHAKE_MIDSTREAM || r->handshake == HANDSHAKE_REFUSED)
		return false;
	return r->syns[FROM_CLIENT] > 1 || r->syns[FROM_SERVER] > 1 ||
	       r->handshake == HANDSHAKE_NO_FINAL_ACK;
}

/* The family of `r`, its key and event. FAM_NONE for an ending that belongs to none. */
static enum family classify(const struct flow_record *r, struct key *k, struct event *ev)
{
	enum family fam = FAM_NONE;
	uint8_t prefix;

	memset(k, 0, sizeof *k);
	ev->packed = 0; /* the flags: incidents_add adds the rest */
	ev->t = r->has_close_ts ? r->close_ts_ns : r->last_ts_ns;
	if (syn_trouble(r)) {
		fam = FAM_SYN;
		ev->t = r->first_ts_ns;
	} else if ((r->modifiers & MOD_RST_FROM_MIDDLEBOX) ||
	           (r->diagnosis.idle_timeout.present && r->diagnosis.idle_timeout.reset)) {
		fam = FAM_PATH_RESET;
	} else if (r->close_class == CLOSE_PEER_VANISHED || r->close_class == CLOSE_KEEPALIVE_TIMEOUT) {
		fam = FAM_PATH_SILENCE;
		if (!has_note(r, "first segment never answered", &ev->t))
			(void)has_note(r, "first unanswered keepalive probe", &ev->t);
		if (r->diagnosis.idle_timeout.present)
			ev->packed |= EV_IDLE << 8;
	} else if ((r->closer == CLOSER_SERVER || r->closer == CLOSER_CLIENT) &&
	           (r->close_class == CLOSE_FIN_GRACEFUL || r->close_class == CLOSE_HALF_CLOSED_AT_END ||
	            r->close_class == CLOSE_RST_UNREAD_DATA || r->close_class == CLOSE_RST_ABORT ||
	            r->close_class == CLOSE_RST_AFTER_CLOSE)) {
		enum flow_direction side = r->closer == CLOSER_SERVER ? FROM_SERVER : FROM_CLIENT;

		/* a client host closing many connections at once is not tracked: see the top */
		if (r->closer != CLOSER_SERVER)
			return FAM_NONE;
		fam = FAM_SERVER_CLOSE;
		ev->t = closer_first(r, side);
		if (r->close_class == CLOSE_RST_UNREAD_DATA || r->close_class == CLOSE_RST_ABORT)
			ev->packed |= EV_RST << 8;
	}
	if (fam == FAM_NONE)
		return fam;
	k->family = (uint8_t)fam;
	k->addr_family = r->server.addr.family;
	if (fam == FAM_SERVER_CLOSE || fam == FAM_SYN) {
		memcpy(k->a, r->server.addr.bytes, 16);
		k->port = r->server.port;
	} else {
		net_of(&r->client.addr, k->a, &prefix);
		net_of(&r->server.addr, k->b, &prefix);
	}
	return fam;
}

/* --- membership slots ------------------------------------------------------------------------ */

static uint32_t *hold_slot(struct ref_incidents *d, uint64_t seq)
{
	if (!d->track || seq < d->hold_base || seq - d->hold_base >= d->hold_n)
		return NULL;
	return &d->hold[(d->hold_off + (size_t)(seq - d->hold_base)) % d->hold_cap];
}

static void settle(struct ref_incidents *d, uint64_t seq, uint32_t number)
{
	uint32_t *s = hold_slot(d, seq);

	if (s && *s == PENDING) {
		*s = number;
		d->hold_pending--;
	}
}

static void hold_push(struct ref_incidents *d, bool pending)
{
	if (!d->track)
		return;
	if (d->hold_n == d->hold_cap) {
		size_t cap = d->hold_cap ? d->hold_cap * 2 : 1024;
		uint32_t *h;

		if (d->hold_cap >= HOLD_MAX || !(h = malloc(cap * sizeof *h))) {
			if (d->hold_cap == 0) {
				d->track = false; /* no memory at all: rows go out without incidents */
				return;
			}
			/* Out of room: the oldest record is released as it stands (no incident). */
			if (d->hold[d->hold_off] == PENDING)
				d->hold_pending--;
			d->hold_off = (d->hold_off + 1) % d->hold_cap;
			d->hold_base++;
			d->hold_n--;
		} else {
			/* The ring, oldest first: from hold_off to its end, then from its start. */
			size_t tail = d->hold_cap - d->hold_off < d->hold_n ? d->hold_cap - d->hold_off
			                                                     : d->hold_n;

			if (d->hold_n > 0) { /* d->hold is NULL before the first record */
				memcpy(h, d->hold + d->hold_off, tail * sizeof *h);
				memcpy(h + tail, d->hold, (d->hold_n - tail) * sizeof *h);
			}
			free(d->hold);
			d->hold = h;
			d->hold_cap = cap;
			d->hold_off = 0;
		}
	}
	d->hold[(d->hold_off + d->hold_n) % d->hold_cap] = pending ? PENDING : 0;
	d->hold_n++;
	if (pending)
		d->hold_pending++;
}

static uint64_t ref_incidents_settled(const struct ref_incidents *d)
{
	size_t i = 0;

	if (!d->track)
		return d->seq;
	while (i < d->hold_n && d->hold[(d->hold_off + i) % d->hold_cap] != PENDING)
		i++;
	return d->hold_base + i;
}

static uint32_t ref_incidents_member_of(const struct ref_incidents *d, uint64_t seq)
{
	if (!d->track || seq < d->hold_base || seq - d->hold_base >= d->hold_n)
		return 0;
	uint32_t v = d->hold[(d->hold_off + (size_t)(seq - d->hold_base)) % d->hold_cap];

	return v == PENDING ? 0 : v;
}

static uint64_t ref_incidents_added(const struct ref_incidents *d)
{
	return d->seq;
}

static void ref_incidents_track_membership(struct ref_incidents *d, bool on)
{
	d->track = on;
}

/* Forgets the slots of records before `seq` (the writer released them). */
static void ref_incidents_release(struct ref_incidents *d, uint64_t seq)
{
	while (d->hold_n && d->hold_base < seq) {
		if (d->hold[d->hold_off] == PENDING)
			d->hold_pending--;
		d->hold_off = (d->hold_off + 1) % d->hold_cap;
		d->hold_base++;
		d->hold_n--;
	}
}

/* --- timeline -------------------------------------------------------------------------------- */

static void timeline_add(struct timeline *tl, int64_t t, enum close_class c)
{
	if (tl->width_ns == 0) {
		tl->width_ns = SEC;
		tl->origin_ns = t - (((t % SEC) + SEC) % SEC);
		tl->n = 0;
	}
	/* an ending before bucket 0: move the origin back by whole buckets, widening if needed */
	while (t < tl->origin_ns) {
		int64_t shift_b = (tl->origin_ns - t + tl->width_ns - 1) / tl->width_ns;

		if (tl->n + (uint64_t)shift_b <= TIMELINE_MAX_BUCKETS) {
			memmove(tl->count[shift_b], tl->count[0], tl->n * sizeof tl->count[0]);
			memset(tl->count[0], 0, (size_t)shift_b * sizeof tl->count[0]);
			tl->n += (unsigned)shift_b;
			tl->origin_ns -= shift_b * tl->width_ns;
			break;
		}
		/* double the width, keeping the origin aligned to the new width from the end */
		if (tl->n % 2) {
			tl->n++;
		}
		unsigned half = tl->n / 2;
		for (unsigned i = 0; i < half; i++)
			for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
				tl->count[i][k] = tl->count[(size_t)2 * i][k] + tl->count[(size_t)2 * i + 1][k];
		memset(tl->count[half], 0, (TIMELINE_MAX_BUCKETS - half) * sizeof tl->count[0]);
		tl->n = half;
		tl->width_ns *= 2;
	}
	for (;;) {
		int64_t b = (t - tl->origin_ns) / tl->width_ns;

		if (b < TIMELINE_MAX_BUCKETS) {
			if ((unsigned)b >= tl->n)
				tl->n = (unsigned)b + 1;
			tl->count[b][c]++;
			return;
		}
		unsigned half = (tl->n + 1) / 2;
		for (unsigned i = 0; i < half; i++)
			for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
				tl->count[i][k] = tl->count[(size_t)2 * i][k] +
				                  (2 * i + 1 < tl->n ? tl->count[(size_t)2 * i + 1][k] : 0);
		memset(tl->count[half], 0, (TIMELINE_MAX_BUCKETS - half) * sizeof tl->count[0]);
		tl->n = half;
		tl->width_ns *= 2;
	}
}

static const struct timeline *ref_incidents_timeline(const struct ref_incidents *d)
{
	return &d->tl;
}

/* --- events ---------------------------------------------------------------------------------- */

/* An event's record number: the newest one with the low SEQ_BITS kept, which is its own for any
 * event less than 2^48 records old (an undecided event is at most its family's skew old in
 * capture time: at ten million records a second that is 325 days). */
static uint64_t event_seq(const struct ref_incidents *d, const struct event *e)
{
	uint64_t mask = (UINT64_C(1) << SEQ_BITS) - 1;

	return d->seq - ((d->seq - (e->packed >> 16)) & mask);
}

static unsigned event_class(const struct event *e)
{
	return (unsigned)(e->packed & 0xff);
}

static unsigned event_flags(const struct event *e)
{
	return (unsigned)(e->packed >> 8 & 0xff);
}

/* The time of the k-th live event of `b` in time order (the decided ones come first). */
static int64_t time_at(const struct bucket *b, size_t k)
{
	size_t nd = b->dt_n - b->dt_head;

	return k < nd ? b->dt[b->dt_head + k] : b->ev[b->ev_head + k - nd].t;
}

/* The decided times can take `total` events: every live event of the bucket, so that deciding
 * (evaluate) never allocates. */
static bool dt_reserve(struct bucket *b, size_t total)
{
	size_t cap = b->dt_cap + b->dt_cap / 2;
	int64_t *p;

	if (b->dt_cap >= total)
		return true;
	if (cap < total)
		cap = total;
	if (cap < 8)
		cap = 8;
	if (!(p = realloc(b->dt, cap * sizeof *p)))
		return false;
	b->dt = p;
	b->dt_cap = cap;
	return true;
}

/* Room for one more decided time at the end (dt_reserve made room for all). The live times move
 * to the front once a quarter of the array in use is dead: the memory touched stays near what is
 * live (eight-byte moves, three per time at most). */
static void dt_room(struct bucket *b)
{
	if (b->dt_head > 0 && (b->dt_n == b->dt_cap || b->dt_head > b->dt_n / 4)) {
		memmove(b->dt, b->dt + b->dt_head, (b->dt_n - b->dt_head) * sizeof *b->dt);
		b->dt_n -= b->dt_head;
		b->dt_head = 0;
	}
}

/* Room for one more undecided event at the end: the live ones move to the front once half the
 * array in use is dead, and the array grows by half when they fill it. false without memory. */
static bool ev_room(struct bucket *b)
{
	size_t live = b->ev_n - b->ev_head;

	if (b->ev_head > 0 && (b->ev_n == b->ev_cap || b->ev_head > b->ev_n / 2)) {
		memmove(b->ev, b->ev + b->ev_head, live * sizeof *b->ev);
		b->ev_n = live;
		b->ev_head = 0;
	}
	if (b->ev_n == b->ev_cap) {
		size_t cap = b->ev_cap + b->ev_cap / 2;
		bool was_inline = b->ev == b->inl;
		struct event *e = was_inline ? malloc(cap * sizeof *e) : realloc(b->ev, cap * sizeof *e);

		if (!e)
			return false;
		if (was_inline)
			memcpy(e, b->inl, b->ev_n * sizeof *e);
		b->ev = e;
		b->ev_cap = cap;
	}
	return true;
}

/* Room for one more entry at the end of the FIFO array `arr` (entries of `size` bytes, live ones
 * in [*head, *n)): the live ones move to the front once half the array in use is dead, and the
 * array doubles (from 8, up to `max_cap` entries) when they fill it. Returns the array, moved or
 * not; NULL when full or without memory (`arr` stays as it was). */
static void *fifo_room(void *arr, size_t *head, size_t *n, size_t *cap, size_t size,
                       size_t max_cap)
{
	if (*head > 0 && (*n == *cap || *head > *n / 2)) {
		memmove(arr, (char *)arr + *head * size, (*n - *head) * size);
		*n -= *head;
		*head = 0;
	}
	if (*n == *cap) {
		size_t grown = *cap ? *cap * 2 : 8;

		if (*cap >= max_cap || !(arr = realloc(arr, grown * size)))
			return NULL;
		*cap = grown;
	}
	return arr;
}

/* Keeps what a decided event that joined no incident may still count for: survivors of a later
 * incident, flows open before its first member and seen more than SURVIVOR_MARGIN after its last
 * one. Events are decided in time order, so every decided event comes at or before a later
 * incident's first member: only a flow seen more than SURVIVOR_MARGIN after its own event can be
 * a survivor of it, the others need not be kept. Kept in time order, so they go when their event
 * would (evaluate). Without memory it is not kept: survivors are a hint (as push_span). */
static void linger(struct bucket *b, const struct event *e)
{
	size_t pos;

	if (e->last - e->t <= SURVIVOR_MARGIN_NS)
		return;
	struct linger *l = fifo_room(b->lg, &b->lg_head, &b->lg_n, &b->lg_cap, sizeof *l, SIZE_MAX);

	if (!l)
		return;
	b->lg = l;
	pos = b->lg_n; /* after the others, unless it came late */
	while (pos > b->lg_head && b->lg[pos - 1].t > e->t)
		pos--;
	memmove(b->lg + pos + 1, b->lg + pos, (b->lg_n - pos) * sizeof *b->lg);
	b->lg[pos] = (struct linger){ e->t, e->start, e->last };
	b->lg_n++;
}

static bool push_event(struct ref_incidents *d, struct bucket *b, const struct event *ev)
{
	size_t nd = b->dt_n - b->dt_head, nu = b->ev_n - b->ev_head, pos;

	if (d->n_events >= MAX_EVENTS || !dt_reserve(b, nd + nu + 1)) {
		d->saturated = true;
		return false;
	}
	if (nd > 0 && b->dt[b->dt_n - 1] > ev->t) {
		/* an ending in a stretch already decided: too late to join anything */
		dt_room(b);
		pos = b->dt_n;
		while (pos > b->dt_head && b->dt[pos - 1] > ev->t)
			pos--;
		memmove(b->dt + pos + 1, b->dt + pos, (b->dt_n - pos) * sizeof *b->dt);
		b->dt[pos] = ev->t;
		b->dt_n++;
		linger(b, ev);
		settle(d, event_seq(d, ev), 0);
	} else {
		if (!ev_room(b)) {
			d->saturated = true;
			return false;
		}
		/* records come out nearly in event order: look from the end */
		pos = b->ev_n;
		while (pos > b->ev_head && b->ev[pos - 1].t > ev->t)
			pos--;
		memmove(b->ev + pos + 1, b->ev + pos, (b->ev_n - pos) * sizeof *b->ev);
		b->ev[pos] = *ev;
		b->ev_n++;
	}
	d->n_events++;
	nd = b->dt_n - b->dt_head;
	nu = b->ev_n - b->ev_head;
	/* a burst in view: the endpoint's other flows are worth noting (survivors) */
	if (b->key.family == FAM_SERVER_CLOSE && nd + nu >= MIN_MEMBERS &&
	    time_at(b, nd + nu - 1) - time_at(b, nd + nu - MIN_MEMBERS) <=
	        rules[FAM_SERVER_CLOSE].window_ns) {
		if (!b->dense) {
			if (d->n_dense < DENSE_LISTED)
				d->dense_ids[d->n_dense] = b->id;
			d->n_dense++;
		}
		b->dense = true;
		b->dense_until = time_at(b, nd + nu - 1) + AFTER_NS + SKEW_NS +
		                 rules[FAM_SERVER_CLOSE].window_ns;
	}
	return true;
}

static void push_span(struct bucket *b, int64_t start, int64_t last)
{
	struct span *s = fifo_room(b->sp, &b->sp_head, &b->sp_n, &b->sp_cap, sizeof *s, 1u << 16);

	if (!s)
		return; /* survivors are a hint; a full list only loses some */
	b->sp = s;
	b->sp[b->sp_n++] = (struct span){ start, last };
}

/* First index in [lo, hi) of the undecided events `u` whose event time is >= t. */
static size_t lower_bound(const struct event *u, size_t lo, size_t hi, int64_t t)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u[mid].t < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How many decided events of `b` have an event time >= t. */
static size_t decided_from(const struct bucket *b, int64_t t)
{
	size_t lo = b->dt_head, hi = b->dt_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->dt[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return b->dt_n - lo;
}

static int64_t skew(const struct ref_incidents *d, enum family f)
{
	return rules[f].long_skew ? d->expire_ns + SKEW_NS : SKEW_NS;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void keep_incident(struct ref_incidents *d, const struct incident *inc)
{
	struct kept *k;

	if (d->n_kept >= INCIDENTS_KEPT)
		return;
	if (d->n_kept == d->cap_kept) {
		unsigned cap = d->cap_kept ? d->cap_kept * 2 : 16;
		struct kept *n = realloc(d->kept, cap * sizeof *n);

		if (!n)
			return;
		d->kept = n;
		d->cap_kept = cap;
	}
	k = &d->kept[d->n_kept++];
	k->inc = *inc;
	k->members = NULL;
	if (d->kept_members + inc->n_members <= MEMBERS_KEPT_MAX &&
	    (k->members = malloc(inc->n_members * sizeof *k->members)) != NULL) {
		memcpy(k->members, inc->members, inc->n_members * sizeof *k->members);
		d->kept_members += inc->n_members;
	}
	k->inc.members = k->members;
	if (!k->members)
		k->inc.n_members = inc->n_members; /* the count stays; the list is gone */
}

/* The first `k` undecided events of `b` are decided: members of incident `number`, or of none
 * (0). Their times join the decided ones (dt_reserve made room); what else they said is kept
 * only for the few that may be a later incident's survivors (linger). */
static void decide(struct ref_incidents *d, struct bucket *b, size_t k, uint32_t number)
{
	for (size_t m = 0; m < k; m++) {
		const struct event *e = &b->ev[b->ev_head + m];

		settle(d, event_seq(d, e), number);
		dt_room(b);
		b->dt[b->dt_n++] = e->t;
		if (!number)
			linger(b, e);
	}
	b->ev_head += k;
}

/* A dense window starting at the first undecided event is no burst: neither is one starting
 * within W/10 after it (the same endings but a few; a burst that begins there was in this
 * window's core and passed or failed with it). Skipping them keeps a long dense stretch linear,
 * not quadratic. */
static void reject(struct ref_incidents *d, struct bucket *b, int64_t w)
{
	const struct event *u = b->ev + b->ev_head;

	decide(d, b, lower_bound(u, 1, b->ev_n - b->ev_head, u[0].t + w / 10 + 1), 0);
}

/* Decides what it can of bucket `b` at the watermark (`final`: the stream ended). Returns true
 * when the bucket is empty and can go. The events are looked at in time order from the first
 * undecided one (the cursor, u[0]); the decided ones before it count only by their times. */
static bool evaluate(struct ref_incidents *d, struct bucket *b, bool final)
{
	enum family fam = (enum family)b->key.family;
	int64_t w = rules[fam].window_ns;
	int64_t sk = skew(d, fam);
	int64_t wm = d->watermark;
	int64_t next_due = wm + SEC;

	while (b->ev_head < b->ev_n) {
		const struct event *u = b->ev + b->ev_head;
		size_t nu = b->ev_n - b->ev_head;
		const struct event *e = &u[0];

		if (!final && e->t + w + sk > wm) {
			next_due = e->t + w + sk;
			break;
		}
		size_t j = lower_bound(u, 0, nu, e->t + w + 1); /* [0, j): within W */

		if (j < MIN_MEMBERS) {
			decide(d, b, 1, 0);
			continue;
		}
		/* A steady stream at least half as dense as this window around it cannot make a
		 * burst of it: said before anything else (the common case on a busy key). */
		if (!final && e->t + w + AFTER_NS + sk > wm) {
			next_due = e->t + w + AFTER_NS + sk;
			break; /* the window's after-window is not final yet */
		}
		{
			int64_t b0 = e->t - BEFORE_NS, a1 = e->t + w + AFTER_NS;
			/* before it: every decided event (all come before the cursor) */
			size_t around = decided_from(b, b0) + (lower_bound(u, j, nu, a1 + 1) - j);

			if ((double)j * (double)(BEFORE_NS + AFTER_NS) <
			    0.5 * RATE_FACTOR * (double)around * (double)w) {
				reject(d, b, w);
				continue;
			}
		}
		/* extend: events that follow the last within W/2, up to MAX_SPAN */
		while (j < nu && u[j].t - u[j - 1].t <= w / 2 && u[j].t - e->t <= MAX_SPAN_NS)
			j++;
		int64_t end = u[j - 1].t;

		if (!final && end + AFTER_NS + sk > wm) {
			next_due = end + AFTER_NS + sk;
			break; /* the after-window is not final yet */
		}
		/* stragglers: around the dense core, further from their neighbour than
		 * STRAGGLER_FACTOR mean gaps of the window (and STRAGGLER_MIN) */
		size_t lo = 0, hi = j;
		int64_t cut = (u[j - 1].t - u[0].t) / (int64_t)(j - 1) * STRAGGLER_FACTOR;

		if (cut < STRAGGLER_MIN_NS)
			cut = STRAGGLER_MIN_NS;
		while (hi - lo > 1 && u[lo + 1].t - u[lo].t > cut)
			lo++;
		while (hi - lo > 1 && u[hi - 1].t - u[hi - 2].t > cut)
			hi--;
		int64_t s0 = u[lo].t, s1 = u[hi - 1].t;
		size_t n = hi - lo;

		/* the baseline: the same key's endings before and after, outside the burst */
		int64_t bstart = s0 - BEFORE_NS;
		if (bstart < d->origin_ns)
			bstart = d->origin_ns;
		size_t before = decided_from(b, bstart) + (lo - lower_bound(u, 0, lo, bstart));
		int64_t aend = s1 + AFTER_NS;
		if (aend > wm)
			aend = wm;
		size_t after = lower_bound(u, hi, nu, aend + 1) - hi;
		double before_s = (double)(s0 - bstart) / 1e9, after_s = (double)(aend - s1) / 1e9;
		if (before_s < 0)
			before_s = 0;
		if (after_s < 0)
			after_s = 0;
		double base_s = before_s + after_s;
		if (base_s < (double)BASE_FLOOR_NS / 1e9)
			base_s = (double)BASE_FLOOR_NS / 1e9;
		double dur_s = (double)(s1 - s0) / 1e9;
		double w_s = (double)w / 1e9;
		double long_s = dur_s > w_s ? dur_s : w_s; /* the burst, at least the window */
		double expected = (double)(before + after) / base_s * long_s;
		/* and a baseline is only one if it was watched for longer than the burst */
		bool ok = n >= MIN_MEMBERS && (double)n >= RATE_FACTOR * expected &&
		          before_s + after_s >= BASELINE_SPAN_FACTOR * long_s;

		if (ok && rules[fam].coexist) {
			size_t open = 0;

			for (size_t k = lo; k < hi; k++)
				open += u[k].start < s0;
			ok = (double)open >= COEXIST * (double)n;
		}
		if (!ok) {
			reject(d, b, w);
			continue;
		}

		/* an incident: u[lo, hi) */
		struct incident inc = { 0 };
		bool rst = false;
		size_t idle = 0;

		inc.number = ++d->next_number;
		inc.ts_nano = d->ts_nano;
		inc.start_ns = s0;
		inc.end_ns = s1;
		inc.n_members = n;
		inc.before_s = before_s;
		inc.after_s = after_s;
		inc.rate_before = before_s > 0 ? (double)before / before_s : 0;
		inc.rate_after = after_s > 0 ? (double)after / after_s : 0;
		inc.rate_during = (double)n / (dur_s > 1e-3 ? dur_s : 1e-3);
		if (d->scratch_cap < n) {
			uint64_t *s = realloc(d->scratch, n * sizeof *s);

			if (s) {
				d->scratch = s;
				d->scratch_cap = n;
			}
		}
		for (size_t k = lo; k < hi; k++) {
			const struct event *m = &u[k];

			inc.by_class[event_class(m)]++;
			rst |= (event_flags(m) & EV_RST) != 0;
			idle += (event_flags(m) & EV_IDLE) != 0;
			if (d->scratch_cap >= n)
				d->scratch[k - lo] = m->id;
		}
		/* events before the core that the window began with are background; then the
		 * members (u stays valid: deciding moves no undecided event) */
		decide(d, b, lo, 0);
		decide(d, b, n, inc.number);
		if (d->scratch_cap >= n) {
			qsort(d->scratch, n, sizeof *d->scratch, cmp_u64);
			inc.members = d->scratch;
		} else {
			inc.n_members = n;
			inc.members = NULL;
		}
		/* survivors: flows of the endpoint open before it and seen after it, not members:
		 * the decided ones that may be (linger) and the undecided ones after it */
		for (size_t k = b->lg_head; k < b->lg_n; k++)
			if (b->lg[k].start < s0 && b->lg[k].last > s1 + SURVIVOR_MARGIN_NS)
				inc.survivors++;
		for (size_t k = hi; k < nu; k++)
			if (u[k].start < s0 && u[k].last > s1 + SURVIVOR_MARGIN_NS)
				inc.survivors++;
		for (size_t k = b->sp_head; k < b->sp_n; k++)
			if (b->sp[k].start < s0 && b->sp[k].last > s1 + SURVIVOR_MARGIN_NS)
				inc.survivors++;
		inc.scope = SCOPE_PATH;
		inc.where.addr.family = b->key.addr_family;
		memcpy(inc.where.addr.bytes, b->key.a, 16);
		if (fam == FAM_SERVER_CLOSE) {
			inc.scope = SCOPE_ENDPOINT;
			inc.where.port = b->key.port;
			inc.kind = rst || inc.survivors == 0 ? INCIDENT_SERVER_EXIT
			                                     : INCIDENT_KEEPALIVE_SWEEP;
		} else if (fam == FAM_SYN) {
			inc.scope = SCOPE_ENDPOINT;
			inc.where.port = b->key.port;
			inc.kind = INCIDENT_LISTEN_OVERFLOW;
		} else if (fam == FAM_PATH_RESET) {
			inc.kind = INCIDENT_PATH_RESET;
		} else {
			inc.kind = idle * 2 > n ? INCIDENT_STATE_LOSS : INCIDENT_PATH_OUTAGE;
		}
		if (inc.scope == SCOPE_PATH) {
			inc.where_peer.family = b->key.addr_family;
			memcpy(inc.where_peer.bytes, b->key.b, 16);
			inc.prefix = b->key.addr_family == 6 ? 64 : 24;
		}
		keep_incident(d, &inc);
		if (d->sink && d->sink(d->ctx, &inc) != 0)
			d->status = -1;
	}
	/* forget what no window can reach any more */
	int64_t keep_from = (b->ev_head < b->ev_n ? b->ev[b->ev_head].t : wm - sk) - BEFORE_NS;
	while (b->dt_head < b->dt_n && b->dt[b->dt_head] < keep_from) {
		b->dt_head++;
		d->n_events--;
	}
	while (b->lg_head < b->lg_n && b->lg[b->lg_head].t < keep_from)
		b->lg_head++;
	while (b->sp_head < b->sp_n && b->sp[b->sp_head].last < keep_from)
		b->sp_head++;
	if (final)
		return true;
	if (b->dense && wm > b->dense_until)
		undense(d, b);
	if (b->ev_head < b->ev_n) {
		schedule(d, b, next_due);
		return false;
	}
	/* all decided: few endings make no baseline worth keeping */
	if (b->dt_n - b->dt_head < MIN_MEMBERS)
		return true;
	schedule(d, b, wm + 5 * SEC); /* look again as they age out */
	return false;
}

static void drop_bucket(struct ref_incidents *d, struct bucket *b)
{
	d->n_events -= (b->dt_n - b->dt_head) + (b->ev_n - b->ev_head);
	remove_bucket(d, b);
}

/* Looks at the buckets due by the watermark (`final`: at all of them, for the last time). */
static void sweep(struct ref_incidents *d, bool final)
{
	if (final) {
		for (uint32_t id = 0; id < d->pool_n; id++) {
			struct bucket *b = bucket_at(d, id);

			if (b->used) {
				evaluate(d, b, true);
				drop_bucket(d, b);
			}
		}
		memset(d->wheel, 0, sizeof d->wheel);
		return;
	}
	int64_t now_sec = d->watermark / SEC;
	int64_t from = d->wheel_sec;

	if (now_sec - from >= WHEEL)
		from = now_sec - WHEEL + 1; /* every slot once */
	for (int64_t sec = from; sec <= now_sec; sec++) {
		uint32_t slot = (uint32_t)(sec % WHEEL);
		uint32_t next = d->wheel[slot];

		d->wheel[slot] = 0;
		d->wheel_sec = now_sec + 1; /* new entries go after what is being looked at */
		while (next) {
			struct bucket *b = bucket_at(d, next - 1);

			next = b->wheel_next;
			b->queued = false;
			if (b->due > d->watermark) {
				schedule(d, b, b->due);
				continue;
			}
			if (evaluate(d, b, false))
				drop_bucket(d, b);
		}
	}
	d->wheel_sec = now_sec + 1;
}

/* --- interface ------------------------------------------------------------------------------- */

static struct ref_incidents *ref_incidents_create(incident_sink sink, void *ctx, int64_t expire_ns)
{
	struct ref_incidents *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->map = calloc(MAP_SLOTS, sizeof *d->map);
	if (!d->map) {
		ref_incidents_destroy(d);
		return NULL;
	}
	d->sink = sink;
	d->ctx = ctx;
	d->expire_ns = expire_ns > 0 ? expire_ns : DEFAULT_EXPIRE;
	return d;
}

static void ref_incidents_destroy(struct ref_incidents *d)
{
	if (!d)
		return;
	for (uint32_t id = 0; id < d->pool_n; id++) {
		struct bucket *b = bucket_at(d, id);

		if (b->used) {
			if (b->ev != b->inl)
				free(b->ev);
			free(b->dt);
			free(b->lg);
			free(b->sp);
		}
	}
	for (uint32_t c = 0; c < d->pool_cap / CHUNK; c++)
		free(d->chunk[c]);
	free(d->map);
	free(d->free_ids);
	free(d->hold);
	for (unsigned i = 0; i < d->n_kept; i++)
		free(d->kept[i].members);
	free(d->kept);
	free(d->scratch);
	free(d);
}

/* Timestamps outside 0 .. 2^62 ns (years 1970 to 2116) come only from broken or hostile
 * captures. A record carrying one takes no part in incidents or the timeline (it is still in
 * every report): every window and bucket computation then stays far from int64_t's limits. */
#define T_MAX (INT64_C(1) << 62)

static bool plausible(const struct flow_record *rec)
{
	return rec->first_ts_ns >= 0 && rec->first_ts_ns <= T_MAX && rec->last_ts_ns >= 0 &&
	       rec->last_ts_ns <= T_MAX &&
	       (!rec->has_close_ts || (rec->close_ts_ns >= 0 && rec->close_ts_ns <= T_MAX));
}

static int ref_incidents_add(struct ref_incidents *d, const struct flow_record *rec)
{
	struct key k;
	struct event ev;
	enum family fam;
	bool pending = false;

	if (!plausible(rec)) {
		hold_push(d, false); /* settled at once: no incident */
		d->seq++;
		return d->status;
	}
	fam = classify(rec, &k, &ev);

	if (!d->started || rec->first_ts_ns < d->origin_ns)
		d->origin_ns = rec->first_ts_ns;
	if (!d->started || rec->last_ts_ns > d->watermark)
		d->watermark = rec->last_ts_ns;
	if (!d->started) {
		d->last_sweep = d->watermark;
		d->wheel_sec = d->watermark / SEC;
	}
	d->started = true;
	d->ts_nano |= rec->ts_nano;
	timeline_add(&d->tl, rec->has_close_ts ? rec->close_ts_ns : rec->last_ts_ns, rec->close_class);

	if (fam != FAM_NONE) {
		struct bucket *b = lookup(d, &k, true);

		ev.start = rec->first_ts_ns;
		ev.last = rec->last_ts_ns;
		ev.id = rec->id;
		ev.packed |= d->seq << 16 | (uint8_t)rec->close_class;
		hold_push(d, true);
		pending = true;
		if (!b || !push_event(d, b, &ev)) {
			settle(d, d->seq, 0);
			pending = false;
		} else if (!b->queued) {
			schedule(d, b, ev.t + rules[fam].window_ns + skew(d, fam));
		}
	} else {
		hold_push(d, false);
	}
	/* other flows of a closing endpoint: survivors of a sweep */
	if (fam != FAM_SERVER_CLOSE && d->n_dense) {
		struct key sk = { .family = FAM_SERVER_CLOSE, .addr_family = rec->server.addr.family,
		                  .port = rec->server.port };
		struct bucket *b;

		memcpy(sk.a, rec->server.addr.bytes, 16);
		b = NULL;
		if (d->n_dense <= DENSE_LISTED) {
			for (unsigned i = 0; i < d->n_dense && !b; i++) {
				struct bucket *o = bucket_at(d, d->dense_ids[i]);

				if (memcmp(&o->key, &sk, sizeof sk) == 0)
					b = o;
			}
		} else {
			b = lookup(d, &sk, false);
		}
		if (b && b->dense)
			push_span(b, rec->first_ts_ns, rec->last_ts_ns);
	}
	(void)pending;
	d->seq++;
	/* decide once per second of capture time */
	if (d->watermark - d->last_sweep >= SEC) {
		d->last_sweep = d->watermark;
		sweep(d, false);
	}
	return d->status;
}

static int ref_incidents_finish(struct ref_incidents *d)
{
	sweep(d, true);
	return d->status;
}

static unsigned ref_incidents_count(const struct ref_incidents *d)
{
	return d->n_kept;
}

static const struct incident *ref_incidents_get(const struct ref_incidents *d, unsigned i)
{
	return i < d->n_kept ? &d->kept[i].inc : NULL;
}

static uint32_t ref_incidents_find_flow(const struct ref_incidents *d, uint64_t flow_id)
{
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct kept *k = &d->kept[i];

		if (k->members && bsearch(&flow_id, k->members, k->inc.n_members, sizeof flow_id,
		                          cmp_u64))
			return k->inc.number;
	}
	return 0;
}

#endif
