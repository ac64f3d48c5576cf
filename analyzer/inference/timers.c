/* timers.c - what a flow's timing says about the settings of the stacks that sent it.
 *
 * The wire never carries a setting, only its effect: when a retransmission came, how many came
 * before a side fell silent, how long it waited before a keepalive probe. Each rule below is a
 * model of the Linux code that makes those decisions, checked against real captures
 * (samples/README.md), and each result is a range: every value of the setting that would have put
 * the same packets on the wire, allowing for timer slack (a Linux timer of a few seconds fires up
 * to 1/8 late, never early: the timer wheel's granularity) and for capture jitter. Settings are
 * named only for a side that looks like Linux (or is unix-like with no SYN to tell); for other
 * stacks the counts and intervals are reported alone.
 *
 *  SYN retries       tcp_write_timeout() gives up a connection attempt at the first
 *                    retransmission timer expiry at which the time since the first SYN is at
 *                    least tcp_model_timeout(tcp_syn_retries or TCP_SYNCNT, 1 s): (2^(r+1) - 1) s
 *                    for r <= 6, then 120 s more per retry. The timer starts at 1 s
 *                    (TCP_TIMEOUT_INIT) and on recent kernels stays there for
 *                    net.ipv4.tcp_syn_linear_timeouts (4) retransmissions before doubling: with
 *                    tcp_syn_retries 2 that is 5 retransmissions 1 s apart, then silence at 7 s.
 *                    A server's SYN+ACK is retried by count (inet_rtx_syn_ack, 1 s doubling):
 *                    giving up after N says tcp_synack_retries = N.
 *                    A single SYN retransmission before silence is not enough to tell the
 *                    kernel's budget from an application giving up on connect().
 *  RTO give-up       The same budget with a 200 ms base (TCP_RTO_MIN) and tcp_retries2, counted
 *                    from the first RTO retransmission (retrans_stamp); a tail-loss probe
 *                    (RFC 8985 §7, about one RTO after the data, same gap as the first RTO after
 *                    it) is not an RTO. N RTO retransmissions E1..EN and silence past E(N+1) mean
 *                    E(N) - E1 < budget(tcp_retries2) <= E(N+1) - E1. TCP_USER_TIMEOUT replaces
 *                    the budget with its own value and clamps the last timer to it, so it gives
 *                    up silently at E1 + timeout: the same retransmissions, any timeout in
 *                    (E(N) - E1, E(N+1) - E1]. The wire cannot tell the two apart; both are given.
 *                    (An application that closes during the backoff leaves an orphan, which
 *                    Linux retries tcp_orphan_retries times instead: the same model, another
 *                    setting; the wire does not show the close.)
 *  Keepalive         tcp_keepalive_timer(): the first probe after tcp_keepalive_time
 *                    (TCP_KEEPIDLE) without anything received, then one every
 *                    tcp_keepalive_intvl (TCP_KEEPINTVL); after tcp_keepalive_probes
 *                    (TCP_KEEPCNT) unanswered ones, a RST+ACK one interval later.
 *  FIN-WAIT-2        A closed (orphaned) socket whose FIN was acknowledged waits
 *                    tcp_fin_timeout (default 60 s) for the peer's FIN in a TIME-WAIT mini socket
 *                    (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)); a FIN after that meets no socket and
 *                    is answered by a bare RST: tcp_fin_timeout < the wait. A FIN acknowledged
 *                    after a wait of a second or more says tcp_fin_timeout > the wait, if the
 *                    application had closed (after shutdown(SHUT_WR) FIN-WAIT-2 never ends).
 *  TIME-WAIT reuse   A client that connects from its own TIME-WAIT 4-tuple within Linux's 60 s
 *                    (TCP_TIMEWAIT_LEN) can only do so with net.ipv4.tcp_tw_reuse (tcp_twsk_unique).
 *  Stack family      The initial TTL (the smallest of 32, 64, 128, 255 not below the TTL seen:
 *                    Linux, macOS and the BSDs start at 64, Windows at 128, Solaris and many
 *                    network devices at 255) and the SYN's option layout (flow.h enum syn_layout).
 */
#include "timers.h"

#include <math.h>
#include <string.h>

#define TCP_RTO_MAX_MS 120000     /* Linux TCP_RTO_MAX */
#define TCP_RTO_MIN_MS 200        /* Linux TCP_RTO_MIN */
#define TCP_TIMEOUT_INIT_MS 1000  /* Linux TCP_TIMEOUT_INIT: the first SYN timeout */
#define SYN_LINEAR_TIMEOUTS 4     /* net.ipv4.tcp_syn_linear_timeouts default */
#define RETRIES_MAX 40            /* highest retry setting considered */
#define TOLERANCE 0.03            /* capture jitter around a model's boundaries */
#define TIMER_SLACK 1.125         /* a Linux timer fires up to 1/8 late */
#define GAVE_UP_FACTOR 1.2        /* silence this many times the next gap: no more came */

static int ilog2_i64(int64_t v)
{
	int r = 0;

	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

int64_t timers_linux_budget_ms(int retries, int64_t base)
{
	int thresh;

	if (base < 1)
		base = 1;
	if (base > TCP_RTO_MAX_MS)
		base = TCP_RTO_MAX_MS;
	thresh = ilog2_i64(TCP_RTO_MAX_MS / base);
	if (retries <= thresh)
		return ((2LL << retries) - 1) * base;
	return ((2LL << thresh) - 1) * base + (int64_t)(retries - thresh) * TCP_RTO_MAX_MS;
}

/* The retry settings r >= r_min whose budget falls in (after_ms, until_ms] (until_ms < 0: no
 * upper bound: the capture ended before the side gave up). */
static struct setting_range retries_range(double after_ms, double until_ms, int64_t base,
                                          int r_min)
{
	struct setting_range out = { .known = false, .min = TIMER_NO_MIN, .max = TIMER_NO_MAX };

	for (int r = r_min; r <= RETRIES_MAX; r++) {
		double b = (double)timers_linux_budget_ms(r, base);

		if (b <= after_ms * (1 - TOLERANCE))
			continue;
		if (until_ms >= 0 && b > until_ms * (1 + TOLERANCE))
			break;
		if (!out.known)
			out.min = r;
		out.known = true;
		out.max = until_ms >= 0 ? r : TIMER_NO_MAX;
	}
	return out;
}

/* Whole seconds a timer was set to, from the time it took (`seconds`): it fired no earlier than
 * set and at most TIMER_SLACK late; 50 ms allow for where the capture saw its start. */
static struct setting_range seconds_setting(double seconds)
{
	struct setting_range out = { .known = true };

	out.min = (int64_t)ceil(seconds / TIMER_SLACK - 0.05);
	out.max = (int64_t)floor(seconds + 0.05);
	if (out.min > out.max)
		out.min = out.max;
	if (out.min < 0)
		out.min = 0;
	return out;
}

static bool near(double a, double b, double rel)
{
	return fabs(a - b) <= rel * (a > b ? a : b);
}

static bool names_linux_settings(const struct stack_guess *g)
{
	return g->family && (strcmp(g->family, "linux") == 0 || strcmp(g->family, "unix_like") == 0);
}

/* --- SYN and SYN+ACK retries ----------------------------------------------------------------- */

/* Linux's gap before SYN retransmission k (1-based) with first timeout `base` and `linear`
 * retransmissions at that timeout. */
static double syn_gap_ms(int k, double base, int linear)
{
	double g = base;

	for (int i = linear + 1; i < k && g < TCP_RTO_MAX_MS; i++)
		g *= 2;
	return g < TCP_RTO_MAX_MS ? g : TCP_RTO_MAX_MS;
}

static void infer_syn(const struct flow *f, const struct classify_context *ctx,
                      const struct stack_guess *g, struct endpoint_timers *t)
{
	const struct sched *s = &f->rare->sched;
	enum flow_direction d = (enum flow_direction)s->from;
	double g1, last_ms, next_ms, base;
	int linear = 0, equal = 1;
	bool fits = true, answered;

	if (s->n < 2)
		return;
	t->any = t->syn_seen = true;
	t->synack = d == FROM_SERVER;
	t->syn_retransmissions = (uint32_t)(s->total - 1);
	g1 = (s->off_us[1] - s->off_us[0]) / 1000.0;
	t->syn_initial_rto_ms = (uint32_t)(g1 + 0.5);
	for (unsigned k = 2; k < s->n && near((s->off_us[k] - s->off_us[k - 1]) / 1000.0, g1, 0.15);
	     k++)
		equal++;
	t->syn_linear = !t->synack && equal >= 2;
	if (t->syn_linear)
		linear = equal - 1 > SYN_LINEAR_TIMEOUTS ? equal - 1 : SYN_LINEAR_TIMEOUTS;
	/* Do the observed times follow the model? */
	for (unsigned k = 1; k < s->n; k++) {
		double want = 0;

		for (unsigned i = 1; i <= k; i++)
			want += syn_gap_ms((int)i, g1, linear);
		if (fabs(s->off_us[k] / 1000.0 - want) > 0.1 * want + 50)
			fits = false;
	}
	last_ms = (double)(s->last_ns - s->t0) / 1e6;
	next_ms = syn_gap_ms((int)s->total, g1, linear);
	answered = d == FROM_CLIENT ? f->synack_seen : f->handshake_acked;
	t->syn_gave_up = !answered &&
	                 (double)(ctx->capture_end_ns - s->last_ns) >= GAVE_UP_FACTOR * next_ms * 1e6;
	if (!fits || !names_linux_settings(g))
		return;
	if (t->synack) {
		/* Counted: N retransmissions then giving up means tcp_synack_retries = N. */
		t->tcp_syn_retries = (struct setting_range){ true, t->syn_retransmissions,
		                                             t->syn_gave_up ? t->syn_retransmissions
		                                                            : TIMER_NO_MAX };
		return;
	}
	base = near(g1, TCP_TIMEOUT_INIT_MS, 0.15) ? TCP_TIMEOUT_INIT_MS : g1;
	/* One retransmission and then silence: a recent kernel never stops there (its next SYN
	 * comes 1 s later, inside every budget), an older one stops there with tcp_syn_retries 1,
	 * and an application that gives up on connect() or a TCP_USER_TIMEOUT look the same. Only
	 * the lower bound the retransmission itself proves is kept. */
	if (t->syn_gave_up && t->syn_retransmissions < 2) {
		t->tcp_syn_retries = retries_range(last_ms, -1, (int64_t)base, 1);
		return;
	}
	t->tcp_syn_retries = retries_range(last_ms, t->syn_gave_up ? last_ms + next_ms : -1,
	                                   (int64_t)base, 1);
}

/* --- RTO retransmissions into silence -------------------------------------------------------- */

/* Gap b follows gap a in an exponential backoff: doubled, or both at the RTO ceiling. */
static bool doubles(double a, double b)
{
	if (a >= 0.8 * TCP_RTO_MAX_MS && near(a, b, 0.1))
		return true;
	return b >= 1.6 * a && b <= 2.5 * a;
}

static void infer_rto(const struct flow *f, const struct classify_context *ctx,
                      const struct stack_guess *g, struct endpoint_timers *t)
{
	const struct sched *s = &f->rare->sched;
	enum flow_direction d = (enum flow_direction)s->from;
	double gap[SCHED_MAX];
	unsigned m = s->n - 1, c;
	double e1, en, next;

	if (s->n < 2)
		return;
	for (unsigned i = 1; i < s->n; i++)
		gap[i] = (s->off_us[i] - s->off_us[i - 1]) / 1000.0;
	/* The backoff chain: the longest run of doubling gaps that ends with the last one. */
	for (c = m; c > 1 && doubles(gap[c - 1], gap[c]); c--)
		;
	t->any = t->rto_seen = true;
	t->rto_retransmissions = (uint32_t)(m - c + 1) + (uint32_t)(s->total - s->n);
	t->tail_loss_probe = c >= 2 && near(gap[c - 1], gap[c], 0.33);
	t->initial_rto_ms = (uint32_t)(gap[c] + 0.5);
	e1 = s->off_us[c] / 1000.0;
	en = (double)(s->last_ns - s->t0) / 1e6;
	next = 2 * gap[m];
	if (next > TCP_RTO_MAX_MS)
		next = TCP_RTO_MAX_MS;
	t->rto_gave_up = (double)(ctx->capture_end_ns - s->last_ns) >= GAVE_UP_FACTOR * next * 1e6 ||
	                 (f->rare->rst_frame[d] && f->rare->rst_frame[d] > f->silent.last.frame);
	if (!names_linux_settings(g) || t->initial_rto_ms < TCP_RTO_MIN_MS * 0.95)
		return;
	t->tcp_retries2 = retries_range(en - e1, t->rto_gave_up ? en + next - e1 : -1,
	                                TCP_RTO_MIN_MS, 0);
	t->user_timeout_ms.known = true;
	t->user_timeout_ms.min = (int64_t)floor((en - e1) * (1 - TOLERANCE));
	t->user_timeout_ms.max =
	    t->rto_gave_up ? (int64_t)ceil((en + next - e1) * (1 + TOLERANCE)) : TIMER_NO_MAX;
}

/* --- keepalive -------------------------------------------------------------------------------- */

static void infer_keepalive(const struct flow *f, enum flow_direction k,
                            const struct stack_guess *g, struct endpoint_timers *t)
{
	const struct flow_rare *r = f->rare;
	const struct silent_run *run = &f->silent;
	bool unanswered = run->from == k && run->probes > 0;

	if (!f->dir[k].probes || !r || !names_linux_settings(g))
		return;
	t->any = t->keepalive_seen = true;
	if (r->first_probe_idle_ms)
		t->keepalive_time_s = seconds_setting(r->first_probe_idle_ms / 1000.0);
	if (unanswered && run->probes >= 2)
		t->keepalive_intvl_s = seconds_setting((double)(r->last_probe.ts_ns - r->first_probe.ts_ns) /
		                                       1e9 / (run->probes - 1));
	if (unanswered) {
		/* Linux resets one interval after the last of tcp_keepalive_probes unanswered probes;
		 * without the reset the capture ended while it was still probing. */
		bool reset = r->rst_frame[k] > r->last_probe.frame;

		t->keepalive_probes = (struct setting_range){ true, run->probes,
		                                              reset ? run->probes : TIMER_NO_MAX };
	}
}

/* --- FIN-WAIT-2 ------------------------------------------------------------------------------- */

static void infer_fin_wait_2(const struct flow *f, enum flow_direction a,
                             const struct flow_record *rec, const struct stack_guess *g,
                             struct endpoint_timers *t)
{
	const struct flow_dir *me = &f->dir[a];
	const struct flow_dir *peer = &f->dir[!a];
	const struct flow_rare *r = f->rare;
	double wait;

	if (!me->fin.frame || !me->fin_ack.frame || !peer->fin.frame ||
	    peer->fin.frame < me->fin_ack.frame || !names_linux_settings(g))
		return;
	wait = (double)(peer->fin.ts_ns - me->fin_ack.ts_ns) / 1e9;
	if (r && r->first_rst_from == a && r->rst_answers.frame == peer->fin.frame) {
		/* Gone before the peer's FIN: it expired no earlier than set, so the setting is
		 * below the wait. Only where the classifier found a FIN-WAIT-2 timeout (classify.c:
		 * the wait was longer than the shortest FIN-WAIT-2 the stack keeps for the round
		 * trip between the two sides): a socket gone sooner says nothing of the setting. */
		if (!rec->close_detail || strcmp(rec->close_detail, "fin_wait_2_timeout") != 0)
			return;
		t->any = true;
		t->fin_timeout_s = (struct setting_range){ true, TIMER_NO_MIN,
		                                           (int64_t)ceil(wait) - 1 };
	} else if (peer->fin_ack.frame && wait >= 1.0) {
		/* Still there: it would have fired at most TIMER_SLACK late. */
		t->any = true;
		t->fin_timeout_s = (struct setting_range){ true,
		                                           (int64_t)floor(wait / TIMER_SLACK) + 1,
		                                           TIMER_NO_MAX };
	}
}

/* --- stack family ----------------------------------------------------------------------------- */

static void guess_stack(const struct flow_dir *dir, struct stack_guess *g)
{
	uint8_t ttl = dir->ttl;

	if (!(dir->bits & DIR_TTL_KNOWN))
		return;
	g->initial_ttl = ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
	g->hops = (uint8_t)(g->initial_ttl - ttl);
	switch (g->initial_ttl) {
	case 128:
		g->family = "windows";
		g->basis = dir->syn_layout == SYN_LAYOUT_WINDOWS
		               ? "initial TTL 128, Windows SYN option order mss,nop,wscale,nop,nop,sackOK"
		               : "initial TTL 128";
		return;
	case 64:
		switch ((enum syn_layout)dir->syn_layout) {
		case SYN_LAYOUT_LINUX:
			g->family = "linux";
			g->basis = "initial TTL 64, Linux SYN option order mss,sackOK,TS,nop,wscale";
			return;
		case SYN_LAYOUT_BSD:
			g->family = "macos_bsd";
			g->basis = "initial TTL 64, BSD SYN option order mss,nop,wscale,...,TS,sackOK";
			return;
		case SYN_LAYOUT_WINDOWS:
		case SYN_LAYOUT_OTHER:
			g->family = "unix_like";
			g->basis = "initial TTL 64; SYN options of no stack known here";
			return;
		case SYN_LAYOUT_UNKNOWN:
			g->family = "unix_like";
			g->basis = "initial TTL 64, as Linux, macOS and the BSDs; no SYN seen to tell which";
			return;
		}
		return;
	case 255:
		g->family = "other";
		g->basis = "initial TTL 255: Solaris, AIX or a network device";
		return;
	default:
		g->family = "other";
		g->basis = "initial TTL 32: an old or embedded stack";
		return;
	}
}

void timers_infer(const struct flow *f, const struct classify_context *ctx,
                  struct flow_record *rec)
{
	struct flow_diagnosis *dg = &rec->diagnosis;
	const struct time_wait_reuse_evidence *tw = &dg->time_wait_reuse;

	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++)
		guess_stack(&f->dir[d], &dg->stack[d]);
	if (f->rare && f->rare->sched.kind == SCHED_SYN)
		infer_syn(f, ctx, &dg->stack[f->rare->sched.from], &dg->timers[f->rare->sched.from]);
	if (f->rare && f->rare->sched.kind == SCHED_DATA)
		infer_rto(f, ctx, &dg->stack[f->rare->sched.from], &dg->timers[f->rare->sched.from]);
	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		infer_keepalive(f, (enum flow_direction)d, &dg->stack[d], &dg->timers[d]);
		infer_fin_wait_2(f, (enum flow_direction)d, rec, &dg->stack[d], &dg->timers[d]);
	}
	if (tw->present && tw->side == CLOSER_CLIENT && tw->accepted &&
	    tw->gap_ns < 60LL * 1000000000) {
		dg->timers[FROM_CLIENT].any = true;
		dg->timers[FROM_CLIENT].tw_reuse = true;
	}
}
