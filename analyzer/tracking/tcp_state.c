/* tcp_state.c - the per-endpoint state machine of RFC 9293 §3.3.2, as seen from the wire.
 *
 * The transitions are listed in tcp_state.h as a table, checked against this code by
 * tests/unit/test_tcp_state.c. Every switch names every state: a state added to enum tcp_state
 * must be placed in each of them (-Wswitch-enum).
 */
#include "tcp_state.h"

#include "segment.h"

/* A segment that is neither SYN nor RST reaching (or leaving) an endpoint the capture knows
 * nothing of: the handshake was before the capture started. */
static enum tcp_state midstream(enum tcp_state s)
{
	return s == TCPS_UNKNOWN ? TCPS_ESTABLISHED : s;
}

static enum tcp_state after_fin_sent(enum tcp_state s, bool crossing)
{
	switch (s) {
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		return TCPS_FIN_WAIT_1;
	case TCPS_CLOSE_WAIT:
		/* A FIN that does not acknowledge the peer's FIN left before that FIN arrived: a
		 * simultaneous close (RFC 9293 §3.6 case 2), although the capture saw the peer's first. */
		return crossing ? TCPS_CLOSING : TCPS_LAST_ACK;
	case TCPS_UNKNOWN: /* made ESTABLISHED by midstream() before */
	case TCPS_SYN_SENT: /* a FIN without ACK: the handshake is not complete */
	case TCPS_CLOSED:
	case TCPS_LISTEN:
	case TCPS_FIN_WAIT_1:
	case TCPS_FIN_WAIT_2:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
	case TCPS_TIME_WAIT:
	case TCPS_COUNT:
		return s; /* a retransmitted FIN changes nothing */
	}
	return s;
}

static enum tcp_state after_fin_received(enum tcp_state s, bool acks_own_fin)
{
	switch (s) {
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		return TCPS_CLOSE_WAIT;
	case TCPS_FIN_WAIT_1:
		return acks_own_fin ? TCPS_TIME_WAIT : TCPS_CLOSING;
	case TCPS_FIN_WAIT_2:
		return TCPS_TIME_WAIT;
	case TCPS_UNKNOWN: /* made ESTABLISHED by midstream() before */
	case TCPS_CLOSED:
	case TCPS_LISTEN:
	case TCPS_SYN_SENT:
	case TCPS_CLOSE_WAIT:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
	case TCPS_TIME_WAIT:
	case TCPS_COUNT:
		return s; /* a retransmitted FIN, or one the state cannot take */
	}
	return s;
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
	case TCPS_UNKNOWN:
	case TCPS_CLOSED:
	case TCPS_LISTEN:
	case TCPS_SYN_SENT:
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
	case TCPS_FIN_WAIT_2:
	case TCPS_CLOSE_WAIT:
	case TCPS_TIME_WAIT:
	case TCPS_COUNT:
		return s;
	}
	return s;
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
	s = midstream(s);
	if (s == TCPS_SYN_SENT && (f & TCP_ACK))
		s = TCPS_ESTABLISHED; /* the handshake's third segment; the SYN+ACK may be missing */
	if (f & TCP_FIN)
		s = after_fin_sent(s, ev->ignores_peer_fin);
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
	s = midstream(s);
	if (s == TCPS_SYN_RECEIVED && ev->acks_own_syn)
		s = TCPS_ESTABLISHED;
	if (ev->acks_own_fin)
		s = after_own_fin_acked(s);
	if (f & TCP_FIN)
		s = after_fin_received(s, ev->acks_own_fin);
	return s;
}
