/* mix64.h - the 64-bit finaliser of MurmurHash3 (fmix64): every input bit reaches every output
 * bit. The mixer of the flow table's hash and of the reset digest's table. (The Zeek uid mixes
 * with SplitMix64's constants, zeek_conn.c: changing them would change every uid.) */
#ifndef TM_MIX64_H
#define TM_MIX64_H

#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#endif
