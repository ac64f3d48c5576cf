/* dissect.h - untrusted frame bytes to one TCP segment.
 *
 * Pure functions: every read is bounds-checked against the captured length, nothing is allocated,
 * there is no global state. A frame that is not a usable TCP segment gets a result that says why,
 * so the caller can count it.
 */
#ifndef TM_DISSECT_H
#define TM_DISSECT_H

#include <stdbool.h>
#include <stdint.h>

#include "segment.h"

/* Outcome of dissecting one frame. Append only: the names are report fields. */
enum dissect_result {
	DISSECT_TCP = 0,       /* *seg is filled; seg->truncated says if snaplen cut options/payload */
	DISSECT_NOT_IP,        /* ARP, LLDP, 802.3 LLC, unknown ethertype or cooked protocol */
	DISSECT_NOT_TCP,       /* IP carrying UDP, ICMP, ESP, ... */
	DISSECT_FRAGMENT,      /* an IPv4 fragment or an IPv6 fragment header: not reassembled */
	DISSECT_TRUNCATED,     /* snaplen cut the link, IP or base TCP header */
	DISSECT_MALFORMED,     /* a header contradicts itself (bad version, lengths, offsets) */
	DISSECT_UNSUPPORTED_LINK, /* link type this tool does not read */
	DISSECT_BAD_ENCAP,     /* an encapsulation header (VXLAN, GRE, GTP-U, MPLS, NFLOG, ...) contradicts
	                          itself: the packet inside is not looked at */
	DISSECT_ENCAP_TOO_DEEP, /* more than ENCAP_MAX_LAYERS encapsulation layers */
	DISSECT_RESULT_COUNT
};

/* ---- encapsulations ---------------------------------------------------------------------------
 * A TCP segment may arrive inside tunnels: the dissector then walks the outer layers down to the
 * inner TCP segment, and records each outer layer it passed, outermost first. Only layers that
 * carry the segment are recorded (an outer IP header that carries a tunnel, the tunnel header
 * itself); Ethernet and VLAN tags inside a tunnel are walked silently, as outside one. */
#define ENCAP_MAX_LAYERS 8

enum encap_kind {
	ENCAP_NONE = 0,
	ENCAP_IPV4,      /* an outer IPv4 header (IP-in-IP, 6in4, or carrying UDP/GRE) */
	ENCAP_IPV6,      /* an outer IPv6 header (4in6, 6in6, or carrying UDP/GRE) */
	ENCAP_VXLAN,     /* RFC 7348; id: VNI */
	ENCAP_GENEVE,    /* RFC 8926; id: VNI */
	ENCAP_GRE,       /* RFC 2784/2890; id: key (flags ENCAP_F_KEY), seq: sequence (ENCAP_F_SEQ) */
	ENCAP_ERSPAN1,   /* Cisco ERSPAN type I (GRE 0x88be without sequence) */
	ENCAP_ERSPAN2,   /* ERSPAN type II; id: session ID */
	ENCAP_ERSPAN3,   /* ERSPAN type III; id: session ID */
	ENCAP_TEREDO,    /* RFC 4380; ENCAP_F_ORIGIN: origin indication in src/port; ENCAP_F_AUTH */
	ENCAP_AYIYA,     /* draft-massar-v6ops-ayiya */
	ENCAP_GTPU,      /* 3GPP TS 29.281; id: TEID */
	ENCAP_MPLS,      /* RFC 3032, one label per layer; id: label */
	ENCAP_PPPOE,     /* RFC 2516 session stage; id: session ID */
	ENCAP_KIND_COUNT
};

enum encap_flag {
	ENCAP_F_KEY = 1u << 0,    /* GRE key present */
	ENCAP_F_SEQ = 1u << 1,    /* GRE sequence number present */
	ENCAP_F_ORIGIN = 1u << 2, /* Teredo origin indication present */
	ENCAP_F_AUTH = 1u << 3,   /* Teredo authentication indicator present */
	ENCAP_F_OPTIONS = 1u << 4, /* Geneve options present (id2: their length in bytes) */
};

struct encap_layer {
	uint8_t kind;       /* enum encap_kind */
	uint8_t flags;      /* enum encap_flag */
	uint16_t port;      /* Teredo origin port */
	uint32_t id;        /* see enum encap_kind */
	uint32_t id2;       /* GRE sequence number, Geneve options length */
	struct ip_addr src; /* outer IP addresses; Teredo origin address */
	struct ip_addr dst;
};

struct encap_stack {
	unsigned n;         /* layers recorded, outermost first */
	struct encap_layer layer[ENCAP_MAX_LAYERS];
};

/* The same as dissect_frame(), and fills *encap (when not NULL) with the outer layers the segment
 * came through. encap->n is 0 for a segment outside any tunnel. *encap is filled for any result,
 * with the layers walked before the walk stopped. */
enum dissect_result dissect_frame_encap(int dlt, const uint8_t *frame, uint32_t caplen,
                                        struct tcp_segment *seg, struct encap_stack *encap);

/* Writes one layer as text for reports ("vxlan vni 42", "ipv4 192.0.2.1>192.0.2.2",
 * "gre key 7", "mpls label 16", ...) into buf (NUL-terminated, cut to size). Returns the length
 * it would have without the cut. 96 bytes always suffice. */
#define ENCAP_TEXT_MAX 96
int encap_layer_format(const struct encap_layer *l, char *buf, unsigned long size);

/* Dissects one frame of link type `dlt` (a pcap DLT_* value as pcap_datalink() returns it).
 * `frame` holds `caplen` captured bytes. Returns DISSECT_TCP and fills *seg for a TCP segment whose
 * IP header and 20-byte base TCP header are all captured; anything else leaves *seg unspecified.
 * Cannot fail otherwise. */
enum dissect_result dissect_frame(int dlt, const uint8_t *frame, uint32_t caplen,
                                  struct tcp_segment *seg);

/* True when dissect_frame() understands link type `dlt`. */
bool dissect_link_supported(int dlt);

/* A short human name for a link type ("Ethernet", "Linux cooked v2", ...), or NULL if unsupported. */
const char *dissect_link_name(int dlt);

/* Stable snake_case name of a result ("not_ip", "fragment", ...), used in reports. */
const char *dissect_result_name(enum dissect_result result);

#endif
