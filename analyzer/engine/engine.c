/* engine.c - frames to flows to records. The expiry rules are in engine.h.
 *
 * The work is split in two: per-frame bookkeeping and dissection (the engine), and flow tracking
 * (a shard: a flow table with its own clock). Single-threaded, one shard does everything, and
 * every record goes to the writer the moment its flow is finished.
 *
 * With --threads N over files read through capture_set_next() (pcapng, compressed, a pipe), N
 * threads in all: the main thread reads and dissects frames into batches and merges the records,
 * N - 1 worker threads each own a shard (flows are assigned by the hash of their 4-tuple).
 * Reading and dissecting through libpcap is the largest single part of the work (about half the
 * instructions), so a thread of its own serves it best; N - 1 workers keep the process at N
 * runnable threads, as many as the user gave it (N workers beside the reader made --threads 2
 * share two cores between three threads, and the reader, the slowest, got two thirds of one).
 * Over classic pcap files, reader threads read and dissect instead (readers.c): the main thread
 * then feeds the batches frames dissected elsewhere (engine_feed.h), merges and writes, and
 * readers.c says how many of the N threads read and how many track. The output is the single-threaded output, byte for byte: every record carries
 * the key that orders it in a single-threaded run,
 *   (frame at which it was finished, phase, frame of the flow's last segment / first segment),
 * phases being, within one frame: 0 finished flows expiring, 1 live flows expiring, 2 a flow
 * finished by the reuse of its 4-tuple, 3 a flow evicted for room; and last, at the end of the
 * capture, 4 the flows left, by first frame. Every worker sees every frame's timestamp, so its
 * clock, and so its expiry, moves exactly as the single shard's would. One difference remains:
 * --max-flows applies per shard (max / (N - 1) each), so which flows are evicted can differ.
 */
#include "engine.h"
#include "engine_feed.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "encap_table.h"
#include "flow_table.h"
#include "live_flow.h"
#include "tracker.h"

enum finish_phase {
	PHASE_EXPIRE_FINISHED = 0,
	PHASE_EXPIRE_LIVE,
	PHASE_REUSE,
	PHASE_EVICT,
	PHASE_END,
};

struct record_key {
	uint64_t frame;
	uint64_t phase;
	uint64_t order;
};

/* A flow a worker finished, waiting for the merge: its key and where its form starts in the
 * buffer's words. The form depends on who classifies (shard.classify_in_merge): its record,
 * packed; or what classifying it needs besides and either the decoded flow, packed, or (`item`)
 * the bytes of its frozen item as they were, when they hold all of it (live_detachable: nearly
 * every connection closed by FINs), for the merging thread to decode. */
struct keyed_record {
	struct record_key key;
	size_t at;
	int64_t end_ns;      /* flow: the worker's clock when it finished it (classify_context) */
	const char *capture; /* item: the name of its capture file (flow_decode_detached) */
	uint32_t modifiers;  /* flow: added to its record's */
	bool item;           /* flow: its frozen item, not decoded */
	bool rare;           /* flow: its flow_rare block follows the flow */
	bool reported;       /* record: false when left out by --class or --flow, seen only by
	                        writer_observe */
};

/* What a worker finished during one batch, in key order, packed. A batch can finish thousands of
 * flows (capture time jumping past the quiet and expiry delays: the sparse end of a capture
 * finished 16k flows in one batch), and a record (1.4 KB) or decoded flow is mostly zero: each is
 * kept as a bitmap of its nonzero 8-byte words followed by those words (pack_words), a flow's
 * rare block likewise after it, byte for byte what was made. */
struct record_buf {
	struct keyed_record *items;
	size_t n, cap;
	uint64_t *words;
	size_t used, words_cap;
};

#define RECORD_WORDS (sizeof(struct flow_record) / sizeof(uint64_t))
#define FLOW_WORDS (sizeof(struct flow) / sizeof(uint64_t))
#define RARE_WORDS (sizeof(struct flow_rare) / sizeof(uint64_t))
#define MASK_WORDS(words) (((words) + 63) / 64)
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
/* The most words a packed record or flow takes. */
#define PACKED_MAX                                                                          \
	MAX2(MASK_WORDS(RECORD_WORDS) + RECORD_WORDS,                                           \
	     MASK_WORDS(FLOW_WORDS) + FLOW_WORDS + MASK_WORDS(RARE_WORDS) + RARE_WORDS)
_Static_assert((LIVE_FROZEN_MIN + (LIVE_FROZEN_CLASSES - 1) * LIVE_FROZEN_STEP + 7) / 8 <=
                   PACKED_MAX && (LIVE_SHORT_ZEEK_BYTES + 7) / 8 <= PACKED_MAX,
               "a frozen item fits where a packed flow does");
_Static_assert(sizeof(struct flow_record) % sizeof(uint64_t) == 0, "a record is whole words");
_Static_assert(sizeof(struct flow) % sizeof(uint64_t) == 0, "a flow is whole words");
_Static_assert(sizeof(struct flow_rare) % sizeof(uint64_t) == 0, "a rare block is whole words");

/* Packs the `words` words at `p` at `out` (room for MASK_WORDS(words) + words); returns the words
 * used. */
static size_t pack_words(const void *p, size_t words, uint64_t *out)
{
	const unsigned char *b = p;
	uint64_t *mask = out, *w = out + MASK_WORDS(words);

	memset(mask, 0, MASK_WORDS(words) * sizeof *mask);
	for (size_t i = 0; i < words; i++) {
		uint64_t v;

		memcpy(&v, b + i * sizeof v, sizeof v);
		if (v) {
			mask[i / 64] |= 1ULL << (i % 64);
			*w++ = v;
		}
	}
	return (size_t)(w - out);
}

/* Unpacks what pack_words() made of `words` words into `p`; returns the words read. */
static size_t unpack_words(const uint64_t *in, size_t words, void *p)
{
	unsigned char *b = p;
	const uint64_t *w = in + MASK_WORDS(words);

	memset(b, 0, words * sizeof *w);
	for (size_t m = 0; m < MASK_WORDS(words); m++)
		for (uint64_t bits = in[m]; bits; bits &= bits - 1)
			memcpy(b + (m * 64 + (size_t)__builtin_ctzll(bits)) * sizeof *w, w++, sizeof *w);
	return (size_t)(w - in);
}

struct shard {
	const struct engine_options *opt;
	struct flow_store store;      /* the shard's flows and their blocks */
	struct flow_table *table;
	uint64_t max_flows;
	int64_t now_ns;
	uint64_t frame;        /* frame being processed: the key of what it finishes */
	uint64_t evicted, expired, dropped, late_segments, peak_flows;
	uint64_t flows_reported;
	uint64_t by_class[CLOSE_CLASS_COUNT][CLOSER_COUNT];
	/* Where finished records go: the writer (single-threaded) or `out` (worker). */
	struct writer *writer;
	bool write_failed;
	struct record_buf out[2];
	/* Worker: its finished flows go to the merge decoded, the merging thread classifies them.
	 * With one worker (--threads 2) that worker was the long pole, and classifying and packing
	 * the record were a seventh of its work (README "Threads"); with more, the merging thread
	 * would become the one that serialises, so they classify. */
	bool classify_in_merge;
	uint32_t *live_after[2];  /* worker: live flows after each item of a batch, per slot */
	unsigned out_slot;
	bool out_failed;       /* no memory for a record: the run fails rather than lose it */
	/* The finished flow that will expire next, and how far warm_next() brought it and what
	 * finishing it touches into the cache. */
	const struct live_flow *next_expiry;
	unsigned next_expiry_stage;
	struct flow_record record;
	struct flow view;             /* the flow being finished, decoded for the classifier */
	struct flow_rare view_rare;
};

struct file_counts {
	uint64_t frames;
	uint64_t bytes;
	uint64_t tcp_segments;
	uint64_t skipped[DISSECT_RESULT_COUNT];
	uint64_t filtered;     /* by the parallel readers (capture.c counts its own) */
};

/* Frames per batch: threaded, a batch is what the workers share out; single-threaded, a short
 * batch lets the flow table fetch the flows of the next frames while this one is tracked. */
#define BATCH_FRAMES 4096
#define SINGLE_BATCH_FRAMES 256
/* Threaded, a batch also ends once it spans this much capture time: the records a worker holds
 * until the merge are those of the flows that finish within one batch, and 4096 frames of a
 * sparse stretch (the end of a capture) spanned seconds, finishing 16k flows at once. */
#define BATCH_SPAN_NS (250LL * 1000000)
/* How many frames ahead the flow table is asked to bring a frame's slots, then its flow into the
 * cache (an uncached bucket and flow were a third of the tracking time). */
#define PREFETCH_BUCKET_AHEAD 16
#define PREFETCH_FLOW_AHEAD 8

/* Consecutive frames of a threaded batch: `n` items `stride` bytes apart from `first`, numbered
 * from `frame0` on. */
struct batch_run {
	const struct batch_item *first;
	uint32_t n;
	uint32_t stride;
	uint64_t frame0;
};

/* Single-threaded, the frames of a batch are reached through `at`, each pointing to its slot of
 * `items`. Threaded, through `runs`: frames dissected here or copied (engine_frame, engine_feed)
 * are in `items`, frames a reader thread dissected are left where they are (engine_feed_ref,
 * engine_feed_run: read by one core less, not copied), and consecutive ones make one run, so
 * that a chunk of a reader thread is handed over whole (the merging thread then does nothing per
 * frame) and a worker knows each frame's number without it being written in the item. */
struct batch {
	unsigned n;            /* frames */
	unsigned cap;
	unsigned n_runs;
	struct batch_run *runs;
	struct batch_item **at;
	struct batch_item items[];
};

struct engine;

struct worker {
	struct engine *e;
	unsigned id;
	pthread_t thread;
	struct shard shard;
};

struct engine {
	struct engine_options opt;
	struct writer *out;
	unsigned n_files;
	struct file_counts *files;
	uint64_t frames;
	int64_t first_ts_ns;
	int64_t now_ns;
	bool any_nano;
	bool write_failed;
	struct encap_table *encaps; /* the outer-layer descriptions, shared by every shard */
	struct encap_stack layers;  /* the current frame's outer layers */
	/* Where every shard's pools take their slabs past the first few: one frontier of huge pages
	 * for the whole engine, not one per pool per shard (pool.h). */
	struct pool_space space;

	/* Single-threaded: frames are tracked a batch at a time, in the calling thread. */
	struct shard *single;
	struct batch *single_batch;

	/* Threaded. */
	unsigned n_workers;         /* started */
	unsigned n_allocated;       /* in `workers` */
	struct worker *workers;
	struct flow_table *hasher;  /* only for its seeded hash, shared by every shard */
	struct batch *batches[2];
	unsigned filling;           /* batch the main thread fills */
	int64_t batch_start_ns;     /* time of the first frame of the batch being filled */
	pthread_mutex_t lock;
	pthread_cond_t go;
	pthread_cond_t done;
	uint64_t peak_flows;        /* threaded: most flows alive at one frame, over all shards */
	uint64_t live_flows;        /* threaded: flows alive after the last batch written */
	uint32_t *live_sum;         /* threaded: flows alive after each frame of a batch, all shards */
	uint64_t generation;        /* batches published */
	uint64_t completed;         /* batches every worker is done with (main thread only) */
	unsigned busy;              /* workers still on the published batch */
	bool stop;
	bool outstanding;           /* a published batch's records are not yet written */
	struct flow_store detached; /* no flows: decodes the workers' items (flow_decode_detached) */
	struct flow merged;         /* the flow being classified and written, unpacked */
	struct flow_rare merged_rare;
	struct flow_record merged_record;
};

/* --- a shard: flows, expiry, finishing ----------------------------------------------------- */

static int shard_init(struct shard *s, const struct engine_options *opt, uint64_t max_flows,
                      struct writer *writer, const struct encap_table *encaps,
                      struct pool_space *space)
{
	memset(s, 0, sizeof *s);
	s->opt = opt;
	s->max_flows = max_flows;
	s->writer = writer;
	flow_store_init(&s->store);
	flow_store_share(&s->store, space);
	s->store.encaps = encaps;
	s->store.skip_zeek = opt->skip_zeek;
	s->table = flow_table_create(opt->hash_seed, &s->store);
	if (s->table)
		flow_table_limit_graves(s->table, max_flows); /* memory within --max-flows */
	return s->table ? 0 : -1;
}

static void shard_free(struct shard *s)
{
	flow_table_destroy(s->table);
	flow_store_destroy(&s->store); /* every flow left goes with it */
	for (int i = 0; i < 2; i++) {
		free(s->out[i].items);
		free(s->out[i].words);
		free(s->live_after[i]);
	}
}

/* A worker: a new entry of its output buffer, with room for it packed. NULL without memory. */
static struct keyed_record *out_entry(struct shard *s, struct record_buf *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct keyed_record *items = realloc(b->items, cap * sizeof *items);

		if (!items) {
			s->out_failed = true;
			return NULL;
		}
		b->items = items;
		b->cap = cap;
	}
	if (b->words_cap - b->used < PACKED_MAX) {
		size_t cap = b->words_cap ? b->words_cap * 2 : 64 * PACKED_MAX;
		uint64_t *words = realloc(b->words, cap * sizeof *words);

		if (!words) {
			s->out_failed = true;
			return NULL;
		}
		b->words = words;
		b->words_cap = cap;
	}
	return &b->items[b->n++];
}

/* A worker: finished flow `view`, decoded, goes to the merge, packed (classify_in_merge). */
static void emit_flow(struct shard *s, const struct flow *view, struct record_key key,
                      uint32_t modifiers)
{
	struct record_buf *b = &s->out[s->out_slot];
	struct keyed_record *kr = out_entry(s, b);

	if (!kr)
		return;
	*kr = (struct keyed_record){ .key = key, .at = b->used, .end_ns = s->now_ns,
	                             .modifiers = modifiers, .rare = view->rare != NULL };
	b->used += pack_words(view, FLOW_WORDS, b->words + b->used);
	if (view->rare)
		b->used += pack_words(view->rare, RARE_WORDS, b->words + b->used);
}

/* A worker: detachable waiting flow `z` (live_detachable) goes to the merge as its item's bytes,
 * to be decoded there (classify_in_merge): the worker skips decoding and packing it, the largest
 * part of finishing a flow. With one worker its records are merged in the order it made them, so
 * their keys are never compared, and the key's order (the flow's last frame, which only decoding
 * tells) is left 0. */
static void emit_item(struct shard *s, const struct live_flow *z, struct record_key key,
                      uint32_t modifiers)
{
	struct record_buf *b = &s->out[s->out_slot];
	struct keyed_record *kr = out_entry(s, b);
	size_t bytes = LIVE_FROZEN_BYTES(z->self);

	if (!kr)
		return;
	*kr = (struct keyed_record){ .key = key, .at = b->used, .end_ns = s->now_ns,
	                             .modifiers = modifiers, .item = true,
	                             .capture = z->capture < s->store.n_captures
	                                            ? s->store.captures[z->capture]
	                                            : NULL };
	memcpy(b->words + b->used, z, bytes);
	b->used += (bytes + sizeof *b->words - 1) / sizeof *b->words;
}

/* A worker: record `rec` goes to the merge, packed. */
static void emit_record(struct shard *s, const struct flow_record *rec, struct record_key key,
                        bool reported)
{
	struct record_buf *b = &s->out[s->out_slot];
	struct keyed_record *kr = out_entry(s, b);

	if (!kr)
		return;
	*kr = (struct keyed_record){ .key = key, .at = b->used, .reported = reported };
	b->used += pack_words(rec, RECORD_WORDS, b->words + b->used);
}

/* Classifies finished flow `view` of shard `s` into *rec, finished when the shard's clock was
 * `end_ns`: true when the user asked for it (--class, --flow, the hooks), and then counted; a
 * flow left out is seen only by writer_observe (the incidents detector sees every connection). */
static bool classify_report(struct shard *s, const struct flow *view, int64_t end_ns,
                            uint32_t extra_modifiers, struct flow_record *rec)
{
	struct classify_context ctx = { .capture_end_ns = end_ns, .idle_ns = s->opt->idle_ns,
	                                .close_wait_ns = s->opt->close_wait_ns };

	classify_flow(view, &ctx, rec);
	rec->modifiers |= extra_modifiers;
	bool keep = !s->opt->hooks || !s->opt->hooks->finish ||
	            s->opt->hooks->finish(s->opt->hooks->ctx, view, rec);

	if (!keep || (s->opt->only_flow && rec->id != s->opt->only_flow) ||
	    (s->opt->class_mask && !(s->opt->class_mask & (1u << rec->close_class)))) {
		rec->segments = NULL; /* the hook attaches segments only to what is reported */
		return false;
	}
	s->flows_reported++;
	s->by_class[rec->close_class][rec->closer]++;
	return true;
}

/* Classifies `f` (live or frozen) and hands it on (to the writer, or decoded to the merge), and
 * frees it. A flow finished before the end of the capture leaves a tombstone. */
static void finish_flow(struct shard *s, struct live_flow *f, enum finish_phase phase,
                        uint32_t extra_modifiers)
{
	struct flow_record *rec = &s->record;
	struct flow *view = &s->view;
	struct record_key key = { .frame = phase == PHASE_END ? UINT64_MAX : s->frame,
	                          .phase = phase };

	if (f == s->next_expiry)
		s->next_expiry = NULL; /* its slot may hold the next one */
	flow_table_remove(s->table, f);
	if (phase != PHASE_END && phase != PHASE_REUSE)
		flow_table_bury(s->table, f, s->now_ns + TOMBSTONE_NS); /* best effort */
	if (!s->writer && s->classify_in_merge && live_detachable(f)) {
		emit_item(s, f, key, extra_modifiers);
		flow_store_free(&s->store, f);
		return;
	}
	flow_decode(&s->store, f, view, &s->view_rare);
	flow_store_free(&s->store, f);
	key.order = phase == PHASE_END ? view->first_frame : flow_last_frame(view);
	if (!s->writer && s->classify_in_merge) {
		emit_flow(s, view, key, extra_modifiers);
		return;
	}
	bool reported = classify_report(s, view, s->now_ns, extra_modifiers, rec);

	if (!s->writer) {
		emit_record(s, rec, key, reported);
		return;
	}
	if (!s->write_failed &&
	    (reported ? writer_flow(s->writer, rec) : writer_observe(s->writer, rec)) != 0)
		s->write_failed = true;
}

/* The FIN and rare blocks of `f` (in the cache), which flow_decode() reads. The empty volatile
 * asm keeps GCC from taking the function for one without effects (flow_table.c PREFETCH_ONLY). */
static void prefetch_blocks(const struct flow_store *st, const struct live_flow *f)
{
	__asm__ volatile("");
	if (f->fin) { /* 0 when frozen: the FIN block is in the flow's item */
		const char *b = (const char *)live_fin_of(st, f);

		for (size_t off = 0; off < sizeof(struct live_fin); off += 64)
			__builtin_prefetch(b + off);
		__builtin_prefetch(b + sizeof(struct live_fin) - 1);
	}
	if (f->rare) {
		const char *b = (const char *)live_rare_of(st, f);

		for (size_t off = 0; off < sizeof(struct live_rare); off += 64)
			__builtin_prefetch(b + off);
		__builtin_prefetch(b + sizeof(struct live_rare) - 1);
	}
}

/* The oldest finished flow is the next to expire (after FINISHED_QUIET_NS), usually a dozen
 * frames or more from now: one step per frame brings into the cache, in turn, the flow, then its
 * blocks and the slots and bucket its removal and tombstone use, and the flow after it
 * (warm_following). */
static void warm_next(struct shard *s)
{
	const struct live_flow *f = flow_table_oldest(s->table, FLOW_LIST_FINISHED);

	if (!f)
		return;
	if (f != s->next_expiry) {
		s->next_expiry = f;
		s->next_expiry_stage = 0;
		flow_table_prefetch(f);
		return;
	}
	if (s->next_expiry_stage == 0) {
		flow_table_prefetch_removal(s->table, f);
		prefetch_blocks(&s->store, f);
		flow_table_prefetch(flow_table_newer(s->table, f));
		s->next_expiry_stage = 1;
	}
}

/* Finished flows expire in bursts (connections that ended together, FINISHED_QUIET_NS ago), and
 * warm_next() readies only the first. While `f`, the oldest, is finished: the flow after it
 * (fetched one step earlier) says whether it expires too, and if so what finishing it touches is
 * fetched now, its slots, tombstone bucket and blocks, and the flow after it. */
static void warm_following(struct shard *s, const struct live_flow *f)
{
	const struct live_flow *next = flow_table_newer(s->table, f);

	__asm__ volatile(""); /* only prefetches: see prefetch_blocks */
	if (next && s->now_ns - next->last_ts_ns > FINISHED_QUIET_NS) {
		flow_table_prefetch_removal(s->table, next);
		prefetch_blocks(&s->store, next);
		flow_table_prefetch(flow_table_newer(s->table, next));
	}
}

/* Capture time moved to `ts_ns` at frame `frame`: finish what has expired (engine.h). */
/* The flows whose time is up at s->now_ns: the finished ones quiet for FINISHED_QUIET_NS, the
 * live ones idle for expire_ns. Out of line: finishing a flow needs every register, and the
 * check that comes first (shard_advance) would save them all on every frame. */
__attribute__((noinline)) static void expire_due(struct shard *s)
{
	struct live_flow *f;

	/* The next flow to look at is fetched while this one is classified: the oldest flows are
	 * the coldest in the cache. */
	while ((f = flow_table_oldest(s->table, FLOW_LIST_FINISHED)) &&
	       s->now_ns - f->last_ts_ns > FINISHED_QUIET_NS) {
		warm_following(s, f);
		finish_flow(s, f, PHASE_EXPIRE_FINISHED, 0);
	}
	while ((f = flow_table_oldest(s->table, FLOW_LIST_LIVE)) &&
	       s->now_ns - f->last_ts_ns > s->opt->expire_ns) {
		s->expired++;
		flow_table_prefetch(flow_table_newer(s->table, f));
		finish_flow(s, f, PHASE_EXPIRE_LIVE, 0);
	}
}

static inline void shard_advance(struct shard *s, int64_t ts_ns, uint64_t frame)
{
	const struct live_flow *finished, *live;

	s->frame = frame;
	if (ts_ns <= s->now_ns)
		return;
	s->now_ns = ts_ns;
	finished = flow_table_oldest(s->table, FLOW_LIST_FINISHED);
	live = flow_table_oldest(s->table, FLOW_LIST_LIVE);
	if ((finished && s->now_ns - finished->last_ts_ns > FINISHED_QUIET_NS) ||
	    (live && s->now_ns - live->last_ts_ns > s->opt->expire_ns))
		expire_due(s);
	flow_table_expire_graves(s->table, s->now_ns);
	warm_next(s);
}

/* Makes room for one more flow: a finished flow goes first (it would expire anyway), else the
 * live flow idle the longest, marked evicted. */
static void make_room(struct shard *s)
{
	struct live_flow *f = flow_table_oldest(s->table, FLOW_LIST_FINISHED);

	if (f) {
		finish_flow(s, f, PHASE_EVICT, 0);
		return;
	}
	f = flow_table_oldest(s->table, FLOW_LIST_LIVE);
	if (f) {
		s->evicted++;
		finish_flow(s, f, PHASE_EVICT, MOD_EVICTED);
	}
}

/* A segment of a flow waiting frozen, `z`: it is thawed for it. Without memory to thaw it the flow
 * is finished now, as evicted (NULL), and the segment is then a late one (the tombstone says so). */
__attribute__((noinline)) static struct live_flow *wake_flow(struct shard *s, struct live_flow *z)
{
	struct live_flow *f = flow_store_thaw(&s->store, z);

	if (!f) {
		s->evicted++;
		finish_flow(s, z, PHASE_EVICT, MOD_EVICTED);
		return NULL;
	}
	if (z == s->next_expiry)
		s->next_expiry = NULL;
	flow_table_thaw(s->table, z, f);
	flow_store_free_frozen(&s->store, z);
	return f;
}

/* `f` has ended on the wire: it waits frozen, most recently active of the finished list (as it
 * is, without memory for its frozen form). */
__attribute__((noinline)) static void wait_frozen(struct shard *s, struct live_flow *f)
{
	uint32_t h = f->self;
	struct live_flow *z;

	if (f == s->next_expiry)
		s->next_expiry = NULL;
	z = flow_store_freeze(&s->store, f);
	if (z)
		flow_table_freeze(s->table, h, z);
	else
		flow_table_touch(s->table, f, FLOW_LIST_FINISHED);
}

/* A segment no flow claims: a new connection, or a late segment of a finished one. */
static struct live_flow *start_flow(struct shard *s, const struct batch_item *it, uint64_t frame,
                                   uint32_t modifiers)
{
	bool syn = (it->seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;
	struct grave_info grave = { 0 };
	bool reuses = false;
	struct live_flow *f;

	if (flow_table_grave(s->table, &it->seg, it->hash, syn, &grave)) {
		if (!syn) {
			s->late_segments++;
			return NULL;
		}
		modifiers |= MOD_PORT_REUSE;
		reuses = true;
	}
	if (s->max_flows && flow_table_count(s->table) >= s->max_flows)
		make_room(s);
	f = flow_store_new(&s->store);
	if (f && !flow_init(&s->store, f, frame, &it->seg, it->capture, it->ts_nano, it->encap)) {
		flow_store_free(&s->store, f);
		f = NULL;
	}
	if (!f) {
		s->dropped++;
		return NULL;
	}
	f->modifiers |= (uint8_t)modifiers;
	if (reuses) /* when the earlier connection went quiet, who held its TIME-WAIT */
		flow_note_reuse(&s->store, f, it->ts_ns - grave.last_ts_ns, grave.time_wait);
	f->hash = it->hash;
	if (flow_table_insert(s->table, f) != 0) { /* full, and no memory to grow */
		flow_store_free(&s->store, f);
		s->dropped++;
		return NULL;
	}
	if (flow_table_count(s->table) > s->peak_flows)
		s->peak_flows = flow_table_count(s->table);
	return f;
}

static void shard_segment(struct shard *s, const struct batch_item *it, uint64_t frame)
{
	struct live_flow *f = flow_table_find(s->table, &it->seg, it->hash);

	if (f && live_is_frozen(f))
		f = wake_flow(s, f);
	bool first = !f;
	enum flow_direction d = f ? flow_direction_of(&s->store, f, &it->seg) : FROM_CLIENT;

	if (f && flow_is_reused_by(f, &it->seg, d)) {
		/* Both connections learn of the reuse: the old one is finished now, without a
		 * tombstone (the new flow takes the 4-tuple), and the new one learns when the old
		 * one went quiet and who held its TIME-WAIT. */
		int64_t old_last = f->last_ts_ns;
		enum closer_side old_time_wait = live_time_wait_side(f);

		finish_flow(s, f, PHASE_REUSE, MOD_PORT_REUSE);
		f = start_flow(s, it, frame, MOD_PORT_REUSE);
		if (f)
			flow_note_reuse(&s->store, f, it->ts_ns - old_last, old_time_wait);
		first = true;
	} else if (!f) {
		f = start_flow(s, it, frame, 0);
	}
	if (f) {
		if (first)
			d = flow_direction_of(&s->store, f, &it->seg);
		tracker_segment(&s->store, f, &it->seg, d, it->ts_ns, frame);
		if (s->opt->hooks && s->opt->hooks->segment)
			s->opt->hooks->segment(s->opt->hooks->ctx, f, &it->seg, d, it->ts_ns, frame,
			                       first);
		if (flow_is_finished(f))
			wait_frozen(s, f);
		else
			flow_table_touch(s->table, f, FLOW_LIST_LIVE);
	}
}

/* The sort key is copied next to the flow: comparing through the flows themselves (all over
 * memory) made the sort a cache miss per comparison. */
struct flow_in_shard {
	uint64_t first_frame;
	struct live_flow *flow;
	struct shard *shard;
};

static int by_first_frame(const void *a, const void *b)
{
	uint64_t x = ((const struct flow_in_shard *)a)->first_frame;
	uint64_t y = ((const struct flow_in_shard *)b)->first_frame;

	return (x > y) - (x < y);
}

/* Every flow of these shards still open at the end, finished in the order they started. */
static int finish_all(struct shard **shards, unsigned n)
{
	size_t total = 0, i = 0;
	struct flow_in_shard *all;

	for (unsigned k = 0; k < n; k++)
		total += flow_table_count(shards[k]->table);
	all = total ? malloc(total * sizeof *all) : NULL;
	if (total && !all)
		return -1;
	for (unsigned k = 0; k < n; k++)
		for (int list = FLOW_LIST_LIVE; list <= FLOW_LIST_FINISHED; list++)
			for (struct live_flow *f = flow_table_oldest(shards[k]->table, (enum flow_list)list);
			     f && i < total; f = flow_table_newer(shards[k]->table, f))
				all[i++] = (struct flow_in_shard){ f->first_frame, f, shards[k] };
	if (i > 1)
		qsort(all, i, sizeof *all, by_first_frame);
	/* In the order they started, the flows are all over memory: each is fetched a few flows
	 * ahead, then what finishing it touches (as warm_next does). */
	for (size_t j = 0; j < i; j++) {
		if (j + 8 < i)
			flow_table_prefetch(all[j + 8].flow);
		if (j + 4 < i) {
			flow_table_prefetch_removal(all[j + 4].shard->table, all[j + 4].flow);
			prefetch_blocks(&all[j + 4].shard->store, all[j + 4].flow);
		}
		finish_flow(all[j].shard, all[j].flow, PHASE_END, 0);
	}
	free(all);
	return 0;
}

static bool is_opening_syn(const struct tcp_segment *seg)
{
	return (seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;
}

/* Asks the flow table for what tracking `ahead` will touch, PREFETCH_*_AHEAD frames early (`far`:
 * the bucket and tombstone slots, else the flow). A SYN usually starts a flow, which first looks
 * for a tombstone of its 4-tuple. */
static inline void prefetch_ahead(struct shard *s, const struct batch_item *ahead, bool far)
{
	if (far) {
		flow_table_prefetch_bucket(s->table, ahead->hash);
		if (is_opening_syn(&ahead->seg))
			flow_table_prefetch_grave(s->table, &ahead->seg, 0);
	} else {
		flow_table_prefetch_flow(s->table, ahead->hash);
		if (is_opening_syn(&ahead->seg))
			flow_table_prefetch_grave(s->table, &ahead->seg, 1);
	}
}

/* Single-threaded: tracks batch `b` (its `at`) in shard `s`. */
static void shard_run(struct shard *s, const struct batch *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_item *it = b->at[i];

		if (i + PREFETCH_BUCKET_AHEAD < b->n && b->at[i + PREFETCH_BUCKET_AHEAD]->shard == 0)
			prefetch_ahead(s, b->at[i + PREFETCH_BUCKET_AHEAD], true);
		if (i + PREFETCH_FLOW_AHEAD < b->n && b->at[i + PREFETCH_FLOW_AHEAD]->shard == 0)
			prefetch_ahead(s, b->at[i + PREFETCH_FLOW_AHEAD], false);
		shard_advance(s, it->ts_ns, it->frame);
		if (it->shard == 0)
			shard_segment(s, it, it->frame);
	}
}

static inline const struct batch_item *run_item(const struct batch_run *r, unsigned pos)
{
	return (const struct batch_item *)(const void *)((const char *)r->first +
	                                                  (size_t)pos * r->stride);
}

/* The item `k` after item `j` of run `r` of `b`, looking one run further at most (NULL: none). */
static inline const struct batch_item *item_ahead(const struct batch *b, unsigned r, unsigned j,
                                                  unsigned k)
{
	const struct batch_run *run = &b->runs[r];

	if (j + k < run->n)
		return run_item(run, j + k);
	if (r + 1 < b->n_runs && j + k - run->n < b->runs[r + 1].n)
		return run_item(&b->runs[r + 1], j + k - run->n);
	return NULL;
}

/* Threaded: tracks batch `b` (its runs) in shard `s`: every frame moves its clock (an item the
 * filter left out, shard SHARD_FILTERED, is not a frame for the engine), the segments of shard
 * `id` are tracked. `live_after` gets the count of live flows after each item. */
static void shard_run_runs(struct shard *s, const struct batch *b, int id, uint32_t *live_after)
{
	unsigned i = 0;

	for (unsigned r = 0; r < b->n_runs; r++) {
		const struct batch_run *run = &b->runs[r];
		const char *p = (const char *)run->first;
		size_t stride = run->stride;
		/* Within the run the frames ahead are a fixed distance away; near its end, in the
		 * next run (item_ahead). */
		unsigned in_run_far = run->n > PREFETCH_BUCKET_AHEAD ? run->n - PREFETCH_BUCKET_AHEAD : 0;
		unsigned in_run_near = run->n > PREFETCH_FLOW_AHEAD ? run->n - PREFETCH_FLOW_AHEAD : 0;

		for (unsigned j = 0; j < run->n; j++, i++, p += stride) {
			const struct batch_item *it = (const struct batch_item *)(const void *)p, *ahead;

			ahead = j < in_run_far ? (const struct batch_item *)(const void *)(
			                             p + PREFETCH_BUCKET_AHEAD * stride)
			                       : item_ahead(b, r, j, PREFETCH_BUCKET_AHEAD);
			if (ahead && ahead->shard == id)
				prefetch_ahead(s, ahead, true);
			ahead = j < in_run_near ? (const struct batch_item *)(const void *)(
			                              p + PREFETCH_FLOW_AHEAD * stride)
			                        : item_ahead(b, r, j, PREFETCH_FLOW_AHEAD);
			if (ahead && ahead->shard == id)
				prefetch_ahead(s, ahead, false);
			if (it->shard != SHARD_FILTERED)
				shard_advance(s, it->ts_ns, run->frame0 + j);
			if (it->shard == id) /* never SHARD_FILTERED */
				shard_segment(s, it, run->frame0 + j);
			live_after[i] = (uint32_t)flow_table_count(s->table);
		}
	}
}

/* --- threads ------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	uint64_t seen = 0;

	for (;;) {
		const struct batch *b;

		pthread_mutex_lock(&e->lock);
		while (!e->stop && e->generation == seen)
			pthread_cond_wait(&e->go, &e->lock);
		if (e->stop && e->generation == seen) {
			pthread_mutex_unlock(&e->lock);
			return NULL;
		}
		seen = e->generation;
		b = e->batches[(seen - 1) & 1];
		pthread_mutex_unlock(&e->lock);

		w->shard.out_slot = (unsigned)((seen - 1) & 1);
		w->shard.out[w->shard.out_slot].n = 0;
		w->shard.out[w->shard.out_slot].used = 0;
		shard_run_runs(&w->shard, b, (int)w->id, w->shard.live_after[w->shard.out_slot]);

		pthread_mutex_lock(&e->lock);
		if (--e->busy == 0)
			pthread_cond_signal(&e->done);
		pthread_mutex_unlock(&e->lock);
	}
}

static bool key_less(const struct record_key *a, const struct record_key *b)
{
	if (a->frame != b->frame)
		return a->frame < b->frame;
	if (a->phase != b->phase)
		return a->phase < b->phase;
	return a->order < b->order;
}

/* Writes the records of output slot `slot` of every worker, merged into single-threaded order. */
static void write_merged(struct engine *e, unsigned slot)
{
	size_t pos[64] = { 0 };

	/* The flows alive after each frame, over all shards: the single-threaded peak. Summed a
	 * shard at a time (the inner loop vectorises): this thread is the one that serialises, and
	 * a frame at a time it paid a cache miss per shard per frame. */
	unsigned n = e->batches[slot]->n;
	uint32_t *sum = e->live_sum;

	if (n > 0) {
		memcpy(sum, e->workers[0].shard.live_after[slot], n * sizeof *sum);
		for (unsigned k = 1; k < e->n_workers; k++) {
			const uint32_t *la = e->workers[k].shard.live_after[slot];

			for (unsigned i = 0; i < n; i++)
				sum[i] += la[i];
		}
		for (unsigned i = 0; i < n; i++)
			if (sum[i] > e->peak_flows)
				e->peak_flows = sum[i];
		e->live_flows = sum[n - 1];
	}

	for (;;) {
		int best = -1;

		for (unsigned k = 0; k < e->n_workers; k++) {
			const struct record_buf *b = &e->workers[k].shard.out[slot];

			if (pos[k] < b->n &&
			    (best < 0 || key_less(&b->items[pos[k]].key,
			                          &e->workers[best].shard.out[slot].items[pos[best]].key)))
				best = (int)k;
		}
		if (best < 0)
			break;
		struct shard *sh = &e->workers[best].shard;
		const struct record_buf *b = &sh->out[slot];
		const struct keyed_record *kr = &b->items[pos[best]];
		bool reported = kr->reported;

		if (kr->item) {
			/* emit_item() sends only detachable flows: anything else is lost, so the run
			 * fails rather than leave it out silently. */
			if (!flow_decode_detached(&e->detached, b->words + kr->at, kr->capture,
			                          &e->merged, &e->merged_rare)) {
				e->write_failed = true;
				pos[best]++;
				continue;
			}
			reported = classify_report(sh, &e->merged, kr->end_ns, kr->modifiers,
			                           &e->merged_record);
		} else if (sh->classify_in_merge) {
			size_t at = kr->at + unpack_words(b->words + kr->at, FLOW_WORDS, &e->merged);

			e->merged.rare = NULL;
			if (kr->rare) {
				unpack_words(b->words + at, RARE_WORDS, &e->merged_rare);
				e->merged.rare = &e->merged_rare;
			}
			/* The worker is on the next batch, and touches its counters only when it
			 * classifies (finish_all, the workers idle): counted in its shard here. */
			reported = classify_report(sh, &e->merged, kr->end_ns, kr->modifiers,
			                           &e->merged_record);
		} else {
			unpack_words(b->words + kr->at, RECORD_WORDS, &e->merged_record);
		}

		if (!e->write_failed &&
		    (reported ? writer_flow(e->out, &e->merged_record)
		              : writer_observe(e->out, &e->merged_record)) != 0)
			e->write_failed = true;
		pos[best]++;
	}
	for (unsigned k = 0; k < e->n_workers; k++) {
		e->workers[k].shard.out[slot].n = 0;
		e->workers[k].shard.out[slot].used = 0;
		if (e->workers[k].shard.out_failed)
			e->write_failed = true;
	}
}

static void wait_workers(struct engine *e)
{
	pthread_mutex_lock(&e->lock);
	while (e->busy > 0)
		pthread_cond_wait(&e->done, &e->lock);
	e->completed = e->generation;
	pthread_mutex_unlock(&e->lock);
}

/* Hands the batch being filled to the workers. The previous batch must be done first; its
 * records are written while the workers work on this one. */
static void publish(struct engine *e)
{
	unsigned prev_slot = e->filling ^ 1u;

	wait_workers(e);
	pthread_mutex_lock(&e->lock);
	e->generation++;
	e->busy = e->n_workers;
	pthread_cond_broadcast(&e->go);
	pthread_mutex_unlock(&e->lock);
	if (e->outstanding)
		write_merged(e, prev_slot);
	e->outstanding = true;
	e->filling ^= 1u;
	e->batches[e->filling]->n = 0;
	e->batches[e->filling]->n_runs = 0;
}

/* --- the engine ---------------------------------------------------------------------------- */

/* A batch of `cap` frames (`at` is used single-threaded, `runs` threaded: the other one's pages
 * are never touched). */
static struct batch *batch_new(unsigned cap)
{
	struct batch *b = malloc(sizeof *b + (size_t)cap * (sizeof b->items[0] + sizeof b->runs[0] +
	                                                    sizeof b->at[0]));

	if (b) {
		b->n = 0;
		b->cap = cap;
		b->n_runs = 0;
		b->runs = (struct batch_run *)(void *)&b->items[cap];
		b->at = (struct batch_item **)(void *)&b->runs[cap];
	}
	return b;
}

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
	if (e->opt.threads > 64)
		e->opt.threads = 64;
	if (e->opt.hooks)
		e->opt.threads = 1; /* hooks are not thread-safe and see unbuffered records */
	e->out = out;
	e->n_files = n_files;
	pool_space_init(&e->space);
	e->files = calloc(n_files ? n_files : 1, sizeof *e->files);
	e->encaps = encap_table_create();
	if (!e->files || !e->encaps)
		goto fail;
	if (e->opt.threads <= 1) {
		e->single = calloc(1, sizeof *e->single);
		e->single_batch = batch_new(e->opt.paced_input ? 1 : SINGLE_BATCH_FRAMES);
		if (!e->single || !e->single_batch ||
		    shard_init(e->single, &e->opt, e->opt.max_flows, out, e->encaps, &e->space) != 0)
			goto fail;
		return e;
	}

	/* glibc serves a large request from a mapping of its own only until a block that large is
	 * freed: then it raises its threshold past it, and later blocks of that size come from the
	 * arenas, where what is freed stays resident (and threaded, each thread has its arena).
	 * Threaded, mid-sized buffers are freed and taken again all along (the workers' records,
	 * chunks' items, the writers' rows, the incident detector's arrays): with the threshold kept
	 * at 64 KiB they go back to the system when freed: 0.5 to 1.5 MiB less peak RSS on the
	 * short-connection benchmark (--threads 2 to 8), no measurable time. */
#ifdef M_MMAP_THRESHOLD
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
#endif

	unsigned shards = e->opt.threads - 1; /* the calling thread reads; see the top */
	uint64_t per_shard = e->opt.max_flows ? (e->opt.max_flows + shards - 1) / shards : 0;

	e->n_workers = shards;
	e->n_allocated = shards;
	e->workers = calloc(shards, sizeof *e->workers);
	e->hasher = flow_table_create(e->opt.hash_seed, NULL);
	e->batches[0] = batch_new(BATCH_FRAMES);
	e->batches[1] = batch_new(BATCH_FRAMES);
	e->live_sum = malloc(BATCH_FRAMES * sizeof *e->live_sum);
	flow_store_init(&e->detached);
	e->detached.encaps = e->encaps;
	e->detached.skip_zeek = e->opt.skip_zeek;
	if (!e->workers || !e->hasher || !e->batches[0] || !e->batches[1] || !e->live_sum)
		goto fail;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->go, NULL);
	pthread_cond_init(&e->done, NULL);
	for (unsigned k = 0; k < e->n_workers; k++) {
		struct worker *w = &e->workers[k];

		w->e = e;
		w->id = k;
		int rc = shard_init(&w->shard, &e->opt, per_shard, NULL, e->encaps, &e->space);

		w->shard.classify_in_merge = shards == 1;
		if (rc != 0 || !(w->shard.live_after[0] = malloc(BATCH_FRAMES * sizeof(uint32_t))) ||
		    !(w->shard.live_after[1] = malloc(BATCH_FRAMES * sizeof(uint32_t))) ||
		    pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			e->n_workers = k; /* join the ones started */
			goto fail;
		}
	}
	return e;
fail:
	engine_destroy(e);
	return NULL;
}

/* Single-threaded: tracks the frames gathered so far, and starts a new batch. */
static void run_single_batch(struct engine *e)
{
	shard_run(e->single, e->single_batch);
	e->single_batch->n = 0;
}

/* The bookkeeping of one frame of file `fc`. */
static void count_frame(struct engine *e, struct file_counts *fc, int64_t ts_ns, uint32_t caplen,
                        const struct capture_file *file)
{
	e->frames++;
	fc->frames++;
	fc->bytes += caplen;
	if (e->first_ts_ns == 0 || ts_ns < e->first_ts_ns)
		e->first_ts_ns = ts_ns;
	if (ts_ns > e->now_ns)
		e->now_ns = ts_ns;
	if (capture_file_ts_nano(file))
		e->any_nano = true;
}

/* A frame at `ts` was just added to `b`: a full batch is tracked or published. */
static int batch_added(struct engine *e, struct batch *b, int64_t ts)
{
	if (!e->single && b->n == 1)
		e->batch_start_ns = ts;
	if (b->n == b->cap) {
		if (e->single)
			run_single_batch(e);
		else
			publish(e);
	} else if (!e->single && ts > e->batch_start_ns &&
	           (uint64_t)ts - (uint64_t)e->batch_start_ns > (uint64_t)BATCH_SPAN_NS) {
		publish(e);
	}
	return (e->single ? e->single->write_failed : e->write_failed) ? -1 : 0;
}

unsigned engine_shards(const struct engine *e) { return e->n_workers; }

enum dissect_result engine_dissect(struct engine *e, int dlt, const uint8_t *data, uint32_t caplen,
                                   struct encap_stack *layers, struct batch_item *it)
{
	enum dissect_result r = dissect_frame_encap(dlt, data, caplen, &it->seg, layers);

	if (r == DISSECT_TCP) {
		/* Only segments in a tunnel pay for their description (the last one is cached). */
		it->encap = layers->n ? encap_table_intern(e->encaps, layers) : 0;
		it->hash = flow_table_hash(e->single ? e->single->table : e->hasher, &it->seg);
		it->shard = (int)(e->n_workers ? (it->hash >> 16) % e->n_workers : 0);
	}
	return r;
}

/* Threaded: `it`, frame `frame`, joins the runs of `b`; `stride`: the distance from it to the
 * next item of its array. */
static void run_append(struct batch *b, const struct batch_item *it, size_t stride, uint64_t frame)
{
	if (b->n_runs > 0) {
		struct batch_run *last = &b->runs[b->n_runs - 1];

		if (last->stride == stride && last->frame0 + last->n == frame &&
		    (uintptr_t)last->first + (uintptr_t)last->n * stride == (uintptr_t)it) {
			last->n++;
			return;
		}
	}
	b->runs[b->n_runs++] = (struct batch_run){ .first = it, .n = 1, .stride = (uint32_t)stride,
	                                           .frame0 = frame };
}

/* `it` (dissected: result `r`), `stride` bytes before the next item of its array, is frame
 * `frame` of the capture, `caplen` bytes of file `file_index`: counted, completed and batched. */
static int add_frame(struct engine *e, struct batch *b, struct batch_item *it, size_t stride,
                     enum dissect_result r, uint64_t frame, uint32_t caplen,
                     const struct capture_file *file, unsigned file_index)
{
	struct file_counts *fc = &e->files[file_index];

	count_frame(e, fc, it->ts_ns, caplen, file);
	if (r != DISSECT_TCP) {
		fc->skipped[r]++;
		it->shard = SHARD_NONE;
	} else {
		fc->tcp_segments++;
		it->capture = capture_file_path(file);
		it->ts_nano = capture_file_ts_nano(file);
	}
	if (e->single) {
		it->frame = frame;
		b->at[b->n] = it;
	} else {
		run_append(b, it, stride, frame);
	}
	b->n++;
	return batch_added(e, b, it->ts_ns);
}

int engine_frame(struct engine *e, const struct capture_frame *fr)
{
	struct batch *b = e->single ? e->single_batch : e->batches[e->filling];
	struct batch_item *it = &b->items[b->n];
	enum dissect_result r;

	it->ts_ns = fr->ts_ns;
	r = engine_dissect(e, capture_file_dlt(fr->file), fr->data, fr->caplen, &e->layers, it);
	return add_frame(e, b, it, sizeof *it, r, fr->number, fr->caplen, fr->file, fr->file_index);
}

int engine_feed(struct engine *e, const struct batch_item *in, uint64_t frame,
                enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                unsigned file_index)
{
	struct batch *b = e->single ? e->single_batch : e->batches[e->filling];

	b->items[b->n] = *in;
	return add_frame(e, b, &b->items[b->n], sizeof *in, r, frame, caplen, file, file_index);
}

int engine_feed_ref(struct engine *e, struct batch_item *in, size_t stride, uint64_t frame,
                    enum dissect_result r, uint32_t caplen, const struct capture_file *file,
                    unsigned file_index)
{
	if (e->single)
		return engine_feed(e, in, frame, r, caplen, file, file_index);
	return add_frame(e, e->batches[e->filling], in, stride, r, frame, caplen, file, file_index);
}

int engine_feed_run(struct engine *e, const struct batch_item *first, size_t stride, unsigned n,
                    uint64_t frame0, const struct feed_counts *c, const struct capture_file *file,
                    unsigned file_index)
{
	struct file_counts *fc = &e->files[file_index];
	const char *next = (const char *)first;

	if (e->single)
		return -1; /* readers.c feeds runs to a threaded engine only */
	e->frames += c->frames;
	fc->frames += c->frames;
	fc->bytes += c->bytes;
	fc->tcp_segments += c->tcp_segments;
	fc->filtered += c->filtered;
	for (int r = 0; r < DISSECT_RESULT_COUNT; r++)
		fc->skipped[r] += c->skipped[r];
	if (c->frames) {
		/* As count_frame() frame by frame (feed_counts.first_ts_ns). */
		if (c->zero_ts || e->first_ts_ns == 0 || c->first_ts_ns < e->first_ts_ns)
			e->first_ts_ns = c->first_ts_ns;
		if (c->max_ts_ns > e->now_ns)
			e->now_ns = c->max_ts_ns;
		if (capture_file_ts_nano(file))
			e->any_nano = true;
	}
	while (n > 0) {
		struct batch *b = e->batches[e->filling];
		unsigned take = b->cap - b->n < n ? b->cap - b->n : n;

		if (b->n == 0)
			e->batch_start_ns = ((const struct batch_item *)(const void *)next)->ts_ns;
		b->runs[b->n_runs++] = (struct batch_run){ .first = (const struct batch_item *)(const void *)next,
		                                           .n = take, .stride = (uint32_t)stride,
		                                           .frame0 = frame0 };
		b->n += take;
		next += (size_t)take * stride;
		frame0 += take;
		n -= take;
		if (b->n == b->cap)
			publish(e);
	}
	if (e->batches[e->filling]->n > 0 && c->max_ts_ns > e->batch_start_ns &&
	    (uint64_t)c->max_ts_ns - (uint64_t)e->batch_start_ns > (uint64_t)BATCH_SPAN_NS)
		publish(e);
	return e->write_failed ? -1 : 0;
}

uint64_t engine_batch_filling(const struct engine *e)
{
	return e->single ? 0 : e->generation + 1;
}

uint64_t engine_batches_done(const struct engine *e)
{
	return e->single ? UINT64_MAX : e->completed;
}

void engine_wait(struct engine *e)
{
	if (!e->single)
		wait_workers(e);
}

void engine_drain(struct engine *e)
{
	if (e->single)
		return;
	if (e->batches[e->filling]->n > 0)
		publish(e);
	wait_workers(e);
}

double engine_shards_cpu_s(const struct engine *e)
{
	double sum = 0;

	for (unsigned k = 0; k < e->n_workers; k++) {
		clockid_t clock;
		struct timespec ts;

		if (pthread_getcpuclockid(e->workers[k].thread, &clock) == 0 &&
		    clock_gettime(clock, &ts) == 0)
			sum += (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	return sum;
}

void engine_filtered(struct engine *e, unsigned file_index)
{
	e->files[file_index].filtered++;
}

void engine_tick(struct engine *e, int64_t now_ns)
{
	if (!e->single)
		return; /* live runs are single-threaded (main.c) */
	run_single_batch(e);
	if (now_ns > e->now_ns)
		e->now_ns = now_ns;
	shard_advance(e->single, now_ns, e->frames);
}

int engine_finish(struct engine *e)
{
	if (e->single) {
		struct shard *one = e->single;

		run_single_batch(e);
		if (finish_all(&one, 1) != 0)
			return -1;
		return e->single->write_failed ? -1 : 0;
	}

	struct shard *shards[64];

	engine_drain(e);
	if (e->outstanding)
		write_merged(e, e->filling ^ 1u);
	e->outstanding = false;
	/* The workers are idle: the end is finished here, records straight to the writer. */
	for (unsigned k = 0; k < e->n_workers; k++) {
		shards[k] = &e->workers[k].shard;
		shards[k]->writer = e->out;
	}
	if (finish_all(shards, e->n_workers) != 0)
		return -1;
	for (unsigned k = 0; k < e->n_workers; k++)
		if (shards[k]->write_failed)
			e->write_failed = true;
	return e->write_failed ? -1 : 0;
}

/* Sums a counter over the shards. */
#define SHARDS_SUM(e, field, out)                                                  \
	do {                                                                           \
		(out) = 0;                                                                 \
		if ((e)->single)                                                           \
			(out) = (e)->single->field;                                            \
		for (unsigned k_ = 0; k_ < (e)->n_workers; k_++)                           \
			(out) += (e)->workers[k_].shard.field;                                 \
	} while (0)

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
		uint64_t filtered = capture_file_filtered(cf) + fc->filtered;

		st->frames = fc->frames + filtered;
		st->bytes = fc->bytes;
		st->tcp_segments = fc->tcp_segments;
		st->error = capture_file_error(cf);
		st->live = capture_file_live(cf);
		st->kernel_dropped = capture_file_kernel_dropped(cf);
		for (int r = 0; r < DISSECT_RESULT_COUNT && st->n_skipped < SKIP_REASONS_MAX; r++)
			if (r != DISSECT_TCP && fc->skipped[r])
				st->skipped[st->n_skipped++] =
				    (struct skip_count){ dissect_result_name((enum dissect_result)r), fc->skipped[r] };
		if (filtered && st->n_skipped < SKIP_REASONS_MAX)
			st->skipped[st->n_skipped++] = (struct skip_count){ "filtered", filtered };
	}
	sum->n_captures = n;
	sum->captures = stats;
	sum->frames = e->frames;
	SHARDS_SUM(e, flows_reported, sum->flows);
	SHARDS_SUM(e, evicted, sum->flows_evicted);
	SHARDS_SUM(e, expired, sum->flows_expired);
	sum->peak_flows = engine_peak_flows(e);
	SHARDS_SUM(e, late_segments, sum->late_segments);
	sum->first_ts_ns = e->first_ts_ns;
	sum->last_ts_ns = e->now_ns;
	sum->ts_nano = e->any_nano;
	for (int c = 0; c < CLOSE_CLASS_COUNT; c++)
		for (int w = 0; w < CLOSER_COUNT; w++)
			SHARDS_SUM(e, by_class[c][w], sum->by_class[c][w]);
}

uint64_t engine_evicted(const struct engine *e)
{
	uint64_t n;

	SHARDS_SUM(e, evicted, n);
	return n;
}

uint64_t engine_dropped(const struct engine *e)
{
	uint64_t n;

	SHARDS_SUM(e, dropped, n);
	return n;
}

uint64_t engine_live_flows(const struct engine *e)
{
	return e->single ? flow_table_count(e->single->table) : e->live_flows;
}

uint64_t engine_peak_flows(const struct engine *e)
{
	return e->single ? e->single->peak_flows : e->peak_flows;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	if (e->single) {
		shard_free(e->single);
		free(e->single);
	}
	free(e->single_batch);
	if (e->workers) {
		if (e->n_workers) {
			pthread_mutex_lock(&e->lock);
			e->stop = true;
			pthread_cond_broadcast(&e->go);
			pthread_mutex_unlock(&e->lock);
			for (unsigned k = 0; k < e->n_workers; k++)
				pthread_join(e->workers[k].thread, NULL);
		}
		for (unsigned k = 0; k < e->n_allocated; k++)
			shard_free(&e->workers[k].shard);
		free(e->workers);
	}
	flow_table_destroy(e->hasher);
	if (e->workers)
		flow_store_destroy(&e->detached);
	pool_space_destroy(&e->space); /* after every shard's pools */
	encap_table_destroy(e->encaps);
	free(e->batches[0]);
	free(e->batches[1]);
	free(e->live_sum);
	free(e->files);
	free(e);
}
