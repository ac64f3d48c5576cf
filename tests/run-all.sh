#!/usr/bin/env bash
# Builds tcpmortem optimised and with AddressSanitizer + UndefinedBehaviorSanitizer and runs every
# test in both: the CUnit suites per module, the end-to-end checks on the samples, the replay of
# the fuzz corpus and saved crashes; the optimised build also checks its hardening and bounded
# memory under adversarial traffic, the sanitizer build runs tcpmortem on every damaged capture;
# then the static checks (tests/lint/run-lint.sh: banned functions, cppcheck, clang-tidy), and a
# ThreadSanitizer build runs the threaded-engine test.
# Exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
failed=0

run_build() {
	local dir=$1; shift
	echo "== build $dir ($*)"
	cmake -S . -B "$dir" "$@" >/dev/null || return 1
	cmake --build "$dir" -j"$jobs" >/dev/null || { cmake --build "$dir" 2>&1 | tail -40; return 1; }
}

run_tests() {
	local dir=$1
	echo "== test $dir"
	(cd "$dir" && ctest --output-on-failure -j"$jobs")
}

if run_build build -DCMAKE_BUILD_TYPE=Release; then
	run_tests build || failed=1
	# Static checks over every source the build compiled: banned functions, cppcheck, clang-tidy.
	bash tests/lint/run-lint.sh build || failed=1
else
	failed=1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if run_build build-asan -DCMAKE_BUILD_TYPE=Debug -DTM_SANITIZE=ON; then
	run_tests build-asan || failed=1
else
	failed=1
fi

# ThreadSanitizer on the threaded engine and the reader threads: --threads N against one thread,
# on every sample and real-world capture, and the readers' unit test.
if run_build build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-fsanitize=thread \
		-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread; then
	echo "== test build-tsan (threads)"
	(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R "e2e_threads|unit_test_readers") || failed=1
else
	failed=1
fi

if [ "$failed" -ne 0 ]; then
	echo "== FAILED"
	exit 1
fi
echo "== all tests passed"
