/* test_tracker.c - the tracker and the classifier,
 * driven by scripted segment sequences (no pcap needed). The scripts follow what a Linux stack
 * puts on the wire for each ending (samples/README.md). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "flow_table.h"
#include "timers.h"
#include "tracker.h"

#include "cunit_main.h"
#include "seq.h"
#include "tcp_script.h"
#include "test_rng.h"

static void test_fin_graceful_client_first(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1000, 5000);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 2000);
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	send(&s, 10, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0); /* FIN piggybacks the ACK */
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	assert_class(&s, CLOSE_FIN_GRACEFUL, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.state[FROM_CLIENT], TCPS_TIME_WAIT);
	CU_ASSERT_EQUAL(rec.state[FROM_SERVER], TCPS_CLOSED);
	CU_ASSERT_EQUAL(rec.handshake, HANDSHAKE_COMPLETE);
	CU_ASSERT_EQUAL(rec.bytes[FROM_CLIENT], 100);
	CU_ASSERT_EQUAL(rec.bytes[FROM_SERVER], 2000);
	CU_ASSERT_EQUAL(rec.packets[FROM_CLIENT], 6); /* SYN, ACK, data, ACK, FIN, ACK */
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_CLIENT], 0);
	CU_ASSERT(flow_is_finished(s.flow));
	/* Relative sequence numbers in the evidence: the client's FIN is at 1 + 100. */
	for (unsigned i = 0; i < rec.n_evidence; i++)
		if (rec.evidence[i].from == FROM_CLIENT && (rec.evidence[i].flags & TCP_FIN)) {
			CU_ASSERT_EQUAL(rec.evidence[i].seq, 101);
			CU_ASSERT_EQUAL(rec.evidence[i].ack, 2001);
		}
}

static void test_fin_graceful_server_first_with_delayed_ack(void)
{
	struct script s;

	script_init(&s, 7, 9);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 10);
	send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 40, FROM_CLIENT, TCP_ACK, 0); /* delayed ACK, ~40 ms */
	send(&s, 5, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	assert_class(&s, CLOSE_FIN_GRACEFUL, CLOSER_SERVER);
}

static void test_fin_simultaneous(void)
{
	struct script s;
	uint32_t cfin, sfin;

	script_init(&s, 100, 200);
	handshake(&s);
	cfin = s.nxt[FROM_CLIENT];
	sfin = s.nxt[FROM_SERVER];
	/* Both FINs leave before either arrives: each acks only the peer's data, not its FIN. */
	feed(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, cfin, sfin, 0);
	feed(&s, 0, FROM_SERVER, TCP_FIN | TCP_ACK, sfin, cfin, 0);
	feed(&s, 0, FROM_CLIENT, TCP_ACK, cfin + 1, sfin + 1, 0);
	feed(&s, 0, FROM_SERVER, TCP_ACK, sfin + 1, cfin + 1, 0);
	assert_class(&s, CLOSE_FIN_SIMULTANEOUS, CLOSER_BOTH);
	CU_ASSERT_EQUAL(s.flow->state[FROM_CLIENT], TCPS_TIME_WAIT);
	CU_ASSERT_EQUAL(s.flow->state[FROM_SERVER], TCPS_TIME_WAIT);
}

static void test_half_closed_at_end(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	for (int i = 0; i < 5; i++)
		send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 1448);
	assert_class(&s, CLOSE_HALF_CLOSED_AT_END, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.state[FROM_CLIENT], TCPS_FIN_WAIT_2);
	CU_ASSERT_EQUAL(rec.state[FROM_SERVER], TCPS_CLOSE_WAIT);
}

static void test_rst_unread_data(void)
{
	struct script s;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1448);
	send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	send(&s, 200, FROM_SERVER, TCP_RST | TCP_ACK, 0); /* close() with the 1448 bytes unread */
	assert_class(&s, CLOSE_RST_UNREAD_DATA, CLOSER_SERVER);
	CU_ASSERT_EQUAL(s.flow->state[FROM_SERVER], TCPS_CLOSED);
	CU_ASSERT_EQUAL(s.flow->state[FROM_CLIENT], TCPS_CLOSED);
}

/* Retransmitted bytes are not new: the unread count is what the client sent once. */
static void test_unread_bytes_count_retransmissions_once(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t seq;

	script_init(&s, 1, 2);
	handshake(&s);
	seq = s.nxt[FROM_CLIENT];
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1448);
	feed(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 1448);
	send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	send(&s, 100, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	assert_class(&s, CLOSE_RST_UNREAD_DATA, CLOSER_SERVER);
	classify(&s, &rec);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason_text(&rec), " 1448 bytes "));
	CU_ASSERT_EQUAL(rec.bytes[FROM_CLIENT], 2896); /* bytes on the wire count both */
}

static void test_rst_abort_after_answering(void)
{
	struct script s;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 20);
	send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 20);
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	send(&s, 5, FROM_SERVER, TCP_RST | TCP_ACK, 0); /* SO_LINGER 0 */
	assert_class(&s, CLOSE_RST_ABORT, CLOSER_SERVER);
}

static void test_rst_after_close(void)
{
	struct script s;
	uint32_t ack_of_data;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	send(&s, 100, FROM_SERVER, TCP_PSH | TCP_ACK, 100);
	/* Linux: bare RST, seq = the ack of the offending segment, tens of µs later. */
	ack_of_data = s.nxt[FROM_CLIENT];
	feed(&s, 0, FROM_CLIENT, TCP_RST, ack_of_data, 0, 0);
	assert_class(&s, CLOSE_RST_AFTER_CLOSE, CLOSER_CLIENT);
}

static void test_rst_peer_restarted(void)
{
	struct script s;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 50);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	send(&s, 3000, FROM_CLIENT, TCP_PSH | TCP_ACK, 50); /* server rebooted meanwhile */
	feed(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 0);
	assert_class(&s, CLOSE_RST_PEER_RESTARTED, CLOSER_SERVER);
}

static void test_rst_refused(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 77, 0);
	send(&s, 0, FROM_CLIENT, TCP_SYN, 0);
	feed(&s, 0, FROM_SERVER, TCP_RST | TCP_ACK, 0, 78, 0);
	assert_class(&s, CLOSE_RST_REFUSED, CLOSER_SERVER);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.handshake, HANDSHAKE_REFUSED);
}

static void test_syn_unanswered(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 77, 0);
	feed(&s, 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(&s, 1000, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(&s, 1000, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	assert_class(&s, CLOSE_SYN_UNANSWERED, CLOSER_NONE);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.handshake, HANDSHAKE_SYN_ONLY);
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_CLIENT], 2);
	CU_ASSERT_EQUAL(rec.state[FROM_CLIENT], TCPS_SYN_SENT);
}

static void test_keepalive_timeout(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t probe_seq;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	/* An answered probe first: the connection is alive. */
	probe_seq = s.nxt[FROM_CLIENT] - 1;
	feed(&s, 1000, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
	send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	/* Then the server vanishes: three unanswered probes, then RST+ACK with seq = next seq. */
	for (int i = 0; i < 3; i++)
		feed(&s, 1000, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
	send(&s, 1000, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
	assert_class(&s, CLOSE_KEEPALIVE_TIMEOUT, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.keepalive_probes, 4);
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_CLIENT], 0);
}

static void test_keepalive_answered_is_idle(void)
{
	struct script s;
	uint32_t probe_seq;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	probe_seq = s.nxt[FROM_CLIENT] - 1;
	for (int i = 0; i < 8; i++) {
		feed(&s, 1000, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
		send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	}
	assert_class(&s, CLOSE_IDLE_AT_END, CLOSER_NONE);
}

/* Windows and old BSDs probe with one garbage byte at next seq - 1 (RFC 1122 §4.2.3.6). */
static void test_keepalive_one_byte_probes(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t probe_seq;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 10);
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	probe_seq = s.nxt[FROM_SERVER] - 1;
	for (int i = 0; i < 5; i++)
		feed(&s, 1000, FROM_SERVER, TCP_ACK, probe_seq, s.nxt[FROM_CLIENT], 1);
	send(&s, 1000, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	assert_class(&s, CLOSE_KEEPALIVE_TIMEOUT, CLOSER_SERVER);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.keepalive_probes, 5);
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_SERVER], 0);
}

/* A zero-window probe has a keepalive's shape but answers a zero window: the receiver that
 * keeps answering with window 0 is alive (RFC 9293 §3.8.6.1). */
static void test_zero_window_probes_are_not_keepalives(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t probe_seq;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000);
	s.window[FROM_SERVER] = 0;
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	probe_seq = s.nxt[FROM_CLIENT] - 1;
	for (int i = 0; i < 4; i++) {
		feed(&s, 200 << i, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
		send(&s, 0, FROM_SERVER, TCP_ACK, 0);
	}
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.keepalive_probes, 0);
	CU_ASSERT_NOT_EQUAL(rec.close_class, CLOSE_KEEPALIVE_TIMEOUT);
	CU_ASSERT_EQUAL(s.flow->dir[FROM_SERVER].zero_windows, 1);
}

static void test_peer_vanished_retransmit_timeout(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t seq;
	int64_t gap = 200;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	seq = s.nxt[FROM_CLIENT];
	send(&s, 100, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000);
	for (int i = 0; i < 5; i++, gap *= 2)
		feed(&s, gap, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 1000);
	assert_class(&s, CLOSE_PEER_VANISHED, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "retransmit_timeout");
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_CLIENT], 5);
}

static void test_peer_vanished_heartbeat(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t seq;

	script_init(&s, 1, 2);
	handshake(&s);
	for (int i = 0; i < 6; i++) {
		send(&s, 300, FROM_CLIENT, TCP_PSH | TCP_ACK, 8);
		send(&s, 0, FROM_SERVER, TCP_PSH | TCP_ACK, 8);
		send(&s, 0, FROM_CLIENT, TCP_ACK, 0);
	}
	seq = s.nxt[FROM_CLIENT];
	send(&s, 300, FROM_CLIENT, TCP_PSH | TCP_ACK, 8);
	feed(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 8);
	feed(&s, 400, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 8);
	feed(&s, 800, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 8);
	assert_class(&s, CLOSE_PEER_VANISHED, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "heartbeat");
}

static void test_single_retransmission_answered_is_not_vanished(void)
{
	struct script s;
	uint32_t seq;

	script_init(&s, 1, 2);
	handshake(&s);
	seq = s.nxt[FROM_CLIENT];
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 100);
	feed(&s, 400, FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 100);
	send(&s, 1, FROM_SERVER, TCP_ACK, 0); /* the server was alive after all */
	assert_class(&s, CLOSE_OPEN_AT_END, CLOSER_NONE);
}

static void test_open_and_idle_at_end(void)
{
	struct script s;
	struct classify_context ctx = { .idle_ns = 5000 * MS };
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 1448);
	ctx.capture_end_ns = s.now + 10 * MS;
	classify_script(&s, &ctx, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_OPEN_AT_END);
	CU_ASSERT_EQUAL(rec.closer, CLOSER_NONE);
	ctx.capture_end_ns = s.now + 6000 * MS;
	classify_script(&s, &ctx, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_IDLE_AT_END);
}

static void test_sequence_wraps(void)
{
	struct script s;
	struct flow_record rec;

	/* Both ISNs just below 2^32: data and FINs cross the wrap. */
	script_init(&s, 0xFFFFFF00u, 0xFFFFFFF0u);
	handshake(&s);
	for (int i = 0; i < 4; i++) {
		send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 200);
		send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	}
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	assert_class(&s, CLOSE_FIN_GRACEFUL, CLOSER_CLIENT);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.retransmissions[FROM_CLIENT], 0);
	CU_ASSERT_EQUAL(rec.modifiers & MOD_CAPTURE_GAP, 0);
}

static void test_midstream_roles_and_gap(void)
{
	struct script s;
	struct flow_record rec;
	struct tcp_segment seg;

	/* First packet seen goes from the server (port 8080) to an ephemeral port. */
	script_init(&s, 1000, 2000);
	send(&s, 0, FROM_SERVER, TCP_PSH | TCP_ACK, 100);
	CU_ASSERT(s.flow->mark & LIVE_ROLES_INFERRED);
	seg = make_seg(FROM_SERVER, TCP_ACK, 0, 0, 0);
	CU_ASSERT_EQUAL(flow_direction_of(&store, s.flow, &seg), FROM_SERVER);
	/* The client acknowledges 5000 bytes the capture never showed. */
	feed(&s, 1, FROM_CLIENT, TCP_ACK, s.nxt[FROM_CLIENT], s.nxt[FROM_SERVER] + 5000, 0);
	classify(&s, &rec);
	CU_ASSERT(rec.modifiers & MOD_MIDSTREAM);
	CU_ASSERT(rec.modifiers & MOD_CAPTURE_GAP);
	CU_ASSERT_EQUAL(rec.handshake, HANDSHAKE_MIDSTREAM);
	CU_ASSERT_EQUAL(rec.client.port, 40001);
}

static void test_port_reuse_detection(void)
{
	struct script s;
	struct tcp_segment syn;

	script_init(&s, 1, 2);
	handshake(&s);
	syn = make_seg(FROM_CLIENT, TCP_SYN, 1, 0, 0);
	CU_ASSERT_FALSE(flow_is_reused_by(s.flow, &syn, FROM_CLIENT)); /* retransmitted SYN */
	syn.seq = 123456;
	CU_ASSERT_TRUE(flow_is_reused_by(s.flow, &syn, FROM_CLIENT));
	syn.flags = TCP_SYN | TCP_ACK;
	CU_ASSERT_FALSE(flow_is_reused_by(s.flow, &syn, FROM_CLIENT));
}

static void test_rst_from_middlebox_ttl(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	s.ttl[FROM_SERVER] = 61; /* forged three hops closer than the server */
	send(&s, 1, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT(rec.modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT(rec.diagnosis.middlebox.present);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.claimed, FROM_SERVER);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.expected_ttl, 64);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.seen_ttl, 61);
	CU_ASSERT(rec.diagnosis.middlebox.ttl_mismatch);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.frame, 5);
	/* The 10 bytes the "server" left unanswered say nothing about its application: the server
	 * did not send this reset. Its shape (RST+ACK) gives rst_abort. */
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_ABORT);
	CU_ASSERT_EQUAL(rec.closer, CLOSER_SERVER);
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason_text(&rec), "came from the path"));
}

/* iptables REJECT --reject-with tcp-reset in a router: a bare RST with the router's TTL (64)
 * where the server's packets arrive with 63 (samples: rst_middlebox). */
static void test_rst_from_middlebox_bare_reject(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	s.ttl[FROM_SERVER] = 63;
	handshake(&s);
	exchange(&s);
	send(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed_forged(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 64, 0);
	classify(&s, &rec);
	CU_ASSERT(rec.modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_PEER_RESTARTED);
	CU_ASSERT_EQUAL(rec.closer, CLOSER_SERVER);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.expected_ttl, 63);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.seen_ttl, 64);
	/* 200 ms of quiet is no idle timeout. */
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT_FALSE(rec.diagnosis.idle_timeout.present);
	CU_ASSERT_EQUAL(rec.diagnosis.stack[FROM_SERVER].hops, 1);
}

/* An IPS that copies the server's TTL but not its IP ID sequence (samples: rst_injected). */
static void test_rst_from_middlebox_ip_id(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	s.ip_id[FROM_CLIENT] = 1000;
	s.ip_id[FROM_SERVER] = 50000;
	handshake(&s);
	for (int i = 0; i < 3; i++)
		exchange(&s);
	send(&s, 100, FROM_CLIENT, TCP_PSH | TCP_ACK, 101);
	feed_forged(&s, 0, FROM_SERVER, TCP_RST | TCP_ACK, s.nxt[FROM_SERVER], s.nxt[FROM_CLIENT],
	            64, 31337);
	classify(&s, &rec);
	CU_ASSERT(rec.modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_FALSE(rec.diagnosis.middlebox.ttl_mismatch);
	CU_ASSERT(rec.diagnosis.middlebox.has_ip_id);
	CU_ASSERT(rec.diagnosis.middlebox.ip_id_mismatch);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.seen_ip_id, 31337);
	CU_ASSERT_EQUAL(rec.diagnosis.middlebox.expected_ip_id, s.ip_id[FROM_SERVER]);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_ABORT);
}

/* The endpoints' own resets fit: a socket's RST+ACK continues its IDs, a kernel's bare RST has
 * ID 0; a side with random IDs tells nothing. */
static void test_genuine_resets_are_not_middlebox(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	s.ip_id[FROM_CLIENT] = 1000;
	s.ip_id[FROM_SERVER] = 65530; /* wraps through 0 */
	handshake(&s);
	for (int i = 0; i < 3; i++)
		exchange(&s);
	send(&s, 5, FROM_SERVER, TCP_RST | TCP_ACK, 0); /* SO_LINGER 0: the socket's next ID */
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_FALSE(rec.diagnosis.middlebox.present);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_ABORT);

	script_init(&s, 1, 2);
	s.ip_id[FROM_CLIENT] = 1000;
	s.ip_id[FROM_SERVER] = 20000;
	handshake(&s);
	for (int i = 0; i < 3; i++)
		exchange(&s);
	send(&s, 300, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 0); /* lost state: ID 0 */
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.middlebox.present);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_PEER_RESTARTED);

	/* A host-wide counter (steps above 1) read long before the reset: the host's other
	 * traffic may have moved it anywhere (Windows). */
	script_init(&s, 1, 2);
	s.ip_id[FROM_CLIENT] = 1000;
	s.ip_id[FROM_SERVER] = 20000;
	handshake(&s);
	for (int i = 0; i < 3; i++) {
		exchange(&s);
		s.ip_id[FROM_SERVER] += 5;
	}
	send(&s, 30000, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed_forged(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 64, 45000);
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.middlebox.present);

	script_init(&s, 1, 2);
	s.ip_id[FROM_SERVER] = 4000;
	s.ip_id_random[FROM_SERVER] = true;
	handshake(&s);
	for (int i = 0; i < 3; i++)
		exchange(&s);
	feed_forged(&s, 5, FROM_SERVER, TCP_RST | TCP_ACK, s.nxt[FROM_SERVER], s.nxt[FROM_CLIENT],
	            64, 12345);
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.middlebox.present);
}

/* A stateful firewall forgot the idle connection and drops its packets (samples:
 * middlebox_idle_drop): peer_vanished, detail middlebox_idle_timeout. */
static void test_middlebox_idle_drop(void)
{
	struct script s;
	struct flow_record rec;
	const struct endpoint_timers *t;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	unanswered_data(&s, 6000, 4);
	classify_later(&s, 6000, 0, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_PEER_VANISHED);
	CU_ASSERT_EQUAL(rec.closer, CLOSER_CLIENT);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "middlebox_idle_timeout");
	CU_ASSERT(rec.diagnosis.idle_timeout.present);
	CU_ASSERT_EQUAL(rec.diagnosis.idle_timeout.from, FROM_CLIENT);
	CU_ASSERT_EQUAL(rec.diagnosis.idle_timeout.idle_ns, 6000 * MS);
	CU_ASSERT_FALSE(rec.diagnosis.idle_timeout.reset);
	/* Its timers: TLP, then 4 RTOs from 208 ms, then silence: tcp_retries2 3 or 4, or a user
	 * timeout between the 4th RTO (2.9 s after the first) and the 5th (6.2 s). */
	t = &rec.diagnosis.timers[FROM_CLIENT];
	CU_ASSERT(t->rto_seen);
	CU_ASSERT(t->tail_loss_probe);
	CU_ASSERT_EQUAL(t->rto_retransmissions, 4);
	CU_ASSERT_EQUAL(t->initial_rto_ms, 208);
	CU_ASSERT(t->rto_gave_up);
	CU_ASSERT(t->tcp_retries2.known);
	CU_ASSERT_EQUAL(t->tcp_retries2.min, 3);
	CU_ASSERT_EQUAL(t->tcp_retries2.max, 4);
	CU_ASSERT(t->user_timeout_ms.min <= 3000 && t->user_timeout_ms.max >= 6000);
	CU_ASSERT(t->user_timeout_ms.min > 2500 && t->user_timeout_ms.max < 7000);

	/* The same silence while the capture is too short to show the give-up: lower bounds. */
	classify_later(&s, 1000, 0, &rec);
	t = &rec.diagnosis.timers[FROM_CLIENT];
	CU_ASSERT_FALSE(t->rto_gave_up);
	CU_ASSERT_EQUAL(t->tcp_retries2.min, 3);
	CU_ASSERT_EQUAL(t->tcp_retries2.max, TIMER_NO_MAX);
}

/* Quiet periods that are not idle timeouts: too short, or no longer than the connection's
 * usual pace (a timeout shorter than that would have struck earlier). */
static void test_short_or_usual_idle_is_not_middlebox(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	unanswered_data(&s, 2000, 4);
	classify_later(&s, 6000, 0, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_PEER_VANISHED);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "retransmit_timeout");
	CU_ASSERT_FALSE(rec.diagnosis.idle_timeout.present);

	script_init(&s, 1, 2);
	handshake(&s);
	for (int i = 0; i < 4; i++) {
		send(&s, 8000, FROM_CLIENT, TCP_PSH | TCP_ACK, 1000);
		send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 1000);
	}
	unanswered_data(&s, 8000, 4);
	classify_later(&s, 6000, 0, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_PEER_VANISHED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec.close_detail);
	CU_ASSERT_STRING_NOT_EQUAL(rec.close_detail, "middlebox_idle_timeout");
	CU_ASSERT_FALSE(rec.diagnosis.idle_timeout.present);
}

/* The firewall rejects instead (samples: middlebox_idle_reset): its reset after the idle. */
static void test_middlebox_idle_reset(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	s.ttl[FROM_SERVER] = 63;
	handshake(&s);
	exchange(&s);
	send(&s, 6000, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed_forged(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 64, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_PEER_RESTARTED);
	CU_ASSERT(rec.modifiers & MOD_RST_FROM_MIDDLEBOX);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "middlebox_idle_timeout");
	CU_ASSERT(rec.diagnosis.idle_timeout.present);
	CU_ASSERT(rec.diagnosis.idle_timeout.reset);
	CU_ASSERT_EQUAL(rec.diagnosis.idle_timeout.idle_ns, 6000 * MS);

	/* The server's own reset after the same silence: a lost connection, not the path. */
	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	send(&s, 6000, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed(&s, 0, FROM_SERVER, TCP_RST, s.nxt[FROM_SERVER], 0, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_PEER_RESTARTED);
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT_FALSE(rec.diagnosis.idle_timeout.present);
}

/* Keepalive probes after a long idle, all unanswered, then the prober's reset (samples:
 * keepalive_middlebox); its keepalive settings. */
static void test_keepalive_after_long_idle(void)
{
	struct script s;
	struct flow_record rec;
	const struct endpoint_timers *t;
	uint32_t probe_seq;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	probe_seq = s.nxt[FROM_CLIENT] - 1;
	feed(&s, 7000, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
	for (int i = 0; i < 2; i++)
		feed(&s, 1000, FROM_CLIENT, TCP_ACK, probe_seq, s.nxt[FROM_SERVER], 0);
	send(&s, 1000, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_KEEPALIVE_TIMEOUT);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "middlebox_idle_timeout");
	CU_ASSERT(rec.diagnosis.idle_timeout.present);
	t = &rec.diagnosis.timers[FROM_CLIENT];
	CU_ASSERT(t->keepalive_seen);
	CU_ASSERT_EQUAL(t->keepalive_time_s.min, 7);
	CU_ASSERT_EQUAL(t->keepalive_time_s.max, 7);
	CU_ASSERT_EQUAL(t->keepalive_intvl_s.min, 1);
	CU_ASSERT_EQUAL(t->keepalive_intvl_s.max, 1);
	CU_ASSERT_EQUAL(t->keepalive_probes.min, 3);
	CU_ASSERT_EQUAL(t->keepalive_probes.max, 3);
}

/* A server that read the client's FIN and never closed (samples: close_wait_stuck). */
static void test_close_wait_stuck(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 40, FROM_SERVER, TCP_ACK, 0);
	classify_later(&s, 70000, 0, &rec); /* default threshold, 60 s */
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_HALF_CLOSED_AT_END);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "close_wait_stuck");
	CU_ASSERT(rec.diagnosis.close_wait.present);
	CU_ASSERT_EQUAL(rec.diagnosis.close_wait.side, FROM_SERVER);
	CU_ASSERT_EQUAL(rec.diagnosis.close_wait.duration_ns, 70000 * MS);
	CU_ASSERT(rec.diagnosis.close_wait.still_open);
	CU_ASSERT_PTR_NOT_NULL(strstr(reason_text(&rec), "CLOSE-WAIT"));

	classify_later(&s, 70000, 100000, &rec); /* --close-wait 100 */
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT_FALSE(rec.diagnosis.close_wait.present);
	classify_later(&s, 7000, 5000, &rec); /* --close-wait 5 */
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "close_wait_stuck");
}

/* Sending after the peer's FIN is a half-close in use, not a leak; closing late is reported
 * without a detail. */
static void test_close_wait_streaming_and_late_close(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	for (int i = 0; i < 8; i++) {
		send(&s, 10000, FROM_SERVER, TCP_PSH | TCP_ACK, 1000);
		send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	}
	classify_later(&s, 1000, 0, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_HALF_CLOSED_AT_END);
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT_FALSE(rec.diagnosis.close_wait.present);

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 40, FROM_SERVER, TCP_ACK, 0);
	send(&s, 75000, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 0, FROM_CLIENT, TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_FIN_GRACEFUL);
	CU_ASSERT_PTR_NULL(rec.close_detail);
	CU_ASSERT(rec.diagnosis.close_wait.present);
	CU_ASSERT_FALSE(rec.diagnosis.close_wait.still_open);
	CU_ASSERT_EQUAL(rec.diagnosis.close_wait.duration_ns, 75000 * MS);
	CU_ASSERT_EQUAL(rec.diagnosis.time_wait, CLOSER_CLIENT);
}

/* The server's FIN after the client's FIN-WAIT-2 expired meets a socket-less reset (samples:
 * timers_fin_timeout); one within it is acknowledged. */
static void test_fin_wait_2_timeout(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 40, FROM_SERVER, TCP_ACK, 0);
	send(&s, 3460, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	feed(&s, 0, FROM_CLIENT, TCP_RST, s.nxt[FROM_CLIENT], 0, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_RST_AFTER_CLOSE);
	CU_ASSERT_EQUAL(rec.closer, CLOSER_CLIENT);
	CU_ASSERT_STRING_EQUAL(rec.close_detail, "fin_wait_2_timeout");
	CU_ASSERT(rec.diagnosis.timers[FROM_CLIENT].fin_timeout_s.known);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].fin_timeout_s.min, TIMER_NO_MIN);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].fin_timeout_s.max, 3);

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 40, FROM_SERVER, TCP_ACK, 0);
	send(&s, 1460, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 0, FROM_CLIENT, TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_FIN_GRACEFUL);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].fin_timeout_s.min, 2);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].fin_timeout_s.max, TIMER_NO_MAX);
}

/* Who holds TIME-WAIT, and a reuse of the 4-tuple while it may still be held. */
static void test_time_wait(void)
{
	struct script s;
	struct flow_record rec;
	uint32_t cfin, sfin;

	script_init(&s, 1, 2);
	handshake(&s);
	exchange(&s);
	server_closes_first(&s, 1, 0);
	CU_ASSERT_EQUAL(live_time_wait_side(s.flow), CLOSER_SERVER);

	script_init(&s, 100, 200);
	handshake(&s);
	cfin = s.nxt[FROM_CLIENT];
	sfin = s.nxt[FROM_SERVER];
	feed(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, cfin, sfin, 0);
	feed(&s, 0, FROM_SERVER, TCP_FIN | TCP_ACK, sfin, cfin, 0);
	feed(&s, 0, FROM_CLIENT, TCP_ACK, cfin + 1, sfin + 1, 0);
	feed(&s, 0, FROM_SERVER, TCP_ACK, sfin + 1, cfin + 1, 0);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.diagnosis.time_wait, CLOSER_BOTH);

	/* A new connection on a 4-tuple whose last one the client held in TIME-WAIT 1.3 s ago
	 * (samples: time_wait_reuse): reported, and the client's tcp_tw_reuse with it. */
	script_init(&s, 1, 2);
	send(&s, 0, FROM_CLIENT, TCP_SYN, 0);
	flow_note_reuse(&store, s.flow, 1300 * MS, CLOSER_CLIENT);
	send(&s, 0, FROM_SERVER, TCP_SYN | TCP_ACK, 0);
	send(&s, 0, FROM_CLIENT, TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT(rec.diagnosis.time_wait_reuse.present);
	CU_ASSERT_EQUAL(rec.diagnosis.time_wait_reuse.side, CLOSER_CLIENT);
	CU_ASSERT_EQUAL(rec.diagnosis.time_wait_reuse.gap_ns, 1300 * MS);
	CU_ASSERT(rec.diagnosis.time_wait_reuse.accepted);
	CU_ASSERT(rec.diagnosis.timers[FROM_CLIENT].tw_reuse);

	/* Nobody held TIME-WAIT (it ended in a reset), or it is long over: nothing to report. */
	flow_note_reuse(&store, s.flow, 1300 * MS, CLOSER_NONE);
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.time_wait_reuse.present);
	flow_note_reuse(&store, s.flow, 300000 * MS, CLOSER_SERVER);
	classify(&s, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.time_wait_reuse.present);
}

/* SYN retries, against Linux's budget (samples: syn_unanswered, timers_syn_retries). */
static void test_syn_retries(void)
{
	struct script s;
	struct flow_record rec;
	const struct endpoint_timers *t;

	script_init(&s, 77, 0);
	for (int i = 0; i < 3; i++)
		feed(&s, i ? 1016 : 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	classify_later(&s, 2000, 0, &rec);
	t = &rec.diagnosis.timers[FROM_CLIENT];
	CU_ASSERT(t->syn_seen);
	CU_ASSERT_EQUAL(t->syn_retransmissions, 2);
	CU_ASSERT(t->syn_linear);
	CU_ASSERT(t->syn_gave_up);
	CU_ASSERT_EQUAL(t->tcp_syn_retries.min, 1);
	CU_ASSERT_EQUAL(t->tcp_syn_retries.max, 1);
	/* The capture ends before the next SYN was due: only a lower bound. */
	classify_later(&s, 500, 0, &rec);
	CU_ASSERT_FALSE(rec.diagnosis.timers[FROM_CLIENT].syn_gave_up);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.min, 1);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.max, TIMER_NO_MAX);

	/* One retransmission, then silence: the application (or an old kernel) gave up; nothing
	 * more than the lower bound (samples: syn_unanswered_variants_v6, 40001). */
	script_init(&s, 77, 0);
	feed(&s, 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(&s, 1020, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	classify_later(&s, 5000, 0, &rec);
	CU_ASSERT(rec.diagnosis.timers[FROM_CLIENT].syn_gave_up);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.min, 1);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.max, TIMER_NO_MAX);

	script_init(&s, 77, 0);
	for (int i = 0; i < 6; i++)
		feed(&s, i ? 1010 : 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	classify_later(&s, 3000, 0, &rec);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.min, 2);
	CU_ASSERT_EQUAL(rec.diagnosis.timers[FROM_CLIENT].tcp_syn_retries.max, 2);
}

/* A server whose SYN+ACK is never acknowledged retries it by count, doubling from 1 s
 * (inet_rtx_syn_ack): giving up after 3 says tcp_synack_retries 3. */
static void test_synack_retries(void)
{
	struct script s;
	struct flow_record rec;
	const struct endpoint_timers *t;
	int64_t gap = 1000;

	script_init(&s, 77, 500);
	feed(&s, 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(&s, 0, FROM_SERVER, TCP_SYN | TCP_ACK, 500, 78, 0);
	for (int i = 0; i < 3; i++, gap *= 2)
		feed(&s, gap, FROM_SERVER, TCP_SYN | TCP_ACK, 500, 78, 0);
	classify_later(&s, 12000, 0, &rec);
	t = &rec.diagnosis.timers[FROM_SERVER];
	CU_ASSERT(t->syn_seen);
	CU_ASSERT(t->synack);
	CU_ASSERT_FALSE(t->syn_linear);
	CU_ASSERT_EQUAL(t->syn_retransmissions, 3);
	CU_ASSERT(t->syn_gave_up);
	CU_ASSERT_EQUAL(t->tcp_syn_retries.min, 3);
	CU_ASSERT_EQUAL(t->tcp_syn_retries.max, 3);
	CU_ASSERT_FALSE(rec.diagnosis.timers[FROM_CLIENT].any);
}

static void test_linux_budget(void)
{
	CU_ASSERT_EQUAL(timers_linux_budget_ms(15, 200), 924600); /* tcp_retries2 default */
	CU_ASSERT_EQUAL(timers_linux_budget_ms(3, 200), 3000);
	CU_ASSERT_EQUAL(timers_linux_budget_ms(9, 200), 204600);
	CU_ASSERT_EQUAL(timers_linux_budget_ms(6, 1000), 127000); /* tcp_syn_retries default */
	CU_ASSERT_EQUAL(timers_linux_budget_ms(7, 1000), 247000);
}

/* The family from the initial TTL and the SYN's option layout. */
static void test_stack_family(void)
{
	struct script s;
	struct flow_record rec;

	script_init(&s, 1, 2);
	s.ttl[FROM_CLIENT] = 126;                 /* Windows, two hops away */
	s.syn_order[FROM_CLIENT] = 0x411312;      /* mss nop wscale nop nop sackOK */
	s.syn_order[FROM_SERVER] = 0x74611312;    /* macOS: mss nop wscale nop nop TS sackOK eol */
	handshake(&s);
	classify(&s, &rec);
	CU_ASSERT_STRING_EQUAL(rec.diagnosis.stack[FROM_CLIENT].family, "windows");
	CU_ASSERT_EQUAL(rec.diagnosis.stack[FROM_CLIENT].initial_ttl, 128);
	CU_ASSERT_EQUAL(rec.diagnosis.stack[FROM_CLIENT].hops, 2);
	CU_ASSERT_STRING_EQUAL(rec.diagnosis.stack[FROM_SERVER].family, "macos_bsd");

	script_init(&s, 1000, 2000);
	s.ttl[FROM_SERVER] = 250;
	send(&s, 0, FROM_SERVER, TCP_PSH | TCP_ACK, 100); /* midstream: no SYN */
	send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
	classify(&s, &rec);
	CU_ASSERT_STRING_EQUAL(rec.diagnosis.stack[FROM_CLIENT].family, "unix_like");
	CU_ASSERT_STRING_EQUAL(rec.diagnosis.stack[FROM_SERVER].family, "other");
	CU_ASSERT_EQUAL(rec.diagnosis.stack[FROM_SERVER].hops, 5);
}

/* A tombstone keeps when its connection went quiet and who held TIME-WAIT. */
static void test_tombstone_info(void)
{
	struct flow_table *t = flow_table_create(7, &store);
	struct script s;
	struct grave_info info = { 0 };
	struct tcp_segment syn = make_seg(FROM_CLIENT, TCP_SYN, 999, 0, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	script_init(&s, 1, 2);
	handshake(&s);
	send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(&s, 0, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(&s, 0, FROM_CLIENT, TCP_ACK, 0);
	s.flow->hash = flow_table_hash(t, &syn);
	CU_ASSERT_EQUAL(flow_table_bury(t, s.flow, s.now + 70000 * MS), 0);
	CU_ASSERT(flow_table_grave(t, &syn, s.flow->hash, false, &info));
	CU_ASSERT_EQUAL(info.time_wait, CLOSER_CLIENT);
	CU_ASSERT(info.last_ts_ns <= s.now && s.now - info.last_ts_ns < 10 * MS);
	flow_table_destroy(t);
}

static void test_window_scaling(void)
{
	struct script s;

	script_init(&s, 1, 2);
	handshake(&s);
	s.window[FROM_SERVER] = 100;
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	CU_ASSERT_EQUAL(s.flow->dir[FROM_SERVER].window, 100u << 7);
	s.window[FROM_SERVER] = 0;
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	CU_ASSERT_EQUAL(s.flow->dir[FROM_SERVER].zero_windows, 1);
}

/* --- the fast path equals the general path ---------------------------------------------------- */

/* Two copies of one flow, the first fed through tracker_segment (its fast path where it applies),
 * the second through the general path alone; both stores make the same allocations in the same
 * order, so the flows and their blocks must be the same bytes after every segment. */
struct twin {
	struct flow_store *st[2];
	struct live_flow *f[2];
};

static bool same_bytes(const void *a, const void *b, size_t n)
{
	return (a == NULL) == (b == NULL) && (a == NULL || memcmp(a, b, n) == 0);
}

static bool twins_equal(const struct twin *t)
{
	const struct live_flow *a = t->f[0], *b = t->f[1];
	const struct live_rare *ra = live_rare_of(t->st[0], a), *rb = live_rare_of(t->st[1], b);
	const struct live_sched *sa = live_sched_of(t->st[0], a), *sb = live_sched_of(t->st[1], b);

	if (memcmp(a, b, sizeof *a) != 0)
		return false;
	if (!same_bytes(live_fin_of(t->st[0], a), live_fin_of(t->st[1], b), sizeof(struct live_fin)) ||
	    !same_bytes(ra, rb, sizeof *ra) ||
	    (sa && !same_bytes(sa, sb, LIVE_SCHED_BYTES(LIVE_SCHED_POOL(a->sched)))))
		return false;
	return !ra || !ra->far ||
	       same_bytes(live_far_of(t->st[0], ra), live_far_of(t->st[1], rb),
	                  sizeof(struct live_far));
}

/* One random conversation of `n` segments: mostly what a real one carries (in-order data and
 * ACKs), with what takes the general path mixed in (SYNs, FINs, resets, retransmissions,
 * keepalive probes, old or future ACKs, zero windows, pauses over 4.6 minutes, time going
 * backwards, TTL and IP ID changes, truncation). Returns how many segments took the fast path. */
static unsigned random_conversation(struct twin *t, uint64_t *rng, unsigned n, bool handshake_first)
{
	uint32_t nxt[2] = { (uint32_t)xorshift64s(rng), (uint32_t)xorshift64s(rng) };
	uint16_t ip_id[2] = { 1000, 0 };
	int64_t now = T0;
	unsigned fast = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t r = xorshift64s(rng);
		enum flow_direction d = (r & 1) ? FROM_SERVER : FROM_CLIENT;
		unsigned kind = (unsigned)(r >> 8) % 100;
		uint8_t flags = TCP_ACK;
		uint32_t seq = nxt[d], ack = nxt[!d], len = 0;
		struct tcp_segment seg;

		if (i == 0 && handshake_first) {
			d = FROM_CLIENT;
			kind = 200;
			flags = TCP_SYN;
			seq = nxt[d];
			ack = 0;
		} else if (i == 1 && handshake_first) {
			d = FROM_SERVER;
			kind = 200;
			flags = TCP_SYN | TCP_ACK;
			seq = nxt[d];
			ack = nxt[!d];
		} else if (kind < 35) {
			len = 1 + (unsigned)(r >> 20) % 1448;
			flags |= TCP_PSH;
		} else if (kind < 70) {
			/* a pure ACK */
		} else if (kind < 75) {
			seq -= 1 + (unsigned)(r >> 20) % 3000; /* a retransmission */
			len = 1 + (unsigned)(r >> 32) % 1448;
		} else if (kind < 78) {
			seq -= 1; /* a keepalive probe, or a zero-window probe */
			len = (r >> 20) & 1;
		} else if (kind < 81) {
			ack -= (unsigned)(r >> 20) % 5000; /* an old ACK */
		} else if (kind < 83) {
			ack += 1 + (unsigned)(r >> 20) % 5000; /* bytes the capture missed */
		} else if (kind < 86) {
			flags |= TCP_FIN;
			len = (r >> 20) & 1 ? 10 : 0;
		} else if (kind < 87) {
			flags = (r >> 20) & 1 ? TCP_RST : TCP_RST | TCP_ACK;
		} else if (kind < 88) {
			flags = TCP_SYN; /* a SYN again: a retry, or a new ISN */
			if ((r >> 20) & 1)
				seq = (uint32_t)xorshift64s(rng);
			ack = 0;
		} else if (kind < 90) {
			flags = 0; /* no ACK at all */
			len = (r >> 20) & 1 ? 100 : 0;
		} else if (kind < 93) {
			seq += 1 + (unsigned)(r >> 20) % 3000; /* a gap: data the capture missed */
			len = 1 + (unsigned)(r >> 32) % 100;
		}
		seg = make_seg(d, flags, seq, ack, len);
		seg.window = (r >> 40) % 10 == 0 ? 0 : (uint16_t)(r >> 44);
		seg.ttl = (r >> 50) % 40 == 0 ? 50 : 64;
		seg.ip_id = (r >> 52) % 30 == 0 ? (uint16_t)(r >> 24) : ip_id[d]++;
		seg.truncated = (r >> 56) % 50 == 0;
		if (flags & TCP_SYN)
			seg.option_order = 0x31642;
		switch ((r >> 58) % 32) {
		case 0:
			now += 300LL * 1000 * MS; /* past LIVE_T_NS's reach */
			break;
		case 1:
			now -= 3 * MS; /* out of order in time */
			break;
		case 2:
			now += 10LL * 1000 * MS; /* past Zeek's close delay */
			break;
		default:
			now += (int64_t)((r >> 12) % 50000) * 1000;
			break;
		}
		if (i == 0) {
			for (int k = 0; k < 2; k++) {
				t->f[k] = flow_store_new(t->st[k]);
				CU_ASSERT_FATAL(t->f[k] && flow_init(t->st[k], t->f[k], 100, &seg, "test.pcap",
				                                     false, 0));
			}
		}
		d = flow_direction_of(t->st[0], t->f[0], &seg);
		if (tracker_fast_path_applies(t->f[0], &seg, d, now))
			fast++;
		tracker_segment(t->st[0], t->f[0], &seg, d, now, 100 + i);
		tracker_segment_general(t->st[1], t->f[1], &seg, d, now, 100 + i);
		if (!twins_equal(t)) {
			CU_FAIL("the fast path left the flow unlike the general path");
			fprintf(stderr, "\n  segment %u: flags %#x len %u kind %u\n", i, flags, len, kind);
			return fast;
		}
		if (!(flags & (TCP_RST | TCP_SYN)) && seq_ge(seq + len, nxt[d]))
			nxt[d] = seq + len + ((flags & TCP_FIN) ? 1 : 0);
		else if ((flags & TCP_SYN) && seq != nxt[d])
			nxt[d] = seq + 1;
		else if (flags & TCP_SYN)
			nxt[d] = seq + 1;
	}
	return fast;
}

static void test_fast_path_equals_general(void)
{
	uint64_t rng = 0x5eed15u;
	unsigned fast = 0, total = 0;

	for (int zeek = 0; zeek < 2; zeek++) {
		struct flow_store st[2];
		struct twin t = { { &st[0], &st[1] }, { NULL, NULL } };

		for (int k = 0; k < 2; k++) {
			flow_store_init(&st[k]);
			st[k].skip_zeek = zeek == 0;
		}
		for (int c = 0; c < 400; c++) {
			unsigned n = 2 + (unsigned)(xorshift64s(&rng) % 60);

			fast += random_conversation(&t, &rng, n, c % 4 != 0);
			total += n;
			for (int k = 0; k < 2; k++)
				flow_store_free(t.st[k], t.f[k]);
		}
		for (int k = 0; k < 2; k++)
			flow_store_destroy(&st[k]);
	}
	/* Both paths were taken, many times each: the comparison covered them. */
	CU_ASSERT(fast > total / 5);
	CU_ASSERT(fast < total * 3 / 4);
}

/* The plain exchange of a keep-alive HTTP connection goes the fast way after the handshake: all
 * but the SYNs, the FINs and what acknowledges a FIN. */
static void test_fast_path_takes_the_common_segments(void)
{
	struct script s;
	unsigned fast = 0;

	script_init(&s, 1000, 5000);
	handshake(&s);
	for (int i = 0; i < 3; i++) {
		struct tcp_segment req = make_seg(FROM_CLIENT, TCP_PSH | TCP_ACK, s.nxt[FROM_CLIENT],
		                                  s.nxt[FROM_SERVER], 64);
		struct tcp_segment resp = make_seg(FROM_SERVER, TCP_PSH | TCP_ACK, s.nxt[FROM_SERVER],
		                                   s.nxt[FROM_CLIENT] + 64, 300);

		fast += tracker_fast_path_applies(s.flow, &req, FROM_CLIENT, s.now + MS);
		send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);
		fast += tracker_fast_path_applies(s.flow, &resp, FROM_SERVER, s.now);
		send(&s, 0, FROM_SERVER, TCP_PSH | TCP_ACK, 300);
	}
	CU_ASSERT_EQUAL(fast, 6);
	send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	{
		struct tcp_segment ack = make_seg(FROM_CLIENT, TCP_ACK, s.nxt[FROM_CLIENT],
		                                  s.nxt[FROM_SERVER], 0);

		CU_ASSERT_FALSE(tracker_fast_path_applies(s.flow, &ack, FROM_CLIENT, s.now));
	}
	assert_class(&s, CLOSE_HALF_CLOSED_AT_END, CLOSER_SERVER);
}

CUNIT_TESTS(tracker_tests,
	    { "fin_graceful, client first", test_fin_graceful_client_first },
	    { "fin_graceful, server first, delayed ACK", test_fin_graceful_server_first_with_delayed_ack },
	    { "fin_simultaneous", test_fin_simultaneous },
	    { "half_closed_at_end", test_half_closed_at_end },
	    { "rst_unread_data", test_rst_unread_data },
	    { "unread bytes count retransmissions once", test_unread_bytes_count_retransmissions_once },
	    { "rst_abort after answering", test_rst_abort_after_answering },
	    { "rst_after_close", test_rst_after_close },
	    { "rst_peer_restarted", test_rst_peer_restarted },
	    { "rst_refused", test_rst_refused },
	    { "syn_unanswered", test_syn_unanswered },
	    { "keepalive_timeout", test_keepalive_timeout },
	    { "answered keepalives are idle", test_keepalive_answered_is_idle },
	    { "keepalive with one-byte probes", test_keepalive_one_byte_probes },
	    { "zero-window probes are not keepalives", test_zero_window_probes_are_not_keepalives },
	    { "peer_vanished retransmit_timeout", test_peer_vanished_retransmit_timeout },
	    { "peer_vanished heartbeat", test_peer_vanished_heartbeat },
	    { "answered retransmissions are not a vanished peer", test_single_retransmission_answered_is_not_vanished },
	    { "open_at_end and idle_at_end", test_open_and_idle_at_end },
	    { "sequence numbers wrap through 2^32", test_sequence_wraps },
	    { "midstream roles and capture gap", test_midstream_roles_and_gap },
	    { "port reuse detection", test_port_reuse_detection },
	    { "reset with a foreign TTL", test_rst_from_middlebox_ttl },
	    { "REJECT's bare reset with the router's TTL", test_rst_from_middlebox_bare_reject },
	    { "injected reset with a foreign IP ID", test_rst_from_middlebox_ip_id },
	    { "the endpoints' own resets fit", test_genuine_resets_are_not_middlebox },
	    { "middlebox idle timeout, dropped", test_middlebox_idle_drop },
	    { "short or usual quiet is no idle timeout", test_short_or_usual_idle_is_not_middlebox },
	    { "middlebox idle timeout, reset", test_middlebox_idle_reset },
	    { "keepalive after a long idle", test_keepalive_after_long_idle },
	    { "stuck CLOSE-WAIT", test_close_wait_stuck },
	    { "half-close in use, late close", test_close_wait_streaming_and_late_close },
	    { "FIN-WAIT-2 timeout", test_fin_wait_2_timeout },
	    { "TIME-WAIT side and reuse", test_time_wait },
	    { "SYN retries", test_syn_retries },
	    { "SYN+ACK retries", test_synack_retries },
	    { "Linux retransmission budget", test_linux_budget },
	    { "stack family", test_stack_family },
	    { "tombstone keeps TIME-WAIT", test_tombstone_info },
	    { "window scaling and zero window", test_window_scaling },
	    { "the fast path equals the general path", test_fast_path_equals_general },
	    { "the fast path takes the common segments", test_fast_path_takes_the_common_segments });

/* Each test's script is released by the teardown, the store by the suite's cleanup. */
CUNIT_MAIN("test_tracker", { "tracker and classifier", script_suite_init, script_suite_clean, NULL,
			     release_script, tracker_tests })
