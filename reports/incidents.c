/* incidents.c - bursts of endings that share a cause (incidents.h).
 *
 * Every finished record is put in at most one *family* of endings, with the place it points at
 * (its key) and the moment its ending began (its event time):
 *
 *   family        which records                                   key              event time
 *   server_close  closed by the server: fin_graceful,             server address   the server's
 *                 half_closed_at_end, rst_unread_data, rst_abort, and port         first FIN or RST
 *                 rst_after_close (no RST forged by the path)
 *   path_reset    a RST from the path (modifier                   client /24 (/64) the RST
 *                 rst_from_middlebox, or middlebox_idle_timeout   and server /24
 *                 answered by a reset)                            (/64)
 *   path_silence  peer_vanished, keepalive_timeout: one side      the same         its first
 *                 kept sending and nothing came back                               unanswered segment
 *   syn           its SYN (or the server's SYN+ACK) was           server address   its first SYN
 *                 retransmitted, or never answered                and port
 *
 * A SYN family record is in no other family (its opening is what went wrong). The path keys
 * are networks, not addresses: a firewall, a NAT or a link serves many hosts of a network.
 * Connections a client closed are in no family: on a server's capture every client address
 * would be a key of its own (hundreds of thousands, each costing a bucket, for the rare client
 * process that holds 20 connections and dies), and every case the detector is for -- a server
 * process, a middlebox, a path, a listener -- shows on the server's side or the path's.
 *
 * Per key the detector keeps the candidate events of a bounded time window, sorted by event
 * time, and looks at them once they are final (no later record can still fall in the window:
 * see SKEW below). An incident is a burst:
 *
 *  1. Density: at least MIN_MEMBERS (20) events within the family's window W (1 s for a closing
 *     endpoint: a process exit closes all its sockets within milliseconds (the kernel releases
 *     the file table at exit, do_exit -> exit_files); 2 s for path resets and SYN waves: each
 *     connection meets the reset or the full queue when it next sends, and a client retries a
 *     SYN after 1 s; 3 s for path silence: connections notice a dead path at their next segment).
 *     Events that follow the last one within W/2 extend the burst (a wave can last longer
 *     than W), up to MAX_SPAN (20 s: a longer wave is reported as several); stragglers before or after a dense core (further from their neighbour than 50
 *     times the window's mean gap and 100 ms) are left out: they are the background the burst
 *     sits on. Below 20, a program's
 *     own pool ending together is routine (a client exiting with its dozen pooled connections,
 *     a browser's six per host) and not what an investigator calls an incident.
 *  2. Against the capture's own baseline: the same family and key's rate in the BEFORE (60 s)
 *     and AFTER (30 s) windows around it (over at least BASE_FLOOR 10 s, so one ending in a short
 *     capture does not make a rate of zero look like a baseline) predicts E endings in the
 *     burst's duration (at least W); the burst must hold RATE_FACTOR (5) times E. A busy server
 *     closing connections steadily never makes a burst; a crash among that traffic does. The
 *     baseline must have been watched for twice the burst's duration (BASELINE_SPAN_FACTOR): a
 *     stream that fills the whole capture has no outside to be a burst against.
 *  3. Independent lifetimes, shared end: at least COEXIST (90 %) of the members were open
 *     before the first of them ended (not for the SYN family, whose event is the start). A load
 *     test that opens and closes hundreds of short connections within a second is dense and
 *     above any baseline, but each of its connections ended because its own exchange was done;
 *     connections that a common cause ended had been open together.
 *
 * The kind of an incident follows from its family and members:
 *   server_close: server_exit when the server reset a member
 *     (rst_unread_data, rst_abort: a process that dies with unread data resets, RFC 9293
 *     §3.10.4 and Linux tcp_close()) or when nothing of that endpoint outlived the burst; else
 *     keepalive_sweep: only FINs, and connections of the same endpoint that were open before it
 *     went on after it (survivors): the endpoint chose which connections to close, the idle ones.
 *     A server that closes every connection it has at once with FINs (a graceful restart, or a
 *     sweep that finds them all idle) reads as server_exit; the sentence names both readings.
 *   path_reset: path_reset. path_silence: state_loss when most members spoke after a long
 *     silence (diagnosis middlebox_idle_timeout: the middlebox forgot them while they were idle),
 *     else path_outage. syn: listen_overflow (a full listen queue drops SYNs silently,
 *     Linux tcp_conn_request; the path dropping SYNs reads the same, the sentence says both).
 *
 * When: a record comes out of the engine after its flow is over, up to FINISHED_QUIET (10 s)
 * after its last segment, or after --expire (300 s) of silence for a flow that just stopped
 * (peer_vanished, keepalive_timeout, and any flow that simply went quiet). The capture's clock as
 * the stream shows it is the latest last_ts of the records seen (the watermark). A window is
 * final once the watermark is SKEW past its end: 20 s (FINISHED_QUIET and as much again for the
 * segments that trail an ending) for the families of flows that ended on the wire and for the
 * SYN family (a connection whose opening was retried and that then lives on for longer comes out
 * too late to count), --expire + 20 s for the silence family (its flows come out at expiry).
 * The watermark trails the engine's clock by about FINISHED_QUIET, so the skew is generous. A
 * CSV report holds its rows this long (csv_writer.c). A member whose record comes out later than that is missed; the end
 * of the stream decides all.
 *
 * Memory: per key, the events from BEFORE before the oldest undecided one; a key whose events are
 * all decided goes as soon as it holds fewer than MIN_MEMBERS (so few endings make no baseline
 * worth keeping: at most MIN_MEMBERS / BEFORE predicted in a window, far below a burst). Events
 * are decided in time order, and a decided event is never looked at again but for its time (it
 * counts in the baselines and density windows of later ones) and, if it joined no incident, as a
 * possible survivor of a later one. So a key keeps one array of times, decided then undecided,
 * with a cursor between them: deciding moves the cursor, nothing is copied. A time takes 4 bytes
 * (microseconds from the key's base: a capture of microsecond timestamps, a key's events within
 * an hour of each other, the base moving with them) or else 8. The few decided events that may be
 * survivors (their flow went on for more than SURVIVOR_MARGIN after the event, see linger())
 * keep their span. What else a member needs (its flow's first and last segment, id, record
 * number, class) is kept beside each undecided time in a 16-byte record of values relative to
 * its time and to the key's bases (struct rec); a value too far for its field (a flow lasting
 * more than 18 minutes, a flow id far from its neighbours') puts that event's values whole (32
 * bytes) in the detector's wide pool instead. On a busy server of short connections (thousands
 * of endings a second, every one a candidate), about half of the events held are decided: those
 * of BEFORE, against AFTER + SKEW + W undecided: 20 bytes an undecided event, 4 a decided one.
 * The decisions are the same as with every event kept whole: the rules read, of a decided event,
 * nothing else (tests/unit/test_incidents_ref.c compares them with the detector as it was before
 * this packing). At most MAX_KEYS keys and MAX_EVENTS events in all (beyond, new candidates are
 * not tracked and `saturated` is set). Work: a key is looked at when something of it is due (a
 * wheel of one slot per second of capture time), never by scanning all keys.
 */
#include "incidents.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* An event, whole: all that a member needs (kept packed: struct rec). */
struct event {
	int64_t t;      /* event time */
	int64_t start;  /* the flow's first segment */
	int64_t last;   /* its last segment */
	uint64_t id;
	uint64_t seq;   /* order of arrival: the membership slot */
	uint8_t cls;    /* enum close_class */
	uint8_t flags;  /* EV_* */
};

/* An undecided event beside its time (see "Memory" at the top), in two words:
 *   lo: t - start (START_BITS) | seq - the key's seq_base (SEQ_BITS) << START_BITS
 *   hi: last - t (LAST_BITS) | id - the key's id_base (ID_BITS) << 32 | class << 57 |
 *       flags << 61 | WIDE
 * With WIDE set, lo is the index of the event's values in the detector's wide pool (struct wide)
 * and hi keeps only the class and flags. Unsigned differences: every value is exact. */
struct rec {
	uint64_t lo, hi;
};

#define START_BITS 40 /* 18 minutes */
#define SEQ_BITS 24
#define LAST_BITS 32  /* 4.3 s */
#define ID_BITS 25
#define ID_SLACK (UINT64_C(1) << 23) /* a key's id base leaves room for older flows' ids */
#define REC_WIDE (UINT64_C(1) << 63)
#define FIELD(x, bits) ((x) & ((UINT64_C(1) << (bits)) - 1))
#define GROW_SMALL 4096 /* a key's arrays grow by half up to this many entries, then by a quarter */
#define T_UNIT 1000 /* narrow times count microseconds */
#define T_MARGIN (UINT64_C(1) << 30) /* a new base: this many units before the first time */

/* An undecided event's values that did not fit its record; `id` links a free entry. */
struct wide {
	int64_t start, last;
	uint64_t id, seq;
};

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
	/* The events' times in time order (time_of()): the decided ones [t_head..t_cur), then the
	 * undecided ones [t_cur..t_n) (t_cur is the cursor). In 32 bits, microseconds from t_base,
	 * while every one fits (a capture of microsecond timestamps, a key's events within an hour):
	 * t is uint32_t[t_cap] (`t_inl` or allocated); else whole, int64_t[t_cap] (t_wide). */
	void *t;
	size_t t_head, t_cur, t_n, t_cap;
	int64_t t_base;
	bool t_wide;
	/* The undecided events' records in the same order: the k-th is r[r_head + k]. */
	struct rec *r;
	size_t r_head, r_cap;
	uint64_t id_base, seq_base; /* what the records' ids and record numbers are relative to */
	bool rebase;         /* a record used more than half its id or seq field: new bases soon */
	struct linger *lg;   /* decided that may still be survivors: lg[lg_head..lg_n), by time */
	size_t lg_head, lg_n, lg_cap;
	struct span *sp;
	size_t sp_head, sp_n, sp_cap;
	uint32_t t_inl[INLINE_EVENTS]; /* last: not cleared for a new bucket */
	struct rec r_inl[INLINE_EVENTS];
};

struct kept {
	struct incident inc;
	uint64_t *members; /* NULL once the kept members budget ran out */
};

struct incidents {
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
	struct wide *wide;   /* the wide pool: entries in use and free ones (a list from wide_free) */
	uint32_t wide_n, wide_cap, wide_free; /* wide_free: index + 1 of the first free, 0: none */
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

static struct bucket *bucket_at(struct incidents *d, uint32_t id)
{
	return &d->chunk[id / CHUNK][id % CHUNK];
}

static struct bucket *lookup(struct incidents *d, const struct key *k, bool create)
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
			memset(b, 0, offsetof(struct bucket, t_inl));
			b->id = nid;
			b->t = b->t_inl;
			b->t_cap = INLINE_EVENTS;
			b->r = b->r_inl;
			b->r_cap = INLINE_EVENTS;
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
static void undense(struct incidents *d, struct bucket *b)
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
static void remove_bucket(struct incidents *d, struct bucket *b)
{
	size_t mask = MAP_SLOTS - 1;
	uint32_t id = b->id;
	size_t i = (size_t)b->hash & mask;

	while (d->map[i].id != id + 1)
		i = (i + 1) & mask;
	if (b->t != (void *)b->t_inl)
		free(b->t);
	if (b->r != b->r_inl)
		free(b->r);
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
static void schedule(struct incidents *d, struct bucket *b, int64_t due)
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
	ev->flags = 0; /* incidents_add adds the rest */
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
			ev->flags |= EV_IDLE;
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
			ev->flags |= EV_RST;
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

static uint32_t *hold_slot(struct incidents *d, uint64_t seq)
{
	if (!d->track || seq < d->hold_base || seq - d->hold_base >= d->hold_n)
		return NULL;
	return &d->hold[(d->hold_off + (size_t)(seq - d->hold_base)) % d->hold_cap];
}

static void settle(struct incidents *d, uint64_t seq, uint32_t number)
{
	uint32_t *s = hold_slot(d, seq);

	if (s && *s == PENDING) {
		*s = number;
		d->hold_pending--;
	}
}

static void hold_push(struct incidents *d, bool pending)
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

uint64_t incidents_settled(const struct incidents *d)
{
	size_t i = 0;

	if (!d->track)
		return d->seq;
	while (i < d->hold_n && d->hold[(d->hold_off + i) % d->hold_cap] != PENDING)
		i++;
	return d->hold_base + i;
}

uint32_t incidents_member_of(const struct incidents *d, uint64_t seq)
{
	if (!d->track || seq < d->hold_base || seq - d->hold_base >= d->hold_n)
		return 0;
	uint32_t v = d->hold[(d->hold_off + (size_t)(seq - d->hold_base)) % d->hold_cap];

	return v == PENDING ? 0 : v;
}

uint64_t incidents_added(const struct incidents *d)
{
	return d->seq;
}

void incidents_track_membership(struct incidents *d, bool on)
{
	d->track = on;
}

/* Forgets the slots of records before `seq` (the writer released them). */
void incidents_release(struct incidents *d, uint64_t seq)
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

const struct timeline *incidents_timeline(const struct incidents *d)
{
	return &d->tl;
}

/* --- events ---------------------------------------------------------------------------------- */

/* A wide pool entry, allocated for `e`'s values; its index, or UINT32_MAX without memory. */
static uint32_t wide_put(struct incidents *d, const struct event *e)
{
	uint32_t i;

	if (d->wide_free) {
		i = d->wide_free - 1;
		d->wide_free = (uint32_t)d->wide[i].id;
	} else {
		if (d->wide_n == d->wide_cap) {
			uint32_t cap = d->wide_cap ? d->wide_cap * 2 : 64;
			struct wide *w = d->wide_cap >= UINT32_MAX / 4 ? NULL
			                                               : realloc(d->wide, cap * sizeof *w);

			if (!w)
				return UINT32_MAX;
			d->wide = w;
			d->wide_cap = cap;
		}
		i = d->wide_n++;
	}
	d->wide[i] = (struct wide){ e->start, e->last, e->id, e->seq };
	return i;
}

static void wide_drop(struct incidents *d, uint32_t i)
{
	d->wide[i].id = d->wide_free;
	d->wide_free = i + 1;
}

/* Packs `e` against the bases of `b`: false when a value does not fit its field. */
static bool rec_pack(struct bucket *b, const struct event *e, struct rec *r)
{
	uint64_t back = (uint64_t)e->t - (uint64_t)e->start, fwd = (uint64_t)e->last - (uint64_t)e->t;
	uint64_t id = e->id - b->id_base, seq = e->seq - b->seq_base;

	if (e->start > e->t || back >> START_BITS || e->last < e->t || fwd >> LAST_BITS ||
	    id >> ID_BITS || seq >> SEQ_BITS)
		return false;
	b->rebase |= (id >> (ID_BITS - 1) | seq >> (SEQ_BITS - 1)) != 0;
	r->lo = back | seq << START_BITS;
	r->hi = fwd | id << 32 | (uint64_t)e->cls << 57 | (uint64_t)e->flags << 61;
	return true;
}

/* The time of `b`'s i-th event. */
static int64_t time_of(const struct bucket *b, size_t i)
{
	if (b->t_wide)
		return ((const int64_t *)b->t)[i];
	return (int64_t)((uint64_t)b->t_base + (uint64_t)((const uint32_t *)b->t)[i] * T_UNIT);
}

/* Can `b` keep time v narrow? Its value in *out (unless NULL). Whatever v, no overflow. */
static bool time_fits(const struct bucket *b, int64_t v, uint32_t *out)
{
	uint64_t d = (uint64_t)v - (uint64_t)b->t_base; /* exact when v >= t_base */

	if (v < b->t_base || d % T_UNIT != 0 || d / T_UNIT > UINT32_MAX)
		return false;
	if (out)
		*out = (uint32_t)(d / T_UNIT);
	return true;
}

/* The times of `b` go whole (a time that fits no narrow base came), in a new array of the same
 * capacity, the live ones at its front. false without memory (nothing changed). They go narrow
 * again when the key has no event left (t_room). */
static bool t_widen(struct bucket *b)
{
	size_t live = b->t_n - b->t_head;
	int64_t *t = malloc(b->t_cap * sizeof *t);

	if (!t)
		return false;
	for (size_t i = 0; i < live; i++)
		t[i] = time_of(b, b->t_head + i);
	if (b->t != (void *)b->t_inl)
		free(b->t);
	b->t = t;
	b->t_wide = true;
	b->t_n = live;
	b->t_cur -= b->t_head;
	b->t_head = 0;
	return true;
}

/* A base for `b`'s narrow times and v, if one fits them all (the same microsecond grid, within
 * 2^32 microseconds): the times move to it. */
static bool t_rebase(struct bucket *b, int64_t v)
{
	int64_t lo = b->t_n > b->t_head ? time_of(b, b->t_head) : v, hi = lo, base;

	if (b->t_n > b->t_head)
		hi = time_of(b, b->t_n - 1);
	if (((v % T_UNIT) + T_UNIT) % T_UNIT != ((lo % T_UNIT) + T_UNIT) % T_UNIT)
		return false;
	if (v < lo)
		lo = v;
	if (v > hi)
		hi = v;
	if (lo < INT64_MIN / 2 || hi > INT64_MAX / 2 || (uint64_t)(hi - lo) / T_UNIT >= UINT32_MAX / 2)
		return false;
	base = lo - (int64_t)(T_MARGIN * T_UNIT);
	for (size_t i = b->t_head; i < b->t_n; i++) {
		int64_t x = time_of(b, i);

		((uint32_t *)b->t)[i] = (uint32_t)((uint64_t)(x - base) / T_UNIT);
	}
	b->t_base = base;
	return true;
}

/* The k-th undecided event of `b`, whole. */
static struct event rec_event(const struct incidents *d, const struct bucket *b, size_t k)
{
	const struct rec *r = &b->r[b->r_head + k];
	struct event e;

	e.t = time_of(b, b->t_cur + k);
	e.cls = (uint8_t)(r->hi >> 57 & 0xf);
	e.flags = (uint8_t)(r->hi >> 61 & 0x3);
	if (r->hi & REC_WIDE) {
		const struct wide *w = &d->wide[r->lo];

		e.start = w->start;
		e.last = w->last;
		e.id = w->id;
		e.seq = w->seq;
	} else {
		e.start = (int64_t)((uint64_t)e.t - FIELD(r->lo, START_BITS));
		e.last = (int64_t)((uint64_t)e.t + FIELD(r->hi, LAST_BITS));
		e.id = b->id_base + FIELD(r->hi >> 32, ID_BITS);
		e.seq = b->seq_base + (r->lo >> START_BITS);
	}
	return e;
}

/* The first segment of the k-th undecided event's flow, and its last. */
static int64_t rec_start(const struct incidents *d, const struct bucket *b, size_t k)
{
	const struct rec *r = &b->r[b->r_head + k];

	if (r->hi & REC_WIDE)
		return d->wide[r->lo].start;
	return (int64_t)((uint64_t)time_of(b, b->t_cur + k) - FIELD(r->lo, START_BITS));
}

static int64_t rec_last(const struct incidents *d, const struct bucket *b, size_t k)
{
	const struct rec *r = &b->r[b->r_head + k];

	if (r->hi & REC_WIDE)
		return d->wide[r->lo].last;
	return (int64_t)((uint64_t)time_of(b, b->t_cur + k) + FIELD(r->hi, LAST_BITS));
}

/* The bases move up to the smallest id (less ID_SLACK) and record number of the undecided
 * records: a key that is never without undecided events keeps its values small. No value grows:
 * each base moves by at most its smallest difference. Done when the live records move to the
 * front of their array after one of them used more than half a field (`rebase`). */
static void rec_rebase(struct bucket *b, size_t nu)
{
	uint64_t min_id = UINT64_MAX, min_seq = UINT64_MAX;

	for (size_t k = 0; k < nu; k++) {
		const struct rec *r = &b->r[k];

		if (r->hi & REC_WIDE)
			continue;
		if (FIELD(r->hi >> 32, ID_BITS) < min_id)
			min_id = FIELD(r->hi >> 32, ID_BITS);
		if (r->lo >> START_BITS < min_seq)
			min_seq = r->lo >> START_BITS;
	}
	if (min_id == UINT64_MAX)
		return;
	min_id = min_id > ID_SLACK ? min_id - ID_SLACK : 0;
	if (min_id == 0 && min_seq == 0)
		return;
	for (size_t k = 0; k < nu; k++) {
		struct rec *r = &b->r[k];

		if (r->hi & REC_WIDE)
			continue;
		r->lo -= min_seq << START_BITS;
		r->hi -= min_id << 32;
	}
	b->id_base += min_id;
	b->seq_base += min_seq;
}

/* Room for one more time at the end of `b`'s times, and for `v` among them (the times may go
 * whole, or move to another base). The live ones move to the front once an eighth of the array
 * in use is dead, and the array grows by a quarter (by half while small) when they fill it.
 * false without memory. */
static bool t_room(struct bucket *b, int64_t v)
{
	size_t live = b->t_n - b->t_head;

	if (live == 0) { /* start over: narrow, around v */
		if (b->t != (void *)b->t_inl) { /* whole times are never inline */
			free(b->t);
			b->t = b->t_inl;
			b->t_cap = INLINE_EVENTS;
			b->t_wide = false;
		}
		b->t_head = b->t_cur = b->t_n = 0;
		b->r_head = 0;
		b->t_base = (int64_t)((uint64_t)v - T_MARGIN * T_UNIT);
	} else if (b->t_head > 0 && (b->t_n == b->t_cap || b->t_head > b->t_n / 8)) {
		size_t size = b->t_wide ? sizeof(int64_t) : sizeof(uint32_t);

		memmove(b->t, (char *)b->t + b->t_head * size, live * size);
		b->t_n -= b->t_head;
		b->t_cur -= b->t_head;
		b->t_head = 0;
	}
	if (!b->t_wide && !time_fits(b, v, NULL) && !t_rebase(b, v) && !t_widen(b))
		return false;
	if (b->t_n == b->t_cap) {
		size_t cap = b->t_cap + (b->t_cap < GROW_SMALL ? b->t_cap / 2 + 2 : b->t_cap / 4);
		size_t size = b->t_wide ? sizeof(int64_t) : sizeof(uint32_t);
		bool was_inline = b->t == (void *)b->t_inl;
		void *t = was_inline ? malloc(cap * size) : realloc(b->t, cap * size);

		if (!t)
			return false;
		if (was_inline)
			memcpy(t, b->t_inl, b->t_n * size);
		b->t = t;
		b->t_cap = cap;
	}
	return true;
}

/* Room for one more undecided record at the end: the live ones move to the front (against fresh
 * bases) once a fifth of the array in use is dead, and the array grows by a quarter (by half
 * while small) when they fill it. */
static bool r_room(struct bucket *b)
{
	size_t nu = b->t_n - b->t_cur;

	if (b->r_head > 0 && (b->r_head + nu == b->r_cap || b->r_head > nu / 4)) {
		memmove(b->r, b->r + b->r_head, nu * sizeof *b->r);
		b->r_head = 0;
		if (b->rebase)
			rec_rebase(b, nu);
		b->rebase = false;
	}
	if (nu == b->r_cap) {
		size_t cap = b->r_cap + (b->r_cap < GROW_SMALL ? b->r_cap / 2 + 2 : b->r_cap / 4);
		bool was_inline = b->r == b->r_inl;
		struct rec *r = was_inline ? malloc(cap * sizeof *r) : realloc(b->r, cap * sizeof *r);

		if (!r)
			return false;
		if (was_inline)
			memcpy(r, b->r_inl, nu * sizeof *r);
		b->r = r;
		b->r_cap = cap;
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

/* Puts time v at position `pos` of `b`'s times (t_room made room for it, and v fits). */
static void t_insert(struct bucket *b, size_t pos, int64_t v)
{
	size_t size = b->t_wide ? sizeof(int64_t) : sizeof(uint32_t);

	if (pos < b->t_n) /* records come out nearly in event order: most go at the end */
		memmove((char *)b->t + (pos + 1) * size, (char *)b->t + pos * size,
		        (b->t_n - pos) * size);
	b->t_n++;
	if (b->t_wide)
		((int64_t *)b->t)[pos] = v;
	else
		((uint32_t *)b->t)[pos] = (uint32_t)(((uint64_t)v - (uint64_t)b->t_base) / T_UNIT);
}

static bool push_event(struct incidents *d, struct bucket *b, const struct event *ev)
{
	size_t nu = b->t_n - b->t_cur, pos;

	if (d->n_events >= MAX_EVENTS || !t_room(b, ev->t)) {
		d->saturated = true;
		return false;
	}
	if (b->t_cur > b->t_head && time_of(b, b->t_cur - 1) > ev->t) {
		/* an ending in a stretch already decided: too late to join anything */
		pos = b->t_cur;
		while (pos > b->t_head && time_of(b, pos - 1) > ev->t)
			pos--;
		t_insert(b, pos, ev->t);
		b->t_cur++;
		linger(b, ev);
		settle(d, ev->seq, 0);
	} else {
		struct rec r;

		if (!r_room(b)) {
			d->saturated = true;
			return false;
		}
		if (nu == 0) { /* fresh bases */
			b->seq_base = ev->seq;
			b->id_base = ev->id - ID_SLACK;
		}
		if (!rec_pack(b, ev, &r)) {
			uint32_t w = wide_put(d, ev);

			if (w == UINT32_MAX) {
				d->saturated = true;
				return false;
			}
			r.lo = w;
			r.hi = REC_WIDE | (uint64_t)ev->cls << 57 | (uint64_t)ev->flags << 61;
		}
		/* records come out nearly in event order: look from the end */
		pos = b->t_n;
		while (pos > b->t_cur && time_of(b, pos - 1) > ev->t)
			pos--;
		t_insert(b, pos, ev->t);
		pos = b->r_head + (pos - b->t_cur);
		if (pos < b->r_head + nu)
			memmove(b->r + pos + 1, b->r + pos, (b->r_head + nu - pos) * sizeof *b->r);
		b->r[pos] = r;
	}
	d->n_events++;
	/* a burst in view: the endpoint's other flows are worth noting (survivors) */
	if (b->key.family == FAM_SERVER_CLOSE && b->t_n - b->t_head >= MIN_MEMBERS &&
	    time_of(b, b->t_n - 1) - time_of(b, b->t_n - MIN_MEMBERS) <=
	        rules[FAM_SERVER_CLOSE].window_ns) {
		if (!b->dense) {
			if (d->n_dense < DENSE_LISTED)
				d->dense_ids[d->n_dense] = b->id;
			d->n_dense++;
		}
		b->dense = true;
		b->dense_until = time_of(b, b->t_n - 1) + AFTER_NS + SKEW_NS +
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

/* First index in [lo, hi) of `b`'s times that is >= t. */
static size_t lower_bound(const struct bucket *b, size_t lo, size_t hi, int64_t t)
{
	if (!b->t_wide) { /* the same search among the narrow values, t rounded up to one */
		const uint32_t *n = b->t;
		uint64_t d = (uint64_t)t - (uint64_t)b->t_base, k = d / T_UNIT + (d % T_UNIT != 0);

		if (t <= b->t_base)
			return lo;
		if (k > UINT32_MAX)
			return hi;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (n[mid] < k)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (time_of(b, mid) < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How many decided events of `b` have an event time >= t. */
static size_t decided_from(const struct bucket *b, int64_t t)
{
	return b->t_cur - lower_bound(b, b->t_head, b->t_cur, t);
}

/* The time of `b`'s k-th undecided event. */
static int64_t und(const struct bucket *b, size_t k)
{
	return time_of(b, b->t_cur + k);
}

/* First k in [lo, hi) whose undecided event's time is >= t. */
static size_t und_from(const struct bucket *b, size_t lo, size_t hi, int64_t t)
{
	return lower_bound(b, b->t_cur + lo, b->t_cur + hi, t) - b->t_cur;
}

static int64_t skew(const struct incidents *d, enum family f)
{
	return rules[f].long_skew ? d->expire_ns + SKEW_NS : SKEW_NS;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void keep_incident(struct incidents *d, const struct incident *inc)
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
 * (0). Their times stay where they are (the cursor moves past them); what else they said is
 * kept only for the few that may be a later incident's survivors (linger). */
static void decide(struct incidents *d, struct bucket *b, size_t k, uint32_t number)
{
	for (size_t m = 0; m < k; m++) {
		const struct rec *r = &b->r[b->r_head + m];

		if (!(r->hi & REC_WIDE) && !d->track &&
		    (number || FIELD(r->hi, LAST_BITS) <= SURVIVOR_MARGIN_NS))
			continue; /* nothing to settle, nothing to linger */
		struct event e = rec_event(d, b, m);

		settle(d, e.seq, number);
		if (!number)
			linger(b, &e);
		if (r->hi & REC_WIDE)
			wide_drop(d, (uint32_t)r->lo);
	}
	b->t_cur += k;
	b->r_head += k;
}

/* A dense window starting at the first undecided event is no burst: neither is one starting
 * within W/10 after it (the same endings but a few; a burst that begins there was in this
 * window's core and passed or failed with it). Skipping them keeps a long dense stretch linear,
 * not quadratic. */
static void reject(struct incidents *d, struct bucket *b, int64_t w)
{
	decide(d, b, und_from(b, 1, b->t_n - b->t_cur, und(b, 0) + w / 10 + 1), 0);
}

/* Decides what it can of bucket `b` at the watermark (`final`: the stream ended). Returns true
 * when the bucket is empty and can go. The events are looked at in time order from the first
  * undecided one (the cursor); the decided ones before it count only by their times. */
static bool evaluate(struct incidents *d, struct bucket *b, bool final)
{
	enum family fam = (enum family)b->key.family;
	int64_t w = rules[fam].window_ns;
	int64_t sk = skew(d, fam);
	int64_t wm = d->watermark;
	int64_t next_due = wm + SEC;

	while (b->t_cur < b->t_n) {
		size_t nu = b->t_n - b->t_cur;
		int64_t et = und(b, 0);

		if (!final && et + w + sk > wm) {
			next_due = et + w + sk;
			break;
		}
		size_t j = und_from(b, 0, nu, et + w + 1); /* [0, j): within W */

		if (j < MIN_MEMBERS) {
			decide(d, b, 1, 0);
			continue;
		}
		/* A steady stream at least half as dense as this window around it cannot make a
		 * burst of it: said before anything else (the common case on a busy key). */
		if (!final && et + w + AFTER_NS + sk > wm) {
			next_due = et + w + AFTER_NS + sk;
			break; /* the window's after-window is not final yet */
		}
		{
			int64_t b0 = et - BEFORE_NS, a1 = et + w + AFTER_NS;
			/* before it: every decided event (all come before the cursor) */
			size_t around = decided_from(b, b0) + (und_from(b, j, nu, a1 + 1) - j);

			if ((double)j * (double)(BEFORE_NS + AFTER_NS) <
			    0.5 * RATE_FACTOR * (double)around * (double)w) {
				reject(d, b, w);
				continue;
			}
		}
		/* extend: events that follow the last within W/2, up to MAX_SPAN */
		int64_t end = und(b, j - 1);

		for (int64_t next; j < nu && (next = und(b, j)) - end <= w / 2 && next - et <= MAX_SPAN_NS;
		     j++)
			end = next;

		if (!final && end + AFTER_NS + sk > wm) {
			next_due = end + AFTER_NS + sk;
			break; /* the after-window is not final yet */
		}
		/* stragglers: around the dense core, further from their neighbour than
		 * STRAGGLER_FACTOR mean gaps of the window (and STRAGGLER_MIN) */
		size_t lo = 0, hi = j;
		int64_t cut = (und(b, j - 1) - und(b, 0)) / (int64_t)(j - 1) * STRAGGLER_FACTOR;

		if (cut < STRAGGLER_MIN_NS)
			cut = STRAGGLER_MIN_NS;
		while (hi - lo > 1 && und(b, lo + 1) - und(b, lo) > cut)
			lo++;
		while (hi - lo > 1 && und(b, hi - 1) - und(b, hi - 2) > cut)
			hi--;
		int64_t s0 = und(b, lo), s1 = und(b, hi - 1);
		size_t n = hi - lo;

		/* the baseline: the same key's endings before and after, outside the burst */
		int64_t bstart = s0 - BEFORE_NS;
		if (bstart < d->origin_ns)
			bstart = d->origin_ns;
		size_t before = decided_from(b, bstart) + (lo - und_from(b, 0, lo, bstart));
		int64_t aend = s1 + AFTER_NS;
		if (aend > wm)
			aend = wm;
		size_t after = und_from(b, hi, nu, aend + 1) - hi;
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
				open += rec_start(d, b, k) < s0;
			ok = (double)open >= COEXIST * (double)n;
		}
		if (!ok) {
			reject(d, b, w);
			continue;
		}

		/* an incident: the undecided events [lo, hi) */
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
			struct event m = rec_event(d, b, k);

			inc.by_class[m.cls]++;
			rst |= (m.flags & EV_RST) != 0;
			idle += (m.flags & EV_IDLE) != 0;
			if (d->scratch_cap >= n)
				d->scratch[k - lo] = m.id;
		}
		/* events before the core that the window began with are background; then the
		 * members: the k-th undecided event is then the (k - hi)-th */
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
		for (size_t k = 0; k < nu - hi; k++)
			if (rec_start(d, b, k) < s0 && rec_last(d, b, k) > s1 + SURVIVOR_MARGIN_NS)
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
	int64_t keep_from = (b->t_cur < b->t_n ? time_of(b, b->t_cur) : wm - sk) - BEFORE_NS;
	while (b->t_head < b->t_cur && time_of(b, b->t_head) < keep_from) {
		b->t_head++;
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
	if (b->t_cur < b->t_n) {
		schedule(d, b, next_due);
		return false;
	}
	/* all decided: few endings make no baseline worth keeping */
	if (b->t_cur - b->t_head < MIN_MEMBERS)
		return true;
	schedule(d, b, wm + 5 * SEC); /* look again as they age out */
	return false;
}

static void drop_bucket(struct incidents *d, struct bucket *b)
{
	d->n_events -= b->t_n - b->t_head;
	remove_bucket(d, b);
}

/* Looks at the buckets due by the watermark (`final`: at all of them, for the last time). */
static void sweep(struct incidents *d, bool final)
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

struct incidents *incidents_create(incident_sink sink, void *ctx, int64_t expire_ns)
{
	struct incidents *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->map = calloc(MAP_SLOTS, sizeof *d->map);
	if (!d->map) {
		incidents_destroy(d);
		return NULL;
	}
	d->sink = sink;
	d->ctx = ctx;
	d->expire_ns = expire_ns > 0 ? expire_ns : DEFAULT_EXPIRE;
	return d;
}

void incidents_destroy(struct incidents *d)
{
	if (!d)
		return;
	for (uint32_t id = 0; id < d->pool_n; id++) {
		struct bucket *b = bucket_at(d, id);

		if (b->used) {
			if (b->t != (void *)b->t_inl)
				free(b->t);
			if (b->r != b->r_inl)
				free(b->r);
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
	free(d->wide);
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

int incidents_add(struct incidents *d, const struct flow_record *rec)
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
		ev.seq = d->seq;
		ev.cls = (uint8_t)rec->close_class;
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

int incidents_finish(struct incidents *d)
{
	sweep(d, true);
	return d->status;
}

unsigned incidents_count(const struct incidents *d)
{
	return d->n_kept;
}

const struct incident *incidents_get(const struct incidents *d, unsigned i)
{
	return i < d->n_kept ? &d->kept[i].inc : NULL;
}

uint32_t incidents_find_flow(const struct incidents *d, uint64_t flow_id)
{
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct kept *k = &d->kept[i];

		if (k->members && bsearch(&flow_id, k->members, k->inc.n_members, sizeof flow_id,
		                          cmp_u64))
			return k->inc.number;
	}
	return 0;
}

/* --- words ----------------------------------------------------------------------------------- */

static const char *const kind_names[INCIDENT_KIND_COUNT] = {
	[INCIDENT_SERVER_EXIT] = "server_exit",
	[INCIDENT_KEEPALIVE_SWEEP] = "keepalive_sweep",
	[INCIDENT_PATH_RESET] = "path_reset",
	[INCIDENT_STATE_LOSS] = "state_loss",
	[INCIDENT_PATH_OUTAGE] = "path_outage",
	[INCIDENT_LISTEN_OVERFLOW] = "listen_overflow",
};

const char *incident_kind_name(enum incident_kind k)
{
	return (unsigned)k < INCIDENT_KIND_COUNT ? kind_names[k] : "unknown";
}

const char *incident_scope_name(enum incident_scope s)
{
	return s == SCOPE_ENDPOINT ? "endpoint" : "path";
}

const char *incident_where(const struct incident *inc, char *buf, unsigned long size)
{
	char a[48], b[48];

	ip_addr_format(&inc->where.addr, a, sizeof a);
	if (inc->scope == SCOPE_ENDPOINT) {
		snprintf(buf, size, inc->where.addr.family == 6 ? "[%s]:%u" : "%s:%u", a,
		         (unsigned)inc->where.port);
	} else {
		ip_addr_format(&inc->where_peer, b, sizeof b);
		snprintf(buf, size, "%s/%u - %s/%u", a, (unsigned)inc->prefix, b, (unsigned)inc->prefix);
	}
	return buf;
}

/* "412 ms", "3.2 s" */
static void fmt_duration(int64_t ns, char *buf, size_t size)
{
	if (ns < 1000000)
		snprintf(buf, size, "%.0f µs", (double)ns / 1e3);
	else if (ns < SEC)
		snprintf(buf, size, "%.0f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.1f s", (double)ns / 1e9);
}

/* "2026-12-07 11:25:40.078 UTC" */
static void fmt_when(int64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns >= 0 ? ns / SEC : (ns - SEC + 1) / SEC);
	struct tm tm;
	char day[32];

	if (!gmtime_r(&sec, &tm) || !strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm)) {
		snprintf(buf, size, "%lld s", (long long)sec);
		return;
	}
	snprintf(buf, size, "%s.%03d UTC", day, (int)((ns - (int64_t)sec * SEC) / 1000000));
}

const char *incident_sentence(const struct incident *inc, char *buf, unsigned long size)
{
	char where[112], when[48], dur[32];
	unsigned long long n = (unsigned long long)inc->n_members;
	uint64_t resets = inc->by_class[CLOSE_RST_UNREAD_DATA] + inc->by_class[CLOSE_RST_ABORT];

	incident_where(inc, where, sizeof where);
	fmt_when(inc->start_ns, when, sizeof when);
	fmt_duration(inc->end_ns - inc->start_ns, dur, sizeof dur);
	if (inc->kind == INCIDENT_SERVER_EXIT && resets)
		snprintf(buf, size,
		         "At %s the server %s closed %llu connections within %s, resetting %llu that "
		         "held data it had not read: its process exited, crashed or was killed",
		         when, where, n, dur, (unsigned long long)resets);
	else if (inc->kind == INCIDENT_SERVER_EXIT)
		snprintf(buf, size,
		         "At %s the server %s closed all its %llu connections within %s: its process "
		         "exited or restarted (or closed every connection it had at once)",
		         when, where, n, dur);
	else if (inc->kind == INCIDENT_KEEPALIVE_SWEEP)
		snprintf(buf, size,
		         "At %s the server %s closed %llu connections within %s while %llu others went "
		         "on: an idle-connection (keep-alive) sweep",
		         when, where, n, dur, (unsigned long long)inc->survivors);
	else if (inc->kind == INCIDENT_PATH_RESET)
		snprintf(buf, size,
		         "At %s a middlebox between %s reset %llu connections within %s: a firewall or "
		         "NAT lost their state or started rejecting them",
		         when, where, n, dur);
	else if (inc->kind == INCIDENT_STATE_LOSS)
		snprintf(buf, size,
		         "From %s, %llu idle connections between %s went unanswered when they spoke "
		         "again (within %s): a firewall or NAT on the path had forgotten them",
		         when, n, where, dur);
	else if (inc->kind == INCIDENT_PATH_OUTAGE)
		snprintf(buf, size,
		         "At %s %llu connections between %s started retransmitting into silence within "
		         "%s and never recovered: the path (a link, a route, a firewall) or the far "
		         "hosts went down",
		         when, n, where, dur);
	else
		snprintf(buf, size,
		         "At %s %llu new connections to %s had their SYNs dropped and retried within %s: "
		         "its listen queue was full (or the path dropped SYNs)",
		         when, n, where, dur);
	return buf;
}

double incidents_sparkline(const struct incidents *d, unsigned cols, char *out, unsigned long size)
{
	static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
		                               "\u2585", "\u2586", "\u2587", "\u2588" };
	const struct timeline *tl = &d->tl;
	uint64_t per[120] = { 0 }, max = 0;
	char mark[121];
	size_t o = 0;

	if (size)
		out[0] = '\0';
	if (cols > 120)
		cols = 120;
	if (tl->n == 0 || cols == 0 || size < 8u * cols + 8)
		return 0;
	if (cols > tl->n)
		cols = tl->n;
	for (unsigned b = 0; b < tl->n; b++) {
		unsigned c = (unsigned)((uint64_t)b * cols / tl->n);

		for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
			per[c] += tl->count[b][k];
	}
	for (unsigned c = 0; c < cols; c++)
		if (per[c] > max)
			max = per[c];
	memset(mark, ' ', cols);
	mark[cols] = '\0';
	double span_ns = (double)tl->width_ns * tl->n;
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct incident *inc = &d->kept[i].inc;
		double a = (double)(inc->start_ns - tl->origin_ns) / span_ns * cols;
		double z = (double)(inc->end_ns - tl->origin_ns) / span_ns * cols;

		for (unsigned c = a < 0 ? 0 : (unsigned)a; c <= (unsigned)z && c < cols; c++)
			if (mark[c] == ' ')
				mark[c] = "0123456789"[inc->number % 10];
			else
				mark[c] = '*';
	}
	for (unsigned c = 0; c < cols; c++) {
		if (per[c] == 0) {
			out[o++] = ' ';
			continue;
		}
		unsigned level = (unsigned)((per[c] * 8 - 1) / max);

		memcpy(out + o, blocks[level], 3);
		o += 3;
	}
	out[o++] = '\n';
	memcpy(out + o, mark, cols);
	o += cols;
	out[o++] = '\n';
	out[o] = '\0';
	return span_ns / cols / 1e9;
}
