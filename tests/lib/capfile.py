"""capfile.py - just enough of the pcap and pcapng formats to take sample captures apart.

Used by the scripts that derive test inputs from samples/captures (tests/fuzz/make-seeds.py,
tests/damage/make-damaged.py). Python standard library only. Reads; never validates more than it
needs: a file it cannot follow raises ValueError.

Formats: pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) and pcapng
(draft-ietf-opsawg-pcapng: Section Header Block 0x0A0D0D0A, Interface Description Block 1,
Enhanced Packet Block 6, Simple Packet Block 3, obsolete Packet Block 2).
"""
import struct

PCAP_MAGICS = {0xA1B2C3D4: False, 0xA1B23C4D: True}  # value: nanosecond timestamps
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6


class Record:
    """One packet record: where it starts in the file, how long it is, where its frame bytes are."""

    def __init__(self, offset, length, data_offset, caplen, linktype, ts_offset):
        self.offset = offset            # first byte of the record (pcap header or pcapng block)
        self.length = length            # bytes of the whole record
        self.data_offset = data_offset  # first byte of the frame
        self.caplen = caplen
        self.linktype = linktype
        self.ts_offset = ts_offset      # the timestamp's first byte (pcap: seconds; pcapng: high)

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
        self.snaplen, network = struct.unpack_from(e + "II", d, 16)
        self.linktype = network & 0xFFFF
        self.header_len = 24
        off = 24
        while off + 16 <= len(d):
            caplen = struct.unpack_from(e + "I", d, off + 8)[0]
            if off + 16 + caplen > len(d):
                break
            self.records.append(Record(off, 16 + caplen, off + 16, caplen, self.linktype, off))
            off += 16 + caplen

    def _read_pcapng(self):
        d = self.data
        if len(d) < 12:
            raise ValueError("pcapng section header cut")
        bom_le = struct.unpack_from("<I", d, 8)[0]
        self.endian = "<" if bom_le == PCAPNG_BOM else ">"
        e = self.endian
        interfaces = []  # (linktype, snaplen)
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
                interfaces.append((linktype, snaplen))
                if self.linktype is None:
                    self.linktype, self.snaplen = linktype, snaplen
            elif btype == BT_EPB:
                iface, _, _, caplen, _ = struct.unpack_from(e + "IIIII", d, off + 8)
                lt = interfaces[iface][0] if iface < len(interfaces) else None
                self.records.append(Record(off, blen, off + 28, caplen, lt, off + 12))
            elif btype == BT_SPB:
                origlen = struct.unpack_from(e + "I", d, off + 8)[0]
                lt, snap = interfaces[0] if interfaces else (None, 0)
                caplen = min(origlen, snap) if snap else origlen
                self.records.append(Record(off, blen, off + 12, caplen, lt, None))
            elif btype == BT_PB:
                iface, _, _, _, caplen, _ = struct.unpack_from(e + "HHIIII", d, off + 8)
                lt = interfaces[iface][0] if iface < len(interfaces) else None
                self.records.append(Record(off, blen, off + 28, caplen, lt, off + 12))
            off += blen

    def frame(self, rec):
        return self.data[rec.data_offset:rec.data_offset + rec.caplen]


def read(path):
    with open(path, "rb") as f:
        return Capture(f.read())
