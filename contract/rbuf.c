/* rbuf.c - the writers' reusable buffer, decimal and timestamp formatting, UTF-8 checking.
 *
 * Allocates only to grow a buffer (doubling, so a writer reaches its steady size after a few flows);
 * never writes to a stream.
 */
#include <stdlib.h>

#include "rbuf.h"

#include "flow_record.h"

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

void rbuf_put_slow(struct rbuf *b, const void *p, size_t n)
{
	if (n == 0 || !rbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void rbuf_free(struct rbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

/* "00" "01" ... "99": two digits per division. */
static const char digit_pairs[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

char *u64_digits(uint64_t v, char *end)
{
	char *p = end;

	if (v <= UINT32_MAX) { /* most numbers: cheaper 32-bit divisions */
		uint32_t x = (uint32_t)v;

		while (x >= 100u) {
			uint32_t r = x % 100u;

			x /= 100u;
			p -= 2;
			memcpy(p, digit_pairs + 2 * (size_t)r, 2);
		}
		v = x;
	}
	while (v >= 100u) {
		uint64_t r = v % 100u;

		v /= 100u;
		p -= 2;
		memcpy(p, digit_pairs + 2 * (size_t)r, 2);
	}
	if (v >= 10u) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

/* Writes exactly `n` digits of v (leading zeros kept, higher digits dropped) ending at `end`. */
static char *fixed_digits(uint32_t v, unsigned n, char *end)
{
	char *p = end;

	for (; n >= 2; n -= 2) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * (size_t)(v % 100u), 2);
		v /= 100u;
	}
	if (n != 0)
		*--p = (char)('0' + v % 10u);
	return p;
}

/* Digits of v in decimal: 1 to 20. From its bit length: log10(2) is about 1233 / 4096, which
 * gives the width or one more than it, and one comparison tells which. */
static unsigned decimal_width(uint64_t v)
{
	static const uint64_t pow10[20] = {
		1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
		1000000000u, 10000000000u, 100000000000u, 1000000000000u, 10000000000000u,
		100000000000000u, 1000000000000000u, 10000000000000000u, 100000000000000000u,
		1000000000000000000u, 10000000000000000000u,
	};
	uint64_t odd = v | 1u; /* 0 has one digit too; the same width otherwise (pow10 is even) */
	unsigned bits = 64u - (unsigned)__builtin_clzll(odd);
	unsigned t = bits * 1233u >> 12; /* 0 .. 19 */

	return t + 1u - (odd < pow10[t]);
}

/* v (below 10^4) in 1 to 4 digits at o; returns how many. */
static inline size_t write_below_10k(char *o, uint32_t v)
{
	if (v < 10u) {
		*o = (char)('0' + v);
		return 1;
	}
	if (v < 100u) {
		memcpy(o, digit_pairs + 2 * (size_t)v, 2);
		return 2;
	}
	if (v < 1000u) {
		o[0] = (char)('0' + v / 100u);
		memcpy(o + 1, digit_pairs + 2 * (size_t)(v % 100u), 2);
		return 3;
	}
	memcpy(o, digit_pairs + 2 * (size_t)(v / 100u), 2);
	memcpy(o + 2, digit_pairs + 2 * (size_t)(v % 100u), 2);
	return 4;
}

size_t u64_write_wide(char *o, uint64_t v)
{
	unsigned n;

	/* Up to 8 digits (ports, counts, frame numbers, flow ids: most numbers of a record)
	 * straight, as two halves of at most four. */
	if (v < 10000u)
		return write_below_10k(o, (uint32_t)v);
	if (v < 100000000u) {
		uint32_t x = (uint32_t)v, hi = x / 10000u, lo = x - hi * 10000u;
		size_t k = write_below_10k(o, hi);

		memcpy(o + k, digit_pairs + 2 * (size_t)(lo / 100u), 2);
		memcpy(o + k + 2, digit_pairs + 2 * (size_t)(lo % 100u), 2);
		return k + 4;
	}
	n = decimal_width(v);
	/* In place, backwards from where the number ends: the digits go straight to their place
	 * (building them elsewhere and copying would read back fresh small stores, which stalls). */
	u64_digits(v, o + n);
	return n;
}

void rbuf_u64(struct rbuf *b, uint64_t v)
{
	if (!rbuf_reserve(b, U64_TEXT_ROOM))
		return;
	b->len += u64_write(b->data + b->len, v);
}

char *us_as_ms_write(char *o, uint64_t us)
{
	uint64_t ms = us / 1000;
	unsigned frac = (unsigned)(us - ms * 1000);

	o += u64_write(o, ms);
	*o++ = '.';
	*o++ = (char)('0' + frac / 100);
	memcpy(o, digit_pairs + 2 * (size_t)(frac % 100), 2);
	return o + 2;
}

void rbuf_us_as_ms(struct rbuf *b, uint64_t us)
{
	if (!rbuf_reserve(b, U64_TEXT_ROOM + 4))
		return;
	b->len = (size_t)(us_as_ms_write(b->data + b->len, us) - b->data);
}

/* A timestamp's parts: whole seconds, the fraction in 6 or 9 digits, and whether it is written
 * with a minus. Sign and magnitude in unsigned arithmetic, so INT64_MIN has a magnitude too; the
 * fraction is cut toward zero, never rounded (rounding could carry into the seconds). */
struct ts_parts {
	uint64_t seconds;
	uint32_t frac;
	unsigned decimals;
	bool negative;
};

static struct ts_parts ts_split(int64_t ts_ns, bool nano)
{
	struct ts_parts t;
	uint64_t mag = ts_ns < 0 ? (uint64_t)0 - (uint64_t)ts_ns : (uint64_t)ts_ns;

	t.seconds = mag / 1000000000u;
	t.frac = (uint32_t)(mag % 1000000000u);
	t.decimals = nano ? 9 : 6;
	if (!nano)
		t.frac /= 1000u;
	/* no "-0.000000" for a value below the precision */
	t.negative = ts_ns < 0 && (t.seconds != 0 || t.frac != 0);
	return t;
}

static char *ts_parts_digits(const struct ts_parts *t, char *end)
{
	char *p = fixed_digits(t->frac, t->decimals, end);

	*--p = '.';
	p = u64_digits(t->seconds, p);
	if (t->negative)
		*--p = '-';
	return p;
}

char *ts_digits(int64_t ts_ns, bool nano, char *end)
{
	struct ts_parts t = ts_split(ts_ns, nano);

	return ts_parts_digits(&t, end);
}

void rbuf_ts(struct rbuf *b, int64_t ts_ns, bool nano)
{
	struct ts_parts t = ts_split(ts_ns, nano);
	size_t n = t.negative + decimal_width(t.seconds) + 1 + t.decimals;

	if (!rbuf_reserve(b, TS_TEXT_MAX))
		return;
	/* In place, backwards from where the text ends. */
	ts_parts_digits(&t, b->data + b->len + n);
	b->len += n;
}

/* The 6 digits of v (below 10^6) at o: three pairs. */
static inline void six_digits(char *o, uint32_t v)
{
	uint32_t hi = v / 10000u, mid = v / 100u % 100u;

	memcpy(o, digit_pairs + 2 * (size_t)hi, 2);
	memcpy(o + 2, digit_pairs + 2 * (size_t)mid, 2);
	memcpy(o + 4, digit_pairs + 2 * (size_t)(v % 100u), 2);
}

/* The text of ts_ns (at or after the epoch, within second m) at o. */
static inline char *ts_write_in_second(char *o, const struct ts_second *m, int64_t ts_ns,
                                       bool nano)
{
	uint32_t frac = (uint32_t)(ts_ns - m->start_ns); /* nanoseconds into the second */

	memcpy(o, m->text, sizeof m->text); /* all of it: one fixed-size copy, the rest is room */
	o += m->len;
	*o++ = '.';
	six_digits(o, frac / 1000u); /* microseconds, cut toward zero */
	if (!nano)
		return o + 6;
	o[6] = (char)('0' + frac % 1000u / 100u);
	memcpy(o + 7, digit_pairs + 2 * (size_t)(frac % 100u), 2);
	return o + 9;
}

/* The second of ts_ns (not negative) replaces the memo's older one first. Out of line, and
 * reached as a tail call, like the negative case: ts_write's common path saves no registers. */
__attribute__((noinline)) static char *ts_write_new_second(char *o, struct ts_memo *memo,
                                                           int64_t ts_ns, bool nano)
{
	struct ts_second *m = &memo->sec[memo->next];
	uint64_t seconds = (uint64_t)ts_ns / 1000000000u;
	char *end = m->text + sizeof m->text;
	char *p = u64_digits(seconds, end);

	memo->next ^= 1u;
	m->len = (uint8_t)(end - p);
	memmove(m->text, p, m->len);
	m->start_ns = (int64_t)(seconds * 1000000000u);
	return ts_write_in_second(o, m, ts_ns, nano);
}

/* The timestamp before the epoch, whole (never through the memo). */
__attribute__((noinline)) static char *ts_write_negative(char *o, int64_t ts_ns, bool nano)
{
	char tmp[TS_TEXT_MAX];
	char *p = ts_digits(ts_ns, nano, tmp + sizeof tmp);
	size_t n = (size_t)(tmp + sizeof tmp - p);

	memcpy(o, p, n);
	return o + n;
}

char *ts_write(char *o, struct ts_memo *m, int64_t ts_ns, bool nano)
{
	if (ts_ns < 0)
		return ts_write_negative(o, ts_ns, nano);
	/* Both at or after the epoch: a timestamp before the second wraps to a large offset. */
	if (m->sec[0].len != 0 && (uint64_t)(ts_ns - m->sec[0].start_ns) < 1000000000u) {
		m->next = 1;
		return ts_write_in_second(o, &m->sec[0], ts_ns, nano);
	}
	if (m->sec[1].len != 0 && (uint64_t)(ts_ns - m->sec[1].start_ns) < 1000000000u) {
		m->next = 0;
		return ts_write_in_second(o, &m->sec[1], ts_ns, nano);
	}
	return ts_write_new_second(o, m, ts_ns, nano);
}

void rbuf_ts_memo(struct rbuf *b, struct ts_memo *m, int64_t ts_ns, bool nano)
{
	if (!rbuf_reserve(b, TS_TEXT_MAX))
		return;
	b->len = (size_t)(ts_write(b->data + b->len, m, ts_ns, nano) - b->data);
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

size_t ascii_prefix(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, sizeof w);
		if ((w & UINT64_C(0x8080808080808080)) != 0)
			break;
	}
	while (i < n && (unsigned char)s[i] < 0x80)
		i++;
	return i;
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
			len = ascii_prefix(s + i, n - i);
			memcpy(b->data + b->len, u + i, len);
			b->len += len;
			i += len;
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

void put_modifier_list(struct rbuf *b, uint32_t modifiers, const char *sep, const char *quote)
{
	bool first = true;

	for (unsigned bit = 0; modifiers != 0 && bit < MOD_COUNT_BITS; bit++) {
		const char *name = (modifiers & (1u << bit)) ? flow_modifier_name(1u << bit) : NULL;

		if (name == NULL)
			continue;
		if (!first)
			rbuf_puts(b, sep);
		rbuf_puts(b, quote);
		rbuf_puts(b, name);
		rbuf_puts(b, quote);
		first = false;
	}
}

const struct rbuf *text_memo_get(struct text_memo *m, const char *s)
{
	uintptr_t a = (uintptr_t)s;
	size_t i = (size_t)((a ^ (a >> 6) ^ (a >> 12)) % TEXT_MEMO_SLOTS);
	struct rbuf *t = &m->slot[i].text;

	if (m->slot[i].key == s && !t->failed)
		return t;
	rbuf_clear(t);
	m->escape(t, s, strlen(s));
	if (t->failed) {
		m->slot[i].key = NULL;
		return NULL;
	}
	m->slot[i].key = s;
	return t;
}

char *addr_memo_write(char *o, struct addr_memo *m, const struct ip_addr *a)
{
	uint32_t key;
	size_t i;

	_Static_assert(IP_ADDR_TEXT_MAX >= sizeof m->slot[0].text, "a slot's copy fits the room");
	if (a->family != 4)
		return ip_addr_write(o, a);
	memcpy(&key, a->bytes, sizeof key);
	i = (size_t)((key * UINT32_C(2654435761)) >> 24) % ADDR_MEMO_SLOTS;
	if (m->slot[i].len == 0 || m->slot[i].key != key) {
		char *end = ip_addr_write(m->slot[i].text, a); /* at most 15 bytes */

		m->slot[i].key = key;
		m->slot[i].len = (uint8_t)(end - m->slot[i].text);
	}
	memcpy(o, m->slot[i].text, sizeof m->slot[i].text);
	return o + m->slot[i].len;
}

void text_memo_free(struct text_memo *m)
{
	for (size_t i = 0; i < TEXT_MEMO_SLOTS; i++) {
		rbuf_free(&m->slot[i].text);
		m->slot[i].key = NULL;
	}
}

bool name_text_set(struct name_text *t, const char *before, const char *s, const char *after,
                   const char *null_text)
{
	size_t a = strlen(before), n = s != NULL ? strlen(s) : 0, z = strlen(after);

	memset(t, 0, sizeof *t);
	if (s == NULL) {
		n = strlen(null_text);
		if (n > sizeof t->text)
			return false;
		memcpy(t->text, null_text, n);
		t->len = (uint8_t)n;
		return true;
	}
	if (a + n + z > sizeof t->text)
		return false;
	memcpy(t->text, before, a);
	memcpy(t->text + a, s, n);
	memcpy(t->text + a + n, after, z);
	t->len = (uint8_t)(a + n + z);
	return true;
}

const char *flags_memo_get(struct flags_memo *m, uint8_t flags, size_t *len)
{
	if (m->len[flags] == 0)
		m->len[flags] = (uint8_t)strlen(tcp_flags_format(flags, m->text[flags],
		                                                 sizeof m->text[flags]));
	*len = m->len[flags];
	return m->text[flags];
}
