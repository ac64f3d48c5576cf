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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rbuf.h"
#include "writer_impl.h"

struct zeek_writer {
	struct writer base;
	bool header_done;
	int64_t open_ts_ns;
	struct rbuf row; /* rows on their way out (writer_emit) */
	/* JSON lines: each field's key as written after another field, `,"name":` (zeek_init) */
	struct {
		uint8_t len;
		char text[24];
	} keys[26];
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
_Static_assert(FIELD_COUNT == sizeof ((struct zeek_writer *)0)->keys /
                              sizeof ((struct zeek_writer *)0)->keys[0], "a field has no key");

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
 * microsecond; capture times are after 1970). */
static void put_seconds(struct rbuf *b, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	char frac[7];

	rbuf_u64(b, us / 1000000);
	us %= 1000000;
	for (int i = 5; i >= 0; i--, us /= 10)
		frac[i] = (char)('0' + us % 10);
	frac[6] = '\0';
	rbuf_putc(b, '.');
	rbuf_puts(b, frac);
}

/* Bytes a string field cannot hold as they are: a bit per log form. Control bytes (NUL, which
 * ends the scan, among them) and DEL in both; the tab and the backslash in TSV; the quote and the
 * backslash in JSON. */
enum { SPECIAL_TSV = 1, SPECIAL_JSON = 2 };
static const unsigned char special[256] = {
	[0x00 ... 0x1f] = SPECIAL_TSV | SPECIAL_JSON,
	['"'] = SPECIAL_JSON,
	['\\'] = SPECIAL_TSV | SPECIAL_JSON,
	[0x7f] = SPECIAL_TSV | SPECIAL_JSON,
};

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
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		const unsigned char *q = p;

		/* the run of bytes written as they are, copied at once */
		while (!(special[*q] & SPECIAL_TSV))
			q++;
		rbuf_put(b, p, (size_t)(q - p));
		if (*q == '\0')
			break;
		rbuf_puts(b, "\\x");
		rbuf_putc(b, hex[*q >> 4]);
		rbuf_putc(b, hex[*q & 15]);
		p = q + 1;
	}
}

/* A JSON string: quotes, backslash and control bytes escaped; UTF-8 text as it is (the strings
 * are tcpmortem's own: names and the reason's text, never bytes from the capture). */
static void put_json_string(struct rbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	rbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		const unsigned char *q = p;

		while (!(special[*q] & SPECIAL_JSON))
			q++;
		rbuf_put(b, p, (size_t)(q - p));
		if (*q == '\0')
			break;
		if (*q == '"' || *q == '\\') {
			rbuf_putc(b, '\\');
			rbuf_putc(b, (char)*q);
		} else {
			rbuf_puts(b, "\\u00");
			rbuf_putc(b, hex[*q >> 4]);
			rbuf_putc(b, hex[*q & 15]);
		}
		p = q + 1;
	}
	rbuf_putc(b, '"');
}

static void header(struct zeek_writer *zw, int64_t open_ts_ns)
{
	struct rbuf *b = &zw->row;

	zw->header_done = true;
	zw->open_ts_ns = open_ts_ns;
	if (zw->base.variant)
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

/* Starts field `i` of a row: the separator in TSV, the key in JSON. */
static void key(struct zeek_writer *zw, size_t i, bool *first)
{
	struct rbuf *b = &zw->row;

	if (!zw->base.variant) {
		if (i != 0)
			rbuf_putc(b, '\t');
		return;
	}
	/* `,"name":`, made once; the row's first field opens the object instead */
	rbuf_put(b, zw->keys[i].text, zw->keys[i].len);
	if (*first && !b->failed)
		b->data[b->len - zw->keys[i].len] = '{';
	*first = false;
}

/* An unset field: "-" in TSV, left out of JSON. */
static void unset(struct zeek_writer *zw, size_t i)
{
	if (zw->base.variant)
		return;
	if (i != 0)
		rbuf_putc(&zw->row, '\t');
	rbuf_putc(&zw->row, '-');
}

/* A string field; NULL is unset. */
static void f_str(struct zeek_writer *zw, size_t i, const char *v, bool *first)
{
	if (v == NULL) {
		unset(zw, i);
		return;
	}
	key(zw, i, first);
	if (zw->base.variant)
		put_json_string(&zw->row, v);
	else
		put_tsv_string(&zw->row, v);
}

static void f_u64(struct zeek_writer *zw, size_t i, uint64_t v, bool *first)
{
	key(zw, i, first);
	rbuf_u64(&zw->row, v);
}

static void f_seconds(struct zeek_writer *zw, size_t i, int64_t ns, bool *first)
{
	key(zw, i, first);
	put_seconds(&zw->row, ns);
}

static int zeek_flow(struct writer *w, const struct flow_record *f)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;
	const struct zeek_fields *z = &f->zeek;
	int o = z->orig == FROM_SERVER ? FROM_SERVER : FROM_CLIENT;
	const struct flow_endpoint *orig = o == FROM_CLIENT ? &f->client : &f->server;
	const struct flow_endpoint *resp = o == FROM_CLIENT ? &f->server : &f->client;
	char oh[48], rh[48], reason[FLOW_REASON_MAX];
	bool first = true;
	size_t i = 0;

	if (!zw->header_done)
		header(zw, f->first_ts_ns);
	ip_addr_format(&orig->addr, oh, sizeof oh);
	ip_addr_format(&resp->addr, rh, sizeof rh);
	flow_reason_format(&f->reason, reason, sizeof reason);

	f_seconds(zw, i++, f->first_ts_ns, &first);
	f_str(zw, i++, z->uid[0] ? z->uid : NULL, &first);
	f_str(zw, i++, oh, &first);
	f_u64(zw, i++, orig->port, &first);
	f_str(zw, i++, rh, &first);
	f_u64(zw, i++, resp->port, &first);
	f_str(zw, i++, "tcp", &first);
	unset(zw, i++); /* service: no protocol detection */
	if (z->has_duration) {
		f_seconds(zw, i++, z->duration_ns, &first);
		f_u64(zw, i++, z->size[o], &first);
		f_u64(zw, i++, z->size[!o], &first);
	} else {
		unset(zw, i++);
		unset(zw, i++);
		unset(zw, i++);
	}
	f_str(zw, i++, z->conn_state, &first);
	unset(zw, i++); /* local_orig: no Site::local_nets */
	unset(zw, i++); /* local_resp */
	f_u64(zw, i++, z->missed_bytes, &first);
	f_str(zw, i++, z->history[0] ? z->history : NULL, &first);
	f_u64(zw, i++, f->packets[o], &first);
	f_u64(zw, i++, z->ip_bytes[o], &first);
	f_u64(zw, i++, f->packets[!o], &first);
	f_u64(zw, i++, z->ip_bytes[!o], &first);
	unset(zw, i++); /* tunnel_parents */
	f_u64(zw, i++, 6, &first);
	f_str(zw, i++, close_class_name(f->close_class), &first);
	f_str(zw, i++, closer_name(f->closer), &first);
	f_str(zw, i++, f->close_detail, &first);
	f_str(zw, i++, reason, &first);
	rbuf_puts(&zw->row, zw->base.variant ? "}\n" : "\n");
	return writer_emit(w, &zw->row);
}

static int zeek_end(struct writer *w, const struct run_summary *s)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;

	if (!zw->header_done)
		header(zw, s->first_ts_ns);
	if (!zw->base.variant) {
		int64_t close_ns = s->last_ts_ns > zw->open_ts_ns ? s->last_ts_ns : zw->open_ts_ns;

		rbuf_puts(&zw->row, "#close\t");
		put_log_time(&zw->row, close_ns);
		rbuf_putc(&zw->row, '\n');
	}
	if (writer_drain(w, &zw->row) != 0)
		return -1;
	return fflush(w->out) == 0 ? 0 : -1;
}

static void zeek_init(struct writer *w, const struct writer_options *opt)
{
	struct zeek_writer *zw = (struct zeek_writer *)w;

	(void)opt; /* nothing to present differently */
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		int n = snprintf(zw->keys[i].text, sizeof zw->keys[i].text, ",\"%s\":", fields[i]);

		zw->keys[i].len = (uint8_t)n; /* the longest, ,"tcpmortem.reason":, fits */
	}
}

static void zeek_release(struct writer *w)
{
	rbuf_free(&((struct zeek_writer *)w)->row);
}

/* The JSON lines are the variant. */
const struct writer_ops report_zeek_ops = { .size = sizeof(struct zeek_writer), .init = zeek_init,
	.begin = zeek_begin, .flow = zeek_flow, .end = zeek_end, .release = zeek_release };
