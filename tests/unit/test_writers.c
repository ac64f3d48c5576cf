/* test_writers.c - the report writers and the name/format functions of reports/.
 *
 * Flow records are built by hand (several classes, IPv4 and IPv6, nanosecond and microsecond
 * timestamps, a reason with quotes, backslash, control characters and ill-formed UTF-8, a capture
 * name with a comma and a quote). Each format is written to a memory stream and read back with an
 * independent parser: JSON and NDJSON with jansson, CSV with libcsv's parser; the text report is
 * checked line by line. Exits non-zero when any assertion failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <csv.h>
#include <jansson.h>

#include "flow_record.h"
#include "writer.h"
#include "cunit_main.h"

/* --- helpers ---------------------------------------------------------------------------------- */

/* An assertion whose failure message names the checked item and the calling line. */
static void check(bool ok, int line, const char *what, const char *detail)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s%s%s", what, detail != NULL ? ": " : "",
		 detail != NULL ? detail : "");
	CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}

static struct ip_addr ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ip_addr ip = { .family = 4, .bytes = { a, b, c, d } };

	return ip;
}

/* 2001:db8::<last> */
static struct ip_addr ip6(uint8_t last)
{
	struct ip_addr ip = { .family = 6, .bytes = { 0x20, 0x01, 0x0d, 0xb8 } };

	ip.bytes[15] = last;
	return ip;
}

static struct evidence_frame ev(uint64_t frame, int64_t ts, uint8_t from, uint8_t flags, uint32_t seq,
				uint32_t ack, uint32_t len, const char *note)
{
	struct evidence_frame e = { .frame = frame, .ts_ns = ts, .from = from, .flags = flags,
				    .seq = seq, .ack = ack, .len = len, .note = note };

	return e;
}

#define NASTY_REASON "say \"hi\" \\ back\nslash\tend \xff\xc3( caf\xc3\xa9 \x01 \xed\xa0\x80!"
/* NASTY_REASON as valid UTF-8: each ill-formed part is one U+FFFD (a lone FF; C3 cut short by
 * '('; ED A0 is the start of a surrogate, so ED alone, then A0 and 80 each). */
#define NASTY_REPAIRED \
	"say \"hi\" \\ back\nslash\tend \xef\xbf\xbd\xef\xbf\xbd( caf\xc3\xa9 \x01 " \
	"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!"
#define WEIRD_CAPTURE "we,ird\"name.pcap"

enum { N_RECORDS = 4 };

/* The fixture: four flows of different classes. */
static void make_records(struct flow_record r[N_RECORDS])
{
	memset(r, 0, sizeof(struct flow_record) * N_RECORDS);

	/* 1: IPv4, nanoseconds, fin_graceful closed by the client. */
	r[0].id = 1;
	r[0].capture = "x.pcap";
	r[0].client = (struct flow_endpoint){ ip4(198, 51, 100, 1), 40001 };
	r[0].server = (struct flow_endpoint){ ip4(198, 51, 100, 2), 80 };
	r[0].ts_nano = true;
	r[0].first_ts_ns = 1764000000123456789;
	r[0].last_ts_ns = 1764000001000000001;
	r[0].packets[FROM_CLIENT] = 10;
	r[0].packets[FROM_SERVER] = 8;
	r[0].bytes[FROM_CLIENT] = 1000;
	r[0].bytes[FROM_SERVER] = 20000;
	r[0].retransmissions[FROM_CLIENT] = 1;
	r[0].handshake = HANDSHAKE_COMPLETE;
	r[0].close_class = CLOSE_FIN_GRACEFUL;
	r[0].closer = CLOSER_CLIENT;
	FLOW_REASON(&r[0].reason, REASON_TEXT, reason_str("client sent FIN first; both FINs acknowledged"));
	r[0].has_close_ts = true;
	r[0].close_ts_ns = 1764000000900000000;
	r[0].n_evidence = 3;
	r[0].evidence[0] = ev(12, 1764000000900000000, FROM_CLIENT, TCP_FIN | TCP_ACK, 1001, 20001, 0,
			      "FIN from the client");
	r[0].evidence[1] = ev(13, 1764000000940000123, FROM_SERVER, TCP_FIN | TCP_ACK, 20001, 1002, 0, NULL);
	r[0].evidence[2] = ev(14, 1764000000940100000, FROM_CLIENT, TCP_ACK, 1002, 20002, 0,
			      "last ACK");
	r[0].state[FROM_CLIENT] = TCPS_TIME_WAIT;
	r[0].state[FROM_SERVER] = TCPS_CLOSED;
	r[0].diagnosis.time_wait = CLOSER_CLIENT;

	/* 2: IPv6, microseconds, rst_abort by the server, untrusted text everywhere. */
	r[1].id = 2;
	r[1].capture = WEIRD_CAPTURE;
	r[1].client = (struct flow_endpoint){ ip6(1), 51000 };
	r[1].server = (struct flow_endpoint){ ip6(2), 443 };
	r[1].roles_inferred = true;
	r[1].confidence = CONFIDENCE_AMBIGUOUS;
	r[1].reset_origin = RESET_ORIGIN_SOCKET;
	r[1].n_alternatives = 1;
	r[1].alternatives[0] = (struct close_alternative){ CLOSE_RST_UNREAD_DATA,
	                                                   "read \"or\" not, ; the wire\ncannot tell" };
	r[1].rtt_us[FROM_CLIENT] = 61;
	r[1].rtt_us[FROM_SERVER] = 165468;
	r[1].rtt_from_data[FROM_SERVER] = true;
	r[1].vantage = VANTAGE_CLIENT;
	r[1].first_ts_ns = 1764000002123456000;
	r[1].last_ts_ns = 1764000003000001000;
	r[1].packets[FROM_CLIENT] = 3;
	r[1].packets[FROM_SERVER] = 2;
	r[1].bytes[FROM_CLIENT] = 100;
	r[1].handshake = HANDSHAKE_MIDSTREAM;
	r[1].close_class = CLOSE_RST_ABORT;
	r[1].closer = CLOSER_SERVER;
	FLOW_REASON(&r[1].reason, REASON_TEXT, reason_str(NASTY_REASON));
	r[1].has_close_ts = true;
	r[1].close_ts_ns = 1764000003000001000;
	r[1].n_evidence = 1;
	r[1].evidence[0] = ev(40, 1764000003000001000, FROM_SERVER, TCP_RST | TCP_ACK, 4294967295u, 101, 0,
			      "RST+ACK");
	r[1].state[FROM_CLIENT] = TCPS_ESTABLISHED;
	r[1].state[FROM_SERVER] = TCPS_CLOSED;
	r[1].modifiers = MOD_MIDSTREAM | MOD_RST_FROM_MIDDLEBOX;
	r[1].diagnosis.middlebox = (struct middlebox_evidence){
		.present = true, .claimed = FROM_SERVER, .frame = 40, .expected_ttl = 63,
		.seen_ttl = 64, .ttl_mismatch = true };
	r[1].diagnosis.stack[FROM_SERVER] = (struct stack_guess){
		.family = "linux", .initial_ttl = 64, .hops = 1, .basis = "basis" };

	/* 3: IPv4, microseconds, syn_unanswered: no closer, no close time, empty reason. */
	r[2].id = 3;
	r[2].capture = "x.pcap";
	r[2].client = (struct flow_endpoint){ ip4(198, 51, 100, 1), 40002 };
	r[2].server = (struct flow_endpoint){ ip4(198, 51, 100, 9), 8080 };
	r[2].first_ts_ns = 1764000004000000000;
	r[2].last_ts_ns = 1764000007000000000;
	r[2].packets[FROM_CLIENT] = 3;
	r[2].handshake = HANDSHAKE_SYN_ONLY;
	r[2].close_class = CLOSE_SYN_UNANSWERED;
	r[2].closer = CLOSER_NONE;
	r[2].n_evidence = 2;
	r[2].evidence[0] = ev(50, 1764000004000000000, FROM_CLIENT, TCP_SYN, 0, 0, 0, NULL);
	r[2].evidence[1] = ev(51, 1764000005000000000, FROM_CLIENT, TCP_SYN, 0, 0, 0, NULL);
	r[2].state[FROM_CLIENT] = TCPS_SYN_SENT;
	r[2].state[FROM_SERVER] = TCPS_UNKNOWN;

	/* 4: IPv6, nanoseconds, peer_vanished with a detail, every modifier, full evidence list. */
	r[3].id = 4;
	r[3].capture = "x.pcap";
	r[3].client = (struct flow_endpoint){ ip6(0x10), 60000 };
	r[3].server = (struct flow_endpoint){ ip6(0x20), 22 };
	r[3].ts_nano = true;
	r[3].first_ts_ns = 1764000000000000007;
	r[3].last_ts_ns = 1764000009999999999;
	r[3].packets[FROM_CLIENT] = 20;
	r[3].packets[FROM_SERVER] = 5;
	r[3].bytes[FROM_CLIENT] = 7000;
	r[3].bytes[FROM_SERVER] = 300;
	r[3].retransmissions[FROM_CLIENT] = 8;
	r[3].keepalive_probes = 2;
	r[3].handshake = HANDSHAKE_COMPLETE;
	r[3].close_class = CLOSE_PEER_VANISHED;
	r[3].close_detail = "retransmit_timeout";
	r[3].closer = CLOSER_CLIENT;
	FLOW_REASON(&r[3].reason, REASON_TEXT, reason_str("oldest segment retransmitted 8 times, never acknowledged"));
	r[3].has_close_ts = true;
	r[3].close_ts_ns = 1764000009999999999;
	r[3].n_evidence = FLOW_EVIDENCE_MAX;
	for (unsigned i = 0; i < FLOW_EVIDENCE_MAX; i++)
		r[3].evidence[i] = ev(100 + i, 1764000001000000000 + (int64_t)i * 200000000, FROM_CLIENT,
				      TCP_PSH | TCP_ACK, 5001, 301, 100, "retransmission");
	r[3].state[FROM_CLIENT] = TCPS_ESTABLISHED;
	r[3].state[FROM_SERVER] = TCPS_UNKNOWN;
	r[3].modifiers = MOD_MIDSTREAM | MOD_TRUNCATED | MOD_CAPTURE_GAP | MOD_PORT_REUSE | MOD_EVICTED |
			 MOD_RST_FROM_MIDDLEBOX;
	/* Diagnoses: an idle timeout, the client's retransmission timers, a reused 4-tuple. */
	r[3].diagnosis.idle_timeout = (struct idle_timeout_evidence){
		.present = true, .from = FROM_CLIENT, .idle_ns = 6000123000, .reset = false };
	r[3].diagnosis.close_wait = (struct close_wait_evidence){
		.present = true, .side = FROM_SERVER, .duration_ns = 75500000000, .still_open = false };
	r[3].diagnosis.time_wait_reuse = (struct time_wait_reuse_evidence){
		.present = true, .side = CLOSER_CLIENT, .gap_ns = 1300000000, .accepted = true };
	r[3].diagnosis.timers[FROM_CLIENT] = (struct endpoint_timers){
		.any = true, .rto_seen = true, .rto_retransmissions = 4, .tail_loss_probe = true,
		.initial_rto_ms = 208, .rto_gave_up = true,
		.tcp_retries2 = { true, 3, 4 }, .user_timeout_ms = { true, 2820, 6424 },
		.keepalive_seen = true, .keepalive_time_s = { true, 6, 6 },
		.keepalive_probes = { true, 4, TIMER_NO_MAX },
		.fin_timeout_s = { true, TIMER_NO_MIN, 3 } };
	r[3].diagnosis.stack[FROM_CLIENT] = (struct stack_guess){
		.family = "linux", .initial_ttl = 64, .hops = 0, .basis = "basis" };
}

static const struct capture_stats fixture_captures[] = {
	{ .path = "x.pcap", .link_type = "EN10MB", .ts_nano = true, .frames = 100, .bytes = 9000,
	  .tcp_segments = 90, .n_skipped = 2,
	  .skipped = { { "not_ip", 7 }, { "fragment", 3 } } },
	{ .path = WEIRD_CAPTURE, .link_type = NULL, .error = "truncated record header" },
	{ .path = "bad\xfe\nname.pcap", .link_type = "RAW", .frames = 1, .bytes = 60,
	  .tcp_segments = 1, .error = NULL },
};

static struct run_summary make_summary(void)
{
	struct run_summary s = {
		.n_captures = 3,
		.captures = fixture_captures,
		.frames = 101,
		.flows = 4,
		.flows_evicted = 1,
		.flows_expired = 2,
		.peak_flows = 3,
		.late_segments = 5,
		.first_ts_ns = 1764000000000000007,
		.last_ts_ns = 1764000009999999999,
		.ts_nano = true,
	};

	s.by_class[CLOSE_FIN_GRACEFUL][CLOSER_CLIENT] = 1;
	s.by_class[CLOSE_RST_ABORT][CLOSER_SERVER] = 1;
	s.by_class[CLOSE_SYN_UNANSWERED][CLOSER_NONE] = 1;
	s.by_class[CLOSE_PEER_VANISHED][CLOSER_CLIENT] = 1;
	return s;
}

static const struct run_summary empty_summary; /* no capture, no frame, no flow */

/* Runs one writer over `n` records into memory. Returns the malloc'd output (NUL-terminated) and
 * its length; checks every call succeeded. Not inlined: gcc 12 would take the returned buffer for
 * a pointer to the local that open_memstream() was given (-Wdangling-pointer). */
__attribute__((noinline)) static char *run_writer(enum report_format format, const struct flow_record *flows, size_t n,
			const struct run_summary *s, size_t *len)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	struct writer *w;

	CU_ASSERT_FATAL(f != NULL);
	w = writer_create(format, f);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(writer_flow(w, &flows[i]) == 0);
	CU_ASSERT(writer_end(w, s) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(f) == 0);
	*len = size;
	return out;
}

/* --- names and formatters --------------------------------------------------------------------- */

static void test_class_names_are_design_names(void)
{
	static const char *const want[CLOSE_CLASS_COUNT] = {
		"fin_graceful", "fin_simultaneous", "half_closed_at_end", "rst_unread_data",
		"rst_abort", "rst_after_close", "rst_peer_restarted", "rst_refused",
		"syn_unanswered", "keepalive_timeout", "peer_vanished", "open_at_end", "idle_at_end",
	};

	for (unsigned i = 0; i < CLOSE_CLASS_COUNT; i++) {
		CU_ASSERT_STRING_EQUAL(close_class_name((enum close_class)i), want[i]);
		CU_ASSERT_EQUAL(close_class_from_name(want[i]), (enum close_class)i);
	}
	CU_ASSERT_EQUAL(close_class_from_name("fin"), CLOSE_CLASS_COUNT);
	CU_ASSERT_EQUAL(close_class_from_name(""), CLOSE_CLASS_COUNT);
	CU_ASSERT_EQUAL(close_class_from_name(NULL), CLOSE_CLASS_COUNT);
	CU_ASSERT_PTR_NOT_NULL(close_class_name(CLOSE_CLASS_COUNT));
}

static void test_state_names_are_rfc9293(void)
{
	static const struct {
		enum tcp_state s;
		const char *name;
	} want[] = {
		{ TCPS_UNKNOWN, "UNKNOWN" },       { TCPS_CLOSED, "CLOSED" },
		{ TCPS_LISTEN, "LISTEN" },         { TCPS_SYN_SENT, "SYN-SENT" },
		{ TCPS_SYN_RECEIVED, "SYN-RECEIVED" }, { TCPS_ESTABLISHED, "ESTABLISHED" },
		{ TCPS_FIN_WAIT_1, "FIN-WAIT-1" }, { TCPS_FIN_WAIT_2, "FIN-WAIT-2" },
		{ TCPS_CLOSE_WAIT, "CLOSE-WAIT" }, { TCPS_CLOSING, "CLOSING" },
		{ TCPS_LAST_ACK, "LAST-ACK" },     { TCPS_TIME_WAIT, "TIME-WAIT" },
	};

	CU_ASSERT_EQUAL(sizeof want / sizeof want[0], TCPS_COUNT);
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
		CU_ASSERT_STRING_EQUAL(tcp_state_name(want[i].s), want[i].name);
	CU_ASSERT_STRING_EQUAL(tcp_state_name(TCPS_COUNT), "UNKNOWN");
}

static void test_other_names(void)
{
	static const char *const handshakes[HANDSHAKE_COUNT] = {
		"complete", "syn_only", "refused", "no_final_ack", "midstream",
	};
	static const char *const modifiers[MOD_COUNT_BITS] = {
		"midstream", "truncated", "capture_gap", "port_reuse", "evicted", "rst_from_middlebox",
	};

	for (unsigned i = 0; i < HANDSHAKE_COUNT; i++)
		CU_ASSERT_STRING_EQUAL(handshake_name((enum handshake_kind)i), handshakes[i]);
	for (unsigned i = 0; i < MOD_COUNT_BITS; i++)
		CU_ASSERT_STRING_EQUAL(flow_modifier_name(1u << i), modifiers[i]);
	CU_ASSERT_STRING_EQUAL(flow_modifier_name(MOD_EVICTED), "evicted");
	CU_ASSERT_PTR_NULL(flow_modifier_name(0));
	CU_ASSERT_PTR_NULL(flow_modifier_name(MOD_MIDSTREAM | MOD_TRUNCATED));
	CU_ASSERT_PTR_NULL(flow_modifier_name(1u << MOD_COUNT_BITS));

	CU_ASSERT_PTR_NULL(closer_name(CLOSER_NONE));
	CU_ASSERT_STRING_EQUAL(closer_name(CLOSER_CLIENT), "client");
	CU_ASSERT_STRING_EQUAL(closer_name(CLOSER_SERVER), "server");
	CU_ASSERT_STRING_EQUAL(closer_name(CLOSER_BOTH), "both");
	CU_ASSERT_STRING_EQUAL(direction_name(FROM_CLIENT), "client");
	CU_ASSERT_STRING_EQUAL(direction_name(FROM_SERVER), "server");

	CU_ASSERT_EQUAL(report_format_from_name("text"), REPORT_TEXT);
	CU_ASSERT_EQUAL(report_format_from_name("json"), REPORT_JSON);
	CU_ASSERT_EQUAL(report_format_from_name("ndjson"), REPORT_NDJSON);
	CU_ASSERT_EQUAL(report_format_from_name("csv"), REPORT_CSV);
	CU_ASSERT_EQUAL(report_format_from_name("JSON"), REPORT_FORMAT_COUNT);
	CU_ASSERT_EQUAL(report_format_from_name("markdown"), REPORT_MARKDOWN);
	CU_ASSERT_EQUAL(report_format_from_name("md"), REPORT_MARKDOWN);
	CU_ASSERT_EQUAL(report_format_from_name("svg"), REPORT_SVG);
	CU_ASSERT_EQUAL(report_format_from_name("html"), REPORT_HTML);
	CU_ASSERT_EQUAL(report_format_from_name("xml"), REPORT_FORMAT_COUNT);
	for (unsigned f = 0; f < REPORT_FORMAT_COUNT; f++)
		CU_ASSERT_EQUAL(report_format_from_name(report_format_name((enum report_format)f)), f);
	CU_ASSERT_STRING_EQUAL(report_format_name(REPORT_FORMAT_COUNT), "unknown");
	CU_ASSERT_EQUAL(report_format_from_name(NULL), REPORT_FORMAT_COUNT);
	CU_ASSERT_PTR_NULL(writer_create(REPORT_FORMAT_COUNT, stdout));
}

static void test_ts_format_is_exact(void)
{
	static const struct {
		int64_t ns;
		bool nano;
		const char *want;
	} cases[] = {
		{ 1764000000123456789, true, "1764000000.123456789" },
		{ 1764000000123456789, false, "1764000000.123456" }, /* cut, never rounded */
		{ 1764000000999999999, false, "1764000000.999999" },
		{ 1764000000000000001, true, "1764000000.000000001" },
		{ 0, false, "0.000000" },
		{ 0, true, "0.000000000" },
		{ 5, true, "0.000000005" },
		{ -1, true, "-0.000000001" },
		{ -1, false, "0.000000" }, /* below the precision: no "-0" */
		{ -1500000000, true, "-1.500000000" },
		{ -1500000000, false, "-1.500000" },
		{ INT64_MAX, true, "9223372036.854775807" },
		{ INT64_MIN, true, "-9223372036.854775808" },
		{ INT64_MIN, false, "-9223372036.854775" },
	};
	char buf[32];

	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = ts_format(cases[i].ns, cases[i].nano, buf, sizeof buf);

		CU_ASSERT_PTR_EQUAL(got, buf);
		check(strcmp(got, cases[i].want) == 0, __LINE__, cases[i].want, got);
	}
	/* A short buffer is cut and terminated; a zero-size one is left alone. */
	CU_ASSERT_STRING_EQUAL(ts_format(1764000000123456789, true, buf, 5), "1764");
	memcpy(buf, "keep", 5);
	ts_format(1, true, buf, 0);
	CU_ASSERT_STRING_EQUAL(buf, "keep");
}

static void test_tcp_flags_format(void)
{
	static const struct {
		uint8_t flags;
		const char *want;
	} cases[] = {
		{ 0, "none" },
		{ TCP_SYN, "SYN" },
		{ TCP_SYN | TCP_ACK, "SYN,ACK" },
		{ TCP_FIN | TCP_ACK, "FIN,ACK" },
		{ TCP_RST, "RST" },
		{ TCP_RST | TCP_ACK, "RST,ACK" },
		{ TCP_PSH | TCP_ACK, "PSH,ACK" },
		{ TCP_SYN | TCP_ECE | TCP_CWR, "SYN,ECE,CWR" },
		{ TCP_URG | TCP_ACK | TCP_FIN, "FIN,ACK,URG" },
		{ 0xFF, "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR" },
	};
	char buf[32];

	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = tcp_flags_format(cases[i].flags, buf, sizeof buf);

		CU_ASSERT_PTR_EQUAL(got, buf);
		check(strcmp(got, cases[i].want) == 0, __LINE__, cases[i].want, got);
	}
	CU_ASSERT_STRING_EQUAL(tcp_flags_format(TCP_SYN | TCP_ACK, buf, 4), "SYN");
}

static void test_ip_addr_format(void)
{
	struct ip_addr mapped = { .family = 6, .bytes = { [10] = 0xff, [11] = 0xff, 198, 51, 100, 7 } };
	struct ip_addr bogus = { .family = 5 };
	struct ip_addr v4 = ip4(198, 51, 100, 1);
	struct ip_addr v6 = ip6(1);
	char buf[46];

	CU_ASSERT_STRING_EQUAL(ip_addr_format(&v4, buf, sizeof buf), "198.51.100.1");
	CU_ASSERT_STRING_EQUAL(ip_addr_format(&v4, buf, 4), "198"); /* cut, terminated */
	CU_ASSERT_STRING_EQUAL(ip_addr_format(&v6, buf, sizeof buf), "2001:db8::1");
	v6.bytes[8] = 0xab;
	CU_ASSERT_STRING_EQUAL(ip_addr_format(&v6, buf, sizeof buf), "2001:db8::ab00:0:0:1");
	CU_ASSERT_STRING_EQUAL(ip_addr_format(&mapped, buf, sizeof buf), "::ffff:198.51.100.7");
	CU_ASSERT_STRING_EQUAL(ip_addr_format(&bogus, buf, sizeof buf), "?");
}

/* --- JSON ------------------------------------------------------------------------------------- */

static json_t *member(json_t *o, const char *key, int line)
{
	json_t *v = json_object_get(o, key);

	check(v != NULL, line, "missing key", key);
	return v;
}

#define EXPECT_STR(o, key, want) expect_str((o), (key), (want), __LINE__)
#define EXPECT_INT(o, key, want) expect_int((o), (key), (want), __LINE__)
#define EXPECT_BOOL(o, key, want) expect_bool((o), (key), (want), __LINE__)
#define EXPECT_TS(o, key, want) expect_ts((o), (key), (want), __LINE__)
#define EXPECT_KEYS(o, n) check(json_object_size(o) == (n), __LINE__, "number of keys", NULL)

/* want NULL: the value must be null. */
static void expect_str(json_t *o, const char *key, const char *want, int line)
{
	json_t *v = member(o, key, line);

	if (v == NULL)
		return;
	if (want == NULL)
		check(json_is_null(v), line, "not null", key);
	else
		check(json_is_string(v) && strcmp(json_string_value(v), want) == 0, line, key,
		      json_is_string(v) ? json_string_value(v) : "(not a string)");
}

static void expect_int(json_t *o, const char *key, json_int_t want, int line)
{
	json_t *v = member(o, key, line);

	if (v != NULL)
		check(json_is_integer(v) && json_integer_value(v) == want, line, "integer", key);
}

static void expect_bool(json_t *o, const char *key, bool want, int line)
{
	json_t *v = member(o, key, line);

	if (v != NULL)
		check(want ? json_is_true(v) : json_is_false(v), line, "boolean", key);
}

/* A timestamp parses as a JSON number within a microsecond (a double cannot do better); its exact
 * text is checked on the raw output. want NULL: null. */
static void expect_ts(json_t *o, const char *key, const char *want, int line)
{
	json_t *v = member(o, key, line);
	double diff;

	if (v == NULL)
		return;
	if (want == NULL) {
		check(json_is_null(v), line, "not null", key);
		return;
	}
	diff = json_is_real(v) ? json_real_value(v) - strtod(want, NULL) : 1.0;
	check(diff > -1e-6 && diff < 1e-6, line, "timestamp", key);
}

static void expect_pair(json_t *o, const char *key, json_int_t client, json_int_t server, int line)
{
	json_t *v = member(o, key, line);

	if (v == NULL)
		return;
	check(json_is_object(v) && json_object_size(v) == 2, line, "pair", key);
	expect_int(v, "client", client, line);
	expect_int(v, "server", server, line);
}

static void expect_endpoint(json_t *o, const char *key, const char *ip, json_int_t port, int line)
{
	json_t *v = member(o, key, line);

	if (v == NULL)
		return;
	check(json_is_object(v) && json_object_size(v) == 2, line, "endpoint", key);
	expect_str(v, "ip", ip, line);
	expect_int(v, "port", port, line);
}

/* A setting range: {"min":m,"max":M} with null for an unshown bound, or null. */
static void expect_range(json_t *o, const char *key, const struct setting_range *r, int line)
{
	json_t *v = member(o, key, line);

	if (v == NULL)
		return;
	if (!r->known) {
		check(json_is_null(v), line, "not null", key);
		return;
	}
	check(json_is_object(v) && json_object_size(v) == 2, line, "range", key);
	if (r->min == TIMER_NO_MIN)
		check(json_is_null(json_object_get(v, "min")), line, "min null", key);
	else
		expect_int(v, "min", r->min, line);
	if (r->max == TIMER_NO_MAX)
		check(json_is_null(json_object_get(v, "max")), line, "max null", key);
	else
		expect_int(v, "max", r->max, line);
}

/* The "diagnosis" object: every member, null where the record has nothing. */
static void expect_diagnosis(json_t *d, const struct flow_diagnosis *g)
{
	json_t *v;

	CU_ASSERT_FATAL(json_is_object(d));
	EXPECT_KEYS(d, 7);
	v = json_object_get(d, "middlebox");
	if (!g->middlebox.present) {
		CU_ASSERT(json_is_null(v));
	} else {
		CU_ASSERT_FATAL(json_is_object(v));
		EXPECT_KEYS(v, 9);
		CU_ASSERT(json_is_null(json_object_get(v, "too_early")) == !g->middlebox.too_early);
		EXPECT_INT(v, "rst_frame", (json_int_t)g->middlebox.frame);
		EXPECT_STR(v, "claimed", direction_name((enum flow_direction)g->middlebox.claimed));
		EXPECT_INT(v, "expected_ttl", g->middlebox.expected_ttl);
		EXPECT_INT(v, "seen_ttl", g->middlebox.seen_ttl);
		EXPECT_BOOL(v, "ttl_mismatch", g->middlebox.ttl_mismatch);
		CU_ASSERT(json_is_null(json_object_get(v, "expected_ip_id")) == !g->middlebox.has_ip_id);
		EXPECT_BOOL(v, "ip_id_mismatch", g->middlebox.ip_id_mismatch);
	}
	v = json_object_get(d, "idle_timeout");
	if (!g->idle_timeout.present) {
		CU_ASSERT(json_is_null(v));
	} else {
		CU_ASSERT_FATAL(json_is_object(v));
		EXPECT_STR(v, "after", direction_name((enum flow_direction)g->idle_timeout.from));
		EXPECT_TS(v, "idle_s", "6.000123");
		EXPECT_STR(v, "answer", g->idle_timeout.reset ? "reset" : "none");
	}
	v = json_object_get(d, "close_wait");
	if (!g->close_wait.present) {
		CU_ASSERT(json_is_null(v));
	} else {
		CU_ASSERT_FATAL(json_is_object(v));
		EXPECT_STR(v, "side", direction_name((enum flow_direction)g->close_wait.side));
		EXPECT_TS(v, "seconds", "75.5");
		EXPECT_BOOL(v, "still_open", g->close_wait.still_open);
	}
	EXPECT_STR(d, "time_wait", closer_name(g->time_wait));
	v = json_object_get(d, "time_wait_reuse");
	if (!g->time_wait_reuse.present) {
		CU_ASSERT(json_is_null(v));
	} else {
		CU_ASSERT_FATAL(json_is_object(v));
		EXPECT_STR(v, "held_by", closer_name(g->time_wait_reuse.side));
		EXPECT_TS(v, "seconds_after", "1.3");
		EXPECT_BOOL(v, "accepted", g->time_wait_reuse.accepted);
	}
	v = json_object_get(d, "timers");
	CU_ASSERT_FATAL(json_is_object(v));
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		const struct endpoint_timers *t = &g->timers[s];
		json_t *side = json_object_get(v, s == FROM_CLIENT ? "client" : "server");

		if (!t->any) {
			CU_ASSERT(json_is_null(side));
			continue;
		}
		CU_ASSERT_FATAL(json_is_object(side));
		if (t->rto_seen) {
			json_t *rt = json_object_get(side, "retransmission");

			CU_ASSERT_FATAL(json_is_object(rt));
			EXPECT_INT(rt, "rto_retransmissions", t->rto_retransmissions);
			EXPECT_BOOL(rt, "tail_loss_probe", t->tail_loss_probe);
			EXPECT_INT(rt, "initial_rto_ms", t->initial_rto_ms);
			EXPECT_BOOL(rt, "gave_up", t->rto_gave_up);
			expect_range(rt, "tcp_retries2", &t->tcp_retries2, __LINE__);
			expect_range(rt, "user_timeout_ms", &t->user_timeout_ms, __LINE__);
		}
		if (t->keepalive_seen) {
			json_t *ka = json_object_get(side, "keepalive");

			CU_ASSERT_FATAL(json_is_object(ka));
			expect_range(ka, "tcp_keepalive_time", &t->keepalive_time_s, __LINE__);
			expect_range(ka, "tcp_keepalive_intvl", &t->keepalive_intvl_s, __LINE__);
			expect_range(ka, "tcp_keepalive_probes", &t->keepalive_probes, __LINE__);
		}
		if (t->fin_timeout_s.known)
			expect_range(side, "tcp_fin_timeout", &t->fin_timeout_s, __LINE__);
		CU_ASSERT(json_object_get(side, "syn") == NULL || t->syn_seen);
	}
	v = json_object_get(d, "stack");
	CU_ASSERT_FATAL(json_is_object(v));
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		json_t *side = json_object_get(v, s == FROM_CLIENT ? "client" : "server");

		if (g->stack[s].family == NULL) {
			CU_ASSERT(json_is_null(side));
			continue;
		}
		CU_ASSERT_FATAL(json_is_object(side));
		EXPECT_STR(side, "family", g->stack[s].family);
		EXPECT_INT(side, "initial_ttl", g->stack[s].initial_ttl);
		EXPECT_INT(side, "hops", g->stack[s].hops);
	}
}

/* Checks every field of a parsed flow object against the record it came from. The names come
 * from the name functions, whose spellings are checked above. */
static void expect_flow(json_t *o, const struct flow_record *r)
{
	char ts[32], ip[46], flags[32], reason[FLOW_REASON_MAX];
	json_t *close, *evidence, *modifiers;
	size_t n_mod = 0;

	CU_ASSERT_FATAL(json_is_object(o));
	EXPECT_KEYS(o, 20);
	EXPECT_INT(o, "id", (json_int_t)r->id);
	{
		json_t *enc = json_object_get(o, "encapsulation");
		unsigned n = r->encap != NULL ? r->encap->n : 0;

		CU_ASSERT_FATAL(json_is_array(enc));
		CU_ASSERT_EQUAL(json_array_size(enc), n);
		for (unsigned i = 0; i < n && i < json_array_size(enc); i++)
			CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(enc, i)),
			                       r->encap->layer[i]);
	}
	EXPECT_STR(o, "capture", r->capture);
	expect_endpoint(o, "client", ip_addr_format(&r->client.addr, ip, sizeof ip), r->client.port, __LINE__);
	expect_endpoint(o, "server", ip_addr_format(&r->server.addr, ip, sizeof ip), r->server.port, __LINE__);
	EXPECT_BOOL(o, "roles_inferred", r->roles_inferred);
	EXPECT_TS(o, "first_ts", ts_format(r->first_ts_ns, r->ts_nano, ts, sizeof ts));
	EXPECT_TS(o, "last_ts", ts_format(r->last_ts_ns, r->ts_nano, ts, sizeof ts));
	expect_pair(o, "packets", (json_int_t)r->packets[0], (json_int_t)r->packets[1], __LINE__);
	expect_pair(o, "bytes", (json_int_t)r->bytes[0], (json_int_t)r->bytes[1], __LINE__);
	EXPECT_STR(o, "handshake", handshake_name(r->handshake));

	close = json_object_get(o, "close");
	CU_ASSERT_FATAL(json_is_object(close));
	EXPECT_KEYS(close, 9);
	EXPECT_STR(close, "reset", reset_origin_name(r->reset_origin));
	EXPECT_STR(close, "confidence", confidence_name(r->confidence));
	{
		json_t *alts = json_object_get(close, "alternatives");

		CU_ASSERT_FATAL(json_is_array(alts));
		CU_ASSERT_EQUAL_FATAL(json_array_size(alts), r->n_alternatives);
		for (unsigned i = 0; i < r->n_alternatives; i++) {
			json_t *a = json_array_get(alts, i);

			EXPECT_KEYS(a, 2);
			EXPECT_STR(a, "class", close_class_name(r->alternatives[i].cls));
			EXPECT_STR(a, "why", r->alternatives[i].why);
		}
	}
	{
		json_t *rtt = json_object_get(o, "rtt");

		CU_ASSERT_FATAL(json_is_object(rtt));
		EXPECT_KEYS(rtt, 3);
		for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
			json_t *v = json_object_get(rtt, d == FROM_CLIENT ? "client" : "server");

			if (!r->rtt_us[d]) {
				CU_ASSERT(json_is_null(v));
			} else {
				CU_ASSERT(json_is_real(v) &&
				          fabs(json_real_value(v) - r->rtt_us[d] / 1000.0) < 1e-9);
			}
		}
		EXPECT_STR(rtt, "basis", !r->rtt_us[0] && !r->rtt_us[1] ? NULL
		                         : r->rtt_from_data[0] || r->rtt_from_data[1] ? "data"
		                                                                      : "handshake");
		EXPECT_STR(o, "vantage", vantage_name(r->vantage));
	}
	EXPECT_STR(close, "class", close_class_name(r->close_class));
	EXPECT_STR(close, "detail", r->close_detail);
	EXPECT_STR(close, "closer", closer_name(r->closer));
	flow_reason_format(&r->reason, reason, sizeof reason);
	if (strcmp(reason, NASTY_REASON) == 0)
		EXPECT_STR(close, "reason", NASTY_REPAIRED);
	else
		EXPECT_STR(close, "reason", reason);
	EXPECT_TS(close, "ts", r->has_close_ts ? ts_format(r->close_ts_ns, r->ts_nano, ts, sizeof ts) : NULL);
	evidence = json_object_get(close, "evidence");
	CU_ASSERT_FATAL(json_is_array(evidence));
	CU_ASSERT_EQUAL_FATAL(json_array_size(evidence), r->n_evidence);
	for (unsigned i = 0; i < r->n_evidence; i++) {
		const struct evidence_frame *e = &r->evidence[i];
		json_t *v = json_array_get(evidence, i);

		CU_ASSERT_FATAL(json_is_object(v));
		EXPECT_KEYS(v, 8);
		EXPECT_INT(v, "frame", (json_int_t)e->frame);
		EXPECT_TS(v, "ts", ts_format(e->ts_ns, r->ts_nano, ts, sizeof ts));
		EXPECT_STR(v, "from", direction_name((enum flow_direction)e->from));
		EXPECT_STR(v, "flags", tcp_flags_format(e->flags, flags, sizeof flags));
		EXPECT_INT(v, "seq", e->seq);
		EXPECT_INT(v, "ack", e->ack);
		EXPECT_INT(v, "len", e->len);
		EXPECT_STR(v, "note", e->note);
	}

	{
		json_t *state = json_object_get(o, "state");

		CU_ASSERT_FATAL(json_is_object(state));
		EXPECT_KEYS(state, 2);
		EXPECT_STR(state, "client", tcp_state_name(r->state[FROM_CLIENT]));
		EXPECT_STR(state, "server", tcp_state_name(r->state[FROM_SERVER]));
	}
	expect_pair(o, "retransmissions", (json_int_t)r->retransmissions[0],
		    (json_int_t)r->retransmissions[1], __LINE__);
	EXPECT_INT(o, "keepalive_probes", r->keepalive_probes);
	modifiers = json_object_get(o, "modifiers");
	CU_ASSERT_FATAL(json_is_array(modifiers));
	for (unsigned bit = 0; bit < MOD_COUNT_BITS; bit++) {
		json_t *v;

		if ((r->modifiers & (1u << bit)) == 0)
			continue;
		v = json_array_get(modifiers, n_mod++);
		check(json_is_string(v) && strcmp(json_string_value(v), flow_modifier_name(1u << bit)) == 0,
		      __LINE__, "modifier", flow_modifier_name(1u << bit));
	}
	CU_ASSERT_EQUAL(json_array_size(modifiers), n_mod);
	expect_diagnosis(json_object_get(o, "diagnosis"), &r->diagnosis);
	json_t *z = json_object_get(o, "zeek");

	CU_ASSERT_FATAL(json_is_object(z));
	EXPECT_KEYS(z, 5);
	EXPECT_STR(z, "uid", r->zeek.uid[0] ? r->zeek.uid : NULL);
	EXPECT_STR(z, "orig", direction_name((enum flow_direction)r->zeek.orig));
	EXPECT_STR(z, "conn_state", r->zeek.conn_state);
	EXPECT_STR(z, "history", r->zeek.history);
	EXPECT_INT(z, "missed_bytes", (json_int_t)r->zeek.missed_bytes);
}

/* Parses a whole output as one JSON value, rejecting duplicate keys. */
static json_t *parse_json(const char *text, size_t len)
{
	json_error_t err;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

	check(doc != NULL, __LINE__, "output is not valid JSON", err.text);
	return doc;
}

static void expect_counts(json_t *o, const char *key, bool with_total, json_int_t total, json_int_t client,
			  json_int_t server, json_int_t both, json_int_t none, int line)
{
	json_t *v = member(o, key, line);

	if (v == NULL)
		return;
	check(json_object_size(v) == (with_total ? 5u : 4u), line, "counts", key);
	if (with_total)
		expect_int(v, "total", total, line);
	expect_int(v, "client", client, line);
	expect_int(v, "server", server, line);
	expect_int(v, "both", both, line);
	expect_int(v, "none", none, line);
}

static void test_json_document(void)
{
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();
	size_t len;
	char *out;
	json_t *doc, *flows, *captures, *summary, *by_class;

	make_records(r);
	out = run_writer(REPORT_JSON, r, N_RECORDS, &s, &len);
	doc = parse_json(out, len);
	CU_ASSERT_FATAL(json_is_object(doc));

	/* Top level, in streaming order. */
	CU_ASSERT(strncmp(out, "{\"tool\":\"tcpmortem\",\"version\":\"" TCPMORTEM_VERSION "\",\"flows\":[\n",
			  strlen("{\"tool\":\"tcpmortem\",\"version\":\"" TCPMORTEM_VERSION "\",\"flows\":[\n")) == 0);
	EXPECT_KEYS(doc, 7); /* tool, version, flows, incidents, timeline, captures, summary */
	EXPECT_STR(doc, "tool", "tcpmortem");
	EXPECT_STR(doc, "version", TCPMORTEM_VERSION);

	flows = json_object_get(doc, "flows");
	CU_ASSERT_FATAL(json_is_array(flows));
	CU_ASSERT_EQUAL_FATAL(json_array_size(flows), N_RECORDS);
	for (unsigned i = 0; i < N_RECORDS; i++)
		expect_flow(json_array_get(flows, i), &r[i]);

	/* One flow object per line: lines 2..5 are the flows, each parseable alone. */
	{
		const char *line = strchr(out, '\n') + 1;

		for (unsigned i = 0; i < N_RECORDS; i++) {
			const char *end = strchr(line, '\n');
			size_t n;
			json_t *one;

			CU_ASSERT_FATAL(end != NULL);
			n = (size_t)(end - line);
			if (i + 1 < N_RECORDS) {
				CU_ASSERT(line[n - 1] == ',');
				n--;
			}
			one = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
			CU_ASSERT(json_equal(one, json_array_get(flows, i)));
			json_decref(one);
			line = end + 1;
		}
		CU_ASSERT(strncmp(line, "],\"incidents\":[],", 17) == 0);
	}

	/* Timestamps are exact decimal text at the record's precision. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\":1764000000.123456789,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"last_ts\":1764000001.000000001,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"frame\":13,\"ts\":1764000000.940000123,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\":1764000002.123456,\"last_ts\":1764000003.000001,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"reason\":\"\",\"ts\":null,\"evidence\":[{\"frame\":50,"));
	/* The exact field order of the first flow. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"{\"id\":1,\"capture\":\"x.pcap\",\"client\":{\"ip\":\"198.51.100.1\",\"port\":40001},"
		"\"server\":{\"ip\":\"198.51.100.2\",\"port\":80},\"roles_inferred\":false,"
		"\"first_ts\":1764000000.123456789,\"last_ts\":1764000001.000000001,"
		"\"packets\":{\"client\":10,\"server\":8},\"bytes\":{\"client\":1000,\"server\":20000},"
		"\"handshake\":\"complete\",\"close\":{\"class\":\"fin_graceful\",\"detail\":null,"
		"\"closer\":\"client\",\"reason\":\"client sent FIN first; both FINs acknowledged\","
		"\"ts\":1764000000.900000000,\"evidence\":[{\"frame\":12,\"ts\":1764000000.900000000,"
		"\"from\":\"client\",\"flags\":\"FIN,ACK\",\"seq\":1001,\"ack\":20001,\"len\":0,"
		"\"note\":\"FIN from the client\"},"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\"state\":{\"client\":\"TIME-WAIT\",\"server\":\"CLOSED\"},"
		"\"retransmissions\":{\"client\":1,\"server\":0},\"keepalive_probes\":0,"
		"\"rtt\":{\"client\":null,\"server\":null,\"basis\":null},\"vantage\":\"unknown\","
		"\"modifiers\":[],"
		"\"encapsulation\":[],\"diagnosis\":{\"middlebox\":null,\"idle_timeout\":null,\"close_wait\":null,"
		"\"time_wait\":\"client\",\"time_wait_reuse\":null,"
		"\"timers\":{\"client\":null,\"server\":null},\"stack\":{\"client\":null,\"server\":null}},"
		"\"zeek\":{\"uid\":null,\"orig\":\"client\",\"conn_state\":null,\"history\":\"\","
		"\"missed_bytes\":0}}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"modifiers\":[\"midstream\",\"truncated\",\"capture_gap\","
					   "\"port_reuse\",\"evicted\",\"rst_from_middlebox\"],"
					   "\"encapsulation\":[],\"diagnosis\":{"));
	/* Nested diagnosis members, as a pipeline reads them. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"middlebox\":{\"rst_frame\":40,\"claimed\":\"server\","
					   "\"expected_ttl\":63,\"seen_ttl\":64,\"ttl_mismatch\":true,"
					   "\"expected_ip_id\":null,\"seen_ip_id\":null,"
					   "\"ip_id_mismatch\":false,\"too_early\":null}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"tcp_retries2\":{\"min\":3,\"max\":4},"
					   "\"user_timeout_ms\":{\"min\":2820,\"max\":6424}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"tcp_fin_timeout\":{\"min\":null,\"max\":3}"));

	/* Captures. */
	captures = json_object_get(doc, "captures");
	CU_ASSERT_FATAL(json_is_array(captures));
	CU_ASSERT_EQUAL_FATAL(json_array_size(captures), 3);
	{
		json_t *c = json_array_get(captures, 0), *skipped;

		EXPECT_KEYS(c, 7);
		EXPECT_STR(c, "file", "x.pcap");
		EXPECT_STR(c, "link_type", "EN10MB");
		EXPECT_INT(c, "frames", 100);
		EXPECT_INT(c, "bytes", 9000);
		EXPECT_INT(c, "tcp_segments", 90);
		EXPECT_STR(c, "error", NULL);
		skipped = json_object_get(c, "skipped");
		CU_ASSERT_FATAL(json_is_object(skipped));
		EXPECT_KEYS(skipped, 2);
		EXPECT_INT(skipped, "not_ip", 7);
		EXPECT_INT(skipped, "fragment", 3);

		c = json_array_get(captures, 1);
		EXPECT_STR(c, "file", WEIRD_CAPTURE);
		EXPECT_STR(c, "link_type", NULL);
		EXPECT_INT(c, "frames", 0);
		EXPECT_STR(c, "error", "truncated record header");
		CU_ASSERT(json_is_object(json_object_get(c, "skipped")) &&
			  json_object_size(json_object_get(c, "skipped")) == 0);

		/* An ill-formed file name is repaired, not dropped. */
		c = json_array_get(captures, 2);
		EXPECT_STR(c, "file", "bad\xef\xbf\xbd\nname.pcap");
		EXPECT_STR(c, "link_type", "RAW");
	}

	/* Summary. */
	summary = json_object_get(doc, "summary");
	CU_ASSERT_FATAL(json_is_object(summary));
	EXPECT_KEYS(summary, 10);
	EXPECT_INT(summary, "flows", 4);
	EXPECT_INT(summary, "frames", 101);
	EXPECT_INT(summary, "evicted", 1);
	EXPECT_INT(summary, "expired", 2);
	EXPECT_INT(summary, "peak_flows", 3);
	EXPECT_INT(summary, "late_segments", 5);
	EXPECT_TS(summary, "first_ts", "1764000000.000000007");
	EXPECT_TS(summary, "last_ts", "1764000009.999999999");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\":1764000000.000000007,\"last_ts\":1764000009.999999999,"
					   "\"by_class\":{\"fin_graceful\":{\"total\":1,\"client\":1,"));
	by_class = json_object_get(summary, "by_class");
	CU_ASSERT_FATAL(json_is_object(by_class));
	CU_ASSERT_EQUAL(json_object_size(by_class), CLOSE_CLASS_COUNT);
	expect_counts(by_class, "fin_graceful", true, 1, 1, 0, 0, 0, __LINE__);
	expect_counts(by_class, "rst_abort", true, 1, 0, 1, 0, 0, __LINE__);
	expect_counts(by_class, "syn_unanswered", true, 1, 0, 0, 0, 1, __LINE__);
	expect_counts(by_class, "peer_vanished", true, 1, 1, 0, 0, 0, __LINE__);
	expect_counts(by_class, "idle_at_end", true, 0, 0, 0, 0, 0, __LINE__);
	expect_counts(by_class, "fin_simultaneous", true, 0, 0, 0, 0, 0, __LINE__);
	expect_counts(summary, "by_closer", false, 0, 2, 1, 0, 1, __LINE__);

	json_decref(doc);
	free(out);
}

static void test_json_escapes_untrusted_text(void)
{
	struct flow_record r[N_RECORDS];
	size_t len;
	char *out;
	const char *want = "\"reason\":\"say \\\"hi\\\" \\\\ back\\nslash\\tend \\ufffd\\ufffd( caf\xc3\xa9 "
			   "\\u0001 \\ufffd\\ufffd\\ufffd!\"";

	make_records(r);
	out = run_writer(REPORT_JSON, r, N_RECORDS, &empty_summary, &len);
	check(strstr(out, want) != NULL, __LINE__, "escaped reason", want);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"capture\":\"we,ird\\\"name.pcap\""));
	/* No raw control character or ill-formed byte made it through. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if ((c < 0x20 && c != '\n') || c == 0xff || c == 0xfe) {
			check(false, __LINE__, "raw byte in JSON output", NULL);
			break;
		}
	}
	free(out);
}

static void test_json_empty_run_is_valid(void)
{
	size_t len;
	char *out = run_writer(REPORT_JSON, NULL, 0, &empty_summary, &len);
	json_t *doc = parse_json(out, len), *summary, *by_class;

	CU_ASSERT_FATAL(json_is_object(doc));
	CU_ASSERT(json_is_array(json_object_get(doc, "flows")) &&
		  json_array_size(json_object_get(doc, "flows")) == 0);
	CU_ASSERT(json_is_array(json_object_get(doc, "captures")) &&
		  json_array_size(json_object_get(doc, "captures")) == 0);
	summary = json_object_get(doc, "summary");
	CU_ASSERT_FATAL(json_is_object(summary));
	EXPECT_INT(summary, "flows", 0);
	EXPECT_INT(summary, "frames", 0);
	EXPECT_TS(summary, "first_ts", NULL);
	EXPECT_TS(summary, "last_ts", NULL);
	by_class = json_object_get(summary, "by_class");
	CU_ASSERT_EQUAL(json_object_size(by_class), CLOSE_CLASS_COUNT);
	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++)
		expect_counts(by_class, close_class_name((enum close_class)k), true, 0, 0, 0, 0, 0, __LINE__);
	expect_counts(summary, "by_closer", false, 0, 0, 0, 0, 0, __LINE__);
	json_decref(doc);
	free(out);
}

/* --- NDJSON ----------------------------------------------------------------------------------- */

static void test_ndjson_one_flow_per_line(void)
{
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();
	size_t len, jlen;
	char *out, *jout;
	const char *line;
	json_t *doc;
	unsigned n = 0;

	make_records(r);
	out = run_writer(REPORT_NDJSON, r, N_RECORDS, &s, &len);
	jout = run_writer(REPORT_JSON, r, N_RECORDS, &s, &jlen);
	doc = parse_json(jout, jlen);
	CU_ASSERT_FATAL(doc != NULL);
	CU_ASSERT_FATAL(len > 0 && out[len - 1] == '\n');

	for (line = out; *line != '\0'; n++) {
		const char *end = strchr(line, '\n');
		json_error_t err;
		json_t *one;

		CU_ASSERT_FATAL(end != NULL);
		one = json_loadb(line, (size_t)(end - line), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
		check(one != NULL, __LINE__, "line is not valid JSON", err.text);
		CU_ASSERT_FATAL(n < N_RECORDS);
		expect_flow(one, &r[n]);
		/* The same object as in the JSON document. */
		CU_ASSERT(json_equal(one, json_array_get(json_object_get(doc, "flows"), n)));
		json_decref(one);
		line = end + 1;
	}
	CU_ASSERT_EQUAL(n, N_RECORDS); /* and no summary line */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\":1764000000.123456789,"));
	json_decref(doc);
	free(jout);
	free(out);
}

/* NDJSON into a pipe (a pipeline reads it as the capture is read): each row is written and
 * flushed at once, however the stream is buffered. */
static void test_ndjson_flushes_each_flow(void)
{
	struct flow_record r[N_RECORDS];
	static char big[1 << 16], got[1 << 16];
	int fds[2];
	FILE *f;
	struct writer *w;
	ssize_t n;

	make_records(r);
	CU_ASSERT_FATAL(pipe(fds) == 0);
	CU_ASSERT_FATAL(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	f = fdopen(fds[1], "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(setvbuf(f, big, _IOFBF, sizeof big) == 0);
	w = writer_create(REPORT_NDJSON, f);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	CU_ASSERT(writer_flow(w, &r[0]) == 0);
	/* Fully buffered with room to spare, yet the row is already in the pipe. */
	n = read(fds[0], got, sizeof got);
	CU_ASSERT(n > 100 && got[n - 1] == '\n');
	CU_ASSERT(writer_end(w, &empty_summary) == 0);
	writer_destroy(w);
	fclose(f);
	close(fds[0]);
}

/* Into a regular file (nobody reads it while it grows) rows gather and go out in blocks of
 * WRITER_BATCH bytes, all of them by the end; a line-buffered file (a live capture) gets each row
 * at once. */
static void test_file_rows_are_batched(void)
{
	struct flow_record r[N_RECORDS];

	make_records(r);
	for (int line = 0; line <= 1; line++) {
		for (unsigned fmt = REPORT_JSON; fmt <= REPORT_ZEEK_JSON; fmt++) {
			FILE *f = tmpfile();
			struct writer *w;
			struct stat st;

			if (fmt == REPORT_MARKDOWN || fmt == REPORT_SVG || fmt == REPORT_HTML)
				continue; /* documents written at the end */
			CU_ASSERT_FATAL(f != NULL);
			if (line)
				CU_ASSERT_FATAL(setvbuf(f, NULL, _IOLBF, 0) == 0);
			w = writer_create((enum report_format)fmt, f);
			CU_ASSERT_FATAL(w != NULL);
			CU_ASSERT(writer_begin(w) == 0);
			CU_ASSERT(writer_flow(w, &r[0]) == 0);
			CU_ASSERT(fstat(fileno(f), &st) == 0);
			/* CSV holds the row an incident may still take: only its header is out. A JSON
			 * document's row ends with the next one (",\n"), a line-buffered stream sends
			 * it then. */
			if (line)
				check(st.st_size > 100 || fmt == REPORT_JSON, __LINE__,
				      "row not written at once", report_format_name((enum report_format)fmt));
			else
				check(st.st_size == 0, __LINE__, "row written before the batch is full",
				      report_format_name((enum report_format)fmt));
			CU_ASSERT(writer_end(w, &empty_summary) == 0);
			CU_ASSERT(fstat(fileno(f), &st) == 0 && st.st_size > 200);
			writer_destroy(w);
			fclose(f);
		}
	}
}

/* The raw text of member `key` in a one-line flow object: from after "key": to the next
 * ",\"next\":" given. Malloc'd. */
static char *raw_member(const char *line, const char *key, const char *next)
{
	char open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof open, "\"%s\":", key);
	snprintf(close, sizeof close, ",\"%s\":", next);
	a = strstr(line, open);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	a += strlen(open);
	b = strstr(a, close);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	return strndup(a, (size_t)(b - a));
}

/* Untrusted text with something to escape at every position and alignment (the escaper copies 16
 * and 8 bytes at a time when it can, and the last ones overlapping): each byte written as the
 * table below says, and read back as it was (with U+FFFD for an ill-formed byte). */
static void test_json_escapes_at_every_alignment(void)
{
	static const struct {
		const char *in, *out;
	} specials[] = {
		{ "\"", "\\\"" },  { "\\", "\\\\" }, { "\n", "\\n" },
		{ "\x01", "\\u0001" }, { "\x1f", "\\u001f" }, { "\x7f", "\x7f" },
		{ "\xc3\xa9", "\xc3\xa9" }, { "\xe2\x82\xac", "\xe2\x82\xac" },
		{ "\xff", "\\ufffd" }, { "\xc3", "\\ufffd" }, /* a lone FF; C3 cut short */
	};
	struct flow_record r[N_RECORDS];

	make_records(r);
	for (size_t len = 0; len <= 40; len++) {
		for (size_t at = 0; at <= len; at++) {
			for (unsigned k = 0; k < sizeof specials / sizeof specials[0]; k++) {
				const char *in = specials[k].in, *esc = specials[k].out;
				bool ill = strcmp(esc, "\\ufffd") == 0;
				char text[64], want[64], raw_want[96];
				size_t n = 0, w = 0, e = 0;
				json_t *line;
				char *out, *raw;
				size_t out_len;

				raw_want[e++] = '"';
				for (size_t i = 0; i < len; i++) {
					if (i == at) {
						memcpy(text + n, in, strlen(in));
						n += strlen(in);
						memcpy(want + w, ill ? "\xef\xbf\xbd" : in, ill ? 3 : strlen(in));
						w += ill ? 3 : strlen(in);
						memcpy(raw_want + e, esc, strlen(esc));
						e += strlen(esc);
					}
					text[n++] = (char)('A' + i % 26);
					want[w++] = (char)('A' + i % 26);
					raw_want[e++] = (char)('A' + i % 26);
				}
				raw_want[e++] = '"';
				text[n] = want[w] = raw_want[e] = '\0';
				r[0].capture = text;
				FLOW_REASON(&r[0].reason, REASON_TEXT, reason_str(text));
				out = run_writer(REPORT_NDJSON, r, 1, &empty_summary, &out_len);
				line = parse_json(out, out_len);
				CU_ASSERT_FATAL(line != NULL);
				EXPECT_STR(line, "capture", want);
				EXPECT_STR(json_object_get(line, "close"), "reason", want);
				raw = raw_member(out, "capture", "client");
				check(strcmp(raw, raw_want) == 0, __LINE__, "escaped", raw);
				free(raw);
				raw = raw_member(out, "reason", "ts");
				check(strcmp(raw, raw_want) == 0, __LINE__, "reason escaped", raw);
				json_decref(line);
				free(raw);
				free(out);
			}
		}
	}
}

static void test_ndjson_empty_run_is_empty(void)
{
	size_t len;
	char *out = run_writer(REPORT_NDJSON, NULL, 0, &empty_summary, &len);

	CU_ASSERT_EQUAL(len, 0);
	free(out);
}

/* --- CSV -------------------------------------------------------------------------------------- */

#define CSV_COLUMNS 55
#define CSV_ROWS_MAX 8

struct csv_table {
	unsigned n_rows;
	unsigned n_fields[CSV_ROWS_MAX];
	char *field[CSV_ROWS_MAX][CSV_COLUMNS + 4]; /* NULL: empty and unquoted */
	unsigned overflow;                          /* fields that did not fit */
};

static void on_field(void *data, size_t len, void *arg)
{
	struct csv_table *t = arg;
	unsigned row = t->n_rows;

	if (row >= CSV_ROWS_MAX || t->n_fields[row] >= CSV_COLUMNS + 4) {
		t->overflow++;
		return;
	}
	t->field[row][t->n_fields[row]++] = data != NULL ? strndup(data, len) : NULL;
}

static void on_row(int terminator, void *arg)
{
	struct csv_table *t = arg;

	(void)terminator;
	t->n_rows++;
}

static void parse_csv(const char *text, size_t len, struct csv_table *t)
{
	struct csv_parser p;

	memset(t, 0, sizeof *t);
	CU_ASSERT_FATAL(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) == 0);
	CU_ASSERT(csv_parse(&p, text, len, on_field, on_row, t) == len);
	CU_ASSERT(csv_fini(&p, on_field, on_row, t) == 0);
	csv_free(&p);
	CU_ASSERT_EQUAL(t->overflow, 0);
}

static void free_csv(struct csv_table *t)
{
	for (unsigned r = 0; r < CSV_ROWS_MAX; r++)
		for (unsigned i = 0; i < CSV_COLUMNS + 4; i++)
			free(t->field[r][i]);
}

/* The header line the CSV starts with (README: the columns, in order), split into csv_header[]
 * by csv_columns(). */
static const char csv_header_line[] =
	"id,capture,client_ip,client_port,server_ip,server_port,roles_inferred,first_ts,last_ts,"
	"packets_client,packets_server,bytes_client,bytes_server,handshake,close_class,"
	"close_detail,close_closer,close_reason,close_ts,close_evidence,state_client,"
	"state_server,retransmissions_client,retransmissions_server,keepalive_probes,modifiers,"
	"diagnosis_middlebox_claimed,diagnosis_middlebox_expected_ttl,"
	"diagnosis_middlebox_seen_ttl,diagnosis_middlebox_expected_ip_id,"
	"diagnosis_middlebox_seen_ip_id,diagnosis_idle_timeout_s,diagnosis_idle_timeout_answer,"
	"diagnosis_close_wait_side,diagnosis_close_wait_s,diagnosis_close_wait_still_open,"
	"diagnosis_time_wait,diagnosis_time_wait_reuse_held_by,diagnosis_time_wait_reuse_s,"
	"diagnosis_timers_client,diagnosis_timers_server,diagnosis_stack_client,"
	"diagnosis_stack_server,zeek_uid,zeek_orig,zeek_conn_state,zeek_history,"
	"zeek_missed_bytes,encapsulation,close_confidence,close_alternatives,rtt_client_ms,"
	"rtt_server_ms,vantage,incident";
static const char *csv_header[CSV_COLUMNS];

static void csv_columns(void)
{
	static char names[sizeof csv_header_line];
	unsigned n = 0;
	char *p = names;

	if (csv_header[0] != NULL)
		return;
	memcpy(names, csv_header_line, sizeof names);
	while (p != NULL && n < CSV_COLUMNS) {
		csv_header[n++] = p;
		p = strchr(p, ',');
		if (p != NULL)
			*p++ = '\0';
	}
	CU_ASSERT_FATAL(n == CSV_COLUMNS && p == NULL);
}

/* The value of column `name` in row `row`; want NULL: the field is empty and unquoted. */
static void expect_cell(struct csv_table *t, unsigned row, const char *name, const char *want, int line)
{
	unsigned col = 0;
	const char *got;

	csv_columns();
	while (col < CSV_COLUMNS && strcmp(csv_header[col], name) != 0)
		col++;
	CU_ASSERT_FATAL(col < CSV_COLUMNS);
	got = t->field[row][col];
	if (want == NULL)
		check(got == NULL, line, "not null", name);
	else
		check(got != NULL && strcmp(got, want) == 0, line, name, got != NULL ? got : "(null)");
}

#define EXPECT_CELL(t, row, name, want) expect_cell((t), (row), (name), (want), __LINE__)

static void test_csv_round_trips(void)
{
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();
	struct csv_table t;
	size_t len;
	char *out;

	make_records(r);
	out = run_writer(REPORT_CSV, r, N_RECORDS, &s, &len);
	CU_ASSERT_PTR_NULL(memchr(out, '\r', len)); /* \n line ends only */
	parse_csv(out, len, &t);
	CU_ASSERT_EQUAL_FATAL(t.n_rows, 1 + N_RECORDS);
	for (unsigned row = 0; row < t.n_rows; row++)
		CU_ASSERT_EQUAL(t.n_fields[row], t.n_fields[0]);
	CU_ASSERT_EQUAL_FATAL(t.n_fields[0], CSV_COLUMNS);
	csv_columns();
	for (unsigned i = 0; i < CSV_COLUMNS; i++)
		check(t.field[0][i] != NULL && strcmp(t.field[0][i], csv_header[i]) == 0, __LINE__,
		      "header", csv_header[i]);

	EXPECT_CELL(&t, 1, "id", "1");
	EXPECT_CELL(&t, 1, "capture", "x.pcap");
	EXPECT_CELL(&t, 1, "client_ip", "198.51.100.1");
	EXPECT_CELL(&t, 1, "client_port", "40001");
	EXPECT_CELL(&t, 1, "server_ip", "198.51.100.2");
	EXPECT_CELL(&t, 1, "server_port", "80");
	EXPECT_CELL(&t, 1, "roles_inferred", "false");
	EXPECT_CELL(&t, 1, "first_ts", "1764000000.123456789");
	EXPECT_CELL(&t, 1, "last_ts", "1764000001.000000001");
	EXPECT_CELL(&t, 1, "packets_client", "10");
	EXPECT_CELL(&t, 1, "packets_server", "8");
	EXPECT_CELL(&t, 1, "bytes_client", "1000");
	EXPECT_CELL(&t, 1, "bytes_server", "20000");
	EXPECT_CELL(&t, 1, "handshake", "complete");
	EXPECT_CELL(&t, 1, "close_class", "fin_graceful");
	EXPECT_CELL(&t, 1, "close_detail", NULL);
	EXPECT_CELL(&t, 1, "close_closer", "client");
	EXPECT_CELL(&t, 1, "close_reason", "client sent FIN first; both FINs acknowledged");
	EXPECT_CELL(&t, 1, "close_ts", "1764000000.900000000");
	EXPECT_CELL(&t, 1, "close_evidence", "12:client:FIN,ACK;13:server:FIN,ACK;14:client:ACK");
	EXPECT_CELL(&t, 1, "state_client", "TIME-WAIT");
	EXPECT_CELL(&t, 1, "state_server", "CLOSED");
	EXPECT_CELL(&t, 1, "retransmissions_client", "1");
	EXPECT_CELL(&t, 1, "retransmissions_server", "0");
	EXPECT_CELL(&t, 1, "keepalive_probes", "0");
	EXPECT_CELL(&t, 1, "modifiers", "");
	EXPECT_CELL(&t, 1, "diagnosis_middlebox_claimed", NULL);
	EXPECT_CELL(&t, 1, "diagnosis_time_wait", "client");
	EXPECT_CELL(&t, 1, "diagnosis_timers_client", NULL);
	EXPECT_CELL(&t, 1, "diagnosis_stack_client", NULL);

	EXPECT_CELL(&t, 2, "capture", WEIRD_CAPTURE);
	EXPECT_CELL(&t, 2, "client_ip", "2001:db8::1");
	EXPECT_CELL(&t, 2, "server_ip", "2001:db8::2");
	EXPECT_CELL(&t, 2, "roles_inferred", "true");
	EXPECT_CELL(&t, 2, "first_ts", "1764000002.123456");
	EXPECT_CELL(&t, 2, "handshake", "midstream");
	EXPECT_CELL(&t, 2, "close_class", "rst_abort");
	EXPECT_CELL(&t, 2, "close_closer", "server");
	EXPECT_CELL(&t, 2, "close_reason", NASTY_REPAIRED);
	EXPECT_CELL(&t, 2, "close_ts", "1764000003.000001");
	EXPECT_CELL(&t, 2, "close_evidence", "40:server:RST,ACK");
	EXPECT_CELL(&t, 2, "modifiers", "midstream;rst_from_middlebox");
	EXPECT_CELL(&t, 2, "diagnosis_middlebox_claimed", "server");
	EXPECT_CELL(&t, 2, "diagnosis_middlebox_expected_ttl", "63");
	EXPECT_CELL(&t, 2, "diagnosis_middlebox_seen_ttl", "64");
	EXPECT_CELL(&t, 2, "diagnosis_middlebox_expected_ip_id", NULL);
	EXPECT_CELL(&t, 2, "diagnosis_middlebox_seen_ip_id", NULL);
	EXPECT_CELL(&t, 2, "diagnosis_time_wait", NULL);
	EXPECT_CELL(&t, 2, "diagnosis_stack_client", NULL);
	EXPECT_CELL(&t, 2, "diagnosis_stack_server", "linux");
	EXPECT_CELL(&t, 2, "close_confidence", "ambiguous");
	EXPECT_CELL(&t, 2, "close_alternatives", "rst_unread_data");
	EXPECT_CELL(&t, 2, "rtt_client_ms", "0.061");
	EXPECT_CELL(&t, 2, "rtt_server_ms", "165.468");
	EXPECT_CELL(&t, 2, "vantage", "client");
	EXPECT_CELL(&t, 1, "close_confidence", "certain");
	EXPECT_CELL(&t, 1, "close_alternatives", "");
	EXPECT_CELL(&t, 1, "rtt_client_ms", NULL);
	EXPECT_CELL(&t, 1, "vantage", "unknown");

	EXPECT_CELL(&t, 3, "close_class", "syn_unanswered");
	EXPECT_CELL(&t, 3, "close_closer", NULL);
	EXPECT_CELL(&t, 3, "close_reason", "");
	EXPECT_CELL(&t, 3, "close_ts", NULL);
	EXPECT_CELL(&t, 3, "close_evidence", "50:client:SYN;51:client:SYN");
	EXPECT_CELL(&t, 3, "state_server", "UNKNOWN");

	EXPECT_CELL(&t, 4, "close_class", "peer_vanished");
	EXPECT_CELL(&t, 4, "close_detail", "retransmit_timeout");
	EXPECT_CELL(&t, 4, "first_ts", "1764000000.000000007");
	EXPECT_CELL(&t, 4, "keepalive_probes", "2");
	EXPECT_CELL(&t, 4, "retransmissions_client", "8");
	EXPECT_CELL(&t, 4, "modifiers",
		    "midstream;truncated;capture_gap;port_reuse;evicted;rst_from_middlebox");
	EXPECT_CELL(&t, 4, "close_evidence",
		    "100:client:PSH,ACK;101:client:PSH,ACK;102:client:PSH,ACK;103:client:PSH,ACK;"
		    "104:client:PSH,ACK;105:client:PSH,ACK;106:client:PSH,ACK;107:client:PSH,ACK");
	EXPECT_CELL(&t, 4, "diagnosis_idle_timeout_s", "6.000123");
	EXPECT_CELL(&t, 4, "diagnosis_idle_timeout_answer", "none");
	EXPECT_CELL(&t, 4, "diagnosis_close_wait_side", "server");
	EXPECT_CELL(&t, 4, "diagnosis_close_wait_s", "75.500000");
	EXPECT_CELL(&t, 4, "diagnosis_close_wait_still_open", "false");
	EXPECT_CELL(&t, 4, "diagnosis_time_wait_reuse_held_by", "client");
	EXPECT_CELL(&t, 4, "diagnosis_time_wait_reuse_s", "1.300000");
	EXPECT_CELL(&t, 4, "diagnosis_timers_client",
		    "rto_retransmissions=4;initial_rto_ms=208;tcp_retries2=3..4;"
		    "user_timeout_ms=2820..6424;tcp_keepalive_time=6;tcp_keepalive_probes=4..;"
		    "tcp_fin_timeout=..3");
	EXPECT_CELL(&t, 4, "diagnosis_timers_server", NULL);
	EXPECT_CELL(&t, 4, "diagnosis_stack_client", "linux");
	free_csv(&t);
	free(out);
}

/* A field with quotes, separators and line ends at every position goes through libcsv's
 * csv_write() exactly (quoted, quotes doubled), one without a quote is copied between quotes the
 * same way; both read back as they were. */
static void test_csv_quotes_at_every_position(void)
{
	static const char *const specials[] = { "\"", "\"\"", ",", "\n", "\r\n", "\xc3\xa9", ";" };
	struct flow_record r[N_RECORDS];

	make_records(r);
	for (size_t len = 0; len <= 24; len++) {
		for (size_t at = 0; at <= len; at++) {
			for (unsigned k = 0; k < sizeof specials / sizeof specials[0]; k++) {
				char text[64], quoted[160], *out;
				size_t n = 0, out_len, q;
				struct csv_table t;

				for (size_t i = 0; i < len; i++) {
					if (i == at) {
						memcpy(text + n, specials[k], strlen(specials[k]));
						n += strlen(specials[k]);
					}
					text[n++] = (char)('a' + i % 26);
				}
				text[n] = '\0';
				r[0].capture = text;
				FLOW_REASON(&r[0].reason, REASON_TEXT, reason_str(text));
				out = run_writer(REPORT_CSV, r, 1, &empty_summary, &out_len);
				parse_csv(out, out_len, &t);
				CU_ASSERT_EQUAL_FATAL(t.n_rows, 2);
				EXPECT_CELL(&t, 1, "capture", text);
				EXPECT_CELL(&t, 1, "close_reason", text);
				/* the raw field: what csv_write makes of it, after the id */
				q = csv_write(quoted, sizeof quoted, text, n);
				CU_ASSERT_FATAL(q < sizeof quoted);
				quoted[q] = '\0';
				CU_ASSERT(strncmp(strchr(out, '\n') + 1, "\"1\",", 4) == 0);
				check(strncmp(strchr(out, '\n') + 5, quoted, q) == 0, __LINE__,
				      "field as csv_write writes it", quoted);
				free_csv(&t);
				free(out);
			}
		}
	}
}

/* Everything at its largest: every number at its maximum, timestamps at the ends of int64_t, a
 * long capture name of characters to escape, full evidence with long notes, every diagnosis, every
 * modifier. The writers' reserved room must hold it (the sanitizer build checks); the output
 * reads back field by field. */
static void test_largest_record(void)
{
	static char capture[5000];
	static char note[FLOW_EVIDENCE_MAX][300];
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();
	struct csv_table t;
	json_t *o;
	char *out;
	size_t len;

	make_records(r);
	for (size_t i = 0; i < sizeof capture - 1; i++)
		capture[i] = "\"\\\x01\n,a\xc3\xa9"[i % 9] ;
	capture[sizeof capture - 1] = '\0';
	/* the last one must not cut a character in two: keep the text valid UTF-8 */
	if ((unsigned char)capture[sizeof capture - 2] == 0xC3)
		capture[sizeof capture - 2] = 'a';
	r[3].capture = capture;
	/* jansson reads integers up to INT64_MAX (test_textfmt checks the digits up to UINT64_MAX) */
	r[3].id = INT64_MAX;
	r[3].first_ts_ns = INT64_MIN;
	r[3].last_ts_ns = INT64_MAX;
	r[3].close_ts_ns = INT64_MIN;
	for (int d = 0; d < 2; d++) {
		r[3].packets[d] = INT64_MAX;
		r[3].bytes[d] = INT64_MAX;
		r[3].retransmissions[d] = INT64_MAX;
		r[3].diagnosis.timers[d] = r[3].diagnosis.timers[FROM_CLIENT];
		r[3].diagnosis.stack[d] = (struct stack_guess){ .family = capture + 4000, .initial_ttl = 255,
								 .hops = 255, .basis = capture };
	}
	r[3].keepalive_probes = UINT32_MAX;
	r[3].close_detail = capture + 1000;
	/* the widest outer-layer description: every layer, each of the longest text */
	static char layer_text[FLOW_ENCAP_MAX][96];
	static struct flow_encap encap = { .n = FLOW_ENCAP_MAX };

	for (unsigned i = 0; i < FLOW_ENCAP_MAX; i++) {
		snprintf(layer_text[i], sizeof layer_text[i],
			 "ipv6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.%u>ffff:ffff:ffff:ffff:ffff:ffff:"
			 "255.255.255.255", i);
		encap.layer[i] = layer_text[i];
	}
	r[3].encap = &encap;
	for (unsigned i = 0; i < FLOW_EVIDENCE_MAX; i++) {
		memset(note[i], '"', sizeof note[i] - 1);
		r[3].evidence[i] = ev(INT64_MAX, INT64_MIN, FROM_SERVER, 0xFF, UINT32_MAX, UINT32_MAX,
				      UINT32_MAX, note[i]);
	}
	r[3].diagnosis.middlebox = (struct middlebox_evidence){
		.present = true, .claimed = FROM_SERVER, .frame = INT64_MAX, .expected_ttl = 255,
		.seen_ttl = 255, .ttl_mismatch = true, .has_ip_id = true, .expected_ip_id = 65535,
		.seen_ip_id = 65535, .ip_id_mismatch = true };
	r[3].diagnosis.time_wait = CLOSER_BOTH;

	out = run_writer(REPORT_NDJSON, &r[3], 1, &empty_summary, &len);
	o = parse_json(out, len);
	CU_ASSERT_FATAL(o != NULL);
	expect_flow(o, &r[3]);
	json_decref(o);
	free(out);

	out = run_writer(REPORT_JSON, r, N_RECORDS, &s, &len);
	o = parse_json(out, len);
	CU_ASSERT_FATAL(o != NULL);
	expect_flow(json_array_get(json_object_get(o, "flows"), 3), &r[3]);
	json_decref(o);
	free(out);

	out = run_writer(REPORT_CSV, &r[3], 1, &empty_summary, &len);
	parse_csv(out, len, &t);
	CU_ASSERT_EQUAL_FATAL(t.n_rows, 2);
	EXPECT_CELL(&t, 1, "id", "9223372036854775807");
	EXPECT_CELL(&t, 1, "capture", capture);
	EXPECT_CELL(&t, 1, "first_ts", "-9223372036.854775808");
	EXPECT_CELL(&t, 1, "last_ts", "9223372036.854775807");
	EXPECT_CELL(&t, 1, "bytes_server", "9223372036854775807");
	EXPECT_CELL(&t, 1, "diagnosis_stack_server", capture + 4000);
	{
		char want[FLOW_ENCAP_MAX * 100] = "";

		for (unsigned i = 0; i < FLOW_ENCAP_MAX; i++)
			snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? ";" : "",
				 encap.layer[i]);
		EXPECT_CELL(&t, 1, "encapsulation", want);
	}
	free_csv(&t);
	free(out);
}

static void test_csv_empty_run_has_header(void)
{
	struct csv_table t;
	size_t len;
	char *out = run_writer(REPORT_CSV, NULL, 0, &empty_summary, &len);

	parse_csv(out, len, &t);
	CU_ASSERT_EQUAL(t.n_rows, 1);
	CU_ASSERT_EQUAL(t.n_fields[0], CSV_COLUMNS);
	CU_ASSERT(len > 0 && out[len - 1] == '\n' && memchr(out, '\n', len) == out + len - 1);
	free_csv(&t);
	free(out);
}

/* --- text ------------------------------------------------------------------------------------- */

/* The line of `text` that starts with `prefix` (after leading blanks when `indented`), copied into
 * buf; NULL when there is none. */
static const char *find_line(const char *text, const char *prefix, char *buf, size_t size)
{
	const char *line = text;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		const char *p = line;
		size_t n = end != NULL ? (size_t)(end - line) : strlen(line);

		while (*p == ' ' && p < line + n)
			p++;
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			if (n >= size)
				n = size - 1;
			memcpy(buf, line, n);
			buf[n] = '\0';
			return buf;
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	return NULL;
}

/* The line starting with `prefix` has exactly these whitespace-separated words. */
static void expect_words(const char *text, const char *prefix, const char *words, int line)
{
	char buf[1024], got[1024];
	char *save = NULL, *w;
	size_t n = 0;

	if (find_line(text, prefix, buf, sizeof buf) == NULL) {
		check(false, line, "no line starting with", prefix);
		return;
	}
	got[0] = '\0';
	for (w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", n != 0 ? " " : "", w);
		if (n >= sizeof got)
			break;
	}
	check(strcmp(got, words) == 0, line, words, got);
}

#define EXPECT_WORDS(text, prefix, words) expect_words((text), (prefix), (words), __LINE__)

static void test_text_report(void)
{
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();
	size_t len;
	char *out, buf[1024];
	size_t table_width = 0;

	make_records(r);
	out = run_writer(REPORT_TEXT, r, N_RECORDS, &s, &len);

	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tcpmortem " TCPMORTEM_VERSION ": x.pcap, " WEIRD_CAPTURE
					   ", bad\\xfe\\nname.pcap\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "101 frames, 4 flows (1 evicted), 5 late segments of finished connections, 2025-11-24 16:00:00.000000007 to "
					   "2025-11-24 16:00:09.999999999 UTC (9.999999992 s)\n"));

	/* The table: a row per class that occurred, then the total; all rows equally wide. */
	EXPECT_WORDS(out, "close class", "close class flows client server both none");
	EXPECT_WORDS(out, "fin_graceful", "fin_graceful 1 25.0% 1 100.0% 0 0.0% 0 0.0% 0 0.0%");
	EXPECT_WORDS(out, "rst_abort", "rst_abort 1 25.0% 0 0.0% 1 100.0% 0 0.0% 0 0.0%");
	EXPECT_WORDS(out, "syn_unanswered", "syn_unanswered 1 25.0% 0 0.0% 0 0.0% 0 0.0% 1 100.0%");
	EXPECT_WORDS(out, "peer_vanished", "peer_vanished 1 25.0% 1 100.0% 0 0.0% 0 0.0% 0 0.0%");
	EXPECT_WORDS(out, "total", "total 4 100.0% 2 50.0% 1 25.0% 0 0.0% 1 25.0%");
	CU_ASSERT_PTR_NULL(find_line(out, "open_at_end", buf, sizeof buf));
	CU_ASSERT_PTR_NULL(find_line(out, "fin_simultaneous", buf, sizeof buf));
	{
		static const char *const rows[] = { "close class", "fin_graceful", "rst_abort",
						    "syn_unanswered", "peer_vanished", "total" };

		for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			if (find_line(out, rows[i], buf, sizeof buf) == NULL)
				continue;
			if (table_width == 0)
				table_width = strlen(buf);
			check(strlen(buf) == table_width, __LINE__, "row width", rows[i]);
		}
	}

	EXPECT_WORDS(out, "top reset sources", "top reset sources (closer of an rst_* flow)");
	/* A server is counted per endpoint: the service that resets. */
	EXPECT_WORDS(out, "[2001:db8::2]:443", "[2001:db8::2]:443 (server) 1");

	EXPECT_WORDS(out, "noteworthy flows", "noteworthy flows (3)");
	CU_ASSERT_PTR_NULL(find_line(strstr(out, "noteworthy flows"), "#1 ", buf, sizeof buf));
	/* Columns padded to the widest endpoint; control characters and ill-formed UTF-8 escaped,
	 * well-formed UTF-8 kept; no ": " after an empty reason. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n  #2 [2001:db8::1]:51000  -> [2001:db8::2]:443  rst_abort (server): "
		"say \"hi\" \\ back\\nslash\\tend \\xff\\xc3( caf\xc3\xa9 \\x01 \\xed\\xa0\\x80!\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n  #3 198.51.100.1:40002   -> 198.51.100.9:8080  syn_unanswered (none)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n  #4 [2001:db8::10]:60000 -> [2001:db8::20]:22  peer_vanished (client): "
		"oldest segment retransmitted 8 times, never acknowledged\n"));
	/* One plain sentence per diagnosis, indented under its flow. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      The reset in frame 40 says it came from the server, but its TTL is 64 where "
		"the server's packets arrive with 63: a firewall, load balancer or IPS in the path "
		"sent it.\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      The connection had been silent for 6.00 s, longer than ever before, when the "
		"client spoke again, and nothing ever answered: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      The server acknowledged the client's FIN and stayed in CLOSE-WAIT for 75.50 s "
		"before it closed: its application was slow to close the socket.\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      This connection reused its 4-tuple 1.30 s after the previous connection on it "
		"ended, while the client could still hold its TIME-WAIT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      The client's timers: 4 RTO retransmissions from 208.0 ms after a tail-loss "
		"probe, then it gave up: tcp_retries2 3-4 (default 15, about 15 minutes) or "
		"TCP_USER_TIMEOUT 2.8-6.4 s (the wire cannot tell which); keepalive after "
		"tcp_keepalive_time 6 s, tcp_keepalive_probes at least 4 (defaults 7200 s, 75 s, 9; or "
		"TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT); FIN-WAIT-2 of its closed socket: "
		"tcp_fin_timeout at most 3 s (default 60 s).\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"\n      The client looks like Linux (basis), 0 hops from the capture point.\n"));
	/* Not noteworthy: fin_graceful with only its TIME-WAIT to tell. */
	CU_ASSERT_PTR_NULL(strstr(out, "holds TIME-WAIT"));

	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\nskipped frames\n  x.pcap: not_ip 7, fragment 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\ncapture errors\n  " WEIRD_CAPTURE ": truncated record header\n"));
	CU_ASSERT_PTR_NULL(strchr(out, '\x1b')); /* no colour */
	free(out);
}

/* 30 rst_abort flows arriving in reverse id order, each record freed right after writer_flow:
 * the writer must have copied what it shows (ASan catches it otherwise). */
static void test_text_caps_noteworthy_and_resets(void)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	struct writer *w = writer_create(REPORT_TEXT, f);
	struct run_summary s = { .flows = 30, .frames = 300, .first_ts_ns = 1764000000000000000,
				 .last_ts_ns = 1764000060000000000 };
	static char texts[31][16];
	char buf[256];

	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	for (unsigned id = 30; id >= 1; id--) {
		struct flow_record *r = calloc(1, sizeof *r);

		CU_ASSERT_FATAL(r != NULL);
		r->id = id;
		r->client = (struct flow_endpoint){ ip4(198, 51, 100, 1), (uint16_t)(40000 + id) };
		/* Server .k closes k flows for k = 1..7, then 2 single ones (.8 .9): 9 sources. */
		r->server = (struct flow_endpoint){ ip4(198, 51, 100, 0), 80 };
		r->server.addr.bytes[3] = id <= 28 ? (uint8_t)(1 + (id > 1) + (id > 3) + (id > 6) +
							     (id > 10) + (id > 15) + (id > 21))
						   : (uint8_t)(id - 21);
		r->close_class = CLOSE_RST_ABORT;
		r->closer = CLOSER_SERVER;
		/* The text must outlive the record (digests keep the reason): static storage. */
		snprintf(texts[id], sizeof texts[id], "reset %u", id);
		FLOW_REASON(&r->reason, REASON_TEXT, reason_str(texts[id]));
		CU_ASSERT(writer_flow(w, r) == 0);
		memset(r, 0xA5, sizeof *r);
		free(r);
	}
	s.by_class[CLOSE_RST_ABORT][CLOSER_SERVER] = 30;
	CU_ASSERT(writer_end(w, &s) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(f) == 0);

	EXPECT_WORDS(out, "noteworthy flows", "noteworthy flows (30)");
	for (unsigned id = 1; id <= 30; id++) {
		char want[32];

		snprintf(want, sizeof want, "#%u ", id);
		check((find_line(out, want, buf, sizeof buf) != NULL) == (id <= 20), __LINE__, "listed", want);
	}
	/* Lowest ids first, and the reason is this flow's own. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "   #1 198.51.100.1:40001 -> 198.51.100.1:80  rst_abort (server): reset 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "  #20 198.51.100.1:40020 -> 198.51.100.6:80  rst_abort (server): reset 20\n"));
	CU_ASSERT(strstr(out, "#1 ") < strstr(out, "#2 ") && strstr(out, "#9 ") < strstr(out, "#10 "));
	EXPECT_WORDS(out, "and 10 more", "and 10 more");

	EXPECT_WORDS(out, "rst_abort", "rst_abort 30 100.0% 0 0.0% 30 100.0% 0 0.0% 0 0.0%");
	/* Nine sources with 7,6,5,4,3,2,1,1,1 resets: the top ten is all of them. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "top reset sources (closer of an rst_* flow)\n"
					   "  198.51.100.7:80 (server)  7\n  198.51.100.6:80 (server)  6\n"
					   "  198.51.100.5:80 (server)  5\n  198.51.100.4:80 (server)  4\n"
					   "  198.51.100.3:80 (server)  3\n  198.51.100.2:80 (server)  2\n"
					   "  198.51.100.1:80 (server)  1\n  198.51.100.8:80 (server)  1\n"
					   "  198.51.100.9:80 (server)  1\n\n"));
	free(out);
}

/* A graceful close is not noteworthy, unless a diagnosis makes it so (here the reuse of its
 * 4-tuple during TIME-WAIT), and then its sentences follow it. */
static void test_text_diagnosis_makes_noteworthy(void)
{
	struct flow_record r[2];
	struct run_summary s = { .flows = 2, .frames = 20 };
	size_t len;
	char *out, buf[512];

	memset(r, 0, sizeof r);
	for (unsigned i = 0; i < 2; i++) {
		r[i].id = i + 1;
		r[i].client = (struct flow_endpoint){ ip4(198, 51, 100, 1), 40001 };
		r[i].server = (struct flow_endpoint){ ip4(198, 51, 100, 2), 8080 };
		r[i].close_class = CLOSE_FIN_GRACEFUL;
		r[i].closer = CLOSER_CLIENT;
		r[i].diagnosis.time_wait = CLOSER_CLIENT;
		FLOW_REASON(&r[i].reason, REASON_TEXT, reason_str(i == 0 ? "closed 1" : "closed 2"));
	}
	r[1].diagnosis.time_wait_reuse = (struct time_wait_reuse_evidence){
		.present = true, .side = CLOSER_SERVER, .gap_ns = 100000000, .accepted = true };
	s.by_class[CLOSE_FIN_GRACEFUL][CLOSER_CLIENT] = 2;
	out = run_writer(REPORT_TEXT, r, 2, &s, &len);
	EXPECT_WORDS(out, "noteworthy flows", "noteworthy flows (1)");
	CU_ASSERT_PTR_NULL(find_line(out, "  #1 ", buf, sizeof buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
		"  #2 198.51.100.1:40001 -> 198.51.100.2:8080  fin_graceful (client): closed 2\n"
		"      This connection reused its 4-tuple 100.0 ms after the previous connection on it "
		"ended, while the server could still hold its TIME-WAIT (Linux keeps it 60 s, RFC 9293 "
		"4 minutes): the new SYN was accepted (RFC 6191: a higher sequence number or timestamp "
		"than the old connection's).\n"
		"      The client holds TIME-WAIT at the end (the side that closed first keeps the "
		"4-tuple for 60 s on Linux, 4 minutes per RFC 9293).\n"));
	free(out);
}

static void test_text_top_resets_capped_at_ten(void)
{
	struct flow_record r;
	struct run_summary s = { .flows = 278 };
	char *out = NULL;
	size_t size = 0;
	char buf[256];
	FILE *f = open_memstream(&out, &size);
	struct writer *w = writer_create(REPORT_TEXT, f);

	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	memset(&r, 0, sizeof r);
	r.close_class = CLOSE_RST_REFUSED;
	r.closer = CLOSER_SERVER;
	r.client.addr = ip6(1);
	/* 12 servers, server k refusing k times: with this many, the hash table must grow. */
	for (unsigned k = 1; k <= 12; k++) {
		for (unsigned i = 0; i < k; i++) {
			r.id++;
			r.server.addr = ip6((uint8_t)k);
			CU_ASSERT(writer_flow(w, &r) == 0);
		}
	}
	/* And 200 one-off sources after them. */
	for (unsigned k = 0; k < 200; k++) {
		r.id++;
		r.server.addr = ip4(198, 51, 100, (uint8_t)k);
		CU_ASSERT(writer_flow(w, &r) == 0);
	}
	CU_ASSERT(writer_end(w, &s) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(f) == 0);

	EXPECT_WORDS(out, "[2001:db8::c]", "[2001:db8::c]:0 (server) 12");
	EXPECT_WORDS(out, "[2001:db8::3]", "[2001:db8::3]:0 (server) 3");
	CU_ASSERT_PTR_NULL(find_line(out, "[2001:db8::2]", buf, sizeof buf));
	CU_ASSERT(strstr(out, "[2001:db8::c]") < strstr(out, "[2001:db8::b]"));
	EXPECT_WORDS(out, "and 202 more sources", "and 202 more sources");
	EXPECT_WORDS(out, "noteworthy flows", "noteworthy flows (278)");
	EXPECT_WORDS(out, "and 258 more", "and 258 more");
	free(out);
}

/* A reset flood from 30000 forged addresses, each resetting once, with two real sources in it:
 * one resetting every 100th flow from the start, one 60 times in a row after the flood. Far
 * more sources than the writer counts at once (4096): both must still come out on top, the first
 * with its exact count (it never left the table), the second with a count no lower than the
 * truth and the report saying by how much a count may be high. */
static void test_text_reset_flood_keeps_the_top_sources(void)
{
	struct flow_record r;
	struct run_summary s = { .flows = 30000 };
	char *out = NULL;
	size_t size = 0;
	char buf[256];
	FILE *f = open_memstream(&out, &size);
	struct writer *w = writer_create(REPORT_TEXT, f);
	unsigned long count = 0, high = 0;

	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	memset(&r, 0, sizeof r);
	r.close_class = CLOSE_RST_ABORT;
	r.closer = CLOSER_SERVER;
	r.client.addr = ip4(198, 51, 100, 1);
	for (unsigned k = 0; k < 30000; k++) {
		r.id++;
		if (k % 100 == 0) {
			r.server.addr = ip4(198, 51, 100, 7);
		} else {
			r.server.addr = ip6(0);
			r.server.addr.bytes[12] = (uint8_t)(k >> 16);
			r.server.addr.bytes[13] = (uint8_t)(k >> 8);
			r.server.addr.bytes[14] = (uint8_t)k;
			r.server.addr.bytes[15] = 0xff;
		}
		CU_ASSERT(writer_flow(w, &r) == 0);
	}
	r.server.addr = ip4(198, 51, 100, 9);
	for (unsigned k = 0; k < 60; k++) {
		r.id++;
		CU_ASSERT(writer_flow(w, &r) == 0);
	}
	CU_ASSERT(writer_end(w, &s) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(f) == 0);

	EXPECT_WORDS(out, "top reset sources", "top reset sources (closer of an rst_* flow)");
	EXPECT_WORDS(out, "198.51.100.7:0 ", "198.51.100.7:0 (server) 300");
	CU_ASSERT(strstr(out, "198.51.100.7:0 ") < strstr(out, "198.51.100.9:0 "));
	CU_ASSERT_FATAL(find_line(out, "198.51.100.9:0 ", buf, sizeof buf) != NULL);
	count = strtoul(strrchr(buf, ' ') + 1, NULL, 10);
	CU_ASSERT(count >= 60);
	CU_ASSERT_FATAL(find_line(out, "(too many sources", buf, sizeof buf) != NULL);
	high = strtoul(buf + strlen("  (too many sources to count each: a count above may be up to "),
		       NULL, 10);
	CU_ASSERT(count - 60 <= high);
	CU_ASSERT(high <= 30000 / 4096 + 1); /* Space-Saving: at most N / capacity */
	CU_ASSERT_PTR_NOT_NULL(find_line(out, "and more than 4086 more sources", buf, sizeof buf));
	free(out);
}

static void test_text_empty_run(void)
{
	size_t len;
	char *out = run_writer(REPORT_TEXT, NULL, 0, &empty_summary, &len);

	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tcpmortem " TCPMORTEM_VERSION ": no capture\n0 frames, 0 flows\n"));
	EXPECT_WORDS(out, "total", "total 0 - 0 - 0 - 0 - 0 -");
	CU_ASSERT_PTR_NULL(strstr(out, "noteworthy"));
	CU_ASSERT_PTR_NULL(strstr(out, "top reset"));
	free(out);
}

/* --- failures --------------------------------------------------------------------------------- */

/* Long-lived strings are escaped once and kept by address (text_memo, a few dozen slots): with
 * many more distinct strings than slots, several in one record mapping to the same slot, every
 * field still holds its own text. */
static void test_json_memo_keeps_each_string(void)
{
	enum { N = 300 };
	static struct flow_record r[N];
	static char caps[N][32], details[N][32], bases[N][32], notes[N][32];
	struct flow_record base[N_RECORDS];
	char *out, *line, *save = NULL;
	size_t len;
	unsigned n = 0;

	make_records(base);
	for (unsigned i = 0; i < N; i++) {
		r[i] = base[0];
		snprintf(caps[i], sizeof caps[i], "cap\"%u.pcap", i);
		snprintf(details[i], sizeof details[i], "detail_%u", i);
		snprintf(bases[i], sizeof bases[i], "basis \\ %u", i);
		snprintf(notes[i], sizeof notes[i], "note\t%u", i);
		r[i].capture = caps[i];
		r[i].close_detail = details[i];
		for (int d = FROM_CLIENT; d <= FROM_SERVER; d++)
			r[i].diagnosis.stack[d] = (struct stack_guess){ .family = "linux",
				.initial_ttl = 64, .basis = bases[(i + 7u * (unsigned)d) % N] };
		r[i].n_evidence = 1;
		r[i].evidence[0].note = notes[i];
	}
	out = run_writer(REPORT_NDJSON, r, N, &empty_summary, &len);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *stack;
		char want[64];

		CU_ASSERT_FATAL(o != NULL);
		stack = json_object_get(json_object_get(o, "diagnosis"), "stack");
		EXPECT_STR(o, "capture", caps[n]);
		EXPECT_STR(json_object_get(o, "close"), "detail", details[n]);
		EXPECT_STR(json_object_get(stack, "client"), "basis", bases[n]);
		EXPECT_STR(json_object_get(stack, "server"), "basis", bases[(n + 7) % N]);
		snprintf(want, sizeof want, "note\t%u", n);
		EXPECT_STR(json_array_get(json_object_get(json_object_get(o, "close"), "evidence"), 0),
		           "note", want);
		json_decref(o);
		n++;
	}
	CU_ASSERT_EQUAL(n, N);
	free(out);
}

/* The common diagnosis objects (no rare part) are kept by their key in a few slots: flows that
 * alternate several keys, more than the slots, each get their own stack and TIME-WAIT side. */
static void test_json_diagnosis_memo(void)
{
	enum { N = 400, KEYS = 90 };
	static struct flow_record r[N];
	static char bases[KEYS][32];
	struct flow_record base[N_RECORDS];
	char *out, *line, *save = NULL;
	size_t len;
	unsigned n = 0;

	make_records(base);
	for (unsigned k = 0; k < KEYS; k++)
		snprintf(bases[k], sizeof bases[k], "basis %u", k);
	for (unsigned i = 0; i < N; i++) {
		/* Keys k and k + 60 differ in their hops only: every third flow follows one with
		 * the other. */
		unsigned k = i % 3 == 2 ? ((i - 1) * 7u % KEYS + 60) % KEYS : (i * 7u + i / 50u) % KEYS;
		struct flow_diagnosis *g = &r[i].diagnosis;

		r[i] = base[0];
		memset(g, 0, sizeof *g);
		g->time_wait = (enum closer_side)(k % CLOSER_COUNT);
		for (int d = FROM_CLIENT; d <= FROM_SERVER; d++)
			g->stack[d] = (struct stack_guess){ .family = d ? "windows" : "linux",
				.initial_ttl = (uint8_t)(64 + k % 3), .hops = (uint8_t)(k % 7 + d),
				.basis = bases[(k + (unsigned)d) % 5] };
	}
	out = run_writer(REPORT_NDJSON, r, N, &empty_summary, &len);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *diag;

		CU_ASSERT_FATAL(o != NULL && n < N);
		diag = json_object_get(o, "diagnosis");
		expect_diagnosis(diag, &r[n].diagnosis);
		json_decref(o);
		n++;
	}
	CU_ASSERT_EQUAL(n, N);
	free(out);
}

/* Every format reports a stream that cannot be written: begin, flow or end returns -1. Rows
 * gathered for one write fail when it is made (at the end at the latest); when each row is
 * written at once (a line-buffered stream), the streaming formats fail on every flow. */
static void test_write_failure_is_reported(void)
{
	struct flow_record r[N_RECORDS];
	struct run_summary s = make_summary();

	make_records(r);
	for (int line = 0; line <= 1; line++) {
		for (unsigned fmt = 0; fmt < REPORT_FORMAT_COUNT; fmt++) {
			FILE *f = fopen("/dev/null", "r"); /* every write fails */
			struct writer *w;
			int failures = 0;

			CU_ASSERT_FATAL(f != NULL);
			if (line)
				CU_ASSERT_FATAL(setvbuf(f, NULL, _IOLBF, 0) == 0);
			w = writer_create((enum report_format)fmt, f);
			CU_ASSERT_FATAL(w != NULL);
			failures += writer_begin(w) != 0;
			for (unsigned i = 0; i < N_RECORDS; i++)
				failures += writer_flow(w, &r[i]) != 0;
			failures += writer_end(w, &s) != 0;
			writer_destroy(w);
			fclose(f);
			check(failures > 0, __LINE__, "write failure not reported", NULL);
			/* The others write at the end (CSV holds the rows an incident may still take, so
			 * its failures show later). */
			if (line && (fmt == REPORT_JSON || fmt == REPORT_NDJSON))
				check(failures >= N_RECORDS, __LINE__, "every flow write fails", NULL);
		}
	}
}

/* The machine formats copy each table name from a table made once per writer (one fixed-size copy
 * per name): every value of every table must come out as the name functions give it, in JSON and
 * in CSV, and one out of range too where the rest of the writer takes one (the incidents detector
 * counts by class and closer, so those stay in range). */
static void expect_name_written(const struct flow_record *r, const char *name, int line)
{
	static const enum report_format formats[] = { REPORT_NDJSON, REPORT_CSV };
	struct run_summary s = make_summary();

	for (unsigned k = 0; k < sizeof formats / sizeof formats[0]; k++) {
		char want[64];
		size_t len;
		char *out = run_writer(formats[k], r, 1, &s, &len);

		if (name != NULL)
			snprintf(want, sizeof want, "\"%s\"", name);
		else
			snprintf(want, sizeof want, "%s", formats[k] == REPORT_CSV ? ",," : "null");
		check(out != NULL && strstr(out, want) != NULL, line, "name not written", want);
		free(out);
	}
}

static void test_every_table_name_is_written(void)
{
	struct flow_record r[N_RECORDS];

	make_records(r);
	for (unsigned v = 0; v < CLOSE_CLASS_COUNT; v++) {
		struct flow_record f = r[0];

		f.close_class = (enum close_class)v;
		expect_name_written(&f, close_class_name(f.close_class), __LINE__);
	}
	for (unsigned v = 0; v < CLOSER_COUNT; v++) {
		struct flow_record f = r[0];

		f.closer = (enum closer_side)v;
		expect_name_written(&f, closer_name(f.closer), __LINE__);
	}
	for (unsigned v = 0; v <= TCPS_COUNT; v++) {
		struct flow_record f = r[0];

		f.state[FROM_SERVER] = (enum tcp_state)v;
		expect_name_written(&f, tcp_state_name(f.state[FROM_SERVER]), __LINE__);
	}
	for (unsigned v = 0; v <= HANDSHAKE_COUNT; v++) {
		struct flow_record f = r[0];

		f.handshake = (enum handshake_kind)v;
		expect_name_written(&f, handshake_name(f.handshake), __LINE__);
	}
	for (unsigned v = 0; v <= CONFIDENCE_COUNT; v++) {
		struct flow_record f = r[0];

		f.confidence = (enum close_confidence)v;
		expect_name_written(&f, confidence_name(f.confidence), __LINE__);
	}
	for (unsigned v = 0; v <= VANTAGE_COUNT; v++) {
		struct flow_record f = r[0];

		f.vantage = (enum vantage_point)v;
		expect_name_written(&f, vantage_name(f.vantage), __LINE__);
	}
	for (unsigned v = 0; v <= FROM_SERVER + 1; v++) {
		struct flow_record f = r[0];

		f.zeek.orig = (uint8_t)v;
		expect_name_written(&f, direction_name((enum flow_direction)v), __LINE__);
	}
}

/* The record `base` moved by `shift` nanoseconds (all its times), with id `id`. */
static struct flow_record moved(const struct flow_record *base, int64_t shift, uint64_t id)
{
	struct flow_record r = *base;

	r.id = id;
	r.client.port = (uint16_t)(1024 + id % 60000);
	r.first_ts_ns += shift;
	r.last_ts_ns += shift;
	r.close_ts_ns += shift;
	for (unsigned k = 0; k < r.n_evidence && k < FLOW_EVIDENCE_MAX; k++) {
		r.evidence[k].ts_ns += shift;
		r.evidence[k].frame += id * 10;
	}
	return r;
}

enum { HELD_N = 4000, HELD_QUIET = 3200, HELD_LONG = 70000 };

/* Record i of the held-rows stream: the four kinds in turn, 400 a second, a silence of 1,000 s
 * before record HELD_QUIET, after which 300 client-closed rows (which go out at once); capture
 * names of 2,000 and 2,001 bytes (rows of 2.5 kB differing in length) and, every 101st, of
 * HELD_LONG bytes (a row longer than a block of held rows). */
static struct flow_record held_record(const struct flow_record base[N_RECORDS], unsigned i,
                                      const char *const names[3])
{
	int64_t shift = (int64_t)i * 2500000 + (i >= HELD_QUIET ? 1000LL * 1000000000 : 0);
	unsigned kind = i >= HELD_QUIET && i < HELD_QUIET + 300 ? 0 : (i * 7 + i / 5) % N_RECORDS;
	struct flow_record r = moved(&base[kind], shift, i + 1);

	r.capture = names[i % 101 == 50 ? 2 : i % 3 == 0];
	return r;
}

/* CSV holds the rows an incident may still take, each kept as its differences from the held row
 * before it (rowdiff.h), and writes them when their incident is known, past its bound (8 MiB of
 * row text) or at the end: every row must come out as the same record's row written alone, in
 * order, whatever was held around it (a row decoded wrong leaves the rows after it wrong too).
 * The first HELD_QUIET records come within 8 s of capture time, before any can be settled: over
 * 10 MB of rows, so the bound is reached and kept (what is out by then is all but 8 MiB of it);
 * rows left out (writer_observe) among them; after the silence nothing is held and rows go out
 * at once, then holding again until the end writes the rest. */
static void test_csv_held_rows_come_back_whole(void)
{
	struct flow_record base[N_RECORDS];
	char *out = NULL, *line;
	size_t size = 0, rows = 0, text = 0;
	FILE *f;
	struct writer *w;
	static char *want[HELD_N]; /* each written record's row alone, without its incident field */
	static size_t want_len[HELD_N];
	static char name0[2001], name1[2002], name2[HELD_LONG + 1];
	const char *const names[3] = { name0, name1, name2 };

	make_records(base);
	memset(name0, 'n', sizeof name0 - 1);
	memset(name1, 'n', sizeof name1 - 1);
	memset(name2, 'l', sizeof name2 - 1);
	for (unsigned i = 0; i < HELD_N; i++) {
		struct flow_record r = held_record(base, i, names);
		size_t alone_len;
		char *alone, *row;

		want[i] = NULL;
		if (i % 13 == 5) /* left out (writer_observe) */
			continue;
		alone = run_writer(REPORT_CSV, &r, 1, &empty_summary, &alone_len);
		row = strchr(alone, '\n') + 1;
		want_len[i] = strlen(row) - 2; /* without the null incident field and the newline */
		want[i] = malloc(want_len[i]);
		CU_ASSERT_FATAL(want[i] != NULL);
		memcpy(want[i], row, want_len[i]);
		free(alone);
	}

	f = open_memstream(&out, &size);
	CU_ASSERT_FATAL(f != NULL);
	w = writer_create(REPORT_CSV, f);
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT(writer_begin(w) == 0);
	CU_ASSERT_FATAL(fflush(f) == 0);
	text = size; /* the header */
	for (unsigned i = 0; i < HELD_N; i++) {
		struct flow_record r = held_record(base, i, names);

		if (i == HELD_QUIET) {
			/* the bound: all but HELD_MAX_BYTES of the rows so far are out (give or take a
			 * row, and the last batch not yet written) */
			CU_ASSERT_FATAL(fflush(f) == 0);
			CU_ASSERT(text > size + ((size_t)1 << 20));
			CU_ASSERT(size + ((size_t)8 << 20) + HELD_LONG + ((size_t)128 << 10) >= text);
		}
		if (want[i] == NULL) {
			CU_ASSERT(writer_observe(w, &r) == 0);
		} else {
			CU_ASSERT(writer_flow(w, &r) == 0);
			text += want_len[i] + 2;
		}
	}
	CU_ASSERT(writer_end(w, &empty_summary) == 0);
	writer_destroy(w);
	CU_ASSERT_FATAL(fclose(f) == 0);

	line = strchr(out, '\n'); /* past the header */
	CU_ASSERT_FATAL(line != NULL);
	line++;
	for (unsigned i = 0; i < HELD_N; i++) {
		size_t len = want_len[i];
		char *end;

		if (want[i] == NULL)
			continue;
		/* the row, then its incident field: null or a quoted number (rows hold newlines) */
		end = line + len;
		if ((size_t)(out + size - line) < len + 2 || memcmp(line, want[i], len) != 0 ||
		    *end++ != ',') {
			CU_FAIL("a held row came back changed");
			fprintf(stderr, "\n  row %u:\n  got  %.*s\n  want %.*s\n", i,
			        (int)(len < 3000 ? len : 3000), line, (int)(len < 3000 ? len : 3000),
			        want[i]);
			break;
		}
		if (*end == '"') {
			end++;
			while (*end >= '0' && *end <= '9')
				end++;
			CU_ASSERT(*end == '"');
			end++;
		}
		CU_ASSERT_FATAL(*end == '\n');
		line = end + 1;
		rows++;
	}
	CU_ASSERT_EQUAL(*line, '\0');
	CU_ASSERT(rows > HELD_N * 9 / 10);
	for (unsigned i = 0; i < HELD_N; i++)
		free(want[i]);
	free(out);
}

/* --- registration ----------------------------------------------------------------------------- */

CUNIT_TESTS(names_tests,
	    { "class_names_are_design_names", test_class_names_are_design_names },
	    { "state_names_are_rfc9293", test_state_names_are_rfc9293 },
	    { "other_names", test_other_names },
	    { "ts_format_is_exact", test_ts_format_is_exact },
	    { "tcp_flags_format", test_tcp_flags_format },
	    { "ip_addr_format", test_ip_addr_format },
	    { "every_table_name_is_written", test_every_table_name_is_written });

CUNIT_TESTS(json_tests,
	    { "json_document_round_trips", test_json_document },
	    { "json_escapes_untrusted_text", test_json_escapes_untrusted_text },
	    { "json_empty_run_is_valid", test_json_empty_run_is_valid },
	    { "ndjson_one_flow_per_line", test_ndjson_one_flow_per_line },
	    { "ndjson_flushes_each_flow", test_ndjson_flushes_each_flow },
	    { "file_rows_are_batched", test_file_rows_are_batched },
	    { "json_memo_keeps_each_string", test_json_memo_keeps_each_string },
	    { "json_diagnosis_memo", test_json_diagnosis_memo },
	    { "ndjson_empty_run_is_empty", test_ndjson_empty_run_is_empty },
	    { "json_escapes_at_every_alignment", test_json_escapes_at_every_alignment });

CUNIT_TESTS(csv_tests,
	    { "csv_round_trips", test_csv_round_trips },
	    { "csv_empty_run_has_header", test_csv_empty_run_has_header },
	    { "csv_quotes_at_every_position", test_csv_quotes_at_every_position },
	    { "largest_record", test_largest_record },
	    { "csv_held_rows_come_back_whole", test_csv_held_rows_come_back_whole });

CUNIT_TESTS(text_tests,
	    { "text_report", test_text_report },
	    { "text_caps_noteworthy_and_resets", test_text_caps_noteworthy_and_resets },
	    { "text_top_resets_capped_at_ten", test_text_top_resets_capped_at_ten },
	    { "text_reset_flood_keeps_the_top_sources", test_text_reset_flood_keeps_the_top_sources },
	    { "text_diagnosis_makes_noteworthy", test_text_diagnosis_makes_noteworthy },
	    { "text_empty_run", test_text_empty_run },
	    { "write_failure_is_reported", test_write_failure_is_reported });

CUNIT_MAIN("test_writers",
           { "names", NULL, NULL, NULL, NULL, names_tests },
           { "json", NULL, NULL, NULL, NULL, json_tests },
           { "csv", NULL, NULL, NULL, NULL, csv_tests },
           { "text", NULL, NULL, NULL, NULL, text_tests })
