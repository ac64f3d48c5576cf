/* zeek_writer.c - `-f zeek`: a conn.log in Zeek's ASCII (TSV) log format, and `-f zeek-json`:
 * Zeek's JSON log lines. One row per flow, as it finishes.
 *
 * The columns are Zeek's conn.log columns (base/protocols/conn/main.zeek, Conn::Info) in Zeek's
 * order, then tcpmortem's close class, closer, detail and reason as four extra columns
 * (tcpmortem.class ...), which zeek-cut and Zeek's log readers take as any other column. Zeek's
 * conventions: a header of #separator, #set_separator, #empty_field, #unset_field, #path, #open,
 * #fields and #types lines; "-" for an unset field; a #close line at the end; times as epoch
 * seconds with 6 decimals; separators and unprintable bytes in strings as \xHH. An unset field
 * is left out of a JSON line, as Zeek does. What tcpmortem does not know is unset: service (no
 * protocol detection), local_orig and local_resp (no Site::local_nets), tunnel_parents.
 * #open and #close carry the capture's first and last packet times (not the wall clock): the
 * same capture gives the same log.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rbuf.h"
#include "writer_impl.h"

struct zeek_writer {
	struct writer base;
	bool json;
	bool header_done;
	int64_t open_ts_ns;
	struct rbuf row;
};

static const char *const fields[] = {
	"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
	"duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
	"missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
	"tunnel_parents", "ip_proto", "tcpmortem.class", "tcpmortem.closer", "tcpmortem.detail",
	"tcpmortem.reason",
};
static const char *const types[] = {
	"time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
	"count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count",
	"set[string]", "count", "string", "string", "string", "string",
};
_Static_assert(sizeof fields == sizeof types, "a conn.log column has no type");

#define FIELD_COUNT (sizeof fields / sizeof fields[0])

/* Zeek's #open/#close time format, from a capture time (UTC). */
static void put_log_time(struct rbuf *b, int64_t ts_ns)
{
	time_t t = (time_t)(ts_ns / 1000000000);
	struct tm tm;
	char buf[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%d-%H-%M-%S", &tm) == 0)
		rbuf_puts(b, "1970-01-01-00-00-00");
	else
		rbuf_puts(b, buf);
}

/* Seconds with 6 decimals, as Zeek writes a time or an interval (truncated to the
 * microsecond). */
static const char *seconds_text(int64_t ns, char *buf, size_t size)
{
	int64_t us = ns / 1000;

	snprintf(buf, size, "%s%lld.%06lld", us < 0 ? "-" : "", (long long)llabs(us / 1000000),
	         (long long)llabs(us % 1000000));
	return buf;
}

/* A string field of the TSV log: tab, backslash and control bytes escaped as \xHH (UTF-8 text
 * stays as it is, as Zeek writes it); a value equal to the unset marker escaped too, so that it
 * reads back as itself. */
static void put_tsv_string(struct rbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*s == '\0') {
		rbuf_puts(b, "(empty)");
		return;
	}
	if (strcmp(s, "-") == 0) {
		rbuf_puts(b, "\\x2d");
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\t' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
			rbuf_puts(b, "\\x");
			rbuf_putc(b, hex[*p >> 4]);
			rbuf_putc(b, hex[*p & 15]);
		} else {
			rbuf_putc(b, (char)*p);
		}
	}
}

/* A JSON string: quotes, backslash and control bytes escaped; UTF-8 text as it is (the strings
 * are tcpmortem's own: names and the reason's text, never bytes from the capture). */
static void put_json_string(struct rbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	rbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			rbuf_putc(b, '\\');
			rbuf_putc(b, (char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			rbuf_puts(b, "\\u00");
			rbuf_putc(b, hex[*p >> 4]);
			rbuf_putc(b, hex[*p & 15]);
		} else {
			rbuf_putc(b, (char)*p);
		}
	}
	rbuf_putc(b, '"');
}

static int flush_row(struct zeek_writer *zw)
{
	struct rbuf *b = &zw->row;
	int rc = 0;

	if (b->failed)
		rc = -1;
	else if (b->len != 0 && fwrite(b->data, 1, b->len, zw->base.out) != b->len)
		rc = -1;
	b->len = 0;
	return rc;
}

static void header(struct zeek_writer *zw, int64_t open_ts_ns)
{
	struct rbuf *b = &zw->row;

	zw->header_done = true;
	zw->open_ts_ns = open_ts_ns;
	if (zw->json)
		return;
	rbuf_puts(b, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
	             "#unset_field\t-\n#path\tconn\n#open\t");
	put_log_time(b, open_ts_ns);
	rbuf_puts(b, "\n#fields");
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		rbuf_putc(b, '\t');
		rbuf_puts(b, fields[i]);
	}
	rbuf_puts(b, "\n#types");
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		rbuf_putc(b, '\t');
		rbuf_puts(b, types[i]);
	}
	rbuf_putc(b, '\n');
}

static int zeek_begin(struct writer *w)
{
	(void)w; /* the header waits for the first flow's time (or the summary's) */
	return 0;
}

/* One field: `value` NULL is unset. `kind` says how JSON writes it: 's' string, 'n' number
 * (written as is), 'v' number computed into `value` too. */
static void field(struct zeek_writer *zw, size_t i, const char *value, char kind, bool *first)
{
	struct rbuf *b = &zw->row;

	if (!zw->json) {
		if (i != 0)
			rbuf_putc(b, '\t');
		if (value == NULL)
			rbuf_putc(b, '-');
		else if (kind == 's')
			put_tsv_string(b, value);
		else
			rbuf_puts(b, value);
		return;
	}
	if (value == NULL)
		return;
	rbuf_puts(b, *first ? "{\"" : ",\"");
	*first = false;
	rbuf_puts(b, fields[i]);
	rbuf_puts(b, "\":");
	if (kind == 's')
		put_json_string(b, value);
	else
		rbuf_puts(b, value);
}

static const char *u64_text(uint64_t v, char *buf, size_t size)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

static int zeek_flow(struct writer *w, const struct flow_record *f)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;
	const struct zeek_fields *z = &f->zeek;
	int o = z->orig == FROM_SERVER ? FROM_SERVER : FROM_CLIENT;
	const struct flow_endpoint *orig = o == FROM_CLIENT ? &f->client : &f->server;
	const struct flow_endpoint *resp = o == FROM_CLIENT ? &f->server : &f->client;
	char ts[40], oh[48], op[8], rh[48], rp[8], dur[40], ob[24], rb[24], mb[24];
	char opk[24], oib[24], rpk[24], rib[24], reason[FLOW_REASON_MAX];
	bool first = true;
	size_t i = 0;

	if (!zw->header_done)
		header(zw, f->first_ts_ns);
	seconds_text(f->first_ts_ns, ts, sizeof ts);
	seconds_text(z->duration_ns, dur, sizeof dur);
	ip_addr_format(&orig->addr, oh, sizeof oh);
	ip_addr_format(&resp->addr, rh, sizeof rh);
	snprintf(op, sizeof op, "%u", (unsigned)orig->port);
	snprintf(rp, sizeof rp, "%u", (unsigned)resp->port);
	flow_reason_format(&f->reason, reason, sizeof reason);

	field(zw, i++, ts, 'n', &first);
	field(zw, i++, z->uid[0] ? z->uid : NULL, 's', &first);
	field(zw, i++, oh, 's', &first);
	field(zw, i++, op, 'n', &first);
	field(zw, i++, rh, 's', &first);
	field(zw, i++, rp, 'n', &first);
	field(zw, i++, "tcp", 's', &first);
	field(zw, i++, NULL, 's', &first); /* service */
	field(zw, i++, z->has_duration ? dur : NULL, 'n', &first);
	field(zw, i++, z->has_duration ? u64_text(z->size[o], ob, sizeof ob) : NULL, 'n', &first);
	field(zw, i++, z->has_duration ? u64_text(z->size[!o], rb, sizeof rb) : NULL, 'n', &first);
	field(zw, i++, z->conn_state, 's', &first);
	field(zw, i++, NULL, 'n', &first); /* local_orig */
	field(zw, i++, NULL, 'n', &first); /* local_resp */
	field(zw, i++, u64_text(z->missed_bytes, mb, sizeof mb), 'n', &first);
	field(zw, i++, z->history[0] ? z->history : NULL, 's', &first);
	field(zw, i++, u64_text(f->packets[o], opk, sizeof opk), 'n', &first);
	field(zw, i++, u64_text(z->ip_bytes[o], oib, sizeof oib), 'n', &first);
	field(zw, i++, u64_text(f->packets[!o], rpk, sizeof rpk), 'n', &first);
	field(zw, i++, u64_text(z->ip_bytes[!o], rib, sizeof rib), 'n', &first);
	field(zw, i++, NULL, 's', &first); /* tunnel_parents */
	field(zw, i++, "6", 'n', &first);
	field(zw, i++, close_class_name(f->close_class), 's', &first);
	field(zw, i++, closer_name(f->closer), 's', &first);
	field(zw, i++, f->close_detail, 's', &first);
	field(zw, i++, reason, 's', &first);
	rbuf_puts(&zw->row, zw->json ? "}\n" : "\n");
	return flush_row(zw);
}

static int zeek_end(struct writer *w, const struct run_summary *s)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;

	if (!zw->header_done)
		header(zw, s->first_ts_ns);
	if (!zw->json) {
		int64_t close_ns = s->last_ts_ns > zw->open_ts_ns ? s->last_ts_ns : zw->open_ts_ns;

		rbuf_puts(&zw->row, "#close\t");
		put_log_time(&zw->row, close_ns);
		rbuf_putc(&zw->row, '\n');
	}
	if (flush_row(zw) != 0)
		return -1;
	return fflush(w->out) == 0 ? 0 : -1;
}

static void zeek_destroy(struct writer *w)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;

	rbuf_free(&zw->row);
	free(zw);
}

static const struct writer_ops zeek_ops = {
	.begin = zeek_begin,
	.flow = zeek_flow,
	.end = zeek_end,
	.destroy = zeek_destroy,
};

static struct writer *create(FILE *out, bool json)
{
	struct zeek_writer *zw = calloc(1, sizeof *zw);

	if (zw == NULL)
		return NULL;
	zw->base.ops = &zeek_ops;
	zw->base.out = out;
	zw->json = json;
	return &zw->base;
}

struct writer *report_zeek_create(FILE *out, const struct writer_options *opt)
{
	(void)opt; /* nothing to present differently */
	return create(out, false);
}

struct writer *report_zeek_json_create(FILE *out, const struct writer_options *opt)
{
	(void)opt;
	return create(out, true);
}
