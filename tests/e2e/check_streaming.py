#!/usr/bin/env python3
"""Streaming and expiry rules of analyzer/engine/engine.h, end to end.

- NDJSON rows of finished connections come out while the capture is still being read (a pipe
  that stalls half way).
- A late segment of a finished connection (after the quiet interval, within the tombstone time)
  is counted as late, never reported as a second connection; a new SYN on it is port reuse.
- --max-flows finishes the longest-idle flow early: modifier evicted, counted, exit status 1.

The engine-mechanics captures are synthesised here (they test bookkeeping, not TCP behaviour,
which the real-stack samples cover).
Usage: check_streaming.py TCPMORTEM CAPTURES_DIR
"""
import json
import pathlib
import select
import struct
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402
import tempfile
import time



check = Checks("streaming")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 502, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def pcap(records):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, data in records:
        out.append(struct.pack("<IIII", int(ts), int(round((ts % 1) * 1e6)), len(data), len(data)))
        out.append(data)
    return b"".join(out)


C, S = (198, 51, 100, 1), (198, 51, 100, 2)
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def reset_connection(t0, cport):
    """A connection the server resets right away."""
    return [(t0, frame(C, S, cport, 80, 100, 0, SYN)),
            (t0 + 0.001, frame(S, C, 80, cport, 500, 101, SYN | ACK)),
            (t0 + 0.002, frame(C, S, cport, 80, 101, 501, ACK)),
            (t0 + 0.003, frame(C, S, cport, 80, 101, 501, PSH | ACK, b"x" * 10)),
            (t0 + 0.004, frame(S, C, 80, cport, 501, 111, RST | ACK))]


def run(binary, data, *args):
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(data)
        f.flush()
        return subprocess.run([binary, *args, f.name], capture_output=True, text=True, timeout=60)


def main():
    binary = sys.argv[1]
    t = 1764000000.0

    # Late segment 30 s after a reset (past the 20 s quiet interval, within the 60 s tombstone).
    recs = reset_connection(t, 40001)
    recs.append((t + 30, frame(C, S, 40001, 80, 111, 501, PSH | ACK, b"y" * 10)))
    recs += reset_connection(t + 31, 40002)  # keeps the capture going
    r = run(binary, pcap(recs), "-f", "json")
    doc = json.loads(r.stdout)
    ports = [f["client"]["port"] for f in doc["flows"]]
    check("late segment is not a second flow", ports.count(40001) == 1, f"flows {ports}")
    check("late segment counted", doc["summary"]["late_segments"] == 1, doc["summary"])

    # A new SYN on the tombstone: a new connection marked port_reuse (even with the same ISN,
    # which on a live flow would be a SYN retransmission).
    recs = reset_connection(t, 40001) + reset_connection(t + 30, 40001)
    flows = [json.loads(l) for l in run(binary, pcap(recs), "-f", "ndjson").stdout.splitlines()]
    check("reuse after finish: two flows", len(flows) == 2, flows)
    check("reuse after finish: port_reuse on the second",
          len(flows) == 2 and "port_reuse" in flows[1]["modifiers"], flows)

    # --max-flows 1 with two concurrent connections: the idle one is evicted.
    recs = [(t, frame(C, S, 40001, 80, 100, 0, SYN)),
            (t + 0.001, frame(S, C, 80, 40001, 500, 101, SYN | ACK)),
            (t + 0.002, frame(C, S, 40001, 80, 101, 501, ACK))]
    recs += reset_connection(t + 1, 40002)
    r = run(binary, pcap(recs), "-f", "json", "--max-flows", "1")
    doc = json.loads(r.stdout)
    first = [f for f in doc["flows"] if f["client"]["port"] == 40001]
    check("max-flows: exit status 1", r.returncode == 1, f"exit {r.returncode}")
    check("max-flows: evicted modifier", first and "evicted" in first[0]["modifiers"], first)
    check("max-flows: counted", doc["summary"]["evicted"] == 1, doc["summary"])
    check("max-flows: one line on stderr", len(r.stderr.strip().splitlines()) == 1, r.stderr)

    # Streaming: the first connection's row arrives while the pipe is stalled half way.
    recs = reset_connection(t, 40001) + reset_connection(t + 30, 40002)
    data = pcap(recs)
    half = len(pcap(recs[:7]))  # header, the first connection and two frames of the second
    proc = subprocess.Popen([binary, "-f", "ndjson", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=False)
    proc.stdin.write(data[:half])
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline() if ready else b""
    check("ndjson row before the input ends", b'"port":40001' in line, line)
    proc.stdin.write(data[half:])
    proc.stdin.close()
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    check("second row after the input ends", b'"port":40002' in rest, rest)

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
