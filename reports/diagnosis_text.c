/* diagnosis_text.c - a flow's diagnoses in plain words (diagnosis_text.h).
 *
 * Every sentence says what was seen and what it means, in the terms of the ticket it will end up
 * in: who really sent a reset, which box timed the connection out, which application forgot to
 * close, which settings the stacks ran with. Durations are written as the analyzer's reasons
 * write them ("1.30 s", "208 ms"); setting ranges as "3", "3-4", "at least 3", "at most 3".
 */
#include "diagnosis_text.h"

#include <stdio.h>
#include <string.h>

/* "12 µs", "3.4 ms", "1.25 s" */
static void put_duration(struct rbuf *b, int64_t ns)
{
	char text[FLOW_DURATION_MAX];

	rbuf_put(b, text, flow_duration_format(ns, text, sizeof text));
}

static void put_i64(struct rbuf *b, int64_t v)
{
	rbuf_u64(b, v < 0 ? 0 : (uint64_t)v);
}

/* "3", "3-4", "at least 3", "at most 3"; `unit` follows every number written ("" for none). */
static void put_range(struct rbuf *b, const struct setting_range *r, const char *unit)
{
	bool lo = r->min != TIMER_NO_MIN, hi = r->max != TIMER_NO_MAX;

	if (lo && hi && r->min == r->max) {
		put_i64(b, r->min);
	} else if (lo && hi) {
		put_i64(b, r->min);
		rbuf_putc(b, '-');
		put_i64(b, r->max);
	} else if (lo) {
		RBUF_LIT(b, "at least ");
		put_i64(b, r->min);
	} else {
		RBUF_LIT(b, "at most ");
		put_i64(b, r->max);
	}
	rbuf_puts(b, unit);
}

/* `label`, the range and `tail` where the setting is known; nothing where it is not. */
static void known_range(struct rbuf *b, const char *label, const struct setting_range *r,
                        const char *unit, const char *tail)
{
	if (!r->known)
		return;
	rbuf_puts(b, label);
	put_range(b, r, unit);
	rbuf_puts(b, tail);
}

/* Opens one part of a sentence made of parts: "; " before every part but the first. */
static void next_part(struct rbuf *b, bool *first)
{
	if (!*first)
		RBUF_LIT(b, "; ");
	*first = false;
}

/* Milliseconds as seconds with one decimal: "2.8". */
static void put_ms_as_s(struct rbuf *b, int64_t ms)
{
	char text[32];

	snprintf(text, sizeof text, "%.1f", (double)ms / 1000.0);
	rbuf_puts(b, text);
}

static const char *side(uint8_t d)
{
	return direction_name((enum flow_direction)d);
}

static void emit_buf(struct rbuf *b, void (*emit)(void *, const char *, size_t), void *ctx)
{
	if (!b->failed && b->len != 0)
		emit(ctx, b->data, b->len);
	rbuf_clear(b);
}

bool diagnosis_noteworthy(const struct flow_diagnosis *d)
{
	return d->middlebox.present || d->idle_timeout.present || d->close_wait.present ||
	       d->time_wait_reuse.present;
}

/* " IP ID 17 does not continue the server's ID sequence (next about 4242" (the caller closes the
 * parenthesis). */
static void ip_id_clause(struct rbuf *b, const struct middlebox_evidence *m)
{
	RBUF_LIT(b, " IP ID ");
	rbuf_u64(b, m->seen_ip_id);
	RBUF_LIT(b, " does not continue the ");
	rbuf_puts(b, side(m->claimed));
	RBUF_LIT(b, "'s ID sequence (next about ");
	rbuf_u64(b, m->expected_ip_id);
}

static void middlebox_sentence(struct rbuf *b, const struct middlebox_evidence *m)
{
	RBUF_LIT(b, "The reset in frame ");
	rbuf_u64(b, m->frame);
	RBUF_LIT(b, " says it came from the ");
	rbuf_puts(b, side(m->claimed));
	RBUF_LIT(b, ", but ");
	if (!m->ttl_mismatch && !m->ip_id_mismatch && m->too_early) {
		RBUF_LIT(b, "it came ");
		put_duration(b, m->answer_ns);
		RBUF_LIT(b, " after the segment it answers passed the capture point, sooner than the ");
		put_duration(b, (int64_t)m->rtt_us * 1000);
		RBUF_LIT(b, " round trip from there to the ");
		rbuf_puts(b, side(m->claimed));
		RBUF_LIT(b, ": the ");
		rbuf_puts(b, side(m->claimed));
		RBUF_LIT(b, " had not yet received that segment, so a box in the path sent it.");
		return;
	}
	if (m->ttl_mismatch) {
		RBUF_LIT(b, "its TTL is ");
		rbuf_u64(b, m->seen_ttl);
		RBUF_LIT(b, " where the ");
		rbuf_puts(b, side(m->claimed));
		RBUF_LIT(b, "'s packets arrive with ");
		rbuf_u64(b, m->expected_ttl);
		if (m->ip_id_mismatch) {
			RBUF_LIT(b, " and its");
			ip_id_clause(b, m);
			rbuf_putc(b, ')');
		}
		RBUF_LIT(b, ": a firewall, load balancer or IPS in the path sent it.");
		return;
	}
	RBUF_LIT(b, "its");
	ip_id_clause(b, m);
	RBUF_LIT(b, "), although its TTL ");
	rbuf_u64(b, m->seen_ttl);
	RBUF_LIT(b, " matches: a box in the path injected it with a copied TTL (an IPS or a "
	            "firewall).");
}

static void idle_sentence(struct rbuf *b, const struct idle_timeout_evidence *t)
{
	RBUF_LIT(b, "The connection had been silent for ");
	put_duration(b, t->idle_ns);
	RBUF_LIT(b, ", longer than ever before, when the ");
	rbuf_puts(b, side(t->from));
	if (t->reset)
		RBUF_LIT(b, " spoke again and the path answered with a reset: a stateful firewall or "
		            "NAT had dropped the idle connection; keep it alive more often than the "
		            "box's idle timeout (TCP keepalive or application heartbeats).");
	else
		RBUF_LIT(b, " spoke again, and nothing ever answered: most likely a stateful firewall "
		            "or NAT dropped the idle connection and now drops its packets (a peer that "
		            "died while idle looks the same); keep it alive more often than the box's "
		            "idle timeout.");
}

static void close_wait_sentence(struct rbuf *b, const struct close_wait_evidence *cw)
{
	const char *waiter = side(cw->side);
	const char *closer = side((uint8_t)!cw->side);

	RBUF_LIT(b, "The ");
	rbuf_puts(b, waiter);
	RBUF_LIT(b, " acknowledged the ");
	rbuf_puts(b, closer);
	if (cw->still_open) {
		RBUF_LIT(b, "'s FIN and had not closed ");
		put_duration(b, cw->duration_ns);
		RBUF_LIT(b, " later, when the capture ended (stuck in CLOSE-WAIT): its application "
		            "never called close(), the classic socket leak.");
	} else {
		RBUF_LIT(b, "'s FIN and stayed in CLOSE-WAIT for ");
		put_duration(b, cw->duration_ns);
		RBUF_LIT(b, " before it closed: its application was slow to close the socket.");
	}
}

static void reuse_sentence(struct rbuf *b, const struct time_wait_reuse_evidence *tw)
{
	const char *holder = closer_name(tw->side);

	RBUF_LIT(b, "This connection reused its 4-tuple ");
	put_duration(b, tw->gap_ns);
	RBUF_LIT(b, " after the previous connection on it ended, while ");
	if (tw->side == CLOSER_BOTH)
		RBUF_LIT(b, "both sides");
	else {
		RBUF_LIT(b, "the ");
		rbuf_puts(b, holder ? holder : "?");
	}
	RBUF_LIT(b, " could still hold its TIME-WAIT (Linux keeps it 60 s, RFC 9293 4 minutes)");
	if (tw->side == CLOSER_CLIENT && tw->accepted)
		RBUF_LIT(b, ": the client took its own TIME-WAIT 4-tuple over, which Linux allows "
		            "with net.ipv4.tcp_tw_reuse.");
	else if (tw->accepted)
		RBUF_LIT(b, ": the new SYN was accepted (RFC 6191: a higher sequence number or "
		            "timestamp than the old connection's).");
	else
		RBUF_LIT(b, ": the new SYN was not accepted, which is what TIME-WAIT protects against "
		            "(RFC 9293 §3.6.1).");
}

/* One side's timers in one sentence; nothing when there is nothing to say. */
static void timers_sentence(struct rbuf *b, uint8_t d, const struct endpoint_timers *t)
{
	bool first = true;

	if (!t->any)
		return;
	RBUF_LIT(b, "The ");
	rbuf_puts(b, side(d));
	RBUF_LIT(b, "'s timers: ");
	if (t->syn_seen) {
		next_part(b, &first);
		rbuf_puts(b, t->synack ? "SYN+ACK sent " : "SYN sent ");
		rbuf_u64(b, t->syn_retransmissions + 1);
		RBUF_LIT(b, " times, first again after ");
		put_duration(b, (int64_t)t->syn_initial_rto_ms * 1000000);
		rbuf_puts(b, t->syn_linear ? " and at that pace" : ", then doubling");
		rbuf_puts(b, t->syn_gave_up ? ", then it gave up" : "");
		known_range(b, t->synack ? ": Linux tcp_synack_retries " : ": Linux tcp_syn_retries ",
		            &t->tcp_syn_retries, "", t->synack ? " (default 5)" : " (default 6)");
	}
	if (t->rto_seen) {
		next_part(b, &first);
		rbuf_u64(b, t->rto_retransmissions);
		RBUF_LIT(b, " RTO retransmissions from ");
		put_duration(b, (int64_t)t->initial_rto_ms * 1000000);
		if (t->tail_loss_probe)
			RBUF_LIT(b, " after a tail-loss probe");
		rbuf_puts(b, t->rto_gave_up ? ", then it gave up" : ", still going at the end");
		known_range(b, ": tcp_retries2 ", &t->tcp_retries2, "", " (default 15, about 15 minutes)");
		if (t->user_timeout_ms.known) {
			RBUF_LIT(b, " or TCP_USER_TIMEOUT ");
			if (t->user_timeout_ms.max != TIMER_NO_MAX) {
				put_ms_as_s(b, t->user_timeout_ms.min);
				RBUF_LIT(b, "-");
				put_ms_as_s(b, t->user_timeout_ms.max);
				RBUF_LIT(b, " s");
			} else {
				RBUF_LIT(b, "above ");
				put_ms_as_s(b, t->user_timeout_ms.min);
				RBUF_LIT(b, " s");
			}
			RBUF_LIT(b, " (the wire cannot tell which)");
		}
	}
	if (t->keepalive_seen) {
		next_part(b, &first);
		RBUF_LIT(b, "keepalive");
		known_range(b, " after tcp_keepalive_time ", &t->keepalive_time_s, " s", "");
		known_range(b, ", tcp_keepalive_intvl ", &t->keepalive_intvl_s, " s", "");
		known_range(b, ", tcp_keepalive_probes ", &t->keepalive_probes, "", "");
		RBUF_LIT(b, " (defaults 7200 s, 75 s, 9; or TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)");
	}
	if (t->fin_timeout_s.known) {
		next_part(b, &first);
		known_range(b, "FIN-WAIT-2 of its closed socket: tcp_fin_timeout ", &t->fin_timeout_s,
		            " s", " (default 60 s)");
	}
	if (t->tw_reuse) {
		next_part(b, &first);
		RBUF_LIT(b, "it reconnected from its own TIME-WAIT 4-tuple: net.ipv4.tcp_tw_reuse is on");
	}
	rbuf_putc(b, '.');
}

static void stack_part(struct rbuf *b, uint8_t d, const struct stack_guess *g)
{
	RBUF_LIT(b, "the ");
	rbuf_puts(b, side(d));
	RBUF_LIT(b, " looks like ");
	if (strcmp(g->family, "linux") == 0)
		RBUF_LIT(b, "Linux");
	else if (strcmp(g->family, "windows") == 0)
		RBUF_LIT(b, "Windows");
	else if (strcmp(g->family, "macos_bsd") == 0)
		RBUF_LIT(b, "macOS or a BSD");
	else if (strcmp(g->family, "unix_like") == 0)
		RBUF_LIT(b, "a Unix-like stack");
	else
		RBUF_LIT(b, "something else");
	RBUF_LIT(b, " (");
	rbuf_puts(b, g->basis);
	RBUF_LIT(b, "), ");
	rbuf_u64(b, g->hops);
	rbuf_puts(b, g->hops == 1 ? " hop" : " hops");
	RBUF_LIT(b, " from the capture point");
}

void diagnosis_sentences(const struct flow_diagnosis *d, struct rbuf *b,
                         void (*emit)(void *ctx, const char *text, size_t len), void *ctx)
{
	bool any_timers = d->timers[FROM_CLIENT].any || d->timers[FROM_SERVER].any;

	rbuf_clear(b);
	if (d->middlebox.present) {
		middlebox_sentence(b, &d->middlebox);
		emit_buf(b, emit, ctx);
	}
	if (d->idle_timeout.present) {
		idle_sentence(b, &d->idle_timeout);
		emit_buf(b, emit, ctx);
	}
	if (d->close_wait.present) {
		close_wait_sentence(b, &d->close_wait);
		emit_buf(b, emit, ctx);
	}
	if (d->time_wait_reuse.present) {
		reuse_sentence(b, &d->time_wait_reuse);
		emit_buf(b, emit, ctx);
	}
	if (d->time_wait != CLOSER_NONE) {
		rbuf_puts(b, d->time_wait == CLOSER_BOTH ? "Both sides hold" : "The ");
		if (d->time_wait != CLOSER_BOTH) {
			rbuf_puts(b, closer_name(d->time_wait));
			RBUF_LIT(b, " holds");
		}
		RBUF_LIT(b, " TIME-WAIT at the end (the side that closed first keeps the 4-tuple for "
		            "60 s on Linux, 4 minutes per RFC 9293).");
		emit_buf(b, emit, ctx);
	}
	for (unsigned s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		timers_sentence(b, s, &d->timers[s]);
		emit_buf(b, emit, ctx);
	}
	/* The stacks, where they explain something: with timers or a forged reset. */
	if ((any_timers || d->middlebox.present) &&
	    (d->stack[FROM_CLIENT].family || d->stack[FROM_SERVER].family)) {
		bool first = true;

		for (unsigned s = FROM_CLIENT; s <= FROM_SERVER; s++) {
			if (!d->stack[s].family)
				continue;
			next_part(b, &first);
			stack_part(b, s, &d->stack[s]);
		}
		rbuf_putc(b, '.');
		if (!b->failed && b->len)
			b->data[0] = 'T'; /* "the client ..." opens the sentence */
		emit_buf(b, emit, ctx);
	}
}

static void compact_range(struct rbuf *b, const char *key, const struct setting_range *r)
{
	if (!r->known)
		return;
	if (b->len != 0)
		rbuf_putc(b, ';');
	rbuf_puts(b, key);
	rbuf_putc(b, '=');
	if (r->min != TIMER_NO_MIN)
		put_i64(b, r->min);
	if (r->min != r->max || r->min == TIMER_NO_MIN)
		RBUF_LIT(b, "..");
	if (r->max != TIMER_NO_MAX && r->max != r->min)
		put_i64(b, r->max);
}

static void compact_u64(struct rbuf *b, const char *key, uint64_t v)
{
	if (b->len != 0)
		rbuf_putc(b, ';');
	rbuf_puts(b, key);
	rbuf_putc(b, '=');
	rbuf_u64(b, v);
}

void diagnosis_timers_compact(const struct endpoint_timers *t, struct rbuf *b)
{
	if (!t->any)
		return;
	if (t->syn_seen) {
		compact_u64(b, t->synack ? "synack_retransmissions" : "syn_retransmissions",
		            t->syn_retransmissions);
		compact_range(b, t->synack ? "tcp_synack_retries" : "tcp_syn_retries",
		              &t->tcp_syn_retries);
	}
	if (t->rto_seen) {
		compact_u64(b, "rto_retransmissions", t->rto_retransmissions);
		compact_u64(b, "initial_rto_ms", t->initial_rto_ms);
		compact_range(b, "tcp_retries2", &t->tcp_retries2);
		compact_range(b, "user_timeout_ms", &t->user_timeout_ms);
	}
	compact_range(b, "tcp_keepalive_time", &t->keepalive_time_s);
	compact_range(b, "tcp_keepalive_intvl", &t->keepalive_intvl_s);
	compact_range(b, "tcp_keepalive_probes", &t->keepalive_probes);
	compact_range(b, "tcp_fin_timeout", &t->fin_timeout_s);
	if (t->tw_reuse)
		compact_u64(b, "tcp_tw_reuse", 1);
}
