/* flow.h - what the analyzer keeps about one live connection.
 *
 * A flow is two directions (what the client sent, what the server sent) plus the two endpoints'
 * inferred states. Each direction keeps counters, sequence tracking and a few snapshots of the
 * segments a later conclusion may rest on (the first SYN, FIN and RST, the last payload, ...).
 * The tracker (tracker.c) updates it per segment; the classifier (classify.c) reads it once,
 * when the flow is finished, and produces the immutable flow_record.
 */
#ifndef TM_FLOW_H
#define TM_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "dissect/segment.h"
#include "reports/flow_record.h"

/* One segment, as evidence: enough to print it and to reason about it later. */
struct seg_snap {
	uint64_t frame;  /* 0: no such segment seen */
	int64_t ts_ns;
	uint32_t seq;    /* absolute */
	uint32_t ack;    /* absolute */
	uint32_t len;    /* payload bytes */
	uint32_t window; /* scaled when the scale is known */
	uint8_t flags;
	uint8_t ttl;
	uint8_t options_len;
};

/* What one endpoint sent (index = enum flow_direction). */
struct flow_dir {
	bool seq_known;
	uint32_t isn;          /* SYN's seq; midstream: first seq seen - 1 (tracker.c) */
	uint32_t next_seq;     /* highest seq + length sent (SYN and FIN count one each) */
	bool ack_known;
	uint32_t max_ack;      /* highest ACK this side sent: what it got from the peer */
	uint8_t wscale;        /* window scale this side announced in its SYN */
	bool wscale_announced;
	uint32_t window;       /* last advertised window, scaled when known */
	uint32_t window_max;

	uint64_t packets;
	uint64_t payload_bytes;
	uint64_t payload_segments;
	uint64_t small_payload_segments; /* <= HEARTBEAT_MAX_BYTES: heartbeat-sized messages */
	uint64_t retransmissions;
	uint32_t syn_count;
	uint32_t zero_windows;
	uint32_t rst_count;

	/* Keepalive probes this side sent (RFC 9293 §3.8.4; Linux: seq = next seq - 1, no data). */
	uint32_t probes;
	uint32_t probes_unanswered_run; /* probes since the peer last sent anything */
	struct seg_snap first_probe_of_run;
	struct seg_snap last_probe;

	/* Data or FIN segments sent since the peer last sent anything, and how many of them were
	 * retransmissions: a peer that vanished leaves these unanswered to the end. */
	uint32_t unanswered_segs;
	uint32_t unanswered_rtx;
	struct seg_snap first_unanswered;
	struct seg_snap last_unanswered;
	struct seg_snap last_rtx;
	int64_t last_rtx_gap_ns;       /* time from the previous unanswered segment to last_rtx */

	struct seg_snap syn;           /* first SYN (or SYN+ACK) */
	struct seg_snap fin;           /* first FIN */
	uint32_t fin_seq;              /* sequence number the FIN occupies */
	bool fin_knew_peer_fin;        /* this FIN's ACK already covered the peer's FIN */
	struct seg_snap fin_ack;       /* the peer's first segment acknowledging this FIN */
	struct seg_snap rst;           /* first RST */
	struct seg_snap rst_answers;   /* the peer's last segment before that RST */
	uint64_t rst_unread_bytes;     /* bytes_in_since_own_payload when the RST was sent */
	bool ttl_known;
	uint8_t ttl;                   /* TTL / hop limit of this side's first non-RST segment */
	struct seg_snap last_payload;
	struct seg_snap last;          /* last segment of any kind */
	struct seg_snap last_active;   /* last segment carrying payload, SYN or FIN */
	uint64_t payload_after_peer_fin; /* bytes sent after the peer's FIN was seen */
	struct seg_snap first_payload_after_peer_fin;
	uint64_t bytes_in_since_own_payload; /* see tracker.c: unread-data evidence */
};

struct flow {
	uint64_t id;
	const char *capture;
	struct flow_endpoint ep[2];   /* [FROM_CLIENT] = client, [FROM_SERVER] = server */
	bool roles_inferred;
	bool ts_nano;
	int64_t first_ts_ns;
	int64_t last_ts_ns;
	enum handshake_kind handshake;
	bool synack_seen;
	bool handshake_acked;
	uint32_t modifiers;
	enum tcp_state state[2];
	struct flow_dir dir[2];
	uint64_t first_rst_frame;     /* frame of the first RST in either direction */
	uint8_t first_rst_from;

	/* Flow table bookkeeping (flow_table.c). */
	uint32_t hash;
	struct flow *hash_next;
	struct flow *older;           /* activity list: least recently active first */
	struct flow *newer;
	uint8_t list;                 /* enum flow_list */
};

/* Payloads up to this size count as heartbeat-sized messages. */
#define HEARTBEAT_MAX_BYTES 128

#endif
