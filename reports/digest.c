/* digest.c - the readable summaries' running tallies (digest.h). */
#include "digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_text.h"

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

static size_t reset_hash(const struct ip_addr *a, uint16_t port, uint8_t role)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */

	h = (h ^ a->family) * 1099511628211u;
	for (unsigned i = 0; i < sizeof a->bytes; i++)
		h = (h ^ a->bytes[i]) * 1099511628211u;
	h = (h ^ (port & 0xFF)) * 1099511628211u;
	h = (h ^ (port >> 8)) * 1099511628211u;
	h = (h ^ role) * 1099511628211u;
	return (size_t)h;
}

static bool reset_is(const struct digest_reset *r, const struct ip_addr *a, uint16_t port,
                     uint8_t role)
{
	return r->port == port && r->role == role && r->addr.family == a->family &&
	       memcmp(r->addr.bytes, a->bytes, sizeof a->bytes) == 0;
}

static struct digest_reset *reset_slot(struct digest_reset *table, size_t cap,
                                       const struct ip_addr *a, uint16_t port, uint8_t role)
{
	size_t i = reset_hash(a, port, role) & (cap - 1);

	while (table[i].count != 0 && !reset_is(&table[i], a, port, role))
		i = (i + 1) & (cap - 1);
	return &table[i];
}

static int count_reset(struct digest *d, const struct flow_endpoint *e, uint8_t role)
{
	uint16_t port = role == FROM_SERVER ? e->port : 0;
	struct digest_reset *slot;

	if (d->n_resets + 1 > d->resets_cap / 4 * 3) {
		size_t cap = d->resets_cap != 0 ? d->resets_cap * 2 : 64;
		struct digest_reset *table;

		if (cap > SIZE_MAX / sizeof *table || (table = calloc(cap, sizeof *table)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		for (size_t i = 0; i < d->resets_cap; i++) {
			const struct digest_reset *r = &d->resets[i];

			if (r->count != 0)
				*reset_slot(table, cap, &r->addr, r->port, r->role) = *r;
		}
		free(d->resets);
		d->resets = table;
		d->resets_cap = cap;
	}
	slot = reset_slot(d->resets, d->resets_cap, &e->addr, port, role);
	if (slot->count == 0) {
		slot->addr = e->addr;
		slot->port = port;
		slot->role = role;
		d->n_resets++;
	}
	slot->count++;
	return 0;
}

/* --- noteworthy -------------------------------------------------------------------------------- */

static void keep_noteworthy(struct digest *d, const struct flow_record *f)
{
	struct digest_flow *n;
	size_t len;

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
	n->id = f->id;
	n->client = f->client;
	n->server = f->server;
	n->close_class = f->close_class;
	n->closer = f->closer;
	len = strnlen(f->reason, sizeof f->reason - 1);
	memcpy(n->reason, f->reason, len);
	n->reason[len] = '\0';
	n->diagnosis = f->diagnosis;
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
	size_t n = 0;

	qsort(d->noteworthy, d->n_kept, sizeof d->noteworthy[0], by_id);
	for (size_t i = 0; i < d->resets_cap; i++)
		if (d->resets && d->resets[i].count != 0)
			d->resets[n++] = d->resets[i];
	if (n)
		qsort(d->resets, n, sizeof *d->resets, by_count_then_endpoint);
	d->n_resets = n;
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
	free(d->stuck_fin);
	memset(d, 0, sizeof *d);
}
