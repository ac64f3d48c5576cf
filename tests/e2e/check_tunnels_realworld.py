#!/usr/bin/env python3
"""End-to-end check: the TCP connections inside other projects' tunnel traces are found and
classified as those projects' own baselines say.

Usage: check_tunnels_realworld.py TCPMORTEM TRACES_DIR
TRACES_DIR is tests/zeek/, where Zeek's public test traces are kept with their baselines and
origin (tests/zeek/README.md). Exit 77 (skipped) when the traces are not there, 1 on a mismatch.

Expectations, from Zeek's committed conn.log baselines (tests/zeek/*.conn.txt):
- tunnels/Teredo.pcap: the Teredo client 2001:0:4137:9e50:8000:f12a:b9c8:2815 port 1286 talks to
  2001:4860:0:2001::68 port 80 through a relay at 83.170.1.38:32900 (not the Teredo port):
  conn_state S1 (established, not terminated), i.e. open_at_end; the plain IPv4 connections stay
  as they were.
- tunnels/gtp/gtp2_different_udp_port.pcap: 10.131.17.170:51803 -> 173.199.115.168:80 in GTP-U,
  the uplink from UDP port 5906, the downlink from 2152, each direction with its own TEID: one
  connection (not two halves), S3 (the responder closed, the originator did not), i.e.
  half_closed_at_end by the server.
- mixed-vlan-mpls.pcap: three connections, one of them under an MPLS label (SH: SYN and FIN from
  the originator, nothing back: syn_unanswered).
"""
import json
import pathlib
import subprocess
import sys

CASES = [
    ("tunnels__Teredo.pcap", [
        ("2001:0:4137:9e50:8000:f12a:b9c8:2815", 1286, "2001:4860:0:2001::68", 80,
         "open_at_end", None, ["teredo", "ipv4 192.168.2.16>83.170.1.38"]),
        ("192.168.2.16", 1580, "67.228.110.120", 80, "fin_graceful", "client", []),
    ]),
    ("tunnels__gtp__gtp2_different_udp_port.pcap", [
        ("10.131.17.170", 51803, "173.199.115.168", 80, "half_closed_at_end", "server", None),
    ]),
    ("mixed-vlan-mpls.pcap", [
        ("10.1.2.1", 11001, "10.34.0.1", 23, "syn_unanswered", None, ["mpls label 29"]),
        ("141.42.64.125", 56730, "125.190.109.199", 80, "fin_graceful", None, []),
        ("10.20.80.1", 50343, "10.0.0.15", 80, "fin_graceful", None, []),
    ]),
]


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    tcpmortem, shared = sys.argv[1], pathlib.Path(sys.argv[2])
    if not all((shared / path).exists() for path, _ in CASES):
        print(f"check_tunnels_realworld: traces not found under {shared}: skipped")
        return 77
    failures = 0
    for path, want in CASES:
        out = subprocess.run([tcpmortem, "-f", "ndjson", str(shared / path)], check=False,
                             capture_output=True, text=True)
        flows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        for cip, cport, sip, sport, cls, closer, encap in want:
            found = [f for f in flows
                     if (f["client"]["ip"], f["client"]["port"], f["server"]["ip"],
                         f["server"]["port"]) == (cip, cport, sip, sport)]
            tag = f"{path} {cip}:{cport} -> {sip}:{sport}"
            problem = None
            if len(found) != 1:
                problem = f"{len(found)} flows reported, want 1"
            elif found[0]["close"]["class"] != cls:
                problem = f"class {found[0]['close']['class']}, want {cls}"
            elif closer is not None and found[0]["close"]["closer"] != closer:
                problem = f"closer {found[0]['close']['closer']}, want {closer}"
            elif encap is not None and found[0]["encapsulation"] != encap:
                problem = f"encapsulation {found[0]['encapsulation']}, want {encap}"
            if problem:
                failures += 1
                print(f"FAIL {tag}: {problem}")
            else:
                print(f"ok   {tag}: {cls}")
    print(f"check_tunnels_realworld: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
