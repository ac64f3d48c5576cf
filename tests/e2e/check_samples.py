#!/usr/bin/env python3
"""End-to-end check: run tcpmortem on every sample capture and compare each connection's class,
closer, modifiers and diagnoses with the truth recorded when the sample was made
(samples/captures/*.truth).

Usage: check_samples.py TCPMORTEM CAPTURES_DIR [NAME...]
Prints one line per mismatch, a per-class table, and 'N passed, N failed'. Exit 1 on any failure.

Truth files (samples/README.md): a header, '#' comment lines, one row per connection. Comment
lines this checker reads:

    # options ARG...             tcpmortem options to read the capture with
    # detail CLIENT DETAIL       the expected close.detail
    # KEY CLIENT VALUE           an expected diagnosis or the outer layers (KEY in FACT_CHECKS)

CLIENT is the client endpoint as in the rows, or CLIENT#N for the N-th connection (1-based, in
the order of the rows and of the flows' ids) when the capture uses one 4-tuple more than once.
"""
import collections
import json
import pathlib
import shlex
import subprocess
import sys


def endpoint(ep):
    ip = ep["ip"]
    return f"[{ip}]:{ep['port']}" if ":" in ip else f"{ip}:{ep['port']}"


def parse_pairs(value):
    """'a=1,b=x' -> {'a': '1', 'b': 'x'}"""
    pairs = {}
    for item in value.split(","):
        key, _, val = item.partition("=")
        pairs[key.strip()] = val.strip()
    return pairs


def read_truth(path):
    """(rows, options). Each row: client, server, class, closer, modifiers, n (its ordinal among
    the rows of the same client), detail and facts {KEY: VALUE}."""
    rows, options, notes = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# options "):
            options = shlex.split(line[len("# options "):])
            continue
        if line.startswith("# ") and len(line.split()) >= 4 and line.split()[1] in FACT_KEYS:
            _, key, client, value = line.split(None, 3)
            notes.append((key, client, value))
            continue
        if not line.strip() or line.startswith("#") or line.startswith("client\t"):
            continue
        client, server, cls, closer, mods = line.split("\t")[:5]
        rows.append({"client": client, "server": server, "class": cls, "closer": closer,
                     "modifiers": set() if mods.strip() in ("-", "") else set(mods.split(",")),
                     "detail": None, "facts": {}})
    seen = collections.Counter()
    for row in rows:
        seen[row["client"]] += 1
        row["n"] = seen[row["client"]]
    for key, client, value in notes:
        name, _, n = client.partition("#")
        targets = [r for r in rows if r["client"] == name and (not n or r["n"] == int(n))]
        if not targets:
            raise ValueError(f"{path.name}: '# {key} {client}' names no connection")
        for row in targets:
            if key == "detail":
                row["detail"] = value
            else:
                row["facts"][key] = value
    return rows, options


def capture_for(truth):
    for ext in (".pcap", ".pcapng"):
        candidate = truth.with_suffix(ext)
        if candidate.exists():
            return candidate
    return None


def find_key(obj, key):
    """The value of `key` anywhere in nested dicts, or None."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for value in obj.values():
            found = find_key(value, key)
            if found is not None:
                return found
    return None


def near(got, want):
    return got is not None and abs(float(got) - float(want)) < 1e-6


# --- one function per diagnosis: returns a list of problems ---------------------------------

def check_middlebox(flow, value):
    got = flow["diagnosis"]["middlebox"]
    if value == "none":
        return [] if got is None else [f"middlebox: want none, got {got}"]
    if got is None:
        return ["middlebox: none reported"]
    problems = []
    for key, want in parse_pairs(value).items():
        have = got.get(key)
        if str(have) != want:
            problems.append(f"middlebox.{key}: want {want}, got {have}")
    return problems


def check_idle(flow, value):
    got = flow["diagnosis"]["idle_timeout"]
    if got is None:
        return ["idle_timeout: none reported"]
    want = parse_pairs(value)
    if got["idle_s"] < float(want["min_s"]):
        return [f"idle_timeout.idle_s: want >= {want['min_s']}, got {got['idle_s']}"]
    return []


def check_close_wait(flow, value):
    got = flow["diagnosis"]["close_wait"]
    if value == "none":
        return [] if got is None else [f"close_wait: want none, got {got}"]
    if got is None:
        return ["close_wait: none reported"]
    want = parse_pairs(value)
    problems = []
    if got["side"] != want["side"]:
        problems.append(f"close_wait.side: want {want['side']}, got {got['side']}")
    if not float(want.get("min_s", 0)) <= got["seconds"] <= float(want.get("max_s", 1e18)):
        problems.append(f"close_wait.seconds: want {want}, got {got['seconds']}")
    return problems


def check_time_wait(flow, value):
    got = flow["diagnosis"]["time_wait"]
    want = None if value == "none" else parse_pairs(value)["side"]
    return [] if got == want else [f"time_wait: want {want}, got {got}"]


def check_time_wait_reuse(flow, value):
    got = flow["diagnosis"]["time_wait_reuse"]
    if value == "none":
        return [] if got is None else [f"time_wait_reuse: want none, got {got}"]
    if got is None:
        return ["time_wait_reuse: none reported"]
    want = parse_pairs(value)
    problems = []
    if got["held_by"] != want["side"]:
        problems.append(f"time_wait_reuse.held_by: want {want['side']}, got {got['held_by']}")
    if not got["accepted"]:
        problems.append("time_wait_reuse.accepted: want true")
    if not float(want.get("min_s", 0)) <= got["seconds_after"] <= float(want.get("max_s", 1e18)):
        problems.append(f"time_wait_reuse.seconds_after: want {want}, got {got['seconds_after']}")
    return problems


def check_timers(flow, value):
    """side=S,SETTING=V...: each setting is reported for side S as a range holding V, and a
    narrow one when both bounds are known (one step for counts and seconds, a factor 2.5 for
    TCP_USER_TIMEOUT, which the wire only brackets between two retransmissions)."""
    want = parse_pairs(value)
    side = want.pop("side")
    timers = flow["diagnosis"]["timers"][side]
    if timers is None:
        return [f"timers.{side}: none reported"]
    problems = []
    for key, text in want.items():
        got = find_key(timers, key)
        v = float(text)
        if not isinstance(got, dict):
            problems.append(f"timers.{side}.{key}: want a range holding {text}, got {got}")
            continue
        lo, hi = got["min"], got["max"]
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            problems.append(f"timers.{side}.{key}: {text} outside [{lo}, {hi}]")
        elif lo is not None and hi is not None and \
                (hi > 2.5 * lo if key == "user_timeout_ms" else hi - lo > 1):
            problems.append(f"timers.{side}.{key}: [{lo}, {hi}] too wide to mean anything")
        if lo is None and hi is None:
            problems.append(f"timers.{side}.{key}: no bound at all")
    return problems


def check_stack(flow, value):
    """client=FAMILY/HOPS,server=FAMILY/HOPS"""
    problems = []
    for side, text in parse_pairs(value).items():
        family, _, hops = text.partition("/")
        got = flow["diagnosis"]["stack"][side]
        if got is None or got["family"] != family or (hops and got["hops"] != int(hops)):
            problems.append(f"stack.{side}: want {text}, got {got}")
    return problems


def check_encapsulation(flow, value):
    """the outer layers, innermost first, joined by ';' (as the CSV column has them)"""
    got = ";".join(flow["encapsulation"])
    return [] if got == value else [f"encapsulation: want {value}, got {got or '(none)'}"]


FACT_CHECKS = {
    "encapsulation": check_encapsulation,
    "middlebox": check_middlebox,
    "idle": check_idle,
    "close_wait": check_close_wait,
    "time_wait": check_time_wait,
    "time_wait_reuse": check_time_wait_reuse,
    "timers": check_timers,
    "stack": check_stack,
}
FACT_KEYS = set(FACT_CHECKS) | {"detail"}


def main():
    binary, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    only = set(sys.argv[3:])
    per_class = collections.defaultdict(lambda: [0, 0])
    per_fact = collections.defaultdict(lambda: [0, 0])
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
        rows, options = read_truth(truth)
        run = subprocess.run([binary, "-f", "ndjson", *options, str(capture)],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            print(f"FAIL {capture.name}: exit status {run.returncode}: {run.stderr.strip()}")
            failed += 1
            continue
        flows = collections.defaultdict(list)
        for line in run.stdout.splitlines():
            flow = json.loads(line)
            flows[(endpoint(flow["client"]), endpoint(flow["server"]))].append(flow)
        for same in flows.values():
            same.sort(key=lambda f: f["id"])
        wanted = collections.Counter((r["client"], r["server"]) for r in rows)
        for key, same in flows.items():
            if len(same) > wanted[key]:
                print(f"FAIL {capture.name} {key[0]} -> {key[1]}: {len(same)} connections "
                      f"reported, the truth has {wanted[key]}")
                failed += 1
        for want in rows:
            key = (want["client"], want["server"])
            same = flows.get(key, [])
            flow = same[want["n"] - 1] if len(same) >= want["n"] else None
            per_class[want["class"]][1] += 1
            if flow is None:
                print(f"FAIL {capture.name} {key[0]} -> {key[1]}: connection not reported")
                failed += 1
                continue
            got_class = flow["close"]["class"]
            got_closer = flow["close"]["closer"] or "none"
            missing = want["modifiers"] - set(flow["modifiers"])
            detail_ok = want["detail"] is None or flow["close"]["detail"] == want["detail"]
            problems = []
            for fact, value in want["facts"].items():
                found = FACT_CHECKS[fact](flow, value)
                per_fact[fact][1] += 1
                per_fact[fact][0] += not found
                problems += found
            if got_class == want["class"] and got_closer == want["closer"] and not missing \
                    and detail_ok and not problems:
                per_class[want["class"]][0] += 1
                passed += 1
            else:
                failed += 1
                print(f"FAIL {capture.name} #{flow['id']} {key[0]} -> {key[1]}: "
                      f"want {want['class']}/{want['closer']} {want['detail'] or ''} "
                      f"{sorted(want['modifiers'])}, got {got_class}/{got_closer} "
                      f"{flow['close']['detail'] or ''} {flow['modifiers']}: "
                      f"{flow['close']['reason']}")
                for problem in problems:
                    print(f"     {problem}")
    print("\nper class (connections right / in the truth files):")
    for cls in sorted(per_class):
        ok, total = per_class[cls]
        print(f"  {cls:<22} {ok:>3} / {total:<3}")
    if per_fact:
        print("\ndiagnoses (facts right / in the truth files):")
        for fact in sorted(per_fact):
            ok, total = per_fact[fact]
            print(f"  {fact:<22} {ok:>3} / {total:<3}")
    print(f"\ne2e: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
