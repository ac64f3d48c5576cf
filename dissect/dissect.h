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
	DISSECT_RESULT_COUNT
};

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
