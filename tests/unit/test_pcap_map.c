/* test_pcap_map.c - CUnit suite: the classic pcap file read in place (analyzer/input/pcap_map.h).
 *
 * - On every committed sample capture (classic pcap), the map's frames are libpcap's: time,
 *   caplen, wire length, bytes, and both end together.
 * - Every record libpcap treats specially is handed over at its offset, and libpcap, reading the
 *   same file, does treat it specially there: files built here from a real sample's records (cut
 *   in a header, cut in data, caplen over the snapshot length, over the link type's maximum, over
 *   the wire length, a record of length 0); a file cut short while mapped (no SIGBUS: handed
 *   over where the cut is met); files the map does not open at all (other versions, the modified format,
 *   pcapng, pseudo-headers libpcap rewrites, not a regular file, too short). A byte-swapped copy
 *   and odd timestamps read as libpcap reads them.
 * - Split reading (split_walk: resync, then the verification of pcap_map.h): on a real sample,
 *   every nominal split offset gives exactly the frames of the whole-file walk; and on a file
 *   whose payload holds a valid-looking chain of record headers, resync is fooled and the
 *   verification still gives the right frames.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_map.h"
#include "cunit_main.h"

#ifndef TM_SOURCE_DIR
#error "TM_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

#define SAMPLE TM_SOURCE_DIR "/samples/captures/realsw_ssh.pcap"
#define MAX_FRAMES 100000

/* --- building files ------------------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put16(struct buf *b, uint16_t v) { put(b, &v, 2); }

static void file_header(struct buf *b, uint32_t magic, uint16_t major, uint16_t minor,
                        uint32_t snaplen, uint32_t linktype)
{
	put32(b, magic);
	put16(b, major);
	put16(b, minor);
	put32(b, 0);
	put32(b, 0);
	put32(b, snaplen);
	put32(b, linktype);
}

static void record(struct buf *b, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t wirelen,
                   const uint8_t *data, size_t n)
{
	put32(b, sec);
	put32(b, frac);
	put32(b, caplen);
	put32(b, wirelen);
	put(b, data, n);
}

/* The whole of a file. */
static struct buf slurp(const char *path)
{
	struct buf b = { 0 };
	FILE *f = fopen(path, "rb");
	uint8_t chunk[65536];
	size_t n;

	if (!f)
		return b;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		put(&b, chunk, n);
	fclose(f);
	return b;
}

/* The sample's records, as its file holds them (host byte order: a1b2c3d4 little-endian). */
struct rec {
	uint32_t sec, frac, caplen, wirelen;
	const uint8_t *data;
};

static struct buf sample;
static struct rec recs[4096];
static size_t nrecs;

static char tmp_path[64];

/* Writes `b` to a fresh temporary file, named in tmp_path. */
static const char *write_tmp(const struct buf *b)
{
	int fd;

	snprintf(tmp_path, sizeof tmp_path, "/tmp/pm-test-XXXXXX");
	fd = mkstemp(tmp_path);
	if (fd < 0 || write(fd, b->p, b->len) != (ssize_t)b->len)
		abort();
	close(fd);
	return tmp_path;
}

static int load_sample(void)
{
	size_t o = PCAP_MAP_FILE_HEADER;

	sample = slurp(SAMPLE);
	if (sample.len < PCAP_MAP_FILE_HEADER)
		return 1;
	while (o + 16 <= sample.len && nrecs < sizeof recs / sizeof *recs) {
		struct rec *r = &recs[nrecs++];

		memcpy(&r->sec, sample.p + o, 4);
		memcpy(&r->frac, sample.p + o + 4, 4);
		memcpy(&r->caplen, sample.p + o + 8, 4);
		memcpy(&r->wirelen, sample.p + o + 12, 4);
		r->data = sample.p + o + 16;
		o += 16 + r->caplen;
	}
	return o == sample.len && nrecs > 20 ? 0 : 1;
}

static int free_sample(void)
{
	free(sample.p);
	return 0;
}

/* A copy of the sample's first `n` records, with this header. */
static struct buf sample_copy(uint32_t magic, uint16_t major, uint16_t minor, uint32_t snaplen,
                              uint32_t linktype, size_t n)
{
	struct buf b = { 0 };

	file_header(&b, magic, major, minor, snaplen, linktype);
	for (size_t i = 0; i < n; i++)
		record(&b, recs[i].sec, recs[i].frac, recs[i].caplen, recs[i].wirelen, recs[i].data,
		       recs[i].caplen);
	return b;
}

/* --- comparing with libpcap --------------------------------------------------------------- */

/* Walks `path` with the map and with libpcap side by side. Returns the map's last result and
 * sets *off (where it stopped) and *frames; every frame must be libpcap's. `next_rc` gets what
 * libpcap says of the record after the last frame (1, PCAP_ERROR_BREAK at the end, PCAP_ERROR),
 * and `h_out` its header when it gave one. */
static enum pcap_map_result compare(const char *path, uint64_t *off, size_t *frames, int *next_rc,
                                    struct pcap_pkthdr *h_out)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_map *m = pcap_map_open(path);
	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	struct pcap_map_frame fr;
	enum pcap_map_result r;
	struct pcap_pkthdr *h;
	const u_char *d;

	*frames = 0;
	*off = PCAP_MAP_FILE_HEADER;
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(pcap_map_dlt(m), pcap_datalink(p));
	CU_ASSERT_EQUAL(pcap_map_snaplen(m), (uint32_t)pcap_snapshot(p));
	while ((r = pcap_map_next(m, off, UINT64_MAX, &fr)) == PCAP_MAP_FRAME) {
		int rc = pcap_next_ex(p, &h, &d);

		CU_ASSERT_EQUAL_FATAL(rc, 1);
		CU_ASSERT_EQUAL(fr.ts_ns, pcap_map_ts_ns(h->ts.tv_sec, h->ts.tv_usec));
		CU_ASSERT_EQUAL(fr.caplen, h->caplen);
		CU_ASSERT_EQUAL(fr.wirelen, h->len);
		CU_ASSERT_EQUAL(memcmp(fr.data, d, h->caplen), 0);
		(*frames)++;
	}
	if (r == PCAP_MAP_HANDOVER) /* libpcap stands where the map handed over */
		CU_ASSERT_EQUAL((uint64_t)ftello(pcap_file(p)), *off);
	*next_rc = pcap_next_ex(p, &h, &d);
	if (*next_rc == 1 && h_out)
		*h_out = *h;
	pcap_map_close(m);
	pcap_close(p);
	return r;
}

/* --- every sample ---------------------------------------------------------------------------- */

static unsigned compare_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		size_t len = strlen(e->d_name);
		uint64_t off;
		size_t frames;
		int rc;
		struct stat st;

		if (len < 5 || strcmp(e->d_name + len - 5, ".pcap") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		{
			struct buf b = slurp(path);
			uint32_t magic = 0;

			if (b.len >= 4)
				memcpy(&magic, b.p, 4);
			free(b.p);
			if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
				continue; /* the pcapng files named .pcap */
		}
		CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
		CU_ASSERT_EQUAL(compare(path, &off, &frames, &rc, NULL), PCAP_MAP_END);
		CU_ASSERT_EQUAL(off, (uint64_t)st.st_size);
		CU_ASSERT_EQUAL(rc, PCAP_ERROR_BREAK);
		n++;
	}
	closedir(d);
	return n;
}

static void test_samples(void)
{
	unsigned n = compare_dir(TM_SOURCE_DIR "/samples/captures");

	n += compare_dir(TM_SOURCE_DIR "/samples/captures/distant");
	n += compare_dir(TM_SOURCE_DIR "/samples/captures/window");
	n += compare_dir(TM_SOURCE_DIR "/tests/realworld");
	CU_ASSERT(n > 100);
}

/* --- hand-over ------------------------------------------------------------------------------ */

#define MICRO 0xa1b2c3d4u
#define NANO 0xa1b23c4du

/* Offset of record k in a sample_copy. */
static uint64_t rec_offset(size_t k)
{
	uint64_t o = PCAP_MAP_FILE_HEADER;

	for (size_t i = 0; i < k; i++)
		o += 16 + recs[i].caplen;
	return o;
}

static void expect_handover(struct buf *b, size_t keep, int libpcap_rc, struct pcap_pkthdr *h)
{
	uint64_t off;
	size_t frames;
	int rc;

	CU_ASSERT_EQUAL(compare(write_tmp(b), &off, &frames, &rc, h), PCAP_MAP_HANDOVER);
	unlink(tmp_path);
	CU_ASSERT_EQUAL(frames, keep);
	CU_ASSERT_EQUAL(off, rec_offset(keep));
	CU_ASSERT_EQUAL(rc, libpcap_rc);
}

static void test_cut_header(void)
{
	for (size_t cut = 1; cut < 16; cut++) {
		struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, 10);

		put(&b, "0123456789abcdef", cut);
		expect_handover(&b, 10, PCAP_ERROR, NULL); /* truncated dump file (header bytes) */
		free(b.p);
	}
}

static void test_cut_data(void)
{
	size_t k = 10;

	for (size_t cut = 0; cut < recs[k].caplen; cut += 7) {
		struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, k);

		record(&b, recs[k].sec, recs[k].frac, recs[k].caplen, recs[k].wirelen, recs[k].data, cut);
		expect_handover(&b, k, PCAP_ERROR, NULL); /* truncated dump file (captured bytes) */
		free(b.p);
	}
}

static size_t largest_record(void)
{
	size_t big = 0;

	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].caplen > recs[big].caplen)
			big = i;
	return big;
}

/* caplen over the file's snapshot length, within the link type's maximum: libpcap cuts the
 * record to the snapshot length and reads on. */
static void test_over_snaplen(void)
{
	size_t big = largest_record();
	uint32_t snap = recs[big].caplen - 1;
	struct buf b = { 0 };
	struct pcap_pkthdr h = { 0 };
	size_t k = 0;

	CU_ASSERT_FATAL(recs[big].caplen > 100);
	file_header(&b, MICRO, 2, 4, snap, 1);
	for (size_t i = 0; i < nrecs && i < big; i++)
		if (recs[i].caplen <= snap) {
			record(&b, recs[i].sec, recs[i].frac, recs[i].caplen, recs[i].wirelen,
			       recs[i].data, recs[i].caplen);
			k++;
		}
	{
		uint64_t at = b.len, off;
		size_t frames;
		int rc;

		record(&b, recs[big].sec, recs[big].frac, recs[big].caplen, recs[big].wirelen,
		       recs[big].data, recs[big].caplen);
		record(&b, recs[0].sec, recs[0].frac, recs[0].caplen, recs[0].wirelen, recs[0].data,
		       recs[0].caplen);
		CU_ASSERT_EQUAL(compare(write_tmp(&b), &off, &frames, &rc, &h), PCAP_MAP_HANDOVER);
		unlink(tmp_path);
		CU_ASSERT_EQUAL(frames, k);
		CU_ASSERT_EQUAL(off, at);
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT_EQUAL(h.caplen, snap); /* changed by libpcap */
	}
	free(b.p);
}

/* caplen over the link type's maximum (262144 for Ethernet): libpcap's error. */
static void test_over_max(void)
{
	size_t k = 5;
	struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, k);
	uint8_t *big = calloc(1, 262145);

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	record(&b, recs[k].sec, recs[k].frac, 262145, 262145, big, 262145);
	expect_handover(&b, k, PCAP_ERROR, NULL);
	free(b.p);
	/* The same with a snapshot length of 0 in the file header: libpcap takes the maximum. */
	b = sample_copy(MICRO, 2, 4, 0, 1, k);
	record(&b, recs[k].sec, recs[k].frac, 262145, 262145, big, 262145);
	expect_handover(&b, k, PCAP_ERROR, NULL);
	free(b.p);
	free(big);
}

/* caplen over the wire length: libpcap 1.10 returns it as it is; the map leaves it to libpcap. */
static void test_over_wirelen(void)
{
	size_t k = 7;
	struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, k);
	struct pcap_pkthdr h = { 0 };

	record(&b, recs[k].sec, recs[k].frac, recs[k].caplen, recs[k].caplen - 1, recs[k].data,
	       recs[k].caplen);
	expect_handover(&b, k, 1, &h);
	CU_ASSERT_EQUAL(h.caplen, recs[k].caplen);
	CU_ASSERT_EQUAL(h.len, recs[k].caplen - 1);
	free(b.p);
}

/* A record of length 0 (wire and captured): libpcap returns it; the map leaves it to libpcap. */
static void test_zero_length(void)
{
	size_t k = 4;
	struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, k);
	struct pcap_pkthdr h = { 0 };

	record(&b, recs[k].sec, recs[k].frac, 0, 0, recs[k].data, 0);
	expect_handover(&b, k, 1, &h);
	CU_ASSERT_EQUAL(h.caplen, 0);
	CU_ASSERT_EQUAL(h.len, 0);
	free(b.p);
}

/* The file cut short by another program while it is mapped: no SIGBUS, the frames before the cut
 * as they were, and the record that met the cut handed over. */
static void test_cut_while_mapped(void)
{
	struct buf b = sample_copy(MICRO, 2, 4, 262144, 1, nrecs);
	uint64_t cut = 4096, off = PCAP_MAP_FILE_HEADER;
	struct pcap_map_frame fr;
	enum pcap_map_result r;
	struct pcap_map *m;
	size_t frames = 0;

	CU_ASSERT_FATAL(b.len > 3 * cut);
	m = pcap_map_open(write_tmp(&b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(pcap_map_next(m, &off, UINT64_MAX, &fr), PCAP_MAP_FRAME);
	CU_ASSERT_EQUAL_FATAL(truncate(tmp_path, (off_t)cut), 0);
	while ((r = pcap_map_next(m, &off, UINT64_MAX, &fr)) == PCAP_MAP_FRAME) {
		CU_ASSERT(fr.offset + PCAP_MAP_RECORD_HEADER + fr.caplen <= cut);
		CU_ASSERT_EQUAL(memcmp(fr.data, recs[frames + 1].data, fr.caplen), 0);
		frames++;
	}
	CU_ASSERT_EQUAL(r, PCAP_MAP_HANDOVER);
	CU_ASSERT(pcap_map_cut(m));
	CU_ASSERT(off < cut && off + PCAP_MAP_RECORD_HEADER + recs[frames + 1].caplen > cut);
	CU_ASSERT(frames > 0);
	pcap_map_close(m);
	unlink(tmp_path);
	free(b.p);
}

/* What the map does not open, and what libpcap does with it. `libpcap_opens`: whether libpcap
 * accepts the file at all. */
static void expect_not_opened(struct buf *b, bool libpcap_opens)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	const char *path = write_tmp(b);
	pcap_t *p;

	CU_ASSERT_PTR_NULL(pcap_map_open(path));
	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	CU_ASSERT_EQUAL(p != NULL, libpcap_opens);
	if (p)
		pcap_close(p);
	unlink(path);
}

static void test_not_opened(void)
{
	static const uint16_t versions[][2] = { { 2, 3 }, { 2, 2 }, { 2, 0 }, { 543, 0 } };
	struct buf b;

	for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
		b = sample_copy(MICRO, versions[i][0], versions[i][1], 262144, 1, 5);
		expect_not_opened(&b, true); /* libpcap may swap caplen and len */
		free(b.p);
	}
	b = sample_copy(MICRO, 2, 5, 262144, 1, 5);
	expect_not_opened(&b, false); /* unsupported version */
	free(b.p);
	b = sample_copy(MICRO, 1, 4, 262144, 1, 5);
	expect_not_opened(&b, false); /* archaic */
	free(b.p);
	b = sample_copy(0xa1b2cd34, 2, 4, 262144, 1, 5);
	expect_not_opened(&b, true); /* Kuznetzov: longer record headers */
	free(b.p);
	/* Pseudo-headers libpcap rewrites: USB (189, 220), NFLOG (239). */
	b = sample_copy(MICRO, 2, 4, 262144, 189, 5);
	expect_not_opened(&b, true);
	free(b.p);
	b = sample_copy(MICRO, 2, 4, 262144, 220, 5);
	expect_not_opened(&b, true);
	free(b.p);
	{ /* NFLOG: only when byte-swapped (libpcap swaps its TLV headers) */
		uint8_t *h;

		b = sample_copy(MICRO, 2, 4, 262144, 239, 5);
		for (size_t i = 0; i < b.len / 4 * 4; i += 4) { /* a byte-swapped file header */
			h = b.p + i;
			if (i == 4) {
				uint8_t t = h[0]; h[0] = h[1]; h[1] = t; t = h[2]; h[2] = h[3]; h[3] = t;
			} else if (i < PCAP_MAP_FILE_HEADER) {
				uint8_t t = h[0]; h[0] = h[3]; h[3] = t; t = h[1]; h[1] = h[2]; h[2] = t;
			}
		}
		b.len = PCAP_MAP_FILE_HEADER;
		expect_not_opened(&b, true);
		free(b.p);
		b = sample_copy(MICRO, 2, 4, 262144, 239, 5);
		CU_ASSERT_PTR_NOT_NULL(write_tmp(&b));
		{
			struct pcap_map *m = pcap_map_open(tmp_path);

			CU_ASSERT_PTR_NOT_NULL(m);
			pcap_map_close(m);
		}
		unlink(tmp_path);
		free(b.p);
	}
	/* Too short for a file header; not a capture. */
	b = sample_copy(MICRO, 2, 4, 262144, 1, 0);
	b.len = 23;
	expect_not_opened(&b, false);
	memset(b.p, 'x', 23);
	b.len = 24;
	put(&b, "more", 4);
	expect_not_opened(&b, false);
	free(b.p);
	/* pcapng. */
	{
		struct buf ng = slurp(TM_SOURCE_DIR "/samples/captures/peer_vanished_pcapng.pcapng");

		CU_ASSERT_FATAL(ng.len > 0);
		expect_not_opened(&ng, true);
		free(ng.p);
	}
	/* Not regular files. */
	CU_ASSERT_PTR_NULL(pcap_map_open("/dev/null"));
	CU_ASSERT_PTR_NULL(pcap_map_open(TM_SOURCE_DIR "/samples"));
	CU_ASSERT_PTR_NULL(pcap_map_open("/nonexistent/file.pcap"));
	{
		char fifo[] = "/tmp/pm-fifo-XXXXXX";
		int fd = mkstemp(fifo);

		CU_ASSERT_FATAL(fd >= 0);
		close(fd);
		unlink(fifo);
		CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
		CU_ASSERT_PTR_NULL(pcap_map_open(fifo)); /* and does not wait for a writer */
		unlink(fifo);
	}
}

/* A file header alone: opened, and at its end at once. */
static void test_header_only(void)
{
	struct buf b = sample_copy(NANO, 2, 4, 65535, 1, 0);
	uint64_t off;
	size_t frames;
	int rc;

	CU_ASSERT_EQUAL(compare(write_tmp(&b), &off, &frames, &rc, NULL), PCAP_MAP_END);
	unlink(tmp_path);
	CU_ASSERT_EQUAL(frames, 0);
	CU_ASSERT_EQUAL(off, PCAP_MAP_FILE_HEADER);
	CU_ASSERT_EQUAL(rc, PCAP_ERROR_BREAK);
	free(b.p);
}

static uint32_t swap32(uint32_t v) { return __builtin_bswap32(v); }
static uint16_t swap16(uint16_t v) { return (uint16_t)(v >> 8 | v << 8); }

/* A big-endian copy of the sample reads as the sample does. */
static void test_swapped(void)
{
	struct buf b = { 0 };
	uint64_t off;
	size_t frames;
	int rc;

	put32(&b, swap32(MICRO));
	put16(&b, swap16(2));
	put16(&b, swap16(4));
	put32(&b, 0);
	put32(&b, 0);
	put32(&b, swap32(262144));
	put32(&b, swap32(1));
	for (size_t i = 0; i < nrecs; i++)
		record(&b, swap32(recs[i].sec), swap32(recs[i].frac), swap32(recs[i].caplen),
		       swap32(recs[i].wirelen), recs[i].data, recs[i].caplen);
	CU_ASSERT_EQUAL(compare(write_tmp(&b), &off, &frames, &rc, NULL), PCAP_MAP_END);
	unlink(tmp_path);
	CU_ASSERT_EQUAL(frames, nrecs);
	CU_ASSERT_EQUAL(rc, PCAP_ERROR_BREAK);
	free(b.p);
}

/* Timestamps at and past every clamp: seconds with the top bit set (libpcap's signed 32-bit
 * field), a fraction of a second or more, negative fractions; in both precisions. */
static void test_timestamps(void)
{
	static const uint32_t secs[] = { 0, 1, 1700000000u, 0x7fffffffu, 0x80000000u, 0xffffffffu };
	static const uint32_t fracs[] = { 0, 999999, 1000000, 999999999, 1000000000, 0x7fffffffu,
	                                  0x80000000u, 0xffffffffu };
	uint32_t magics[] = { MICRO, NANO };

	for (size_t mi = 0; mi < 2; mi++) {
		struct buf b = { 0 };
		uint64_t off;
		size_t frames;
		int rc;

		file_header(&b, magics[mi], 2, 4, 262144, 1);
		for (size_t s = 0; s < sizeof secs / sizeof *secs; s++)
			for (size_t f = 0; f < sizeof fracs / sizeof *fracs; f++)
				record(&b, secs[s], fracs[f], recs[0].caplen, recs[0].wirelen,
				       recs[0].data, recs[0].caplen);
		CU_ASSERT_EQUAL(compare(write_tmp(&b), &off, &frames, &rc, NULL), PCAP_MAP_END);
		unlink(tmp_path);
		CU_ASSERT_EQUAL(frames, sizeof secs / sizeof *secs * (sizeof fracs / sizeof *fracs));
		free(b.p);
	}
}

/* --- split reading ---------------------------------------------------------------------------- */

struct walk {
	uint64_t offsets[MAX_FRAMES];
	size_t n;
	uint64_t stop;
	enum pcap_map_result result;
};

static struct walk whole, split, part;

static void walk_from(const struct pcap_map *m, uint64_t off, uint64_t end, struct walk *w)
{
	struct pcap_map_frame fr;

	w->n = 0;
	while ((w->result = pcap_map_next(m, &off, end, &fr)) == PCAP_MAP_FRAME && w->n < MAX_FRAMES)
		w->offsets[w->n++] = fr.offset;
	w->stop = off;
}

/* The split reading of pcap_map.h, chunk by chunk: each chunk's start is guessed by
 * pcap_map_resync from its nominal offset, and the chunk walked from its guessed start to the
 * next chunk's (as a thread would, on its own); then, in order, a chunk is kept when its guessed
 * start is where the previous chunk's walk ended, and walked again from there when it is not.
 * A hand-over ends the reading. Returns how many chunks had to be walked again. */
static unsigned split_walk(const struct pcap_map *m, const uint64_t *nominal, unsigned chunks,
                           struct walk *out)
{
	uint64_t guess[16], at = PCAP_MAP_FILE_HEADER;
	unsigned again = 0;

	CU_ASSERT_FATAL(chunks < 16);
	for (unsigned i = 0; i < chunks; i++) {
		uint64_t s = pcap_map_resync(m, nominal[i], pcap_map_size(m));

		guess[i] = s == UINT64_MAX ? pcap_map_size(m) : s;
	}
	guess[chunks] = UINT64_MAX;
	out->n = 0;
	out->result = PCAP_MAP_END;
	for (unsigned i = 0; i < chunks && out->result != PCAP_MAP_HANDOVER; i++) {
		if (at != guess[i])
			again++;
		walk_from(m, at == guess[i] ? guess[i] : at, guess[i + 1], &part);
		memcpy(out->offsets + out->n, part.offsets, part.n * sizeof *part.offsets);
		out->n += part.n;
		at = part.stop;
		out->result = part.result;
	}
	out->stop = at;
	return again;
}

static bool same_walk(const struct walk *a, const struct walk *b)
{
	return a->n == b->n && a->stop == b->stop && a->result == b->result &&
	       memcmp(a->offsets, b->offsets, a->n * sizeof *a->offsets) == 0;
}

static bool is_boundary(const struct walk *w, uint64_t off)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->offsets[i] == off)
			return true;
	return off == w->stop;
}

/* Every nominal split offset of a real sample, in two chunks and in three: the whole walk's
 * frames; and on a clean file every resync lands on a true record boundary. */
static void test_split_every_offset(void)
{
	struct pcap_map *m = pcap_map_open(SAMPLE);
	uint64_t size;
	unsigned again = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	size = pcap_map_size(m);
	walk_from(m, PCAP_MAP_FILE_HEADER, UINT64_MAX, &whole);
	CU_ASSERT_EQUAL(whole.n, nrecs);
	CU_ASSERT_EQUAL(whole.result, PCAP_MAP_END);
	for (uint64_t o = 0; o < size; o++) {
		uint64_t two[2] = { 0, o }, three[3] = { 0, o, o + (size - o) / 2 };
		uint64_t s = pcap_map_resync(m, o, size);

		CU_ASSERT(s == UINT64_MAX || (s >= o && is_boundary(&whole, s)) ||
		          (o <= PCAP_MAP_FILE_HEADER && s == PCAP_MAP_FILE_HEADER));
		again += split_walk(m, two, 2, &split);
		CU_ASSERT(same_walk(&split, &whole));
		again += split_walk(m, three, 3, &split);
		CU_ASSERT(same_walk(&split, &whole));
	}
	CU_ASSERT_EQUAL(again, 0); /* nothing in this sample fools resync */
	pcap_map_close(m);
}

/* A record whose payload is a copy of the sample's first records (headers and all): a valid
 * chain of record headers inside a record. Resync from just inside that record finds the fake
 * chain; the verification reads the right frames anyway. */
static void test_split_adversarial(void)
{
	struct buf inner = { 0 }, b = { 0 };
	struct pcap_map *m;
	uint64_t big_at, fake_at;
	unsigned fooled = 0, again = 0;
	size_t k = 0;

	/* Inner chain: records 0.. while they fit in a frame of 60000 bytes. */
	while (k < nrecs && inner.len + 16 + recs[k].caplen < 60000) {
		record(&inner, recs[k].sec, recs[k].frac, recs[k].caplen, recs[k].wirelen, recs[k].data,
		       recs[k].caplen);
		k++;
	}
	CU_ASSERT_FATAL(k > PCAP_MAP_CHAIN);
	file_header(&b, MICRO, 2, 4, 262144, 1);
	for (size_t i = 0; i < 3; i++)
		record(&b, recs[i].sec, recs[i].frac, recs[i].caplen, recs[i].wirelen, recs[i].data,
		       recs[i].caplen);
	big_at = b.len;
	fake_at = big_at + 16;
	record(&b, recs[3].sec, recs[3].frac, (uint32_t)inner.len, (uint32_t)inner.len, inner.p,
	       inner.len);
	for (size_t i = 4; i < nrecs; i++)
		record(&b, recs[i].sec, recs[i].frac, recs[i].caplen, recs[i].wirelen, recs[i].data,
		       recs[i].caplen);
	m = pcap_map_open(write_tmp(&b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	walk_from(m, PCAP_MAP_FILE_HEADER, UINT64_MAX, &whole);
	CU_ASSERT_EQUAL(whole.n, nrecs);
	CU_ASSERT_EQUAL(whole.result, PCAP_MAP_END);
	for (uint64_t o = big_at + 1; o <= fake_at; o++) {
		uint64_t two[2] = { 0, o };

		if (pcap_map_resync(m, o, pcap_map_size(m)) == fake_at)
			fooled++;
		again += split_walk(m, two, 2, &split);
		CU_ASSERT(same_walk(&split, &whole));
	}
	CU_ASSERT_EQUAL(fooled, 16);             /* every guess inside the big record's header */
	CU_ASSERT_EQUAL(again, fooled);          /* and each one walked again */
	CU_ASSERT(!is_boundary(&whole, fake_at)); /* the fake chain is no record of the file */
	pcap_map_close(m);
	unlink(tmp_path);
	free(inner.p);
	free(b.p);
}

CU_TestInfo pcap_map_tests[] = {
	{ "every sample reads as libpcap reads it", test_samples },
	{ "cut in a record header: handed over", test_cut_header },
	{ "cut in record data: handed over", test_cut_data },
	{ "caplen over the snapshot length: handed over, libpcap cuts it", test_over_snaplen },
	{ "caplen over the link type's maximum: handed over", test_over_max },
	{ "caplen over the wire length: handed over", test_over_wirelen },
	{ "a record of length 0: handed over", test_zero_length },
	{ "file cut short while mapped: handed over, no SIGBUS", test_cut_while_mapped },
	{ "other versions, formats, link types, not files: not opened", test_not_opened },
	{ "a file header alone", test_header_only },
	{ "byte-swapped file", test_swapped },
	{ "timestamps at every clamp", test_timestamps },
	{ "split at every offset of a sample", test_split_every_offset },
	{ "split with a fake chain in a payload", test_split_adversarial },
	CU_TEST_INFO_NULL,
};

CUNIT_MAIN("test_pcap_map", { "pcap_map", load_sample, free_sample, NULL, NULL, pcap_map_tests })
