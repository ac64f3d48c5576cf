/* rowdiff.c - a row kept as the words where it differs from the row before it (rowdiff.h).
 *
 * Words are read as little-endian numbers whatever the machine, so that byte j of a word is bits
 * 8j..8j+7 and the code is the same everywhere.
 */
#include "rowdiff.h"

#include <stdint.h>
#include <string.h>

static uint64_t load_le(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static void store_le(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

/* Bytes p[at, at + 8) as a word, those from `len` on read as zeros. */
static uint64_t load_part(const void *p, size_t at, size_t len)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (size_t j = 0; j < 8 && at + j < len; j++)
		v |= (uint64_t)b[at + j] << (8 * j);
	return v;
}

unsigned char *rowdiff_put_varint(unsigned char *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*o++ = (unsigned char)v;
	return o;
}

bool rowdiff_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char b = *(*p)++;

		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* Word k's xor with the reference, x (not 0): its bit in the bitmap, the byte that says which of
 * its bytes differ (first | (last - first) << 3) and those bytes (stored as eight: the slack). */
static unsigned char *put_word(unsigned char *o, unsigned char *bitmap, size_t k, uint64_t x)
{
	unsigned first, last;

	first = (unsigned)__builtin_ctzll(x) / 8;
	last = 7 - (unsigned)__builtin_clzll(x) / 8;
	bitmap[k / 8] |= (unsigned char)(1u << (k % 8));
	*o = (unsigned char)(first | (last - first) << 3);
	store_le(o + 1, x >> (8 * first));
	return o + 2 + (last - first);
}

/* `count` words of the row, from word k0 on (row points at it), against those at `ref`; NULL as
 * soon as the code passes `limit`. */
static unsigned char *put_words(unsigned char *o, unsigned char *bitmap, const char *row,
                                const char *ref, size_t k0, size_t count, const unsigned char *limit)
{
	for (size_t j = 0; j < count; j++) {
		uint64_t x = load_le(row + 8 * j) ^ load_le(ref + 8 * j);

		if (x != 0 && (o = put_word(o, bitmap, k0 + j, x)) > limit)
			return NULL;
	}
	return o;
}

/* The first varint: n - m zigzagged, then whether the row comes as it is. */
static uint64_t head_of(ptrdiff_t t, bool raw)
{
	uint64_t z = t < 0 ? ((uint64_t)-(t + 1) << 1) | 1 : (uint64_t)t << 1;

	return z << 1 | raw;
}

/* The cut: the word where the row stops being the reference in place and goes on as the
 * reference's end (t bytes before), the row being t bytes longer: the first word k + 1 such that
 * words k and k + 1 differ from the reference in place and words k + 1 and k + 2 are the
 * reference's t bytes before. Only the first CUT_TRIES such k are tried: a row like nothing
 * before it has many. 0 for none. */
#define CUT_TRIES 8

static size_t find_cut(const char *row, size_t n, const char *ref, size_t m, ptrdiff_t t)
{
	size_t in_both = n < m ? n : m;
	unsigned tries = 0;

	for (size_t at = 0; at + 24 <= n && at + 16 <= in_both; at += 8) {
		if (load_le(row + at) == load_le(ref + at) ||
		    load_le(row + at + 8) == load_le(ref + at + 8) || (ptrdiff_t)(at + 8) < t)
			continue;
		if (load_le(row + at + 8) == load_le(ref + (size_t)((ptrdiff_t)(at + 8) - t)) &&
		    load_le(row + at + 16) == load_le(ref + (size_t)((ptrdiff_t)(at + 16) - t)))
			return at / 8 + 1;
		if (++tries == CUT_TRIES)
			break;
	}
	return 0;
}

/* A glance at GLANCE_WORDS words spread over the row: when more than GLANCE_UNLIKE of them differ
 * from the reference (in place, and lined up from the end), the row is taken as unlike it without
 * coding it first. */
#define GLANCE_WORDS 16
#define GLANCE_UNLIKE 10

size_t rowdiff_encode(const char *row, size_t n, const char *ref, size_t m, bool glance,
                      unsigned char *out)
{
	ptrdiff_t t = (ptrdiff_t)n - (ptrdiff_t)m;
	size_t words = n / 8, tail = n % 8, k = 0;
	size_t cut = t != 0 && m >= 8 ? find_cut(row, n, ref, m, t) : 0;
	size_t in_place = cut ? cut : (n < m ? n : m) / 8; /* words the reference has whole in place */
	unsigned char *o = rowdiff_put_varint(out, head_of(t, false));
	/* past this the row is unlike the reference: it goes as it is, which costs less both ways */
	const unsigned char *limit = out + 24 + n / 3;
	unsigned char *bitmap;

	if (glance && (n < m ? n : m) / 8 >= GLANCE_WORDS) {
		size_t in_both = (n < m ? n : m) / 8;
		unsigned differ = 0;

		for (size_t j = 0; j < GLANCE_WORDS; j++) {
			size_t w = j * in_both / GLANCE_WORDS, at = 8 * w;
			uint64_t word = load_le(row + at);

			/* unlike in place and, where the row grew or shrank, lined up from the end */
			differ += word != load_le(ref + at) &&
			          (t == 0 || (ptrdiff_t)at < t || at + 8 > n ||
			           word != load_le(ref + (size_t)((ptrdiff_t)at - t)));
		}
		if (differ > GLANCE_UNLIKE)
			goto raw;
	}
	o = rowdiff_put_varint(o, cut);
	bitmap = o;
	memset(bitmap, 0, words / 8 + 1);
	o += words / 8 + 1;
	if (!(o = put_words(o, bitmap, row, ref, 0, in_place, limit)))
		goto raw;
	k = in_place;
	if (cut) {
		/* the reference's end: row word k against ref[8k - t] */
		if (!(o = put_words(o, bitmap, row + 8 * cut, ref + (size_t)((ptrdiff_t)(8 * cut) - t),
		                    cut, words - cut, limit)))
			goto raw;
	} else {
		/* the row is longer: its words past the reference's end against zeros */
		for (; k < words; k++) {
			uint64_t x = load_le(row + 8 * k) ^ load_part(ref, 8 * k, m);

			if (x != 0 && (o = put_word(o, bitmap, k, x)) > limit)
				goto raw;
		}
	}
	if (tail != 0 && n >= 8 && m >= 8) {
		/* the last `tail` bytes against the reference's last ones: the top bytes of the words
		 * that end both */
		uint64_t x = load_le(row + n - 8) ^ load_le(ref + m - 8);

		x = x >> (8 * (8 - tail)) << (8 * (8 - tail));
		if (x != 0)
			o = put_word(o, bitmap, words, x);
	} else if (tail != 0) {
		memcpy(o, row + 8 * words, tail);
		o += tail;
	}
	return (size_t)(o - out);
raw:
	o = rowdiff_put_varint(out, head_of(t, true));
	memcpy(o, row, n);
	return (size_t)(o - out) + n;
}

bool rowdiff_kept_whole(const unsigned char *code)
{
	return code[0] & 1;
}

bool rowdiff_length(const unsigned char *code, size_t code_len, size_t m, size_t *n)
{
	uint64_t v;
	int64_t t;

	if (!rowdiff_get_varint(&code, code + code_len, &v))
		return false;
	v >>= 1; /* whether the row comes as it is */
	t = v & 1 ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1);
	if (m > ROWDIFF_ROW_MAX || t > (int64_t)ROWDIFF_ROW_MAX || t < -(int64_t)m ||
	    (uint64_t)((int64_t)m + t) > ROWDIFF_ROW_MAX)
		return false;
	*n = (size_t)((int64_t)m + t);
	return true;
}

size_t rowdiff_decode(const unsigned char *code, size_t code_len, char *buf, size_t m, size_t n)
{
	const unsigned char *p = code, *end = code + code_len, *bitmap;
	size_t words = n / 8, tail = n % 8, len, bytes;
	bool tail_word = tail != 0 && n >= 8 && m >= 8; /* else the tail's bytes come as they are */
	uint64_t v = 0, cut, last;

	if (!rowdiff_length(code, code_len, m, &len) || len != n)
		return 0;
	(void)rowdiff_get_varint(&p, end, &v); /* n - m, read above */
	if (v & 1) { /* as it is */
		if ((size_t)(end - p) < n)
			return 0;
		memcpy(buf, p, n);
		return (size_t)(p - code) + n;
	}
	if (!rowdiff_get_varint(&p, end, &cut) || cut > words || (cut && 8 * cut + m < n) ||
	    (size_t)(end - p) < words / 8 + 1)
		return 0;
	bitmap = p;
	p += words / 8 + 1;
	/* the reference's last word, before anything is written over */
	last = m >= 8 ? load_le(buf + m - 8) : 0;
	if (cut) {
		size_t from = (size_t)(8 * cut + m - n); /* 8 cut - t: the reference's end moves there */

		memmove(buf + 8 * cut, buf + from, m - from);
	} else if (n > m) {
		memset(buf + m, 0, n - m);
	}
	if ((size_t)(end - p) >= 9 * (words + 1) + 8) {
		/* room for the most entries there can be, eight bytes read from each: no bounds to
		 * look at per entry (a header that is not one is seen after; one whose bytes would
		 * run past its word only gives a wrong row, never a read or write out of place) */
		unsigned bad = 0;

		for (size_t i = 0; i < words / 8 + 1; i++) {
			for (unsigned b = bitmap[i]; b != 0; b &= b - 1) {
				size_t k = 8 * i + (size_t)__builtin_ctz(b);
				unsigned h = *p, first = h & 7, more = (h >> 3) & 7; /* bytes after the first */
				uint64_t x = (load_le(p + 1) & (~(uint64_t)0 >> (8 * (7 - more)))) << (8 * first);

				bad |= h; /* a header of 64 or more is not one: seen after */
				p += 2 + more;
				if (k < words)
					store_le(buf + 8 * k, load_le(buf + 8 * k) ^ x);
				else if (k == words && tail_word && !(x << (8 * tail)))
					last ^= x; /* the tail: only its top `tail` bytes */
				else
					bad = 64;
			}
		}
		if (bad >> 6)
			return 0;
	} else {
		for (size_t i = 0; i < words / 8 + 1; i++) {
			for (unsigned b = bitmap[i]; b != 0; b &= b - 1) {
				size_t k = 8 * i + (size_t)__builtin_ctz(b);
				unsigned first, more;
				uint64_t x;

				if (p == end || *p >= 64 || (*p & 7) + (*p >> 3) > 7 ||
				    (size_t)(end - p) < 2u + (*p >> 3))
					return 0;
				first = *p & 7;
				more = *p >> 3;
				x = load_part(p + 1, 0, more + 1) << (8 * first);
				p += 2 + more;
				if (k < words)
					store_le(buf + 8 * k, load_le(buf + 8 * k) ^ x);
				else if (k == words && tail_word && !(x << (8 * tail)))
					last ^= x;
				else
					return 0;
			}
		}
	}
	if (tail_word) {
		uint64_t keep = ~(uint64_t)0 >> (8 * tail); /* the bytes before the tail */

		store_le(buf + n - 8, (load_le(buf + n - 8) & keep) | (last & ~keep));
	} else if (tail != 0) {
		if ((size_t)(end - p) < tail)
			return 0;
		memcpy(buf + 8 * words, p, tail);
		p += tail;
	}
	bytes = (size_t)(p - code);
	return bytes;
}
