/* flow_table.c - chained hashes of live and waiting flows plus two least-recently-active lists. */
#include "flow_table.h"

#include <stdlib.h>
#include <string.h>

#include "tracker.h"
#include "mix64.h"

#define INITIAL_BUCKETS 1024u

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

/* A chained hash: bucket heads are flow handles (0: none), chains linked by live_flow.hash_next. */
struct chains {
	uint32_t *buckets;
	uint32_t mask;  /* buckets - 1; the count of buckets is a power of two */
	size_t count;
};

struct flow_table {
	const struct flow_store *st;
	/* Live flows, and waiting ones (frozen: live_flow.h), each in chains of their own: a
	 * segment of a live flow (nearly every segment) walks only live flows, a tenth of them
	 * on a busy server, and what it reads needs no test of which kind it is. */
	struct chains live, waiting;
	size_t count;  /* both */
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

struct flow_table *flow_table_create(uint64_t seed, const struct flow_store *st)
{
	struct flow_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->st = st;
	t->live.buckets = calloc(INITIAL_BUCKETS, sizeof *t->live.buckets);
	t->waiting.buckets = calloc(INITIAL_BUCKETS, sizeof *t->waiting.buckets);
	if (!t->live.buckets || !t->waiting.buckets) {
		free(t->live.buckets);
		free(t->waiting.buckets);
		free(t);
		return NULL;
	}
	t->live.mask = t->waiting.mask = INITIAL_BUCKETS - 1;
	t->graves_until = INT64_MAX;
	t->seed = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
	return t;
}

void flow_table_destroy(struct flow_table *t)
{
	if (!t)
		return;
	graveyard_free(t->graves);
	free(t->live.buckets);
	free(t->waiting.buckets);
	free(t);
}

/* The flow of handle `h` on `list` (0: none): only the finished list holds waiting flows. */
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

/* The flow of handle `h` in the live chains or the waiting ones. */
static inline struct live_flow *node(const struct flow_table *t, uint32_t h, bool waiting)
{
	return waiting ? flow_store_frozen_at(t->st, h) : flow_store_at(t->st, h);
}

/* find() for an IPv6 segment: ports first, then the two addresses. */
static struct live_flow *find6(const struct flow_table *t, const struct tcp_segment *seg,
                               uint32_t hash, bool waiting)
{
	const struct chains *c = waiting ? &t->waiting : &t->live;

	for (uint32_t h = c->buckets[hash & c->mask]; h;) {
		struct live_flow *f = node(t, h, waiting);
		const uint8_t *a;

		h = f->hash_next;
		if (f->hash != hash || !(f->mark & LIVE_ADDR6))
			continue;
		a = live_addr6(t->st, f);
		if (!live_same_tunnel(f, seg))
			continue;
		if (f->port[0] == seg->sport && f->port[1] == seg->dport &&
		    memcmp(a, seg->src.bytes, 16) == 0 && memcmp(a + 16, seg->dst.bytes, 16) == 0)
			return f;
		if (f->port[1] == seg->sport && f->port[0] == seg->dport &&
		    memcmp(a + 16, seg->src.bytes, 16) == 0 && memcmp(a, seg->dst.bytes, 16) == 0)
			return f;
	}
	return NULL;
}

/* The flow of seg's 4-tuple in the live chains or the waiting ones (its head is all it reads). */
static inline struct live_flow *find(const struct flow_table *t, const struct tcp_segment *seg,
                                     uint32_t hash, bool waiting)
{
	const struct chains *c = waiting ? &t->waiting : &t->live;
	uint16_t fwd_ports[2] = { seg->sport, seg->dport };
	uint32_t fwd, rev, src, dst;

	if (seg->src.family != 4)
		return find6(t, seg, hash, waiting);
	/* IPv4: ports and addresses compared as words. */
	memcpy(&fwd, fwd_ports, sizeof fwd);
	rev = fwd >> 16 | fwd << 16;
	memcpy(&src, seg->src.bytes, sizeof src);
	memcpy(&dst, seg->dst.bytes, sizeof dst);
	for (uint32_t h = c->buckets[hash & c->mask]; h;) {
		struct live_flow *f = node(t, h, waiting);
		uint32_t ports;

		h = f->hash_next;
		if (f->hash != hash || (f->mark & LIVE_ADDR6))
			continue;
		memcpy(&ports, f->port, sizeof ports);
		if (((ports == fwd && f->addr[0] == src && f->addr[1] == dst) ||
		     (ports == rev && f->addr[1] == src && f->addr[0] == dst)) &&
		    live_same_tunnel(f, seg))
			return f;
	}
	return NULL;
}

struct live_flow *flow_table_find(const struct flow_table *t, const struct tcp_segment *seg,
                                  uint32_t hash)
{
	return find(t, seg, hash, false);
}

struct live_flow *flow_table_find_waiting(const struct flow_table *t,
                                          const struct tcp_segment *seg, uint32_t hash)
{
	return find(t, seg, hash, true);
}

void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash)
{
	PREFETCH_ONLY();
	__builtin_prefetch(&t->live.buckets[hash & t->live.mask]);
}

void flow_table_prefetch_waiting(const struct flow_table *t, uint32_t hash, int stage)
{
	PREFETCH_ONLY();
	const uint32_t *b = &t->waiting.buckets[hash & t->waiting.mask];

	if (stage == 0) {
		__builtin_prefetch(b);
	} else if (*b) {
		/* The key a lookup compares is in the first 64 bytes of the head. */
		const char *z = (const char *)flow_store_frozen_at(t->st, *b);

		__builtin_prefetch(z);
		__builtin_prefetch(z + 63);
	}
}

/* The bucket's first flow: its lookup line, and the two lines after it that tracking writes. */
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash)
{
	PREFETCH_ONLY();
	uint32_t h = t->live.buckets[hash & t->live.mask];

	if (h)
		flow_table_prefetch(flow_store_at(t->st, h));
}

void flow_table_prefetch_chain(const struct flow_table *t, uint32_t hash)
{
	uint32_t h = t->live.buckets[hash & t->live.mask];
	const struct live_flow *f;

	PREFETCH_ONLY();
	if (!h)
		return;
	f = flow_store_at(t->st, h);
	if (f->hash != hash && f->hash_next)
		flow_table_prefetch(flow_store_at(t->st, f->hash_next));
}

/* Every cache line of the flow (pool items are not line-aligned: up to one more line). A frozen
 * flow is smaller, but which kind `f` is would be read from the very line being fetched: the
 * lines of a live flow are fetched either way. */
void flow_table_prefetch(const struct live_flow *f)
{
	PREFETCH_ONLY();
	if (!f)
		return;
	for (size_t off = 0; off < sizeof *f; off += 64)
		__builtin_prefetch((const char *)f + off);
	__builtin_prefetch((const char *)f + sizeof *f - 1);
}

/* Doubles the bucket array of `c` (the waiting chains or not). On allocation failure it keeps
 * its size: lookups stay correct, chains get longer. */
static int rehash(struct flow_table *t, struct chains *c, bool waiting)
{
	uint32_t n = (c->mask + 1) * 2;
	uint32_t *b;

	if (n == 0)
		return -1;
	b = calloc(n, sizeof *b);
	if (!b)
		return -1;
	for (uint32_t i = 0; i <= c->mask; i++) {
		uint32_t h = c->buckets[i];

		while (h) {
			struct live_flow *f = node(t, h, waiting);
			uint32_t next = f->hash_next;

			f->hash_next = b[f->hash & (n - 1)];
			b[f->hash & (n - 1)] = h;
			h = next;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->mask = n - 1;
	return 0;
}

/* rehash() once the load of `c` passes 1. */
static inline int grow(struct flow_table *t, struct chains *c, bool waiting)
{
	return c->count > (size_t)c->mask + 1 ? rehash(t, c, waiting) : 0;
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

/* Puts `f` first in its chain of `c`. */
static inline void chain_add(struct chains *c, struct live_flow *f)
{
	uint32_t b = f->hash & c->mask;

	f->hash_next = c->buckets[b];
	c->buckets[b] = f->self;
	c->count++;
}

/* Takes handle `h` out of its chain of `c` (false: it was in none), the flow's hash being `hash`
 * and the next in its chain `next`: the flow itself is not read (a frozen flow's live form is
 * gone already). */
static inline bool chain_remove(struct flow_table *t, struct chains *c, uint32_t h, uint32_t hash,
                                uint32_t next, bool waiting)
{
	uint32_t *p = &c->buckets[hash & c->mask];

	while (*p && *p != h)
		p = &node(t, *p, waiting)->hash_next;
	if (!*p)
		return false;
	*p = next;
	c->count--;
	return true;
}

int flow_table_insert(struct flow_table *t, struct live_flow *f)
{
	chain_add(&t->live, f);
	t->count++;
	list_append(t, f, FLOW_LIST_LIVE);
	return grow(t, &t->live, false);
}

void flow_table_remove(struct flow_table *t, struct live_flow *f)
{
	bool waiting = live_is_frozen(f);

	if (chain_remove(t, waiting ? &t->waiting : &t->live, f->self, f->hash, f->hash_next,
	                 waiting))
		t->count--;
	f->hash_next = 0;
	list_unlink(t, f);
}

void flow_table_freeze(struct flow_table *t, uint32_t h, struct live_flow *z)
{
	chain_remove(t, &t->live, h, z->hash, z->hash_next, false);
	list_unlink(t, z); /* its neighbours link to h: they now link to each other */
	chain_add(&t->waiting, z);
	list_append(t, z, FLOW_LIST_FINISHED);
	grow(t, &t->waiting, true); /* a failed grow only lengthens chains */
}

void flow_table_thaw(struct flow_table *t, struct live_flow *z, struct live_flow *f)
{
	chain_remove(t, &t->waiting, z->self, z->hash, z->hash_next, true);
	list_unlink(t, z);
	chain_add(&t->live, f);
	list_append(t, f, FLOW_LIST_FINISHED);
	grow(t, &t->live, false);
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
	return t->waiting.count;
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
 * Bounds: at most `max_graves` tombstones (the oldest is forgotten early to make room for a new
 * one), so a flood of short connections cannot grow memory past what --max-flows allows; and the
 * bucket array doubles whenever there are more tombstones than buckets, so chains stay short
 * however many there are (a fixed array made every lookup walk count / buckets of them). */

/* A tombstone keeps no address: a 64-bit seeded fingerprint of the 4-tuple, which also picks
 * its bucket (so a false match needs 64 bits of an unrelated seeded function to collide, the
 * bucket's own bits included), 20 bytes in all. */
struct tombstone {
	live_u64 fingerprint;
	uint32_t until;          /* its time: nanoseconds after its chunk's base */
	uint32_t next;           /* chain: index + 1 of the next tombstone in the bucket, 0: none */
	uint16_t last_cs;        /* its time - the connection's last segment, in 10 ms, saturating */
	uint8_t time_wait;       /* enum closer_side: who held the connection's TIME-WAIT */
	bool dead;               /* removed: no longer found, released when its time is up */
};
_Static_assert(sizeof(struct tombstone) == 20, "a tombstone grew");

#define GRAVE_BUCKETS_MIN 4096u /* 16 KiB, allocated with the first tombstone; then doubling */
#define GRAVE_CHUNK_SHIFT 8
#define GRAVE_CHUNK (1u << GRAVE_CHUNK_SHIFT)
/* Chunk sequence numbers are kept modulo 2^GRAVE_SEQ_BITS in an index, so an index + 1 fits 32
 * bits: at most 2^31 tombstones alive, far more than memory allows. */
#define GRAVE_SEQ_BITS 23
#define GRAVE_SEQ_MASK ((1u << GRAVE_SEQ_BITS) - 1)

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

/* Doubles the bucket array and moves every tombstone still in a chain (those from the oldest
 * chunk's first unreleased one on) over. On allocation failure the array stays: lookups stay
 * right, chains get longer. */
static void grave_grow(struct graveyard *g)
{
	size_t n = (g->mask + 1) * 2;
	uint32_t *b = n > g->mask + 1 ? calloc(n, sizeof *b) : NULL;

	if (!b)
		return;
	free(g->buckets);
	g->buckets = b;
	g->mask = n - 1;
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

/* Brings the bucket of `fp` into the cache (stage 0), or the first tombstone in it (stage 1, a
 * few steps later, when the bucket is there): tombstones are released and looked up in an order
 * known ahead, and their chains are the coldest memory the analyzer touches. */
static void grave_prefetch(const struct graveyard *g, uint64_t fp, int stage)
{
	PREFETCH_ONLY();
	const uint32_t *b = bucket_of(g, fp);

	if (stage == 0)
		__builtin_prefetch(b);
	else if (*b)
		__builtin_prefetch(grave_at(g, *b));
}

#define GRAVE_PREFETCH_AHEAD 8

/* Releases the oldest tombstone (the head of the FIFO); there must be one. */
static void grave_release_oldest(struct graveyard *g)
{
	struct grave_chunk *c = chunk_of_seq(g, g->head_seq);
	uint32_t ref = grave_ref(g->head_seq, c->gone);
	struct tombstone *s = &c->items[c->gone++];
	uint32_t *p = bucket_of(g, s->fingerprint);

	if (c->gone + GRAVE_PREFETCH_AHEAD < c->used)
		grave_prefetch(g, c->items[c->gone + GRAVE_PREFETCH_AHEAD].fingerprint, 0);
	if (c->gone + GRAVE_PREFETCH_AHEAD / 2 < c->used)
		grave_prefetch(g, c->items[c->gone + GRAVE_PREFETCH_AHEAD / 2].fingerprint, 1);

	/* Out of its chain: the chains are short (the bucket array grows with the count). */
	while (*p && *p != ref)
		p = &grave_at(g, *p)->next;
	if (*p)
		*p = s->next;
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
	if (n > GRAVE_SEQ_MASK + 1u || !(r = calloc(n, sizeof *r)))
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
		/* Every tombstone of the last chunk is gone (so of every chunk): it starts over. */
		c->used = c->gone = 0;
		c->base = until_ns;
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
		if (!g->n_chunks)
			g->head_seq = tail_seq = 0;
		else
			tail_seq++;
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
	s->dead = false;
	s->time_wait = (uint8_t)live_time_wait_side(f);
	s->last_cs = until_ns - f->last_ts_ns >= 65535LL * 10000000 || until_ns < f->last_ts_ns
	                 ? UINT16_MAX
	                 : (uint16_t)((until_ns - f->last_ts_ns) / 10000000);
	head = bucket_of(g, s->fingerprint);
	s->next = *head;
	*head = ref;
	g->count++;
	t->graves_until = oldest_until(g);
	if (g->count > g->mask + 1)
		grave_grow(g);
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
	for (uint32_t ref = *bucket_of(g, fp); ref;) {
		const struct grave_chunk *c = chunk_of_seq(g, (ref - 1) >> GRAVE_CHUNK_SHIFT);
		struct tombstone *s = grave_at(g, ref);

		ref = s->next;
		if (s->fingerprint != fp || s->dead)
			continue;
		if (info) {
			info->last_ts_ns = (int64_t)((uint64_t)c->base + s->until) -
			                   (int64_t)s->last_cs * 10000000;
			info->time_wait = (enum closer_side)s->time_wait;
		}
		if (remove)
			s->dead = true;
		return true;
	}
	return false;
}

void flow_table_prefetch_removal(const struct flow_table *t, const struct live_flow *f,
                                 int stage)
{
	PREFETCH_ONLY();
	bool waiting = live_is_frozen(f);
	const struct chains *c = waiting ? &t->waiting : &t->live;
	uint32_t h = c->buckets[f->hash & c->mask];

	if (stage == 0) {
		struct flow_endpoint ep[2];

		__builtin_prefetch(&c->buckets[f->hash & c->mask]);
		if (!t->graves || (f->mark & LIVE_ADDR6))
			return; /* an IPv6 flow's addresses are in another block: not worth it */
		live_endpoint(t->st, f, 0, &ep[0]);
		live_endpoint(t->st, f, 1, &ep[1]);
		grave_prefetch(t->graves,
		               fingerprint(t, &ep[0].addr, ep[0].port, &ep[1].addr, ep[1].port,
		                           LIVE_ENCAP_KIND(f->encap), f->tunnel_id),
		               0);
	} else if (h && h != f->self) {
		__builtin_prefetch(node(t, h, waiting));
	}
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
