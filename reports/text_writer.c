/* text_writer.c - `-f text`, the default: the investigator's summary, written at the end.
 *
 * Sections, in order: a header (capture files, frames, flows, time span); the table of close
 * classes by closer (one row per class that occurred, then a total row; the flows column is the
 * share of all flows, each closer column the share of its row); the top reset sources (addresses
 * that were the closer of an rst_* flow, most first, up to TOP_RESETS); the noteworthy flows (every
 * class but fin_graceful, fin_simultaneous, open_at_end and idle_at_end, and any flow with a
 * diagnosis worth reading: a forged reset, a middlebox idle timeout, a CLOSE-WAIT, a reuse during
 * TIME-WAIT; the NOTEWORTHY_MAX lowest ids, one line each, then one indented plain sentence per
 * diagnosis, and how many more there were); frames skipped per capture and reason; capture
 * errors. Plain aligned text, no colour.
 *
 * Records are freed by the caller once writer_flow returns, so while flows stream in this writer
 * copies the few fields it needs: a count per reset source (a hash table, the only thing that grows
 * with the input: one entry per distinct address) and a fixed array of noteworthy flows. Untrusted
 * text (reasons, file names) is printed with control characters and ill-formed UTF-8 escaped, so a
 * capture cannot drive the terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagnosis_text.h"
#include "rbuf.h"
#include "writer_impl.h"

#define NOTEWORTHY_MAX 20
#define TOP_RESETS 10
#define HEADER_CAPTURES_MAX 8 /* file names listed in the header line */

struct noteworthy {
	uint64_t id;
	struct flow_endpoint client;
	struct flow_endpoint server;
	enum close_class close_class;
	enum closer_side closer;
	char reason[FLOW_REASON_MAX];
	struct flow_diagnosis diagnosis; /* static strings only: safe to keep */
};

struct reset_source {
	struct ip_addr addr;
	uint64_t count; /* 0: free slot */
};

struct text_writer {
	struct writer base;
	struct noteworthy kept[NOTEWORTHY_MAX]; /* the lowest ids seen, in no order */
	unsigned n_kept;
	uint64_t n_noteworthy;                   /* all noteworthy flows, kept or not */
	struct reset_source *resets;             /* open addressing, linear probing */
	size_t resets_cap;                       /* 0 or a power of two */
	size_t n_resets;
	struct rbuf line;                        /* one line being built, reused */
	struct rbuf sentence;                    /* one diagnosis sentence, reused */
	bool line_failed;                        /* a line was lost for want of memory */
};

/* --- what is kept per flow ------------------------------------------------------------------- */

static bool is_noteworthy(const struct flow_record *f)
{
	enum close_class c = f->close_class;

	return (c != CLOSE_FIN_GRACEFUL && c != CLOSE_FIN_SIMULTANEOUS && c != CLOSE_OPEN_AT_END &&
	        c != CLOSE_IDLE_AT_END) ||
	       diagnosis_noteworthy(&f->diagnosis);
}

static bool is_reset(enum close_class c)
{
	return c == CLOSE_RST_UNREAD_DATA || c == CLOSE_RST_ABORT || c == CLOSE_RST_AFTER_CLOSE ||
	       c == CLOSE_RST_PEER_RESTARTED || c == CLOSE_RST_REFUSED;
}

static size_t addr_hash(const struct ip_addr *a)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */

	h = (h ^ a->family) * 1099511628211u;
	for (unsigned i = 0; i < sizeof a->bytes; i++)
		h = (h ^ a->bytes[i]) * 1099511628211u;
	return (size_t)h;
}

static bool addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static struct reset_source *reset_slot(struct reset_source *table, size_t cap,
				       const struct ip_addr *a)
{
	size_t i = addr_hash(a) & (cap - 1);

	while (table[i].count != 0 && !addr_equal(&table[i].addr, a))
		i = (i + 1) & (cap - 1);
	return &table[i];
}

/* Counts one reset closed by `a`. Returns -1 (errno ENOMEM) when the table cannot grow. */
static int count_reset(struct text_writer *tw, const struct ip_addr *a)
{
	struct reset_source *slot;

	if (tw->n_resets + 1 > tw->resets_cap / 4 * 3) {
		size_t cap = tw->resets_cap != 0 ? tw->resets_cap * 2 : 64;
		struct reset_source *table;

		if (cap > SIZE_MAX / sizeof *table || (table = calloc(cap, sizeof *table)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		for (size_t i = 0; i < tw->resets_cap; i++) {
			if (tw->resets[i].count != 0)
				*reset_slot(table, cap, &tw->resets[i].addr) = tw->resets[i];
		}
		free(tw->resets);
		tw->resets = table;
		tw->resets_cap = cap;
	}
	slot = reset_slot(tw->resets, tw->resets_cap, a);
	if (slot->count == 0) {
		slot->addr = *a;
		tw->n_resets++;
	}
	slot->count++;
	return 0;
}

static void keep_noteworthy(struct text_writer *tw, const struct flow_record *f)
{
	struct noteworthy *n;
	size_t len;

	tw->n_noteworthy++;
	if (tw->n_kept < NOTEWORTHY_MAX) {
		n = &tw->kept[tw->n_kept++];
	} else {
		/* Full: replace the highest id if this one is lower, so the lowest ids stay whatever
		 * order flows finish in. */
		n = &tw->kept[0];
		for (unsigned i = 1; i < NOTEWORTHY_MAX; i++) {
			if (tw->kept[i].id > n->id)
				n = &tw->kept[i];
		}
		if (f->id >= n->id)
			return;
	}
	n->id = f->id;
	n->client = f->client;
	n->server = f->server;
	n->close_class = f->close_class;
	n->closer = f->closer;
	len = strnlen(f->reason, sizeof f->reason - 1);
	memcpy(n->reason, f->reason, len);
	n->reason[len] = '\0';
	n->diagnosis = f->diagnosis;
}

static int text_flow(struct writer *w, const struct flow_record *f)
{
	struct text_writer *tw = (struct text_writer *)w;

	if (is_noteworthy(f))
		keep_noteworthy(tw, f);
	if (is_reset(f->close_class)) {
		if ((f->closer == CLOSER_CLIENT || f->closer == CLOSER_BOTH) &&
		    count_reset(tw, &f->client.addr) != 0)
			return -1;
		if ((f->closer == CLOSER_SERVER || f->closer == CLOSER_BOTH) &&
		    count_reset(tw, &f->server.addr) != 0)
			return -1;
	}
	return 0;
}

/* --- printing -------------------------------------------------------------------------------- */

/* Appends untrusted text for a terminal: printable ASCII and well-formed UTF-8 as is, except the
 * C1 controls; control characters as \n \r \t or \xNN; ill-formed bytes as \xNN. */
static void put_visible(struct rbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = u[i];
		size_t len = 0, skip = 1;

		if (c >= 0x20 && c < 0x7F) {
			rbuf_putc(b, (char)c);
			i++;
			continue;
		}
		if (c == '\n' || c == '\r' || c == '\t') {
			rbuf_putc(b, '\\');
			rbuf_putc(b, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
			i++;
			continue;
		}
		if (c >= 0x80)
			len = utf8_scan(u + i, n - i, &skip);
		if (len != 0 && !(c == 0xC2 && u[i + 1] < 0xA0)) { /* C2 80-9F: C1 controls */
			rbuf_put(b, u + i, len);
			i += len;
			continue;
		}
		if (len != 0)
			skip = len;
		for (size_t k = 0; k < skip; k++) {
			char esc[4] = { '\\', 'x', hex[u[i + k] >> 4], hex[u[i + k] & 0xF] };

			rbuf_put(b, esc, sizeof esc);
		}
		i += skip;
	}
}

static void put_visible_str(struct rbuf *b, const char *s)
{
	if (s == NULL)
		RBUF_LIT(b, "(none)");
	else
		put_visible(b, s, strlen(s));
}

/* "198.51.100.1:40001", "[2001:db8::1]:443" */
static void put_endpoint(struct rbuf *b, const struct flow_endpoint *e)
{
	char ip[48];

	ip_addr_format(&e->addr, ip, sizeof ip);
	if (e->addr.family == 6)
		rbuf_putc(b, '[');
	rbuf_puts(b, ip);
	if (e->addr.family == 6)
		rbuf_putc(b, ']');
	rbuf_putc(b, ':');
	rbuf_u64(b, e->port);
}

static unsigned digits_of(uint64_t v)
{
	unsigned n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Width of put_endpoint's text. */
static size_t endpoint_width(const struct flow_endpoint *e)
{
	char ip[48];

	return strlen(ip_addr_format(&e->addr, ip, sizeof ip)) + (e->addr.family == 6 ? 2 : 0) + 1 +
	       digits_of(e->port);
}

static void pad_to(struct rbuf *b, size_t from, size_t width)
{
	while (b->len - from < width)
		rbuf_putc(b, ' ');
}

/* Writes the line built in tw->line, plus '\n'; clears it. */
static void emit_line(struct text_writer *tw)
{
	rbuf_putc(&tw->line, '\n');
	if (tw->line.failed)
		tw->line_failed = true;
	else
		fwrite(tw->line.data, 1, tw->line.len, tw->base.out); /* errors: ferror() at the end */
	rbuf_clear(&tw->line);
}

/* "2025-11-24 16:00:00.123456" in UTC; seconds rounded down, so valid before 1970 too. */
static void put_utc(struct rbuf *b, int64_t ts_ns, bool nano)
{
	int64_t sec = ts_ns / 1000000000;
	int64_t frac = ts_ns % 1000000000;
	time_t t;
	struct tm tm;
	char text[64];
	char digits[9];

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		rbuf_ts(b, ts_ns, nano);
		return;
	}
	rbuf_puts(b, text);
	rbuf_putc(b, '.');
	for (int i = 8; i >= 0; i--, frac /= 10)
		digits[i] = (char)('0' + frac % 10);
	rbuf_put(b, digits, nano ? 9 : 6);
}

static void print_header(struct text_writer *tw, const struct run_summary *s)
{
	struct rbuf *b = &tw->line;

	RBUF_LIT(b, TCPMORTEM_NAME " " TCPMORTEM_VERSION ": ");
	if (s->n_captures == 0)
		RBUF_LIT(b, "no capture");
	for (unsigned i = 0; i < s->n_captures && i < HEADER_CAPTURES_MAX; i++) {
		if (i != 0)
			RBUF_LIT(b, ", ");
		put_visible_str(b, s->captures[i].path);
	}
	if (s->n_captures > HEADER_CAPTURES_MAX) {
		RBUF_LIT(b, " and ");
		rbuf_u64(b, s->n_captures - HEADER_CAPTURES_MAX);
		RBUF_LIT(b, " more");
	}
	emit_line(tw);

	rbuf_u64(b, s->frames);
	RBUF_LIT(b, " frames, ");
	rbuf_u64(b, s->flows);
	RBUF_LIT(b, " flows");
	if (s->flows_evicted != 0) {
		RBUF_LIT(b, " (");
		rbuf_u64(b, s->flows_evicted);
		RBUF_LIT(b, " evicted)");
	}
	if (s->late_segments != 0) {
		RBUF_LIT(b, ", ");
		rbuf_u64(b, s->late_segments);
		RBUF_LIT(b, " late segments of finished connections");
	}
	if (s->frames != 0) {
		RBUF_LIT(b, ", ");
		put_utc(b, s->first_ts_ns, s->ts_nano);
		RBUF_LIT(b, " to ");
		put_utc(b, s->last_ts_ns, s->ts_nano);
		RBUF_LIT(b, " UTC (");
		/* Unsigned difference: no overflow whatever the input says. */
		rbuf_ts(b, (int64_t)((uint64_t)s->last_ts_ns - (uint64_t)s->first_ts_ns), s->ts_nano);
		RBUF_LIT(b, " s)");
	}
	emit_line(tw);
}

/* One cell of the class table: count right-aligned in `width`, then its share of `of`. */
static void put_cell(struct rbuf *b, uint64_t count, uint64_t of, unsigned width)
{
	char pct[16];
	size_t start = b->len;

	RBUF_LIT(b, "  ");
	pad_to(b, start, 2 + width - digits_of(count));
	rbuf_u64(b, count);
	if (of == 0)
		snprintf(pct, sizeof pct, "%7s", "-");
	else
		snprintf(pct, sizeof pct, "%6.1f%%", 100.0 * (double)count / (double)of);
	rbuf_puts(b, pct);
}

/* Column order: client, server, both, none (as in the JSON summary). */
static const enum closer_side closer_order[] = { CLOSER_CLIENT, CLOSER_SERVER, CLOSER_BOTH,
						 CLOSER_NONE };
#define N_CLOSER_COLUMNS (sizeof closer_order / sizeof closer_order[0])

static void print_table(struct text_writer *tw, const struct run_summary *s)
{
	struct rbuf *b = &tw->line;
	uint64_t totals[CLOSE_CLASS_COUNT] = { 0 };
	uint64_t closers[CLOSER_COUNT] = { 0 };
	uint64_t all = 0;
	size_t name_width = strlen("close class");
	unsigned width;

	for (unsigned k = 0; k < CLOSE_CLASS_COUNT; k++) {
		for (unsigned c = 0; c < CLOSER_COUNT; c++) {
			totals[k] += s->by_class[k][c];
			closers[c] += s->by_class[k][c];
		}
		all += totals[k];
		if (totals[k] != 0 && strlen(close_class_name((enum close_class)k)) > name_width)
			name_width = strlen(close_class_name((enum close_class)k));
	}
	width = digits_of(all); /* the total is the widest count */

	/* Each cell is "  ", the count in `width`, then " 100.0%": labels end where cells end. */
	RBUF_LIT(b, "close class");
	pad_to(b, 0, name_width + 2 + width + 7 - strlen("flows"));
	RBUF_LIT(b, "flows");
	for (unsigned i = 0; i < N_CLOSER_COLUMNS; i++) {
		const char *label = closer_label(closer_order[i]);
		size_t start = b->len;

		pad_to(b, start, 2 + width + 7 - strlen(label));
		rbuf_puts(b, label);
	}
	emit_line(tw);

	for (unsigned k = 0; k <= CLOSE_CLASS_COUNT; k++) {
		bool total_row = k == CLOSE_CLASS_COUNT;
		uint64_t row = total_row ? all : totals[k];
		const uint64_t *by = total_row ? closers : s->by_class[k];

		if (!total_row && row == 0)
			continue;
		rbuf_puts(b, total_row ? "total" : close_class_name((enum close_class)k));
		pad_to(b, 0, name_width);
		put_cell(b, row, all, width);
		for (unsigned i = 0; i < N_CLOSER_COLUMNS; i++)
			put_cell(b, by[closer_order[i]], row, width);
		emit_line(tw);
	}
}

static int by_count_then_addr(const void *pa, const void *pb)
{
	const struct reset_source *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->addr.family != b->addr.family)
		return a->addr.family < b->addr.family ? -1 : 1;
	return memcmp(a->addr.bytes, b->addr.bytes, sizeof a->addr.bytes);
}

static void print_resets(struct text_writer *tw)
{
	struct rbuf *b = &tw->line;
	size_t n = 0, ip_width = 0, shown;

	if (tw->n_resets == 0)
		return;
	/* Compact the table in place and sort it: it is not used for counting any more. */
	for (size_t i = 0; i < tw->resets_cap; i++) {
		if (tw->resets[i].count != 0)
			tw->resets[n++] = tw->resets[i];
	}
	qsort(tw->resets, n, sizeof *tw->resets, by_count_then_addr);
	shown = n < TOP_RESETS ? n : TOP_RESETS;
	for (size_t i = 0; i < shown; i++) {
		char ip[48];
		size_t len = strlen(ip_addr_format(&tw->resets[i].addr, ip, sizeof ip));

		if (len > ip_width)
			ip_width = len;
	}

	emit_line(tw);
	RBUF_LIT(b, "top reset sources (closer of an rst_* flow)");
	emit_line(tw);
	for (size_t i = 0; i < shown; i++) {
		char ip[48];

		RBUF_LIT(b, "  ");
		rbuf_puts(b, ip_addr_format(&tw->resets[i].addr, ip, sizeof ip));
		pad_to(b, 0, 2 + ip_width + 2 + digits_of(tw->resets[0].count) -
				     digits_of(tw->resets[i].count));
		rbuf_u64(b, tw->resets[i].count);
		emit_line(tw);
	}
	if (n > shown) {
		RBUF_LIT(b, "  and ");
		rbuf_u64(b, n - shown);
		RBUF_LIT(b, " more addresses");
		emit_line(tw);
	}
	tw->n_resets = 0; /* the table is no longer a hash table */
}

/* One diagnosis sentence, indented under its flow's line. */
static void emit_diagnosis(void *ctx, const char *text, size_t len)
{
	struct text_writer *tw = ctx;

	RBUF_LIT(&tw->line, "      ");
	put_visible(&tw->line, text, len);
	emit_line(tw);
}

static int by_id(const void *pa, const void *pb)
{
	const struct noteworthy *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

static void print_noteworthy(struct text_writer *tw)
{
	struct rbuf *b = &tw->line;
	size_t id_width = 0, client_width = 0, server_width = 0;

	if (tw->n_noteworthy == 0)
		return;
	qsort(tw->kept, tw->n_kept, sizeof tw->kept[0], by_id);
	for (unsigned i = 0; i < tw->n_kept; i++) {
		const struct noteworthy *n = &tw->kept[i];

		if (1 + digits_of(n->id) > id_width)
			id_width = 1 + digits_of(n->id);
		if (endpoint_width(&n->client) > client_width)
			client_width = endpoint_width(&n->client);
		if (endpoint_width(&n->server) > server_width)
			server_width = endpoint_width(&n->server);
	}

	emit_line(tw);
	RBUF_LIT(b, "noteworthy flows (");
	rbuf_u64(b, tw->n_noteworthy);
	rbuf_putc(b, ')');
	emit_line(tw);
	for (unsigned i = 0; i < tw->n_kept; i++) {
		const struct noteworthy *n = &tw->kept[i];
		size_t col;

		RBUF_LIT(b, "  ");
		pad_to(b, 0, 2 + id_width - 1 - digits_of(n->id));
		rbuf_putc(b, '#');
		rbuf_u64(b, n->id);
		RBUF_LIT(b, " ");
		col = b->len;
		put_endpoint(b, &n->client);
		pad_to(b, col, client_width);
		RBUF_LIT(b, " -> ");
		col = b->len;
		put_endpoint(b, &n->server);
		pad_to(b, col, server_width);
		RBUF_LIT(b, "  ");
		rbuf_puts(b, close_class_name(n->close_class));
		RBUF_LIT(b, " (");
		rbuf_puts(b, closer_label(n->closer));
		rbuf_putc(b, ')');
		if (n->reason[0] != '\0') {
			RBUF_LIT(b, ": ");
			put_visible(b, n->reason, strlen(n->reason));
		}
		emit_line(tw);
		diagnosis_sentences(&n->diagnosis, &tw->sentence, emit_diagnosis, tw);
	}
	if (tw->n_noteworthy > tw->n_kept) {
		RBUF_LIT(b, "  and ");
		rbuf_u64(b, tw->n_noteworthy - tw->n_kept);
		RBUF_LIT(b, " more");
		emit_line(tw);
	}
}

static void print_captures(struct text_writer *tw, const struct run_summary *s)
{
	struct rbuf *b = &tw->line;
	bool any_skipped = false, any_error = false;

	for (unsigned i = 0; i < s->n_captures; i++) {
		any_skipped |= s->captures[i].n_skipped != 0;
		any_error |= s->captures[i].error != NULL;
	}
	if (any_skipped) {
		emit_line(tw);
		RBUF_LIT(b, "skipped frames");
		emit_line(tw);
		for (unsigned i = 0; i < s->n_captures; i++) {
			const struct capture_stats *c = &s->captures[i];
			unsigned n = c->n_skipped < SKIP_REASONS_MAX ? c->n_skipped : SKIP_REASONS_MAX;

			if (n == 0)
				continue;
			RBUF_LIT(b, "  ");
			put_visible_str(b, c->path);
			RBUF_LIT(b, ":");
			for (unsigned k = 0; k < n; k++) {
				rbuf_puts(b, k == 0 ? " " : ", ");
				put_visible_str(b, c->skipped[k].reason);
				rbuf_putc(b, ' ');
				rbuf_u64(b, c->skipped[k].count);
			}
			emit_line(tw);
		}
	}
	if (any_error) {
		emit_line(tw);
		RBUF_LIT(b, "capture errors");
		emit_line(tw);
		for (unsigned i = 0; i < s->n_captures; i++) {
			if (s->captures[i].error == NULL)
				continue;
			RBUF_LIT(b, "  ");
			put_visible_str(b, s->captures[i].path);
			RBUF_LIT(b, ": ");
			put_visible_str(b, s->captures[i].error);
			emit_line(tw);
		}
	}
}

static int text_begin(struct writer *w)
{
	(void)w; /* everything is written at the end */
	return 0;
}

static int text_end(struct writer *w, const struct run_summary *s)
{
	struct text_writer *tw = (struct text_writer *)w;

	rbuf_clear(&tw->line);
	print_header(tw, s);
	emit_line(tw);
	print_table(tw, s);
	print_resets(tw);
	print_noteworthy(tw);
	print_captures(tw, s);
	if (tw->line_failed) {
		errno = ENOMEM;
		return -1;
	}
	if (fflush(w->out) != 0 || ferror(w->out))
		return -1;
	return 0;
}

static void text_destroy(struct writer *w)
{
	struct text_writer *tw = (struct text_writer *)w;

	free(tw->resets);
	rbuf_free(&tw->line);
	rbuf_free(&tw->sentence);
	free(tw);
}

static const struct writer_ops text_ops = {
	.begin = text_begin,
	.flow = text_flow,
	.end = text_end,
	.destroy = text_destroy,
};

struct writer *report_text_create(FILE *out)
{
	struct text_writer *tw = calloc(1, sizeof *tw);

	if (tw == NULL)
		return NULL;
	tw->base.ops = &text_ops;
	tw->base.out = out;
	return &tw->base;
}
