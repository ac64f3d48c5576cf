/* fuzz_pcap_map.c - libFuzzer target: analyzer/input/pcap_map.c, the classic pcap file read in
 * place, against libpcap reading the same bytes.
 *
 * Input: the bytes of a file. Checked for every input, beyond "no crash, no leak, no undefined
 * behaviour":
 * - when the map opens the file, libpcap opens it too, with the same link type and snapshot
 *   length;
 * - every frame the map gives, libpcap gives as well, in the same order: same time (as
 *   pcap_map_ts_ns makes it of libpcap's header), caplen, wire length and bytes;
 * - where the map ends, libpcap is at the end of the file too; where it hands over, libpcap's
 *   stream stands at the offset handed over;
 * - a file split at nominal offsets, each chunk's start found by pcap_map_resync and verified as
 *   pcap_map.h says, gives exactly the frames of the whole walk (up to the hand-over);
 * - resync answers within [from, limit) or not at all.
 *
 * memfd_create is a GNU name: tests/fuzz/CMakeLists.txt compiles this file with _GNU_SOURCE.
 */
#include <pcap/pcap.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pcap_map.h"
#include "fuzz.h"

#define SPLITS 5

/* The whole walk: the frames' offsets, and where it stopped (offset, result). */
static size_t walk(const struct pcap_map *m, uint64_t *offsets, size_t cap, uint64_t *stop,
                   enum pcap_map_result *res)
{
	struct pcap_map_frame fr;
	uint64_t off = PCAP_MAP_FILE_HEADER;
	size_t n = 0;

	while ((*res = pcap_map_next(m, &off, UINT64_MAX, &fr)) == PCAP_MAP_FRAME) {
		FUZZ_CHECK(n < cap);
		offsets[n++] = fr.offset;
	}
	*stop = off;
	return n;
}

/* One chunk's walk from `off` up to `end`: its frames' offsets appended to out[*k...]. */
static enum pcap_map_result chunk(const struct pcap_map *m, uint64_t *off, uint64_t end,
                                  uint64_t *out, size_t *k, size_t cap)
{
	struct pcap_map_frame fr;
	enum pcap_map_result r;

	while ((r = pcap_map_next(m, off, end, &fr)) == PCAP_MAP_FRAME) {
		FUZZ_CHECK(*k < cap);
		out[(*k)++] = fr.offset;
	}
	return r;
}

/* The split walk of pcap_map.h: each chunk walked on its own from its guessed start (resync) to
 * the next one's, as a thread would; then in order, a chunk whose guessed start is not where the
 * previous chunk's walk ended is walked again from there. Must give the whole walk's frames. */
static void split_check(const struct pcap_map *m, const uint64_t *offsets, size_t n,
                        uint64_t stop, enum pcap_map_result res, size_t size)
{
	uint64_t guess[SPLITS + 1], ends[SPLITS], *frames[SPLITS], *merged;
	size_t counts[SPLITS], k = 0, cap = size / PCAP_MAP_RECORD_HEADER + 1;
	enum pcap_map_result results[SPLITS], r = PCAP_MAP_END;
	uint64_t at = PCAP_MAP_FILE_HEADER;

	merged = malloc(cap * sizeof *merged);
	FUZZ_CHECK(merged);
	for (unsigned i = 0; i < SPLITS; i++) {
		uint64_t from = (uint64_t)size * i / SPLITS;
		uint64_t s = pcap_map_resync(m, from, size);

		FUZZ_CHECK(s == PCAP_MAP_FILE_HEADER ? from <= PCAP_MAP_FILE_HEADER || s >= from
		                                     : s == UINT64_MAX || (s >= from && s < size));
		guess[i] = s == UINT64_MAX ? size : s;
	}
	guess[SPLITS] = UINT64_MAX;
	for (unsigned i = 0; i < SPLITS; i++) {
		frames[i] = malloc(cap * sizeof *frames[i]);
		FUZZ_CHECK(frames[i]);
		counts[i] = 0;
		ends[i] = guess[i];
		results[i] = chunk(m, &ends[i], guess[i + 1], frames[i], &counts[i], cap);
	}
	for (unsigned i = 0; i < SPLITS && r != PCAP_MAP_HANDOVER; i++) {
		if (at == guess[i]) { /* verified: the chunk's own walk stands */
			FUZZ_CHECK(k + counts[i] <= cap);
			memcpy(merged + k, frames[i], counts[i] * sizeof *merged);
			k += counts[i];
			at = ends[i];
			r = results[i];
		} else {
			r = chunk(m, &at, guess[i + 1], merged, &k, cap);
		}
	}
	FUZZ_CHECK(k == n && r == res && at == stop);
	FUZZ_CHECK(n == 0 || memcmp(merged, offsets, n * sizeof *merged) == 0);
	for (unsigned i = 0; i < SPLITS; i++)
		free(frames[i]);
	free(merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_map_frame fr;
	struct pcap_map *m;
	enum pcap_map_result r, res;
	uint64_t off = PCAP_MAP_FILE_HEADER, stop, *offsets;
	size_t n;
	pcap_t *p;
	int fd = memfd_create("pm", 0);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	m = pcap_map_open(path);
	p = m ? pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf)
	      : NULL;
	close(fd); /* the mapping and libpcap's stream keep the file */
	if (!m)
		return 0;
	FUZZ_CHECK(p);
	FUZZ_CHECK(pcap_datalink(p) == pcap_map_dlt(m));
	FUZZ_CHECK((uint32_t)pcap_snapshot(p) == pcap_map_snaplen(m));
	FUZZ_CHECK(pcap_map_size(m) == size);

	while ((r = pcap_map_next(m, &off, UINT64_MAX, &fr)) == PCAP_MAP_FRAME) {
		struct pcap_pkthdr *h;
		const u_char *d;

		FUZZ_CHECK(pcap_next_ex(p, &h, &d) == 1);
		FUZZ_CHECK(pcap_map_ts_ns(h->ts.tv_sec, h->ts.tv_usec) == fr.ts_ns);
		FUZZ_CHECK(h->caplen == fr.caplen && h->len == fr.wirelen);
		FUZZ_CHECK(memcmp(d, fr.data, fr.caplen) == 0);
		FUZZ_CHECK(fr.offset + PCAP_MAP_RECORD_HEADER + fr.caplen == off);
	}
	if (r == PCAP_MAP_END) {
		struct pcap_pkthdr *h;
		const u_char *d;

		FUZZ_CHECK(off == size);
		FUZZ_CHECK(pcap_next_ex(p, &h, &d) == PCAP_ERROR_BREAK);
	} else {
		FUZZ_CHECK(r == PCAP_MAP_HANDOVER);
		FUZZ_CHECK(ftello(pcap_file(p)) == (off_t)off);
	}
	pcap_close(p);

	offsets = malloc((size / PCAP_MAP_RECORD_HEADER + 1) * sizeof *offsets);
	FUZZ_CHECK(offsets);
	n = walk(m, offsets, size / PCAP_MAP_RECORD_HEADER + 1, &stop, &res);
	FUZZ_CHECK(res == r && stop == off);
	split_check(m, offsets, n, stop, res, size);
	/* Released pages come back when read again. */
	pcap_map_release(m, 0, size);
	FUZZ_CHECK(walk(m, offsets, size / PCAP_MAP_RECORD_HEADER + 1, &stop, &res) == n);
	free(offsets);
	pcap_map_close(m);
	return 0;
}
