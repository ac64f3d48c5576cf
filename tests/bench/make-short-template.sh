#!/usr/bin/env bash
# Records the template of the benchmark's short-connection profile (tests/bench/short-http.pcap):
# real HTTP traffic between two Linux stacks in network namespaces, nginx serving, two kinds of
# clients at once:
#   - ApacheBench (ab, no keep-alive): connect, one GET, the ~1.4 kB answer, close, ~10 packets;
#   - idle keep-alive clients (real sockets, python): one GET, then the connection sits idle until
#     nginx's keepalive_timeout (8 s) closes it, so that tens of thousands are alive at once once
#     the template is replayed thousands of times a second (make_bench_capture.c).
# Needs root, nginx, apache2-utils (ab), tcpdump, python3. About 20 seconds.
#   sudo bash tests/bench/make-short-template.sh [OUT.pcap]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-tests/bench/short-http.pcap}
p=${TM_PREFIX:-tmbench}
for pkg in nginx apache2-utils tcpdump; do
	dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
done
work=$(mktemp -d)
cleanup() {
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	ip netns del "$p-c" 2>/dev/null || true
	ip netns del "$p-s" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cleanup_ns() { ip netns del "$p-c" 2>/dev/null || true; ip netns del "$p-s" 2>/dev/null || true; }
cleanup_ns
ip netns add "$p-c"
ip netns add "$p-s"
ip link add "$p-c0" netns "$p-c" type veth peer name "$p-s0" netns "$p-s"
ip -n "$p-c" addr add 10.77.0.1/24 dev "$p-c0"
ip -n "$p-s" addr add 10.77.0.2/24 dev "$p-s0"
for ns in "$p-c" "$p-s"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "$p-${ns##*-}0" up
	# Segmentation offloads off: the capture shows the segments the wire carries.
	ip netns exec "$ns" ethtool -K "$p-${ns##*-}0" tso off gso off gro off >/dev/null 2>&1 || true
done
ip netns exec "$p-c" sysctl -qw net.ipv4.ip_local_port_range="20000 60999"
mkdir -p "$work/www"
chmod 755 "$work" "$work/www"
head -c 1400 /dev/zero | tr '\0' x > "$work/www/index.html"
chmod 644 "$work/www/index.html"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_timeout 8s;
	server {
		listen 10.77.0.2:80 backlog=4096;
		root $work/www;
	}
}
CONF
ip netns exec "$p-s" nginx -c "$work/nginx.conf"
ip netns exec "$p-s" tcpdump -q -i "$p-s0" -w "$work/raw.pcap" 'tcp port 80' 2>/dev/null &
dump=$!
sleep 1
# Idle keep-alive clients: 250 connections opened over 4 s, each waiting for nginx to close it.
ip netns exec "$p-c" python3 - <<'PY' &
import socket, threading, time
def client():
    s = socket.create_connection(("10.77.0.2", 80))
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n")
    while s.recv(65536):
        pass  # the answer, then nginx's FIN after keepalive_timeout
    s.close()
threads = []
for i in range(250):
    t = threading.Thread(target=client); t.start(); threads.append(t)
    time.sleep(4 / 250)
for t in threads:
    t.join()
PY
idle=$!
# Short connections meanwhile: 750 requests, 16 at a time.
ip netns exec "$p-c" ab -q -n 750 -c 16 http://10.77.0.2/ >/dev/null
wait "$idle"
sleep 1
kill "$dump"
wait "$dump" 2>/dev/null || true
mv "$work/raw.pcap" "$out"
echo "wrote $out"
