/* digest.c - the readable summaries' running tallies (digest.h). */
#include "digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "diagnosis_text.h"
#include "mix64.h"

bool class_is_noteworthy(enum close_class c)
{
	return c != CLOSE_FIN_GRACEFUL && c != CLOSE_FIN_SIMULTANEOUS && c != CLOSE_OPEN_AT_END &&
	       c != CLOSE_IDLE_AT_END;
}

bool class_is_reset(enum close_class c)
{
	return c == CLOSE_RST_UNREAD_DATA || c == CLOSE_RST_ABORT || c == CLOSE_RST_AFTER_CLOSE ||
	       c == CLOSE_RST_PEER_RESTARTED || c == CLOSE_RST_REFUSED;
}

/* --- reset sources ---------------------------------------------------------------------------- */

/* Sources are counted in a fixed table: a min-heap of DIGEST_RESET_SOURCES entries by count, found
 * through a hash of RESET_SLOTS slots (linear probing, at most half full) keyed with a random
 * key, so crafted addresses cannot pile up in one probe run. Up to DIGEST_RESET_SOURCES distinct
 * sources every count is exact. Past that, Space-Saving (Metwally, Agrawal, El Abbadi,
 * "Efficient Computation of Frequent and Top-k Elements in Data Streams", ICDT 2005): a new
 * source takes the place of the least counted one and inherits its count as a possible
 * overestimate (`error`), so no count is ever too low and every source behind more than
 * 1/DIGEST_RESET_SOURCES of the resets is still in the table. */
#define RESET_SLOTS (2u * DIGEST_RESET_SOURCES)

static uint32_t reset_home(const struct digest *d, const struct ip_addr *a, uint16_t port,
                           uint8_t role)
{
	uint64_t w[2];

	memcpy(w, a->bytes, sizeof w);
	return (uint32_t)(mix64(mix64(mix64(d->reset_key ^ w[0]) ^ w[1]) ^
	                         ((uint64_t)a->family << 24 | (uint64_t)role << 16 | port)) &
	                  (RESET_SLOTS - 1));
}

static bool reset_is(const struct digest_reset *r, const struct ip_addr *a, uint16_t port,
                     uint8_t role)
{
	return r->port == port && r->role == role && r->addr.family == a->family &&
	       memcmp(r->addr.bytes, a->bytes, sizeof a->bytes) == 0;
}

/* Heap index of the source, or -1. */
static long reset_find(const struct digest *d, const struct ip_addr *a, uint16_t port, uint8_t role)
{
	for (uint32_t i = reset_home(d, a, port, role);; i = (i + 1) & (RESET_SLOTS - 1)) {
		uint32_t e = d->reset_slots[i];

		if (e == 0)
			return -1;
		if (reset_is(&d->resets[e - 1], a, port, role))
			return (long)e - 1;
	}
}

static void slot_insert(struct digest *d, size_t idx)
{
	const struct digest_reset *r = &d->resets[idx];
	uint32_t i = reset_home(d, &r->addr, r->port, r->role);

	while (d->reset_slots[i] != 0)
		i = (i + 1) & (RESET_SLOTS - 1);
	d->reset_slots[i] = (uint32_t)idx + 1;
	d->resets[idx].slot = i;
}

/* Linear-probing deletion by backward shift (Knuth, TAOCP vol. 3, 6.4 Algorithm R): entries
 * after the hole that could live in it move up, so no probe run is ever cut. */
static void slot_delete(struct digest *d, uint32_t hole)
{
	uint32_t j = hole;

	d->reset_slots[hole] = 0;
	for (;;) {
		const struct digest_reset *r;
		uint32_t e, home;

		j = (j + 1) & (RESET_SLOTS - 1);
		e = d->reset_slots[j];
		if (e == 0)
			return;
		r = &d->resets[e - 1];
		home = reset_home(d, &r->addr, r->port, r->role);
		/* Leave it if its home lies cyclically in (hole, j]. */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		d->reset_slots[hole] = e;
		d->resets[e - 1].slot = hole;
		d->reset_slots[j] = 0;
		hole = j;
	}
}

/* Restores the min-heap below `i` after its count grew; keeps the slots pointing right. */
static void reset_sift_down(struct digest *d, size_t i)
{
	struct digest_reset *h = d->resets;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct digest_reset t;

		if (l < d->n_resets && h[l].count < h[m].count)
			m = l;
		if (r < d->n_resets && h[r].count < h[m].count)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		d->reset_slots[h[i].slot] = (uint32_t)i + 1;
		d->reset_slots[h[m].slot] = (uint32_t)m + 1;
		i = m;
	}
}

static int count_reset(struct digest *d, const struct flow_endpoint *e, uint8_t role)
{
	uint16_t port = role == FROM_SERVER ? e->port : 0;
	long found;

	if (d->resets == NULL) {
		d->resets = calloc(DIGEST_RESET_SOURCES, sizeof *d->resets);
		d->reset_slots = calloc((size_t)RESET_SLOTS, sizeof *d->reset_slots);
		if (d->resets == NULL || d->reset_slots == NULL) {
			free(d->resets);
			free(d->reset_slots);
			d->resets = NULL;
			d->reset_slots = NULL;
			errno = ENOMEM;
			return -1;
		}
		/* The key only spreads sources over slots (nothing printed depends on it); without
		 * kernel randomness yet, the time and an address are still out of a capture's reach. */
		if (getrandom(&d->reset_key, sizeof d->reset_key, GRND_NONBLOCK) != sizeof d->reset_key)
			d->reset_key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)d;
	}
	found = reset_find(d, &e->addr, port, role);
	if (found >= 0) {
		d->resets[found].count++;
		reset_sift_down(d, (size_t)found);
		return 0;
	}
	if (d->n_resets < DIGEST_RESET_SOURCES) {
		/* A count of 1 is the least there is: the new entry rises to where 1s are. */
		size_t i = d->n_resets++, parent;

		while (i > 0 && d->resets[parent = (i - 1) / 2].count > 1) {
			d->resets[i] = d->resets[parent];
			d->reset_slots[d->resets[i].slot] = (uint32_t)i + 1;
			i = parent;
		}
		d->resets[i] = (struct digest_reset){ .addr = e->addr, .port = port, .role = role,
		                                      .count = 1 };
		slot_insert(d, i);
		return 0;
	}
	/* Space-Saving: the least counted source makes way; the newcomer inherits its count. */
	d->resets_overflowed = true;
	slot_delete(d, d->resets[0].slot);
	d->resets[0].addr = e->addr;
	d->resets[0].port = port;
	d->resets[0].role = role;
	d->resets[0].error = d->resets[0].count;
	d->resets[0].count++;
	slot_insert(d, 0);
	reset_sift_down(d, 0);
	return 0;
}

/* --- noteworthy -------------------------------------------------------------------------------- */

static void keep_noteworthy(struct digest *d, const struct flow_record *f)
{
	struct digest_flow *n;

	d->n_noteworthy++;
	if (d->n_kept < DIGEST_NOTEWORTHY) {
		n = &d->noteworthy[d->n_kept++];
	} else {
		/* Full: replace the highest id if this one is lower, so the lowest ids stay whatever
		 * order flows finish in. */
		n = &d->noteworthy[0];
		for (unsigned i = 1; i < DIGEST_NOTEWORTHY; i++) {
			if (d->noteworthy[i].id > n->id)
				n = &d->noteworthy[i];
		}
		if (f->id >= n->id)
			return;
	}
	*n = (struct digest_flow){ .id = f->id, .client = f->client, .server = f->server,
		                   .close_class = f->close_class, .closer = f->closer,
		                   .reason = f->reason, .diagnosis = f->diagnosis };
}

/* --- closes ------------------------------------------------------------------------------------ */

bool digest_close_of(const struct flow_record *r, struct digest_close *out)
{
	const struct evidence_frame *first = NULL, *second = NULL;

	if (r->close_class != CLOSE_FIN_GRACEFUL && r->close_class != CLOSE_FIN_SIMULTANEOUS)
		return false;
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if (!(e->flags & TCP_FIN))
			continue;
		if (!first || e->ts_ns < first->ts_ns)
			first = e;
	}
	if (!first)
		return false;
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if ((e->flags & TCP_FIN) && e->from != first->from)
			second = e;
	}
	memset(out, 0, sizeof *out);
	out->id = r->id;
	out->client = r->client;
	out->server = r->server;
	out->close_class = r->close_class;
	out->first = first->from;
	out->start_ns = first->ts_ns;
	out->end_ns = first->ts_ns;
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++)
		if (r->evidence[i].ts_ns > out->end_ns)
			out->end_ns = r->evidence[i].ts_ns;
	out->wait_ns = second ? second->ts_ns - first->ts_ns : 0;
	return true;
}

static void keep_slow(struct digest *d, const struct digest_close *c)
{
	int64_t span = c->end_ns - c->start_ns;
	unsigned k;

	d->n_closes++;
	if (d->n_slow < DIGEST_SLOW) {
		d->slow[d->n_slow++] = *c;
		return;
	}
	k = 0;
	for (unsigned i = 1; i < DIGEST_SLOW; i++)
		if (d->slow[i].end_ns - d->slow[i].start_ns < d->slow[k].end_ns - d->slow[k].start_ns)
			k = i;
	if (span > d->slow[k].end_ns - d->slow[k].start_ns)
		d->slow[k] = *c;
}

/* --- stuck half-closed -------------------------------------------------------------------------- */

bool digest_stuck_of(const struct flow_record *r, struct digest_stuck *out)
{
	int waiting = -1;

	if (class_is_reset(r->close_class))
		return false;
	for (int k = FROM_CLIENT; k <= FROM_SERVER; k++)
		if (r->state[k] == TCPS_CLOSE_WAIT)
			waiting = k;
	if (waiting < 0)
		return false;
	memset(out, 0, sizeof *out);
	out->id = r->id;
	out->client = r->client;
	out->server = r->server;
	out->waiting = (uint8_t)waiting;
	out->fin_ns = r->has_close_ts ? r->close_ts_ns : r->last_ts_ns;
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if ((e->flags & TCP_FIN) && e->from != waiting) {
			out->fin_ns = e->ts_ns;
			out->fin_frame = e->frame;
			break;
		}
	}
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if (e->from == waiting && e->len > 0 && e->ts_ns > out->fin_ns)
			out->sent_after_fin = true;
	}
	return true;
}

static int keep_stuck(struct digest *d, const struct digest_stuck *s)
{
	if (d->n_stuck == d->stuck_cap) {
		size_t cap = d->stuck_cap ? d->stuck_cap * 2 : 64;
		int64_t *p;

		if (cap > SIZE_MAX / sizeof *p || !(p = realloc(d->stuck_fin, cap * sizeof *p))) {
			errno = ENOMEM;
			return -1;
		}
		d->stuck_fin = p;
		d->stuck_cap = cap;
	}
	d->stuck_fin[d->n_stuck++] = s->fin_ns;
	if (d->n_stuck_kept < DIGEST_STUCK) {
		d->stuck[d->n_stuck_kept++] = *s;
		return 0;
	}
	unsigned k = 0;
	for (unsigned i = 1; i < DIGEST_STUCK; i++)
		if (d->stuck[i].fin_ns > d->stuck[k].fin_ns)
			k = i;
	if (s->fin_ns < d->stuck[k].fin_ns)
		d->stuck[k] = *s;
	return 0;
}

int digest_add(struct digest *d, const struct flow_record *r)
{
	struct digest_close c;
	struct digest_stuck s;
	int rc = 0;

	if (class_is_noteworthy(r->close_class) || diagnosis_noteworthy(&r->diagnosis))
		keep_noteworthy(d, r);
	if (class_is_reset(r->close_class)) {
		if ((r->closer == CLOSER_CLIENT || r->closer == CLOSER_BOTH) &&
		    count_reset(d, &r->client, FROM_CLIENT) != 0)
			rc = -1;
		if ((r->closer == CLOSER_SERVER || r->closer == CLOSER_BOTH) &&
		    count_reset(d, &r->server, FROM_SERVER) != 0)
			rc = -1;
	}
	if (digest_close_of(r, &c))
		keep_slow(d, &c);
	if (digest_stuck_of(r, &s) && keep_stuck(d, &s) != 0)
		rc = -1;
	return rc;
}

/* --- the end ----------------------------------------------------------------------------------- */

static int by_id(const void *pa, const void *pb)
{
	const struct digest_flow *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

static int by_count_then_endpoint(const void *pa, const void *pb)
{
	const struct digest_reset *a = pa, *b = pb;
	int c;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->addr.family != b->addr.family)
		return a->addr.family < b->addr.family ? -1 : 1;
	if ((c = memcmp(a->addr.bytes, b->addr.bytes, sizeof a->addr.bytes)) != 0)
		return c;
	if (a->role != b->role)
		return a->role < b->role ? -1 : 1;
	return (a->port > b->port) - (a->port < b->port);
}

static int by_span(const void *pa, const void *pb)
{
	const struct digest_close *a = pa, *b = pb;
	int64_t x = a->end_ns - a->start_ns, y = b->end_ns - b->start_ns;

	if (x != y)
		return x > y ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int by_fin(const void *pa, const void *pb)
{
	const struct digest_stuck *a = pa, *b = pb;

	if (a->fin_ns != b->fin_ns)
		return a->fin_ns < b->fin_ns ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

void digest_finish(struct digest *d, const struct run_summary *s, int64_t close_wait_ns)
{
	qsort(d->noteworthy, d->n_kept, sizeof d->noteworthy[0], by_id);
	/* The heap sorted in place: no longer a heap, nor reachable through the slots. */
	if (d->n_resets)
		qsort(d->resets, d->n_resets, sizeof *d->resets, by_count_then_endpoint);
	d->resets_error = 0;
	for (size_t i = 0; i < d->n_resets && i < DIGEST_TOP_RESETS; i++)
		if (d->resets[i].error > d->resets_error)
			d->resets_error = d->resets[i].error;
	qsort(d->slow, d->n_slow, sizeof d->slow[0], by_span);
	qsort(d->stuck, d->n_stuck_kept, sizeof d->stuck[0], by_fin);

	d->capture_end_ns = s->last_ts_ns;
	d->n_stuck_over = 0;
	for (size_t i = 0; i < d->n_stuck; i++)
		if (s->last_ts_ns - d->stuck_fin[i] > close_wait_ns)
			d->n_stuck_over++;
	/* Keep only the kept ones over the threshold (they are the longest, sorted). */
	unsigned k = 0;
	for (unsigned i = 0; i < d->n_stuck_kept; i++)
		if (s->last_ts_ns - d->stuck[i].fin_ns > close_wait_ns)
			d->stuck[k++] = d->stuck[i];
	d->n_stuck_kept = k;
}

void digest_free(struct digest *d)
{
	free(d->resets);
	free(d->reset_slots);
	free(d->stuck_fin);
	memset(d, 0, sizeof *d);
}
