/* rowdiff.h - private to reports/: a row of text kept as the places where it differs from the row
 * before it, for a writer that holds rows a while before it writes them (csv_writer.c holds rows
 * until their incident is known).
 *
 * Rows one after the other in a report of many alike connections differ at the same places: the
 * same columns, most values the same, timestamps and frame numbers sharing their first digits,
 * and most of the time the same length. A row is cut in 8-byte words, each xor-ed with the
 * reference's word at the same place; only the words that differ are kept, and of each only the
 * bytes from its first difference to its last. Where the row is t bytes longer or shorter than the
 * reference, the values after the one that grew or shrank stand t bytes further on: from the word
 * where that happens (the cut) the row is compared with the reference's words t bytes before,
 * lined up from the end, so that a number one digit longer early in the row does not leave the
 * rest of it different. The last n % 8 bytes are compared with the reference's end. On the
 * short-connection benchmark a 530-byte row takes about 90 bytes.
 *
 * Encoding and decoding are a pass over the words, without a call per difference; decoding
 * turns the reference into the row where it stands (the words that differ xor-ed back, the
 * reference's end moved once at the cut). Exact for any bytes.
 *
 * A row mostly unlike its reference (its code passing a third of its size) is kept as it is: that
 * is smaller, and cheaper to write and to read back.
 *
 * The code: a varint of (n - m zigzagged) << 1 | 1 when the row comes as it is (its n bytes
 * follow). Else: a varint of the cut's word + 1 (0 for none); a bitmap of W + 1 bits, W = n / 8,
 * lowest bit first: which words differ (the last bit: the tail, the last n % 8 bytes); then for
 * each such word, in order, a byte first | (last - first) << 3 (the bytes that differ, 0 to 7) and
 * the xor's bytes first..last; then, when the row or the reference is shorter than 8 bytes, the tail's bytes
 * as they are. Varints are LEB128: seven bits a byte, low bits first, the high bit set on all but
 * the last.
 */
#ifndef TM_REPORTS_ROWDIFF_H
#define TM_REPORTS_ROWDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes rowdiff_encode() writes for a row of n bytes (at most ROWDIFF_ROW_MAX): two
 * varints, the bitmap, at most 9 bytes for each of the n / 8 + 1 words, 7 bytes of tail. The out
 * buffer needs ROWDIFF_SLACK bytes of room past that (a word's bytes are stored eight at once). */
#define ROWDIFF_BOUND(n) (20 + (n) / 64 + 1 + 9 * ((n) / 8 + 1) + 7)
#define ROWDIFF_SLACK 8
#define ROWDIFF_ROW_MAX ((size_t)1 << 40)

/* Encodes row[0, n) over the reference ref[0, m) (m, n <= ROWDIFF_ROW_MAX; ref may be NULL when
 * m is 0) into out, which has ROWDIFF_BOUND(n) + ROWDIFF_SLACK bytes of room. Returns the bytes
 * written (at most ROWDIFF_BOUND(n)). With `glance` (the row before was unlike its own reference:
 * rowdiff_kept_whole()), a few words spread over the row are looked at first, and when most of
 * them differ the row is kept as it is without more work: in a report whose rows are mostly
 * unlike one another, coding each to find that out cost more than the rest of the row's writing. */
size_t rowdiff_encode(const char *row, size_t n, const char *ref, size_t m, bool glance,
                      unsigned char *out);

/* Whether the code (of one byte at least) keeps its row as it is. */
bool rowdiff_kept_whole(const unsigned char *code);

/* The length of the row that `code` (code_len bytes readable) makes of a reference of m bytes:
 * false when the code does not start with one. */
bool rowdiff_length(const unsigned char *code, size_t code_len, size_t m, size_t *n);

/* Rewrites buf, which holds the reference (m bytes) and has room for the larger of m and n bytes,
 * into the row of n bytes (rowdiff_length()) that `code` describes. Returns the bytes of `code`
 * read, or 0 when they are not what rowdiff_encode() writes for such a row over such a reference
 * (buf is then left part written). */
size_t rowdiff_decode(const unsigned char *code, size_t code_len, char *buf, size_t m, size_t n);

/* The varints the code is made of, for a caller that keeps numbers of its own beside the code:
 * writes v at o (at most 10 bytes) and returns the end; reads one at *p (before end) into *v, false
 * when it runs past end or past 64 bits. */
unsigned char *rowdiff_put_varint(unsigned char *o, uint64_t v);
bool rowdiff_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

#endif
