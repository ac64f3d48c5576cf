/* capture.h - the input files, read through libpcap as one capture in timestamp order.
 *
 * Several files (a rotated tcpdump -C/-G set, or files from several points) are merged by
 * timestamp; frames are numbered 1, 2, ... across the merged capture, so with one file the
 * numbers are Wireshark's. A BPF filter is applied per frame with pcap_offline_filter(), so
 * filtered frames keep their numbers too.
 */
#ifndef TM_CAPTURE_H
#define TM_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dissect.h"

struct capture_file;

/* What capture_set_next() hands out. `data` is valid until the next call. */
struct capture_frame {
	uint64_t number;    /* 1-based over the merged capture, filtered frames included */
	int64_t ts_ns;
	const uint8_t *data;
	uint32_t caplen;
	uint32_t wirelen;
	struct capture_file *file;
	unsigned file_index; /* position of `file` on the command line */
};

struct capture_set;

/* Opens every path ("-" is standard input). Files that cannot be opened or have an unsupported
 * link type or a filter that does not compile for them are kept, with their error set, and
 * never read. Returns NULL only on allocation failure. */
struct capture_set *capture_set_open(char *const *paths, unsigned n, const char *bpf_filter);
/* Opens one capture read from `stream` (binary, positioned at the file header), known as `name` in
 * messages and reports; `name` must outlive the set. The set owns the stream from here on:
 * capture_set_close() closes it, also when it turned out not to be a capture, and so does a
 * failed call. A seekable stream is peeked at for the timestamp precision as a named file is. NULL
 * only on allocation failure. (For reading a capture held in memory: fmemopen.) */
struct capture_set *capture_set_open_stream(FILE *stream, const char *name, const char *bpf_filter);
void capture_set_close(struct capture_set *cs);

enum {
	CAPTURE_END = 0,   /* every file read to its end (or its error); live: the capture failed */
	CAPTURE_FRAME = 1, /* *frame filled */
	CAPTURE_AGAIN = 2, /* live: no frame now (capture_set_wait) */
	CAPTURE_FILTERED = 3, /* capture_file_read: a frame the filter leaves out (counted) */
};

/* The next frame in timestamp order (ties: the file named first). Returns CAPTURE_FRAME with
 * *frame filled, CAPTURE_END at the end of every file. A read error ends that file and is kept
 * as its error. Live, the frames come as the kernel has them, and CAPTURE_AGAIN when it has
 * none. */
int capture_set_next(struct capture_set *cs, struct capture_frame *frame);

/* A live capture from a network interface ("any": all of them) through libpcap: promiscuous,
 * every packet handed over at once (immediate mode), nanosecond timestamps where the kernel has
 * them, the filter run in the kernel. */
struct capture_live_options {
	const char *interface;
	const char *filter;    /* NULL: every frame */
	int snaplen;           /* 0: 262144 */
	const char *save_path; /* -w: every frame captured is also written there (pcap), so frame
	                          numbers in the report are the saved file's */
};
/* NULL with a one-line message in err (no permission: it names CAP_NET_RAW). */
struct capture_set *capture_set_open_live(const struct capture_live_options *o, char *err,
                                          size_t errlen);
bool capture_set_live(const struct capture_set *cs);
/* Live: waits up to timeout_ms for frames (a signal ends the wait). */
int capture_set_wait(struct capture_set *cs, int timeout_ms);
/* Live: fetches the kernel's drop count (capture_file_kernel_dropped) and flushes the -w file. */
void capture_set_update_stats(struct capture_set *cs);

unsigned capture_set_count(const struct capture_set *cs);

/* How far the reading has got, for a progress display: bytes consumed over all files (the file
 * position of a regular file, an estimate from the records for a pipe), and in *total the sum of
 * the files' sizes, or 0 when one of them has no known size (standard input, a pipe). */
uint64_t capture_set_bytes_read(const struct capture_set *cs, uint64_t *total);
struct capture_file *capture_set_file(const struct capture_set *cs, unsigned i);

/* One file read on its own, outside the set's merge, by a caller that merges the files itself
 * (the parallel readers, analyzer/engine/readers.c); a set is read either this way or through
 * capture_set_next(), never both. capture_file_read() hands out file i's next record: CAPTURE_FRAME
 * (passes the filter), CAPTURE_FILTERED (left out by the filter, counted in
 * capture_file_filtered(); only ts_ns and caplen are meant), or CAPTURE_END (its end or its error,
 * kept as capture_file_error()). frame->number is left 0 for the caller to set; frame->data is
 * valid until the next call for that file. A parked file is opened again first. */
int capture_file_read(struct capture_set *cs, unsigned i, struct capture_frame *frame);
/* File i (a regular, uncompressed classic pcap file) goes on from byte `offset` of the file, where
 * a record starts: the next capture_file_read() returns that record, through libpcap. -1 (the file
 * ends with an error) when it cannot seek. */
int capture_file_resume_at(struct capture_set *cs, unsigned i, uint64_t offset);
/* The timestamp of the file's first record, before the file is read (its frame read ahead at
 * opening, or remembered when it was parked). */
int64_t capture_file_head_ts(const struct capture_file *f);
/* The compiled filter for this file, NULL when there is none. Read-only: pcap_offline_filter()
 * may run it from several threads at once. */
struct bpf_program;
const struct bpf_program *capture_file_filter(const struct capture_file *f);
/* Bytes of the file read so far (as capture_set_bytes_read() counts them; *known false: a pipe),
 * and its size (0: unknown or unreadable). */
uint64_t capture_file_bytes_read(const struct capture_file *f, bool *known);
uint64_t capture_file_size(const struct capture_file *f);

const char *capture_file_path(const struct capture_file *f);
int capture_file_dlt(const struct capture_file *f);
bool capture_file_ts_nano(const struct capture_file *f);
/* NULL, or a one-line description of what is wrong with the file. */
const char *capture_file_error(const struct capture_file *f);
/* True when the file could not be read at all (exit status 2), false when it was damaged part
 * way (exit status 1) or fine. */
bool capture_file_unreadable(const struct capture_file *f);
uint64_t capture_file_filtered(const struct capture_file *f);
bool capture_file_live(const struct capture_file *f);
/* Live: packets the kernel dropped (ring full) or the interface dropped, as of the last
 * capture_set_update_stats(). */
uint64_t capture_file_kernel_dropped(const struct capture_file *f);

#endif
