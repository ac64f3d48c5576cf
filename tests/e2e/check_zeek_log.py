#!/usr/bin/env python3
"""End to end: `-f zeek` and `-f zeek-json` read back by a conn.log reader written from Zeek's
ASCII log format description (Debian has no zeek-cut), against tcpmortem's own NDJSON.

The reader (read_zeek_tsv) follows Zeek's format: a header of `#separator` (given as \\xHH),
`#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields` and `#types` lines,
then one row per line with exactly one value per field, `#close` last; a value equal to the unset
marker is unset, to the empty marker an empty set or string; \\xHH escapes in strings; types
time/interval (decimal seconds), count/port (integers), addr, enum, string, bool (T/F),
set[string]. Checks, on every zeek trace and sample capture:
- the header is complete and in order, #path is conn, #fields and #types have the same length,
  the standard conn.log columns come first in Zeek's order, each row has every field, #close ends;
- each row equals the matching zeek-json line (every set field, with its value; unset fields
  absent from the JSON) and agrees with the NDJSON record of the same uid (addresses and ports
  in Zeek's orientation, packets, conn_state, history, missed_bytes, close class and closer);
- uids are "C" + base62, unique, and the same in a second run (stable for a capture).

Usage: check_zeek_log.py TCPMORTEM DIR...
"""
import json
import pathlib
import re
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402

STANDARD = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
            "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
            "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts",
            "resp_ip_bytes", "tunnel_parents"]
HEADER = ["#separator", "#set_separator", "#empty_field", "#unset_field", "#path", "#open",
          "#fields", "#types"]
check = Checks("zeek log")


def unescape(s):
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)


def convert(value, typ, meta):
    if value == meta["unset"]:
        return None
    if typ.startswith("set[") or typ.startswith("vector["):
        if value == meta["empty"]:
            return []
        return [unescape(v) for v in value.split(meta["set_sep"])]
    if typ in ("count", "port", "int"):
        return int(value)
    if typ in ("time", "interval", "double"):
        if not re.fullmatch(r"-?\d+\.\d{6}", value):
            raise ValueError(f"{typ} {value!r} is not seconds with 6 decimals")
        return float(value)
    if typ == "bool":
        if value not in ("T", "F"):
            raise ValueError(f"bool {value!r}")
        return value == "T"
    if typ == "string" and value == meta["empty"]:
        return ""
    return unescape(value)


def read_zeek_tsv(text):
    """(meta, rows as dicts of typed values). Raises ValueError on a malformed log."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    meta, seen = {}, []
    i = 0
    m = re.fullmatch(r"#separator \\x([0-9a-fA-F]{2})", lines[0] if lines else "")
    if not m:
        raise ValueError("no #separator line first")
    sep = chr(int(m.group(1), 16))
    seen.append("#separator")
    i = 1
    while i < len(lines) and lines[i].startswith("#") and not lines[i].startswith("#close"):
        key, *vals = lines[i].split(sep)
        seen.append(key)
        if key == "#fields":
            meta["fields"] = vals
        elif key == "#types":
            meta["types"] = vals
        else:
            meta[key[1:]] = sep.join(vals)
        i += 1
    if seen != HEADER:
        raise ValueError(f"header lines {seen}")
    meta["set_sep"] = meta["set_separator"]
    meta["empty"] = meta["empty_field"]
    meta["unset"] = meta["unset_field"]
    if len(meta["fields"]) != len(meta["types"]):
        raise ValueError("#fields and #types differ in length")
    rows = []
    while i < len(lines) and not lines[i].startswith("#"):
        cells = lines[i].split(sep)
        if len(cells) != len(meta["fields"]):
            raise ValueError(f"row {i + 1} has {len(cells)} fields")
        rows.append({f: convert(v, t, meta)
                     for f, v, t in zip(meta["fields"], cells, meta["types"])})
        i += 1
    if i != len(lines) - 1 or not re.fullmatch(r"#close" + re.escape(sep) +
                                               r"\d{4}(-\d\d){5}", lines[i]):
        raise ValueError("the log does not end with one #close line")
    return meta, rows


def run(binary, fmt, path):
    return subprocess.run([binary, "-f", fmt, str(path)], capture_output=True, text=True,
                          timeout=120).stdout


def check_capture(binary, path):
    name = path.name
    tsv = run(binary, "zeek", path)
    try:
        meta, rows = read_zeek_tsv(tsv)
    except ValueError as e:
        check(f"{name}: conn.log reads", False, str(e))
        return
    check(f"{name}: #path conn", meta["path"] == "conn", meta["path"])
    check(f"{name}: standard columns first", meta["fields"][:len(STANDARD)] == STANDARD,
          meta["fields"])
    check(f"{name}: extra columns", meta["fields"][-4:] == [
        "tcpmortem.class", "tcpmortem.closer", "tcpmortem.detail", "tcpmortem.reason"])
    jlines = [json.loads(line) for line in run(binary, "zeek-json", path).splitlines()]
    check(f"{name}: as many JSON lines as rows", len(jlines) == len(rows),
          f"{len(jlines)} vs {len(rows)}")
    for row, js in zip(rows, jlines):
        want = {k: v for k, v in row.items() if v is not None}
        got = {k: v for k, v in js.items()}
        same = want.keys() == got.keys() and all(
            (abs(want[k] - got[k]) < 1e-6 if isinstance(want[k], float) else want[k] == got[k])
            for k in want)
        check(f"{name}: row {row['uid']} equals its JSON line", same, f"{want} vs {got}")
    nd = {}
    for line in run(binary, "ndjson", path).splitlines():
        rec = json.loads(line)
        nd[rec["zeek"]["uid"]] = rec
    uids = [r["uid"] for r in rows]
    check(f"{name}: uids unique", len(set(uids)) == len(uids))
    check(f"{name}: uids in Zeek's style",
          all(re.fullmatch(r"C[0-9A-Za-z]{17}", u or "") for u in uids), uids)
    again = [r["uid"] for r in read_zeek_tsv(run(binary, "zeek", path))[1]]
    check(f"{name}: uids stable", again == uids)
    for row in rows:
        rec = nd.get(row["uid"])
        if rec is None:
            check(f"{name}: {row['uid']} in ndjson", False)
            continue
        z = rec["zeek"]
        o, r = ("client", "server") if z["orig"] == "client" else ("server", "client")
        expect = {
            "id.orig_h": rec[o]["ip"], "id.orig_p": rec[o]["port"],
            "id.resp_h": rec[r]["ip"], "id.resp_p": rec[r]["port"],
            "orig_pkts": rec["packets"][o], "resp_pkts": rec["packets"][r],
            "conn_state": z["conn_state"], "history": z["history"] or None,
            "missed_bytes": z["missed_bytes"], "tcpmortem.class": rec["close"]["class"],
            "tcpmortem.closer": rec["close"]["closer"], "tcpmortem.detail": rec["close"]["detail"],
            "tcpmortem.reason": rec["close"]["reason"], "proto": "tcp",
        }
        bad = {k: (row[k], v) for k, v in expect.items() if row[k] != v}
        check(f"{name}: {row['uid']} agrees with ndjson", not bad, bad)


def main():
    binary = sys.argv[1]
    paths = []
    for d in sys.argv[2:]:
        paths += sorted(p for p in pathlib.Path(d).iterdir()
                        if p.suffix in (".pcap", ".pcapng"))
    for path in paths:
        check_capture(binary, path)
    # The reader itself rejects what is not a conn.log (it must be able to fail).
    for bad, why in (("", "empty"), ("#separator \\x09\n#close\t2020-01-01-00-00-00\n", "no header"),
                     (run(binary, "zeek", paths[0]).replace("#close", "#clos"), "no #close")):
        try:
            read_zeek_tsv(bad)
            check(f"reader rejects {why}", False)
        except (ValueError, KeyError, IndexError):
            check(f"reader rejects {why}", True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
