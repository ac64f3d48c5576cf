#!/usr/bin/env bash
# The benchmark (not part of the test suite): builds tcpmortem, a bare libpcap read loop and the
# benchmark capture (outside git, from the real-stack samples), then times them on the same file,
# and on its gzip and zstd copies against zcat/zstdcat piped into the bare loop.
#   bash tests/bench/run-bench.sh              # 1M connections, 5 runs each
#   CONNECTIONS=200000 RUNS=3 bash tests/bench/run-bench.sh
# Environment: BENCH_DIR (default /tmp/tcpmortem-bench), CONNECTIONS, GAP_US, RUNS.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/install-deps.sh
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
dir=${BENCH_DIR:-/tmp/tcpmortem-bench}
mkdir -p "$dir"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTM_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror tests/bench/bare_loop.c -lpcap -o "$dir/bare_loop"
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror tests/bench/make_bench_capture.c -lpcap \
	-o "$dir/make_bench_capture"
conns=${CONNECTIONS:-1000000}
capture="$dir/bench-$conns.pcap"
if [ ! -s "$capture" ]; then
	# Ethernet samples only; the relinked VLAN copies would repeat the same connections.
	"$dir/make_bench_capture" "$capture" "$conns" "${GAP_US:-2000}" \
		$(ls samples/captures/*.pcap | grep -v -e _vlan -e _qinq)
fi
# Compressed copies (default levels), read by tcpmortem and by zcat/zstdcat into the bare loop.
[ -s "$capture.gz" ] || gzip -c "$capture" > "$capture.gz"
[ -s "$capture.zst" ] || zstd -q -c "$capture" > "$capture.zst"
exec python3 tests/bench/bench.py "$dir/bare_loop" build-bench/tcpmortem "$capture" "${RUNS:-5}" \
	"$capture.gz" "$capture.zst"
