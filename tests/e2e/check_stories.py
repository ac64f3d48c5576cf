#!/usr/bin/env python3
"""End to end: connection stories (--flow), colour and the progress line, on the samples.

- The story of each rst_unread_data connection names the server as the closer, the 1,000 unread
  bytes, the reset and its frame; by id, by endpoints (either order, tcpdump's spelling) and from
  standard input it is the same story.
- For every connection of every sample, `--flow ID` tells a story whose ladder shows every
  evidence frame and accounts for every packet (shown rows plus the gaps it names).
- json/ndjson/csv with --flow report only the selected connections; markdown keeps the summary.
- A --flow that matches nothing: exit 2 and a message; one of two: exit 1.
- Colour: never when not a terminal, on a terminal unless NO_COLOR or --color=never, always
  with --color=always; the text is the same once the colour is removed.
- Progress: nothing on a pipe, plain lines with --progress, a redrawn and erased line on a
  terminal with --progress, nothing with --no-progress.

Usage: check_stories.py TCPMORTEM CAPTURES_DIR
"""
import json
import os
import pathlib
import pty
import re
import select
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402

SGR = re.compile(r"\x1b\[[0-9;]*m")


check = Checks("stories")


def run(binary, *args, stdin=None, env=None):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120,
                          input=stdin, env=env)


def run_pty(argv, env=None, stdout_tty=True, stderr_tty=False):
    """Runs argv with stdout and/or stderr on a pseudo-terminal. Returns (rc, tty text, other)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=slave if stdout_tty else subprocess.PIPE,
                            stderr=slave if stderr_tty else subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    other = (proc.stderr if stdout_tty else proc.stdout).read()
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace"), other.decode()


def endpoint(ep):
    return f"[{ep['ip']}]:{ep['port']}" if ":" in ep["ip"] else f"{ep['ip']}:{ep['port']}"


def flows_of(binary, capture):
    r = run(binary, "-f", "ndjson", str(capture))
    return [json.loads(line) for line in r.stdout.splitlines()]


def ladder_accounting(story):
    """Frames shown in the ladder, and segments it says it left out."""
    frames = [int(m) for m in re.findall(r"^\s+\d+\.\d+\s+#(\d+)\s+\|", story, re.M)]
    gaps = sum(int(m.replace(",", "")) for m in re.findall(r"\.\.\. ([\d,]+) segments?\b", story))
    return frames, gaps


def check_unread_story(binary, captures):
    capture = captures / "rst_unread_data.pcap"
    flows = flows_of(binary, capture)
    check("rst_unread_data has two connections", len(flows) == 2, f"{len(flows)}")
    for flow in flows:
        fid = str(flow["id"])
        rst = next(e for e in flow["close"]["evidence"] if "RST" in e["flags"])
        r = run(binary, "--flow", fid, str(capture))
        story = r.stdout
        flat = re.sub(r"\s+", " ", story)  # sentences wrap at 100 columns
        name = f"story #{fid}"
        check(name + " exit 0", r.returncode == 0, r.stderr)
        check(name + " one connection", story.count("connection #") == 1, story[:200])
        check(name + " verdict", "rst_unread_data, closed by the server" in story, story[:400])
        check(name + " says the server reset after unread bytes",
              re.search(r"The server reset the connection [\d.]+ (ms|µs|s) after receiving 1,000 "
                        r"bytes from the client that it never answered", flat) is not None,
              story)
        check(name + " names the reset frame", f"The reset (frame {rst['frame']}) carries seq" in flat,
              story)
        check(name + " ladder row of the reset",
              re.search(rf"#{rst['frame']}\s+\|<-+ RST,ACK seq=301 ack=1065 len=0 win=\d+ --\|  "
                        r"reset: the socket aborted", story) is not None, story)
        check(name + " handshake line", "handshake    complete: SYN, SYN+ACK" in story, story)
        check(name + " no colour on a pipe", "\x1b" not in story)

        # By endpoints, in both orders and in tcpdump's spelling: the same story.
        c, s = endpoint(flow["client"]), endpoint(flow["server"])
        tcpdump = f"{flow['client']['ip']}.{flow['client']['port']} > {flow['server']['ip']}.{flow['server']['port']}:"
        for sel in (f"{c} {s}", f"{s} {c}", f"{c} -> {s}", tcpdump):
            r2 = run(binary, "--flow", sel, str(capture))
            check(f"{name} by endpoints '{sel}'", r2.returncode == 0 and r2.stdout == story,
                  r2.stderr or "different story")
        # Standard input is read once, like a file: the same story.
        r3 = subprocess.run([binary, "--flow", fid, "-"], stdin=open(capture, "rb"),
                            capture_output=True, timeout=60)
        out3 = r3.stdout.decode()
        check(name + " from standard input", r3.returncode == 0 and
              out3.replace("capture      -\n", "").split("\n-- ")[0] ==
              story.replace(f"capture      {capture}\n", "").split("\n-- ")[0],
              r3.stderr.decode())


def check_every_story(binary, captures):
    for capture in sorted(list(captures.glob("*.pcap")) + list(captures.glob("*.pcapng"))):
        for flow in flows_of(binary, capture):
            fid = str(flow["id"])
            name = f"{capture.name} #{fid}"
            r = run(binary, "--flow", fid, str(capture))
            if r.returncode != 0:
                check(name + " exit 0", False, r.stderr)
                continue
            frames, gaps = ladder_accounting(r.stdout)
            total = flow["packets"]["client"] + flow["packets"]["server"]
            for ev in flow["close"]["evidence"]:
                check(f"{name} evidence frame {ev['frame']} in the ladder", ev["frame"] in frames,
                      r.stdout)
            check(f"{name} ladder accounts for every packet", len(frames) + gaps == total,
                  f"{len(frames)} rows + {gaps} left out != {total} packets")
            check(f"{name} ladder in frame order", frames == sorted(frames), str(frames))
            check(f"{name} says what happened", "\nwhat happened\n  - " in r.stdout, r.stdout)
            check(f"{name} classifier reason", flow["close"]["reason"][:40] in
                  re.sub(r"\s+", " ", r.stdout), r.stdout)


def check_selection_formats(binary, captures):
    capture = captures / "rst_abort.pcap"
    flows = flows_of(binary, capture)
    fid = str(flows[1]["id"])
    r = run(binary, "-f", "ndjson", "--flow", fid, str(capture))
    got = [json.loads(line)["id"] for line in r.stdout.splitlines()]
    check("ndjson --flow reports only that connection", got == [flows[1]["id"]], str(got))
    r = run(binary, "-f", "json", "--flow", f"{fid},{flows[0]['id']}", str(capture))
    doc = json.loads(r.stdout)
    check("json --flow with two ids", sorted(f["id"] for f in doc["flows"]) ==
          sorted(f["id"] for f in flows), r.stdout[:300])
    r = run(binary, "-f", "csv", "--flow", fid, str(capture))
    check("csv --flow: header and one row", len(r.stdout.splitlines()) == 2, r.stdout)
    r = run(binary, "-f", "markdown", "--flow", fid, str(capture))
    check("markdown --flow keeps the whole summary", "| **total** | 2 |" in r.stdout, r.stdout[:600])
    check("markdown --flow adds the story", r.stdout.count("### Connection #") == 1, r.stdout)

    # Nothing matched: exit 2, and a message naming the selection; one of two: exit 1.
    r = run(binary, "--flow", "999999", str(capture))
    check("unknown id: exit 2", r.returncode == 2, f"{r.returncode}")
    check("unknown id: message", "--flow 999999: no such connection" in r.stderr, r.stderr)
    r = run(binary, "--flow", "999999", "--flow", fid, str(capture))
    check("one unknown of two: exit 1", r.returncode == 1, f"{r.returncode} {r.stderr}")
    check("one unknown of two: the other's story", "connection #" + fid in r.stdout, r.stdout[:200])
    r = run(binary, "--flow", "198.51.100.9:1 198.51.100.8:2", str(capture))
    check("unknown endpoints: exit 2", r.returncode == 2, f"{r.returncode}")
    for bad in ("0", "x", "198.51.100.1:80", "2001:db8::1:80 2001:db8::2:80 x"):
        r = run(binary, "--flow", bad, str(capture))
        check(f"--flow '{bad}' is a usage error", r.returncode == 2 and "--flow" in r.stderr
              and r.stdout == "", r.stderr)


def check_colour(binary, captures):
    capture = str(captures / "rst_unread_data.pcap")
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    plain = run(binary, capture, env=env).stdout
    check("no colour on a pipe", "\x1b" not in plain)
    rc, tty, _ = run_pty([binary, capture], env=env)
    check("colour on a terminal", rc == 0 and "\x1b[31mrst_unread_data\x1b[0m" in tty, repr(tty[:300]))
    check("colour changes nothing else", SGR.sub("", tty).replace("\r\n", "\n") == plain,
          "text differs")
    rc, tty, _ = run_pty([binary, capture], env=dict(env, NO_COLOR="1"))
    check("NO_COLOR on a terminal", "\x1b" not in tty, repr(tty[:200]))
    rc, tty, _ = run_pty([binary, "--color=never", capture], env=env)
    check("--color=never on a terminal", "\x1b" not in tty, repr(tty[:200]))
    r = run(binary, "--color=always", capture, env=dict(env, NO_COLOR="1"))
    check("--color=always on a pipe, despite NO_COLOR", "\x1b[" in r.stdout)
    r = run(binary, "--color", "--flow", "1", capture)
    check("--color alone is always, also for a story", "\x1b[1;31m" in r.stdout, r.stdout[:200])
    r = run(binary, "-f", "markdown", "--color=always", capture)
    check("only the text report is coloured", "\x1b" not in r.stdout)
    r = run(binary, "--color=sometimes", capture)
    check("--color=sometimes is a usage error", r.returncode == 2 and "--color" in r.stderr, r.stderr)


def check_progress(binary, captures):
    capture = str(captures / "half_closed_at_end.pcap")
    r = run(binary, capture)
    check("no progress on a pipe", r.stderr == "", repr(r.stderr))
    r = run(binary, "--progress", capture)
    check("--progress on a pipe: plain lines and the totals",
          re.search(r"^tcpmortem: done: .*, 58 packets in [\d.]+ s$", r.stderr, re.M) is not None
          and "\r" not in r.stderr, repr(r.stderr))
    rc, tty, out = run_pty([binary, "--progress", "-f", "json", capture], stdout_tty=False,
                           stderr_tty=True)
    check("--progress on a terminal: a line redrawn and erased",
          rc == 0 and re.search(r"\rtcpmortem: \d+% of [\d.]+ kB, .* packets/s, \d+ live flows?",
                                tty) is not None and
          tty.endswith("\r\x1b[K"), repr(tty))
    check("--progress leaves the report alone", json.loads(out)["summary"]["flows"] == 1, out[:200])
    rc, tty, _ = run_pty([binary, "--no-progress", "-f", "json", capture], stdout_tty=False,
                         stderr_tty=True)
    check("--no-progress on a terminal: nothing", rc == 0 and tty == "", repr(tty))
    rc, tty, _ = run_pty([binary, "-f", "json", capture], stdout_tty=False, stderr_tty=True)
    check("a short run on a terminal: nothing", rc == 0 and tty == "", repr(tty))


def main():
    binary, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    check_unread_story(binary, captures)
    check_every_story(binary, captures)
    check_selection_formats(binary, captures)
    check_colour(binary, captures)
    check_progress(binary, captures)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
