/* test_encap.c - CUnit suite for the encapsulation decoders (dissect/encap.c), the shared
 * descriptions of outer layers (analyzer/encap_table.c) and the tunnel's part in the flow key.
 *
 * Frames are built outward: an inner IPv4 (or IPv6) TCP segment, then each test wraps it in the
 * layers it is about with small writers (struct buf: bytes prepended at the front). Every frame is
 * also dissected at every shorter length and with every byte flipped, from a heap block of
 * exactly its length, so AddressSanitizer sees any read past it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <pcap/dlt.h>

#include "encap_table.h"
#include "flow_table.h"
#include "tracker.h"
#include "dissect.h"
#include "cunit_main.h"

#define CAP 4096

/* A frame built from the inside out: data[start, CAP) holds it. */
struct buf {
	uint8_t data[CAP];
	size_t start;
};

static const uint8_t *bytes_of(const struct buf *b)
{
	return b->data + b->start;
}

static uint32_t len_of(const struct buf *b)
{
	return (uint32_t)(CAP - b->start);
}

static uint8_t *prepend(struct buf *b, size_t n)
{
	CU_ASSERT_FATAL(b->start >= n);
	b->start -= n;
	memset(b->data + b->start, 0, n);
	return b->data + b->start;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static const uint8_t in4_src[4] = { 198, 51, 100, 1 }, in4_dst[4] = { 198, 51, 100, 2 };
static const uint8_t out4_src[4] = { 192, 0, 2, 1 }, out4_dst[4] = { 192, 0, 2, 2 };
static const uint8_t in6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t in6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t out6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, [15] = 1 };
static const uint8_t out6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, [15] = 2 };

/* An IPv4 header around what the buffer holds, protocol `proto`. */
static void wrap_ipv4(struct buf *b, uint8_t proto, const uint8_t *src, const uint8_t *dst)
{
	size_t inner = len_of(b);
	uint8_t *h = prepend(b, 20);

	h[0] = 0x45;
	put16(h + 2, (unsigned)(inner + 20));
	put16(h + 6, 0x4000);
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, src, 4);
	memcpy(h + 16, dst, 4);
}

static void wrap_ipv6(struct buf *b, uint8_t nh, const uint8_t *src, const uint8_t *dst)
{
	size_t inner = len_of(b);
	uint8_t *h = prepend(b, 40);

	h[0] = 0x60;
	put16(h + 4, (unsigned)inner);
	h[6] = nh;
	h[7] = 64;
	memcpy(h + 8, src, 16);
	memcpy(h + 24, dst, 16);
}

/* The inner segment: TCP 40000 -> 443, 10 bytes of payload, in IPv4 or IPv6. */
static void inner_tcp(struct buf *b, unsigned family)
{
	uint8_t *t;

	b->start = CAP;
	memset(prepend(b, 10), 'x', 10);
	t = prepend(b, 20);
	put16(t, 40000);
	put16(t + 2, 443);
	put32(t + 4, 1000);
	put32(t + 8, 2000);
	t[12] = 5 << 4;
	t[13] = TCP_ACK | TCP_PSH;
	put16(t + 14, 500);
	if (family == 4)
		wrap_ipv4(b, 6, in4_src, in4_dst);
	else
		wrap_ipv6(b, 6, in6_src, in6_dst);
}

static void wrap_udp(struct buf *b, unsigned sport, unsigned dport)
{
	size_t inner = len_of(b);
	uint8_t *u = prepend(b, 8);

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (unsigned)(inner + 8));
}

static void wrap_ether(struct buf *b, unsigned type)
{
	uint8_t *e = prepend(b, 14);

	e[0] = 0x02;
	e[6] = 0x02;
	e[11] = 1;
	put16(e + 12, type);
}

/* The outer layers most tests share: an IPv4 packet (protocol `proto`, out4_src to out4_dst) in
 * an Ethernet frame. */
static void over_ipv4(struct buf *b, uint8_t proto)
{
	wrap_ipv4(b, proto, out4_src, out4_dst);
	wrap_ether(b, 0x0800);
}

/* The inner packets most tests share: a TCP segment over IPv4 in an Ethernet frame. */
static void inner_ether(struct buf *b)
{
	inner_tcp(b, 4);
	wrap_ether(b, 0x0800);
}

static void wrap_vxlan(struct buf *b, uint32_t vni, uint8_t flags)
{
	uint8_t *v;

	wrap_ether(b, 0x0800);
	v = prepend(b, 8);
	v[0] = flags;
	put32(v + 4, vni << 8);
}

/* The outer Ethernet + IPv4 + UDP of a UDP tunnel. */
static void wrap_udp_outer(struct buf *b, unsigned sport, unsigned dport)
{
	wrap_udp(b, sport, dport);
	wrap_ipv4(b, 17, out4_src, out4_dst);
	wrap_ether(b, 0x0800);
}

/* Dissects `b` as Ethernet (or `dlt`) from an exact-size heap copy. */
static enum dissect_result run_dlt(int dlt, const struct buf *b, struct tcp_segment *seg,
                                   struct encap_stack *st)
{
	uint32_t n = len_of(b);
	uint8_t *copy = malloc(n ? n : 1);
	enum dissect_result r;

	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, bytes_of(b), n);
	r = dissect_frame_encap(dlt, copy, n, seg, st);
	free(copy);
	return r;
}

static enum dissect_result run(const struct buf *b, struct tcp_segment *seg,
                               struct encap_stack *st)
{
	return run_dlt(DLT_EN10MB, b, seg, st);
}

/* Every shorter length and every flipped byte: never a crash, never a TCP segment whose fields
 * lie outside the frame. */
static void robust(int dlt, const struct buf *b)
{
	uint32_t n = len_of(b);
	struct tcp_segment seg;
	struct encap_stack st;
	struct buf m;

	for (uint32_t k = 0; k < n; k++) {
		uint8_t *copy = malloc(k ? k : 1);
		enum dissect_result r;

		CU_ASSERT_FATAL(copy != NULL);
		memcpy(copy, bytes_of(b), k);
		r = dissect_frame_encap(dlt, copy, k, &seg, &st);
		CU_ASSERT(r < DISSECT_RESULT_COUNT);
		CU_ASSERT(st.n <= ENCAP_MAX_LAYERS);
		if (r == DISSECT_TCP) /* a cut segment, or only padding after it was cut */
			CU_ASSERT(seg.payload_captured <= seg.payload_len && seg.payload_captured < k);
		free(copy);
	}
	for (uint32_t i = 0; i < n; i++) {
		m = *b;
		m.data[m.start + i] ^= 0xff;
		CU_ASSERT(run_dlt(dlt, &m, &seg, &st) < DISSECT_RESULT_COUNT);
		CU_ASSERT(st.n <= ENCAP_MAX_LAYERS);
	}
}

/* The inner segment came out whole. */
static void expect_inner(const struct tcp_segment *seg, unsigned family)
{
	CU_ASSERT_EQUAL(seg->src.family, family);
	CU_ASSERT_EQUAL(seg->dst.family, family);
	if (family == 4) {
		static const uint8_t zero[12];

		CU_ASSERT(memcmp(seg->src.bytes, in4_src, 4) == 0);
		CU_ASSERT(memcmp(seg->dst.bytes, in4_dst, 4) == 0);
		CU_ASSERT(memcmp(seg->src.bytes + 4, zero, 12) == 0);
		CU_ASSERT(memcmp(seg->dst.bytes + 4, zero, 12) == 0);
	} else {
		CU_ASSERT(memcmp(seg->src.bytes, in6_src, 16) == 0);
		CU_ASSERT(memcmp(seg->dst.bytes, in6_dst, 16) == 0);
	}
	CU_ASSERT_EQUAL(seg->sport, 40000);
	CU_ASSERT_EQUAL(seg->dport, 443);
	CU_ASSERT_EQUAL(seg->seq, 1000);
	CU_ASSERT_EQUAL(seg->payload_len, 10);
	CU_ASSERT_EQUAL(seg->payload_captured, 10);
	CU_ASSERT(!seg->truncated);
}

/* The stack's texts, innermost first, ';'-joined. */
static const char *stack_text(const struct encap_stack *st)
{
	static char out[ENCAP_MAX_LAYERS * ENCAP_TEXT_MAX];
	size_t len = 0;

	out[0] = '\0';
	for (unsigned i = st->n; i-- > 0;) {
		char one[ENCAP_TEXT_MAX];

		encap_layer_format(&st->layer[i], one, sizeof one);
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? ";" : "", one);
	}
	return out;
}

static void expect_tcp(const struct buf *b, unsigned family, const char *layers, unsigned kind,
                       uint32_t id)
{
	struct tcp_segment seg;
	struct encap_stack st;

	CU_ASSERT_EQUAL_FATAL(run(b, &seg, &st), DISSECT_TCP);
	expect_inner(&seg, family);
	CU_ASSERT_STRING_EQUAL(stack_text(&st), layers);
	CU_ASSERT_EQUAL(seg.tunnel, kind);
	CU_ASSERT_EQUAL(seg.tunnel_id, id);
	robust(DLT_EN10MB, b);
}

static enum dissect_result result_of(const struct buf *b)
{
	struct tcp_segment seg;
	struct encap_stack st;

	return run(b, &seg, &st);
}

/* ---- the decoders ---------------------------------------------------------------------------- */

static void test_plain_segment_records_nothing(void)
{
	struct buf b;
	struct tcp_segment seg;
	struct encap_stack st = { .n = 5 };

	inner_ether(&b);
	CU_ASSERT_EQUAL(run(&b, &seg, &st), DISSECT_TCP);
	CU_ASSERT_EQUAL(st.n, 0);
	CU_ASSERT_EQUAL(seg.tunnel, 0);
	CU_ASSERT_EQUAL(seg.tunnel_id, 0);
	/* dissect_frame (no stack asked for) gives the same segment */
	CU_ASSERT_EQUAL(dissect_frame(DLT_EN10MB, bytes_of(&b), len_of(&b), &seg), DISSECT_TCP);
}

static void test_vxlan(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp_outer(&b, 51234, 4789);
	expect_tcp(&b, 4, "vxlan vni 42;ipv4 192.0.2.1>192.0.2.2", ENCAP_VXLAN, 42);

	/* Linux's older default port, and an inner IPv6 segment */
	inner_tcp(&b, 6);
	{
		uint8_t *v;

		wrap_ether(&b, 0x86dd);
		v = prepend(&b, 8);
		v[0] = 0x08;
		put32(v + 4, 0xffffff00u);
	}
	wrap_udp_outer(&b, 51234, 8472);
	expect_tcp(&b, 6, "vxlan vni 16777215;ipv4 192.0.2.1>192.0.2.2", ENCAP_VXLAN, 0xffffff);
}

static void test_vxlan_without_i_flag_is_bad(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x00);
	wrap_udp_outer(&b, 51234, 4789);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

static void test_vxlan_truncated_inner_as_mirroring_sends_it(void)
{
	/* AWS VPC Traffic Mirroring cuts each copy to the session's packet length: the outer
	 * lengths fit the cut packet, the inner IP length still says the whole. */
	struct buf b;
	struct tcp_segment seg;
	struct encap_stack st;

	inner_tcp(&b, 4);
	/* cut the 10 payload bytes to 4: drop the last 6 bytes (they are at the end) */
	memmove(b.data + b.start + 6, b.data + b.start, len_of(&b) - 6);
	b.start += 6;
	wrap_vxlan(&b, 7001, 0x08);
	wrap_udp_outer(&b, 50100, 4789);
	CU_ASSERT_EQUAL_FATAL(run(&b, &seg, &st), DISSECT_TCP);
	CU_ASSERT(seg.truncated);
	CU_ASSERT_EQUAL(seg.payload_len, 10);
	CU_ASSERT_EQUAL(seg.payload_captured, 4);
	CU_ASSERT_EQUAL(seg.tunnel_id, 7001);
}

static void test_udp_length_contradiction_is_bad(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp(&b, 51234, 4789);
	put16(b.data + b.start + 4, 4); /* UDP length below its header */
	over_ipv4(&b, 17);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

static void test_other_udp_is_not_tcp(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp_outer(&b, 53, 33333); /* no tunnel port: a VXLAN header means nothing here */
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_NOT_TCP);
}

static void wrap_geneve(struct buf *b, uint32_t vni, unsigned proto, size_t opt_words,
                        unsigned option_len_words)
{
	uint8_t *g;

	if (opt_words) {
		uint8_t *o = prepend(b, opt_words * 4);

		put16(o, 0x0108);
		o[2] = 1;
		o[3] = (uint8_t)option_len_words;
	}
	g = prepend(b, 8);
	g[0] = (uint8_t)opt_words;
	put16(g + 2, proto);
	put32(g + 4, vni << 8);
}

static void test_geneve(void)
{
	struct buf b;

	inner_ether(&b);
	wrap_geneve(&b, 4242, 0x6558, 2, 1);
	wrap_udp_outer(&b, 50000, 6081);
	expect_tcp(&b, 4, "geneve vni 4242 options 8 bytes;ipv4 192.0.2.1>192.0.2.2",
	           ENCAP_GENEVE, 4242);

	/* no options, IP directly (protocol 0x0800) */
	inner_tcp(&b, 4);
	wrap_geneve(&b, 9, 0x0800, 0, 0);
	wrap_udp_outer(&b, 50000, 6081);
	expect_tcp(&b, 4, "geneve vni 9;ipv4 192.0.2.1>192.0.2.2", ENCAP_GENEVE, 9);
}

static void test_geneve_options_not_filling_their_length_are_bad(void)
{
	struct buf b;

	inner_ether(&b);
	wrap_geneve(&b, 4242, 0x6558, 2, 3); /* an option claiming 12 data bytes in 8 */
	wrap_udp_outer(&b, 50000, 6081);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);

	inner_ether(&b);
	wrap_geneve(&b, 4242, 0x6558, 2, 1);
	b.data[b.start] |= 0x40; /* version 1 */
	wrap_udp_outer(&b, 50000, 6081);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

/* GRE with the flag word `fl`, protocol `proto`, key and sequence as the flags say. */
static void wrap_gre(struct buf *b, unsigned fl, unsigned proto, uint32_t key, uint32_t seq)
{
	size_t n = 4 + ((fl & 0x8000) ? 4 : 0) + ((fl & 0x2000) ? 4 : 0) + ((fl & 0x1000) ? 4 : 0);
	uint8_t *g = prepend(b, n), *p = g + 4;

	put16(g, fl);
	put16(g + 2, proto);
	if (fl & 0x8000)
		p += 4;
	if (fl & 0x2000) {
		put32(p, key);
		p += 4;
	}
	if (fl & 0x1000)
		put32(p, seq);
}

static void test_gre(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_gre(&b, 0x3000, 0x0800, 1001, 77);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4, "gre key 1001;ipv4 192.0.2.1>192.0.2.2", ENCAP_GRE, 1001);

	/* checksum present, no key; IPv6 inside */
	inner_tcp(&b, 6);
	wrap_gre(&b, 0x8000, 0x86dd, 0, 0);
	over_ipv4(&b, 47);
	expect_tcp(&b, 6, "gre;ipv4 192.0.2.1>192.0.2.2", ENCAP_GRE, 0);

	/* transparent Ethernet bridging */
	inner_ether(&b);
	wrap_gre(&b, 0x2000, 0x6558, 5, 0);
	wrap_ipv6(&b, 47, out6_src, out6_dst);
	wrap_ether(&b, 0x86dd);
	expect_tcp(&b, 4, "gre key 5;ipv6 2001:db8:ffff::1>2001:db8:ffff::2", ENCAP_GRE, 5);
}

static void test_gre_routing_or_version_is_bad(void)
{
	static const unsigned bad[] = { 0x4000, 0x0800, 0x0100, 0x0002, 0x0040 };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf b;

		inner_tcp(&b, 4);
		wrap_gre(&b, bad[i], 0x0800, 0, 0);
		over_ipv4(&b, 47);
		CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
	}
}

static void test_pptp_gre_ppp(void)
{
	struct buf b;
	uint8_t *p;

	inner_tcp(&b, 4);
	p = prepend(&b, 4);
	p[0] = 0xff;
	p[1] = 0x03;
	put16(p + 2, 0x0021);
	/* version 1, key (payload length 0x0020, call ID 0x1234), sequence */
	wrap_gre(&b, 0x3001, 0x880b, 0x00201234, 9);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4, "gre key 4660;ipv4 192.0.2.1>192.0.2.2", ENCAP_GRE, 0x1234);
}

static void test_erspan(void)
{
	struct buf b;
	uint8_t *h;

	/* type II: GRE with a sequence number, 8-byte header, version 1, session 7 */
	inner_ether(&b);
	h = prepend(&b, 8);
	put16(h, 0x1000);
	put16(h + 2, 7);
	wrap_gre(&b, 0x1000, 0x88be, 0, 1);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4, "erspan type 2 session 7;gre;ipv4 192.0.2.1>192.0.2.2", ENCAP_ERSPAN2, 7);

	/* type III with the optional platform subheader */
	inner_ether(&b);
	prepend(&b, 8);
	h = prepend(&b, 12);
	put16(h, 0x2000);
	put16(h + 2, 0x0309); /* other bits above the 10-bit session ID */
	put16(h + 10, 0x0001);
	wrap_gre(&b, 0x1000, 0x22eb, 0, 1);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4, "erspan type 3 session 777;gre;ipv4 192.0.2.1>192.0.2.2",
	           ENCAP_ERSPAN3, 777);

	/* type I: no header, no sequence number */
	inner_ether(&b);
	wrap_gre(&b, 0x0000, 0x88be, 0, 0);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4, "erspan type 1;gre;ipv4 192.0.2.1>192.0.2.2", ENCAP_ERSPAN1, 0);

	/* a type II header claiming version 2 */
	inner_ether(&b);
	h = prepend(&b, 8);
	put16(h, 0x2000);
	wrap_gre(&b, 0x1000, 0x88be, 0, 1);
	over_ipv4(&b, 47);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

static void test_ip_in_ip(void)
{
	struct buf b;

	inner_tcp(&b, 4); /* IPv4 in IPv4 */
	over_ipv4(&b, 4);
	expect_tcp(&b, 4, "ipv4 192.0.2.1>192.0.2.2", ENCAP_IPV4, 0);

	inner_tcp(&b, 6); /* 6in4 */
	over_ipv4(&b, 41);
	expect_tcp(&b, 6, "ipv4 192.0.2.1>192.0.2.2", ENCAP_IPV4, 0);

	inner_tcp(&b, 4); /* 4in6: the outer IPv6 address must not leak into the inner IPv4 one */
	wrap_ipv6(&b, 4, out6_src, out6_dst);
	wrap_ether(&b, 0x86dd);
	expect_tcp(&b, 4, "ipv6 2001:db8:ffff::1>2001:db8:ffff::2", ENCAP_IPV6, 0);

	inner_tcp(&b, 6); /* 6in6 */
	wrap_ipv6(&b, 41, out6_src, out6_dst);
	wrap_ether(&b, 0x86dd);
	expect_tcp(&b, 6, "ipv6 2001:db8:ffff::1>2001:db8:ffff::2", ENCAP_IPV6, 0);

	inner_tcp(&b, 6); /* 6in4 whose inner header says IPv4: malformed inner */
	over_ipv4(&b, 4);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_MALFORMED);
}

static void wrap_gtpu(struct buf *b, uint8_t flags, uint8_t type, uint32_t teid, bool ext)
{
	size_t inner = len_of(b);
	uint8_t *g;

	if (ext) {
		uint8_t *e = prepend(b, 4);

		e[0] = 1;
		e[1] = 0x10;
		e[2] = 0x09;
		e[3] = 0;
	}
	if (flags & 0x07) {
		uint8_t *o = prepend(b, 4);

		o[3] = ext ? 0x85 : 0;
	}
	g = prepend(b, 8);
	g[0] = flags;
	g[1] = type;
	put16(g + 2, (unsigned)(len_of(b) - 8));
	put32(g + 4, teid);
	(void)inner;
}

static void test_gtpu(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_gtpu(&b, 0x30, 0xff, 0x1a2b3c4d, false);
	wrap_udp_outer(&b, 2152, 2152);
	/* the TEID is described but not in the key: it differs by direction */
	expect_tcp(&b, 4, "gtp-u teid 0x1a2b3c4d;ipv4 192.0.2.1>192.0.2.2", ENCAP_GTPU, 0);

	inner_tcp(&b, 6);
	wrap_gtpu(&b, 0x34, 0xff, 0x200, true);
	wrap_udp_outer(&b, 5906, 2152);
	expect_tcp(&b, 6, "gtp-u teid 0x00000200;ipv4 192.0.2.1>192.0.2.2", ENCAP_GTPU, 0);

	/* an echo request carries no user packet */
	inner_tcp(&b, 4);
	wrap_gtpu(&b, 0x30, 0x01, 0, false);
	wrap_udp_outer(&b, 2152, 2152);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_NOT_TCP);

	/* version 2 (GTP-C) on the user-plane port, and an extension header of length 0 */
	inner_tcp(&b, 4);
	wrap_gtpu(&b, 0x50, 0xff, 1, false);
	wrap_udp_outer(&b, 2152, 2152);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
	inner_tcp(&b, 4);
	wrap_gtpu(&b, 0x34, 0xff, 1, true);
	b.data[b.start + 12] = 0;
	wrap_udp_outer(&b, 2152, 2152);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

static void test_teredo(void)
{
	static const uint8_t teredo_src[16] = { 0x20, 0x01, 0, 0, 0x41, 0x37, 0x9e, 0x50,
	                                        0x80, 0, 0xf1, 0x2a, 0xb9, 0xc8, 0x28, 0x15 };
	struct buf b;
	uint8_t *o;

	/* the server port, with an origin indication */
	inner_tcp(&b, 6);
	o = prepend(&b, 8);
	put16(o + 2, 3544 ^ 0xffff);
	o[4] = (uint8_t)~192;
	o[5] = (uint8_t)~0;
	o[6] = (uint8_t)~2;
	o[7] = (uint8_t)~9;
	wrap_udp_outer(&b, 3544, 40000);
	expect_tcp(&b, 6, "teredo origin 192.0.2.9:3544;ipv4 192.0.2.1>192.0.2.2", ENCAP_TEREDO, 0);

	/* any other ports: only with a Teredo address inside */
	inner_tcp(&b, 6);
	wrap_udp_outer(&b, 3797, 32900);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_NOT_TCP);
	inner_tcp(&b, 6);
	memcpy(b.data + b.start + 8, teredo_src, 16);
	wrap_udp_outer(&b, 3797, 32900);
	{
		struct tcp_segment seg;
		struct encap_stack st;

		CU_ASSERT_EQUAL(run(&b, &seg, &st), DISSECT_TCP);
		CU_ASSERT_STRING_EQUAL(stack_text(&st), "teredo;ipv4 192.0.2.1>192.0.2.2");
		robust(DLT_EN10MB, &b);
	}

	/* to the server port, an IPv6 length that does not fill the datagram */
	inner_tcp(&b, 6);
	prepend(&b, 3);
	memmove(b.data + b.start, b.data + b.start + 3, len_of(&b) - 3);
	wrap_udp_outer(&b, 40000, 3544);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
}

/* An AYIYA header (SixXS Anything In Anything: identity length/type 0x41, signature 1, the next
 * header `nh`) and its 16-byte identity in front of the inner packet, over UDP. */
static void wrap_ayiya(struct buf *b, uint8_t nh, uint16_t sport, uint16_t dport)
{
	uint8_t *h;

	prepend(b, 16); /* identity */
	h = prepend(b, 8);
	h[0] = 0x41;
	h[2] = 0x01;
	h[3] = nh;
	wrap_udp_outer(b, sport, dport);
}

static void test_ayiya(void)
{
	struct buf b;

	inner_tcp(&b, 6);
	wrap_ayiya(&b, 41, 40001, 5072);
	expect_tcp(&b, 6, "ayiya;ipv4 192.0.2.1>192.0.2.2", ENCAP_AYIYA, 0);

	/* from the server's port; opcode 0 (a heartbeat) */
	inner_tcp(&b, 4);
	wrap_ayiya(&b, 4, 5072, 40001);
	expect_tcp(&b, 4, "ayiya;ipv4 192.0.2.1>192.0.2.2", ENCAP_AYIYA, 0);
	b.data[b.start + 14 + 20 + 8 + 2] = 0x00;
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_NOT_TCP);
}

static void wrap_mpls(struct buf *b, const uint32_t *labels, size_t n)
{
	for (size_t i = n; i-- > 0;) /* bottom of the stack first */
		put32(prepend(b, 4), labels[i] << 12 | (i == n - 1 ? 0x100u : 0) | 64);
}

static void test_mpls(void)
{
	static const uint32_t two[] = { 100, 1001 };
	static const uint32_t nine[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct buf b;

	inner_tcp(&b, 4);
	wrap_mpls(&b, two, 2);
	wrap_ether(&b, 0x8847);
	/* labels are described, not keyed (they change hop by hop) */
	expect_tcp(&b, 4, "mpls label 1001;mpls label 100", ENCAP_NONE, 0);

	/* an Ethernet pseudowire with its control word */
	inner_tcp(&b, 6);
	wrap_ether(&b, 0x86dd);
	prepend(&b, 4);
	wrap_mpls(&b, two, 1);
	wrap_ether(&b, 0x8847);
	expect_tcp(&b, 6, "mpls label 100", ENCAP_NONE, 0);

	/* nine labels: deeper than any real stack and than ENCAP_MAX_LAYERS */
	inner_tcp(&b, 4);
	wrap_mpls(&b, nine, 9);
	wrap_ether(&b, 0x8847);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_ENCAP_TOO_DEEP);
	robust(DLT_EN10MB, &b);
}

static void test_pppoe(void)
{
	struct buf b;
	uint8_t *h;
	size_t n;

	inner_tcp(&b, 4);
	put16(prepend(&b, 2), 0x0021);
	n = len_of(&b);
	h = prepend(&b, 6);
	h[0] = 0x11;
	put16(h + 2, 0x0011);
	put16(h + 4, (unsigned)n);
	wrap_ether(&b, 0x8864);
	expect_tcp(&b, 4, "pppoe session 0x0011", ENCAP_PPPOE, 0x11);

	b.data[b.start + 14] = 0x12; /* type 2 */
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
	b.data[b.start + 14] = 0x11;
	b.data[b.start + 15] = 0x09; /* a discovery code on the session EtherType */
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_BAD_ENCAP);
	b.data[b.start + 15] = 0;
	put16(b.data + b.start + 20, 0xc021); /* LCP */
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_NOT_IP);
}

/* An NFLOG frame: header, a prefix TLV, the payload TLV; TLV fields in host byte order. */
static void make_nflog(struct buf *b, unsigned family)
{
	size_t n, pad;
	uint16_t v;
	uint8_t *t, *h;

	inner_tcp(b, family);
	n = len_of(b);
	pad = (4 - n % 4) % 4;
	memmove(b->data + b->start - pad, b->data + b->start, n);
	b->start -= pad;
	memset(b->data + CAP - pad, 0, pad);
	/* the payload now starts at b->start; after it `pad` zero bytes */
	t = prepend(b, 4);
	v = (uint16_t)(n + 4);
	memcpy(t, &v, 2);
	v = 9;
	memcpy(t + 2, &v, 2);
	t = prepend(b, 8); /* NFULA_PREFIX "abc" */
	v = 8;
	memcpy(t, &v, 2);
	v = 10;
	memcpy(t + 2, &v, 2);
	memcpy(t + 4, "abc", 4);
	h = prepend(b, 4);
	h[0] = family == 4 ? 2 : 10;
	put16(h + 2, 5);
}

static void test_nflog(void)
{
	struct buf b;
	struct tcp_segment seg;
	struct encap_stack st;

	CU_ASSERT(dissect_link_supported(DLT_NFLOG));
	CU_ASSERT_STRING_EQUAL(dissect_link_name(DLT_NFLOG), "Linux NFLOG");
	make_nflog(&b, 4);
	CU_ASSERT_EQUAL_FATAL(run_dlt(DLT_NFLOG, &b, &seg, &st), DISSECT_TCP);
	expect_inner(&seg, 4);
	CU_ASSERT_EQUAL(st.n, 0); /* a link type, not a tunnel */
	robust(DLT_NFLOG, &b);
	make_nflog(&b, 6);
	CU_ASSERT_EQUAL_FATAL(run_dlt(DLT_NFLOG, &b, &seg, &st), DISSECT_TCP);
	expect_inner(&seg, 6);
	robust(DLT_NFLOG, &b);

	/* a TLV shorter than its own header */
	make_nflog(&b, 4);
	memset(b.data + b.start + 4, 0, 2);
	CU_ASSERT_EQUAL(run_dlt(DLT_NFLOG, &b, &seg, &st), DISSECT_BAD_ENCAP);
	/* version 1 */
	make_nflog(&b, 4);
	b.data[b.start + 1] = 1;
	CU_ASSERT_EQUAL(run_dlt(DLT_NFLOG, &b, &seg, &st), DISSECT_BAD_ENCAP);
}

static void test_nesting_is_bounded(void)
{
	struct buf b;
	struct tcp_segment seg;
	struct encap_stack st;

	/* 8 nested IP-in-IP headers: exactly ENCAP_MAX_LAYERS passes, 9 do not */
	inner_tcp(&b, 4);
	for (int i = 0; i < 7; i++)
		wrap_ipv4(&b, 4, out4_src, out4_dst);
	over_ipv4(&b, 4);
	CU_ASSERT_EQUAL(run(&b, &seg, &st), DISSECT_TCP);
	CU_ASSERT_EQUAL(st.n, 8);
	expect_inner(&seg, 4);
	inner_tcp(&b, 4);
	for (int i = 0; i < 9; i++)
		wrap_ipv4(&b, 4, out4_src, out4_dst);
	wrap_ether(&b, 0x0800);
	CU_ASSERT_EQUAL(run(&b, &seg, &st), DISSECT_ENCAP_TOO_DEEP);
	CU_ASSERT_EQUAL(st.n, ENCAP_MAX_LAYERS);

	/* a tunnel in a tunnel: VXLAN in GRE; the innermost tunnel is the key */
	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp(&b, 50000, 4789);
	wrap_ipv4(&b, 17, out4_src, out4_dst);
	wrap_gre(&b, 0x2000, 0x0800, 7, 0);
	over_ipv4(&b, 47);
	expect_tcp(&b, 4,
	           "vxlan vni 42;ipv4 192.0.2.1>192.0.2.2;gre key 7;ipv4 192.0.2.1>192.0.2.2",
	           ENCAP_VXLAN, 42);
}

static void test_outer_fragment_is_a_fragment(void)
{
	struct buf b;

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp(&b, 50000, 4789);
	wrap_ipv4(&b, 17, out4_src, out4_dst);
	put16(b.data + b.start + 6, 0x2000); /* more fragments */
	wrap_ether(&b, 0x0800);
	CU_ASSERT_EQUAL(result_of(&b), DISSECT_FRAGMENT);
}

/* ---- the shared descriptions ----------------------------------------------------------------- */

static struct encap_stack stack_of(const struct buf *b)
{
	struct tcp_segment seg;
	struct encap_stack st;

	CU_ASSERT(run(b, &seg, &st) == DISSECT_TCP);
	return st;
}

static void test_table_shares_descriptions(void)
{
	struct encap_table *t = encap_table_create();
	struct buf b;
	struct encap_stack a, c;
	uint32_t ia, ib, ic;
	const struct flow_encap *d;

	CU_ASSERT_FATAL(t != NULL);
	inner_tcp(&b, 4);
	wrap_gre(&b, 0x3000, 0x0800, 1001, 1);
	over_ipv4(&b, 47);
	a = stack_of(&b);
	ia = encap_table_intern(t, &a);
	/* the next packet of the tunnel: another sequence number, the same description */
	a.layer[1].id2 = 2;
	ib = encap_table_intern(t, &a);
	CU_ASSERT(ia != 0);
	CU_ASSERT_EQUAL(ia, ib);
	/* another key: another description; and back to the first (found by its text) */
	c = a;
	c.layer[1].id = 1002;
	ic = encap_table_intern(t, &c);
	CU_ASSERT(ic != ia && ic != 0);
	a.layer[1].id2 = 3;
	CU_ASSERT_EQUAL(encap_table_intern(t, &a), ia);
	CU_ASSERT_EQUAL(encap_table_count(t), 2);
	d = encap_table_get(t, ia);
	CU_ASSERT_FATAL(d != NULL);
	if (d == NULL) /* (for the static analyser, which does not know CUnit's fatal jump) */
		return;
	CU_ASSERT_EQUAL(d->n, 2);
	CU_ASSERT_STRING_EQUAL(d->layer[0], "gre key 1001");
	CU_ASSERT_STRING_EQUAL(d->layer[1], "ipv4 192.0.2.1>192.0.2.2");
	CU_ASSERT_PTR_NULL(encap_table_get(t, 0));
	encap_table_destroy(t);
}

static void test_table_is_bounded(void)
{
	struct encap_table *t = encap_table_create();
	struct buf b;
	struct encap_stack a;
	uint32_t last = 0;

	CU_ASSERT_FATAL(t != NULL);
	inner_tcp(&b, 4);
	wrap_vxlan(&b, 0, 0x08);
	wrap_udp_outer(&b, 50000, 4789);
	a = stack_of(&b);
	for (uint32_t vni = 0; vni < ENCAP_TABLE_MAX + 100; vni++) {
		a.layer[1].id = vni;
		last = encap_table_intern(t, &a);
		CU_ASSERT_FATAL(last != 0);
	}
	CU_ASSERT_EQUAL(encap_table_count(t), ENCAP_TABLE_MAX + 1);
	{
		const struct flow_encap *d = encap_table_get(t, last);

		CU_ASSERT_FATAL(d != NULL);
		if (d == NULL) /* (for the static analyser) */
			return;
		CU_ASSERT_EQUAL(d->n, 1);
		CU_ASSERT(strstr(d->layer[0], "not recorded") != NULL);
	}
	encap_table_destroy(t);
}

/* ---- the flow key ---------------------------------------------------------------------------- */

static void test_tenants_are_separate_flows(void)
{
	struct flow_store st;
	struct flow_table *tab;
	struct tcp_segment s42, s43, plain, back;
	struct encap_stack es;
	struct live_flow *f;
	struct buf b;

	flow_store_init(&st);
	tab = flow_table_create(7, &st);
	CU_ASSERT_FATAL(tab != NULL);

	inner_tcp(&b, 4);
	wrap_vxlan(&b, 42, 0x08);
	wrap_udp_outer(&b, 50000, 4789);
	CU_ASSERT_FATAL(run(&b, &s42, &es) == DISSECT_TCP);
	s43 = s42;
	s43.tunnel_id = 43;
	plain = s42;
	plain.tunnel = 0;
	plain.tunnel_id = 0;

	f = flow_store_new(&st);
	CU_ASSERT_FATAL(f && flow_init(&st, f, 1, &s42, "t", false, 1));
	f->hash = flow_table_hash(tab, &s42);
	flow_table_insert(tab, f);
	CU_ASSERT_PTR_EQUAL(flow_table_find(tab, &s42, flow_table_hash(tab, &s42)), f);
	CU_ASSERT_PTR_NULL(flow_table_find(tab, &s43, flow_table_hash(tab, &s43)));
	CU_ASSERT_PTR_NULL(flow_table_find(tab, &plain, flow_table_hash(tab, &plain)));

	/* the other direction of the same tenant finds it */
	back = s42;
	back.src = s42.dst;
	back.dst = s42.src;
	back.sport = s42.dport;
	back.dport = s42.sport;
	CU_ASSERT_PTR_EQUAL(flow_table_find(tab, &back, flow_table_hash(tab, &back)), f);

	/* a tombstone is the tenant's too */
	flow_table_remove(tab, f);
	CU_ASSERT(flow_table_bury(tab, f, 1000) == 0);
	CU_ASSERT(flow_table_grave(tab, &back, 0, false, NULL));
	CU_ASSERT(!flow_table_grave(tab, &s43, 0, false, NULL));
	CU_ASSERT(!flow_table_grave(tab, &plain, 0, false, NULL));
	flow_store_free(&st, f);
	flow_table_destroy(tab);
	flow_store_destroy(&st);
}

CUNIT_TESTS(encap_tests,
	    { "plain_segment_records_nothing", test_plain_segment_records_nothing },
	    { "vxlan", test_vxlan },
	    { "vxlan_without_i_flag_is_bad", test_vxlan_without_i_flag_is_bad },
	    { "vxlan_truncated_inner_as_mirroring_sends_it",
	    test_vxlan_truncated_inner_as_mirroring_sends_it },
	    { "udp_length_contradiction_is_bad", test_udp_length_contradiction_is_bad },
	    { "other_udp_is_not_tcp", test_other_udp_is_not_tcp },
	    { "geneve", test_geneve },
	    { "geneve_options_not_filling_their_length_are_bad",
	    test_geneve_options_not_filling_their_length_are_bad },
	    { "gre", test_gre },
	    { "gre_routing_or_version_is_bad", test_gre_routing_or_version_is_bad },
	    { "pptp_gre_ppp", test_pptp_gre_ppp },
	    { "erspan", test_erspan },
	    { "ip_in_ip", test_ip_in_ip },
	    { "gtpu", test_gtpu },
	    { "teredo", test_teredo },
	    { "ayiya", test_ayiya },
	    { "mpls", test_mpls },
	    { "pppoe", test_pppoe },
	    { "nflog", test_nflog },
	    { "nesting_is_bounded", test_nesting_is_bounded },
	    { "outer_fragment_is_a_fragment", test_outer_fragment_is_a_fragment },
	    { "table_shares_descriptions", test_table_shares_descriptions },
	    { "table_is_bounded", test_table_is_bounded },
	    { "tenants_are_separate_flows", test_tenants_are_separate_flows });

CUNIT_MAIN("test_encap",
	   { "encap", NULL, NULL, NULL, NULL, encap_tests })
