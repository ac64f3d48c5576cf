/* flow_table.c - chained hash of live flows plus two least-recently-active lists. */
#include "flow_table.h"

#include <stdlib.h>
#include <string.h>

#include "tracker.h"

#define INITIAL_BUCKETS 1024u

struct graveyard;
static void graveyard_free(struct graveyard *g);

struct activity_list {
	struct flow *oldest;
	struct flow *newest;
};

struct flow_table {
	struct flow **buckets;
	uint32_t mask;  /* buckets - 1; the count of buckets is a power of two */
	size_t count;
	uint64_t seed;
	struct activity_list lists[2];
	struct graveyard *graves; /* tombstones; NULL until the first */
	size_t max_graves;        /* 0: no limit (flow_table_limit_graves) */
};

/* 64-bit finaliser from MurmurHash3 / SplitMix64: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

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

/* A second, independent seeded function of the 4-tuple, direction-free, for tombstones. */
static uint64_t fingerprint(const struct flow_table *t, const struct ip_addr *a, uint16_t ap,
                            const struct ip_addr *b, uint16_t bp)
{
	uint64_t seed = t->seed ^ 0x6a09e667f3bcc909ULL;

	return mix64(hash_endpoint(seed, a, ap) ^ hash_endpoint(seed, b, bp));
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
	return (uint32_t)(h ^ (h >> 32));
}

struct flow_table *flow_table_create(uint64_t seed)
{
	struct flow_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->mask = INITIAL_BUCKETS - 1;
	t->seed = mix64(seed ^ 0x9e3779b97f4a7c15ULL);
	return t;
}

void flow_table_destroy(struct flow_table *t)
{
	if (!t)
		return;
	graveyard_free(t->graves);
	free(t->buckets);
	free(t);
}

static bool same_endpoint(const struct flow_endpoint *e, const struct ip_addr *a, uint16_t port)
{
	return e->port == port && memcmp(&e->addr, a, sizeof *a) == 0;
}

struct flow *flow_table_find(const struct flow_table *t, const struct tcp_segment *seg,
                             uint32_t hash)
{
	for (struct flow *f = t->buckets[hash & t->mask]; f; f = f->hash_next) {
		if (f->hash != hash)
			continue;
		if (same_endpoint(&f->ep[0], &seg->src, seg->sport) &&
		    same_endpoint(&f->ep[1], &seg->dst, seg->dport))
			return f;
		if (same_endpoint(&f->ep[1], &seg->src, seg->sport) &&
		    same_endpoint(&f->ep[0], &seg->dst, seg->dport))
			return f;
	}
	return NULL;
}

void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash)
{
	__builtin_prefetch(&t->buckets[hash & t->mask]);
}

/* The bucket's first flow: its lookup line, and the two lines after it that tracking writes. */
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash)
{
	const struct flow *f = t->buckets[hash & t->mask];

	if (f) {
		__builtin_prefetch(f);
		__builtin_prefetch((const char *)f + 64);
		__builtin_prefetch((const char *)f + 128);
	}
}

/* Doubles the bucket array once the load passes 1. On allocation failure the table keeps its
 * size: lookups stay correct, chains get longer. */
static int grow(struct flow_table *t)
{
	uint32_t n = (t->mask + 1) * 2;
	struct flow **b;

	if (n == 0)
		return -1;
	b = calloc(n, sizeof *b);
	if (!b)
		return -1;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct flow *f = t->buckets[i];

		while (f) {
			struct flow *next = f->hash_next;

			f->hash_next = b[f->hash & (n - 1)];
			b[f->hash & (n - 1)] = f;
			f = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->mask = n - 1;
	return 0;
}

static void list_unlink(struct flow_table *t, struct flow *f)
{
	struct activity_list *l = &t->lists[f->list];

	if (f->older)
		f->older->newer = f->newer;
	else
		l->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		l->newest = f->older;
	f->older = f->newer = NULL;
}

static void list_append(struct flow_table *t, struct flow *f, enum flow_list list)
{
	struct activity_list *l = &t->lists[list];

	f->list = (uint8_t)list;
	f->newer = NULL;
	f->older = l->newest;
	if (l->newest)
		l->newest->newer = f;
	else
		l->oldest = f;
	l->newest = f;
}

int flow_table_insert(struct flow_table *t, struct flow *f)
{
	uint32_t b = f->hash & t->mask;
	int rc = 0;

	f->hash_next = t->buckets[b];
	t->buckets[b] = f;
	t->count++;
	list_append(t, f, FLOW_LIST_LIVE);
	if (t->count > (size_t)t->mask + 1)
		rc = grow(t);
	return rc;
}

void flow_table_remove(struct flow_table *t, struct flow *f)
{
	struct flow **p = &t->buckets[f->hash & t->mask];

	while (*p && *p != f)
		p = &(*p)->hash_next;
	if (*p) {
		*p = f->hash_next;
		t->count--;
	}
	f->hash_next = NULL;
	list_unlink(t, f);
}

void flow_table_touch(struct flow_table *t, struct flow *f, enum flow_list list)
{
	if (t->lists[f->list].newest == f && f->list == list)
		return;
	list_unlink(t, f);
	list_append(t, f, list);
}

struct flow *flow_table_oldest(const struct flow_table *t, enum flow_list list)
{
	return t->lists[list].oldest;
}

size_t flow_table_count(const struct flow_table *t)
{
	return t->count;
}

/* --- tombstones --------------------------------------------------------------------------- */

/* Tombstones die in the order they were made (their time is now + a constant, and capture time
 * only moves forward), so they are taken from a FIFO of fixed-size chunks: no allocation per
 * tombstone, and a chunk is recycled once all its tombstones are gone. Hash chains are doubly
 * linked so that a dying tombstone leaves its chain in O(1).
 *
 * Bounds: at most `max_graves` tombstones (the oldest is forgotten early to make room for a new
 * one), so a flood of short connections cannot grow memory past what --max-flows allows; and the
 * bucket array doubles whenever there are more tombstones than buckets, so chains stay short
 * however many there are (a fixed array made every lookup walk count / buckets of them). */

/* A tombstone keeps no address: a 64-bit seeded fingerprint of the 4-tuple besides its 32-bit
 * hash (two unrelated seeded functions: a false match needs both to collide), 40 bytes in all. */
struct tombstone {
	uint64_t fingerprint;
	int64_t until_ns;
	struct tombstone *next;
	struct tombstone **pprev;
	uint32_t hash;
	bool dead;               /* removed: no longer found, released when its time is up */
	uint8_t time_wait;       /* enum closer_side: who held the connection's TIME-WAIT */
	uint16_t last_cs;        /* until_ns - the connection's last segment, in 10 ms, saturating
	                            (these two fill what was padding: still 40 bytes) */
};
_Static_assert(sizeof(struct tombstone) <= 40, "a tombstone grew");

#define GRAVE_BUCKETS_MIN 4096u /* 32 KiB, allocated with the first tombstone; then doubling */
#define GRAVE_CHUNK 1024u

struct grave_chunk {
	struct grave_chunk *next;
	unsigned used;           /* tombstones handed out */
	unsigned gone;           /* tombstones released, from the front */
	struct tombstone items[GRAVE_CHUNK];
};

struct graveyard {
	struct tombstone **buckets;
	size_t mask;               /* buckets - 1, a power of two minus one */
	struct grave_chunk *head;  /* oldest tombstones */
	struct grave_chunk *tail;  /* where new ones go */
	struct grave_chunk *spare; /* one released chunk kept for reuse */
	size_t count;
};

static struct graveyard *graveyard(struct flow_table *t)
{
	struct graveyard *g;

	if (t->graves)
		return t->graves;
	g = calloc(1, sizeof *g);
	if (g)
		g->buckets = calloc(GRAVE_BUCKETS_MIN, sizeof *g->buckets);
	if (!g || !g->buckets) {
		free(g);
		return NULL;
	}
	g->mask = GRAVE_BUCKETS_MIN - 1;
	t->graves = g;
	return g;
}

static void grave_link(struct tombstone **b, struct tombstone *s)
{
	s->next = *b;
	if (*b)
		(*b)->pprev = &s->next;
	s->pprev = b;
	*b = s;
}

/* Doubles the bucket array and moves every tombstone still in a chain (those from the oldest
 * chunk's first unreleased one on) over. On allocation failure the array stays: lookups stay
 * right, chains get longer. */
static void grave_grow(struct graveyard *g)
{
	size_t n = (g->mask + 1) * 2;
	struct tombstone **b = n > g->mask + 1 ? calloc(n, sizeof *b) : NULL;

	if (!b)
		return;
	for (struct grave_chunk *c = g->head; c; c = c->next)
		for (unsigned i = c->gone; i < c->used; i++)
			grave_link(&b[c->items[i].hash & (n - 1)], &c->items[i]);
	free(g->buckets);
	g->buckets = b;
	g->mask = n - 1;
}

/* Releases the oldest tombstone (the head of the FIFO); there must be one. */
static void grave_release_oldest(struct graveyard *g)
{
	struct grave_chunk *c = g->head;
	struct tombstone *s = &c->items[c->gone++];

	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	g->count--;
	if (c->gone == GRAVE_CHUNK) {
		g->head = c->next;
		if (!g->head)
			g->tail = NULL;
		if (g->spare)
			free(c);
		else
			g->spare = c;
	}
}

static struct tombstone *grave_alloc(struct graveyard *g)
{
	struct grave_chunk *c = g->tail;

	if (!c || c->used == GRAVE_CHUNK) {
		c = g->spare ? g->spare : malloc(sizeof *c);
		if (!c)
			return NULL;
		g->spare = NULL;
		c->next = NULL;
		c->used = c->gone = 0;
		if (g->tail)
			g->tail->next = c;
		else
			g->head = c;
		g->tail = c;
	}
	return &c->items[c->used++];
}

int flow_table_bury(struct flow_table *t, const struct flow *f, int64_t until_ns)
{
	struct graveyard *g = graveyard(t);
	struct tombstone *s;

	if (!g)
		return -1;
	if (t->max_graves && g->count >= t->max_graves && g->count > 0)
		grave_release_oldest(g);
	s = grave_alloc(g);
	if (!s)
		return -1;
	s->fingerprint = fingerprint(t, &f->ep[0].addr, f->ep[0].port, &f->ep[1].addr, f->ep[1].port);
	s->until_ns = until_ns;
	s->hash = f->hash;
	s->dead = false;
	s->time_wait = (uint8_t)flow_time_wait_side(f);
	s->last_cs = until_ns - f->last_ts_ns >= 65535LL * 10000000 || until_ns < f->last_ts_ns
	                 ? UINT16_MAX
	                 : (uint16_t)((until_ns - f->last_ts_ns) / 10000000);
	grave_link(&g->buckets[f->hash & g->mask], s);
	g->count++;
	if (g->count > g->mask + 1)
		grave_grow(g);
	return 0;
}


bool flow_table_grave(struct flow_table *t, const struct tcp_segment *seg, uint32_t hash,
                      bool remove, struct grave_info *info)
{
	struct graveyard *g = t->graves;
	uint64_t fp;

	if (!g)
		return false;
	fp = fingerprint(t, &seg->src, seg->sport, &seg->dst, seg->dport);
	for (struct tombstone *s = g->buckets[hash & g->mask]; s; s = s->next) {
		if (s->hash != hash || s->fingerprint != fp || s->dead)
			continue;
		if (info) {
			info->last_ts_ns = s->until_ns - (int64_t)s->last_cs * 10000000;
			info->time_wait = (enum closer_side)s->time_wait;
		}
		if (remove)
			s->dead = true;
		return true;
	}
	return false;
}

void flow_table_expire_graves(struct flow_table *t, int64_t now_ns)
{
	struct graveyard *g = t->graves;
	struct grave_chunk *c;

	while (g && (c = g->head) && c->gone < c->used && c->items[c->gone].until_ns < now_ns)
		grave_release_oldest(g);
}

void flow_table_limit_graves(struct flow_table *t, size_t max)
{
	t->max_graves = max;
	while (max && t->graves && t->graves->count > max)
		grave_release_oldest(t->graves);
}

size_t flow_table_graves(const struct flow_table *t)
{
	return t->graves ? t->graves->count : 0;
}

static void graveyard_free(struct graveyard *g)
{
	if (!g)
		return;
	for (struct grave_chunk *c = g->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(g->spare);
	free(g->buckets);
	free(g);
}
