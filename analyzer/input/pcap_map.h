/* pcap_map.h - a classic pcap file read in place: mapped into memory, its records walked without
 * a copy, and split into chunks at record boundaries found by a verified resync, so that several
 * threads can read one file.
 *
 * Only what libpcap would read plainly is read here: a regular file in the classic format
 * (magic a1b2c3d4 or a1b23c4d, either byte order, version 2.4). Anything else (pcapng, a
 * compressed file, a pipe, the modified formats) is not opened, and the caller reads it through
 * libpcap as before; nor are the link types whose pseudo-headers libpcap rewrites (Linux USB, a
 * byte-swapped NFLOG). Within a mapped file, the first record libpcap would treat as damaged or
 * adjust (pcap_map.c's head comment lists them) ends the walk with PCAP_MAP_HANDOVER at its
 * offset: the caller goes on from there through libpcap (fseeko on pcap_file() of a handle opened
 * on the same file), so messages and exit statuses stay libpcap's.
 *
 * Splitting: a chunk's nominal start is a byte offset; pcap_map_resync finds the first offset
 * at or after it where a chain of plausible record headers begins. That guess is only a guess (a
 * payload can hold bytes that look like headers), so it is verified: the walk of the previous
 * chunk must end exactly where the next one was guessed to start (pcap_map_next stops at the
 * first record that starts at or after `end`). When it does not, the later chunk is read again
 * from where the walk ended. The result never depends on the guess, only the speed does. A walk
 * from a guess not yet verified may end anywhere, in PCAP_MAP_HANDOVER too: only what a walk from
 * a verified start says counts (the first chunk's start, from <= PCAP_MAP_FILE_HEADER, is).
 */
#ifndef TM_PCAP_MAP_H
#define TM_PCAP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCAP_MAP_FILE_HEADER 24u
#define PCAP_MAP_RECORD_HEADER 16u

struct pcap_map;

/* One record, as the file holds it. `data` points into the mapping (valid until
 * pcap_map_close). */
struct pcap_map_frame {
	int64_t ts_ns;       /* as pcap_map_ts_ns makes it from libpcap's header */
	uint32_t caplen;
	uint32_t wirelen;
	const uint8_t *data;
	uint64_t offset;     /* of the record header in the file */
};

/* Maps `path` when it is a regular classic pcap file libpcap would read plainly. NULL when it is
 * not (or on any error, or with 64 files mapped already): the caller uses libpcap, which reports
 * what is wrong. Thread-safe; one map may be read by several threads at once. */
struct pcap_map *pcap_map_open(const char *path);
void pcap_map_close(struct pcap_map *m);

uint64_t pcap_map_size(const struct pcap_map *m);
int pcap_map_dlt(const struct pcap_map *m);        /* the link type, as pcap_datalink says */
bool pcap_map_nano(const struct pcap_map *m);      /* nanosecond timestamps (magic a1b23c4d) */
uint32_t pcap_map_snaplen(const struct pcap_map *m);
/* The file was cut short (truncated by another program) while mapped: the pages past its new end
 * read as zeroes instead of faulting (SIGBUS is caught while a file is mapped), and pcap_map_next
 * hands over from the first record that met them. A frame handed out before may have read zeroes
 * in the instant the file was cut. */
bool pcap_map_cut(const struct pcap_map *m);

enum pcap_map_result {
	PCAP_MAP_FRAME = 1,    /* *fr filled, *off moved past the record */
	PCAP_MAP_END = 0,      /* *off reached `end` (a record starting before `end` is read whole,
	                          even when it runs past it) or the end of the file exactly */
	PCAP_MAP_HANDOVER = 2, /* the record at *off is one libpcap would report as damaged or
	                          change (truncated, caplen over its limits, ...), or the file was
	                          cut short (pcap_map_cut): read from *off on through libpcap; *off
	                          is unchanged */
};

/* The record at *off, when *off < end. */
enum pcap_map_result pcap_map_next(const struct pcap_map *m, uint64_t *off, uint64_t end,
                                   struct pcap_map_frame *fr);

/* The first offset in [from, limit) where a chain of plausible record headers starts (each one
 * plausible, the next starting where it ends, up to the end of the file or PCAP_MAP_CHAIN
 * records), or UINT64_MAX when there is none. from <= PCAP_MAP_FILE_HEADER gives the first
 * record. Plausible: caplen <= the snapshot length and <= the wire length, a wire length under
 * a megabyte (or the snapshot length), a sub-second part under a second, all the chain's
 * timestamps within a day of the first one's. */
#define PCAP_MAP_CHAIN 8
uint64_t pcap_map_resync(const struct pcap_map *m, uint64_t from, uint64_t limit);

/* The caller is done with the bytes in [from, to): the pages holding them (from's page on, up to
 * to's page, not that one) leave the process's resident set; the kernel's page cache keeps them.
 * Without it, every page of a mapped file read once would stay counted in the process's memory
 * until pcap_map_close. Only a hint about memory: the bytes stay readable (a later read brings
 * the page back), so releasing a page a frame still uses costs time, never correctness. */
void pcap_map_release(const struct pcap_map *m, uint64_t from, uint64_t to);

/* A record's time in nanoseconds from libpcap's header fields (struct pcap_pkthdr, opened with
 * nanosecond precision: `frac` is nanoseconds), kept within what a classic pcap record can say:
 * unsigned 32-bit seconds, 1970-01-01 to 2106-02-07. pcapng's 64-bit tick counts, its
 * if_tsresol and if_tsoffset, let libpcap hand out any time_t (negative, or so large that the
 * nanoseconds overflow), and a damaged record can hold a sub-second part of a billion or more;
 * such values are clamped into the range. Every later difference of two timestamps, and twice
 * it, then fits in int64_t. The one definition for capture.c and this reader. */
static inline int64_t pcap_map_ts_ns(int64_t sec, int64_t frac)
{
	const int64_t sec_max = 0xffffffffLL, ns_per_sec = 1000000000LL;

	if (sec < 0)
		return 0;
	if (sec > sec_max)
		return sec_max * ns_per_sec + (ns_per_sec - 1);
	if (frac < 0)
		frac = 0;
	else if (frac >= ns_per_sec)
		frac = ns_per_sec - 1;
	return sec * ns_per_sec + frac;
}

#endif
