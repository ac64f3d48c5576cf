/* digest.h - private to reports/: what the readable summaries (text, Markdown, HTML) keep from
 * the flow records as they stream past, since a record is gone once writer_flow returns.
 *
 *   - noteworthy flows: every class but the orderly ones and open/idle at end, and any flow
 *     whose diagnoses need reading (diagnosis_noteworthy: a forged reset, a middlebox timeout, a
 *     CLOSE-WAIT, a reuse during TIME-WAIT); the DIGEST_NOTEWORTHY lowest ids with their reasons
 *     and diagnoses, and how many there were;
 *   - reset sources: who was the closer of an rst_* flow, how often. A server is counted per
 *     endpoint (address and port: the service that resets), a client per address (its ports are
 *     ephemeral). Exactly, up to DIGEST_RESET_SOURCES distinct sources; past that (a reset flood
 *     from forged addresses) by the Space-Saving algorithm, in a table that does not grow:
 *     `resets_overflowed` is set and a count may be high by up to its `error`;
 *   - the slowest closes: flows whose close took longest from the first FIN to the end of the
 *     close (the last acknowledgement, or the reset answering data sent after the FIN), the
 *     DIGEST_SLOW slowest;
 *   - flows stuck half-closed: at the end of the capture one side is in CLOSE-WAIT (it received
 *     a FIN and has not closed). How long is only known at the end, so the FIN time of each is
 *     kept (8 bytes per such flow) and the DIGEST_STUCK longest with their details.
 */
#ifndef TM_REPORTS_DIGEST_H
#define TM_REPORTS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "writer.h"

#define DIGEST_NOTEWORTHY 20
#define DIGEST_TOP_RESETS 10
#define DIGEST_SLOW 5
#define DIGEST_STUCK 10
#define DIGEST_RESET_SOURCES 4096

struct digest_flow {
	uint64_t id;
	struct flow_endpoint client;
	struct flow_endpoint server;
	enum close_class close_class;
	enum closer_side closer;
	struct flow_reason reason;       /* static strings and values only: safe to keep */
	struct flow_diagnosis diagnosis; /* static strings only: safe to keep */
};

struct digest_reset {
	struct ip_addr addr;
	uint16_t port;       /* 0 for a client: all its ports */
	uint8_t role;        /* enum flow_direction of the resetting side */
	uint64_t count;      /* never lower than the true count */
	uint64_t error;      /* Space-Saving: count may exceed the true count by this much */
	uint32_t slot;       /* digest.c's hash slot pointing at it */
};

struct digest_close {
	uint64_t id;
	struct flow_endpoint client;
	struct flow_endpoint server;
	enum close_class close_class;
	uint8_t first;       /* enum flow_direction: who sent the first FIN */
	int64_t start_ns;    /* the first FIN */
	int64_t end_ns;      /* the end of the close */
	int64_t wait_ns;     /* the other side's CLOSE-WAIT: first FIN to its own FIN or reset */
};

struct digest_stuck {
	uint64_t id;
	struct flow_endpoint client;
	struct flow_endpoint server;
	uint8_t waiting;     /* enum flow_direction of the side in CLOSE-WAIT */
	int64_t fin_ns;      /* the peer's FIN it never answered with its own */
	uint64_t fin_frame;
	bool sent_after_fin; /* it kept sending data after the FIN */
};

struct digest {
	struct digest_flow noteworthy[DIGEST_NOTEWORTHY]; /* the lowest ids, sorted at the end */
	unsigned n_kept;
	uint64_t n_noteworthy;

	struct digest_reset *resets; /* a min-heap by count; after digest_finish, most first */
	uint32_t *reset_slots;       /* open addressing: 1 + heap index, 0 empty */
	size_t n_resets;
	bool resets_overflowed;      /* more distinct sources than DIGEST_RESET_SOURCES were seen */
	uint64_t resets_error;       /* after digest_finish: the largest error of the top ones */
	uint64_t reset_key;          /* random key of the slot hash */

	struct digest_close slow[DIGEST_SLOW]; /* slowest first after digest_finish */
	unsigned n_slow;
	uint64_t n_closes;           /* flows with a timed close */

	struct digest_stuck stuck[DIGEST_STUCK]; /* earliest FIN first after digest_finish */
	unsigned n_stuck_kept;
	int64_t *stuck_fin;          /* FIN time of every flow in CLOSE-WAIT at the end */
	size_t n_stuck, stuck_cap;
	uint64_t n_stuck_over;       /* after digest_finish: over the threshold */
	int64_t capture_end_ns;      /* after digest_finish */
};

/* Takes what the summary needs from one record. -1 (errno ENOMEM) when a table could not grow;
 * the digest stays usable. */
int digest_add(struct digest *d, const struct flow_record *r);
/* Sorts for printing; counts stuck flows in CLOSE-WAIT for longer than close_wait_ns at the
 * end of the capture. Call once, after the last digest_add. */
void digest_finish(struct digest *d, const struct run_summary *s, int64_t close_wait_ns);
void digest_free(struct digest *d);

bool class_is_noteworthy(enum close_class c);
bool class_is_reset(enum close_class c);

/* When a record shows a completed close with FINs, its timing; false otherwise. */
bool digest_close_of(const struct flow_record *r, struct digest_close *out);
/* When a record ends with one side in CLOSE-WAIT, which side and since when; false otherwise. */
bool digest_stuck_of(const struct flow_record *r, struct digest_stuck *out);

#endif
