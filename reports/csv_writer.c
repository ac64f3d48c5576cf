/* csv_writer.c - `-f csv`: a header row, then one row per flow as it finishes.
 *
 * Columns are the flow object of DESIGN §4 flattened with '_'. Every value goes out through
 * libcsv's csv_fwrite(), which quotes the whole field and doubles embedded quotes: no quoting by
 * hand here. Separator ',', rows end in '\n'. A null value (no closer, no detail, no close time)
 * is an empty field with nothing in it, not even quotes, so it stays distinguishable from an empty
 * string ("") for readers that care (libcsv's CSV_EMPTY_IS_NULL, PostgreSQL's COPY ... CSV).
 * Lists are joined with ';': modifiers by name, evidence as frame:from:flags
 * ("12:client:FIN,ACK;13:server:ACK"). Untrusted strings (reason, capture name) are made valid
 * UTF-8 first, ill-formed parts becoming U+FFFD, as in the JSON output.
 *
 * Per flow: no allocation once the reusable buffer has grown; numbers are formatted on the stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "diagnosis_text.h"
#include "rbuf.h"
#include "writer_impl.h"

struct csv_writer {
	struct writer base;
	struct rbuf buf; /* one joined list or repaired string, reused */
	bool failed;     /* a write in the current row failed */
};

static const char *const columns[] = {
	"id", "capture", "client_ip", "client_port", "server_ip", "server_port", "roles_inferred",
	"first_ts", "last_ts", "packets_client", "packets_server", "bytes_client", "bytes_server",
	"handshake", "close_class", "close_detail", "close_closer", "close_reason", "close_ts",
	"close_evidence", "state_client", "state_server", "retransmissions_client",
	"retransmissions_server", "keepalive_probes", "modifiers",
	/* The diagnosis object, flattened; timers as "key=value;..." per side. */
	"diagnosis_middlebox_claimed", "diagnosis_middlebox_expected_ttl",
	"diagnosis_middlebox_seen_ttl", "diagnosis_middlebox_expected_ip_id",
	"diagnosis_middlebox_seen_ip_id", "diagnosis_idle_timeout_s", "diagnosis_idle_timeout_answer",
	"diagnosis_close_wait_side", "diagnosis_close_wait_s", "diagnosis_close_wait_still_open",
	"diagnosis_time_wait", "diagnosis_time_wait_reuse_held_by", "diagnosis_time_wait_reuse_s",
	"diagnosis_timers_client", "diagnosis_timers_server", "diagnosis_stack_client",
	"diagnosis_stack_server",
};

static void no_memory(struct csv_writer *cw)
{
	errno = ENOMEM;
	cw->failed = true;
}

/* Writes one field, preceded by the separator unless it opens the row. NULL writes an empty,
 * unquoted field. Failures are remembered in cw->failed and checked once per row. */
static void field(struct csv_writer *cw, bool first, const char *s, size_t n)
{
	FILE *out = cw->base.out;

	if (!first && putc(',', out) == EOF)
		cw->failed = true;
	if (s != NULL && csv_fwrite(out, s, n) != 0)
		cw->failed = true;
}

static void field_str(struct csv_writer *cw, const char *s)
{
	field(cw, false, s, s != NULL ? strlen(s) : 0);
}

static void field_u64(struct csv_writer *cw, uint64_t v)
{
	char tmp[20];
	char *p = u64_digits(v, tmp + sizeof tmp);

	field(cw, false, p, (size_t)(tmp + sizeof tmp - p));
}

static void field_ts(struct csv_writer *cw, int64_t ts_ns, bool nano)
{
	char tmp[32];

	field_str(cw, ts_format(ts_ns, nano, tmp, sizeof tmp));
}

static void field_ip(struct csv_writer *cw, const struct ip_addr *a)
{
	char tmp[48];

	field_str(cw, ip_addr_format(a, tmp, sizeof tmp));
}

/* An untrusted string, repaired to valid UTF-8 in the reusable buffer. */
static void field_text(struct csv_writer *cw, const char *s, size_t n)
{
	if (s == NULL) {
		field(cw, false, NULL, 0);
		return;
	}
	rbuf_clear(&cw->buf);
	rbuf_utf8(&cw->buf, s, n);
	if (cw->buf.failed)
		no_memory(cw);
	else
		field(cw, false, cw->buf.len != 0 ? cw->buf.data : "", cw->buf.len);
}

/* Ends the row; returns 0, or -1 when anything in the row failed (errno from stdio, or ENOMEM). */
static int end_row(struct csv_writer *cw)
{
	if (putc('\n', cw->base.out) == EOF)
		cw->failed = true;
	if (cw->failed) {
		cw->failed = false;
		return -1;
	}
	return 0;
}

static void field_null(struct csv_writer *cw)
{
	field(cw, false, NULL, 0);
}

/* The diagnosis columns: empty (null) fields for what was not found. */
static void diagnosis_fields(struct csv_writer *cw, const struct flow_diagnosis *d)
{
	const struct middlebox_evidence *m = &d->middlebox;
	struct rbuf *b = &cw->buf;

	if (m->present) {
		field_str(cw, direction_name((enum flow_direction)m->claimed));
		field_u64(cw, m->expected_ttl);
		field_u64(cw, m->seen_ttl);
		if (m->has_ip_id) {
			field_u64(cw, m->expected_ip_id);
			field_u64(cw, m->seen_ip_id);
		} else {
			field_null(cw);
			field_null(cw);
		}
	} else {
		for (int i = 0; i < 5; i++)
			field_null(cw);
	}
	if (d->idle_timeout.present) {
		field_ts(cw, d->idle_timeout.idle_ns, false);
		field_str(cw, d->idle_timeout.reset ? "reset" : "none");
	} else {
		field_null(cw);
		field_null(cw);
	}
	if (d->close_wait.present) {
		field_str(cw, direction_name((enum flow_direction)d->close_wait.side));
		field_ts(cw, d->close_wait.duration_ns, false);
		field_str(cw, d->close_wait.still_open ? "true" : "false");
	} else {
		for (int i = 0; i < 3; i++)
			field_null(cw);
	}
	field_str(cw, closer_name(d->time_wait));
	if (d->time_wait_reuse.present) {
		field_str(cw, closer_name(d->time_wait_reuse.side));
		field_ts(cw, d->time_wait_reuse.gap_ns, false);
	} else {
		field_null(cw);
		field_null(cw);
	}
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		if (!d->timers[s].any) {
			field_null(cw);
			continue;
		}
		rbuf_clear(b);
		diagnosis_timers_compact(&d->timers[s], b);
		if (b->failed)
			no_memory(cw);
		else
			field(cw, false, b->len != 0 ? b->data : "", b->len);
	}
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++)
		field_str(cw, d->stack[s].family);
}

static int csv_begin(struct writer *w)
{
	struct csv_writer *cw = (struct csv_writer *)w;

	for (unsigned i = 0; i < sizeof columns / sizeof columns[0]; i++)
		field(cw, i == 0, columns[i], strlen(columns[i]));
	return end_row(cw);
}

static int csv_flow(struct writer *w, const struct flow_record *f)
{
	char reason[FLOW_REASON_MAX];
	struct csv_writer *cw = (struct csv_writer *)w;
	unsigned n_evidence = f->n_evidence < FLOW_EVIDENCE_MAX ? f->n_evidence : FLOW_EVIDENCE_MAX;
	struct rbuf *b = &cw->buf;
	char tmp[20];
	char *p = u64_digits(f->id, tmp + sizeof tmp);

	field(cw, true, p, (size_t)(tmp + sizeof tmp - p));
	field_text(cw, f->capture, f->capture != NULL ? strlen(f->capture) : 0);
	field_ip(cw, &f->client.addr);
	field_u64(cw, f->client.port);
	field_ip(cw, &f->server.addr);
	field_u64(cw, f->server.port);
	field_str(cw, f->roles_inferred ? "true" : "false");
	field_ts(cw, f->first_ts_ns, f->ts_nano);
	field_ts(cw, f->last_ts_ns, f->ts_nano);
	field_u64(cw, f->packets[FROM_CLIENT]);
	field_u64(cw, f->packets[FROM_SERVER]);
	field_u64(cw, f->bytes[FROM_CLIENT]);
	field_u64(cw, f->bytes[FROM_SERVER]);
	field_str(cw, handshake_name(f->handshake));
	field_str(cw, close_class_name(f->close_class));
	field_str(cw, f->close_detail);
	field_str(cw, closer_name(f->closer));
	field_text(cw, reason, flow_reason_format(&f->reason, reason, sizeof reason));
	if (f->has_close_ts)
		field_ts(cw, f->close_ts_ns, f->ts_nano);
	else
		field(cw, false, NULL, 0);

	rbuf_clear(b);
	for (unsigned i = 0; i < n_evidence; i++) {
		const struct evidence_frame *e = &f->evidence[i];
		char flags[32];

		if (i != 0)
			rbuf_putc(b, ';');
		rbuf_u64(b, e->frame);
		rbuf_putc(b, ':');
		rbuf_puts(b, direction_name((enum flow_direction)e->from));
		rbuf_putc(b, ':');
		rbuf_puts(b, tcp_flags_format(e->flags, flags, sizeof flags));
	}
	if (b->failed)
		no_memory(cw);
	else
		field(cw, false, b->len != 0 ? b->data : "", b->len);

	field_str(cw, tcp_state_name(f->state[FROM_CLIENT]));
	field_str(cw, tcp_state_name(f->state[FROM_SERVER]));
	field_u64(cw, f->retransmissions[FROM_CLIENT]);
	field_u64(cw, f->retransmissions[FROM_SERVER]);
	field_u64(cw, f->keepalive_probes);

	rbuf_clear(b);
	for (unsigned bit = 0; bit < MOD_COUNT_BITS; bit++) {
		const char *name = (f->modifiers & (1u << bit)) ? flow_modifier_name(1u << bit) : NULL;

		if (name == NULL)
			continue;
		if (b->len != 0)
			rbuf_putc(b, ';');
		rbuf_puts(b, name);
	}
	if (b->failed)
		no_memory(cw);
	else
		field(cw, false, b->len != 0 ? b->data : "", b->len);
	diagnosis_fields(cw, &f->diagnosis);
	return end_row(cw);
}

static int csv_end(struct writer *w, const struct run_summary *summary)
{
	(void)summary; /* CSV has rows only: the summary belongs to the other formats */
	return fflush(w->out) == 0 ? 0 : -1;
}

static void csv_destroy(struct writer *w)
{
	struct csv_writer *cw = (struct csv_writer *)w;

	rbuf_free(&cw->buf);
	free(cw);
}

static const struct writer_ops csv_ops = {
	.begin = csv_begin,
	.flow = csv_flow,
	.end = csv_end,
	.destroy = csv_destroy,
};

struct writer *report_csv_create(FILE *out, const struct writer_options *opt)
{
	(void)opt; /* nothing to present differently */
	struct csv_writer *cw = calloc(1, sizeof *cw);

	if (cw == NULL)
		return NULL;
	cw->base.ops = &csv_ops;
	cw->base.out = out;
	return &cw->base;
}
