/* outline.h - private to reports/: the one skeleton of the readable reports (text, Markdown,
 * HTML): which sections a summary holds and in which order, and the outline of a connection's
 * story, written once against the markup interface (markup.h).
 *
 * A writer keeps what it needs while the flows stream past (digest.h, its rendered stories),
 * then fills a struct outline and calls outline_summary(); a story is rendered with
 * outline_story() while its record still exists.
 */
#ifndef TM_REPORTS_OUTLINE_H
#define TM_REPORTS_OUTLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "markup.h"
#include "writer_impl.h"

/* The class table's sums. */
struct class_totals {
	uint64_t by_class[CLOSE_CLASS_COUNT]; /* flows per class, all closers */
	uint64_t by_closer[CLOSER_COUNT];     /* flows per closer, all classes */
	uint64_t all;
	uint64_t resets;                      /* flows of the rst_* classes */
};

void class_totals_of(const struct run_summary *s, struct class_totals *t);

struct outline;

/* The medium's own parts around and among the sections. */
struct outline_frame {
	/* The document's head: the report's heading, the capture at a glance. */
	void (*head)(struct markup *m, const struct outline *o);
	/* Its foot (NULL: none). */
	void (*foot)(struct markup *m, const struct outline *o);
	/* A list of every connection, for a medium that keeps one (HTML); it then shows the
	 * stories beside it instead of the noteworthy table. NULL: none. */
	void (*connections)(struct markup *m, const struct outline *o);
};

/* Everything a summary is written from. */
struct outline {
	const struct outline_frame *frame;
	const struct run_summary *summary;
	const struct digest *digest;   /* digest_finish() done */
	struct class_totals totals;    /* outline_summary fills it */
	int64_t close_wait_ns;
	/* Stories rendered as the connections finished (outline_story), in the order to show. */
	const struct rbuf *stories;
	uint64_t n_stories;            /* shown */
	uint64_t story_candidates;     /* of how many */
	bool selected;                 /* they are the --flow selection (else the noteworthy ones) */
};

/* Writes the summary: the frame's head, every section in order, the frame's foot. */
void outline_summary(struct markup *m, struct outline *o);

/* The capture facts section alone (after the terminal's stories). */
void outline_captures(struct markup *m, const struct outline *o);

/* Writes one connection's story. Uses m->scratch. */
void outline_story(struct markup *m, const struct flow_record *r);

/* The capture files' names, escaped, ", "-separated, at most `max`; "no capture" when there is
 * none and `none` is set. Returns how many were left out. */
unsigned outline_paths(struct markup *m, const struct run_summary *s, unsigned max, bool none);

/* "2025-11-24 16:00:00.123456 to 2025-11-24 16:00:01.000000 UTC (877 ms)" */
void outline_time_span(struct markup *m, int64_t first_ns, int64_t last_ns, bool nano);

/* What the readable writers (text, Markdown, HTML) keep alike; each embeds it first. */
struct readable {
	struct writer base;
	struct writer_options opt;
	struct digest digest;
	struct markup m;
	struct rbuf out;     /* the report, built before it is written */
	struct rbuf scratch; /* the skeleton's */
};

/* writer_ops.init and .release of a struct readable (a writer calls them from its own). */
void readable_init(struct writer *w, const struct writer_options *opt,
                   const struct markup_ops *ops);
void readable_release(struct writer *w);
/* The end of a summary: finishes the digest, writes the summary (o's frame and stories set by
 * the caller) into `out` and writes it out (writer_put, with `failed`). */
int readable_summary(struct writer *w, const struct run_summary *s, struct outline *o,
                     bool failed);

#endif
