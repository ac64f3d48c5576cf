/* names.c - the one place where the flow record's enums become report text.
 *
 * Every enum of flow_record.h maps to its name through a designated-initializer table indexed by
 * the enum, with a _Static_assert on its length; the names are report fields (DESIGN §2, §4) and
 * never change. The formatters (addresses, timestamps, TCP flags) write into a caller's buffer,
 * never allocate and always leave it NUL-terminated, cutting the text when the buffer is short.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "flow_record.h"
#include "rbuf.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Returned for a value outside its enum: a bug upstream, but a report must not crash on it. */
static const char unknown_name[] = "unknown";

static const char *const class_names[] = {
	[CLOSE_FIN_GRACEFUL] = "fin_graceful",
	[CLOSE_FIN_SIMULTANEOUS] = "fin_simultaneous",
	[CLOSE_HALF_CLOSED_AT_END] = "half_closed_at_end",
	[CLOSE_RST_UNREAD_DATA] = "rst_unread_data",
	[CLOSE_RST_ABORT] = "rst_abort",
	[CLOSE_RST_AFTER_CLOSE] = "rst_after_close",
	[CLOSE_RST_PEER_RESTARTED] = "rst_peer_restarted",
	[CLOSE_RST_REFUSED] = "rst_refused",
	[CLOSE_SYN_UNANSWERED] = "syn_unanswered",
	[CLOSE_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
	[CLOSE_PEER_VANISHED] = "peer_vanished",
	[CLOSE_OPEN_AT_END] = "open_at_end",
	[CLOSE_IDLE_AT_END] = "idle_at_end",
};
_Static_assert(COUNT_OF(class_names) == CLOSE_CLASS_COUNT, "a close class has no name");

static const char *const closer_names[] = {
	[CLOSER_NONE] = NULL, /* null in JSON, empty in CSV */
	[CLOSER_CLIENT] = "client",
	[CLOSER_SERVER] = "server",
	[CLOSER_BOTH] = "both",
};
_Static_assert(COUNT_OF(closer_names) == CLOSER_COUNT, "a closer has no name");

/* RFC 9293 §3.3.2 spellings. */
static const char *const state_names[] = {
	[TCPS_UNKNOWN] = "UNKNOWN",
	[TCPS_CLOSED] = "CLOSED",
	[TCPS_LISTEN] = "LISTEN",
	[TCPS_SYN_SENT] = "SYN-SENT",
	[TCPS_SYN_RECEIVED] = "SYN-RECEIVED",
	[TCPS_ESTABLISHED] = "ESTABLISHED",
	[TCPS_FIN_WAIT_1] = "FIN-WAIT-1",
	[TCPS_FIN_WAIT_2] = "FIN-WAIT-2",
	[TCPS_CLOSE_WAIT] = "CLOSE-WAIT",
	[TCPS_CLOSING] = "CLOSING",
	[TCPS_LAST_ACK] = "LAST-ACK",
	[TCPS_TIME_WAIT] = "TIME-WAIT",
};
_Static_assert(COUNT_OF(state_names) == TCPS_COUNT, "a TCP state has no name");

static const char *const handshake_names[] = {
	[HANDSHAKE_COMPLETE] = "complete",
	[HANDSHAKE_SYN_ONLY] = "syn_only",
	[HANDSHAKE_REFUSED] = "refused",
	[HANDSHAKE_NO_FINAL_ACK] = "no_final_ack",
	[HANDSHAKE_MIDSTREAM] = "midstream",
};
_Static_assert(COUNT_OF(handshake_names) == HANDSHAKE_COUNT, "a handshake kind has no name");

static const char *const confidence_names[] = {
	[CONFIDENCE_CERTAIN] = "certain",
	[CONFIDENCE_LIKELY] = "likely",
	[CONFIDENCE_AMBIGUOUS] = "ambiguous",
};
_Static_assert(COUNT_OF(confidence_names) == CONFIDENCE_COUNT, "a confidence has no name");

static const char *const reset_origin_names[] = {
	[RESET_ORIGIN_NONE] = NULL,
	[RESET_ORIGIN_SOCKET] = "socket",
	[RESET_ORIGIN_KERNEL] = "kernel",
	[RESET_ORIGIN_PATH] = "path",
};
_Static_assert(COUNT_OF(reset_origin_names) == RESET_ORIGIN_COUNT, "a reset origin has no name");

static const char *const vantage_names[] = {
	[VANTAGE_UNKNOWN] = "unknown",
	[VANTAGE_CLIENT] = "client",
	[VANTAGE_SERVER] = "server",
	[VANTAGE_BETWEEN] = "between",
};
_Static_assert(COUNT_OF(vantage_names) == VANTAGE_COUNT, "a vantage point has no name");

/* Indexed by bit position: MOD_MIDSTREAM is bit 0. */
static const char *const modifier_names[] = {
	[0] = "midstream",
	[1] = "truncated",
	[2] = "capture_gap",
	[3] = "port_reuse",
	[4] = "evicted",
	[5] = "rst_from_middlebox",
};
_Static_assert(COUNT_OF(modifier_names) == MOD_COUNT_BITS, "a modifier has no name");
_Static_assert(MOD_RST_FROM_MIDDLEBOX == 1u << (MOD_COUNT_BITS - 1), "modifier bits out of order");

static const char *const direction_names[] = {
	[FROM_CLIENT] = "client",
	[FROM_SERVER] = "server",
};

/* TCP flags in report order, not bit order: the order people say them in ("SYN,ACK"). */
static const struct {
	uint8_t bit;
	char name[4];
} flag_names[] = {
	{ TCP_SYN, "SYN" }, { TCP_FIN, "FIN" }, { TCP_RST, "RST" }, { TCP_PSH, "PSH" },
	{ TCP_ACK, "ACK" }, { TCP_URG, "URG" }, { TCP_ECE, "ECE" }, { TCP_CWR, "CWR" },
};

const char *close_class_name(enum close_class c)
{
	if ((unsigned)c >= COUNT_OF(class_names))
		return unknown_name;
	return class_names[c];
}

enum close_class close_class_from_name(const char *name)
{
	if (name == NULL)
		return CLOSE_CLASS_COUNT;
	for (unsigned i = 0; i < COUNT_OF(class_names); i++) {
		if (strcmp(name, class_names[i]) == 0)
			return (enum close_class)i;
	}
	return CLOSE_CLASS_COUNT;
}

const char *closer_name(enum closer_side c)
{
	if ((unsigned)c >= COUNT_OF(closer_names))
		return unknown_name;
	return closer_names[c];
}

enum closer_side closer_from_name(const char *name)
{
	for (unsigned i = 0; name != NULL && i < COUNT_OF(closer_names); i++) {
		if (closer_names[i] != NULL && strcmp(name, closer_names[i]) == 0)
			return (enum closer_side)i;
	}
	return CLOSER_NONE;
}

const char *tcp_state_name(enum tcp_state s)
{
	if ((unsigned)s >= COUNT_OF(state_names))
		return state_names[TCPS_UNKNOWN];
	return state_names[s];
}

const char *handshake_name(enum handshake_kind h)
{
	if ((unsigned)h >= COUNT_OF(handshake_names))
		return unknown_name;
	return handshake_names[h];
}

const char *confidence_name(enum close_confidence c)
{
	if ((unsigned)c >= COUNT_OF(confidence_names))
		return unknown_name;
	return confidence_names[c];
}

const char *reset_origin_name(enum reset_origin o)
{
	if ((unsigned)o >= COUNT_OF(reset_origin_names))
		return unknown_name;
	return reset_origin_names[o];
}

const char *vantage_name(enum vantage_point v)
{
	if ((unsigned)v >= COUNT_OF(vantage_names))
		return unknown_name;
	return vantage_names[v];
}

const char *flow_modifier_name(uint32_t bit)
{
	for (unsigned i = 0; i < COUNT_OF(modifier_names); i++) {
		if (bit == 1u << i)
			return modifier_names[i];
	}
	return NULL;
}

const char *direction_name(enum flow_direction d)
{
	if ((unsigned)d >= COUNT_OF(direction_names))
		return unknown_name;
	return direction_names[d];
}

/* Copies len bytes of text into buf as a string, cut to size - 1 bytes. Returns buf. */
static const char *copy_cut(char *buf, unsigned long size, const char *text, size_t len)
{
	if (size == 0)
		return buf;
	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return buf;
}

/* The decimal text of each byte value, padded to 4 bytes (copied whole) with its length last:
 * an address byte is one fixed copy. Constant expressions, so the table is made when compiling. */
#define DEC_TEXT(n)                                                                                \
	{ (char)('0' + ((n) >= 100 ? (n) / 100 : (n) >= 10 ? (n) / 10 : (n))),                    \
	  (char)((n) >= 100 ? '0' + (n) / 10 % 10 : (n) >= 10 ? '0' + (n) % 10 : 0),              \
	  (char)((n) >= 100 ? '0' + (n) % 10 : 0), (char)((n) >= 100 ? 3 : (n) >= 10 ? 2 : 1) }
#define DEC4(n) DEC_TEXT(n), DEC_TEXT((n) + 1), DEC_TEXT((n) + 2), DEC_TEXT((n) + 3)
#define DEC16(n) DEC4(n), DEC4((n) + 4), DEC4((n) + 8), DEC4((n) + 12)
#define DEC64(n) DEC16(n), DEC16((n) + 16), DEC16((n) + 32), DEC16((n) + 48)
static const char byte_text[256][4] = { DEC64(0), DEC64(64), DEC64(128), DEC64(192) };

/* "198.51.100.7": writes at most 16 bytes at p (15 of text), returns the end. */
static char *put_ipv4(char *p, const uint8_t *b)
{
	for (unsigned i = 0; i < 4; i++) {
		const char *t = byte_text[b[i]];

		memcpy(p, t, 4);
		p += t[3];
		*p++ = '.';
	}
	return p - 1;
}

/* One group of an IPv6 address: lower-case hex without leading zeros ("db8", "0"). */
static char *put_hex16(char *p, unsigned w)
{
	static const char hex[] = "0123456789abcdef";
	int shift = 12;

	while (shift > 0 && (w >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*p++ = hex[(w >> shift) & 0xF];
	return p;
}

/* The text glibc's inet_ntop writes (RFC 5952 mostly): the longest run of two or more zero groups
 * (the first of equal ones) as "::", and an IPv4-compatible (::a.b.c.d) or IPv4-mapped
 * (::ffff:a.b.c.d) address with its last 32 bits dotted. At most 45 bytes at p; returns the end. */
static char *put_ipv6(char *p, const uint8_t *b)
{
	unsigned words[8];
	int best = -1, best_len = 0, cur = -1, cur_len = 0;

	for (int i = 0; i < 8; i++) {
		words[i] = (unsigned)b[2 * (size_t)i] << 8 | b[2 * (size_t)i + 1];
		if (words[i] == 0) {
			if (cur < 0) {
				cur = i;
				cur_len = 0;
			}
			cur_len++;
			if (cur_len > best_len) {
				best = cur;
				best_len = cur_len;
			}
		} else {
			cur = -1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i != 0)
			*p++ = ':';
		if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xFFFF)))
			return put_ipv4(p, b + 12);
		p = put_hex16(p, words[i]);
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	return p;
}

char *ip_addr_write(char *p, const struct ip_addr *a)
{
	if (a->family == 4)
		return put_ipv4(p, a->bytes);
	if (a->family == 6)
		return put_ipv6(p, a->bytes);
	*p = '?';
	return p + 1;
}

const char *ip_addr_format(const struct ip_addr *a, char *buf, unsigned long size)
{
	char text[INET6_ADDRSTRLEN];
	char *end = ip_addr_write(text, a);

	return copy_cut(buf, size, text, (size_t)(end - text));
}

const char *ts_format(int64_t ts_ns, bool nano, char *buf, unsigned long size)
{
	char text[TS_TEXT_MAX];
	char *p = ts_digits(ts_ns, nano, text + sizeof text);

	return copy_cut(buf, size, p, (size_t)(text + sizeof text - p));
}

const char *tcp_flags_format(uint8_t flags, char *buf, unsigned long size)
{
	char text[COUNT_OF(flag_names) * 4 + 4];
	size_t len = 0;

	/* ",SYN,ACK", then the first comma dropped. Each name is written whether or not its flag is
	 * set, and kept by moving on past it only when it is: no branch on the flags. */
	for (unsigned i = 0; i < COUNT_OF(flag_names); i++) {
		text[len] = ',';
		memcpy(text + len + 1, flag_names[i].name, 3);
		len += (flags & flag_names[i].bit) != 0 ? 4 : 0;
	}
	if (len == 0)
		return copy_cut(buf, size, "none", 4);
	return copy_cut(buf, size, text + 1, len - 1);
}
