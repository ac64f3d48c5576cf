/* segment_list.h - the segments of one connection, as the ladder diagrams and stories show them.
 *
 * The analyzer (analyzer/engine/seglog.c) collects them while it reads the capture and hands them to the
 * writers through flow_record.segments: an immutable list that lives as long as the record, i.e.
 * until writer_flow() returns. A writer that needs it later copies what it needs.
 *
 * The list is bounded: the connection's first segments (the handshake), its FIN and RST
 * segments, every evidence frame of the record, and its last segments (the closing exchange), in
 * capture order. Each entry says how many segments were left out right before it (`gap`), so a
 * ladder can show exactly where the connection was cut. seq and ack are relative, as in the
 * evidence frames (flow_record.h).
 */
#ifndef TM_SEGMENT_LIST_H
#define TM_SEGMENT_LIST_H

#include <stdbool.h>
#include <stdint.h>

/* What the collector noticed about a segment (struct ladder_seg.marks). */
enum ladder_mark {
	LADDER_RETRANSMISSION = 1u << 0, /* payload or FIN at or below what this side had sent */
	LADDER_TRUNCATED = 1u << 1,      /* snaplen cut its headers or payload */
	LADDER_NO_WINDOW = 1u << 2,      /* taken from an evidence frame: the window is not known */
	LADDER_GAP_SHARED = 1u << 3,     /* segments left out right before it are counted in the
	                                  * previous entry's gap (an evidence frame inside a gap) */
};

struct ladder_seg {
	uint64_t frame;  /* 1-based frame number in the capture */
	int64_t ts_ns;   /* nanoseconds since the epoch */
	uint32_t seq;    /* relative to the sender's initial sequence number */
	uint32_t ack;    /* relative to the receiver's; the raw field when ACK is off or unknown */
	uint32_t len;    /* payload bytes */
	uint32_t window; /* advertised window, scaled when the scale is known */
	uint8_t from;    /* enum flow_direction */
	uint8_t flags;   /* enum tcp_flag bits */
	uint8_t marks;   /* enum ladder_mark bits */
	uint64_t gap;    /* segments of the connection left out right before this one */
	uint64_t gap_bytes; /* their payload bytes */
};

struct segment_list {
	const struct ladder_seg *seg; /* n entries in capture order */
	uint32_t n;
	uint64_t total;        /* segments in the connection: n + all the gaps */
	bool selected;         /* the user asked for this connection (--flow) */
};

#endif
