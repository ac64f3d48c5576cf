/* test_rng.h - the unit tests' pseudo-random numbers: xorshift64*, deterministic so that a
 * failure repeats; each runner keeps its own state (seed). */
#ifndef TM_TESTS_TEST_RNG_H
#define TM_TESTS_TEST_RNG_H

#include <stdint.h>

static inline uint64_t xorshift64s(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1Du;
}

#endif
