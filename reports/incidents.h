/* incidents.h - many connections ending at once for one cause, found in the stream of finished
 * flow records (the rules and their reasons are in incidents.c).
 *
 * The detector sees each finished record once, as it comes out of the engine, and keeps only a
 * window of recent endings per endpoint or path: no list of all flows. An incident is reported
 * (incident_sink) once it is over: when the records that come out show the capture has moved
 * past its end by the after-window and by the time a member's record may still take to come
 * out. The order in which incidents are reported, their numbers and their members depend only on
 * the order of the records, which the engine keeps the same with any number of threads.
 */
#ifndef TM_REPORTS_INCIDENTS_H
#define TM_REPORTS_INCIDENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "flow_record.h"

/* Append only: the names are report fields. */
enum incident_kind {
	INCIDENT_SERVER_EXIT = 0, /* one server endpoint closed or reset its connections at once */
	INCIDENT_KEEPALIVE_SWEEP, /* one endpoint closed many idle connections at once, kept others */
	INCIDENT_PATH_RESET,      /* a middlebox reset the connections of a path */
	INCIDENT_STATE_LOSS,      /* a middlebox forgot idle connections and dropped their traffic */
	INCIDENT_PATH_OUTAGE,     /* a path went silent: many connections retransmitting unanswered */
	INCIDENT_LISTEN_OVERFLOW, /* a listener's new connections had their SYNs dropped */
	INCIDENT_KIND_COUNT
};

/* What the incident's endpoint field names. */
enum incident_scope {
	SCOPE_ENDPOINT = 0, /* address and port (a server's listening socket) */
	SCOPE_PATH,         /* two networks: client side /24 (/64) and server side /24 (/64) */
};

struct incident {
	uint32_t number;           /* 1-based, in the order incidents are reported */
	enum incident_kind kind;
	enum incident_scope scope;
	bool ts_nano;
	struct flow_endpoint where;  /* endpoint, or the client-side network (port 0) */
	struct ip_addr where_peer;   /* path: the server-side network */
	uint8_t prefix;              /* path: the networks' prefix length */
	int64_t start_ns, end_ns;    /* first and last member's ending */
	uint64_t n_members;
	const uint64_t *members;     /* flow ids, ascending; valid during the sink call */
	uint64_t by_class[CLOSE_CLASS_COUNT]; /* members per close class */
	/* Evidence: endings of the same kind at the same place per second, before (BEFORE window),
	 * during (start..end, at least the detection window) and after (AFTER window). */
	double rate_before, rate_during, rate_after;
	double before_s, after_s;    /* the lengths those rates were measured over */
	uint64_t survivors;          /* connections of the endpoint alive across it, not members */
};

/* Called when an incident is over. Returns 0, or -1 to report a failure (kept and passed back
 * by incidents_add / incidents_finish). */
typedef int (*incident_sink)(void *ctx, const struct incident *inc);

struct incidents;

/* NULL on allocation failure. `sink` may be NULL. `expire_ns` is the engine's --expire (0: the
 * default): how long a silent flow may wait before its record comes out. */
struct incidents *incidents_create(incident_sink sink, void *ctx, int64_t expire_ns);
void incidents_destroy(struct incidents *d);

/* One finished flow. Returns -1 if the sink failed, else 0. */
int incidents_add(struct incidents *d, const struct flow_record *rec);
/* The end of the stream: every incident left is decided and reported. */
int incidents_finish(struct incidents *d);

/* Membership, for writers that must hold a row until it is known (CSV). Records are numbered by
 * the order they were added, from 0. A record is settled once no incident can still take it:
 * incidents_settled() is the number of leading records all settled. incidents_member_of() gives
 * the incident number of a settled record among the last incidents_held() added, 0 for none. */
uint64_t incidents_settled(const struct incidents *d);
uint32_t incidents_member_of(const struct incidents *d, uint64_t seq);
/* Records added so far: the last one added has number incidents_added() - 1. */
uint64_t incidents_added(const struct incidents *d);
/* Forgets the membership of records before `seq` (the writer has written them). */
void incidents_release(struct incidents *d, uint64_t seq);
/* Asks for membership tracking (off by default: it costs a slot per record held). */
void incidents_track_membership(struct incidents *d, bool on);

/* The timeline: endings per time bucket and class, over the whole stream, in at most
 * TIMELINE_MAX_BUCKETS buckets (the width doubles as the capture grows). */
#define TIMELINE_MAX_BUCKETS 240
struct timeline {
	int64_t origin_ns;   /* start of bucket 0 */
	int64_t width_ns;    /* bucket width: a whole number of seconds (or 1 s) */
	unsigned n;          /* buckets used */
	uint64_t count[TIMELINE_MAX_BUCKETS][CLOSE_CLASS_COUNT];
};
const struct timeline *incidents_timeline(const struct incidents *d);

/* Incidents reported so far (their summaries, without members), oldest first, at most
 * INCIDENTS_KEPT; members of each are kept for the first INCIDENTS_KEPT too. */
#define INCIDENTS_KEPT 1000
unsigned incidents_count(const struct incidents *d);
const struct incident *incidents_get(const struct incidents *d, unsigned i);
/* Incident number of a flow id among the kept incidents' members, 0 for none. */
uint32_t incidents_find_flow(const struct incidents *d, uint64_t flow_id);

/* A compact timeline for text and Markdown: `cols` columns (at most 120), the endings per
 * column as block characters (U+2581..U+2588, a space for none), then a newline and a line
 * marking each incident's columns with its number's last digit ('*' where several meet), then
 * a newline. `out` should hold 8 * cols + 8 bytes. Returns the seconds one column spans (0: no
 * ending at all, out is empty). */
double incidents_sparkline(const struct incidents *d, unsigned cols, char *out, unsigned long size);

const char *incident_kind_name(enum incident_kind k);
const char *incident_scope_name(enum incident_scope s);
/* One plain sentence about the incident ("At ..., 412 connections ..."), into buf. */
const char *incident_sentence(const struct incident *inc, char *buf, unsigned long size);
/* "198.51.100.2:8080", "198.51.100.1", "198.51.100.0/24 - 203.0.113.0/24", into buf. */
const char *incident_where(const struct incident *inc, char *buf, unsigned long size);

#endif
