#!/usr/bin/env python3
"""Instruction budgets of tcpmortem: instructions per packet and per connection, counted by
callgrind (repeatable, unlike times on a shared machine), and the functions that spend them.

Each capture's total is modelled as  fixed + per_packet x packets + per_connection x connections;
the fixed part is measured on a one-connection capture, and the two per-unit costs are solved from
two captures whose packets-per-connection differ (the two benchmark profiles), so neither cost is
guessed from the other.

Usage: budget.py TCPMORTEM TINY.pcap NAME=CAPTURE NAME=CAPTURE [-- extra tcpmortem options]
"""
import json
import os
import re
import subprocess
import sys
import tempfile


def instructions(tool, capture, options, annotate=False):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               tool, *options, "-o", "/dev/null", capture],
                              capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", proc.stderr)
        if not m:
            sys.exit(f"callgrind failed on {capture}: {proc.stderr[-500:]}")
        hot = ""
        if annotate:
            hot = subprocess.run(["callgrind_annotate", "--inclusive=no", out],
                                 capture_output=True, text=True).stdout
        return int(m.group(1)), hot


def counts(tool, capture):
    doc = json.loads(subprocess.run([tool, "-f", "json", capture], capture_output=True,
                                    check=True).stdout)
    return doc["summary"]["frames"], doc["summary"]["flows"]


def main():
    args = sys.argv[1:]
    options = ["-f", "text"]
    if "--" in args:
        i = args.index("--")
        args, options = args[:i], args[i + 1:]
    tool, tiny, profiles = args[0], args[1], [a.split("=", 1) for a in args[2:4]]
    fixed, _ = instructions(tool, tiny, options)
    rows = []
    for name, cap in profiles:
        total, hot = instructions(tool, cap, options, annotate=True)
        packets, flows = counts(tool, cap)
        rows.append((name, total - fixed, packets, flows, hot))
    (n1, i1, p1, c1, _), (n2, i2, p2, c2, _) = rows
    det = p1 * c2 - p2 * c1
    per_packet = (i1 * c2 - i2 * c1) / det
    per_conn = (p1 * i2 - p2 * i1) / det
    print(f"options: {' '.join(options)}; fixed cost {fixed / 1e6:.1f} M instructions")
    for name, inst, packets, flows, _ in rows:
        print(f"{name}: {inst / 1e6:.0f} M instructions, {packets} packets, {flows} connections: "
              f"{inst / packets:.0f} per packet all in, {inst / flows:.0f} per connection all in")
    print(f"model: {per_packet:.0f} instructions per packet + {per_conn:.0f} per connection")
    for name, _, _, _, hot in rows:
        print(f"\n{name}: the functions that spend the most (self)")
        lines = [l for l in hot.splitlines() if re.match(r"\s*[\d,]+ \(", l)]
        for line in lines[:15]:
            print("  " + line.strip())


if __name__ == "__main__":
    main()
