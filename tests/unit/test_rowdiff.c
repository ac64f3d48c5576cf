/* test_rowdiff.c - rows kept as their differences from the row before (reports/rowdiff.c).
 *
 * Every row is encoded over a reference and decoded back in place, in a buffer of exactly the
 * larger of the two lengths (the sanitizers see a byte past it), from the code alone in its
 * allocation and from the code followed by other bytes, and must come back byte for byte: rows of every length from 0 to 40 over references of every length, CSV-like rows with
 * numbers changed, grown and shrunk at every place, rows of random bytes, long rows, chains of
 * rows each coded over the one before (as csv_writer.c holds them). Alike rows must code small
 * (the cut where a row grew works), unlike ones cost their size and a few bytes, and codes cut
 * short, with bits past the last chunk or read for the wrong length are refused rather than read
 * past their end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "rowdiff.h"
#include "cunit_main.h"
#include "test_rng.h"

static uint64_t seed = 0x9E3779B97F4A7C15u;

/* Encodes row over ref, checks the code's size, decodes it over a copy of ref in a buffer of
 * exactly max(n, m) bytes and compares. Returns the code's size (0 on a failure). */
static size_t round_trip_glance(const char *row, size_t n, const char *ref, size_t m, bool glance)
{
	size_t room = ROWDIFF_BOUND(n) + ROWDIFF_SLACK, size = n > m ? n : m, len = 0, used, got;
	unsigned char *code = malloc(room);
	char *buf = malloc(size ? size : 1);
	bool ok;

	CU_ASSERT_FATAL(code != NULL && buf != NULL);
	used = rowdiff_encode(row, n, ref, m, glance, code);
	if (rowdiff_kept_whole(code)) /* as it is: the row and its length */
		CU_ASSERT(used > n && used <= n + 10);
	CU_ASSERT(used <= ROWDIFF_BOUND(n));
	/* the code alone in an allocation of its size: a read past it is seen */
	{
		unsigned char *exact = malloc(used);

		CU_ASSERT_FATAL(exact != NULL);
		memcpy(exact, code, used);
		free(code);
		code = exact;
	}
	if (m)
		memcpy(buf, ref, m);
	ok = rowdiff_length(code, used, m, &len) && len == n;
	CU_ASSERT(ok);
	got = ok ? rowdiff_decode(code, used, buf, m, n) : 0;
	CU_ASSERT_EQUAL(got, used);
	ok = ok && got == used && (n == 0 || memcmp(buf, row, n) == 0);
	CU_ASSERT(ok);
	/* again with other bytes after the code (as in a block of held rows: the decoder then
	 * reads entries without looking at the end), which it must not take as its own */
	if (ok) {
		size_t more = 9 * (n / 8 + 1) + 8;
		unsigned char *roomy = malloc(used + more);

		CU_ASSERT_FATAL(roomy != NULL);
		memcpy(roomy, code, used);
		memset(roomy + used, 0xA5, more);
		if (m)
			memcpy(buf, ref, m);
		got = rowdiff_decode(roomy, used + more, buf, m, n);
		ok = got == used && (n == 0 || memcmp(buf, row, n) == 0);
		CU_ASSERT(ok);
		free(roomy);
	}
	if (!ok)
		fprintf(stderr, "\n  row of %zu over %zu: got %.*s\n  want %.*s\n", n, m, (int)n, buf,
		        (int)n, row);
	free(code);
	free(buf);
	return ok ? used : 0;
}

static size_t round_trip(const char *row, size_t n, const char *ref, size_t m)
{
	return round_trip_glance(row, n, ref, m, false);
}

/* A row like the CSV of a busy server, its numbers drawn from `v` (5 of them). */
static size_t csv_like(char *o, size_t room, const unsigned v[5])
{
	int len = snprintf(o, room,
	                   "\"%u\",\"/tmp/capture.pcap\",\"10.0.0.1\",\"%u\",\"172.16.1.2\",\"80\","
	                   "\"false\",\"1764000000.%06u\",\"6\",\"fin_graceful\",,\"server\",\"the "
	                   "server closed first; the client closed %u.%u ms later and both FINs were "
	                   "acknowledged\",\"%u:server:FIN,ACK\",\"CLOSED\",\"TIME-WAIT\",,,,,,,,"
	                   "\"linux\",\"linux\",\"C18R1PALpq4iQtB24d\",\"client\",\"SF\",\"ShADadfF\","
	                   "\"certain\",\"between\"",
	                   v[0], v[1], v[2], v[3] / 10, v[3] % 10, v[4]);

	CU_ASSERT_FATAL(len > 0 && (size_t)len < room);
	return (size_t)len;
}

/* Rows of 0 to 40 bytes over references of 0 to 40 bytes: the tail, the short rows whose tail
 * comes as it is, the words past a shorter reference. */
static void test_every_short_length(void)
{
	char row[41], ref[41];

	for (size_t n = 0; n <= 40; n++) {
		for (size_t m = 0; m <= 40; m++) {
			for (size_t i = 0; i < 40; i++) {
				row[i] = (char)('a' + (i * 7 + n) % 26);
				ref[i] = (char)('a' + (i * 7 + m) % 26);
			}
			round_trip(row, n, m ? ref : NULL, m);
			round_trip(row, n, row, m); /* the reference is the row's start */
			round_trip(ref, m, row, n); /* and the other way round */
		}
	}
}

/* A CSV-like row with one value one digit longer or shorter, or one byte inserted or removed at
 * every place: each comes back, and the rows that grew inside one value code small (the rest is
 * lined up from the end). */
static void test_grown_and_shrunk_everywhere(void)
{
	char ref[1024], row[1024];
	const unsigned base[5] = { 1234567, 28234, 81036, 152, 1057 };
	unsigned grown[5] = { 1234567, 28234, 81036, 152, 1057 };
	size_t m = csv_like(ref, sizeof ref, base), n, code;

	/* a number one digit longer at the start: most of the row lines up from the end */
	grown[0] = 12345678;
	n = csv_like(row, sizeof row, grown);
	code = round_trip(row, n, ref, m);
	CU_ASSERT(code > 0 && code < 48);
	/* the same with a glance first: alike, so coded all the same */
	CU_ASSERT(round_trip_glance(row, n, ref, m, true) == code);
	/* the sentence's number one digit shorter in the middle */
	grown[0] = 1234568;
	grown[3] = 58;
	n = csv_like(row, sizeof row, grown);
	code = round_trip(row, n, ref, m);
	CU_ASSERT(code > 0 && code < 48);
	/* a byte in or out at every place, and a byte changed at every place */
	for (size_t at = 0; at <= m; at++) {
		memcpy(row, ref, at);
		row[at] = '7';
		memcpy(row + at + 1, ref + at, m - at);
		round_trip(row, m + 1, ref, m);
		round_trip(ref, m, row, m + 1);
		if (at < m) {
			memcpy(row, ref, m);
			row[at] ^= 0x20;
			code = round_trip(row, m, ref, m);
			CU_ASSERT(code > 0 && code < 16);
		}
	}
}

/* Random rows over random references, alike or not: any bytes at all (NULs, quotes, bytes of
 * 0x80 and up), lengths up to 3,000. */
static void test_random_rows(void)
{
	enum { ROWS = 3000, MAX = 3000 };
	char *ref = malloc(MAX), *row = malloc(MAX + 64);

	CU_ASSERT_FATAL(ref != NULL && row != NULL);
	for (unsigned i = 0; i < ROWS; i++) {
		size_t m = xorshift64s(&seed) % MAX, n;
		unsigned edits = (unsigned)(xorshift64s(&seed) % 6);

		for (size_t k = 0; k < m; k++)
			ref[k] = (char)xorshift64s(&seed);
		if (i % 5 == 0) { /* nothing alike */
			n = xorshift64s(&seed) % MAX;
			for (size_t k = 0; k < n; k++)
				row[k] = (char)xorshift64s(&seed);
		} else { /* the reference with a few bytes changed, put in or taken out */
			memcpy(row, ref, m);
			n = m;
			for (unsigned e = 0; e < edits; e++) {
				size_t at = n ? xorshift64s(&seed) % n : 0, len = xorshift64s(&seed) % 9;

				switch (xorshift64s(&seed) % 3) {
				case 0:
					if (at < n)
						row[at] = (char)xorshift64s(&seed);
					break;
				case 1:
					if (n + len > MAX)
						break;
					memmove(row + at + len, row + at, n - at);
					for (size_t k = 0; k < len; k++)
						row[at + k] = (char)xorshift64s(&seed);
					n += len;
					break;
				default:
					if (len > n - at)
						len = n - at;
					memmove(row + at, row + at + len, n - at - len);
					n -= len;
					break;
				}
			}
		}
		{
			size_t code = round_trip_glance(row, n, m ? ref : NULL, m, i % 2 == 0);

			if (code == 0)
				break;
			if (i % 5 == 0) /* unlike: kept as it is, the row and its length */
				CU_ASSERT(code <= n + 11);
		}
	}
	free(ref);
	free(row);
}

/* A chain of rows each coded over the one before, decoded in turn over the one decoded before in
 * one buffer (how csv_writer.c holds them), with a 70,000-byte row in it: all come back, and the
 * alike ones take a fraction of their size. */
static void test_chain(void)
{
	enum { ROWS = 2000, LONG = 70000 };
	char **rows = calloc(ROWS, sizeof *rows);
	size_t *lens = calloc(ROWS, sizeof *lens), coded = 0, text = 0, cap = 0;
	unsigned char **codes = calloc(ROWS, sizeof *codes);
	size_t *code_lens = calloc(ROWS, sizeof *code_lens);
	char *buf = NULL;
	size_t m = 0;

	CU_ASSERT_FATAL(rows && lens && codes && code_lens);
	for (unsigned i = 0; i < ROWS; i++) {
		unsigned v[5] = { 1000 + i * 3, 20000 + (i * 7919) % 40000, (i * 2500) % 1000000,
			          (unsigned)(xorshift64s(&seed) % 400), 10 + i * 12 };
		char tmp[1024];
		size_t n = csv_like(tmp, sizeof tmp, v);

		if (i == ROWS / 2) { /* one row much longer than the others */
			rows[i] = malloc(LONG);
			CU_ASSERT_FATAL(rows[i] != NULL);
			memset(rows[i], 'n', LONG);
			memcpy(rows[i], tmp, n);
			n = LONG;
		} else {
			rows[i] = malloc(n);
			CU_ASSERT_FATAL(rows[i] != NULL);
			memcpy(rows[i], tmp, n);
		}
		lens[i] = n;
		codes[i] = malloc(ROWDIFF_BOUND(n) + ROWDIFF_SLACK);
		CU_ASSERT_FATAL(codes[i] != NULL);
		code_lens[i] = rowdiff_encode(rows[i], n, i ? rows[i - 1] : NULL, i ? lens[i - 1] : 0,
		                              i % 3 == 0, codes[i]);
		if (i != ROWS / 2 && i != ROWS / 2 + 1) {
			coded += code_lens[i];
			text += n;
		}
	}
	for (unsigned i = 0; i < ROWS; i++) {
		size_t n;

		CU_ASSERT_FATAL(rowdiff_length(codes[i], code_lens[i], m, &n));
		CU_ASSERT_FATAL(n == lens[i]);
		if (n > cap) {
			char *b = realloc(buf, n);

			CU_ASSERT_FATAL(b != NULL);
			buf = b;
			cap = n;
		}
		CU_ASSERT_FATAL(rowdiff_decode(codes[i], code_lens[i], buf, m, n) == code_lens[i]);
		if (memcmp(buf, rows[i], n) != 0) {
			CU_FAIL("a chained row came back changed");
			fprintf(stderr, "\n  row %u: %.*s\n", i, (int)(n < 600 ? n : 600), buf);
			break;
		}
		m = n;
	}
	CU_ASSERT(coded * 4 < text);
	for (unsigned i = 0; i < ROWS; i++) {
		free(rows[i]);
		free(codes[i]);
	}
	free(rows);
	free(lens);
	free(codes);
	free(code_lens);
	free(buf);
}

/* Codes that are not what the encoder wrote for this row over this reference are refused: cut
 * short anywhere, read for another reference length, or with a bitmap bit past the last word; and
 * nothing past the code is read (the sanitizers would see it: the code is alone in its
 * allocation). */
static void test_bad_codes_refused(void)
{
	char ref[1024], row[1024], buf[1100];
	const unsigned a[5] = { 1234567, 28234, 81036, 152, 1057 };
	const unsigned b[5] = { 12345678, 28299, 81999, 58, 1099 };
	size_t m = csv_like(ref, sizeof ref, a), n = csv_like(row, sizeof row, b), len, used;
	unsigned char full[4096];

	used = rowdiff_encode(row, n, ref, m, false, full);
	for (size_t cut = 0; cut < used; cut++) {
		unsigned char *code = malloc(cut ? cut : 1);

		CU_ASSERT_FATAL(code != NULL);
		memcpy(code, full, cut);
		memcpy(buf, ref, m);
		if (rowdiff_length(code, cut, m, &len)) {
			CU_ASSERT_EQUAL(len, n);
			CU_ASSERT_EQUAL(rowdiff_decode(code, cut, buf, m, n), 0);
		}
		free(code);
	}
	/* the right code read for a row of another length */
	memcpy(buf, ref, m);
	CU_ASSERT_EQUAL(rowdiff_decode(full, used, buf, m, n - 1), 0);
	/* over a reference of another length: another row length */
	CU_ASSERT(rowdiff_length(full, used, m + 1, &len) && len == n + 1);
	/* a length past the reference's start */
	{
		unsigned char shorter[2] = { 0x06, 0 }; /* n - m = -2 (zigzag 3, not raw) */

		CU_ASSERT(!rowdiff_length(shorter, sizeof shorter, 1, &len));
		CU_ASSERT(!rowdiff_length(shorter, 0, 1, &len));
	}
	/* a bitmap bit past the last chunk (and the tail): the row of 9 bytes has no whole chunk,
	 * only the tail's bit 0; bit 2 is none */
	{
		unsigned char code[4] = { 0x00, 0x00, 0x04, 0x00 };
		char nine[9] = "abcdefgh";

		CU_ASSERT_EQUAL(rowdiff_decode(code, sizeof code, nine, 9, 9), 0);
	}
}

CUNIT_TESTS(rowdiff_tests,
	    { "every_short_length", test_every_short_length },
	    { "grown_and_shrunk_everywhere", test_grown_and_shrunk_everywhere },
	    { "random_rows", test_random_rows },
	    { "chain", test_chain },
	    { "bad_codes_refused", test_bad_codes_refused });

CUNIT_MAIN("test_rowdiff",
           { "rowdiff", NULL, NULL, NULL, NULL, rowdiff_tests })
