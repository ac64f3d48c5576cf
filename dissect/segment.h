/* segment.h - the one TCP segment the dissector hands to the analyzer.
 *
 * A segment is a small, flat value: everything the analyzer needs from one frame, already in host
 * byte order, with no pointer back into the frame. It is filled by dissect_frame() and never
 * allocated.
 */
#ifndef TM_SEGMENT_H
#define TM_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

/* TCP flag bits, byte 13 of the header (RFC 9293 §3.1). */
enum tcp_flag {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
};

/* Which TCP options a segment carried (struct tcp_segment.options). */
enum tcp_option_bit {
	TCP_OPT_MSS = 0x01,
	TCP_OPT_WSCALE = 0x02,
	TCP_OPT_SACK_PERM = 0x04,
	TCP_OPT_SACK = 0x08,
	TCP_OPT_TIMESTAMP = 0x10,
};

/* The kinds of the options in the order they came, one 4-bit code each, the first option in
 * the lowest bits (struct tcp_segment.option_order): the layout of a SYN tells stacks apart (Linux
 * mss,sackOK,TS,nop,wscale; Windows mss,nop,wscale,nop,nop,sackOK; macOS and FreeBSD put wscale
 * right after mss and the timestamp before or after sackOK). Code 0 ends the list. */
enum tcp_option_code {
	TCP_OPTC_END = 0,
	TCP_OPTC_NOP = 1,
	TCP_OPTC_MSS = 2,
	TCP_OPTC_WSCALE = 3,
	TCP_OPTC_SACK_PERM = 4,
	TCP_OPTC_SACK = 5,
	TCP_OPTC_TIMESTAMP = 6,
	TCP_OPTC_EOL = 7,
	TCP_OPTC_OTHER = 8,
};
#define TCP_OPTION_ORDER_MAX 8 /* codes kept; later options are not recorded */

/* An IPv4 or IPv6 address. IPv4 uses bytes[0..3], the rest stays zero, so two addresses can be
 * compared with memcmp over the whole struct. */
struct ip_addr {
	uint8_t family; /* 4 or 6 */
	uint8_t bytes[16];
};

struct tcp_segment {
	struct ip_addr src;
	struct ip_addr dst;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;            /* enum tcp_flag bits */
	uint16_t window;          /* as on the wire, not yet scaled */
	uint32_t payload_len;     /* TCP payload length the IP header declares */
	uint32_t payload_captured; /* how many of those bytes the capture holds */
	uint16_t header_len;      /* IP and TCP header bytes (IPv6 extension headers included) */
	bool truncated;           /* snaplen cut the TCP options or the payload */
	uint8_t ttl;              /* IPv4 TTL or IPv6 hop limit */
	uint16_t ip_id;           /* IPv4 identification; 0 for IPv6 */
	uint8_t options;          /* enum tcp_option_bit, for the options fully captured */
	uint8_t options_len;      /* bytes of TCP options in the header (0..40) */
	/* The tunnel the segment came through, part of the flow key so that tenants reusing the
	 * same addresses stay apart: the enum encap_kind (dissect.h) of the innermost tunnel (0: none;
	 * MPLS labels and VLAN tags do not count: they change hop by hop or one way only) and what
	 * separates tenants in it: VXLAN/Geneve VNI, GRE key, ERSPAN session, PPPoE session; 0 where
	 * the tunnel has none (IP-in-IP, Teredo, AYIYA) or it differs by direction (the GTP-U TEID,
	 * chosen by each receiving end, 3GPP TS 29.281 §5.1). */
	uint8_t tunnel;
	uint32_t tunnel_id;
	uint32_t option_order;    /* enum tcp_option_code per option, in order, 4 bits each */
	uint16_t mss;
	uint8_t wscale;           /* as sent; RFC 7323 §2.3 caps its use at 14, the analyzer clamps */
	uint8_t sack_blocks;
	uint32_t ts_val;
	uint32_t ts_ecr;
};

#endif
