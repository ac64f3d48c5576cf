/* dissect_impl.h - what the link/IP walk (dissect.c) and the tunnel decoders (encap.c) share.
 * Private to dissect/: the bounds-checked readers, the walk's state, and the entry points one
 * layer uses to hand the bytes it carries to the next. */
#ifndef TM_DISSECT_IMPL_H
#define TM_DISSECT_IMPL_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dissect.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETH_HDR_LEN 14
#define IPPROTO_NUM_TCP 6

/* The readers are a few instructions each and on every segment's path: always inlined, so the
 * tunnel decoders that share them cannot make the compiler outline them for the plain path. */
#define TM_READER static inline __attribute__((always_inline))

/* One frame's walk: the segment being filled and the outer layers passed so far (never NULL;
 * stack->n is the nesting depth, bounded by ENCAP_MAX_LAYERS). */
struct walk {
	struct tcp_segment *seg;
	struct encap_stack *stack;
};

/* ---- bounds-checked big-endian readers ------------------------------------------------------ */

/* True when [off, off + n) lies inside a buffer of `len` bytes. Written with a subtraction so no
 * sum can wrap. */
TM_READER bool span_ok(size_t len, size_t off, size_t n)
{
	return off <= len && n <= len - off;
}

TM_READER bool rd_u8(const uint8_t *buf, size_t len, size_t off, uint8_t *out)
{
	if (!span_ok(len, off, 1))
		return false;
	*out = buf[off];
	return true;
}

TM_READER bool rd_be16(const uint8_t *buf, size_t len, size_t off, uint16_t *out)
{
	if (!span_ok(len, off, 2))
		return false;
	*out = (uint16_t)((unsigned)buf[off] << 8 | buf[off + 1]);
	return true;
}

TM_READER bool rd_be32(const uint8_t *buf, size_t len, size_t off, uint32_t *out)
{
	if (!span_ok(len, off, 4))
		return false;
	*out = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
	       (uint32_t)buf[off + 2] << 8 | (uint32_t)buf[off + 3];
	return true;
}

/* Little-endian: only for DLT_NULL, whose header is in the capturing machine's byte order. */
TM_READER bool rd_le32(const uint8_t *buf, size_t len, size_t off, uint32_t *out)
{
	if (!span_ok(len, off, 4))
		return false;
	*out = (uint32_t)buf[off + 3] << 24 | (uint32_t)buf[off + 2] << 16 |
	       (uint32_t)buf[off + 1] << 8 | (uint32_t)buf[off];
	return true;
}

/* Unchecked big-endian reads, only inside a span already checked with span_ok(). memcpy and
 * ntohs/ntohl compile to one load and one byte swap. */
static inline uint16_t get_be16(const uint8_t *buf, size_t off)
{
	uint16_t v;

	memcpy(&v, buf + off, sizeof v);
	return ntohs(v);
}

static inline uint32_t get_be32(const uint8_t *buf, size_t off)
{
	uint32_t v;

	memcpy(&v, buf + off, sizeof v);
	return ntohl(v);
}

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* dissect.c: an IP header at `off` (`want`: 4, 6, or 0 for the version nibble to decide), an
 * EtherType `type` found right before `off` (VLAN tags walked), an Ethernet header at `off`. */
enum dissect_result dissect_ip(const uint8_t *buf, size_t len, size_t off, unsigned want,
                               struct walk *w);
enum dissect_result dissect_ethertype(const uint8_t *buf, size_t len, size_t off, uint16_t type,
                                      struct walk *w);
enum dissect_result dissect_ethernet(const uint8_t *buf, size_t len, size_t off, struct walk *w);

/* encap.c: the payload of an IP packet that is not TCP (protocol `proto`, at `off`, `declared`
 * bytes as the IP header says, `len` bounding it), carried in IP version `version` whose
 * addresses are in w->seg->src/dst. DISSECT_NOT_TCP unless it is a tunnel this tool reads. */
enum dissect_result encap_ip_payload(const uint8_t *buf, size_t len, size_t off, size_t declared,
                                     uint8_t proto, unsigned version, struct walk *w);
/* encap.c: an EtherType that is neither IP nor a VLAN tag (MPLS, PPPoE; DISSECT_NOT_IP for the
 * rest). */
enum dissect_result encap_ethertype(const uint8_t *buf, size_t len, size_t off, uint16_t type,
                                    struct walk *w);
/* encap.c: the NFLOG link type (DLT_NFLOG). */
enum dissect_result link_nflog(const uint8_t *buf, size_t len, struct walk *w);

#endif
