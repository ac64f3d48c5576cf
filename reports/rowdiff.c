/* rowdiff.c - a row kept as the 16-byte chunks where it differs from the row before it
 * (rowdiff.h).
 *
 * Words (find_cut, the glance) are read as little-endian numbers whatever the machine, and a
 * chunk's bytes are compared and kept as bytes, so the code is the same everywhere.
 */
#include "rowdiff.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static uint64_t load_le(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
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

/* The bytes of the 16 at a that differ from those at b, one bit each (bit j: a[j]). */
static unsigned diff_16(const char *a, const char *b)
{
#ifdef __SSE2__
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)a);
	__m128i y = _mm_loadu_si128((const __m128i *)(const void *)b);

	return ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) & 0xFFFFu;
#else
	unsigned m = 0;

	for (unsigned j = 0; j < 16; j++)
		m |= (unsigned)(a[j] != b[j]) << j;
	return m;
#endif
}

/* Chunk c's entry for the differing bytes d (not 0) of the row's 16 at `at`: the byte
 * first | (last - first) << 4 and the row's bytes first..last (stored as 16 when the row has them:
 * the slack). Its bit is the caller's. */
static inline unsigned char *put_chunk(unsigned char *o, unsigned d, const char *row, size_t n,
                                       size_t at)
{
	unsigned first = (unsigned)__builtin_ctz(d), last = 31u - (unsigned)__builtin_clz(d);

	*o = (unsigned char)(first | (last - first) << 4);
	if (at + first + 16 <= n)
		memcpy(o + 1, row + at + first, 16);
	else
		memcpy(o + 1, row + at + first, last - first + 1);
	return o + 2 + (last - first);
}

/* Chunk c of the row against the 16 bytes at r (in the reference, or a copy put together by the
 * caller), its bit set in the bitmap when they differ. */
static inline unsigned char *put_one(unsigned char *o, unsigned char *bitmap, const char *row,
                                     size_t n, const char *r, size_t c)
{
	unsigned d = diff_16(row + 16 * c, r);

	if (d == 0)
		return o;
	bitmap[c / 8] |= (unsigned char)(1u << (c % 8));
	return put_chunk(o, d, row, n, 16 * c);
}

/* Chunks [c, stop) of the row against the reference's bytes t before them (16 c - t >= 0), their
 * bits set in the bitmap; NULL as soon as the code passes `limit`. */
static unsigned char *put_chunks(unsigned char *o, unsigned char *bitmap, const char *row,
                                 size_t n, const char *ref, ptrdiff_t t, size_t c, size_t stop,
                                 const unsigned char *limit)
{
	for (; c < stop; c++)
		if ((o = put_one(o, bitmap, row, n, ref + (size_t)((ptrdiff_t)(16 * c) - t), c)) > limit)
			return NULL;
	return o;
}

size_t rowdiff_encode(const char *row, size_t n, const char *ref, size_t m, bool glance,
                      unsigned char *out)
{
	ptrdiff_t t = (ptrdiff_t)n - (ptrdiff_t)m;
	size_t chunks = n / 16, tail = n % 16;
	size_t cut = t != 0 && m >= 8 ? find_cut(row, n, ref, m, t) : 0;
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
	memset(bitmap, 0, chunks / 8 + 1);
	o += chunks / 8 + 1;
	if (cut) {
		/* in place before the cut's byte, the reference's t bytes before from there on; a
		 * chunk across it (the cut's byte a multiple of 8, not of 16) takes a word of each */
		size_t from = 8 * cut, c = from / 16 < chunks ? from / 16 : chunks;

		if (!(o = put_chunks(o, bitmap, row, n, ref, 0, 0, c, limit)))
			goto raw;
		if (from % 16 != 0 && c < chunks) {
			char tmp[16];

			memcpy(tmp, ref + 16 * c, 8);
			memcpy(tmp + 8, ref + (size_t)((ptrdiff_t)from - t), 8);
			if ((o = put_one(o, bitmap, row, n, tmp, c)) > limit)
				goto raw;
			c++;
		}
		if (!(o = put_chunks(o, bitmap, row, n, ref, t, c, chunks, limit)))
			goto raw;
	} else {
		/* in place, zeros past the reference's end */
		size_t c = m / 16 < chunks ? m / 16 : chunks;

		if (!(o = put_chunks(o, bitmap, row, n, ref, 0, 0, c, limit)))
			goto raw;
		for (; c < chunks; c++) {
			char tmp[16] = { 0 };

			if (16 * c < m)
				memcpy(tmp, ref + 16 * c, m - 16 * c);
			if ((o = put_one(o, bitmap, row, n, tmp, c)) > limit)
				goto raw;
		}
	}
	if (tail != 0 && n >= 16 && m >= 16) {
		/* the last `tail` bytes against the reference's last ones: the top bytes of the 16
		 * that end both */
		unsigned d = diff_16(row + n - 16, ref + m - 16) >> (16 - tail) << (16 - tail);

		if (d != 0) {
			bitmap[chunks / 8] |= (unsigned char)(1u << (chunks % 8));
			o = put_chunk(o, d, row, n, n - 16);
		}
	} else if (tail != 0) {
		memcpy(o, row + 16 * chunks, tail);
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

/* Writes the `len` (1 to 16) bytes at src over buf[0, len). `room`: buf has 16 bytes and src
 * 16 readable: one blend, no call. */
static inline void put_bytes(char *buf, const unsigned char *src, unsigned len, bool room)
{
#ifdef __SSE2__
	/* 16 bytes of 0xff then 16 of 0: the mask of the first len bytes starts 16 - len in */
	static const unsigned char ones_then_zeros[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	if (room) {
		__m128i mask = _mm_loadu_si128(
		    (const __m128i *)(const void *)(ones_then_zeros + 16 - len));
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)src);
		__m128i b = _mm_loadu_si128((const __m128i *)(void *)buf);

		_mm_storeu_si128((__m128i *)(void *)buf,
		                 _mm_or_si128(_mm_and_si128(mask, v), _mm_andnot_si128(mask, b)));
		return;
	}
#else
	(void)room;
#endif
	memcpy(buf, src, len);
}

size_t rowdiff_decode(const unsigned char *code, size_t code_len, char *buf, size_t m, size_t n)
{
	const unsigned char *p = code, *end = code + code_len, *bitmap;
	size_t chunks = n / 16, tail = n % 16, len, nbits = chunks + 1;
	bool tail_chunk = tail != 0 && n >= 16 && m >= 16; /* else the tail's bytes come as they are */
	uint64_t v = 0, cut;
	char last[16];
	bool roomy;

	if (!rowdiff_length(code, code_len, m, &len) || len != n)
		return 0;
	(void)rowdiff_get_varint(&p, end, &v); /* n - m, read above */
	if (v & 1) { /* as it is */
		if ((size_t)(end - p) < n)
			return 0;
		memcpy(buf, p, n);
		return (size_t)(p - code) + n;
	}
	if (!rowdiff_get_varint(&p, end, &cut) || cut > n / 8 || (cut && 8 * cut + m < n) ||
	    (size_t)(end - p) < chunks / 8 + 1)
		return 0;
	bitmap = p;
	p += chunks / 8 + 1;
	/* no bit past the tail's */
	if (nbits % 8 != 0 && bitmap[nbits / 8] >> (nbits % 8) != 0)
		return 0;
	/* the reference's last 16 bytes, before anything is written over */
	if (m >= 16)
		memcpy(last, buf + m - 16, 16);
	/* the reference lined up as the encoder compared it: its end moved t bytes at the cut, or
	 * zeros past it; the tail as the reference's last bytes */
	if (cut) {
		size_t from = (size_t)(8 * cut + m - n); /* 8 cut - t: the reference's end moves there */

		memmove(buf + 8 * cut, buf + from, m - from);
	} else if (n > m) {
		memset(buf + m, 0, n - m);
	}
	if (tail_chunk)
		memcpy(buf + n - tail, last + 16 - tail, tail);
	/* room for the most entries there can be, 16 bytes read from each: no bounds to look at
	 * per entry (as in a block of held rows) */
	roomy = (size_t)(end - p) >= 17 * (chunks + 1) + 16;
	for (size_t i = 0; i < chunks / 8 + 1; i++) {
		for (unsigned b = bitmap[i]; b != 0; b &= b - 1) {
			size_t c = 8 * i + (size_t)__builtin_ctz(b), at;
			unsigned first, more;

			if (!roomy && p == end)
				return 0;
			first = *p & 15;
			more = *p >> 4; /* bytes after the first */
			if (first + more > 15 || (!roomy && (size_t)(end - p) < 2u + more))
				return 0;
			if (c < chunks) {
				at = 16 * c + first;
			} else if (tail_chunk && first >= 16 - tail) { /* c is the tail's bit */
				at = n - 16 + first;
			} else {
				return 0;
			}
			put_bytes(buf + at, p + 1, more + 1,
			          at + 16 <= n && (roomy || (size_t)(end - p) >= 17));
			p += 2 + more;
		}
	}
	if (tail != 0 && !tail_chunk) {
		if ((size_t)(end - p) < tail)
			return 0;
		memcpy(buf + 16 * chunks, p, tail);
		p += tail;
	}
	return (size_t)(p - code);
}
