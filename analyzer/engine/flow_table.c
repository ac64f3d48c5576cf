/* flow_table.c - open-addressed hash of live flows plus two least-recently-active lists.
 *
 * The live flows are found through an array of slots, each a flow's 32-bit hash beside its
 * handle (8 bytes, 8 to a cache line), with linear probing from the hash's home slot. A lookup
 * reads the slots from home up to the first empty one, usually within one line, and a flow only
 * where the whole hash matches: flows of other 4-tuples are never touched (chains of handles
 * through the flows made a lookup read every flow ahead of its own, and a removal walk them). A
 * removal shifts the run after its slot back (Knuth, TAOCP vol. 3, 6.4, Algorithm R), so no slot
 * is ever a tombstone and probes stay as short as the load makes them; the array doubles when
 * it is more than MAX_LOAD_NUM / MAX_LOAD_DEN full, moving slots without reading a flow.
 *
 * A waiting flow (frozen, live_flow.h) keeps its slot with its frozen handle: the one probe
 * finds both kinds, and freezing or thawing a flow rewrites a slot's handle. */
#include "flow_table.h"

#include <stdlib.h>
#include <string.h>

#include "tracker.h"
#include "mix64.h"

#define INITIAL_SLOTS 1024u
#define MAX_SLOTS (1u << 31)
/* Linear probing at load a reads about (1 + 1 / (1 - a)^2) / 2 slots to miss, (1 + 1 / (1 - a))
 * / 2 to hit: at 1/2, 2.5 and 1.5 slots; at 5/8, 4.1 and 1.8, still mostly one cache line; at 3/4,
 * 8.5 and 2.5. Measured on the short-connection benchmark, 5/8 costs 9 instructions a packet
 * more than 1/2 (callgrind) and keeps its 74k flows in 1 MiB of slots instead of 2 (1 MiB less
 * peak memory); the array is 13 to 26 bytes a flow. */
#define MAX_LOAD_NUM 5u
#define MAX_LOAD_DEN 8u
#define SLOT_LINE 64u

/* GCC (12) takes a function whose only effect is __builtin_prefetch for one without any (pure),
 * and drops every call to it that it does not inline: so the prefetches were silently gone. An
 * empty volatile asm is an effect, and costs nothing. Every function here that only prefetches
 * starts with it. */
#define PREFETCH_ONLY() __asm__ volatile("")

struct graveyard;
static void graveyard_free(struct graveyard *g);

/* The ends of a list: the flows themselves (the links in between are handles). */
struct activity_list {
	struct live_flow *oldest;
	struct live_flow *newest;
};

/* A live flow's place in the table. */
struct table_slot {
	uint32_t hash;   /* live_flow.hash */
	uint32_t handle; /* 0: empty */
};

struct flow_table {
	const struct flow_store *st;
	struct table_slot *slots;    /* line-aligned; NULL for a table only used for its hash */
	uint32_t mask;         /* slots - 1; the count of slots is a power of two */
	unsigned shift;        /* 32 - log2(slots): home_of() takes the product's top bits */
	size_t count;
	size_t waiting;        /* of which frozen */
	uint64_t seed;
	struct activity_list lists[2];
	struct graveyard *graves; /* tombstones; NULL until the first */
	int64_t graves_until;     /* the oldest tombstone's time, INT64_MAX: none */
	size_t max_graves;        /* 0: no limit (flow_table_limit_graves) */
};

/* One endpoint's seeded hash: one mix for IPv4 (address, port and family fit one word), three
 * for IPv6. */
static uint64_t hash_endpoint(uint64_t seed, const struct ip_addr *a, uint16_t port)
{
	uint64_t w[2];
	uint32_t v4;

	if (a->family == 4) {
		memcpy(&v4, a->bytes, sizeof v4);
		return mix64(seed ^ v4 ^ ((uint64_t)port << 32) ^ (1ULL << 48));
	}
	memcpy(w, a->bytes, sizeof w);
	return mix64(mix64(mix64(seed ^ w[0]) ^ w[1]) ^ port);
}

/* The tunnel's share of the key (0 outside tunnels, the common case, which costs a test). */
static uint64_t tunnel_mix(uint64_t seed, unsigned kind, uint32_t id)
{
	return kind ? mix64(seed ^ ((uint64_t)kind << 32 | id) ^ (2ULL << 48)) : 0;
}

/* A second, independent seeded function of the 4-tuple and tunnel, direction-free, for
 * tombstones. */
static uint64_t fingerprint(const struct flow_table *t, const struct ip_addr *a, uint16_t ap,
                            const struct ip_addr *b, uint16_t bp, unsigned kind, uint32_t id)
{
	uint64_t seed = t->seed ^ 0x6a09e667f3bcc909ULL;

	return mix64(hash_endpoint(seed, a, ap) ^ hash_endpoint(seed, b, bp) ^
	             tunnel_mix(seed, kind, id));
}

/* The same for both directions. IPv4 (every segment pays for this): each endpoint is one 48-bit
 * word, address and port; the lower word is multiplied by the seed, the higher one added, and one
 * multiply-xorshift round mixes the sum. IPv6: the sum of the two endpoints' hashes. */
uint32_t flow_table_hash(const struct flow_table *t, const struct tcp_segment *seg)
{
	uint64_t h;

	if (seg->src.family == 4) {
		uint32_t sa, da;

		memcpy(&sa, seg->src.bytes, sizeof sa);
		memcpy(&da, seg->dst.bytes, sizeof da);
		uint64_t a = (uint64_t)sa << 16 | seg->sport, b = (uint64_t)da << 16 | seg->dport;
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;

		h = ((lo ^ t->seed) * 0x9e3779b97f4a7c15ULL + hi) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	} else {
		h = hash_endpoint(t->seed, &seg->src, seg->sport) +
		    hash_endpoint(t->seed, &seg->dst, seg->dport);
	}
	if (seg->tunnel)
		h ^= tunnel_mix(t->seed, seg->tunnel, seg->tunnel_id);
	return (uint32_t)(h ^ (h >> 32));
}

/* A zeroed, line-aligned array of n slots (n a power of two, at least 8), or NULL. */
static struct table_slot *slots_new(uint32_t n)
{
	struct table_slot *s = aligned_alloc(SLOT_LINE, (size_t)n * sizeof *s);

	if (s)
		memset(s, 0, (size_t)n * sizeof *s);
	return s;
}

static unsigned log2_of(uint32_t n)
{
	return 31u - (unsigned)__builtin_clz(n);
}

struct flow_table *flow_table_create(uint64_t seed, const struct flow_store *st)
{
	struct flow_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->st = st;
	if (st && !(t->slots = slots_new(INITIAL_SLOTS))) {
		free(t);
		return NULL;
	}
	t->mask = INITIAL_SLOTS - 1;
	t->shift = 32u - log2_of(INITIAL_SLOTS);
	t->graves_until = INT64_MAX;
	t->seed = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
	return t;
}

void flow_table_destroy(struct flow_table *t)
{
	if (!t)
		return;
	graveyard_free(t->graves);
	free(t->slots);
	free(t);
}

/* The slot a hash probes first. The top bits of a multiplicative hash, not the low bits of the
 * hash itself: with --threads the engine gives a shard the flows of one value of (hash >> 16) %
 * shards (engine_dissect), and a table indexed by those bits would use a fraction of its slots
 * and pile the flows into long runs. */
static inline uint32_t home_of(const struct flow_table *t, uint32_t hash)
{
	return (hash * 0x9e3779b1u) >> t->shift;
}

/* The flow of handle `h` on `list` (0: none): only the finished list holds frozen flows. */
static inline struct live_flow *at(const struct flow_table *t, uint32_t h, enum flow_list list)
{
	if (!h)
		return NULL;
	return list == FLOW_LIST_LIVE ? flow_store_at(t->st, h) : flow_store_any(t->st, h);
}

static uint32_t handle_of(const struct live_flow *f)
{
	return f ? f->self : 0;
}

/* Is `f` (of hash equal to seg's) the flow of seg's 4-tuple and tunnel? IPv4: ports and
 * addresses compared as words, in either direction. */
static inline bool same_flow(const struct flow_table *t, const struct live_flow *f,
                             const struct tcp_segment *seg)
{
	if (seg->src.family == 4) {
		uint16_t fwd_ports[2] = { seg->sport, seg->dport };
		uint32_t fwd, rev, src, dst, ports;

		if (f->mark & LIVE_ADDR6)
			return false;
		memcpy(&fwd, fwd_ports, sizeof fwd);
		rev = fwd >> 16 | fwd << 16;
		memcpy(&src, seg->src.bytes, sizeof src);
		memcpy(&dst, seg->dst.bytes, sizeof dst);
		memcpy(&ports, f->port, sizeof ports);
		return ((ports == fwd && f->addr[0] == src && f->addr[1] == dst) ||
		        (ports == rev && f->addr[1] == src && f->addr[0] == dst)) &&
		       live_same_tunnel(f, seg);
	}
	if (!(f->mark & LIVE_ADDR6) || !live_same_tunnel(f, seg))
		return false;
	const uint8_t *a = live_addr6(t->st, f);

	return (f->port[0] == seg->sport && f->port[1] == seg->dport &&
	        memcmp(a, seg->src.bytes, 16) == 0 && memcmp(a + 16, seg->dst.bytes, 16) == 0) ||
	       (f->port[1] == seg->sport && f->port[0] == seg->dport &&
	        memcmp(a + 16, seg->src.bytes, 16) == 0 && memcmp(a, seg->dst.bytes, 16) == 0);
}

/* The probe ends at an empty slot: there always is one (flow_table_insert keeps one). */
struct live_flow *flow_table_find(const struct flow_table *t, const struct tcp_segment *seg,
                                  uint32_t hash)
{
	for (uint32_t i = home_of(t, hash);; i = (i + 1) & t->mask) {
		const struct table_slot *s = &t->slots[i];
		struct live_flow *f;

		if (!s->handle)
			return NULL;
		if (s->hash != hash)
			continue;
		f = flow_store_any(t->st, s->handle);
		if (same_flow(t, f, seg))
			return f;
	}
}

/* The line of the home slot: at the load allowed a run rarely goes past it (a second prefetch
 * for the runs that do bought nothing measurable, and prefetches wait for a free miss buffer
 * while the flows' lines are in flight). */
void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash)
{
	PREFETCH_ONLY();
	__builtin_prefetch(&t->slots[home_of(t, hash)]);
}

/* The first flow of the probe run whose hash is `hash` (nearly always the flow sought). */
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash)
{
	PREFETCH_ONLY();
	for (uint32_t i = home_of(t, hash); t->slots[i].handle; i = (i + 1) & t->mask)
		if (t->slots[i].hash == hash) {
			flow_table_prefetch(flow_store_any(t->st, t->slots[i].handle));
			return;
		}
}

/* Every cache line of the flow. A frozen flow is smaller, but which kind `f` is would be read
 * from the very line being fetched: the lines of a live flow are fetched either way. */
void flow_table_prefetch(const struct live_flow *f)
{
	PREFETCH_ONLY();
	if (!f)
		return;
	for (size_t off = 0; off < sizeof *f; off += 64)
		__builtin_prefetch((const char *)f + off);
	__builtin_prefetch((const char *)f + sizeof *f - 1);
}

/* Puts (hash, handle) in the first empty slot of its run; there must be one. */
static void place(struct table_slot *slots, uint32_t mask, uint32_t i, uint32_t hash, uint32_t handle)
{
	while (slots[i].handle)
		i = (i + 1) & mask;
	slots[i].hash = hash;
	slots[i].handle = handle;
}

/* Doubles the slot array. On allocation failure the table keeps its size: lookups stay correct,
 * probes get longer. */
static int grow(struct flow_table *t)
{
	uint32_t n;
	struct flow_table bigger = { .shift = t->shift - 1 };
	struct table_slot *s;

	if (t->mask + 1 >= MAX_SLOTS)
		return -1;
	n = (t->mask + 1) * 2;
	if (!(s = slots_new(n)))
		return -1;
	for (uint32_t i = 0; i <= t->mask; i++)
		if (t->slots[i].handle)
			place(s, n - 1, home_of(&bigger, t->slots[i].hash), t->slots[i].hash,
			      t->slots[i].handle);
	free(t->slots);
	t->slots = s;
	t->mask = n - 1;
	t->shift--;
	return 0;
}

static enum flow_list list_of(const struct live_flow *f)
{
	return (f->mark & LIVE_LIST_FINISHED) ? FLOW_LIST_FINISHED : FLOW_LIST_LIVE;
}

static inline void list_unlink(struct flow_table *t, struct live_flow *f)
{
	enum flow_list list = list_of(f);
	struct activity_list *l = &t->lists[list];
	struct live_flow *older = at(t, f->older, list), *newer = at(t, f->newer, list);

	if (older)
		older->newer = f->newer;
	else
		l->oldest = newer;
	if (newer)
		newer->older = f->older;
	else
		l->newest = older;
	f->older = f->newer = 0;
}

static inline void list_append(struct flow_table *t, struct live_flow *f, enum flow_list list)
{
	struct activity_list *l = &t->lists[list];

	if (list == FLOW_LIST_FINISHED)
		f->mark |= LIVE_LIST_FINISHED;
	else
		f->mark &= (uint8_t)~LIVE_LIST_FINISHED;
	f->newer = 0;
	f->older = handle_of(l->newest);
	if (l->newest)
		l->newest->newer = f->self;
	else
		l->oldest = f;
	l->newest = f;
}

int flow_table_insert(struct flow_table *t, struct live_flow *f)
{
	size_t slots = (size_t)t->mask + 1;

	/* Past the load allowed the array doubles; when it cannot, the flow still goes in while a
	 * slot would stay empty after it (probes end at an empty slot). */
	if ((t->count + 1) * MAX_LOAD_DEN > slots * MAX_LOAD_NUM && grow(t) != 0 &&
	    t->count + 2 > slots)
		return -1;
	place(t->slots, t->mask, home_of(t, f->hash), f->hash, f->self);
	t->count++;
	list_append(t, f, FLOW_LIST_LIVE);
	return 0;
}

/* The slot of handle `h`, of hash `hash` (NULL: none). */
static struct table_slot *slot_of(const struct flow_table *t, uint32_t hash, uint32_t h)
{
	for (uint32_t i = home_of(t, hash); t->slots[i].handle; i = (i + 1) & t->mask)
		if (t->slots[i].handle == h)
			return &t->slots[i];
	return NULL;
}

void flow_table_remove(struct flow_table *t, struct live_flow *f)
{
	struct table_slot *s = t->slots, *hole = slot_of(t, f->hash, f->self);
	uint32_t mask = t->mask, i;

	if (!hole)
		goto unlisted; /* not in the table */
	i = (uint32_t)(hole - s);
	/* Each later slot of the run whose home is not in (i, j] moves back into the hole at i. */
	for (uint32_t j = (i + 1) & mask; s[j].handle; j = (j + 1) & mask)
		if (((j - home_of(t, s[j].hash)) & mask) >= ((j - i) & mask)) {
			s[i] = s[j];
			i = j;
		}
	s[i].hash = 0;
	s[i].handle = 0;
	t->count--;
	if (live_is_frozen(f))
		t->waiting--;
unlisted:
	list_unlink(t, f);
}

void flow_table_freeze(struct flow_table *t, uint32_t h, struct live_flow *z)
{
	struct table_slot *s = slot_of(t, z->hash, h);

	if (s) {
		s->handle = z->self;
		t->waiting++;
	}
	list_unlink(t, z); /* its neighbours link to h: they now link to each other */
	list_append(t, z, FLOW_LIST_FINISHED);
}

void flow_table_thaw(struct flow_table *t, struct live_flow *z, struct live_flow *f)
{
	struct table_slot *s = slot_of(t, z->hash, z->self);

	if (s) {
		s->handle = f->self;
		t->waiting--;
	}
	list_unlink(t, z);
	list_append(t, f, FLOW_LIST_FINISHED);
}

void flow_table_touch(struct flow_table *t, struct live_flow *f, enum flow_list list)
{
	if (t->lists[list].newest == f && list_of(f) == list)
		return;
	list_unlink(t, f);
	list_append(t, f, list);
}

struct live_flow *flow_table_oldest(const struct flow_table *t, enum flow_list list)
{
	return t->lists[list].oldest;
}

struct live_flow *flow_table_newer(const struct flow_table *t, const struct live_flow *f)
{
	return at(t, f->newer, list_of(f));
}

size_t flow_table_count(const struct flow_table *t)
{
	return t->count;
}

size_t flow_table_waiting(const struct flow_table *t)
{
	return t->waiting;
}

size_t flow_table_slot_of(const struct flow_table *t, const struct live_flow *f, size_t *slots)
{
	const struct table_slot *s = slot_of(t, f->hash, f->self);

	*slots = (size_t)t->mask + 1;
	return s ? (size_t)(s - t->slots) : SIZE_MAX;
}

/* --- tombstones --------------------------------------------------------------------------- */

/* Tombstones die in the order they were made (their time is now + a constant, and capture time
 * only moves forward), so they are taken from a FIFO of fixed-size chunks: no allocation per
 * tombstone, and a chunk is recycled once all its tombstones are gone. A tombstone is named by
 * a 32-bit index (its chunk's sequence number and its slot), which the hash chains link with;
 * a ring of chunk pointers finds a chunk from its sequence number. A tombstone's time is kept
 * in nanoseconds from its chunk's first one: a chunk takes tombstones for 4.29 s at most (a
 * trickle of them leaves chunks part empty: at most TOMBSTONE_NS / 4.29 s of them).
 *
 * A tombstone is released without touching its chain. Chains are in FIFO order too, newest first
 * (a tombstone goes in at its bucket's head; grave_relink keeps the order), so the tombstones
 * released are a chain's tail: a walk stops at the first reference that is no longer live
 * (grave_live: older than the FIFO's head), and a link to a released tombstone is never followed.
 * Releasing the oldest is then moving the FIFO's head: no bucket or chain to fetch (it was the
 * analyzer's coldest memory, a few percent of the time on short connections). A chunk taken
 * again gets a new sequence number, so a stale reference never names a new tombstone; and
 * numbers are compared modulo 2^GRAVE_SEQ_BITS, so every 2^GRAVE_RELINK_BITS chunks the chains are
 * rebuilt (no stale reference left) and a stale one is never as old as the modulus.
 *
 * Bounds: at most `max_graves` tombstones (the oldest is forgotten early to make room for a new
 * one), so a flood of short connections cannot grow memory past what --max-flows allows; and the
 * bucket array doubles whenever there are more tombstones than buckets, so chains stay short
 * however many there are (a fixed array made every lookup walk count / buckets of them). */

/* A tombstone keeps no address: a 64-bit seeded fingerprint of the 4-tuple, which also picks
 * its bucket (so a false match needs 64 bits of an unrelated seeded function to collide, the
 * bucket's own bits included), 24 bytes in all. Its connection's last segment is kept to the
 * nanosecond, as the time before `until`: a reused 4-tuple's gap is printed from it (the TIME-WAIT
 * reuse diagnosis), and it must be the gap a live flow would give. */
struct tombstone {
	live_u64 fingerprint;
	live_u64 last;           /* GRAVE_LAST_BITS: its time - the connection's last segment, in ns,
	                          * saturating; then the TIME-WAIT holder and the dead mark */
	uint32_t until;          /* its time: nanoseconds after its chunk's base */
	uint32_t next;           /* chain: index + 1 of the next tombstone in the bucket, 0: none */
};
_Static_assert(sizeof(struct tombstone) == 24, "a tombstone grew");

/* `last`: 56 bits of nanoseconds (833 days), enum closer_side (who held the connection's
 * TIME-WAIT), and the dead mark (removed: no longer found, released when its time is up). */
#define GRAVE_LAST_BITS 56
#define GRAVE_LAST_MAX ((UINT64_C(1) << GRAVE_LAST_BITS) - 1)
#define GRAVE_TW_SHIFT GRAVE_LAST_BITS
#define GRAVE_DEAD (UINT64_C(1) << 63)
_Static_assert(CLOSER_COUNT <= 128, "the TIME-WAIT holder fits 7 bits");

#define GRAVE_BUCKETS_MIN 4096u /* 16 KiB, allocated with the first tombstone; then doubling */
#define GRAVE_CHUNK_SHIFT 8
#define GRAVE_CHUNK (1u << GRAVE_CHUNK_SHIFT)
/* Chunk sequence numbers are kept modulo 2^GRAVE_SEQ_BITS in an index, so an index + 1 fits 32
 * bits: at most 2^31 tombstones alive, far more than memory allows. */
#define GRAVE_SEQ_BITS 23
#define GRAVE_SEQ_MASK ((1u << GRAVE_SEQ_BITS) - 1)
/* Chunks in use at most (2^29 tombstones), and how often the chains are rebuilt: a stale
 * reference is less than 2^22 + 2^21 chunks old, within the modulus. */
#define GRAVE_RING_MAX (1u << 21)
#define GRAVE_RELINK_BITS 22

struct grave_chunk {
	int64_t base;            /* the time the chunk's tombstones count from */
	unsigned used;           /* tombstones handed out */
	unsigned gone;           /* tombstones released, from the front */
	struct tombstone items[GRAVE_CHUNK];
};

struct graveyard {
	uint32_t *buckets;         /* tombstone index + 1, 0: none */
	size_t mask;               /* buckets - 1, a power of two minus one */
	struct grave_chunk **ring; /* the chunk of sequence number q is ring[q & ring_mask] */
	uint32_t ring_mask;
	uint32_t head_seq;         /* oldest chunk in use */
	uint32_t n_chunks;         /* chunks in use: head_seq .. head_seq + n_chunks - 1 */
	struct grave_chunk *spare; /* one released chunk kept for reuse */
	size_t count;
	bool relink;               /* the chains are due for a rebuild (GRAVE_RELINK_BITS) */
};

static struct graveyard *graveyard(struct flow_table *t)
{
	struct graveyard *g;

	if (t->graves)
		return t->graves;
	g = calloc(1, sizeof *g);
	if (g) {
		g->buckets = calloc(GRAVE_BUCKETS_MIN, sizeof *g->buckets);
		g->ring = calloc(1, sizeof *g->ring);
	}
	if (!g || !g->buckets || !g->ring) {
		if (g) {
			free(g->buckets);
			free(g->ring);
		}
		free(g);
		return NULL;
	}
	g->mask = GRAVE_BUCKETS_MIN - 1;
	t->graves = g;
	return g;
}

static struct grave_chunk *chunk_of_seq(const struct graveyard *g, uint32_t seq)
{
	return g->ring[seq & g->ring_mask];
}

/* The tombstone of index + 1 `ref`. */
static struct tombstone *grave_at(const struct graveyard *g, uint32_t ref)
{
	uint32_t i = ref - 1;

	return &chunk_of_seq(g, i >> GRAVE_CHUNK_SHIFT)->items[i & (GRAVE_CHUNK - 1)];
}

static uint32_t grave_ref(uint32_t seq, unsigned slot)
{
	return (((seq & GRAVE_SEQ_MASK) << GRAVE_CHUNK_SHIFT) | slot) + 1;
}

static uint32_t *bucket_of(const struct graveyard *g, uint64_t fingerprint)
{
	return &g->buckets[fingerprint & g->mask];
}

/* Is the tombstone of index + 1 `ref` still there (not released)? 0 is none. */
static bool grave_live(const struct graveyard *g, uint32_t ref)
{
	uint32_t i = ref - 1;
	uint32_t pos = ((i >> GRAVE_CHUNK_SHIFT) - g->head_seq) & GRAVE_SEQ_MASK; /* from the oldest */

	if (ref == 0 || pos >= g->n_chunks)
		return false;
	return pos > 0 || (i & (GRAVE_CHUNK - 1)) >= chunk_of_seq(g, g->head_seq)->gone;
}

/* Rebuilds the chains over `n` buckets (the array doubled, or the same one cleared): every
 * tombstone still there, oldest first, so each chain is newest first. */
static void grave_relink(struct graveyard *g, uint32_t *b, size_t n)
{
	if (b != g->buckets) {
		free(g->buckets);
		g->buckets = b;
	} else {
		memset(b, 0, n * sizeof *b);
	}
	g->mask = n - 1;
	g->relink = false;
	for (uint32_t k = 0; k < g->n_chunks; k++) {
		uint32_t seq = g->head_seq + k;
		struct grave_chunk *c = chunk_of_seq(g, seq);

		for (unsigned i = c->gone; i < c->used; i++) {
			uint32_t *head = bucket_of(g, c->items[i].fingerprint);

			c->items[i].next = *head;
			*head = grave_ref(seq, i);
		}
	}
}

/* Doubles the bucket array. On allocation failure the array stays: lookups stay right, chains
 * get longer. */
static void grave_grow(struct graveyard *g)
{
	size_t n = (g->mask + 1) * 2;
	uint32_t *b = n > g->mask + 1 ? calloc(n, sizeof *b) : NULL;

	if (b)
		grave_relink(g, b, n);
}

/* Brings the bucket of `fp` into the cache (stage 0), or the first tombstone in it (stage 1, a
 * few steps later, when the bucket is there): tombstones are released and looked up in an order
 * known ahead, and their chains are the coldest memory the analyzer touches. */
static void grave_prefetch(const struct graveyard *g, uint64_t fp, int stage)
{
	PREFETCH_ONLY();
	const uint32_t *b = bucket_of(g, fp);

	if (stage == 0)
		__builtin_prefetch(b);
	else if (grave_live(g, *b))
		__builtin_prefetch(grave_at(g, *b));
}

/* Releases the oldest tombstone (the head of the FIFO); there must be one. Its chain is left
 * as it is: see the top of this part. */
static void grave_release_oldest(struct graveyard *g)
{
	struct grave_chunk *c = chunk_of_seq(g, g->head_seq);

	c->gone++;
	g->count--;
	/* A chunk is done when all its tombstones are gone and it takes no more: full, or not the
	 * last one (a newer chunk was started for a later time). */
	if (c->gone == c->used && (c->used == GRAVE_CHUNK || g->n_chunks > 1)) {
		g->head_seq++;
		g->n_chunks--;
		if (g->spare)
			free(c);
		else
			g->spare = c;
	}
}

/* Room in the ring for one more chunk: doubles it when full, chunks at their new places. */
static int ring_room(struct graveyard *g)
{
	uint32_t size = g->ring_mask + 1, n = size * 2;
	struct grave_chunk **r;

	if (g->n_chunks < size)
		return 0;
	if (n > GRAVE_RING_MAX || !(r = calloc(n, sizeof *r)))
		return -1;
	for (uint32_t k = 0; k < g->n_chunks; k++)
		r[(g->head_seq + k) & (n - 1)] = chunk_of_seq(g, g->head_seq + k);
	free(g->ring);
	g->ring = r;
	g->ring_mask = n - 1;
	return 0;
}

/* Can chunk `c` take a tombstone of time until_ns? */
static bool chunk_takes(const struct grave_chunk *c, int64_t until_ns)
{
	return c->used < GRAVE_CHUNK && until_ns >= c->base &&
	       (uint64_t)until_ns - (uint64_t)c->base <= UINT32_MAX;
}

/* A new tombstone of time until_ns at the end of the FIFO (its index + 1 in *ref), or NULL
 * without memory. */
static struct tombstone *grave_alloc(struct graveyard *g, int64_t until_ns, uint32_t *ref)
{
	uint32_t tail_seq = g->head_seq + g->n_chunks - 1;
	struct grave_chunk *c = g->n_chunks ? chunk_of_seq(g, tail_seq) : NULL;
	struct tombstone *s;

	if (c && c->gone == c->used) {
		/* Every tombstone of the last chunk is gone (so of every chunk): it starts over,
		 * under a new number (references to its old tombstones stay stale). */
		g->ring[++g->head_seq & g->ring_mask] = c;
		tail_seq = g->head_seq;
		c->used = c->gone = 0;
		c->base = until_ns;
		if ((tail_seq & ((1u << GRAVE_RELINK_BITS) - 1)) == 0)
			g->relink = true;
	}
	if (!c || !chunk_takes(c, until_ns)) {
		if (ring_room(g) != 0)
			return NULL;
		c = g->spare ? g->spare : malloc(sizeof *c);
		if (!c)
			return NULL;
		g->spare = NULL;
		c->used = c->gone = 0;
		c->base = until_ns;
		/* numbers go on from the last one: a new run starting at 0 would take the
		 * numbers of stale references */
		if (!g->n_chunks)
			tail_seq = g->head_seq;
		else
			tail_seq++;
		if ((tail_seq & ((1u << GRAVE_RELINK_BITS) - 1)) == 0)
			g->relink = true;
		g->ring[tail_seq & g->ring_mask] = c;
		g->n_chunks++;
	}
	*ref = grave_ref(tail_seq, c->used);
	s = &c->items[c->used++];
	s->until = (uint32_t)((uint64_t)until_ns - (uint64_t)c->base);
	return s;
}

/* The time of the tombstone at slot `slot` of chunk `c`. */
static int64_t until_of(const struct grave_chunk *c, unsigned slot)
{
	return (int64_t)((uint64_t)c->base + c->items[slot].until);
}

/* The oldest tombstone's time, INT64_MAX when there is none. */
static int64_t oldest_until(const struct graveyard *g)
{
	const struct grave_chunk *c;

	if (!g || g->count == 0)
		return INT64_MAX;
	c = chunk_of_seq(g, g->head_seq);
	return until_of(c, c->gone);
}

int flow_table_bury(struct flow_table *t, const struct live_flow *f, int64_t until_ns)
{
	struct graveyard *g = graveyard(t);
	struct flow_endpoint ep[2];
	struct tombstone *s;
	uint32_t ref, *head;
	uint64_t before;

	if (!g)
		return -1;
	live_endpoint(t->st, f, 0, &ep[0]);
	live_endpoint(t->st, f, 1, &ep[1]);
	if (t->max_graves && g->count >= t->max_graves && g->count > 0)
		grave_release_oldest(g);
	s = grave_alloc(g, until_ns, &ref);
	if (!s) {
		t->graves_until = oldest_until(g);
		return -1;
	}
	s->fingerprint = fingerprint(t, &ep[0].addr, ep[0].port, &ep[1].addr, ep[1].port,
	                             LIVE_ENCAP_KIND(f->encap), f->tunnel_id);
	/* A last segment after `until` (time going backwards) saturates, as one too long ago. */
	before = until_ns < f->last_ts_ns ||
	                 (uint64_t)until_ns - (uint64_t)f->last_ts_ns > GRAVE_LAST_MAX
	             ? GRAVE_LAST_MAX
	             : (uint64_t)until_ns - (uint64_t)f->last_ts_ns;
	s->last = before | (uint64_t)live_time_wait_side(f) << GRAVE_TW_SHIFT;
	head = bucket_of(g, s->fingerprint);
	s->next = *head;
	*head = ref;
	g->count++;
	t->graves_until = oldest_until(g);
	if (g->count > g->mask + 1)
		grave_grow(g);
	else if (g->relink)
		grave_relink(g, g->buckets, g->mask + 1);
	return 0;
}

bool flow_table_grave(struct flow_table *t, const struct tcp_segment *seg, uint32_t hash,
                      bool remove, struct grave_info *info)
{
	struct graveyard *g = t->graves;
	uint64_t fp;

	(void)hash; /* tombstones are found by their fingerprint alone */
	if (!g || g->count == 0)
		return false;
	fp = fingerprint(t, &seg->src, seg->sport, &seg->dst, seg->dport, seg->tunnel,
	                 seg->tunnel_id);
	for (uint32_t ref = *bucket_of(g, fp); grave_live(g, ref);) {
		const struct grave_chunk *c = chunk_of_seq(g, (ref - 1) >> GRAVE_CHUNK_SHIFT);
		struct tombstone *s = grave_at(g, ref);

		ref = s->next;
		if (s->fingerprint != fp || (s->last & GRAVE_DEAD))
			continue;
		if (info) {
			info->last_ts_ns = (int64_t)((uint64_t)c->base + s->until) -
			                   (int64_t)(s->last & GRAVE_LAST_MAX);
			info->time_wait = (enum closer_side)((s->last & ~GRAVE_DEAD) >> GRAVE_TW_SHIFT);
		}
		if (remove)
			s->last |= GRAVE_DEAD;
		return true;
	}
	return false;
}

void flow_table_prefetch_removal(const struct flow_table *t, const struct live_flow *f)
{
	PREFETCH_ONLY();
	struct flow_endpoint ep[2];

	__builtin_prefetch(&t->slots[home_of(t, f->hash)]);
	if (!t->graves || (f->mark & LIVE_ADDR6))
		return; /* an IPv6 flow's addresses are in another block: not worth it */
	live_endpoint(t->st, f, 0, &ep[0]);
	live_endpoint(t->st, f, 1, &ep[1]);
	grave_prefetch(t->graves,
	               fingerprint(t, &ep[0].addr, ep[0].port, &ep[1].addr, ep[1].port,
	                           LIVE_ENCAP_KIND(f->encap), f->tunnel_id),
	               0);
}

void flow_table_prefetch_grave(const struct flow_table *t, const struct tcp_segment *seg,
                               int stage)
{
	PREFETCH_ONLY();
	if (t->graves && t->graves->count)
		grave_prefetch(t->graves,
		               fingerprint(t, &seg->src, seg->sport, &seg->dst, seg->dport,
		                           seg->tunnel, seg->tunnel_id),
		               stage);
}

void flow_table_expire_graves(struct flow_table *t, int64_t now_ns)
{
	if (t->graves_until >= now_ns)
		return; /* the common case, per frame */
	while (oldest_until(t->graves) < now_ns)
		grave_release_oldest(t->graves);
	t->graves_until = oldest_until(t->graves);
}

void flow_table_limit_graves(struct flow_table *t, size_t max)
{
	t->max_graves = max;
	while (max && t->graves && t->graves->count > max)
		grave_release_oldest(t->graves);
	t->graves_until = oldest_until(t->graves);
}

size_t flow_table_graves(const struct flow_table *t)
{
	return t->graves ? t->graves->count : 0;
}

static void graveyard_free(struct graveyard *g)
{
	if (!g)
		return;
	for (uint32_t k = 0; k < g->n_chunks; k++)
		free(chunk_of_seq(g, g->head_seq + k));
	free(g->spare);
	free(g->ring);
	free(g->buckets);
	free(g);
}
