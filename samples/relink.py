#!/usr/bin/env python3
"""Rewrite a real capture into another link type or file format, leaving the IP/TCP bytes alone.

Usage:
    relink.py vlan [--vid N] [--pcp P] IN.pcap OUT.pcap     Ethernet -> 802.1Q tagged Ethernet
    relink.py qinq [--outer N] [--vid M] IN.pcap OUT.pcap   Ethernet -> QinQ (802.1ad)
    relink.py raw IN.pcap OUT.pcap                          Ethernet -> raw IP (LINKTYPE_RAW)
    relink.py loopback [--af6 N] IN.pcap OUT.pcap           Ethernet -> BSD loopback (LINKTYPE_NULL)
    relink.py pcapng IN.pcap OUT.pcapng                     pcap (any link type) -> pcapng

Input is a classic pcap file (microsecond or nanosecond, either byte order). Every record keeps
its timestamp, and only the link-layer header is changed:

  vlan      inserts one 802.1Q tag (TPID 0x8100, PCP --pcp default 0, DEI 0, VID --vid default
            100) between the source MAC address and the EtherType.
  qinq      inserts two tags: an outer 802.1ad service tag (TPID 0x88a8, VID --outer default
            200) and an inner 802.1Q customer tag (TPID 0x8100, VID --vid default 100).
  raw       removes the Ethernet header (and any VLAN tags); the link type becomes
            LINKTYPE_RAW (101): every record starts with the IPv4 or IPv6 header.
  loopback  replaces the Ethernet header by the 4-byte address family of DLT_NULL / LINKTYPE_NULL
            (0), written in the byte order of the output file (the "host order" of the machine
            that wrote it, which readers detect from the file's magic): 2 for IPv4, --af6
            (default 24, the NetBSD/OpenBSD value; FreeBSD uses 28, macOS 30) for IPv6.
  pcapng    writes a pcapng file in the input's byte order: one Section Header Block (with an
            shb_userappl option), one Interface Description Block (the input's link type and
            snaplen; if_tsresol = 9 when the input has nanosecond timestamps, no if_tsresol,
            i.e. the default microseconds, otherwise) and one Enhanced Packet Block per record.

Caplen and original length grow or shrink by the bytes added or removed; the snaplen field grows
when a tag would make a record longer than it. Frames that are not IPv4/IPv6 over Ethernet are
an error for raw and loopback (the sample captures only hold TCP). Standard library only.
"""

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'lib'))
import capfile  # noqa: E402

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
TPID_8021Q, TPID_8021AD = 0x8100, 0x88A8
VLAN_TPIDS = (TPID_8021Q, TPID_8021AD, 0x9100)
MAGIC_US, MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D


class Pcap:
    """A classic pcap file read whole (with tests/lib/capfile.py): header fields and records
    (sec, frac, caplen, origlen, data)."""

    def __init__(self, path):
        try:
            cap = capfile.read(path)
        except ValueError as e:
            raise SystemExit('%s: %s' % (path, e))
        if cap.format != 'pcap':
            raise SystemExit('%s: not a classic pcap file (pcapng input is not supported)' % path)
        self.endian, self.nano = cap.endian, cap.nano
        (self.major, self.minor), self.thiszone, self.sigfigs = cap.version, cap.thiszone, \
            cap.sigfigs
        self.snaplen, self.linktype = cap.snaplen, cap.linktype
        if cap.records and cap.records[-1].end != len(cap.data) or \
                not cap.records and len(cap.data) != cap.header_len:
            raise SystemExit('%s: truncated record at the end' % path)
        self.records = [rec.ts + (rec.caplen, rec.origlen, cap.frame(rec))
                        for rec in cap.records]

    def write(self, path, linktype, records):
        e = self.endian
        snaplen = max([self.snaplen] + [r[2] for r in records])
        out = [struct.pack(e + 'IHHiIII', MAGIC_NS if self.nano else MAGIC_US, self.major,
                           self.minor, self.thiszone, self.sigfigs, snaplen, linktype)]
        for sec, frac, caplen, origlen, data in records:
            out.append(struct.pack(e + 'IIII', sec, frac, caplen, origlen))
            out.append(data)
        with open(path, 'wb') as f:
            f.write(b''.join(out))


def split_ethernet(data):
    """(header bytes up to and including the EtherType, EtherType, payload) skipping tags."""
    off = 12
    while True:
        if len(data) < off + 2:
            raise SystemExit('frame too short for Ethernet')
        etype = struct.unpack('!H', data[off:off + 2])[0]
        if etype in VLAN_TPIDS:
            off += 4
            continue
        return data[:off + 2], etype, data[off + 2:]


def retag(pcap, tags):
    """Insert the given (TPID, TCI) tags, outermost first, after the MAC addresses."""
    if pcap.linktype != LINKTYPE_ETHERNET:
        raise SystemExit('input link type %d is not Ethernet' % pcap.linktype)
    ins = b''.join(struct.pack('!HH', tpid, tci) for tpid, tci in tags)
    recs = []
    for sec, frac, caplen, origlen, data in pcap.records:
        if caplen < 12:
            raise SystemExit('frame too short for Ethernet')
        recs.append((sec, frac, caplen + len(ins), origlen + len(ins),
                     data[:12] + ins + data[12:]))
    return LINKTYPE_ETHERNET, recs


def strip_ethernet(pcap, prefix_for):
    if pcap.linktype != LINKTYPE_ETHERNET:
        raise SystemExit('input link type %d is not Ethernet' % pcap.linktype)
    recs = []
    for sec, frac, caplen, origlen, data in pcap.records:
        head, etype, rest = split_ethernet(data)
        if etype not in (ETH_IPV4, ETH_IPV6):
            raise SystemExit('frame with EtherType 0x%04x is not IP' % etype)
        prefix = prefix_for(etype)
        delta = len(prefix) - len(head)
        recs.append((sec, frac, caplen + delta, origlen + delta, prefix + rest))
    return recs


def tci(vid, pcp=0):
    if not 0 <= vid < 4095 or not 0 <= pcp < 8:
        raise SystemExit('bad VLAN id %d or priority %d' % (vid, pcp))
    return pcp << 13 | vid


def pcapng_write(pcap, path):
    e = pcap.endian

    def block(btype, body):
        body += b'\0' * (-len(body) % 4)
        total = 12 + len(body)
        return struct.pack(e + 'II', btype, total) + body + struct.pack(e + 'I', total)

    def option(code, value):
        return struct.pack(e + 'HH', code, len(value)) + value + b'\0' * (-len(value) % 4)

    end = option(0, b'')
    shb = block(0x0A0D0D0A, struct.pack(e + 'IHHq', 0x1A2B3C4D, 1, 0, -1) +
                option(4, b'tcpmortem samples/relink.py') + end)
    idb_opts = option(9, bytes([9])) + end if pcap.nano else b''
    idb = block(0x00000001, struct.pack(e + 'HHI', pcap.linktype, 0, pcap.snaplen) + idb_opts)
    out = [shb, idb]
    per_sec = 10 ** 9 if pcap.nano else 10 ** 6
    for sec, frac, caplen, origlen, data in pcap.records:
        ts = sec * per_sec + frac
        out.append(block(0x00000006, struct.pack(e + 'IIIII', 0, ts >> 32, ts & 0xFFFFFFFF,
                                                 caplen, origlen) + data))
    with open(path, 'wb') as f:
        f.write(b''.join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode', choices=['vlan', 'qinq', 'raw', 'loopback', 'pcapng'])
    ap.add_argument('--vid', type=int, default=100, help='(inner) VLAN id, default 100')
    ap.add_argument('--pcp', type=int, default=0, help='(inner) VLAN priority, default 0')
    ap.add_argument('--outer', type=int, default=200, help='QinQ outer VLAN id, default 200')
    ap.add_argument('--af6', type=int, default=24, help='loopback AF value for IPv6, default 24')
    ap.add_argument('input')
    ap.add_argument('output')
    a = ap.parse_args()
    pcap = Pcap(a.input)
    if a.mode == 'pcapng':
        pcapng_write(pcap, a.output)
        return 0
    if a.mode == 'vlan':
        linktype, recs = retag(pcap, [(TPID_8021Q, tci(a.vid, a.pcp))])
    elif a.mode == 'qinq':
        linktype, recs = retag(pcap, [(TPID_8021AD, tci(a.outer)),
                                      (TPID_8021Q, tci(a.vid, a.pcp))])
    elif a.mode == 'raw':
        linktype, recs = LINKTYPE_RAW, strip_ethernet(pcap, lambda etype: b'')
    else:
        af = {ETH_IPV4: 2, ETH_IPV6: a.af6}
        linktype, recs = LINKTYPE_NULL, strip_ethernet(
            pcap, lambda etype: struct.pack(pcap.endian + 'I', af[etype]))
    pcap.write(a.output, linktype, recs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
