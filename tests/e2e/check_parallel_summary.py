#!/usr/bin/env python3
"""The README's GNU parallel recipe, run locally on the samples: one tcpmortem per capture in
parallel, NDJSON reports merged by `tcpmortem summarize`, compared with the summary of one run
over all the captures.

Only independent recordings take part: copies rewritten by samples/relink.py hold the same
packets at the same instants (one run over both would see every packet twice), and open_at_end /
idle_at_end depend on where the capture ends, which differs between one file and all of them.

Usage: check_parallel_summary.py TCPMORTEM CAPTURES_DIR
"""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
import truthfile  # noqa: E402


def independent_captures(captures):
    chosen = []
    for truth in sorted(captures.glob("*.truth")):
        t = truthfile.read(truth)
        if "relinked" in t.capture or \
                any(r["class"] in ("open_at_end", "idle_at_end") for r in t.rows):
            continue
        pcap = truth.with_suffix(".pcap")
        if pcap.exists():
            chosen.append(pcap)
    return chosen


def main():
    binary, captures = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])
    if not shutil.which("parallel"):
        print("FAIL GNU parallel is not installed (tests/install-deps.sh installs it)")
        print("\nparallel summary: 0 passed, 1 failed")
        return 1
    files = independent_captures(captures)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        # The recipe, as the README gives it.
        recipe = (f"printf '%s\\n' {' '.join(str(f) for f in files)} | "
                  f"parallel -j2 '{binary} -f ndjson {{}} > {tmp}/{{/.}}.ndjson' && "
                  f"{binary} summarize -f json {tmp}/*.ndjson")
        merged = json.loads(subprocess.run(["bash", "-c", recipe], check=True,
                                           capture_output=True, text=True).stdout)["summary"]
        one = json.loads(subprocess.run([str(binary), "-f", "json", *map(str, files)],
                                        check=True, capture_output=True,
                                        text=True).stdout)["summary"]
    checks = [("flows", merged["flows"], one["flows"]),
              ("by_class", merged["by_class"], one["by_class"]),
              ("by_closer", merged["by_closer"], one["by_closer"]),
              ("first_ts", merged["first_ts"], one["first_ts"]),
              ("last_ts", merged["last_ts"], one["last_ts"])]
    for name, got, want in checks:
        if got != want:
            failed += 1
            print(f"FAIL {name}: merged {got} != one run {want}")
    print(f"{len(files)} captures, {one['flows']} flows")
    print(f"\nparallel summary: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
