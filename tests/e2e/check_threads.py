#!/usr/bin/env python3
"""--threads N gives the single-threaded output, byte for byte (analyzer/engine/engine.c and
readers.c), with the same messages and exit status, on every path the threads take:

- every capture alone (the samples and the real-world captures), and all samples as one capture,
  with --threads 2, 3, 4 and 8 (the formats taken in turn, so each capture meets every format);
- the same split into many chunks (TCPMORTEM_CHUNK_SIZE down to 64 bytes: most chunks then hold
  one record or none, and every boundary is verified), each chunk started where the same reader's
  walk of the chunk before it stopped (chained: always with one reader, which TCPMORTEM_STAGE_TIMES
  shows) or from a guess (TCPMORTEM_CHUNK_RESYNC=1);
- several files merged: the samples together, and a mix of files the reader threads walk in place
  with files libpcap reads (pcapng, gzip-compressed);
- a BPF filter (filtered frames keep their numbers), on one file and on the merged set;
- whole ranges of records fed at once (one file: always, which TCPMORTEM_STAGE_TIMES shows; a
  capture split into consecutive files, as tcpdump -C writes them: mostly), and mixed with records
  fed one by one (files whose times overlap, the filter);
- --class and --flow, which leave flows out of the report: with one worker (--threads 2) the
  merging thread classifies, with more the workers do;
- damaged files (tests/damage/make-damaged.py, classic pcap): the reader threads hand the file
  over to libpcap at the damaged record, in the middle of a chunk;
- a file where a chunk boundary guess falls on bytes that look like a chain of record headers but
  are not (a Teredo capture whose payloads carry such bytes): that chunk is walked again from the
  true boundary, which TCPMORTEM_STAGE_TIMES shows;
- the end of the run: once every record is fed, the chunks are freed before the flows still open
  are finished (every run with reader threads; ASan and TSan builds run this test).

Usage: check_threads.py TCPMORTEM CAPTURES_DIR [MORE_CAPTURES_DIR ...]
"""
import gzip
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
FORMATS = ("ndjson", "csv", "json", "text")
THREADS = ("2", "3", "4", "8")
SMALL_CHUNKS = ("64", "200", "1000", "4096")
# A real capture in which a chunk of this size starts on a false resync candidate.
FALSE_CANDIDATE = ("zeek__tunnels__Teredo.pcap", "1000")
FILTER = "tcp[13] & 4 == 0"  # no resets: changes what is reported, and numbers must hold


class Checks:
    def __init__(self, binary):
        self.binary = binary
        self.passed = self.failed = 0
        self.refs = {}

    def run(self, args, threads="1", chunk=None, stage_times=False, resync=False):
        env = dict(os.environ)
        env.pop("TCPMORTEM_CHUNK_SIZE", None)
        env.pop("TCPMORTEM_CHUNK_RESYNC", None)
        if chunk:
            env["TCPMORTEM_CHUNK_SIZE"] = chunk
        if resync:
            env["TCPMORTEM_CHUNK_RESYNC"] = "1"
        if stage_times:
            env["TCPMORTEM_STAGE_TIMES"] = "1"
        p = subprocess.run([self.binary, "--threads", threads, *args], capture_output=True,
                           timeout=300, env=env)
        return p.stdout, p.stderr, p.returncode

    def reference(self, args):
        key = tuple(args)
        if key not in self.refs:
            self.refs[key] = self.run(args)
        return self.refs[key]

    def same(self, name, args, threads, chunk=None, may_be_empty=False, resync=False):
        one = self.reference(args)
        many = self.run(args, threads, chunk, resync=resync)
        if one == many and (one[0] or one[2] != 0 or may_be_empty):
            self.passed += 1
            return
        self.failed += 1
        what = [k for k, a, b in zip(("output", "messages", "exit status"), one, many) if a != b]
        print(f"FAIL --threads {threads}{f' chunk {chunk}' if chunk else ''}"
              f"{' resync' if resync else ''} "
              f"{' '.join(args[:-1] if len(args) > 3 else args)} {name}: "
              f"{', '.join(what) or 'empty output'} differ{'s' if len(what) == 1 else ''}")

    def expect(self, ok, text):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {text}")


def captures_in(dirs):
    files = []
    for d in dirs:
        files += sorted(p for p in pathlib.Path(d).iterdir() if p.suffix in (".pcap", ".pcapng"))
    return files


def split_pcap(path, parts, out_dir):
    """A classic pcap cut into `parts` files of consecutive records, as tcpdump -C does."""
    data = path.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records, off = [], 24
    while off + 16 <= len(data):
        caplen = int.from_bytes(data[off + 8:off + 12], "little" if order == "<" else "big")
        records.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    per = -(-len(records) // parts)
    paths = []
    for k in range(parts):
        out = out_dir / f"{path.stem}.part{k}"
        out.write_bytes(data[:24] + b"".join(records[k * per:(k + 1) * per]))
        paths.append(str(out))
    return paths


def fed(err):
    """(ranges fed whole, records fed one by one) from TCPMORTEM_STAGE_TIMES."""
    m = re.search(r"ranges fed whole (\d+), records fed one by one (\d+)", err)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def damaged_cases(samples_dir, out_dir):
    """Classic pcap files with damage past their header, a few of each kind."""
    spec = importlib.util.spec_from_file_location(
        "make_damaged", HERE.parent / "damage" / "make-damaged.py")
    md = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(md)
    _, cases = md.generate(samples_dir)
    kinds = {}
    paths = []
    for case in cases:
        if case.data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                                 b"\xa1\xb2\x3c\x4d") or case.kind == "cut_header":
            continue
        kinds.setdefault(case.kind, []).append(case)
    for kind, of_kind in sorted(kinds.items()):
        for case in of_kind[:: max(1, len(of_kind) // 8)]:
            path = out_dir / case.name
            path.write_bytes(case.data)
            paths.append(path)
    return paths


def main():
    binary, dirs = sys.argv[1], sys.argv[2:]
    checks = Checks(binary)
    files = captures_in(dirs)
    samples = [str(p) for p in captures_in(dirs[:1])]

    # Every capture alone, and the samples as one capture: default and small chunks.
    cases = [(p.name, [str(p)]) for p in files] + [("all samples", samples)]
    for i, (name, paths) in enumerate(cases):
        for k, threads in enumerate(THREADS):
            fmt = FORMATS[(i + k) % len(FORMATS)]
            checks.same(name, ["-f", fmt, *paths], threads)
        for k, (threads, resync) in enumerate((("2", False), ("4", False), ("3", True))):
            fmt = FORMATS[(i + k + 1) % len(FORMATS)]
            chunk = SMALL_CHUNKS[(i + k) % len(SMALL_CHUNKS)]
            checks.same(name, ["-f", fmt, *paths], threads, chunk, resync=resync)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        # Files read in place merged with files libpcap reads.
        pcaps = [p for p in files if p.suffix == ".pcap"]
        pcapngs = [p for p in files if p.suffix == ".pcapng"]
        compressed = tmp / (pcaps[1].name + ".gz")
        compressed.write_bytes(gzip.compress(pcaps[1].read_bytes()))
        mix = [str(pcaps[0]), str(compressed), *(str(p) for p in pcapngs[:2]), str(pcaps[2])]
        for k, threads in enumerate(THREADS):
            checks.same("a mix of pcap, pcap.gz and pcapng", ["-f", FORMATS[k], *mix], threads,
                        SMALL_CHUNKS[k])

        # A BPF filter.
        for k, threads in enumerate(THREADS):
            checks.same("filtered, all samples", ["--filter", FILTER, "-f", FORMATS[k], *samples],
                        threads, SMALL_CHUNKS[k])
            checks.same("filtered, a mix", ["--filter", FILTER, "-f", "ndjson", *mix], threads,
                        SMALL_CHUNKS[-1 - k])

        # One file: fed in whole ranges only. The same split into consecutive files: the merge
        # takes most ranges whole, records near the files' edges one by one.
        big = max(pcaps, key=lambda p: p.stat().st_size)
        args = ["-f", "ndjson", str(big)]
        for threads, chunk in (("2", None), ("3", "4096")):
            checks.same(big.name, args, threads, chunk)
            err = checks.run(args, threads, chunk, stage_times=True)[1].decode()
            ranges, singly = fed(err)
            checks.expect(ranges > 0 and singly == 0,
                          f"{big.name} --threads {threads}: {ranges} ranges fed whole, {singly} "
                          f"records one by one (expected only ranges)")
            # One reader: the chunks start where its walk of the one before stopped (a wrong
            # start would show as a chunk walked again).
            m = re.search(r"chunks (\d+), chained (\d+), walked again (\d+)", err)
            checks.expect(m and int(m.group(2)) > 0 and int(m.group(3)) == 0,
                          f"{big.name} --threads {threads}: no chunk chained, or one walked "
                          f"again ({err!r})")
        parts = split_pcap(big, 3, tmp)
        for k, threads in enumerate(THREADS):
            args = ["-f", FORMATS[k], *parts]
            checks.same(f"{big.name} in 3 files", args, threads, SMALL_CHUNKS[k])
        ranges, singly = fed(checks.run(["-f", "csv", *parts], "2", "4096",
                                        stage_times=True)[1].decode())
        checks.expect(ranges > 0, f"{big.name} in 3 files: no range fed whole")

        # Flows left out of the report (--class, --flow): classified by the merging thread with
        # one worker, by the workers with more.
        one = checks.reference(["-f", "ndjson", *samples])[0].decode().splitlines()
        flow_id = json.loads(one[len(one) // 2]).get("id") if one else None
        for k, threads in enumerate(THREADS):
            checks.same("--class, all samples",
                        ["--class", "rst_abort,fin_graceful", "-f", FORMATS[k], *samples],
                        threads, SMALL_CHUNKS[k])
            if flow_id is not None:
                checks.same(f"--flow {flow_id}, all samples",
                            ["--flow", str(flow_id), "-f", FORMATS[k], *samples], threads)

        # Damaged files: handed over to libpcap mid-chunk.
        damaged = damaged_cases(dirs[0], tmp)
        for i, path in enumerate(damaged):
            checks.same(path.name, ["-f", FORMATS[i % 4], str(path)], THREADS[i % len(THREADS)],
                        SMALL_CHUNKS[i % 2], may_be_empty=True, resync=i % 3 == 2)

    # A false resync candidate: walked again, same output.
    target = next((p for p in files if p.name == FALSE_CANDIDATE[0]), None)
    if target:
        args = ["-f", "ndjson", str(target)]
        checks.same(target.name, args, "3", FALSE_CANDIDATE[1], resync=True)
        err = checks.run(args, "3", FALSE_CANDIDATE[1], stage_times=True,
                         resync=True)[1].decode()
        m = re.search(r"walked again (\d+)", err)
        checks.expect(m and int(m.group(1)) > 0,
                      f"{target.name} in chunks of {FALSE_CANDIDATE[1]} bytes: no chunk walked "
                      f"again ({err.strip()!r})")

    print(f"\nthreads: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
