/* test_reason.c - the reason formatter (contract/flow_reason.h) against snprintf.
 *
 * The reference is what the classifier used to do: one snprintf per sentence, with the format
 * strings it had, and durations through "%lld µs", "%.1f ms", "%.2f s". Every template is
 * formatted with many argument values (edge cases and random ones) and must give the reference's
 * bytes, also when cut by a short buffer; durations are checked on their own at every rounding
 * tie of the millisecond range, many of the second range, the unit boundaries and random values.
 */
#include <CUnit/Basic.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flow_reason.h"
#include "cunit_main.h"
#include "test_rng.h"

/* --- the reference: the classifier's snprintf calls, as they were ------------------------------ */

/* Cutting at FLOW_REASON_MAX is part of what the reference shows (clang has no such warning). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static const char *ref_duration(int64_t ns, char *buf, size_t size)
{
	if (ns < 0)
		ns = 0;
	if (ns < 1000000)
		snprintf(buf, size, "%lld µs", (long long)(ns / 1000));
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
	return buf;
}

/* Argument i of r as the old code passed it. */
static const char *S(const struct flow_reason *r, unsigned i)
{
	return r->args[i].v.str;
}

static unsigned U(const struct flow_reason *r, unsigned i)
{
	return (unsigned)r->args[i].v.uint;
}

static char dur_text[FLOW_REASON_ARGS][32];

static const char *D(const struct flow_reason *r, unsigned i)
{
	return ref_duration(r->args[i].v.ns, dur_text[i], sizeof dur_text[i]);
}

/* The old code's "; <cause>" after a sentence of n bytes, when the sentence fitted. */
static void append_cause(char *buf, size_t size, int n, const char *cause)
{
	if (n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "; %s", cause);
}

/* Writes what the classifier wrote for r into buf (FLOW_REASON_MAX bytes); false when the id has
 * no reference here (a new template needs one). */
static bool reference(const struct flow_reason *r, char *buf)
{
	const size_t size = FLOW_REASON_MAX;
	char why[96];
	int n;

	switch ((enum flow_reason_id)r->id) {
	case REASON_NONE:
		buf[0] = '\0';
		return true;
	case REASON_TEXT:
		snprintf(buf, size, "%s", S(r, 0));
		return true;
	case REASON_SYN_UNANSWERED_ONCE:
		snprintf(buf, size, "the client sent one SYN and the server never answered");
		return true;
	case REASON_SYN_UNANSWERED:
		snprintf(buf, size,
		         "the client sent its SYN %u times over %s and the server never answered",
		         U(r, 0), D(r, 1));
		return true;
	case REASON_REFUSED:
		snprintf(buf, size,
		         "the server answered the SYN with a reset %s later: nothing listened on port %u "
		         "(connection refused)",
		         D(r, 0), U(r, 1));
		return true;
	case REASON_KEEPALIVE_IDLE:
		snprintf(buf, size,
		         "after %s of silence the %s's %u keepalive probes (every %s) went unanswered "
		         "and %s: a firewall or NAT most likely forgot the idle connection",
		         D(r, 0), S(r, 1), U(r, 2), D(r, 3), S(r, 4));
		return true;
	case REASON_KEEPALIVE:
		snprintf(buf, size, "the %s's %u keepalive probes (every %s) went unanswered; %s",
		         S(r, 0), U(r, 1), D(r, 2), S(r, 3));
		return true;
	case REASON_VANISHED_IDLE:
		n = snprintf(buf, size,
		             "after %s of silence the %s's next data was never answered (%u "
		             "retransmissions over %s): a firewall or NAT in the path most likely "
		             "forgot the idle connection and drops it",
		             D(r, 0), S(r, 1), U(r, 2), D(r, 3));
		append_cause(buf, size, n, S(r, 4));
		return true;
	case REASON_VANISHED_HEARTBEAT:
		n = snprintf(buf, size,
		             "the %s stopped answering the %s's heartbeats: %u segments (%u "
		             "retransmissions) over %s went unanswered, nothing came back for %s",
		             S(r, 0), S(r, 1), U(r, 2), U(r, 3), D(r, 4), D(r, 5));
		append_cause(buf, size, n, S(r, 6));
		return true;
	case REASON_VANISHED:
		n = snprintf(buf, size,
		             "the %s vanished (power, cable, route or firewall): the %s's %u segments "
		             "(%u retransmissions) over %s went unanswered, nothing came back for %s",
		             S(r, 0), S(r, 1), U(r, 2), U(r, 3), D(r, 4), D(r, 5));
		append_cause(buf, size, n, S(r, 6));
		return true;
	case REASON_PATH_RESET_IDLE_TTL:
	case REASON_PATH_RESET_TTL:
		snprintf(why, sizeof why, "TTL %u where the %s's packets arrive with %u", U(r, 4),
		         S(r, 5), U(r, 6));
		break;
	case REASON_PATH_RESET_IDLE_IP_ID:
	case REASON_PATH_RESET_IP_ID:
		snprintf(why, sizeof why, "IP ID %u where the %s's next ID was about %u", U(r, 4),
		         S(r, 5), U(r, 6));
		break;
	case REASON_RST_AFTER_CLOSE:
		snprintf(buf, size,
		         "the %s had closed (FIN) and reset %s after the %s sent more data: the data "
		         "reached a socket that was no longer there to read it",
		         S(r, 0), D(r, 1), S(r, 2));
		return true;
	case REASON_FIN_WAIT_2_TIMEOUT:
		snprintf(buf, size,
		         "the %s had closed and its FIN was acknowledged; the %s's FIN came %s later and "
		         "was answered with a bare reset: the %s's FIN-WAIT-2 state had timed out "
		         "(tcp_fin_timeout)",
		         S(r, 0), S(r, 1), D(r, 2), S(r, 3));
		return true;
	case REASON_PEER_RESTARTED:
		snprintf(buf, size,
		         "the %s answered the %s's segment %s later with a reset taking its sequence "
		         "number from that segment's ack, without ever having closed: its kernel had no "
		         "socket for the connection (restarted host or process, lost state)",
		         S(r, 0), S(r, 1), D(r, 2));
		return true;
	case REASON_UNREAD_DATA:
		snprintf(buf, size,
		         "the %s reset the connection instead of closing it: %u bytes from the %s "
		         "arrived after its own last data and were never answered, most likely closed "
		         "unread (RFC 2525 §2.17); a read followed by an abort looks the same",
		         S(r, 0), U(r, 1), S(r, 2));
		return true;
	case REASON_ABORT:
		snprintf(buf, size,
		         "the %s aborted the connection with a reset, its own next sequence number, "
		         "having answered all it received (SO_LINGER 0 or an application abort)",
		         S(r, 0));
		return true;
	case REASON_ABORT_AFTER_ANSWER:
		snprintf(buf, size,
		         "the %s aborted the connection with a reset after the answer to its request; "
		         "%u bytes from the %s were acknowledged, never answered: read and aborted "
		         "(likely) or left unread (rst_unread_data), the packets cannot tell",
		         S(r, 0), U(r, 1), S(r, 2));
		return true;
	case REASON_UNREAD_ZERO_WINDOW:
		snprintf(buf, size,
		         "the %s reset the connection with its receive buffer full: its window was %u "
		         "(of up to %u) and never reopened, so the %s's last data sat unread (RFC 2525 "
		         "§2.17)",
		         S(r, 0), U(r, 1), U(r, 2), S(r, 3));
		return true;
	case REASON_UNREAD_WINDOW:
		snprintf(buf, size,
		         "the %s reset the connection with its receive buffer nearly full: its window "
		         "had fallen to %u (of up to %u) and stayed there, so most of the %s's last data "
		         "sat unread (RFC 2525 §2.17)",
		         S(r, 0), U(r, 1), U(r, 2), S(r, 3));
		return true;
	case REASON_ABORT_AFTER_READ:
		snprintf(buf, size,
		         "the %s aborted the connection with a reset; after the %u bytes the %s sent "
		         "last, its window updates show its application reading: most likely read, then "
		         "aborted",
		         S(r, 0), U(r, 1), S(r, 2));
		return true;
	case REASON_PATH_RESET_TIMING:
		snprintf(buf, size,
		         "a reset in the %s's name came %s after the %s's segment it reacts to, sooner "
		         "than the %s round trip from the capture point to the %s: it came from the path "
		         "(a firewall, load balancer or IPS ended the connection)",
		         S(r, 0), D(r, 1), S(r, 2), D(r, 3), S(r, 4));
		return true;
	case REASON_RST_AFTER_CLOSE_FIN:
		snprintf(buf, size,
		         "the %s had closed (FIN); the %s's own FIN came later and was answered %s "
		         "after it with a reset: the closed socket was already gone",
		         S(r, 0), S(r, 1), D(r, 2));
		return true;
	case REASON_FIN_SIMULTANEOUS:
		snprintf(buf, size,
		         "both sides closed at once: the FINs crossed %s apart, neither "
		         "acknowledging the other%s",
		         D(r, 0), S(r, 1));
		return true;
	case REASON_FIN_GRACEFUL:
		snprintf(buf, size, "the %s closed first; the %s closed %s later%s", S(r, 0), S(r, 1),
		         D(r, 2), S(r, 3));
		return true;
	case REASON_HALF_CLOSED_SENDING:
		snprintf(buf, size,
		         "the %s closed its sending side; the %s went on sending (%u bytes "
		         "after the FIN) and had not closed when the capture ended",
		         S(r, 0), S(r, 1), U(r, 2));
		return true;
	case REASON_HALF_CLOSED:
		snprintf(buf, size,
		         "the %s closed its sending side; the %s had not closed when the "
		         "capture ended",
		         S(r, 0), S(r, 1));
		return true;
	case REASON_IDLE_AT_END:
		snprintf(buf, size, "no close seen; no data for the last %s of the capture%s", D(r, 0),
		         S(r, 1));
		return true;
	case REASON_OPEN_AT_END:
		snprintf(buf, size, "no close seen; data was still flowing %s before the capture ended",
		         D(r, 0));
		return true;
	case REASON_CLOSE_WAIT_STUCK:
		snprintf(buf, size,
		         "the %s closed; the %s acknowledged its FIN and then neither sent nor "
		         "closed for %s (CLOSE-WAIT, threshold %s): its application never called "
		         "close(), a leaked socket",
		         S(r, 0), S(r, 1), D(r, 2), D(r, 3));
		return true;
	case REASON_COUNT:
		break;
	}
	/* The path resets, which share one sentence per pair. */
	enum flow_reason_id id = (enum flow_reason_id)r->id;
	if (id == REASON_PATH_RESET_IDLE_TTL || id == REASON_PATH_RESET_IDLE_IP_ID) {
		snprintf(buf, size,
		         "after %s of silence the %s's next segment was answered %s later by a reset "
		         "in the %s's name that came from the path (%s): a firewall or NAT had "
		         "forgotten the idle connection",
		         D(r, 0), S(r, 1), D(r, 2), S(r, 3), why);
		return true;
	}
	if (id == REASON_PATH_RESET_TTL || id == REASON_PATH_RESET_IP_ID) {
		snprintf(buf, size,
		         "a reset in the %s's name answered the %s's segment %s later, but it came from "
		         "the path, not the %s (%s): a firewall, load balancer or IPS ended the "
		         "connection",
		         S(r, 0), S(r, 1), D(r, 2), S(r, 3), why);
		return true;
	}
	return false;
}

/* --- argument values ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
	return xorshift64s(&rng_state);
}

/* Durations worth trying: unit boundaries, rounding ties, huge and negative values. */
static const int64_t edge_ns[] = {
	0, -1, -1000000000, INT64_MIN, 1, 999, 1000, 1999, 999999, 1000000, 1049999, 1050000,
	1050001, 1250000, 1350000, 2450000, 9950000, 99950000, 999949999, 999950000, 999999999,
	1000000000, 1004999999, 1005000000, 1015000000, 1025000000, 1125000000, 9995000000,
	60000000000, 99995000000, 9007199254740993, INT64_MAX, INT64_MAX - 5000000,
};

/* Any duration from 0 to about 10^15 ns, spread over the magnitudes, sometimes a tie. */
static int64_t random_ns(void)
{
	uint64_t r = rnd();
	int64_t v = (int64_t)(rnd() % 1000000000000000u) >> (r % 50);

	switch (r >> 60) {
	case 0:
		return edge_ns[(r >> 8) % (sizeof edge_ns / sizeof edge_ns[0])];
	case 1: /* a tie of the millisecond range: x.x5 ms */
		return (int64_t)((r >> 8) % 9990 + 10) * 100000 + 50000;
	case 2: /* a tie of the second range: x.xx5 s */
		return (int64_t)((r >> 8) % 100000000 + 100) * 10000000 + 5000000;
	case 3:
		return -v;
	default:
		return v;
	}
}

static uint64_t random_uint(void)
{
	static const uint64_t edge[] = { 0, 1, 9, 10, 99, 100, 65535, 65536, 4294967295u };
	uint64_t r = rnd();

	if ((r & 3) == 0)
		return edge[(r >> 8) % (sizeof edge / sizeof edge[0])];
	return (r >> 8) % ((uint64_t)1 << ((r >> 2) % 33)); /* 0 .. 2^32 - 1 */
}

static const char *random_side(void)
{
	return rnd() & 1 ? "client" : "server";
}

static const char *random_str(void)
{
	/* long enough to push most sentences past FLOW_REASON_MAX, and to cut a character */
	static const char long_text[] =
		"µµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµ"
		"µµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµµ";
	static const char *const pool[] = {
		"client", "server", "", "; both were then acknowledged",
		" and both FINs were acknowledged", "; the last ACK is not in the capture",
		"the retransmissions stopped: it gave up", long_text, "a \"quoted\\\" text",
	};

	return pool[rnd() % (sizeof pool / sizeof pool[0])];
}

/* Fills r with template `id` and random arguments of the kinds its placeholders say. */
static unsigned random_reason(struct flow_reason *r, enum flow_reason_id id)
{
	const char *t = flow_reason_template(id);
	unsigned n = 0;

	/* The path resets' strings are side names: the old code cut what the TTL or ID part said at
	 * 95 bytes, which they never reach. */
	bool sides_only = id == REASON_PATH_RESET_IDLE_TTL || id == REASON_PATH_RESET_IDLE_IP_ID ||
	                  id == REASON_PATH_RESET_TTL || id == REASON_PATH_RESET_IP_ID;

	memset(r, 0, sizeof *r);
	r->id = (uint8_t)id;
	for (const char *p = t; p != NULL && (p = strchr(p, '%')) != NULL; p++) {
		if (n >= FLOW_REASON_ARGS)
			return n + 1; /* too many placeholders: the caller fails */
		if (p[1] == 's')
			r->args[n++] = reason_str(sides_only ? random_side() : random_str());
		else if (p[1] == 'u')
			r->args[n++] = reason_uint(random_uint());
		else if (p[1] == 'D')
			r->args[n++] = reason_ns(random_ns());
	}
	r->n_args = (uint8_t)n;
	return n;
}

/* --- tests --------------------------------------------------------------------------------------- */

static void check_same(const char *got, const char *want, const char *what)
{
	CU_ASSERT_STRING_EQUAL(got, want);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n  %s\n  got  \"%s\"\n  want \"%s\"\n", what, got, want);
}

/* Every template, many times, against the reference; cut to every buffer size on the way; the
 * same through one string memo (flow_reason_format_memo), which hits and misses over the rounds. */
/* Whether a JSON string holds s (n bytes) unchanged: no control character, quote or backslash,
 * and every byte from 0x80 in a well-formed sequence (the texts here have 2-byte ones only). */
static bool json_unchanged(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 || u[i] == '"' || u[i] == '\\')
			return false;
		if (u[i] < 0x80)
			continue;
		if (u[i] < 0xC2 || u[i] > 0xDF || i + 1 >= n || (u[i + 1] & 0xC0) != 0x80)
			return false;
		i++;
	}
	return true;
}

static void test_every_template_matches_snprintf(void)
{
	static struct reason_memo memo; /* zeroed, as a writer keeps it */
	unsigned n_plain = 0;
	bool plain;

	for (int id = REASON_NONE; id < REASON_COUNT; id++) {
		char name[32];

		snprintf(name, sizeof name, "reason id %d", id);
		for (unsigned round = 0; round < 2000; round++) {
			struct flow_reason r;
			char want[FLOW_REASON_MAX], got[FLOW_REASON_MAX];
			size_t len;

			CU_ASSERT_FATAL(random_reason(&r, (enum flow_reason_id)id) <= FLOW_REASON_ARGS);
			if (!reference(&r, want)) {
				CU_FAIL("a reason id without a reference in test_reason.c");
				fprintf(stderr, "\n  %s: no reference\n", name);
				return;
			}
			len = flow_reason_format(&r, got, sizeof got);
			check_same(got, want, name);
			CU_ASSERT_EQUAL(len, strlen(want));
			if (strcmp(got, want) != 0)
				return;
			/* A shorter buffer cuts the same text. */
			for (size_t size = round % 7; size < sizeof got; size += 1 + round % 13) {
				char cut[FLOW_REASON_MAX];

				memset(cut, 'x', sizeof cut);
				len = flow_reason_format(&r, cut, size);
				CU_ASSERT_EQUAL(len, size == 0 ? 0 : strnlen(want, size - 1));
				if (size == 0) {
					CU_ASSERT_EQUAL(cut[0], 'x'); /* nothing written, not even a NUL */
					continue;
				}
				CU_ASSERT_EQUAL(cut[len], '\0');
				CU_ASSERT(memcmp(cut, want, len) == 0);
				/* Through the memo: the same, and nothing written from size on. */
				memset(cut, 'x', sizeof cut);
				len = flow_reason_format_memo(&r, cut, size, &memo, NULL);
				CU_ASSERT_EQUAL(len, strnlen(want, size - 1));
				CU_ASSERT_EQUAL(cut[len], '\0');
				CU_ASSERT(memcmp(cut, want, len) == 0);
				for (size_t k = size; k < sizeof cut; k++)
					CU_ASSERT_EQUAL_FATAL(cut[k], 'x');
			}
			len = flow_reason_format_memo(&r, got, sizeof got, &memo, &plain);
			check_same(got, want, name);
			CU_ASSERT_EQUAL(len, strlen(want));
			/* Plain: nothing a JSON string would escape or repair. */
			if (plain) {
				n_plain++;
				CU_ASSERT(json_unchanged(got, len));
			}
		}
	}
	CU_ASSERT(n_plain > 1000);
}

/* What the formatter calls plain: the common sentences, not one with a quote. */
static void test_plain_sentences(void)
{
	struct reason_memo memo;
	struct flow_reason r;
	char buf[FLOW_REASON_MAX];
	bool plain;

	memset(&memo, 0, sizeof memo);
	FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("server"), reason_str("client"),
	            reason_ns(3800000), reason_str(" and both FINs were acknowledged"));
	flow_reason_format_memo(&r, buf, sizeof buf, &memo, &plain);
	CU_ASSERT_STRING_EQUAL(buf, "the server closed first; the client closed 3.8 ms later and "
	                            "both FINs were acknowledged");
	CU_ASSERT(plain);
	/* again, from the memo */
	flow_reason_format_memo(&r, buf, sizeof buf, &memo, &plain);
	CU_ASSERT(plain);
	FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("server"), reason_str("client"),
	            reason_ns(12000), reason_str(""));
	flow_reason_format_memo(&r, buf, sizeof buf, &memo, &plain);
	CU_ASSERT_STRING_EQUAL(buf, "the server closed first; the client closed 12 µs later");
	CU_ASSERT(plain); /* well-formed UTF-8 passes unchanged */
	FLOW_REASON(&r, REASON_TEXT, reason_str("say \"no\""));
	flow_reason_format_memo(&r, buf, sizeof buf, &memo, &plain);
	CU_ASSERT_FALSE(plain);
	flow_reason_format_memo(&r, buf, sizeof buf, NULL, &plain);
	CU_ASSERT_FALSE(plain); /* without a memo it is never said */
	/* A text that fills the buffer may be cut inside a character. */
	FLOW_REASON(&r, REASON_TEXT, reason_str("abcdef"));
	flow_reason_format_memo(&r, buf, 7, &memo, &plain);
	CU_ASSERT_FALSE(plain);
	flow_reason_format_memo(&r, buf, 8, &memo, &plain);
	CU_ASSERT(plain);
}

/* The memo's whole sentences (their fixed text kept, the numbers written between): the same text
 * and plainness as without the memo, for a layout met again with other numbers, layouts that
 * alternate and share slots, mismatched arguments (never kept: formatted as they come), a kind
 * that is none, and buffers too short for the sentence's room (formatted and cut as before). */
static void test_sentence_memo(void)
{
	static struct reason_memo memo; /* zeroed, as a writer keeps it */
	static const char *const sides[] = { "client", "server" };
	static const char *const endings[] = { "", " and both FINs were acknowledged",
		                               "; the last ACK is not in the capture" };
	unsigned hits_checked = 0;

	for (unsigned round = 0; round < 20000; round++) {
		struct flow_reason r;
		char want[FLOW_REASON_MAX], got[FLOW_REASON_MAX + 8];
		size_t size = round % 5 == 4 ? 1 + round % 90 : FLOW_REASON_MAX;
		size_t want_len, got_len;
		bool plain = false;

		switch (round % 5) {
		case 0:
		case 4:
			FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str(sides[round / 5 % 2]),
			            reason_str(sides[round / 10 % 2]),
			            reason_ns((int64_t)(rnd() % 4000000000u) - 100),
			            reason_str(endings[round / 3 % 3]));
			break;
		case 1: /* a "%u" and "%D" at once, and a sentence alternating with the others */
			FLOW_REASON(&r, REASON_HALF_CLOSED_SENDING, reason_str(sides[round / 5 % 2]),
			            reason_str(sides[1 - round / 5 % 2]), reason_uint(rnd() % 100000),
			            reason_ns((int64_t)(rnd() % 2000000)));
			break;
		case 2: /* mismatched: a number where a string goes */
			FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("client"), reason_uint(7),
			            reason_ns(1250000), reason_str(""));
			break;
		default: /* a kind that is none, then too few arguments */
			FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("client"), reason_str("server"),
			            reason_ns(1250000), reason_str(""));
			if (round % 2)
				r.args[2].kind = 7;
			else
				r.n_args = 2;
			break;
		}
		want_len = flow_reason_format(&r, want, size);
		memset(got, 'x', sizeof got);
		got_len = flow_reason_format_memo(&r, got, size, &memo, &plain);
		CU_ASSERT_EQUAL_FATAL(got_len, want_len);
		CU_ASSERT_FATAL(memcmp(got, want, want_len + 1) == 0);
		for (size_t k = size; k < sizeof got; k++)
			CU_ASSERT_EQUAL_FATAL(got[k], 'x');
		if (plain)
			CU_ASSERT(json_unchanged(got, got_len));
		/* the common sentences are plain, met again or not */
		if (round % 5 == 0) {
			CU_ASSERT(plain);
			hits_checked++;
		}
	}
	CU_ASSERT(hits_checked > 1000);
}

/* Every template has its text, no more placeholders than FLOW_REASON_ARGS, and says something. */
static void test_templates_well_formed(void)
{
	CU_ASSERT_PTR_NULL(flow_reason_template(REASON_NONE));
	CU_ASSERT_PTR_NULL(flow_reason_template(REASON_COUNT));
	CU_ASSERT_PTR_NULL(flow_reason_template((enum flow_reason_id)200));
	for (int id = REASON_TEXT; id < REASON_COUNT; id++) {
		const char *t = flow_reason_template((enum flow_reason_id)id);
		unsigned n = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		for (const char *p = t; (p = strchr(p, '%')) != NULL; p++) {
			CU_ASSERT(p[1] == 's' || p[1] == 'u' || p[1] == 'D');
			n++;
		}
		CU_ASSERT(n <= FLOW_REASON_ARGS);
		CU_ASSERT(id == REASON_TEXT || strlen(t) > 2 * n + 20);
		/* "?" stands for a missing argument: a template must not have its own. */
		CU_ASSERT_PTR_NULL(strchr(t, '?'));
	}
}

/* Durations: every tie of the millisecond range, ties and boundaries of the second range, the
 * edges and random values, against printf. */
static void test_duration_matches_printf(void)
{
	unsigned failures = 0;

	for (uint64_t i = 0; i < 2500000 && failures < 5; i++) {
		int64_t ns;
		char want[32], got[FLOW_DURATION_MAX];
		size_t len;

		if (i < 10000)
			ns = (int64_t)i * 100000 + 50000;            /* 0.05 ms .. 999.95 ms */
		else if (i < 1010000)
			ns = (int64_t)(i - 10000 + 100) * 10000000 + 5000000; /* 1.005 s .. 10000.995 s */
		else if (i < 1010000 + sizeof edge_ns / sizeof edge_ns[0])
			ns = edge_ns[i - 1010000];
		else if (i < 1500000)
			ns = random_ns();
		else if (i < 2000000) /* near the ties: one nanosecond off */
			ns = (int64_t)(rnd() % 100000000000u) / 100000 * 100000 + 50000 +
			     (int64_t)(rnd() % 3) - 1;
		else
			ns = (int64_t)(rnd() >> 1);
		ref_duration(ns, want, sizeof want);
		len = flow_duration_format(ns, got, sizeof got);
		if (strcmp(got, want) != 0 || len != strlen(want)) {
			failures++;
			CU_FAIL("duration differs from printf");
			fprintf(stderr, "\n  %" PRId64 " ns: got \"%s\", want \"%s\"\n", ns, got, want);
		}
	}
	CU_ASSERT_EQUAL(failures, 0);
}

/* The rounding the reports have always shown, spelled out. */
static void test_duration_examples(void)
{
	static const struct {
		int64_t ns;
		const char *text;
	} cases[] = {
		{ -5, "0 µs" },
		{ 0, "0 µs" },
		{ 999, "0 µs" },
		{ 1999, "1 µs" },
		{ 999999, "999 µs" },
		{ 1000000, "1.0 ms" },
		{ 1050000, "1.1 ms" },    /* 1.05 is a little above in binary */
		{ 1250000, "1.2 ms" },    /* exactly 1.25: ties to even */
		{ 1350000, "1.4 ms" },    /* 1.35 is a little above in binary */
		{ 2450000, "2.5 ms" },    /* 2.45 is a little above in binary */
		{ 999950000, "1000.0 ms" },
		{ 1000000000, "1.00 s" },
		{ 1005000000, "1.00 s" }, /* 1.005 is a little below in binary */
		{ 1125000000, "1.12 s" }, /* exactly 1.125: ties to even */
		{ 1375000000, "1.38 s" }, /* exactly 1.375: ties to even, up */
		{ 60000000000, "60.00 s" },
		{ INT64_MAX, "9223372036.85 s" },
	};

	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char got[FLOW_DURATION_MAX], want[32];

		flow_duration_format(cases[i].ns, got, sizeof got);
		check_same(got, cases[i].text, "duration");
		ref_duration(cases[i].ns, want, sizeof want);
		check_same(want, cases[i].text, "printf itself");
	}
}

/* Short buffers cut the duration and always end it with a NUL. */
static void test_duration_cut(void)
{
	char buf[8];

	memset(buf, 'x', sizeof buf);
	CU_ASSERT_EQUAL(flow_duration_format(1250000000, buf, 0), 0);
	CU_ASSERT_EQUAL(buf[0], 'x');
	CU_ASSERT_EQUAL(flow_duration_format(1250000000, buf, 1), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(flow_duration_format(1250000000, buf, 4), 3);
	CU_ASSERT_STRING_EQUAL(buf, "1.2");
	CU_ASSERT_EQUAL(flow_duration_format(1250000000, buf, sizeof buf), 6);
	CU_ASSERT_STRING_EQUAL(buf, "1.25 s");
}

/* What the formatter does with records it was not meant to get: never more than it was given,
 * "?" for what is missing or of the wrong kind, and a '%' that is no placeholder kept. */
static void test_mismatched_arguments(void)
{
	struct flow_reason r;
	char buf[FLOW_REASON_MAX];

	memset(&r, 0, sizeof r);
	CU_ASSERT_EQUAL(flow_reason_format(&r, buf, sizeof buf), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");

	r.id = 250; /* unknown */
	CU_ASSERT_EQUAL(flow_reason_format(&r, buf, sizeof buf), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");

	/* REASON_FIN_GRACEFUL: "the %s closed first; the %s closed %D later%s" */
	FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("client"), reason_uint(7));
	flow_reason_format(&r, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "the client closed first; the ? closed ? later?");

	FLOW_REASON(&r, REASON_FIN_GRACEFUL, reason_str("client"), reason_str(NULL),
	            reason_ns(1250000), reason_str(""));
	flow_reason_format(&r, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "the client closed first; the  closed 1.2 ms later");

	/* More arguments than FLOW_REASON_ARGS: the rest are dropped, not written past the array. */
	FLOW_REASON(&r, REASON_TEXT, reason_str("a"), reason_str("b"), reason_str("c"),
	            reason_str("d"), reason_str("e"), reason_str("f"), reason_str("g"),
	            reason_str("h"), reason_str("i"));
	CU_ASSERT_EQUAL(r.n_args, FLOW_REASON_ARGS);
	flow_reason_format(&r, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "a");

	/* A static text is written as it is, '%' and all. */
	FLOW_REASON(&r, REASON_TEXT, reason_str("100% %s %u %D done"));
	flow_reason_format(&r, buf, sizeof buf);
	CU_ASSERT_STRING_EQUAL(buf, "100% %s %u %D done");
}

/* The record can be copied and outlive the text's makers: it holds values and static text. */
static void test_reason_survives_copy(void)
{
	struct flow_reason a, b;
	char x[FLOW_REASON_MAX], y[FLOW_REASON_MAX];

	FLOW_REASON(&a, REASON_UNREAD_DATA, reason_str("server"), reason_uint(1448),
	            reason_str("client"));
	b = a;
	memset(&a, 0xA5, sizeof a);
	flow_reason_format(&b, x, sizeof x);
	CU_ASSERT_STRING_EQUAL(x, "the server reset the connection instead of closing it: 1448 "
	                          "bytes from the client arrived after its own last data and were "
	                          "never answered, most likely closed unread (RFC 2525 §2.17); a read "
	                          "followed by an abort looks the same");
	CU_ASSERT_TRUE(reference(&b, y));
	CU_ASSERT_STRING_EQUAL(x, y);
}

CUNIT_TESTS(reason_tests,
	    { "every_template_matches_snprintf", test_every_template_matches_snprintf },
	    { "plain sentences", test_plain_sentences },
	    { "sentence_memo", test_sentence_memo },
	    { "templates_well_formed", test_templates_well_formed },
	    { "mismatched_arguments", test_mismatched_arguments },
	    { "reason_survives_copy", test_reason_survives_copy });

CUNIT_TESTS(duration_tests,
	    { "duration_matches_printf", test_duration_matches_printf },
	    { "duration_examples", test_duration_examples },
	    { "duration_cut", test_duration_cut });

CUNIT_MAIN("test_reason",
           { "reason", NULL, NULL, NULL, NULL, reason_tests },
           { "duration", NULL, NULL, NULL, NULL, duration_tests })
