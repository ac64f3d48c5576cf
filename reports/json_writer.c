/* json_writer.c - `-f json` (one streamed document) and `-f ndjson` (one flow object per line).
 *
 * Both formats write the same flow object (DESIGN §4). The JSON document is
 *
 *     {"tool":"tcpmortem","version":"…","flows":[
 *     {flow 1},
 *     {flow 2}
 *     ],"captures":[…],
 *     "summary":{…}}
 *
 * and is streamed: begin writes the head, writer_flow writes each flow as it arrives, end writes
 * the captures and the summary. NDJSON writes one flow per line and flushes it, so a pipeline sees
 * each row while the capture is still being read; it has no summary line.
 *
 * Why flow objects are not jansson trees: timestamps are JSON numbers holding the exact capture
 * precision, e.g. 1764000000.123456789. A jansson real is a double, whose 53-bit mantissa cannot
 * hold a nanosecond epoch timestamp (nor print a microsecond one without noise digits), so the flow
 * objects (and the summary's two timestamps) come from the small emitter below, which writes the
 * decimal text straight from the integer nanoseconds. It also spares a tree per flow: one reusable
 * buffer, no allocation per flow, one fwrite. The captures array and the rest of the summary are
 * written once, built with jansson and dumped with json_dumpf.
 *
 * Strings are escaped per RFC 8259 §7: quote and backslash, control characters (the short forms
 * \b \f \n \r \t, as jansson writes them, otherwise \u00XX). Reasons and file names are untrusted,
 * so bytes >= 0x80 pass through only as well-formed UTF-8; each ill-formed part is written as
 * \ufffd, and the output is always valid JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rbuf.h"
#include "writer_impl.h"

/* The names of flow_record.h's tables as JSON values ("name", or null where the table has
 * none), each table with one more slot for an out-of-range value (what the name function gives
 * for it): made once, copied per record with name_text_write(). */
struct json_names {
	struct name_text cls[CLOSE_CLASS_COUNT + 1], closer[CLOSER_COUNT + 1], state[TCPS_COUNT + 1],
		handshake[HANDSHAKE_COUNT + 1], confidence[CONFIDENCE_COUNT + 1],
		reset[RESET_ORIGIN_COUNT + 1], vantage[VANTAGE_COUNT + 1], dir[FROM_SERVER + 2];
	bool bad; /* a name did not fit a name_text (test_writers makes sure none is) */
};

/* What decides the diagnosis object of a flow that has none of its rare parts (no middlebox,
 * idle timeout, CLOSE-WAIT, TIME-WAIT reuse or timers: most flows): the TIME-WAIT side and the
 * two stack guesses. Consecutive flows mostly share them, so that object is kept as written. */
struct diag_key {
	const char *family[2], *basis[2];
	uint8_t initial_ttl[2], hops[2];
	uint8_t time_wait;
};

/* A common diagnosis object kept as written. A capture has few of them (its stacks, which side
 * holds TIME-WAIT), which consecutive flows need not share (a mixed capture alternates several):
 * a few slots, direct-mapped by the key. */
#define DIAG_SLOTS 32 /* diag_slot_of() gives 5 bits */
struct diag_slot {
	struct diag_key key;
	struct rbuf text;
	bool valid;
};

/* What a flow object reuses from the flows before it. */
struct json_memo {
	struct ts_memo ts;         /* the capture's current second */
	struct text_memo strings;  /* long-lived strings escaped (put_string) */
	struct flags_memo flags;   /* TCP flags as text */
	struct reason_memo reason; /* the reason sentences' strings */
	struct addr_memo addrs;    /* IPv4 addresses as text */
	struct json_names names;
	struct diag_slot diag[DIAG_SLOTS]; /* common diagnosis objects, by their key's hash */
	struct diag_slot *diag_last;       /* the slot used last: tried first, without a hash */
};

struct json_writer {
	struct writer base;
	uint64_t n_flows;    /* flows written so far */
	struct rbuf buf;     /* flow objects on their way out (writer_emit) */
	struct json_memo m;
	struct rbuf scratch; /* strings made valid UTF-8 for jansson (end only) */
};

/* --- the emitter ------------------------------------------------------------------------------ */

/* Most of a flow object is written in stretches through a cursor: each stretch reserves, with
 * room(), an upper bound of what it writes -- LIT_ROOM per literal (W_LIT refuses a longer one
 * when compiling), NUM_ROOM per number, TS_TEXT_MAX per timestamp, NAME_ROOM(n) per name,
 * str_room(n) per string -- then writes through a plain char pointer the compiler can keep in a
 * register, and done() stores where it ended. Appending through the rbuf instead stores and
 * reloads the buffer's length at every step (a store through a char pointer may alias it). */
#define LIT_ROOM 32
#define NUM_ROOM U64_TEXT_ROOM
#define NAME_ROOM(n) ((n) + 4) /* "name", or null */

/* Copies a string literal (shorter than LIT_ROOM) to o; evaluates to the end. */
#define W_LIT(o, lit)                                                                              \
	((void)sizeof(char[sizeof(lit) <= LIT_ROOM ? 1 : -1]),                                     \
	 (char *)memcpy((o), "" lit, sizeof(lit) - 1) + (sizeof(lit) - 1))

/* A string of n bytes escaped and quoted, or null: at most 6 bytes a byte (\u00XX, or \ufffd for
 * one ill-formed byte) and the quotes. SIZE_MAX (no rbuf grows that far) when that overflows. */
static size_t str_room(size_t n)
{
	return n > (SIZE_MAX - 4) / 6 ? SIZE_MAX : 6 * n + 4;
}

/* The two-character escapes of RFC 8259 §7 for bytes below 0x20; 0: use \u00XX. */
static const char short_escape[0x20] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

/* Whether none of the 8 bytes in w needs more than copying: no control character, quote,
 * backslash or byte of a multi-byte sequence. The has-less / has-zero byte tricks: a byte's high
 * bit is set in the result where it is below 0x20, or equal to '"' or '\\' (exactly, as long as
 * no byte has its own high bit set, which is tested first). */
static bool plain_word(uint64_t w)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t high = UINT64_C(0x8080808080808080);
	uint64_t quote = w ^ (ones * '"');
	uint64_t backslash = w ^ (ones * '\\');

	return ((w | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
	         ((backslash - ones) & ~backslash)) & high) == 0;
}

#ifdef __SSE2__
/* The same for the 16 bytes at p, one bit each (bit k: p[k]), set where the byte needs more than
 * copying. A signed compare: bytes from 0x80 count as negative, below 0x20. */
static unsigned special_16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i special = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
	                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

	return (unsigned)_mm_movemask_epi8(special);
}
#endif

/* Writes s (n bytes) as a JSON string at o, which has STR_ROOM(n) bytes of room; returns the
 * end. */
static char *w_string(char *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	*o++ = '"';
	while (i < n) {
		unsigned char c;

		/* Most text needs no escape: 16 or 8 bytes at a time while that holds, and the plain
		 * bytes before one that needs it together. */
#ifdef __SSE2__
		if (n - i >= 16) {
			unsigned m = special_16(u + i);

			/* The room holds 16 more bytes: 6 for each of the n - i left. */
			memcpy(o, u + i, 16);
			if (m == 0) {
				o += 16;
				i += 16;
				continue;
			}
			o += __builtin_ctz(m);
			i += __builtin_ctz(m); /* u[i] needs more than copying */
		} else if (n >= 16) {
			/* The last 1-15 bytes, as for 8 below, when the string's last 16 are plain;
			 * else the plain ones before the first that is not. */
			unsigned m = special_16(u + n - 16);

			if (m == 0) {
				memcpy(o - (16 - (n - i)), u + n - 16, 16);
				o += n - i;
				break;
			}
			m >>= 16 - (n - i);
			if (m == 0) {
				memcpy(o, u + i, n - i);
				o += n - i;
				break;
			}
			memcpy(o, u + i, (size_t)__builtin_ctz(m));
			o += __builtin_ctz(m);
			i += __builtin_ctz(m);
		} else
#endif
		if (n - i >= 8) {
			uint64_t w;

			memcpy(&w, u + i, sizeof w);
			if (plain_word(w)) {
				memcpy(o, &w, sizeof w);
				o += 8;
				i += 8;
				continue;
			}
		} else if (n >= 8) {
			/* The last 1-7 bytes: when the string's last 8 are all plain, the ones before
			 * i among them went out unchanged just before o, so they can go out again. */
			uint64_t w;

			memcpy(&w, u + n - 8, sizeof w);
			if (plain_word(w)) {
				memcpy(o - (8 - (n - i)), &w, sizeof w);
				o += n - i;
				break;
			}
		}
		c = u[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20) {
			*o++ = '\\';
			if (short_escape[c] != 0) {
				*o++ = short_escape[c];
			} else {
				memcpy(o, "u00", 3);
				o[3] = hex[c >> 4];
				o[4] = hex[c & 0xF];
				o += 5;
			}
			i++;
		} else {
			size_t skip;
			size_t len = utf8_scan(u + i, n - i, &skip);

			if (len != 0) {
				memcpy(o, u + i, len);
				o += len;
				i += len;
			} else {
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i += skip;
			}
		}
	}
	*o++ = '"';
	return o;
}

/* Whether none of s's n bytes needs more than copying into a JSON string (no control character,
 * quote, backslash or byte from 0x80: w_string() would write them unchanged). */
static bool json_plain(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

#ifdef __SSE2__
	if (n >= 16) {
		for (; n - i >= 16; i += 16)
			if (special_16(u + i) != 0)
				return false;
		return i == n || special_16(u + n - 16) == 0; /* the last 1-15, with some before */
	}
#endif
	for (; n - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, u + i, sizeof w);
		if (!plain_word(w))
			return false;
	}
	for (; i < n; i++)
		if (u[i] < 0x20 || u[i] >= 0x80 || u[i] == '"' || u[i] == '\\')
			return false;
	return true;
}

/* Room w_reason() needs. */
#define REASON_ROOM str_room(FLOW_REASON_MAX)

/* The flow's reason sentence as a JSON string at o (REASON_ROOM bytes of room); returns the end.
 * Written in place: a sentence with nothing to escape (most: the formatter knows it of its
 * templates and strings, else it is checked) only gets its quotes; any other is escaped from a
 * copy. The text is the one flow_reason_format()
 * gives with FLOW_REASON_MAX bytes. */
static char *w_reason(char *o, struct json_memo *m, const struct flow_reason *r)
{
	bool plain;
	size_t n = flow_reason_format_memo(r, o + 1, FLOW_REASON_MAX, &m->reason, &plain);
	char copy[FLOW_REASON_MAX];

	if (plain || json_plain(o + 1, n)) {
		o[0] = '"';
		o[n + 1] = '"';
		return o + n + 2;
	}
	memcpy(copy, o + 1, n);
	return w_string(o, copy, n);
}

/* Reserves n more bytes; returns where to write them, or NULL when the buffer cannot grow (the
 * rbuf has failed: the writer reports it). */
static char *room(struct rbuf *b, size_t n)
{
	return rbuf_reserve(b, n) ? b->data + b->len : NULL;
}

/* Ends a stretch written from room(): the buffer now holds everything up to o. */
static void done(struct rbuf *b, const char *o)
{
	b->len = (size_t)(o - b->data);
}

static void put_string(struct rbuf *b, const char *s, size_t n)
{
	char *o = room(b, str_room(n));

	if (o != NULL)
		done(b, w_string(o, s, n));
}

/* A long-lived string (text_memo) escaped and quoted, or null for NULL; NULL when memory ran
 * short (the buffer is marked failed). Valid until the next call: the memo may reuse its slot. */
static const struct rbuf *memo_string(struct rbuf *b, struct json_memo *m, const char *s)
{
	static char null_chars[] = "null";
	static const struct rbuf null_text = { .data = null_chars, .len = 4 };
	const struct rbuf *t;

	if (s == NULL)
		return &null_text;
	t = text_memo_get(&m->strings, s);
	if (t == NULL)
		b->failed = true;
	return t;
}

/* A long-lived string, escaped and quoted, appended. */
static void put_memo_string(struct rbuf *b, struct json_memo *m, const char *s)
{
	const struct rbuf *t = memo_string(b, m, s);

	if (t != NULL)
		rbuf_put(b, t->data, t->len);
}

/* Copies a memo_string() result (t->len bytes of room). */
static char *w_text(char *o, const struct rbuf *t)
{
	memcpy(o, t->data, t->len);
	return o + t->len;
}

/* A name from flow_record.h's tables or a text this file formats (addresses, TCP flags): plain
 * ASCII, nothing to escape (test_writers checks every name), so copied between quotes; null for
 * NULL (n is 0 then). Text from elsewhere, even static (notes, details, stack guesses), is
 * escaped. NAME_ROOM(n) bytes of room. */
static char *w_name(char *o, const char *s, size_t n)
{
	if (s == NULL)
		return W_LIT(o, "null");
	*o++ = '"';
	memcpy(o, s, n);
	o += n;
	*o++ = '"';
	return o;
}

static char *w_num(char *o, uint64_t v)
{
	return o + u64_write(o, v);
}

/* The same through the rbuf, for the parts of a flow object seldom written. */
static void put_name(struct rbuf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	char *o = room(b, NAME_ROOM(n));

	if (o != NULL)
		done(b, w_name(o, s, n));
}

/* {"frame":..,"note":".."}: one evidence frame. */
static void put_evidence(struct rbuf *b, struct json_memo *m, const struct evidence_frame *e,
                         bool nano)
{
	size_t flags_len;
	const char *flags = flags_memo_get(&m->flags, e->flags, &flags_len);
	const struct rbuf *note = memo_string(b, m, e->note);
	char *o;

	if (note == NULL)
		return;
	/* 9 literals, 4 numbers, a timestamp, 2 names, a string */
	o = room(b, 9 * LIT_ROOM + 4 * NUM_ROOM + TS_TEXT_MAX + NAME_TEXT_ROOM +
	                NAME_ROOM(flags_len) + note->len);
	if (o == NULL)
		return;
	o = W_LIT(o, "{\"frame\":");
	o = w_num(o, e->frame);
	o = W_LIT(o, ",\"ts\":");
	o = ts_write(o, &m->ts, e->ts_ns, nano);
	o = W_LIT(o, ",\"from\":");
	o = name_text_write(o, NAME_TEXT_OF(m->names.dir, e->from));
	o = W_LIT(o, ",\"flags\":");
	o = w_name(o, flags, flags_len);
	o = W_LIT(o, ",\"seq\":");
	o = w_num(o, e->seq);
	o = W_LIT(o, ",\"ack\":");
	o = w_num(o, e->ack);
	o = W_LIT(o, ",\"len\":");
	o = w_num(o, e->len);
	o = W_LIT(o, ",\"note\":");
	o = w_text(o, note);
	o = W_LIT(o, "}");
	done(b, o);
}

/* --- the diagnosis object --------------------------------------------------------------------- */

static void put_bool(struct rbuf *b, bool v)
{
	if (v)
		RBUF_LIT(b, "true");
	else
		RBUF_LIT(b, "false");
}

/* A bound of a setting range: a number, or null when not shown. */
static void put_bound(struct rbuf *b, int64_t v, int64_t none)
{
	if (v == none || v < 0)
		RBUF_LIT(b, "null");
	else
		rbuf_u64(b, (uint64_t)v);
}

/* {"min":m,"max":M}, or null when nothing is known. */
static void put_range(struct rbuf *b, const struct setting_range *r)
{
	if (!r->known) {
		RBUF_LIT(b, "null");
		return;
	}
	RBUF_LIT(b, "{\"min\":");
	put_bound(b, r->min, TIMER_NO_MIN);
	RBUF_LIT(b, ",\"max\":");
	put_bound(b, r->max, TIMER_NO_MAX);
	rbuf_putc(b, '}');
}

static void put_timers(struct rbuf *b, const struct endpoint_timers *t)
{
	bool first = true;

	if (!t->any) {
		RBUF_LIT(b, "null");
		return;
	}
	rbuf_putc(b, '{');
	if (t->syn_seen) {
		RBUF_LIT(b, "\"syn\":{\"retransmissions\":");
		rbuf_u64(b, t->syn_retransmissions);
		RBUF_LIT(b, ",\"initial_rto_ms\":");
		rbuf_u64(b, t->syn_initial_rto_ms);
		RBUF_LIT(b, ",\"linear\":");
		put_bool(b, t->syn_linear);
		RBUF_LIT(b, ",\"gave_up\":");
		put_bool(b, t->syn_gave_up);
		if (t->synack)
			RBUF_LIT(b, ",\"tcp_synack_retries\":");
		else
			RBUF_LIT(b, ",\"tcp_syn_retries\":");
		put_range(b, &t->tcp_syn_retries);
		rbuf_putc(b, '}');
		first = false;
	}
	if (t->rto_seen) {
		if (!first)
			rbuf_putc(b, ',');
		RBUF_LIT(b, "\"retransmission\":{\"rto_retransmissions\":");
		rbuf_u64(b, t->rto_retransmissions);
		RBUF_LIT(b, ",\"tail_loss_probe\":");
		put_bool(b, t->tail_loss_probe);
		RBUF_LIT(b, ",\"initial_rto_ms\":");
		rbuf_u64(b, t->initial_rto_ms);
		RBUF_LIT(b, ",\"gave_up\":");
		put_bool(b, t->rto_gave_up);
		RBUF_LIT(b, ",\"tcp_retries2\":");
		put_range(b, &t->tcp_retries2);
		RBUF_LIT(b, ",\"user_timeout_ms\":");
		put_range(b, &t->user_timeout_ms);
		rbuf_putc(b, '}');
		first = false;
	}
	if (t->keepalive_seen) {
		if (!first)
			rbuf_putc(b, ',');
		RBUF_LIT(b, "\"keepalive\":{\"tcp_keepalive_time\":");
		put_range(b, &t->keepalive_time_s);
		RBUF_LIT(b, ",\"tcp_keepalive_intvl\":");
		put_range(b, &t->keepalive_intvl_s);
		RBUF_LIT(b, ",\"tcp_keepalive_probes\":");
		put_range(b, &t->keepalive_probes);
		rbuf_putc(b, '}');
		first = false;
	}
	if (t->fin_timeout_s.known) {
		if (!first)
			rbuf_putc(b, ',');
		RBUF_LIT(b, "\"tcp_fin_timeout\":");
		put_range(b, &t->fin_timeout_s);
		first = false;
	}
	if (t->tw_reuse) {
		if (!first)
			rbuf_putc(b, ',');
		RBUF_LIT(b, "\"tcp_tw_reuse\":true");
	}
	rbuf_putc(b, '}');
}

static void put_stack(struct rbuf *b, struct json_memo *m, const struct stack_guess *g)
{
	const struct rbuf *basis;
	char *o;

	if (g->family == NULL) {
		RBUF_LIT(b, "null");
		return;
	}
	RBUF_LIT(b, "{\"family\":");
	put_memo_string(b, m, g->family);
	basis = memo_string(b, m, g->basis);
	if (basis == NULL)
		return;
	/* 4 literals, 2 numbers, a string */
	o = room(b, 4 * LIT_ROOM + 2 * NUM_ROOM + basis->len);
	if (o == NULL)
		return;
	o = W_LIT(o, ",\"initial_ttl\":");
	o = w_num(o, g->initial_ttl);
	o = W_LIT(o, ",\"hops\":");
	o = w_num(o, g->hops);
	o = W_LIT(o, ",\"basis\":");
	o = w_text(o, basis);
	o = W_LIT(o, "}");
	done(b, o);
}

static void put_diagnosis_whole(struct rbuf *b, struct json_memo *jm,
                                const struct flow_diagnosis *d);

static bool same_diag_key(const struct diag_key *a, const struct diag_key *b)
{
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		if (a->family[s] != b->family[s] || a->basis[s] != b->basis[s] ||
		    a->initial_ttl[s] != b->initial_ttl[s] || a->hops[s] != b->hops[s])
			return false;
	}
	return a->time_wait == b->time_wait;
}

/* The slot of key k: its pointers and numbers mixed (multiplicative hashing). */
static unsigned diag_slot_of(const struct diag_key *k)
{
	uint64_t h = (uint64_t)(uintptr_t)k->family[0] ^ (uint64_t)(uintptr_t)k->family[1] << 1 ^
	             (uint64_t)(uintptr_t)k->basis[0] << 2 ^ (uint64_t)(uintptr_t)k->basis[1] << 3 ^
	             (uint64_t)k->initial_ttl[0] << 8 ^ (uint64_t)k->initial_ttl[1] << 16 ^
	             (uint64_t)k->hops[0] << 24 ^ (uint64_t)k->hops[1] << 32 ^
	             (uint64_t)k->time_wait << 40;

	return (unsigned)((h * UINT64_C(0x9e3779b97f4a7c15)) >> 59); /* 0 .. DIAG_SLOTS - 1 */
}

/* The diagnosis object of a flow without its rare parts (struct diag_key): the one made for the
 * same key again when its slot holds it, else made and kept there. */
static void put_common_diagnosis(struct rbuf *b, struct json_memo *jm,
                                 const struct flow_diagnosis *d)
{
	struct diag_key k;
	struct diag_slot *slot;
	size_t start = b->len;

	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		k.family[s] = d->stack[s].family;
		k.basis[s] = d->stack[s].basis;
		k.initial_ttl[s] = d->stack[s].initial_ttl;
		k.hops[s] = d->stack[s].hops;
	}
	k.time_wait = (uint8_t)d->time_wait;
	slot = jm->diag_last;
	if (slot == NULL || !slot->valid || !same_diag_key(&k, &slot->key))
		slot = &jm->diag[diag_slot_of(&k)];
	jm->diag_last = slot;
	if (slot->valid && same_diag_key(&k, &slot->key)) {
		rbuf_put(b, slot->text.data, slot->text.len);
		return;
	}
	slot->valid = false;
	slot->text.failed = false; /* the copy below starts over */
	put_diagnosis_whole(b, jm, d);
	if (b->failed)
		return;
	rbuf_clear(&slot->text);
	rbuf_put(&slot->text, b->data + start, b->len - start);
	slot->key = k;
	slot->valid = !slot->text.failed;
}

/* "diagnosis":{...}: null members for what was not found. Durations are seconds. */
static void put_diagnosis_whole(struct rbuf *b, struct json_memo *jm,
                                const struct flow_diagnosis *d)
{
	const struct middlebox_evidence *m = &d->middlebox;

	if (!m->present && !d->idle_timeout.present && !d->close_wait.present) {
		/* what most flows have */
		RBUF_LIT(b, "{\"middlebox\":null,\"idle_timeout\":null,\"close_wait\":null");
		goto time_wait;
	}
	RBUF_LIT(b, "{\"middlebox\":");
	if (m->present) {
		RBUF_LIT(b, "{\"rst_frame\":");
		rbuf_u64(b, m->frame);
		RBUF_LIT(b, ",\"claimed\":");
		put_name(b, direction_name((enum flow_direction)m->claimed));
		RBUF_LIT(b, ",\"expected_ttl\":");
		rbuf_u64(b, m->expected_ttl);
		RBUF_LIT(b, ",\"seen_ttl\":");
		rbuf_u64(b, m->seen_ttl);
		RBUF_LIT(b, ",\"ttl_mismatch\":");
		put_bool(b, m->ttl_mismatch);
		RBUF_LIT(b, ",\"expected_ip_id\":");
		if (m->has_ip_id)
			rbuf_u64(b, m->expected_ip_id);
		else
			RBUF_LIT(b, "null");
		RBUF_LIT(b, ",\"seen_ip_id\":");
		if (m->has_ip_id)
			rbuf_u64(b, m->seen_ip_id);
		else
			RBUF_LIT(b, "null");
		RBUF_LIT(b, ",\"ip_id_mismatch\":");
		put_bool(b, m->ip_id_mismatch);
		RBUF_LIT(b, ",\"too_early\":");
		if (m->too_early) {
			RBUF_LIT(b, "{\"after_ms\":");
			rbuf_us_as_ms(b, (uint64_t)(m->answer_ns > 0 ? m->answer_ns / 1000 : 0));
			RBUF_LIT(b, ",\"rtt_ms\":");
			rbuf_us_as_ms(b, m->rtt_us);
			rbuf_putc(b, '}');
		} else {
			RBUF_LIT(b, "null");
		}
		rbuf_putc(b, '}');
	} else {
		RBUF_LIT(b, "null");
	}
	RBUF_LIT(b, ",\"idle_timeout\":");
	if (d->idle_timeout.present) {
		RBUF_LIT(b, "{\"after\":");
		put_name(b, direction_name((enum flow_direction)d->idle_timeout.from));
		RBUF_LIT(b, ",\"idle_s\":");
		rbuf_ts(b, d->idle_timeout.idle_ns, false);
		RBUF_LIT(b, ",\"answer\":");
		put_name(b, d->idle_timeout.reset ? "reset" : "none");
		rbuf_putc(b, '}');
	} else {
		RBUF_LIT(b, "null");
	}
	RBUF_LIT(b, ",\"close_wait\":");
	if (d->close_wait.present) {
		RBUF_LIT(b, "{\"side\":");
		put_name(b, direction_name((enum flow_direction)d->close_wait.side));
		RBUF_LIT(b, ",\"seconds\":");
		rbuf_ts(b, d->close_wait.duration_ns, false);
		RBUF_LIT(b, ",\"still_open\":");
		put_bool(b, d->close_wait.still_open);
		rbuf_putc(b, '}');
	} else {
		RBUF_LIT(b, "null");
	}
time_wait:
	RBUF_LIT(b, ",\"time_wait\":");
	put_name(b, closer_name(d->time_wait));
	RBUF_LIT(b, ",\"time_wait_reuse\":");
	if (d->time_wait_reuse.present) {
		RBUF_LIT(b, "{\"held_by\":");
		put_name(b, closer_name(d->time_wait_reuse.side));
		RBUF_LIT(b, ",\"seconds_after\":");
		rbuf_ts(b, d->time_wait_reuse.gap_ns, false);
		RBUF_LIT(b, ",\"accepted\":");
		put_bool(b, d->time_wait_reuse.accepted);
		rbuf_putc(b, '}');
	} else {
		RBUF_LIT(b, "null");
	}
	if (!d->timers[FROM_CLIENT].any && !d->timers[FROM_SERVER].any) {
		RBUF_LIT(b, ",\"timers\":{\"client\":null,\"server\":null");
	} else {
		RBUF_LIT(b, ",\"timers\":{\"client\":");
		put_timers(b, &d->timers[FROM_CLIENT]);
		RBUF_LIT(b, ",\"server\":");
		put_timers(b, &d->timers[FROM_SERVER]);
	}
	RBUF_LIT(b, "},\"stack\":{\"client\":");
	put_stack(b, jm, &d->stack[FROM_CLIENT]);
	RBUF_LIT(b, ",\"server\":");
	put_stack(b, jm, &d->stack[FROM_SERVER]);
	RBUF_LIT(b, "}}");
}

static void put_diagnosis(struct rbuf *b, struct json_memo *jm, const struct flow_diagnosis *d)
{
	if (!d->middlebox.present && !d->idle_timeout.present && !d->close_wait.present &&
	    !d->time_wait_reuse.present && !d->timers[FROM_CLIENT].any && !d->timers[FROM_SERVER].any)
		put_common_diagnosis(b, jm, d);
	else
		put_diagnosis_whole(b, jm, d);
}

/* Appends the flow object of DESIGN §4, on one line, without a line end. Written in a few
 * stretches (room() and done()): the names from the tables, the addresses, numbers and
 * timestamps straight into place. */
static void put_flow(struct rbuf *b, struct json_memo *m, const struct flow_record *f)
{
	const struct json_names *nm = &m->names;
	unsigned n_evidence = f->n_evidence < FLOW_EVIDENCE_MAX ? f->n_evidence : FLOW_EVIDENCE_MAX;
	const struct rbuf *capture = memo_string(b, m, f->capture); /* valid until the next one */
	const struct zeek_fields *z = &f->zeek;
	size_t uid_len, history_len, conn_state_len;
	char *o;

	if (capture == NULL)
		return;
	/* 18 literals (counting both of the alternatives), 7 numbers, 2 timestamps, 2 addresses,
	 * 2 names, a string */
	o = room(b, 18 * LIT_ROOM + 7 * NUM_ROOM + 2 * TS_TEXT_MAX + 2 * (IP_ADDR_TEXT_MAX + 2) +
	                2 * NAME_TEXT_ROOM + capture->len);
	if (o == NULL)
		return;
	o = W_LIT(o, "{\"id\":");
	o = w_num(o, f->id);
	o = W_LIT(o, ",\"capture\":");
	o = w_text(o, capture);
	o = W_LIT(o, ",\"client\":{\"ip\":\"");
	o = addr_memo_write(o, &m->addrs, &f->client.addr);
	o = W_LIT(o, "\",\"port\":");
	o = w_num(o, f->client.port);
	o = W_LIT(o, "},\"server\":{\"ip\":\"");
	o = addr_memo_write(o, &m->addrs, &f->server.addr);
	o = W_LIT(o, "\",\"port\":");
	o = w_num(o, f->server.port);
	if (f->roles_inferred)
		o = W_LIT(o, "},\"roles_inferred\":true");
	else
		o = W_LIT(o, "},\"roles_inferred\":false");
	o = W_LIT(o, ",\"first_ts\":");
	o = ts_write(o, &m->ts, f->first_ts_ns, f->ts_nano);
	o = W_LIT(o, ",\"last_ts\":");
	o = ts_write(o, &m->ts, f->last_ts_ns, f->ts_nano);
	o = W_LIT(o, ",\"packets\":{\"client\":");
	o = w_num(o, f->packets[FROM_CLIENT]);
	o = W_LIT(o, ",\"server\":");
	o = w_num(o, f->packets[FROM_SERVER]);
	o = W_LIT(o, "},\"bytes\":{\"client\":");
	o = w_num(o, f->bytes[FROM_CLIENT]);
	o = W_LIT(o, ",\"server\":");
	o = w_num(o, f->bytes[FROM_SERVER]);
	o = W_LIT(o, "},\"handshake\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->handshake, f->handshake));
	o = W_LIT(o, ",\"close\":{\"class\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->cls, f->close_class));
	o = W_LIT(o, ",\"detail\":");
	done(b, o);
	put_memo_string(b, m, f->close_detail);
	/* 4 literals, a timestamp, a name, a string */
	o = room(b, 4 * LIT_ROOM + TS_TEXT_MAX + NAME_TEXT_ROOM + REASON_ROOM);
	if (o == NULL)
		return;
	o = W_LIT(o, ",\"closer\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->closer, f->closer));
	o = W_LIT(o, ",\"reason\":");
	o = w_reason(o, m, &f->reason);
	o = W_LIT(o, ",\"ts\":");
	if (f->has_close_ts)
		o = ts_write(o, &m->ts, f->close_ts_ns, f->ts_nano);
	else
		o = W_LIT(o, "null");
	o = W_LIT(o, ",\"evidence\":[");
	done(b, o);

	for (unsigned i = 0; i < n_evidence; i++) {
		if (i != 0)
			rbuf_putc(b, ',');
		put_evidence(b, m, &f->evidence[i], f->ts_nano);
	}

	/* 3 literals, 2 names */
	o = room(b, 3 * LIT_ROOM + 2 * NAME_TEXT_ROOM);
	if (o == NULL)
		return;
	o = W_LIT(o, "],\"reset\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->reset, f->reset_origin));
	o = W_LIT(o, ",\"confidence\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->confidence, f->confidence));
	o = W_LIT(o, ",\"alternatives\":[");
	done(b, o);
	for (unsigned i = 0; i < f->n_alternatives && i < FLOW_ALTERNATIVES_MAX; i++) {
		const struct close_alternative *a = &f->alternatives[i];

		if (i != 0)
			rbuf_putc(b, ',');
		RBUF_LIT(b, "{\"class\":");
		put_name(b, close_class_name(a->cls));
		RBUF_LIT(b, ",\"why\":");
		put_memo_string(b, m, a->why != NULL ? a->why : "");
		rbuf_putc(b, '}');
	}

	/* 11 literals, 3 numbers, 2 milliseconds, 3 names */
	o = room(b, 11 * LIT_ROOM + 3 * NUM_ROOM + 2 * (NUM_ROOM + 4) + 3 * NAME_TEXT_ROOM);
	if (o == NULL)
		return;
	o = W_LIT(o, "]},\"state\":{\"client\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->state, f->state[FROM_CLIENT]));
	o = W_LIT(o, ",\"server\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->state, f->state[FROM_SERVER]));
	o = W_LIT(o, "},\"retransmissions\":{\"client\":");
	o = w_num(o, f->retransmissions[FROM_CLIENT]);
	o = W_LIT(o, ",\"server\":");
	o = w_num(o, f->retransmissions[FROM_SERVER]);
	o = W_LIT(o, "},\"keepalive_probes\":");
	o = w_num(o, f->keepalive_probes);
	o = W_LIT(o, ",\"rtt\":{\"client\":");
	if (f->rtt_us[FROM_CLIENT])
		o = us_as_ms_write(o, f->rtt_us[FROM_CLIENT]);
	else
		o = W_LIT(o, "null");
	o = W_LIT(o, ",\"server\":");
	if (f->rtt_us[FROM_SERVER])
		o = us_as_ms_write(o, f->rtt_us[FROM_SERVER]);
	else
		o = W_LIT(o, "null");
	if (!f->rtt_us[FROM_CLIENT] && !f->rtt_us[FROM_SERVER])
		o = W_LIT(o, ",\"basis\":null");
	else if (f->rtt_from_data[FROM_CLIENT] || f->rtt_from_data[FROM_SERVER])
		o = W_LIT(o, ",\"basis\":\"data\"");
	else
		o = W_LIT(o, ",\"basis\":\"handshake\"");
	o = W_LIT(o, "},\"vantage\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->vantage, f->vantage));
	o = W_LIT(o, ",\"modifiers\":[");
	done(b, o);
	if (f->modifiers != 0)
		put_modifier_list(b, f->modifiers, ",", "\""); /* plain snake_case names */
	RBUF_LIT(b, "],\"encapsulation\":[");
	for (unsigned i = 0; f->encap != NULL && i < f->encap->n; i++) {
		if (i != 0)
			rbuf_putc(b, ',');
		put_name(b, f->encap->layer[i]); /* our own text: nothing to escape */
	}
	RBUF_LIT(b, "],\"diagnosis\":");
	put_diagnosis(b, m, &f->diagnosis);

	/* ,"zeek":{...}: what Zeek's conn.log says (letters and digits only: names). */
	uid_len = short_strnlen(z->uid, sizeof z->uid);
	history_len = short_strnlen(z->history, sizeof z->history);
	conn_state_len = z->conn_state != NULL ? strlen(z->conn_state) : 0;
	/* 6 literals, a number, 4 names */
	o = room(b, 6 * LIT_ROOM + NUM_ROOM + NAME_ROOM(uid_len) + NAME_TEXT_ROOM +
	                NAME_ROOM(conn_state_len) + NAME_ROOM(history_len));
	if (o == NULL)
		return;
	o = W_LIT(o, ",\"zeek\":{\"uid\":");
	o = w_name(o, z->uid[0] ? z->uid : NULL, uid_len);
	o = W_LIT(o, ",\"orig\":");
	o = name_text_write(o, NAME_TEXT_OF(nm->dir, z->orig));
	o = W_LIT(o, ",\"conn_state\":");
	o = w_name(o, z->conn_state, conn_state_len);
	o = W_LIT(o, ",\"history\":");
	o = w_name(o, z->history, history_len);
	o = W_LIT(o, ",\"missed_bytes\":");
	o = w_num(o, z->missed_bytes);
	o = W_LIT(o, "}}");
	done(b, o);
}

/* Writes out what the buffer holds. Returns 0, or -1 with errno set. */
static int flush_buf(struct json_writer *jw)
{
	return writer_drain(&jw->base, &jw->buf);
}

/* A record (flow or incident) is complete in the buffer: written now or with the batch. An
 * NDJSON line that goes out now is flushed too, so that a pipeline sees each row while the
 * capture is still being read. */
static int record_done(struct json_writer *jw)
{
	if (writer_emit(&jw->base, &jw->buf) != 0)
		return -1;
	if (jw->base.variant && !jw->base.batch && fflush(jw->base.out) != 0)
		return -1;
	return 0;
}

/* --- captures and summary, written once, through jansson --------------------------------------- */

/* jansson refuses ill-formed UTF-8 (json_string returns NULL), and file names are untrusted:
 * repair them the way put_string does, with U+FFFD. NULL becomes null. NULL only on failure. */
static json_t *jstring(struct json_writer *jw, const char *s)
{
	if (s == NULL)
		return json_null();
	rbuf_clear(&jw->scratch);
	rbuf_utf8(&jw->scratch, s, strlen(s));
	if (jw->scratch.failed)
		return NULL;
	return json_stringn(jw->scratch.len != 0 ? jw->scratch.data : "", jw->scratch.len);
}

/* jansson integers are signed; counts never come near 2^63, but do not let one wrap. */
_Static_assert(sizeof(json_int_t) >= sizeof(int64_t), "json_int_t narrower than 64 bits");
static json_t *jcount(uint64_t n)
{
	return json_integer(n > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)n);
}

static json_t *build_skipped(struct json_writer *jw, const struct capture_stats *c)
{
	json_t *o = json_object();
	unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

	if (o == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		const char *reason = c->skipped[i].reason != NULL ? c->skipped[i].reason : "unknown";
		uint64_t count = c->skipped[i].count;
		json_t *prev;

		rbuf_clear(&jw->scratch);
		rbuf_utf8(&jw->scratch, reason, strlen(reason));
		rbuf_putc(&jw->scratch, '\0');
		if (jw->scratch.failed)
			goto fail;
		/* The same reason listed twice is one key: add the counts. */
		prev = json_object_get(o, jw->scratch.data);
		if (prev != NULL)
			count += (uint64_t)json_integer_value(prev);
		if (json_object_set_new(o, jw->scratch.data, jcount(count)) != 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *build_captures(struct json_writer *jw, const struct run_summary *s)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];
		/* "o" steals each reference, and json_pack releases them when it fails (also for a
		 * NULL value), so nothing leaks on the error path. */
		json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
				      "file", jstring(jw, c->path),
				      "link_type", jstring(jw, c->link_type),
				      "frames", jcount(c->frames),
				      "bytes", jcount(c->bytes),
				      "tcp_segments", jcount(c->tcp_segments),
				      "skipped", build_skipped(jw, c),
				      "error", jstring(jw, c->error));

		/* A live capture also says what the kernel dropped: the report misses those. */
		if (o && c->live &&
		    (json_object_set_new(o, "live", json_true()) != 0 ||
		     json_object_set_new(o, "kernel_dropped", jcount(c->kernel_dropped)) != 0)) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* {"total":n,"client":n,"server":n,"both":n,"none":n}, without "total" when total is NULL. */
static json_t *build_closer_counts(const uint64_t *total, const uint64_t by_closer[CLOSER_COUNT])
{
	/* Column order of the text report: client, server, both, then none. */
	static const enum closer_side order[] = { CLOSER_CLIENT, CLOSER_SERVER, CLOSER_BOTH, CLOSER_NONE };
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (total != NULL && json_object_set_new(o, "total", jcount(*total)) != 0)
		goto fail;
	for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (json_object_set_new(o, closer_label(order[i]), jcount(by_closer[order[i]])) != 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* by_class: every class in taxonomy order, zeros included; by_closer (OUT): the same counts summed
 * over the classes. NULL on allocation failure. */
static json_t *build_by_class(const struct run_summary *s, uint64_t by_closer[CLOSER_COUNT])
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		uint64_t total = 0;

		for (unsigned c = 0; c < CLOSER_COUNT; c++) {
			total += s->by_class[k][c];
			by_closer[c] += s->by_class[k][c];
		}
		if (json_object_set_new(o, close_class_name((enum close_class)k),
					build_closer_counts(&total, s->by_class[k])) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* --- incidents and the timeline ------------------------------------------------------------- */

static void put_rate(struct rbuf *b, double v)
{
	char num[40];
	int n = snprintf(num, sizeof num, "%.3f", v);

	rbuf_put(b, num, (size_t)(n > 0 ? n : 0));
}

/* One incident object (incidents.h). `type`: with "type":"incident" first (NDJSON). */
static void put_incident(struct rbuf *b, const struct incident *inc, bool type)
{
	char text[512];

	RBUF_LIT(b, "{");
	if (type)
		RBUF_LIT(b, "\"type\":\"incident\",");
	RBUF_LIT(b, "\"number\":");
	rbuf_u64(b, inc->number);
	RBUF_LIT(b, ",\"kind\":");
	put_name(b, incident_kind_name(inc->kind));
	RBUF_LIT(b, ",\"scope\":");
	put_name(b, incident_scope_name(inc->scope));
	RBUF_LIT(b, ",\"where\":");
	incident_where(inc, text, sizeof text);
	put_string(b, text, strlen(text));
	RBUF_LIT(b, ",\"start\":");
	rbuf_ts(b, inc->start_ns, inc->ts_nano);
	RBUF_LIT(b, ",\"end\":");
	rbuf_ts(b, inc->end_ns, inc->ts_nano);
	RBUF_LIT(b, ",\"connections\":");
	rbuf_u64(b, inc->n_members);
	RBUF_LIT(b, ",\"flows\":");
	if (inc->members) {
		rbuf_putc(b, '[');
		for (uint64_t i = 0; i < inc->n_members; i++) {
			if (i)
				rbuf_putc(b, ',');
			rbuf_u64(b, inc->members[i]);
		}
		rbuf_putc(b, ']');
	} else {
		RBUF_LIT(b, "null");
	}
	RBUF_LIT(b, ",\"by_class\":{");
	bool first = true;
	for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++) {
		if (!inc->by_class[c])
			continue;
		if (!first)
			rbuf_putc(b, ',');
		first = false;
		put_name(b, close_class_name((enum close_class)c));
		rbuf_putc(b, ':');
		rbuf_u64(b, inc->by_class[c]);
	}
	RBUF_LIT(b, "},\"sentence\":");
	incident_sentence(inc, text, sizeof text);
	put_string(b, text, strlen(text));
	RBUF_LIT(b, ",\"evidence\":{\"rate_before\":");
	put_rate(b, inc->rate_before);
	RBUF_LIT(b, ",\"rate_during\":");
	put_rate(b, inc->rate_during);
	RBUF_LIT(b, ",\"rate_after\":");
	put_rate(b, inc->rate_after);
	RBUF_LIT(b, ",\"before_s\":");
	put_rate(b, inc->before_s);
	RBUF_LIT(b, ",\"after_s\":");
	put_rate(b, inc->after_s);
	RBUF_LIT(b, ",\"survivors\":");
	rbuf_u64(b, inc->survivors);
	RBUF_LIT(b, "}}");
}

/* "timeline":{"start":..,"bucket_s":..,"classes":[names],"counts":[[per class]...]} */
static void put_timeline(struct rbuf *b, const struct timeline *tl, bool nano)
{
	RBUF_LIT(b, "{\"start\":");
	if (tl->n)
		rbuf_ts(b, tl->origin_ns, nano);
	else
		RBUF_LIT(b, "null");
	RBUF_LIT(b, ",\"bucket_s\":");
	rbuf_u64(b, (uint64_t)(tl->width_ns / 1000000000));
	RBUF_LIT(b, ",\"classes\":[");
	for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++) {
		if (c)
			rbuf_putc(b, ',');
		put_name(b, close_class_name((enum close_class)c));
	}
	RBUF_LIT(b, "],\"counts\":[");
	for (unsigned i = 0; i < tl->n; i++) {
		if (i)
			rbuf_putc(b, ',');
		rbuf_putc(b, '[');
		for (unsigned c = 0; c < CLOSE_CLASS_COUNT; c++) {
			if (c)
				rbuf_putc(b, ',');
			rbuf_u64(b, tl->count[i][c]);
		}
		rbuf_putc(b, ']');
	}
	RBUF_LIT(b, "]}");
}

static int json_incident(struct writer *w, const struct incident *inc)
{
	struct json_writer *jw = (struct json_writer *)w;

	if (!jw->base.variant)
		return 0; /* the document lists them at the end */
	put_incident(&jw->buf, inc, true);
	rbuf_putc(&jw->buf, '\n');
	return record_done(jw);
}

/* --- the ops --------------------------------------------------------------------------------- */

static int json_begin(struct writer *w)
{
	struct json_writer *jw = (struct json_writer *)w;

	if (jw->base.variant)
		return 0;
	RBUF_LIT(&jw->buf, "{\"tool\":");
	put_string(&jw->buf, TCPMORTEM_NAME, strlen(TCPMORTEM_NAME));
	RBUF_LIT(&jw->buf, ",\"version\":");
	put_string(&jw->buf, TCPMORTEM_VERSION, strlen(TCPMORTEM_VERSION));
	RBUF_LIT(&jw->buf, ",\"flows\":[");
	return writer_emit(w, &jw->buf);
}

static int json_flow(struct writer *w, const struct flow_record *flow)
{
	struct json_writer *jw = (struct json_writer *)w;

	if (jw->m.names.bad) {
		errno = EOVERFLOW;
		return -1;
	}
	if (!jw->base.variant)
		rbuf_puts(&jw->buf, jw->n_flows == 0 ? "\n" : ",\n");
	put_flow(&jw->buf, &jw->m, flow);
	if (jw->base.variant)
		rbuf_putc(&jw->buf, '\n');
	jw->n_flows++;
	return record_done(jw);
}

static int json_end(struct writer *w, const struct run_summary *s)
{
	struct json_writer *jw = (struct json_writer *)w;
	struct rbuf *b = &jw->buf;
	uint64_t closers[CLOSER_COUNT] = { 0 };
	json_t *captures, *by_class, *by_closer = NULL;
	int rc = -1;

	if (jw->base.variant)
		return flush_buf(jw) == 0 && fflush(w->out) == 0 ? 0 : -1;

	captures = build_captures(jw, s);
	by_class = build_by_class(s, closers);
	if (by_class != NULL)
		by_closer = build_closer_counts(NULL, closers);
	if (captures == NULL || by_class == NULL || by_closer == NULL) {
		errno = ENOMEM;
		goto out;
	}
	RBUF_LIT(b, "\n],\"incidents\":[");
	for (unsigned i = 0; i < incidents_count(w->incidents); i++) {
		rbuf_puts(b, i ? ",\n" : "\n");
		put_incident(b, incidents_get(w->incidents, i), false);
		if (flush_buf(jw) != 0)
			goto out;
		rbuf_clear(b);
	}
	RBUF_LIT(b, "],\n\"timeline\":");
	put_timeline(b, incidents_timeline(w->incidents), s->ts_nano);
	RBUF_LIT(b, ",\n\"captures\":");
	if (flush_buf(jw) != 0 || json_dumpf(captures, w->out, JSON_COMPACT) != 0)
		goto out;

	/* The summary's head is emitted here for its exact timestamps (null when there was no
	 * frame); its two count tables are jansson objects dumped into place. */
	rbuf_clear(b);
	RBUF_LIT(b, ",\n\"summary\":{\"flows\":");
	rbuf_u64(b, s->flows);
	RBUF_LIT(b, ",\"frames\":");
	rbuf_u64(b, s->frames);
	RBUF_LIT(b, ",\"evicted\":");
	rbuf_u64(b, s->flows_evicted);
	RBUF_LIT(b, ",\"expired\":");
	rbuf_u64(b, s->flows_expired);
	RBUF_LIT(b, ",\"peak_flows\":");
	rbuf_u64(b, s->peak_flows);
	RBUF_LIT(b, ",\"late_segments\":");
	rbuf_u64(b, s->late_segments);
	RBUF_LIT(b, ",\"first_ts\":");
	if (s->frames != 0 || s->last_ts_ns != 0)
		rbuf_ts(b, s->first_ts_ns, s->ts_nano);
	else
		RBUF_LIT(b, "null");
	RBUF_LIT(b, ",\"last_ts\":");
	if (s->frames != 0 || s->last_ts_ns != 0)
		rbuf_ts(b, s->last_ts_ns, s->ts_nano);
	else
		RBUF_LIT(b, "null");
	RBUF_LIT(b, ",\"by_class\":");
	if (flush_buf(jw) != 0 || json_dumpf(by_class, w->out, JSON_COMPACT) != 0)
		goto out;
	rbuf_clear(b);
	RBUF_LIT(b, ",\"by_closer\":");
	if (flush_buf(jw) != 0 || json_dumpf(by_closer, w->out, JSON_COMPACT) != 0)
		goto out;
	rbuf_clear(b);
	RBUF_LIT(b, "}}\n");
	if (flush_buf(jw) != 0 || fflush(w->out) != 0)
		goto out;
	rc = 0;
out:
	json_decref(captures);
	json_decref(by_class);
	json_decref(by_closer);
	return rc;
}

static void json_init(struct writer *w, const struct writer_options *opt)
{
	struct json_names *n = &((struct json_writer *)w)->m.names;

	const char *q = "\"", *null = "null"; /* "name", or null */

	(void)opt; /* nothing to present differently */
	((struct json_writer *)w)->m.strings.escape = put_string;
	NAME_TEXT_FILL(n->cls, close_class_name, enum close_class, q, q, null, n->bad);
	NAME_TEXT_FILL(n->closer, closer_name, enum closer_side, q, q, null, n->bad);
	NAME_TEXT_FILL(n->state, tcp_state_name, enum tcp_state, q, q, null, n->bad);
	NAME_TEXT_FILL(n->handshake, handshake_name, enum handshake_kind, q, q, null, n->bad);
	NAME_TEXT_FILL(n->confidence, confidence_name, enum close_confidence, q, q, null, n->bad);
	NAME_TEXT_FILL(n->reset, reset_origin_name, enum reset_origin, q, q, null, n->bad);
	NAME_TEXT_FILL(n->vantage, vantage_name, enum vantage_point, q, q, null, n->bad);
	NAME_TEXT_FILL(n->dir, direction_name, enum flow_direction, q, q, null, n->bad);
}

static void json_release(struct writer *w)
{
	struct json_writer *jw = (struct json_writer *)w;

	text_memo_free(&jw->m.strings);
	for (unsigned i = 0; i < DIAG_SLOTS; i++)
		rbuf_free(&jw->m.diag[i].text);
	rbuf_free(&jw->buf);
	rbuf_free(&jw->scratch);
}

/* NDJSON is the variant (one object a line, no envelope). */
const struct writer_ops report_json_ops = { .size = sizeof(struct json_writer), .init = json_init,
	.begin = json_begin, .flow = json_flow, .incident = json_incident, .end = json_end,
	.release = json_release };
