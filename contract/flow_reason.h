/* flow_reason.h - the one-line human reason of a flow record, kept as a template and its values.
 *
 * The classifier decides which sentence explains a flow and with which values (sides, counts,
 * durations); most runs never print it (the text summary shows a few flows), so it does not
 * format the sentence. The record holds the sentence's id and its arguments, and the writers
 * that print it call flow_reason_format(), which writes the text with a small appender (no printf).
 *
 * A template is static text where "%s" stands for a static string, "%u" for an unsigned count and
 * "%D" for a duration, each taking the next argument in order. Durations are written as the
 * classifier always wrote them: "12 µs" below a millisecond (whole microseconds, cut), "3.4 ms"
 * below a second, "1.25 s" above, rounded exactly as printf's "%.1f" and "%.2f" round the double
 * ns / 1e6 or ns / 1e9 (to nearest, ties to even, on the double's exact binary value); negative
 * durations are written as 0.
 *
 * Arguments hold values or pointers to static text only (never into a flow, which is freed): a
 * record, and a struct flow_reason on its own, can be copied and outlive the flow and the
 * analyzer's tables.
 */
#ifndef TM_FLOW_REASON_H
#define TM_FLOW_REASON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sentences the classifier chooses from (contract/flow_reason.c has their text). */
enum flow_reason_id {
	REASON_NONE = 0,            /* no reason: the empty string */
	REASON_TEXT,                /* "%s": a static text given whole (tests, tools) */
	REASON_SYN_UNANSWERED_ONCE,
	REASON_SYN_UNANSWERED,
	REASON_REFUSED,
	REASON_KEEPALIVE_IDLE,
	REASON_KEEPALIVE,
	REASON_VANISHED_IDLE,
	REASON_VANISHED_HEARTBEAT,
	REASON_VANISHED,
	REASON_PATH_RESET_IDLE_TTL,
	REASON_PATH_RESET_IDLE_IP_ID,
	REASON_PATH_RESET_TTL,
	REASON_PATH_RESET_IP_ID,
	REASON_RST_AFTER_CLOSE,
	REASON_FIN_WAIT_2_TIMEOUT,
	REASON_PEER_RESTARTED,
	REASON_UNREAD_DATA,
	REASON_ABORT,
	REASON_FIN_SIMULTANEOUS,
	REASON_FIN_GRACEFUL,
	REASON_HALF_CLOSED_SENDING,
	REASON_HALF_CLOSED,
	REASON_IDLE_AT_END,
	REASON_OPEN_AT_END,
	REASON_CLOSE_WAIT_STUCK,
	REASON_RST_AFTER_CLOSE_FIN,
	REASON_ABORT_AFTER_ANSWER,
	REASON_PATH_RESET_TIMING,
	REASON_UNREAD_ZERO_WINDOW,
	REASON_UNREAD_WINDOW,
	REASON_ABORT_AFTER_READ,
	REASON_COUNT
};

enum flow_reason_arg_kind {
	REASON_ARG_NONE = 0,
	REASON_ARG_STR,      /* "%s": static text (NULL is written as nothing) */
	REASON_ARG_UINT,     /* "%u": decimal */
	REASON_ARG_DURATION, /* "%D": nanoseconds, written as described above */
};

/* The most arguments a template takes. */
#define FLOW_REASON_ARGS 7

struct flow_reason_arg {
	uint8_t kind; /* enum flow_reason_arg_kind */
	union {
		const char *str;
		uint64_t uint;
		int64_t ns;
	} v;
};

struct flow_reason {
	uint8_t id;     /* enum flow_reason_id */
	uint8_t n_args;
	struct flow_reason_arg args[FLOW_REASON_ARGS];
};

/* Longest reason text the reports print, with its NUL: longer ones are cut (in bytes). */
#define FLOW_REASON_MAX 256
/* Room for one duration's text ("9223372036.85 s"), with a NUL. */
#define FLOW_DURATION_MAX 24

static inline struct flow_reason_arg reason_str(const char *s)
{
	return (struct flow_reason_arg){ .kind = REASON_ARG_STR, .v.str = s };
}

static inline struct flow_reason_arg reason_uint(uint64_t u)
{
	return (struct flow_reason_arg){ .kind = REASON_ARG_UINT, .v.uint = u };
}

static inline struct flow_reason_arg reason_ns(int64_t ns)
{
	return (struct flow_reason_arg){ .kind = REASON_ARG_DURATION, .v.ns = ns };
}

/* Sets the reason to template `id` with n arguments (at most FLOW_REASON_ARGS are kept). */
static inline void flow_reason_set(struct flow_reason *r, enum flow_reason_id id,
                                   const struct flow_reason_arg *args, unsigned n)
{
	if (n > FLOW_REASON_ARGS)
		n = FLOW_REASON_ARGS;
	r->id = (uint8_t)id;
	r->n_args = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		r->args[i] = args[i];
}

/* flow_reason_set() with the arguments listed: FLOW_REASON(&rec->reason, REASON_ABORT,
 * reason_str("client")). At least one argument. */
#define FLOW_REASON(r, id, ...)                                                                    \
	flow_reason_set((r), (id), (const struct flow_reason_arg[]){ __VA_ARGS__ },                \
	                (unsigned)(sizeof((const struct flow_reason_arg[]){ __VA_ARGS__ }) /       \
	                           sizeof(struct flow_reason_arg)))

/* The template of a reason id ("the %s closed first; ..."); NULL for REASON_NONE and unknown
 * ids. */
const char *flow_reason_template(enum flow_reason_id id);

/* Writes the reason's text into buf as a string, cut to size - 1 bytes (a cut may split a UTF-8
 * character: the writers repair their untrusted text anyway). With FLOW_REASON_MAX bytes this is
 * the text the reports print. Returns its length (0 when size is 0). An argument missing or of
 * another kind than its placeholder says writes "?" in its place. */
size_t flow_reason_format(const struct flow_reason *r, char *buf, size_t size);

/* The texts of "%s" arguments met last, with their lengths, each where one fixed-size copy takes
 * it: a sentence's strings are a few names and endings, the same for most flows. A writer that
 * formats a reason per flow keeps one, zeroed, for its life, and passes it to
 * flow_reason_format_memo(). Direct-mapped by address (arguments are static text: one address,
 * one text); a slot holds the last string that mapped to it. */
#define REASON_MEMO_SLOTS 16
#define REASON_MEMO_TEXT 48
struct reason_memo_slot {
	const char *key;
	uint32_t len;
	bool plain; /* well-formed UTF-8, no control character, quote or backslash */
	char text[REASON_MEMO_TEXT];
};
/* A whole sentence but its numbers, kept by its template and static strings: most flows of a
 * capture share a few (e.g. "the server closed first; the client closed %D later and both FINs
 * were acknowledged"), so such a sentence is its fixed text copied in blocks with the numbers
 * written between. Direct-mapped by the template and the strings' addresses. */
#define REASON_MEMO_SENTENCES 32
#define REASON_SENTENCE_PAD 16 /* text[] is copied in blocks of this many bytes */
struct reason_memo_sentence {
	uint64_t kinds;                       /* key: id, n_args, the arguments' kinds; 0: empty */
	const char *str[FLOW_REASON_ARGS];    /* key: the "%s" arguments (NULL for the others) */
	uint16_t len;                         /* text[] (the sentence without its numbers) */
	uint8_t n_nums;                       /* the numbers, in order */
	bool plain;                           /* as flow_reason_format_memo() says it */
	uint16_t num_at[FLOW_REASON_ARGS];    /* where number k goes in text[] */
	uint8_t num_arg[FLOW_REASON_ARGS];    /* its argument */
	char text[FLOW_REASON_MAX + REASON_SENTENCE_PAD];
};
struct reason_memo {
	struct reason_memo_slot slot[REASON_MEMO_SLOTS];
	struct reason_memo_sentence sentence[REASON_MEMO_SENTENCES];
};

/* flow_reason_format() through `memo` (NULL: none): the same text. *plain (when not NULL) is set
 * when the text is known to be well-formed UTF-8 without control characters, quotes or
 * backslashes (what a JSON string holds unchanged): never without a memo, nor for a text that
 * filled the buffer (it may have been cut). */
size_t flow_reason_format_memo(const struct flow_reason *r, char *buf, size_t size,
                               struct reason_memo *memo, bool *plain);

/* Writes a duration ("12 µs", "3.4 ms", "1.25 s") into buf as a string, cut to size - 1 bytes;
 * FLOW_DURATION_MAX bytes always hold it. Returns its length. */
size_t flow_duration_format(int64_t ns, char *buf, size_t size);

#endif
