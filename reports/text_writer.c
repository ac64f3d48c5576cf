/* text_writer.c - `-f text`, the default: the investigator's summary, written at the end.
 *
 * Sections, in order: a header (capture files, frames, flows, time span); the table of close
 * classes by closer (one row per class that occurred, then a total row; the flows column is the
 * share of all flows, each closer column the share of its row); the top reset sources (addresses
 * that were the closer of an rst_* flow, most first, up to TOP_RESETS); the noteworthy flows (every
 * class but fin_graceful, fin_simultaneous, open_at_end and idle_at_end: the NOTEWORTHY_MAX lowest
 * ids, one line each, and how many more there were); frames skipped per capture and reason; capture
 * errors. Plain aligned text, no colour.
 *
 * Records are freed by the caller once writer_flow returns, so while flows stream in this writer
 * copies the few fields it needs: a count per reset source and a fixed array of noteworthy flows.
 * Nothing grows with the input. Reset sources are counted exactly up to RESET_SOURCES_MAX distinct
 * addresses; past that (a reset flood from forged addresses) by the Space-Saving algorithm
 * (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data
 * Streams", ICDT 2005): a new address takes the place of the least counted one, inheriting its
 * count as a possible overestimate, so every address that closed more than 1/RESET_SOURCES_MAX of
 * the resets is still counted, and no count is ever too low; the report then says how far off a
 * count may be. The table is a fixed open-addressing hash keyed with a random key, so crafted
 * addresses cannot pile up in one probe run. Untrusted text (reasons, file names) is printed with
 * control characters and ill-formed UTF-8 escaped, so a capture cannot drive the terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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
};

#define RESET_SOURCES_MAX 4096                   /* addresses counted at once */
#define RESET_SLOTS (2u * RESET_SOURCES_MAX)     /* hash slots: a power of two, half full at most */

struct reset_source {
	struct ip_addr addr;
	uint64_t count;
	uint64_t error; /* Space-Saving: count may exceed the true count by this much */
	uint32_t slot;  /* where the hash points to it */
};

struct text_writer {
	struct writer base;
	struct noteworthy kept[NOTEWORTHY_MAX]; /* the lowest ids seen, in no order */
	unsigned n_kept;
	uint64_t n_noteworthy;                   /* all noteworthy flows, kept or not */
	struct reset_source *resets;             /* RESET_SOURCES_MAX, a min-heap by count */
	uint32_t *slots;                         /* RESET_SLOTS: 1 + heap index, 0 empty */
	size_t n_resets;
	bool resets_overflowed;                  /* more distinct sources than RESET_SOURCES_MAX */
	uint64_t hash_key;
	struct rbuf line;                        /* one line being built, reused */
	bool line_failed;                        /* a line was lost for want of memory */
};

/* --- what is kept per flow ------------------------------------------------------------------- */

static bool is_noteworthy(enum close_class c)
{
	return c != CLOSE_FIN_GRACEFUL && c != CLOSE_FIN_SIMULTANEOUS && c != CLOSE_OPEN_AT_END &&
	       c != CLOSE_IDLE_AT_END;
}

static bool is_reset(enum close_class c)
{
	return c == CLOSE_RST_UNREAD_DATA || c == CLOSE_RST_ABORT || c == CLOSE_RST_AFTER_CLOSE ||
	       c == CLOSE_RST_PEER_RESTARTED || c == CLOSE_RST_REFUSED;
}

/* 64-bit finaliser (MurmurHash3 fmix64): every input bit reaches every output bit. */
static uint64_t fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The address's home slot, under the writer's random key. */
static uint32_t addr_home(const struct text_writer *tw, const struct ip_addr *a)
{
	uint64_t w[2];

	memcpy(w, a->bytes, sizeof w);
	return (uint32_t)(fmix64(fmix64(fmix64(tw->hash_key ^ w[0]) ^ w[1]) ^ a->family) &
	                  (RESET_SLOTS - 1));
}

static bool addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* Heap index of `a`, or -1. */
static long reset_find(const struct text_writer *tw, const struct ip_addr *a)
{
	for (uint32_t i = addr_home(tw, a);; i = (i + 1) & (RESET_SLOTS - 1)) {
		uint32_t e = tw->slots[i];

		if (e == 0)
			return -1;
		if (addr_equal(&tw->resets[e - 1].addr, a))
			return (long)e - 1;
	}
}

static void slot_insert(struct text_writer *tw, size_t idx)
{
	uint32_t i = addr_home(tw, &tw->resets[idx].addr);

	while (tw->slots[i] != 0)
		i = (i + 1) & (RESET_SLOTS - 1);
	tw->slots[i] = (uint32_t)idx + 1;
	tw->resets[idx].slot = i;
}

/* Linear-probing deletion by backward shift (Knuth, TAOCP vol. 3, 6.4 Algorithm R): entries
 * after the hole that could live in it move up, so no probe run is ever cut. */
static void slot_delete(struct text_writer *tw, uint32_t hole)
{
	uint32_t j = hole;

	tw->slots[hole] = 0;
	for (;;) {
		uint32_t e, home;

		j = (j + 1) & (RESET_SLOTS - 1);
		e = tw->slots[j];
		if (e == 0)
			return;
		home = addr_home(tw, &tw->resets[e - 1].addr);
		/* Leave it if its home lies cyclically in (hole, j]. */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		tw->slots[hole] = e;
		tw->resets[e - 1].slot = hole;
		tw->slots[j] = 0;
		hole = j;
	}
}

/* Restores the min-heap below `i` after its count grew; keeps the hash pointing right. */
static void reset_sift_down(struct text_writer *tw, size_t i)
{
	struct reset_source *h = tw->resets;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct reset_source t;

		if (l < tw->n_resets && h[l].count < h[m].count)
			m = l;
		if (r < tw->n_resets && h[r].count < h[m].count)
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		tw->slots[h[i].slot] = (uint32_t)i + 1;
		tw->slots[h[m].slot] = (uint32_t)m + 1;
		i = m;
	}
}

/* Counts one reset closed by `a`. Returns -1 (errno ENOMEM) when the table cannot be made. A new
 * entry starts at the bottom of the heap with count 1, the minimum, so it stays a heap. */
static int count_reset(struct text_writer *tw, const struct ip_addr *a)
{
	long found;

	if (tw->resets == NULL) {
		tw->resets = calloc(RESET_SOURCES_MAX, sizeof *tw->resets);
		tw->slots = calloc((size_t)RESET_SLOTS, sizeof *tw->slots);
		if (tw->resets == NULL || tw->slots == NULL) {
			free(tw->resets);
			free(tw->slots);
			tw->resets = NULL;
			tw->slots = NULL;
			errno = ENOMEM;
			return -1;
		}
	}
	found = reset_find(tw, a);
	if (found >= 0) {
		tw->resets[found].count++;
		reset_sift_down(tw, (size_t)found);
		return 0;
	}
	if (tw->n_resets < RESET_SOURCES_MAX) {
		size_t i = tw->n_resets++;
		size_t parent;

		tw->resets[i] = (struct reset_source){ .addr = *a, .count = 1 };
		/* Sift up: a count of 1 rises above any larger one (there are none smaller). */
		while (i > 0 && tw->resets[parent = (i - 1) / 2].count > 1) {
			tw->resets[i] = tw->resets[parent];
			tw->slots[tw->resets[i].slot] = (uint32_t)i + 1;
			i = parent;
		}
		tw->resets[i] = (struct reset_source){ .addr = *a, .count = 1 };
		slot_insert(tw, i);
		return 0;
	}
	/* Space-Saving: the least counted source makes way; the newcomer inherits its count. */
	tw->resets_overflowed = true;
	slot_delete(tw, tw->resets[0].slot);
	tw->resets[0].addr = *a;
	tw->resets[0].error = tw->resets[0].count;
	tw->resets[0].count++;
	slot_insert(tw, 0);
	reset_sift_down(tw, 0);
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
}

static int text_flow(struct writer *w, const struct flow_record *f)
{
	struct text_writer *tw = (struct text_writer *)w;

	if (is_noteworthy(f->close_class))
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
			rbuf_putc(b, (char)(c == '\n' ? 'n' : c == '\r' ? 'r' : 't'));
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
	if (s->frames != 0 || s->last_ts_ns != 0) {
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

	uint64_t max_error = 0;

	if (tw->n_resets == 0)
		return;
	/* Sort the heap in place: it is not used for counting any more. */
	n = tw->n_resets;
	qsort(tw->resets, n, sizeof *tw->resets, by_count_then_addr);
	shown = n < TOP_RESETS ? n : TOP_RESETS;
	for (size_t i = 0; i < shown; i++) {
		char ip[48];
		size_t len = strlen(ip_addr_format(&tw->resets[i].addr, ip, sizeof ip));

		if (len > ip_width)
			ip_width = len;
		if (tw->resets[i].error > max_error)
			max_error = tw->resets[i].error;
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
		rbuf_puts(b, tw->resets_overflowed ? "  and more than " : "  and ");
		rbuf_u64(b, n - shown);
		RBUF_LIT(b, " more addresses");
		emit_line(tw);
	}
	if (max_error != 0) {
		RBUF_LIT(b, "  (too many addresses to count each: a count above may be up to ");
		rbuf_u64(b, max_error);
		RBUF_LIT(b, " too high)");
		emit_line(tw);
	}
	tw->n_resets = 0; /* the table is no longer a heap */
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
	free(tw->slots);
	rbuf_free(&tw->line);
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
	/* The hash key only spreads addresses over slots (the report does not depend on it); if the
	 * kernel has no randomness to give yet, the time and an address are still unpredictable
	 * enough to aim at from a capture file. */
	if (getrandom(&tw->hash_key, sizeof tw->hash_key, GRND_NONBLOCK) != sizeof tw->hash_key)
		tw->hash_key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)tw;
	return &tw->base;
}
