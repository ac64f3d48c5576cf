/* flow_record.h - a finished connection, as the analyzer hands it to the report writers.
 *
 * A record is immutable once handed over: writers read it and never reach back into the
 * analyzer. Strings that are `const char *` point to static text (names, notes) or to storage that
 * lives as long as the run (capture file names); `reason` holds its template's id and values, and
 * flow_reason_format() writes its text (flow_reason.h).
 */
#ifndef TM_FLOW_RECORD_H
#define TM_FLOW_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "segment.h"
#include "flow_reason.h"
#include "segment_list.h"

/* The close taxonomy of DESIGN §2. Append only: the names are report fields. */
enum close_class {
	CLOSE_FIN_GRACEFUL = 0,
	CLOSE_FIN_SIMULTANEOUS,
	CLOSE_HALF_CLOSED_AT_END,
	CLOSE_RST_UNREAD_DATA,
	CLOSE_RST_ABORT,
	CLOSE_RST_AFTER_CLOSE,
	CLOSE_RST_PEER_RESTARTED,
	CLOSE_RST_REFUSED,
	CLOSE_SYN_UNANSWERED,
	CLOSE_KEEPALIVE_TIMEOUT,
	CLOSE_PEER_VANISHED,
	CLOSE_OPEN_AT_END,
	CLOSE_IDLE_AT_END,
	CLOSE_CLASS_COUNT
};

enum closer_side {
	CLOSER_NONE = 0, /* nothing ended it (open/idle at end, unanswered SYN): null in JSON */
	CLOSER_CLIENT,
	CLOSER_SERVER,
	CLOSER_BOTH,
	CLOSER_COUNT
};

/* Endpoint states, RFC 9293 §3.3.2 names, as inferred from the segments seen. */
enum tcp_state {
	TCPS_UNKNOWN = 0, /* nothing seen that tells */
	TCPS_CLOSED,
	TCPS_LISTEN,
	TCPS_SYN_SENT,
	TCPS_SYN_RECEIVED,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSE_WAIT,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	TCPS_TIME_WAIT,
	TCPS_COUNT
};

/* Modifiers, independent of the class (DESIGN §2). Bits; names in flow_modifier_name(). */
enum flow_modifier {
	MOD_MIDSTREAM = 1u << 0,
	MOD_TRUNCATED = 1u << 1,
	MOD_CAPTURE_GAP = 1u << 2,
	MOD_PORT_REUSE = 1u << 3,
	MOD_EVICTED = 1u << 4,
	MOD_RST_FROM_MIDDLEBOX = 1u << 5,
	MOD_COUNT_BITS = 6
};

/* How the opening looked. */
enum handshake_kind {
	HANDSHAKE_COMPLETE = 0, /* SYN, SYN+ACK, ACK */
	HANDSHAKE_SYN_ONLY,     /* SYN(s) and no answer */
	HANDSHAKE_REFUSED,      /* SYN answered by RST */
	HANDSHAKE_NO_FINAL_ACK, /* SYN, SYN+ACK, then no ACK from the client */
	HANDSHAKE_MIDSTREAM,    /* no SYN seen */
	HANDSHAKE_COUNT
};

enum flow_direction { FROM_CLIENT = 0, FROM_SERVER = 1 };

/* How sure the class is (close.confidence): certain, the packets allow no other reading; likely,
 * another reading needs something the packets make improbable; ambiguous, another class is as
 * consistent with them (close.alternatives says which, and why). */
enum close_confidence {
	CONFIDENCE_CERTAIN = 0,
	CONFIDENCE_LIKELY,
	CONFIDENCE_AMBIGUOUS,
	CONFIDENCE_COUNT
};

/* Another class the packets also allow, and why (static text). */
struct close_alternative {
	enum close_class cls;
	const char *why;
};
#define FLOW_ALTERNATIVES_MAX 2

/* Who sent the decisive reset, read from its sequence number (classify.c read_reset). */
enum reset_origin {
	RESET_ORIGIN_NONE = 0, /* no reset decided the class */
	RESET_ORIGIN_SOCKET,   /* the side's socket aborting: its own next sequence number */
	RESET_ORIGIN_KERNEL,   /* its kernel answering a segment for a socket it no longer had:
	                          the seq is that segment's ack */
	RESET_ORIGIN_PATH,     /* a box in the path, in the side's name (rst_from_middlebox) */
	RESET_ORIGIN_COUNT
};

/* Where the capture was taken, from the round trips to the two sides (classify.c). */
enum vantage_point {
	VANTAGE_UNKNOWN = 0, /* a round trip is not known */
	VANTAGE_CLIENT,      /* next to the client: its round trip a small part of the server's */
	VANTAGE_SERVER,
	VANTAGE_BETWEEN,     /* both sides some way off (or both equally near: loopback, one LAN) */
	VANTAGE_COUNT
};

#define FLOW_EVIDENCE_MAX 8

/* One frame the conclusion rests on. seq and ack are relative to the sender's and receiver's
 * initial sequence numbers (the ISN itself is 0, as Wireshark shows it). */
struct evidence_frame {
	uint64_t frame;   /* 1-based frame number in the capture (over all files) */
	int64_t ts_ns;    /* nanoseconds since the epoch */
	uint8_t from;     /* enum flow_direction */
	uint8_t flags;    /* enum tcp_flag bits */
	uint32_t seq;
	uint32_t ack;
	uint32_t len;     /* payload bytes */
	const char *note; /* static text: why this frame matters */
};

struct flow_endpoint {
	struct ip_addr addr;
	uint16_t port;
};

/* --- Diagnoses: who really ended it, and the stacks' settings (appended to the record) ---- */

/* A RST whose IP header does not fit the endpoint it names as its sender (modifier
 * rst_from_middlebox). */
struct middlebox_evidence {
	bool present;
	uint8_t claimed;          /* enum flow_direction named as the RST's sender */
	uint64_t frame;           /* the RST */
	uint8_t expected_ttl;     /* TTL / hop limit of the claimed side's other segments */
	uint8_t seen_ttl;
	bool ttl_mismatch;
	bool has_ip_id;           /* IPv4, and the claimed side's IDs count up */
	uint16_t expected_ip_id;  /* the claimed side's next ID */
	uint16_t seen_ip_id;
	bool ip_id_mismatch;
	/* It answered a segment sooner after it passed the capture point than the round trip from
	 * there to the side it names: that side had not yet received the segment. */
	bool too_early;
	int64_t answer_ns;        /* the segment (the first carrying what it answers) to the reset */
	uint32_t rtt_us;          /* the capture point's round trip to the claimed side */
};

/* A connection that went silent for long and whose next segment was dropped or reset by the
 * path (close.detail middlebox_idle_timeout). */
struct idle_timeout_evidence {
	bool present;
	uint8_t from;             /* enum flow_direction that spoke after the silence */
	int64_t idle_ns;          /* the silence before it */
	bool reset;               /* answered by a reset from the path; false: no answer at all */
};

/* A side that acknowledged its peer's FIN and did not close for at least the --close-wait
 * threshold. */
struct close_wait_evidence {
	bool present;
	uint8_t side;             /* enum flow_direction that sat in CLOSE-WAIT */
	int64_t duration_ns;      /* from its ACK of the FIN to its own FIN/RST or the capture end */
	bool still_open;          /* true: it had not closed when the capture (or flow) ended */
};

/* This connection reused the 4-tuple of an earlier one that could still be in TIME-WAIT. */
struct time_wait_reuse_evidence {
	bool present;
	enum closer_side side;    /* who held the earlier connection's TIME-WAIT (NONE: unknown) */
	int64_t gap_ns;           /* the earlier connection's last segment to this SYN */
	bool accepted;            /* the SYN was answered with SYN+ACK */
};

/* A setting inferred from timing: a range of values consistent with what the wire showed. */
struct setting_range {
	bool known;
	int64_t min;              /* inclusive; TIMER_NO_MIN: no lower bound shown */
	int64_t max;              /* inclusive; TIMER_NO_MAX: no upper bound shown */
};
#define TIMER_NO_MIN (-1)
#define TIMER_NO_MAX INT64_MAX

/* What one endpoint's timers showed (timers.c). Durations in milliseconds. */
struct endpoint_timers {
	bool any;
	/* SYN (or SYN+ACK) retransmissions */
	bool syn_seen;
	uint32_t syn_retransmissions;
	uint32_t syn_initial_rto_ms;
	bool syn_linear;          /* equal first gaps (Linux tcp_syn_linear_timeouts) */
	bool syn_gave_up;
	bool synack;              /* they were SYN+ACKs: the setting is tcp_synack_retries */
	struct setting_range tcp_syn_retries;
	/* retransmission of data into silence */
	bool rto_seen;
	uint32_t rto_retransmissions;
	bool tail_loss_probe;
	uint32_t initial_rto_ms;
	bool rto_gave_up;
	struct setting_range tcp_retries2;
	struct setting_range user_timeout_ms;
	/* keepalive */
	bool keepalive_seen;
	struct setting_range keepalive_time_s;
	struct setting_range keepalive_intvl_s;
	struct setting_range keepalive_probes;
	/* FIN-WAIT-2 of an orphaned (closed) socket */
	struct setting_range fin_timeout_s;
	/* it reused its own TIME-WAIT 4-tuple (Linux net.ipv4.tcp_tw_reuse) */
	bool tw_reuse;
};

/* The stack family an endpoint most likely runs, and the IP TTL it started with. */
struct stack_guess {
	const char *family;       /* "linux", "windows", "macos_bsd", "unix_like", or NULL */
	uint8_t initial_ttl;      /* 64, 128, 255 (or 32); 0 unknown */
	uint8_t hops;             /* initial_ttl - the TTL seen */
	const char *basis;        /* static text: what the guess rests on */
};

struct flow_diagnosis {
	struct middlebox_evidence middlebox;
	struct idle_timeout_evidence idle_timeout;
	struct close_wait_evidence close_wait;
	enum closer_side time_wait;            /* who holds TIME-WAIT at the end */
	struct time_wait_reuse_evidence time_wait_reuse;
	struct endpoint_timers timers[2];      /* indexed by enum flow_direction */
	struct stack_guess stack[2];
};

/* The outer layers (tunnels, MPLS labels, PPPoE) a flow's first segment came through, innermost
 * first, as text: "vxlan vni 42", "ipv4 192.0.2.1>192.0.2.2", "gre key 7", "mpls label 16". One
 * description is shared by every flow with the same stack and lives as long as the run. */
#define FLOW_ENCAP_MAX 8
struct flow_encap {
	unsigned n;
	const char *layer[FLOW_ENCAP_MAX];
};

/* What Zeek's conn.log says of the connection (analyzer/zeek_conn.h: Zeek's own semantics,
 * computed from the packets, not from the close class). */
#define ZEEK_HISTORY_MAX 24
struct zeek_fields {
	char uid[20];                /* "C" + base62 digits, NUL-terminated */
	const char *conn_state;      /* "S0", "SF", ... "OTH" (static text) */
	char history[ZEEK_HISTORY_MAX + 1];
	bool history_cut;            /* Zeek would have more letters than ZEEK_HISTORY_MAX */
	uint8_t orig;                /* enum flow_direction of Zeek's originator */
	bool has_duration;           /* Zeek logs duration and sizes only when duration > 0 */
	int64_t duration_ns;         /* first packet to the last one before both sides closed */
	uint64_t size[2];            /* Zeek's orig_bytes / resp_bytes (sequence space), by side */
	uint64_t ip_bytes[2];        /* IP-level bytes sent, indexed by enum flow_direction */
	uint64_t missed_bytes;       /* content gaps (bytes acknowledged but never seen) */
};

struct flow_record {
	uint64_t id;                /* 1-based, in order of first packet */
	const char *capture;        /* file holding the flow's first packet */
	const struct flow_encap *encap; /* NULL: the flow was in no tunnel */
	struct flow_endpoint client;
	struct flow_endpoint server;
	bool roles_inferred;        /* no SYN seen: client/server guessed from ports */
	bool ts_nano;               /* capture had nanosecond timestamps */
	int64_t first_ts_ns;
	int64_t last_ts_ns;
	uint64_t packets[2];        /* indexed by enum flow_direction */
	uint64_t bytes[2];          /* TCP payload bytes, retransmissions included */
	uint64_t retransmissions[2];
	uint16_t syns[2];           /* SYNs (client) and SYN+ACKs (server) sent, retransmissions
	                             * included, saturating: more than one says the opening was
	                             * retried (the incidents' SYN waves) */
	uint32_t keepalive_probes;  /* both directions */
	enum handshake_kind handshake;
	enum close_class close_class;
	const char *close_detail;   /* NULL or a static snake_case refinement */
	enum closer_side closer;
	struct flow_reason reason;  /* one line for people: flow_reason_format() */
	enum close_confidence confidence;
	enum reset_origin reset_origin;
	uint8_t n_alternatives;
	struct close_alternative alternatives[FLOW_ALTERNATIVES_MAX];
	bool has_close_ts;
	int64_t close_ts_ns;        /* time of the decisive segment */
	uint8_t n_evidence;
	struct evidence_frame evidence[FLOW_EVIDENCE_MAX];
	enum tcp_state state[2];    /* final inferred state, indexed by enum flow_direction */
	/* Round trip from the capture point to each side and back, microseconds (0: unknown);
	 * rtt_from_data: measured on data and its ACK, not on the handshake (an upper bound). */
	uint32_t rtt_us[2];
	bool rtt_from_data[2];
	enum vantage_point vantage;
	uint32_t modifiers;         /* enum flow_modifier bits */
	/* The connection's segments for a ladder diagram, or NULL when they were not collected (only
	 * stories and pictures ask for them: --flow, -f html). Valid as long as the record. */
	const struct segment_list *segments;
	struct flow_diagnosis diagnosis;
	struct zeek_fields zeek;
};

const char *close_class_name(enum close_class c);
/* Parses a class name; returns CLOSE_CLASS_COUNT when unknown. */
enum close_class close_class_from_name(const char *name);
/* "client", "server", "both", or NULL for CLOSER_NONE. */
const char *closer_name(enum closer_side c);
/* Parses a closer name; CLOSER_NONE when unknown or NULL. */
enum closer_side closer_from_name(const char *name);
/* RFC 9293 spelling: "ESTABLISHED", "FIN-WAIT-1", ...; "UNKNOWN" for TCPS_UNKNOWN. */
const char *tcp_state_name(enum tcp_state s);
const char *handshake_name(enum handshake_kind h);
const char *confidence_name(enum close_confidence c);
const char *vantage_name(enum vantage_point v);
/* "socket", "kernel", "path"; NULL for RESET_ORIGIN_NONE. */
const char *reset_origin_name(enum reset_origin o);
/* Name of one modifier bit (e.g. MOD_MIDSTREAM -> "midstream"); NULL for anything else. */
const char *flow_modifier_name(uint32_t bit);
/* "from" in reports: "client" or "server". */
const char *direction_name(enum flow_direction d);

/* Formats an address as text ("198.51.100.1", "2001:db8::1"). buf must hold 46 bytes. */
const char *ip_addr_format(const struct ip_addr *a, char *buf, unsigned long size);
/* The same text written at p (no NUL), which has IP_ADDR_TEXT_MAX bytes of room; returns the
 * end. */
#define IP_ADDR_TEXT_MAX 46
char *ip_addr_write(char *p, const struct ip_addr *a);

/* Formats nanoseconds since the epoch as decimal seconds with 6 or 9 decimals
 * ("1764000000.123456"). buf should hold 32 bytes. Returns buf. */
const char *ts_format(int64_t ts_ns, bool nano, char *buf, unsigned long size);

/* Formats TCP flag bits (enum tcp_flag) as comma-joined upper-case names in the fixed order
 * SYN,FIN,RST,PSH,ACK,URG,ECE,CWR ("SYN,ACK", "FIN,ACK", "RST"); "none" for 0. buf should hold
 * 32 bytes (all eight flags); shorter output is cut and stays NUL-terminated. Returns buf. */
const char *tcp_flags_format(uint8_t flags, char *buf, unsigned long size);

#endif
