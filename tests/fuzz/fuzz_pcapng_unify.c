/* fuzz_pcapng_unify.c - libFuzzer target: analyzer/pcapng_unify.c, the stream that hands libpcap
 * a pcapng file with one snapshot length and one link type.
 *
 * Input: the bytes of a file, pcapng or not. Checked for every input, beyond "no crash, no leak,
 * no undefined behaviour":
 * - the stream hands on exactly as many bytes as the input has, read in chunks of every size;
 * - rewriting is idempotent: the rewritten bytes, rewritten again, come back unchanged (every
 *   interface already has the first one's link type and no snapshot limit; skipped blocks stay
 *   skipped), so nothing but those fields is touched;
 * - libpcap reads the rewritten stream to its end or its error without trouble, and every
 *   record it returns is within the input's size.
 */
#include <pcap/pcap.h>
#include <string.h>

#include "pcapng_unify.h"
#include "fuzz.h"

static size_t read_all(FILE *fp, uint8_t *out, size_t cap, size_t chunk)
{
	size_t n = 0;

	for (;;) {
		size_t want = cap - n < chunk ? cap - n : chunk;
		size_t got = want ? fread(out + n, 1, want, fp) : fread(out + n, 1, 0, fp);

		n += got;
		if (got == 0 || n == cap) {
			uint8_t extra;

			if (n == cap)
				FUZZ_CHECK(fread(&extra, 1, 1, fp) == 0);
			return n;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pcapng_unify *u;
	char errbuf[PCAP_ERRBUF_SIZE];
	uint8_t *copy, *out, *again;
	FILE *in, *fp;
	size_t n;
	pcap_t *p;

	if (size == 0)
		return 0;
	copy = malloc(size); /* fmemopen wants a buffer it could write */
	out = malloc(size);
	again = malloc(size);
	FUZZ_CHECK(copy && out && again);
	memcpy(copy, data, size);
	in = fmemopen(copy, size, "rb");
	FUZZ_CHECK(in);
	fp = pcapng_unify_wrap(in, &u);
	FUZZ_CHECK(fp);
	n = read_all(fp, out, size, 1 + size % 97);
	FUZZ_CHECK(n == size);
	fclose(fp);
	in = fmemopen(out, size, "rb");
	FUZZ_CHECK(in);
	fp = pcapng_unify_wrap(in, &u);
	FUZZ_CHECK(fp);
	FUZZ_CHECK(read_all(fp, again, size, 4096) == size);
	FUZZ_CHECK(memcmp(out, again, size) == 0);
	fclose(fp);
	free(again);
	free(out);

	in = fmemopen(copy, size, "rb");
	FUZZ_CHECK(in);
	fp = pcapng_unify_wrap(in, &u);
	FUZZ_CHECK(fp);
	p = pcap_fopen_offline(fp, errbuf);
	if (!p) {
		fclose(fp);
		free(copy);
		return 0;
	}
	for (;;) {
		struct pcap_pkthdr *h;
		const u_char *d;
		int rc = pcap_next_ex(p, &h, &d);

		if (rc != 1)
			break;
		FUZZ_CHECK(h->caplen <= size);
	}
	(void)pcapng_unify_skipped(u);
	pcap_close(p);
	free(copy);
	return 0;
}
