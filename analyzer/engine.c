/* engine.c - frames to flows to records. The expiry rules are in engine.h. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "flow_table.h"
#include "tracker.h"

struct file_counts {
	uint64_t frames;
	uint64_t bytes;
	uint64_t tcp_segments;
	uint64_t skipped[DISSECT_RESULT_COUNT];
};

struct engine {
	struct engine_options opt;
	struct writer *out;
	struct flow_table *table;
	unsigned n_files;
	struct file_counts *files;
	uint64_t frames;
	uint64_t flows_reported;
	uint64_t evicted;
	uint64_t expired;
	uint64_t dropped;
	uint64_t late_segments;
	uint64_t peak_flows;
	int64_t first_ts_ns;
	int64_t now_ns; /* latest timestamp seen: capture time never runs backwards here */
	bool any_nano;
	bool write_failed;
	uint64_t by_class[CLOSE_CLASS_COUNT][CLOSER_COUNT];
	struct flow_record record; /* reused for every finished flow */
};

struct engine *engine_create(const struct engine_options *opt, struct writer *out, unsigned n_files)
{
	struct engine *e = calloc(1, sizeof *e);

	if (!e)
		return NULL;
	e->opt = *opt;
	if (e->opt.expire_ns <= 0)
		e->opt.expire_ns = DEFAULT_EXPIRE_NS;
	if (e->opt.expire_ns < e->opt.idle_ns)
		e->opt.expire_ns = e->opt.idle_ns;
	e->out = out;
	e->n_files = n_files;
	e->files = calloc(n_files ? n_files : 1, sizeof *e->files);
	e->table = flow_table_create(opt->hash_seed);
	if (!e->files || !e->table) {
		engine_destroy(e);
		return NULL;
	}
	return e;
}

/* Classifies `f`, hands it to the writer (if the user asked for it), and frees it. A flow
 * finished before the end of the capture leaves a tombstone. */
static void finish_flow(struct engine *e, struct flow *f, uint32_t extra_modifiers, bool bury)
{
	struct flow_record *rec = &e->record;
	struct classify_context ctx = { .capture_end_ns = e->now_ns, .idle_ns = e->opt.idle_ns,
	                                .close_wait_ns = e->opt.close_wait_ns };

	flow_table_remove(e->table, f);
	if (bury)
		flow_table_bury(e->table, f, e->now_ns + TOMBSTONE_NS); /* best effort */
	classify_flow(f, &ctx, rec);
	rec->modifiers |= extra_modifiers;
	flow_free(f);

	if (e->opt.only_flow && rec->id != e->opt.only_flow)
		return;
	if (e->opt.class_mask && !(e->opt.class_mask & (1u << rec->close_class)))
		return;
	e->flows_reported++;
	e->by_class[rec->close_class][rec->closer]++;
	if (!e->write_failed && writer_flow(e->out, rec) != 0)
		e->write_failed = true;
}

static void expire(struct engine *e)
{
	struct flow *f;

	while ((f = flow_table_oldest(e->table, FLOW_LIST_FINISHED)) &&
	       e->now_ns - f->last_ts_ns > FINISHED_QUIET_NS)
		finish_flow(e, f, 0, true);
	while ((f = flow_table_oldest(e->table, FLOW_LIST_LIVE)) &&
	       e->now_ns - f->last_ts_ns > e->opt.expire_ns) {
		e->expired++;
		finish_flow(e, f, 0, true);
	}
	flow_table_expire_graves(e->table, e->now_ns);
}

/* Makes room for one more flow: a finished flow goes first (it would expire anyway), else the
 * live flow idle the longest, marked evicted. */
static void make_room(struct engine *e)
{
	struct flow *f = flow_table_oldest(e->table, FLOW_LIST_FINISHED);

	if (f) {
		finish_flow(e, f, 0, true);
		return;
	}
	f = flow_table_oldest(e->table, FLOW_LIST_LIVE);
	if (f) {
		e->evicted++;
		finish_flow(e, f, MOD_EVICTED, true);
	}
}

/* A segment no live flow claims: a new connection, or a late segment of a finished one. */
static struct flow *start_flow(struct engine *e, const struct capture_frame *fr,
                               const struct tcp_segment *seg, uint32_t hash, uint32_t modifiers)
{
	bool syn = (seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;
	struct grave_info grave = { 0 };
	bool reuses = false;
	struct flow *f;

	if (flow_table_grave(e->table, seg, hash, syn, &grave)) {
		if (!syn) {
			e->late_segments++;
			return NULL;
		}
		modifiers |= MOD_PORT_REUSE;
		reuses = true;
	}
	if (e->opt.max_flows && flow_table_count(e->table) >= e->opt.max_flows)
		make_room(e);
	f = malloc(sizeof *f);
	if (!f) {
		e->dropped++;
		return NULL;
	}
	flow_init(f, fr->number, seg, capture_file_path(fr->file), capture_file_ts_nano(fr->file));
	f->modifiers |= modifiers;
	if (reuses)
		flow_note_reuse(f, fr->ts_ns - grave.last_ts_ns, grave.time_wait);
	f->hash = hash;
	flow_table_insert(e->table, f); /* a failed grow only lengthens chains */
	if (flow_table_count(e->table) > e->peak_flows)
		e->peak_flows = flow_table_count(e->table);
	return f;
}

int engine_frame(struct engine *e, const struct capture_frame *fr)
{
	struct file_counts *fc = &e->files[fr->file_index];
	struct tcp_segment seg;
	enum dissect_result r;
	struct flow *f;
	uint32_t hash;

	e->frames++;
	fc->frames++;
	fc->bytes += fr->caplen;
	if (e->first_ts_ns == 0 || fr->ts_ns < e->first_ts_ns)
		e->first_ts_ns = fr->ts_ns;
	if (fr->ts_ns > e->now_ns)
		e->now_ns = fr->ts_ns;
	if (capture_file_ts_nano(fr->file))
		e->any_nano = true;

	r = dissect_frame(capture_file_dlt(fr->file), fr->data, fr->caplen, &seg);
	if (r != DISSECT_TCP) {
		fc->skipped[r]++;
		return e->write_failed ? -1 : 0;
	}
	fc->tcp_segments++;

	hash = flow_table_hash(e->table, &seg);
	f = flow_table_find(e->table, &seg, hash);
	if (f && flow_is_reused_by(f, &seg, flow_direction_of(f, &seg))) {
		/* Both connections learn of the reuse: the old one is finished now, without a
		 * tombstone (the new flow takes the 4-tuple), and the new one learns when the old
		 * one went quiet and who held its TIME-WAIT. */
		int64_t old_last = f->last_ts_ns;
		enum closer_side old_time_wait = flow_time_wait_side(f);

		finish_flow(e, f, MOD_PORT_REUSE, false);
		f = start_flow(e, fr, &seg, hash, MOD_PORT_REUSE);
		if (f)
			flow_note_reuse(f, fr->ts_ns - old_last, old_time_wait);
	} else if (!f) {
		f = start_flow(e, fr, &seg, hash, 0);
	}
	if (f) {
		tracker_segment(f, &seg, flow_direction_of(f, &seg), fr->ts_ns, fr->number);
		flow_table_touch(e->table, f, flow_is_finished(f) ? FLOW_LIST_FINISHED : FLOW_LIST_LIVE);
	}
	expire(e);
	return e->write_failed ? -1 : 0;
}

static int by_first_frame(const void *a, const void *b)
{
	uint64_t x = (*(struct flow *const *)a)->first_frame;
	uint64_t y = (*(struct flow *const *)b)->first_frame;

	return (x > y) - (x < y);
}

int engine_finish(struct engine *e)
{
	size_t n = flow_table_count(e->table), i = 0;
	struct flow **all = n ? malloc(n * sizeof *all) : NULL;
	struct flow *f;

	if (n && !all) {
		/* No memory to sort: finish them in activity order instead. */
		while ((f = flow_table_oldest(e->table, FLOW_LIST_FINISHED)) ||
		       (f = flow_table_oldest(e->table, FLOW_LIST_LIVE)))
			finish_flow(e, f, 0, false);
		return e->write_failed ? -1 : 0;
	}
	for (int list = FLOW_LIST_LIVE; list <= FLOW_LIST_FINISHED; list++)
		for (f = flow_table_oldest(e->table, (enum flow_list)list); f; f = f->newer)
			all[i++] = f;
	/* Flows still open at the end are reported in the order they started. */
	qsort(all, i, sizeof *all, by_first_frame);
	for (size_t k = 0; k < i; k++)
		finish_flow(e, all[k], 0, false);
	free(all);
	return e->write_failed ? -1 : 0;
}

void engine_summary(const struct engine *e, const struct capture_set *cs,
                    struct capture_stats *stats, struct run_summary *sum)
{
	unsigned n = capture_set_count(cs);

	memset(sum, 0, sizeof *sum);
	for (unsigned i = 0; i < n && i < e->n_files; i++) {
		const struct capture_file *cf = capture_set_file(cs, i);
		const struct file_counts *fc = &e->files[i];
		struct capture_stats *st = &stats[i];

		memset(st, 0, sizeof *st);
		st->path = capture_file_path(cf);
		st->link_type = dissect_link_name(capture_file_dlt(cf));
		st->ts_nano = capture_file_ts_nano(cf);
		st->frames = fc->frames + capture_file_filtered(cf);
		st->bytes = fc->bytes;
		st->tcp_segments = fc->tcp_segments;
		st->error = capture_file_error(cf);
		for (int r = 0; r < DISSECT_RESULT_COUNT && st->n_skipped < SKIP_REASONS_MAX; r++)
			if (r != DISSECT_TCP && fc->skipped[r])
				st->skipped[st->n_skipped++] =
				    (struct skip_count){ dissect_result_name((enum dissect_result)r), fc->skipped[r] };
		if (capture_file_filtered(cf) && st->n_skipped < SKIP_REASONS_MAX)
			st->skipped[st->n_skipped++] =
			    (struct skip_count){ "filtered", capture_file_filtered(cf) };
	}
	sum->n_captures = n;
	sum->captures = stats;
	sum->frames = e->frames;
	sum->flows = e->flows_reported;
	sum->flows_evicted = e->evicted;
	sum->flows_expired = e->expired;
	sum->peak_flows = e->peak_flows;
	sum->late_segments = e->late_segments;
	sum->first_ts_ns = e->first_ts_ns;
	sum->last_ts_ns = e->now_ns;
	sum->ts_nano = e->any_nano;
	memcpy(sum->by_class, e->by_class, sizeof sum->by_class);
}

uint64_t engine_evicted(const struct engine *e) { return e->evicted; }
uint64_t engine_dropped(const struct engine *e) { return e->dropped; }
uint64_t engine_peak_flows(const struct engine *e) { return e->peak_flows; }

void engine_destroy(struct engine *e)
{
	struct flow *f;

	if (!e)
		return;
	if (e->table) {
		while ((f = flow_table_oldest(e->table, FLOW_LIST_FINISHED)) ||
		       (f = flow_table_oldest(e->table, FLOW_LIST_LIVE))) {
			flow_table_remove(e->table, f);
			flow_free(f);
		}
		flow_table_destroy(e->table);
	}
	free(e->files);
	free(e);
}
