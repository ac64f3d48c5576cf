#!/usr/bin/env python3
"""Bad input end to end: missing, empty, non-capture, cut-off and unsupported-link-type files.

Each must give exit status 2 (unreadable) or 1 (damaged part way: DESIGN §5), exactly one line on
standard error that names the file, and for a damaged file every connection that ended before the
damage still in the report. The damaged files are made here from a real sample.

Usage: check_bad_input.py TCPMORTEM SAMPLES_DIR
"""
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
import capfile  # noqa: E402
from checks import Checks  # noqa: E402

check = Checks("bad input")


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def pcap_records(data):
    """Offsets where each record of a classic pcap file starts, and the end of the last one."""
    cap = capfile.Capture(data)
    return [rec.offset for rec in cap.records], cap.records[-1].end if cap.records else 24


def pcapng_mixed(data):
    """The sample's frames as a pcapng file whose interfaces differ: Ethernet with snapshot
    lengths 262144 and 2048 (the frames alternate between them), and a Linux cooked interface
    (link type 113) with one frame of its own."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 262144))
    out += block(1, struct.pack("<HHI", 1, 0, 2048))
    out += block(1, struct.pack("<HHI", 113, 0, 65535))
    offsets, _ = pcap_records(data)
    for i, off in enumerate(offsets):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        ts = sec * 1000000 + usec
        frame = data[off + 16:off + 16 + caplen]
        out += block(6, struct.pack("<IIIII", i % 2, ts >> 32, ts & 0xffffffff, caplen,
                                    wirelen) + frame)
        if i == 1:
            cooked = b"\0\0\0\1\0\6" + b"\2" * 8 + b"\x08\0" + frame[14:]
            out += block(6, struct.pack("<IIIII", 2, ts >> 32, ts & 0xffffffff, len(cooked),
                                        len(cooked)) + cooked)
    return out


def expect_error(binary, name, path, status):
    r = run(binary, "-f", "ndjson", str(path))
    lines = r.stderr.strip().splitlines()
    check(name, r.returncode == status, f"exit {r.returncode}, want {status}")
    check(name + " message", len(lines) == 1 and str(path) in lines[0],
          f"stderr {r.stderr!r}")
    return r


def main():
    binary, samples = sys.argv[1], pathlib.Path(sys.argv[2])
    sample = samples / "rst_abort.pcap"
    data = sample.read_bytes()
    full = [json.loads(l) for l in run(binary, "-f", "ndjson", str(sample)).stdout.splitlines()]
    check("sample has two flows", len(full) == 2, f"{len(full)} flows")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        expect_error(binary, "missing file", tmp / "missing.pcap", 2)
        (tmp / "empty.pcap").write_bytes(b"")
        expect_error(binary, "empty file", tmp / "empty.pcap", 2)
        (tmp / "text.pcap").write_text("this is not a capture\n")
        expect_error(binary, "not a capture", tmp / "text.pcap", 2)
        bad_link = bytearray(data)
        struct.pack_into("<I", bad_link, 20, 147)  # LINKTYPE_USER0
        (tmp / "link.pcap").write_bytes(bytes(bad_link))
        r = expect_error(binary, "unsupported link type", tmp / "link.pcap", 2)
        check("unsupported link type says so", "link type" in r.stderr, r.stderr)
        (tmp / "header.pcap").write_bytes(data[:10])
        expect_error(binary, "cut inside the file header", tmp / "header.pcap", 2)

        # Cut inside the last record, inside a record header, and inside the first flow's records:
        # the flows that ended before the cut must still be there, classified as in the full file.
        offsets, end = pcap_records(data)
        first_flow_end = max(e["frame"] for e in full[0]["close"]["evidence"])
        cuts = {"mid last record": end - 5, "mid record header": offsets[-1] + 7,
                "mid second flow": offsets[first_flow_end + 1] + 20}
        for name, cut in cuts.items():
            path = tmp / f"cut-{cut}.pcap"
            path.write_bytes(data[:cut])
            r = expect_error(binary, name, path, 1)
            flows = [json.loads(l) for l in r.stdout.splitlines()]
            check(name + ": first flow still reported",
                  any(f["client"]["port"] == full[0]["client"]["port"] and
                      f["close"]["class"] == full[0]["close"]["class"] for f in flows),
                  f"flows {[(f['client']['port'], f['close']['class']) for f in flows]}")

        # A pcapng file whose interfaces have different snapshot lengths and link types (libpcap
        # refuses it): the Ethernet frames are read as they are, the one frame of the other link
        # type is not, and the message says so (exit 1: part of the input not read).
        (tmp / "mixed.pcapng").write_bytes(pcapng_mixed(data))
        r = expect_error(binary, "pcapng with mixed interfaces", tmp / "mixed.pcapng", 1)
        flows = [json.loads(l) for l in r.stdout.splitlines()]
        check("mixed interfaces: every flow as in the pcap",
              sorted((f["client"]["port"], f["close"]["class"], f["packets"]["client"])
                     for f in flows) ==
              sorted((f["client"]["port"], f["close"]["class"], f["packets"]["client"])
                     for f in full), f"{flows}")
        check("mixed interfaces: the other link type named", "1 frame not read" in r.stderr and
              "link type 113" in r.stderr, r.stderr)

        # One good file and one unreadable: the good one is still reported, exit 2.
        r = run(binary, "-f", "ndjson", str(sample), str(tmp / "missing.pcap"))
        check("good + missing: exit 2", r.returncode == 2, f"exit {r.returncode}")
        check("good + missing: flows reported", len(r.stdout.splitlines()) == 2, r.stdout)

        # Usage errors.
        check("no file: exit 2", run(binary).returncode == 2)
        check("bad format: exit 2", run(binary, "-f", "xml", str(sample)).returncode == 2)
        check("bad filter: exit 2", run(binary, "--filter", "port nonsense", str(sample)).returncode == 2)

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
