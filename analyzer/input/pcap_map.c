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
 *     - its caplen is over its wire length (libpcap 1.10 returns it as it is, but a damaged record
 *       is libpcap's to hand out);
 *   past the last record, the end of the file is reached exactly (PCAP_MAP_END).
 * - timestamps: libpcap's record header holds seconds and the fraction as signed 32-bit numbers
 *   (struct pcap_timeval), widened with their sign; a microsecond file's fraction is multiplied by
 *   1000 (opened with nanosecond precision). pcap_map_ts_ns() then clamps as capture.c always did.
 */
#include "pcap_map.h"

#include <fcntl.h>
#include <pcap/pcap.h>
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
#define RESYNC_WINDOW_SEC 86400

struct pcap_map {
	uint8_t *base; /* the mapping (read-only) */
	uint64_t size;
	bool swapped;  /* the file's byte order is not the host's */
	bool nano;
	int dlt;
	uint32_t snaplen; /* libpcap's: never over the link type's maximum */
	long page;
};

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
	(void)madvise(base, (size_t)m->size, MADV_SEQUENTIAL);
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
	munmap(m->base, (size_t)m->size);
	free(m);
}

uint64_t pcap_map_size(const struct pcap_map *m) { return m->size; }
int pcap_map_dlt(const struct pcap_map *m) { return m->dlt; }
bool pcap_map_nano(const struct pcap_map *m) { return m->nano; }
uint32_t pcap_map_snaplen(const struct pcap_map *m) { return m->snaplen; }

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
	if (caplen > m->snaplen || caplen > wirelen || caplen > left - PCAP_MAP_RECORD_HEADER)
		return PCAP_MAP_HANDOVER;
	sec = (int32_t)load32(h, m->swapped);
	frac = (int32_t)load32(h + 4, m->swapped);
	if (!m->nano)
		frac *= 1000;
	fr->ts_ns = pcap_map_ts_ns(sec, frac);
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
