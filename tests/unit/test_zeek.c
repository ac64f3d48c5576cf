/* test_zeek.c - Zeek's view of a connection (analyzer/zeek_conn.h): conn_state from endpoint
 * states, the history letters and their repetition rules, the role flips, content gaps, the uid;
 * driven by scripted segments through the tracker, as test_tracker.c does. */
#include <CUnit/Basic.h>
#include <string.h>

#include "cunit_main.h"
#include "seg_build.h"
#include "store_suite.h"

#include "classify.h"
#include "tracker.h"
#include "zeek_conn.h"

#define T0 (1764000000LL * 1000000000LL)

struct conv {
	struct live_flow *f;
	uint64_t frame;
	int64_t now;
	uint16_t port[2]; /* client, server */
};

static void conv_start(struct conv *c, uint16_t cport, uint16_t sport)
{
	memset(c, 0, sizeof *c);
	c->now = T0;
	c->port[FROM_CLIENT] = cport;
	c->port[FROM_SERVER] = sport;
}

/* One segment from side `d` (the tracker's client is the first SYN's sender, or as flow_init
 * decides for the first segment). */
static void send(struct conv *c, int d, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len,
                 uint16_t window)
{
	struct ip_addr a = { .family = 4, .bytes = { 192, 0, 2, 1 } };
	struct ip_addr b = { .family = 4, .bytes = { 192, 0, 2, 2 } };
	struct tcp_segment seg = seg_between(d, a, b, c->port[FROM_CLIENT], c->port[FROM_SERVER],
	                                     flags, seq, ack, len);

	seg.window = window;
	seg.header_len = 40;
	c->frame++;
	c->now += 1000000;
	if (!c->f) {
		c->f = flow_store_new(&store);
		CU_ASSERT_FATAL(c->f != NULL);
		CU_ASSERT_FATAL(flow_init(&store, c->f, c->frame, &seg, "test", false, 0));
	}
	tracker_segment(&store, c->f, &seg, flow_direction_of(&store, c->f, &seg), c->now,
	                c->frame);
}

static struct zeek_fields finish(struct conv *c)
{
	struct zeek_fields z;
	struct flow_endpoint client, server;

	live_endpoint(&store, c->f, FROM_CLIENT, &client);
	live_endpoint(&store, c->f, FROM_SERVER, &server);
	zeek_decode(&store, c->f, live_fin_of(&store, c->f), &client, &server, &z);
	flow_store_free(&store, c->f);
	c->f = NULL;
	return z;
}

/* Ends the conversation and checks Zeek's history and conn_state; the fields, for more checks. */
static struct zeek_fields expect_zeek(struct conv *c, const char *history, const char *conn_state)
{
	struct zeek_fields z = finish(c);

	CU_ASSERT_STRING_EQUAL(z.history, history);
	CU_ASSERT_STRING_EQUAL(z.conn_state, conn_state);
	return z;
}

#define C FROM_CLIENT
#define S FROM_SERVER
#define SYN TCP_SYN
#define ACK TCP_ACK
#define FIN (TCP_FIN | TCP_ACK)
#define RST TCP_RST

/* 40001 -> 8080: SYN (ISN 100), SYN+ACK (ISN 500), ACK; windows 502. */
static void handshake(struct conv *c)
{
	conv_start(c, 40001, 8080);
	send(c, C, SYN, 100, 0, 0, 502);
	send(c, S, SYN | ACK, 500, 101, 0, 502);
	send(c, C, ACK, 101, 501, 0, 502);
}

static void test_conn_state_table(void)
{
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_SYN_SENT, ZEEK_INACTIVE, 0, 0, "S"), "S0");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_ESTABLISHED, ZEEK_ESTABLISHED, 1, 1, "ShAD"),
	                       "S1");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_CLOSED, ZEEK_CLOSED, 1, 1, "ShADFf"), "SF");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_SYN_SENT, ZEEK_RESET, 0, 0, "Sr"), "REJ");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_RESET, 0, 0, "SRr"), "REJ");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_RESET, 5, 0, "ShADRr"), "RSTR");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_CLOSED, ZEEK_ESTABLISHED, 1, 1, "ShADF"), "S2");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_ESTABLISHED, ZEEK_CLOSED, 1, 1, "ShADf"), "S3");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_ESTABLISHED, 1, 1, "ShADR"), "RSTO");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_ESTABLISHED, ZEEK_RESET, 1, 1, "ShADr"), "RSTR");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_PARTIAL, ZEEK_RESET, 0, 0, "^r"), "RSTRH");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_INACTIVE, 0, 0, "SR"), "RSTOS0");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_INACTIVE, 0, 0, "^SaR"), "RSTOS0");
	/* an F between the SYN and the RST breaks the pattern: OTH (Zeek's regex) */
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_INACTIVE, 0, 0, "SaFR"), "OTH");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_RESET, ZEEK_INACTIVE, 0, 0, "R"), "OTH");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_CLOSED, ZEEK_INACTIVE, 0, 0, "SF"), "SH");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_PARTIAL, ZEEK_CLOSED, 0, 0, "^fA"), "SHR");
	CU_ASSERT_STRING_EQUAL(zeek_conn_state(ZEEK_PARTIAL, ZEEK_PARTIAL, 1, 1, "Dd"), "OTH");
}

static void test_history_packing(void)
{
	struct live_zeek z;
	char text[ZEEK_HISTORY_MAX + 1];
	const char *all = "SHADFRCGTWIQXshadfrcgtwiqx^";

	memset(&z, 0, sizeof z);
	for (const char *p = all; *p; p++)
		zeek_history_add(&z, *p);
	zeek_history_text(&z, text);
	/* 27 letters do not fit 24: the first 24 are kept and the cut is said */
	CU_ASSERT_EQUAL(strlen(text), ZEEK_HISTORY_MAX);
	CU_ASSERT_EQUAL(strncmp(text, all, ZEEK_HISTORY_MAX), 0);
	CU_ASSERT(z.meta & ZEEK_META_CUT);
	memset(&z, 0, sizeof z);
	CU_ASSERT_FALSE(zeek_history_add(&z, 'Z'));
	/* The codes the per-packet code adds are the letters' codes: the originator's in the order
	 * of "SHADFRCGTWIQX", the responder's ZEEK_CODE_RESPONDER further, '^' last. */
	{
		static const unsigned codes[] = { ZEEK_CODE_S, ZEEK_CODE_H, ZEEK_CODE_A, ZEEK_CODE_D,
			                          ZEEK_CODE_F, ZEEK_CODE_R, ZEEK_CODE_C, ZEEK_CODE_G,
			                          ZEEK_CODE_T, ZEEK_CODE_W, ZEEK_CODE_I, ZEEK_CODE_Q,
			                          ZEEK_CODE_X };

		for (unsigned i = 0; i < 13; i++) {
			CU_ASSERT_EQUAL(zeek_letter_code(all[i]), codes[i]);
			CU_ASSERT_EQUAL(zeek_letter_code(all[i + 13]), codes[i] + ZEEK_CODE_RESPONDER);
		}
		CU_ASSERT_EQUAL(zeek_letter_code('^'), ZEEK_CODE_FLIP);
		memset(&z, 0, sizeof z);
		CU_ASSERT(zeek_history_add_code(&z, ZEEK_CODE_S));
		CU_ASSERT(zeek_history_add_code(&z, ZEEK_CODE_H + ZEEK_CODE_RESPONDER));
		CU_ASSERT(zeek_history_add_code(&z, ZEEK_CODE_FLIP));
		zeek_history_text(&z, text);
		CU_ASSERT_STRING_EQUAL(text, "Sh^");
	}
	memset(&z, 0, sizeof z);
	/* Every length, each letter at every place (the codes are read from two words). */
	for (unsigned n = 0; n <= ZEEK_HISTORY_MAX; n++) {
		for (unsigned shift = 0; shift < 27; shift += 5) {
			char want[ZEEK_HISTORY_MAX + 1];

			memset(&z, 0, sizeof z);
			for (unsigned i = 0; i < n; i++) {
				want[i] = all[(i + shift) % 27];
				CU_ASSERT(zeek_history_add(&z, want[i]));
			}
			want[n] = '\0';
			zeek_history_text(&z, text);
			CU_ASSERT_STRING_EQUAL(text, want);
		}
	}
}

static void test_scaled_and_ports(void)
{
	CU_ASSERT(zeek_scaled(1));
	CU_ASSERT(zeek_scaled(10));
	CU_ASSERT(zeek_scaled(100));
	CU_ASSERT(zeek_scaled(1000000000));
	CU_ASSERT_FALSE(zeek_scaled(2));
	CU_ASSERT_FALSE(zeek_scaled(11));
	CU_ASSERT_FALSE(zeek_scaled(0));
	CU_ASSERT(zeek_likely_server_port(80));
	CU_ASSERT(zeek_likely_server_port(22));
	CU_ASSERT(zeek_likely_server_port(20000));
	CU_ASSERT_FALSE(zeek_likely_server_port(888));
	CU_ASSERT_FALSE(zeek_likely_server_port(40001));
	/* a pure SYN is never flipped; data from a server port to a client port is */
	CU_ASSERT_FALSE(zeek_flips_first(TCP_SYN, 80, 40001));
	CU_ASSERT(zeek_flips_first(TCP_ACK, 80, 40001));
	CU_ASSERT(zeek_flips_first(TCP_SYN | TCP_ACK, 80, 40001));
	/* both plausible: only a non-SYN towards the higher port */
	CU_ASSERT(zeek_flips_first(TCP_ACK, 80, 443));
	CU_ASSERT_FALSE(zeek_flips_first(TCP_SYN | TCP_ACK, 80, 443));
	CU_ASSERT_FALSE(zeek_flips_first(TCP_ACK, 443, 80));
}

static void test_uid(void)
{
	struct flow_endpoint a = { .addr = { .family = 4, .bytes = { 192, 0, 2, 1 } }, .port = 1 };
	struct flow_endpoint b = { .addr = { .family = 4, .bytes = { 192, 0, 2, 2 } }, .port = 2 };
	char u1[20], u2[20], u3[20];

	zeek_uid(&a, &b, T0, u1);
	zeek_uid(&a, &b, T0, u2);
	zeek_uid(&a, &b, T0 + 1000, u3);
	CU_ASSERT_STRING_EQUAL(u1, u2);
	CU_ASSERT_STRING_NOT_EQUAL(u1, u3);
	CU_ASSERT_EQUAL(strlen(u1), 18);
	CU_ASSERT_EQUAL(u1[0], 'C');
	for (int i = 1; i < 18; i++)
		CU_ASSERT(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
		                 u1[i]) != NULL);
	/* The uids never change (a capture analysed again gives the same): pinned, from the
	 * digit-by-digit conversion the two-digit tables replaced, at edge timestamps and for IPv6. */
	{
		struct flow_endpoint c = { .addr = { .family = 6,
			                             .bytes = { 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0,
			                                        0, 0, 0, 0, 1 } },
			                   .port = 65535 };
		static const struct {
			int64_t ts;
			const char *uid;
		} pinned[] = {
			{ 1764000000123456789LL, "C04bc0YSZ3XomcmiUF" },
			{ 0, "C1C4QPU85vLLroXj7M" },
			{ -1, "C14rO9UzrXZzuuWnkZ" },
			{ INT64_MAX, "C0LgfNsNmzUeQsB7Kk" },
		};

		for (unsigned i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
			zeek_uid(&a, &b, pinned[i].ts, u1);
			CU_ASSERT_STRING_EQUAL(u1, pinned[i].uid);
		}
		zeek_uid(&c, &a, 1764000000000000000LL, u1);
		CU_ASSERT_STRING_EQUAL(u1, "C0sLA2cYBUmId6FY98");
	}
}

/* SYN, SYN+ACK, ACK, data both ways, FIN both ways: Zeek's "ShADadFf" SF. */
static void test_graceful(void)
{
	struct conv c;
	struct zeek_fields z;

	handshake(&c);
	send(&c, C, ACK, 101, 501, 10, 502);
	send(&c, S, ACK, 501, 111, 0, 502);
	send(&c, S, ACK, 501, 111, 20, 502);
	send(&c, C, FIN, 111, 521, 0, 502);
	send(&c, S, FIN, 521, 112, 0, 502);
	send(&c, C, ACK, 112, 522, 0, 502);
	z = expect_zeek(&c, "ShADadFf", "SF");
	CU_ASSERT_EQUAL(z.orig, FROM_CLIENT);
	CU_ASSERT_EQUAL(z.size[C], 10);
	CU_ASSERT_EQUAL(z.size[S], 20);
	CU_ASSERT_EQUAL(z.missed_bytes, 0);
	CU_ASSERT_EQUAL(z.ip_bytes[C], 5 * 40 + 10);
}

/* Refused: "Sr" REJ; unanswered: "S" S0; SYN then RST: "SR" RSTOS0. */
static void test_openings(void)
{
	struct conv c;

	conv_start(&c, 40001, 8080);
	send(&c, C, SYN, 100, 0, 0, 502);
	send(&c, S, RST | ACK, 0, 101, 0, 0);
	expect_zeek(&c, "Sr", "REJ");

	conv_start(&c, 40001, 8080);
	send(&c, C, SYN, 100, 0, 0, 502);
	send(&c, C, SYN, 100, 0, 0, 502); /* a retransmission: the same number, no new letter */
	expect_zeek(&c, "S", "S0");

	conv_start(&c, 40001, 8080);
	send(&c, C, SYN, 100, 0, 0, 502);
	send(&c, C, RST, 101, 0, 0, 0);
	expect_zeek(&c, "SR", "RSTOS0");
}

/* Retransmitted data 'T' at the 1st and 10th, a zero window 'w', a RST from the responder. */
static void test_scaled_letters(void)
{
	struct conv c;

	handshake(&c);
	send(&c, C, ACK, 101, 501, 100, 502);
	for (int i = 0; i < 10; i++)
		send(&c, C, ACK, 101, 501, 100, 502); /* the same data again */
	send(&c, S, ACK, 501, 201, 0, 0);           /* a zero window */
	send(&c, S, RST | ACK, 501, 201, 0, 0);
	expect_zeek(&c, "ShADTTawr", "RSTR");
}

/* A segment lost from the capture and acknowledged: a content gap 'G', its bytes missed. */
static void test_gap(void)
{
	struct conv c;
	struct zeek_fields z;

	handshake(&c);
	send(&c, C, ACK, 101, 501, 100, 502);
	/* 201..300 never captured */
	send(&c, C, ACK, 301, 501, 100, 502);
	send(&c, S, ACK, 501, 401, 0, 502);
	/* the ACK's letter comes before the gap it reveals (Zeek: history, then AckReceived) */
	z = expect_zeek(&c, "ShADaG", "S1");
	CU_ASSERT_EQUAL(z.missed_bytes, 100);

	/* the lost segment retransmitted before the ACK: no gap */
	handshake(&c);
	send(&c, C, ACK, 101, 501, 100, 502);
	send(&c, C, ACK, 301, 501, 100, 502);
	send(&c, C, ACK, 201, 501, 100, 502);
	send(&c, S, ACK, 501, 401, 0, 502);
	z = finish(&c);
	CU_ASSERT_EQUAL(z.missed_bytes, 0);
	CU_ASSERT_STRING_EQUAL(z.history, "ShADTa");
}

/* Once both sides are steady (ESTABLISHED, their 'D' and 'A' given: the segments zeek_track.c
 * decides on the fewest tests), what still adds a letter: retransmitted data 'T', a zero window
 * 'w', a content gap 'G' (and after it, steady again, nothing more), the FINs. Each side's
 * header bytes count every segment. */
static void test_steady(void)
{
	struct conv c;
	struct zeek_fields z;

	handshake(&c);
	send(&c, C, ACK, 101, 501, 10, 502);
	send(&c, S, ACK, 501, 111, 0, 502);
	send(&c, S, ACK, 501, 111, 20, 502);
	send(&c, C, ACK, 111, 521, 0, 502);
	for (uint32_t i = 0; i < 5; i++) { /* steady both ways */
		send(&c, C, ACK, 111 + 10 * i, 521, 10, 502);
		send(&c, S, ACK, 521, 121 + 10 * i, 0, 502);
	}
	send(&c, C, ACK, 141, 521, 10, 502); /* data sent before */
	send(&c, S, ACK, 521, 161, 0, 0);    /* a zero window */
	send(&c, S, ACK, 521, 161, 0, 502);
	send(&c, C, ACK, 171, 521, 10, 502); /* 161..171 never captured */
	send(&c, S, ACK, 521, 181, 0, 502);  /* acknowledged: a gap */
	for (uint32_t i = 0; i < 3; i++) {   /* steady again */
		send(&c, C, ACK, 181 + 10 * i, 521, 10, 502);
		send(&c, S, ACK, 521, 191 + 10 * i, 0, 502);
	}
	send(&c, C, FIN, 211, 521, 0, 502);
	send(&c, S, FIN, 521, 212, 0, 502);
	send(&c, C, ACK, 212, 522, 0, 502);
	z = expect_zeek(&c, "ShADadTwGFf", "SF");
	CU_ASSERT_EQUAL(z.missed_bytes, 10);
	CU_ASSERT_EQUAL(z.size[C], 110);
	CU_ASSERT_EQUAL(z.ip_bytes[C], 16 * 40 + 110);
	CU_ASSERT_EQUAL(z.ip_bytes[S], 15 * 40 + 20);
}

/* No SYN seen: the server's data first. Zeek flips on the likely server port: "^d..." OTH. A
 * SYN+ACK first and then an ACK: flipped as from the start, "^hA". */
static void test_flips(void)
{
	struct conv c;
	struct zeek_fields z;

	conv_start(&c, 40001, 80);
	send(&c, S, ACK, 500, 100, 10, 502);
	send(&c, C, ACK, 100, 510, 0, 502);
	z = expect_zeek(&c, "^dA", "OTH");
	CU_ASSERT_EQUAL(z.orig, FROM_CLIENT);

	conv_start(&c, 40001, 888);
	send(&c, S, SYN | ACK, 500, 100, 0, 502);
	send(&c, C, ACK, 100, 501, 0, 502);
	send(&c, C, ACK, 100, 501, 5, 502);
	send(&c, S, FIN, 501, 105, 0, 502);
	send(&c, C, FIN, 105, 502, 0, 502);
	z = expect_zeek(&c, "^hADfF", "SF");
	CU_ASSERT_EQUAL(z.orig, FROM_CLIENT);
}

/* Where Zeek and tcpmortem read a connection differently, each keeps its own: a RST after both
 * FINs leaves Zeek's SF (UpdateClosedState ignores it), while tcpmortem says the connection
 * ended with the closed socket's reset. */
static void test_zeek_and_class_differ(void)
{
	struct conv c;
	struct flow view;
	struct flow_rare rare;
	struct flow_record rec;
	struct classify_context ctx = { .capture_end_ns = T0 + 60LL * 1000000000,
	                                .idle_ns = 5LL * 1000000000,
	                                .close_wait_ns = 60LL * 1000000000 };

	/* The server closes, the client still sends data then closes, the server's closed socket
	 * answers with a reset (Linux: data for a closed socket). */
	handshake(&c);
	send(&c, S, FIN, 501, 101, 0, 502);
	send(&c, C, ACK, 101, 502, 10, 502);
	send(&c, C, FIN, 111, 502, 0, 502);
	send(&c, S, RST, 502, 0, 0, 0);
	flow_decode(&store, c.f, &view, &rare);
	classify_flow(&view, &ctx, &rec);
	flow_store_free(&store, c.f);
	c.f = NULL;
	CU_ASSERT_STRING_EQUAL(rec.zeek.history, "ShAfDFr");
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_AFTER_CLOSE);
	CU_ASSERT_STRING_EQUAL(rec.zeek.conn_state, "SF");
	CU_ASSERT_NOT_EQUAL(rec.close_class, CLOSE_FIN_GRACEFUL);
	CU_ASSERT_EQUAL(rec.zeek.orig, FROM_CLIENT);
}

CUNIT_TESTS(zeek_tests,
	    { "conn_state table", test_conn_state_table },
	    { "history packing", test_history_packing },
	    { "scaled letters and ports", test_scaled_and_ports },
	    { "uid", test_uid },
	    { "graceful", test_graceful },
	    { "openings", test_openings },
	    { "scaled letters", test_scaled_letters },
	    { "content gap", test_gap },
	    { "steady sides", test_steady },
	    { "flips", test_flips },
	    { "zeek and class differ", test_zeek_and_class_differ });

CUNIT_MAIN("test_zeek",
	   { "zeek", store_suite_init, store_suite_clean, NULL, NULL, zeek_tests })
