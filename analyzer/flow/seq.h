/* seq.h - sequence number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Compared through the signed difference, as the Linux kernel's before()/after() do, so the
 * comparison stays right when a connection's sequence space wraps through 2^32.
 */
#ifndef TM_SEQ_H
#define TM_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }

#endif
