/* tcp_state.c - the per-endpoint state machine of RFC 9293 §3.3.2, as seen from the wire.
 *
 *   sent SYN                 CLOSED/UNKNOWN -> SYN-SENT
 *   sent SYN+ACK             CLOSED/UNKNOWN/LISTEN -> SYN-RECEIVED
 *   received SYN             UNKNOWN/CLOSED -> LISTEN (a listener exists until it answers)
 *   received SYN+ACK         SYN-SENT -> ESTABLISHED
 *   received ACK of our SYN  SYN-RECEIVED -> ESTABLISHED
 *   sent FIN                 ESTABLISHED/SYN-RECEIVED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK;
 *                            but CLOSE-WAIT -> CLOSING when the FIN does not acknowledge the
 *                            peer's FIN: the capture point saw the peer's FIN first, the
 *                            endpoint did not (simultaneous close, RFC 9293 §3.6 case 2)
 *   received FIN             ESTABLISHED -> CLOSE-WAIT,
 *                            FIN-WAIT-1 -> CLOSING (our FIN not yet acked) or TIME-WAIT,
 *                            FIN-WAIT-2 -> TIME-WAIT
 *   received ACK of our FIN  FIN-WAIT-1 -> FIN-WAIT-2, CLOSING -> TIME-WAIT, LAST-ACK -> CLOSED
 *   sent or received RST     any -> CLOSED (RFC 9293 §3.10.7.4; Linux also lets a RST end
 *                            TIME-WAIT unless net.ipv4.tcp_rfc1337 is set)
 *
 * A segment that is neither SYN nor RST seen by an endpoint in UNKNOWN means the handshake was
 * before the capture started: the endpoint is taken to be ESTABLISHED first.
 */
#include "tcp_state.h"

#include "segment.h"

static enum tcp_state after_fin_sent(enum tcp_state s)
{
	switch (s) {
	case TCPS_UNKNOWN:
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		return TCPS_FIN_WAIT_1;
	case TCPS_CLOSE_WAIT:
		return TCPS_LAST_ACK;
	default:
		return s; /* a retransmitted FIN changes nothing */
	}
}

static enum tcp_state after_fin_received(enum tcp_state s, bool acks_own_fin)
{
	switch (s) {
	case TCPS_UNKNOWN:
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		return TCPS_CLOSE_WAIT;
	case TCPS_FIN_WAIT_1:
		return acks_own_fin ? TCPS_TIME_WAIT : TCPS_CLOSING;
	case TCPS_FIN_WAIT_2:
		return TCPS_TIME_WAIT;
	default:
		return s;
	}
}

static enum tcp_state after_own_fin_acked(enum tcp_state s)
{
	switch (s) {
	case TCPS_FIN_WAIT_1:
		return TCPS_FIN_WAIT_2;
	case TCPS_CLOSING:
		return TCPS_TIME_WAIT;
	case TCPS_LAST_ACK:
		return TCPS_CLOSED;
	default:
		return s;
	}
}

enum tcp_state tcp_state_on_send(enum tcp_state s, const struct state_event *ev)
{
	uint8_t f = ev->flags;

	if (f & TCP_RST)
		return TCPS_CLOSED;
	if (f & TCP_SYN) {
		if (f & TCP_ACK)
			return (s == TCPS_UNKNOWN || s == TCPS_CLOSED || s == TCPS_LISTEN) ? TCPS_SYN_RECEIVED : s;
		return (s == TCPS_UNKNOWN || s == TCPS_CLOSED) ? TCPS_SYN_SENT : s;
	}
	if (s == TCPS_UNKNOWN)
		s = TCPS_ESTABLISHED; /* midstream */
	else if (s == TCPS_SYN_SENT && (f & TCP_ACK))
		s = TCPS_ESTABLISHED; /* the handshake's third segment; the SYN+ACK may be missing */
	if ((f & TCP_FIN) && s == TCPS_CLOSE_WAIT && ev->ignores_peer_fin)
		return TCPS_CLOSING;
	if (f & TCP_FIN)
		s = after_fin_sent(s);
	return s;
}

enum tcp_state tcp_state_on_receive(enum tcp_state s, const struct state_event *ev)
{
	uint8_t f = ev->flags;

	if (f & TCP_RST)
		return (s == TCPS_UNKNOWN) ? TCPS_UNKNOWN : TCPS_CLOSED;
	if (f & TCP_SYN) {
		if (f & TCP_ACK)
			return (s == TCPS_SYN_SENT || s == TCPS_UNKNOWN) ? TCPS_ESTABLISHED : s;
		return (s == TCPS_UNKNOWN || s == TCPS_CLOSED) ? TCPS_LISTEN : s;
	}
	if (s == TCPS_UNKNOWN)
		s = TCPS_ESTABLISHED; /* midstream */
	if (s == TCPS_SYN_RECEIVED && ev->acks_own_syn)
		s = TCPS_ESTABLISHED;
	if (ev->acks_own_fin)
		s = after_own_fin_acked(s);
	if (f & TCP_FIN)
		s = after_fin_received(s, ev->acks_own_fin);
	return s;
}
