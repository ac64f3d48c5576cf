/* story.c - a connection's story in words (story.h).
 *
 * The sentences are built from the evidence frames the classifier chose (found by direction and
 * flags, never by their note text) and, where it adds something, from the collected segments:
 * the acknowledgement that shows a kernel received the bytes its application never read, for
 * one. What each ending means for the applications (ECONNRESET, ECONNREFUSED, ETIMEDOUT) is Linux
 * behaviour, as measured by the samples (DESIGN §2).
 */
#include "story.h"

#include <stdarg.h>
#include <string.h>

#include "diagnosis_text.h"
#include "rtext.h"

/* --- a small sentence formatter ---------------------------------------------------------------
 * %s string, %n uint64_t with thousands separators, %t int64_t nanoseconds as a duration,
 * %f uint64_t frame number ("frame 8"), %e const struct flow_endpoint *, %% a percent sign. */
static void say(struct rbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			rbuf_putc(b, *p);
			continue;
		}
		switch (*++p) {
		case 's':
			rbuf_puts(b, va_arg(ap, const char *));
			break;
		case 'n':
			put_grouped(b, va_arg(ap, uint64_t));
			break;
		case 't':
			put_duration(b, va_arg(ap, int64_t));
			break;
		case 'f':
			RBUF_LIT(b, "frame ");
			rbuf_u64(b, va_arg(ap, uint64_t));
			break;
		case 'e':
			put_endpoint(b, va_arg(ap, const struct flow_endpoint *));
			break;
		case '%':
			rbuf_putc(b, '%');
			break;
		default: /* a bug in a format string below: show it rather than read garbage */
			RBUF_LIT(b, "%?");
			if (*p == '\0')
				p--;
			break;
		}
	}
	va_end(ap);
}

/* --- evidence lookup --------------------------------------------------------------------------- */

enum { ANY_SIDE = -1 };

struct ev_query {
	int from;          /* enum flow_direction or ANY_SIDE */
	uint8_t flags;     /* all of these flags set */
	uint8_t without;   /* none of these set */
	bool with_payload;
	uint64_t after;    /* frame number strictly greater (0: any) */
	uint64_t before;   /* frame number strictly smaller (0: any) */
	bool last;         /* the last match rather than the first */
};

static const struct evidence_frame *ev_find(const struct flow_record *r, struct ev_query q)
{
	const struct evidence_frame *hit = NULL;

	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++) {
		const struct evidence_frame *e = &r->evidence[i];

		if ((q.from != ANY_SIDE && e->from != q.from) || (e->flags & q.flags) != q.flags ||
		    (e->flags & q.without) || (q.with_payload && e->len == 0) ||
		    (q.after && e->frame <= q.after) || (q.before && e->frame >= q.before))
			continue;
		hit = e;
		if (!q.last)
			break;
	}
	return hit;
}

const char *story_note(const struct flow_record *r, uint64_t frame)
{
	for (unsigned i = 0; i < r->n_evidence && i < FLOW_EVIDENCE_MAX; i++)
		if (r->evidence[i].frame == frame)
			return r->evidence[i].note;
	return NULL;
}

static int closer_dir(const struct flow_record *r)
{
	if (r->closer == CLOSER_CLIENT)
		return FROM_CLIENT;
	if (r->closer == CLOSER_SERVER)
		return FROM_SERVER;
	return ANY_SIDE;
}

void story_verdict(struct rbuf *b, const struct flow_record *r)
{
	rbuf_puts(b, close_class_name(r->close_class));
	if (r->close_detail) {
		RBUF_LIT(b, " (");
		rbuf_puts(b, r->close_detail);
		rbuf_putc(b, ')');
	}
	if (r->closer == CLOSER_BOTH)
		RBUF_LIT(b, ", closed by both sides");
	else if (r->closer != CLOSER_NONE)
		say(b, ", closed by the %s", closer_name(r->closer));
}

/* --- handshake and volume ---------------------------------------------------------------------- */

void story_handshake(struct rbuf *b, const struct flow_record *r)
{
	const struct segment_list *l = r->segments;
	const struct ladder_seg *syn = NULL, *synack = NULL, *ack = NULL;

	switch (r->handshake) {
	case HANDSHAKE_MIDSTREAM:
		RBUF_LIT(b, "not captured: the capture starts in the middle of the connection");
		if (r->roles_inferred)
			RBUF_LIT(b, " (client and server inferred from the ports)");
		return;
	case HANDSHAKE_SYN_ONLY:
		say(b, "never completed: the client's SYN (%n packets) was not answered",
		    r->packets[FROM_CLIENT]);
		return;
	case HANDSHAKE_REFUSED:
		RBUF_LIT(b, "refused: the server answered the SYN with a reset");
		return;
	case HANDSHAKE_NO_FINAL_ACK:
	case HANDSHAKE_COMPLETE:
	case HANDSHAKE_COUNT:
		break;
	}
	/* The handshake is in the first entries, before any gap. */
	for (uint32_t i = 0; l && i < l->n && i < 8; i++) {
		const struct ladder_seg *s = &l->seg[i];

		if (i > 0 && (s->gap || (s->marks & LADDER_GAP_SHARED)))
			break;

		if (!syn && s->from == FROM_CLIENT && (s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
			syn = s;
		else if (syn && !synack && s->from == FROM_SERVER &&
		         (s->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			synack = s;
		else if (synack && !ack && s->from == FROM_CLIENT && (s->flags & TCP_ACK) &&
		         !(s->flags & TCP_SYN))
			ack = s;
	}
	rbuf_puts(b, r->handshake == HANDSHAKE_COMPLETE ? "complete" : "no final ACK from the client");
	if (!syn || !synack)
		return;
	say(b, ": SYN, SYN+ACK %t later", synack->ts_ns - syn->ts_ns);
	if (ack)
		say(b, ", ACK %t after that (frames %n-%n)", ack->ts_ns - synack->ts_ns, syn->frame,
		    ack->frame);
	else
		say(b, " (frames %n-%n)", syn->frame, synack->frame);
}

void story_volume(struct rbuf *b, const struct flow_record *r, const char *arrow)
{
	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		say(b, "%s %s %s: %n packet%s, %n byte%s of payload", side_word((unsigned)d), arrow,
		    side_word((unsigned)!d), r->packets[d], r->packets[d] == 1 ? "" : "s", r->bytes[d],
		    r->bytes[d] == 1 ? "" : "s");
		if (r->retransmissions[d])
			say(b, ", %n retransmission%s", r->retransmissions[d],
			    r->retransmissions[d] == 1 ? "" : "s");
		rbuf_putc(b, '\n');
	}
}

/* --- the ending, in sentences ------------------------------------------------------------------ */

/* A segment from `from`, after frame `after` and before frame `before`, acknowledging `ack`
 * (relative): the receiving kernel confirming it got the bytes. */
static const struct ladder_seg *acked_by(const struct flow_record *r, int from, uint32_t ack,
                                         uint64_t after, uint64_t before)
{
	const struct segment_list *l = r->segments;

	for (uint32_t i = 0; l && i < l->n; i++) {
		const struct ladder_seg *s = &l->seg[i];

		if (s->from == from && s->frame > after && s->frame < before && (s->flags & TCP_ACK) &&
		    !(s->flags & TCP_RST) && (int32_t)(s->ack - ack) >= 0)
			return s;
	}
	return NULL;
}

static void rst_shape(struct rbuf *b, const struct flow_record *r, const struct evidence_frame *rst,
                      const char *c, const char *p)
{
	if (r->reset_origin == RESET_ORIGIN_KERNEL)
		say(b,
		    "The reset (%f) carries seq %n, the acknowledgement number of the %s's segment it "
		    "answers: the %s's kernel answering for a connection it had no open socket for.\n",
		    rst->frame, (uint64_t)rst->seq, p, c);
	else
		say(b,
		    "The reset (%f) carries seq %n, the %s's own next sequence number%s: a socket "
		    "aborting itself, not a kernel answering for a socket that no longer exists.\n",
		    rst->frame, (uint64_t)rst->seq, c,
		    (rst->flags & TCP_ACK) ? ", and acknowledges what it had received" : "");
}

/* Side k's reset among the evidence; NULL: none. */
static const struct evidence_frame *rst_of(const struct flow_record *r, int k)
{
	return ev_find(r, (struct ev_query){ .from = k, .flags = TCP_RST });
}

/* The peer's last segment before side k's reset `rst`: the one the reset answered; NULL: none
 * (or no reset). */
static const struct evidence_frame *answered_by(const struct flow_record *r, int k,
                                                const struct evidence_frame *rst)
{
	if (!rst)
		return NULL;
	return ev_find(r, (struct ev_query){ .from = !k, .before = rst->frame, .last = true });
}

static void explain_unread(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *rst = rst_of(r, k);
	const struct evidence_frame *data, *own;
	const struct ladder_seg *ack;
	uint64_t unread;

	if (!rst)
		return;
	data = ev_find(r, (struct ev_query){ .from = !k, .with_payload = true, .before = rst->frame,
	                                     .last = true });
	own = ev_find(r, (struct ev_query){ .from = k, .with_payload = true, .before = rst->frame,
	                                    .last = true });
	/* What the closer had acknowledged by its own last data, against what its reset
	 * acknowledges: the bytes that arrived after it last spoke (1: the peer's SYN). */
	unread = (uint32_t)(rst->ack - (own ? own->ack : 1));
	if (data && (unread == 0 || unread > (uint64_t)r->bytes[!k]))
		unread = data->len;
	if (data)
		say(b, "The %s reset the connection %t after receiving %n bytes from the %s that it "
		       "never answered (the last of them in %f).\n",
		    c, rst->ts_ns - data->ts_ns, unread, p, data->frame);
	else
		say(b, "The %s reset the connection after receiving %n bytes from the %s that it "
		       "never answered.\n",
		    c, unread, p);
	ack = data ? acked_by(r, k, data->seq + data->len, data->frame, rst->frame) : NULL;
	if (ack)
		say(b, "Its kernel acknowledged them (%f), so they reached its receive buffer; nothing "
		       "the %s sent afterwards shows its application read them. A socket closed with "
		       "unread data sends a reset instead of a FIN (RFC 2525 §2.17).\n",
		    ack->frame, c);
	else
		say(b, "Nothing the %s sent afterwards shows its application read them. A socket "
		       "closed with unread data sends a reset instead of a FIN (RFC 2525 §2.17).\n",
		    c);
	rst_shape(b, r, rst, c, p);
	say(b, "The %s's application gets 'connection reset by peer' (ECONNRESET) on its next read "
	       "or write; whatever it sent last was never processed.\n",
	    p);
}

static void explain_abort(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *rst = rst_of(r, k);
	const struct evidence_frame *data;

	if (!rst)
		return;
	data = ev_find(r, (struct ev_query){ .from = ANY_SIDE, .with_payload = true,
	                                     .before = rst->frame, .last = true });
	if (data && r->n_alternatives)
		say(b, "The %s aborted the connection with a reset (%f) %t after the last data (%f, "
		       "from the %s).\n",
		    c, rst->frame, rst->ts_ns - data->ts_ns, data->frame, side_word(data->from));
	else if (data)
		say(b, "The %s aborted the connection with a reset (%f) %t after the last data (%f, "
		       "from the %s), with nothing it had received left unanswered.\n",
		    c, rst->frame, rst->ts_ns - data->ts_ns, data->frame, side_word(data->from));
	else
		say(b, "The %s aborted the connection with a reset (%f) before any data was "
		       "exchanged.\n",
		    c, rst->frame);
	say(b, "That is an abortive close: SO_LINGER with a zero timeout, or an application (or "
	       "proxy) that chose to abort rather than close.\n");
	rst_shape(b, r, rst, c, p);
	say(b, "The %s's application gets 'connection reset by peer' (ECONNRESET).\n", p);
}

static void explain_after_close(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *fin = ev_find(r, (struct ev_query){ .from = k, .flags = TCP_FIN });
	const struct evidence_frame *rst = rst_of(r, k);
	const struct evidence_frame *data;

	if (!fin || !rst)
		return;
	data = ev_find(r, (struct ev_query){ .from = !k, .with_payload = true, .after = fin->frame });
	say(b, "The %s closed the connection first (FIN, %f).\n", c, fin->frame);
	if (data)
		say(b, "The %s then sent %n bytes (%f) to a socket that was already closed, and the "
		       "%s's kernel answered %t later with a reset (%f).\n",
		    p, (uint64_t)data->len, data->frame, c, rst->ts_ns - data->ts_ns, rst->frame);
	else
		say(b, "The %s then sent more data, and the %s's kernel answered with a reset (%f).\n",
		    p, c, rst->frame);
	say(b, "Those bytes were never read: typically a request sent on a keep-alive connection "
	       "the other side had just closed, or data written after the peer was done.\n");
	rst_shape(b, r, rst, c, p);
}

static void explain_restarted(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *rst = rst_of(r, k), *trig = answered_by(r, k, rst);

	if (!rst)
		return;
	if (trig)
		say(b, "The %s answered the %s's segment (%f) %t later with a reset (%f) whose seq, %n, "
		       "is that segment's acknowledgement number: its kernel had no socket for this "
		       "connection.\n",
		    c, p, trig->frame, rst->ts_ns - trig->ts_ns, rst->frame, (uint64_t)rst->seq);
	else
		say(b, "The %s sent a reset (%f) answering for a connection its kernel had no socket "
		       "for.\n",
		    c, rst->frame);
	say(b, "No FIN from the %s was seen before it, so it had most likely lost its state: the "
	       "host or the process restarted, or a NAT or firewall in between forgot the "
	       "connection. The %s's application gets ECONNRESET.\n",
	    c, p);
}

/* A reset in a side's name that the path sent (rst_from_middlebox): nothing in it is that
 * side's doing. The diagnosis sentence (below the story) says what gave it away. */
static void explain_path(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *rst = rst_of(r, k), *trig = answered_by(r, k, rst);

	if (!rst)
		return;
	if (trig)
		say(b, "A reset in the %s's name (%f) reached the capture point %t after the %s's "
		       "segment (%f), but it was not the %s's: a firewall, load balancer or IPS in the "
		       "path made it.\n",
		    c, rst->frame, rst->ts_ns - trig->ts_ns, p, trig->frame, c);
	else
		say(b, "A reset in the %s's name (%f) was not the %s's: a firewall, load balancer or "
		       "IPS in the path made it.\n",
		    c, rst->frame, c);
	say(b, "It is shaped like %s, but nothing it seems to say about the %s's socket holds; the "
	       "%s may still hold the connection open. The %s's application gets 'connection reset "
	       "by peer' (ECONNRESET).\n",
	    r->close_class == CLOSE_RST_PEER_RESTARTED ? "a kernel's answer for a missing socket"
	                                                : "an abortive close",
	    c, c, p);
}

static void explain_refused(struct rbuf *b, const struct flow_record *r, int k)
{
	const struct evidence_frame *syn = ev_find(r, (struct ev_query){ .from = FROM_CLIENT,
	                                                                 .flags = TCP_SYN });
	const struct evidence_frame *rst = ev_find(r, (struct ev_query){ .from = FROM_SERVER,
	                                                                 .flags = TCP_RST });

	(void)k; /* the same for whichever side closed */
	if (syn && rst)
		say(b, "The server answered the client's SYN (%f) with a reset %t later (%f): nothing "
		       "was listening on %e, or a firewall rejected the connection with a reset.\n",
		    syn->frame, rst->ts_ns - syn->ts_ns, rst->frame, &r->server);
	else
		say(b, "The server answered the client's SYN with a reset: nothing was listening on "
		       "%e.\n",
		    &r->server);
	say(b, "The client's connect() fails with 'connection refused' (ECONNREFUSED).\n");
}

static void explain_syn(struct rbuf *b, const struct flow_record *r, int k)
{
	uint64_t n = r->packets[FROM_CLIENT];

	(void)k; /* the same for whichever side closed */
	if (n > 1)
		say(b, "The client sent %n SYNs over %t and the server never answered.\n", n,
		    r->last_ts_ns - r->first_ts_ns);
	else
		say(b, "The client sent one SYN and the server never answered.\n");
	say(b, "A firewall dropping the SYNs, a host that is down or a broken route looks like "
	       "this; the client's connect() ends with a timeout (ETIMEDOUT).\n");
}

static void explain_keepalive(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *life = ev_find(r, (struct ev_query){ .from = !k, .last = true });
	const struct evidence_frame *probe = ev_find(r, (struct ev_query){
	    .from = k, .after = life ? life->frame : 0, .without = TCP_RST });
	const struct evidence_frame *rst = rst_of(r, k);

	if (life)
		say(b, "After the %s's last segment (%f) the connection fell silent; ", p, life->frame);
	else
		say(b, "The connection fell silent; ");
	say(b, "the %s then sent %n keepalive probe%s that the %s never answered.\n", c,
	    (uint64_t)r->keepalive_probes, r->keepalive_probes == 1 ? "" : "s", p);
	if (rst && probe)
		say(b, "It gave up and reset the connection (%f) %t after the first probe (%f): the "
		       "%s had gone away without closing (power, cable, network), and the %s's "
		       "application gets a timeout (ETIMEDOUT).\n",
		    rst->frame, rst->ts_ns - probe->ts_ns, probe->frame, p, c);
	else
		say(b, "The capture ends while the probes are unanswered: the %s had most likely gone "
		       "away without closing.\n",
		    p);
}

static void explain_vanished(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *p = side_word((unsigned)!k);
	const struct evidence_frame *life = ev_find(r, (struct ev_query){ .from = !k, .last = true });
	const struct evidence_frame *first = ev_find(r, (struct ev_query){
	    .from = k, .after = life ? life->frame : 0 });
	const struct evidence_frame *last = ev_find(r, (struct ev_query){
	    .from = k, .after = first ? first->frame : 0, .without = TCP_RST, .last = true });

	if (life && first)
		say(b, "The %s stopped answering after %f: the %s's next segment (%f) was never "
		       "acknowledged",
		    p, life->frame, c, first->frame);
	else
		say(b, "The %s stopped answering: the %s's segments were never acknowledged", p, c);
	if (first && last)
		say(b, ", nor its retransmissions, the last %t after the first (%f)", last->ts_ns -
		    first->ts_ns, last->frame);
	RBUF_LIT(b, ".\n");
	if (r->close_detail && strcmp(r->close_detail, "heartbeat") == 0)
		say(b, "The two sides had been exchanging small heartbeat messages; the %s's answers "
		       "stopped.\n",
		    p);
	say(b, "No FIN and no reset from the %s, only silence: it lost power, its cable or its "
	       "route, or a firewall dropped the connection's state. Linux retransmits with doubling "
	       "gaps, gives up silently after tcp_retries2 (or TCP_USER_TIMEOUT), and the %s's "
	       "application gets a timeout (ETIMEDOUT).\n",
	    p, c);
}

static void explain_fins(struct rbuf *b, const struct flow_record *r, int k)
{
	const struct evidence_frame *a = ev_find(r, (struct ev_query){ .from = ANY_SIDE,
	                                                               .flags = TCP_FIN });
	const struct evidence_frame *o = NULL;

	(void)k; /* the same for whichever side closed */
	if (!a)
		return;
	if (r->close_class == CLOSE_FIN_GRACEFUL && r->closer != CLOSER_BOTH &&
	    closer_dir(r) != a->from) { /* TCP order wins over capture order, as the classifier */
		const struct evidence_frame *x = ev_find(r, (struct ev_query){ .from = closer_dir(r),
		                                                               .flags = TCP_FIN });
		if (x)
			a = x;
	}
	o = ev_find(r, (struct ev_query){ .from = !a->from, .flags = TCP_FIN });
	if (r->close_class == CLOSE_FIN_SIMULTANEOUS) {
		say(b, "Both sides closed at once: their FINs (%f and %f, %t apart) crossed on the "
		       "wire, neither acknowledging the other (a simultaneous close, RFC 9293 §3.6).\n",
		    a->frame, o ? o->frame : 0, o ? o->ts_ns - a->ts_ns : 0);
		return;
	}
	if (!o)
		return;
	say(b, "The %s closed first (FIN, %f); the %s closed %t later (%f). An orderly close: "
	       "each side's application closed its socket.\n",
	    side_word(a->from), a->frame, side_word(o->from), o->ts_ns - a->ts_ns, o->frame);
	if (o->ts_ns - a->ts_ns > 1000000000LL)
		say(b, "The %s stayed in CLOSE-WAIT for %t between the two FINs: its application "
		       "took that long to close its socket after the %s had finished.\n",
		    side_word(o->from), o->ts_ns - a->ts_ns, side_word(a->from));
}

static void explain_half_closed(struct rbuf *b, const struct flow_record *r, int k)
{
	const char *c = side_word((unsigned)k), *o = side_word((unsigned)!k);
	const struct evidence_frame *fin = ev_find(r, (struct ev_query){ .from = k, .flags = TCP_FIN });
	const struct evidence_frame *data;

	if (!fin)
		return;
	data = ev_find(r, (struct ev_query){ .from = !k, .with_payload = true, .after = fin->frame,
	                                     .last = true });
	say(b, "The %s closed its sending side (FIN, %f).\n", c, fin->frame);
	if (data)
		say(b, "The %s went on sending after it (the last data in %f, %t after the FIN): a "
		       "half-close, as shutdown(SHUT_WR) makes, or an application still writing.\n",
		    o, data->frame, data->ts_ns - fin->ts_ns);
	else
		say(b, "The %s never closed its own side.\n", o);
	if (r->state[!k] == TCPS_CLOSE_WAIT && !r->diagnosis.close_wait.present)
		say(b, "When the capture ended the %s had been in CLOSE-WAIT for at least %t; if it "
		       "stays there, its application is not closing the socket.\n",
		    o, r->last_ts_ns - fin->ts_ns);
}

/* Where the capture was taken: the timing sentences above are read against these. */
static void explain_vantage(struct rbuf *b, const struct flow_record *r)
{
	static const char *const where[VANTAGE_COUNT] = {
		[VANTAGE_CLIENT] = "next to the client",
		[VANTAGE_SERVER] = "next to the server",
		[VANTAGE_BETWEEN] = "between the two, or both near",
	};

	if (!r->rtt_us[FROM_CLIENT] || !r->rtt_us[FROM_SERVER] || r->vantage >= VANTAGE_COUNT ||
	    !where[r->vantage])
		return;
	say(b, "Round trips from the capture point: %t to the client, %t to the server (%s, "
	       "measured on %s): the capture was taken %s.\n",
	    (int64_t)r->rtt_us[FROM_CLIENT] * 1000, (int64_t)r->rtt_us[FROM_SERVER] * 1000,
	    r->rtt_from_data[FROM_CLIENT] || r->rtt_from_data[FROM_SERVER] ? "upper bounds" : "kernel "
	    "answers", r->rtt_from_data[FROM_CLIENT] || r->rtt_from_data[FROM_SERVER] ? "data and its "
	    "acknowledgements" : "the handshake", where[r->vantage]);
}

static void explain_modifiers(struct rbuf *b, const struct flow_record *r)
{
	int k = closer_dir(r);
	const char *c = k == ANY_SIDE ? "sender" : side_word((unsigned)k);

	if (r->modifiers & MOD_MIDSTREAM)
		say(b, "The capture starts in the middle of this connection: the handshake is not in "
		       "it%s.\n",
		    r->roles_inferred ? ", and which side is the client was inferred from the ports" : "");
	if (r->modifiers & MOD_TRUNCATED)
		say(b, "The capture's snapshot length cut some of this connection's headers or "
		       "payload.\n");
	if (r->modifiers & MOD_CAPTURE_GAP)
		say(b, "Acknowledgements cover data the capture never saw: the capture lost packets, "
		       "so part of the exchange is missing.\n");
	if (r->modifiers & MOD_PORT_REUSE)
		say(b, "The same addresses and ports were used again by a later connection.\n");
	if (r->encap != NULL && r->encap->n != 0) {
		say(b, "It was carried in a tunnel (outer layers, innermost first): %s",
		    r->encap->layer[0]);
		for (unsigned i = 1; i < r->encap->n; i++)
			say(b, "; %s", r->encap->layer[i]);
		say(b, ".\n");
	}
	if (r->modifiers & MOD_EVICTED)
		say(b, "This connection was finished early to stay within --max-flows; what came after "
		       "that is not in this story.\n");
	/* The diagnosis says it with the values (story_explain appends it). */
	if ((r->modifiers & MOD_RST_FROM_MIDDLEBOX) && !r->diagnosis.middlebox.present)
		say(b, "The reset's TTL (hop limit) differs from the %s's other segments: a firewall or "
		       "load balancer in between most likely sent it in the %s's name.\n",
		    c, c);
}

/* One diagnosis sentence as a paragraph. */
static void diagnosis_paragraph(void *ctx, const char *text, size_t len)
{
	struct rbuf *b = ctx;

	rbuf_put(b, text, len);
	rbuf_putc(b, '\n');
}

static void explain_open(struct rbuf *b, const struct flow_record *r, int k)
{
	(void)r;
	(void)k;
	say(b, "No FIN and no reset: the connection was still open, with data flowing, when "
	       "the capture ended.\n");
}

static void explain_idle(struct rbuf *b, const struct flow_record *r, int k)
{
	(void)r;
	(void)k;
	say(b, "No FIN and no reset: the connection was open but idle when the capture "
	       "ended.\n");
}

/* Each class's paragraph; k is the side that closed, and a class that is about that side says
 * nothing when no one side did. */
struct explainer {
	void (*explain)(struct rbuf *b, const struct flow_record *r, int k);
	bool needs_closer;
	bool path_may_forge; /* a reset the path may have sent in k's name: explain_path() then */
};

static const struct explainer explainers[] = {
	[CLOSE_FIN_GRACEFUL] = { explain_fins, false, false },
	[CLOSE_FIN_SIMULTANEOUS] = { explain_fins, false, false },
	[CLOSE_HALF_CLOSED_AT_END] = { explain_half_closed, true, false },
	[CLOSE_RST_UNREAD_DATA] = { explain_unread, true, false },
	[CLOSE_RST_ABORT] = { explain_abort, true, true },
	[CLOSE_RST_AFTER_CLOSE] = { explain_after_close, true, false },
	[CLOSE_RST_PEER_RESTARTED] = { explain_restarted, true, true },
	[CLOSE_RST_REFUSED] = { explain_refused, false, false },
	[CLOSE_SYN_UNANSWERED] = { explain_syn, false, false },
	[CLOSE_KEEPALIVE_TIMEOUT] = { explain_keepalive, true, false },
	[CLOSE_PEER_VANISHED] = { explain_vanished, true, false },
	[CLOSE_OPEN_AT_END] = { explain_open, false, false },
	[CLOSE_IDLE_AT_END] = { explain_idle, false, false },
};
_Static_assert(sizeof explainers / sizeof explainers[0] == CLOSE_CLASS_COUNT,
               "a close class has no explanation");

void story_explain(struct rbuf *b, const struct flow_record *r)
{
	int k = closer_dir(r);

	if (r->close_class < CLOSE_CLASS_COUNT) {
		const struct explainer *e = &explainers[r->close_class];

		if (e->needs_closer && k == ANY_SIDE)
			e = NULL; /* no one side closed: nothing to say about it */
		if (e && e->path_may_forge && r->reset_origin == RESET_ORIGIN_PATH)
			explain_path(b, r, k);
		else if (e)
			e->explain(b, r, k);
	}
	for (unsigned i = 0; i < r->n_alternatives && i < FLOW_ALTERNATIVES_MAX; i++)
		say(b, "The packets also allow %s: %s.\n", close_class_name(r->alternatives[i].cls),
		    r->alternatives[i].why);
	explain_vantage(b, r);
	explain_modifiers(b, r);
	{
		/* The diagnoses: who really sent a reset, an idle timeout, CLOSE-WAIT, TIME-WAIT, the
		 * settings the timers show, the stacks. */
		struct rbuf scratch = { 0 };

		diagnosis_sentences(&r->diagnosis, &scratch, diagnosis_paragraph, b);
		rbuf_free(&scratch);
	}
}
