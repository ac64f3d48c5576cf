#!/usr/bin/env python3
"""End-to-end check: run tcpmortem on every sample capture and compare each connection's class,
closer and modifiers with the truth recorded when the sample was made (samples/*.truth).

Usage: check_samples.py TCPMORTEM CAPTURES_DIR [NAME...]
Prints one line per mismatch, a per-class table, and 'N passed, N failed'. Exit 1 on any failure.
"""
import collections
import json
import pathlib
import subprocess
import sys


def endpoint(ep):
    ip = ep["ip"]
    return f"[{ip}]:{ep['port']}" if ":" in ip else f"{ip}:{ep['port']}"


def read_truth(path):
    """Truth rows; a comment line '# detail CLIENT DETAIL' gives the expected close.detail."""
    rows, details = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# detail "):
            client, detail = line.split()[2:4]
            details[client] = detail
            continue
        if not line.strip() or line.startswith("#") or line.startswith("client\t"):
            continue
        client, server, cls, closer, mods = line.split("\t")[:5]
        rows.append({"client": client, "server": server, "class": cls, "closer": closer,
                     "modifiers": set() if mods.strip() in ("-", "") else set(mods.split(","))})
    for row in rows:
        row["detail"] = details.get(row["client"])
    return rows


def capture_for(truth):
    for ext in (".pcap", ".pcapng"):
        candidate = truth.with_suffix(ext)
        if candidate.exists():
            return candidate
    return None


def main():
    binary, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    only = set(sys.argv[3:])
    per_class = collections.defaultdict(lambda: [0, 0])
    passed = failed = 0
    truths = sorted(captures.glob("*.truth"))
    if not truths:
        print(f"no truth files in {captures}")
        return 1
    for truth in truths:
        if only and truth.stem not in only:
            continue
        capture = capture_for(truth)
        if capture is None:
            print(f"FAIL {truth.name}: no capture beside it")
            failed += 1
            continue
        run = subprocess.run([binary, "-f", "ndjson", str(capture)], capture_output=True,
                             text=True, timeout=120)
        if run.returncode != 0:
            print(f"FAIL {capture.name}: exit status {run.returncode}: {run.stderr.strip()}")
            failed += 1
            continue
        flows = {}
        for line in run.stdout.splitlines():
            flow = json.loads(line)
            flows[(endpoint(flow["client"]), endpoint(flow["server"]))] = flow
        for want in read_truth(truth):
            key = (want["client"], want["server"])
            flow = flows.get(key)
            per_class[want["class"]][1] += 1
            if flow is None:
                print(f"FAIL {capture.name} {key[0]} -> {key[1]}: connection not reported")
                failed += 1
                continue
            got_class = flow["close"]["class"]
            got_closer = flow["close"]["closer"] or "none"
            missing = want["modifiers"] - set(flow["modifiers"])
            detail_ok = want["detail"] is None or flow["close"]["detail"] == want["detail"]
            if got_class == want["class"] and got_closer == want["closer"] and not missing \
                    and detail_ok:
                per_class[want["class"]][0] += 1
                passed += 1
            else:
                failed += 1
                print(f"FAIL {capture.name} #{flow['id']} {key[0]} -> {key[1]}: "
                      f"want {want['class']}/{want['closer']} {want['detail'] or ''} "
                      f"{sorted(want['modifiers'])}, got {got_class}/{got_closer} "
                      f"{flow['close']['detail'] or ''} {flow['modifiers']}: "
                      f"{flow['close']['reason']}")
    print("\nper class (connections right / in the truth files):")
    for cls in sorted(per_class):
        ok, total = per_class[cls]
        print(f"  {cls:<22} {ok:>3} / {total:<3}")
    print(f"\ne2e: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
