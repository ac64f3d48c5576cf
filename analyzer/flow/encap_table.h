/* encap_table.h - one shared description per distinct stack of outer layers.
 *
 * A flow in a tunnel records the layers around its first segment (flow_record.encap). Thousands
 * of flows share a handful of tunnels, so each distinct stack is described once, as text, and a
 * flow keeps a 24-bit id (live_flow.encap) instead of a copy: the per-flow memory budget
 * (live_flow.h) grows by that id only.
 *
 * Threads: the reading threads intern (encap_table_intern, under the table's lock); the
 * tracking threads look ids up
 * (encap_table_get) for ids they received through a batch, which was published after the id's
 * description was written. Descriptions never move and are never freed before the table, so a
 * lookup needs no lock.
 */
#ifndef TM_ENCAP_TABLE_H
#define TM_ENCAP_TABLE_H

#include <stdint.h>

#include "dissect.h"
#include "flow_record.h"

/* Distinct stacks described at most; later ones share one description saying so. */
#define ENCAP_TABLE_MAX 65536

struct encap_table;

struct encap_table *encap_table_create(void);
void encap_table_destroy(struct encap_table *t);

/* The id (>= 1) of the description of `s` (s->n >= 1), added if new. 0 when out of memory (the
 * flow is then reported without its layers). */
uint32_t encap_table_intern(struct encap_table *t, const struct encap_stack *s);

/* The description of `id` (as encap_table_intern returned it), or NULL for 0. */
const struct flow_encap *encap_table_get(const struct encap_table *t, uint32_t id);

/* Distinct descriptions held. */
uint32_t encap_table_count(const struct encap_table *t);

#endif
