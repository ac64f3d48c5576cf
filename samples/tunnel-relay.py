#!/usr/bin/env python3
"""A small userspace tunnel endpoint: real IP packets in, encapsulated packets out, and back.

Usage: tunnel-relay.py MODE SIDE TUN UNDERLAY LOCAL REMOTE [--mirror ADDR] [--mirror-len N]

Runs in one network namespace, as SIDE (client or server). It opens the TUN device TUN (created here; the caller gives it
addresses and routes once the file READY_FILE in the environment variable TUNNEL_READY exists),
reads every IP packet the kernel routes into it, wraps it in the encapsulation MODE and sends it
to REMOTE over the underlay (the veth UNDERLAY, whose address is LOCAL); what arrives from REMOTE
is unwrapped and written into the TUN device, where the kernel delivers it to the real sockets.
So the TCP inside every tunnel packet is made by real Linux sockets; only the outer layers are
made here, by the encapsulation's specification, for the tunnels whose kernel modules this kind
of machine lacks (GRE, ERSPAN, IPIP, Geneve, GTP-U, Teredo, AYIYA, MPLS, PPPoE).

MODE (the outer IP is made by the kernel for the UDP and raw-IP modes):
  geneve   UDP to 6081, Geneve VNI 4242 with one 8-byte option (class 0x0108), Ethernet inside
  gtpu     UDP 2152 <-> 2152, G-PDU with a PDU session container extension header; the TEID
           of each direction is chosen by its receiver (0x00000100 client side, 0x00000200
           server side), as in 3GPP TS 29.281
  teredo   UDP: the client side from port 40000, the server side (a relay) on 3544; the relay's
           packets carry an origin indication (RFC 4380 §5.1.1)
  ayiya    UDP: the client from port 40001, the server on 5072; identity 16 bytes, no signature
  vxlan    UDP to 4789, VNI 42, Ethernet inside (--mirror: see below)
  gre      IP protocol 47 with key 1001 and sequence numbers (RFC 2890)
  erspan2  GRE with sequence numbers, ERSPAN type II session 7, Ethernet inside
  erspan3  GRE with sequence numbers, ERSPAN type III session 9, Ethernet inside
  ipip     IPv4 in IPv4 (protocol 4)          6in4  IPv6 in IPv4 (protocol 41)
  4in6     IPv4 in IPv6 (next header 4)       6in6  IPv6 in IPv6 (next header 41)
  mpls     Ethernet 0x8847, two labels (100/1001 towards the server, 200/2002 back)
  pppoe    Ethernet 0x8864, PPPoE session 0x0011, PPP
For the Ethernet modes LOCAL and REMOTE are MAC addresses; for 4in6 and 6in6 IPv6 addresses.

--mirror ADDR: also send a copy of every packet this side sends and receives to ADDR, UDP port
4789, VXLAN VNI 7001, cut to --mirror-len bytes (default: whole): what AWS VPC Traffic Mirroring
delivers to a mirror target (its sessions use VXLAN with the session's VNI, and a packet length
option truncates the copies).
Stops on SIGTERM or SIGINT. Standard library only; Linux only; root.
"""
import fcntl
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
ETH_P_IP, ETH_P_IPV6, ETH_P_MPLS, ETH_P_PPPOE = 0x0800, 0x86DD, 0x8847, 0x8864
MAC_A, MAC_B = bytes.fromhex('020000000a01'), bytes.fromhex('020000000a02')


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ethertype(pkt):
    return ETH_P_IPV6 if pkt[0] >> 4 == 6 else ETH_P_IP


def ether(pkt, side):
    """The inner Ethernet header of the bridged tunnels: made-up MACs, one per side."""
    src, dst = (MAC_A, MAC_B) if side == 'client' else (MAC_B, MAC_A)
    return dst + src + struct.pack('!H', ethertype(pkt)) + pkt


def unether(frame):
    return frame[14:] if len(frame) > 14 else b''


class Relay:
    def __init__(self, mode, local, remote, side):
        self.mode, self.local, self.remote, self.side = mode, local, remote, side
        self.seq = 0
        fam = socket.AF_INET6 if mode in ('4in6', '6in6') else socket.AF_INET
        if mode in ('vxlan', 'geneve', 'gtpu', 'teredo', 'ayiya'):
            lport, self.rport = {
                'vxlan': (4789, 4789), 'geneve': (6081, 6081), 'gtpu': (2152, 2152),
                'teredo': (40000, 3544) if side == 'client' else (3544, 40000),
                'ayiya': (40001, 5072) if side == 'client' else (5072, 40001)}[mode]
            self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.rx.bind((local, lport))
            if mode in ('vxlan', 'geneve'):
                # the source port of a VXLAN/Geneve packet is a flow hash, not the tunnel port
                self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.tx.bind((local, 50000 if side == 'client' else 50001))
            else:
                self.tx = self.rx
            self.kind = 'udp'
        elif mode in ('mpls', 'pppoe'):
            proto = ETH_P_MPLS if mode == 'mpls' else ETH_P_PPPOE
            self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
            self.rx.bind((local, proto))
            self.tx = self.rx
            self.kind = 'eth'
            self.ifname = local
        else:
            proto = {'gre': 47, 'erspan2': 47, 'erspan3': 47, 'ipip': 4, '6in4': 41,
                     '4in6': 4, '6in6': 41}[mode]
            self.rx = socket.socket(fam, socket.SOCK_RAW, proto)
            self.rx.bind((local, 0))
            self.tx = self.rx
            self.kind = 'raw'
            self.fam = fam

    def wrap(self, pkt):
        m = self.mode
        self.seq = (self.seq + 1) & 0xffffffff
        if m == 'vxlan':
            return struct.pack('!B3xI', 0x08, 42 << 8) + ether(pkt, self.side)
        if m == 'geneve':
            # RFC 8926 §3.4: Opt Len 2 words; one option, class 0x0108 type 1, 4 bytes of data
            opt = struct.pack('!HBB', 0x0108, 0x01, 1) + b'\x00\x00\x00\x2a'
            return struct.pack('!BBHI', len(opt) // 4, 0, 0x6558, 4242 << 8) + opt + \
                ether(pkt, self.side)
        if m == 'gtpu':
            teid = 0x100 if self.side == 'server' else 0x200   # the receiver's TEID
            # PDU session container (type 0x85): 1 unit, PDU type / QFI, next type 0
            ext = bytes([1, 0x10 if self.side == 'client' else 0x00, 0x09, 0x00])
            body = struct.pack('!HBB', 0, 0, 0x85) + ext + pkt
            return struct.pack('!BBHI', 0x34, 0xff, len(body), teid) + body
        if m == 'teredo':
            if self.side == 'server':
                # origin indication: the port and address of the relay, inverted
                port = 3544 ^ 0xffff
                addr = bytes(b ^ 0xff for b in socket.inet_aton(self.local))
                return struct.pack('!HH', 0, port) + addr + pkt
            return pkt
        if m == 'ayiya':
            ident = bytes(16)
            # IDLen 4 (16 bytes), IDType 1; SigLen 0, HshMeth 0; AutMeth 0, OpCode 1 (forward)
            nh = 41 if pkt[0] >> 4 == 6 else 4
            return struct.pack('!BBBBI', 0x41, 0x00, 0x01, nh, 0) + ident + pkt
        if m == 'gre':
            return struct.pack('!HHII', 0x3000, ethertype(pkt), 1001, self.seq) + pkt
        if m == 'erspan2':
            return struct.pack('!HHI', 0x1000, 0x88be, self.seq) + \
                struct.pack('!HHI', 0x1000, 7, 0) + ether(pkt, self.side)
        if m == 'erspan3':
            return struct.pack('!HHI', 0x1000, 0x22eb, self.seq) + \
                struct.pack('!HHIHH', 0x2000, 9, 0, 0, 0) + ether(pkt, self.side)
        if m == 'mpls':
            labels = (100, 1001) if self.side == 'client' else (200, 2002)
            stack = struct.pack('!I', labels[0] << 12 | 64) + \
                struct.pack('!I', labels[1] << 12 | 0x100 | 64)
            return self.eth_hdr(ETH_P_MPLS) + stack + pkt
        if m == 'pppoe':
            ppp = struct.pack('!H', 0x0057 if pkt[0] >> 4 == 6 else 0x0021) + pkt
            return self.eth_hdr(ETH_P_PPPOE) + struct.pack('!BBHH', 0x11, 0, 0x0011,
                                                          len(ppp)) + ppp
        return pkt   # ipip, 6in4, 4in6, 6in6: the kernel's outer header is all there is

    def eth_hdr(self, proto):
        return bytes.fromhex(self.remote.replace(':', '')) + \
            bytes.fromhex(self.local_mac.replace(':', '')) + struct.pack('!H', proto)

    def unwrap(self, data):
        m = self.mode
        if m == 'vxlan':
            return unether(data[8:])
        if m == 'geneve':
            return unether(data[8 + (data[0] & 0x3f) * 4:])
        if m == 'gtpu':
            return data[12 + 4:]
        if m == 'teredo':
            return data[8:] if data[:2] == b'\x00\x00' else data
        if m == 'ayiya':
            return data[8 + 16:]
        if m == 'gre':
            return data[12:]
        if m == 'erspan2':
            return unether(data[8 + 8:])
        if m == 'erspan3':
            return unether(data[8 + 12:])
        if m == 'mpls':
            return data[14 + 8:]
        if m == 'pppoe':
            n = struct.unpack('!H', data[18:20])[0]
            return data[22:20 + n]
        return data

    def send(self, pkt):
        data = self.wrap(pkt)
        if self.kind == 'udp':
            self.tx.sendto(data, (self.remote, self.rport))
        elif self.kind == 'eth':
            self.tx.send(data)
        else:
            self.tx.sendto(data, (self.remote, 0))

    def receive(self):
        data, addr = self.rx.recvfrom(65535)
        if self.kind == 'raw' and self.fam == socket.AF_INET:
            if data[9] != self.rx.proto or socket.inet_ntoa(data[12:16]) != self.remote:
                return None
            data = data[(data[0] & 0x0f) * 4:]
        elif self.kind == 'raw' and addr[0] != self.remote:
            return None
        elif self.kind == 'eth':
            if data[6:12] != bytes.fromhex(self.remote.replace(':', '')):
                return None
        if self.mode in ('gre', 'erspan2', 'erspan3'):
            want = {'gre': ETH_P_IP, 'erspan2': 0x88be, 'erspan3': 0x22eb}[self.mode]
            proto = struct.unpack('!H', data[2:4])[0]
            if self.mode == 'gre' and proto not in (ETH_P_IP, ETH_P_IPV6):
                return None
            if self.mode != 'gre' and proto != want:
                return None
        pkt = self.unwrap(data)
        return pkt if pkt and pkt[0] >> 4 in (4, 6) else None


def main(argv):
    args = list(argv)
    mirror, mirror_len = None, None
    if '--mirror' in args:
        i = args.index('--mirror')
        mirror = args[i + 1]
        del args[i:i + 2]
    if '--mirror-len' in args:
        i = args.index('--mirror-len')
        mirror_len = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    mode, side, tun, underlay, local, remote = args
    relay = Relay(mode, local if mode not in ('mpls', 'pppoe') else underlay, remote, side)
    if mode in ('mpls', 'pppoe'):
        relay.local_mac = local
    msock = None
    if mirror:
        msock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        msock.bind((local, 50100))
    tfd = open_tun(tun)
    ready = os.environ.get('TUNNEL_READY')
    if ready:
        open(ready, 'w').close()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    def mirror_copy(pkt):
        if msock is not None:
            body = pkt[:mirror_len] if mirror_len else pkt
            msock.sendto(struct.pack('!B3xI', 0x08, 7001 << 8) + ether(body, side),
                         (mirror, 4789))

    while not stop:
        try:
            ready_fds, _, _ = select.select([tfd, relay.rx], [], [], 0.2)
        except InterruptedError:
            continue
        for fd in ready_fds:
            if fd == tfd:
                pkt = os.read(tfd, 65535)
                if pkt and pkt[0] >> 4 in (4, 6):
                    mirror_copy(pkt)
                    relay.send(pkt)
            else:
                pkt = relay.receive()
                if pkt:
                    mirror_copy(pkt)
                    os.write(tfd, pkt)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
