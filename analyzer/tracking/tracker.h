/* tracker.h - per-segment updates of a flow: sequence tracking, counters, evidence snapshots,
 * and the two endpoints' state machines. Knows nothing of tables, files or reports; its flows and
 * their blocks live in a flow_store (live_flow.h). */
#ifndef TM_TRACKER_H
#define TM_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "live_flow.h"

/* Starts a flow from its first segment, frame `first_frame` (which is also its id): decides which
 * side is the client (DESIGN §2: the sender of the first SYN; otherwise the side with the
 * ephemeral-looking port, otherwise the sender). `f` is zero-filled, as flow_store_new hands it
 * out. `encap`: the id of the description of the layers `first` came through (encap_table.h),
 * 0 for none. False when out of memory (the flow cannot be kept: flow_store_free it). */
bool flow_init(struct flow_store *st, struct live_flow *f, uint64_t first_frame,
               const struct tcp_segment *first, const char *capture, bool ts_nano,
               uint32_t encap);

/* Which direction `seg` travels in `f` (the segment must belong to the flow's 4-tuple). */
static inline enum flow_direction flow_direction_of(const struct flow_store *st,
                                                    const struct live_flow *f,
                                                    const struct tcp_segment *seg)
{
	return live_direction(st, f, seg);
}

/* True when `seg`, a segment on this flow's 4-tuple, opens a new connection rather than
 * continuing this one: a SYN without ACK whose sequence number is not that of a SYN already
 * seen from the same side. */
static inline bool flow_is_reused_by(const struct live_flow *f, const struct tcp_segment *seg,
                                     enum flow_direction d)
{
	const struct live_dir *sender = &f->dir[d];
	const struct live_dir *peer = &f->dir[!d];

	if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
		return false;
	if (sender->bits & DIR_SYN_SEEN)
		return seg->seq != sender->isn; /* same ISN: a SYN retransmission */
	/* A SYN whose number the peer's SYN+ACK already acknowledged is this connection's, seen
	 * after its answer (the capture reordered them). */
	if ((peer->bits & (DIR_SYN_SEEN | DIR_ACK_KNOWN)) == (DIR_SYN_SEEN | DIR_ACK_KNOWN) &&
	    peer->max_ack == seg->seq + 1)
		return false;
	/* No SYN from this side yet: a SYN now opens a connection (the server's SYN arrives as
	 * SYN+ACK, excluded above). */
	return f->dir[FROM_CLIENT].packets + f->dir[FROM_SERVER].packets > 0;
}

/* The connection is over on the wire: a RST was seen, or both FINs were sent and acknowledged. */
static inline bool flow_is_finished(const struct live_flow *f)
{
	const struct live_dir *c = &f->dir[FROM_CLIENT];
	const struct live_dir *s = &f->dir[FROM_SERVER];

	if (c->rst_count || s->rst_count)
		return true;
	return (c->seen & s->seen & (LIVE_FIN_SENT | LIVE_FIN_ACKED)) ==
	       (LIVE_FIN_SENT | LIVE_FIN_ACKED);
}

/* Zeek's view of the segment (zeek_track.c): called by tracker_segment before its own updates. */
void zeek_track_segment(struct flow_store *st, struct live_flow *f, const struct tcp_segment *seg,
                        enum flow_direction d);
/* The same for a segment tracker_fast_path_applies() to: mostly decided on fewer tests. */
void zeek_track_in_order(struct flow_store *st, struct live_flow *f, const struct tcp_segment *seg,
                         enum flow_direction d);

/* Applies one segment sent in direction `d` at `ts_ns`, frame number `frame`: the fast path when
 * tracker_fast_path_applies(), else the general one. */
void tracker_segment(struct flow_store *st, struct live_flow *f, const struct tcp_segment *seg,
                     enum flow_direction d, int64_t ts_ns, uint64_t frame);

/* The common segment of an established connection, most of any capture: an ACK without SYN, FIN
 * or RST at its sender's next sequence number (new data or none), the peer's FIN not seen, no
 * retransmission schedule, its time less than 2^38 ns (4.6 minutes) after the flow's first. Its
 * fast path leaves the flow exactly as the general path would (tests/unit/test_tracker.c checks
 * both, segment by segment). */
bool tracker_fast_path_applies(const struct live_flow *f, const struct tcp_segment *seg,
                               enum flow_direction d, int64_t ts_ns);
/* The general path alone, whatever the segment (for the tests that compare the two paths). */
void tracker_segment_general(struct flow_store *st, struct live_flow *f,
                             const struct tcp_segment *seg, enum flow_direction d, int64_t ts_ns,
                             uint64_t frame);

/* Who would hold TIME-WAIT for this connection now: the side(s) whose inferred state is
 * TIME-WAIT (RFC 9293 §3.6: the side that closed first; both after a simultaneous close). */
enum closer_side live_time_wait_side(const struct live_flow *f);
/* The same, of a decoded flow. */
enum closer_side flow_time_wait_side(const struct flow *f);

/* Records that `f` (just started by a SYN) reuses the 4-tuple of an earlier connection whose
 * last segment came `gap_ns` before, and which side held that connection's TIME-WAIT. */
void flow_note_reuse(struct flow_store *st, struct live_flow *f, int64_t gap_ns,
                     enum closer_side time_wait);

#endif
