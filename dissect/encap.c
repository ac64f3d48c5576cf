/* encap.c - tunnels and encapsulations down to the TCP segment they carry (contract: dissect.h).
 *
 * Owns: the decoders of the outer layers a TCP segment can arrive in (IP-in-IP, 6in4, 4in6,
 * 6in6, GRE with ERSPAN I/II/III and PPTP's enhanced GRE, VXLAN, Geneve, GTP-U, Teredo, AYIYA,
 * MPLS, PPPoE) and of the NFLOG link type; the record of the layers passed (struct encap_stack)
 * and their text for reports.
 * Never: allocates, keeps state, reads outside the bounds it is handed (the readers of
 * dissect_impl.h), recurses more than ENCAP_MAX_LAYERS deep.
 *
 * Design notes
 *
 * - Reached only from the paths plain TCP never takes: an IP packet whose protocol is not TCP
 *   (dissect_ipv4/dissect_ipv6) or an EtherType that is neither IP nor a VLAN tag, and the NFLOG
 *   link type. A plain Ethernet/IP/TCP frame costs nothing more than before.
 * - Which UDP datagrams are tunnels: the destination port registered for the tunnel (VXLAN 4789
 *   and Linux's older default 8472, Geneve 6081, GTP-U 2152), AYIYA's 5072 either way (a client
 *   sends to it, the server answers from it), and Teredo, whose relays and peers use any port
 *   (RFC 4380 §5.2.1), recognised by its content: an IPv6 packet filling the datagram exactly,
 *   one of whose addresses is a Teredo address (2001::/32, §2.14) unless a port is 3544.
 * - A header that contradicts itself where the destination port (or IP protocol, or EtherType)
 *   says it must be that header is DISSECT_BAD_ENCAP: the packet is counted, never guessed at.
 *   Where only a weaker sign pointed at a tunnel (a source port, Teredo's content), a datagram
 *   that does not fit is simply not TCP.
 * - Every layer recorded counts towards ENCAP_MAX_LAYERS; a packet nested deeper is
 *   DISSECT_ENCAP_TOO_DEEP. That also bounds the recursion (each layer recorded before the walk
 *   goes one level down; Ethernet and VLAN tags inside a tunnel are walked by loops).
 * - Inner packets are bounded by the outer layer's declared length (UDP length, PPPoE length,
 *   GTP-U length, the outer IP length) and by what was captured: a tunnel that carries a cut
 *   packet (AWS VPC Traffic Mirroring truncates to the session's packet length) gives a segment
 *   with `truncated` set, as the snaplen would.
 */
#include "dissect_impl.h"

#include <stdio.h>

#define IPPROTO_NUM_IPIP 4
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_IPV6 41
#define IPPROTO_NUM_GRE 47

#define UDP_HDR_LEN 8
#define PORT_VXLAN 4789      /* RFC 7348 §5 */
#define PORT_VXLAN_LINUX 8472 /* Linux vxlan and flannel's default before IANA assigned 4789 */
#define PORT_GENEVE 6081     /* RFC 8926 §3.3 */
#define PORT_GTPU 2152       /* 3GPP TS 29.281 §4.4.2.3 */
#define PORT_TEREDO 3544     /* RFC 4380 §2.9 */
#define PORT_AYIYA 5072      /* IANA "ayiya" */

#define ETHERTYPE_TEB 0x6558 /* transparent Ethernet bridging: an Ethernet frame follows */
#define ETHERTYPE_MPLS 0x8847
#define ETHERTYPE_MPLS_MC 0x8848
#define ETHERTYPE_PPPOE_SESSION 0x8864
#define ETHERTYPE_ERSPAN_1_2 0x88be
#define ETHERTYPE_ERSPAN_3 0x22eb
#define ETHERTYPE_PPP 0x880b

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

/* ---- the record of layers ------------------------------------------------------------------- */

/* A new layer of `kind`, or NULL when ENCAP_MAX_LAYERS are recorded already. */
static struct encap_layer *push(struct walk *w, enum encap_kind kind)
{
	struct encap_layer *l;

	if (w->stack->n >= ENCAP_MAX_LAYERS)
		return NULL;
	l = &w->stack->layer[w->stack->n++];
	*l = (struct encap_layer){ .kind = (uint8_t)kind };
	return l;
}

/* Makes `kind` / `id` the segment's tunnel (the innermost one wins, as layers come in order). */
static void set_tunnel(struct walk *w, enum encap_kind kind, uint32_t id)
{
	w->seg->tunnel = (uint8_t)kind;
	w->seg->tunnel_id = id;
}

/* The outer IP header whose addresses the walk holds (w->seg->src/dst, written by dissect_ipv4/6
 * before the inner header overwrites them) as a layer. */
static bool push_ip(struct walk *w, unsigned version)
{
	struct encap_layer *l = push(w, version == 4 ? ENCAP_IPV4 : ENCAP_IPV6);

	if (l == NULL)
		return false;
	l->src = w->seg->src;
	l->dst = w->seg->dst;
	l->src.family = l->dst.family = (uint8_t)version;
	if (version == 4) {
		memset(l->src.bytes + 4, 0, 12);
		memset(l->dst.bytes + 4, 0, 12);
	}
	/* The inner IPv4 header writes 4 bytes: the rest of an outer IPv6 address must not stay. */
	memset(&w->seg->src, 0, sizeof w->seg->src);
	memset(&w->seg->dst, 0, sizeof w->seg->dst);
	return true;
}

/* ---- PPP (RFC 1661 §2, as PPPoE and PPTP carry it) ------------------------------------------- */

/* A PPP frame at `off`: optional address/control 0xff 0x03 (RFC 1662 §3.1, PPTP keeps it),
 * then the protocol, two bytes or one when compressed (RFC 1661 §6.5: an odd first byte). */
static enum dissect_result dissect_ppp(const uint8_t *buf, size_t len, size_t off, struct walk *w)
{
	uint8_t b0 = 0, b1 = 0;
	uint16_t proto;

	if (!rd_u8(buf, len, off, &b0) || !rd_u8(buf, len, off + 1, &b1))
		return DISSECT_TRUNCATED;
	if (b0 == 0xff && b1 == 0x03) {
		off += 2;
		if (!rd_u8(buf, len, off, &b0))
			return DISSECT_TRUNCATED;
	}
	if (b0 & 1) {
		proto = b0;
		off += 1;
	} else {
		if (!rd_be16(buf, len, off, &proto))
			return DISSECT_TRUNCATED;
		off += 2;
	}
	if (proto == PPP_IPV4)
		return dissect_ip(buf, len, off, 4, w);
	if (proto == PPP_IPV6)
		return dissect_ip(buf, len, off, 6, w);
	return DISSECT_NOT_IP; /* LCP, IPCP, CCP, ... */
}

/* ---- MPLS (RFC 3032 §2.1) and PPPoE (RFC 2516 §5) ------------------------------------------- */

static enum dissect_result dissect_mpls(const uint8_t *buf, size_t len, size_t off, struct walk *w)
{
	for (;;) {
		uint32_t entry = 0;
		struct encap_layer *l;
		uint8_t first = 0;

		if (!rd_be32(buf, len, off, &entry))
			return DISSECT_TRUNCATED;
		l = push(w, ENCAP_MPLS);
		if (l == NULL)
			return DISSECT_ENCAP_TOO_DEEP;
		l->id = entry >> 12; /* label; TC and TTL are not kept */
		off += 4;
		if (!(entry & 0x100)) /* bottom of stack bit */
			continue;
		/* What follows the stack is not announced (RFC 3032 §2.2): the first nibble of an IP
		 * header is its version; a pseudowire control word starts with 0000 (RFC 4385 §3) and
		 * is followed by the Ethernet frame of an Ethernet pseudowire (RFC 4448 §4). */
		if (!rd_u8(buf, len, off, &first))
			return DISSECT_TRUNCATED;
		switch (first >> 4) {
		case 4:
			return dissect_ip(buf, len, off, 4, w);
		case 6:
			return dissect_ip(buf, len, off, 6, w);
		case 0:
			return dissect_ethernet(buf, len, off + 4, w);
		default:
			return DISSECT_NOT_IP;
		}
	}
}

static enum dissect_result dissect_pppoe(const uint8_t *buf, size_t len, size_t off,
                                         struct walk *w)
{
	uint8_t vt = 0, code = 0;
	uint16_t session = 0, plen = 0;
	struct encap_layer *l;

	if (!rd_u8(buf, len, off, &vt) || !rd_u8(buf, len, off + 1, &code) ||
	    !rd_be16(buf, len, off + 2, &session) || !rd_be16(buf, len, off + 4, &plen))
		return DISSECT_TRUNCATED;
	/* RFC 2516 §4: VER 1, TYPE 1; CODE 0 for session data. LENGTH is the PPP payload. */
	if (vt != 0x11 || code != 0 || plen < 2)
		return DISSECT_BAD_ENCAP;
	l = push(w, ENCAP_PPPOE);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	l->id = session;
	set_tunnel(w, ENCAP_PPPOE, session);
	off += 6;
	return dissect_ppp(buf, off + min_size(plen, len - off), off, w); /* off <= len: read above */
}

enum dissect_result encap_ethertype(const uint8_t *buf, size_t len, size_t off, uint16_t type,
                                    struct walk *w)
{
	switch (type) {
	case ETHERTYPE_MPLS:
	case ETHERTYPE_MPLS_MC:
		return dissect_mpls(buf, len, off, w);
	case ETHERTYPE_PPPOE_SESSION:
		return dissect_pppoe(buf, len, off, w);
	default:
		return DISSECT_NOT_IP; /* ARP, LLDP, PPPoE discovery, an 802.3 length in a tag, ... */
	}
}

/* ---- GRE (RFC 2784, RFC 2890; PPTP RFC 2637 §4.1) and ERSPAN -------------------------------- */

#define GRE_C 0x8000
#define GRE_R 0x4000
#define GRE_K 0x2000
#define GRE_S 0x1000
#define GRE_SSR 0x0800
#define GRE_RECUR 0x0700
#define GRE_A 0x0080 /* version 1 only: acknowledgment number present */
#define GRE_VERSION 0x0007

/* ERSPAN type II (8 bytes) and III (12 bytes, + 8 with its platform subheader), as the Linux
 * ip_gre/ip6_gre drivers (include/net/erspan.h) and Wireshark read them: version in the top
 * nibble (1 and 2), a 10-bit session ID in bytes 2-3. */
static enum dissect_result dissect_erspan(const uint8_t *buf, size_t len, size_t off,
                                          enum encap_kind kind, struct walk *w)
{
	uint8_t ver = 0;
	uint16_t sess = 0, ft = 0;
	struct encap_layer *l;

	if (!rd_u8(buf, len, off, &ver) || !rd_be16(buf, len, off + 2, &sess))
		return DISSECT_TRUNCATED;
	if ((ver >> 4) != (kind == ENCAP_ERSPAN2 ? 1 : 2))
		return DISSECT_BAD_ENCAP;
	l = push(w, kind);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	l->id = sess & 0x3ff;
	set_tunnel(w, kind, l->id);
	if (kind == ENCAP_ERSPAN2)
		return dissect_ethernet(buf, len, off + 8, w);
	/* Type III: bytes 10-11 are P(1) FT(5) HW ID(6) D(1) Gra(2) O(1); FT 0 is an Ethernet
	 * frame, 2 an IP packet; O announces the 8-byte platform-specific subheader. */
	if (!rd_be16(buf, len, off + 10, &ft))
		return DISSECT_TRUNCATED;
	off += 12 + ((ft & 1) ? 8 : 0);
	switch ((ft >> 10) & 0x1f) {
	case 0:
		return dissect_ethernet(buf, len, off, w);
	case 2:
		return dissect_ip(buf, len, off, 0, w);
	default:
		return DISSECT_NOT_IP;
	}
}

static enum dissect_result dissect_gre(const uint8_t *buf, size_t len, size_t off,
                                       struct walk *w)
{
	uint16_t fl = 0, proto = 0;
	unsigned version;
	size_t hlen = 4;
	struct encap_layer *l;

	if (!rd_be16(buf, len, off, &fl) || !rd_be16(buf, len, off + 2, &proto))
		return DISSECT_TRUNCATED;
	version = fl & GRE_VERSION;
	/* RFC 2784 §2.5.1: a receiver not implementing RFC 1701 discards a packet with routing,
	 * strict source route or recursion bits set, or a version other than 0; PPTP (RFC 2637
	 * §4.1) is version 1, with a key (payload length, call ID) and PPP inside. */
	if ((fl & (GRE_R | GRE_SSR | GRE_RECUR)) != 0 || version > 1 ||
	    (version == 1 && ((fl & (GRE_K | GRE_C)) != GRE_K || proto != ETHERTYPE_PPP)) ||
	    (version == 0 && (fl & 0x00f8) != 0))
		return DISSECT_BAD_ENCAP;
	l = push(w, ENCAP_GRE);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	if (fl & GRE_C)
		hlen += 4; /* checksum, reserved1 */
	if (fl & GRE_K) {
		if (!rd_be32(buf, len, off + hlen, &l->id))
			return DISSECT_TRUNCATED;
		l->flags |= ENCAP_F_KEY;
		hlen += 4;
	}
	if (fl & GRE_S) {
		if (!rd_be32(buf, len, off + hlen, &l->id2))
			return DISSECT_TRUNCATED;
		l->flags |= ENCAP_F_SEQ;
		hlen += 4;
	}
	if (version == 1 && (fl & GRE_A))
		hlen += 4;
	/* PPTP's "key" is payload length and call ID: the call ID (low half) is what separates. */
	if (version == 1)
		l->id &= 0xffff;
	set_tunnel(w, ENCAP_GRE, l->id);
	off += hlen;

	switch (proto) {
	case ETHERTYPE_IPV4:
		return dissect_ip(buf, len, off, 4, w);
	case ETHERTYPE_IPV6:
		return dissect_ip(buf, len, off, 6, w);
	case ETHERTYPE_TEB:
		return dissect_ethernet(buf, len, off, w);
	case ETHERTYPE_MPLS:
	case ETHERTYPE_MPLS_MC:
		return dissect_mpls(buf, len, off, w);
	case ETHERTYPE_PPP:
		return dissect_ppp(buf, len, off, w);
	case ETHERTYPE_ERSPAN_1_2:
		/* Type I has no header of its own and no sequence number; type II always sets S. */
		if (!(fl & GRE_S)) {
			if (push(w, ENCAP_ERSPAN1) == NULL)
				return DISSECT_ENCAP_TOO_DEEP;
			set_tunnel(w, ENCAP_ERSPAN1, 0);
			return dissect_ethernet(buf, len, off, w);
		}
		return dissect_erspan(buf, len, off, ENCAP_ERSPAN2, w);
	case ETHERTYPE_ERSPAN_3:
		return dissect_erspan(buf, len, off, ENCAP_ERSPAN3, w);
	default:
		return DISSECT_NOT_IP; /* keepalives, other payloads */
	}
}

/* ---- UDP tunnels ---------------------------------------------------------------------------- */

/* VXLAN (RFC 7348 §5): flags (I = 0x08 must be set), 24 reserved bits, VNI, 8 reserved bits,
 * then an Ethernet frame. The reserved bits are ignored on receipt, as the RFC says (VXLAN-GBP
 * uses some of them). */
static enum dissect_result dissect_vxlan(const uint8_t *buf, size_t len, size_t off,
                                         struct walk *w)
{
	uint8_t flags = 0;
	uint32_t vni = 0;
	struct encap_layer *l;

	if (!rd_u8(buf, len, off, &flags) || !rd_be32(buf, len, off + 4, &vni))
		return DISSECT_TRUNCATED;
	if (!(flags & 0x08))
		return DISSECT_BAD_ENCAP;
	l = push(w, ENCAP_VXLAN);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	l->id = vni >> 8;
	set_tunnel(w, ENCAP_VXLAN, l->id);
	return dissect_ethernet(buf, len, off + 8, w);
}

/* Geneve (RFC 8926 §3.4): Ver(2) Opt Len(6, 4-byte words) O C Rsvd(6), Protocol Type, VNI(24)
 * Reserved(8), then the options: each Class(16) Type(8) R(3) Length(5, 4-byte words of data),
 * which must fill Opt Len exactly. */
static enum dissect_result dissect_geneve(const uint8_t *buf, size_t len, size_t off,
                                          size_t avail, struct walk *w)
{
	uint8_t b0 = 0;
	uint16_t proto = 0;
	uint32_t vni = 0;
	size_t optlen, pos;
	struct encap_layer *l;

	if (!rd_u8(buf, len, off, &b0) || !rd_be16(buf, len, off + 2, &proto) ||
	    !rd_be32(buf, len, off + 4, &vni))
		return DISSECT_TRUNCATED;
	optlen = (size_t)(b0 & 0x3f) * 4;
	if ((b0 >> 6) != 0 || 8 + optlen > avail)
		return DISSECT_BAD_ENCAP;
	for (pos = 0; pos < optlen;) { /* each step advances 4 bytes or more: bounded by optlen */
		uint8_t olen = 0;

		if (optlen - pos < 4)
			return DISSECT_BAD_ENCAP;
		if (!rd_u8(buf, len, off + 8 + pos + 3, &olen))
			return DISSECT_TRUNCATED;
		pos += 4 + (size_t)(olen & 0x1f) * 4;
	}
	if (pos != optlen)
		return DISSECT_BAD_ENCAP;
	l = push(w, ENCAP_GENEVE);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	l->id = vni >> 8;
	if (optlen) {
		l->flags |= ENCAP_F_OPTIONS;
		l->id2 = (uint32_t)optlen;
	}
	set_tunnel(w, ENCAP_GENEVE, l->id);
	off += 8 + optlen;
	switch (proto) {
	case ETHERTYPE_TEB:
		return dissect_ethernet(buf, len, off, w);
	case ETHERTYPE_IPV4:
		return dissect_ip(buf, len, off, 4, w);
	case ETHERTYPE_IPV6:
		return dissect_ip(buf, len, off, 6, w);
	default:
		return DISSECT_NOT_IP;
	}
}

/* GTP-U (3GPP TS 29.281 §5.1): flags (version 1, PT 1, E, S, PN), message type, length of what
 * follows the first 8 bytes, TEID; with any of E/S/PN, 4 more bytes (sequence, N-PDU, next
 * extension type), then extension headers, each a length in 4-byte units (>= 1), content, and
 * the next type in its last byte (§5.2). Only a G-PDU (type 255) carries user packets. */
#define GTPU_MAX_EXT 16
static enum dissect_result dissect_gtpu(const uint8_t *buf, size_t len, size_t off,
                                        size_t avail, struct walk *w)
{
	uint8_t fl = 0, type = 0, next = 0, first = 0;
	uint16_t glen = 0;
	uint32_t teid = 0;
	size_t pos = 8, end;
	struct encap_layer *l;

	if (!rd_u8(buf, len, off, &fl) || !rd_u8(buf, len, off + 1, &type) ||
	    !rd_be16(buf, len, off + 2, &glen) || !rd_be32(buf, len, off + 4, &teid))
		return DISSECT_TRUNCATED;
	if ((fl >> 5) != 1 || !(fl & 0x10) || (size_t)glen + 8 > avail)
		return DISSECT_BAD_ENCAP;
	if (type != 255)
		return DISSECT_NOT_TCP; /* echo, error indication, end marker: no user packet */
	end = 8 + (size_t)glen;
	if (fl & 0x07) {
		if (end < 12)
			return DISSECT_BAD_ENCAP;
		if (!rd_u8(buf, len, off + 11, &next))
			return DISSECT_TRUNCATED;
		pos = 12;
		for (unsigned i = 0; (fl & 0x04) && next != 0; i++) {
			uint8_t units = 0;

			if (i == GTPU_MAX_EXT || end - pos < 4)
				return DISSECT_BAD_ENCAP;
			if (!rd_u8(buf, len, off + pos, &units))
				return DISSECT_TRUNCATED;
			if (units == 0 || (size_t)units * 4 > end - pos)
				return DISSECT_BAD_ENCAP;
			pos += (size_t)units * 4;
			if (!rd_u8(buf, len, off + pos - 1, &next))
				return DISSECT_TRUNCATED;
		}
	}
	l = push(w, ENCAP_GTPU);
	if (l == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	l->id = teid;
	set_tunnel(w, ENCAP_GTPU, 0); /* each direction has its own TEID (segment.h) */
	len = off + min_size(end, len - off);
	if (!rd_u8(buf, len, off + pos, &first))
		return end > pos ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
	if ((first >> 4) != 4 && (first >> 4) != 6)
		return DISSECT_NOT_IP; /* an Ethernet or unstructured PDU session */
	return dissect_ip(buf, len, off + pos, 0, w);
}

/* True for a Teredo address, 2001:0000::/32 (RFC 4380 §2.14). */
static bool teredo_addr(const uint8_t *buf, size_t off)
{
	return buf[off] == 0x20 && buf[off + 1] == 0x01 && buf[off + 2] == 0 && buf[off + 3] == 0;
}

/* Teredo (RFC 4380 §5.1.1): an optional authentication indicator (0x0001, ID-len, AU-len, the
 * client identifier, the authentication value, an 8-byte nonce, a confirmation byte), an
 * optional origin indication (0x0000, port and IPv4 address, both inverted), then an IPv6
 * packet that fills the datagram. `strong`: the destination port is 3544, so a datagram that
 * does not fit is a bad Teredo header rather than some other UDP; `server`: a port is 3544, so
 * the addresses need not be Teredo addresses. */
static enum dissect_result dissect_teredo(const uint8_t *buf, size_t len, size_t off,
                                          size_t avail, bool strong, bool server, struct walk *w)
{
	struct encap_layer *pl;
	enum dissect_result nope = strong ? DISSECT_BAD_ENCAP : DISSECT_NOT_TCP;
	struct encap_layer l = { .kind = ENCAP_TEREDO };
	uint16_t ind = 0, plen = 0;
	size_t pos = 0;
	uint8_t v = 0;

	if (!rd_be16(buf, len, off, &ind))
		return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
	if (ind == 0x0001) {
		uint8_t idl = 0, aul = 0;

		if (!rd_u8(buf, len, off + 2, &idl) || !rd_u8(buf, len, off + 3, &aul))
			return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
		pos = 4 + (size_t)idl + aul + 9;
		l.flags |= ENCAP_F_AUTH;
		if (!rd_be16(buf, len, off + pos, &ind))
			return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
	}
	if (ind == 0x0000) {
		uint16_t port = 0;
		uint32_t a = 0;

		if (!rd_be16(buf, len, off + pos + 2, &port) || !rd_be32(buf, len, off + pos + 4, &a))
			return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
		l.flags |= ENCAP_F_ORIGIN;
		l.port = (uint16_t)~port;
		a = ~a;
		l.src.family = 4;
		l.src.bytes[0] = (uint8_t)(a >> 24);
		l.src.bytes[1] = (uint8_t)(a >> 16);
		l.src.bytes[2] = (uint8_t)(a >> 8);
		l.src.bytes[3] = (uint8_t)a;
		pos += 8;
	}
	/* The IPv6 header: version 6, and its length is the rest of the datagram. */
	if (!rd_u8(buf, len, off + pos, &v) || !rd_be16(buf, len, off + pos + 4, &plen))
		return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
	if ((v >> 4) != 6 || pos + 40 + (size_t)plen != avail)
		return nope;
	if (!server) {
		if (!span_ok(len, off + pos + 8, 32))
			return DISSECT_NOT_TCP;
		if (!teredo_addr(buf, off + pos + 8) && !teredo_addr(buf, off + pos + 24))
			return DISSECT_NOT_TCP;
	}
	pl = push(w, ENCAP_TEREDO);
	if (pl == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	*pl = l;
	set_tunnel(w, ENCAP_TEREDO, 0);
	return dissect_ip(buf, len, off + pos, 6, w);
}

/* AYIYA (draft-massar-v6ops-ayiya-02 §6): IDLen/IDType, SigLen/HshMeth, AutMeth/OpCode, Next
 * Header, Epoch Time, then 2^IDLen bytes of identity and 4 * SigLen bytes of signature. OpCode 1
 * (forward) carries a packet of protocol Next Header. */
static enum dissect_result dissect_ayiya(const uint8_t *buf, size_t len, size_t off,
                                         size_t avail, bool strong, struct walk *w)
{
	uint8_t b0 = 0, b1 = 0, b2 = 0, nh = 0;
	size_t hlen;

	if (!rd_u8(buf, len, off, &b0) || !rd_u8(buf, len, off + 1, &b1) ||
	    !rd_u8(buf, len, off + 2, &b2) || !rd_u8(buf, len, off + 3, &nh))
		return strong ? DISSECT_TRUNCATED : DISSECT_NOT_TCP;
	hlen = 8 + ((size_t)1 << (b0 >> 4)) + (size_t)(b1 >> 4) * 4;
	if (hlen > avail)
		return strong ? DISSECT_BAD_ENCAP : DISSECT_NOT_TCP;
	if ((b2 & 0x0f) != 1 || (nh != IPPROTO_NUM_IPV6 && nh != IPPROTO_NUM_IPIP))
		return DISSECT_NOT_TCP; /* heartbeats, queries, motd */
	if (push(w, ENCAP_AYIYA) == NULL)
		return DISSECT_ENCAP_TOO_DEEP;
	set_tunnel(w, ENCAP_AYIYA, 0);
	return dissect_ip(buf, len, off + hlen, nh == IPPROTO_NUM_IPV6 ? 6 : 4, w);
}

/* A UDP datagram at `off`, `declared` bytes by the IP header. */
static enum dissect_result dissect_udp(const uint8_t *buf, size_t len, size_t off,
                                       size_t declared, unsigned version, struct walk *w)
{
	uint16_t sport = 0, dport = 0, ulen = 0;
	size_t avail;
	bool strong, weak;

	if (!rd_be16(buf, len, off, &sport) || !rd_be16(buf, len, off + 2, &dport) ||
	    !rd_be16(buf, len, off + 4, &ulen))
		return DISSECT_NOT_TCP; /* not even the ports: nothing says it is a tunnel */
	strong = dport == PORT_VXLAN || dport == PORT_VXLAN_LINUX || dport == PORT_GENEVE ||
	         dport == PORT_GTPU || dport == PORT_AYIYA || dport == PORT_TEREDO;
	weak = sport == PORT_AYIYA || sport == PORT_TEREDO;
	/* Every other datagram may still be Teredo; its first bytes say quickly if not (an
	 * indicator 0x000x or an IPv6 version nibble). */
	if (!strong && !weak &&
	    !(version == 4 && declared >= UDP_HDR_LEN + 40 && span_ok(len, off, UDP_HDR_LEN + 1) &&
	      (buf[off + UDP_HDR_LEN] == 0 || (buf[off + UDP_HDR_LEN] >> 4) == 6)))
		return DISSECT_NOT_TCP;
	/* RFC 768: Length counts the header; beyond it the IP packet holds padding. Zero is only
	 * for IPv6 jumbograms (RFC 2675 §4), not supported. */
	if (ulen < UDP_HDR_LEN || ulen > declared)
		return strong ? DISSECT_BAD_ENCAP : DISSECT_NOT_TCP;
	avail = (size_t)ulen - UDP_HDR_LEN;
	len = off + min_size(ulen, len - off); /* off + 6 <= len: read above */
	off += UDP_HDR_LEN;

	if (!push_ip(w, version))
		return DISSECT_ENCAP_TOO_DEEP;
	if (!strong && !weak)
		return dissect_teredo(buf, len, off, avail, false, false, w);
	switch (dport) {
	case PORT_VXLAN:
	case PORT_VXLAN_LINUX:
		return dissect_vxlan(buf, len, off, w);
	case PORT_GENEVE:
		return dissect_geneve(buf, len, off, avail, w);
	case PORT_GTPU:
		return dissect_gtpu(buf, len, off, avail, w);
	case PORT_AYIYA:
		return dissect_ayiya(buf, len, off, avail, true, w);
	case PORT_TEREDO:
		return dissect_teredo(buf, len, off, avail, true, true, w);
	default:
		if (sport == PORT_AYIYA)
			return dissect_ayiya(buf, len, off, avail, false, w);
		return dissect_teredo(buf, len, off, avail, false, true, w);
	}
}

enum dissect_result encap_ip_payload(const uint8_t *buf, size_t len, size_t off, size_t declared,
                                     uint8_t proto, unsigned version, struct walk *w)
{
	switch (proto) {
	case IPPROTO_NUM_UDP:
		return dissect_udp(buf, len, off, declared, version, w);
	case IPPROTO_NUM_IPIP: /* IP-in-IP (RFC 2003), 4in6 (RFC 2473) */
	case IPPROTO_NUM_IPV6: /* 6in4 (RFC 4213 §3.5), 6in6 (RFC 2473) */
		if (!push_ip(w, version))
			return DISSECT_ENCAP_TOO_DEEP;
		set_tunnel(w, version == 4 ? ENCAP_IPV4 : ENCAP_IPV6, 0);
		return dissect_ip(buf, len, off, proto == IPPROTO_NUM_IPIP ? 4 : 6, w);
	case IPPROTO_NUM_GRE:
		if (!push_ip(w, version))
			return DISSECT_ENCAP_TOO_DEEP;
		return dissect_gre(buf, len, off, w);
	default:
		return DISSECT_NOT_TCP;
	}
}

/* ---- NFLOG (the DLT_NFLOG link type, libpcap's pcap-linktype and pcap/nflog.h) -------------- */

#define NFLOG_HDR_LEN 4
#define NFULA_PAYLOAD 9
#define NFLOG_AF_INET 2
#define NFLOG_AF_INET6 10

/* A 4-byte header (address family, version 0, resource ID), then TLVs: length (the 4-byte TLV
 * header included) and type in the byte order of the host reading the file (libpcap swaps them
 * when the file comes from the other byte order), values padded to 4 bytes. The packet is the
 * value of NFULA_PAYLOAD. */
enum dissect_result link_nflog(const uint8_t *buf, size_t len, struct walk *w)
{
	uint8_t family = 0, version = 0;
	size_t off = NFLOG_HDR_LEN;

	if (!rd_u8(buf, len, 0, &family) || !rd_u8(buf, len, 1, &version) ||
	    !span_ok(len, 0, NFLOG_HDR_LEN))
		return DISSECT_TRUNCATED;
	if (version != 0)
		return DISSECT_BAD_ENCAP;
	while (off < len) { /* every TLV advances by 4 bytes or more */
		uint16_t tlen, type;

		if (!span_ok(len, off, 4))
			return DISSECT_TRUNCATED;
		memcpy(&tlen, buf + off, sizeof tlen);
		memcpy(&type, buf + off + 2, sizeof type);
		if (tlen < 4)
			return DISSECT_BAD_ENCAP;
		if (type == NFULA_PAYLOAD) {
			if (family == NFLOG_AF_INET)
				return dissect_ip(buf, off + min_size(tlen, len - off), off + 4, 4, w);
			if (family == NFLOG_AF_INET6)
				return dissect_ip(buf, off + min_size(tlen, len - off), off + 4, 6, w);
			return DISSECT_NOT_IP;
		}
		off += ((size_t)tlen + 3) & ~(size_t)3;
	}
	return DISSECT_NOT_IP; /* no packet in it (or the snaplen cut before it) */
}

/* ---- text ----------------------------------------------------------------------------------- */

static const char *addr_text(const struct ip_addr *a, char *buf, size_t size)
{
	if (inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->bytes, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
	return buf;
}

int encap_layer_format(const struct encap_layer *l, char *buf, unsigned long size)
{
	char a[48], b[48];

	switch (l->kind) {
	case ENCAP_IPV4:
	case ENCAP_IPV6:
		return snprintf(buf, size, "%s %s>%s", l->kind == ENCAP_IPV4 ? "ipv4" : "ipv6",
		                addr_text(&l->src, a, sizeof a), addr_text(&l->dst, b, sizeof b));
	case ENCAP_VXLAN:
		return snprintf(buf, size, "vxlan vni %u", (unsigned)l->id);
	case ENCAP_GENEVE:
		if (l->flags & ENCAP_F_OPTIONS)
			return snprintf(buf, size, "geneve vni %u options %u bytes", (unsigned)l->id,
			                (unsigned)l->id2);
		return snprintf(buf, size, "geneve vni %u", (unsigned)l->id);
	case ENCAP_GRE:
		if (l->flags & ENCAP_F_KEY)
			return snprintf(buf, size, "gre key %u", (unsigned)l->id);
		return snprintf(buf, size, "gre");
	case ENCAP_ERSPAN1:
		return snprintf(buf, size, "erspan type 1");
	case ENCAP_ERSPAN2:
	case ENCAP_ERSPAN3:
		return snprintf(buf, size, "erspan type %d session %u", l->kind == ENCAP_ERSPAN2 ? 2 : 3,
		                (unsigned)l->id);
	case ENCAP_TEREDO:
		if (l->flags & ENCAP_F_ORIGIN)
			return snprintf(buf, size, "teredo origin %s:%u", addr_text(&l->src, a, sizeof a),
			                (unsigned)l->port);
		return snprintf(buf, size, "teredo");
	case ENCAP_AYIYA:
		return snprintf(buf, size, "ayiya");
	case ENCAP_GTPU:
		return snprintf(buf, size, "gtp-u teid 0x%08x", (unsigned)l->id);
	case ENCAP_MPLS:
		return snprintf(buf, size, "mpls label %u", (unsigned)l->id);
	case ENCAP_PPPOE:
		return snprintf(buf, size, "pppoe session 0x%04x", (unsigned)l->id);
	default:
		return snprintf(buf, size, "unknown");
	}
}
