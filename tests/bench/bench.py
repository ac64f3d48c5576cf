#!/usr/bin/env python3
"""Times tcpmortem against a bare libpcap read loop on the same capture, several runs each,
alternating, and prints medians: throughput, the tcpmortem/bare ratio (run by run), peak RSS,
RSS per concurrent flow, and the per-flow cost of each writer. Then, for each compressed copy
of the capture given: tcpmortem reading it against its decompressor (zcat, zstdcat, ...) piped
into the bare loop, throughput counted in bytes of the uncompressed capture.

Usage: bench.py BARE_LOOP TCPMORTEM RUNS NAME=CAPTURE[,CAPTURE...]... [--compressed COPY...]
       (one profile per capture, or per set of files read as one capture; then the profiles side
       by side; then each compressed copy of the first capture)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(cmd, cpu=None):
    """Wall seconds and peak RSS (bytes) of one run of `cmd`, its output thrown away; the CPU
    seconds (user + system, of every process of the run) are appended to the list `cpu`.

    Measured by GNU time: a child of this Python would report Python's own peak RSS (Linux
    carries the memory high-water mark across exec), a child of time starts from time's."""
    with tempfile.NamedTemporaryFile("r") as report:
        proc = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%e %M %U %S %x", *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, kib, user, system, code = report.read().split()[-5:]
    if int(code) not in (0, 1) or proc.returncode not in (0, 1):
        sys.exit(f"{cmd} failed with status {code}")
    if cpu is not None:
        cpu.append(float(user) + float(system))
    return float(wall), int(kib) * 1024


DECOMPRESSORS = {".gz": "zcat", ".zst": "zstdcat", ".lz4": "lz4cat", ".xz": "xzcat"}


def compressed(bare, tool, size, copies, runs):
    """tcpmortem on each compressed copy against `DECOMPRESSOR copy | bare_loop -`. The CPU
    time too: on a machine shared with other work the wall time says more about the others."""
    print(f"\ncompressed copies ({runs} runs each, medians; MB/s of the uncompressed capture):")
    print(f"{'':44} {'seconds':>8} {'MB/s':>8} {'vs pipe':>8} {'CPU s':>7} {'peak RSS':>10}")
    for copy in copies:
        cat = DECOMPRESSORS[os.path.splitext(copy)[1]]
        modes = {
            f"{cat} | bare loop": ["sh", "-c", f"{cat} '{copy}' | '{bare}' -"],
            f"tcpmortem {os.path.basename(copy)}": [tool, "-f", "text", "-o", "/dev/null", copy],
            f"{cat} | tcpmortem -": ["sh", "-c", f"{cat} '{copy}' | '{tool}' -o /dev/null -"],
        }
        times = {m: [] for m in modes}
        rss = {m: [] for m in modes}
        cpu = {m: [] for m in modes}
        for _ in range(runs):
            for m, cmd in modes.items():
                t, r = run(cmd, cpu[m])
                times[m].append(t)
                rss[m].append(r)
        pipe = list(modes)[0]
        print(f"{os.path.basename(copy)}: {os.path.getsize(copy) / 1e6:.0f} MB compressed")
        for m in modes:
            med = statistics.median(times[m])
            ratio = statistics.median(b / t for b, t in zip(times[pipe], times[m]))
            print(f"  {m:42} {med:8.3f} {size / med / 1e6:8.1f} {ratio:8.1%} "
                  f"{statistics.median(cpu[m]):7.2f} {statistics.median(rss[m]) / 2**20:8.1f} MiB")


# `cap` is the list of the profile's files (one, or a rotated set read as one capture).
MODES = {
    "bare loop": lambda bare, tool, cap: [bare, *cap],
    "tcpmortem text": lambda bare, tool, cap: [tool, "-f", "text", "-o", "/dev/null", *cap],
    "tcpmortem text --threads 2": lambda bare, tool, cap: [tool, "--threads", "2", "-f", "text",
                                                           "-o", "/dev/null", *cap],
    "tcpmortem text --threads 3": lambda bare, tool, cap: [tool, "--threads", "3", "-f", "text",
                                                           "-o", "/dev/null", *cap],
    "tcpmortem text --threads 4": lambda bare, tool, cap: [tool, "--threads", "4", "-f", "text",
                                                           "-o", "/dev/null", *cap],
    "tcpmortem ndjson": lambda bare, tool, cap: [tool, "-f", "ndjson", "-o", "/dev/null", *cap],
    "tcpmortem csv": lambda bare, tool, cap: [tool, "-f", "csv", "-o", "/dev/null", *cap],
    "tcpmortem json": lambda bare, tool, cap: [tool, "-f", "json", "-o", "/dev/null", *cap],
}


def profile(bare, tool, name, capture, runs, empty_rss):
    """Times every mode on one capture, alternating; prints its table; returns the ratios to the
    bare loop (run by run, median) and the per-flow figures for the side-by-side summary."""
    capture = capture.split(",")
    size = sum(os.path.getsize(c) for c in capture)
    summary = json.loads(subprocess.run([tool, "-f", "json", *capture], capture_output=True,
                                        check=True).stdout.split(b'"summary":', 1)[1][:-2])
    frames, flows, peak = summary["frames"], summary["flows"], summary["peak_flows"]
    modes = {m: make(bare, tool, capture) for m, make in MODES.items()}
    times = {m: [] for m in modes}
    rss = {m: [] for m in modes}
    cpu = {m: [] for m in modes}
    run(modes["bare loop"])  # warm the page cache
    for _ in range(runs):
        for m, cmd in modes.items():
            t, r = run(cmd, cpu[m])
            times[m].append(t)
            rss[m].append(r)
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"\n== profile {name}: {len(capture)} file(s), {size / 1e6:.0f} MB, {frames} packets, {flows} connections "
          f"({frames / max(flows, 1):.1f} packets, {size / max(flows, 1):.0f} bytes each), "
          f"{peak} alive at most; {runs} runs each, medians")
    print(f"{'':30} {'seconds':>8} {'MB/s':>8} {'Mpkt/s':>8} {'vs bare':>8} {'CPU s':>7} "
          f"{'peak RSS':>10}")
    ratios = {}
    for m in modes:
        ratios[m] = statistics.median(b / t for b, t in zip(times["bare loop"], times[m]))
        print(f"{m:30} {med[m]:8.3f} {size / med[m] / 1e6:8.1f} {frames / med[m] / 1e6:8.2f} "
              f"{ratios[m]:8.1%} {statistics.median(cpu[m]):7.2f} "
              f"{statistics.median(rss[m]) / 2**20:8.1f} MiB")
    for n in (2, 3, 4):
        speedup = statistics.median(t1 / t2 for t1, t2 in zip(times["tcpmortem text"],
                                                              times[f"tcpmortem text --threads {n}"]))
        print(f"--threads {n} speed-up over one thread: {speedup:.2f}x ({os.cpu_count()} CPUs)")
    per_flow = (statistics.median(rss["tcpmortem text"]) - empty_rss) / max(peak, 1)
    print(f"RSS per concurrent flow: {per_flow:.0f} bytes "
          f"(peak RSS minus a one-connection run's {empty_rss / 2**20:.1f} MiB, over {peak} flows)")
    extra = {}
    for fmt in ("ndjson", "csv", "json"):
        extra[fmt] = (med[f"tcpmortem {fmt}"] - med["tcpmortem text"]) / flows * 1e6
        print(f"{fmt} writer: {extra[fmt]:.2f} µs per flow (over the text summary run)")
    peak_rss = max(statistics.median(v) for m, v in rss.items() if m != "bare loop")
    return {"ratios": ratios, "writers": extra, "per_flow": per_flow, "peak_rss": peak_rss}


def main():
    bare, tool, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = sys.argv[4:]
    copies = args[args.index("--compressed") + 1:] if "--compressed" in args else []
    if copies:
        args = args[:args.index("--compressed")]
    profiles = [arg.split("=", 1) for arg in args]
    tiny = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "captures",
                        "rst_refused.pcap")
    empty_rss = run([tool, "-f", "text", "-o", "/dev/null", tiny])[1]
    results = {name: profile(bare, tool, name, cap, runs, empty_rss) for name, cap in profiles}
    # Side by side: the targets are ratios to the bare loop of the same run.
    names = [name for name, _ in profiles]
    print("\n== side by side (ratio to the bare loop measured in the same run)")
    print(f"{'':30}" + "".join(f"{n:>14}" for n in names))
    for m in MODES:
        print(f"{m:30}" + "".join(f"{results[n]['ratios'][m]:14.1%}" for n in names))
    for fmt in ("ndjson", "csv", "json"):
        print(f"{fmt + ' writer, µs per flow':30}" +
              "".join(f"{results[n]['writers'][fmt]:14.2f}" for n in names))
    print(f"{'RSS per live flow, bytes':30}" + "".join(f"{results[n]['per_flow']:14.0f}" for n in names))
    print(f"{'peak RSS (any mode), MiB':30}" +
          "".join(f"{results[n]['peak_rss'] / 2**20:14.1f}" for n in names))
    if copies:
        compressed(bare, tool, os.path.getsize(profiles[0][1].split(",")[0]), copies, runs)


if __name__ == "__main__":
    main()
