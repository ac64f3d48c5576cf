/* csv_writer.c - `-f csv`: a header row, then one row per flow as it finishes.
 *
 * Columns are the flow object of DESIGN §4 flattened with '_'. Every value is quoted whole, as
 * libcsv's csv_write() quotes a field: "text", with embedded quotes doubled. A field that holds a
 * quote goes through csv_write(); one that holds none is copied between two quotes directly,
 * which is what csv_write() would write, without its byte-by-byte loop (numbers, timestamps,
 * addresses and the names of flow_record.h never hold one). Separator ',', rows end in '\n'. A
 * null value (no closer, no detail, no close time) is an empty field with nothing in it, not even
 * quotes, so it stays distinguishable from an empty string ("") for readers that care (libcsv's
 * CSV_EMPTY_IS_NULL, PostgreSQL's COPY ... CSV). Lists are joined with ';': modifiers by name,
 * evidence as frame:from:flags ("12:client:FIN,ACK;13:server:ACK"). Untrusted strings (reason,
 * capture name) are made valid UTF-8 first, ill-formed parts becoming U+FFFD, as in the JSON
 * output.
 *
 * Per flow: the row is built in one reusable buffer and written with one fwrite; no allocation
 * once the buffers have grown.
 *
 * The last column, `incident`, is the number of the incident (incidents.h) the connection belongs
 * to, or null. A connection's record comes out before anyone can know whether an incident will
 * take it: the detector decides once the capture has moved past the burst's window (about 20 s
 * of capture time for connections that ended on the wire, --expire + 20 s for those that went
 * silent). So a row that may still join one is held, and every row after it too (rows stay in
 * the order flows finished); rows no incident can take are written at once while nothing is
 * held. At most HELD_MAX_BYTES (8 MiB) of rows are held: past that the oldest held row is written
 * with what is known then -- its incident's number if decided, else an empty `incident` field,
 * even if an incident takes the connection later (JSON and NDJSON still list it as a member).
 * A row is about 500 bytes, so the bound is about 16,000 rows: some 800 s of capture at 20
 * connections ending a second, 16 s at a thousand a second (so on a busy server, where every row
 * waits some 50 s for its incident, the bound is always reached and the rows go out undecided).
 * The bound counts the rows' text, but a held row is kept as the chunks where it differs from the
 * held row before it (rowdiff.h): about 100 bytes for a row of 530 on a busy server, so the memory
 * at the bound is 1.2 to 1.8 MiB of blocks, not 8 (short-connection benchmark, issue 15).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "diagnosis_text.h"
#include "rbuf.h"
#include "rowdiff.h"
#include "writer_impl.h"

/* 8 MiB keeps CSV's peak memory with the rest of the program well under 48 MiB on a capture of
 * 100,000 connections (issue 15). */
#define HELD_MAX_BYTES (8u << 20)

/* Held rows live in blocks of HELD_BLOCK bytes (a longer row gets a block of its own), filled in
 * order and freed in order as their rows go out: the memory held stays within a block or two of
 * what is held (one growing buffer compacted now and then reached half as much again and doubled
 * its capacity past that). Each held row is there as: its record number less the one of the held
 * row before it (a varint, rowdiff.h), then its code over the held row before it (rowdiff.h). */
#define HELD_BLOCK (64u << 10)

struct held_block {
	struct held_block *next; /* the next newer block */
	size_t cap, used;        /* bytes of data[], bytes of it taken */
	size_t rows;             /* rows in it not yet written */
	char data[];
};

/* The names of flow_record.h's tables as fields, separator first (,"name", or a null field where
 * the table has none), each table with one more slot for an out-of-range value: made once,
 * copied per row with name_text_write(). */
struct csv_names {
	struct name_text cls[CLOSE_CLASS_COUNT + 1], closer[CLOSER_COUNT + 1], state[TCPS_COUNT + 1],
		handshake[HANDSHAKE_COUNT + 1], confidence[CONFIDENCE_COUNT + 1],
		vantage[VANTAGE_COUNT + 1], dir[FROM_SERVER + 2];
	struct name_text dir_bare[FROM_SERVER + 2]; /* the side's name alone (evidence lists) */
	bool bad; /* a name did not fit a name_text (test_writers makes sure none is) */
};

struct csv_writer {
	struct writer base;
	struct csv_names names;
	struct held_block *oldest, *newest; /* blocks of held rows, oldest first */
	struct held_block *spare;  /* an emptied block kept for the next */
	size_t head_off;           /* where the oldest held row starts in `oldest` */
	size_t rows_n;             /* rows held */
	size_t held_bytes;         /* text of the held rows (what HELD_MAX_BYTES bounds) */
	/* The held rows without their incident field and newline, each coded over the one before:
	 * `in` is the newest held (what the next one is coded over), `out_row` the last one that
	 * left the hold (the next one to leave is decoded over it, in place); with their record
	 * numbers. */
	struct rbuf in, out_row;
	uint64_t in_seq, out_seq;
	bool in_whole;     /* the newest held row was kept as it is (rowdiff_encode's glance) */
	struct rbuf code;  /* a row's code, before it goes into a block */
	struct rbuf row; /* the row being built */
	struct rbuf out; /* finished rows on their way out (writer_emit) */
	struct rbuf tmp; /* a repaired string or the timers' text, reused */
	struct ts_memo ts; /* the capture's current second */
	struct text_memo captures; /* file names as fields (put_untrusted_field) */
	struct flags_memo flags;   /* TCP flags as text */
	struct addr_memo addrs;    /* IPv4 addresses as text */
	struct reason_memo reason; /* the reason sentences' strings and layouts */
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
	/* What Zeek's conn.log says (flow_record.h struct zeek_fields). */
	"zeek_uid", "zeek_orig", "zeek_conn_state", "zeek_history", "zeek_missed_bytes",
	/* The outer layers (tunnels, labels) the flow came through, innermost first, ';'-joined. */
	"encapsulation",
	/* Added later, at the end so that existing column positions hold. */
	"close_confidence", "close_alternatives", "rtt_client_ms", "rtt_server_ms", "vantage",
	/* The incident (incidents.h) the connection belongs to: its number, or null. Last: it is
	 * written when the row leaves the hold. */
	"incident",
};

/* --- fields: each but the row's first starts with the separator ------------------------------ */

/* A field known to hold no quote: "text". */
static void put_plain(struct rbuf *row, bool first, const char *s, size_t n)
{
	char *o;

	if (n > SIZE_MAX - 3 || !rbuf_reserve(row, n + 3))
		return;
	o = row->data + row->len;
	if (!first)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, s, n);
	o += n;
	*o++ = '"';
	row->len = (size_t)(o - row->data);
}

/* Any text: quoted by libcsv when it holds a quote, else as put_plain. */
static void put_text(struct rbuf *row, const char *s, size_t n)
{
	if (n == 0 || memchr(s, '"', n) == NULL) {
		put_plain(row, false, s, n);
		return;
	}
	/* csv_write: at most two bytes per byte (doubled quotes) and the two around. */
	if (n > (SIZE_MAX - 3) / 2 || !rbuf_reserve(row, 2 * n + 3))
		return;
	row->data[row->len++] = ',';
	row->len += csv_write(row->data + row->len, 2 * n + 2, s, n);
}

/* A static string, or a null field for NULL. */
static void put_str(struct rbuf *row, const char *s)
{
	if (s == NULL)
		rbuf_putc(row, ',');
	else
		put_text(row, s, strlen(s));
}

/* A name from flow_record.h's tables: never a quote, never NULL where it is used. */
static void put_name(struct rbuf *row, const char *s)
{
	put_plain(row, false, s, strlen(s));
}

static void put_null(struct rbuf *row)
{
	rbuf_putc(row, ',');
}

static void put_bool(struct rbuf *row, bool v)
{
	if (v)
		RBUF_LIT(row, ",\"true\"");
	else
		RBUF_LIT(row, ",\"false\"");
}

static void put_u64(struct rbuf *row, uint64_t v)
{
	char *o;

	if (!rbuf_reserve(row, U64_TEXT_ROOM + 3))
		return;
	o = row->data + row->len;
	*o++ = ',';
	*o++ = '"';
	o += u64_write(o, v);
	*o++ = '"';
	row->len = (size_t)(o - row->data);
}

/* A duration in seconds (the diagnosis columns). */
static void put_seconds(struct rbuf *row, int64_t ns)
{
	char tmp[TS_TEXT_MAX];
	char *p = ts_digits(ns, false, tmp + sizeof tmp);

	put_plain(row, false, p, (size_t)(tmp + sizeof tmp - p));
}

/* A timestamp of the capture. */
static void put_ts(struct csv_writer *cw, int64_t ts_ns, bool nano)
{
	struct rbuf *row = &cw->row;
	char *o;

	if (!rbuf_reserve(row, TS_TEXT_MAX + 3))
		return;
	o = row->data + row->len;
	*o++ = ',';
	*o++ = '"';
	o = ts_write(o, &cw->ts, ts_ns, nano);
	*o++ = '"';
	row->len = (size_t)(o - row->data);
}

/* An untrusted string as a field, made valid UTF-8 first (ASCII already is) in `tmp`. */
static void put_untrusted_in(struct rbuf *row, struct rbuf *tmp, const char *s, size_t n)
{
	if (ascii_prefix(s, n) == n) {
		put_text(row, s, n);
		return;
	}
	rbuf_clear(tmp);
	rbuf_utf8(tmp, s, n);
	if (tmp->failed)
		row->failed = true; /* reported as ENOMEM when the row ends */
	else
		put_text(row, tmp->data, tmp->len);
}

static void put_untrusted(struct csv_writer *cw, const char *s, size_t n)
{
	put_untrusted_in(&cw->row, &cw->tmp, s, n);
}

/* The same for the memo of file names (text_memo: made once per name). */
static void put_untrusted_field(struct rbuf *out, const char *s, size_t n)
{
	struct rbuf tmp = { 0 };

	put_untrusted_in(out, &tmp, s, n);
	rbuf_free(&tmp);
}

/* --- held rows ------------------------------------------------------------------------------ */

/* Appends `text` to the output with its incident field and the newline. */
static void put_held(struct csv_writer *cw, const char *text, size_t len, uint64_t seq)
{
	uint32_t number = incidents_member_of(cw->base.incidents, seq);
	struct rbuf *out = &cw->out;
	char *o;

	rbuf_put(out, text, len);
	if (!rbuf_reserve(out, U64_TEXT_ROOM + 4)) /* ,"number" and the newline */
		return;
	o = out->data + out->len;
	*o++ = ',';
	if (number) { /* else a null field */
		*o++ = '"';
		o += u64_write(o, number);
		*o++ = '"';
	}
	*o++ = '\n';
	out->len = (size_t)(o - out->data);
}

/* A block its rows have left: kept as the spare when it is a standard one and none is kept. */
static void block_drop(struct csv_writer *cw, struct held_block *b)
{
	if (!cw->spare && b->cap == HELD_BLOCK)
		cw->spare = b;
	else
		free(b);
}

/* The oldest held row (`bytes` bytes from head_off on) has gone out: its block goes when it has
 * no more. Rows go out in the order they came, so a block emptied is the oldest; the newest is
 * kept for the rows to come. */
static void row_out(struct csv_writer *cw, size_t bytes)
{
	struct held_block *b = cw->oldest;

	cw->rows_n--;
	cw->head_off += bytes;
	if (--b->rows)
		return;
	cw->head_off = 0;
	if (b == cw->newest) {
		b->used = 0;
		return;
	}
	cw->oldest = b->next;
	block_drop(cw, b);
}

/* The record number of the oldest held row; *code gets where its code starts. */
static uint64_t head_seq(const struct csv_writer *cw, const unsigned char **code)
{
	const struct held_block *b = cw->oldest;
	const unsigned char *p = (const unsigned char *)b->data + cw->head_off;
	uint64_t delta = 0;

	/* hold_row wrote it: it is whole */
	(void)rowdiff_get_varint(&p, (const unsigned char *)b->data + b->used, &delta);
	*code = p;
	return cw->out_seq + delta;
}

/* Writes the oldest held row, record `seq` whose code starts at `code`: decoded over the held row
 * before it (cw->out_row, which it becomes). */
static int write_oldest(struct csv_writer *cw, uint64_t seq, const unsigned char *code)
{
	const struct held_block *b = cw->oldest;
	const unsigned char *start = (const unsigned char *)b->data + cw->head_off;
	size_t readable = b->used - (size_t)(code - (const unsigned char *)b->data);
	struct rbuf *text = &cw->out_row;
	size_t n, used;

	if (!rowdiff_length(code, readable, text->len, &n)) {
		errno = EILSEQ; /* not what hold_row wrote: a defect, reported rather than written */
		return -1;
	}
	if (n > text->len && !rbuf_reserve(text, n - text->len)) {
		errno = ENOMEM;
		return -1;
	}
	used = rowdiff_decode(code, readable, text->data, text->len, n);
	if (used == 0) {
		errno = EILSEQ;
		return -1;
	}
	text->len = n;
	put_held(cw, text->data, n, seq);
	cw->held_bytes -= n;
	cw->out_seq = seq;
	row_out(cw, (size_t)(code - start) + used);
	return 0;
}

/* Writes the held rows whose incident is known (all of them when `all`, or past the bound). They
 * go out through writer_emit as they are released: a settlement can release thousands of rows at
 * once (all of them at the end), and gathering them all first made the output buffer as large as
 * what was held, twice over once it doubled. */
static int release_rows(struct csv_writer *cw, bool all)
{
	uint64_t settled = incidents_settled(cw->base.incidents);

	while (cw->rows_n) {
		const unsigned char *code;
		uint64_t seq = head_seq(cw, &code);

		if (!all && seq >= settled && cw->held_bytes <= HELD_MAX_BYTES) {
			incidents_release(cw->base.incidents, seq);
			return 0;
		}
		if (write_oldest(cw, seq, code) != 0)
			return -1;
		if (cw->out.len >= WRITER_BATCH && writer_emit(&cw->base, &cw->out) != 0)
			return -1;
	}
	incidents_release(cw->base.incidents, settled);
	return 0;
}

/* Room for `len` bytes at the end of the newest block: a new block when it has none. */
static struct held_block *held_room(struct csv_writer *cw, size_t len)
{
	struct held_block *b = cw->newest;
	size_t cap = len > HELD_BLOCK ? len : HELD_BLOCK;

	if (b && b->cap - b->used >= len)
		return b;
	if (b && b->rows == 0) {
		/* nothing held (so no other block): too small for this row */
		cw->oldest = cw->newest = NULL;
		block_drop(cw, b);
	}
	if (cap == HELD_BLOCK && cw->spare) {
		b = cw->spare;
		cw->spare = NULL;
	} else if (cap > SIZE_MAX - sizeof *b || !(b = malloc(sizeof *b + cap))) {
		return NULL;
	}
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	b->rows = 0;
	if (cw->newest) {
		cw->newest->next = b;
	} else {
		cw->oldest = b;
		cw->head_off = 0;
	}
	cw->newest = b;
	return b;
}

/* Codes the row in cw->row, held with record number seq, at `start`: its number's delta, then
 * its difference from the held row before (rowdiff.h). Returns the end of the code. */
static unsigned char *code_row(struct csv_writer *cw, unsigned char *start, uint64_t seq)
{
	unsigned char *o = rowdiff_put_varint(start, seq - cw->in_seq);
	size_t len = rowdiff_encode(cw->row.data, cw->row.len, cw->in.data, cw->in.len,
	                            cw->in_whole, o);

	cw->in_whole = rowdiff_kept_whole(o);
	return o + len;
}

/* The row just built (record `seq`): written now when nothing is held and it is settled, else
 * held, coded over the held row before it (which it then replaces as cw->in). */
static int hold_row(struct csv_writer *cw, uint64_t seq)
{
	struct rbuf *row = &cw->row, *code = &cw->code;
	struct held_block *b;
	unsigned char *o;
	size_t len, need;

	if (cw->rows_n == 0 && seq < incidents_settled(cw->base.incidents)) {
		put_held(cw, row->data, row->len, seq);
		incidents_release(cw->base.incidents, seq + 1);
		return 0;
	}
	if (row->len > ROWDIFF_ROW_MAX) {
		errno = ENOMEM;
		return -1;
	}
	need = 10 + ROWDIFF_BOUND(row->len) + ROWDIFF_SLACK;
	b = cw->newest;
	if (b && b->cap - b->used >= need) {
		/* room for the most the code can take: coded in place */
		unsigned char *start = (unsigned char *)b->data + b->used;

		b->used += (size_t)(code_row(cw, start, seq) - start);
	} else {
		rbuf_clear(code);
		if (!rbuf_reserve(code, need)) {
			errno = ENOMEM;
			return -1;
		}
		o = code_row(cw, (unsigned char *)code->data, seq);
		len = (size_t)(o - (unsigned char *)code->data);
		if (!(b = held_room(cw, len))) {
			errno = ENOMEM;
			return -1;
		}
		memcpy(b->data + b->used, code->data, len);
		b->used += len;
	}
	b->rows++;
	cw->held_bytes += row->len;
	cw->rows_n++;
	cw->in_seq = seq;
	/* the row becomes the reference; the old reference's storage is the next row's */
	{
		struct rbuf t = cw->in;

		cw->in = *row;
		*row = t;
	}
	return release_rows(cw, false);
}

/* --- rows ------------------------------------------------------------------------------------ */

/* Room for a stretch of a row written through a cursor: NULL when the row cannot grow. */
static char *room(struct rbuf *b, size_t n)
{
	return rbuf_reserve(b, n) ? b->data + b->len : NULL;
}

/* Ends a stretch written from room(). */
static void done(struct rbuf *b, const char *o)
{
	b->len = (size_t)(o - b->data);
}

/* ,"v": a number field (U64_TEXT_ROOM + 3 bytes of room). */
static char *w_u64(char *o, uint64_t v)
{
	*o++ = ',';
	*o++ = '"';
	o += u64_write(o, v);
	*o++ = '"';
	return o;
}

/* ,"ts": a timestamp field (TS_TEXT_MAX + 3 bytes of room). */
static char *w_ts(char *o, struct ts_memo *m, int64_t ts_ns, bool nano)
{
	*o++ = ',';
	*o++ = '"';
	o = ts_write(o, m, ts_ns, nano);
	*o++ = '"';
	return o;
}

/* ,"text" for text known to hold no quote, or a null field for NULL (n + 3 bytes of room). */
static char *w_plain(char *o, const char *s, size_t n)
{
	*o++ = ',';
	if (s == NULL)
		return o;
	*o++ = '"';
	memcpy(o, s, n);
	o += n;
	*o++ = '"';
	return o;
}

/* ,"address" (IP_ADDR_TEXT_MAX + 3 bytes of room). */
static char *w_ip(char *o, struct addr_memo *m, const struct ip_addr *a)
{
	*o++ = ',';
	*o++ = '"';
	o = addr_memo_write(o, m, a);
	*o++ = '"';
	return o;
}

/* Copies a string literal (at most 16 bytes: its room); evaluates to the end. */
#define W_LIT(o, lit)                                                                              \
	((void)sizeof(char[sizeof(lit) <= 17 ? 1 : -1]),                                           \
	 (char *)memcpy((o), "" lit, sizeof(lit) - 1) + (sizeof(lit) - 1))

/* The diagnosis columns: empty (null) fields for what was not found. */
static void diagnosis_fields(struct csv_writer *cw, const struct flow_diagnosis *d)
{
	const struct middlebox_evidence *m = &d->middlebox;
	struct rbuf *row = &cw->row;

	if (!m->present && !d->idle_timeout.present && !d->close_wait.present &&
	    !d->time_wait_reuse.present && !d->timers[FROM_CLIENT].any &&
	    !d->timers[FROM_SERVER].any) {
		/* What most flows have: the TIME-WAIT side and the stack families, nulls around. */
		char *o = room(row, 16 + NAME_TEXT_ROOM + 16);

		if (o == NULL)
			return;
		o = W_LIT(o, ",,,,,,,,,,"); /* middlebox (5), idle timeout (2), CLOSE-WAIT (3) */
		o = name_text_write(o, NAME_TEXT_OF(cw->names.closer, d->time_wait));
		o = W_LIT(o, ",,,,"); /* TIME-WAIT reuse (2), timers (2) */
		done(row, o);
		for (int s = FROM_CLIENT; s <= FROM_SERVER; s++)
			put_str(row, d->stack[s].family);
		return;
	}
	if (m->present) {
		put_name(row, direction_name((enum flow_direction)m->claimed));
		put_u64(row, m->expected_ttl);
		put_u64(row, m->seen_ttl);
		if (m->has_ip_id) {
			put_u64(row, m->expected_ip_id);
			put_u64(row, m->seen_ip_id);
		} else {
			RBUF_LIT(row, ",,");
		}
	} else {
		RBUF_LIT(row, ",,,,,");
	}
	if (d->idle_timeout.present) {
		put_seconds(row, d->idle_timeout.idle_ns);
		put_name(row, d->idle_timeout.reset ? "reset" : "none");
	} else {
		RBUF_LIT(row, ",,");
	}
	if (d->close_wait.present) {
		put_name(row, direction_name((enum flow_direction)d->close_wait.side));
		put_seconds(row, d->close_wait.duration_ns);
		put_bool(row, d->close_wait.still_open);
	} else {
		RBUF_LIT(row, ",,,");
	}
	put_str(row, closer_name(d->time_wait));
	if (d->time_wait_reuse.present) {
		put_str(row, closer_name(d->time_wait_reuse.side));
		put_seconds(row, d->time_wait_reuse.gap_ns);
	} else {
		RBUF_LIT(row, ",,");
	}
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++) {
		if (!d->timers[s].any) {
			put_null(row);
			continue;
		}
		rbuf_clear(&cw->tmp);
		diagnosis_timers_compact(&d->timers[s], &cw->tmp);
		if (cw->tmp.failed)
			row->failed = true;
		else
			put_text(row, cw->tmp.data, cw->tmp.len);
	}
	for (int s = FROM_CLIENT; s <= FROM_SERVER; s++)
		put_str(row, d->stack[s].family);
}

static int csv_begin(struct writer *w)
{
	struct csv_writer *cw = (struct csv_writer *)w;

	rbuf_clear(&cw->row);
	for (unsigned i = 0; i < sizeof columns / sizeof columns[0]; i++)
		put_plain(&cw->out, i == 0, columns[i], strlen(columns[i]));
	rbuf_putc(&cw->out, '\n');
	return writer_emit(w, &cw->out);
}

static int csv_flow(struct writer *w, const struct flow_record *f)
{
	struct csv_writer *cw = (struct csv_writer *)w;
	const struct csv_names *nm = &cw->names;
	unsigned n_evidence = f->n_evidence < FLOW_EVIDENCE_MAX ? f->n_evidence : FLOW_EVIDENCE_MAX;
	struct rbuf *row = &cw->row;
	char reason[FLOW_REASON_MAX];
	char *o;

	if (nm->bad) {
		errno = EOVERFLOW;
		return -1;
	}
	rbuf_clear(row);
	o = room(row, U64_TEXT_ROOM + 2);
	if (o == NULL)
		goto failed;
	*o++ = '"';
	o += u64_write(o, f->id);
	*o++ = '"';
	done(row, o);
	if (f->capture != NULL) {
		const struct rbuf *t = text_memo_get(&cw->captures, f->capture);

		if (t != NULL)
			rbuf_put(row, t->data, t->len);
		else
			row->failed = true;
	} else {
		put_null(row);
	}
	/* 2 addresses, 7 numbers, 3 timestamps, a literal, 4 names */
	o = room(row, 2 * (IP_ADDR_TEXT_MAX + 3) + 7 * (U64_TEXT_ROOM + 3) + 3 * (TS_TEXT_MAX + 3) +
	                  16 + 4 * NAME_TEXT_ROOM);
	if (o == NULL)
		goto failed;
	o = w_ip(o, &cw->addrs, &f->client.addr);
	o = w_u64(o, f->client.port);
	o = w_ip(o, &cw->addrs, &f->server.addr);
	o = w_u64(o, f->server.port);
	if (f->roles_inferred)
		o = W_LIT(o, ",\"true\"");
	else
		o = W_LIT(o, ",\"false\"");
	o = w_ts(o, &cw->ts, f->first_ts_ns, f->ts_nano);
	o = w_ts(o, &cw->ts, f->last_ts_ns, f->ts_nano);
	o = w_u64(o, f->packets[FROM_CLIENT]);
	o = w_u64(o, f->packets[FROM_SERVER]);
	o = w_u64(o, f->bytes[FROM_CLIENT]);
	o = w_u64(o, f->bytes[FROM_SERVER]);
	o = name_text_write(o, NAME_TEXT_OF(nm->handshake, f->handshake));
	o = name_text_write(o, NAME_TEXT_OF(nm->cls, f->close_class));
	done(row, o);
	put_str(row, f->close_detail);
	o = room(row, NAME_TEXT_ROOM);
	if (o == NULL)
		goto failed;
	done(row, name_text_write(o, NAME_TEXT_OF(nm->closer, f->closer)));
	{
		/* A sentence the formatter knows to be plain (well-formed UTF-8, no quote) is what
		 * put_untrusted() would write between two quotes. */
		bool plain;
		size_t n = flow_reason_format_memo(&f->reason, reason, sizeof reason, &cw->reason,
		                                   &plain);

		if (plain)
			put_plain(row, false, reason, n);
		else
			put_untrusted(cw, reason, n);
	}
	if (f->has_close_ts)
		put_ts(cw, f->close_ts_ns, f->ts_nano);
	else
		put_null(row);

	/* Evidence and modifiers: digits and names only, written in place between the quotes. */
	RBUF_LIT(row, ",\"");
	for (unsigned i = 0; i < n_evidence; i++) {
		const struct evidence_frame *e = &f->evidence[i];
		size_t flags_len;
		const char *flags = flags_memo_get(&cw->flags, e->flags, &flags_len);

		/* ;frame:from: and the flags */
		o = room(row, U64_TEXT_ROOM + 3 + NAME_TEXT_ROOM + flags_len);
		if (o == NULL)
			goto failed;
		if (i != 0)
			*o++ = ';';
		o += u64_write(o, e->frame);
		*o++ = ':';
		o = name_text_write(o, NAME_TEXT_OF(nm->dir_bare, e->from));
		*o++ = ':';
		memcpy(o, flags, flags_len);
		o += flags_len;
		done(row, o);
	}
	/* a literal, 2 names, 3 numbers, a literal */
	o = room(row, 16 + 2 * NAME_TEXT_ROOM + 3 * (U64_TEXT_ROOM + 3) + 16);
	if (o == NULL)
		goto failed;
	*o++ = '"';
	o = name_text_write(o, NAME_TEXT_OF(nm->state, f->state[FROM_CLIENT]));
	o = name_text_write(o, NAME_TEXT_OF(nm->state, f->state[FROM_SERVER]));
	o = w_u64(o, f->retransmissions[FROM_CLIENT]);
	o = w_u64(o, f->retransmissions[FROM_SERVER]);
	o = w_u64(o, f->keepalive_probes);
	o = W_LIT(o, ",\"");
	done(row, o);
	if (f->modifiers != 0)
		put_modifier_list(row, f->modifiers, ";", "");
	rbuf_putc(row, '"');
	diagnosis_fields(cw, &f->diagnosis);
	/* Zeek's fields: letters and digits only, never a quote. */
	{
		const struct zeek_fields *z = &f->zeek;
		size_t uid_len = short_strnlen(z->uid, sizeof z->uid);
		size_t history_len = short_strnlen(z->history, sizeof z->history);
		size_t state_len = z->conn_state != NULL ? strlen(z->conn_state) : 0;

		/* 3 texts, a name, a number */
		o = room(row, uid_len + history_len + state_len + 9 + NAME_TEXT_ROOM + U64_TEXT_ROOM + 3);
		if (o == NULL)
			goto failed;
		o = w_plain(o, uid_len != 0 ? z->uid : NULL, uid_len);
		o = name_text_write(o, NAME_TEXT_OF(nm->dir, z->orig));
		o = w_plain(o, z->conn_state, state_len);
		o = w_plain(o, z->history, history_len);
		o = w_u64(o, z->missed_bytes);
		done(row, o);
	}

	/* The outer layers, innermost first: our own texts (letters, digits, . : > and spaces). */
	RBUF_LIT(row, ",\"");
	for (unsigned i = 0; f->encap != NULL && i < f->encap->n; i++) {
		if (i != 0)
			rbuf_putc(row, ';');
		rbuf_puts(row, f->encap->layer[i]);
	}
	o = room(row, 1 + NAME_TEXT_ROOM + 2);
	if (o == NULL)
		goto failed;
	*o++ = '"';
	o = name_text_write(o, NAME_TEXT_OF(nm->confidence, f->confidence));
	o = W_LIT(o, ",\"");
	done(row, o);
	for (unsigned i = 0; i < f->n_alternatives && i < FLOW_ALTERNATIVES_MAX; i++) {
		if (i != 0)
			rbuf_putc(row, ';');
		rbuf_puts(row, close_class_name(f->alternatives[i].cls));
	}
	/* a quote, 2 milliseconds, a name */
	o = room(row, 1 + 2 * (U64_TEXT_ROOM + 4 + 3) + NAME_TEXT_ROOM);
	if (o == NULL)
		goto failed;
	*o++ = '"';
	for (int d = FROM_CLIENT; d <= FROM_SERVER; d++) {
		*o++ = ',';
		if (!f->rtt_us[d])
			continue;
		*o++ = '"';
		o = us_as_ms_write(o, f->rtt_us[d]);
		*o++ = '"';
	}
	o = name_text_write(o, NAME_TEXT_OF(nm->vantage, f->vantage));
	done(row, o);
	if (row->failed)
		goto failed;
	if (hold_row(cw, incidents_added(w->incidents) - 1) != 0)
		return -1;
	return writer_emit(w, &cw->out);
failed:
	errno = ENOMEM;
	return -1;
}

static int csv_end(struct writer *w, const struct run_summary *summary)
{
	(void)summary; /* CSV has rows only: the summary belongs to the other formats */
	struct csv_writer *cw = (struct csv_writer *)w;

	if (release_rows(cw, true) != 0 || writer_drain(w, &cw->out) != 0)
		return -1;
	return fflush(w->out) == 0 ? 0 : -1;
}

static void csv_release(struct writer *w)
{
	struct csv_writer *cw = (struct csv_writer *)w;

	rbuf_free(&cw->row);
	rbuf_free(&cw->out);
	rbuf_free(&cw->tmp);
	while (cw->oldest) {
		struct held_block *next = cw->oldest->next;

		free(cw->oldest);
		cw->oldest = next;
	}
	free(cw->spare);
	text_memo_free(&cw->captures);
	rbuf_free(&cw->in);
	rbuf_free(&cw->out_row);
	rbuf_free(&cw->code);
}

static void csv_writer_init(struct writer *w, const struct writer_options *opt)
{
	struct csv_names *n = &((struct csv_writer *)w)->names;

	const char *lead = ",\"", *q = "\"", *nul = ","; /* ,"name", or a null field */

	(void)opt; /* nothing to present differently */
	((struct csv_writer *)w)->captures.escape = put_untrusted_field;
	NAME_TEXT_FILL(n->cls, close_class_name, enum close_class, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->closer, closer_name, enum closer_side, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->state, tcp_state_name, enum tcp_state, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->handshake, handshake_name, enum handshake_kind, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->confidence, confidence_name, enum close_confidence, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->vantage, vantage_name, enum vantage_point, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->dir, direction_name, enum flow_direction, lead, q, nul, n->bad);
	NAME_TEXT_FILL(n->dir_bare, direction_name, enum flow_direction, "", "", "", n->bad);
}

/* Each row's incident is needed: membership. */
const struct writer_ops report_csv_ops = { .size = sizeof(struct csv_writer), .init = csv_writer_init,
	.begin = csv_begin,
	.flow = csv_flow, .end = csv_end, .release = csv_release, .membership = true };
