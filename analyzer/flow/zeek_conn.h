/* zeek_conn.h - Zeek's view of a TCP connection: its conn_state, history and missed_bytes,
 * computed from the packets with the semantics of Zeek's own TCP analyzer, so that a conn.log
 * written by tcpmortem says what Zeek would say (issue 14).
 *
 * What is emulated (Zeek's TCPSessionAdapter, TCP_Endpoint, TCP_Reassembler and
 * base/protocols/conn/main.zeek):
 * - the originator: the sender of the first packet, flipped (history '^') when that packet is not
 *   a pure SYN and its source port is one of Zeek's likely server ports (TCPAnalyzer::
 *   WantConnection; the ports of Zeek's default scripts: a test run with -b or a redef of
 *   likely_server_ports differs), when a connection that began with a SYN+ACK goes on with an
 *   ACK or data (Zeek PR #2191: history "^h..."), or when a SYN answers a SYN+ACK seen first;
 * - each endpoint's state machine (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED,
 *   CLOSED, RESET) with Zeek's transitions, from which conn_state is derived;
 * - the history letters: S H A D F R once per direction (S H F R again for a new sequence
 *   number), I Q for FIN+RST and SYN+FIN/SYN+RST, and T W G at the 1st, 10th, 100th ...
 *   retransmission, zero window and content gap (Connection::ScaledHistoryEntry);
 * - content gaps and missed_bytes: bytes acknowledged that the capture never delivered in order,
 *   counted as Zeek's reassembler does while both sides are established (one hole per direction
 *   is tracked: a second concurrent hole is not counted).
 * What is not: checksums (tcpmortem does not verify them: the fields are those of `zeek -C`, so
 * no 'C'), 'X' (Zeek's analysis limits), Zeek's connection lifetime (it ends a connection 5 s
 * after its close or on its inactivity timeout and starts a new one for later packets; tcpmortem
 * splits connections by its own rules, engine.h), and service detection (service is unset).
 *
 * Files: this header and zeek_conn.c (the pure parts, and zeek_decode) in the flow layer;
 * zeek_track.c (per packet) in the tracking layer.
 *
 * Memory: struct live_zeek (36 bytes) in every live flow, 8 bytes in the FIN block, 36 in the
 * rare block (allocated at a RST or when a content hole opens); per packet a few comparisons
 * and no block lookup unless a hole is open, more only when a letter is added.
 */
#ifndef TM_ZEEK_CONN_H
#define TM_ZEEK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "flow_record.h"
#include "segment.h"

/* Zeek's TCP endpoint states (analyzer/protocol/tcp/TCP_Endpoint.h, EndpointState). */
enum zeek_ep_state {
	ZEEK_INACTIVE = 0,
	ZEEK_SYN_SENT,
	ZEEK_SYN_ACK_SENT,
	ZEEK_PARTIAL,
	ZEEK_ESTABLISHED,
	ZEEK_CLOSED,
	ZEEK_RESET,
};

/* The letters seen once per role (TCP_Endpoint::HIST_*), in live_zeek.seen[role]. */
enum zeek_hist_bit {
	ZH_SYN = 1u << 0,
	ZH_FIN = 1u << 1,
	ZH_RST = 1u << 2,
	ZH_FIN_RST = 1u << 3,
	ZH_DATA = 1u << 4,
	ZH_ACK = 1u << 5,
	ZH_MULTI = 1u << 6,
};

/* live_zeek.ep[side]: the state, the previous state, and whether the side sent a FIN. */
#define ZEEK_EP_STATE(b) ((enum zeek_ep_state)((b) & 7u))
#define ZEEK_EP_PREV(b) ((enum zeek_ep_state)(((b) >> 3) & 7u))
#define ZEEK_EP_FIN 0x40u
/* The side is in the steady state zeek_track.c's steady_segment() decides alone: ESTABLISHED
 * (or CLOSED by its FIN), its role's 'D' and 'A' given, both sides' numbering known, no hole
 * open. Cleared with any other change of its state (set_state keeps only ZEEK_EP_FIN), a hole or
 * a flip of the roles. */
#define ZEEK_EP_STEADY 0x80u

/* live_zeek.meta: letters kept (0..ZEEK_HISTORY_MAX), and flags. */
#define ZEEK_META_LEN 0x1fu
#define ZEEK_META_CUT 0x20u         /* a letter did not fit */
#define ZEEK_META_ORIG_SERVER 0x40u /* Zeek's originator is tcpmortem's FROM_SERVER side */
#define ZEEK_META_HOLE 0x80u        /* live_zeek_rare holds a hole (the fast path skips it) */

/* Per live flow (analyzer/live_flow.h). Sides are tcpmortem's (enum flow_direction); `seen` is
 * per role (0: Zeek's originator), as Zeek keeps it per role across a flip. */
struct live_zeek {
	uint8_t hist[15];      /* letters, 5-bit codes packed (ZEEK_HISTORY_MAX of them) */
	uint8_t meta;
	uint8_t ep[2];
	uint8_t seen[2];
	uint16_t rxmt[2];      /* 'T' events, saturating */
	uint16_t win0[2];      /* 'W' events, saturating */
	uint32_t hdr_bytes[2]; /* IP and TCP header bytes sent (Zeek's *_ip_bytes less payload) */
};
_Static_assert(ZEEK_HISTORY_MAX * 5 <= 15 * 8, "history codes do not fit live_zeek.hist");

/* In the rare block (allocated at the first RST or content hole): per side. */
struct live_zeek_rare {
	uint32_t rst_seq[2];   /* sequence number of the side's last RST (Zeek's hist_last_RST) */
	uint32_t hole_lo[2];   /* the side's data not seen in order: [hole_lo, hole_hi) */
	uint32_t hole_hi[2];   /* equal to hole_lo: no hole */
	uint16_t gaps[2];      /* 'G' events, saturating */
	uint32_t missed_lo;    /* missed_bytes, 64 bits in two words (no padding in live_rare) */
	uint32_t missed_hi;
};

/* What Zeek's conn_state function (base/protocols/conn/main.zeek) says of endpoint states `os`
 * and `rs`, sizes `osize` and `rsize` and the history. A static string. */
const char *zeek_conn_state(enum zeek_ep_state os, enum zeek_ep_state rs, uint64_t osize,
                            uint64_t rsize, const char *history);

/* Zeek's likely_server_ports for TCP (the ports its default scripts register analyzers for). */
bool zeek_likely_server_port(uint16_t port);

/* Whether Zeek flips the roles of a connection whose first packet has `flags` and the ports
 * `sport` (its sender's) and `dport` (TCPAnalyzer::WantConnection). */
bool zeek_flips_first(uint8_t flags, uint16_t sport, uint16_t dport);

/* Connection::ScaledHistoryEntry with base 10: counting one more event (count already
 * incremented to `n`) adds a letter when n is 1, 10, 100, ... */
bool zeek_scaled(uint32_t n);

/* The 5-bit codes of the history letters: the originator's event letters are 1..13 in the order
 * of "SHADFRCGTWIQX", the responder's (lower case) the same plus ZEEK_CODE_RESPONDER, '^' last.
 * The per-packet code adds codes, not letters: no table lookup to go from one to the other. */
enum zeek_code {
	ZEEK_CODE_S = 1, ZEEK_CODE_H, ZEEK_CODE_A, ZEEK_CODE_D, ZEEK_CODE_F, ZEEK_CODE_R,
	ZEEK_CODE_C, ZEEK_CODE_G, ZEEK_CODE_T, ZEEK_CODE_W, ZEEK_CODE_I, ZEEK_CODE_Q, ZEEK_CODE_X,
	ZEEK_CODE_RESPONDER = 13,
	ZEEK_CODE_FLIP = 27, /* '^' */
};

/* Appends history code `code` (1..27, enum zeek_code). False (and ZEEK_META_CUT set) when the
 * history is full. Inline: the tracker adds a few letters to every connection. */
static inline bool zeek_history_add_code(struct live_zeek *z, unsigned code)
{
	unsigned n = z->meta & ZEEK_META_LEN;
	unsigned bit, v;

	if (n >= ZEEK_HISTORY_MAX) {
		z->meta |= ZEEK_META_CUT;
		return false;
	}
	/* Five bits from bit n * 5 on, in at most two bytes (the last code ends in hist[14]). */
	bit = n * 5;
	v = code << (bit % 8);
	z->hist[bit / 8] |= (uint8_t)v;
	if (v >> 8)
		z->hist[bit / 8 + 1] |= (uint8_t)(v >> 8);
	z->meta = (uint8_t)((z->meta & ~ZEEK_META_LEN) | (n + 1));
	return true;
}

/* Appends `letter` (one of "SHADFRCGTWIQXshadfrcgtwiqx^") to the packed history. False (and
 * ZEEK_META_CUT set) when the history is full or the letter unknown. */
bool zeek_history_add(struct live_zeek *z, char letter);
/* A history letter's code (1..27), 0 when `letter` is none. */
unsigned zeek_letter_code(char letter);
/* The responder's letter for event letter `upper` (lower case); other characters as they are. */
char zeek_responder_letter(char upper);
/* The history as text: out must hold ZEEK_HISTORY_MAX + 1 bytes. */
void zeek_history_text(const struct live_zeek *z, char *out);

/* Zeek's style of connection uid, "C" + 17 base62 digits (out: 20 bytes), from the connection's
 * endpoints (client first) and first timestamp: the same capture gives the same uids. */
void zeek_uid(const struct flow_endpoint *client, const struct flow_endpoint *server,
              int64_t first_ts_ns, char *out);

#endif
