/* timers.h - the settings of the stacks that sent a flow (retransmission, keepalive and
 * FIN-WAIT-2 timers) and their likely family, inferred from the flow's timing and headers. */
#ifndef TM_TIMERS_H
#define TM_TIMERS_H

#include "classify.h"
#include "flow.h"

/* Fills rec->diagnosis.timers[] and rec->diagnosis.stack[] from f (rec->diagnosis.time_wait_reuse
 * must already be set). Pure: reads the flow, writes those parts of the record. */
void timers_infer(const struct flow *f, const struct classify_context *ctx,
                  struct flow_record *rec);

/* Linux's retransmission budget for `retries` (tcp_model_timeout in net/ipv4/tcp_timer.c): the
 * time after which the connection gives up, as if every retransmission timer had started at
 * `rto_base_ms` and doubled up to TCP_RTO_MAX (120 s). Milliseconds. */
int64_t timers_linux_budget_ms(int retries, int64_t rto_base_ms);

#endif
