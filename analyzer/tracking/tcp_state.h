/* tcp_state.h - one endpoint's TCP state, inferred from what it sends and receives.
 *
 * The observer sees segments on the wire, not the endpoint's memory, so the machine is driven by
 * two kinds of events: a segment the endpoint sent, and a segment it was sent (assumed to have
 * arrived: the capture point is normally on or next to one of the hosts). Transitions follow
 * RFC 9293 §3.3.2 (Figure 5); the function for each event is a switch on the current state.
 */
#ifndef TM_TCP_STATE_H
#define TM_TCP_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "flow_record.h"

/* What one segment means to an endpoint's state machine. */
struct state_event {
	uint8_t flags;          /* enum tcp_flag bits of the segment */
	bool acks_own_fin;      /* received segment: its ACK covers this endpoint's FIN */
	bool acks_own_syn;      /* received segment: its ACK covers this endpoint's SYN */
	bool ignores_peer_fin;  /* sent segment: the capture showed the peer's FIN before it, yet
	                           its ACK does not cover that FIN: it was sent before the FIN
	                           arrived (the FINs crossed) */
};

/* The endpoint sent a segment. Returns the new state. */
enum tcp_state tcp_state_on_send(enum tcp_state s, const struct state_event *ev);
/* The endpoint was sent a segment (and is taken to have received it). Returns the new state. */
enum tcp_state tcp_state_on_receive(enum tcp_state s, const struct state_event *ev);

#endif
