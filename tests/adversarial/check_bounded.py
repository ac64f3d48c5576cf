#!/usr/bin/env python3
"""The short adversarial check the test command runs (the long one is bench.py): traffic from
gen-traffic.py into a pipe, 100 thousand packets per scenario.

- Memory: with --max-flows 2000, tcpmortem's peak resident memory stays within its start-up
  memory (an empty capture) + 2000 x bench.PER_FLOW_BYTES + SLACK + INCIDENTS_BYTES, for every
  scenario, the reset
  flood from 50 thousand distinct addresses included; and it exits 1 saying flows were evicted
  when they were. As a control, the same SYN flood without the cap must take at least 256 bytes
  more per extra flow: the measurement sees memory that grows with the flows.
- Time: CPU time per packet (start-up subtracted, best of two runs) at 100 thousand packets
  within 3x of that at 10 thousand, for every scenario: no quadratic path (a flow table that
  stopped growing, a hash chain crafted long, a list walked per packet) hides at this size.

- Classification under adversarial numbers (20 thousand packets, NDJSON): sequence numbers
  wrapping through 2^32 mid-flow, window scale 14 and overlapping retransmissions with different
  bytes must not confuse the tracker: every connection but the last (cut by the packet count) is
  fin_graceful closed by the client, none is marked capture_gap, and in the overlap scenario each
  finished connection counts its 100 retransmissions.

Only meaningful for an optimised build without sanitizers (ASan's quarantine keeps freed
memory); ctest registers it there. Usage: check_bounded.py TCPMORTEM
"""
import importlib.util
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import verdict  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench", HERE / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

PACKETS = 100000
SMALL = 10000
CAP = 2000
SLACK = 4 << 20
# The incident detector (reports/incidents.c) keeps the recent endings of each server endpoint
# and path, whatever --max-flows says: the reset flood ends connections on ~78 thousand server
# endpoints, which took 1.4 MiB over the rest. Its own caps (MAP_SLOTS, MAX_EVENTS) bound it.
INCIDENTS_BYTES = 4 << 20
TIME_FACTOR = 3
MIN_FLOW_BYTES = 256


def check_classes(binary, failures):
    for scenario, rtx in (("seq_wrap", 0), ("wscale14", 0), ("overlap", 100)):
        gen = subprocess.Popen([sys.executable, str(bench.GEN), scenario, "20000"],
                               stdout=subprocess.PIPE)
        out = subprocess.run([binary, "-f", "ndjson", "-"], stdin=gen.stdout,
                             capture_output=True, timeout=120).stdout
        gen.wait()
        flows = [json.loads(line) for line in out.splitlines()]
        done = flows[:-1]
        bad = [f["id"] for f in done
               if (f["close"]["class"], f["close"]["closer"]) != ("fin_graceful", "client")
               or "capture_gap" in f["modifiers"] or f["retransmissions"]["client"] != rtx]
        ok = len(done) >= 30 and not bad
        print(f"{scenario:<10} {len(flows)} connections: all but the last fin_graceful by the "
              f"client, {rtx} retransmissions each, no capture_gap: {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{scenario}: {len(done)} finished connections, wrong: {bad[:10]}")


def main():
    binary = sys.argv[1]
    failures = []
    check_classes(binary, failures)
    empty = min((bench.measure(binary, "syn_flood", 0, CAP) for _ in range(3)),
                key=lambda r: r["cpu"])
    limit = empty["rss"] + CAP * bench.PER_FLOW_BYTES + SLACK + INCIDENTS_BYTES
    print(f"start-up {empty['rss'] / 2**20:.1f} MiB, {empty['cpu'] * 1e3:.1f} ms; memory limit "
          f"with --max-flows {CAP}: {limit / 2**20:.1f} MiB")
    for scenario in bench.SCENARIOS:
        r = bench.measure(binary, scenario, PACKETS, CAP)
        ok = r["rss"] <= limit and r["status"] in (0, 1) and \
            (r["status"] == 1) == bool(r["evicted"]) and r["frames"] == PACKETS
        print(f"{scenario:<10} {PACKETS} packets: {r['flows']} flows, {r['evicted']} evicted, "
              f"exit {r['status']}, peak {r['rss'] / 2**20:.1f} MiB {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{scenario}: {r}")
        per = []
        for n in (SMALL, PACKETS):
            best = min(bench.measure(binary, scenario, n, CAP)["cpu"] for _ in range(2))
            per.append((best - empty["cpu"]) / n * 1e9)
        ratio = per[1] / max(per[0], 1.0)
        ok = ratio <= TIME_FACTOR
        print(f"{scenario:<10} CPU per packet: {per[0]:.0f} ns at {SMALL}, {per[1]:.0f} ns at "
              f"{PACKETS} (x{ratio:.2f}) {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{scenario}: time per packet x{ratio:.2f} from {SMALL} to {PACKETS}")
    uncapped = bench.measure(binary, "syn_flood", PACKETS, 10 * PACKETS)
    grew = uncapped["rss"] - limit
    print(f"control: uncapped SYN flood peak {uncapped['rss'] / 2**20:.1f} MiB "
          f"({grew / 2**20:+.1f} MiB over the capped limit)")
    # A flow takes well over 256 bytes: the uncapped run holds about PACKETS of them at its end.
    if grew < (PACKETS - CAP) * MIN_FLOW_BYTES or uncapped["evicted"] != 0:
        failures.append("control: the uncapped run did not take more memory; the measurement "
                        "cannot see growth")
    return verdict("bounded", failures, echo=True)


if __name__ == "__main__":
    sys.exit(main())
