/* rbuf.c - the writers' reusable buffer, decimal and timestamp formatting, UTF-8 checking.
 *
 * Allocates only to grow a buffer (doubling, so a writer reaches its steady size after a few flows);
 * never writes to a stream.
 */
#include <stdlib.h>

#include "rbuf.h"

bool rbuf_grow(struct rbuf *b, size_t extra)
{
	size_t need = b->len + extra;
	size_t cap = b->cap != 0 ? b->cap : 512;
	char *p;

	if (need < b->len) { /* overflow */
		b->failed = true;
		return false;
	}
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void rbuf_free(struct rbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

char *u64_digits(uint64_t v, char *end)
{
	char *p = end;

	do {
		*--p = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	return p;
}

void rbuf_u64(struct rbuf *b, uint64_t v)
{
	char tmp[20];
	char *p = u64_digits(v, tmp + sizeof tmp);

	rbuf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

char *ts_digits(int64_t ts_ns, bool nano, char *end)
{
	/* Sign and magnitude in unsigned arithmetic, so INT64_MIN has a magnitude too; the fraction
	 * is cut toward zero, never rounded (rounding could carry into the seconds). */
	bool negative = ts_ns < 0;
	uint64_t mag = negative ? (uint64_t)0 - (uint64_t)ts_ns : (uint64_t)ts_ns;
	uint64_t frac = mag % 1000000000u;
	unsigned decimals = nano ? 9 : 6;
	char *p = end;

	if (!nano)
		frac /= 1000u;
	if (mag < 1000000000u && frac == 0)
		negative = false; /* no "-0.000000" for a value below the precision */
	for (unsigned i = 0; i < decimals; i++) {
		*--p = (char)('0' + frac % 10u);
		frac /= 10u;
	}
	*--p = '.';
	p = u64_digits(mag / 1000000000u, p);
	if (negative)
		*--p = '-';
	return p;
}

void rbuf_ts(struct rbuf *b, int64_t ts_ns, bool nano)
{
	char tmp[TS_TEXT_MAX];
	char *p = ts_digits(ts_ns, nano, tmp + sizeof tmp);

	rbuf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

size_t utf8_scan(const unsigned char *s, size_t n, size_t *skip)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
	size_t need, k;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong 3-byte forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates D800-DFFF */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90; /* no overlong 4-byte forms */
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		*skip = 1; /* a continuation byte, C0/C1 (overlong) or F5-FF: never valid */
		return 0;
	}
	for (k = 1; k < need; k++) {
		if (k >= n || s[k] < lo || s[k] > hi) {
			*skip = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

void rbuf_utf8(struct rbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	/* Each ill-formed byte becomes at most 3 (EF BF BD): reserve once for the worst case. */
	if (n > SIZE_MAX / 3 || !rbuf_reserve(b, 3 * n))
		return;
	while (i < n) {
		size_t len, skip;

		if (u[i] < 0x80) {
			b->data[b->len++] = (char)u[i++];
			continue;
		}
		len = utf8_scan(u + i, n - i, &skip);
		if (len != 0) {
			memcpy(b->data + b->len, u + i, len);
			b->len += len;
			i += len;
		} else {
			memcpy(b->data + b->len, "\xEF\xBF\xBD", 3);
			b->len += 3;
			i += skip;
		}
	}
}
