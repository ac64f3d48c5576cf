#!/usr/bin/env python3
"""--threads N gives the single-threaded output, byte for byte (analyzer/engine/engine.c): every
sample alone and all samples as one capture, in every format that lists flows.

Usage: check_threads.py TCPMORTEM CAPTURES_DIR
"""
import pathlib
import subprocess
import sys


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, timeout=120).stdout


def main():
    binary, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    files = sorted(str(p) for p in captures.iterdir() if p.suffix in (".pcap", ".pcapng"))
    passed = failed = 0
    cases = [[f] for f in files] + [files]
    for threads in ("2", "3", "4"):  # one, two and three analysis threads
        for case in cases:
            for fmt in ("ndjson", "csv", "json", "text"):
                one = run(binary, "-f", fmt, *case)
                many = run(binary, "--threads", threads, "-f", fmt, *case)
                if one == many and one:
                    passed += 1
                else:
                    failed += 1
                    name = "all samples" if len(case) > 1 else case[0]
                    print(f"FAIL --threads {threads} -f {fmt} {name}: output differs")
    print(f"\nthreads: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
