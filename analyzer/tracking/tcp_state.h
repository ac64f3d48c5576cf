/* tcp_state.h - one endpoint's TCP state, inferred from what it sends and receives.
 *
 * The observer sees segments on the wire, not the endpoint's memory, so the machine is driven by
 * two kinds of events: a segment the endpoint sent, and a segment it was sent (assumed to have
 * arrived: the capture point is normally on or next to one of the hosts). Transitions follow
 * RFC 9293 §3.3.2 (Figure 5), extended for what a capture can start or miss.
 *
 * The state table below is the authority: tests/unit/test_tcp_state.c reads it from this file and
 * checks it against the code in both directions, every state against every event. A pair that
 * is not listed leaves the state as it is (a retransmission, or nothing that tells).
 *
 * Events: "sent X" is a segment the endpoint sent, "received X" one it was sent. FIN means FIN+ACK
 * and "bare FIN" a FIN without ACK; "crossing FIN" is a FIN sent although the capture showed the
 * peer's FIN first, whose ACK does not cover it (the FINs crossed: RFC 9293 §3.6 case 2); "ACK of
 * own SYN/FIN" is a received segment whose ACK covers the endpoint's SYN or FIN.
 *
 * State table:
 *   UNKNOWN, CLOSED                      —sent SYN→                      SYN-SENT
 *   UNKNOWN, CLOSED, LISTEN              —sent SYN+ACK→                  SYN-RECEIVED
 *   UNKNOWN                              —sent ACK→                      ESTABLISHED  (midstream)
 *   SYN-SENT                             —sent ACK→                      ESTABLISHED
 *        (the handshake's third segment; the SYN+ACK was not captured)
 *   UNKNOWN, SYN-RECEIVED, ESTABLISHED   —sent bare FIN→                 FIN-WAIT-1
 *   CLOSE-WAIT                           —sent bare FIN→                 LAST-ACK
 *   UNKNOWN, SYN-SENT, SYN-RECEIVED, ESTABLISHED —sent FIN→              FIN-WAIT-1
 *   CLOSE-WAIT                           —sent FIN→                      LAST-ACK
 *   UNKNOWN, SYN-SENT, SYN-RECEIVED, ESTABLISHED —sent crossing FIN→     FIN-WAIT-1
 *   CLOSE-WAIT                           —sent crossing FIN→             CLOSING
 *        (the endpoint had not seen the peer's FIN)
 *   every state but CLOSED               —sent RST→                      CLOSED
 *        (RFC 9293 §3.10.7.4)
 *   UNKNOWN, CLOSED                      —received SYN→                  LISTEN
 *        (a listener exists until it answers)
 *   UNKNOWN, SYN-SENT                    —received SYN+ACK→              ESTABLISHED
 *        (UNKNOWN: its SYN was not captured)
 *   UNKNOWN                              —received ACK→                  ESTABLISHED  (midstream)
 *   UNKNOWN, SYN-RECEIVED                —received ACK of own SYN→       ESTABLISHED
 *   UNKNOWN                              —received ACK of own FIN→       ESTABLISHED
 *        (midstream; its FIN was not captured)
 *   FIN-WAIT-1                           —received ACK of own FIN→       FIN-WAIT-2
 *   CLOSING                              —received ACK of own FIN→       TIME-WAIT
 *   LAST-ACK                             —received ACK of own FIN→       CLOSED
 *   UNKNOWN, SYN-RECEIVED, ESTABLISHED   —received FIN→                  CLOSE-WAIT
 *        (SYN-RECEIVED: the ACK of its SYN was lost or not captured; the FIN carries it)
 *   FIN-WAIT-1                           —received FIN→                  CLOSING
 *   FIN-WAIT-2                           —received FIN→                  TIME-WAIT
 *   UNKNOWN, SYN-RECEIVED, ESTABLISHED   —received FIN with ACK of own FIN→ CLOSE-WAIT
 *        (it had sent no FIN the capture saw)
 *   FIN-WAIT-1, FIN-WAIT-2, CLOSING      —received FIN with ACK of own FIN→ TIME-WAIT
 *   LAST-ACK                             —received FIN with ACK of own FIN→ CLOSED
 *   every state but UNKNOWN, CLOSED      —received RST→                  CLOSED
 *        (UNKNOWN stays: a reset received by an endpoint the capture knows nothing of proves no
 *        state; Linux also lets a RST end TIME-WAIT unless net.ipv4.tcp_rfc1337 is set)
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
