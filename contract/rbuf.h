/* rbuf.h - private to reports/: a reusable growable byte buffer and the text helpers the writers
 * share (decimal numbers, timestamps, UTF-8 checking).
 *
 * A writer keeps one rbuf for its whole life and clears it per flow, so after the first few flows
 * formatting a flow allocates nothing. An allocation failure is sticky: the buffer stops growing,
 * later appends are dropped and `failed` stays set until rbuf_clear(); the writer checks it once
 * before writing the buffer out. The buffer is not NUL-terminated.
 */
#ifndef TM_REPORTS_RBUF_H
#define TM_REPORTS_RBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct rbuf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed since the last rbuf_clear() */
};

/* Makes room for `extra` more bytes. Returns false (and sets b->failed) when that cannot be had. */
bool rbuf_grow(struct rbuf *b, size_t extra);
/* Releases the storage; the rbuf is then empty and usable again. */
void rbuf_free(struct rbuf *b);

static inline bool rbuf_reserve(struct rbuf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->cap - b->len >= extra)
		return true;
	return rbuf_grow(b, extra);
}

static inline void rbuf_clear(struct rbuf *b)
{
	b->len = 0;
	b->failed = false;
}

/* The appends below are inlined whole where they are used (a writer makes dozens per record):
 * the common case is a bounds check and a copy, a literal's copy a few stores. */
#define RBUF_INLINE static inline __attribute__((always_inline))

/* Their rare path: grow, then append (or drop, when the buffer cannot grow). */
void rbuf_put_slow(struct rbuf *b, const void *p, size_t n);

RBUF_INLINE void rbuf_put(struct rbuf *b, const void *p, size_t n)
{
	if (n != 0 && !b->failed && b->cap - b->len >= n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		return;
	}
	rbuf_put_slow(b, p, n);
}

RBUF_INLINE void rbuf_putc(struct rbuf *b, char c)
{
	if (!b->failed && b->cap != b->len) {
		b->data[b->len++] = c;
		return;
	}
	rbuf_put_slow(b, &c, 1);
}

static inline void rbuf_puts(struct rbuf *b, const char *s)
{
	rbuf_put(b, s, strlen(s));
}

/* strnlen(s, size) for a text in an array of 16 to 32 bytes (flow_record.h's Zeek uid and
 * history): the array's first and last 16 bytes looked at whole, no call. */
static inline size_t short_strnlen(const char *s, size_t size)
{
#ifdef __SSE2__
	unsigned z;

	if (size < 16 || size > 32)
		return strnlen(s, size);
	z = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)s), _mm_setzero_si128()));
	if (z != 0)
		return (size_t)__builtin_ctz(z);
	z = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)(s + size - 16)), _mm_setzero_si128()));
	return z != 0 ? size - 16 + (size_t)__builtin_ctz(z) : size;
#else
	return strnlen(s, size);
#endif
}

/* Appends a string literal without measuring it at run time. */
#define RBUF_LIT(b, lit) rbuf_put((b), "" lit, sizeof(lit) - 1)

/* Room u64_write() needs: a number's 1 to 20 digits. */
#define U64_TEXT_ROOM 20
/* Writes v in decimal at o, which has U64_TEXT_ROOM bytes of room; returns how many digits.
 * Inlined for one or two digits (counts, TTLs, flags: most numbers of a record). */
size_t u64_write_wide(char *o, uint64_t v);
RBUF_INLINE size_t u64_write(char *o, uint64_t v)
{
	if (v < 10) {
		*o = (char)('0' + v);
		return 1;
	}
	if (v < 100) {
		o[0] = (char)('0' + v / 10);
		o[1] = (char)('0' + v % 10);
		return 2;
	}
	return u64_write_wide(o, v);
}
/* Appends v in decimal. */
void rbuf_u64(struct rbuf *b, uint64_t v);
/* Appends microseconds as milliseconds with three decimals ("165.468"). */
void rbuf_us_as_ms(struct rbuf *b, uint64_t us);
/* Appends a timestamp as ts_format() writes it: decimal seconds with 6 or 9 decimals. */
void rbuf_ts(struct rbuf *b, int64_t ts_ns, bool nano);

/* Longest timestamp text: "-9223372036.854775808" is 21 bytes. */
#define TS_TEXT_MAX 24

/* The digits of the last two whole seconds written: the timestamps of a flow, and of the flows
 * after it, mostly share one (flows are written as they end, so two seconds alternate around a
 * second's boundary). A writer keeps one, zeroed, for its life. */
struct ts_second {
	int64_t start_ns; /* where that second starts (a timestamp at or after the epoch) */
	uint8_t len;      /* 0: nothing yet */
	char text[20];
};
struct ts_memo {
	struct ts_second sec[2];
	uint8_t next; /* the slot the next new second takes: the one not used last */
};
/* Writes the timestamp as ts_digits() does, starting at o (TS_TEXT_MAX bytes of room); returns
 * the end. */
char *ts_write(char *o, struct ts_memo *m, int64_t ts_ns, bool nano);
/* Appends it. */
void rbuf_ts_memo(struct rbuf *b, struct ts_memo *m, int64_t ts_ns, bool nano);
/* Writes microseconds as milliseconds with three decimals ("165.468") at o, which has
 * U64_TEXT_ROOM + 4 bytes of room; returns the end. */
char *us_as_ms_write(char *o, uint64_t us);

/* Writes ts_ns as decimal seconds with 9 (nano) or 6 decimals, the fraction cut toward zero,
 * ending at `end` (no NUL); returns where the text starts, at most 21 bytes before `end`. Exact
 * integer arithmetic, valid for every int64_t including negative ones. */
char *ts_digits(int64_t ts_ns, bool nano, char *end);
/* How many bytes at the start of s (n bytes) are ASCII (below 0x80); a word at a time. */
size_t ascii_prefix(const char *s, size_t n);
/* Appends s (n bytes) as valid UTF-8: every ill-formed part becomes U+FFFD (see utf8_scan). */
void rbuf_utf8(struct rbuf *b, const char *s, size_t n);

/* The names of `modifiers` (enum flow_modifier bits) in bit order, `sep`-separated, each between
 * two `quote`s ("" for none): the one loop every format joins them with. */
void put_modifier_list(struct rbuf *b, uint32_t modifiers, const char *sep, const char *quote);

/* Escaped forms of long-lived strings, made once. flow_record.h's `const char *` strings point to
 * static text or to storage that lives as long as the run and never changes (file names, notes,
 * stack guesses, encapsulation texts), so one address always holds one text: a writer escapes
 * such a string the first time and copies the result after. Direct-mapped by address: a slot
 * holds the last string that mapped to it. Never for text made per record (reasons, addresses). */
#define TEXT_MEMO_SLOTS 64
struct text_memo {
	/* How the format writes a string (appends s, n bytes, to out, quotes and all). */
	void (*escape)(struct rbuf *out, const char *s, size_t n);
	struct {
		const char *key;
		struct rbuf text;
	} slot[TEXT_MEMO_SLOTS];
};
/* The escaped form of s (not NULL): from the memo, else made, kept and returned; NULL when
 * memory ran short. Valid until the next call (which may take the same slot). */
const struct rbuf *text_memo_get(struct text_memo *m, const char *s);
void text_memo_free(struct text_memo *m);

/* A short text (a name from flow_record.h's tables as a format writes it, quotes and separator
 * and all) kept where it can be copied with one fixed-size copy: a writer fills a table of them
 * once and appends a name as a constant 32-byte copy and a length, with no strlen. */
#define NAME_TEXT_ROOM 32
struct name_text {
	char text[NAME_TEXT_ROOM];
	uint8_t len;
};
/* Sets t to before, s and after joined (s NULL: `null_text` alone); false when that does not fit
 * (t is then empty: a test checks every name fits). */
bool name_text_set(struct name_text *t, const char *before, const char *s, const char *after,
                   const char *null_text);
/* A table of name_texts indexed by an enum, with one more slot (the last) for a value out of
 * range: the entry for v. */
#define NAME_TEXT_OF(table, v)                                                                     \
	(&(table)[(unsigned)(v) < sizeof(table) / sizeof((table)[0]) - 1                           \
	              ? (unsigned)(v)                                                              \
	              : sizeof(table) / sizeof((table)[0]) - 1])
/* Fills such a table from the enum's name function (`type` its enum): slot i from name_of(i), the
 * last from name_of(out of range); sets `bad` when a name does not fit. */
#define NAME_TEXT_FILL(table, name_of, type, before, after, null_text, bad)                        \
	for (unsigned i_ = 0; i_ < sizeof(table) / sizeof((table)[0]); i_++)                      \
	(bad) |= !name_text_set(&(table)[i_], (before), name_of((type)i_), (after), (null_text))
/* Copies t at o, which has NAME_TEXT_ROOM bytes of room; returns the end of its text. */
static inline char *name_text_write(char *o, const struct name_text *t)
{
	memcpy(o, t->text, NAME_TEXT_ROOM);
	return o + t->len;
}

/* The text of the IPv4 addresses written last (ip_addr_write), direct-mapped by address: a
 * capture's addresses repeat from flow to flow (a server, a client's next connection), and a
 * slot's text is copied with one fixed-size copy. A writer keeps one, zeroed, for its life. */
#define ADDR_MEMO_SLOTS 256
struct ip_addr;
struct addr_memo {
	struct {
		uint32_t key; /* the address's 4 bytes */
		uint8_t len;  /* 0: empty */
		char text[16];
	} slot[ADDR_MEMO_SLOTS];
};
/* Writes a's text as ip_addr_write() does at o (IP_ADDR_TEXT_MAX bytes of room); returns the
 * end. IPv4 through the memo, anything else straight. */
char *addr_memo_write(char *o, struct addr_memo *m, const struct ip_addr *a);

/* tcp_flags_format()'s text of each flags byte, made the first time it is asked for. */
struct flags_memo {
	uint8_t len[256]; /* 0: not made yet */
	char text[256][32]; /* 8 names of 3 letters, 7 commas, the NUL */
};
/* The text of `flags` ("FIN,ACK"); *len gets its length. */
const char *flags_memo_get(struct flags_memo *m, uint8_t flags, size_t *len);

/* Writes v in decimal ending at `end` (no NUL); returns where the digits start. At most 20
 * bytes before `end` are written. */
char *u64_digits(uint64_t v, char *end);

/* Looks at the UTF-8 sequence starting at s (n > 0 bytes, s[0] >= 0x80). Returns its length (2-4)
 * when it is well-formed (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 * Otherwise returns 0 and sets *skip to the length of its maximal ill-formed subpart (at least 1),
 * the bytes to replace with one U+FFFD (Unicode §3.9 "U+FFFD substitution of maximal subparts"). */
size_t utf8_scan(const unsigned char *s, size_t n, size_t *skip);

#endif
