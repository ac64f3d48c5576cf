#!/usr/bin/env python3
"""Live capture (-i) with real traffic between two network namespaces.

    check_live.py TCPMORTEM

Two namespaces joined by a veth pair; tcpmortem captures on the client's end with -w and
-f ndjson while real Linux sockets make a graceful close, an abort (SO_LINGER 0), a refused
connection and one connection left open. Checked:
  - the rows of the connections that ended appear while the run goes on, the interface quiet
    (the clock moves without frames: engine.h's expiry);
  - SIGUSR1 prints the summary so far on standard error and the run goes on;
  - SIGINT ends the run, exit 0, the open connection reported open at the end;
  - an offline run over the -w file gives the same connections, ids and classes;
  - --duration and -c end a run by themselves; `-i any` works;
  - without the capture capability: one line naming CAP_NET_RAW, exit 2.
Needs root (namespaces); without it the test says so and exits 77 (skipped).
Names start with $TM_NETNS_PREFIX (default "tmlv") and the process id; all removed at the end.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import verdict  # noqa: E402

SKIP = 77
PORT = 8080
CLOSED_PORT = 8081


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def in_ns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


# The roles run in the namespaces as small Python programs (real sockets, the kernel's TCP).
SERVER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.99.0.2", %d)); s.listen(16)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    if data == b"graceful":
        c.sendall(b"bye"); c.recv(10); c.close()
    elif data == b"abort":
        conns.append(c)          # the client resets it
    else:
        conns.append(c)          # stays open
""" % PORT

CLIENT = r"""
import socket, struct, sys, time

def conn():
    c = socket.socket(); c.connect(("10.99.0.2", %d)); return c
c = conn(); c.sendall(b"graceful"); c.recv(10); c.close()
time.sleep(0.2)
c = conn(); c.sendall(b"abort"); time.sleep(0.1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
time.sleep(0.2)
try:
    socket.create_connection(("10.99.0.2", %d), timeout=2)
except ConnectionRefusedError:
    pass
time.sleep(0.2)
keep = conn(); keep.sendall(b"open")
print("done", flush=True)
sys.stdin.readline()              # holds the open connection until told: one more segment,
keep.sendall(b"still here")       # so that it is open (not idle) when the capture ends
print("sent", flush=True)
sys.stdin.readline()
""" % (PORT, CLOSED_PORT)


UDP_BURST = r"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(8):
    s.sendto(b"x", ("10.99.0.2", 9)); time.sleep(0.05)
"""


def rows(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def classes(recs):
    return sorted((r["id"], r["close"]["class"]) for r in recs)


def main():
    tool = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("check_live: skipped: needs root (network namespaces, packet capture)")
        return SKIP
    prefix = f"{os.environ.get('TM_NETNS_PREFIX', 'tmlv')}{os.getpid() % 100000}"
    ns_c, ns_s = f"{prefix}c", f"{prefix}s"
    if_c, if_s = f"{prefix}c", f"{prefix}s"
    tmp = tempfile.mkdtemp(prefix=f"{prefix}-")
    procs = []
    failures = []

    def fail(msg):
        failures.append(msg)
        print("FAIL:", msg)

    try:
        try:
            sh("ip", "netns", "add", ns_c)
            sh("ip", "netns", "add", ns_s)
        except subprocess.CalledProcessError as e:
            print(f"check_live: skipped: cannot create network namespaces: {e.stderr.strip()}")
            return SKIP
        sh("ip", "link", "add", if_c, "netns", ns_c, "type", "veth", "peer", "name", if_s,
           "netns", ns_s)
        for ns, ifc, addr in ((ns_c, if_c, "10.99.0.1/24"), (ns_s, if_s, "10.99.0.2/24")):
            sh(*in_ns(ns, "ip", "addr", "add", addr, "dev", ifc))
            sh(*in_ns(ns, "ip", "link", "set", ifc, "up"))
            sh(*in_ns(ns, "ip", "link", "set", "lo", "up"))

        # Without the capture capability (root with CAP_NET_RAW out of its bounding set).
        p = subprocess.run(in_ns(ns_c, "setpriv", "--inh-caps=-all", "--bounding-set=-net_raw",
                                 tool, "-i", if_c), capture_output=True, text=True, timeout=20)
        if p.returncode != 2 or "CAP_NET_RAW" not in p.stderr or p.stderr.count("\n") != 1:
            fail(f"no capability: want exit 2 and one line naming CAP_NET_RAW, got "
                 f"{p.returncode} {p.stderr!r}")

        server = subprocess.Popen(in_ns(ns_s, "python3", "-c", SERVER), stdout=subprocess.PIPE,
                                  text=True)
        procs.append(server)
        server.stdout.readline()

        out, err, saved = (os.path.join(tmp, n) for n in ("live.ndjson", "live.err",
                                                          "live.pcap"))
        with open(err, "w") as errf:
            live = subprocess.Popen(in_ns(ns_c, tool, "-i", if_c, "-f", "ndjson", "-o", out,
                                          "-w", saved, "--filter", "tcp"),
                                    stderr=errf)
        procs.append(live)
        deadline = time.time() + 10
        while not os.path.exists(saved) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the socket is open once the -w file is; a margin for the ring
        client = subprocess.Popen(in_ns(ns_c, "python3", "-c", CLIENT), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        procs.append(client)
        client.stdout.readline()

        # Connections over on the wire are finished after 10 s of quiet (FINISHED_QUIET_NS):
        # their rows must come while the interface is silent and the run goes on.
        deadline = time.time() + 20
        while len(rows(out)) < 3 and time.time() < deadline:
            time.sleep(0.2)
        early = rows(out)
        if len(early) != 3 or live.poll() is not None:
            fail(f"rows as connections end: want 3 rows while running, got {classes(early)}")

        live.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        if live.poll() is not None:
            fail("SIGUSR1 ended the run")
        with open(err) as f:
            status_text = f.read()
        if "the run so far" not in status_text or "fin_graceful" not in status_text:
            fail(f"SIGUSR1: no summary on standard error: {status_text!r}")

        # The open connection speaks once more: open, not idle, at the end.
        client.stdin.write("\n")
        client.stdin.flush()
        client.stdout.readline()
        time.sleep(0.5)
        live.send_signal(signal.SIGINT)
        try:
            rc = live.wait(timeout=10)
        except subprocess.TimeoutExpired:
            live.kill()
            rc = None
        if rc != 0:
            fail(f"SIGINT: want exit 0, got {rc}")
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(timeout=10)

        live_recs = rows(out)
        got = classes(live_recs)
        want = {"fin_graceful", "rst_abort", "rst_refused", "open_at_end"}
        if {c for _, c in got} != want or len(got) != 4:
            fail(f"live classes: want {sorted(want)}, got {got}")
        off = subprocess.run([tool, "-f", "ndjson", saved], capture_output=True, text=True)
        if off.returncode != 0:
            fail(f"offline run over the -w file: exit {off.returncode}: {off.stderr}")
        off_recs = [json.loads(line) for line in off.stdout.splitlines() if line.strip()]
        if classes(off_recs) != got:
            fail(f"offline over -w gives {classes(off_recs)}, live gave {got}")
        js = subprocess.run([tool, "-f", "json", saved], capture_output=True, text=True)
        frames = json.loads(js.stdout)["summary"]["frames"] if js.returncode == 0 else -1
        # The evidence frame numbers are the saved file's.
        for lr, orr in zip(sorted(live_recs, key=lambda r: r["id"]),
                           sorted(off_recs, key=lambda r: r["id"])):
            if lr.get("evidence") != orr.get("evidence"):
                fail(f"flow {lr['id']}: evidence frames differ live/offline")

        # --duration and -c end the run; -i any captures every interface; the text report
        # gives the kernel's drops.
        t0 = time.time()
        p = subprocess.run(in_ns(ns_c, tool, "-i", "any", "--duration", "1"),
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 0 or "dropped by the kernel" not in p.stdout or time.time() - t0 > 8:
            fail(f"--duration 1 -i any: exit {p.returncode}, {time.time() - t0:.1f} s, "
                 f"{p.stdout[-300:]!r} {p.stderr!r}")
        counted = subprocess.Popen(in_ns(ns_c, tool, "-i", if_c, "-c", "3", "-f", "json"),
                                   stdout=subprocess.PIPE, text=True)
        procs.append(counted)
        time.sleep(0.5)
        subprocess.run(in_ns(ns_c, "python3", "-c", UDP_BURST), capture_output=True)
        try:
            cout, _ = counted.communicate(timeout=10)
            doc = json.loads(cout)
            if doc["summary"]["frames"] != 3 or not doc["captures"][0].get("live"):
                fail(f"-c 3: {doc['summary']['frames']} frames, captures {doc['captures']}")
        except (subprocess.TimeoutExpired, ValueError, KeyError) as e:
            counted.kill()
            fail(f"-c 3 did not end the run: {e}")
        print(f"check_live: live {got}, offline frames {frames}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in (ns_c, ns_s):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", tmp])
    return verdict("check_live", failures)


if __name__ == "__main__":
    sys.exit(main())
