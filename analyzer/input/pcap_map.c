/* pcap_map.c - a classic pcap file read in place (pcap_map.h).
 *
 * What libpcap 1.10 (sf-pcap.c: pcap_check_header, pcap_next_packet) does with a classic file,
 * and what is done here instead:
 * - the file header: magic a1b2c3d4 (microseconds) or a1b23c4d (nanoseconds), in either byte
 *   order, are read plainly. a1b2cd34 (Kuznetzov's modified format, a longer record header and
 *   14 bytes added to an Ethernet snapshot length) and any version but 2.4 (before 2.3 and 543.0
 *   swap caplen and len, 2.3 swaps them when caplen > len, minor versions 0..2 are the same as 2.3
 *   for some files) are not opened. The link type and the snapshot length are libpcap's own:
 *   the header is handed to libpcap (from memory) and pcap_datalink()/pcap_snapshot() say what
 *   it made of them (LINKTYPE_ to DLT_ mapping, a snapshot length of 0 or over the link type's
 *   maximum replaced by that maximum).
 * - link types whose pseudo-header libpcap rewrites after reading (Linux USB, DLT_USB_LINUX and
 *   DLT_USB_LINUX_MMAPPED, in any file; NFLOG in a byte-swapped file) are not opened: libpcap's
 *   bytes would not be the file's.
 * - a record is handed over to libpcap (PCAP_MAP_HANDOVER) when:
 *     - fewer than 16 bytes are left for its header (libpcap: "truncated dump file; tried to read
 *       16 header bytes");
 *     - its caplen is over the snapshot length (libpcap: an error when it is also over the link
 *       type's maximum, otherwise the record is cut to the snapshot length and the rest skipped);
 *       the snapshot length is never over that maximum, so this covers both;
 *     - fewer than caplen bytes are left for its data (libpcap: "truncated dump file; tried to
 *       read N captured bytes");
 *     - its caplen is over its wire length, or its wire length is 0 (libpcap 1.10 returns such a
 *       record as it is, but a damaged record is libpcap's to hand out; and the zeroes a file cut
 *       short while mapped reads as, see on_sigbus, are no record);
 *   past the last record, the end of the file is reached exactly (PCAP_MAP_END).
 * - timestamps: libpcap's record header holds seconds and the fraction as signed 32-bit numbers
 *   (struct pcap_timeval), widened with their sign; a microsecond file's fraction is multiplied by
 *   1000 (opened with nanosecond precision). pcap_map_ts_ns() then clamps as capture.c always did.
 */
#include "pcap_map.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_MICRO 0xa1b2c3d4u
#define MAGIC_NANO 0xa1b23c4du

/* Link types whose pseudo-header libpcap rewrites after reading a record: Linux USB (its
 * header's byte order in a byte-swapped file, and the length fix-up of the mmapped variant in any
 * file) and NFLOG (its TLVs' byte order in a byte-swapped file). */
#define DLT_USB_LINUX_VALUE 189
#define DLT_USB_LINUX_MMAPPED_VALUE 220
#define DLT_NFLOG_VALUE 239

/* Resync plausibility: a wire length no real link layer reaches on one frame (GSO/GRO and BIG
 * TCP aggregates stay well under a megabyte), unless the snapshot length itself is larger; and
 * the records of a chain no further apart in time than a day. */
#define RESYNC_WIRELEN_MAX (1u << 20)

/* The records are read straight from the page cache, where nothing has brought them into the
 * CPU's caches (libpcap's read() copied them through a buffer that stayed in L2), and the
 * hardware prefetcher stops at every 4 KiB page. So each record asks for the cache lines that
 * start in the span as long as itself 2 KiB further on: the records follow one another, so every
 * line of the file is asked for once, 2 KiB before it is read. A walk of 11.9M
 * records (2.5 GB) that reads each frame's first 64 bytes and its last byte took 0.27-0.31 s of
 * user time with one line asked for per record (0.5-0.7 s with none), 0.19-0.20 s with every line
 * (1 KiB ahead: 0.20, 4 KiB: 0.20-0.22). */
#define PREFETCH_AHEAD 2048
#define CACHE_LINE 64
#define RESYNC_WINDOW_SEC 86400

struct pcap_map {
	uint8_t *base; /* the mapping (read-only) */
	uint64_t size;
	volatile sig_atomic_t cut; /* the file was cut short while mapped (on_sigbus) */
	bool swapped;  /* the file's byte order is not the host's */
	bool nano;
	int dlt;
	uint32_t snaplen; /* libpcap's: never over the link type's maximum */
	long page;
};

/* A file cut short while it is mapped (truncated by another program) makes every read of a page
 * past its new end fault with SIGBUS, where libpcap's read() would just see the file end. So
 * while a file is mapped, SIGBUS within its mapping is caught: the pages from the faulting one
 * to the end of the mapping become zero pages, the map is marked cut, and the read that faulted
 * goes on (reading zeroes). pcap_map_next checks the mark after reading a record and hands that
 * record over instead; libpcap then meets the file's real end. A SIGBUS elsewhere gets the
 * disposition it had before. The mapped files are found through a fixed table of atomic pointers
 * (a signal handler can take no lock). */
#define GUARDED_MAX 64

static _Atomic(struct pcap_map *) guarded[GUARDED_MAX];
static atomic_flag handler_installed = ATOMIC_FLAG_INIT;
static struct sigaction sigbus_before;

static void on_sigbus(int sig, siginfo_t *si, void *context)
{
	uintptr_t at = (uintptr_t)si->si_addr;

	(void)sig;
	(void)context;
	for (unsigned i = 0; i < GUARDED_MAX; i++) {
		struct pcap_map *m = atomic_load(&guarded[i]);
		uintptr_t base = m ? (uintptr_t)m->base : 0;

		if (m && at >= base && at - base < m->size) {
			/* The mapping starts on a page: the faulting page is at this offset in it. */
			uint64_t page = (at - base) / (uint64_t)m->page * (uint64_t)m->page;

			if (mmap(m->base + page, (size_t)(m->size - page), PROT_READ,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
				m->cut = 1;
				return;
			}
		}
	}
	/* Not a mapped capture's: the faulting access, run again, meets the former disposition. */
	sigaction(SIGBUS, &sigbus_before, NULL);
}

/* Puts `m` in the table (and the handler in place). False when the table is full. */
static bool guard(struct pcap_map *m)
{
	if (!atomic_flag_test_and_set(&handler_installed)) {
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &sigbus_before) != 0) {
			atomic_flag_clear(&handler_installed);
			return false;
		}
	}
	for (unsigned i = 0; i < GUARDED_MAX; i++) {
		struct pcap_map *empty = NULL;

		if (atomic_compare_exchange_strong(&guarded[i], &empty, m))
			return true;
	}
	return false;
}

static void unguard(struct pcap_map *m)
{
	for (unsigned i = 0; i < GUARDED_MAX; i++) {
		struct pcap_map *was = m;

		if (atomic_compare_exchange_strong(&guarded[i], &was, NULL))
			return;
	}
}

static uint32_t load32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return swapped ? __builtin_bswap32(v) : v;
}

/* libpcap's reading of the 24-byte file header: link type, snapshot length, version. False when
 * libpcap refuses it. */
static bool libpcap_header(const uint8_t head[PCAP_MAP_FILE_HEADER], struct pcap_map *m)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	uint8_t copy[PCAP_MAP_FILE_HEADER];
	FILE *fp;
	pcap_t *p;
	bool ok;

	memcpy(copy, head, sizeof copy);
	fp = fmemopen(copy, sizeof copy, "rb");
	if (!fp)
		return false;
	p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!p) {
		fclose(fp);
		return false;
	}
	ok = pcap_major_version(p) == 2 && pcap_minor_version(p) == 4 &&
	     pcap_is_swapped(p) == (int)m->swapped && pcap_snapshot(p) > 0 &&
	     pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	m->dlt = pcap_datalink(p);
	m->snaplen = (uint32_t)pcap_snapshot(p);
	pcap_close(p); /* closes fp */
	return ok && m->dlt != DLT_USB_LINUX_VALUE && m->dlt != DLT_USB_LINUX_MMAPPED_VALUE &&
	       !(m->swapped && m->dlt == DLT_NFLOG_VALUE);
}

struct pcap_map *pcap_map_open(const char *path)
{
	uint8_t head[PCAP_MAP_FILE_HEADER];
	struct pcap_map *m;
	struct stat st;
	uint32_t magic;
	void *base;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO: no wait for a writer */

	if (fd < 0)
		return NULL;
	m = calloc(1, sizeof *m);
	if (!m || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < PCAP_MAP_FILE_HEADER || (uint64_t)st.st_size > SIZE_MAX ||
	    pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
		goto fail;
	memcpy(&magic, head, sizeof magic);
	if (magic == MAGIC_MICRO || magic == MAGIC_NANO) {
		m->swapped = false;
	} else if (__builtin_bswap32(magic) == MAGIC_MICRO || __builtin_bswap32(magic) == MAGIC_NANO) {
		m->swapped = true;
		magic = __builtin_bswap32(magic);
	} else {
		goto fail;
	}
	m->nano = magic == MAGIC_NANO;
	if (!libpcap_header(head, m))
		goto fail;
	m->size = (uint64_t)st.st_size;
	m->page = sysconf(_SC_PAGESIZE);
	if (m->page <= 0)
		m->page = 4096;
	base = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	m->base = base;
	if (!guard(m)) { /* more files mapped at once than the table holds: libpcap reads it */
		munmap(base, (size_t)m->size);
		goto fail;
	}
	(void)madvise(base, (size_t)m->size, MADV_SEQUENTIAL);
	/* Transparent huge pages: what the page cache does not hold yet is read in 2 MiB folios
	 * from the file's first page on, and a fault maps such a folio whole (one fault and one TLB
	 * entry per 2 MiB instead of a fault per 64 KiB of fault-around and an entry per 4 KiB).
	 * Without it the sequential readahead grows its folios to 2 MiB only after some tens of
	 * megabytes (a 50 MB capture read cold: 10 MB of it mapped by 2 MiB entries, all of it
	 * with). Walking and releasing a 2.5 GB capture cached in 2 MiB folios costs about 0.01 s of
	 * system time, 0.2 s when it is cached in small folios (as a file written or read through
	 * read() may stay: that is not changed here). Only a hint: refused, it changes nothing. */
	(void)madvise(base, (size_t)m->size, MADV_HUGEPAGE);
	close(fd);
	return m;
fail:
	free(m);
	close(fd);
	return NULL;
}

void pcap_map_close(struct pcap_map *m)
{
	if (!m)
		return;
	unguard(m);
	munmap(m->base, (size_t)m->size);
	free(m);
}

uint64_t pcap_map_size(const struct pcap_map *m) { return m->size; }
int pcap_map_dlt(const struct pcap_map *m) { return m->dlt; }
bool pcap_map_nano(const struct pcap_map *m) { return m->nano; }
uint32_t pcap_map_snaplen(const struct pcap_map *m) { return m->snaplen; }
bool pcap_map_cut(const struct pcap_map *m) { return m->cut != 0; }

/* The cache lines starting in the `len` bytes PREFETCH_AHEAD after offset `o`, within the file. A
 * prefetch never faults: a line whose page is not mapped yet is skipped. */
static inline void prefetch_ahead(const struct pcap_map *m, uint64_t o, uint64_t len)
{
	uint64_t at = (o + PREFETCH_AHEAD + CACHE_LINE - 1) & ~(uint64_t)(CACHE_LINE - 1);
	uint64_t stop = o + len + PREFETCH_AHEAD;

	if (stop > m->size)
		stop = m->size;
	for (; at < stop; at += CACHE_LINE)
		__builtin_prefetch(m->base + at);
}

enum pcap_map_result pcap_map_next(const struct pcap_map *m, uint64_t *off, uint64_t end,
                                   struct pcap_map_frame *fr)
{
	uint64_t o = *off, left;
	const uint8_t *h;
	uint32_t caplen, wirelen;
	int64_t sec, frac;

	if (o >= end || o == m->size)
		return PCAP_MAP_END;
	if (o > m->size)
		return PCAP_MAP_HANDOVER;
	left = m->size - o;
	if (left < PCAP_MAP_RECORD_HEADER)
		return PCAP_MAP_HANDOVER;
	h = m->base + o;
	caplen = load32(h + 8, m->swapped);
	wirelen = load32(h + 12, m->swapped);
	if (caplen > m->snaplen || caplen > wirelen || wirelen == 0 ||
	    caplen > left - PCAP_MAP_RECORD_HEADER)
		return PCAP_MAP_HANDOVER;
	prefetch_ahead(m, o, PCAP_MAP_RECORD_HEADER + caplen);
	/* The record's pages are all read here, so that a file cut short shows now (on_sigbus): its
	 * last byte, and one byte a page before that, and so on (nearly every record fits in one
	 * page: one read). */
	if (caplen > 0) {
		(void)*(volatile const uint8_t *)(h + PCAP_MAP_RECORD_HEADER + caplen - 1);
		for (uint32_t at = caplen; at > (uint32_t)m->page;) {
			at -= (uint32_t)m->page;
			(void)*(volatile const uint8_t *)(h + PCAP_MAP_RECORD_HEADER + at - 1);
		}
	}
	if (m->cut)
		return PCAP_MAP_HANDOVER;
	sec = (int32_t)load32(h, m->swapped);
	frac = (int32_t)load32(h + 4, m->swapped);
	if (sec >= 0 && (uint64_t)frac < (m->nano ? 1000000000u : 1000000u)) {
		/* What pcap_map_ts_ns() makes of it without clamping anything (nearly every record). */
		fr->ts_ns = sec * 1000000000 + frac * (m->nano ? 1 : 1000);
	} else {
		if (!m->nano)
			frac *= 1000;
		fr->ts_ns = pcap_map_ts_ns(sec, frac);
	}
	fr->caplen = caplen;
	fr->wirelen = wirelen;
	fr->data = h + PCAP_MAP_RECORD_HEADER;
	fr->offset = o;
	*off = o + PCAP_MAP_RECORD_HEADER + caplen;
	return PCAP_MAP_FRAME;
}

/* Whether a plausible record header is at `o` (pcap_map.h), and where the next would start. */
static bool plausible(const struct pcap_map *m, uint64_t o, uint32_t *sec, uint64_t *next)
{
	const uint8_t *h = m->base + o;
	uint32_t caplen, wirelen, frac;
	uint32_t wire_max = m->snaplen > RESYNC_WIRELEN_MAX ? m->snaplen : RESYNC_WIRELEN_MAX;

	if (m->size - o < PCAP_MAP_RECORD_HEADER)
		return false;
	caplen = load32(h + 8, m->swapped);
	wirelen = load32(h + 12, m->swapped);
	frac = load32(h + 4, m->swapped);
	if (caplen > m->snaplen || caplen > wirelen || wirelen > wire_max ||
	    frac >= (m->nano ? 1000000000u : 1000000u) ||
	    caplen > m->size - o - PCAP_MAP_RECORD_HEADER)
		return false;
	*sec = load32(h, m->swapped);
	*next = o + PCAP_MAP_RECORD_HEADER + caplen;
	return true;
}

static bool chain_at(const struct pcap_map *m, uint64_t o)
{
	uint32_t sec0 = 0, sec;
	uint64_t next;

	for (unsigned n = 0; n < PCAP_MAP_CHAIN; n++) {
		if (o == m->size)
			return n > 0;
		if (!plausible(m, o, &sec, &next))
			return false;
		if (n == 0)
			sec0 = sec;
		else if ((sec > sec0 ? sec - sec0 : sec0 - sec) > RESYNC_WINDOW_SEC)
			return false;
		o = next;
	}
	return true;
}

uint64_t pcap_map_resync(const struct pcap_map *m, uint64_t from, uint64_t limit)
{
	if (from <= PCAP_MAP_FILE_HEADER)
		return PCAP_MAP_FILE_HEADER;
	if (limit > m->size)
		limit = m->size;
	for (uint64_t o = from; o < limit; o++)
		if (chain_at(m, o))
			return o;
	return UINT64_MAX;
}

void pcap_map_release(const struct pcap_map *m, uint64_t from, uint64_t to)
{
	uint64_t page = (uint64_t)m->page;
	uint64_t start = from / page * page;
	uint64_t stop = (to < m->size ? to : m->size) / page * page;

	if (stop > start)
		(void)madvise(m->base + start, (size_t)(stop - start), MADV_DONTNEED);
}
