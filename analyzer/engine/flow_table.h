/* flow_table.h - live flows by 4-tuple, and by how long ago they were last active.
 *
 * Lookup is an open-addressed hash over the canonical (lower endpoint, higher endpoint) pair, so
 * both directions of a connection find the same flow; the hash is seeded so crafted traffic cannot
 * aim at one slot. Every flow is also on one of two activity lists, least recently active
 * first: `live` flows and `finished` ones (RST seen or both FINs acknowledged), so expiry and
 * eviction look only at a list's head. The slots and lists name flows by their handles in the
 * flow_store the table indexes (live_flow.h); the table does not own the flows.
 *
 * A finished flow waits frozen (live_flow.h: flow_store_freeze), its frozen handle in its slot:
 * a lookup reads a flow only where the whole hash matches, so it finds either kind, and only the
 * finished list holds frozen flows (and live ones only when there was no memory to freeze them).
 * Of a frozen flow the table reads only the head (its key, links, last_ts_ns, first_frame, state).
 */
#ifndef TM_FLOW_TABLE_H
#define TM_FLOW_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "live_flow.h"

enum flow_list { FLOW_LIST_LIVE = 0, FLOW_LIST_FINISHED = 1 };

struct flow_table;

/* A table of the flows of `st` (NULL: a table only used for flow_table_hash). NULL on allocation
 * failure. */
struct flow_table *flow_table_create(uint64_t seed, const struct flow_store *st);
/* Frees the table, not the flows still in it (drain them first with flow_table_oldest). */
void flow_table_destroy(struct flow_table *t);

uint32_t flow_table_hash(const struct flow_table *t, const struct tcp_segment *seg);
/* The flow on seg's 4-tuple, live or frozen (live_is_frozen), or NULL. `hash` is
 * flow_table_hash(t, seg). */
struct live_flow *flow_table_find(const struct flow_table *t, const struct tcp_segment *seg,
                                  uint32_t hash);
/* Adds `f` (f->hash set) as the most recently active flow of the live list. Returns -1, without
 * adding it, when the table is full and could not grow. */
int flow_table_insert(struct flow_table *t, struct live_flow *f);
/* Takes `f` (live or frozen) out of the table and its list (a few slots moved, no other flow
 * read). */
void flow_table_remove(struct flow_table *t, struct live_flow *f);
/* Frozen `z` (flow_store_freeze) takes the place of the live flow of handle `h` it was made of
 * (and which is gone), most recently active of the finished list. */
void flow_table_freeze(struct flow_table *t, uint32_t h, struct live_flow *z);
/* Live `f` (flow_store_thaw) takes the place of frozen `z` it was made of (which the caller frees
 * next), most recently active of the finished list. */
void flow_table_thaw(struct flow_table *t, struct live_flow *z, struct live_flow *f);
/* Hints that a lookup of `hash` is coming: first bring its slots into the cache, a few frames
 * later the flow they lead to. Neither changes anything. */
void flow_table_prefetch_bucket(const struct flow_table *t, uint32_t hash);
void flow_table_prefetch_flow(const struct flow_table *t, uint32_t hash);
/* The same for a flow at hand, live or frozen (NULL: nothing). */
void flow_table_prefetch(const struct live_flow *f);
/* Hints that `f` (already in the cache) will be removed and buried: fetches its slots and its
 * tombstone's bucket. Changes nothing. */
void flow_table_prefetch_removal(const struct flow_table *t, const struct live_flow *f);
/* Marks live `f` most recently active, on list `list`. */
void flow_table_touch(struct flow_table *t, struct live_flow *f, enum flow_list list);
/* The least recently active flow of `list`, or NULL. */
struct live_flow *flow_table_oldest(const struct flow_table *t, enum flow_list list);
/* The flow after `f` on its list (more recently active), or NULL. */
struct live_flow *flow_table_newer(const struct flow_table *t, const struct live_flow *f);
/* Flows in the table, live and waiting; of which waiting (frozen). */
size_t flow_table_count(const struct flow_table *t);
size_t flow_table_waiting(const struct flow_table *t);
/* The index of the slot holding `f` (SIZE_MAX: none) and, in *slots, how many slots there are:
 * the layout, for the tests. */
size_t flow_table_slot_of(const struct flow_table *t, const struct live_flow *f, size_t *slots);

/* Tombstones: the 4-tuples of recently finished flows, kept until `until_ns` of capture time so
 * that a late segment of a finished connection is recognised as such (not taken for a new one)
 * and a new SYN on it is known to reuse the 4-tuple. 24 bytes each (flow_table.c). */
/* Remembers f's 4-tuple until `until_ns`, with when its last segment came and
 * who held its TIME-WAIT. Returns -1 when out of memory. */
int flow_table_bury(struct flow_table *t, const struct live_flow *f, int64_t until_ns);

/* What a tombstone tells about the connection it stands for. */
struct grave_info {
	int64_t last_ts_ns;          /* its last segment */
	enum closer_side time_wait;  /* who held its TIME-WAIT when it was finished */
};

/* True when seg's 4-tuple has a tombstone; `remove` drops it. Fills *info when not NULL. `hash`
 * (flow_table_hash) is not needed: a tombstone is found by a fingerprint of the 4-tuple. */
bool flow_table_grave(struct flow_table *t, const struct tcp_segment *seg, uint32_t hash,
                      bool remove, struct grave_info *info);
/* Hints that flow_table_grave() will look for seg's 4-tuple: stage 0 fetches its bucket, stage
 * 1 (a few segments later) the first tombstone in it. Changes nothing. */
void flow_table_prefetch_grave(const struct flow_table *t, const struct tcp_segment *seg,
                               int stage);
/* Forgets tombstones whose time is up at `now_ns`. */
void flow_table_expire_graves(struct flow_table *t, int64_t now_ns);
/* Keeps at most `max` tombstones (0: no limit, the default): when a new one would exceed it, the
 * oldest is forgotten first. */
void flow_table_limit_graves(struct flow_table *t, size_t max);
size_t flow_table_graves(const struct flow_table *t);

#endif
