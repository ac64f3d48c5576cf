/* text_writer.c - `-f text`, the default: the investigator's summary, or connection stories.
 *
 * Summary (written at the end). Sections, in order: a header (capture files, frames, flows, time
 * span); the table of close classes by closer (one row per class that occurred, then a total
 * row; the flows column is the share of all flows, each closer column the share of its row);
 * the top reset sources (digest.h: servers by endpoint, clients by address, most first, up to
 * DIGEST_TOP_RESETS); the slowest closes; the flows stuck half-closed (a side in CLOSE-WAIT for
 * longer than the threshold when the capture ended); the noteworthy flows (every class but
 * fin_graceful, fin_simultaneous, open_at_end and idle_at_end, and flows whose diagnoses need
 * reading: the DIGEST_NOTEWORTHY lowest ids, one line each, then one indented plain sentence per
 * diagnosis, and how many more there were); the capture facts (per file: link type, frames,
 * TCP segments, bytes), the frames skipped per capture and reason with what each reason means,
 * and capture errors.
 *
 * Stories (options.stories, --flow): each flow whose record carries a selected segment list is
 * written as it finishes: the connection, how it opened, what each side sent, the ladder diagram
 * of its segments, what happened in sentences, and the classifier's one-line reason; the end adds
 * the capture facts.
 *
 * Colour (options.color) is ANSI SGR only, never anything else; alignment counts only visible
 * columns. Records are freed by the caller once writer_flow returns, so the summary keeps what it
 * needs in a digest (digest.h). Untrusted text (reasons, file names) is printed with control
 * characters and ill-formed UTF-8 escaped (put_visible), so a capture cannot drive the terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "diagnosis_text.h"
#include "digest.h"
#include "ladder.h"
#include "rbuf.h"
#include "rtext.h"
#include "story.h"
#include "writer_impl.h"

#define HEADER_CAPTURES_MAX 8 /* file names listed in the header line */
#define STORY_WIDTH 100       /* story paragraphs wrap at this column */
#define LABEL_WIDTH 15        /* "  final state  " */

/* SGR parameters. */
#define C_BOLD "1"
#define C_DIM "2"
#define C_RED "31"
#define C_GREEN "32"
#define C_YELLOW "33"
#define C_CYAN "36"

struct text_writer {
	struct writer base;
	struct writer_options opt;
	struct digest digest;
	uint64_t stories;      /* stories written */
	struct rbuf line;      /* one line being built, reused */
	size_t invisible;      /* bytes of colour sequences in `line` */
	bool line_failed;      /* a line was lost for want of memory */
	struct rbuf scratch;   /* a story's paragraphs, a ladder */
};

/* --- line building -------------------------------------------------------------------------- */

/* Starts colour `code` (SGR parameters) when colour is on. */
static void sgr(struct text_writer *tw, const char *code)
{
	size_t before;

	if (!tw->opt.color)
		return;
	before = tw->line.len;
	RBUF_LIT(&tw->line, "\x1b[");
	rbuf_puts(&tw->line, code);
	rbuf_putc(&tw->line, 'm');
	tw->invisible += tw->line.len - before;
}

static void sgr_off(struct text_writer *tw)
{
	sgr(tw, "0");
}

/* The visible column where the line now ends: colour sequences and UTF-8 continuation bytes
 * take no column ("µs" is two columns). */
static size_t column(const struct text_writer *tw)
{
	size_t continuation = 0;

	for (size_t i = 0; i < tw->line.len; i++)
		continuation += ((unsigned char)tw->line.data[i] & 0xC0) == 0x80;
	return tw->line.len - tw->invisible - continuation;
}

/* Pads with spaces until `width` columns were written since column `from`. */
static void pad_to(struct text_writer *tw, size_t from, size_t width)
{
	while (column(tw) - from < width)
		rbuf_putc(&tw->line, ' ');
}

/* Writes the line built so far, plus '\n'; clears it. */
static void emit_line(struct text_writer *tw)
{
	rbuf_putc(&tw->line, '\n');
	if (tw->line.failed)
		tw->line_failed = true;
	else
		fwrite(tw->line.data, 1, tw->line.len, tw->base.out); /* errors: ferror() at the end */
	rbuf_clear(&tw->line);
	tw->invisible = 0;
}

static void section(struct text_writer *tw, const char *title)
{
	emit_line(tw);
	sgr(tw, C_BOLD);
	rbuf_puts(&tw->line, title);
	sgr_off(tw);
}

static const char *class_color(enum close_class c)
{
	switch (c) {
	case CLOSE_FIN_GRACEFUL:
	case CLOSE_FIN_SIMULTANEOUS:
		return C_GREEN;
	case CLOSE_RST_UNREAD_DATA:
	case CLOSE_RST_ABORT:
	case CLOSE_RST_AFTER_CLOSE:
	case CLOSE_RST_PEER_RESTARTED:
	case CLOSE_RST_REFUSED:
		return C_RED;
	case CLOSE_HALF_CLOSED_AT_END:
	case CLOSE_SYN_UNANSWERED:
	case CLOSE_KEEPALIVE_TIMEOUT:
	case CLOSE_PEER_VANISHED:
		return C_YELLOW;
	case CLOSE_OPEN_AT_END:
	case CLOSE_IDLE_AT_END:
	case CLOSE_CLASS_COUNT:
		break;
	}
	return NULL;
}

static void put_class(struct text_writer *tw, enum close_class c)
{
	const char *color = class_color(c);

	if (color)
		sgr(tw, color);
	rbuf_puts(&tw->line, close_class_name(c));
	if (color)
		sgr_off(tw);
}

/* --- summary sections ------------------------------------------------------------------------ */

static void print_header(struct text_writer *tw, const struct run_summary *s)
{
	struct rbuf *b = &tw->line;

	sgr(tw, C_BOLD);
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
	sgr_off(tw);
	emit_line(tw);

	rbuf_u64(b, s->frames);
	rbuf_puts(b, s->frames == 1 ? " frame, " : " frames, ");
	rbuf_u64(b, s->flows);
	rbuf_puts(b, s->flows == 1 ? " flow" : " flows");
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
static void put_cell(struct text_writer *tw, uint64_t count, uint64_t of, unsigned width)
{
	char pct[16];
	size_t start = column(tw);

	RBUF_LIT(&tw->line, "  ");
	pad_to(tw, start, 2 + width - digits_of(count));
	if (count == 0)
		sgr(tw, C_DIM);
	rbuf_u64(&tw->line, count);
	if (of == 0)
		snprintf(pct, sizeof pct, "%7s", "-");
	else
		snprintf(pct, sizeof pct, "%6.1f%%", 100.0 * (double)count / (double)of);
	rbuf_puts(&tw->line, pct);
	if (count == 0)
		sgr_off(tw);
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
	sgr(tw, C_BOLD);
	RBUF_LIT(b, "close class");
	pad_to(tw, 0, name_width + 2 + width + 7 - strlen("flows"));
	RBUF_LIT(b, "flows");
	for (unsigned i = 0; i < N_CLOSER_COLUMNS; i++) {
		const char *name = closer_label(closer_order[i]);
		size_t start = column(tw);

		pad_to(tw, start, 2 + width + 7 - strlen(name));
		rbuf_puts(b, name);
	}
	sgr_off(tw);
	emit_line(tw);

	for (unsigned k = 0; k <= CLOSE_CLASS_COUNT; k++) {
		bool total_row = k == CLOSE_CLASS_COUNT;
		uint64_t row = total_row ? all : totals[k];
		const uint64_t *by = total_row ? closers : s->by_class[k];

		if (!total_row && row == 0)
			continue;
		if (total_row) {
			sgr(tw, C_BOLD);
			RBUF_LIT(b, "total");
			sgr_off(tw);
		} else {
			put_class(tw, (enum close_class)k);
		}
		pad_to(tw, 0, name_width);
		put_cell(tw, row, all, width);
		for (unsigned i = 0; i < N_CLOSER_COLUMNS; i++)
			put_cell(tw, by[closer_order[i]], row, width);
		emit_line(tw);
	}
}

/* "198.51.100.2:8080 (server)", "198.51.100.1 (client)", "[2001:db8::2]:443 (server)" */
static void put_reset_source(struct rbuf *b, const struct digest_reset *r)
{
	char ip[48];

	ip_addr_format(&r->addr, ip, sizeof ip);
	if (r->role == FROM_SERVER) {
		struct flow_endpoint e = { r->addr, r->port };

		put_endpoint(b, &e);
		RBUF_LIT(b, " (server)");
	} else {
		rbuf_puts(b, ip);
		RBUF_LIT(b, " (client)");
	}
}

static size_t reset_source_width(const struct digest_reset *r)
{
	char ip[48];

	if (r->role == FROM_SERVER) {
		struct flow_endpoint e = { r->addr, r->port };

		return endpoint_width(&e) + 9;
	}
	return strlen(ip_addr_format(&r->addr, ip, sizeof ip)) + 9;
}

static void print_resets(struct text_writer *tw)
{
	const struct digest *d = &tw->digest;
	struct rbuf *b = &tw->line;
	size_t shown = d->n_resets < DIGEST_TOP_RESETS ? d->n_resets : DIGEST_TOP_RESETS;
	size_t width = 0;

	if (d->n_resets == 0)
		return;
	for (size_t i = 0; i < shown; i++)
		if (reset_source_width(&d->resets[i]) > width)
			width = reset_source_width(&d->resets[i]);
	section(tw, "top reset sources (closer of an rst_* flow)");
	emit_line(tw);
	for (size_t i = 0; i < shown; i++) {
		RBUF_LIT(b, "  ");
		put_reset_source(b, &d->resets[i]);
		pad_to(tw, 0, 2 + width + 2 + digits_of(d->resets[0].count) -
				      digits_of(d->resets[i].count));
		sgr(tw, C_RED);
		rbuf_u64(b, d->resets[i].count);
		sgr_off(tw);
		emit_line(tw);
	}
	if (d->n_resets > shown) {
		rbuf_puts(b, d->resets_overflowed ? "  and more than " : "  and ");
		rbuf_u64(b, d->n_resets - shown);
		RBUF_LIT(b, " more sources");
		emit_line(tw);
	}
	if (d->resets_error != 0) {
		RBUF_LIT(b, "  (too many sources to count each: a count above may be up to ");
		rbuf_u64(b, d->resets_error);
		RBUF_LIT(b, " too high)");
		emit_line(tw);
	}
}

/* "  #12 198.51.100.1:40001 -> 198.51.100.2:8080" padded to the given widths. */
static void put_flow_head(struct text_writer *tw, uint64_t id, const struct flow_endpoint *client,
                          const struct flow_endpoint *server, size_t id_width,
                          size_t client_width, size_t server_width)
{
	struct rbuf *b = &tw->line;
	size_t col;

	RBUF_LIT(b, "  ");
	pad_to(tw, 0, 2 + id_width - 1 - digits_of(id));
	sgr(tw, C_BOLD);
	rbuf_putc(b, '#');
	rbuf_u64(b, id);
	sgr_off(tw);
	RBUF_LIT(b, " ");
	col = column(tw);
	put_endpoint(b, client);
	pad_to(tw, col, client_width);
	RBUF_LIT(b, " -> ");
	col = column(tw);
	put_endpoint(b, server);
	pad_to(tw, col, server_width);
}

static void widen(size_t *id_w, size_t *c_w, size_t *s_w, uint64_t id,
                  const struct flow_endpoint *c, const struct flow_endpoint *s)
{
	if (1 + digits_of(id) > *id_w)
		*id_w = 1 + digits_of(id);
	if (endpoint_width(c) > *c_w)
		*c_w = endpoint_width(c);
	if (endpoint_width(s) > *s_w)
		*s_w = endpoint_width(s);
}

static void print_slow(struct text_writer *tw)
{
	const struct digest *d = &tw->digest;
	struct rbuf *b = &tw->line;
	size_t iw = 0, cw = 0, sw = 0;

	if (d->n_slow == 0)
		return;
	for (unsigned i = 0; i < d->n_slow; i++)
		widen(&iw, &cw, &sw, d->slow[i].id, &d->slow[i].client, &d->slow[i].server);
	section(tw, "slowest closes (first FIN to the last ACK)");
	emit_line(tw);
	for (unsigned i = 0; i < d->n_slow; i++) {
		const struct digest_close *c = &d->slow[i];

		put_flow_head(tw, c->id, &c->client, &c->server, iw, cw, sw);
		/* The duration right-aligned in 10 columns ("µs" is one column less than its bytes). */
		rbuf_clear(&tw->scratch);
		put_duration_ascii(&tw->scratch, c->end_ns - c->start_ns);
		pad_to(tw, 0, 2 + iw + 1 + cw + 4 + sw + 2 + 10 - tw->scratch.len);
		put_duration(b, c->end_ns - c->start_ns);
		RBUF_LIT(b, "  the ");
		rbuf_puts(b, side_word(c->first));
		RBUF_LIT(b, " closed first, the ");
		rbuf_puts(b, side_word(!c->first));
		RBUF_LIT(b, " ");
		put_duration(b, c->wait_ns);
		RBUF_LIT(b, " later");
		emit_line(tw);
	}
}

static void print_stuck(struct text_writer *tw)
{
	const struct digest *d = &tw->digest;
	struct rbuf *b = &tw->line;
	size_t iw = 0, cw = 0, sw = 0;

	if (d->n_stuck_over == 0)
		return;
	for (unsigned i = 0; i < d->n_stuck_kept; i++)
		widen(&iw, &cw, &sw, d->stuck[i].id, &d->stuck[i].client, &d->stuck[i].server);
	emit_line(tw);
	sgr(tw, C_BOLD);
	RBUF_LIT(b, "stuck half-closed (CLOSE-WAIT for more than ");
	put_duration(b, tw->opt.close_wait_ns);
	RBUF_LIT(b, " at the end of the capture): ");
	sgr_off(tw);
	sgr(tw, C_YELLOW);
	rbuf_u64(b, d->n_stuck_over);
	sgr_off(tw);
	emit_line(tw);
	for (unsigned i = 0; i < d->n_stuck_kept; i++) {
		const struct digest_stuck *st = &d->stuck[i];

		put_flow_head(tw, st->id, &st->client, &st->server, iw, cw, sw);
		RBUF_LIT(b, "  ");
		rbuf_puts(b, side_word(st->waiting));
		RBUF_LIT(b, " in CLOSE-WAIT for ");
		put_duration(b, d->capture_end_ns - st->fin_ns);
		RBUF_LIT(b, " since the ");
		rbuf_puts(b, side_word(!st->waiting));
		RBUF_LIT(b, "'s FIN");
		if (st->fin_frame) {
			RBUF_LIT(b, " (frame ");
			rbuf_u64(b, st->fin_frame);
			rbuf_putc(b, ')');
		}
		if (st->sent_after_fin)
			RBUF_LIT(b, ", still sending");
		emit_line(tw);
	}
	if (d->n_stuck_over > d->n_stuck_kept) {
		RBUF_LIT(b, "  and ");
		rbuf_u64(b, d->n_stuck_over - d->n_stuck_kept);
		RBUF_LIT(b, " more");
		emit_line(tw);
	}
}

/* One diagnosis sentence, indented under its flow's line. */
static void emit_diagnosis(void *ctx, const char *text, size_t len)
{
	struct text_writer *tw = ctx;

	RBUF_LIT(&tw->line, "      ");
	put_visible(&tw->line, text, len);
	emit_line(tw);
}

static void print_noteworthy(struct text_writer *tw)
{
	char reason[FLOW_REASON_MAX];
	size_t reason_len;
	const struct digest *d = &tw->digest;
	struct rbuf *b = &tw->line;
	size_t iw = 0, cw = 0, sw = 0;

	if (d->n_noteworthy == 0)
		return;
	for (unsigned i = 0; i < d->n_kept; i++)
		widen(&iw, &cw, &sw, d->noteworthy[i].id, &d->noteworthy[i].client,
		      &d->noteworthy[i].server);
	emit_line(tw);
	sgr(tw, C_BOLD);
	RBUF_LIT(b, "noteworthy flows (");
	rbuf_u64(b, d->n_noteworthy);
	rbuf_putc(b, ')');
	sgr_off(tw);
	emit_line(tw);
	for (unsigned i = 0; i < d->n_kept; i++) {
		const struct digest_flow *n = &d->noteworthy[i];

		put_flow_head(tw, n->id, &n->client, &n->server, iw, cw, sw);
		RBUF_LIT(b, "  ");
		put_class(tw, n->close_class);
		RBUF_LIT(b, " (");
		rbuf_puts(b, closer_label(n->closer));
		rbuf_putc(b, ')');
		reason_len = flow_reason_format(&n->reason, reason, sizeof reason);
		if (reason_len != 0) {
			RBUF_LIT(b, ": ");
			put_visible(b, reason, reason_len);
		}
		emit_line(tw);
		diagnosis_sentences(&n->diagnosis, &tw->scratch, emit_diagnosis, tw);
	}
	if (d->n_noteworthy > d->n_kept) {
		RBUF_LIT(b, "  and ");
		rbuf_u64(b, d->n_noteworthy - d->n_kept);
		RBUF_LIT(b, " more");
		emit_line(tw);
	}
}

/* What each skip reason means (dissect_result_name() names, and "filtered"). */
static const char *skip_meaning(const char *reason)
{
	static const struct {
		const char *name, *meaning;
	} meanings[] = {
		{ "not_ip", "neither IPv4 nor IPv6 (ARP, LLDP, ...)" },
		{ "not_tcp", "IP but not TCP (UDP, ICMP, ...)" },
		{ "fragment", "IP fragments, not reassembled" },
		{ "truncated", "headers cut short by the capture's snapshot length" },
		{ "malformed", "headers that contradict themselves" },
		{ "unsupported_link", "a link type tcpmortem does not read" },
		{ "bad_encapsulation", "a tunnel or encapsulation header that contradicts itself" },
		{ "encapsulation_too_deep", "tunnels nested more than 8 layers deep" },
		{ "filtered", "not matching --filter" },
	};

	for (unsigned i = 0; reason && i < sizeof meanings / sizeof meanings[0]; i++)
		if (strcmp(reason, meanings[i].name) == 0)
			return meanings[i].meaning;
	return NULL;
}

static void print_captures(struct text_writer *tw, const struct run_summary *s)
{
	struct rbuf *b = &tw->line;
	bool any_skipped = false, any_error = false;
	const char *seen[SKIP_REASONS_MAX * 2];
	unsigned n_seen = 0;

	if (s->n_captures != 0) {
		section(tw, s->n_captures == 1 ? "capture" : "captures");
		emit_line(tw);
	}
	for (unsigned i = 0; i < s->n_captures; i++) {
		const struct capture_stats *c = &s->captures[i];

		any_skipped |= c->n_skipped != 0;
		any_error |= c->error != NULL;
		RBUF_LIT(b, "  ");
		put_visible_str(b, c->path);
		RBUF_LIT(b, ": ");
		if (c->link_type) {
			rbuf_puts(b, c->link_type);
			RBUF_LIT(b, ", ");
		}
		put_grouped(b, c->frames);
		RBUF_LIT(b, " frames, ");
		put_grouped(b, c->tcp_segments);
		RBUF_LIT(b, " TCP segments, ");
		put_grouped(b, c->bytes);
		RBUF_LIT(b, " bytes");
		if (c->ts_nano)
			RBUF_LIT(b, ", nanosecond timestamps");
		if (c->live) {
			RBUF_LIT(b, ", live: ");
			put_grouped(b, c->kernel_dropped);
			RBUF_LIT(b, " dropped by the kernel");
		}
		emit_line(tw);
	}
	if (any_skipped) {
		section(tw, "skipped frames");
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
				bool known = false;

				rbuf_puts(b, k == 0 ? " " : ", ");
				put_visible_str(b, c->skipped[k].reason);
				rbuf_putc(b, ' ');
				rbuf_u64(b, c->skipped[k].count);
				for (unsigned j = 0; j < n_seen; j++)
					known |= strcmp(seen[j], c->skipped[k].reason) == 0;
				if (!known && skip_meaning(c->skipped[k].reason) &&
				    n_seen < sizeof seen / sizeof seen[0])
					seen[n_seen++] = c->skipped[k].reason;
			}
			emit_line(tw);
		}
		for (unsigned j = 0; j < n_seen; j++) {
			sgr(tw, C_DIM);
			RBUF_LIT(b, "  ");
			rbuf_puts(b, seen[j]);
			RBUF_LIT(b, ": ");
			rbuf_puts(b, skip_meaning(seen[j]));
			sgr_off(tw);
			emit_line(tw);
		}
	}
	if (any_error) {
		section(tw, "capture errors");
		emit_line(tw);
		for (unsigned i = 0; i < s->n_captures; i++) {
			if (s->captures[i].error == NULL)
				continue;
			RBUF_LIT(b, "  ");
			put_visible_str(b, s->captures[i].path);
			RBUF_LIT(b, ": ");
			sgr(tw, C_RED);
			put_visible_str(b, s->captures[i].error);
			sgr_off(tw);
			emit_line(tw);
		}
	}
}

/* --- stories --------------------------------------------------------------------------------- */

/* Writes text (n bytes of UTF-8, untrusted) as lines of at most STORY_WIDTH columns, broken at
 * spaces; the first line starts with `first` (already in the line), the rest with `indent`. */
static void wrap(struct text_writer *tw, const char *text, size_t n, const char *indent)
{
	size_t i = 0;

	while (i < n) {
		size_t room = STORY_WIDTH > column(tw) ? STORY_WIDTH - column(tw) : 20;
		size_t chars = 0, j = i, cut = 0;

		while (j < n && chars < room) {
			if (text[j] == ' ')
				cut = j;
			j++;
			while (j < n && ((unsigned char)text[j] & 0xC0) == 0x80)
				j++;
			chars++;
		}
		if (j < n && cut > i)
			j = cut;
		put_visible(&tw->line, text + i, j - i);
		emit_line(tw);
		i = j;
		while (i < n && text[i] == ' ')
			i++;
		if (i < n)
			rbuf_puts(&tw->line, indent);
	}
}

static void label(struct text_writer *tw, const char *name)
{
	RBUF_LIT(&tw->line, "  ");
	sgr(tw, C_BOLD);
	rbuf_puts(&tw->line, name);
	sgr_off(tw);
	pad_to(tw, 0, LABEL_WIDTH);
}

static void print_story(struct text_writer *tw, const struct flow_record *r)
{
	char reason[FLOW_REASON_MAX];
	size_t reason_len;
	const struct segment_list *l = r->segments;
	struct rbuf *b = &tw->line;
	struct rbuf *s = &tw->scratch;

	if (tw->stories++ != 0)
		emit_line(tw);
	sgr(tw, C_BOLD);
	RBUF_LIT(b, "connection #");
	rbuf_u64(b, r->id);
	RBUF_LIT(b, "  ");
	put_endpoint(b, &r->client);
	RBUF_LIT(b, " -> ");
	put_endpoint(b, &r->server);
	sgr_off(tw);
	emit_line(tw);

	label(tw, "ended");
	rbuf_clear(s);
	story_verdict(s, r);
	if (class_color(r->close_class))
		sgr(tw, class_color(r->close_class));
	rbuf_put(b, s->data, s->len);
	sgr_off(tw);
	emit_line(tw);

	label(tw, "when");
	put_utc(b, r->first_ts_ns, r->ts_nano);
	RBUF_LIT(b, " to ");
	put_utc(b, r->last_ts_ns, r->ts_nano);
	RBUF_LIT(b, " UTC (");
	put_duration(b, r->last_ts_ns - r->first_ts_ns);
	rbuf_putc(b, ')');
	emit_line(tw);
	if (r->capture) {
		label(tw, "capture");
		put_visible_str(b, r->capture);
		emit_line(tw);
	}

	label(tw, "handshake");
	rbuf_clear(s);
	story_handshake(s, r);
	wrap(tw, s->data, s->len, "               ");

	rbuf_clear(s);
	story_volume(s, r, "->");
	label(tw, "volume");
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		if (start != 0)
			pad_to(tw, 0, LABEL_WIDTH);
		rbuf_put(b, s->data + start, i - start);
		emit_line(tw);
		start = i + 1;
	}
	if (r->keepalive_probes) {
		pad_to(tw, 0, LABEL_WIDTH);
		rbuf_u64(b, r->keepalive_probes);
		RBUF_LIT(b, " keepalive probes");
		emit_line(tw);
	}
	label(tw, "final state");
	RBUF_LIT(b, "client ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_CLIENT]));
	RBUF_LIT(b, ", server ");
	rbuf_puts(b, tcp_state_name(r->state[FROM_SERVER]));
	emit_line(tw);
	if (r->modifiers) {
		label(tw, "modifiers");
		for (unsigned bit = 0, n = 0; bit < MOD_COUNT_BITS; bit++) {
			if (!(r->modifiers & (1u << bit)))
				continue;
			if (n++)
				RBUF_LIT(b, ", ");
			rbuf_puts(b, flow_modifier_name(1u << bit));
		}
		emit_line(tw);
	}

	emit_line(tw);
	sgr(tw, C_BOLD);
	if (!l || l->n == 0) {
		RBUF_LIT(b, "ladder: the segments were not collected");
		sgr_off(tw);
		emit_line(tw);
	} else {
		RBUF_LIT(b, "ladder (");
		ladder_caption(b, l);
		rbuf_putc(b, ')');
		sgr_off(tw);
		emit_line(tw);
		sgr(tw, C_DIM);
		RBUF_LIT(b, "  time: seconds since the first packet; seq/ack: relative to each side's "
		            "first sequence number");
		sgr_off(tw);
		emit_line(tw);
		rbuf_clear(s);
		ladder_text(s, r, "  ", tw->opt.color);
		if (s->failed)
			tw->line_failed = true;
		else
			fwrite(s->data, 1, s->len, tw->base.out);
	}

	emit_line(tw);
	sgr(tw, C_BOLD);
	RBUF_LIT(b, "what happened");
	sgr_off(tw);
	emit_line(tw);
	rbuf_clear(s);
	story_explain(s, r);
	for (size_t i = 0, start = 0; i < s->len; i++) {
		if (s->data[i] != '\n')
			continue;
		RBUF_LIT(b, "  - ");
		wrap(tw, s->data + start, i - start, "    ");
		start = i + 1;
	}
	reason_len = flow_reason_format(&r->reason, reason, sizeof reason);
	if (reason_len != 0) {
		RBUF_LIT(b, "  ");
		sgr(tw, C_DIM);
		RBUF_LIT(b, "classifier: ");
		sgr_off(tw);
		wrap(tw, reason, reason_len, "    ");
	}
}

/* The capture facts after the stories: one line. */
static void print_story_footer(struct text_writer *tw, const struct run_summary *s)
{
	emit_line(tw);
	sgr(tw, C_DIM);
	RBUF_LIT(&tw->line, "-- ");
	sgr_off(tw);
	print_header(tw, s);
	print_captures(tw, s);
}

/* --- the writer ------------------------------------------------------------------------------- */

static int text_begin(struct writer *w)
{
	(void)w; /* everything is written at the end, or per story */
	return 0;
}

static int text_flow(struct writer *w, const struct flow_record *f)
{
	struct text_writer *tw = (struct text_writer *)w;

	if (tw->opt.stories) {
		if (f->segments && f->segments->selected) {
			print_story(tw, f);
			if (tw->line_failed) {
				errno = ENOMEM;
				return -1;
			}
			return ferror(w->out) ? -1 : 0;
		}
		return 0;
	}
	return digest_add(&tw->digest, f);
}

static int text_end(struct writer *w, const struct run_summary *s)
{
	struct text_writer *tw = (struct text_writer *)w;

	rbuf_clear(&tw->line);
	tw->invisible = 0;
	if (tw->opt.stories) {
		print_story_footer(tw, s);
	} else {
		digest_finish(&tw->digest, s, tw->opt.close_wait_ns);
		print_header(tw, s);
		emit_line(tw);
		print_table(tw, s);
		print_resets(tw);
		print_slow(tw);
		print_stuck(tw);
		print_noteworthy(tw);
		print_captures(tw, s);
		if (tw->digest.n_noteworthy != 0) {
			emit_line(tw);
			sgr(tw, C_DIM);
			RBUF_LIT(&tw->line, "a connection's story and ladder diagram: tcpmortem --flow ID "
			                    "FILE...");
			sgr_off(tw);
			emit_line(tw);
		}
	}
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

	digest_free(&tw->digest);
	rbuf_free(&tw->line);
	rbuf_free(&tw->scratch);
	free(tw);
}

static const struct writer_ops text_ops = {
	.begin = text_begin,
	.flow = text_flow,
	.end = text_end,
	.destroy = text_destroy,
};

struct writer *report_text_create(FILE *out, const struct writer_options *opt)
{
	struct text_writer *tw = calloc(1, sizeof *tw);

	if (tw == NULL)
		return NULL;
	tw->base.ops = &text_ops;
	tw->base.out = out;
	tw->opt = *opt;
	return &tw->base;
}
