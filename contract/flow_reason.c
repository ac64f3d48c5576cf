/* flow_reason.c - the classifier's sentences and the appender that writes them (flow_reason.h).
 *
 * No printf: the text is copied piece by piece between the placeholders, numbers are written with
 * u64_digits(), and durations with exact integer arithmetic on the same double printf was given.
 */
#include "flow_reason.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "rbuf.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* What a reset from the path got wrong, inside the path-reset sentences. */
#define PATH_TTL "TTL %u where the %s's packets arrive with %u"
#define PATH_IP_ID "IP ID %u where the %s's next ID was about %u"
#define PATH_IDLE                                                                                  \
	"after %D of silence the %s's next segment was answered %D later by a reset in the %s's "  \
	"name that came from the path ("
#define PATH_IDLE_END "): a firewall or NAT had forgotten the idle connection"
#define PATH                                                                                       \
	"a reset in the %s's name answered the %s's segment %D later, but it came from the path, " \
	"not the %s ("
#define PATH_END "): a firewall, load balancer or IPS ended the connection"

/* The arguments each takes, in order, as classify.c passes them. */
static const char *const templates[] = {
	[REASON_NONE] = NULL,
	[REASON_TEXT] = "%s",
	/* the client; nothing from the server */
	[REASON_SYN_UNANSWERED_ONCE] =
	    "the client sent one SYN and the server never answered",
	/* SYNs sent, first to last SYN */
	[REASON_SYN_UNANSWERED] =
	    "the client sent its SYN %u times over %D and the server never answered",
	/* SYN to reset, server port */
	[REASON_REFUSED] =
	    "the server answered the SYN with a reset %D later: nothing listened on port %u "
	    "(connection refused)",
	/* idle, prober, probes, interval, what ended it */
	[REASON_KEEPALIVE_IDLE] =
	    "after %D of silence the %s's %u keepalive probes (every %D) went unanswered and %s: "
	    "a firewall or NAT most likely forgot the idle connection",
	/* prober, probes, interval, what ended it */
	[REASON_KEEPALIVE] =
	    "the %s's %u keepalive probes (every %D) went unanswered; %s",
	/* idle, sender, retransmissions, their span, given up or not */
	[REASON_VANISHED_IDLE] =
	    "after %D of silence the %s's next data was never answered (%u retransmissions over "
	    "%D): a firewall or NAT in the path most likely forgot the idle connection and drops "
	    "it; %s",
	/* peer, sender, segments, retransmissions, their span, silence, given up or not */
	[REASON_VANISHED_HEARTBEAT] =
	    "the %s stopped answering the %s's heartbeats: %u segments (%u retransmissions) over "
	    "%D went unanswered, nothing came back for %D; %s",
	[REASON_VANISHED] =
	    "the %s vanished (power, cable, route or firewall): the %s's %u segments (%u "
	    "retransmissions) over %D went unanswered, nothing came back for %D; %s",
	/* idle, peer, delay, named sender, then seen TTL or ID, named sender, expected TTL or ID */
	[REASON_PATH_RESET_IDLE_TTL] = PATH_IDLE PATH_TTL PATH_IDLE_END,
	[REASON_PATH_RESET_IDLE_IP_ID] = PATH_IDLE PATH_IP_ID PATH_IDLE_END,
	/* named sender, peer, delay, named sender, then as above */
	[REASON_PATH_RESET_TTL] = PATH PATH_TTL PATH_END,
	[REASON_PATH_RESET_IP_ID] = PATH PATH_IP_ID PATH_END,
	/* resetter, delay, peer */
	[REASON_RST_AFTER_CLOSE] =
	    "the %s had closed (FIN) and reset %D after the %s sent more data: the data reached a "
	    "socket that was no longer there to read it",
	/* resetter, peer, FIN acknowledged to the peer's FIN, resetter */
	[REASON_FIN_WAIT_2_TIMEOUT] =
	    "the %s had closed and its FIN was acknowledged; the %s's FIN came %D later and was "
	    "answered with a bare reset: the %s's FIN-WAIT-2 state had timed out (tcp_fin_timeout)",
	/* resetter, peer, delay */
	[REASON_PEER_RESTARTED] =
	    "the %s answered the %s's segment %D later with a reset taking its sequence number from "
	    "that segment's ack, without ever having closed: its kernel had no socket for the "
	    "connection (restarted host or process, lost state)",
	/* resetter, unread bytes, peer */
	[REASON_UNREAD_DATA] =
	    "the %s reset the connection instead of closing it: %u bytes from the %s arrived after "
	    "its own last data and were never answered, most likely closed unread (RFC 2525 "
	    "§2.17); a read followed by an abort looks the same",
	/* resetter */
	[REASON_ABORT] =
	    "the %s aborted the connection with a reset, its own next sequence number, having "
	    "answered all it received (SO_LINGER 0 or an application abort)",
	/* resetter, bytes, peer */
	[REASON_ABORT_AFTER_ANSWER] =
	    "the %s aborted the connection with a reset after the answer to its request; %u bytes "
	    "from the %s were acknowledged, never answered: read and aborted (likely) or left "
	    "unread (rst_unread_data), the packets cannot tell",
	/* resetter, its last window, its largest, peer */
	[REASON_UNREAD_ZERO_WINDOW] =
	    "the %s reset the connection with its receive buffer full: its window was %u (of up "
	    "to %u) and never reopened, so the %s's last data sat unread (RFC 2525 §2.17)",
	[REASON_UNREAD_WINDOW] =
	    "the %s reset the connection with its receive buffer nearly full: its window had "
	    "fallen to %u (of up to %u) and stayed there, so most of the %s's last data sat unread "
	    "(RFC 2525 §2.17)",
	/* resetter, bytes, peer */
	[REASON_ABORT_AFTER_READ] =
	    "the %s aborted the connection with a reset; after the %u bytes the %s sent last, its "
	    "window updates show its application reading: most likely read, then aborted",
	/* named sender, delay, peer, round trip to the named sender, named sender */
	[REASON_PATH_RESET_TIMING] =
	    "a reset in the %s's name came %D after the %s's segment it reacts to, sooner than the "
	    "%D round trip from the capture point to the %s: it came from the path (a firewall, "
	    "load balancer or IPS ended the connection)",
	/* resetter, peer, delay */
	[REASON_RST_AFTER_CLOSE_FIN] =
	    "the %s had closed (FIN); the %s's own FIN came later and was answered %D after it "
	    "with a reset: the closed socket was already gone",
	/* between the FINs, whether both were acknowledged */
	[REASON_FIN_SIMULTANEOUS] =
	    "both sides closed at once: the FINs crossed %D apart, neither acknowledging the "
	    "other%s",
	/* first closer, other side, between the FINs, how it ended */
	[REASON_FIN_GRACEFUL] =
	    "the %s closed first; the %s closed %D later%s",
	/* closer, other side, bytes it sent after the FIN */
	[REASON_HALF_CLOSED_SENDING] =
	    "the %s closed its sending side; the %s went on sending (%u bytes after the FIN) and "
	    "had not closed when the capture ended",
	/* closer, other side */
	[REASON_HALF_CLOSED] =
	    "the %s closed its sending side; the %s had not closed when the capture ended",
	/* silence, whether keepalive probes were answered */
	[REASON_IDLE_AT_END] =
	    "no close seen; no data for the last %D of the capture%s",
	/* since the last data */
	[REASON_OPEN_AT_END] =
	    "no close seen; data was still flowing %D before the capture ended",
	/* closer, side in CLOSE-WAIT, how long, threshold */
	[REASON_CLOSE_WAIT_STUCK] =
	    "the %s closed; the %s acknowledged its FIN and then neither sent nor closed for %D "
	    "(CLOSE-WAIT, threshold %D): its application never called close(), a leaked socket",
};
_Static_assert(COUNT_OF(templates) == REASON_COUNT, "a reason has no template");

const char *flow_reason_template(enum flow_reason_id id)
{
	if ((unsigned)id >= COUNT_OF(templates))
		return NULL;
	return templates[id];
}

/* --- durations -------------------------------------------------------------------------------- */

_Static_assert(sizeof(double) == sizeof(uint64_t), "double is not 64 bits");

/* d * scale rounded to the nearest integer, ties to even, from d's exact binary value: what
 * glibc's printf does with "%.1f" (scale 10) and "%.2f" (scale 100) in the default rounding mode.
 * For 1 <= d < 2^53 / scale (IEEE 754 binary64), and scale <= 1000. */
static uint64_t round_scaled(double d, uint64_t scale)
{
	uint64_t bits, mant, v, q, rem, half;
	int shift;

	memcpy(&bits, &d, sizeof bits);
	mant = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
	shift = 1075 - (int)((bits >> 52) & 0x7FF); /* d = mant / 2^shift */
	v = mant * scale;                           /* exact: below 2^63 */
	if (shift <= 0)
		return v << -shift; /* d >= 2^52: an integer (not reached for durations) */
	if (shift >= 64)
		return 0;
	q = v >> shift;
	rem = v & ((UINT64_C(1) << shift) - 1);
	half = UINT64_C(1) << (shift - 1);
	if (rem > half || (rem == half && (q & 1) != 0))
		q++;
	return q;
}

/* Writes the duration ending at `end` (no NUL); returns where it starts, at most
 * FLOW_DURATION_MAX - 1 bytes before `end`. */
static char *duration_digits(int64_t ns, char *end)
{
	char *p = end;
	uint64_t v;

	if (ns < 0)
		ns = 0;
	if (ns < 1000000) {
		p -= 4;
		memcpy(p, " µs", 4);
		return u64_digits((uint64_t)ns / 1000, p);
	}
	if (ns < 1000000000) {
		v = round_scaled((double)ns / 1e6, 10);
		p -= 3;
		memcpy(p, " ms", 3);
		*--p = (char)('0' + v % 10);
		*--p = '.';
		return u64_digits(v / 10, p);
	}
	v = round_scaled((double)ns / 1e9, 100);
	p -= 2;
	memcpy(p, " s", 2);
	*--p = (char)('0' + v % 10);
	*--p = (char)('0' + v / 10 % 10);
	*--p = '.';
	return u64_digits(v / 100, p);
}

/* --- the appender ----------------------------------------------------------------------------- */

struct sink {
	char *p;
	char *end;  /* where the NUL goes at the latest */
	bool plain; /* what was written is JSON-plain (text_plain), as far as known */
};

/* Whether s (n bytes) is well-formed UTF-8 without control characters, quotes or backslashes:
 * what a JSON string holds unchanged. */
static bool text_plain(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		size_t skip, len;

		if (u[i] < 0x20 || u[i] == '"' || u[i] == '\\')
			return false;
		if (u[i] < 0x80)
			continue;
		len = utf8_scan(u + i, n - i, &skip);
		if (len == 0)
			return false;
		i += len - 1;
	}
	return true;
}

static void put(struct sink *o, const char *s, size_t n)
{
	size_t room = (size_t)(o->end - o->p);

	if (n > room)
		n = room;
	memcpy(o->p, s, n);
	o->p += n;
}

/* Static string s: from its slot of memo `sm` (none: NULL) when the sink has room for a whole
 * slot's text, else put. */
static inline void put_static(struct sink *o, const char *s, struct reason_memo *sm)
{
	struct reason_memo_slot *m;

	if (sm == NULL) {
		o->plain = false; /* not asked */
		put(o, s, strlen(s));
		return;
	}
	m = &sm->slot[((uintptr_t)s >> 3) % REASON_MEMO_SLOTS];
	if (m->key != s) {
		size_t n = strlen(s);

		if (n > REASON_MEMO_TEXT) {
			o->plain = o->plain && text_plain(s, n);
			put(o, s, n);
			return;
		}
		m->key = s;
		m->len = n;
		m->plain = text_plain(s, n);
		memcpy(m->text, s, n);
	}
	o->plain = o->plain && m->plain;
	if ((size_t)(o->end - o->p) < REASON_MEMO_TEXT) {
		put(o, m->text, m->len);
		return;
	}
	memcpy(o->p, m->text, REASON_MEMO_TEXT);
	o->p += m->len;
}

/* Writes argument `a` for placeholder `spec`; "?" when they do not match. Numbers and durations
 * go straight into place when the sink has room for the longest (no copy through a buffer). */
static inline __attribute__((always_inline)) void put_arg(struct sink *o, char spec,
                                                          const struct flow_reason_arg *a,
                                                          struct reason_memo *sm)
{
	char tmp[2 * FLOW_DURATION_MAX];
	char *end = tmp + FLOW_DURATION_MAX; /* as much room after it: copied whole below */
	char *p;

	if (a == NULL) {
		put(o, "?", 1);
		return;
	}
	if (spec == 's' && a->kind == REASON_ARG_STR) {
		if (a->v.str != NULL)
			put_static(o, a->v.str, sm);
		return;
	}
	if (spec == 'u' && a->kind == REASON_ARG_UINT) {
		if ((size_t)(o->end - o->p) >= U64_TEXT_ROOM) {
			o->p += u64_write(o->p, a->v.uint);
			return;
		}
		p = u64_digits(a->v.uint, end);
	} else if (spec == 'D' && a->kind == REASON_ARG_DURATION) {
		p = duration_digits(a->v.ns, end);
		if ((size_t)(o->end - o->p) >= FLOW_DURATION_MAX) {
			/* One fixed-size copy: the text is at most FLOW_DURATION_MAX - 1 bytes, and
			 * tmp holds FLOW_DURATION_MAX bytes from p on. */
			memcpy(o->p, p, FLOW_DURATION_MAX);
			o->p += end - p;
			return;
		}
	} else {
		p = memcpy(end - 1, "?", 1);
	}
	put(o, p, (size_t)(end - p));
}

/* Each template cut once into its pieces: text up to a placeholder (or the end), and the
 * placeholder's letter ('s', 'u', 'D'; 0 after the last text). A '%' followed by anything else is
 * text. Made on first use (pthread_once: writers of several threads may ask at once). Each
 * piece's text is also kept in piece_text, with PIECE_PAD bytes after it, so that it can be copied
 * in whole PIECE_PAD-byte blocks (a few stores, no call) where the sink has the room. */
#define PIECES_MAX 16
#define PIECE_PAD 16
#define PIECE_TEXT_MAX 8192
struct piece {
	uint16_t off, len; /* the text: template + off, len bytes */
	uint16_t padded;   /* the same at piece_text + padded */
	char spec;
};
static struct piece pieces[REASON_COUNT][PIECES_MAX];
static uint8_t n_pieces[REASON_COUNT]; /* 0: cut as it comes (more than PIECES_MAX pieces) */
static bool template_plain[REASON_COUNT]; /* its text (placeholders aside) is text_plain() */
static char piece_text[PIECE_TEXT_MAX];
static pthread_once_t pieces_once = PTHREAD_ONCE_INIT;
/* Set once the templates are cut: a flag's acquire load per sentence instead of a call to
 * pthread_once (its release store comes after the pieces). */
static atomic_bool pieces_cut;

static void cut_templates(void)
{
	size_t used = 0;

	for (unsigned id = 0; id < REASON_COUNT; id++) {
		const char *t = templates[id], *from = t, *p = t;
		unsigned n = 0;

		if (t == NULL)
			continue;
		template_plain[id] = text_plain(t, strlen(t));
		for (;; p++) {
			char spec = '\0';
			bool placeholder;

			if (*p == '%')
				spec = p[1];
			placeholder = spec == 's' || spec == 'u' || spec == 'D';
			if (!placeholder)
				spec = '\0';

			if (!placeholder && *p != '\0')
				continue;
			if (n == PIECES_MAX || (size_t)(p - t) > UINT16_MAX ||
			    used + (size_t)(p - from) + PIECE_PAD > PIECE_TEXT_MAX) {
				n = 0;
				break;
			}
			pieces[id][n++] = (struct piece){ .off = (uint16_t)(from - t),
			                                  .len = (uint16_t)(p - from),
			                                  .padded = (uint16_t)used,
			                                  .spec = spec };
			memcpy(piece_text + used, from, (size_t)(p - from));
			used += (size_t)(p - from) + PIECE_PAD;
			if (!placeholder)
				break;
			from = ++p + 1;
		}
		n_pieces[id] = (uint8_t)n;
	}
	atomic_store_explicit(&pieces_cut, true, memory_order_release);
}

static inline void pieces_ready(void)
{
	if (!atomic_load_explicit(&pieces_cut, memory_order_acquire))
		pthread_once(&pieces_once, cut_templates);
}

/* A piece's text: in whole blocks from piece_text when the sink has room for the last block. */
static inline void put_piece(struct sink *o, const char *t, const struct piece *pc)
{
	if ((size_t)(o->end - o->p) >= (size_t)pc->len + PIECE_PAD) {
		const char *src = piece_text + pc->padded;

		for (size_t k = 0; k < pc->len; k += PIECE_PAD)
			memcpy(o->p + k, src + k, PIECE_PAD);
		o->p += pc->len;
		return;
	}
	put(o, t + pc->off, pc->len);
}

/* The template scanned as it is written: for one not cut (never, with the templates above). */
static void format_scanning(struct sink *o, const struct flow_reason *r, const char *t)
{
	unsigned next = 0;

	while (t != NULL && *t != '\0' && o->p < o->end) {
		const char *pct = strchr(t, '%');
		const struct flow_reason_arg *arg;
		char spec;

		if (pct == NULL) {
			put(o, t, strlen(t));
			break;
		}
		put(o, t, (size_t)(pct - t));
		spec = pct[1];
		if (spec != 's' && spec != 'u' && spec != 'D') {
			put(o, "%", 1); /* not a placeholder: the '%' itself */
			t = pct + 1;
			continue;
		}
		arg = next < r->n_args && next < FLOW_REASON_ARGS ? &r->args[next] : NULL;
		put_arg(o, spec, arg, NULL);
		next++;
		t = pct + 2;
	}
}

/* --- whole sentences ---------------------------------------------------------------------- */

/* The sentence's key: id, n_args and each argument's kind (2 bits each), never 0 for a template's
 * id (REASON_NONE has none), 0 for an argument of no known kind; and its slot, by the id and the
 * strings' addresses. One pass over the arguments. */
static uint64_t sentence_key(struct reason_memo *m, const struct flow_reason *r,
                             struct reason_memo_sentence **slot)
{
	uint64_t k = (uint64_t)r->id | (uint64_t)r->n_args << 8;
	uintptr_t h = r->id;

	for (unsigned i = 0; i < r->n_args && i < FLOW_REASON_ARGS; i++) {
		unsigned kind = r->args[i].kind;

		if (kind > REASON_ARG_DURATION)
			return 0; /* not a kind: formatted as it comes */
		k |= (uint64_t)kind << (16 + 2 * i);
		if (kind == REASON_ARG_STR)
			h = h * 31u + ((uintptr_t)r->args[i].v.str >> 3);
	}
	*slot = &m->sentence[(h ^ (h >> 7)) % REASON_MEMO_SENTENCES];
	return k;
}

static bool sentence_is(const struct reason_memo_sentence *s, const struct flow_reason *r,
                        uint64_t kinds)
{
	if (s->kinds != kinds)
		return false;
	/* the kinds are the same: a "%s" argument is where the slot has a string or NULL */
	for (unsigned i = 0; i < r->n_args && i < FLOW_REASON_ARGS; i++)
		if (r->args[i].kind == REASON_ARG_STR && r->args[i].v.str != s->str[i])
			return false;
	return true;
}

/* Makes slot s the sentence of r (a template cut in pieces, every placeholder with its argument
 * of the kind it says); false, the slot left empty, for any other or a text too long. */
static bool sentence_make(struct reason_memo_sentence *s, const struct flow_reason *r,
                          uint64_t kinds, struct reason_memo *sm)
{
	const char *t = flow_reason_template((enum flow_reason_id)r->id);
	size_t len = 0;
	bool plain = template_plain[r->id];

	s->kinds = 0;
	if (t == NULL || n_pieces[r->id] == 0)
		return false;
	s->n_nums = 0;
	for (unsigned i = 0; i < n_pieces[r->id]; i++) {
		const struct piece *pc = &pieces[r->id][i];
		const struct flow_reason_arg *a = i < r->n_args && i < FLOW_REASON_ARGS ? &r->args[i]
		                                                                       : NULL;

		if (len + pc->len >= FLOW_REASON_MAX)
			return false;
		memcpy(s->text + len, t + pc->off, pc->len);
		len += pc->len;
		if (pc->spec == 0)
			break;
		if (a == NULL)
			return false;
		if (pc->spec == 's' && a->kind == REASON_ARG_STR) {
			struct sink o = { .p = s->text + len, .end = s->text + FLOW_REASON_MAX - 1,
			                  .plain = true };

			if (a->v.str != NULL)
				put_static(&o, a->v.str, sm);
			if (o.p == o.end)
				return false; /* may have been cut */
			plain = plain && o.plain;
			len = (size_t)(o.p - s->text);
		} else if ((pc->spec == 'u' && a->kind == REASON_ARG_UINT) ||
		           (pc->spec == 'D' && a->kind == REASON_ARG_DURATION)) {
			s->num_at[s->n_nums] = (uint16_t)len;
			s->num_arg[s->n_nums++] = (uint8_t)i;
		} else {
			return false;
		}
	}
	for (unsigned i = 0; i < FLOW_REASON_ARGS; i++)
		s->str[i] = i < r->n_args && r->args[i].kind == REASON_ARG_STR ? r->args[i].v.str
		                                                              : NULL;
	s->len = (uint16_t)len;
	s->plain = plain;
	s->kinds = kinds;
	return true;
}

/* Copies n bytes from src in whole REASON_SENTENCE_PAD-byte blocks (both sides have the room). */
static inline void copy_blocks(char *o, const char *src, size_t n)
{
	for (size_t k = 0; k < n; k += REASON_SENTENCE_PAD)
		memcpy(o + k, src + k, REASON_SENTENCE_PAD);
}

/* Writes sentence s with r's numbers into buf (room checked by the caller: s->len, a duration's
 * room per number and a block more); returns the length. */
static size_t sentence_write(const struct reason_memo_sentence *s, const struct flow_reason *r,
                             char *buf)
{
	char *o = buf;
	size_t from = 0;

	for (unsigned k = 0; k < s->n_nums; k++) {
		const struct flow_reason_arg *a = &r->args[s->num_arg[k]];

		copy_blocks(o, s->text + from, s->num_at[k] - from);
		o += s->num_at[k] - from;
		from = s->num_at[k];
		if (a->kind == REASON_ARG_UINT) {
			o += u64_write(o, a->v.uint);
		} else {
			char tmp[2 * FLOW_DURATION_MAX];
			char *end = tmp + FLOW_DURATION_MAX, *p = duration_digits(a->v.ns, end);

			memcpy(o, p, FLOW_DURATION_MAX); /* tmp holds as much from p on */
			o += end - p;
		}
	}
	copy_blocks(o, s->text + from, s->len - from);
	o += s->len - from;
	*o = '\0';
	return (size_t)(o - buf);
}

size_t flow_reason_format_memo(const struct flow_reason *r, char *buf, size_t size,
                               struct reason_memo *memo, bool *plain)
{
	struct sink o;
	const char *t;

	if (plain != NULL)
		*plain = false;
	if (size == 0)
		return 0;
	if (memo != NULL && r->id > REASON_NONE && r->id < REASON_COUNT) {
		struct reason_memo_sentence *s = NULL;
		uint64_t kinds = sentence_key(memo, r, &s);

		pieces_ready();
		if (kinds != 0 && (sentence_is(s, r, kinds) || sentence_make(s, r, kinds, memo)) &&
		    size > (size_t)s->len + (size_t)s->n_nums * FLOW_DURATION_MAX +
		               REASON_SENTENCE_PAD) {
			if (plain != NULL)
				*plain = s->plain;
			return sentence_write(s, r, buf);
		}
	}
	o.p = buf;
	o.end = buf + size - 1;
	o.plain = true;
	t = flow_reason_template((enum flow_reason_id)r->id);
	if (t != NULL) {
		pieces_ready();
		if (n_pieces[r->id] == 0) {
			o.plain = false;
			format_scanning(&o, r, t);
		} else {
			o.plain = template_plain[r->id];
			for (unsigned i = 0; i < n_pieces[r->id]; i++) {
				const struct piece *pc = &pieces[r->id][i];

				put_piece(&o, t, pc);
				if (pc->spec == 0)
					break;
				put_arg(&o, pc->spec,
				        i < r->n_args && i < FLOW_REASON_ARGS ? &r->args[i] : NULL, memo);
			}
		}
	}
	/* Numbers, durations and "?" are plain; a text that fills the buffer may have been cut
	 * (inside a UTF-8 sequence). */
	if (plain != NULL)
		*plain = o.plain && o.p != o.end;
	*o.p = '\0';
	return (size_t)(o.p - buf);
}

size_t flow_reason_format(const struct flow_reason *r, char *buf, size_t size)
{
	return flow_reason_format_memo(r, buf, size, NULL, NULL);
}

size_t flow_duration_format(int64_t ns, char *buf, size_t size)
{
	char tmp[FLOW_DURATION_MAX];
	char *end = tmp + sizeof tmp;
	char *p = duration_digits(ns, end);
	size_t n = (size_t)(end - p);

	if (size == 0)
		return 0;
	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}
