/* seglog.c - bounded per-connection segment logs (seglog.h).
 *
 * A log is one allocation: a header and its entries, in three regions: the head (the first
 * segments, never replaced), the pins (FIN and RST segments that left the ring), and a ring of the
 * last segments, allocated as the connection grows (doubling, up to `tail_cap`) and only wrapped
 * once it has its full size, so growing never has to unwrap it. In capture order the kept entries
 * are head, pins, ring. Each entry counts the segments left out right before it, so dropping the
 * ring's oldest entry adds its count, plus one, to the entry after it. Logs are found by
 * connection id in a chained hash table.
 */
#include "seglog.h"

#include <stdlib.h>
#include <string.h>

#include "live_flow.h"
#include "seq.h"

/* FIN and RST segments kept when they leave the ring (one each way, usually). */
#define PIN_CAP 4

struct raw_seg {
	uint64_t frame;
	int64_t ts_ns;
	uint64_t gap;       /* segments left out right before this one */
	uint64_t gap_bytes;
	uint32_t seq;       /* absolute: made relative when the connection finishes */
	uint32_t ack;
	uint32_t len;
	uint32_t window;
	uint8_t from;
	uint8_t flags;
	uint8_t marks;
};

struct flow_log {
	struct flow_log *next; /* hash chain */
	uint64_t id;
	bool selected;
	bool wrapped;          /* the ring is full and overwrites: it never grows again */
	uint32_t head_cap, tail_cap;
	uint32_t tail_alloc;   /* ring entries allocated so far */
	uint32_t n_head, n_pin, n_tail;
	uint32_t tail_start;   /* oldest ring entry once wrapped */
	uint64_t total;        /* segments seen */
	bool sent_known[2];
	uint32_t sent_end[2];  /* highest sequence number + 1 each side has sent */
	size_t bytes;          /* this allocation's size, for the budget */
	struct raw_seg e[];    /* head_cap, then PIN_CAP, then tail_alloc entries */
};

struct seglog {
	struct seglog_options opt;
	struct flow_selection *sel;
	struct engine_hooks hooks;
	struct flow_log **bucket;
	size_t n_buckets; /* a power of two */
	size_t n_logs;
	size_t bytes;     /* of unselected logs in memory */
	uint64_t unlogged;
	struct flow_log *retired;      /* the log behind the last record handed out */
	struct ladder_seg *out;        /* the last record's segments */
	uint32_t out_cap;
	struct segment_list list;
};

static size_t bucket_of(const struct seglog *sl, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15u) >> 32) & (sl->n_buckets - 1);
}

static struct flow_log **find_slot(struct seglog *sl, uint64_t id)
{
	struct flow_log **p = &sl->bucket[bucket_of(sl, id)];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* Doubles the table when it holds more logs than buckets; a failed grow keeps longer chains. */
static void maybe_grow(struct seglog *sl)
{
	size_t n = sl->n_buckets * 2;
	struct flow_log **b;

	if (sl->n_logs < sl->n_buckets || n > SIZE_MAX / sizeof *b || !(b = calloc(n, sizeof *b)))
		return;
	for (size_t i = 0; i < sl->n_buckets; i++) {
		struct flow_log *l = sl->bucket[i], *next;

		for (; l; l = next) {
			size_t k = (size_t)((l->id * 0x9E3779B97F4A7C15u) >> 32) & (n - 1);

			next = l->next;
			l->next = b[k];
			b[k] = l;
		}
	}
	free(sl->bucket);
	sl->bucket = b;
	sl->n_buckets = n;
}

static size_t log_size(uint32_t head_cap, uint32_t tail_alloc)
{
	return sizeof(struct flow_log) + (size_t)(head_cap + PIN_CAP + tail_alloc) * sizeof(struct raw_seg);
}

static struct raw_seg *ring(struct flow_log *l)
{
	return &l->e[l->head_cap + PIN_CAP];
}

static uint32_t first_tail_alloc(uint32_t tail_cap)
{
	return tail_cap < 4 ? tail_cap : 4;
}

/* Starts the log of flow `id`, whose first segment `seg` travels in direction `d`, if wanted. */
static void start_log(struct seglog *sl, uint64_t id, const struct tcp_segment *seg,
                      enum flow_direction d)
{
	struct flow_endpoint me = { seg->src, seg->sport }, peer = { seg->dst, seg->dport };
	bool selected = sl->sel && flow_selection_matches(sl->sel, id, d == FROM_CLIENT ? &me : &peer,
	                                                  d == FROM_CLIENT ? &peer : &me);
	uint32_t head = selected ? sl->opt.sel_head : sl->opt.head;
	uint32_t tail = selected ? sl->opt.sel_tail : sl->opt.tail;
	uint32_t alloc;
	struct flow_log *l, **slot;

	if (tail == 0)
		tail = 1; /* the last segment is always kept */
	alloc = first_tail_alloc(tail);
	if (!selected && !sl->opt.all)
		return;
	if (!selected && sl->bytes + log_size(head, alloc) > sl->opt.budget) {
		sl->unlogged++;
		return;
	}
	slot = find_slot(sl, id);
	if (*slot) /* an id seen twice would be a bug upstream: keep the first log */
		return;
	l = calloc(1, log_size(head, alloc));
	if (!l) {
		sl->unlogged++;
		return;
	}
	l->id = id;
	l->selected = selected;
	l->head_cap = head;
	l->tail_cap = tail;
	l->tail_alloc = alloc;
	l->bytes = log_size(head, alloc);
	*slot = l;
	sl->n_logs++;
	if (!selected)
		sl->bytes += l->bytes;
	maybe_grow(sl);
}

/* Grows the ring of *pl by doubling, within the budget. False when it cannot. */
static bool grow_ring(struct seglog *sl, struct flow_log **pl)
{
	struct flow_log *l = *pl, *n, **slot;
	uint32_t grown = l->tail_alloc * 2 < l->tail_cap ? l->tail_alloc * 2 : l->tail_cap;
	size_t size = log_size(l->head_cap, grown);

	if (l->wrapped || l->tail_alloc == l->tail_cap)
		return false;
	if (!l->selected && sl->bytes - l->bytes + size > sl->opt.budget)
		return false;
	slot = find_slot(sl, l->id);
	if (!(n = realloc(l, size)))
		return false;
	if (!n->selected)
		sl->bytes = sl->bytes - n->bytes + size;
	n->bytes = size;
	n->tail_alloc = grown;
	*slot = n;
	*pl = n;
	return true;
}

/* Stores `r` as the newest entry of the log. */
static void push(struct seglog *sl, struct flow_log **pl, const struct raw_seg *r)
{
	struct flow_log *l = *pl;
	struct raw_seg *rg, *oldest;

	l->total++;
	if (l->n_head < l->head_cap) {
		l->e[l->n_head++] = *r;
		return;
	}
	if (l->tail_alloc == 0)
		return; /* cannot happen (start_log keeps at least one), but the ring divides by it */
	if (l->n_tail == l->tail_alloc && grow_ring(sl, pl))
		l = *pl;
	rg = ring(l);
	if (l->n_tail < l->tail_alloc) {
		rg[l->n_tail++] = *r;
		return;
	}
	/* Full: the oldest ring entry makes room, pinned when it is a FIN or RST. */
	oldest = &rg[l->tail_start];
	if ((oldest->flags & (TCP_FIN | TCP_RST)) && l->n_pin < PIN_CAP) {
		l->e[l->head_cap + l->n_pin++] = *oldest;
		rg[l->tail_start] = *r;
	} else {
		uint64_t gap = 1 + oldest->gap, bytes = oldest->len + oldest->gap_bytes;
		struct raw_seg *after = l->tail_alloc > 1 ? &rg[(l->tail_start + 1) % l->tail_alloc] : NULL;

		rg[l->tail_start] = *r;
		if (!after)
			after = &rg[l->tail_start];
		after->gap += gap;
		after->gap_bytes += bytes;
	}
	l->tail_start = (l->tail_start + 1) % l->tail_alloc;
	l->wrapped = true;
}

static void on_segment(void *ctx, const struct live_flow *f, const struct tcp_segment *seg,
                       enum flow_direction d, int64_t ts_ns, uint64_t frame, bool first)
{
	struct seglog *sl = ctx;
	struct flow_log **slot, *l;
	uint32_t end;

	if (first)
		start_log(sl, f->first_frame, seg, d);
	if (sl->n_logs == 0 || !*(slot = find_slot(sl, f->first_frame)))
		return;
	l = *slot;

	/* Retransmission: payload or FIN that ends at or below what this side had already sent. */
	uint8_t marks = seg->truncated ? LADDER_TRUNCATED : 0;
	end = seg->seq + seg->payload_len + ((seg->flags & TCP_SYN) ? 1u : 0) +
	      ((seg->flags & TCP_FIN) ? 1u : 0);
	if ((seg->payload_len > 0 || (seg->flags & TCP_FIN)) && !(seg->flags & TCP_RST) &&
	    l->sent_known[d] && seq_le(end, l->sent_end[d]))
		marks |= LADDER_RETRANSMISSION;
	if (!(seg->flags & TCP_RST) && (!l->sent_known[d] || seq_gt(end, l->sent_end[d]))) {
		l->sent_end[d] = end;
		l->sent_known[d] = true;
	}

	struct raw_seg r = {
		.frame = frame,
		.ts_ns = ts_ns,
		.seq = seg->seq,
		.ack = seg->ack,
		.len = seg->payload_len,
		.window = live_scaled_window(f, d, seg), /* this segment's own, a RST's too */
		.from = (uint8_t)d,
		.flags = seg->flags,
		.marks = marks,
	};
	push(sl, slot, &r);
}

static void to_ladder(const struct flow *f, const struct raw_seg *r, struct ladder_seg *o)
{
	const struct flow_dir *me = &f->dir[r->from];
	const struct flow_dir *peer = &f->dir[!r->from];

	/* As classify.c's evidence frames: relative to each side's initial sequence number. */
	o->frame = r->frame;
	o->ts_ns = r->ts_ns;
	o->seq = (me->bits & DIR_SEQ_KNOWN) ? r->seq - me->isn : r->seq;
	o->ack = (r->flags & TCP_ACK) && (peer->bits & DIR_SEQ_KNOWN) ? r->ack - peer->isn : r->ack;
	o->len = r->len;
	o->window = r->window;
	o->from = r->from;
	o->flags = r->flags;
	o->marks = r->marks;
	o->gap = r->gap;
	o->gap_bytes = r->gap_bytes;
}

/* Adds the record's evidence frames that the log left out (they fell in a gap): the ladder must
 * show every frame the conclusion rests on. Where one lands, it is no longer counted in the gap;
 * how the rest of that gap splits around it is not known, so the count stays on the first entry
 * of the run and the entries after it carry LADDER_GAP_SHARED. `out` has room for n + evidence. */
static uint32_t merge_evidence(struct ladder_seg *out, uint32_t n, const struct flow_record *rec)
{
	for (unsigned k = 0; k < rec->n_evidence && k < FLOW_EVIDENCE_MAX; k++) {
		const struct evidence_frame *ev = &rec->evidence[k];
		uint32_t pos = 0, holder;
		struct ladder_seg *h;

		while (pos < n && out[pos].frame < ev->frame)
			pos++;
		if ((pos < n && out[pos].frame == ev->frame) || pos == 0 || pos == n)
			continue; /* kept already, or outside the connection's span */
		/* The entry whose gap counts the segments this one was among. */
		for (holder = pos; holder > 0 && out[holder].gap == 0 &&
		                   (out[holder].marks & LADDER_GAP_SHARED);
		     holder--)
			;
		h = &out[holder];
		if (h->gap == 0)
			continue; /* not in a gap: a frame the log never saw (a bug upstream) */
		h->gap--;
		h->gap_bytes = h->gap_bytes >= ev->len ? h->gap_bytes - ev->len : 0;
		memmove(&out[pos + 1], &out[pos], (n - pos) * sizeof *out);
		n++;
		out[pos] = (struct ladder_seg){
			.frame = ev->frame,
			.ts_ns = ev->ts_ns,
			.seq = ev->seq,
			.ack = ev->ack,
			.len = ev->len,
			.from = ev->from,
			.flags = ev->flags,
			.marks = LADDER_NO_WINDOW,
		};
		if (holder == pos) {
			/* The gap was the next entry's: it moves before this one, and what is left of
			 * it may lie on either side. */
			out[pos].gap = out[pos + 1].gap;
			out[pos].gap_bytes = out[pos + 1].gap_bytes;
			out[pos + 1].gap = 0;
			out[pos + 1].gap_bytes = 0;
			if (out[pos].gap)
				out[pos + 1].marks |= LADDER_GAP_SHARED;
		} else {
			out[pos].marks |= LADDER_GAP_SHARED;
		}
	}
	return n;
}

static void free_log(struct seglog *sl, struct flow_log *l)
{
	if (!l)
		return;
	if (!l->selected)
		sl->bytes -= l->bytes;
	free(l);
}

static bool on_finish(void *ctx, const struct flow *f, struct flow_record *rec)
{
	struct seglog *sl = ctx;
	struct flow_log **slot, *l = NULL;
	bool selected = sl->sel && flow_selection_count(sl->sel, rec->id, &rec->client, &rec->server);

	free_log(sl, sl->retired);
	sl->retired = NULL;
	if (sl->n_logs > 0 && *(slot = find_slot(sl, f->first_frame))) {
		l = *slot;
		*slot = l->next;
		sl->n_logs--;
		sl->retired = l;
	}
	if (l) {
		uint32_t n = l->n_head + l->n_pin + l->n_tail;
		uint32_t room = n + FLOW_EVIDENCE_MAX;
		const struct raw_seg *rg = ring(l);

		if (room > sl->out_cap) {
			struct ladder_seg *o = realloc(sl->out, room * sizeof *o);

			if (o) {
				sl->out = o;
				sl->out_cap = room;
			}
		}
		if (room <= sl->out_cap) {
			uint32_t k = 0;

			for (uint32_t i = 0; i < l->n_head + l->n_pin; i++)
				to_ladder(f, &l->e[i], &sl->out[k++]);
			for (uint32_t i = 0; i < l->n_tail; i++)
				to_ladder(f, &rg[(l->tail_start + i) % l->tail_alloc], &sl->out[k++]);
			sl->list = (struct segment_list){
				.seg = sl->out,
				.n = merge_evidence(sl->out, n, rec),
				.total = l->total,
				.selected = selected,
			};
			rec->segments = &sl->list;
		}
	}
	return !sl->opt.report_only_selected || selected;
}

struct seglog *seglog_create(const struct seglog_options *opt, struct flow_selection *sel)
{
	struct seglog *sl = calloc(1, sizeof *sl);

	if (!sl)
		return NULL;
	sl->opt = *opt;
	sl->sel = sel && sel->n ? sel : NULL;
	sl->n_buckets = 64;
	sl->bucket = calloc(sl->n_buckets, sizeof *sl->bucket);
	if (!sl->bucket) {
		free(sl);
		return NULL;
	}
	sl->hooks = (struct engine_hooks){ .ctx = sl, .segment = on_segment, .finish = on_finish };
	return sl;
}

const struct engine_hooks *seglog_hooks(struct seglog *sl) { return &sl->hooks; }
uint64_t seglog_unlogged(const struct seglog *sl) { return sl->unlogged; }

void seglog_destroy(struct seglog *sl)
{
	if (!sl)
		return;
	for (size_t i = 0; i < sl->n_buckets; i++) {
		struct flow_log *l = sl->bucket[i], *next;

		for (; l; l = next) {
			next = l->next;
			free(l);
		}
	}
	free(sl->retired);
	free(sl->bucket);
	free(sl->out);
	free(sl);
}
