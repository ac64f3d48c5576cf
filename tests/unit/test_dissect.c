/* test_dissect.c - CUnit suite for dissect/: frames built by hand, every segment field checked.
 *
 * Frames come from one small builder (struct pkt describes the stack, build() writes the bytes and
 * records where each layer starts), so a test states only what differs from a plain segment. The
 * robustness tests copy each frame into a heap block of exactly caplen bytes, so AddressSanitizer
 * catches any read past the captured length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <pcap/dlt.h>

#include "dissect.h"
#include "segment.h"
#include "cunit_main.h"

/* The tests name link types by libpcap's macros: pcap/dlt.h of libpcap 1.9 or later (Debian's
 * is 1.10) has DLT_IPV4, DLT_IPV6 and DLT_LINUX_SLL2; dissect.c itself keeps fallbacks for older
 * ones. Raw IP by its number in capture files, as dissect.c does. */
#define LINKTYPE_RAW_FILE 101

#define FRAME_MAX 2048

/* The plain segment every builder writes unless told otherwise. */
#define STD_SPORT 40000
#define STD_DPORT 443
#define STD_SEQ 0x01020304u
#define STD_ACK 0xa0b0c0d0u
#define STD_FLAGS (TCP_ACK | TCP_PSH)
#define STD_WINDOW 502
#define STD_TTL 64
#define STD_IP_ID 0x1234

static const uint8_t addr4_src[4] = { 198, 51, 100, 1 };
static const uint8_t addr4_dst[4] = { 198, 51, 100, 2 };
static const uint8_t addr6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t addr6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

/* SYN-style options, 20 bytes:
 *   MSS 1460 | SACK permitted | TSval 0x11223344 TSecr 0x55667788 | NOP | window scale 7 */
static const uint8_t std_opts[] = {
	0x02, 0x04, 0x05, 0xb4,
	0x04, 0x02,
	0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x01,
	0x03, 0x03, 0x07,
};

/* What a frame is made of. Zero means the default for every field but dlt and family. */
struct pkt {
	int dlt;
	unsigned family;          /* 4 or 6 */
	uint16_t tags[12];        /* TPIDs of the VLAN tags, outermost first (Ethernet, SLL v1/v2) */
	size_t ntags;
	uint16_t link_proto;      /* EtherType / cooked protocol; 0: by family */
	bool null_little_endian;  /* DLT_NULL byte order */
	uint32_t null_af;         /* DLT_NULL / DLT_LOOP address family; 0: 2 or 24 by family */
	uint8_t proto;            /* upper layer protocol; 0: TCP */
	unsigned ip4_opt_words;   /* IPv4 options, in 32-bit words */
	uint16_t ip4_frag;        /* ORed into the flags/fragment field (DF is always set) */
	uint8_t ext[20];          /* IPv6 extension headers, in order (0, 43, 44, 51, 60, 140) */
	size_t next;
	uint16_t frag6;           /* offset/M word of an IPv6 fragment header */
	const uint8_t *topts;     /* TCP options, a multiple of 4 bytes */
	size_t topt_len;
	uint8_t flags;            /* 0: ACK|PSH */
	size_t payload;
	size_t padding;           /* link padding after the IP packet */
	uint8_t pad_byte;
};

struct frame {
	uint8_t b[FRAME_MAX];
	size_t n;
	size_t ip_off;       /* IP header */
	size_t tcp_off;      /* TCP (or other upper layer) header */
	size_t tcp_hdr_end;  /* end of the TCP header, options included */
	size_t ip_end;       /* end of the IP packet, before any padding */
};

static void put8(struct frame *f, unsigned v)
{
	if (f->n >= FRAME_MAX) {
		fprintf(stderr, "test frame overflow\n");
		abort();
	}
	f->b[f->n++] = (uint8_t)v;
}

static void put16(struct frame *f, unsigned v)
{
	put8(f, v >> 8 & 0xff);
	put8(f, v & 0xff);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void put_bytes(struct frame *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(f, p[i]);
}

static void set16(struct frame *f, size_t at, unsigned v)
{
	f->b[at] = (uint8_t)(v >> 8 & 0xff);
	f->b[at + 1] = (uint8_t)(v & 0xff);
}

static void put_le32(struct frame *f, uint32_t v)
{
	put8(f, v & 0xff);
	put8(f, v >> 8 & 0xff);
	put8(f, v >> 16 & 0xff);
	put8(f, v >> 24);
}

/* Link header and VLAN tags; the last protocol field announces `proto`. */
static void build_link(struct frame *f, const struct pkt *p, uint16_t proto)
{
	uint16_t first = p->ntags > 0 ? p->tags[0] : proto;
	static const uint8_t mac_dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t mac_src[6] = { 0x02, 0, 0, 0, 0, 0x01 };

	switch (p->dlt) {
	case DLT_EN10MB:
		put_bytes(f, mac_dst, 6);
		put_bytes(f, mac_src, 6);
		put16(f, first);
		break;
	case DLT_LINUX_SLL:
		put16(f, 0);     /* packet type: to us */
		put16(f, 1);     /* ARPHRD_ETHER */
		put16(f, 6);     /* address length */
		put_bytes(f, mac_src, 6);
		put16(f, 0);     /* address padding */
		put16(f, first);
		break;
	case DLT_LINUX_SLL2:
		put16(f, first);
		put16(f, 0);     /* reserved */
		put32(f, 3);     /* interface index */
		put16(f, 1);     /* ARPHRD_ETHER */
		put8(f, 4);      /* packet type: outgoing */
		put8(f, 6);      /* address length */
		put_bytes(f, mac_src, 6);
		put16(f, 0);
		return;
	case DLT_NULL:
	case DLT_LOOP: {
		uint32_t af = p->null_af != 0 ? p->null_af : p->family == 6 ? 24 : 2;

		if (p->dlt == DLT_NULL && p->null_little_endian)
			put_le32(f, af);
		else
			put32(f, af);
		return;
	}
	default:
		return; /* raw IP: no link header */
	}
	for (size_t i = 0; i < p->ntags; i++) {
		put16(f, 0x2000 | (unsigned)(100 + i)); /* PCP 1, VID 100 + i */
		put16(f, i + 1 < p->ntags ? p->tags[i + 1] : proto);
	}
}

static void build_sll2_tags(struct frame *f, const struct pkt *p, uint16_t proto)
{
	if (p->dlt != DLT_LINUX_SLL2)
		return;
	for (size_t i = 0; i < p->ntags; i++) {
		put16(f, 0x2000 | (unsigned)(100 + i));
		put16(f, i + 1 < p->ntags ? p->tags[i + 1] : proto);
	}
}

static void build_ipv4(struct frame *f, const struct pkt *p, uint8_t proto)
{
	size_t opt = (size_t)p->ip4_opt_words * 4;

	put8(f, 0x40 | (5 + p->ip4_opt_words));
	put8(f, 0);                      /* DSCP/ECN */
	put16(f, 0);                     /* total length, set by finish() */
	put16(f, STD_IP_ID);
	put16(f, 0x4000 | p->ip4_frag);  /* DF */
	put8(f, STD_TTL);
	put8(f, proto);
	put16(f, 0);                     /* checksum: not checked */
	put_bytes(f, addr4_src, 4);
	put_bytes(f, addr4_dst, 4);
	/* Options: Record Route (7, len 11, pointer 4, two empty slots) when it fits, then EOL. */
	if (opt >= 12) {
		put8(f, 7);
		put8(f, 11);
		put8(f, 4);
		for (int i = 0; i < 8; i++)
			put8(f, 0);
		opt -= 11;
	}
	for (; opt > 0; opt--)
		put8(f, 0);
}

/* One IPv6 extension header of kind `kind` whose Next Header is `next`. */
static void build_ext6(struct frame *f, const struct pkt *p, uint8_t kind, uint8_t next)
{
	switch (kind) {
	case 0:   /* hop-by-hop: 8 bytes, PadN */
		put8(f, next);
		put8(f, 0);
		put8(f, 1);
		put8(f, 4);
		put32(f, 0);
		break;
	case 60:  /* destination options: 16 bytes, PadN */
		put8(f, next);
		put8(f, 1);
		put8(f, 1);
		put8(f, 12);
		for (int i = 0; i < 12; i++)
			put8(f, 0);
		break;
	case 43:  /* routing type 2 (RFC 6275), one address: 24 bytes */
		put8(f, next);
		put8(f, 2);
		put8(f, 2);
		put8(f, 1);
		put32(f, 0);
		put_bytes(f, addr6_dst, 16);
		break;
	case 44:  /* fragment: 8 bytes */
		put8(f, next);
		put8(f, 0);
		put16(f, p->frag6);
		put32(f, 0xdeadbeef);
		break;
	case 51:  /* AH: payload len 4 -> (4 + 2) * 4 = 24 bytes; SPI, sequence, 12-byte ICV */
		put8(f, next);
		put8(f, 4);
		put16(f, 0);
		put32(f, 0x100);
		put32(f, 1);
		for (int i = 0; i < 12; i++)
			put8(f, 0xaa);
		break;
	case 140: /* Shim6: 8 bytes */
		put8(f, next);
		put8(f, 0);
		put8(f, 0x80);
		put8(f, 0);
		put32(f, 0);
		break;
	default:
		fprintf(stderr, "unknown extension header %u\n", kind);
		abort();
	}
}

static void build_tcp(struct frame *f, const struct pkt *p)
{
	put16(f, STD_SPORT);
	put16(f, STD_DPORT);
	put32(f, STD_SEQ);
	put32(f, STD_ACK);
	put8(f, (unsigned)(5 + p->topt_len / 4) << 4);
	put8(f, p->flags != 0 ? p->flags : STD_FLAGS);
	put16(f, STD_WINDOW);
	put16(f, 0); /* checksum */
	put16(f, 0); /* urgent pointer */
	put_bytes(f, p->topts, p->topt_len);
}

static void build(struct frame *f, const struct pkt *p)
{
	uint8_t proto = p->proto != 0 ? p->proto : 6;
	uint16_t link_proto = p->link_proto != 0 ? p->link_proto : p->family == 6 ? 0x86dd : 0x0800;

	memset(f, 0, sizeof *f);
	if (p->topt_len % 4 != 0) {
		fprintf(stderr, "TCP options must fill whole words\n");
		abort();
	}
	build_link(f, p, link_proto);
	build_sll2_tags(f, p, link_proto);
	f->ip_off = f->n;
	if (p->family == 6) {
		put32(f, 0x60000000);
		put16(f, 0); /* payload length, set below */
		put8(f, p->next > 0 ? p->ext[0] : proto);
		put8(f, STD_TTL);
		put_bytes(f, addr6_src, 16);
		put_bytes(f, addr6_dst, 16);
		for (size_t i = 0; i < p->next; i++)
			build_ext6(f, p, p->ext[i], i + 1 < p->next ? p->ext[i + 1] : proto);
	} else {
		build_ipv4(f, p, proto);
	}
	f->tcp_off = f->n;
	if (proto == 6) {
		build_tcp(f, p);
	} else {
		put32(f, 0x9c400035); /* a UDP/ICMP-like 8-byte header */
		put32(f, 0);
	}
	f->tcp_hdr_end = f->n;
	for (size_t i = 0; i < p->payload; i++)
		put8(f, 'a' + i % 26);
	f->ip_end = f->n;
	if (p->family == 6)
		set16(f, f->ip_off + 4, (unsigned)(f->ip_end - f->ip_off - 40));
	else
		set16(f, f->ip_off + 2, (unsigned)(f->ip_end - f->ip_off));
	for (size_t i = 0; i < p->padding; i++)
		put8(f, p->pad_byte);
}

/* The segment build() describes, with no options parsed. */
static struct tcp_segment want_for(const struct pkt *p)
{
	struct tcp_segment w = { 0 };

	if (p->family == 6) {
		w.src.family = w.dst.family = 6;
		memcpy(w.src.bytes, addr6_src, 16);
		memcpy(w.dst.bytes, addr6_dst, 16);
		w.ip_id = 0;
	} else {
		w.src.family = w.dst.family = 4;
		memcpy(w.src.bytes, addr4_src, 4);
		memcpy(w.dst.bytes, addr4_dst, 4);
		w.ip_id = STD_IP_ID;
	}
	w.sport = STD_SPORT;
	w.dport = STD_DPORT;
	w.seq = STD_SEQ;
	w.ack = STD_ACK;
	w.flags = p->flags != 0 ? p->flags : STD_FLAGS;
	w.window = STD_WINDOW;
	w.payload_len = (uint32_t)p->payload;
	w.payload_captured = (uint32_t)p->payload;
	w.truncated = false;
	w.ttl = STD_TTL;
	w.options_len = (uint8_t)p->topt_len;
	return w;
}

/* std_opts as the segment should show them. */
static void want_std_options(struct tcp_segment *w)
{
	w->options = TCP_OPT_MSS | TCP_OPT_SACK_PERM | TCP_OPT_TIMESTAMP | TCP_OPT_WSCALE;
	w->mss = 1460;
	w->wscale = 7;
	w->ts_val = 0x11223344;
	w->ts_ecr = 0x55667788;
	/* mss, sackOK, TS, nop, wscale: codes 2 4 6 1 3, the first in the low nibble */
	w->option_order = 0x31642;
}

/* The option_order of std_opts when only its first k bytes were captured: the options wholly
 * inside (MSS 0-3, SACK-permitted 4-5, timestamps 6-15, NOP 16, window scale 17-19). */
static uint32_t std_order_within(size_t k)
{
	static const struct { size_t end; uint32_t order; } steps[] = {
		{ 20, 0x31642 }, { 17, 0x1642 }, { 16, 0x642 }, { 6, 0x42 }, { 4, 0x2 },
	};

	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (k >= steps[i].end)
			return steps[i].order;
	return 0;
}

/* Compares every field, reporting the caller's line. */
#define FIELD_EQ(field)                                                                          \
	CU_assertImplementation(got->field == want->field, line, "segment." #field " as expected", \
	                        __FILE__, "", CU_FALSE)

static void check_segment_at(unsigned line, const struct tcp_segment *got,
                             const struct tcp_segment *want)
{
	CU_assertImplementation(memcmp(&got->src, &want->src, sizeof got->src) == 0, line,
	                        "segment.src as expected", __FILE__, "", CU_FALSE);
	CU_assertImplementation(memcmp(&got->dst, &want->dst, sizeof got->dst) == 0, line,
	                        "segment.dst as expected", __FILE__, "", CU_FALSE);
	FIELD_EQ(sport);
	FIELD_EQ(dport);
	FIELD_EQ(seq);
	FIELD_EQ(ack);
	FIELD_EQ(flags);
	FIELD_EQ(window);
	FIELD_EQ(payload_len);
	FIELD_EQ(payload_captured);
	FIELD_EQ(truncated);
	FIELD_EQ(ttl);
	FIELD_EQ(ip_id);
	FIELD_EQ(options);
	FIELD_EQ(options_len);
	FIELD_EQ(option_order);
	FIELD_EQ(mss);
	FIELD_EQ(wscale);
	FIELD_EQ(sack_blocks);
	FIELD_EQ(ts_val);
	FIELD_EQ(ts_ecr);
}
#define CHECK_SEGMENT(got, want) check_segment_at(__LINE__, (got), (want))

/* Dissects the first `caplen` bytes of f from a heap copy of exactly that size. */
static enum dissect_result dissect_prefix(int dlt, const struct frame *f, size_t caplen,
                                          struct tcp_segment *seg)
{
	uint8_t *copy;
	enum dissect_result r;

	if (caplen > f->n || caplen > FRAME_MAX) {
		fprintf(stderr, "prefix of %zu bytes from a %zu-byte frame\n", caplen, f->n);
		abort();
	}
	copy = malloc(caplen);
	if (copy == NULL && caplen != 0) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	if (caplen != 0)
		memcpy(copy, f->b, caplen);
	r = dissect_frame(dlt, copy, (uint32_t)caplen, seg);
	free(copy);
	return r;
}

static enum dissect_result dissect_whole(int dlt, const struct frame *f, struct tcp_segment *seg)
{
	return dissect_prefix(dlt, f, f->n, seg);
}

/* Builds p, dissects it whole, expects `result`. */
static enum dissect_result run(const struct pkt *p, struct frame *f, struct tcp_segment *seg)
{
	build(f, p);
	return dissect_whole(p->dlt, f, seg);
}

/* Builds p with std_opts and a payload, expects the full segment back. */
static void expect_std(unsigned line, struct pkt p)
{
	struct frame f;
	struct tcp_segment seg, want;
	enum dissect_result r;

	p.topts = std_opts;
	p.topt_len = sizeof std_opts;
	if (p.payload == 0)
		p.payload = 5;
	r = run(&p, &f, &seg);
	CU_assertImplementation(r == DISSECT_TCP, line, "result is tcp", __FILE__, "", CU_FALSE);
	if (r != DISSECT_TCP)
		return;
	want = want_for(&p);
	want_std_options(&want);
	check_segment_at(line, &seg, &want);
}
#define EXPECT_STD(...) expect_std(__LINE__, (struct pkt){ __VA_ARGS__ })

static enum dissect_result result_of(struct pkt p)
{
	struct frame f;
	struct tcp_segment seg;

	return run(&p, &f, &seg);
}
#define RESULT_OF(...) result_of((struct pkt){ __VA_ARGS__ })

/* ---- valid segments on every link type ------------------------------------------------------ */

static void test_eth_ipv4_tcp_all_fields(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .topts = std_opts,
	                 .topt_len = sizeof std_opts, .flags = TCP_SYN | TCP_ECE | TCP_CWR };
	struct frame f;
	struct tcp_segment seg, want;

	CU_ASSERT_EQUAL_FATAL(run(&p, &f, &seg), DISSECT_TCP);
	/* 14 Ethernet + 20 IPv4 + 40 TCP, nothing else */
	CU_ASSERT_EQUAL(f.n, 74);
	want = want_for(&p);
	want_std_options(&want);
	CHECK_SEGMENT(&seg, &want);
	/* And the literal values, in case the builder and the expectation agree on a mistake. */
	CU_ASSERT_EQUAL(seg.sport, 40000);
	CU_ASSERT_EQUAL(seg.dport, 443);
	CU_ASSERT_EQUAL(seg.seq, 0x01020304u);
	CU_ASSERT_EQUAL(seg.ack, 0xa0b0c0d0u);
	CU_ASSERT_EQUAL(seg.flags, 0xc2);
	CU_ASSERT_EQUAL(seg.window, 502);
	CU_ASSERT_EQUAL(seg.mss, 1460);
	CU_ASSERT_EQUAL(seg.wscale, 7);
	CU_ASSERT_EQUAL(seg.ts_val, 0x11223344u);
	CU_ASSERT_EQUAL(seg.ts_ecr, 0x55667788u);
	CU_ASSERT_EQUAL(seg.options_len, 20);
	CU_ASSERT_EQUAL(seg.options, TCP_OPT_MSS | TCP_OPT_WSCALE | TCP_OPT_SACK_PERM |
	                                     TCP_OPT_TIMESTAMP);
	CU_ASSERT_EQUAL(seg.src.family, 4);
	CU_ASSERT_EQUAL(seg.src.bytes[0], 198);
	CU_ASSERT_EQUAL(seg.dst.bytes[3], 2);
	CU_ASSERT_EQUAL(seg.src.bytes[4], 0);
	CU_ASSERT_EQUAL(seg.ttl, 64);
	CU_ASSERT_EQUAL(seg.ip_id, 0x1234);
	CU_ASSERT_EQUAL(seg.payload_len, 0);
	CU_ASSERT_FALSE(seg.truncated);
}

static void test_eth_ipv6_tcp_all_fields(void)
{
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 6, .payload = 100);
}

/* A hand-written frame, independent of the builder:
 *   Ethernet 02:..:02 <- 02:..:01, IPv4
 *   IPv4 10.0.0.1 -> 10.0.0.2, TTL 128, ID 0xbeef, total 44, TCP
 *   TCP 80 -> 1025, seq 1, ack 2, data offset 6, SYN|ACK, window 8192, MSS 536
 *   no payload (44 - 20 - 24 = 0), then 16 bytes of Ethernet padding */
static void test_literal_frame(void)
{
	static const uint8_t frame[] = {
		0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
		0x45, 0x00, 0x00, 0x2c, 0xbe, 0xef, 0x00, 0x00, 0x80, 0x06, 0x00, 0x00,
		10, 0, 0, 1, 10, 0, 0, 2,
		0x00, 0x50, 0x04, 0x01, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x20, 0x00, 0, 0, 0, 0,
		0x02, 0x04, 0x02, 0x18,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct tcp_segment seg;

	CU_ASSERT_EQUAL_FATAL(dissect_frame(DLT_EN10MB, frame, sizeof frame, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(seg.src.family, 4);
	CU_ASSERT_EQUAL(memcmp(seg.src.bytes, (const uint8_t[16]){ 10, 0, 0, 1 }, 16), 0);
	CU_ASSERT_EQUAL(memcmp(seg.dst.bytes, (const uint8_t[16]){ 10, 0, 0, 2 }, 16), 0);
	CU_ASSERT_EQUAL(seg.sport, 80);
	CU_ASSERT_EQUAL(seg.dport, 1025);
	CU_ASSERT_EQUAL(seg.seq, 1);
	CU_ASSERT_EQUAL(seg.ack, 2);
	CU_ASSERT_EQUAL(seg.flags, TCP_SYN | TCP_ACK);
	CU_ASSERT_EQUAL(seg.window, 8192);
	CU_ASSERT_EQUAL(seg.ttl, 128);
	CU_ASSERT_EQUAL(seg.ip_id, 0xbeef);
	CU_ASSERT_EQUAL(seg.options, TCP_OPT_MSS);
	CU_ASSERT_EQUAL(seg.options_len, 4);
	CU_ASSERT_EQUAL(seg.mss, 536);
	CU_ASSERT_EQUAL(seg.payload_len, 0);
	CU_ASSERT_EQUAL(seg.payload_captured, 0);
	CU_ASSERT_FALSE(seg.truncated);
}

static void test_vlan_8021q(void)
{
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 4, .tags = { 0x8100 }, .ntags = 1);
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 6, .tags = { 0x8100 }, .ntags = 1);
}

static void test_qinq(void)
{
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 4, .tags = { 0x88a8, 0x8100 }, .ntags = 2);
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 6, .tags = { 0x9100, 0x8100 }, .ntags = 2);
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 4,
	           .tags = { 0x88a8, 0x9100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100 },
	           .ntags = 8);
}

static void test_vlan_stack_too_deep_is_malformed(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4,
	                          .tags = { 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100,
	                                    0x8100, 0x8100 },
	                          .ntags = 9),
	                DISSECT_MALFORMED);
}

static void test_vlan_tag_with_arp_or_length_is_not_ip(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .tags = { 0x8100 }, .ntags = 1,
	                          .link_proto = 0x0806),
	                DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .tags = { 0x8100 }, .ntags = 1,
	                          .link_proto = 0x0040),
	                DISSECT_NOT_IP);
}

static void test_sll_v1(void)
{
	EXPECT_STD(.dlt = DLT_LINUX_SLL, .family = 4);
	EXPECT_STD(.dlt = DLT_LINUX_SLL, .family = 6);
	/* libpcap re-inserts a stripped VLAN tag after the cooked header's protocol */
	EXPECT_STD(.dlt = DLT_LINUX_SLL, .family = 4, .tags = { 0x8100 }, .ntags = 1);
	/* ETH_P_802_2 and ARP */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_LINUX_SLL, .family = 4, .link_proto = 0x0004),
	                DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_LINUX_SLL, .family = 4, .link_proto = 0x0806),
	                DISSECT_NOT_IP);
}

static void test_sll_v2(void)
{
	EXPECT_STD(.dlt = DLT_LINUX_SLL2, .family = 4);
	EXPECT_STD(.dlt = DLT_LINUX_SLL2, .family = 6);
	EXPECT_STD(.dlt = DLT_LINUX_SLL2, .family = 6, .tags = { 0x8100 }, .ntags = 1);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_LINUX_SLL2, .family = 4, .link_proto = 0x88cc),
	                DISSECT_NOT_IP);
}

static void test_raw_ip(void)
{
	EXPECT_STD(.dlt = DLT_RAW, .family = 4);
	EXPECT_STD(.dlt = DLT_RAW, .family = 6);
	EXPECT_STD(.dlt = LINKTYPE_RAW_FILE, .family = 4);
	EXPECT_STD(.dlt = LINKTYPE_RAW_FILE, .family = 6);
	EXPECT_STD(.dlt = DLT_IPV4, .family = 4);
	EXPECT_STD(.dlt = DLT_IPV6, .family = 6);
}

static void test_raw_ip_version_mismatch_is_malformed(void)
{
	struct pkt p4 = { .dlt = DLT_RAW, .family = 4 };
	struct frame f;
	struct tcp_segment seg;

	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_IPV4, .family = 6), DISSECT_MALFORMED);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_IPV6, .family = 4), DISSECT_MALFORMED);
	/* Ethernet says IPv4, the header says 6 */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .link_proto = 0x0800),
	                DISSECT_MALFORMED);
	/* raw IP with version 5 */
	build(&f, &p4);
	f.b[0] = 0x55;
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
}

static void test_bsd_null_both_byte_orders(void)
{
	static const uint32_t inet6[] = { 24, 28, 30 };

	EXPECT_STD(.dlt = DLT_NULL, .family = 4, .null_little_endian = true);
	EXPECT_STD(.dlt = DLT_NULL, .family = 4, .null_little_endian = false);
	for (size_t i = 0; i < 3; i++) {
		EXPECT_STD(.dlt = DLT_NULL, .family = 6, .null_af = inet6[i],
		           .null_little_endian = true);
		EXPECT_STD(.dlt = DLT_NULL, .family = 6, .null_af = inet6[i],
		           .null_little_endian = false);
	}
	/* AF_INET announced, IPv6 inside */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_NULL, .family = 6, .null_af = 2), DISSECT_MALFORMED);
	/* AF_UNIX, AF_APPLETALK (16), Linux's AF_INET6 (10): not IP */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_NULL, .family = 4, .null_af = 1), DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_NULL, .family = 4, .null_af = 16,
	                          .null_little_endian = true),
	                DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_NULL, .family = 6, .null_af = 10), DISSECT_NOT_IP);
}

static void test_openbsd_loop_network_order(void)
{
	EXPECT_STD(.dlt = DLT_LOOP, .family = 4);
	EXPECT_STD(.dlt = DLT_LOOP, .family = 6);
	EXPECT_STD(.dlt = DLT_LOOP, .family = 6, .null_af = 28);
	/* DLT_LOOP is always network order: a little-endian AF_INET (02 00 00 00) is not IP */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_LOOP, .family = 4, .null_af = 0x02000000),
	                DISSECT_NOT_IP);
	/* AF_INET announced, IPv6 inside */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_LOOP, .family = 6, .null_af = 2), DISSECT_MALFORMED);
}

static void test_ipv4_options_skipped(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .ip4_opt_words = 3, .payload = 9 };
	struct frame f;
	struct tcp_segment seg, want;

	CU_ASSERT_EQUAL_FATAL(run(&p, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(f.b[f.ip_off], 0x48); /* IHL 8 */
	want = want_for(&p);
	CHECK_SEGMENT(&seg, &want);
	EXPECT_STD(.dlt = DLT_RAW, .family = 4, .ip4_opt_words = 10); /* maximum IHL 15 */
}

/* ---- IPv6 extension headers ----------------------------------------------------------------- */

static void test_ipv6_extension_chain(void)
{
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 6, .ext = { 0, 60, 43, 60 }, .next = 4);
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 6, .ext = { 0 }, .next = 1);
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 43 }, .next = 1);
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 51 }, .next = 1);   /* AH: 4-byte units */
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 60, 51, 60 }, .next = 3);
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 140 }, .next = 1);  /* Shim6 */
	EXPECT_STD(.dlt = DLT_RAW, .family = 6,
	           .ext = { 0, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60 }, .next = 15);
}

static void test_ipv6_extension_chain_too_long_is_malformed(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_RAW, .family = 6,
	                          .ext = { 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60,
	                                   60, 60 },
	                          .next = 16),
	                DISSECT_MALFORMED);
}

static void test_ipv6_hop_by_hop_not_first_is_malformed(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_RAW, .family = 6, .ext = { 60, 0 }, .next = 2),
	                DISSECT_MALFORMED);
}

static void test_ipv6_extension_past_payload_length_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_RAW, .family = 6, .ext = { 60 }, .next = 1 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	/* Payload length 12: the 16-byte destination options header does not fit. */
	set16(&f, 4, 12);
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
	/* Payload length 1: not even the Next Header / length pair fits. */
	set16(&f, 4, 1);
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
	/* Payload length 16: the header fits, TCP does not. */
	set16(&f, 4, 16);
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
	/* A header longer than the capture but inside the declared length: truncated. */
	set16(&f, 4, (unsigned)(f.n - 40));
	CU_ASSERT_EQUAL(dissect_prefix(DLT_RAW, &f, 40 + 10, &seg), DISSECT_TRUNCATED);
}

static void test_ipv6_payload_length_zero_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_RAW, .family = 6, .ext = { 0 }, .next = 1 };
	struct frame f;
	struct tcp_segment seg;

	/* A jumbogram would look like this (RFC 2675); it is not supported. */
	build(&f, &p);
	set16(&f, 4, 0);
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
	p.next = 0;
	build(&f, &p);
	set16(&f, 4, 0);
	CU_ASSERT_EQUAL(dissect_whole(DLT_RAW, &f, &seg), DISSECT_MALFORMED);
}

static void test_ipv6_esp_and_no_next_header_are_not_tcp(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_RAW, .family = 6, .proto = 50), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_RAW, .family = 6, .proto = 59), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_RAW, .family = 6, .ext = { 0, 60 }, .next = 2,
	                          .proto = 59),
	                DISSECT_NOT_TCP);
}

static void test_ipv6_atomic_fragment_is_tcp(void)
{
	/* RFC 6946: offset 0, M clear: a whole packet with a fragment header. */
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 44 }, .next = 1, .frag6 = 0);
	EXPECT_STD(.dlt = DLT_RAW, .family = 6, .ext = { 0, 44, 60 }, .next = 3, .frag6 = 0);
}

/* ---- fragments, other protocols, other frames ----------------------------------------------- */

static void test_fragments(void)
{
	/* IPv4 first fragment: MF set, offset 0 */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .ip4_frag = 0x2000, .payload = 8),
	                DISSECT_FRAGMENT);
	/* IPv4 last fragment: MF clear, offset 185 (1480 bytes) */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .ip4_frag = 185, .payload = 8),
	                DISSECT_FRAGMENT);
	/* IPv4 middle fragment, offset 1 */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .ip4_frag = 0x2001, .payload = 8),
	                DISSECT_FRAGMENT);
	/* IPv6 first fragment (M set), later fragment (offset 185), after a hop-by-hop header */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .ext = { 44 }, .next = 1,
	                          .frag6 = 0x0001),
	                DISSECT_FRAGMENT);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .ext = { 44 }, .next = 1,
	                          .frag6 = 185 << 3),
	                DISSECT_FRAGMENT);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .ext = { 0, 44 }, .next = 2,
	                          .frag6 = 0x0009),
	                DISSECT_FRAGMENT);
}

static void test_ipv4_dont_fragment_alone_is_tcp(void)
{
	/* build() always sets DF; the reserved bit (0x8000) does not make a fragment either */
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 4);
	EXPECT_STD(.dlt = DLT_EN10MB, .family = 4, .ip4_frag = 0x8000);
}

static void test_udp_icmp_are_not_tcp(void)
{
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .proto = 17), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .proto = 1), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .proto = 17), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .proto = 58), DISSECT_NOT_TCP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 6, .ext = { 0, 60 }, .next = 2,
	                          .proto = 58),
	                DISSECT_NOT_TCP);
}

static void test_arp_and_802_3_are_not_ip(void)
{
	/* ARP request: who-has 198.51.100.2 tell 198.51.100.1 */
	static const uint8_t arp[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
		0x02, 0, 0, 0, 0, 0x01, 198, 51, 100, 1,
		0, 0, 0, 0, 0, 0, 198, 51, 100, 2,
	};
	/* 802.3 frame with length 38 and an LLC header (STP: DSAP 0x42, SSAP 0x42, UI) */
	static const uint8_t llc[] = {
		0x01, 0x80, 0xc2, 0, 0, 0, 0x02, 0, 0, 0, 0, 0x01, 0x00, 0x26,
		0x42, 0x42, 0x03, 0, 0, 0, 0, 0,
	};
	struct tcp_segment seg;

	CU_ASSERT_EQUAL(dissect_frame(DLT_EN10MB, arp, sizeof arp, &seg), DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(dissect_frame(DLT_EN10MB, llc, sizeof llc, &seg), DISSECT_NOT_IP);
	/* IPv4 bytes behind an 802.3 length are still not IP; nor behind LLDP's EtherType */
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .link_proto = 0x05ff),
	                DISSECT_NOT_IP);
	CU_ASSERT_EQUAL(RESULT_OF(.dlt = DLT_EN10MB, .family = 4, .link_proto = 0x88cc),
	                DISSECT_NOT_IP);
}

static void test_ethernet_padding_is_not_payload(void)
{
	/* A pure ACK is 54 bytes; the sender pads it to the 60-byte minimum. */
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .flags = TCP_ACK, .padding = 6 };
	struct frame f;
	struct tcp_segment seg, want;

	CU_ASSERT_EQUAL_FATAL(run(&p, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(f.n, 60);
	want = want_for(&p);
	CHECK_SEGMENT(&seg, &want);

	/* Padding that looks like options or payload is still ignored, on IPv6 too. */
	p = (struct pkt){ .dlt = DLT_EN10MB, .family = 6, .payload = 3, .padding = 30,
	                  .pad_byte = 0x02 };
	CU_ASSERT_EQUAL_FATAL(run(&p, &f, &seg), DISSECT_TCP);
	want = want_for(&p);
	CHECK_SEGMENT(&seg, &want);

	/* The options area ends at the data offset, not at the end of the frame. */
	p = (struct pkt){ .dlt = DLT_EN10MB, .family = 4, .padding = 20, .pad_byte = 0x02 };
	build(&f, &p);
	for (size_t i = f.ip_end; i + 4 <= f.n; i += 4) {
		f.b[i] = 2;
		f.b[i + 1] = 4;
		f.b[i + 2] = 0x05;
		f.b[i + 3] = 0xb4;
	}
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	want = want_for(&p);
	CHECK_SEGMENT(&seg, &want);
}

/* ---- snaplen ---------------------------------------------------------------------------------- */

static void test_snaplen_cuts_payload(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .topts = std_opts,
	                 .topt_len = sizeof std_opts, .payload = 1400 };
	struct frame f;
	struct tcp_segment seg, want;

	build(&f, &p);
	/* tcpdump -s 96 */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, 96, &seg), DISSECT_TCP);
	want = want_for(&p);
	want_std_options(&want);
	want.payload_captured = (uint32_t)(96 - f.tcp_hdr_end);
	want.truncated = true;
	CHECK_SEGMENT(&seg, &want);
	CU_ASSERT_EQUAL(seg.payload_len, 1400);
	CU_ASSERT_EQUAL(seg.payload_captured, 22);

	/* Cut exactly at the end of the header: nothing of the payload. */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, f.tcp_hdr_end, &seg), DISSECT_TCP);
	want.payload_captured = 0;
	CHECK_SEGMENT(&seg, &want);

	/* One byte short of the whole frame. */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, f.n - 1, &seg), DISSECT_TCP);
	want.payload_captured = 1399;
	CHECK_SEGMENT(&seg, &want);
}

static void test_snaplen_cuts_options(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 6, .topts = std_opts,
	                 .topt_len = sizeof std_opts, .payload = 10 };
	struct frame f;
	struct tcp_segment seg, want;
	size_t opts = 0;

	build(&f, &p);
	opts = f.tcp_off + 20;
	want = want_for(&p);
	want.truncated = true;
	want.payload_captured = 0;

	/* Inside the timestamp option (it starts 6 bytes in): MSS and SACK-permitted kept. */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, opts + 12, &seg), DISSECT_TCP);
	want.options = TCP_OPT_MSS | TCP_OPT_SACK_PERM;
	want.mss = 1460;
	want.option_order = 0x42;
	CHECK_SEGMENT(&seg, &want);

	/* Inside the MSS option: nothing kept. */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, opts + 3, &seg), DISSECT_TCP);
	want.options = 0;
	want.mss = 0;
	want.option_order = 0;
	CHECK_SEGMENT(&seg, &want);

	/* Right after the NOP, before window scale: all but window scale. */
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, opts + 17, &seg), DISSECT_TCP);
	want_std_options(&want);
	want.options &= (uint8_t)~TCP_OPT_WSCALE;
	want.wscale = 0;
	want.option_order = 0x1642;
	CHECK_SEGMENT(&seg, &want);
}

static void test_snaplen_cuts_options_of_syn(void)
{
	/* No payload: only the cut options can make the segment truncated. */
	struct pkt p = { .dlt = DLT_LINUX_SLL2, .family = 4, .flags = TCP_SYN, .topts = std_opts,
	                 .topt_len = sizeof std_opts };
	struct frame f;
	struct tcp_segment seg, want;

	build(&f, &p);
	CU_ASSERT_EQUAL_FATAL(dissect_prefix(p.dlt, &f, f.n - 1, &seg), DISSECT_TCP);
	want = want_for(&p);
	want_std_options(&want);
	want.options &= (uint8_t)~TCP_OPT_WSCALE;
	want.wscale = 0;
	want.option_order = 0x1642; /* the cut window scale is not in the order either */
	want.truncated = true;
	CHECK_SEGMENT(&seg, &want);
	CU_ASSERT_EQUAL(seg.payload_len, 0);
	CU_ASSERT_TRUE(seg.truncated);

	/* Whole: not truncated. */
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	CU_ASSERT_FALSE(seg.truncated);
}

/* The order of the options is kept as the SYN had them: the layouts of other stacks. */
static void test_option_order_of_other_stacks(void)
{
	/* macOS: mss 1460, nop, wscale 6, nop, nop, TS, sackOK, eol (24 bytes) */
	static const uint8_t macos[] = {
		0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x06, 0x01, 0x01,
		0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00,
	};
	/* Windows: mss 1460, nop, wscale 8, nop, nop, sackOK (12 bytes) */
	static const uint8_t windows[] = {
		0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x08, 0x01, 0x01, 0x04, 0x02,
	};
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .flags = TCP_SYN, .topts = macos,
	                 .topt_len = sizeof macos };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(seg.option_order, 0x74611312u); /* codes 2 1 3 1 1 6 4 7, first lowest */
	CU_ASSERT_EQUAL(seg.wscale, 6);

	p.topts = windows;
	p.topt_len = sizeof windows;
	build(&f, &p);
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(seg.option_order, 0x411312u);
}

static void test_truncated_headers(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .ip4_opt_words = 3, .payload = 4 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	/* Ethernet cut, IPv4 base cut, IPv4 options cut, TCP base cut */
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, 13, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.ip_off + 19, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.ip_off + 25, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off + 19, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off + 20, &seg), DISSECT_TCP);
	/* A cut fragment is still a fragment once the IPv4 header is there */
	p.ip4_frag = 0x2000;
	build(&f, &p);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off, &seg), DISSECT_FRAGMENT);
	/* ... but with its options cut, the IPv4 header is not all there */
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off - 1, &seg), DISSECT_TRUNCATED);
	p.ip4_frag = 0;
	p.proto = 17;
	build(&f, &p);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off - 1, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_prefix(p.dlt, &f, f.tcp_off, &seg), DISSECT_NOT_TCP);
}

static void test_ip_length_beyond_capture(void)
{
	/* The capture holds a whole frame but the IPv4 total length claims 100 bytes more: the
	 * segment is usable and marked truncated. */
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .payload = 10 };
	struct frame f;
	struct tcp_segment seg, want;

	build(&f, &p);
	set16(&f, f.ip_off + 2, (unsigned)(f.ip_end - f.ip_off + 100));
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	want = want_for(&p);
	want.payload_len = 110;
	want.payload_captured = 10;
	want.truncated = true;
	CHECK_SEGMENT(&seg, &want);
}

/* ---- malformed headers -------------------------------------------------------------------- */

static void test_ipv4_ihl_below_5_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .payload = 20 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		f.b[f.ip_off] = (uint8_t)(0x40 | ihl);
		CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	}
}

static void test_ipv4_total_length_below_header_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .payload = 20 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	set16(&f, f.ip_off + 2, 19);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	set16(&f, f.ip_off + 2, 0);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);

	/* With options: IHL 8 (32 bytes), total length 30 */
	p.ip4_opt_words = 3;
	build(&f, &p);
	set16(&f, f.ip_off + 2, 30);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
}

static void test_ip_length_too_short_for_tcp_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .payload = 20 };
	struct frame f;
	struct tcp_segment seg;

	/* IPv4 header fine, but it declares only 10 bytes of TCP */
	build(&f, &p);
	set16(&f, f.ip_off + 2, 30);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	/* IPv6 payload length 19 */
	p.family = 6;
	build(&f, &p);
	set16(&f, f.ip_off + 4, 19);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
}

static void test_tcp_data_offset_below_5_is_malformed(void)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .payload = 20 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	for (unsigned doff = 0; doff < 5; doff++) {
		f.b[f.tcp_off + 12] = (uint8_t)(doff << 4);
		CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	}
}

static void test_tcp_data_offset_beyond_ip_length_is_malformed(void)
{
	/* 20-byte TCP header, no payload; the data offset claims 24 bytes */
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .padding = 10 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	f.b[f.tcp_off + 12] = 6 << 4;
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	/* Data offset 15 with 8 payload bytes declared: header past the IP end */
	p = (struct pkt){ .dlt = DLT_RAW, .family = 6, .payload = 8 };
	build(&f, &p);
	f.b[f.tcp_off + 12] = 15 << 4;
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_MALFORMED);
	/* ... but data offset 7 fits inside the declared 28 bytes: TCP, 0 payload */
	f.b[f.tcp_off + 12] = 7 << 4;
	CU_ASSERT_EQUAL_FATAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(seg.options_len, 8);
	CU_ASSERT_EQUAL(seg.payload_len, 0);
	CU_ASSERT_EQUAL(seg.options, 0); /* 8 bytes of 'a'..'h': kind 97, length 98: stops */
}

/* ---- TCP options ------------------------------------------------------------------------------ */

/* Dissects a plain Ethernet/IPv4 segment carrying `opts` (a multiple of 4 bytes). */
static struct tcp_segment with_options(const uint8_t *opts, size_t len)
{
	struct pkt p = { .dlt = DLT_EN10MB, .family = 4, .topts = opts, .topt_len = len,
	                 .payload = 2 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	CU_ASSERT_EQUAL(dissect_whole(p.dlt, &f, &seg), DISSECT_TCP);
	CU_ASSERT_EQUAL(seg.options_len, len);
	CU_ASSERT_EQUAL(seg.payload_len, 2);
	CU_ASSERT_EQUAL(seg.payload_captured, 2);
	CU_ASSERT_FALSE(seg.truncated);
	return seg;
}

static void test_option_sack_blocks(void)
{
	/* NOP NOP | SACK 3 blocks (26 bytes) | NOP NOP | TS 1 2  = 40 bytes */
	static const uint8_t opts[] = {
		1, 1, 5, 26,
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6,
		1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
	};
	/* SACK 4 blocks (34 bytes) | NOP NOP */
	static const uint8_t four[36] = { 5, 34, [34] = 1, [35] = 1 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_SACK | TCP_OPT_TIMESTAMP);
	CU_ASSERT_EQUAL(seg.sack_blocks, 3);
	CU_ASSERT_EQUAL(seg.ts_val, 1);
	CU_ASSERT_EQUAL(seg.ts_ecr, 2);
	seg = with_options(four, sizeof four);
	CU_ASSERT_EQUAL(seg.options, TCP_OPT_SACK);
	CU_ASSERT_EQUAL(seg.sack_blocks, 4);
}

static void test_option_sack_bad_length_ignored(void)
{
	/* SACK len 12 (not 2 + 8n) | MSS 1000 | SACK len 2 (no block) | NOP NOP */
	static const uint8_t opts[] = {
		5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 4, 0x03, 0xe8,
		5, 2, 1, 1,
	};
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_MSS);
	CU_ASSERT_EQUAL(seg.mss, 1000);
	CU_ASSERT_EQUAL(seg.sack_blocks, 0);
}

static void test_option_len_zero_stops_walk(void)
{
	/* MSS 1200 | kind 30 len 0 | WS 3 | NOP  (WS must not be seen) */
	static const uint8_t opts[] = { 2, 4, 0x04, 0xb0, 30, 0, 3, 3, 3, 1, 1, 1 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_MSS);
	CU_ASSERT_EQUAL(seg.mss, 1200);
	CU_ASSERT_EQUAL(seg.wscale, 0);
}

static void test_option_len_one_stops_walk(void)
{
	static const uint8_t opts[] = { 4, 2, 8, 1, 3, 3, 3, 0 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_SACK_PERM);
}

static void test_option_len_past_end_stops_walk(void)
{
	/* WS 9 | MSS with length 40 running past the 8-byte options area */
	static const uint8_t opts[] = { 3, 3, 9, 2, 40, 0x05, 0xb4, 0 };
	/* A kind byte as the last option byte, without its length */
	static const uint8_t last[] = { 1, 1, 1, 2 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_WSCALE);
	CU_ASSERT_EQUAL(seg.wscale, 9);
	CU_ASSERT_EQUAL(seg.mss, 0);
	seg = with_options(last, sizeof last);
	CU_ASSERT_EQUAL(seg.options, 0);
}

static void test_option_wrong_length_for_known_kind_ignored(void)
{
	/* MSS len 6 | WS len 4 | SACK-perm len 3 | TS len 12 | SACK 1 block | NOP:
	 * only the SACK is well formed, and the walk reaches it */
	static const uint8_t opts[] = {
		2, 6, 0x05, 0xb4, 0, 0,
		3, 4, 7, 0,
		4, 3, 0,
		8, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
		5, 10, 0, 0, 0, 1, 0, 0, 0, 2,
		1,
	};
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(sizeof opts, 36);
	CU_ASSERT_EQUAL(seg.options, TCP_OPT_SACK);
	CU_ASSERT_EQUAL(seg.sack_blocks, 1);
	CU_ASSERT_EQUAL(seg.mss, 0);
	CU_ASSERT_EQUAL(seg.wscale, 0);
	CU_ASSERT_EQUAL(seg.ts_val, 0);
	CU_ASSERT_EQUAL(seg.ts_ecr, 0);
}

static void test_option_eol_ends_walk(void)
{
	/* MSS 1460 | EOL | then bytes that would read as "kind 0 len 2", WS 7, if the walk went on */
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 0, 2, 3, 3, 7, 1, 1, 1 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_MSS);
	CU_ASSERT_EQUAL(seg.wscale, 0);
}

static void test_option_unknown_kinds_skipped(void)
{
	/* MPTCP (30) len 12 | TCP-AO (29) len 4 | WS 14 | NOP  -> only WS known */
	static const uint8_t opts[] = {
		30, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		29, 4, 0, 0,
		3, 3, 14, 1,
	};
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_WSCALE);
	CU_ASSERT_EQUAL(seg.wscale, 14);
}

static void test_option_values_as_sent(void)
{
	/* window scale 15 is reported as sent (the analyzer clamps); MSS 0 is a value too;
	 * a repeated option: the later one counts, as in Linux */
	static const uint8_t opts[] = { 3, 3, 15, 2, 4, 0, 0, 2, 4, 0x05, 0x78, 1 };
	struct tcp_segment seg = with_options(opts, sizeof opts);

	CU_ASSERT_EQUAL(seg.options, TCP_OPT_WSCALE | TCP_OPT_MSS);
	CU_ASSERT_EQUAL(seg.wscale, 15);
	CU_ASSERT_EQUAL(seg.mss, 1400);
}

/* ---- link types and names ----------------------------------------------------------------- */

static void test_unsupported_link_type(void)
{
	static const int dlts[] = { -1, 2, 9, 105, 127, 147, 0x7fffffff };
	struct pkt p = { .dlt = DLT_RAW, .family = 4 };
	struct frame f;
	struct tcp_segment seg;

	build(&f, &p);
	for (size_t i = 0; i < sizeof dlts / sizeof dlts[0]; i++) {
		CU_ASSERT_EQUAL(dissect_whole(dlts[i], &f, &seg), DISSECT_UNSUPPORTED_LINK);
		CU_ASSERT_FALSE(dissect_link_supported(dlts[i]));
		CU_ASSERT_PTR_NULL(dissect_link_name(dlts[i]));
	}
	CU_ASSERT_EQUAL(dissect_frame(105, NULL, 0, &seg), DISSECT_UNSUPPORTED_LINK);
}

static void test_link_names(void)
{
	static const struct {
		int dlt;
		const char *name;
	} links[] = {
		{ DLT_EN10MB, "Ethernet" },
		{ DLT_LINUX_SLL, "Linux cooked v1" },
		{ DLT_LINUX_SLL2, "Linux cooked v2" },
		{ DLT_RAW, "raw IP" },
		{ LINKTYPE_RAW_FILE, "raw IP" },
		{ DLT_IPV4, "raw IPv4" },
		{ DLT_IPV6, "raw IPv6" },
		{ DLT_NULL, "BSD loopback" },
		{ DLT_LOOP, "OpenBSD loopback" },
	};

	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		const char *name = dissect_link_name(links[i].dlt);

		CU_ASSERT_TRUE(dissect_link_supported(links[i].dlt));
		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		if (name != NULL) /* for clang-tidy's analyzer, which does not know _FATAL stops */
			CU_ASSERT_STRING_EQUAL(name, links[i].name);
	}
}

static void test_result_names(void)
{
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_TCP), "tcp");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_NOT_IP), "not_ip");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_NOT_TCP), "not_tcp");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_FRAGMENT), "fragment");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_TRUNCATED), "truncated");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_MALFORMED), "malformed");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_UNSUPPORTED_LINK), "unsupported_link");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_BAD_ENCAP), "bad_encapsulation");
	CU_ASSERT_STRING_EQUAL(dissect_result_name(DISSECT_ENCAP_TOO_DEEP), "encapsulation_too_deep");
	CU_ASSERT_EQUAL(DISSECT_RESULT_COUNT, 9);
	CU_ASSERT_PTR_NOT_NULL(dissect_result_name(DISSECT_RESULT_COUNT));
	CU_ASSERT_PTR_NOT_NULL(dissect_result_name((enum dissect_result)-1));
}

static void test_empty_frame(void)
{
	struct tcp_segment seg;
	static const uint8_t one = 0x45;

	CU_ASSERT_EQUAL(dissect_frame(DLT_EN10MB, NULL, 0, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_frame(DLT_RAW, NULL, 0, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_frame(DLT_RAW, &one, 1, &seg), DISSECT_TRUNCATED);
	CU_ASSERT_EQUAL(dissect_frame(DLT_RAW, &one, 0, &seg), DISSECT_TRUNCATED);
}

/* ---- robustness ------------------------------------------------------------------------------ */

/* One valid frame of each link type and layer combination. */
static const struct pkt corpus[] = {
	{ .dlt = DLT_EN10MB, .family = 4, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 12 },
	{ .dlt = DLT_EN10MB, .family = 6, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 12, .padding = 4 },
	{ .dlt = DLT_EN10MB, .family = 4, .tags = { 0x88a8, 0x8100 }, .ntags = 2,
	  .ip4_opt_words = 3, .topts = std_opts, .topt_len = sizeof std_opts, .payload = 3 },
	{ .dlt = DLT_EN10MB, .family = 6, .tags = { 0x8100 }, .ntags = 1,
	  .ext = { 0, 60, 43, 44, 51, 60 }, .next = 6, .topts = std_opts,
	  .topt_len = sizeof std_opts, .payload = 7 },
	{ .dlt = DLT_LINUX_SLL, .family = 4, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 5 },
	{ .dlt = DLT_LINUX_SLL, .family = 6, .tags = { 0x8100 }, .ntags = 1, .payload = 5 },
	{ .dlt = DLT_LINUX_SLL2, .family = 4, .payload = 5 },
	{ .dlt = DLT_LINUX_SLL2, .family = 6, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 5 },
	{ .dlt = DLT_RAW, .family = 4, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 5 },
	{ .dlt = DLT_RAW, .family = 6, .ext = { 0 }, .next = 1, .topts = std_opts,
	  .topt_len = sizeof std_opts, .payload = 5 },
	{ .dlt = DLT_IPV4, .family = 4, .payload = 5 },
	{ .dlt = DLT_IPV4, .family = 4, .flags = TCP_SYN, .topts = std_opts,
	  .topt_len = sizeof std_opts },
	{ .dlt = DLT_IPV6, .family = 6, .payload = 5 },
	{ .dlt = DLT_NULL, .family = 4, .null_little_endian = true, .topts = std_opts,
	  .topt_len = sizeof std_opts, .payload = 5 },
	{ .dlt = DLT_NULL, .family = 6, .null_af = 30, .topts = std_opts,
	  .topt_len = sizeof std_opts, .payload = 5 },
	{ .dlt = DLT_LOOP, .family = 4, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 5 },
	{ .dlt = DLT_LOOP, .family = 6, .topts = std_opts, .topt_len = sizeof std_opts,
	  .payload = 5 },
};
#define CORPUS_LEN (sizeof corpus / sizeof corpus[0])

static void test_every_prefix(void)
{
	for (size_t c = 0; c < CORPUS_LEN; c++) {
		const struct pkt *p = &corpus[c];
		struct frame f;
		struct tcp_segment full, seg, want;
		size_t base;

		build(&f, p);
		base = f.tcp_off + 20;
		CU_ASSERT_EQUAL_FATAL(dissect_whole(p->dlt, &f, &full), DISSECT_TCP);
		want = want_for(p);
		if (p->topts == std_opts)
			want_std_options(&want);
		CHECK_SEGMENT(&full, &want);

		for (size_t n = 0; n <= f.n; n++) {
			enum dissect_result r = dissect_prefix(p->dlt, &f, n, &seg);
			struct tcp_segment w = want;

			if (n < base) {
				CU_ASSERT_EQUAL(r, DISSECT_TRUNCATED);
				if (r != DISSECT_TRUNCATED)
					fprintf(stderr, "corpus %zu prefix %zu: %s\n", c, n,
					        dissect_result_name(r));
				continue;
			}
			CU_ASSERT_EQUAL(r, DISSECT_TCP);
			if (r != DISSECT_TCP)
				continue;
			/* Options: only those wholly inside the prefix; never one that isn't there. */
			CU_ASSERT_EQUAL(seg.options & ~want.options, 0);
			if (n >= f.tcp_hdr_end)
				CU_ASSERT_EQUAL(seg.options, want.options);
			w.options = seg.options;
			w.mss = seg.options & TCP_OPT_MSS ? want.mss : 0;
			w.wscale = seg.options & TCP_OPT_WSCALE ? want.wscale : 0;
			w.ts_val = seg.options & TCP_OPT_TIMESTAMP ? want.ts_val : 0;
			w.ts_ecr = seg.options & TCP_OPT_TIMESTAMP ? want.ts_ecr : 0;
			w.option_order = p->topts == std_opts ? std_order_within(n - base) : 0;
			w.payload_captured = n > f.tcp_hdr_end ?
			        (uint32_t)((n < f.ip_end ? n : f.ip_end) - f.tcp_hdr_end) : 0;
			w.truncated = n < f.ip_end;
			CHECK_SEGMENT(&seg, &w);
		}
	}
}

/* ---- the straight-line Ethernet/IPv4/TCP path ----------------------------------------------- */

/* Ethernet frames of EtherType IPv4 take dissect.c's straight-line path when they are plain
 * IPv4/TCP, the walk otherwise; raw IPv4 (DLT_IPV4) always takes the walk, and reads the same IP
 * packet the same way. So the two must agree on every frame: the result and every field. */
static void expect_same_as_raw_ipv4(const uint8_t *frame, size_t n)
{
	struct frame f;
	struct tcp_segment eth, raw;
	enum dissect_result re, rr;

	memset(&f, 0, sizeof f);
	memcpy(f.b, frame, n);
	f.n = n;
	re = dissect_prefix(DLT_EN10MB, &f, n, &eth);
	memmove(f.b, f.b + 14, n - 14);
	f.n = n - 14;
	rr = dissect_prefix(DLT_IPV4, &f, n - 14, &raw);
	CU_ASSERT_EQUAL(re, rr);
	if (re != rr)
		fprintf(stderr, "%zu-byte frame: Ethernet %s, raw IPv4 %s\n", n,
		        dissect_result_name(re), dissect_result_name(rr));
	if (re == DISSECT_TCP && rr == DISSECT_TCP)
		CHECK_SEGMENT(&eth, &raw);
}

static void test_straight_path_same_as_walk(void)
{
	static const uint8_t ts_opts[] = { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	static const uint8_t other_opts[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
	static const struct pkt pkts[] = {
		{ .dlt = DLT_EN10MB, .family = 4, .topts = std_opts, .topt_len = sizeof std_opts,
		  .flags = TCP_SYN },
		{ .dlt = DLT_EN10MB, .family = 4, .topts = ts_opts, .topt_len = sizeof ts_opts,
		  .payload = 9, .padding = 6 },
		{ .dlt = DLT_EN10MB, .family = 4, .topts = other_opts, .topt_len = sizeof other_opts,
		  .payload = 3 },
		{ .dlt = DLT_EN10MB, .family = 4, .payload = 1 },
		{ .dlt = DLT_EN10MB, .family = 4, .ip4_opt_words = 1, .topts = ts_opts,
		  .topt_len = sizeof ts_opts },
		{ .dlt = DLT_EN10MB, .family = 4, .ip4_frag = 0x2000, .payload = 4 },
		{ .dlt = DLT_EN10MB, .family = 4, .proto = 17, .payload = 4 },
	};
	/* Values that hit the checks: lengths just under and over a header's, version and IHL
	 * bytes, fragment bits, protocol numbers, option kinds and lengths. */
	static const uint8_t values[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x0a,
	                                  0x11, 0x13, 0x14, 0x20, 0x22, 0x28, 0x3f, 0x40, 0x44,
	                                  0x45, 0x46, 0x4f, 0x50, 0x60, 0x80, 0xf0, 0xff };

	for (size_t k = 0; k < sizeof pkts / sizeof pkts[0]; k++) {
		struct frame f;

		build(&f, &pkts[k]);
		for (size_t n = 14; n <= f.n; n++)
			expect_same_as_raw_ipv4(f.b, n);
		/* Every byte of the IP and TCP headers set to each value (the Ethernet type stays
		 * IPv4: other types never reach either path's IPv4 reading), whole and cut. */
		for (size_t at = 14; at < f.tcp_hdr_end; at++) {
			for (size_t v = 0; v < sizeof values; v++) {
				uint8_t b[FRAME_MAX];
				const size_t cuts[] = { f.n, 34, 54, f.tcp_hdr_end - 1, f.ip_end };

				memcpy(b, f.b, f.n);
				b[at] = values[v];
				for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
					if (cuts[c] >= 14 && cuts[c] <= f.n)
						expect_same_as_raw_ipv4(b, cuts[c]);
			}
		}
	}
}

/* Whatever a TCP result holds must be self-consistent. */
static void check_invariants(const struct tcp_segment *seg, size_t caplen)
{
	static const uint8_t zero[12];

	CU_ASSERT(seg->payload_captured <= seg->payload_len);
	CU_ASSERT(seg->payload_captured <= caplen);
	CU_ASSERT(seg->payload_len <= 65535);
	CU_ASSERT(seg->options_len <= 40);
	CU_ASSERT(seg->options_len % 4 == 0);
	CU_ASSERT(seg->src.family == seg->dst.family);
	CU_ASSERT(seg->src.family == 4 || seg->src.family == 6);
	if (seg->src.family == 4) {
		CU_ASSERT(memcmp(seg->src.bytes + 4, zero, 12) == 0);
		CU_ASSERT(memcmp(seg->dst.bytes + 4, zero, 12) == 0);
	} else {
		CU_ASSERT(seg->ip_id == 0);
	}
	CU_ASSERT((seg->options & ~0x1f) == 0);
	if (seg->options & TCP_OPT_SACK) {
		CU_ASSERT(seg->sack_blocks >= 1 && seg->sack_blocks <= 4);
	} else {
		CU_ASSERT(seg->sack_blocks == 0);
	}
	if (!(seg->options & TCP_OPT_MSS))
		CU_ASSERT(seg->mss == 0);
	if (!(seg->options & TCP_OPT_TIMESTAMP))
		CU_ASSERT(seg->ts_val == 0 && seg->ts_ecr == 0);
	if (seg->payload_captured < seg->payload_len)
		CU_ASSERT(seg->truncated);
}

static void check_any(int dlt, const struct frame *f, size_t caplen)
{
	struct tcp_segment seg;
	enum dissect_result r = dissect_prefix(dlt, f, caplen, &seg);

	CU_ASSERT((unsigned)r < DISSECT_RESULT_COUNT);
	CU_ASSERT(r != DISSECT_UNSUPPORTED_LINK);
	if (r == DISSECT_TCP)
		check_invariants(&seg, caplen);
}

static void test_every_byte_flipped(void)
{
	static const uint8_t values[] = {
		0x00, 0xff, 0x45, 0x60, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0f, 0x11, 0x2c, 0x3a, 0x81,
		0x86, 0x88, 0x91, 0xf0,
	};

	for (size_t c = 0; c < CORPUS_LEN; c++) {
		struct frame f, g;

		build(&f, &corpus[c]);
		for (size_t i = 0; i < f.n; i++) {
			for (size_t v = 0; v < sizeof values; v++) {
				g = f;
				g.b[i] = values[v];
				check_any(corpus[c].dlt, &g, g.n);
				/* and the frame cut just after the changed byte */
				check_any(corpus[c].dlt, &g, i + 1);
			}
		}
	}
}

/* xorshift32: a fixed sequence, so a failure reproduces. */
static uint32_t next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void test_random_mutations(void)
{
	uint32_t state = 0x9e3779b9u;

	for (unsigned round = 0; round < 100000; round++) {
		const struct pkt *p = &corpus[next_random(&state) % CORPUS_LEN];
		struct frame f;
		unsigned edits = 1 + next_random(&state) % 6;

		build(&f, p);
		for (unsigned e = 0; e < edits; e++)
			f.b[next_random(&state) % f.n] = (uint8_t)next_random(&state);
		check_any(p->dlt, &f, next_random(&state) % (f.n + 1));
	}
}

CUNIT_TESTS(dissect_tests,
	    { "eth_ipv4_tcp_fills_every_field", test_eth_ipv4_tcp_all_fields },
	    { "eth_ipv6_tcp_fills_every_field", test_eth_ipv6_tcp_all_fields },
	    { "literal_frame_decodes", test_literal_frame },
	    { "vlan_8021q_tag_skipped", test_vlan_8021q },
	    { "qinq_and_9100_stacks_skipped", test_qinq },
	    { "vlan_stack_over_8_is_malformed", test_vlan_stack_too_deep_is_malformed },
	    { "vlan_with_arp_or_length_is_not_ip", test_vlan_tag_with_arp_or_length_is_not_ip },
	    { "sll_v1_ip_and_non_ip", test_sll_v1 },
	    { "sll_v2_ip_and_non_ip", test_sll_v2 },
	    { "raw_ip_version_decides", test_raw_ip },
	    { "raw_ip_version_mismatch_is_malformed", test_raw_ip_version_mismatch_is_malformed },
	    { "bsd_null_both_byte_orders", test_bsd_null_both_byte_orders },
	    { "openbsd_loop_network_order", test_openbsd_loop_network_order },
	    { "ipv4_options_skipped", test_ipv4_options_skipped },
	    { "ipv6_extension_chain_to_tcp", test_ipv6_extension_chain },
	    { "ipv6_chain_over_16_is_malformed", test_ipv6_extension_chain_too_long_is_malformed },
	    { "ipv6_hop_by_hop_not_first_is_malformed", test_ipv6_hop_by_hop_not_first_is_malformed },
	    { "ipv6_ext_past_payload_length_is_malformed",
	    test_ipv6_extension_past_payload_length_is_malformed },
	    { "ipv6_payload_length_zero_is_malformed", test_ipv6_payload_length_zero_is_malformed },
	    { "ipv6_esp_and_no_next_header_not_tcp", test_ipv6_esp_and_no_next_header_are_not_tcp },
	    { "ipv6_atomic_fragment_is_tcp", test_ipv6_atomic_fragment_is_tcp },
	    { "ipv4_and_ipv6_fragments", test_fragments },
	    { "ipv4_dont_fragment_alone_is_tcp", test_ipv4_dont_fragment_alone_is_tcp },
	    { "udp_icmp_are_not_tcp", test_udp_icmp_are_not_tcp },
	    { "arp_and_802_3_are_not_ip", test_arp_and_802_3_are_not_ip },
	    { "ethernet_padding_is_not_payload", test_ethernet_padding_is_not_payload },
	    { "snaplen_cuts_payload", test_snaplen_cuts_payload },
	    { "snaplen_cuts_options", test_snaplen_cuts_options },
	    { "snaplen_cuts_options_of_syn", test_snaplen_cuts_options_of_syn },
	    { "option_order_of_other_stacks", test_option_order_of_other_stacks },
	    { "truncated_headers", test_truncated_headers },
	    { "ip_length_beyond_capture_is_truncated_tcp", test_ip_length_beyond_capture },
	    { "ipv4_ihl_below_5_is_malformed", test_ipv4_ihl_below_5_is_malformed },
	    { "ipv4_total_length_below_header_is_malformed",
	    test_ipv4_total_length_below_header_is_malformed },
	    { "ip_length_too_short_for_tcp_is_malformed", test_ip_length_too_short_for_tcp_is_malformed },
	    { "tcp_data_offset_below_5_is_malformed", test_tcp_data_offset_below_5_is_malformed },
	    { "tcp_data_offset_beyond_ip_length_is_malformed",
	    test_tcp_data_offset_beyond_ip_length_is_malformed },
	    { "option_sack_blocks_counted", test_option_sack_blocks },
	    { "option_sack_bad_length_ignored", test_option_sack_bad_length_ignored },
	    { "option_len_zero_stops_walk", test_option_len_zero_stops_walk },
	    { "option_len_one_stops_walk", test_option_len_one_stops_walk },
	    { "option_len_past_end_stops_walk", test_option_len_past_end_stops_walk },
	    { "option_wrong_length_for_known_kind_ignored",
	    test_option_wrong_length_for_known_kind_ignored },
	    { "option_eol_ends_walk", test_option_eol_ends_walk },
	    { "option_unknown_kinds_skipped", test_option_unknown_kinds_skipped },
	    { "option_values_as_sent_last_wins", test_option_values_as_sent },
	    { "unsupported_link_type", test_unsupported_link_type },
	    { "link_names", test_link_names },
	    { "result_names", test_result_names },
	    { "empty_frame_is_truncated", test_empty_frame },
	    { "straight_path_same_as_walk", test_straight_path_same_as_walk },
	    { "every_prefix_of_each_link_type", test_every_prefix },
	    { "every_byte_flipped_never_crashes", test_every_byte_flipped },
	    { "random_mutations_never_crash", test_random_mutations });

CUNIT_MAIN("test_dissect",
           { "dissect", NULL, NULL, NULL, NULL, dissect_tests })
