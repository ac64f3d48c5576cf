#!/usr/bin/env python3
"""End to end: tcpmortem's Zeek fields against Zeek's own baselines (tests/zeek/README.md).

Each tests/zeek/NAME.conn.txt holds what Zeek's test suite expects for the trace NAME: conn.log
rows under a `#fields` line (sometimes only some columns), or a test's printed output, of which
the lines "  HISTORY, CONN_STATE" and "connection_state_remove, [orig_h=.., orig_p=../tcp,
resp_h=.., resp_p=../tcp, ...], HISTORY, ..." are read. Only TCP rows count.

Each expected row is matched with one connection tcpmortem reports for the trace: by Zeek's
4-tuple (originator first) when the row has it, the earliest unmatched one first; else (cut
baselines without addresses) with an unmatched connection of the same history if there is one.
The agreement of conn_state and history is printed over the rows that have the column, with
every difference: over the connections tcpmortem reports (the target applies there), and over
all rows (which also counts the connections tcpmortem does not see as Zeek does: tunnelled, in
an unreadable file, or split by Zeek's connection lifetime). The test fails when an agreement is
under its target (conn_state 95%, history 90%), or when a difference is not listed in tests/zeek/differences.txt (each listed
difference says why it remains); a listed difference that no longer occurs is reported so the
list can be trimmed.

Usage: check_zeek.py TCPMORTEM ZEEK_DIR [--quiet]
"""
import json
import pathlib
import re
import subprocess
import sys

TARGET = {"conn_state": 0.95, "history": 0.90}
ID = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")


def expected_rows(path):
    """The TCP rows a baseline file expects: dicts of the columns it has."""
    rows, fields = [], None
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
            continue
        if line.startswith("#"):
            if not line.strip("# ").strip():
                fields = None  # a section ends
            continue
        m = re.match(r"^\s+(\S+), (S0|S1|SF|REJ|S2|S3|RSTO|RSTR|RSTOS0|RSTRH|SH|SHR|OTH)$", line)
        if m:
            rows.append({"history": m.group(1), "conn_state": m.group(2)})
            continue
        m = re.search(r"connection_state_remove, \[orig_h=([^,]+), orig_p=(\d+)/tcp, "
                      r"resp_h=([^,]+), resp_p=(\d+)/tcp.*\], ([A-Za-z^]+), [\d.]+$", line)
        if m:
            rows.append(dict(zip(ID, m.group(1, 2, 3, 4)), history=m.group(5)))
            continue
        if fields is None or not line.strip() or line.startswith(" "):
            continue
        cells = line.split("\t")
        if len(cells) != len(fields):
            continue
        row = dict(zip(fields, cells))
        if row.get("proto", "tcp") != "tcp":
            continue
        rows.append(row)
    return rows


def zeek_view(rec):
    """A tcpmortem record as Zeek's (orig_h, orig_p, resp_h, resp_p) and fields."""
    z = rec["zeek"]
    o, r = (rec["client"], rec["server"]) if z["orig"] == "client" else (rec["server"],
                                                                          rec["client"])
    return {"id.orig_h": o["ip"], "id.orig_p": str(o["port"]), "id.resp_h": r["ip"],
            "id.resp_p": str(r["port"]), "conn_state": z["conn_state"],
            "history": z["history"], "missed_bytes": str(z["missed_bytes"]),
            "first_ts": rec["first_ts"]}


def norm_addr(a):
    """Zeek writes IPv6 in the compressed form, as tcpmortem does; keep case out of it."""
    return a.lower()


def match(rows, got):
    """Pairs (row, record or None), each record used once."""
    used, pairs = set(), []
    for row in rows:
        pick = None
        if all(k in row for k in ID):
            want = (norm_addr(row["id.orig_h"]), row["id.orig_p"], norm_addr(row["id.resp_h"]),
                    row["id.resp_p"])
            cands = [i for i, g in enumerate(got) if i not in used and
                     (norm_addr(g["id.orig_h"]), g["id.orig_p"], norm_addr(g["id.resp_h"]),
                      g["id.resp_p"]) in (want, (want[2], want[3], want[0], want[1]))]
            cands.sort(key=lambda i: got[i]["first_ts"])
            pick = cands[0] if cands else None
        else:
            same = [i for i, g in enumerate(got) if i not in used and
                    g["history"] == row.get("history")]
            pick = same[0] if same else None
        if pick is not None:
            used.add(pick)
        pairs.append((row, got[pick] if pick is not None else None))
    return pairs


def row_key(row):
    if all(k in row for k in ID):
        return f"{row['id.orig_h']} {row['id.orig_p']} {row['id.resp_h']} {row['id.resp_p']}"
    return "-"


def load_known(path):
    """(trace, row key, field, expected) -> why, from differences.txt."""
    known = {}
    if not path.exists():
        return known
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) >= 6:
            known[tuple(cells[:4])] = cells[5]
    return known


def main():
    binary, zdir = sys.argv[1], pathlib.Path(sys.argv[2])
    quiet = "--quiet" in sys.argv
    known = load_known(zdir / "differences.txt")
    # [equal, rows] over all rows, and over the rows tcpmortem reports a connection for
    total = {"conn_state": [0, 0], "history": [0, 0], "missed_bytes": [0, 0]}
    seen = {"conn_state": [0, 0], "history": [0, 0], "missed_bytes": [0, 0]}
    unexplained, seen_known = [], set()
    for base in sorted(zdir.glob("*.conn.txt")):
        trace = base.name[:-len(".conn.txt")]
        rows = expected_rows(base)
        if not rows:
            continue
        out = subprocess.run([binary, "-f", "ndjson", str(zdir / trace)], capture_output=True,
                             text=True, timeout=120)
        got = [zeek_view(json.loads(line)) for line in out.stdout.splitlines() if line.strip()]
        for row, rec in match(rows, got):
            for field in total:
                if field not in row:
                    continue
                total[field][1] += 1
                seen[field][1] += rec is not None
                have = rec[field] if rec else "(no connection)"
                if have == row[field]:
                    total[field][0] += 1
                    seen[field][0] += 1
                    continue
                key = (trace, row_key(row), field, row[field])
                if key in known:
                    seen_known.add(key)
                    why = known[key]
                else:
                    unexplained.append("\t".join(key + (have,)))
                    why = "NOT EXPLAINED"
                if not quiet:
                    print(f"{trace} {row_key(row)} {field}: Zeek {row[field]}, "
                          f"tcpmortem {have} ({why})")
    ok = True
    for field, (good, n) in total.items():
        sgood, sn = seen[field]
        share = sgood / sn if sn else 1.0
        target = TARGET.get(field)
        verdict = "" if target is None else (" ok" if share >= target else " UNDER TARGET")
        print(f"{field}: equal to Zeek's baselines on {sgood}/{sn} = {100 * share:.1f}% of the "
              f"connections tcpmortem reports" +
              (f" (target {100 * target:.0f}%){verdict}" if target else "") +
              f"; {good}/{n} = {100 * good / max(n, 1):.1f}% of all the baselines' rows")
        if target is not None and share < target:
            ok = False
    for line in unexplained:
        print(f"FAIL difference not in differences.txt: {line}")
    for key in sorted(set(known) - seen_known):
        print(f"note: listed difference no longer occurs: {' / '.join(key)}")
    return 0 if ok and not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
