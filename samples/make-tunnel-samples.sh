#!/usr/bin/env bash
# Regenerate the encapsulation ground-truth captures in samples/captures/ (run as root).
#
# Each capture runs one scenario of scenarios.py (real sockets, real Linux TCP endings) between two
# network namespaces, enc-cli and enc-srv, whose TCP travels inside a tunnel over an underlay veth
# pair (enc-u-c 192.0.2.1/24 + 2001:db8:ffff::1/64 -- enc-u-s 192.0.2.2 + 2001:db8:ffff::2). The
# scenario's addresses (198.51.100.1/.2, 2001:db8::1/::2) are on the tunnel device, so the
# scenario runs as it does on a plain veth. The sample is what tcpdump sees on the underlay
# (enc-u-c, in the client's namespace): the outer layers with the real TCP inside. A second
# tcpdump on the tunnel device gives the plain segments that scenarios.py check judges.
#
# The tunnel: the kernel's own VXLAN device (vxlan_*), or tunnel-relay.py on a TUN device for the
# tunnels whose modules this kind of machine lacks (its header says how each is built). nflog_*:
# no tunnel; tcpdump -i nflog:5 records what an iptables NFLOG rule in the client's namespace
# copies (the NFLOG link type).
#
# Usage: sudo bash samples/make-tunnel-samples.sh [--truth-only] [NAME...]   (default: every capture)
# --truth-only: rewrite the truth files of the captures already there (no capture is made).
# Refuses to run if an enc-* namespace exists; removes everything it created on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE/captures
NS_C=enc-cli
NS_S=enc-srv
U_C=enc-u-c
U_S=enc-u-s
MAC_C=02:00:00:00:0e:01
MAC_S=02:00:00:00:0e:02
TUN=enc-tun
TRIES=3

die() { echo "make-tunnel-samples: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, TUN, tcpdump)"
for tool in ip tcpdump ethtool iptables python3; do
    command -v "$tool" >/dev/null || die "missing $tool"
done
if ip netns list | grep -q '^enc-'; then
    die "an enc-* network namespace already exists; delete it first (ip netns del NAME)"
fi

WORK=$(mktemp -d -t enc-samples.XXXXXX)
PIDS=()
RELAYS=()

teardown_ns() { netns_delete "$NS_C" "$NS_S"; }
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$HERE/lib/netns.sh"     # netns_delete, and the EXIT trap (PIDS, teardown_ns, WORK)

wait_up() {
    local ns=$1 ifc=$2 t=0
    until ip -n "$ns" -o link show dev "$ifc" | grep -q 'state \(UP\|UNKNOWN\)'; do
        (( t++ < 300 )) || die "$ifc in $ns did not come up"
        sleep 0.01
    done
}

# The underlay: two namespaces, one veth pair, offloads off, static neighbours.
setup_underlay() {
    ip netns add "$NS_C"
    ip netns add "$NS_S"
    ip link add "$U_C" netns "$NS_C" address $MAC_C type veth peer name "$U_S" netns "$NS_S" \
        address $MAC_S
    local ns ifc a4 a6 peer4 peer6 peermac
    for ns in "$NS_C" "$NS_S"; do
        if [[ $ns == "$NS_C" ]]; then
            ifc=$U_C a4=192.0.2.1 a6=2001:db8:ffff::1 peer4=192.0.2.2 peer6=2001:db8:ffff::2
            peermac=$MAC_S
        else
            ifc=$U_S a4=192.0.2.2 a6=2001:db8:ffff::2 peer4=192.0.2.1 peer6=2001:db8:ffff::1
            peermac=$MAC_C
        fi
        ip -n "$ns" link set lo up
        ip netns exec "$ns" ethtool -K "$ifc" tso off gso off gro off tx off rx off >/dev/null
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
            net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf."$ifc".router_solicitations=0
        ip -n "$ns" addr add "$a4/24" dev "$ifc"
        ip -n "$ns" addr add "$a6/64" dev "$ifc" nodad
        ip -n "$ns" neigh add "$peer4" lladdr "$peermac" dev "$ifc" nud permanent
        ip -n "$ns" neigh add "$peer6" lladdr "$peermac" dev "$ifc" nud permanent
        ip -n "$ns" link set "$ifc" up
    done
    # The mirror target of vxlan_mirror: an address nobody answers, reached without ARP.
    ip -n "$NS_C" neigh add 192.0.2.3 lladdr 02:00:00:00:0e:03 dev "$U_C" nud permanent
    wait_up "$NS_C" "$U_C"
    wait_up "$NS_S" "$U_S"
}

# overlay_addrs NS IFACE: the scenario's addresses on the tunnel device.
overlay_addrs() {
    local ns=$1 ifc=$2 a4 a6
    if [[ $ns == "$NS_C" ]]; then a4=198.51.100.1 a6=2001:db8::1; else a4=198.51.100.2 a6=2001:db8::2; fi
    ip -n "$ns" addr add "$a4/24" dev "$ifc"
    ip -n "$ns" addr add "$a6/64" dev "$ifc" nodad
    ip -n "$ns" link set "$ifc" up
    wait_up "$ns" "$ifc"
}

# setup_tunnel KIND [RELAY OPTION...]: KIND is kernel-vxlan, nflog, or a tunnel-relay.py mode.
setup_tunnel() {
    local kind=$1
    shift
    case $kind in
    kernel-vxlan)
        ip -n "$NS_C" link add "$TUN" type vxlan id 42 local 192.0.2.1 remote 192.0.2.2 \
            dstport 4789 dev "$U_C"
        ip -n "$NS_S" link add "$TUN" type vxlan id 42 local 192.0.2.2 remote 192.0.2.1 \
            dstport 4789 dev "$U_S"
        ip -n "$NS_C" link set "$TUN" address 02:00:00:00:0f:01
        ip -n "$NS_S" link set "$TUN" address 02:00:00:00:0f:02
        ip netns exec "$NS_C" ethtool -K "$TUN" tso off gso off gro off tx off rx off >/dev/null
        ip netns exec "$NS_S" ethtool -K "$TUN" tso off gso off gro off tx off rx off >/dev/null
        overlay_addrs "$NS_C" "$TUN"
        overlay_addrs "$NS_S" "$TUN"
        ip -n "$NS_C" neigh add 198.51.100.2 lladdr 02:00:00:00:0f:02 dev "$TUN" nud permanent
        ip -n "$NS_C" neigh add 2001:db8::2 lladdr 02:00:00:00:0f:02 dev "$TUN" nud permanent
        ip -n "$NS_S" neigh add 198.51.100.1 lladdr 02:00:00:00:0f:01 dev "$TUN" nud permanent
        ip -n "$NS_S" neigh add 2001:db8::1 lladdr 02:00:00:00:0f:01 dev "$TUN" nud permanent
        ;;
    nflog)
        # No tunnel: the scenario's addresses on the underlay itself.
        ip -n "$NS_C" addr add 198.51.100.1/24 dev "$U_C"
        ip -n "$NS_S" addr add 198.51.100.2/24 dev "$U_S"
        ip -n "$NS_C" addr add 2001:db8::1/64 dev "$U_C" nodad
        ip -n "$NS_S" addr add 2001:db8::2/64 dev "$U_S" nodad
        ip -n "$NS_C" neigh add 198.51.100.2 lladdr $MAC_S dev "$U_C" nud permanent
        ip -n "$NS_C" neigh add 2001:db8::2 lladdr $MAC_S dev "$U_C" nud permanent
        ip -n "$NS_S" neigh add 198.51.100.1 lladdr $MAC_C dev "$U_S" nud permanent
        ip -n "$NS_S" neigh add 2001:db8::1 lladdr $MAC_C dev "$U_S" nud permanent
        # --nflog-threshold 1: each packet goes to tcpdump at once (the kernel otherwise queues
        # up to 100 for up to a second, and libpcap stamps a packet without NFULA_TIMESTAMP,
        # as locally sent ones are, when it reads it).
        local t
        for t in iptables ip6tables; do
            ip netns exec "$NS_C" $t -A INPUT -p tcp -j NFLOG --nflog-group 5 --nflog-threshold 1
            ip netns exec "$NS_C" $t -A OUTPUT -p tcp -j NFLOG --nflog-group 5 --nflog-threshold 1
        done
        ;;
    *)
        local ns local remote ul
        for ns in "$NS_S" "$NS_C"; do
            case $kind in
            mpls|pppoe)
                if [[ $ns == "$NS_C" ]]; then local=$MAC_C remote=$MAC_S ul=$U_C
                else local=$MAC_S remote=$MAC_C ul=$U_S; fi ;;
            4in6|6in6)
                if [[ $ns == "$NS_C" ]]; then local=2001:db8:ffff::1 remote=2001:db8:ffff::2 ul=$U_C
                else local=2001:db8:ffff::2 remote=2001:db8:ffff::1 ul=$U_S; fi ;;
            *)
                if [[ $ns == "$NS_C" ]]; then local=192.0.2.1 remote=192.0.2.2 ul=$U_C
                else local=192.0.2.2 remote=192.0.2.1 ul=$U_S; fi ;;
            esac
            local side=server opts=()
            [[ $ns == "$NS_C" ]] && side=client opts=("$@")
            rm -f "$WORK/relay-ready"
            TUNNEL_READY=$WORK/relay-ready ip netns exec "$ns" python3 "$HERE/tunnel-relay.py" \
                "$kind" "$side" "$TUN" "$ul" "$local" "$remote" "${opts[@]}" \
                2>"$WORK/relay-$side.err" &
            PIDS+=("$!")
            RELAYS+=("$!")
            local t=0
            until [[ -e $WORK/relay-ready ]]; do
                kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/relay-$side.err" >&2; die "relay failed"; }
                (( t++ < 300 )) || die "relay did not start"
                sleep 0.02
            done
            ip -n "$ns" link set "$TUN" mtu 1400
            overlay_addrs "$ns" "$TUN"
        done
        ;;
    esac
}

start_tcpdump() { # NS FILE ERRFILE ARGS...: starts tcpdump, its pid in TD_PID
    local ns=$1 file=$2 err=$3
    shift 3
    ip netns exec "$ns" tcpdump -U --immediate-mode -B 65536 -w "$file" "$@" 2>"$err" &
    local pid=$!
    PIDS+=("$pid")
    local t=0
    until grep -qs '^tcpdump: listening on' "$err"; do
        kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; die "tcpdump failed"; }
        (( t++ < 200 )) || die "tcpdump did not start"
        sleep 0.02
    done
    TD_PID=$pid
}

wait_pid() {
    local pid=$1 limit=$2 t=0
    while kill -0 "$pid" 2>/dev/null; do
        if (( t >= limit * 20 )); then kill -KILL "$pid" 2>/dev/null || true; fi
        sleep 0.05
        t=$((t + 1))
    done
    wait "$pid"
}

# capture NAME SCENARIO FAMILY KIND FILTER [RELAY OPTION...]
capture() {
    local name=$1 scenario=$2 family=$3 kind=$4 filter=$5
    shift 5
    local run=$WORK/run-$name
    rm -rf "$run"
    mkdir "$run"
    setup_underlay
    setup_tunnel "$kind" "$@"
    local outer inner
    if [[ $kind == nflog ]]; then
        start_tcpdump "$NS_C" "$WORK/$name.pcap" "$run/outer.err" -i nflog:5
        outer=$TD_PID
        start_tcpdump "$NS_C" "$run/inner.pcap" "$run/inner.err" -i "$U_C" tcp
        inner=$TD_PID
    else
        # shellcheck disable=SC2086 # the filter is several words
        start_tcpdump "$NS_C" "$WORK/$name.pcap" "$run/outer.err" -i "$U_C" $filter
        outer=$TD_PID
        start_tcpdump "$NS_C" "$run/inner.pcap" "$run/inner.err" -i "$TUN" tcp
        inner=$TD_PID
    fi
    ip netns exec "$NS_S" python3 "$HERE/scenarios.py" server "$scenario" "$family" "$run" &
    local sp=$!
    ip netns exec "$NS_C" python3 "$HERE/scenarios.py" client "$scenario" "$family" "$run" &
    local cp=$!
    PIDS+=("$sp" "$cp")
    local t=0
    while kill -0 "$cp" 2>/dev/null && [[ ! -e $run/stop-capture ]]; do
        (( t++ < 1200 )) || break
        sleep 0.05
    done
    sleep 0.3
    kill -INT "$outer" "$inner"
    wait "$outer" || die "$name: tcpdump exited with status $?"
    wait "$inner" || true
    touch "$run/capture-stopped"
    local cs=0 ss=0 pid
    wait_pid "$cp" 30 || cs=$?
    wait_pid "$sp" 30 || ss=$?
    for pid in "${RELAYS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait_pid "$pid" 5 || true
    done
    RELAYS=()
    PIDS=()
    teardown_ns
    (( cs == 0 && ss == 0 )) || die "$name: scenario $scenario failed (client $cs, server $ss)"
    RETRY=0
    if ! grep -q "^0 packets dropped by kernel" "$run/outer.err"; then
        RETRY=1
        return
    fi
    local st=0
    python3 "$HERE/scenarios.py" check "$scenario" "$family" "$run/inner.pcap" || st=$?
    (( st == 0 )) || (( st == 3 )) || die "$name: capture check failed"
    (( st == 0 )) || RETRY=1
}

TRUTH_ONLY=0
if [[ ${1:-} == --truth-only ]]; then TRUTH_ONLY=1; shift; fi
ONLY=("$@")
selected() { (( ${#ONLY[@]} == 0 )) || [[ " ${ONLY[*]} " == *" $1 "* ]]; }

# sample NAME SCENARIO FAMILY KIND FILTER ENCAPSULATION [RELAY OPTION...]
# ENCAPSULATION: what every flow's outer layers are, innermost first, ';'-joined (the truth).
sample() {
    local name=$1 scenario=$2 family=$3 kind=$4 filter=$5 encap=$6 tries=1
    shift 6
    selected "$name" || return 0
    local start=$SECONDS
    while (( ! TRUTH_ONLY )); do
        capture "$name" "$scenario" "$family" "$kind" "$filter" "$@"
        (( RETRY )) || break
        (( tries < TRIES )) || die "$name: no usable capture in $tries attempts"
        tries=$((tries + 1))
    done
    if (( ! TRUTH_ONLY )); then
        mv "$WORK/$name.pcap" "$OUT/$name.pcap"
    fi
    local linktype how
    linktype=$(tcpdump -r "$OUT/$name.pcap" -c 1 2>&1 >/dev/null | grep -o 'link-type [^,]*')
    case $kind in
    kernel-vxlan) how="the kernel's VXLAN device (VNI 42, UDP 4789) between the namespaces" ;;
    nflog) how="iptables -j NFLOG --nflog-group 5 in the client's namespace, tcpdump -i nflog:5" ;;
    *) how="tunnel-relay.py $kind${*:+ $*} on a TUN device in each namespace" ;;
    esac
    # The scenario's truth (scenarios.py truth), two lines of prose on how it was captured, and
    # the outer layers as every row's encapsulation fact (spaces written as '_').
    python3 "$HERE/scenarios.py" truth "$scenario" "$family" client |
        python3 -c '
import sys
how, linktype, encap = sys.argv[1:4]
out, header = [], False
for line in sys.stdin.read().splitlines():
    if line.startswith("capture\t") and not header:
        out.append("# captured in the client'"'"'s namespace on the underlay by tcpdump; " + linktype)
        out.append("# the scenario'"'"'s TCP carried by " + how)
    elif line.startswith("client\tserver\t"):
        header = True
    elif header and encap and not line.startswith("#"):
        fields = line.split("\t")
        fact = "encapsulation:" + encap.replace(" ", "_")
        fields[-1] = fact if fields[-1] == "-" else fields[-1] + " " + fact
        line = "\t".join(fields)
    out.append(line)
print("\n".join(out))
' "$how" "$linktype" "$encap" >"$OUT/$name.truth"
    printf '%-28s %3d s  %s\n' "$name" $((SECONDS - start)) "$encap"
}

mkdir -p "$OUT"
V4="ipv4 192.0.2.1>192.0.2.2"
V6="ipv6 2001:db8:ffff::1>2001:db8:ffff::2"
NOISE="not arp and not icmp6"

sample vxlan_fin_graceful        fin_graceful     4 kernel-vxlan "udp port 4789" "vxlan vni 42;$V4"
sample vxlan_rst_unread_data     rst_unread_data  4 kernel-vxlan "udp port 4789" "vxlan vni 42;$V4"
sample vxlan_rst_abort_v6        rst_abort        6 kernel-vxlan "udp port 4789" "vxlan vni 42;$V4"
sample vxlan_rst_refused         rst_refused      4 kernel-vxlan "udp port 4789" "vxlan vni 42;$V4"
sample vxlan_mirror_rst_after_close rst_after_close 4 gre "udp and dst host 192.0.2.3" \
    "vxlan vni 7001;ipv4 192.0.2.1>192.0.2.3" --mirror 192.0.2.3 --mirror-len 96
sample geneve_fin_graceful       fin_graceful     4 geneve "$NOISE" "geneve vni 4242 options 8 bytes;$V4"
sample gre_rst_unread_data       rst_unread_data  4 gre    "$NOISE" "gre key 1001;$V4"
sample gre_fin_graceful_v6       fin_graceful     6 gre    "$NOISE" "gre key 1001;$V4"
sample erspan2_rst_abort         rst_abort        4 erspan2 "$NOISE" "erspan type 2 session 7;gre;$V4"
sample erspan3_fin_graceful      fin_graceful     4 erspan3 "$NOISE" "erspan type 3 session 9;gre;$V4"
sample ipip_rst_after_close      rst_after_close  4 ipip   "$NOISE" "$V4"
sample 6in4_rst_unread_data_v6   rst_unread_data  6 6in4   "$NOISE" "$V4"
sample 4in6_fin_graceful         fin_graceful     4 4in6   "$NOISE" "$V6"
sample 6in6_rst_refused_v6       rst_refused      6 6in6   "$NOISE" "$V6"
sample gtpu_rst_unread_data      rst_unread_data  4 gtpu   "$NOISE" "gtp-u teid 0x00000200;$V4"
sample teredo_fin_graceful_v6    fin_graceful     6 teredo "$NOISE" "teredo;$V4"
sample ayiya_rst_abort_v6        rst_abort        6 ayiya  "$NOISE" "ayiya;$V4"
sample mpls_fin_graceful         fin_graceful     4 mpls   "$NOISE" "mpls label 1001;mpls label 100"
sample pppoe_rst_unread_data     rst_unread_data  4 pppoe  "$NOISE" "pppoe session 0x0011"
sample nflog_fin_graceful        fin_graceful     4 nflog  "" ""
sample nflog_rst_abort_v6        rst_abort        6 nflog  "" ""

echo "make-tunnel-samples: done in ${SECONDS}s"
