#!/usr/bin/env python3
"""Writes adversarial TCP traffic as a pcap stream (Ethernet, IPv4) to standard output.

Usage: gen-traffic.py SCENARIO PACKETS [--seed N] | tcpmortem -
Meant for a pipe: nothing is stored, the stream is made as it is read. Deterministic for a seed.
Addresses are from 198.51.100.0/24 (RFC 5737) and 2001:db8::/64 (RFC 3849); timestamps start at 2025-11-24 16:00 UTC and
advance 1 microsecond per packet.

Scenarios (PACKETS is the total, whatever the scenario does with it):
  syn_flood     SYNs from random ports of random 198.51.100.0/24 addresses to one server port,
                random sequence numbers, never answered (the same 4-tuple may come back with a
                new ISN: port reuse)
  half_open     as many simultaneous half-open connections as fit: SYN and SYN+ACK, no final
                ACK, every 4-tuple distinct, none ever closed
  seq_wrap      connections whose initial sequence numbers sit just below 2^32, so both
                directions wrap through zero mid-flow while data and ACKs flow; closed with FINs
  wscale14      connections negotiating window scale 14 with 65535-unit windows (~1 GiB), bulk
                data, zero windows now and then, FIN close
  rst_flood     RSTs with random sequence numbers from random addresses and ports (half of them
                from random 2001:db8::/64 addresses, all different), and a burst of them into
                one live connection
  overlap       one connection after another, each retransmitting overlapping ranges carrying
                different bytes than the first time (partial and complete overlaps, and
                segments starting inside earlier ones)
  mix           all of the above, interleaved packet by packet
"""
import argparse
import random
import struct
import sys

LINKTYPE_ETHERNET = 1
T0_US = 1764000000 * 1000000
SERVER = bytes([198, 51, 100, 2])
SERVER_PORT = 443
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
ETH = bytes.fromhex("020000000002" "020000000001" "0800")
ETH6 = bytes.fromhex("020000000002" "020000000001" "86dd")
SERVER6 = bytes.fromhex("20010db8000000000000000000000002")
FLUSH_BYTES = 1 << 16


class Writer:
    """pcap records into a buffer flushed to stdout; one template per payload length."""

    def __init__(self, out):
        self.out = out
        self.buf = bytearray()
        self.n = 0
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))

    def packet(self, src, sport, dst, dport, seq, ack, flags, window=65535, payload=b"",
               options=b""):
        tcp_len = 20 + len(options)
        ip_len = 20 + tcp_len + len(payload)
        ts = T0_US + self.n
        self.n += 1
        if len(src) == 4:
            frame_len = 14 + ip_len
            self.buf += struct.pack("<IIII", ts // 1000000, ts % 1000000, frame_len, frame_len)
            self.buf += ETH
            self.buf += struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, self.n & 0xFFFF, 0x4000,
                                    64, 6, 0, src, dst)
        else:
            frame_len = 14 + 20 + ip_len
            self.buf += struct.pack("<IIII", ts // 1000000, ts % 1000000, frame_len, frame_len)
            self.buf += ETH6
            self.buf += struct.pack(">IHBB16s16s", 6 << 28, ip_len - 20, 6, 64, src, dst)
        self.buf += struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                (tcp_len // 4) << 4, flags, window, 0, 0)
        self.buf += options
        self.buf += payload
        if len(self.buf) >= FLUSH_BYTES:
            self.flush()

    def flush(self):
        self.out.write(self.buf)
        self.buf.clear()


def client_addr(i):
    """The i-th distinct client address of 198.51.100.0/24 other than .0, .2 and .255."""
    return bytes([198, 51, 100, (3 + i % 250)])


def client_endpoint(i):
    """The i-th client address and port, 4-tuples in order: 250 addresses x 64512 ports, 16
    million distinct connections."""
    return client_addr(i), 1024 + (i // 250) % 64512


def syn_synack(w, src, sport, isn_c, isn_s, opts=None, windows=(65535, 65535)):
    """A connection's SYN and the server's SYN+ACK, both with options `opts` (MSS_WS when
    None); no third ACK."""
    opts = MSS_WS if opts is None else opts
    w.packet(src, sport, SERVER, SERVER_PORT, isn_c, 0, SYN, windows[0], options=opts)
    yield
    w.packet(SERVER, SERVER_PORT, src, sport, isn_s, isn_c + 1, SYN | ACK, windows[1],
             options=opts)
    yield


def fin_close(w, src, sport, c, s):
    """The client's FIN, the server's FIN and the last ACK; c and s are the client's and the
    server's next sequence numbers."""
    w.packet(src, sport, SERVER, SERVER_PORT, c, s, FIN | ACK, 65535)
    yield
    w.packet(SERVER, SERVER_PORT, src, sport, s, c + 1, FIN | ACK, 65535)
    yield
    w.packet(src, sport, SERVER, SERVER_PORT, c + 1, s + 1, ACK, 65535)
    yield


def syn_flood(w, rng, count):
    for _ in range(count):
        w.packet(client_addr(rng.randrange(250)), rng.randrange(1024, 65536), SERVER, SERVER_PORT,
                 rng.getrandbits(32), 0, SYN, 64240, options=MSS_WS)
        yield


def half_open(w, rng, count):
    for i in range(count // 2):
        src, sport = client_endpoint(i)
        isn, sisn = rng.getrandbits(32), rng.getrandbits(32)
        yield from syn_synack(w, src, sport, isn, sisn, windows=(64240, 65160))


def conversation(w, rng, i, isn_c, isn_s, segments, payload, wscale=None, zero_every=0):
    """Handshake, `segments` data segments client -> server each ACKed, then a FIN close."""
    src, sport = client_endpoint(i)
    opts = MSS_WS if wscale is None else mss_ws(wscale)
    yield from syn_synack(w, src, sport, isn_c, isn_s, opts)
    c, s = isn_c + 1, isn_s + 1
    w.packet(src, sport, SERVER, SERVER_PORT, c, s, ACK, 65535)
    yield
    for k in range(segments):
        w.packet(src, sport, SERVER, SERVER_PORT, c, s, ACK | PSH, 65535, payload)
        yield
        c += len(payload)
        window = 0 if zero_every and k % zero_every == zero_every - 1 else 65535
        w.packet(SERVER, SERVER_PORT, src, sport, s, c, ACK, window)
        yield
    yield from fin_close(w, src, sport, c, s)


def seq_wrap(w, rng, count):
    payload = bytes(1000)
    i = 0
    while True:
        # 200 segments of 1000 bytes: both ISNs less than that below 2^32, so both wrap.
        isn_c = (1 << 32) - rng.randrange(1000, 150000)
        isn_s = (1 << 32) - rng.randrange(1, 3)
        yield from conversation(w, rng, i, isn_c, isn_s, 200, payload)
        i += 1


def wscale14(w, rng, count):
    payload = bytes(1400)
    i = 0
    while True:
        yield from conversation(w, rng, i, rng.getrandbits(32), rng.getrandbits(32), 300, payload,
                                wscale=14, zero_every=50)
        i += 1


def rst_flood(w, rng, count):
    live = conversation(w, rng, 0, rng.getrandbits(32), rng.getrandbits(32), 10**9, bytes(10))
    for k in range(count):
        if k % 100 < 3:
            next(live)  # a live connection goes on under the flood...
        elif k % 100 == 3:
            # ...and takes a burst of in-window and out-of-window resets.
            w.packet(client_addr(0), 1024, SERVER, SERVER_PORT, rng.getrandbits(32), 0, RST, 0)
        elif k & 2:
            src = bytes([198, 51, 100, rng.randrange(3, 255)])
            w.packet(src, rng.randrange(1024, 65536), SERVER, rng.randrange(1, 65536),
                     rng.getrandbits(32), rng.getrandbits(32), RST | (ACK if k & 1 else 0), 0)
        else:
            src = SERVER6[:8] + rng.getrandbits(64).to_bytes(8, "big")
            w.packet(src, rng.randrange(1024, 65536), SERVER6, rng.randrange(1, 65536),
                     rng.getrandbits(32), rng.getrandbits(32), RST | (ACK if k & 1 else 0), 0)
        yield


def overlap(w, rng, count):
    i = 0
    while True:
        src, sport = client_endpoint(i)
        c, s = rng.getrandbits(32), rng.getrandbits(32)
        yield from syn_synack(w, src, sport, c, s)
        c += 1
        s += 1
        base = c
        for k in range(100):
            length = 200 + rng.randrange(800)
            data = bytes([k & 0xFF]) * length
            w.packet(src, sport, SERVER, SERVER_PORT, c, s, ACK | PSH, 65535, data)
            yield
            # Retransmit a range overlapping the last segment, with different bytes: starting
            # before it, inside it, or covering it and more.
            start = c - rng.randrange(0, min(c - base, 1500) + 1)
            over = bytes([(k + 1) & 0xFF]) * (c + length - start + rng.randrange(0, 300))
            w.packet(src, sport, SERVER, SERVER_PORT, start, s, ACK | PSH, 65535, over)
            yield
            c = start + len(over)
            w.packet(SERVER, SERVER_PORT, src, sport, s, c, ACK, 65535)
            yield
        yield from fin_close(w, src, sport, c, s)
        i += 1


def mss_ws(shift):
    # MSS 1460, NOP, window scale `shift`, NOP padding to a multiple of 4.
    return struct.pack(">BBH", 2, 4, 1460) + struct.pack(">BBBB", 1, 3, 3, shift)


MSS_WS = mss_ws(7)

SCENARIOS = {"syn_flood": syn_flood, "half_open": half_open, "seq_wrap": seq_wrap,
             "wscale14": wscale14, "rst_flood": rst_flood, "overlap": overlap}


def mix(w, rng, count):
    # Each scenario gets its own 198.51.100.x/port ranges by construction only partly; overlaps
    # between them are part of the test (a RST into a wrapped connection, a SYN on a half-open
    # 4-tuple, ...).
    gens = [f(w, random.Random(rng.random()), count) for f in SCENARIOS.values()]
    while True:
        for g in gens:
            next(g)
            yield


SCENARIOS["mix"] = mix


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("packets", type=int)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = sys.stdout.buffer
    w = Writer(out)
    gen = SCENARIOS[args.scenario](w, random.Random(args.seed), args.packets)
    try:
        for _ in range(args.packets):
            next(gen)
        w.flush()
        out.flush()
    except BrokenPipeError:
        return 1
    except StopIteration:
        w.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
