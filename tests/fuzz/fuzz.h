/* fuzz.h - what a fuzz target (fuzz_*.c) shares with libFuzzer and with replay.c.
 *
 * A target defines LLVMFuzzerTestOneInput(). Built with clang and -fsanitize=fuzzer (CMake option
 * TM_FUZZ) libFuzzer drives it; built with any compiler and replay.c it runs once per file, so
 * the test command replays the corpus and every saved crash without clang.
 *
 * A target checks more than "no crash": FUZZ_CHECK states what must hold for every input (the
 * dissector's output within bounds, every report well-formed); a violation aborts, which both
 * libFuzzer and the replay count as a failure.
 */
#ifndef TM_FUZZ_H
#define TM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#endif
