/* test_textfmt.c - the writers' text helpers (contract/rbuf.h, contract/names.c) against the C
 * library: decimal numbers against snprintf, addresses against inet_ntop, TCP flags against the
 * plain loop they replace, timestamps through the per-writer memo against ts_digits, UTF-8
 * repair and the ASCII scan against a byte-by-byte reading; and every name a writer copies
 * without escaping is plain ASCII.
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flow_record.h"
#include "rbuf.h"
#include "cunit_main.h"
#include "test_rng.h"

static uint64_t rng_state = 0x243F6A8885A308D3u;

static uint64_t rnd(void)
{
	return xorshift64s(&rng_state);
}

static void same(const char *got, size_t got_len, const char *want, const char *what)
{
	bool ok = got_len == strlen(want) && memcmp(got, want, got_len) == 0;

	CU_ASSERT(ok);
	if (!ok)
		fprintf(stderr, "\n  %s: got \"%.*s\", want \"%s\"\n", what, (int)got_len, got, want);
}

/* --- numbers ------------------------------------------------------------------------------------ */

static void check_u64(uint64_t v)
{
	struct rbuf b = { 0 };
	char want[32], text[U64_TEXT_ROOM + 8];
	size_t n;

	snprintf(want, sizeof want, "%" PRIu64, v);
	RBUF_LIT(&b, "x"); /* appended after what is there */
	rbuf_u64(&b, v);
	rbuf_putc(&b, 'y');
	CU_ASSERT_FATAL(!b.failed);
	CU_ASSERT_EQUAL(b.data[0], 'x');
	same(b.data + 1, b.len - 2, want, "rbuf_u64");
	CU_ASSERT_EQUAL(b.data[b.len - 1], 'y');
	rbuf_free(&b);

	memset(text, '#', sizeof text);
	n = u64_write(text, v);
	same(text, n, want, "u64_write");
	CU_ASSERT_EQUAL(text[U64_TEXT_ROOM], '#'); /* nothing written past its room */
}

/* Every width boundary (10^k - 1, 10^k), the 32-bit edge, and random values of every length. */
static void test_decimal_numbers(void)
{
	uint64_t p = 1;

	check_u64(0);
	check_u64(UINT32_MAX);
	check_u64((uint64_t)UINT32_MAX + 1);
	check_u64(UINT64_MAX);
	for (int k = 0; k < 20; k++) {
		check_u64(p);
		check_u64(p - 1);
		check_u64(p + 1);
		check_u64(p * 2 - 1);
		if (k < 19)
			p *= 10;
	}
	for (int i = 0; i < 100000; i++)
		check_u64(rnd() >> (rnd() % 64));
}

/* --- timestamps --------------------------------------------------------------------------------- */

/* ts_write through one memo, over a sequence that hits and misses its two seconds, switches
 * precision and sign, against ts_digits (whose text test_writers checks). */
static void test_timestamps_through_memo(void)
{
	static const int64_t edge[] = {
		0, 1, -1, 999999999, 1000000000, -1000000000, -999, 1764000000123456789,
		1764000000999999999, 1764000001000000000, INT64_MAX, INT64_MIN, INT64_MIN + 1,
	};
	struct ts_memo memo = { 0 };
	struct rbuf b = { 0 };

	for (int i = 0; i < 200000; i++) {
		int64_t ts;
		bool nano = (rnd() & 1) != 0;
		char want_buf[TS_TEXT_MAX + 1], out[TS_TEXT_MAX + 8];
		const char *want;
		char *end;

		switch (rnd() % 4) {
		case 0:
			ts = edge[rnd() % (sizeof edge / sizeof edge[0])];
			break;
		case 1: /* one of three seconds: the memo's two, or the one replacing the older */
			ts = 1764000000000000000 + (int64_t)(rnd() % 3000000000u);
			break;
		case 2:
			ts = -(int64_t)(rnd() >> 2);
			break;
		default:
			ts = (int64_t)(rnd() >> 1);
			break;
		}
		want_buf[TS_TEXT_MAX] = '\0'; /* ts_digits writes no NUL */
		want = ts_digits(ts, nano, want_buf + TS_TEXT_MAX);
		memset(out, '#', sizeof out);
		end = ts_write(out, &memo, ts, nano);
		same(out, (size_t)(end - out), want, "ts_write");
		CU_ASSERT_EQUAL(out[TS_TEXT_MAX], '#');
		if ((size_t)(end - out) != strlen(want) || memcmp(out, want, strlen(want)) != 0)
			return;

		rbuf_clear(&b);
		rbuf_ts_memo(&b, &memo, ts, nano);
		same(b.data, b.len, want, "rbuf_ts_memo");
		rbuf_clear(&b);
		rbuf_ts(&b, ts, nano);
		same(b.data, b.len, want, "rbuf_ts");
	}
	rbuf_free(&b);
}

/* --- addresses ---------------------------------------------------------------------------------- */

static void check_ip(const struct ip_addr *a)
{
	char want[INET6_ADDRSTRLEN], got[48];

	CU_ASSERT_FATAL(inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, want,
	                          sizeof want) != NULL);
	ip_addr_format(a, got, sizeof got);
	same(got, strlen(got), want, "ip_addr_format");
}

/* IPv4 at every octet width; IPv6 with every pattern of zero groups (where "::" goes, ties
 * between runs, the IPv4-compatible and -mapped forms), random groups of every hex width. */
static void test_addresses_match_inet_ntop(void)
{
	struct ip_addr a = { .family = 4 };

	for (int i = 0; i < 100000; i++) {
		for (int k = 0; k < 4; k++)
			a.bytes[k] = (uint8_t)(i < 256 ? (uint64_t)i : rnd());
		check_ip(&a);
	}
	a.family = 6;
	for (unsigned zeros = 0; zeros < 256; zeros++) {
		for (int round = 0; round < 200; round++) {
			memset(a.bytes, 0, sizeof a.bytes);
			for (size_t g = 0; g < 8; g++) {
				uint16_t w;

				if (zeros & (1u << g))
					continue;
				w = (uint16_t)(rnd() >> (rnd() % 16 * 4)); /* 1 to 4 hex digits */
				if (w == 0)
					w = 1;
				if (round == 1 && g == 5)
					w = 0xFFFF; /* ::ffff:a.b.c.d and near misses */
				a.bytes[2 * g] = (uint8_t)(w >> 8);
				a.bytes[2 * g + 1] = (uint8_t)w;
			}
			check_ip(&a);
		}
	}
}

/* --- TCP flags ---------------------------------------------------------------------------------- */

/* All 256 values against the loop tcp_flags_format had before it stopped branching on flags. */
static void test_tcp_flags_all(void)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} order[] = {
		{ TCP_SYN, "SYN" }, { TCP_FIN, "FIN" }, { TCP_RST, "RST" }, { TCP_PSH, "PSH" },
		{ TCP_ACK, "ACK" }, { TCP_URG, "URG" }, { TCP_ECE, "ECE" }, { TCP_CWR, "CWR" },
	};

	for (unsigned f = 0; f < 256; f++) {
		char want[40], got[32];
		size_t len = 0;

		for (unsigned i = 0; i < sizeof order / sizeof order[0]; i++) {
			if ((f & order[i].bit) == 0)
				continue;
			if (len != 0)
				want[len++] = ',';
			memcpy(want + len, order[i].name, 3);
			len += 3;
		}
		want[len] = '\0';
		if (len == 0)
			memcpy(want, "none", 5);
		tcp_flags_format((uint8_t)f, got, sizeof got);
		same(got, strlen(got), want, "tcp_flags_format");
		/* cut short and still terminated */
		tcp_flags_format((uint8_t)f, got, 3);
		CU_ASSERT_EQUAL(strlen(got), 2);
	}
}

/* --- names the writers copy without escaping ---------------------------------------------------- */

static void check_plain(const char *s)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(strlen(s) > 0 && strlen(s) < 32);
	for (const char *p = s; *p != '\0'; p++) {
		bool plain = *p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\';

		CU_ASSERT(plain);
		if (!plain)
			fprintf(stderr, "\n  name \"%s\" has byte 0x%02x\n", s, (unsigned char)*p);
	}
}

/* The JSON and CSV writers copy these between quotes as they are. */
static void test_names_are_plain(void)
{
	char buf[32];

	for (int i = 0; i <= CLOSE_CLASS_COUNT; i++)
		check_plain(close_class_name((enum close_class)i));
	for (int i = CLOSER_CLIENT; i <= CLOSER_COUNT; i++)
		check_plain(closer_name((enum closer_side)i));
	for (int i = 0; i <= TCPS_COUNT; i++)
		check_plain(tcp_state_name((enum tcp_state)i));
	for (int i = 0; i <= HANDSHAKE_COUNT; i++)
		check_plain(handshake_name((enum handshake_kind)i));
	for (int i = 0; i < MOD_COUNT_BITS; i++)
		check_plain(flow_modifier_name(1u << i));
	for (int i = 0; i <= 2; i++)
		check_plain(direction_name((enum flow_direction)i));
	for (unsigned f = 0; f < 256; f++)
		check_plain(tcp_flags_format((uint8_t)f, buf, sizeof buf));
}

/* --- UTF-8 -------------------------------------------------------------------------------------- */

/* The ASCII scan against a byte loop, at every length and position of the first high byte; and
 * rbuf_utf8 leaves well-formed text as it is whatever its alignment. */
static void test_ascii_prefix_and_utf8(void)
{
	char s[80];
	struct rbuf b = { 0 };

	for (size_t len = 0; len < 70; len++) {
		for (size_t high = 0; high <= len; high++) {
			size_t want = 0;

			for (size_t i = 0; i < len; i++)
				s[i] = (char)('a' + i % 26);
			if (high < len)
				s[high] = (char)0xC3;
			while (want < len && (unsigned char)s[want] < 0x80)
				want++;
			CU_ASSERT_EQUAL(ascii_prefix(s, len), want);
			/* "é" (C3 A9) is well-formed: copied as it is */
			if (high + 1 < len) {
				s[high + 1] = (char)0xA9;
				rbuf_clear(&b);
				rbuf_utf8(&b, s, len);
				CU_ASSERT(b.len == len && memcmp(b.data, s, len) == 0);
			}
		}
	}
	/* A lone continuation byte and a cut sequence: one U+FFFD each. */
	rbuf_clear(&b);
	rbuf_utf8(&b, "abcdefghij\x80klmnopqrstuvw\xc3", sizeof "abcdefghij\x80klmnopqrstuvw\xc3" - 1);
	same(b.data, b.len, "abcdefghij\xef\xbf\xbdklmnopqrstuvw\xef\xbf\xbd", "rbuf_utf8");
	rbuf_free(&b);
}

/* addr_memo_write against ip_addr_write: a few addresses often (hits), many once (slots taken
 * over), 0.0.0.0 (its key is all zero, as an empty slot's), IPv6 and an unknown family. */
static void test_address_memo(void)
{
	static struct addr_memo memo; /* zeroed, as a writer keeps it */

	for (int i = 0; i < 100000; i++) {
		struct ip_addr a;
		char want[IP_ADDR_TEXT_MAX], got[IP_ADDR_TEXT_MAX + 8];
		char *want_end, *got_end;
		uint64_t r = rnd();

		memset(&a, 0, sizeof a);
		a.family = r % 10 == 0 ? 6 : r % 97 == 1 ? 5 : 4;
		if (r % 5 == 0)
			memcpy(a.bytes, "\xac\x10\x01\x02", 4); /* the same server */
		else if (r % 7 == 0)
			memset(a.bytes, 0, 4);
		else
			for (int k = 0; k < 16; k++)
				a.bytes[k] = (uint8_t)(rnd() >> (k % 8 * 8));
		want_end = ip_addr_write(want, &a);
		memset(got, '#', sizeof got);
		got_end = addr_memo_write(got, &memo, &a);
		CU_ASSERT_EQUAL_FATAL(got_end - got, want_end - want);
		CU_ASSERT_FATAL(memcmp(got, want, (size_t)(want_end - want)) == 0);
		CU_ASSERT_EQUAL(got[IP_ADDR_TEXT_MAX], '#'); /* nothing written past the room */
	}
}

/* short_strnlen() against strnlen() for every array size it takes (and one on each side of that),
 * every text length, the bytes after the NUL not zero, the array alone in its allocation (the
 * sanitizers see a read past it). */
static void test_short_strnlen(void)
{
	for (size_t size = 1; size <= 40; size++) {
		for (size_t len = 0; len <= size; len++) {
			char *a = malloc(size);

			if (a == NULL) {
				CU_FAIL_FATAL("out of memory");
				return;
			}
			memset(a, 'x', size);
			if (len < size)
				a[len] = '\0';
			CU_ASSERT_EQUAL(short_strnlen(a, size), strnlen(a, size));
			free(a);
		}
	}
}

CUNIT_TESTS(tests,
	    { "decimal_numbers", test_decimal_numbers },
	    { "timestamps_through_memo", test_timestamps_through_memo },
	    { "addresses_match_inet_ntop", test_addresses_match_inet_ntop },
	    { "address_memo", test_address_memo },
	    { "tcp_flags_all", test_tcp_flags_all },
	    { "names_are_plain", test_names_are_plain },
	    { "ascii_prefix_and_utf8", test_ascii_prefix_and_utf8 },
	    { "short_strnlen", test_short_strnlen });

CUNIT_MAIN("test_textfmt",
           { "textfmt", NULL, NULL, NULL, NULL, tests })
