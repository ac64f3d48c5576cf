/* encap_table.c - shared descriptions of outer-layer stacks (contract: encap_table.h).
 *
 * A stack is interned by its text (innermost layer first, one line per layer), so that what does
 * not show in reports does not make two descriptions (a GRE sequence number changes with every
 * packet). Descriptions live in chunks of CHUNK entries that never move; an open-addressing index
 * of ids, used by the reading thread only, finds a text again. The last stack interned is kept
 * (binary) so that a run of packets of one tunnel is not formatted again each time.
 */
#include "encap_table.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SHIFT 8
#define CHUNK (1u << CHUNK_SHIFT)
/* ids 1..ENCAP_TABLE_MAX, and one more for the description that says the table is full */
#define N_CHUNKS ((ENCAP_TABLE_MAX + 1 + CHUNK) / CHUNK)

_Static_assert(FLOW_ENCAP_MAX == ENCAP_MAX_LAYERS, "a description holds every layer");

struct entry {
	struct flow_encap desc;
	char *text;          /* the layers' texts, each NUL-terminated, innermost first */
	size_t text_len;
	uint64_t hash;
};

struct encap_table {
	struct entry *chunks[N_CHUNKS];
	uint32_t count;      /* ids in use: 1..count */
	uint32_t *index;     /* ids by hash of their text, 0: empty */
	uint32_t index_mask;
	uint32_t full_id;    /* the "not recorded" description, once needed */
	struct encap_stack last;
	uint32_t last_id;
	/* Several reading threads may intern at once (analyzer/engine/readers.c): everything above
	 * but the published descriptions is kept under this lock. Only segments in a tunnel take
	 * it. */
	pthread_mutex_t lock;
};

static struct entry *entry_at(const struct encap_table *t, uint32_t id)
{
	return &t->chunks[(id - 1) >> CHUNK_SHIFT][(id - 1) & (CHUNK - 1)];
}

/* FNV-1a: the texts are short and come from the reading thread only. */
static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

/* Same layer as far as the description goes (a GRE sequence number does not show). */
static bool layer_same(const struct encap_layer *a, const struct encap_layer *b)
{
	return a->kind == b->kind && a->flags == b->flags && a->port == b->port && a->id == b->id &&
	       (a->kind != ENCAP_GENEVE || a->id2 == b->id2) &&
	       memcmp(&a->src, &b->src, sizeof a->src) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof a->dst) == 0;
}

static bool stack_same(const struct encap_stack *a, const struct encap_stack *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (!layer_same(&a->layer[i], &b->layer[i]))
			return false;
	return true;
}

struct encap_table *encap_table_create(void)
{
	struct encap_table *t = calloc(1, sizeof *t);

	if (t && pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void encap_table_destroy(struct encap_table *t)
{
	if (!t)
		return;
	for (uint32_t id = 1; id <= t->count; id++)
		free(entry_at(t, id)->text);
	for (unsigned c = 0; c < N_CHUNKS; c++)
		free(t->chunks[c]);
	free(t->index);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int index_grow(struct encap_table *t)
{
	uint32_t n = t->index ? (t->index_mask + 1) * 2 : 64;
	uint32_t *idx = calloc(n, sizeof *idx);

	if (!idx)
		return -1;
	for (uint32_t id = 1; id <= t->count; id++) {
		uint32_t b = (uint32_t)entry_at(t, id)->hash & (n - 1);

		while (idx[b])
			b = (b + 1) & (n - 1);
		idx[b] = id;
	}
	free(t->index);
	t->index = idx;
	t->index_mask = n - 1;
	return 0;
}

/* A new description of `n` layers whose texts are `text` (text_len bytes, NULs between). */
static uint32_t add(struct encap_table *t, const char *text, size_t text_len, unsigned n,
                    uint64_t hash)
{
	uint32_t id = t->count + 1;
	unsigned c = (id - 1) >> CHUNK_SHIFT;
	struct entry *e;
	char *copy;

	if (!t->chunks[c] && !(t->chunks[c] = calloc(CHUNK, sizeof(struct entry))))
		return 0;
	copy = malloc(text_len);
	if (!copy)
		return 0;
	memcpy(copy, text, text_len);
	e = entry_at(t, id);
	e->text = copy;
	e->text_len = text_len;
	e->hash = hash;
	e->desc.n = n;
	for (unsigned i = 0, off = 0; i < n; i++) {
		e->desc.layer[i] = copy + off;
		off += (unsigned)strlen(copy + off) + 1;
	}
	t->count = id;
	return id;
}

static uint32_t intern_locked(struct encap_table *t, const struct encap_stack *s)
{
	char text[ENCAP_MAX_LAYERS * ENCAP_TEXT_MAX];
	size_t len = 0;
	uint64_t hash;
	uint32_t b, id;

	if (s->n == 0)
		return 0;
	if (t->last_id && stack_same(s, &t->last))
		return t->last_id;
	for (unsigned i = s->n; i-- > 0;) { /* innermost first */
		int k = encap_layer_format(&s->layer[i], text + len, ENCAP_TEXT_MAX);

		len += (k > 0 && k < ENCAP_TEXT_MAX ? (size_t)k : ENCAP_TEXT_MAX - 1) + 1;
	}
	hash = text_hash(text, len);
	if (t->index) {
		for (b = (uint32_t)hash & t->index_mask; (id = t->index[b]) != 0;
		     b = (b + 1) & t->index_mask) {
			const struct entry *e = entry_at(t, id);

			if (e->hash == hash && e->text_len == len && memcmp(e->text, text, len) == 0)
				goto found;
		}
	}
	if (t->count >= ENCAP_TABLE_MAX) {
		static const char full[] = "not recorded: more distinct encapsulations than "
		                           "the 65536 a run describes";

		if (!t->full_id)
			t->full_id = add(t, full, sizeof full, 1, 0);
		return t->full_id;
	}
	/* Keep the index at most half full. */
	if ((!t->index || t->count + 1 > (t->index_mask + 1) / 2) && index_grow(t) != 0)
		return 0;
	id = add(t, text, len, s->n, hash);
	if (!id)
		return 0;
	for (b = (uint32_t)hash & t->index_mask; t->index[b]; b = (b + 1) & t->index_mask)
		;
	t->index[b] = id;
found:
	t->last = *s;
	t->last_id = id;
	return id;
}

uint32_t encap_table_intern(struct encap_table *t, const struct encap_stack *s)
{
	uint32_t id;

	if (s->n == 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	id = intern_locked(t, s);
	pthread_mutex_unlock(&t->lock);
	return id;
}

const struct flow_encap *encap_table_get(const struct encap_table *t, uint32_t id)
{
	if (id == 0) /* no check against count: another thread may be adding (see the header) */
		return NULL;
	return &entry_at(t, id)->desc;
}

uint32_t encap_table_count(const struct encap_table *t)
{
	return t->count;
}
