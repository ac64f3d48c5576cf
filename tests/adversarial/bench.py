#!/usr/bin/env python3
"""Adversarial traffic benchmark: tcpmortem's CPU time per packet and peak memory as the input
grows from ten thousand to ten million packets, for each scenario of gen-traffic.py, generated
into a pipe (nothing stored).

Usage: bench.py TCPMORTEM [--sizes 10000,100000,1000000,10000000] [--scenarios a,b,...]
                [--max-flows N] [--format text|json|ndjson|csv]

For every run it prints the packets, the flows reported (evicted), tcpmortem's CPU time (user +
system, from wait4, so the Python generator's time is not counted), the time per packet with
the start-up cost (an empty capture) subtracted, and the peak resident memory; runs under a
million packets (and the empty one) are repeated REPEAT_SMALL times and the median is shown. Then, per
scenario, the ratio of the slowest to the fastest time per packet (must stay within 2) and
whether the peak memory stayed within BASE_BYTES + max-flows x PER_FLOW_BYTES. Exit 1 if not.
This is long (minutes for ten million packets per scenario): it is not part of the test
command; tests/adversarial/check_bounded.py runs a short version there. tcpmortem runs under
tests/adversarial/rusage.c (built as BUILD/tests/rusage beside BUILD/tcpmortem), which reports
its own peak memory and CPU time.
"""
import argparse
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
GEN = HERE / "gen-traffic.py"

# The per-flow bound: one struct flow (544 bytes today) and its block of rare evidence (136)
# with their allocation headers, one tombstone (40; at most --max-flows of them), and its share
# of the two hash tables' buckets (at most two pointers each): under 800 bytes.
PER_FLOW_BYTES = 1024
# Everything else: the program, libc, libpcap and jansson, libpcap's record buffer, stdio
# buffers, the text writer's bounded tables.
BASE_BYTES = 32 << 20
DEFAULT_MAX_FLOWS = 100000
REPEAT_SMALL = 5
REPEAT_BELOW = 1000000
SCENARIOS = ["syn_flood", "half_open", "seq_wrap", "wscale14", "rst_flood", "overlap", "mix"]


def find_rusage(binary):
    """The rusage helper (tests/adversarial/rusage.c) built beside tcpmortem."""
    path = pathlib.Path(binary).resolve().parent / "tests" / "rusage"
    if not path.exists():
        sys.exit(f"bench: no {path}: build the tests (cmake --build BUILD)")
    return str(path)


def measure(binary, scenario, packets, max_flows, fmt="text", seed=1):
    """Runs gen-traffic.py SCENARIO PACKETS | tcpmortem -f FMT --max-flows N -. Returns a dict:
    status, cpu (s), rss (bytes), frames, flows, evicted, stderr."""
    gen = subprocess.Popen([sys.executable, str(GEN), scenario, str(packets), "--seed", str(seed)],
                           stdout=subprocess.PIPE)
    with tempfile.NamedTemporaryFile("r", prefix="tm-rusage-") as usage:
        # Through rusage.c: tcpmortem's peak memory must not start at Python's.
        args = [find_rusage(binary), usage.name, binary, "-f", fmt, "--max-flows",
                str(max_flows), "-"]
        out = open(os.devnull, "wb") if fmt != "text" else subprocess.PIPE
        tm = subprocess.Popen(args, stdin=gen.stdout, stdout=out, stderr=subprocess.PIPE)
        gen.stdout.close()
        stdout = tm.stdout.read() if fmt == "text" else b""
        stderr = tm.stderr.read()
        tm.wait()
        gen.wait()
        if fmt != "text":
            out.close()
        maxrss_kb, user, system, status = usage.read().split()
    m = re.search(rb"(\d+) frames, (\d+) flows(?: \((\d+) evicted\))?", stdout)
    return {"status": int(status), "cpu": float(user) + float(system),
            "rss": int(maxrss_kb) * 1024, "stderr": stderr.decode(errors="replace"),
            "frames": int(m.group(1)) if m else None, "flows": int(m.group(2)) if m else None,
            "evicted": int(m.group(3) or 0) if m else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("--sizes", default="10000,100000,1000000,10000000")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--max-flows", type=int, default=DEFAULT_MAX_FLOWS)
    ap.add_argument("--format", default="text")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    empties = [measure(args.binary, "syn_flood", 0, args.max_flows, args.format)
               for _ in range(REPEAT_SMALL)]
    empty = sorted(empties, key=lambda x: x["cpu"])[REPEAT_SMALL // 2]
    start_cpu = empty["cpu"]
    bound = BASE_BYTES + args.max_flows * PER_FLOW_BYTES
    print(f"start-up: {start_cpu * 1e3:.1f} ms CPU, {empty['rss'] / 2**20:.1f} MiB; memory bound "
          f"{BASE_BYTES >> 20} MiB + {args.max_flows} flows x {PER_FLOW_BYTES} B = "
          f"{bound / 2**20:.0f} MiB")
    print(f"{'scenario':<10} {'packets':>9} {'flows':>9} {'evicted':>9} {'exit':>4} "
          f"{'CPU s':>8} {'ns/pkt':>7} {'peak MiB':>9}")
    failed = False
    for scenario in args.scenarios.split(","):
        per_packet = []
        for n in sizes:
            # Small runs take milliseconds, where scheduling noise is a large share: the median
            # of several.
            runs = [measure(args.binary, scenario, n, args.max_flows, args.format)
                    for _ in range(REPEAT_SMALL if n < REPEAT_BELOW else 1)]
            r = sorted(runs, key=lambda x: x["cpu"])[len(runs) // 2]
            ns = (r["cpu"] - start_cpu) / n * 1e9
            per_packet.append(ns)
            print(f"{scenario:<10} {n:>9} {r['flows'] if r['flows'] is not None else '-':>9} "
                  f"{r['evicted'] if r['evicted'] is not None else '-':>9} {r['status']:>4} "
                  f"{r['cpu']:>8.2f} {ns:>7.0f} {r['rss'] / 2**20:>9.1f}", flush=True)
            if r["status"] not in (0, 1) or r["rss"] > bound:
                failed = True
                print(f"  FAIL: exit {r['status']}, peak {r['rss']} B > {bound} B? {r['stderr']}")
        ratio = max(per_packet) / max(min(per_packet), 1e-9)
        verdict = "ok" if ratio <= 2 else "FAIL"
        failed |= ratio > 2
        print(f"{scenario:<10} slowest/fastest time per packet: {ratio:.2f} ({verdict})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
