#!/usr/bin/env bash
# Regenerate the tcpmortem ground-truth captures in samples/captures/ (run as root).
#
# For every capture this script creates two network namespaces, tmortem-cli and tmortem-srv,
# joined by a veth pair (198.51.100.1/24 + 2001:db8::1/64 on the client side, .2 and ::2 on the
# server side, offloads off so segments are MTU-sized with valid checksums), starts tcpdump in
# the client namespace (the server's for a few variants), runs the two roles of one scenario of
# scenarios.py (one per namespace), stops tcpdump, checks the capture against the scenario's
# truth (scenarios.py check) and writes NAME.pcap and NAME.truth. Fresh namespaces per capture
# keep sysctls, firewall rules and sockets still retransmitting from one scenario out of the
# next. Then relink.py rewrites a few captures into other link types and pcapng.
#
# Scenarios whose topology is "routed" (scenarios.py topology NAME) get a third namespace,
# tmortem-rtr, between the two: client 198.51.100.65/26 + 2001:db8::1:1/112 -- router .66 and
# 2001:db8::1:2 | router .129 and 2001:db8::2:1 -- server 198.51.100.130/26 + 2001:db8::2:2/112,
# IP forwarding on in the router; the router runs the scenario's third role (firewall rules,
# conntrack timeouts, a reset injector). Packets from the server reach the client one hop down
# (TTL / hop limit 63), packets the router makes itself arrive with 64.
#
# Usage: sudo bash samples/make-samples.sh [-o DIR] [NAME|GROUP...]   (default: every capture)
# -o DIR writes the captures and truth files to DIR instead of samples/captures (relinked copies
# need their source in DIR too). TM_PREFIX (default tmortem) starts every namespace and interface
# name, so two runs on one machine keep apart.
# A GROUP selects a whole section below: "base" (the calibration captures and their relinked
# copies), "variants" (the same classes reached through other paths, the capture point in the
# server's namespace for some) or "diagnoses" (middlebox resets, idle timeouts, CLOSE-WAIT,
# TIME-WAIT, timers; also --diagnoses).
# Refuses to run if a $TM_PREFIX-* namespace exists; removes everything it created on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE/captures
if [[ ${1:-} == -o ]]; then
    [[ -n ${2:-} ]] || { echo "make-samples: -o needs a directory" >&2; exit 2; }
    OUT=$(mkdir -p "$2" && cd "$2" && pwd)
    shift 2
fi
export TM_PREFIX=${TM_PREFIX:-tmortem}
P=$TM_PREFIX
NS_C=$P-cli
NS_S=$P-srv
NS_R=$P-rtr               # routed topology only
IF_C=$P-c
IF_S=$P-s
IF_RC=$P-rc               # the router's end towards the client
IF_RS=$P-rs               # the router's end towards the server
NS_DC=$P-dlc              # distant topology: the delay line between client and router
NS_DS=$P-dls              # ... and the one between router and server
# One-way delays of the distant topology in ms, different in each direction (lib/kit.py DELAY_MS)
read -r DELAY_C_TO_R DELAY_R_TO_C DELAY_R_TO_S DELAY_S_TO_R < <(python3 "$HERE/scenarios.py" delays)
TRIES=3                   # attempts per capture (tcpdump lost packets, check asks for a retry)
SIMULTANEOUS_TRIES=10     # attempts for fin_simultaneous (FINs that did not cross)

die() { echo "make-samples: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, iptables, tcpdump)"
for tool in ip tcpdump ethtool iptables ip6tables python3 chrt; do
    command -v "$tool" >/dev/null || die "missing $tool"
done
if ip netns list 2>/dev/null | grep -q "^$P-"; then
    die "a $P-* network namespace already exists; delete it first (ip netns del NAME)"
fi

WORK=$(mktemp -d -t "$P-samples.XXXXXX")
PIDS=()

teardown_ns() { netns_delete "$NS_C" "$NS_S" "$NS_R" "$NS_DC" "$NS_DS"; }
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$HERE/lib/netns.sh"     # netns_delete, and the EXIT trap (PIDS, teardown_ns, WORK)

setup_ns() {
    ip netns add "$NS_C"
    ip netns add "$NS_S"
    ip link add "$IF_C" netns "$NS_C" address 02:00:00:00:00:01 type veth \
        peer name "$IF_S" netns "$NS_S" address 02:00:00:00:00:02
    local ns ifc addr4 addr6
    for ns in "$NS_C" "$NS_S"; do
        if [[ $ns == "$NS_C" ]]; then ifc=$IF_C addr4=198.51.100.1 addr6=2001:db8::1
        else ifc=$IF_S addr4=198.51.100.2 addr6=2001:db8::2; fi
        ip -n "$ns" link set lo up
        ip netns exec "$ns" ethtool -K "$ifc" tso off gso off gro off tx off rx off >/dev/null
        ip -n "$ns" addr add "$addr4/24" dev "$ifc"
        ip -n "$ns" addr add "$addr6/64" dev "$ifc" nodad
    done
    # Static neighbour entries: no ARP/ND exchange delays the first SYN, and ND keeps working
    # for IPv6 while ip6tables in the server's namespace drops everything.
    ip -n "$NS_C" neigh add 198.51.100.2 lladdr 02:00:00:00:00:02 dev "$IF_C" nud permanent
    ip -n "$NS_C" neigh add 2001:db8::2 lladdr 02:00:00:00:00:02 dev "$IF_C" nud permanent
    ip -n "$NS_S" neigh add 198.51.100.1 lladdr 02:00:00:00:00:01 dev "$IF_S" nud permanent
    ip -n "$NS_S" neigh add 2001:db8::1 lladdr 02:00:00:00:00:01 dev "$IF_S" nud permanent
    ip -n "$NS_C" link set "$IF_C" up
    ip -n "$NS_S" link set "$IF_S" up
    # Until the kernel's link watcher has seen the carrier (it may take up to a second) the
    # device keeps its "noop" qdisc and drops what is sent: wait for state UP and noqueue.
    local t=0
    until ip -n "$NS_C" -o link show dev "$IF_C" | grep -q 'qdisc noqueue state UP' &&
          ip -n "$NS_S" -o link show dev "$IF_S" | grep -q 'qdisc noqueue state UP'; do
        (( t++ < 300 )) || die "veth pair did not come up"
        sleep 0.01
    done
}

# wait_up NS IFACE...: until the kernel's link watcher has seen the carrier (up to a second) a
# device keeps its "noop" qdisc and drops what is sent: wait for state UP and noqueue.
wait_up() {
    local ns=$1 ifc t=0
    shift
    for ifc in "$@"; do
        until ip -n "$ns" -o link show dev "$ifc" | grep -q 'qdisc noqueue state UP'; do
            (( t++ < 300 )) || die "$ifc in $ns did not come up"
            sleep 0.01
        done
    done
}

# The routed topology: client -- router -- server, two veth pairs, the router forwards.
# Addresses: the client's link is 198.51.100.64/26 and 2001:db8::1:0/112, the server's
# 198.51.100.128/26 and 2001:db8::2:0/112 (both carved from the project's ranges).
setup_routed() {
    add_namespaces "$NS_C" "$NS_R" "$NS_S"
    ip link add "$IF_C" netns "$NS_C" address 02:00:00:00:01:01 type veth \
        peer name "$IF_RC" netns "$NS_R" address 02:00:00:00:01:02
    ip link add "$IF_S" netns "$NS_S" address 02:00:00:00:02:02 type veth \
        peer name "$IF_RS" netns "$NS_R" address 02:00:00:00:02:01
    configure_routed
}

# The distant topology: the routed topology with a delay line (lib/delay.py, a transparent relay
# on AF_PACKET sockets in a namespace of its own) in each of the two links, so that
#   client --[tmortem-dlc: 30 ms ->, <- 10 ms]-- router --[tmortem-dls: 15 ms ->, <- 65 ms]-- server
# (the delays of lib/kit.py DELAY_MS). Same addresses, MACs, routes and static neighbours as
# setup_routed: to the hosts and the router a delay line is a (long) cable.
setup_distant() {
    add_namespaces "$NS_C" "$NS_R" "$NS_S" "$NS_DC" "$NS_DS"
    local ns spec n ifc t=0
    for ns in "$NS_DC" "$NS_DS"; do   # no addresses, no IPv6: the kernel there sends nothing
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1
    done
    ip link add "$IF_C" netns "$NS_C" address 02:00:00:00:01:01 type veth \
        peer name "$P-dlc1" netns "$NS_DC" address 02:00:00:00:03:01
    ip link add "$IF_RC" netns "$NS_R" address 02:00:00:00:01:02 type veth \
        peer name "$P-dlc2" netns "$NS_DC" address 02:00:00:00:03:02
    ip link add "$IF_RS" netns "$NS_R" address 02:00:00:00:02:01 type veth \
        peer name "$P-dls1" netns "$NS_DS" address 02:00:00:00:04:01
    ip link add "$IF_S" netns "$NS_S" address 02:00:00:00:02:02 type veth \
        peer name "$P-dls2" netns "$NS_DS" address 02:00:00:00:04:02
    for spec in "$NS_DC $P-dlc1" "$NS_DC $P-dlc2" "$NS_DS $P-dls1" "$NS_DS $P-dls2"; do
        read -r n ifc <<<"$spec"
        ip netns exec "$n" ethtool -K "$ifc" tso off gso off gro off tx off rx off >/dev/null
        ip -n "$n" link set "$ifc" promisc on up
    done
    configure_routed
    wait_up "$NS_DC" "$P-dlc1" "$P-dlc2"
    wait_up "$NS_DS" "$P-dls1" "$P-dls2"
    # Real-time priority (SCHED_FIFO): on a loaded machine an ordinary process is sometimes
    # not scheduled for 100 ms, which a delay line would add to the path.
    ip netns exec "$NS_DC" chrt -f 20 python3 "$HERE/lib/delay.py" "$P-dlc1" "$P-dlc2" \
        "$DELAY_C_TO_R" "$DELAY_R_TO_C" "$run/delay-c-ready" &
    PIDS+=("$!")
    disown "$!"                       # killed with its namespace, no job report
    ip netns exec "$NS_DS" chrt -f 20 python3 "$HERE/lib/delay.py" "$P-dls1" "$P-dls2" \
        "$DELAY_R_TO_S" "$DELAY_S_TO_R" "$run/delay-s-ready" &
    PIDS+=("$!")
    disown "$!"
    until [[ -e $run/delay-c-ready && -e $run/delay-s-ready ]]; do
        (( t++ < 300 )) || die "the delay lines did not start"
        sleep 0.02
    done
}

# add_namespaces NS...: fresh namespaces with their loopback up.
add_namespaces() {
    local ns
    for ns in "$@"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
}

# configure_routed: addresses, offloads off, forwarding, static neighbours (no ARP/ND delays, and
# ND survives DROP rules) and default routes of the routed and distant topologies, once their
# interfaces exist; returns when they are up.
configure_routed() {
    local spec n ifc a4 a6 mac
    for spec in "$NS_C $IF_C 198.51.100.65/26 2001:db8::1:1/112" \
                "$NS_R $IF_RC 198.51.100.66/26 2001:db8::1:2/112" \
                "$NS_R $IF_RS 198.51.100.129/26 2001:db8::2:1/112" \
                "$NS_S $IF_S 198.51.100.130/26 2001:db8::2:2/112"; do
        read -r n ifc a4 a6 <<<"$spec"
        ip netns exec "$n" ethtool -K "$ifc" tso off gso off gro off tx off rx off >/dev/null
        ip -n "$n" addr add "$a4" dev "$ifc"
        ip -n "$n" addr add "$a6" dev "$ifc" nodad
    done
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    for spec in "$NS_C $IF_C 198.51.100.66 2001:db8::1:2 02:00:00:00:01:02" \
                "$NS_R $IF_RC 198.51.100.65 2001:db8::1:1 02:00:00:00:01:01" \
                "$NS_R $IF_RS 198.51.100.130 2001:db8::2:2 02:00:00:00:02:02" \
                "$NS_S $IF_S 198.51.100.129 2001:db8::2:1 02:00:00:00:02:01"; do
        read -r n ifc a4 a6 mac <<<"$spec"
        ip -n "$n" neigh add "$a4" lladdr "$mac" dev "$ifc" nud permanent
        ip -n "$n" neigh add "$a6" lladdr "$mac" dev "$ifc" nud permanent
    done
    ip -n "$NS_C" link set "$IF_C" up
    ip -n "$NS_R" link set "$IF_RC" up
    ip -n "$NS_R" link set "$IF_RS" up
    ip -n "$NS_S" link set "$IF_S" up
    ip -n "$NS_C" route add default via 198.51.100.66
    ip -n "$NS_C" -6 route add default via 2001:db8::1:2
    ip -n "$NS_S" route add default via 198.51.100.129
    ip -n "$NS_S" -6 route add default via 2001:db8::2:1
    wait_up "$NS_C" "$IF_C"
    wait_up "$NS_R" "$IF_RC" "$IF_RS"
    wait_up "$NS_S" "$IF_S"
}

# wait_pid PID SECONDS: wait for a background job, kill it after SECONDS; return its status.
wait_pid() {
    local pid=$1 limit=$2 t=0
    while kill -0 "$pid" 2>/dev/null; do
        if (( t >= limit * 20 )); then
            echo "make-samples: pid $pid still running after ${limit}s, killed" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.05
        t=$((t + 1))
    done
    wait "$pid"
}

# start_tcpdump VANTAGE NS IFACE FILE [TCPDUMP OPTION...]: a capture point, started in the background
# (its pid in TDS, its stderr in $run/tcpdump.VANTAGE.err); returns once it listens.
start_tcpdump() {
    local vantage=$1 ns=$2 iface=$3 file=$4 t=0
    shift 4
    # --immediate-mode: without it packets still in the kernel's ring when tcpdump is stopped are
    # lost; -B: the ring holds few packets at the default size and full snaplen.
    ip netns exec "$ns" tcpdump -i "$iface" -U --immediate-mode -B 65536 \
        -w "$file" "$@" tcp 2>"$run/tcpdump.$vantage.err" &
    TDS+=("$!")
    PIDS+=("$!")
    until grep -qs '^tcpdump: listening on' "$run/tcpdump.$vantage.err"; do
        kill -0 "${TDS[-1]}" 2>/dev/null || { cat "$run/tcpdump.$vantage.err" >&2; die "tcpdump failed"; }
        (( t++ < 200 )) || die "tcpdump did not start"
        sleep 0.02
    done
}

# capture NAME SCENARIO FAMILY [at-server] [any] [TCPDUMP OPTION...]
# Capture one scenario into $WORK/NAME.VANTAGE.pcap and check it. The vantage point is the
# client's namespace (on tmortem-c); at-server: the server's (on tmortem-s); a distant scenario
# is captured at the client, the server and the router (on tmortem-rc) at once. any: on every
# interface (-i any). Sets VANTAGES (the capture points), CAPTURED_AT_<v> and CAPTURED_WITH_<v>
# (for the truth files), RETRY=1 when a check asks for a retry (the stack did something the
# scenario cannot use, exit status 3); dies on any other failure.
capture() {
    local name=$1 scenario=$2 family=$3
    shift 3
    local iface=$IF_C opts=("$@") topology vantage points=()
    run=$WORK/run-$name
    topology=$(python3 "$HERE/scenarios.py" topology "$scenario")
    if [[ $topology == distant ]]; then
        points=("client $NS_C $IF_C" "router $NS_R $IF_RC" "server $NS_S $IF_S")
    elif [[ ${opts[0]:-} == at-server ]]; then
        points=("server $NS_S $IF_S")
        opts=("${opts[@]:1}")
    else
        points=("client $NS_C $IF_C")
    fi
    if [[ ${opts[0]:-} == any ]]; then iface=any; opts=("${opts[@]:1}"); fi
    rm -rf "$run"
    mkdir "$run"
    case $topology in
        routed) setup_routed ;;
        distant) setup_distant ;;
        *) setup_ns ;;
    esac

    TDS=() VANTAGES=()
    local point ns ifc
    for point in "${points[@]}"; do
        read -r vantage ns ifc <<<"$point"
        [[ $iface != any ]] || ifc=any
        start_tcpdump "$vantage" "$ns" "$ifc" "$WORK/$name.$vantage.pcap" "${opts[@]}"
        VANTAGES+=("$vantage")
        printf -v "CAPTURED_AT_$vantage" '%s' "${vantage}'s"
        printf -v "CAPTURED_WITH_$vantage" '%s' "-i $ifc${opts[*]:+ ${opts[*]}} tcp"
    done

    # The router's role first: its rules must be in place before any connection.
    local rp= t=0
    if [[ $topology != pair ]]; then
        ip netns exec "$NS_R" python3 "$HERE/scenarios.py" router "$scenario" "$family" "$run" &
        rp=$!
        PIDS+=("$rp")
        until [[ -e $run/router-ready ]]; do
            kill -0 "$rp" 2>/dev/null || die "$name: the router role failed"
            (( t++ < 400 )) || die "$name: the router role did not get ready"
            sleep 0.02
        done
    fi
    ip netns exec "$NS_S" python3 "$HERE/scenarios.py" server "$scenario" "$family" "$run" &
    local sp=$!
    ip netns exec "$NS_C" python3 "$HERE/scenarios.py" client "$scenario" "$family" "$run" &
    local cp=$!
    PIDS+=("$sp" "$cp")

    # until the client is done, or asks for the capture to end while things still happen
    t=0
    while kill -0 "$cp" 2>/dev/null && [[ ! -e $run/stop-capture ]]; do
        (( t++ < 1200 )) || break
        sleep 0.05
    done
    # a moment for the last packets (a distant peer's take up to 75 ms to arrive)
    if [[ $topology == distant ]]; then sleep 0.6; else sleep 0.3; fi
    local td
    for td in "${TDS[@]}"; do kill -INT "$td"; done
    for td in "${TDS[@]}"; do wait "$td" || die "$name: tcpdump exited with status $?"; done
    touch "$run/capture-stopped"
    local cs=0 ss=0 rs=0
    wait_pid "$cp" 30 || cs=$?
    wait_pid "$sp" 30 || ss=$?
    [[ -z $rp ]] || wait_pid "$rp" 30 || rs=$?
    PIDS=()
    teardown_ns
    (( cs == 0 && ss == 0 && rs == 0 )) ||
        die "$name: scenario $scenario failed (client $cs, server $ss, router $rs)"
    RETRY=0
    for vantage in "${VANTAGES[@]}"; do
        if ! grep -q "^0 packets dropped by kernel" "$run/tcpdump.$vantage.err"; then
            echo "make-samples: $name: tcpdump at the $vantage lost packets:" \
                 "$(tr '\n' ' ' <"$run/tcpdump.$vantage.err")" >&2
            RETRY=1
            return
        fi
    done
    local st
    for vantage in "${VANTAGES[@]}"; do
        st=0
        python3 "$HERE/scenarios.py" check "$scenario" "$family" "$WORK/$name.$vantage.pcap" \
            "$vantage" || st=$?
        (( st == 0 )) || (( st == 3 )) || die "$name: capture check failed ($vantage)"
        (( st == 0 )) || RETRY=1
    done
}

# selected NAME: NAME was asked for on the command line, or its section ($GROUP), or everything.
selected() {
    (( ${#ONLY[@]} == 0 )) || [[ " ${ONLY[*]} " == *" $1 "* || " ${ONLY[*]} " == *" $GROUP "* ]]
}

# sample NAME SCENARIO FAMILY [at-server] [any] [TCPDUMP OPTION...]: capture, retrying while the
# check says so.
sample() {
    local name=$1 scenario=$2 family=$3 tries=1 max=$TRIES start=$SECONDS
    selected "$name" || return 0
    [[ $scenario == fin_simultaneous || $scenario == far_fin_crossing ]] && max=$SIMULTANEOUS_TRIES
    while :; do
        capture "$@"
        (( RETRY )) || break
        (( tries < max )) || die "$name: no usable capture in $tries attempts"
        echo "make-samples: $name: attempt $tries not usable, again" >&2
        tries=$((tries + 1))
    done
    local vantage file dir=$OUT at linktype captured_at captured_with
    [[ ${#VANTAGES[@]} -eq 1 ]] || { dir=$OUT/distant; mkdir -p "$dir"; }
    for vantage in "${VANTAGES[@]}"; do
        file=$name
        [[ ${#VANTAGES[@]} -eq 1 ]] || file=${name}_at_$vantage
        mv "$WORK/$name.$vantage.pcap" "$dir/$file.pcap"
        linktype=$(tcpdump -r "$dir/$file.pcap" -c 1 2>&1 >/dev/null | grep -o 'link-type [^,]*')
        captured_at=CAPTURED_AT_$vantage captured_with=CAPTURED_WITH_$vantage
        at=${!captured_at}
        python3 "$HERE/scenarios.py" truth "$scenario" "$family" "$vantage" \
            "captured in the $at namespace by tcpdump ${!captured_with}; $linktype" \
            >"$dir/$file.truth"
        printf '%-34s %3d s  %s\n' "$file" $((SECONDS - start)) \
            "$(grep -v '^#' "$dir/$file.truth" | tail -n +3 | cut -f3 | sort | uniq -c | xargs)"
    done
    local run=$WORK/run-$name
    [[ ! -e $run/notes ]] || sed "s/^/    note: /" "$run/notes"
}

# relinked SOURCE NAME MODE [OPTION...]: NAME is SOURCE rewritten by relink.py MODE.
relinked() {
    local src=$1 name=$2 mode=$3
    shift 3
    selected "$name" || return 0
    python3 "$HERE/relink.py" "$mode" "$@" "$OUT/$src.pcap" "$OUT/$name"
    {
        head -n 1 "$OUT/$src.truth"
        echo "# $src.pcap rewritten by relink.py $mode${*:+ $*}: the same TCP/IP packets"
        tail -n +2 "$OUT/$src.truth" |
            sed "s/^capture\t.*/&\trelinked=$src $mode${*:+ $*}/"
    } >"$OUT/${name%.*}.truth"
    printf '%-34s from %s.pcap (%s)\n' "$name" "$src" "$mode"
}

ONLY=("$@")
[[ ${1:-} != --diagnoses ]] || ONLY=(diagnoses)
mkdir -p "$OUT"

GROUP=base

sample fin_graceful            fin_graceful            4
sample fin_graceful_v6         fin_graceful            6
sample fin_graceful_any        fin_graceful            4 any
sample fin_simultaneous        fin_simultaneous        4
sample half_closed_at_end      half_closed_at_end      4
sample rst_unread_data         rst_unread_data         4
sample rst_unread_data_v6      rst_unread_data         6
sample rst_abort               rst_abort               4
sample rst_abort_sll           rst_abort               4 any -y LINUX_SLL
sample rst_after_close         rst_after_close         4
sample rst_after_close_nano    rst_after_close         4 --time-stamp-precision=nano
sample rst_peer_restarted      rst_peer_restarted      4
sample rst_refused             rst_refused             4
sample rst_refused_v6          rst_refused             6
sample syn_unanswered          syn_unanswered          4
sample keepalive_timeout       keepalive_timeout       4
sample keepalive_timeout_v6    keepalive_timeout       6
sample peer_vanished           peer_vanished           4
sample peer_vanished_v6        peer_vanished           6
sample peer_vanished_retries2  peer_vanished_retries2  4
sample peer_vanished_ongoing   peer_vanished_ongoing   4
sample peer_vanished_heartbeat peer_vanished_heartbeat 4
sample open_at_end             open_at_end             4
sample idle_at_end             idle_at_end             4
sample idle_at_end_keepalive   idle_at_end_keepalive   4

relinked fin_graceful          fin_graceful_vlan.pcap              vlan --vid 100
relinked fin_graceful_v6       fin_graceful_v6_vlan.pcap           vlan --vid 100
relinked rst_unread_data       rst_unread_data_qinq.pcap           qinq --outer 200 --vid 100
relinked keepalive_timeout     keepalive_timeout_raw.pcap          raw
relinked keepalive_timeout_v6  keepalive_timeout_v6_raw.pcap       raw
relinked rst_refused           rst_refused_loopback.pcap           loopback
relinked rst_refused_v6        rst_refused_v6_loopback.pcap        loopback
relinked peer_vanished         peer_vanished_pcapng.pcapng         pcapng
relinked rst_after_close_nano  rst_after_close_nano_pcapng.pcapng  pcapng

# Variants: the classes above reached through other realistic paths (other side closing, other
# timing, capture point in the server's namespace, -i any), so the rules calibrated on the base
# captures can be tried on endings they were not tuned on. About 70 s.
GROUP=variants
sample rst_unread_data_variants         rst_unread_data_variants         4
sample rst_abort_variants               rst_abort_variants               4
sample rst_abort_variants_v6            rst_abort_variants               6
sample fin_graceful_variants            fin_graceful_variants            4
sample fin_graceful_variants_v6_any     fin_graceful_variants            6 any
sample fin_graceful_bulk                fin_graceful_bulk                4
sample half_closed_at_end_server        half_closed_at_end_server        4
sample rst_after_close_stream           rst_after_close_stream           4
sample rst_peer_restarted_client        rst_peer_restarted_client        4
sample peer_vanished_client_gone        peer_vanished_client_gone        4 at-server
sample peer_vanished_heartbeat_server_v6 peer_vanished_heartbeat_server  6 at-server
sample keepalive_timeout_server         keepalive_timeout_server         4
sample syn_unanswered_variants_v6       syn_unanswered_variants          6
sample syn_unanswered_at_server         syn_unanswered_filtered          4 at-server
sample rst_refused_any                  rst_refused_variants             4 any
sample idle_at_end_v6                   idle_at_end_long                 6
sample open_at_end_upload               open_at_end_upload               4

# Diagnoses: who really sent a reset, middlebox idle timeouts, CLOSE-WAIT, TIME-WAIT, the timers'
# settings. Routed: client -- router -- server (the router's resets, its conntrack timeouts).
# About 105 s.
GROUP=diagnoses
sample rst_middlebox                  rst_middlebox          4
sample rst_middlebox_v6               rst_middlebox          6
sample rst_injected                   rst_injected           4
sample middlebox_idle_drop            middlebox_idle_drop    4
sample middlebox_idle_drop_v6         middlebox_idle_drop    6
sample middlebox_idle_reset           middlebox_idle_reset   4
sample middlebox_idle_reset_at_server middlebox_idle_push    4 at-server
sample keepalive_middlebox            keepalive_middlebox    4
# Two namespaces: the endpoints' own timers and states.
sample close_wait_stuck               close_wait_stuck       4
sample time_wait_reuse                time_wait_reuse        4
sample timers_syn_retries             timers_syn_retries     4
sample timers_retries2                timers_retries2        4
sample timers_fin_timeout             timers_fin_timeout     4

# Distant peers (issue 11): the endings whose evidence is timing across a client -- router --
# server path with real, asymmetric delays (lib/delay.py), each captured at the client, the router
# and the server at once into captures/distant/NAME_at_{client,router,server}.pcap. About 80 s.
GROUP=distant
sample far_rst_after_close            far_rst_after_close    4
sample far_lost_state                 far_lost_state         4
sample far_rst_forged                 far_rst_forged         4
sample far_keepalive                  far_keepalive          4
sample far_retransmit_giveup          far_retransmit_giveup  4
sample far_syn_retries                far_syn_retries        4
sample far_fin_wait_2                 far_fin_wait_2         4
sample far_time_wait                  far_time_wait          4
sample far_fin_crossing               far_fin_crossing       4

echo "make-samples: done in ${SECONDS}s"
