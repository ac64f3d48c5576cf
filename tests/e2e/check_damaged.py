#!/usr/bin/env python3
"""Damaged captures end to end: tcpmortem on every file tests/damage/make-damaged.py derives from
the samples, each with a time bound. Meant for the sanitizer build (ASan + UBSan); ctest runs it
there.

For every damaged file:
- no signal, no sanitizer report, done within TIMEOUT seconds;
- the exit status is one the case allows (DESIGN §5: 0 fine, 1 damaged part way, 2 unreadable);
- standard error is empty for 0, and exactly one line naming the file for 1 and 2;
- the JSON report is complete (it parses), and a file with exit 1 or 2 carries its error in it;
- every connection whose segments all lie in the records read as in the sample (the case's
  intact_records) is still reported, with the same id and endpoints; if it has the same packet
  counts, also the same class and closer (open_at_end and idle_at_end may swap: the capture's end
  moved).

Usage: check_damaged.py TCPMORTEM SAMPLES_DIR [--jobs N] [--only SUBSTRING] [--keep DIR]
Prints a table of exit statuses per kind of damage and every failure; exit 1 on any failure.
"""
import argparse
import collections
import concurrent.futures
import importlib.util
import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
import capfile  # noqa: E402

TIMEOUT = 30  # seconds per file, under ASan
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")
SWAPPABLE = {"open_at_end", "idle_at_end"}


def load_generator():
    spec = importlib.util.spec_from_file_location("make_damaged",
                                                  HERE.parent / "damage" / "make-damaged.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(binary, path):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:abort_on_error=1"
    start = time.monotonic()
    try:
        r = subprocess.run([binary, "-f", "json", str(path)], capture_output=True, env=env,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, b"", b"", TIMEOUT
    return r.returncode, r.stdout, r.stderr, time.monotonic() - start


def endpoint_key(ep):
    return (ipaddress.ip_address(ep["ip"]).packed, ep["port"])


def flow_tuple(flow):
    return tuple(sorted([endpoint_key(flow["client"]), endpoint_key(flow["server"])]))


def last_record_of_tuples(data):
    """For every TCP 4-tuple in the capture, the index of the last record carrying it."""
    cap = capfile.Capture(data)
    last = {}
    for i, rec in enumerate(cap.records):
        t = capfile.inner_tcp_endpoints(rec.linktype, cap.frame(rec))
        if t is not None:
            last[t] = i
    return last


def check_case(case, path, result, original, counts):
    """List of problems with one damaged file's run. Counts the flows compared in `counts`."""
    status, out, err, _ = result
    problems = []
    if status is None:
        return [f"no result within {TIMEOUT} s"]
    if status < 0:
        problems.append(f"killed by signal {-status}")
    text = err.decode(errors="replace")
    if any(mark in text for mark in SANITIZER_MARKS):
        problems.append("sanitizer report: " + text.strip().splitlines()[0][:200])
    if status not in case.expect:
        problems.append(f"exit {status}, want one of {case.expect}")
    lines = text.strip().splitlines()
    if status == 0 and lines:
        problems.append(f"exit 0 with messages: {text.strip()[:200]!r}")
    if status in (1, 2) and (len(lines) != 1 or str(path) not in lines[0]):
        problems.append(f"want one line naming the file on stderr, got {text.strip()[:300]!r}")
    if problems:
        return problems
    try:
        doc = json.loads(out)
    except ValueError as e:
        return [f"report is not complete JSON: {e}"]
    if status in (1, 2) and not doc["captures"][0].get("error"):
        problems.append("report does not carry the file's error")
    if not case.check_flows or status == 2:
        return problems
    got = {f["id"]: f for f in doc["flows"]}
    last = original["last_record"]
    for want in original["flows"]:
        if last.get(flow_tuple(want), 1 << 60) >= case.intact_records:
            continue
        counts["present"] += 1
        flow = got.get(want["id"])
        if flow is None or flow["client"] != want["client"] or flow["server"] != want["server"]:
            problems.append(f"flow #{want['id']} (before the damage) missing or changed")
            continue
        if flow["packets"] != want["packets"]:
            continue  # damaged frames joined it: its story changed, legitimately
        counts["classified"] += 1
        a, b = flow["close"], want["close"]
        same = (a["class"] == b["class"] or {a["class"], b["class"]} <= SWAPPABLE) and \
            a["closer"] == b["closer"]
        if not same:
            problems.append(f"flow #{want['id']}: {a['class']}/{a['closer']}, "
                            f"before the damage {b['class']}/{b['closer']}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("samples")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", help="write the damaged files here and keep them")
    args = ap.parse_args()

    gen = load_generator()
    samples, cases = gen.generate(args.samples)
    cases = [c for c in cases if args.only in c.name]
    if not samples:
        print(f"no captures in {args.samples}")
        return 1
    tmp = None
    if args.keep:
        work = pathlib.Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tm-damaged-")
        work = pathlib.Path(tmp.name)

    failures = []
    originals = {}
    for name, data in samples.items():
        path = work / name
        path.write_bytes(data)
        status, out, err, _ = run(args.binary, path)
        if status != 0:
            failures.append(f"{name}: the undamaged capture gives exit {status}: {err[:300]!r}")
            continue
        originals[name] = {"flows": json.loads(out)["flows"],
                           "last_record": last_record_of_tuples(data)}

    def one(case):
        path = work / case.name
        path.write_bytes(case.data)
        result = run(args.binary, path)
        if not args.keep:
            path.unlink()
        return case, path, result

    table = collections.defaultdict(collections.Counter)
    counts = collections.Counter()
    slowest = (0.0, "")
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        for case, path, result in pool.map(one, [c for c in cases if c.sample in originals]):
            table[case.kind][result[0]] += 1
            slowest = max(slowest, (result[3], case.name))
            for problem in check_case(case, path, result, originals[case.sample], counts):
                failures.append(f"{case.name}: {problem}")
    elapsed = time.monotonic() - start

    print(f"{'damage':<20} {'files':>6} {'exit 0':>7} {'exit 1':>7} {'exit 2':>7} {'other':>6}")
    for kind in sorted(table):
        c = table[kind]
        other = sum(v for k, v in c.items() if k not in (0, 1, 2))
        print(f"{kind:<20} {sum(c.values()):>6} {c[0]:>7} {c[1]:>7} {c[2]:>7} {other:>6}")
    total = sum(sum(c.values()) for c in table.values())
    print(f"\n{total} damaged files from {len(samples)} captures in {elapsed:.0f} s; "
          f"slowest {slowest[0]:.2f} s ({slowest[1]})")
    print(f"connections from before the damage: {counts['present']} checked still reported, "
          f"{counts['classified']} of them also checked classified as before")
    for f in failures[:200]:
        print("FAIL", f)
    if len(failures) > 200:
        print(f"... and {len(failures) - 200} more")
    print(f"damaged: {total - len({f.split(':')[0] for f in failures})} passed, "
          f"{len(failures)} failures")
    if tmp:
        tmp.cleanup()
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
