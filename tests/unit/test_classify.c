/* test_classify.c - the classifier's precedence (analyzer/inference/classify.c, "first match
 * wins"), one row per step. Each row's conversation holds the evidence of its step AND of a later
 * step, so the row shows which one wins; a row whose step were moved below the other would fail.
 */
#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "tcp_script.h"

struct precedence_row {
	const char *step;        /* the step of classify.c's list that must decide */
	const char *also;        /* the later evidence the conversation also holds */
	void (*converse)(struct script *s);
	enum close_class want;
	enum closer_side closer;
	uint32_t modifiers;      /* modifiers that must be set */
};

/* 0 before 5: a reset forged in the server's name (TTL three hops short) after 10 unanswered
 * bytes: the server did not send it, so nothing about its application (unread data) follows;
 * classified by its shape (RST+ACK: abort). */
static void path_reset_over_unread(struct script *s)
{
	handshake(s);
	send(s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	s->ttl[FROM_SERVER] = 61;
	send(s, 1, FROM_SERVER, TCP_RST | TCP_ACK, 0);
}

/* 1 before 5: SYNs never answered, then the client's connect() gives up with a reset. */
static void syn_unanswered_then_client_rst(struct script *s)
{
	feed(s, 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(s, 1000, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(s, 2000, FROM_CLIENT, TCP_RST, 78, 0, 0);
}

/* 2 before 5: the SYN answered by RST+ACK (nothing listening), a retry refused again. */
static void refused_twice(struct script *s)
{
	feed(s, 0, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(s, 0, FROM_SERVER, TCP_RST | TCP_ACK, 0, 78, 0);
	feed(s, 1000, FROM_CLIENT, TCP_SYN, 77, 0, 0);
	feed(s, 0, FROM_SERVER, TCP_RST | TCP_ACK, 0, 78, 0);
}

/* 3 before 4 and 5: unanswered keepalive probes, then the prober's reset. */
static void keepalive_then_rst(struct script *s)
{
	uint32_t probe_seq;

	handshake(s);
	send(s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send(s, 1, FROM_SERVER, TCP_ACK, 0);
	probe_seq = s->nxt[FROM_CLIENT] - 1;
	for (int i = 0; i < 3; i++)
		feed(s, 1000, FROM_CLIENT, TCP_ACK, probe_seq, s->nxt[FROM_SERVER], 0);
	send(s, 1000, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
}

/* 4 before 5: data retransmitted unanswered, then the sender gives up with a reset. */
static void vanished_then_rst(struct script *s)
{
	handshake(s);
	exchange(s);
	unanswered_data(s, 100, 4);
	send(s, 3000, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
}

/* 5 (after close) before 5 (unread data): the server closed, the client's data reached the closed
 * socket and the server's kernel reset. The data is unread, but the server had closed first. */
static void after_close_over_unread(struct script *s)
{
	handshake(s);
	send(s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(s, 1, FROM_CLIENT, TCP_ACK, 0);
	send(s, 50, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	feed(s, 0, FROM_SERVER, TCP_RST, s->nxt[FROM_SERVER], 0, 0);
}

/* 5 (unread data) before 5 (abort): a request pending, the server resets it with its own
 * sequence number and ACK after 200 ms, without answering: close() with data unread
 * (RFC 2525 §2.17) rather than an abort with nothing unread. */
static void unread_data(struct script *s)
{
	handshake(s);
	send(s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 1448);
	send(s, 0, FROM_SERVER, TCP_ACK, 0);
	send(s, 200, FROM_SERVER, TCP_RST | TCP_ACK, 0);
}

/* 5 before 6: the client's FIN, the server's FIN, then the client resets instead of sending the
 * last ACK: the reset decides, not the FINs. */
static void rst_after_both_fins(struct script *s)
{
	handshake(s);
	exchange(s);
	send(s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send(s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send(s, 1, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
}

/* 6 before 7: both FINs crossed (neither acknowledges the other). */
static void crossed_fins(struct script *s)
{
	uint32_t cfin, sfin;

	handshake(s);
	exchange(s);
	cfin = s->nxt[FROM_CLIENT];
	sfin = s->nxt[FROM_SERVER];
	feed(s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, cfin, sfin, 0);
	feed(s, 0, FROM_SERVER, TCP_FIN | TCP_ACK, sfin, cfin, 0);
	feed(s, 0, FROM_CLIENT, TCP_ACK, cfin + 1, sfin + 1, 0);
	feed(s, 0, FROM_SERVER, TCP_ACK, sfin + 1, cfin + 1, 0);
	s->nxt[FROM_CLIENT] = cfin + 1;
	s->nxt[FROM_SERVER] = sfin + 1;
}

/* 7 before 8: one FIN, the other side still sending (it would otherwise be open). */
static void half_closed(struct script *s)
{
	handshake(s);
	send(s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	for (int i = 0; i < 3; i++)
		send(s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 1448);
}

/* 8: nothing ended it; data until the capture's end. */
static void open_conversation(struct script *s)
{
	handshake(s);
	exchange(s);
}

static const struct precedence_row rows[] = {
	{ "0 rst_from_middlebox", "5 rst_unread_data", path_reset_over_unread, CLOSE_RST_ABORT,
	  CLOSER_SERVER, MOD_RST_FROM_MIDDLEBOX },
	{ "1 syn_unanswered", "5 a client RST", syn_unanswered_then_client_rst, CLOSE_SYN_UNANSWERED,
	  CLOSER_NONE, 0 },
	{ "2 rst_refused", "5 the first RST", refused_twice, CLOSE_RST_REFUSED, CLOSER_SERVER, 0 },
	{ "3 keepalive_timeout", "5 the prober's RST", keepalive_then_rst, CLOSE_KEEPALIVE_TIMEOUT,
	  CLOSER_CLIENT, 0 },
	{ "4 peer_vanished", "5 the sender's RST", vanished_then_rst, CLOSE_PEER_VANISHED,
	  CLOSER_CLIENT, 0 },
	{ "5 rst_after_close", "5 rst_unread_data", after_close_over_unread, CLOSE_RST_AFTER_CLOSE,
	  CLOSER_SERVER, 0 },
	{ "5 rst_unread_data", "5 rst_abort", unread_data, CLOSE_RST_UNREAD_DATA, CLOSER_SERVER, 0 },
	{ "5 the first RST", "6 both FINs", rst_after_both_fins, CLOSE_RST_ABORT, CLOSER_CLIENT, 0 },
	{ "6 fin_simultaneous", "7 one FIN", crossed_fins, CLOSE_FIN_SIMULTANEOUS, CLOSER_BOTH, 0 },
	{ "7 half_closed_at_end", "8 open", half_closed, CLOSE_HALF_CLOSED_AT_END, CLOSER_CLIENT, 0 },
	{ "8 open_at_end", "nothing", open_conversation, CLOSE_OPEN_AT_END, CLOSER_NONE, 0 },
};

static void test_precedence(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct precedence_row *r = &rows[i];
		struct script s;
		struct flow_record rec;

		script_init(&s, 1, 2);
		r->converse(&s);
		classify(&s, &rec);
		if (rec.close_class != r->want || rec.closer != r->closer ||
		    (rec.modifiers & r->modifiers) != r->modifiers)
			fprintf(stderr, "\n  step %s over %s: got %s (%s): %s\n", r->step, r->also,
			        close_class_name(rec.close_class),
			        rec.closer == CLOSER_NONE ? "-" : closer_name(rec.closer), reason_text(&rec));
		CU_ASSERT_EQUAL(rec.close_class, r->want);
		CU_ASSERT_EQUAL(rec.closer, r->closer);
		CU_ASSERT_EQUAL(rec.modifiers & r->modifiers, r->modifiers);
		release_script(); /* `s` ends with this iteration */
	}
}

CUNIT_TESTS(precedence_tests,
	    { "one row per step of the precedence", test_precedence });

CUNIT_MAIN("test_classify",
           { "classifier precedence", script_suite_init, script_suite_clean, NULL, release_script, precedence_tests })
