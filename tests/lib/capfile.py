"""capfile.py - just enough of the pcap and pcapng formats to take sample captures apart.

The one pcap reader of the project's scripts: the sample scripts (samples/scenarios.py checks
every capture it makes with segments(), samples/relink.py rewrites records, the reset injector
decodes live frames with tcp_segment()) and the scripts that derive test inputs from
samples/captures (tests/fuzz/make-seeds.py, tests/damage/make-damaged.py,
tests/e2e/check_bad_input.py). Python standard library only. Reads; never validates more than it
needs: a file it cannot follow raises ValueError.

Formats: pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) and pcapng
(draft-ietf-opsawg-pcapng: Section Header Block 0x0A0D0D0A, Interface Description Block 1,
Enhanced Packet Block 6, Simple Packet Block 3, obsolete Packet Block 2).
"""
import socket
import struct

PCAP_MAGICS = {0xA1B2C3D4: False, 0xA1B23C4D: True}  # value: nanosecond timestamps
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6


class Record:
    """One packet record: where it starts in the file, how long it is, where its frame bytes are."""

    def __init__(self, offset, length, data_offset, caplen, linktype, ts_offset,
                 origlen=None, ts_units=None, ts=None):
        self.offset = offset            # first byte of the record (pcap header or pcapng block)
        self.length = length            # bytes of the whole record
        self.data_offset = data_offset  # first byte of the frame
        self.caplen = caplen
        self.linktype = linktype
        self.ts_offset = ts_offset      # the timestamp's first byte (pcap: seconds; pcapng: high)
        self.origlen = caplen if origlen is None else origlen  # the frame's length on the wire
        self.ts = ts                    # pcap: (seconds, fraction); pcapng: timestamp in units
        self.ts_units = ts_units        # timestamp units per second (None: no timestamp)

    @property
    def time(self):
        """The timestamp in seconds (float), or None (Simple Packet Block)."""
        if self.ts is None:
            return None
        if isinstance(self.ts, tuple):
            return self.ts[0] + self.ts[1] / self.ts_units
        return self.ts / self.ts_units

    @property
    def end(self):
        return self.offset + self.length


class Capture:
    def __init__(self, data):
        self.data = bytes(data)
        self.records = []
        self.blocks = []       # pcapng: (offset, type, length) of every block
        self.endian = "<"
        self.nano = False
        self.snaplen = 0
        self.linktype = None   # pcap: the file's; pcapng: the first interface's
        self.header_len = 0    # pcap: 24; pcapng: the Section Header Block's length
        self.version = (2, 4)  # pcap: the file header's version; thiszone and sigfigs below
        self.thiszone = self.sigfigs = 0
        if len(self.data) < 4:
            raise ValueError("too short for a capture")
        magic_le = struct.unpack_from("<I", self.data)[0]
        magic_be = struct.unpack_from(">I", self.data)[0]
        if magic_le in PCAP_MAGICS or magic_be in PCAP_MAGICS:
            self.format = "pcap"
            self.endian = "<" if magic_le in PCAP_MAGICS else ">"
            self.nano = PCAP_MAGICS[magic_le if self.endian == "<" else magic_be]
            self._read_pcap()
        elif magic_le == PCAPNG_SHB:
            self.format = "pcapng"
            self._read_pcapng()
        else:
            raise ValueError("not a pcap or pcapng capture")

    def _read_pcap(self):
        e, d = self.endian, self.data
        if len(d) < 24:
            raise ValueError("pcap file header cut")
        major, minor, self.thiszone, self.sigfigs, self.snaplen, network = \
            struct.unpack_from(e + "HHiIII", d, 4)
        self.version = (major, minor)
        self.linktype = network & 0xFFFF
        self.header_len = 24
        units = 10 ** 9 if self.nano else 10 ** 6
        off = 24
        while off + 16 <= len(d):
            sec, frac, caplen, origlen = struct.unpack_from(e + "IIII", d, off)
            if off + 16 + caplen > len(d):
                break
            self.records.append(Record(off, 16 + caplen, off + 16, caplen, self.linktype, off,
                                       origlen, units, (sec, frac)))
            off += 16 + caplen

    def _read_pcapng(self):
        d = self.data
        if len(d) < 12:
            raise ValueError("pcapng section header cut")
        bom_le = struct.unpack_from("<I", d, 8)[0]
        self.endian = "<" if bom_le == PCAPNG_BOM else ">"
        e = self.endian
        interfaces = []  # (linktype, snaplen, timestamp units per second)
        off = 0
        while off + 12 <= len(d):
            btype, blen = struct.unpack_from(e + "II", d, off)
            if blen < 12 or blen % 4 or off + blen > len(d):
                break
            self.blocks.append((off, btype, blen))
            if btype == PCAPNG_SHB and off == 0:
                self.header_len = blen
            elif btype == BT_IDB:
                linktype, _, snaplen = struct.unpack_from(e + "HHI", d, off + 8)
                interfaces.append((linktype, snaplen, _tsresol(e, d, off + 16, off + blen - 4)))
                if self.linktype is None:
                    self.linktype, self.snaplen = linktype, snaplen
            elif btype == BT_EPB:
                iface, high, low, caplen, origlen = struct.unpack_from(e + "IIIII", d, off + 8)
                lt, _, units = interfaces[iface] if iface < len(interfaces) else (None, 0, None)
                self.records.append(Record(off, blen, off + 28, caplen, lt, off + 12, origlen,
                                           units, high << 32 | low))
            elif btype == BT_SPB:
                origlen = struct.unpack_from(e + "I", d, off + 8)[0]
                lt, snap, _ = interfaces[0] if interfaces else (None, 0, None)
                caplen = min(origlen, snap) if snap else origlen
                self.records.append(Record(off, blen, off + 12, caplen, lt, None))
            elif btype == BT_PB:
                iface, _, high, low, caplen, origlen = struct.unpack_from(e + "HHIIII", d,
                                                                          off + 8)
                lt, _, units = interfaces[iface] if iface < len(interfaces) else (None, 0, None)
                self.records.append(Record(off, blen, off + 28, caplen, lt, off + 12, origlen,
                                           units, high << 32 | low))
            off += blen

    def frame(self, rec):
        return self.data[rec.data_offset:rec.data_offset + rec.caplen]


def _tsresol(e, d, off, end):
    """Timestamp units per second from an Interface Description Block's options (if_tsresol,
    code 9: a power of 10, or of 2 when the top bit is set; 10^6 when absent)."""
    while off + 4 <= end:
        code, length = struct.unpack_from(e + "HH", d, off)
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 5 <= end:
            v = d[off + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        off += 4 + length + (-length % 4)
    return 10 ** 6


def read(path):
    with open(path, "rb") as f:
        return Capture(f.read())


# ---- which TCP connection a frame belongs to -------------------------------------------------

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
BSD_AF = {2: 4, 24: 6, 28: 6, 30: 6}


def _ip_start(linktype, f):
    """(offset of the IP header, IP version or 0 for 'by the nibble'), or None."""
    if linktype == 1:  # Ethernet, any stack of VLAN tags
        off, etype = 14, None
        if len(f) < 14:
            return None
        etype = struct.unpack_from(">H", f, 12)[0]
        while etype in VLAN_TYPES and len(f) >= off + 4:
            etype = struct.unpack_from(">H", f, off + 2)[0]
            off += 4
    elif linktype == 113:  # Linux cooked v1
        if len(f) < 16:
            return None
        off, etype = 16, struct.unpack_from(">H", f, 14)[0]
    elif linktype == 276:  # Linux cooked v2
        if len(f) < 20:
            return None
        off, etype = 20, struct.unpack_from(">H", f, 0)[0]
    elif linktype in (12, 101):
        return 0, 0
    elif linktype == 228:
        return 0, 4
    elif linktype == 229:
        return 0, 6
    elif linktype in (0, 108):
        if len(f) < 4:
            return None
        af_be = struct.unpack_from(">I", f)[0]
        af_le = struct.unpack_from("<I", f)[0]
        version = BSD_AF.get(af_be) or (BSD_AF.get(af_le) if linktype == 0 else None)
        return (4, version) if version else None
    else:
        return None
    return {ETHERTYPE_IPV4: (off, 4), ETHERTYPE_IPV6: (off, 6)}.get(etype)


def _locate_tcp(linktype, frame):
    """(IP version, IP header offset, source address bytes, destination address bytes, TCP
    header offset, end of the IP packet) of an unfragmented TCP segment, or None."""
    start = _ip_start(linktype, frame)
    if start is None:
        return None
    off, version = start
    f = frame
    if len(f) <= off:
        return None
    if version == 0:
        version = f[off] >> 4
    if version == 4:
        if len(f) < off + 20 or f[off] >> 4 != 4:
            return None
        ihl = (f[off] & 0x0F) * 4
        frag, total = struct.unpack_from(">H", f, off + 6)[0], struct.unpack_from(">H", f, off + 2)[0]
        if f[off + 9] != 6 or frag & 0x3FFF or ihl < 20:
            return None
        src, dst, tcp, end = f[off + 12:off + 16], f[off + 16:off + 20], off + ihl, off + total
    elif version == 6:
        if len(f) < off + 40 or f[off] >> 4 != 6:
            return None
        nh, src, dst, tcp = f[off + 6], f[off + 8:off + 24], f[off + 24:off + 40], off + 40
        end = off + 40 + struct.unpack_from(">H", f, off + 4)[0]
        for _ in range(16):
            if nh == 6 or len(f) < tcp + 8:
                break
            if nh in (0, 43, 60):
                nh, tcp = f[tcp], tcp + (f[tcp + 1] + 1) * 8
            elif nh == 51:
                nh, tcp = f[tcp], tcp + (f[tcp + 1] + 2) * 4
            elif nh == 44:
                if struct.unpack_from(">H", f, tcp + 2)[0] & 0xFFF9:
                    return None
                nh, tcp = f[tcp], tcp + 8
            else:
                return None
        if nh != 6:
            return None
    else:
        return None
    if len(f) < tcp + 4:
        return None
    return version, off, bytes(src), bytes(dst), tcp, min(end, len(f))


def tcp_endpoints(linktype, frame):
    """The two (address bytes, port) endpoints of a TCP segment, in canonical (sorted) order, or
    None when the frame is not an unfragmented TCP segment this can follow."""
    found = _locate_tcp(linktype, frame)
    if found is None:
        return None
    _, _, src, dst, tcp, _ = found
    sport, dport = struct.unpack_from(">HH", frame, tcp)
    return tuple(sorted([(src, sport), (dst, dport)]))


# tcpdump's order and letters (print-tcp.c): FIN SYN RST PSH, "." for ACK, URG ECE CWR.
FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
                (0x40, "E"), (0x80, "W"))


def tcp_segment(linktype, frame):
    """One TCP segment as a dict, or None (not TCP, or cut before the TCP header's end):
    src, dst: (address text, port); flags: as tcpdump prints them ('S', 'S.', 'FP.', 'R');
    seq; ack (None without the ACK flag); win (unscaled); len (payload bytes); ttl (TTL or hop
    limit); id (IPv4 ID, None for IPv6); payload (bytes); options (the TCP options' bytes);
    wire_len (payload bytes the IP header declares: more than len when the snaplen cut it)."""
    found = _locate_tcp(linktype, frame)
    if found is None:
        return None
    version, ip, src, dst, tcp, end = found
    f = frame
    if len(f) < tcp + 20:
        return None
    sport, dport, seq, ack, off, flags, win = struct.unpack_from(">HHIIBBH", f, tcp)
    data = f[tcp + (off >> 4) * 4:end]
    if version == 4:
        declared = ip + struct.unpack_from(">H", f, ip + 2)[0]
    else:
        declared = ip + 40 + struct.unpack_from(">H", f, ip + 4)[0]
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return {"src": (socket.inet_ntop(family, src), sport),
            "dst": (socket.inet_ntop(family, dst), dport),
            "flags": "".join(letter for bit, letter in FLAG_LETTERS if flags & bit),
            "seq": seq, "ack": ack if flags & 0x10 else None, "win": win, "len": len(data),
            "ttl": f[ip + 8] if version == 4 else f[ip + 7],
            "id": struct.unpack_from(">H", f, ip + 4)[0] if version == 4 else None,
            "payload": bytes(data), "options": bytes(f[tcp + 20:tcp + (off >> 4) * 4]),
            "wire_len": max(declared - tcp - (off >> 4) * 4, 0)}


def segments(path):
    """The TCP segments of a capture file in file order, each a tcp_segment() dict with its
    'time' (seconds) and 'frame' (1-based record number); other frames are skipped."""
    cap = read(path)
    out = []
    for n, rec in enumerate(cap.records, 1):
        seg = tcp_segment(rec.linktype, cap.frame(rec))
        if seg is not None:
            seg["time"], seg["frame"] = rec.time, n
            out.append(seg)
    return out


# ---- the same through the tunnels of the encapsulation samples -------------------------------

LINKTYPE_RAW, LINKTYPE_ETHERNET, LINKTYPE_NFLOG = 101, 1, 239


def _decapsulate(linktype, f):
    """(linktype, frame) of the packet one encapsulation layer inside, or None. Follows what the
    samples hold (samples/make-tunnel-samples.sh): VXLAN, Geneve, GRE (ERSPAN II/III), IP-in-IP
    and 6in4/4in6/6in6, GTP-U, Teredo, AYIYA, MPLS, PPPoE, NFLOG; a test's guide to which
    connection a frame carries, not a validating decoder (that is dissect/encap.c)."""
    if linktype == LINKTYPE_NFLOG:
        off = 4
        while off + 4 <= len(f):
            tlen, ttype = struct.unpack_from("<HH", f, off)
            if tlen < 4:
                return None
            if ttype == 9:
                return LINKTYPE_RAW, f[off + 4:off + tlen]
            off += (tlen + 3) & ~3
        return None
    if linktype == LINKTYPE_ETHERNET and len(f) >= 14:
        etype = struct.unpack_from(">H", f, 12)[0]
        if etype in (0x8847, 0x8848):
            off = 14
            while off + 4 <= len(f) and not f[off + 2] & 1:
                off += 4
            return LINKTYPE_RAW, f[off + 4:]
        if etype == 0x8864 and len(f) >= 22:
            return LINKTYPE_RAW, f[22:]
    start = _ip_start(linktype, f)
    if start is None or len(f) < start[0] + 40:
        return None
    off, version = start
    version = version or f[off] >> 4
    if version == 4:
        proto, payload = f[off + 9], off + (f[off] & 0x0F) * 4
    elif version == 6:
        proto, payload = f[off + 6], off + 40
    else:
        return None
    if proto in (4, 41):
        return LINKTYPE_RAW, f[payload:]
    if proto == 47 and len(f) >= payload + 4:
        flags, gproto = struct.unpack_from(">HH", f, payload)
        inner = payload + 4 + 4 * bin(flags & 0xB000).count("1")
        if gproto in (0x0800, 0x86DD):
            return LINKTYPE_RAW, f[inner:]
        if gproto == 0x88BE:
            return LINKTYPE_ETHERNET, f[inner + (8 if flags & 0x1000 else 0):]
        if gproto == 0x22EB:
            return LINKTYPE_ETHERNET, f[inner + 12:]
        return None
    if proto != 17 or len(f) < payload + 8:
        return None
    sport, dport = struct.unpack_from(">HH", f, payload)
    u = payload + 8
    if dport in (4789, 8472):
        return LINKTYPE_ETHERNET, f[u + 8:]
    if dport == 6081 and len(f) > u:
        return LINKTYPE_ETHERNET, f[u + 8 + (f[u] & 0x3F) * 4:]
    if dport == 2152 and len(f) >= u + 12:
        pos = u + 8
        if f[u] & 0x07:
            nxt, pos = f[u + 11], u + 12
            while f[u] & 0x04 and nxt and pos < len(f):
                pos += f[pos] * 4
                nxt = f[pos - 1] if pos - 1 < len(f) else 0
        return LINKTYPE_RAW, f[pos:]
    if 5072 in (sport, dport) and len(f) >= u + 2:
        return LINKTYPE_RAW, f[u + 8 + (1 << (f[u] >> 4)) + (f[u + 1] >> 4) * 4:]
    if 3544 in (sport, dport) or (len(f) > u and f[u] >> 4 == 6):
        return LINKTYPE_RAW, f[u + 8:] if f[u:u + 2] == b"\0\0" else f[u:]
    return None


def inner_tcp_endpoints(linktype, frame):
    """tcp_endpoints() of the TCP segment a frame carries, through up to 8 encapsulation layers."""
    for _ in range(8):
        t = tcp_endpoints(linktype, frame)
        if t is not None:
            return t
        inner = _decapsulate(linktype, frame)
        if inner is None:
            return None
        linktype, frame = inner
    return None
