/* rowdiff.h - private to reports/: a row of text kept as the places where it differs from the row
 * before it, for a writer that holds rows a while before it writes them (csv_writer.c holds rows
 * until their incident is known).
 *
 * Rows one after the other in a report of many alike connections differ at the same places: the
 * same columns, most values the same, timestamps and frame numbers sharing their first digits,
 * and most of the time the same length. A row is cut in 16-byte chunks, each compared with the
 * reference's 16 bytes at the same place; only the chunks that differ are kept, and of each only
 * the row's bytes from its first difference to its last. Where the row is t bytes longer or
 * shorter than the reference, the values after the one that grew or shrank stand t bytes further
 * on: from the 8-byte word where that happens (the cut) the row is compared with the reference's
 * bytes t before, lined up from the end, so that a number one digit longer early in the row does
 * not leave the rest of it different (a chunk across the cut takes a word of each). Without a
 * cut, bytes past the reference's end are compared with zeros. The last n % 16 bytes are compared
 * with the reference's end. On the short-connection benchmark a 530-byte row takes about 100
 * bytes (12 or 13 chunks of its 33 differ).
 *
 * Encoding and decoding are a pass over the chunks, 16 bytes compared or written at once (SSE2
 * where the machine has it), without a call per difference; decoding turns the reference into
 * what the row was compared with where it stands (the reference's end moved once at the cut, or
 * zeros past it, its last bytes as the tail) and writes the kept bytes over it. Exact for any
 * bytes.
 *
 * A row mostly unlike its reference (its code passing a third of its size) is kept as it is: that
 * is smaller, and cheaper to write and to read back.
 *
 * The code: a varint of (n - m zigzagged) << 1 | 1 when the row comes as it is (its n bytes
 * follow). Else: a varint of the cut (its word's index, at least 1; 0 for none); a bitmap of C + 1
 * bits, C = n / 16, lowest bit first: which chunks differ (the last bit: the tail, the last n % 16
 * bytes, within the row's last 16); then for each such chunk, in order, a byte
 * first | (last - first) << 4 (the bytes that differ, 0 to 15) and the row's bytes first..last;
 * then, when the row or the reference is shorter than 16 bytes, the tail's bytes as they are.
 * Varints are LEB128: seven bits a byte, low bits first, the high bit set on all but the last.
 */
#ifndef TM_REPORTS_ROWDIFF_H
#define TM_REPORTS_ROWDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes rowdiff_encode() writes for a row of n bytes (at most ROWDIFF_ROW_MAX): two
 * varints, the bitmap, at most 17 bytes for each of the n / 16 + 1 chunks, 15 bytes of tail. The
 * out buffer needs ROWDIFF_SLACK bytes of room past that (a chunk's bytes are stored sixteen at
 * once). */
#define ROWDIFF_BOUND(n) (20 + (n) / 128 + 1 + 17 * ((n) / 16 + 1) + 15)
#define ROWDIFF_SLACK 16
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
