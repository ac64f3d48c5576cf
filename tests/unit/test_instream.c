/* test_instream.c - CUnit suite: decompressing input streams (analyzer/input/instream.h).
 *
 * Each format is recognised by its magic bytes and decodes to the original bytes, compressed
 * here by the libraries' own encoders; concatenated gzip members and zstd frames read as one
 * stream; plain content passes through untouched; a stream cut short or followed by garbage
 * fails with EIO and a one-line error naming the format; the first bytes are kept for the
 * header check; and a pipe's data is handed out as soon as it is decoded, without waiting for
 * more input (a live `tcpdump -w - | gzip` must not stall the report).
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4frame.h>
#include <lzma.h>
#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>

#include "instream.h"
#include "cunit_main.h"

#define PLAIN_LEN 200000

static uint8_t plain[PLAIN_LEN];

/* Compressible but not trivial: a pcap-like mix of repeated headers and counters. */
static int fill_plain(void)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < PLAIN_LEN; i++) {
		x = x * 1103515245 + 12345;
		plain[i] = (i % 64 < 40) ? (uint8_t)(i % 64) : (uint8_t)(x >> 24);
	}
	return 0;
}

struct buf {
	uint8_t *p;
	size_t n;
};

static struct buf gzip_of(const uint8_t *data, size_t n, int flush)
{
	z_stream z = { 0 };
	struct buf b = { malloc(compressBound(n) + 64), 0 };

	CU_ASSERT_FATAL(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	z.next_in = data;
	z.avail_in = (uInt)n;
	z.next_out = b.p;
	z.avail_out = (uInt)(compressBound(n) + 64);
	CU_ASSERT(deflate(&z, flush) == (flush == Z_FINISH ? Z_STREAM_END : Z_OK));
	b.n = z.total_out;
	deflateEnd(&z);
	return b;
}

static struct buf compress_as(enum compression c, const uint8_t *data, size_t n)
{
	struct buf b = { NULL, 0 };

	switch (c) {
	case COMPRESSION_GZIP:
		return gzip_of(data, n, Z_FINISH);
	case COMPRESSION_ZSTD:
		b.p = malloc(ZSTD_compressBound(n));
		b.n = ZSTD_compress(b.p, ZSTD_compressBound(n), data, n, 3);
		CU_ASSERT(!ZSTD_isError(b.n));
		break;
	case COMPRESSION_LZ4:
		b.p = malloc(LZ4F_compressFrameBound(n, NULL));
		b.n = LZ4F_compressFrame(b.p, LZ4F_compressFrameBound(n, NULL), data, n, NULL);
		CU_ASSERT(!LZ4F_isError(b.n));
		break;
	case COMPRESSION_XZ: {
		size_t cap = lzma_stream_buffer_bound(n), len = 0;
		uint8_t *p = malloc(cap);

		CU_ASSERT_FATAL(p != NULL);
		CU_ASSERT(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, data, n, p, &len, cap) ==
		          LZMA_OK);
		b.p = p;
		b.n = len;
		break;
	}
	case COMPRESSION_NONE:
		b.p = malloc(n);
		memcpy(b.p, data, n);
		b.n = n;
		break;
	}
	return b;
}

/* A stream over a file holding `data`, opened as capture.c does: the first bytes peeked. */
static FILE *open_bytes(const uint8_t *data, size_t n, struct instream **in)
{
	FILE *tmp = tmpfile();
	int fd;
	size_t k = n < COMPRESSION_MAGIC_MAX ? n : COMPRESSION_MAGIC_MAX;

	CU_ASSERT_FATAL(tmp != NULL);
	CU_ASSERT_FATAL(fwrite(data, 1, n, tmp) == n && fflush(tmp) == 0);
	fd = dup(fileno(tmp));
	fclose(tmp);
	CU_ASSERT_FATAL(fd >= 0 && lseek(fd, (off_t)k, SEEK_SET) == (off_t)k);
	return instream_open(fd, data, k, 16 << 10, in);
}

/* Reads the whole stream into a fresh buffer; *err: whether the read ended in an error. */
static struct buf read_all(FILE *fp, bool *err)
{
	struct buf b = { malloc(4 * PLAIN_LEN + 1), 0 };
	size_t got;

	while ((got = fread(b.p + b.n, 1, 4 * PLAIN_LEN + 1 - b.n, fp)) > 0)
		b.n += got;
	*err = ferror(fp) != 0;
	return b;
}

static const enum compression formats[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_LZ4,
                                             COMPRESSION_XZ };

static void test_detect(void)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 8, 0 }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd },
	                     skippable[] = { 0x5a, 0x2a, 0x4d, 0x18 }, lz[] = { 4, 0x22, 0x4d, 0x18 },
	                     xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 }, pcap[] = { 0xd4, 0xc3, 0xb2, 0xa1 };

	CU_ASSERT_EQUAL(compression_detect(gz, sizeof gz), COMPRESSION_GZIP);
	CU_ASSERT_EQUAL(compression_detect(zs, sizeof zs), COMPRESSION_ZSTD);
	CU_ASSERT_EQUAL(compression_detect(skippable, sizeof skippable), COMPRESSION_ZSTD);
	CU_ASSERT_EQUAL(compression_detect(lz, sizeof lz), COMPRESSION_LZ4);
	CU_ASSERT_EQUAL(compression_detect(xz, sizeof xz), COMPRESSION_XZ);
	CU_ASSERT_EQUAL(compression_detect(xz, 5), COMPRESSION_NONE); /* too short to be sure */
	CU_ASSERT_EQUAL(compression_detect(pcap, sizeof pcap), COMPRESSION_NONE);
	CU_ASSERT_EQUAL(compression_detect(gz, 1), COMPRESSION_NONE);
	CU_ASSERT_EQUAL(compression_detect(NULL, 0), COMPRESSION_NONE);
	CU_ASSERT_STRING_EQUAL(compression_name(COMPRESSION_LZ4), "lz4");
	CU_ASSERT_PTR_NULL(compression_name(COMPRESSION_NONE));
}

static void test_round_trip(void)
{
	for (unsigned i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct buf z = compress_as(formats[i], plain, PLAIN_LEN);
		struct instream *in = NULL;
		FILE *fp = open_bytes(z.p, z.n, &in);
		bool err;
		struct buf out;
		size_t head_len;
		const uint8_t *head;

		CU_ASSERT_FATAL(fp != NULL);
		CU_ASSERT_EQUAL(instream_compression(in), formats[i]);
		out = read_all(fp, &err);
		CU_ASSERT(!err);
		CU_ASSERT_PTR_NULL(instream_error(in));
		CU_ASSERT_EQUAL(out.n, PLAIN_LEN);
		CU_ASSERT(memcmp(out.p, plain, PLAIN_LEN) == 0);
		CU_ASSERT_EQUAL(instream_consumed(in), z.n);
		head = instream_head(in, &head_len);
		CU_ASSERT_EQUAL(head_len, INSTREAM_HEAD);
		CU_ASSERT(memcmp(head, plain, INSTREAM_HEAD) == 0);
		fclose(fp);
		free(out.p);
		free(z.p);
	}
}

static void test_plain_passes_through(void)
{
	struct instream *in = NULL;
	FILE *fp = open_bytes(plain, 1000, &in);
	bool err;
	struct buf out;

	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_EQUAL(instream_compression(in), COMPRESSION_NONE);
	out = read_all(fp, &err);
	CU_ASSERT(!err);
	CU_ASSERT_EQUAL(out.n, 1000);
	CU_ASSERT(memcmp(out.p, plain, 1000) == 0);
	fclose(fp);
	free(out.p);
}

/* gzip -c a b and zstd frames one after the other read as zcat and zstdcat read them. */
static void test_concatenated(void)
{
	enum compression both[] = { COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_LZ4,
	                            COMPRESSION_XZ };

	for (unsigned i = 0; i < sizeof both / sizeof both[0]; i++) {
		struct buf a = compress_as(both[i], plain, 70000);
		struct buf b = compress_as(both[i], plain + 70000, PLAIN_LEN - 70000);
		uint8_t *ab = malloc(a.n + b.n);
		struct instream *in = NULL;
		FILE *fp;
		bool err;
		struct buf out;

		if (!ab || !a.p || !b.p) {
			CU_FAIL("out of memory");
			free(ab);
			free(a.p);
			free(b.p);
			continue;
		}
		memcpy(ab, a.p, a.n);
		memcpy(ab + a.n, b.p, b.n);
		fp = open_bytes(ab, a.n + b.n, &in);
		CU_ASSERT_FATAL(fp != NULL);
		out = read_all(fp, &err);
		CU_ASSERT(!err);
		CU_ASSERT_EQUAL(out.n, PLAIN_LEN);
		CU_ASSERT(memcmp(out.p, plain, PLAIN_LEN) == 0);
		fclose(fp);
		free(out.p);
		free(ab);
		free(a.p);
		free(b.p);
	}
}

static void test_truncated(void)
{
	for (unsigned i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct buf z = compress_as(formats[i], plain, PLAIN_LEN);
		struct instream *in = NULL;
		FILE *fp = open_bytes(z.p, z.n - z.n / 3, &in);
		bool err;
		struct buf out;

		CU_ASSERT_FATAL(fp != NULL);
		out = read_all(fp, &err);
		CU_ASSERT(err);
		CU_ASSERT(out.n < PLAIN_LEN);
		CU_ASSERT(memcmp(out.p, plain, out.n) == 0); /* what came out is the original's start */
		CU_ASSERT_PTR_NOT_NULL_FATAL(instream_error(in));
		CU_ASSERT_PTR_NOT_NULL(strstr(instream_error(in), "truncated"));
		CU_ASSERT_PTR_NOT_NULL(strstr(instream_error(in), compression_name(formats[i])));
		CU_ASSERT_PTR_NULL(strchr(instream_error(in), '\n'));
		fclose(fp);
		free(out.p);
		free(z.p);
	}
}

static void test_trailing_garbage(void)
{
	for (unsigned i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct buf z = compress_as(formats[i], plain, 5000);
		uint8_t *g = malloc(z.n + 16);
		struct instream *in = NULL;
		FILE *fp;
		bool err;
		struct buf out;

		if (!g || !z.p) {
			CU_FAIL("out of memory");
			free(g);
			free(z.p);
			continue;
		}
		memcpy(g, z.p, z.n);
		memcpy(g + z.n, "garbage, garbage", 16);
		fp = open_bytes(g, z.n + 16, &in);
		CU_ASSERT_FATAL(fp != NULL);
		out = read_all(fp, &err);
		CU_ASSERT(err);
		CU_ASSERT_EQUAL(out.n, 5000); /* all of the stream before the garbage */
		CU_ASSERT_PTR_NOT_NULL(instream_error(in));
		fclose(fp);
		free(out.p);
		free(g);
		free(z.p);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	/* A read waited for input while it had decoded data to hand out. */
	_exit(3);
}

/* The writer of a pipe pauses after a flushed part of a gzip stream: that part is read at once. */
static void test_pipe_not_waiting(void)
{
	int p[2];
	struct buf part = gzip_of(plain, 3000, Z_SYNC_FLUSH);
	uint8_t out[3000];
	struct instream *in = NULL;
	FILE *fp;

	CU_ASSERT_FATAL(pipe(p) == 0);
	CU_ASSERT_FATAL(write(p[1], part.p + COMPRESSION_MAGIC_MAX, part.n - COMPRESSION_MAGIC_MAX) ==
	                (ssize_t)(part.n - COMPRESSION_MAGIC_MAX));
	fp = instream_open(p[0], part.p, COMPRESSION_MAGIC_MAX, 16 << 10, &in);
	CU_ASSERT_FATAL(fp != NULL);
	signal(SIGALRM, on_alarm);
	alarm(5);
	CU_ASSERT_EQUAL(fread(out, 1, sizeof out, fp), sizeof out);
	alarm(0);
	CU_ASSERT(memcmp(out, plain, sizeof out) == 0);
	close(p[1]);
	fclose(fp);
	free(part.p);
}

CUNIT_TESTS(instream_tests,
	    { "detect", test_detect },
	    { "round_trip", test_round_trip },
	    { "plain_passes_through", test_plain_passes_through },
	    { "concatenated", test_concatenated },
	    { "truncated", test_truncated },
	    { "trailing_garbage", test_trailing_garbage },
	    { "pipe_not_waiting", test_pipe_not_waiting });

/* fill_plain runs as the suite's set-up. */
CUNIT_MAIN("test_instream",
	   { "instream", fill_plain, NULL, NULL, NULL, instream_tests })
