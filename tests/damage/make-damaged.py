#!/usr/bin/env python3
"""Derives damaged captures from the sample captures, the way files come back from the field.

Usage: make-damaged.py SAMPLES_DIR OUT_DIR      writes every case and OUT_DIR/manifest.json
       (tests/e2e/check_damaged.py imports generate() and runs tcpmortem on each case)

Every case is deterministic (positions and flipped bytes come from a PRNG seeded with the sample's
name and the kind of damage), so a failure can be reproduced by name. Kinds:

  cut_header          the file cut inside its file header (pcap) or Section Header Block
  cut_boundary        cut exactly between two records (blocks): a valid, shorter capture
  cut_record_header   cut inside a record header (pcapng: inside a block header)
  cut_frame           cut inside a record's frame bytes
  cut_trailer         pcapng: cut inside a block's trailing length
  flip_record_header  one byte of a record header flipped (timestamp, lengths; pcapng: block
                      type, block length, interface, timestamp, lengths, trailer)
  flip_ip             one byte of a frame's IP header flipped
  flip_tcp            one byte of a frame's TCP header flipped (in a tunnel: of the UDP, GRE
                      or IP header after the outer IP header)
  flip_encap          a frame that is no plain IP/TCP (a tunnel, MPLS, PPPoE, NFLOG): one byte of
                      its first 64 flipped, where the outer layers are
  snaplen_small       the file header's (pcapng: the interface's) snaplen lowered to 96, below
                      most records' caplen
  caplen_over_max     a record's caplen above any snaplen libpcap accepts (262144)
  caplen_past_eof     a record's caplen running past the end of the file
  zero_length         a record with caplen 0 inserted (wire length 0 or 60)
  ts_back_one         one record's timestamp an hour earlier than its neighbours
  ts_back_rest        every record from one on a day earlier than the ones before
  link_unsupported    the link type changed to one tcpmortem does not read (147, 65535)
  link_other          the link type changed to another one it reads (Ethernet <-> raw IP)
  unknown_block       pcapng: a block of an unknown type (and a custom block) inserted
  big_block           pcapng: a 300 KB unknown block inserted
  oversized_block     pcapng: a block whose length runs past the end of the file, or is larger
                      than libpcap accepts (0xFFFFFFF0)
  bad_block_length    pcapng: a block length that is not a multiple of 4
  epb_caplen_over     pcapng: an Enhanced Packet Block's caplen larger than its block
  second_section      pcapng: a new section (Section Header and Interface Description Blocks)
                      starting before a record
  compressed_cut      the capture compressed (gzip, zstd, lz4 or xz, one per sample in turn),
                      the compressed file cut: damaged part way, the records a reference
                      decoder recovers from the cut file still read
  compressed_flip     one byte of the compressed data flipped (past the format's magic)
  compressed_trailing bytes that are not compressed data after the end of the stream

Every pcap sample is also converted to pcapng (microsecond or nanosecond resolution as the pcap
was) so the pcapng kinds apply to every ending, not only to the pcapng samples.

A sample larger than SAMPLE_BYTES_MAX is first cut after its last whole record within that many
bytes (a valid capture), and its cases are derived from that: damage is about structure, not
size, and the test stays quick as samples grow.

Sampling: the cut kinds use every record (block boundary) of a sample up to CUT_POSITIONS of
them, the other per-record kinds PER_RECORD_POSITIONS records, the pcapng block insertions
PCAPNG_POSITIONS (the 300 KB block only before the first record); in the pcapng conversions the
cuts too use PER_RECORD_POSITIONS. Beyond those counts, positions are evenly spaced over the file
(first and last included), so the number of cases stays bounded as samples grow.

Each case says what it expects (DESIGN §5): the exit statuses allowed, and `intact_records`: how
many records at the start of the file are read exactly as in the sample; every connection whose
segments all lie in those records must still be in the report, classified as before.
"""
import gzip
import json
import lzma
import pathlib
import random
import shutil
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
import capfile  # noqa: E402

CUT_POSITIONS = 24
PER_RECORD_POSITIONS = 6
PCAPNG_POSITIONS = 3
SAMPLE_BYTES_MAX = 64 * 1024
LINKTYPE_UNSUPPORTED = (147, 65535)
MAX_SNAPLEN = 262144  # libpcap's largest accepted caplen for these link types


class Case:
    def __init__(self, name, sample, kind, data, expect, intact_records, check_flows=True):
        self.name = name
        self.sample = sample               # the sample's file name
        self.kind = kind
        self.data = bytes(data)
        self.expect = sorted(expect)       # allowed exit statuses
        self.intact_records = intact_records
        self.check_flows = check_flows     # False when the frames themselves mean something else

    def manifest(self):
        return {"name": self.name, "sample": self.sample, "kind": self.kind,
                "expect": self.expect, "intact_records": self.intact_records,
                "check_flows": self.check_flows, "bytes": len(self.data)}


def positions(n, limit):
    """Indexes 0..n-1, all of them up to `limit`, else `limit` evenly spaced ones."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


# ---- pcapng building blocks ------------------------------------------------------------------

def block(e, btype, body):
    body = bytes(body) + b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(e + "II", btype, length) + body + struct.pack(e + "I", length)


def shb(e):
    return block(e, capfile.PCAPNG_SHB, struct.pack(e + "IHHq", capfile.PCAPNG_BOM, 1, 0, -1))


def idb(e, linktype, snaplen, nano):
    # if_tsresol (9): 6 = microseconds, 9 = nanoseconds; then opt_endofopt.
    options = struct.pack(e + "HHB3x", 9, 1, 9 if nano else 6) + struct.pack(e + "HH", 0, 0)
    return block(e, capfile.BT_IDB, struct.pack(e + "HHI", linktype, 0, snaplen) + options)


def epb(e, ts, frame, wirelen=None):
    wirelen = len(frame) if wirelen is None else wirelen
    return block(e, capfile.BT_EPB,
                 struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), wirelen) + frame)


def to_pcapng(cap):
    """A classic pcap capture as pcapng, one interface, the same frames and timestamps."""
    e = "<"
    out = bytearray(shb(e) + idb(e, cap.linktype, cap.snaplen or MAX_SNAPLEN, cap.nano))
    for rec in cap.records:
        sec, frac, _, wirelen = struct.unpack_from(cap.endian + "IIII", cap.data, rec.offset)
        ts = sec * (10**9 if cap.nano else 10**6) + frac
        out += epb(e, ts, cap.frame(rec), wirelen)
    return bytes(out)


# ---- the damage ------------------------------------------------------------------------------

def flip(data, off, rng):
    data[off] ^= rng.randrange(1, 256)


def pcap_cases(name, cap):
    d, e, recs = cap.data, cap.endian, cap.records
    n = len(recs)
    rng = random.Random(f"{name}:pcap")
    yield Case(f"{name}.cut_header", name, "cut_header", d[:cap.header_len // 2], {2}, 0, False)
    for i in positions(n, CUT_POSITIONS):
        r = recs[i]
        yield Case(f"{name}.cut_boundary.{i}", name, "cut_boundary", d[:r.offset], {0}, i)
        yield Case(f"{name}.cut_record_header.{i}", name, "cut_record_header", d[:r.offset + 7],
                   {1}, i)
        if r.caplen >= 2:
            yield Case(f"{name}.cut_frame.{i}", name, "cut_frame",
                       d[:r.data_offset + r.caplen // 2], {1}, i)
    for i in positions(n, PER_RECORD_POSITIONS):
        r = recs[i]
        # Record header: ts_sec, ts_frac, caplen, len; any byte of it.
        b = bytearray(d)
        flip(b, r.offset + rng.randrange(16), rng)
        yield Case(f"{name}.flip_record_header.{i}", name, "flip_record_header", b, {0, 1}, i)
        yield from header_flips(name, cap, i, rng)
        b = bytearray(d)
        struct.pack_into(e + "I", b, r.offset + 8, MAX_SNAPLEN + 1 + rng.randrange(1 << 20))
        yield Case(f"{name}.caplen_over_max.{i}", name, "caplen_over_max", b, {1}, i)
        b = bytearray(d)
        struct.pack_into(e + "I", b, r.offset + 8, len(d) - r.data_offset + 1)
        yield Case(f"{name}.caplen_past_eof.{i}", name, "caplen_past_eof", b, {1}, i)
        sec, frac = struct.unpack_from(e + "II", d, r.offset)
        for wirelen in (0, 60):
            zero = struct.pack(e + "IIII", sec, frac, 0, wirelen)
            yield Case(f"{name}.zero_length.{wirelen}.{i}", name, "zero_length",
                       d[:r.offset] + zero + d[r.offset:], {0}, i)
        b = bytearray(d)
        struct.pack_into(e + "I", b, r.offset, max(sec - 3600, 0))
        yield Case(f"{name}.ts_back_one.{i}", name, "ts_back_one", b, {0}, i)
        b = bytearray(d)
        for later in recs[i:]:
            s = struct.unpack_from(e + "I", d, later.offset)[0]
            struct.pack_into(e + "I", b, later.offset, max(s - 86400, 0))
        yield Case(f"{name}.ts_back_rest.{i}", name, "ts_back_rest", b, {0}, i)
    b = bytearray(d)
    struct.pack_into(e + "I", b, 16, 96)
    first_long = next((i for i, r in enumerate(recs) if r.caplen > 96), n)
    yield Case(f"{name}.snaplen_small", name, "snaplen_small", b, {0}, first_long)
    for lt in LINKTYPE_UNSUPPORTED:
        b = bytearray(d)
        struct.pack_into(e + "I", b, 20, lt)
        yield Case(f"{name}.link_unsupported.{lt}", name, "link_unsupported", b, {2}, 0, False)
    b = bytearray(d)
    struct.pack_into(e + "I", b, 20, 101 if cap.linktype == 1 else 1)
    yield Case(f"{name}.link_other", name, "link_other", b, {0}, 0, False)


def header_flips(name, cap, i, rng):
    """One flipped byte in the IP header and one in the TCP header of record i; in the outer
    layers too when the frame is not plain IP/TCP."""
    r = cap.records[i]
    frame = cap.frame(r)
    start = capfile._ip_start(r.linktype, frame)  # noqa: SLF001 (same package, test helper)
    if frame and capfile.tcp_endpoints(r.linktype, frame) is None:
        b = bytearray(cap.data)
        flip(b, r.data_offset + rng.randrange(min(64, len(frame))), rng)
        yield Case(f"{name}.flip_encap.{i}", name, "flip_encap", b, {0}, i)
    if start is None or start[0] >= len(frame):
        return
    ip = start[0]
    version = frame[ip] >> 4
    ip_len = (frame[ip] & 0x0F) * 4 if version == 4 else 40
    tcp = ip + ip_len
    if tcp + 20 > len(frame):
        return
    tcp_len = max((frame[tcp + 12] >> 4) * 4, 20)
    for kind, lo, hi in (("flip_ip", ip, tcp), ("flip_tcp", tcp, min(tcp + tcp_len, len(frame)))):
        b = bytearray(cap.data)
        flip(b, r.data_offset + lo + rng.randrange(hi - lo), rng)
        yield Case(f"{name}.{kind}.{i}", name, kind, b, {0}, i)


def pcapng_cases(name, cap, cut_limit=CUT_POSITIONS):
    d, e, recs = cap.data, cap.endian, cap.records
    n = len(recs)
    rng = random.Random(f"{name}:pcapng")
    first_idb_end = next((off + ln for off, t, ln in cap.blocks if t == capfile.BT_IDB), None)
    yield Case(f"{name}.cut_header", name, "cut_header", d[:cap.header_len // 2], {2}, 0, False)
    # Block boundaries, in file order; how many records lie wholly before each.
    cuts = [(off, sum(1 for r in recs if r.end <= off)) for off, _, _ in cap.blocks[1:]]
    for k in positions(len(cuts), cut_limit):
        off, intact = cuts[k]
        expect = {0} if first_idb_end is not None and off >= first_idb_end else {2}
        yield Case(f"{name}.cut_boundary.{k}", name, "cut_boundary", d[:off], expect, intact)
    for i in positions(n, cut_limit):
        r = recs[i]
        yield Case(f"{name}.cut_record_header.{i}", name, "cut_record_header", d[:r.offset + 6],
                   {1}, i)
        if r.caplen >= 2:
            yield Case(f"{name}.cut_frame.{i}", name, "cut_frame",
                       d[:r.data_offset + r.caplen // 2], {1}, i)
        yield Case(f"{name}.cut_trailer.{i}", name, "cut_trailer", d[:r.end - 2], {1}, i)
    for i in positions(n, PER_RECORD_POSITIONS):
        r = recs[i]
        b = bytearray(d)
        # Block type, block length, interface, timestamp (8), caplen, origlen: bytes 0..27.
        flip(b, r.offset + rng.randrange(28), rng)
        yield Case(f"{name}.flip_record_header.{i}", name, "flip_record_header", b, {0, 1}, i)
        b = bytearray(d)
        flip(b, r.end - 4 + rng.randrange(4), rng)
        yield Case(f"{name}.flip_record_trailer.{i}", name, "flip_record_header", b, {0, 1}, i)
        yield from header_flips(name, cap, i, rng)
        b = bytearray(d)
        struct.pack_into(e + "I", b, r.offset + 20, len(d))  # caplen past the block and the file
        yield Case(f"{name}.epb_caplen_over.{i}", name, "epb_caplen_over", b, {1}, i)
        hi, lo = struct.unpack_from(e + "II", d, r.offset + 12)
        ts = (hi << 32 | lo)
        for wirelen in (0, 60):
            zero = epb(e, ts, b"", wirelen)
            yield Case(f"{name}.zero_length.{wirelen}.{i}", name, "zero_length",
                       d[:r.offset] + zero + d[r.offset:], {0}, i)
        b = bytearray(d)
        earlier = max(ts - 3600 * 10**6, 0)
        struct.pack_into(e + "II", b, r.offset + 12, earlier >> 32, earlier & 0xFFFFFFFF)
        yield Case(f"{name}.ts_back_one.{i}", name, "ts_back_one", b, {0}, i)
    for i in positions(n, PCAPNG_POSITIONS):
        r = recs[i]
        before, after = d[:r.offset], d[r.offset:]
        unknown = block(e, 0x12345678, bytes(rng.randrange(256) for _ in range(16)))
        custom = block(e, 0x00000BAD, struct.pack(e + "I", 32473) + b"tcpmortem")
        yield Case(f"{name}.unknown_block.{i}", name, "unknown_block",
                   before + unknown + custom + after, {0}, n)
        if i == 0:
            yield Case(f"{name}.big_block.{i}", name, "big_block",
                       before + block(e, 0x12345678, bytes(300 * 1024)) + after, {0}, n)
        past_eof = struct.pack(e + "II", 0x12345678, len(d) + 4096) + bytes(16)
        yield Case(f"{name}.oversized_block.eof.{i}", name, "oversized_block",
                   before + past_eof + after, {1}, i)
        huge = struct.pack(e + "II", 0x12345678, 0xFFFFFFF0) + bytes(16)
        yield Case(f"{name}.oversized_block.huge.{i}", name, "oversized_block",
                   before + huge + after, {1}, i)
        odd = struct.pack(e + "II", 0x12345678, 21) + bytes(16)
        yield Case(f"{name}.bad_block_length.{i}", name, "bad_block_length",
                   before + odd + after, {1}, i)
        section = d[:cap.header_len] + b"".join(
            d[off:off + ln] for off, t, ln in cap.blocks if t == capfile.BT_IDB)
        # libpcap 1.10 maps the first interface's LINKTYPE_RAW (101) to DLT_RAW (12), then
        # compares a later section's interface unmapped and calls it a different link type: a
        # damaged-capture error (exit 1) for raw IP files. Other link types read on (exit 0).
        yield Case(f"{name}.second_section.{i}", name, "second_section",
                   before + section + after, *(({0, 1}, i) if cap.linktype == 101 else ({0}, n)))
    idb_off = next((off for off, t, _ in cap.blocks if t == capfile.BT_IDB), None)
    if idb_off is not None:
        # The interface's snaplen below most records' caplen: libpcap reads a classic pcap
        # record like that cut to the snaplen, but calls a pcapng one invalid (exit 1).
        b = bytearray(d)
        struct.pack_into(e + "I", b, idb_off + 12, 96)
        first_long = next((i for i, r in enumerate(recs) if r.caplen > 96), None)
        if first_long is not None:
            yield Case(f"{name}.snaplen_small", name, "snaplen_small", b, {1}, first_long)
        for lt in LINKTYPE_UNSUPPORTED:
            b = bytearray(d)
            struct.pack_into(e + "H", b, idb_off + 8, lt)
            yield Case(f"{name}.link_unsupported.{lt}", name, "link_unsupported", b, {2}, 0,
                       False)
        b = bytearray(d)
        struct.pack_into(e + "H", b, idb_off + 8, 101 if cap.linktype == 1 else 1)
        yield Case(f"{name}.link_other", name, "link_other", b, {0}, 0, False)


COMPRESSORS = ("gzip", "zstd", "lz4", "xz")
COMPRESSED_CUTS = 3


def compress(fmt, data):
    """`data` compressed as the format's command-line tool writes it (deterministic)."""
    if fmt == "gzip":
        return gzip.compress(data, mtime=0)
    if fmt == "xz":
        return lzma.compress(data)
    return subprocess.run([fmt, "-q", "-c"], input=data, capture_output=True, check=True).stdout


def decoded_prefix(fmt, data):
    """What a reference decoder recovers from the (cut) compressed `data`."""
    if fmt == "gzip":
        return zlib.decompressobj(16 + 15).decompress(data)
    if fmt == "xz":
        try:
            return lzma.LZMADecompressor().decompress(data)
        except lzma.LZMAError:
            return b""
    return subprocess.run([fmt, "-q", "-d", "-c"], input=data, capture_output=True).stdout


def whole_records(cap, n_bytes):
    """Records (pcapng: data blocks) wholly within the first n_bytes of the capture."""
    return sum(1 for r in cap.records if r.end <= n_bytes)


def compressed_cases(name, cap, fmt):
    """The capture compressed with `fmt`, then damaged."""
    z = compress(fmt, cap.data)
    for k in range(1, COMPRESSED_CUTS + 1):
        cut = len(z) * k // (COMPRESSED_CUTS + 1)
        got = decoded_prefix(fmt, z[:cut])
        # Nothing decoded as far as the header: the capture cannot be opened at all.
        expect = {1} if len(got) > cap.header_len + 64 else {1, 2}
        yield Case(f"{name}.{fmt}.compressed_cut.{k}", name, "compressed_cut", z[:cut], expect,
                   whole_records(cap, len(got)))
    rng = random.Random(f"{name}/{fmt}/flip")
    for k in range(2):
        b = bytearray(z)
        flip(b, rng.randrange(8, len(b)), rng)
        # Whatever decodes before the flip is checked is analysed: the report is only asked to
        # be complete, with the damage named.
        yield Case(f"{name}.{fmt}.compressed_flip.{k}", name, "compressed_flip", b, {0, 1, 2},
                   0, False)
    yield Case(f"{name}.{fmt}.compressed_trailing", name, "compressed_trailing",
               z + b"not compressed data\n", {1}, len(cap.records))


def samples_in(samples_dir):
    for path in sorted(pathlib.Path(samples_dir).iterdir()):
        if path.suffix in (".pcap", ".pcapng") and path.is_file():
            yield path


def first_bytes(cap, limit):
    """The capture cut after its last whole record (pcapng: block) within `limit` bytes, or all
    of it when it is smaller."""
    if len(cap.data) <= limit:
        return cap
    if cap.format == "pcap":
        ends = [r.end for r in cap.records if r.end <= limit]
    else:
        ends = [off + length for off, _, length in cap.blocks if off + length <= limit]
    return capfile.Capture(cap.data[:max(ends or [cap.header_len])])


def generate(samples_dir):
    """(sample name -> sample bytes, list of Case), the samples' pcapng conversions included."""
    samples, cases = {}, []
    tools = all(shutil.which(t) for t in ("zstd", "lz4"))
    for i, path in enumerate(samples_in(samples_dir)):
        cap = first_bytes(capfile.Capture(path.read_bytes()), SAMPLE_BYTES_MAX)
        samples[path.name] = cap.data
        fmt = COMPRESSORS[i % len(COMPRESSORS)]
        if tools or fmt in ("gzip", "xz"):
            cases += compressed_cases(path.name, cap, fmt)
        if cap.format == "pcap":
            cases += pcap_cases(path.name, cap)
            conv_name = path.stem + ".as.pcapng"
            conv = capfile.Capture(to_pcapng(cap))
            samples[conv_name] = conv.data
            cases += pcapng_cases(conv_name, conv, PER_RECORD_POSITIONS)
        else:
            cases += pcapng_cases(path.name, cap)
    return samples, cases


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    samples, cases = generate(sys.argv[1])
    for name, data in samples.items():
        (out / name).write_bytes(data)
    for case in cases:
        (out / case.name).write_bytes(case.data)
    (out / "manifest.json").write_text(json.dumps([c.manifest() for c in cases], indent=1))
    print(f"make-damaged: {len(cases)} damaged files from {len(samples)} captures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
