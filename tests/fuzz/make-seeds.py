#!/usr/bin/env python3
"""Writes seed inputs for a fuzz target, derived from the sample captures.

Usage: make-seeds.py TARGET SAMPLES_DIR OUT_DIR
  pipeline: every capture file (pcap, pcapng) as it is.
  dissect:  every distinct frame of every capture, prefixed with the byte that makes
            fuzz_dissect.c pick that capture's link type.
  decompress: the first DECOMPRESS_BYTES of every fourth capture compressed by gzip, zstd, lz4 and
            xz (the last two by their command-line tools), and cut in half.
  pcap_map: the first PCAP_MAP_BYTES of every classic pcap capture (its last record cut: a
            hand-over), and the whole of those no longer than that.
Files are named by the SHA-1 of their content, as libFuzzer names corpus files, so running this
again adds nothing twice. Prints how many seeds it wrote.
"""
import gzip
import hashlib
import lzma
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
import capfile  # noqa: E402

# Link type stored in a file -> the selector byte of fuzz_dissect.c's table (same order there).
SELECTOR = {1: 0, 113: 1, 276: 2, 12: 3, 101: 4, 228: 5, 229: 6, 0: 7, 108: 8, 239: 10}


DECOMPRESS_BYTES = 2048
PCAP_MAP_BYTES = 4096
CLASSIC_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


def compressed(data):
    """`data` compressed by each format, whole and cut in half."""
    out = [gzip.compress(data, mtime=0), lzma.compress(data)]
    for tool in ("zstd", "lz4"):
        out.append(subprocess.run([tool, "-q", "-c"], input=data, capture_output=True,
                                  check=True).stdout)
    return out + [z[:len(z) // 2] for z in out]


def captures(samples):
    for path in sorted(samples.iterdir()):
        if path.suffix in (".pcap", ".pcapng") and path.is_file():
            yield path


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("dissect", "pipeline", "decompress", "pcap_map"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    target, samples, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {}
    for i, path in enumerate(captures(samples)):
        data = path.read_bytes()
        if target == "decompress" and i % 4:
            continue  # every fourth capture: the decoders do not care what the capture holds
        if target == "pipeline":
            seeds[hashlib.sha1(data).hexdigest()] = data
            continue
        if target == "pcap_map":
            if data[:4] in CLASSIC_MAGICS:
                seed = data[:PCAP_MAP_BYTES]
                seeds[hashlib.sha1(seed).hexdigest()] = seed
            continue
        if target == "decompress":
            for seed in compressed(data[:DECOMPRESS_BYTES]):
                seeds[hashlib.sha1(seed).hexdigest()] = seed
            continue
        try:
            cap = capfile.Capture(data)
        except ValueError:
            continue
        for rec in cap.records:
            if rec.linktype not in SELECTOR:
                continue
            seed = bytes([SELECTOR[rec.linktype]]) + cap.frame(rec)
            seeds[hashlib.sha1(seed).hexdigest()] = seed
    for name, seed in seeds.items():
        (out / name).write_bytes(seed)
    print(f"make-seeds: {len(seeds)} {target} seeds from {samples} in {out}")
    return 0 if seeds else 1


if __name__ == "__main__":
    sys.exit(main())
