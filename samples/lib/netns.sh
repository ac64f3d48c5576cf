# netns.sh - sourced by make-samples.sh and make-tunnel-samples.sh: deleting their network
# namespaces, and the EXIT trap that kills the background processes they started (PIDS), calls
# their teardown_ns and removes their work folder (WORK).

# Kill whatever still runs in each namespace named, and delete it (those that do not exist are
# passed over).
netns_delete() {
    local ns
    for ns in "$@"; do
        if ip netns list 2>/dev/null | grep -q "^$ns\b"; then
            ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
            ip netns del "$ns"
        fi
    done
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    teardown_ns
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
