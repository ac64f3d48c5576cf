#!/usr/bin/env python3
"""End-to-end check on real captures from other stacks (tests/realworld/, see its README.md):
run tcpmortem on every capture and compare each labelled connection's class (a label may list
several acceptable classes), closer, and the `middlebox` and `no_peer_restarted` flags with the
expert's labels (labels.json); count the false claims.

Usage: check_realworld.py TCPMORTEM REALWORLD_DIR [-v]

A false claim is a sentence or field the packets contradict:
  - middlebox      the modifier rst_from_middlebox where the label says every reset came from the
                   endpoint it names;
  - peer_restarted class rst_peer_restarted, or a reason/story saying a side "never closed" or
                   "had no socket", where the label says rst_peer_restarted contradicts the
                   packets (the side had closed, or the reset is its own socket's);
  - unread         a reason/story denying unread data ("no unread data", "nothing was left
                   unread") where the label accepts rst_unread_data: the wire cannot tell;
  - never_closed   a reason/story saying a side never closed although that side sent a FIN;
  - timer          a timer setting (seconds) bounded above by less than a second or by less
                   than three of the round trips between the capture point and that side (the
                   reply's delay, not the timer), or a setting claimed with no bound at all.
Every labelled connection must be right and no false claim made; the known disagreements with a
label (DISAGREE below, each argued from the packets) are reported and not counted as failures.
Prints results per capture, per class, per stack and per vantage point (context.json).
"""
import collections
import json
import pathlib
import re
import subprocess
import sys

# Labels we read differently, argued from the packets in tests/realworld/README.md. Key:
# (file, client_port) -> the class/closer accepted instead. Empty when every label holds.
DISAGREE = {}


def norm_ip(ip):
    return ip.lower()


def flows_of(binary, capture):
    run = subprocess.run([binary, "-f", "ndjson", str(capture)], capture_output=True, text=True,
                         timeout=120)
    flows = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return run.returncode, run.stderr.strip(), flows


def story_of(binary, capture, flow_id):
    run = subprocess.run([binary, "--flow", str(flow_id), "--color=never", str(capture)],
                         capture_output=True, text=True, timeout=120)
    return run.stdout


def endpoint_key(ip, port):
    return (norm_ip(ip), int(port))


def match(label, flows):
    """Flows on the label's 4-tuple (either role order), in id order."""
    a = endpoint_key(label["client_ip"], label["client_port"])
    b = endpoint_key(label["server_ip"], label["server_port"])
    same = []
    for flow in flows:
        c = endpoint_key(flow["client"]["ip"], flow["client"]["port"])
        s = endpoint_key(flow["server"]["ip"], flow["server"]["port"])
        if {c, s} == {a, b}:
            same.append(flow)
    return sorted(same, key=lambda f: f["id"])


def closer_endpoint(flow):
    closer = flow["close"]["closer"]
    if closer in ("client", "server"):
        return endpoint_key(flow[closer]["ip"], flow[closer]["port"])
    return closer


def label_closer_endpoint(label):
    closer = label["closer"]
    if closer in ("client", "server"):
        return endpoint_key(label[closer + "_ip"], label[closer + "_port"])
    return closer


def side_of(flow, key):
    """'client' or 'server': which of the flow's sides is the endpoint `key`."""
    return "client" if endpoint_key(flow["client"]["ip"], flow["client"]["port"]) == key \
        else "server"


UNREAD_DENIED = re.compile(r"no(thing)? (was )?(left )?unread|no unread data|had read "
                           r"everything|read (it )?all", re.I)
NEVER_CLOSED = re.compile(r"never closed|had no socket|no socket for th|lost (the|its) "
                          r"(connection|state)|restarted", re.I)


def false_claims(label, flow, story, fin_sides):
    """The claims of `flow` (and its story) that the label's packets contradict."""
    claims = []
    mods = set(flow["modifiers"])
    if "rst_from_middlebox" in mods and not label["middlebox"]:
        claims.append(("middlebox", "rst_from_middlebox on resets from the endpoint itself"))
    text = flow["close"]["reason"] + "\n" + story
    if label["no_peer_restarted"]:
        if flow["close"]["class"] == "rst_peer_restarted":
            claims.append(("peer_restarted", "class rst_peer_restarted"))
        elif NEVER_CLOSED.search(text):
            claims.append(("peer_restarted",
                           f"text: '{NEVER_CLOSED.search(text).group(0)}'"))
    want = label["class"] if isinstance(label["class"], list) else [label["class"]]
    if "rst_unread_data" in want and UNREAD_DENIED.search(text):
        claims.append(("unread", f"text: '{UNREAD_DENIED.search(text).group(0)}' where the "
                                 "packets allow unread data"))
    for side in fin_sides:
        if re.search(rf"(the )?{side} never closed", text, re.I):
            claims.append(("never_closed", f"says the {side} never closed; it sent a FIN"))
    timers = (flow.get("diagnosis") or {}).get("timers") or {}
    rtt = flow.get("rtt") or {}
    for side, settings in timers.items():
        for name, value in (settings or {}).items():
            if not isinstance(value, dict) or not {"min", "max"} <= set(value):
                continue
            if value["min"] is None and value["max"] is None:
                claims.append(("timer", f"{side} {name}: a setting claimed with no bound"))
            elif not name.endswith(("_s", "fin_timeout")) or value["max"] is None:
                continue
            elif value["max"] < 1:
                claims.append(("timer", f"{side} {name} at most {value['max']} s"))
            elif rtt.get(side) is not None and value["max"] < 3 * rtt[side] / 1000.0:
                claims.append(("timer", f"{side} {name} at most {value['max']} s with a "
                                        f"{rtt[side]} ms round trip"))
    return claims


def fin_senders(flow):
    """Sides the flow's evidence shows sending a FIN."""
    sides = set()
    for e in flow["close"]["evidence"]:
        if "FIN" in e["flags"]:
            sides.add(e["from"])
    return sides


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv[1:]
    binary, root = args[0], pathlib.Path(args[1])
    labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))
    context = json.loads((root / "context.json").read_text(encoding="utf-8"))
    per = {k: collections.defaultdict(lambda: [0, 0]) for k in ("class", "stack", "vantage")}
    claims_by_kind = collections.Counter()
    right = wrong = disagreed = n_claims = labels_ok = 0
    failures = []
    for capture in labels["captures"]:
        path = root / capture["file"]
        status, err, flows = flows_of(binary, path)
        if status not in (0, 1) or not flows:
            failures.append(f"{capture['file']}: exit {status}, {len(flows)} flows: {err}")
        ctx = context.get(capture["file"], {})
        ordinal = collections.Counter()
        for label in capture["connections"]:
            tup = (norm_ip(label["client_ip"]), label["client_port"], norm_ip(label["server_ip"]),
                   label["server_port"])
            n = ordinal[tup]
            ordinal[tup] += 1
            same = match(label, flows)
            want = label["class"] if isinstance(label["class"], list) else [label["class"]]
            here = dict(ctx, **ctx.get("ports", {}).get(str(label["client_port"]), {}))
            keys = {"class": "|".join(want), "stack": here.get("stack", "?"),
                    "vantage": here.get("vantage", "?")}
            for k, v in keys.items():
                per[k][v][1] += 1
            where = f"{capture['file']} {label['client_ip']}:{label['client_port']} -> " \
                    f"{label['server_ip']}:{label['server_port']}"
            if n >= len(same):
                wrong += 1
                failures.append(f"{where}: not reported")
                continue
            flow = same[n]
            story = story_of(binary, path, flow["id"])
            got_class = flow["close"]["class"]
            ok_class = got_class in want
            ok_closer = closer_endpoint(flow) == label_closer_endpoint(label)
            got_mb = "rst_from_middlebox" in flow["modifiers"]
            ok_mb = got_mb == label["middlebox"]
            fins = {side for side in fin_senders(flow)}
            claims = false_claims(label, flow, story, fins)
            n_claims += len(claims)
            for kind, _ in claims:
                claims_by_kind[kind] += 1
            got_closer = flow["close"]["closer"]
            if got_closer in ("client", "server"):
                got_closer = "client" if closer_endpoint(flow) == \
                    endpoint_key(label["client_ip"], label["client_port"]) else "server"
            line = (f"{where} #{flow['id']}: want {'|'.join(want)}/{label['closer']}"
                    f"{' middlebox' if label['middlebox'] else ''}, got {got_class}/{got_closer}"
                    f"{' middlebox' if got_mb else ''} [{flow['close'].get('confidence')}]")
            labels_ok += ok_class and ok_closer and ok_mb
            good = ok_class and ok_closer and ok_mb and not claims
            dis = DISAGREE.get((capture["file"], label["client_port"]))
            if not good and dis and dis == f"{got_class}/{got_closer}":
                disagreed += 1
                print(f"DISAGREE {line}")
                continue
            if good:
                right += 1
                for k, v in keys.items():
                    per[k][v][0] += 1
                if verbose:
                    print(f"ok   {line}")
            else:
                wrong += 1
                failures.append(f"{line}\n     reason: {flow['close']['reason']}" +
                                "".join(f"\n     false claim ({k}): {c}" for k, c in claims))
    for failure in failures:
        print(f"FAIL {failure}")
    for k in ("class", "stack", "vantage"):
        print(f"\nper {k} (labelled connections right with no false claim / labelled):")
        for v in sorted(per[k]):
            ok, total = per[k][v]
            print(f"  {v:<34} {ok:>3} / {total:<3}")
    print(f"\nfalse claims: {n_claims} " +
          " ".join(f"{k}={v}" for k, v in sorted(claims_by_kind.items())))
    print(f"labels right (class, closer, middlebox): {labels_ok} of {right + wrong + disagreed}")
    print(f"realworld: {right} right, {wrong} wrong, {disagreed} argued disagreements "
          f"(of {right + wrong + disagreed} labelled)")
    return 1 if failures or n_claims else 0


if __name__ == "__main__":
    sys.exit(main())
