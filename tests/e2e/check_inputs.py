#!/usr/bin/env python3
"""Every way to hand tcpmortem a capture gives the report the plain file gives.

    check_inputs.py TCPMORTEM SAMPLES_DIR

- every sample compressed by gzip, zstd, lz4 and xz (their command-line tools): the JSON report
  is the plain file's (the file names aside), read by name and, one format per sample in turn,
  from standard input; concatenated members (gzip a; gzip b; cat) read as zcat does;
- a directory: a sample cut into 12 pcap files (as tcpdump -C rotates), some of them compressed,
  plus a file that is not a capture, gives the sample's connections; also with only 10 file
  descriptors allowed (the files are opened as the merge reaches them); a real tcpdump -C
  rotation of a larger sample; `-r FILE` and `-r DIR`; `-c N`; an empty directory is an error
  (exit 2);
- a named pipe carrying a compressed capture.
"""
import json
import os
import pathlib
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import verdict  # noqa: E402

FORMATS = {"gzip": ["gzip", "-c"], "zstd": ["zstd", "-q", "-c"], "lz4": ["lz4", "-q", "-c"],
           "xz": ["xz", "-c"]}
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def run(tool, *args, stdin=None, limit_fds=None):
    def pre():
        if limit_fds:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit_fds, limit_fds))
    return subprocess.run([tool, *args], stdin=stdin, capture_output=True,
                          preexec_fn=pre if limit_fds else None)


def normal(out):
    """The JSON report without the file names, which differ by design."""
    doc = json.loads(out)
    for f in doc["flows"]:
        f.pop("capture", None)
    for c in doc["captures"]:
        c.pop("file", None)
    return doc


def flows_only(out):
    """The connections of a report (ids, classes, everything), without file names."""
    return normal(out)["flows"]


def split_pcap(data, n):
    """A classic pcap cut into n files between records, each with the file header (tcpdump -C)."""
    le = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    recs, off = [], 24
    while off < len(data):
        caplen = struct.unpack("<I" if le else ">I", data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    per = (len(recs) + n - 1) // n
    return [data[:24] + b"".join(recs[i * per:(i + 1) * per]) for i in range(n)]


def main():
    tool, samples = os.path.abspath(sys.argv[1]), pathlib.Path(sys.argv[2])
    missing = [f for f in FORMATS if not shutil.which(f)]
    if missing:
        print(f"check_inputs: missing {missing} (tests/install-deps.sh installs them)")
        return 1
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tm-inputs-"))
    try:
        paths = sorted(p for p in samples.iterdir() if p.suffix in (".pcap", ".pcapng"))
        compared = 0
        for i, path in enumerate(paths):
            plain = run(tool, "-f", "json", str(path))
            want = normal(plain.stdout)
            for k, (fmt, cmd) in enumerate(FORMATS.items()):
                z = tmp / f"{path.name}.{fmt}"
                z.write_bytes(subprocess.run(cmd + [str(path)], capture_output=True,
                                             check=True).stdout)
                got = run(tool, "-f", "json", str(z))
                if got.returncode != plain.returncode or normal(got.stdout) != want:
                    fail(f"{z.name}: report differs from the plain file's "
                         f"(exit {got.returncode}, {got.stderr[:200]!r})")
                if k == i % len(FORMATS):
                    with open(z, "rb") as f:
                        got = run(tool, "-f", "json", "-", stdin=f)
                    if normal(got.stdout) != want:
                        fail(f"{z.name} on standard input: report differs")
                compared += 1
                z.unlink()

        # Concatenated gzip members: zcat reads them as one file; so does tcpmortem.
        big = max(paths, key=lambda p: p.stat().st_size if p.suffix == ".pcap" else 0)
        data = big.read_bytes()
        half = len(data) // 2
        cut = 24
        le = data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
        while True:  # a member boundary between records is not needed; anywhere is fine
            nxt = cut + 16 + struct.unpack("<I" if le else ">I", data[cut + 8:cut + 12])[0]
            if nxt > half:
                break
            cut = nxt
        members = tmp / "members.gz"
        members.write_bytes(subprocess.run(["gzip", "-c"], input=data[:half + 7],
                                           capture_output=True).stdout +
                            subprocess.run(["gzip", "-c"], input=data[half + 7:],
                                           capture_output=True).stdout)
        if flows_only(run(tool, "-f", "json", str(members)).stdout) != \
                flows_only(run(tool, "-f", "json", str(big)).stdout):
            fail("two gzip members: report differs from the plain file's")

        # A directory of rotated files, some compressed, and one that is not a capture.
        sample = samples / "rst_abort_variants.pcap"
        rot = tmp / "rotated"
        rot.mkdir()
        parts = split_pcap(sample.read_bytes(), 12)
        for k, part in enumerate(parts):
            (rot / f"trace{k:02d}.pcap").write_bytes(part)
        for k, fmt in ((3, "gzip"), (5, "zstd"), (7, "xz"), (9, "lz4")):
            f = rot / f"trace{k:02d}.pcap"
            (rot / f"trace{k:02d}.pcap.{fmt}").write_bytes(
                subprocess.run(FORMATS[fmt] + [str(f)], capture_output=True, check=True).stdout)
            f.unlink()
        (rot / "NOTES.txt").write_text("not a capture\n")
        whole = run(tool, "-f", "json", str(sample))
        want = flows_only(whole.stdout)
        got = run(tool, "-f", "json", str(rot))
        if got.returncode != 0 or flows_only(got.stdout) != want:
            fail(f"directory: exit {got.returncode}, connections differ from the whole file's "
                 f"{got.stderr[:300]!r}")
        if got.stderr.decode().count("NOTES.txt") != 1:
            fail(f"directory: the file that is not a capture not named once: {got.stderr!r}")
        if len(normal(got.stdout)["captures"]) != 12:
            fail("directory: want 12 captures in the report")
        got = run(tool, "-f", "json", str(rot), limit_fds=10)
        if got.returncode != 0 or flows_only(got.stdout) != want:
            fail(f"directory with 10 file descriptors: exit {got.returncode} {got.stderr[:300]!r}")
        got = run(tool, "-f", "json", "--threads", "2", "-r", str(rot))
        if got.returncode != 0 or flows_only(got.stdout) != want:
            fail("-r DIR --threads 2: connections differ")
        got = run(tool, "-f", "json", "-r", str(sample))
        if got.stdout != whole.stdout:
            fail("-r FILE: report differs from FILE's")
        got = run(tool, "-f", "json", "-c", "5", str(rot))
        if json.loads(got.stdout)["summary"]["frames"] != 5:
            fail("-c 5 over a directory: want the first 5 frames only")
        empty = tmp / "empty"
        empty.mkdir()
        got = run(tool, str(empty))
        if got.returncode != 2 or got.stderr.decode().count("\n") != 1:
            fail(f"empty directory: want exit 2 and one line, got {got.returncode} {got.stderr!r}")

        # A real rotation: tcpdump -C 1 (1 MB files) over the largest sample.
        tdir = tmp / "tcpdump"
        tdir.mkdir()
        if shutil.which("tcpdump") and big.stat().st_size > 1_000_000:
            subprocess.run(["tcpdump", "-q", "-Z", "root", "-r", str(big), "-w", str(tdir / "rot"),
                            "-C", "1"],
                           capture_output=True, check=True)
            n = len(list(tdir.iterdir()))
            got = run(tool, "-f", "json", str(tdir))
            if n < 2 or flows_only(got.stdout) != flows_only(run(tool, "-f", "json",
                                                                 str(big)).stdout):
                fail(f"tcpdump -C 1 rotation ({n} files): connections differ")

        # A named pipe carrying zstd (the file is not regular: read as a stream).
        fifo = tmp / "pipe"
        os.mkfifo(fifo)
        writer = subprocess.Popen(f"zstd -q -c {sample} > {fifo}", shell=True)
        got = run(tool, "-f", "json", str(fifo))
        writer.wait()
        if flows_only(got.stdout) != want:
            fail(f"zstd through a named pipe: connections differ {got.stderr!r}")
        print(f"check_inputs: {compared} compressed copies of {len(paths)} samples, directories, "
              f"-r, a named pipe")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("check_inputs", failures)


if __name__ == "__main__":
    sys.exit(main())
