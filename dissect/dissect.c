/* dissect.c - untrusted frame bytes to one TCP segment (the contract is dissect.h).
 *
 * Owns: the link-type table, and the walk link layer -> IPv4/IPv6 -> TCP header and options.
 * Never: allocates, keeps state between calls, reads outside [frame, frame + caplen), forms a
 * pointer past the end of the frame, or casts packet bytes to a struct.
 *
 * Design notes
 *
 * - Every read goes through rd_u8/rd_be16/rd_be32, which take (buffer, length, offset),
 *   compare sizes before touching a byte and refuse (return false, read nothing) when the bytes
 *   are not there. Offsets are indices into the frame, so even a NULL frame with caplen 0 is
 *   safe. The one exception is a fixed-size header whose whole span was checked with span_ok()
 *   right before: its fields are then read with get_be16/get_be32 or memcpy from inside that
 *   span (every segment pays for the IP and TCP headers, and one check is cheaper than ten).
 * - The "length" handed to the readers is the tightest bound known at that point: caplen for the
 *   link and IP headers, then min(caplen, end the IP header declares) for TCP, so Ethernet
 *   padding can never be read as TCP options or counted as payload.
 * - Order of checks, per layer (as Suricata's decoders do): fixed header captured, then header
 *   length fields at least their minimum, then header lengths within the declared packet
 *   (MALFORMED), then within what was captured (TRUNCATED).
 * - Lengths are kept as "bytes available from here" (always <= caplen) instead of end offsets, so
 *   no sum of an offset and a wire length can overflow.
 * - Ethernet -> IPv4 without options -> TCP, nearly every frame, is read by ethernet_ipv4_tcp in
 *   a straight line (its 34 bytes checked at once), with the walk's checks and result; any other
 *   frame goes through the walk. tests/unit/test_dissect.c and the fuzz target hold the two to
 *   the same answers.
 * - Every loop is bounded: VLAN tags (MAX_VLAN_TAGS), IPv6 extension headers (MAX_IPV6_EXT), TCP
 *   options (at most 40 bytes, each step advances).
 */
#include "dissect.h"
#include "dissect_impl.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

#include <pcap/dlt.h>

/* Link types newer than some libpcap headers; the values are fixed by the tcpdump.org registry. */
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* LINKTYPE_RAW as stored in capture files. DLT_RAW is 12 on most systems and 14 on OpenBSD, so
 * files say 101 and libpcap's pcap_datalink() maps 101 back to the local DLT_RAW. The value 101 is
 * reserved for this (never another DLT_ value), so a caller passing the file's value directly is
 * understood too. 12 and 14 are not both listed: 12 is DLT_LOOP on OpenBSD and 14 is
 * DLT_PPP_BSDOS on NetBSD/FreeBSD; the local DLT_RAW macro is the right one of the two. */
#define LINKTYPE_RAW_FILE 101

#define ETHERTYPE_VLAN 0x8100   /* IEEE 802.1Q customer tag */
#define ETHERTYPE_QINQ 0x88a8   /* IEEE 802.1ad service tag */
#define ETHERTYPE_QINQ_OLD 0x9100 /* pre-802.1ad vendor QinQ tag */
#define ETHERTYPE_MIN 0x0600    /* below: an IEEE 802.3 length field, LLC follows */
#define MAX_VLAN_TAGS 8

#define VLAN_TAG_LEN 4
#define SLL_HDR_LEN 16
#define SLL2_HDR_LEN 20
#define NULL_HDR_LEN 4

/* Address family values found in DLT_NULL / DLT_LOOP headers (the capturing OS's AF_ value). */
#define BSD_AF_INET 2
#define BSD_AF_INET6_BSD 24     /* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FREEBSD 28
#define BSD_AF_INET6_DARWIN 30

#define IPV4_HDR_MIN 20
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV6_HDR_LEN 40
#define IPV6_FRAG_HDR_LEN 8
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define IPV6_FRAG_M 0x0001
#define MAX_IPV6_EXT 16

#define IPPROTO_NUM_HOPOPTS 0
#define IPPROTO_NUM_ROUTING 43
#define IPPROTO_NUM_FRAGMENT 44
#define IPPROTO_NUM_ESP 50
#define IPPROTO_NUM_AH 51
#define IPPROTO_NUM_NONE 59
#define IPPROTO_NUM_DSTOPTS 60
#define IPPROTO_NUM_SHIM6 140

#define TCP_HDR_MIN 20
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WSCALE 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TIMESTAMP 8
#define TCPOLEN_MSS 4
#define TCPOLEN_WSCALE 3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_SACK_BLOCK 8
#define TCPOLEN_SACK_MAX_BLOCKS 4
#define TCPOLEN_TIMESTAMP 10

/* ---- TCP (RFC 9293 §3.1, options RFC 7323 §2.2/§3.2, RFC 2018 §3) --------------------------- */

/* Parses the options in [off, end) of buf. `end` is already bounded by both the data offset and
 * what was captured. An option is recorded only when it is wholly inside that range and has its
 * exact length; a length byte that is < 2 or runs past `end` stops the walk (the options are
 * malformed or cut by the snaplen), keeping what was parsed before. A repeated option overwrites
 * the earlier one, as Linux tcp_parse_options() does. Cannot fail. */
/* Appends one option's code to seg->option_order (enum tcp_option_code), if there is room. */
static void note_option(struct tcp_segment *seg, unsigned *n, uint8_t kind)
{
	uint32_t code;

	switch (kind) {
	case TCPOPT_EOL: code = TCP_OPTC_EOL; break;
	case TCPOPT_NOP: code = TCP_OPTC_NOP; break;
	case TCPOPT_MSS: code = TCP_OPTC_MSS; break;
	case TCPOPT_WSCALE: code = TCP_OPTC_WSCALE; break;
	case TCPOPT_SACK_PERM: code = TCP_OPTC_SACK_PERM; break;
	case TCPOPT_SACK: code = TCP_OPTC_SACK; break;
	case TCPOPT_TIMESTAMP: code = TCP_OPTC_TIMESTAMP; break;
	default: code = TCP_OPTC_OTHER; break;
	}
	if (*n < TCP_OPTION_ORDER_MAX)
		seg->option_order |= code << (4 * (*n)++);
}

static void tcp_options_walk(const uint8_t *buf, size_t end, size_t off, struct tcp_segment *seg);

TM_READER void tcp_options(const uint8_t *buf, size_t end, size_t off, struct tcp_segment *seg)
{
	/* What nearly every segment of a connection with timestamps carries (RFC 7323 Appendix A:
	 * NOP, NOP, TS): 12 bytes, parsed in one step with the result the walk below would give. */
	if (end - off == 12 && buf[off] == TCPOPT_NOP && buf[off + 1] == TCPOPT_NOP &&
	    buf[off + 2] == TCPOPT_TIMESTAMP && buf[off + 3] == TCPOLEN_TIMESTAMP) {
		seg->option_order = TCP_OPTC_NOP | TCP_OPTC_NOP << 4 | TCP_OPTC_TIMESTAMP << 8;
		seg->ts_val = get_be32(buf, off + 4);
		seg->ts_ecr = get_be32(buf, off + 8);
		seg->options |= TCP_OPT_TIMESTAMP;
		return;
	}
	/* What every Linux SYN and SYN-ACK carries (tcp_options_write(): MSS, SACK permitted with
	 * the timestamps, NOP, window scale): 20 bytes, in one step as well. */
	if (end - off == 20 && buf[off] == TCPOPT_MSS && buf[off + 1] == TCPOLEN_MSS &&
	    buf[off + 4] == TCPOPT_SACK_PERM && buf[off + 5] == TCPOLEN_SACK_PERM &&
	    buf[off + 6] == TCPOPT_TIMESTAMP && buf[off + 7] == TCPOLEN_TIMESTAMP &&
	    buf[off + 16] == TCPOPT_NOP && buf[off + 17] == TCPOPT_WSCALE &&
	    buf[off + 18] == TCPOLEN_WSCALE) {
		seg->option_order = TCP_OPTC_MSS | TCP_OPTC_SACK_PERM << 4 | TCP_OPTC_TIMESTAMP << 8 |
		                    TCP_OPTC_NOP << 12 | TCP_OPTC_WSCALE << 16;
		seg->mss = get_be16(buf, off + 2);
		seg->ts_val = get_be32(buf, off + 8);
		seg->ts_ecr = get_be32(buf, off + 12);
		seg->wscale = buf[off + 19];
		seg->options |= TCP_OPT_MSS | TCP_OPT_SACK_PERM | TCP_OPT_TIMESTAMP | TCP_OPT_WSCALE;
		return;
	}
	if (off < end)
		tcp_options_walk(buf, end, off, seg);
}

/* Any other layout, option by option (inlined above, the walk made the common frame's straight
 * line save and restore registers for it). */
static void tcp_options_walk(const uint8_t *buf, size_t end, size_t off, struct tcp_segment *seg)
{
	unsigned n = 0;

	while (off < end) {
		uint8_t kind = 0, len = 0;

		if (!rd_u8(buf, end, off, &kind))
			return;
		if (kind == TCPOPT_EOL || kind == TCPOPT_NOP)
			note_option(seg, &n, kind);
		if (kind == TCPOPT_EOL)
			return;
		if (kind == TCPOPT_NOP) {
			off++;
			continue;
		}
		if (!rd_u8(buf, end, off + 1, &len) || len < 2 || !span_ok(end, off, len))
			return;
		note_option(seg, &n, kind); /* wholly captured, as for the option bits */

		switch (kind) {
		case TCPOPT_MSS:
			if (len == TCPOLEN_MSS && rd_be16(buf, end, off + 2, &seg->mss))
				seg->options |= TCP_OPT_MSS;
			break;
		case TCPOPT_WSCALE:
			if (len == TCPOLEN_WSCALE && rd_u8(buf, end, off + 2, &seg->wscale))
				seg->options |= TCP_OPT_WSCALE;
			break;
		case TCPOPT_SACK_PERM:
			if (len == TCPOLEN_SACK_PERM)
				seg->options |= TCP_OPT_SACK_PERM;
			break;
		case TCPOPT_SACK: {
			/* RFC 2018 §3: 2 + 8n bytes; 40 option bytes leave room for at most 4 blocks. */
			unsigned blocks = (unsigned)(len - 2) / TCPOLEN_SACK_BLOCK;

			if ((len - 2) % TCPOLEN_SACK_BLOCK == 0 && blocks >= 1 &&
			    blocks <= TCPOLEN_SACK_MAX_BLOCKS) {
				seg->sack_blocks = (uint8_t)blocks;
				seg->options |= TCP_OPT_SACK;
			}
			break;
		}
		case TCPOPT_TIMESTAMP:
			if (len == TCPOLEN_TIMESTAMP && rd_be32(buf, end, off + 2, &seg->ts_val) &&
			    rd_be32(buf, end, off + 6, &seg->ts_ecr))
				seg->options |= TCP_OPT_TIMESTAMP;
			break;
		default:
			break;
		}
		off += len;
	}
}

/* The TCP header starts at `off`. `lim` bounds the bytes usable for TCP: min(caplen, end the IP
 * header declares). `declared` is the TCP length the IP header declares (header + payload).
 * Inlined into each caller: in the straight line of ethernet_ipv4_tcp() a call cost a tenth of
 * the frame's dissection in saved registers. */
TM_READER enum dissect_result dissect_tcp(const uint8_t *buf, size_t lim, size_t off,
                                          size_t declared, struct tcp_segment *seg)
{
	size_t avail, hlen;
	uint8_t doff, flags;

	/* The IP layer says the segment is shorter than the fixed TCP header. */
	if (declared < TCP_HDR_MIN)
		return DISSECT_MALFORMED;
	if (!span_ok(lim, off, TCP_HDR_MIN))
		return DISSECT_TRUNCATED;
	avail = lim - off; /* <= declared, by construction of lim */

	/* The fixed header is wholly there (checked just above). */
	seg->sport = get_be16(buf, off);
	seg->dport = get_be16(buf, off + 2);
	seg->seq = get_be32(buf, off + 4);
	seg->ack = get_be32(buf, off + 8);
	doff = buf[off + 12];
	flags = buf[off + 13];
	seg->window = get_be16(buf, off + 14);

	/* RFC 9293 §3.1: Data Offset counts 32-bit words, at least 5; the header must fit in the
	 * segment the IP layer declares. */
	hlen = (size_t)(doff >> 4) * 4;
	if (hlen < TCP_HDR_MIN || hlen > declared)
		return DISSECT_MALFORMED;

	seg->flags = flags;
	seg->options_len = (uint8_t)(hlen - TCP_HDR_MIN);
	if (hlen > avail)
		seg->truncated = true; /* the snaplen cut the options */
	tcp_options(buf, off + min_size(hlen, avail), off + TCP_HDR_MIN, seg);

	seg->payload_len = (uint32_t)(declared - hlen);
	/* The callers set header_len to the IP header's length (Zeek's *_ip_bytes count both). */
	seg->header_len = (uint16_t)(seg->header_len + hlen);
	seg->payload_captured = avail > hlen ? (uint32_t)(avail - hlen) : 0;
	if (seg->payload_captured < seg->payload_len)
		seg->truncated = true;
	return DISSECT_TCP;
}

/* ---- IPv4 (RFC 791 §3.1) -------------------------------------------------------------------- */

static enum dissect_result dissect_ipv4(const uint8_t *buf, size_t len, size_t off,
                                        struct walk *w)
{
	struct tcp_segment *seg = w->seg;
	uint8_t vihl, ttl, proto;
	uint16_t total, id, frag;
	size_t ihl, avail;

	if (!span_ok(len, off, IPV4_HDR_MIN))
		return DISSECT_TRUNCATED;
	avail = len - off;

	/* The fixed header is wholly there (checked just above). */
	vihl = buf[off];
	total = get_be16(buf, off + 2);
	id = get_be16(buf, off + 4);
	frag = get_be16(buf, off + 6);
	ttl = buf[off + 8];
	proto = buf[off + 9];
	memcpy(seg->src.bytes, buf + off + 12, 4);
	memcpy(seg->dst.bytes, buf + off + 16, 4);

	if (vihl >> 4 != 4)
		return DISSECT_MALFORMED;
	/* RFC 791 §3.1: IHL is in 32-bit words, minimum 5; Total Length includes the header. */
	ihl = (size_t)(vihl & 0x0f) * 4;
	if (ihl < IPV4_HDR_MIN || total < ihl)
		return DISSECT_MALFORMED;
	if (ihl > avail)
		return DISSECT_TRUNCATED; /* options cut by the snaplen */

	/* RFC 791 §3.1 (and §3.2 "Fragmentation"): a packet with More Fragments set or a non-zero
	 * Fragment Offset is only part of a datagram. DF and the reserved bit do not matter. */
	if ((frag & IPV4_FLAG_MF) != 0 || (frag & IPV4_FRAG_OFFSET_MASK) != 0)
		return DISSECT_FRAGMENT;
	if (__builtin_expect(proto != IPPROTO_NUM_TCP, 0)) /* UDP, GRE, IPIP: maybe a tunnel (encap.c) */
		return encap_ip_payload(buf, off + min_size(total, avail), off + ihl, total - ihl,
		                        proto, 4, w);

	seg->src.family = 4;
	seg->dst.family = 4;
	seg->ttl = ttl;
	seg->ip_id = id;
	/* Total Length bounds the packet: bytes past it are link padding. If it claims more than
	 * was captured, TCP sees what is there. */
	seg->header_len = (uint16_t)ihl;
	return dissect_tcp(buf, off + min_size(total, avail), off + ihl, total - ihl, seg);
}

/* ---- IPv6 (RFC 8200 §3, §4) ----------------------------------------------------------------- */

/* Walks the extension header chain to TCP. RFC 8200 §4: every header the walk skips starts with
 * Next Header and a length byte; Hop-by-Hop Options may only come first (§4.1). */
static enum dissect_result dissect_ipv6(const uint8_t *buf, size_t len, size_t off,
                                        struct walk *w)
{
	struct tcp_segment *seg = w->seg;
	uint8_t vtc, nh, hlim;
	uint16_t plen;
	size_t declared, lim, pos;

	if (!span_ok(len, off, IPV6_HDR_LEN))
		return DISSECT_TRUNCATED;

	/* The fixed header is wholly there (checked just above). */
	vtc = buf[off];
	plen = get_be16(buf, off + 4);
	nh = buf[off + 6];
	hlim = buf[off + 7];
	memcpy(seg->src.bytes, buf + off + 8, 16);
	memcpy(seg->dst.bytes, buf + off + 24, 16);
	if (vtc >> 4 != 6)
		return DISSECT_MALFORMED;

	/* Payload Length bounds the packet. A jumbogram (RFC 2675: Payload Length 0 and a
	 * Jumbo Payload option) is not supported: with Payload Length 0 any header that follows
	 * lies outside the declared packet, so it comes out MALFORMED below. */
	declared = plen;
	lim = off + IPV6_HDR_LEN + min_size(declared, len - off - IPV6_HDR_LEN);
	pos = off + IPV6_HDR_LEN;

	for (unsigned i = 0; i < MAX_IPV6_EXT; i++) {
		size_t used = pos - off - IPV6_HDR_LEN; /* payload bytes consumed so far */
		size_t hdr_len;
		uint8_t next = 0, ext_len = 0;

		if (nh == IPPROTO_NUM_HOPOPTS && i != 0)
			return DISSECT_MALFORMED; /* RFC 8200 §4.1 */

		switch (nh) {
		case IPPROTO_NUM_TCP:
			seg->src.family = 6;
			seg->dst.family = 6;
			seg->ttl = hlim;
			seg->ip_id = 0;
			seg->header_len = (uint16_t)(pos - off);
			return dissect_tcp(buf, lim, pos, declared - used, seg);
		case IPPROTO_NUM_FRAGMENT: {
			uint16_t offm = 0;

			if (declared - used < IPV6_FRAG_HDR_LEN)
				return DISSECT_MALFORMED;
			if (!rd_u8(buf, lim, pos, &next) || !rd_be16(buf, lim, pos + 2, &offm))
				return DISSECT_TRUNCATED;
			/* RFC 8200 §4.5 / RFC 6946 §4: an "atomic fragment" (offset 0, M clear) is a
			 * whole packet and is processed as one; anything else needs reassembly. */
			if ((offm & IPV6_FRAG_OFFSET_MASK) != 0 || (offm & IPV6_FRAG_M) != 0)
				return DISSECT_FRAGMENT;
			nh = next;
			pos += IPV6_FRAG_HDR_LEN;
			continue;
		}
		case IPPROTO_NUM_HOPOPTS:
		case IPPROTO_NUM_ROUTING:
		case IPPROTO_NUM_DSTOPTS:
		case IPPROTO_NUM_SHIM6:
		case IPPROTO_NUM_AH:
			if (declared - used < 2)
				return DISSECT_MALFORMED;
			if (!rd_u8(buf, lim, pos, &next) || !rd_u8(buf, lim, pos + 1, &ext_len))
				return DISSECT_TRUNCATED;
			/* RFC 8200 §4.3-4.6: Hdr Ext Len in 8-octet units, not counting the first 8.
			 * RFC 4302 §2.2: AH Payload Len in 4-octet units, minus 2. */
			if (nh == IPPROTO_NUM_AH)
				hdr_len = ((size_t)ext_len + 2) * 4;
			else
				hdr_len = ((size_t)ext_len + 1) * 8;
			if (declared - used < hdr_len)
				return DISSECT_MALFORMED;
			if (!span_ok(lim, pos, hdr_len))
				return DISSECT_TRUNCATED;
			nh = next;
			pos += hdr_len;
			continue;
		case IPPROTO_NUM_ESP:   /* encrypted: what follows cannot be read */
		case IPPROTO_NUM_NONE:  /* nothing follows */
			return DISSECT_NOT_TCP;
		default:                /* UDP, GRE, 4in6, 6in6 may carry a tunnel (encap.c) */
			return encap_ip_payload(buf, lim, pos, declared - used, nh, 6, w);
		}
	}
	return DISSECT_MALFORMED; /* a chain longer than any real stack sends */
}

/* ---- network layer dispatch ----------------------------------------------------------------- */

/* The IP header starts at `off`. `want` is the version the link layer announced (4 or 6), or 0
 * when the version nibble decides (raw IP). */
enum dissect_result dissect_ip(const uint8_t *buf, size_t len, size_t off, unsigned want,
                               struct walk *w)
{
	uint8_t first = 0;
	unsigned version;

	if (!rd_u8(buf, len, off, &first))
		return DISSECT_TRUNCATED;
	version = first >> 4;
	if (want != 0 && version != want)
		return DISSECT_MALFORMED;
	if (version == 4)
		return dissect_ipv4(buf, len, off, w);
	if (version == 6)
		return dissect_ipv6(buf, len, off, w);
	return DISSECT_MALFORMED;
}

/* `type` is an EtherType found at off - 2; walks any stack of 802.1Q / 802.1ad / 0x9100 tags
 * (each: 2 bytes TCI, 2 bytes next EtherType) to the IP header. */
enum dissect_result dissect_ethertype(const uint8_t *buf, size_t len, size_t off, uint16_t type,
                                      struct walk *w)
{
	for (unsigned tags = 0;; tags++) {
		switch (type) {
		case ETHERTYPE_IPV4:
			return dissect_ip(buf, len, off, 4, w);
		case ETHERTYPE_IPV6:
			return dissect_ip(buf, len, off, 6, w);
		case ETHERTYPE_VLAN:
		case ETHERTYPE_QINQ:
		case ETHERTYPE_QINQ_OLD:
			if (tags == MAX_VLAN_TAGS)
				return DISSECT_MALFORMED;
			if (!rd_be16(buf, len, off + 2, &type))
				return DISSECT_TRUNCATED;
			off += VLAN_TAG_LEN;
			break;
		default: /* MPLS, PPPoE (encap.c); ARP, LLDP, an 802.3 length inside a tag, ... */
			return encap_ethertype(buf, len, off, type, w);
		}
	}
}

/* ---- link layers ---------------------------------------------------------------------------- */

enum dissect_result dissect_ethernet(const uint8_t *buf, size_t len, size_t off, struct walk *w)
{
	uint16_t type = 0;

	if (!rd_be16(buf, len, off + 12, &type))
		return DISSECT_TRUNCATED;
	/* IEEE 802.3 §3.2.6: values below 0x0600 are a length, and an LLC header follows. */
	if (type < ETHERTYPE_MIN)
		return DISSECT_NOT_IP;
	return dissect_ethertype(buf, len, off + ETH_HDR_LEN, type, w);
}

static enum dissect_result link_ethernet(const uint8_t *buf, size_t len, struct walk *w)
{
	return dissect_ethernet(buf, len, 0, w);
}

/* Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol. The protocol is
 * an EtherType, or a small Linux ETH_P_* value (802.2, 802.3, CAN, ...) that is not IP. libpcap
 * puts a stripped VLAN tag back right before the protocol's payload, so tags are walked too. */
static enum dissect_result link_sll(const uint8_t *buf, size_t len, struct walk *w)
{
	uint16_t proto = 0;

	if (!span_ok(len, 0, SLL_HDR_LEN) || !rd_be16(buf, len, 14, &proto))
		return DISSECT_TRUNCATED;
	return dissect_ethertype(buf, len, SLL_HDR_LEN, proto, w);
}

/* Linux cooked v2: protocol, reserved, interface index, ARPHRD, packet type, address length,
 * 8 address bytes. */
static enum dissect_result link_sll2(const uint8_t *buf, size_t len, struct walk *w)
{
	uint16_t proto = 0;

	if (!span_ok(len, 0, SLL2_HDR_LEN) || !rd_be16(buf, len, 0, &proto))
		return DISSECT_TRUNCATED;
	return dissect_ethertype(buf, len, SLL2_HDR_LEN, proto, w);
}

static enum dissect_result link_raw(const uint8_t *buf, size_t len, struct walk *w)
{
	return dissect_ip(buf, len, 0, 0, w);
}

static enum dissect_result link_ipv4(const uint8_t *buf, size_t len, struct walk *w)
{
	return dissect_ip(buf, len, 0, 4, w);
}

static enum dissect_result link_ipv6(const uint8_t *buf, size_t len, struct walk *w)
{
	return dissect_ip(buf, len, 0, 6, w);
}

/* The IP version a BSD address family announces, 0 when it is not IP. */
static unsigned bsd_af_version(uint32_t af)
{
	switch (af) {
	case BSD_AF_INET:
		return 4;
	case BSD_AF_INET6_BSD:
	case BSD_AF_INET6_FREEBSD:
	case BSD_AF_INET6_DARWIN:
		return 6;
	default:
		return 0;
	}
}

/* DLT_NULL: a 4-byte AF_ value in the byte order of the machine that captured, which the reader
 * cannot know, so both orders are tried (the values cannot collide). */
static enum dissect_result link_null(const uint8_t *buf, size_t len, struct walk *w)
{
	uint32_t af_be = 0, af_le = 0;
	unsigned version;

	if (!rd_be32(buf, len, 0, &af_be) || !rd_le32(buf, len, 0, &af_le))
		return DISSECT_TRUNCATED;
	version = bsd_af_version(af_be);
	if (version == 0)
		version = bsd_af_version(af_le);
	if (version == 0)
		return DISSECT_NOT_IP;
	return dissect_ip(buf, len, NULL_HDR_LEN, version, w);
}

/* DLT_LOOP: as DLT_NULL, but the AF_ value is in network byte order. */
static enum dissect_result link_loop(const uint8_t *buf, size_t len, struct walk *w)
{
	uint32_t af = 0;
	unsigned version;

	if (!rd_be32(buf, len, 0, &af))
		return DISSECT_TRUNCATED;
	version = bsd_af_version(af);
	if (version == 0)
		return DISSECT_NOT_IP;
	return dissect_ip(buf, len, NULL_HDR_LEN, version, w);
}

struct link_type {
	int dlt;
	const char *name;
	enum dissect_result (*dissect)(const uint8_t *buf, size_t len, struct walk *w);
};

static const struct link_type link_types[] = {
	{ DLT_EN10MB, "Ethernet", link_ethernet },
	{ DLT_LINUX_SLL, "Linux cooked v1", link_sll },
	{ DLT_LINUX_SLL2, "Linux cooked v2", link_sll2 },
	{ DLT_RAW, "raw IP", link_raw },
	{ LINKTYPE_RAW_FILE, "raw IP", link_raw },
	{ DLT_IPV4, "raw IPv4", link_ipv4 },
	{ DLT_IPV6, "raw IPv6", link_ipv6 },
	{ DLT_NULL, "BSD loopback", link_null },
	{ DLT_LOOP, "OpenBSD loopback", link_loop },
	{ DLT_NFLOG, "Linux NFLOG", link_nflog },
};

static const struct link_type *link_lookup(int dlt)
{
	for (size_t i = 0; i < sizeof link_types / sizeof link_types[0]; i++) {
		if (link_types[i].dlt == dlt)
			return &link_types[i];
	}
	return NULL;
}

/* ---- the common frame in a straight line ---------------------------------------------------- */

/* Ethernet, EtherType IPv4, an IPv4 header without options (0x45) that is no fragment and carries
 * TCP: what nearly every frame of a capture is. Read here without the walk's calls and repeated
 * checks; the checks and the fields are those of link_ethernet -> dissect_ethertype ->
 * dissect_ip -> dissect_ipv4 for such a frame, and the TCP header is dissect_tcp's as there, so
 * the result is the walk's. False (nothing written) for any other frame: the walk reads it. */
TM_READER bool ethernet_ipv4_tcp(const uint8_t *buf, size_t len, struct tcp_segment *seg,
                                 enum dissect_result *r)
{
	const size_t ip = ETH_HDR_LEN;
	uint16_t total, frag;

	uint32_t type_vihl; /* bytes 12-15: EtherType, version and IHL, TOS */

	if (len < ip + IPV4_HDR_MIN)
		return false;
	memcpy(&type_vihl, buf + 12, sizeof type_vihl);
	/* EtherType 0x0800 and 0x45 in one comparison (of the bytes in memory order), then TCP. */
	if ((ntohl(type_vihl) & 0xffffff00u) != ((uint32_t)ETHERTYPE_IPV4 << 16 | 0x45u << 8) ||
	    buf[ip + 9] != IPPROTO_NUM_TCP)
		return false;
	total = get_be16(buf, ip + 2);
	frag = get_be16(buf, ip + 6);
	if (total < IPV4_HDR_MIN || (frag & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0)
		return false;
	memcpy(seg->src.bytes, buf + ip + 12, 4);
	memcpy(seg->dst.bytes, buf + ip + 16, 4);
	seg->src.family = 4;
	seg->dst.family = 4;
	seg->ttl = buf[ip + 8];
	seg->ip_id = get_be16(buf, ip + 4);
	seg->header_len = IPV4_HDR_MIN;
	*r = dissect_tcp(buf, ip + min_size(total, len - ip), ip + IPV4_HDR_MIN, total - IPV4_HDR_MIN,
	                 seg);
	return true;
}

/* ---- API ------------------------------------------------------------------------------------ */

/* Zeroes a segment before it is filled: 16-byte stores of a register (the last one overlapping
 * the one before), where `*seg = (struct tcp_segment){ 0 }` and memset() became a `rep stos`
 * that cost more than the rest of an Ethernet/IPv4/TCP frame's dissection, and a copy of a
 * zeroed constant loads what it stores. */
typedef uint8_t zero_vec __attribute__((vector_size(16)));
_Static_assert(sizeof(struct tcp_segment) >= 16, "whole 16-byte stores");

TM_READER void zero_segment(struct tcp_segment *seg)
{
	const zero_vec z = { 0 };
	size_t off;

	for (off = 0; off + 16 <= sizeof *seg; off += 16)
		memcpy((uint8_t *)seg + off, &z, 16);
	if (off < sizeof *seg)
		memcpy((uint8_t *)seg + sizeof *seg - 16, &z, 16);
}

/* Any frame but the common one: the link layer's walk. Kept out of line so that the common
 * frame's path below sets up no walk, saves no registers and needs no stack guard for the
 * scratch stack. `zeroed`: zero_segment() was done. */
static __attribute__((noinline)) enum dissect_result
dissect_walk(int dlt, const uint8_t *frame, uint32_t caplen, struct tcp_segment *seg,
             struct encap_stack *encap, bool zeroed)
{
	const struct link_type *link;
	struct encap_stack scratch; /* only its count is touched unless a tunnel comes */
	struct walk w = { seg, encap != NULL ? encap : &scratch };

	w.stack->n = 0;
	if (zeroed)
		return link_ethernet(frame, caplen, &w);
	link = link_lookup(dlt);
	if (link == NULL)
		return DISSECT_UNSUPPORTED_LINK;
	zero_segment(seg);
	if (frame == NULL)
		caplen = 0; /* nothing to read; every reader refuses */
	return link->dissect(frame, caplen, &w);
}

enum dissect_result dissect_frame_encap(int dlt, const uint8_t *frame, uint32_t caplen,
                                        struct tcp_segment *seg, struct encap_stack *encap)
{
	enum dissect_result r;

	if (dlt == DLT_EN10MB && frame != NULL) {
		zero_segment(seg);
		if (encap != NULL)
			encap->n = 0;
		if (ethernet_ipv4_tcp(frame, caplen, seg, &r))
			return r;
		return dissect_walk(dlt, frame, caplen, seg, encap, true);
	}
	return dissect_walk(dlt, frame, caplen, seg, encap, false);
}

enum dissect_result dissect_frame(int dlt, const uint8_t *frame, uint32_t caplen,
                                  struct tcp_segment *seg)
{
	return dissect_frame_encap(dlt, frame, caplen, seg, NULL);
}

bool dissect_link_supported(int dlt)
{
	return link_lookup(dlt) != NULL;
}

const char *dissect_link_name(int dlt)
{
	const struct link_type *link = link_lookup(dlt);

	return link != NULL ? link->name : NULL;
}

static const char *const result_names[] = {
	[DISSECT_TCP] = "tcp",
	[DISSECT_NOT_IP] = "not_ip",
	[DISSECT_NOT_TCP] = "not_tcp",
	[DISSECT_FRAGMENT] = "fragment",
	[DISSECT_TRUNCATED] = "truncated",
	[DISSECT_MALFORMED] = "malformed",
	[DISSECT_UNSUPPORTED_LINK] = "unsupported_link",
	[DISSECT_BAD_ENCAP] = "bad_encapsulation",
	[DISSECT_ENCAP_TOO_DEEP] = "encapsulation_too_deep",
};
_Static_assert(sizeof result_names / sizeof result_names[0] == DISSECT_RESULT_COUNT,
               "one name per dissect_result");

const char *dissect_result_name(enum dissect_result result)
{
	if ((unsigned)result >= DISSECT_RESULT_COUNT)
		return "unknown";
	return result_names[result];
}
