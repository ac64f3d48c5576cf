/* test_live_flow.c - the compact live flow (analyzer/flow/live_flow.h): snapshot times that stay
 * exact however far from the flow's first timestamp, retransmission schedules decoded as they
 * were tracked. Driven by scripted conversations (tcp_script.h).
 */
#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "tcp_script.h"

/* Sends the next segment of side d at absolute time `ts`. */
static void send_at(struct script *s, int64_t ts, enum flow_direction d, uint8_t flags,
                    uint32_t len)
{
	s->now = ts;
	send(s, 0, d, flags, len);
}

#define DAY (86400LL * 1000000000LL)

/* A live snapshot keeps its time in 38 bits from the flow's first timestamp: nanoseconds up to
 * 4.6 minutes, whole microseconds up to 3 days, the exact time in the far block beyond (or
 * before the first timestamp, when timestamps go backwards). Decoded, every time is exact. */
static void test_snapshot_times_exact(void)
{
	struct script s;
	struct flow view;
	struct flow_rare view_rare;
	struct flow_record rec;
	const int64_t t_syn = T0 + 5, t_synack = T0 + 5 + 100 * MS, t_sdata = T0 + 5 + 200000 * MS;
	const int64_t t_cdata = T0 + 5 + DAY + 1000, t_back = T0 + 1;
	const int64_t t_cfar = T0 + 4 * DAY + 7, t_sfar = T0 + 5 * DAY + 3;
	const int64_t t_fin = T0 + 10 * DAY + 7, t_fin2 = t_fin + 1, t_last = t_fin + 3;

	script_init(&s, 100, 200);
	send_at(&s, t_syn, FROM_CLIENT, TCP_SYN, 0);
	send_at(&s, t_synack, FROM_SERVER, TCP_SYN | TCP_ACK, 0);
	send_at(&s, T0 + 5 + 101 * MS, FROM_CLIENT, TCP_ACK, 0);
	send_at(&s, t_sdata, FROM_SERVER, TCP_PSH | TCP_ACK, 20);  /* nanoseconds */
	send_at(&s, t_cdata, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);  /* microseconds */
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_EQUAL(view.first_ts_ns, t_syn);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.ts_ns, t_sdata);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last_payload.ts_ns, t_cdata);
	CU_ASSERT_EQUAL(view.silent.first.ts_ns, t_cdata);
	/* Backwards: every time kept so far is re-expressed from the new first timestamp (the
	 * client's data no longer fits whole microseconds: it goes to the far block). */
	send_at(&s, t_back, FROM_SERVER, TCP_ACK, 0);
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_EQUAL(view.first_ts_ns, t_back);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last.ts_ns, t_back);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.ts_ns, t_sdata);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last.ts_ns, t_cdata);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last_payload.ts_ns, t_cdata);
	/* Far from the start, to the nanosecond. */
	send_at(&s, t_cfar, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send_at(&s, t_sfar, FROM_SERVER, TCP_PSH | TCP_ACK, 20);
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last_payload.ts_ns, t_cfar);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.ts_ns, t_sfar);
	CU_ASSERT_EQUAL(view.silent.first.ts_ns, t_sfar);
	send_at(&s, t_fin, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
	send_at(&s, t_fin2, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
	send_at(&s, t_last, FROM_CLIENT, TCP_ACK, 0);
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].fin.ts_ns, t_fin);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].fin_ack.ts_ns, t_fin2);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].fin.ts_ns, t_fin2);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].fin_ack.ts_ns, t_last);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last.ts_ns, t_last);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.ts_ns, t_sfar);
	CU_ASSERT_EQUAL(view.last_ts_ns, t_last);
	classify(&s, &rec);
	CU_ASSERT_EQUAL(rec.close_class, CLOSE_FIN_GRACEFUL);
	CU_ASSERT_EQUAL(rec.close_ts_ns, t_fin);
	CU_ASSERT_EQUAL(rec.first_ts_ns, t_back);
	for (unsigned i = 0; i < rec.n_evidence; i++)
		CU_ASSERT(rec.evidence[i].ts_ns == t_fin || rec.evidence[i].ts_ns == t_fin2 ||
		          rec.evidence[i].ts_ns == t_last);

	/* The evidence block's snapshots, copied from a far one included. */
	script_init(&s, 100, 200);
	send_at(&s, T0 + 9, FROM_CLIENT, TCP_SYN, 0);
	send_at(&s, T0 + 10, FROM_SERVER, TCP_SYN | TCP_ACK, 0);
	send_at(&s, T0 + 11, FROM_CLIENT, TCP_ACK, 0);
	send_at(&s, T0 + DAY / 2 + 3, FROM_CLIENT, TCP_PSH | TCP_ACK, 10);
	send_at(&s, T0 + DAY / 2 + 50, FROM_SERVER, TCP_RST | TCP_ACK, 0);
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view.rare);
	CU_ASSERT_EQUAL(view.rare->rst_answers.ts_ns, T0 + DAY / 2 + 3);
	CU_ASSERT_EQUAL(view.rare->first_rst.ts_ns, T0 + DAY / 2 + 50);
	CU_ASSERT_EQUAL(view.rare->rst_answers.frame, 4);
	CU_ASSERT_EQUAL(view.rare->first_rst.frame, 5);
	CU_ASSERT_EQUAL(view.dir[FROM_CLIENT].last_payload.len, 10);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last.flags, TCP_RST | TCP_ACK);
	/* A snapshot never taken is all zero, its time too. */
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.frame, 0);
	CU_ASSERT_EQUAL(view.dir[FROM_SERVER].last_payload.ts_ns, 0);
	CU_ASSERT_EQUAL(view.rare->first_probe.ts_ns, 0);
}

/* Retransmission schedules, kept in blocks of SCHED_INLINE entries moved to a big one past them
 * (a data schedule takes its first and last times from its run): decoded, each entry is the
 * time since the first in microseconds, up to SCHED_MAX of them; the total goes on counting. */
static void test_schedules_decoded(void)
{
	struct script s;
	struct flow view;
	struct flow_rare view_rare;
	int64_t at[SCHED_MAX] = { 0 }, t0 = 0;
	uint32_t seq;

	/* SYN retries: 1 s, then doubling, 30 SYNs in all. */
	script_init(&s, 77, 0);
	for (int i = 0; i < 30; i++) {
		feed(&s, i == 0 ? 0 : i < 5 ? 1000 : 1000LL << (i - 4 > 6 ? 6 : i - 4), FROM_CLIENT,
		     TCP_SYN, 77, 0, 0);
		s.now += 7; /* not whole microseconds */
		if (i < SCHED_MAX)
			at[i] = s.now - 7;
		if (i == 0)
			t0 = s.now - 7;
	}
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view.rare);
	CU_ASSERT_EQUAL(view.rare->sched.kind, SCHED_SYN);
	CU_ASSERT_EQUAL(view.rare->sched.n, SCHED_MAX);
	CU_ASSERT_EQUAL(view.rare->sched.total, 30);
	CU_ASSERT_EQUAL(view.rare->sched.t0, t0);
	CU_ASSERT_EQUAL(view.rare->sched.last_ns, s.now - 7);
	for (int k = 0; k < SCHED_MAX; k++)
		CU_ASSERT_EQUAL(view.rare->sched.off_us[k], (uint32_t)((at[k] - t0) / 1000));

	/* Data into silence: the first segment, then 11 retransmissions 200 ms doubling. */
	script_init(&s, 1, 2);
	handshake(&s);
	seq = s.nxt[FROM_CLIENT];
	send(&s, 5, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
	t0 = s.now;
	at[0] = t0;
	for (int i = 1; i <= 11; i++) {
		feed(&s, 200LL << (i - 1), FROM_CLIENT, TCP_PSH | TCP_ACK, seq, s.nxt[FROM_SERVER], 100);
		at[i] = s.now;
		if (i == SCHED_INLINE) { /* still a small block, then past it */
			flow_decode(&store, s.flow, &view, &view_rare);
			CU_ASSERT_EQUAL(view.rare->sched.n, SCHED_INLINE + 1);
			CU_ASSERT_EQUAL(view.rare->sched.last_ns, s.now);
		}
	}
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view.rare);
	CU_ASSERT_EQUAL(view.rare->sched.kind, SCHED_DATA);
	CU_ASSERT_EQUAL(view.rare->sched.from, FROM_CLIENT);
	CU_ASSERT_EQUAL(view.rare->sched.n, 12);
	CU_ASSERT_EQUAL(view.rare->sched.total, 12);
	CU_ASSERT_EQUAL(view.rare->sched.t0, t0);
	CU_ASSERT_EQUAL(view.rare->sched.last_ns, at[11]);
	for (int k = 0; k < 12; k++)
		CU_ASSERT_EQUAL(view.rare->sched.off_us[k], (uint32_t)((at[k] - t0) / 1000));
	/* The server answers: the run and its schedule are over. */
	send(&s, 1, FROM_SERVER, TCP_ACK, 0);
	flow_decode(&store, s.flow, &view, &view_rare);
	CU_ASSERT_EQUAL(view.rare->sched.kind, SCHED_NONE);
	CU_ASSERT_EQUAL(view.rare->sched.n, 0);
	CU_ASSERT_EQUAL(view.rare->sched.t0, 0);
}

/* --- waiting flows (live_flow.h: "A waiting flow") ------------------------------------------ */

/* What of a flow must come back from its frozen form: every byte of it and of its FIN block, but
 * its own handles (self, fin), which a thawed flow gets anew. */
struct flow_bytes {
	struct live_flow flow;
	struct live_fin fin;
	uint32_t has_fin;
};

static void bytes_of(const struct live_flow *f, const struct live_fin *fb, struct flow_bytes *b)
{
	memset(b, 0, sizeof *b);
	memcpy(&b->flow, f, sizeof *f);
	b->flow.self = b->flow.fin = 0;
	if (fb) {
		memcpy(&b->fin, fb, sizeof *fb);
		b->has_fin = 1;
	}
}

/* Decodes `f` into *view and *rare, zeroed first (padding included), and the view's pointer to
 * its evidence block cleared (told by has_rare), so that two views compare as bytes. */
static void decode_bytes(const struct live_flow *f, struct flow *view, struct flow_rare *rare,
                         bool *has_rare)
{
	memset(view, 0, sizeof *view);
	memset(rare, 0, sizeof *rare);
	flow_decode(&store, f, view, rare);
	*has_rare = view->rare != NULL;
	view->rare = NULL;
}

/* Waiting flows decoded from a copy of their item (detached_decodes_as_stored). */
static unsigned detached;

/* When waiting flow `z` is detachable (live_detachable: no block outside its item), a copy of its
 * item, the store's pools out of reach, decodes as the store does (`view`, `rare`, has_rare): what
 * the engine's merging thread does with the flows one worker finished. */
static void detached_decodes_as_stored(const struct live_flow *z, const struct flow *view,
                                       const struct flow_rare *rare, bool has_rare)
{
	static struct flow copy_view;
	static struct flow_rare copy_rare;
	size_t bytes = LIVE_FROZEN_BYTES(z->self);
	uint64_t *item;

	if (!live_detachable(z)) {
		/* Refused: nothing decoded from a copy of it. */
		item = malloc((bytes + 7) / 8 * 8);
		CU_ASSERT_PTR_NOT_NULL_FATAL(item);
		memcpy(item, z, bytes);
		CU_ASSERT_FALSE(flow_decode_detached(&store, item, NULL, &copy_view, &copy_rare));
		free(item);
		return;
	}
	item = malloc((bytes + 7) / 8 * 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(item);
	memcpy(item, z, bytes);
	memset(&copy_view, 0, sizeof copy_view);
	memset(&copy_rare, 0, sizeof copy_rare);
	CU_ASSERT_TRUE(flow_decode_detached(&store, item,
	                                    z->capture < store.n_captures ? store.captures[z->capture]
	                                                                  : NULL,
	                                    &copy_view, &copy_rare));
	free(item);
	CU_ASSERT_EQUAL(copy_view.rare != NULL, has_rare);
	copy_view.rare = NULL;
	CU_ASSERT_EQUAL(memcmp((const void *)view, (const void *)&copy_view, sizeof copy_view), 0);
	CU_ASSERT_EQUAL(memcmp((const void *)rare, (const void *)&copy_rare, sizeof copy_rare), 0);
	detached++;
}

/* Freezes the script's flow and checks that its frozen form takes `want` bytes (0: any) and
 * decodes to what the flow did, from the store and (when it is detachable) from a copy; then
 * thaws it and checks that every byte came back, those of its FIN block included. The script goes
 * on with the thawed flow. */
static void freeze_thaw(struct script *s, unsigned want)
{
	static struct flow view[2];
	static struct flow_rare rare[2];
	struct flow_bytes before, after;
	bool has_rare[2];
	struct live_flow *z, *f;

	bytes_of(s->flow, live_fin_of(&store, s->flow), &before);
	decode_bytes(s->flow, &view[0], &rare[0], &has_rare[0]);
	z = flow_store_freeze(&store, s->flow);
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	s->flow = NULL; /* freed: z holds it */
	CU_ASSERT_TRUE(live_is_frozen(z));
	CU_ASSERT_EQUAL(z->fin, 0);
	if (want)
		CU_ASSERT_EQUAL(LIVE_FROZEN_BYTES(z->self), want);
	/* What the engine reads of a waiting flow: its head, and its decoded view. */
	CU_ASSERT_EQUAL(memcmp(z, &before.flow, offsetof(struct live_flow, self)), 0);
	CU_ASSERT_EQUAL(z->last_ts_ns, before.flow.last_ts_ns);
	CU_ASSERT_EQUAL(z->first_frame, before.flow.first_frame);
	decode_bytes(z, &view[1], &rare[1], &has_rare[1]);
	CU_ASSERT_EQUAL(has_rare[0], has_rare[1]);
	CU_ASSERT_EQUAL(memcmp((const void *)&view[0], (const void *)&view[1], sizeof view[0]), 0);
	CU_ASSERT_EQUAL(memcmp((const void *)&rare[0], (const void *)&rare[1], sizeof rare[0]), 0);
	detached_decodes_as_stored(z, &view[1], &rare[1], has_rare[1]);

	f = flow_store_thaw(&store, z);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	flow_store_free_frozen(&store, z);
	s->flow = f;
	CU_ASSERT_FALSE(live_is_frozen(f));
	CU_ASSERT_EQUAL(f->fin != 0, before.has_fin != 0);
	bytes_of(f, live_fin_of(&store, f), &after);
	CU_ASSERT_EQUAL(memcmp((const void *)&before, (const void *)&after, sizeof before), 0);
}

/* A waiting flow keeps only what is not zero nor a copy of another of its snapshots, and gives
 * every byte back: a graceful close (the short connections' ending: the short form, 248 bytes,
 * 296 with Zeek's view; closed by either side first; in a nanosecond capture too), a graceful
 * close the short form cannot hold (a time past 2^38 ns, a retransmission, a final ACK that is
 * not the last segment: the general form, 312 and 360 bytes, more with the retransmission), a
 * reset with nothing of a FIN, and a connection that has every part (data after the peer's FIN,
 * a retransmission, a run into silence, a reset). */
static void test_waiting_flows_thaw_exactly(void)
{
	struct script s;
	struct flow_record rec;

	for (int zeek = 0; zeek < 2; zeek++) {
		store.skip_zeek = !zeek;
		/* The server closes first, the client's FIN acknowledges it, the server's ACK ends it. */
		script_init(&s, 1000, 5000);
		handshake(&s);
		exchange(&s);
		server_closes_first(&s, 1, 1);
		CU_ASSERT_TRUE(flow_is_finished(s.flow));
		freeze_thaw(&s, zeek ? 296 : 248);
		classify(&s, &rec);
		CU_ASSERT_EQUAL(rec.close_class, CLOSE_FIN_GRACEFUL);

		/* The client closes first, its FIN with the last of its data; ISNs about to wrap. */
		script_init(&s, 0xfffffff0u, 0xffffff00u);
		handshake(&s);
		exchange(&s);
		send(&s, 3, FROM_CLIENT, TCP_FIN | TCP_PSH | TCP_ACK, 300);
		send(&s, 2, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
		send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
		CU_ASSERT_TRUE(flow_is_finished(s.flow));
		freeze_thaw(&s, zeek ? 296 : 248);

		/* A nanosecond capture. */
		script_init(&s, 1000, 5000);
		handshake(&s);
		s.flow->mark |= LIVE_TS_NANO;
		s.now += 777;
		exchange(&s);
		s.now += 3;
		server_closes_first(&s, 4000, 1);
		freeze_thaw(&s, zeek ? 296 : 248);

		/* The general form: times past the short form's (a FIN after 5 minutes: whole
		 * microseconds past 2^38 ns), ... */
		script_init(&s, 1000, 5000);
		handshake(&s);
		exchange(&s);
		server_closes_first(&s, 5LL * 60 * 1000, 1);
		CU_ASSERT_TRUE(flow_is_finished(s.flow));
		freeze_thaw(&s, zeek ? 360 : 312);
		/* ... a retransmission (the request sent twice), ... */
		script_init(&s, 1000, 5000);
		handshake(&s);
		send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 100);
		feed(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, s.nxt[FROM_CLIENT] - 100,
		     s.nxt[FROM_SERVER], 100);
		send(&s, 1, FROM_SERVER, TCP_PSH | TCP_ACK, 400);
		send(&s, 1, FROM_CLIENT, TCP_ACK, 0);
		server_closes_first(&s, 1, 1);
		CU_ASSERT_NOT_EQUAL(s.flow->dir[FROM_CLIENT].retransmissions, 0);
		freeze_thaw(&s, zeek ? 392 : 344);
		/* ... a final ACK with the client's FIN's time (it is not the last segment seen). */
		script_init(&s, 1000, 5000);
		handshake(&s);
		exchange(&s);
		send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
		send(&s, 1, FROM_CLIENT, TCP_FIN | TCP_ACK, 0);
		s.flow->last_ts_ns += 1000;
		send(&s, 0, FROM_SERVER, TCP_ACK, 0);
		freeze_thaw(&s, zeek ? 360 : 312);

		/* A reset of unread data: a rare block, no FIN block. */
		script_init(&s, 1000, 5000);
		handshake(&s);
		send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 64);
		send(&s, 1, FROM_SERVER, TCP_RST | TCP_ACK, 0);
		CU_ASSERT_PTR_NULL(live_fin_of(&store, s.flow));
		freeze_thaw(&s, zeek ? 360 : 328);

		/* Every part: the server's FIN, then the client's data, retransmitted into the
		 * silence, then its reset. */
		script_init(&s, 1000, 5000);
		handshake(&s);
		exchange(&s);
		send(&s, 1, FROM_SERVER, TCP_FIN | TCP_ACK, 0);
		send(&s, 1, FROM_CLIENT, TCP_PSH | TCP_ACK, 50);
		feed(&s, 200, FROM_CLIENT, TCP_PSH | TCP_ACK, s.nxt[FROM_CLIENT] - 50,
		     s.nxt[FROM_SERVER], 50);
		send(&s, 1, FROM_CLIENT, TCP_RST | TCP_ACK, 0);
		CU_ASSERT_NOT_EQUAL(s.flow->silent.segs, 0);
		CU_ASSERT_NOT_EQUAL(s.flow->dir[FROM_CLIENT].retransmissions, 0);
		CU_ASSERT_NOT_EQUAL(live_fin_of(&store, s.flow)->payload_after_peer_fin[FROM_CLIENT], 0);
		freeze_thaw(&s, 0);
		/* A late segment on the thawed flow, then frozen again. */
		send(&s, 3, FROM_SERVER, TCP_RST, 0);
		freeze_thaw(&s, 0);
	}
	store.skip_zeek = false;
	/* The graceful closes, short form and general, each with and without Zeek's view, are
	 * detachable (the resets have a rare block, the retransmission a schedule). */
	CU_ASSERT(detached >= 10);
}

CUNIT_TESTS(live_flow_tests,
	    { "snapshot times stay exact", test_snapshot_times_exact },
	    { "retransmission schedules", test_schedules_decoded },
	    { "waiting flows thaw exactly", test_waiting_flows_thaw_exactly });

CUNIT_MAIN("test_live_flow",
           { "live flow", script_suite_init, script_suite_clean, NULL, release_script, live_flow_tests })
