#!/usr/bin/env bash
# The benchmark (not part of the test suite): builds tcpmortem, a bare libpcap read loop and the
# two benchmark captures (outside git), then times them on the same files and prints both
# profiles side by side, each as ratios to the bare loop measured in the same run:
#   samples  the real-stack samples replayed (long connections: ~15 packets, ~6 kB each);
#   rotated  the short capture in files of 700 MB, as tcpdump -C writes them, read as one capture;
#   short    tests/bench/short-http.pcap replayed: real nginx / ab / keep-alive HTTP traffic
#            (make-short-template.sh), ~12 packets and ~2.7 kB per connection, most packets
#            without payload, ~3,400 new connections a second, tens of thousands alive at once.
# Then the samples capture's gzip and zstd copies, read by tcpmortem, against zcat/zstdcat piped
# into the bare loop.
#   bash tests/bench/run-bench.sh              # 1M connections each, 5 runs each
#   CONNECTIONS=200000 RUNS=3 bash tests/bench/run-bench.sh
# Environment: BENCH_DIR (default /tmp/tcpmortem-bench), CONNECTIONS, GAP_US, SHORT_GAP_US, RUNS.
# Instruction budgets per packet and per connection, and the hot functions, from callgrind:
#   python3 tests/bench/budget.py build-bench/tcpmortem samples/captures/rst_refused.pcap \
#       samples=SMALL_SAMPLES.pcap short=SMALL_SHORT.pcap
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
	# Plain Ethernet samples only: the relinked VLAN copies would repeat the same connections, and
	# the tunnel samples measure another path (the benchmark is the plain Ethernet/IP/TCP one).
	"$dir/make_bench_capture" "$capture" "$conns" "${GAP_US:-2000}" \
		$(ls samples/captures/*.pcap | grep -v -e _vlan -e _qinq \
			-e /vxlan_ -e /geneve_ -e /gre_ -e /erspan -e /ipip_ -e /6in4_ -e /4in6_ -e /6in6_ \
			-e /gtpu_ -e /teredo_ -e /ayiya_ -e /mpls_ -e /pppoe_ -e /nflog_)
fi
short="$dir/short-$conns.pcap"
if [ ! -s "$short" ]; then
	# One instance of the template (1,014 connections over 12.8 s) every 300 ms: ~3,400 new
	# connections a second.
	"$dir/make_bench_capture" "$short" "$conns" "${SHORT_GAP_US:-300000}" tests/bench/short-http.pcap
fi
# The short capture as tcpdump rotates it (-C: a new file every 700 MB), read as one capture:
# the several-files path (frames merged by timestamp across the files).
rotated="$dir/rotated-$conns"
if [ ! -s "$rotated/short" ]; then
	mkdir -p "$rotated"
	tcpdump -q -Z root -r "$short" -w "$rotated/short" -C 700 2>/dev/null
fi
rotated_files=$(ls "$rotated"/short* | sort -V | paste -sd,)
# Compressed copies (default levels), read by tcpmortem and by zcat/zstdcat into the bare loop.
[ -s "$capture.gz" ] || gzip -c "$capture" > "$capture.gz"
[ -s "$capture.zst" ] || zstd -q -c "$capture" > "$capture.zst"
exec python3 tests/bench/bench.py "$dir/bare_loop" build-bench/tcpmortem "${RUNS:-5}" \
	"samples=$capture" "short=$short" "rotated=$rotated_files" --compressed "$capture.gz" "$capture.zst"
