/* test_live_flow.c - the compact live flow (analyzer/flow/live_flow.h): snapshot times that stay
 * exact however far from the flow's first timestamp, retransmission schedules decoded as they
 * were tracked. Driven by scripted conversations (tcp_script.h).
 */
#include <CUnit/CUnit.h>

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

CUNIT_TESTS(live_flow_tests,
	    { "snapshot times stay exact", test_snapshot_times_exact },
	    { "retransmission schedules", test_schedules_decoded });

CUNIT_MAIN("test_live_flow",
           { "live flow", script_suite_init, script_suite_clean, NULL, release_script, live_flow_tests })
