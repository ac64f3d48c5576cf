/* readers.c - reader threads: the files read and dissected in chunks by several threads, merged
 * and fed to the engine in capture order by the calling thread (readers.h).
 *
 * Sources. Each input file is a source. A file pcap_map_open() takes is read in chunks: the
 * calling thread (the dispatcher) asks for the chunks of a file in order, a few ahead, and the
 * reader threads take them first come first served. A chunk is a nominal byte range [start, end);
 * its reader finds where records begin in it (pcap_map_resync) and walks the records starting
 * before `end` (pcap_map_next), filtering (pcap_offline_filter) and dissecting each into an item.
 * The guess is verified by the dispatcher: the walk of the previous chunk must have ended where
 * this one began. When it did not (a payload that looks like record headers), the chunk is walked
 * again from the true boundary in the dispatcher; when the previous walk already went past the
 * chunk's end (a record larger than a chunk), the chunk holds nothing. A walk that meets a record
 * libpcap must judge (PCAP_MAP_HANDOVER) ends there, and that file goes on through libpcap from
 * that byte (capture_file_resume_at), read in the dispatcher as every file pcap_map does not take
 * (pcapng, compressed, a pipe) is from its start (capture_file_read): libpcap's messages and exit
 * statuses stay as they are.
 *
 * Order. The dispatcher merges the sources by (timestamp, file index) with a heap, exactly as
 * capture_set_next() does, and numbers every record, the filtered ones included, so numbers are
 * those of the single-threaded run. A source is opened (its chunks asked for) only when the merge
 * reaches its first record, so a rotated set of thousands of files has a few open at once.
 *
 * Threads. --threads N gives N busy threads: R readers and N - R shard workers, the calling
 * thread merging, numbering and writing besides (its work is a few percent of the whole: see
 * split_threads). Memory: a chunk's items (about 130 bytes a record) live from its walk until the
 * dispatcher has fed them; at most AHEAD_EXTRA + R chunks are asked for at once (at least one per
 * open source), and the mapped pages a walk went through are given back at once
 * (pcap_map_release), so the file's size never shows in the resident set.
 *
 * Readers intern tunnel descriptions (encap_table) in the order they meet them, not in frame
 * order; ids do not show in reports, but past ENCAP_TABLE_MAX distinct stacks which ones are
 * described could differ from a single-threaded run.
 *
 * Ranges. The walk also cuts its chunk into ranges of consecutive records (RANGE_RECORDS, at most
 * RANGE_SPAN_NS of capture time) and counts what each adds to the summary. When the merge takes a
 * whole range before any other source's next record (always with one file), the dispatcher hands
 * it to the engine in one call (engine_feed_run): for one large file it does nothing per record.
 * Otherwise it feeds the records one by one, as above.
 *
 * Chaining. A reader taking the chunk right after the one it walked last starts where that walk
 * stopped instead of guessing (with one reader, every chunk but the first). TCPMORTEM_CHUNK_RESYNC=1
 * turns this off, so that the tests see the guesses with any number of readers.
 *
 * TCPMORTEM_CHUNK_SIZE (bytes, at least CHUNK_MIN) sets the chunk size: the tests split small
 * captures into many chunks with it. TCPMORTEM_STAGE_TIMES=1 prints on standard error, at the end,
 * the CPU time of each stage (readers, shard workers, the merging thread), and how many ranges
 * were fed whole and records one by one.
 */
#include "readers.h"

#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_feed.h"
#include "file_heap.h"
#include "pcap_map.h"

/* 512 KiB: about 2,400 records of the short-connection benchmark. The items of the chunks in
 * flight (the ones asked for, and the ones the two batches of the engine refer to) are the memory
 * the reader threads add to one thread's: with 1 MiB chunks --threads 2 took 6.4 MB of peak RSS
 * more than one thread; with AHEAD_EXTRA 1 and the chunks freed at the end, 128 KiB chunks took
 * 1.2 MB and 512 KiB ones about 3 MB. 128 KiB chunks cost wall time, though: each chunk ends the
 * merge's whole ranges, and on the long-connection benchmark --threads 2 took 0.90-1.04 s with
 * them against 0.64-0.74 s with 512 KiB (README "Threads"). */
#define CHUNK_DEFAULT (512u << 10)
#define CHUNK_MIN 64u
/* Chunks asked for beyond one per reader, so a reader finishing finds the next one waiting (one:
 * a second one was 0.2 MB more of peak RSS for nothing on the short-connection benchmark). */
#define AHEAD_EXTRA 1u
/* A record the filter left out: numbered and counted, never fed. */
#define ITEM_FILTERED DISSECT_RESULT_COUNT
/* Frames fed between progress updates. */
#define PROGRESS_EVERY 4096u
/* A range (below) holds this many records at most, and spans this much capture time at most
 * (after its first record): the records a shard worker holds until the merge are those of the
 * flows finished within one batch, which ends once it spans engine.c's BATCH_SPAN_NS, checked
 * after each range. */
#define RANGE_RECORDS 1024u
#define RANGE_SPAN_NS (50LL * 1000000)

struct ritem {
	struct batch_item it;
	uint32_t caplen;
	uint8_t result; /* enum dissect_result, or ITEM_FILTERED */
};

struct source;

/* Consecutive records of a chunk with what they add to the counts, counted by the walk: when the
 * merge can take them all at once (one file, or the others' next frames all later), the
 * dispatcher feeds them in one go (engine_feed_run) instead of one by one. */
struct range {
	uint32_t start, n;         /* items */
	int64_t start_ts_ns;       /* the time of its first record */
	int64_t last_ts_ns;        /* the latest time of its records, filtered ones included */
	struct feed_counts c;
};

enum chunk_state { CHUNK_QUEUED, CHUNK_RUNNING, CHUNK_DONE };

struct chunk {
	struct chunk *next;        /* work queue, or free list */
	struct source *src;
	uint64_t start, end;       /* nominal range */
	uint64_t from;             /* where the walk began (the resync guess); UINT64_MAX: none */
	uint64_t stop;             /* where it ended: the first record at or after `end`, or ... */
	bool handover;             /* ... the record libpcap must read */
	bool cancelled;            /* its file is finished: not walked */
	bool failed;               /* no memory for its items */
	enum chunk_state state;
	uint64_t retire_after;     /* fed: reusable once the engine is done with this batch */
	struct ritem *items;
	size_t n, cap;
	struct range *ranges;
	size_t n_ranges, cap_ranges;
};

enum source_kind { SOURCE_IDLE, SOURCE_MAPPED, SOURCE_LIBPCAP, SOURCE_DONE };

#define RING 64u /* chunks asked for per source, at most */

struct source {
	unsigned index;
	enum source_kind kind;
	bool mappable;             /* read through pcap_map until a handover */
	const struct capture_file *file;
	const char *path;          /* capture_file_path(file), for the items */
	bool ts_nano;
	const struct bpf_program *filter;
	int dlt;
	int64_t first_ts;
	struct pcap_map *map;
	uint64_t size;
	uint64_t pos;              /* mapped: the true offset of the next record */
	uint64_t released;         /* mapped: the pages before this byte were given back */
	uint64_t next_start;       /* mapped: nominal start of the next chunk to ask for */
	struct chunk *ring[RING];  /* asked for, in file order */
	unsigned ring_head, ring_len;
	struct chunk *cur;         /* being fed */
	size_t cur_pos;
	size_t cur_range;          /* the range of cur holding cur_pos, or before it */
	struct ritem seq;          /* read through libpcap: the current record */
	struct ritem *head;        /* the record the merge looks at */
	uint64_t bytes_done;       /* for progress */
};

struct reader {
	struct readers *rd;
	pthread_t thread;
	struct encap_stack layers;
	double cpu_s;
	/* Its last walk, when it ended as walks do (not at a handover, not out of memory): the
	 * source, the chunk's nominal end and where the walk stopped. A chunk starting at that end
	 * is walked from there, without a resync (chained, below). */
	const struct source *last_src;
	uint64_t last_end, last_stop;
	uint64_t chained;          /* chunks started where its previous walk stopped */
};

struct readers {
	struct capture_set *cs;
	struct engine *e;
	unsigned n_src;
	struct source *src;
	struct file_heap heap;     /* the sources, by their next frame (file_heap.h) */
	uint64_t chunk_size;
	uint64_t page;             /* the page size */
	unsigned n_readers, n_started;
	struct reader *readers;
	unsigned max_outstanding;  /* chunks asked for at once over all sources */
	unsigned outstanding;
	unsigned open_mapped;      /* mapped sources being read */
	pthread_mutex_t lock;
	pthread_cond_t work, ready;
	struct chunk *queue_head, *queue_tail;
	struct chunk *free_chunks;
	struct chunk *retired_head, *retired_tail; /* fed, maybe still read by a shard worker */
	bool stop;
	bool out_of_memory;
	bool stage_times;
	bool resync_always;        /* TCPMORTEM_CHUNK_RESYNC=1: no chunk is chained */
	struct encap_stack layers; /* the dispatcher's, for files read through libpcap */
	uint64_t redone, chunks;   /* chunks walked again by the dispatcher, chunks fed */
	uint64_t ranges, singly;   /* ranges fed whole, records fed one by one */
};

/* --- walking a chunk ------------------------------------------------------------------------ */

static double thread_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A new range of `c`, starting at its next item, at `ts_ns`. NULL without memory. */
static struct range *range_new(struct chunk *c, int64_t ts_ns)
{
	struct range *g;

	if (c->n_ranges == c->cap_ranges) {
		size_t cap = c->cap_ranges ? c->cap_ranges * 2 : 8;
		struct range *ranges = realloc(c->ranges, cap * sizeof *ranges);

		if (!ranges)
			return NULL;
		c->ranges = ranges;
		c->cap_ranges = cap;
	}
	g = &c->ranges[c->n_ranges++];
	memset(g, 0, sizeof *g);
	g->start = (uint32_t)c->n;
	g->start_ts_ns = ts_ns;
	g->last_ts_ns = INT64_MIN;
	return g;
}

/* Filters and dissects one record into a new item of `c`, complete for the shard workers
 * (engine_feed_run), and counts it in its range. False without memory. */
static bool add_item(struct readers *rd, struct chunk *c, struct range *g,
                     const struct source *s, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t wirelen, struct encap_stack *layers)
{
	struct ritem *ri;
	enum dissect_result r;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct ritem *items = realloc(c->items, cap * sizeof *items);

		if (!items)
			return false;
		c->items = items;
		c->cap = cap;
	}
	ri = &c->items[c->n++];
	g->n++;
	if (ts_ns > g->last_ts_ns)
		g->last_ts_ns = ts_ns;
	ri->it.ts_ns = ts_ns;
	ri->caplen = caplen;
	if (s->filter) {
		/* BPF reads lengths and bytes only; the time is given as libpcap would. */
		struct pcap_pkthdr h = { .caplen = caplen, .len = wirelen };

		h.ts.tv_sec = (time_t)(ts_ns / 1000000000);
		h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000);
		if (pcap_offline_filter(s->filter, &h, data) == 0) {
			ri->result = ITEM_FILTERED;
			ri->it.shard = SHARD_FILTERED;
			g->c.filtered++;
			return true;
		}
	}
	r = engine_dissect(rd->e, s->dlt, data, caplen, layers, &ri->it);
	ri->result = (uint8_t)r;
	if (r == DISSECT_TCP) {
		ri->it.capture = s->path;
		ri->it.ts_nano = s->ts_nano;
		g->c.tcp_segments++;
	} else {
		ri->it.shard = SHARD_NONE;
		g->c.skipped[r]++;
	}
	/* The counts engine_feed() would make (feed_counts). */
	g->c.frames++;
	g->c.bytes += caplen;
	if (ts_ns == 0)
		g->c.zero_ts = true;
	if (g->c.first_ts_ns == 0 || ts_ns < g->c.first_ts_ns)
		g->c.first_ts_ns = ts_ns;
	if (g->c.frames == 1 || ts_ns > g->c.max_ts_ns)
		g->c.max_ts_ns = ts_ns;
	return true;
}

/* Walks the records of `c` from byte `from` up to its end: its items, `stop` and `handover`. */
__attribute__((flatten)) static void walk(struct readers *rd, struct chunk *c, uint64_t from,
                                           struct encap_stack *layers)
{
	const struct source *s = c->src;
	struct pcap_map_frame fr;
	uint64_t off = from;
	enum pcap_map_result r;
	struct range *g = NULL;

	c->n = 0;
	c->n_ranges = 0;
	c->from = from;
	c->handover = false;
	c->failed = false;
	while ((r = pcap_map_next(s->map, &off, c->end, &fr)) == PCAP_MAP_FRAME) {
		if ((!g || g->n == RANGE_RECORDS ||
		     (fr.ts_ns > g->start_ts_ns &&
		      (uint64_t)fr.ts_ns - (uint64_t)g->start_ts_ns > (uint64_t)RANGE_SPAN_NS)) &&
		    !(g = range_new(c, fr.ts_ns))) {
			c->failed = true;
			break;
		}
		if (!add_item(rd, c, g, s, fr.ts_ns, fr.data, fr.caplen, fr.wirelen, layers)) {
			c->failed = true;
			break;
		}
	}
	c->stop = off;
	c->handover = r == PCAP_MAP_HANDOVER;
	/* The items hold what was needed: the pages go (pcap_map_release). Another walk reading
	 * the same bytes (a record across the boundary, a chunk walked again) gets them back from
	 * the page cache. */
	pcap_map_release(s->map, from, off);
}

static void *reader_main(void *arg)
{
	struct reader *me = arg;
	struct readers *rd = me->rd;

	for (;;) {
		struct chunk *c;

		pthread_mutex_lock(&rd->lock);
		while (!rd->stop && !rd->queue_head)
			pthread_cond_wait(&rd->work, &rd->lock);
		if (rd->stop) {
			pthread_mutex_unlock(&rd->lock);
			break;
		}
		c = rd->queue_head;
		rd->queue_head = c->next;
		if (!rd->queue_head)
			rd->queue_tail = NULL;
		c->state = CHUNK_RUNNING;
		bool cancelled = c->cancelled;
		pthread_mutex_unlock(&rd->lock);

		if (!cancelled) {
			uint64_t from;

			/* Chained: this reader walked the chunk before it, and its walk stopped at the
			 * first record at or after this chunk's start: no need to guess (a resync scans
			 * byte by byte, about 12,000 instructions a chunk on the short-connection
			 * benchmark). The dispatcher verifies it as a guess all the same. */
			if (!rd->resync_always && me->last_src && me->last_src == c->src &&
			    me->last_end == c->start &&
			    me->last_stop >= c->start && me->last_stop < c->end) {
				from = me->last_stop;
				me->chained++;
			} else {
				from = pcap_map_resync(c->src->map, c->start, c->end);
			}
			me->last_src = NULL;
			if (from == UINT64_MAX) { /* no record starts here, as far as it can tell */
				c->n = 0;
				c->n_ranges = 0;
				c->from = UINT64_MAX;
				c->stop = c->end;
				c->handover = false;
				c->failed = false;
			} else {
				walk(rd, c, from, &me->layers);
				if (!c->handover && !c->failed) {
					me->last_src = c->src;
					me->last_end = c->end;
					me->last_stop = c->stop;
				}
			}
		} else {
			me->last_src = NULL;
		}
		pthread_mutex_lock(&rd->lock);
		c->state = CHUNK_DONE;
		pthread_cond_broadcast(&rd->ready);
		pthread_mutex_unlock(&rd->lock);
	}
	me->cpu_s = thread_cpu_s();
	return NULL;
}

/* --- asking for chunks ----------------------------------------------------------------------- */

static void chunk_free(struct readers *rd, struct chunk *c);

/* The fed chunks no shard worker reads any more go back to the free list. */
static void reclaim(struct readers *rd)
{
	uint64_t done = engine_batches_done(rd->e);

	while (rd->retired_head && rd->retired_head->retire_after <= done) {
		struct chunk *c = rd->retired_head;

		rd->retired_head = c->next;
		if (!rd->retired_head)
			rd->retired_tail = NULL;
		chunk_free(rd, c);
	}
}

/* Frees the chunks no one uses any more: the free list, and the fed ones the workers are done
 * with. */
static void release_chunks(struct readers *rd)
{
	if (rd->e)
		reclaim(rd);
	while (rd->free_chunks) {
		struct chunk *c = rd->free_chunks;

		rd->free_chunks = c->next;
		free(c->items);
		free(c->ranges);
		free(c);
	}
}

static struct chunk *chunk_new(struct readers *rd)
{
	struct chunk *c;

	reclaim(rd);
	c = rd->free_chunks;

	if (c) {
		rd->free_chunks = c->next;
		return c;
	}
	return calloc(1, sizeof *c);
}

/* A chunk back to the free list; a dispatcher-only list, so no lock. Buffers stay for reuse. */
static void chunk_free(struct readers *rd, struct chunk *c)
{
	c->next = rd->free_chunks;
	rd->free_chunks = c;
}

/* A chunk whose items were fed (engine_feed_ref): the batches that refer to them may still be
 * read by the shard workers, so it waits for the engine to be done with the batch being filled. */
static void chunk_retire(struct readers *rd, struct chunk *c)
{
	c->retire_after = engine_batch_filling(rd->e);
	c->next = NULL;
	if (rd->retired_tail)
		rd->retired_tail->next = c;
	else
		rd->retired_head = c;
	rd->retired_tail = c;
}

/* Asks for the next chunk of `s`. False when there is none left or no memory. */
static bool ask(struct readers *rd, struct source *s)
{
	struct chunk *c;

	if (s->next_start >= s->size || s->ring_len == RING || !(c = chunk_new(rd)))
		return false;
	c->src = s;
	c->start = s->next_start;
	c->end = s->size - c->start > rd->chunk_size ? c->start + rd->chunk_size : s->size;
	s->next_start = c->end;
	c->cancelled = false;
	c->state = CHUNK_QUEUED;
	c->next = NULL;
	s->ring[(s->ring_head + s->ring_len++) % RING] = c;
	rd->outstanding++;
	pthread_mutex_lock(&rd->lock);
	if (rd->queue_tail)
		rd->queue_tail->next = c;
	else
		rd->queue_head = c;
	rd->queue_tail = c;
	pthread_cond_signal(&rd->work);
	pthread_mutex_unlock(&rd->lock);
	return true;
}

/* Keeps chunks of `s` asked for: its share of the budget, at least one. */
static void top_up(struct readers *rd, struct source *s)
{
	unsigned share = rd->max_outstanding / (rd->open_mapped ? rd->open_mapped : 1);

	if (share < 1)
		share = 1;
	while (s->ring_len < share && (s->ring_len == 0 || rd->outstanding < rd->max_outstanding))
		if (!ask(rd, s))
			break;
}

static void wait_done(struct readers *rd, struct chunk *c)
{
	pthread_mutex_lock(&rd->lock);
	while (c->state != CHUNK_DONE)
		pthread_cond_wait(&rd->ready, &rd->lock);
	pthread_mutex_unlock(&rd->lock);
}

static struct chunk *ring_pop(struct readers *rd, struct source *s)
{
	struct chunk *c = s->ring[s->ring_head];

	s->ring_head = (s->ring_head + 1) % RING;
	s->ring_len--;
	rd->outstanding--;
	return c;
}

/* Ends the mapped reading of `s`: the chunks still asked for are dropped (waited for when a
 * reader has one), and its map is closed. */
static void end_mapped(struct readers *rd, struct source *s)
{
	pthread_mutex_lock(&rd->lock);
	for (unsigned k = 0; k < s->ring_len; k++)
		s->ring[(s->ring_head + k) % RING]->cancelled = true;
	pthread_mutex_unlock(&rd->lock);
	while (s->ring_len) {
		struct chunk *c = ring_pop(rd, s);

		wait_done(rd, c);
		chunk_free(rd, c);
	}
	if (s->cur)
		chunk_retire(rd, s->cur);
	s->cur = NULL;
	pcap_map_close(s->map);
	s->map = NULL;
	rd->open_mapped--;
}

/* --- the sources ---------------------------------------------------------------------------- */

/* The next record of a file read through libpcap into s->seq. False at its end. */
static bool libpcap_next(struct readers *rd, struct source *s)
{
	struct capture_frame fr;
	int rc = capture_file_read(rd->cs, s->index, &fr);

	if (rc == CAPTURE_END) {
		s->kind = SOURCE_DONE;
		return false;
	}
	s->seq.it.ts_ns = fr.ts_ns;
	s->seq.caplen = fr.caplen;
	if (rc == CAPTURE_FILTERED) {
		s->seq.result = ITEM_FILTERED;
	} else {
		s->seq.result = (uint8_t)engine_dissect(rd->e, s->dlt, fr.data, fr.caplen, &rd->layers,
		                                        &s->seq.it);
	}
	s->head = &s->seq;
	return true;
}

/* The next chunk of a mapped file, its boundary checked, becomes s->cur. False: nothing more
 * through the map (the end of the file, a handover, no memory). */
static bool next_chunk(struct readers *rd, struct source *s)
{
	for (;;) {
		struct chunk *c;

		if (s->pos >= s->size)
			return false;
		if (s->ring_len == 0 && !ask(rd, s)) {
			/* Nothing left to ask for, yet the file goes on: walk the rest here. */
			c = chunk_new(rd);
			if (!c)
				return false;
			c->src = s;
			c->start = s->pos;
			c->end = s->size;
			walk(rd, c, s->pos, &rd->layers);
			rd->redone++;
		} else {
			c = ring_pop(rd, s);
			wait_done(rd, c);
			if (c->from != s->pos) {
				if (s->pos >= c->end) { /* the previous walk went past it: nothing in it */
					chunk_free(rd, c);
					continue;
				}
				/* The guess was wrong (or there was none): walked again from the truth. */
				walk(rd, c, s->pos, &rd->layers);
				rd->redone++;
			}
		}
		top_up(rd, s);
		if (c->failed) {
			rd->out_of_memory = true;
			chunk_free(rd, c);
			return false;
		}
		s->cur = c;
		s->cur_pos = 0;
		s->cur_range = 0;
		s->pos = c->stop;
		rd->chunks++;
		return true;
	}
}

/* Moves `s` to its next record (s->head). False at its end. */
static bool advance(struct readers *rd, struct source *s)
{
	if (s->kind == SOURCE_LIBPCAP)
		return libpcap_next(rd, s);
	if (s->kind != SOURCE_MAPPED)
		return false;
	if (s->cur && ++s->cur_pos < s->cur->n) {
		s->head = &s->cur->items[s->cur_pos];
		return true;
	}
	for (;;) {
		bool handover = s->cur && s->cur->handover;

		if (s->cur) {
			chunk_retire(rd, s->cur);
			s->cur = NULL;
			/* The walks gave back the pages inside their chunks; the one across each
			 * boundary goes now that both sides are read (from the start of its page:
			 * pcap_map_release gives back whole pages only). */
			pcap_map_release(s->map, s->released - s->released % rd->page, s->pos);
			s->released = s->pos;
		}
		s->bytes_done = s->pos;
		if (handover || rd->out_of_memory || !next_chunk(rd, s)) {
			uint64_t at = s->pos;

			end_mapped(rd, s);
			s->bytes_done = 0;
			if (!handover && !rd->out_of_memory && at >= s->size) {
				s->kind = SOURCE_DONE;
				return false;
			}
			/* libpcap reads on from the record the map would not judge (or, without memory
			 * for the chunks, from where they stopped). */
			s->kind = SOURCE_LIBPCAP;
			if (capture_file_resume_at(rd->cs, s->index, at) != 0) {
				s->kind = SOURCE_DONE;
				return false;
			}
			return libpcap_next(rd, s);
		}
		if (s->cur->n > 0) {
			s->head = &s->cur->items[0];
			return true;
		}
	}
}

/* The merge has reached the first record of `s`: its reading starts. */
static bool start_source(struct readers *rd, struct source *s)
{
	if (s->mappable) {
		s->map = pcap_map_open(capture_file_path(s->file));
		if (s->map) {
			s->kind = SOURCE_MAPPED;
			s->size = pcap_map_size(s->map);
			s->pos = PCAP_MAP_FILE_HEADER;
			s->released = 0;
			s->next_start = 0;
			rd->open_mapped++;
			top_up(rd, s);
			return advance(rd, s);
		}
	}
	s->kind = SOURCE_LIBPCAP;
	return libpcap_next(rd, s);
}

/* --- the merge ------------------------------------------------------------------------------ */

static int64_t head_ts(const struct source *s)
{
	return s->kind == SOURCE_IDLE ? s->first_ts : s->head->it.ts_ns;
}

static int64_t source_ts(const void *ctx, unsigned i)
{
	return head_ts(&((const struct readers *)ctx)->src[i]);
}

uint64_t readers_bytes_read(const struct readers *rd, uint64_t *total)
{
	uint64_t read = 0, sum = 0;
	bool known = true;

	for (unsigned i = 0; i < rd->n_src; i++) {
		const struct source *s = &rd->src[i];
		bool file_known;
		uint64_t pcap_read = capture_file_bytes_read(s->file, &file_known);

		sum += capture_file_size(s->file);
		known = known && file_known;
		if (s->kind == SOURCE_MAPPED)
			read += s->bytes_done;
		else if (s->kind == SOURCE_DONE)
			read += capture_file_size(s->file);
		else if (s->kind == SOURCE_LIBPCAP)
			read += pcap_read;
	}
	*total = known ? sum : 0;
	return read;
}

/* The range of s->cur that starts at its current record, if any. */
static const struct range *range_at(struct source *s)
{
	const struct chunk *c = s->cur;

	while (s->cur_range < c->n_ranges &&
	       c->ranges[s->cur_range].start + c->ranges[s->cur_range].n <= s->cur_pos)
		s->cur_range++;
	return s->cur_range < c->n_ranges && c->ranges[s->cur_range].start == s->cur_pos
	           ? &c->ranges[s->cur_range]
	           : NULL;
}

/* Whether the merge takes every record of range `g` of `s`, the top of the heap, before any
 * record of another source: those do not change meanwhile, so it is enough that its latest
 * record comes before the earliest of the others' next ones (by time, ties to the file named
 * first, as file_heap_before). */
static bool before_others(const struct readers *rd, const struct source *s, const struct range *g)
{
	const struct file_heap *h = &rd->heap;
	unsigned m;
	int64_t t;

	if (h->len == 1)
		return true;
	m = h->idx[1];
	if (h->len > 2 && file_heap_before(h, h->idx[2], m))
		m = h->idx[2];
	t = head_ts(&rd->src[m]);
	return g->last_ts_ns < t || (g->last_ts_ns == t && s->index < m);
}

/* Tells `prog` how far the run is when the frames fed went from `before` to `fed`: at the first
 * frame and at every PROGRESS_EVERY. */
static void progress(const struct readers *rd, const struct readers_progress *prog,
                     uint64_t before, uint64_t fed)
{
	if (prog && prog->update && fed > before &&
	    (before == 0 || before / PROGRESS_EVERY != fed / PROGRESS_EVERY)) {
		uint64_t total, read = readers_bytes_read(rd, &total);

		prog->update(prog->ctx, read, total, fed);
	}
}

int readers_run(struct readers *rd, struct engine *e, const struct readers_progress *prog,
                uint64_t count, uint64_t *frames)
{
	uint64_t number = 0, fed = 0;
	int rc = 0;

	rd->e = e;
	for (unsigned k = 0; k < rd->n_readers; k++) {
		rd->readers[k].rd = rd;
		if (pthread_create(&rd->readers[k].thread, NULL, reader_main, &rd->readers[k]) != 0)
			break;
		rd->n_started++;
	}
	if (rd->n_started == 0) /* no thread: the dispatcher walks every chunk itself */
		rd->max_outstanding = 0;

	while (rd->heap.len > 0) {
		struct source *s = &rd->src[rd->heap.idx[0]];

		if (s->kind == SOURCE_IDLE) {
			file_heap_replace_top(&rd->heap, start_source(rd, s));
			continue;
		}
		const struct range *g = s->kind == SOURCE_MAPPED && !count ? range_at(s) : NULL;

		if (g && before_others(rd, s, g)) {
			uint64_t before = fed;

			if (engine_feed_run(e, &s->cur->items[g->start].it, sizeof(struct ritem), g->n,
			                    number + 1, &g->c, s->file, s->index) != 0) {
				rc = -1;
				break;
			}
			number += g->n;
			fed += g->c.frames;
			rd->ranges++;
			progress(rd, prog, before, fed);
			s->cur_pos = g->start + g->n - 1; /* its last record: advance() goes past it */
			file_heap_replace_top(&rd->heap, advance(rd, s));
			continue;
		}
		struct ritem *ri = s->head;

		number++;
		if (ri->result == ITEM_FILTERED) {
			if (s->kind == SOURCE_MAPPED)
				engine_filtered(e, s->index); /* capture.c counts its own */
		} else {
			/* A chunk's item is left where it is for the shard workers (chunk_retire); the
			 * record read through libpcap is reused, so copied. */
			enum dissect_result r = (enum dissect_result)ri->result;

			if ((ri == &s->seq ? engine_feed(e, &ri->it, number, r, ri->caplen, s->file, s->index)
			                   : engine_feed_ref(e, &ri->it, sizeof *ri, number, r, ri->caplen,
			                                     s->file, s->index)) != 0) {
				rc = -1;
				break;
			}
			fed++;
			rd->singly++;
			progress(rd, prog, fed - 1, fed);
			if (count && fed >= count)
				break;
		}
		file_heap_replace_top(&rd->heap, advance(rd, s));
	}
	if (rc == 0 && rd->heap.len == 0) {
		/* Every record is fed: once the workers are done with them, the chunks go, before the
		 * end of the run finishes the flows still open (which takes memory of its own). */
		engine_drain(e);
		release_chunks(rd);
	}
	if (rd->out_of_memory)
		fprintf(stderr, "tcpmortem: out of memory for the reader threads: read on in one\n");
	*frames = fed;
	return rc;
}

/* --- set-up --------------------------------------------------------------------------------- */

/* How many of the N busy threads read, the others tracking. Measured per stage (CPU time,
 * TCPMORTEM_STAGE_TIMES, on the short-connection benchmark, README "Threads"): reading and
 * dissecting in place costs about a quarter of what tracking, classifying and finishing cost, so
 * one reader in five, at least one, and at least one shard. */
static void split_threads(unsigned n, unsigned *readers, unsigned *shards)
{
	unsigned r = (n * 2 + 3) / 7;

	if (r < 1)
		r = 1;
	if (r > n - 1)
		r = n - 1;
	*readers = r;
	*shards = n - r;
}

struct readers *readers_open(struct capture_set *cs, struct engine_options *opt)
{
	unsigned n = capture_set_count(cs), mapped = 0, n_readers, n_shards;
	struct readers *rd;
	const char *env;

	if (opt->threads <= 1 || opt->hooks || opt->paced_input || capture_set_live(cs) || n == 0)
		return NULL;
	/* Which files the map takes: opened to see, closed until the merge reaches them. */
	bool *mappable = calloc(n, sizeof *mappable);

	if (!mappable)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		const struct capture_file *cf = capture_set_file(cs, i);
		struct pcap_map *m;

		if (capture_file_unreadable(cf) || capture_file_error(cf))
			continue;
		m = pcap_map_open(capture_file_path(cf));
		if (m && pcap_map_dlt(m) == capture_file_dlt(cf)) {
			mappable[i] = true;
			mapped++;
		}
		pcap_map_close(m);
	}
	rd = mapped ? calloc(1, sizeof *rd) : NULL;
	split_threads(opt->threads, &n_readers, &n_shards);
	if (rd && (!(rd->src = calloc(n, sizeof *rd->src)) ||
	           !file_heap_init(&rd->heap, n, rd, source_ts) ||
	           !(rd->readers = calloc(n_readers, sizeof *rd->readers)))) {
		free(rd->src);
		file_heap_free(&rd->heap);
		free(rd);
		rd = NULL;
	}
	if (!rd) {
		free(mappable);
		return NULL;
	}
	rd->cs = cs;
	rd->n_src = n;
	rd->n_readers = n_readers;
	rd->max_outstanding = n_readers + AHEAD_EXTRA;
	rd->chunk_size = CHUNK_DEFAULT;
	rd->page = sysconf(_SC_PAGESIZE) > 0 ? (uint64_t)sysconf(_SC_PAGESIZE) : 4096;
	env = getenv("TCPMORTEM_CHUNK_SIZE");
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (!*end && v >= CHUNK_MIN)
			rd->chunk_size = v;
	}
	env = getenv("TCPMORTEM_STAGE_TIMES");
	rd->stage_times = env && strcmp(env, "1") == 0;
	env = getenv("TCPMORTEM_CHUNK_RESYNC");
	rd->resync_always = env && strcmp(env, "1") == 0;
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->work, NULL);
	pthread_cond_init(&rd->ready, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct source *s = &rd->src[i];
		const struct capture_file *cf = capture_set_file(cs, i);

		s->index = i;
		s->file = cf;
		s->path = capture_file_path(cf);
		s->ts_nano = capture_file_ts_nano(cf);
		s->kind = SOURCE_IDLE;
		s->mappable = mappable[i];
		s->filter = capture_file_filter(cf);
		s->dlt = capture_file_dlt(cf);
		s->first_ts = capture_file_head_ts(cf);
		if (!capture_file_unreadable(cf))
			rd->heap.idx[rd->heap.len++] = i;
	}
	free(mappable);
	file_heap_build(&rd->heap);
	opt->threads = n_shards + 1; /* engine.c: the calling thread and its shard workers */
	return rd;
}

void readers_close(struct readers *rd)
{
	if (!rd)
		return;
	pthread_mutex_lock(&rd->lock);
	rd->stop = true;
	pthread_cond_broadcast(&rd->work);
	pthread_mutex_unlock(&rd->lock);
	for (unsigned k = 0; k < rd->n_started; k++)
		pthread_join(rd->readers[k].thread, NULL);
	/* The shard workers may still read fed items (a run stopped early skips engine_finish). */
	if (rd->e)
		engine_wait(rd->e);
	while (rd->retired_head) {
		struct chunk *c = rd->retired_head;

		rd->retired_head = c->next;
		chunk_free(rd, c);
	}
	rd->retired_tail = NULL;
	if (rd->stage_times) {
		double readers_s = 0;
		uint64_t chained = 0;

		for (unsigned k = 0; k < rd->n_started; k++) {
			readers_s += rd->readers[k].cpu_s;
			chained += rd->readers[k].chained;
		}
		fprintf(stderr,
		        "tcpmortem: stage cpu: readers %u %.3f s, shard workers %u %.3f s, merging "
		        "thread %.3f s; chunks %llu, chained %llu, walked again %llu; ranges fed whole "
		        "%llu, records fed one by one %llu\n",
		        rd->n_started, readers_s, rd->e ? engine_shards(rd->e) : 0,
		        rd->e ? engine_shards_cpu_s(rd->e) : 0.0, thread_cpu_s(),
		        (unsigned long long)rd->chunks, (unsigned long long)chained,
		        (unsigned long long)rd->redone, (unsigned long long)rd->ranges,
		        (unsigned long long)rd->singly);
	}
	for (unsigned i = 0; i < rd->n_src; i++) {
		struct source *s = &rd->src[i];

		if (s->kind == SOURCE_MAPPED) {
			/* The run stopped early (--count, a write error): its chunks are abandoned. */
			for (unsigned k = 0; k < s->ring_len; k++)
				chunk_free(rd, s->ring[(s->ring_head + k) % RING]);
			if (s->cur)
				chunk_free(rd, s->cur);
			pcap_map_close(s->map);
		}
	}
	release_chunks(rd);
	pthread_mutex_destroy(&rd->lock);
	pthread_cond_destroy(&rd->work);
	pthread_cond_destroy(&rd->ready);
	free(rd->readers);
	free(rd->src);
	file_heap_free(&rd->heap);
	free(rd);
}
