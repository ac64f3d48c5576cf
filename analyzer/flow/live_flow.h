/* live_flow.h - what the analyzer keeps about a connection while it is alive, and where.
 *
 * Memory is the budget (issue 3: at most 512 bytes per live flow, its share of the tombstones
 * and hash tables included), and the number of flows alive at once is what it is multiplied by.
 * So the live state is compact and private to the tracker (tracker.c), which updates it per
 * segment; when the flow is finished, flow_decode() expands it once into the plain struct flow
 * (flow.h) that the classifier, the timer inference and the stories read. Nothing else reads it.
 *
 * - Flows and their blocks live in pools (pool.h) of one shard's flow_store: no malloc header,
 *   freed slots reused first, 32-bit handles instead of 64-bit pointers for the hash table, the
 *   activity lists and the blocks.
 * - What only some connections need is in blocks allocated the first time it is needed: the FINs,
 *   their acknowledgements and the data after them (live_fin), the evidence of resets, keepalive
 *   probes and the reuse of a 4-tuple (live_rare), the retransmission schedule (live_sched), the
 *   exact times that do not fit a snapshot (live_far), and IPv6 addresses (an IPv4 flow keeps its
 *   two addresses in the flow itself).
 * - A snapshot of a segment is 20 bytes: its time in 40 bits from the flow's first timestamp, no
 *   TTL (no reader needs it), its frame number relative to the flow's first frame.
 * - Counters that cannot exceed 2^32 in practice are 32 bits; flags are bits; 64-bit members are
 *   4-byte aligned, so no struct has padding.
 * - A flow that has ended on the wire and only waits for late segments (most of the flows in
 *   memory on a busy server) waits frozen: one compact item without what is zero or follows from
 *   the rest ("A waiting flow" below: 248 bytes for a connection closed by both FINs, in
 *   "The short form").
 * Sizes (bytes): live_flow 448 (36 of them Zeek's view, zeek_conn.h; 8 the tunnel: its key and
 * the id of its description, encap_table.h; 40 the round trips and the times a reset's timing
 * is held to, tracker.c track_rtt; 16 the receive windows), live_dir 128, live_silent 64,
 * live_snap 20; blocks: live_fin 128, live_rare 208, live_sched 32 (data), 48 (SYN) or 120 (past
 * SCHED_INLINE entries), live_far 120, IPv6 addresses 32. They are checked below
 * (_Static_assert): a change that grows them has to say so here.
 */
#ifndef TM_LIVE_FLOW_H
#define TM_LIVE_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "flow.h"
#include "pool.h"
#include "zeek_conn.h"

struct encap_table;

/* 64-bit members aligned to 4 bytes, so that no live struct has padding for them (x86 and the
 * other targets read them unaligned at no cost). */
typedef int64_t live_i64 __attribute__((aligned(4)));
typedef uint64_t live_u64 __attribute__((aligned(4)));

/* One segment, as evidence: 20 bytes. Its time is a 40-bit field (t_hi:t_lo), relative to the
 * flow's first_ts_ns: a 2-bit tag (enum live_time_tag) and a 38-bit value, whole microseconds
 * (3 days) or nanoseconds (4.6 minutes). A time that fits neither (a long connection in a
 * nanosecond capture, timestamps going backwards) is kept exactly in the flow's far block, at
 * the snapshot's place (enum live_slot). A snapshot with frame 0 is none, all zero. */
struct live_snap {
	uint32_t frame;  /* frame number - flow's first frame + 1 */
	uint32_t seq;    /* absolute */
	uint32_t ack;    /* absolute */
	uint32_t t_lo;
	uint8_t t_hi;
	uint8_t flags;
	uint16_t len;    /* payload bytes (an IP packet holds at most 65535) */
};

enum live_time_tag {
	LIVE_T_US = 0,      /* value: microseconds after first_ts_ns */
	LIVE_T_NS = 1,      /* value: nanoseconds after first_ts_ns */
	LIVE_T_FAR = 2,     /* value: the enum live_slot whose far time it is */
	LIVE_T_PENDING = 3, /* the tracker's current segment before it is stored somewhere */
};
#define LIVE_T_VALUE_BITS 38

/* Where a snapshot is kept: the index of its time in the far block. */
enum live_slot {
	LIVE_SLOT_LAST = 0,          /* + side */
	LIVE_SLOT_LAST_PAYLOAD = 2,  /* + side */
	LIVE_SLOT_RUN_FIRST = 4,
	LIVE_SLOT_RUN_LAST,
	LIVE_SLOT_FIN = 6,           /* + side */
	LIVE_SLOT_FIN_ACK = 8,       /* + side */
	LIVE_SLOT_FIRST_RST = 10,
	LIVE_SLOT_RST_ANSWERS,
	LIVE_SLOT_FIRST_PROBE,
	LIVE_SLOT_LAST_PROBE,
	LIVE_SLOT_PAYLOAD_AFTER_FIN,
	LIVE_SLOTS
};

/* Exact times of the snapshots whose time does not fit them (LIVE_T_FAR). */
struct live_far {
	int64_t ts_ns[LIVE_SLOTS];
};

/* live_dir.seen: what the FIN block holds for this side (checked per segment without it). */
enum live_seen_bit {
	LIVE_FIN_SENT = 1u << 0,   /* live_fin.fin[side] and fin_seq[side] are set */
	LIVE_FIN_ACKED = 1u << 1,  /* live_fin.fin_ack[side] is set */
};

/* What one endpoint sent (struct flow_dir when decoded, less what moved to the blocks). In parts,
 * for a waiting flow ("A waiting flow" below): what it keeps (up to `next_seq`); what then nearly
 * always follows from its FINs (up to `retransmissions`); what is then nearly always zero (up to
 * `last`); and `last`, then nearly always the same segment as a snapshot of the FIN block. */
struct live_dir {
	uint32_t isn;          /* SYN's seq; midstream: first seq seen - 1 */
	uint32_t window;       /* last advertised window, scaled when known */
	uint32_t packets;
	uint32_t payload_segments;
	uint32_t small_payload_segments; /* <= HEARTBEAT_MAX_BYTES: heartbeat-sized messages */
	uint32_t bytes_in_since_own_payload; /* saturating; see tracker.c: unread-data evidence */
	uint16_t syn_count;
	uint16_t rst_count;
	uint16_t last_ip_id;   /* IPv4 ID of its last non-RST segment with a nonzero ID */
	uint8_t bits;          /* enum flow_dir_bit */
	uint8_t seen;          /* enum live_seen_bit */
	uint8_t ttl;           /* TTL / hop limit of its first non-RST segment */
	/* Its IP header habits, to tell its resets from forged ones. */
	uint8_t ip_id_steps;   /* counter-like ID steps (1..IP_ID_STEP_MAX) seen, saturating */
	uint8_t ttl_last;      /* TTL / hop limit of its last non-RST segment */
	uint8_t wscale : 4;    /* its window scale (at most 14) */
	uint8_t syn_layout : 3; /* enum syn_layout of its SYN or SYN+ACK */
	uint8_t ip_id_wide : 1; /* an ID step above 1: a host-wide counter, not a per-socket one */
	live_u64 payload_bytes;
	struct live_snap last_payload;
	/* This side's round trip (capture point -> this side -> capture point), microseconds, the
	 * smallest sample; LIVE_RTT_FROM_DATA set when no handshake sample was had. 0: unknown. */
	uint32_t rtt_us;
	/* When this side's ACK field last moved forward (microseconds after first_ts_ns): the
	 * first of its segments carrying max_ack, the one a reset taking its seq from it answers. */
	uint32_t ack_since_us;
	/* When its segment before `last` was seen (microseconds after first_ts_ns, + 1; 0: none). */
	uint32_t prev_us;
	/* Once both sides' FINs are acknowledged, nearly always: its FIN's sequence number + 1,
	 * the peer's, the same as next_seq, the same as window. */
	uint32_t next_seq;     /* highest seq + length sent (SYN and FIN count one each) */
	uint32_t max_ack;      /* highest ACK this side sent: what it got from the peer */
	/* The round trip from the capture point to the *peer* of this side and back, measured on
	 * this side's segments (tracker.c track_rtt): the sequence number that ends the segment
	 * being timed (and rtt_probe_us below, when it was seen). */
	uint32_t rtt_probe_end;
	/* Its receive buffer as its windows show it (classify.c: unread data): the largest window
	 * it advertised after its SYN, and (below) its window updates (the window growing on a
	 * segment that acknowledges nothing new: its application read) since the peer's last new
	 * data. */
	uint32_t max_window;
	/* Nearly always zero once the connection ended. */
	uint32_t retransmissions;
	uint32_t rtt_probe_us;  /* when the timed segment was seen (µs after first_ts_ns, + 1; 0: none) */
	uint16_t zero_windows;
	uint16_t win_updates;
	uint8_t ip_id_jumps;   /* ID steps outside that window, saturating */
	uint8_t spare[3];
	struct live_snap last;          /* last segment of any kind */
};
#define LIVE_RTT_FROM_DATA (1u << 31)

/* struct silent_run, live. */
struct live_silent {
	uint8_t from;
	uint8_t long_idle;
	uint16_t probes;
	uint32_t segs;
	uint32_t rtx;
	uint32_t idle_before_ms;
	live_i64 last_rtx_gap_ns;
	struct live_snap first;
	struct live_snap last;
};

/* The FINs and what followed them: allocated at the flow's first FIN. In the order a waiting flow
 * keeps them ("A waiting flow" below): the FINs, their acknowledgements (each nearly always the
 * same segment as the other side's FIN or its ACK), the sequence numbers of the FINs (which the
 * FINs tell), the data after a FIN (nearly always none), Zeek's. */
struct live_fin {
	struct live_snap fin[2];       /* each side's first FIN */
	struct live_snap fin_ack[2];   /* the peer's first segment acknowledging it */
	uint32_t fin_seq[2];           /* sequence number each FIN occupies */
	uint32_t payload_after_peer_fin[2];
	struct live_snap payload_after_fin; /* flow_rare's: first data sent after the other's FIN */
	uint8_t payload_after_fin_from;
	uint8_t spare[3];
	uint32_t zeek_fin_end[2];      /* seq + length of each side's last FIN (Zeek's hist_last_FIN) */
};

/* struct flow_rare without its schedule (live_sched) and the data after a FIN (live_fin), with
 * the keepalive probe counts. */
struct live_rare {
	struct live_snap first_rst;
	struct live_snap rst_answers;
	struct live_snap first_probe;
	struct live_snap last_probe;
	uint32_t probes[2];
	uint32_t rst_unread_bytes;
	uint32_t rst_frame[2];
	uint32_t rst_run_idle_ms;
	uint32_t first_probe_idle_ms;
	uint32_t reuse_gap_ms;
	uint16_t rst_ip_id[2];
	uint16_t rst_prev_ip_id[2];
	uint8_t rst_ttl[2];
	uint8_t rst_id_counter[2];
	uint8_t first_rst_from;
	uint8_t rst_run_long_idle;
	uint8_t reuse_time_wait;
	uint8_t reused;
	uint32_t far;                  /* handle of the flow's struct live_far, 0: none */
	/* The first RST in its sender's sequence space (classify.c: which kind of reset it is). */
	uint32_t rst_own_next;         /* its sender's next sequence number then */
	uint32_t rst_own_ack;          /* the highest ACK its sender had sent before it */
	uint32_t rst_ack_since_us;     /* the peer's first segment carrying its current ACK (µs) */
	uint8_t rst_own_bits;          /* its sender's enum flow_dir_bit then */
	uint8_t odd_rst_ttl[2];        /* TTL of each side's first RST that does not fit it */
	uint8_t spare;
	uint32_t odd_rst_frame[2];     /* that RST's relative frame; 0: none */
	uint32_t rst_peer_prev_us;     /* the peer's segment before its last one then (live_dir) */
	uint32_t rst_own_window;       /* its sender's last window before it, and its largest */
	uint32_t rst_own_max_window;
	uint16_t rst_win_updates;      /* its sender's window updates since the peer's last data */
	uint16_t rst_spare;
	struct live_zeek_rare zeek;    /* zeek_track.c: last RSTs, content holes, missed bytes */
};

/* struct sched. Entry 0 (always 0 µs after t0) is implied. A data schedule's first and last
 * times are those of its run's first and last segments (live_silent: the schedule is forgotten
 * with its run), so only a SYN schedule keeps them. Three pools (enum live_sched_pool, in the
 * top bits of live_flow.sched): a data schedule with SCHED_INLINE entries, a SYN schedule with
 * its times and SCHED_INLINE entries, and either with times and SCHED_MAX - 1 entries. */
#define SCHED_INLINE 6
struct live_sched {
	uint16_t n;
	uint16_t total;
	uint8_t kind;
	uint8_t from;
	uint16_t spare;
	uint32_t x[];      /* [t0, last_ns as int64,] entries 1.. of struct sched.off_us */
};
#define LIVE_SCHED_TIMES 4 /* uint32 words of x[] holding t0 and last_ns */
enum live_sched_pool { LIVE_SCHED_DATA = 0, LIVE_SCHED_SYN = 1, LIVE_SCHED_BIG = 2 };
#define LIVE_SCHED_POOL_SHIFT 30
#define LIVE_SCHED_HANDLE(h) ((h) & ((1u << LIVE_SCHED_POOL_SHIFT) - 1))
#define LIVE_SCHED_POOL(h) ((enum live_sched_pool)((h) >> LIVE_SCHED_POOL_SHIFT))
#define LIVE_SCHED_BYTES(pool)                                                                  \
	(sizeof(struct live_sched) +                                                            \
	 ((pool) == LIVE_SCHED_DATA ? 0 : LIVE_SCHED_TIMES * sizeof(uint32_t)) +                \
	 ((pool) == LIVE_SCHED_BIG ? SCHED_MAX - 1 : SCHED_INLINE) * sizeof(uint32_t))

/* live_flow.mark */
enum live_mark {
	LIVE_ROLES_INFERRED = 1u << 0,
	LIVE_TS_NANO = 1u << 1,
	LIVE_SYNACK_SEEN = 1u << 2,
	LIVE_HANDSHAKE_ACKED = 1u << 3,
	LIVE_STARTS_WITH_SYN = 1u << 4,
	LIVE_ADDR6 = 1u << 5,       /* addr[0] is the handle of the two IPv6 addresses */
	LIVE_SPARE_MARK = 1u << 6,
	LIVE_LIST_FINISHED = 1u << 7, /* flow_table.c: on the finished list (else the live one) */
};

struct live_flow {
	/* The flow table's (flow_table.c): what a lookup reads first. */
	uint32_t hash;
	uint32_t older;               /* activity list (flow handles): least recently active first */
	uint32_t newer;
	uint32_t self;                /* this flow's handle */
	uint16_t port[2];             /* [FROM_CLIENT] = client, [FROM_SERVER] = server */
	uint32_t addr[2];             /* IPv4 addresses as in ip_addr.bytes; IPv6: see LIVE_ADDR6 */
	/* Blocks (handles in the store's pools, 0: none yet). */
	uint32_t fin;
	uint32_t rare;                /* also holds the far block's handle */
	uint32_t sched;               /* enum live_sched_pool << LIVE_SCHED_POOL_SHIFT | handle */
	uint32_t capture;             /* index of the capture file name in the store */
	/* The tunnel, part of the flow key (tcp_segment.tunnel, .tunnel_id): its kind in the top
	 * 8 bits of `encap`, whose low 24 bits are the id of the description of the outer layers
	 * (encap_table.h; 0: none). */
	uint32_t tunnel_id;
	uint32_t encap;
	uint32_t max_gap_ms;          /* longest time between two consecutive segments, saturating */
	uint8_t state[2];             /* enum tcp_state */
	uint8_t mark;                 /* enum live_mark */
	uint8_t modifiers;            /* enum flow_modifier (MOD_COUNT_BITS fit) */
	live_u64 first_frame;         /* frame number of its first segment: also its id */
	live_i64 first_ts_ns;         /* also the origin of the snapshots' times */
	live_i64 last_ts_ns;
	live_i64 last_active_ns;      /* last payload, SYN or FIN (keepalives do not count) */
	struct live_dir dir[2];
	struct live_silent silent;
	struct live_zeek zeek;        /* Zeek's view of it (zeek_track.c) */
};

_Static_assert(sizeof(struct live_snap) == 20, "live_snap size");
_Static_assert(sizeof(struct live_dir) == 128, "live_dir size");
_Static_assert(sizeof(struct live_silent) == 64, "live_silent size");
_Static_assert(sizeof(struct live_flow) == 448, "live_flow size"); /* 7 cache lines */
_Static_assert(sizeof(struct live_fin) == 128, "live_fin size");
_Static_assert(sizeof(struct live_rare) == 208, "live_rare size");
_Static_assert(sizeof(struct live_far) == 120, "live_far size");
_Static_assert(LIVE_SCHED_BYTES(LIVE_SCHED_DATA) == 32 && LIVE_SCHED_BYTES(LIVE_SCHED_SYN) == 48 &&
                   LIVE_SCHED_BYTES(LIVE_SCHED_BIG) == 116,
               "live_sched sizes");
_Static_assert(MOD_COUNT_BITS <= 8, "modifiers no longer fit live_flow.modifiers");

/* Slabs of 256 flows (90 KiB), of 512 blocks. */
#define LIVE_FLOW_SLAB_SHIFT 8
#define LIVE_BLOCK_SLAB_SHIFT 9
/* The size of a pool item of type T (pool_init rounds up to 8 bytes). */
#define LIVE_ITEM(T) ((sizeof(T) + 7) & ~(size_t)7)

/* A waiting flow. A flow that has ended on the wire (a RST, or both FINs acknowledged) waits
 * FINISHED_QUIET_NS (engine.h) in case a late segment comes (a box's late reset, a retransmitted
 * FIN or ACK); on a busy server nine in ten of the flows in memory are waiting so, and few ever
 * get one. It waits frozen (flow_store_freeze): its blocks but the FIN block stay where they are,
 * and the flow and its FIN block become one item of a pool of their size, which holds
 *   - the flow's head (LIVE_HEAD_BYTES: the table's links and key, the blocks' handles, the
 *     times), as in struct live_flow, with `self` its frozen handle and `fin` 0;
 *   - a word of enum live_frozen_part bits, which say which of the parts below follow;
 *   - each side's live_dir to `next_seq` (LIVE_DIR_KEPT bytes);
 *   - the FIN block's FINs and each FIN's acknowledgement unless it is the other side's FIN (the
 *     second FIN acknowledges the first);
 *   - each side's last segment unless it is the peer's FIN's acknowledgement (the ACK that ends
 *     the connection, or the second FIN);
 *   - unless they follow from the FINs (each FIN's sequence number is its seq + length, each
 *     side's next_seq its own FIN's + 1, its max_ack the peer's FIN's + 1, its rtt_probe_end its
 *     next_seq, its max_window its window): those and the FINs' sequence numbers;
 *   - only when not all zero: both sides' live_dir from `retransmissions` to `last`, the data
 *     after a FIN, the silent run;
 *   - Zeek's view (live_zeek and the FIN block's zeek_fin_end) unless skip_zeek.
 * The parts are copied whole and the choices are a few word compares, so freezing and thawing
 * cost little; a connection closed by both FINs keeps 308 bytes (an item of 312) of the 576 it
 * had (448 + 128), unless it fits the short form below (248 bytes), as nearly all do.
 * A frozen handle has LIVE_FROZEN_BIT set and its pool (size class) in the bits below; only its
 * head is read as a struct live_flow (the flow table's slots and lists, expiry, tombstones):
 * flow_decode() reads either form, a late segment thaws the flow (flow_store_thaw). */
#define LIVE_HEAD_BYTES 92u
#define LIVE_DIR_KEPT 76u    /* live_dir to `next_seq` */
#define LIVE_DIR_DERIVED 16u /* from `next_seq` to `retransmissions` */
#define LIVE_DIR_ZEROS 16u   /* from `retransmissions` to `last` */
#define LIVE_FIN_AFTER 32u   /* live_fin from `payload_after_peer_fin` to `zeek_fin_end` */
enum live_frozen_part {
	LIVE_FZ_FIN = 1u << 0,        /* it has a FIN block */
	LIVE_FZ_FIN_ACK_DUP = 1u << 1, /* << side: fin_ack[side] == fin[!side], not kept */
	LIVE_FZ_LAST_DUP = 1u << 3,   /* << side: dir[side].last == fin_ack[!side], not kept */
	LIVE_FZ_DERIVED = 1u << 5,    /* the FINs tell fin_seq and each side's derived part */
	LIVE_FZ_ZEROS = 1u << 6,      /* the live_dir parts from `retransmissions` are kept */
	LIVE_FZ_AFTER = 1u << 7,      /* the FIN block's data after a FIN is kept */
	LIVE_FZ_SILENT = 1u << 8,     /* the silent run is kept */
	LIVE_FZ_ZEEK = 1u << 9,       /* live_zeek (and zeek_fin_end) are kept */
};
#define LIVE_FROZEN_BIT (1u << 31)
#define LIVE_FROZEN_CLASS_SHIFT 26
#define LIVE_FROZEN_CLASSES 19
/* Class k holds items of LIVE_FROZEN_MIN + k * LIVE_FROZEN_STEP bytes (one of them 312). */
#define LIVE_FROZEN_MIN 296u
#define LIVE_FROZEN_STEP 16u
#define LIVE_FROZEN_HANDLE(h) ((h) & ((1u << LIVE_FROZEN_CLASS_SHIFT) - 1))
#define LIVE_FROZEN_CLASS(h) (((h) >> LIVE_FROZEN_CLASS_SHIFT) & 31u)

/* The short form of a waiting flow. Nearly every connection that waits was closed by both FINs
 * the plain way: one side's FIN, the other's FIN acknowledging it, the first side's pure ACK
 * ending it (the last segment seen), within 4.6 minutes, no reset, nothing after a FIN, nothing
 * kept above that is zero or a copy of a FIN. Such a flow is kept in a fixed layout of its own
 * (flow_store.c: short_fits() says which flows qualify, every other waits in the general form
 * above), copied in blocks as the general form is:
 *   - the flow's head to `last_ts_ns` (LIVE_SHORT_HEAD: what the table and the engine read of a
 *     waiting flow), `last_active_ns` being the second FIN's time;
 *   - the final ACK's relative frame (its seq and ack are the FINs' + 1, its time last_ts_ns, its
 *     flags ACK, no payload), the side of the second FIN in its top bit;
 *   - each side's live_dir to `next_seq` (live_short_dir) but for its acknowledgement time (that
 *     of its segment acknowledging the peer's FIN) and with narrower counters;
 *   - the two FINs (the second one is the first one's acknowledgement, and the last segment of
 *     its side; the final ACK the last of the other side);
 *   - with the Zeek view, live_zeek and zeek_fin_end.
 * Two classes past the general ones hold them: LIVE_SHORT_BYTES (248 bytes) without,
 * LIVE_SHORT_ZEEK_BYTES (296) with Zeek's view. */
#define LIVE_SHORT_HEAD 84u
struct live_short_dir {
	uint32_t isn;
	uint32_t window;
	uint16_t packets;       /* these three < 2^16 */
	uint16_t payload_segments;
	uint16_t small_payload_segments;
	uint8_t syn_count;      /* these two < 2^8 */
	uint8_t rst_count;
	uint32_t bytes_in_since_own_payload;
	unsigned char ip[8];    /* live_dir from last_ip_id to payload_bytes, as they are */
	uint32_t payload_bytes; /* < 2^32 */
	struct live_snap last_payload;
	uint32_t rtt_us;
	uint32_t prev_us;
};
struct live_short {
	unsigned char head[LIVE_SHORT_HEAD];
	uint32_t final_ack;     /* the final ACK's live_snap.frame (< 2^31) | second FIN's side << 31 */
	struct live_short_dir dir[2];
	struct live_snap fin[2];
};
#define LIVE_FROZEN_SHORT LIVE_FROZEN_CLASSES             /* class of LIVE_SHORT_BYTES items */
#define LIVE_FROZEN_SHORT_ZEEK (LIVE_FROZEN_CLASSES + 1) /* class of LIVE_SHORT_ZEEK_BYTES */
#define LIVE_FROZEN_POOLS (LIVE_FROZEN_CLASSES + 2)
#define LIVE_SHORT_BYTES ((unsigned)sizeof(struct live_short))
#define LIVE_SHORT_ZEEK_BYTES                                                                  \
	((unsigned)((sizeof(struct live_short) + sizeof(struct live_zeek) + 8 + 7) & ~(size_t)7))
#define LIVE_FROZEN_BYTES(h)                                                                   \
	(LIVE_FROZEN_CLASS(h) < LIVE_FROZEN_CLASSES                                            \
	     ? LIVE_FROZEN_MIN + LIVE_FROZEN_CLASS(h) * LIVE_FROZEN_STEP                       \
	     : LIVE_FROZEN_CLASS(h) == LIVE_FROZEN_SHORT ? LIVE_SHORT_BYTES : LIVE_SHORT_ZEEK_BYTES)

/* Where the flows of one shard and their blocks live. Not thread-safe: one per shard. */
struct flow_store {
	struct pool flows;       /* struct live_flow */
	struct pool fins;        /* struct live_fin */
	struct pool rares;       /* struct live_rare */
	struct pool scheds[3];   /* live_sched, by enum live_sched_pool */
	struct pool addr6;       /* two IPv6 addresses, client first */
	struct pool fars;        /* struct live_far */
	struct pool frozen[LIVE_FROZEN_POOLS]; /* waiting flows (flow_store_freeze), by size */
	const char **captures;   /* capture file names the flows came from (live_flow.capture) */
	const struct encap_table *encaps; /* descriptions of live_flow.encap (NULL: none) */
	uint32_t n_captures, cap_captures;
	/* No report reads the Zeek view (text, Markdown, SVG, HTML): the tracker leaves live_zeek
	 * alone and flow_decode() gives zero zeek fields. */
	bool skip_zeek;
};

void flow_store_init(struct flow_store *st);
/* Every pool of the store (no flow stored yet) carves its slabs from `space` (pool_share): the
 * engine gives one space to the stores of all its shards. */
void flow_store_share(struct flow_store *st, struct pool_space *space);
/* Frees every flow and block of the store. */
void flow_store_destroy(struct flow_store *st);

/* A zero-filled flow with its handle set (flow_init fills it), or NULL without memory. */
struct live_flow *flow_store_new(struct flow_store *st);
/* Frees `f` (live or frozen) and its blocks. */
void flow_store_free(struct flow_store *st, struct live_flow *f);

static inline struct live_flow *flow_store_at(const struct flow_store *st, uint32_t h)
{
	return (struct live_flow *)pool_item(&st->flows, h, LIVE_ITEM(struct live_flow),
	                                     LIVE_FLOW_SLAB_SHIFT);
}

/* Is `f` a waiting flow's frozen form (only its head is a struct live_flow)? */
static inline bool live_is_frozen(const struct live_flow *f)
{
	return (f->self & LIVE_FROZEN_BIT) != 0;
}

/* The waiting flow of frozen handle `h`. */
static inline struct live_flow *flow_store_frozen_at(const struct flow_store *st, uint32_t h)
{
	return (struct live_flow *)pool_item(&st->frozen[LIVE_FROZEN_CLASS(h)], LIVE_FROZEN_HANDLE(h),
	                                     LIVE_FROZEN_BYTES(h), LIVE_FLOW_SLAB_SHIFT);
}

/* The flow of handle `h`, live or frozen. */
static inline struct live_flow *flow_store_any(const struct flow_store *st, uint32_t h)
{
	return (h & LIVE_FROZEN_BIT) ? flow_store_frozen_at(st, h) : flow_store_at(st, h);
}

/* Freezes `f`, a flow that ended on the wire: returns its frozen form, `f` and its FIN block
 * being freed (the frozen form's links and key are f's: the table puts it in f's place), or NULL
 * when there is no memory for it (`f` is left as it was). */
struct live_flow *flow_store_freeze(struct flow_store *st, struct live_flow *f);
/* The live form of frozen `z`, in a new flow and FIN block (its links and key are z's: the table
 * puts it in z's place); NULL without memory. `z` stays, to be freed by flow_store_free_frozen. */
struct live_flow *flow_store_thaw(struct flow_store *st, const struct live_flow *z);
/* Frees frozen `z` alone: its blocks went to its thawed form. */
void flow_store_free_frozen(struct flow_store *st, struct live_flow *z);

/* Bytes the store holds (its pools). */
size_t flow_store_bytes(const struct flow_store *st);

/* The FIN block of `f` (LIVE_FIN_SENT set on a side: it exists). */
static inline struct live_fin *live_fin_of(const struct flow_store *st, const struct live_flow *f)
{
	return f->fin ? (struct live_fin *)pool_item(&st->fins, f->fin, LIVE_ITEM(struct live_fin),
	                                             LIVE_BLOCK_SLAB_SHIFT)
	              : NULL;
}

static inline struct live_rare *live_rare_of(const struct flow_store *st, const struct live_flow *f)
{
	return f->rare ? (struct live_rare *)pool_item(&st->rares, f->rare,
	                                               LIVE_ITEM(struct live_rare),
	                                               LIVE_BLOCK_SLAB_SHIFT)
	               : NULL;
}

static inline struct live_sched *live_sched_of(const struct flow_store *st,
                                               const struct live_flow *f)
{
	if (!f->sched)
		return NULL;
	return (struct live_sched *)pool_at(&st->scheds[LIVE_SCHED_POOL(f->sched)],
	                                    LIVE_SCHED_HANDLE(f->sched));
}

/* The stored entries (1..) of schedule `s` of `f`. */
static inline uint32_t *live_sched_entries(const struct live_flow *f, struct live_sched *s)
{
	return s->x + (LIVE_SCHED_POOL(f->sched) == LIVE_SCHED_DATA ? 0 : LIVE_SCHED_TIMES);
}

/* A SYN schedule's first (0) or last (1) time. */
static inline int64_t live_sched_time(const struct live_sched *s, int which)
{
	int64_t t;

	memcpy(&t, &s->x[(size_t)2 * (unsigned)which], sizeof t);
	return t;
}

/* The two IPv6 addresses of a LIVE_ADDR6 flow, client first. */
static inline const uint8_t *live_addr6(const struct flow_store *st, const struct live_flow *f)
{
	return (const uint8_t *)pool_item(&st->addr6, f->addr[0], 32, LIVE_BLOCK_SLAB_SHIFT);
}

#define LIVE_ENCAP_ID(e) ((e) & 0xffffffu)
#define LIVE_ENCAP_KIND(e) ((e) >> 24)

/* Does `seg` travel in the tunnel of `f` (the rest of the flow key being equal)? */
static inline bool live_same_tunnel(const struct live_flow *f, const struct tcp_segment *seg)
{
	return LIVE_ENCAP_KIND(f->encap) == seg->tunnel && f->tunnel_id == seg->tunnel_id;
}

/* Is (addr, port) endpoint `side` of `f`? */
static inline bool live_endpoint_is(const struct flow_store *st, const struct live_flow *f,
                                    int side, const struct ip_addr *addr, uint16_t port)
{
	uint32_t a4;

	if (f->port[side] != port)
		return false;
	if (!(f->mark & LIVE_ADDR6)) {
		memcpy(&a4, addr->bytes, sizeof a4);
		return addr->family == 4 && f->addr[side] == a4;
	}
	return addr->family == 6 && memcmp(live_addr6(st, f) + (size_t)16 * (unsigned)side, addr->bytes,
	                                  16) == 0;
}

/* The direction `seg` travels in `f`, which must be the flow of its 4-tuple: when the two ports
 * differ, the source port tells. */
static inline enum flow_direction live_direction(const struct flow_store *st,
                                                 const struct live_flow *f,
                                                 const struct tcp_segment *seg)
{
	if (f->port[FROM_CLIENT] != f->port[FROM_SERVER])
		return seg->sport == f->port[FROM_CLIENT] ? FROM_CLIENT : FROM_SERVER;
	return live_endpoint_is(st, f, FROM_CLIENT, &seg->src, seg->sport) ? FROM_CLIENT
	                                                                    : FROM_SERVER;
}

/* The window `seg` (sent in direction `d`) advertises, in bytes: RFC 7323 §2.2, scaling applies
 * only when both SYNs carried the option, never to a SYN. */
static inline uint32_t live_scaled_window(const struct live_flow *f, enum flow_direction d,
                                          const struct tcp_segment *seg)
{
	const struct live_dir *me = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];

	if (seg->flags & TCP_SYN)
		return seg->window;
	if ((me->bits & DIR_WSCALE) && (peer->bits & DIR_WSCALE))
		return (uint32_t)seg->window << me->wscale;
	return seg->window;
}

/* Endpoint `side` of `f`. */
void live_endpoint(const struct flow_store *st, const struct live_flow *f, int side,
                   struct flow_endpoint *out);

static inline struct live_far *live_far_of(const struct flow_store *st, const struct live_rare *r)
{
	return (struct live_far *)pool_item(&st->fars, r->far, LIVE_ITEM(struct live_far),
	                                    LIVE_BLOCK_SLAB_SHIFT);
}

/* The time of snapshot `s` of `f` (0 when it is none). */
static inline int64_t live_snap_ts(const struct flow_store *st, const struct live_flow *f,
                                   const struct live_snap *s)
{
	uint64_t v = ((uint64_t)(s->t_hi & 0x3f) << 32) | s->t_lo;

	if (!s->frame)
		return 0;
	switch (s->t_hi >> 6) {
	case LIVE_T_US:
		return f->first_ts_ns + (int64_t)v * 1000;
	case LIVE_T_NS:
		return f->first_ts_ns + (int64_t)v;
	default: /* LIVE_T_FAR */
		return live_far_of(st, live_rare_of(st, f))->ts_ns[v];
	}
}

/* The FIN and rare blocks of `f`, allocated on first need (NULL without memory: the evidence
 * they would hold is lost). */
struct live_fin *live_fin_get(struct flow_store *st, struct live_flow *f);
struct live_rare *live_rare_get(struct flow_store *st, struct live_flow *f);

/* Zeek's view of live `f` (zeek_conn.c), whose FIN block is `fb` (NULL: none) and endpoints are
 * `client` and `server`, for flow_decode. */
void zeek_decode(const struct flow_store *st, const struct live_flow *f, const struct live_fin *fb,
                 const struct flow_endpoint *client, const struct flow_endpoint *server,
                 struct zeek_fields *out);

/* Whether `f` is a waiting flow whose frozen item holds all of it: no block elsewhere in its
 * store (no evidence block, so no far times either; no schedule; IPv4 addresses). A copy of its
 * item (LIVE_FROZEN_BYTES(f->self) bytes) then decodes anywhere (flow_decode_detached): the
 * engine's worker hands such flows to the merging thread as they are (engine.c). */
static inline bool live_detachable(const struct live_flow *f)
{
	return live_is_frozen(f) && !f->rare && !f->sched && !(f->mark & LIVE_ADDR6);
}

/* flow_decode() of `item`, a copy of the item of a detachable waiting flow (live_detachable),
 * whose store named its capture file `capture` (NULL: none). `st` is any store with the tunnel
 * descriptions (encaps) and skip_zeek of the flow's: its pools and names are not read, so a store
 * of no flows in another thread serves. False, and nothing decoded, when the item is not that of
 * a detachable flow. */
bool flow_decode_detached(const struct flow_store *st, const void *item, const char *capture,
                          struct flow *out, struct flow_rare *rare);

/* Expands `f` (live or frozen) into the plain view the classifier reads. The view's evidence
 * block, when it has one, is *rare (so both must outlive the use of *out). */
void flow_decode(const struct flow_store *st, const struct live_flow *f, struct flow *out,
                 struct flow_rare *rare);

#endif
