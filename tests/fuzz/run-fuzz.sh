#!/usr/bin/env bash
# Runs one libFuzzer target for a given time, or minimises its corpus.
#
#   tests/fuzz/run-fuzz.sh TARGET SECONDS [LIBFUZZER_FLAG...]
#                                           fuzz TARGET (dissect, pipeline, decompress, pcap_map) for SECONDS
#                                           (e.g. -fork=1 -ignore_crashes=1 to go on after a crash)
#   tests/fuzz/run-fuzz.sh --merge TARGET [MAX_LEN]
#                                           minimise everything found so far (-merge=1) into
#                                           tests/fuzz/corpus/TARGET, the corpus the test command
#                                           replays; MAX_LEN cuts every input to that many bytes
#                                           first (libFuzzer's -max_len), to keep it small: the
#                                           committed pipeline corpus is merged with 1024 (the
#                                           test command replays the full-length samples too)
#
# Needs clang and Debian's libclang-rt-14-dev (the test command does not: it replays the corpus
# with a plain build, see tests/fuzz/CMakeLists.txt). Builds into build-fuzz/ with
# -fsanitize=fuzzer,address,undefined. One libFuzzer process (one core) per call.
#
# The working corpus grows in build-fuzz/work/TARGET/corpus across runs; it starts from the
# committed corpus, the saved crash inputs (tests/fuzz/crashes/) and seeds made from the sample
# captures (make-seeds.py; TM_SAMPLES overrides the samples directory). The log of each run, with
# libFuzzer's executions, coverage (cov) and features (ft), is kept as
# build-fuzz/work/TARGET/fuzz-DATE.log. A crash, leak, timeout (10 s per input) or failed check
# is saved under build-fuzz/work/TARGET/artifacts/ and makes the script exit 1: fix it, then copy
# the input to tests/fuzz/crashes/ (named after what it found) so every test run replays it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${TM_FUZZ_BUILD:-$ROOT/build-fuzz}
SAMPLES=${TM_SAMPLES:-$ROOT/samples/captures}

usage() {
	sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

merge=false
if [[ ${1:-} == --merge ]]; then
	merge=true
	shift
	[[ $# -eq 1 || ( $# -eq 2 && $2 =~ ^[0-9]+$ ) ]] || usage
else
	[[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage
fi
target=$1
[[ -f $ROOT/tests/fuzz/fuzz_$target.c ]] || { echo "run-fuzz: no target '$target'" >&2; exit 2; }
command -v clang >/dev/null || { echo "run-fuzz: needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

WORK=$BUILD/work/$target
COMMITTED=$ROOT/tests/fuzz/corpus/$target
BIN=$BUILD/tests/fuzz/fuzz_$target
mkdir -p "$WORK/corpus" "$WORK/seeds" "$WORK/artifacts" "$COMMITTED"

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DTM_FUZZ=ON >/dev/null
cmake --build "$BUILD" --target "fuzz_$target" -j2 >/dev/null

if $merge; then
	fresh=$(mktemp -d)
	trap 'rm -rf "$fresh"' EXIT
	max_len=()
	[[ $# -eq 2 ]] && max_len=(-max_len="$2")
	"$BIN" -merge=1 "${max_len[@]}" "$fresh" "$COMMITTED" "$WORK/corpus" 2>&1 |
		grep -E 'MERGE-OUTER: [0-9]+ new' || true
	rm -f "$COMMITTED"/*
	cp "$fresh"/* "$COMMITTED"/
	echo "run-fuzz: tests/fuzz/corpus/$target: $(find "$COMMITTED" -type f | wc -l) inputs," \
	     "$(cat "$COMMITTED"/* | wc -c) bytes"
	exit 0
fi

seconds=$2
shift 2
if [[ -d $SAMPLES ]]; then
	python3 "$ROOT/tests/fuzz/make-seeds.py" "$target" "$SAMPLES" "$WORK/seeds"
else
	echo "run-fuzz: no $SAMPLES: no seeds from the samples" >&2
fi

# Inputs up to 16 KiB for the pipeline (libFuzzer would otherwise go up to the largest seed, a
# megabyte sample, and run a hundred times slower); longer seeds are cut, and a cut capture is an
# input worth trying too. A -max_len given on the command line wins.
limits=()
[[ $target == pipeline ]] && limits=(-max_len=16384)

log=$WORK/fuzz-$(date +%Y%m%d-%H%M%S).log
echo "run-fuzz: fuzz_$target for $seconds s, log $log"
TIMEFORMAT="run-fuzz: CPU %U s user + %S s system, %R s wall"
status=0
time {
	"$BIN" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$WORK/artifacts/" "${limits[@]}" "$@" \
		"$WORK/corpus" "$COMMITTED" "$ROOT/tests/fuzz/crashes" "$WORK/seeds" >"$log" 2>&1 || status=$?
}
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 || true
grep -E '^stat::' "$log" || true
if [[ $status -ne 0 ]] || compgen -G "$WORK/artifacts/*" >/dev/null; then
	echo "run-fuzz: fuzz_$target found a problem (exit $status); inputs in $WORK/artifacts/:" >&2
	ls -l "$WORK/artifacts/" >&2
	tail -40 "$log" >&2
	exit 1
fi
