#!/usr/bin/env python3
"""Incidents against the ground truth of samples/incidents (make-incidents.py), and no incident
where there is none.

For every SCENARIO.truth.json: each true incident must be found with the right kind, a window
that starts within [event - 0.5 s, event + WINDOW_SLACK] (the programs note the moment they
acted; the wire shows the endings after it) and at least 95 % of its member connections
(matched by 4-tuple); every incident found must be a true one. The other captures given (the
calibration samples, real-world captures) must show no incident at all. The same incidents come
out of the NDJSON stream (one "type":"incident" record each), the CSV `incident` column names
the members, and --threads gives the same.

Usage: check_incidents.py TCPMORTEM INCIDENTS_DIR [NO_INCIDENT_DIR...]
"""
import csv
import io
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import verdict  # noqa: E402

WINDOW_SLACK = {  # how long after the programs' action the first ending may come
    'server_exit': 1.0, 'keepalive_sweep': 1.0, 'path_reset': 2.0, 'path_outage': 2.0,
    'listen_overflow': 1.0, 'state_loss': 30.0,
}


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, timeout=300)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{binary} {' '.join(args)}: exit {r.returncode}: {r.stderr.decode()}")
    return r.stdout.decode()


def four(flow):
    return (flow['client']['ip'], flow['client']['port'], flow['server']['ip'],
            flow['server']['port'])


def check_truth(binary, truth_path, problems):
    truth = json.loads(truth_path.read_text())
    pcap = str(truth_path.parent / truth['capture'])
    doc = json.loads(run(binary, '-f', 'json', pcap))
    ids = {}
    for f in doc['flows']:
        ids.setdefault(four(f), []).append(f['id'])
    found = doc['incidents']
    matched = set()
    name = truth['scenario']
    for t in truth['incidents']:
        want = set()
        for m in t['members']:
            want.update(ids.get(tuple(m), []))
        if len(want) < len(t['members']):
            problems.append(f"{name}: {len(t['members']) - len(want)} truth connections not in "
                            "the report")
        best = None
        for inc in found:
            if inc['kind'] != t['kind']:
                continue
            got = want & set(inc['flows'] or [])
            if best is None or len(got) > len(best[1]):
                best = (inc, got)
        if best is None:
            problems.append(f"{name}: no {t['kind']} incident found")
            continue
        inc, got = best
        matched.add(inc['number'])
        share = len(got) / max(1, len(t['members']))
        lo, hi = t['event_time'] - 0.5, t['event_time'] + WINDOW_SLACK[t['kind']]
        status = 'ok'
        if share < 0.95:
            status = 'FAIL'
            problems.append(f"{name}: {t['kind']}: {len(got)} of {len(t['members'])} members")
        if not lo <= inc['start'] <= hi:
            status = 'FAIL'
            problems.append(f"{name}: {t['kind']}: starts at {inc['start']:.3f}, the event was "
                            f"at {t['event_time']:.3f}")
        print(f"{status} {name}: {t['kind']} #{inc['number']}: {len(got)}/{len(t['members'])} "
              f"members ({inc['connections']} in all), starts {inc['start'] - t['event_time']:+.3f}"
              f" s after the event, lasts {inc['end'] - inc['start']:.3f} s")
    for inc in found:
        if inc['number'] not in matched:
            problems.append(f"{name}: false incident: {inc['kind']} at {inc['where']}: "
                            f"{inc['sentence']}")
    if not truth['incidents'] and not found:
        print(f"ok {name}: no incident")

    # the stream and the CSV say the same
    nd = [json.loads(line) for line in run(binary, '-f', 'ndjson', pcap).splitlines()]
    nd_inc = [r for r in nd if r.get('type') == 'incident']
    if [(i['kind'], i['flows']) for i in nd_inc] != [(i['kind'], i['flows']) for i in found]:
        problems.append(f"{name}: the NDJSON incident records differ from the JSON incidents")
    rows = list(csv.DictReader(io.StringIO(run(binary, '-f', 'csv', pcap))))
    by_row = {int(r['id']): r['incident'] for r in rows}
    for inc in found:
        for fid in inc['flows']:
            if by_row.get(fid) != str(inc['number']):
                problems.append(f"{name}: CSV row {fid} does not name incident {inc['number']}")
                break
    members = {fid for inc in found for fid in inc['flows']}
    if any(v for k, v in by_row.items() if k not in members):
        problems.append(f"{name}: a CSV row names an incident it is not a member of")
    if run(binary, '--threads', '3', '-f', 'json', pcap) != json.dumps(doc) and \
            json.loads(run(binary, '--threads', '3', '-f', 'json', pcap)) != doc:
        problems.append(f"{name}: --threads 3 gives other output")


def check_none(binary, path, problems):
    doc = json.loads(run(binary, '-f', 'json', str(path)))
    for inc in doc['incidents']:
        problems.append(f"{path.name}: false incident: {inc['kind']}: {inc['sentence']}")
    return len(doc['incidents']) == 0


def main():
    binary, inc_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    problems = []
    truths = sorted(inc_dir.glob('*.truth.json'))
    if not truths:
        problems.append(f"{inc_dir}: no truth files")
    for t in truths:
        check_truth(binary, t, problems)
    n_none = 0
    for d in sys.argv[3:]:
        files = sorted(p for p in pathlib.Path(d).rglob('*')
                       if p.suffix in ('.pcap', '.pcapng', '.cap'))
        for f in files:
            n_none += check_none(binary, f, problems)
        # and all of them as one capture
        if files:
            doc = json.loads(run(binary, '-f', 'json', *map(str, files)))
            for inc in doc['incidents']:
                problems.append(f"{d} (all as one): false incident: {inc['sentence']}")
    print(f"no incident in {n_none} other captures")
    return verdict("incidents", problems, echo=True)


if __name__ == '__main__':
    sys.exit(main())
