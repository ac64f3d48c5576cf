/* flow.h - a connection as the classifier reads it.
 *
 * A flow is two directions (what the client sent, what the server sent) plus the two endpoints'
 * inferred states. Each direction keeps counters, sequence tracking and a few snapshots of the
 * segments a later conclusion may rest on (its FIN, its last segment, ...).
 *
 * While a connection is alive the tracker (tracker.c) keeps it in a compact form (live_flow.h),
 * sized for the memory budget; when it is finished, flow_decode() expands it once into the struct
 * flow below, which the classifier (classify.c) and the timer inference (timers.c) read to
 * produce the immutable flow_record. This layout is for reading, not for memory: one of it exists
 * per shard at a time, however many flows are alive. The evidence only unusual endings need
 * (resets, keepalive probes, unanswered retransmissions, data after a FIN, reuse of a 4-tuple) is
 * in a `flow_rare` block, NULL when the connection never needed one.
 */
#ifndef TM_FLOW_H
#define TM_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "segment.h"
#include "flow_record.h"

/* One segment, as evidence. */
struct seg_snap {
	int64_t ts_ns;
	uint32_t frame;  /* frame number - flow's first frame + 1; 0: no such segment seen */
	uint32_t seq;    /* absolute */
	uint32_t ack;    /* absolute */
	uint16_t len;    /* payload bytes (an IP packet holds at most 65535) */
	uint8_t flags;
};

/* Flag bits of flow_dir.bits. */
enum flow_dir_bit {
	DIR_SEQ_KNOWN = 1u << 0,
	DIR_ACK_KNOWN = 1u << 1,
	DIR_WSCALE = 1u << 2,         /* announced a window scale in its SYN */
	DIR_TTL_KNOWN = 1u << 3,
	DIR_FIN_KNEW_PEER_FIN = 1u << 4, /* its FIN's ACK already covered the peer's FIN */
	DIR_SYN_SEEN = 1u << 5,
	DIR_ID_KNOWN = 1u << 6,       /* last_ip_id holds a nonzero IPv4 ID it sent */
	DIR_TTL_VARIES = 1u << 7,     /* its non-RST segments did not all have one TTL */
};

/* IPv4 ID steps from one segment of a side to its next that look like a counter: Linux counts
 * per connection (+1 a segment), Windows and older BSDs per host (+ the host's other traffic). */
#define IP_ID_STEP_MAX 1024

/* The stack a SYN's (or SYN+ACK's) option layout points at (enum tcp_option_code order). */
enum syn_layout {
	SYN_LAYOUT_UNKNOWN = 0,
	SYN_LAYOUT_LINUX,    /* mss,sackOK,TS,nop,wscale (or mss,nop,nop,sackOK,nop,wscale) */
	SYN_LAYOUT_WINDOWS,  /* mss,nop,wscale,nop,nop,sackOK[,...] */
	SYN_LAYOUT_BSD,      /* mss,nop,wscale then TS and sackOK (macOS, FreeBSD) */
	SYN_LAYOUT_OTHER,
};

/* What one endpoint sent (index = enum flow_direction): what the classifier, the timer inference
 * and the stories read of it (the tracker's own bookkeeping, such as the next sequence number or
 * the IP ID habits, stays in live_dir). */
struct flow_dir {
	uint32_t isn;          /* SYN's seq; midstream: first seq seen - 1 (tracker.c) */
	uint32_t packets;
	uint64_t payload_bytes;
	uint32_t payload_segments;
	uint32_t small_payload_segments; /* <= HEARTBEAT_MAX_BYTES: heartbeat-sized messages */
	uint32_t retransmissions;
	uint32_t probes;               /* keepalive probes sent */
	uint32_t payload_after_peer_fin;     /* saturating: bytes sent after the peer's FIN */
	uint16_t syn_count;
	uint16_t rst_count;
	uint8_t ttl;           /* TTL / hop limit of its first non-RST segment */
	uint8_t ttl_last;      /* TTL / hop limit of its last non-RST segment */
	uint8_t bits;          /* enum flow_dir_bit */
	uint8_t syn_layout;    /* enum syn_layout of its SYN or SYN+ACK */
	struct seg_snap fin;           /* first FIN */
	struct seg_snap fin_ack;       /* the peer's first segment acknowledging that FIN */
	struct seg_snap last;          /* last segment of any kind */
	struct seg_snap last_payload;
	/* Round trip from the capture point to this side and back (tracker.c track_rtt), in
	 * microseconds; 0: unknown. rtt_from_data: from data and its ACK, not the handshake (an
	 * upper bound: the ACK may have been delayed). */
	uint32_t rtt_us;
	bool rtt_from_data;
};

/* The times of a side's segments sent into silence: its SYN retransmissions, or its oldest
 * unanswered data and what followed (tail-loss probe, RTO retransmissions), from which
 * timers.c reads its retransmission timers. Offsets in microseconds from t0, the first. */
#define SCHED_MAX 24
enum sched_kind { SCHED_NONE = 0, SCHED_SYN, SCHED_DATA };
struct sched {
	int64_t t0;
	int64_t last_ns;           /* the last one, also when more than SCHED_MAX came */
	uint32_t off_us[SCHED_MAX];
	uint16_t n;                /* entries in off_us */
	uint16_t total;            /* segments seen, saturating */
	uint8_t kind;              /* enum sched_kind */
	uint8_t from;              /* enum flow_direction */
};

/* Evidence of the unusual: present once a RST, keepalive probe, retransmission into silence,
 * data after a FIN or reuse of a 4-tuple was seen. */
struct flow_rare {
	struct seg_snap first_rst;        /* first RST of either side */
	struct seg_snap rst_answers;      /* the other side's last segment before it */
	struct seg_snap first_probe;
	struct seg_snap last_probe;
	struct seg_snap payload_after_fin; /* first data sent after the other side's FIN */
	uint32_t rst_unread_bytes;     /* first RST sender's bytes_in_since_own_payload then */
	uint32_t rst_frame[2];         /* first RST of each side (relative frame), for precedence */
	uint8_t rst_ttl[2];
	uint8_t first_rst_from;
	uint8_t payload_after_fin_from;
	/* Where each side's first RST came from (classify.c: rst_from_middlebox). */
	uint16_t rst_ip_id[2];
	uint16_t rst_prev_ip_id[2];   /* the side's last nonzero ID before that RST */
	uint8_t rst_id_counter[2];    /* 1: the side's IDs counted up by one (per connection), 0:
	                                 random, 2: none known, 3: a host-wide counter */
	/* The first RST in its sender's sequence space (classify.c reset_kind). */
	uint32_t rst_own_next;        /* its sender's next sequence number then */
	uint32_t rst_own_ack;         /* the highest ACK its sender had sent before it */
	uint8_t rst_own_bits;         /* its sender's enum flow_dir_bit then */
	int64_t rst_ack_since_ns;     /* the peer's first segment carrying its last ACK (0: none) */
	int64_t rst_peer_prev_ns;     /* the peer's segment before its last one (0: none) */
	uint32_t rst_own_window;      /* the RST sender's last window before it (scaled) */
	uint32_t rst_own_max_window;  /* and its largest after its SYN */
	uint16_t rst_win_updates;     /* its window updates since the peer's last new data */
	/* Each side's first RST whose TTL does not fit that side's segments (tracker.c). */
	uint32_t odd_rst_frame[2];
	uint8_t odd_rst_ttl[2];
	/* The other side's run into silence that the first RST answered (tracker.c). */
	uint8_t rst_run_long_idle;    /* that run started after the longest silence of the flow */
	uint32_t rst_run_idle_ms;     /* silence before that run's first segment */
	uint32_t first_probe_idle_ms; /* silence before the flow's first keepalive probe */
	/* The earlier connection on this 4-tuple, when it was reused (engine.c). */
	uint32_t reuse_gap_ms;        /* its last segment to this flow's first SYN, saturating */
	uint8_t reuse_time_wait;      /* enum closer_side: who held its TIME-WAIT */
	uint8_t reused;
	struct sched sched;
};

/* The side that has been sending while the other stayed silent: its data or FIN segments, how
 * many were retransmissions, and its keepalive probes since the other side last sent anything.
 * Any segment from the other side ends the run, so only one side can have one at a time. */
struct silent_run {
	uint8_t from;          /* enum flow_direction of the side sending into the silence */
	uint8_t long_idle;     /* it began after the longest silence of the flow: at least
	                          LONG_IDLE_FACTOR times any earlier gap between two segments */
	uint16_t probes;       /* keepalive probes, saturating */
	uint32_t segs;         /* data/FIN segments */
	uint32_t rtx;          /* of which retransmissions */
	uint32_t idle_before_ms; /* silence (no segment either way) before its first segment */
	int64_t last_rtx_gap_ns; /* time from the previous unanswered segment to the last rtx */
	struct seg_snap first;   /* first data/FIN segment of the run */
	struct seg_snap last;    /* last one */
};

struct flow {
	struct flow_endpoint ep[2];   /* [FROM_CLIENT] = client, [FROM_SERVER] = server */
	uint64_t first_frame;         /* frame number of its first segment: also its id */
	const char *capture;
	const struct flow_encap *encap; /* NULL: in no tunnel */
	int64_t first_ts_ns;
	int64_t last_ts_ns;
	int64_t last_active_ns;       /* last payload, SYN or FIN (keepalives do not count) */
	struct flow_dir dir[2];
	struct silent_run silent;
	struct flow_rare *rare;       /* NULL: none was needed */
	uint32_t modifiers;
	uint8_t state[2];             /* enum tcp_state */
	bool roles_inferred;
	bool ts_nano;
	bool synack_seen;
	bool handshake_acked;
	bool starts_with_syn;
	uint32_t max_gap_ms;          /* longest time between two consecutive segments, saturating */
	struct zeek_fields zeek;      /* Zeek's view (zeek_track.c), complete */
};

/* Payloads up to this size count as heartbeat-sized messages. */
#define HEARTBEAT_MAX_BYTES 128
/* A silence is "long" (silent_run.long_idle) when at least this many times any earlier gap. */
#define LONG_IDLE_FACTOR 3

/* The absolute frame number of a snapshot (0 when none). */
static inline uint64_t snap_frame(const struct flow *f, const struct seg_snap *s)
{
	return s->frame ? f->first_frame + s->frame - 1 : 0;
}

/* The frame of the flow's last segment, either way. */
static inline uint64_t flow_last_frame(const struct flow *f)
{
	uint64_t a = snap_frame(f, &f->dir[0].last), b = snap_frame(f, &f->dir[1].last);

	return a > b ? a : b;
}

#endif
