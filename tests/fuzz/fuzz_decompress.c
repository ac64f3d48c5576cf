/* fuzz_decompress.c - libFuzzer target: the decompression layer (analyzer/input/instream.c) and the
 * capture reader on top of it.
 *
 * Input: the bytes of a file, compressed or not (the seeds: the samples' first kilobytes
 * compressed by gzip, zstd, lz4 and xz, see make-seeds.py). It is put in a temporary file and
 * read twice:
 *  1. through instream_open() and fread() to the end (at most OUTPUT_MAX bytes: a small input
 *     may claim gigabytes);
 *  2. by name (/proc/self/fd/N), as a command-line file is: capture_set_open() peeks at the
 *     content, picks the decoder, and every frame is read.
 * Checked, beyond "no crash, no leak, no undefined behaviour":
 *  - content that is not compressed comes out byte for byte;
 *  - a read that fails has the instream's one-line error, which names the format; a read that
 *    ends without error produced at most OUTPUT_MAX bytes or reached the end of the stream;
 *  - the first bytes kept (instream_head) are the first bytes read;
 *  - every frame is within the snapshot length libpcap allows; a file's error is one line.
 */
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "instream.h"
#include "fuzz.h"

#define OUTPUT_MAX (8u << 20)
#define FRAMES_MAX 100000

static bool one_line(const char *s)
{
	return s && *s && !strchr(s, '\n');
}

static void read_stream(int fd, const uint8_t *data, size_t size)
{
	static uint8_t out[64 << 10];
	uint8_t prefix[COMPRESSION_MAGIC_MAX];
	size_t n = size < sizeof prefix ? size : sizeof prefix;
	struct instream *in = NULL;
	uint64_t total = 0;
	size_t got, head_len;
	const uint8_t *head;
	uint8_t first[INSTREAM_HEAD];
	size_t first_len = 0;
	FILE *fp;

	memcpy(prefix, data, n);
	FUZZ_CHECK(lseek(fd, (off_t)n, SEEK_SET) == (off_t)n);
	fp = instream_open(fd, prefix, n, 16 << 10, &in);
	if (!fp)
		return; /* out of memory, or the decoder did not start */
	while (total < OUTPUT_MAX && (got = fread(out, 1, sizeof out, fp)) > 0) {
		if (instream_compression(in) == COMPRESSION_NONE)
			FUZZ_CHECK(total + got <= size && memcmp(out, data + total, got) == 0);
		if (first_len < INSTREAM_HEAD) {
			size_t k = INSTREAM_HEAD - first_len < got ? INSTREAM_HEAD - first_len : got;

			memcpy(first + first_len, out, k);
			first_len += k;
		}
		total += got;
	}
	if (ferror(fp)) {
		FUZZ_CHECK(one_line(instream_error(in)));
		FUZZ_CHECK(instream_compression(in) == COMPRESSION_NONE ||
		           strstr(instream_error(in), compression_name(instream_compression(in))));
	} else if (total < OUTPUT_MAX) {
		FUZZ_CHECK(feof(fp));
		FUZZ_CHECK(!instream_error(in));
		if (instream_compression(in) == COMPRESSION_NONE)
			FUZZ_CHECK(total == size);
	}
	head = instream_head(in, &head_len);
	FUZZ_CHECK(head_len == first_len && memcmp(head, first, head_len) == 0);
	fclose(fp); /* closes fd */
}

static void read_capture(int fd)
{
	char path[64];
	char *paths[1] = { path };
	struct capture_set *cs;
	struct capture_frame frame;
	unsigned frames = 0;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	cs = capture_set_open(paths, 1, NULL);
	if (!cs)
		return;
	while (frames < FRAMES_MAX && capture_set_next(cs, &frame) == CAPTURE_FRAME) {
		FUZZ_CHECK(frame.caplen <= 262144);
		frames++;
	}
	if (capture_file_error(capture_set_file(cs, 0)))
		FUZZ_CHECK(one_line(capture_file_error(capture_set_file(cs, 0))));
	capture_set_close(cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *tmp = tmpfile();
	int fd, fd2;

	FUZZ_CHECK(tmp != NULL);
	FUZZ_CHECK(fwrite(data, 1, size, tmp) == size && fflush(tmp) == 0);
	fd = dup(fileno(tmp));
	fclose(tmp);
	FUZZ_CHECK(fd >= 0);
	fd2 = dup(fd);
	FUZZ_CHECK(fd2 >= 0);
	read_stream(fd, data, size);
	read_capture(fd2);
	close(fd2);
	return 0;
}
