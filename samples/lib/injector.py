"""A reset injector: what an in-line IPS on the router does to a connection carrying a forbidden
word. It runs in the router's namespace, where an iptables `string` rule drops the offending
segment; this program watches the router's interfaces (AF_PACKET), follows both sides' sequence
numbers, and when the client sends the word it forges a RST+ACK to the client in the server's
name (seq = the server's next sequence number) and, if asked, one to the server in the client's
name (seq = the dropped segment's sequence number, the server's next expected), each with a TTL
and IPv4 ID of its own choosing. IPv4 only. Frames are decoded with tests/lib/capfile.py.
"""

import errno
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'tests', 'lib'))
import capfile  # noqa: E402

from lib.kit import (PORT, PREFIX, ScenarioError, expect_error, payload,  # noqa: E402
                     round_trip)

ETH_P_ALL = 0x0003       # outgoing packets reach only ETH_P_ALL taps (dev_queue_xmit_nit)
PACKET_OUTGOING = 4
LINKTYPE_ETHERNET = 1
# MAC addresses of the routed and distant topologies (make-samples.sh setup_routed)
CLIENT_MAC = '02:00:00:00:01:01'
ROUTER_MAC_TO_CLIENT = '02:00:00:00:01:02'
SERVER_MAC = '02:00:00:00:02:02'
ROUTER_MAC_TO_SERVER = '02:00:00:00:02:01'


def inet_checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(':'))


def forged_rst(src, dst, sport, dport, seq, ack, ttl, ip_id, bare=False):
    """An IPv4 RST+ACK (no options, window 0) from src:sport to dst:dport; bare: a RST without
    the ACK flag and with ack 0, as a kernel without a socket sends it."""
    src, dst = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, 0 if bare else ack, 5 << 4,
                      0x04 if bare else 0x14, 0, 0, 0)
    pseudo = struct.pack('!4s4sBBH', src, dst, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', inet_checksum(pseudo + tcp)) + tcp[18:]
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), ip_id, 0x4000, ttl, 6, 0,
                      src, dst)
    return hdr[:10] + struct.pack('!H', inet_checksum(hdr)) + hdr[12:] + tcp


def ask_forbidden(ctx, s, word, exchanges):
    """The client's side of reset_injector on connection `s`: `exchanges` request/response
    rounds 50 ms apart, then 100 ms later a request holding `word`, which must meet the
    injector's reset (ECONNRESET, and its mark 'injected-WORD')."""
    port = s.getsockname()[1]
    for _ in range(exchanges):
        round_trip(s, 300)
        time.sleep(0.05)
    time.sleep(0.1)
    s.sendall(b'GET /' + word + b' ' + payload(86, b'f'))
    expect_error(s, errno.ECONNRESET)
    if not ctx.is_marked('injected-' + word.decode()):
        raise ScenarioError('%d: reset, but not the injector\'s' % port)


def reset_injector(ctx, word, ttl, ip_id, to_server=None, like_kernel=False):
    """Watch the router's interface towards the client and answer a client segment holding
    `word` (the firewall drops it) with a RST+ACK to the client in the server's name, TTL `ttl`,
    IP ID `ip_id`; with to_server=(TTL, ID), also one to the server in the client's name.
    like_kernel: the reset to the client is what a Linux kernel without a socket would send (a
    bare RST, seq = the segment's ack, IP ID as given: 0 for Linux). Marks 'router-ready' once
    listening and 'injected-WORD' after the deed; runs until the capture has stopped."""
    to_client_if, to_server_if = PREFIX + '-rc', PREFIX + '-rs'
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((to_client_if, ETH_P_ALL))
    sock.settimeout(0.05)
    out_server = None
    if to_server is not None:
        out_server = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        out_server.bind((to_server_if, 0))
    server_next = {}
    ctx.mark('router-ready')
    while not ctx.is_marked('capture-stopped'):
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        seg = capfile.tcp_segment(LINKTYPE_ETHERNET, frame)
        if seg is None or seg['id'] is None:
            continue
        (src, sport), (dst, dport) = seg['src'], seg['dst']
        if addr[2] == PACKET_OUTGOING and src == ctx.server_ip and sport == PORT:
            syn_fin = ('S' in seg['flags']) + ('F' in seg['flags'])
            server_next[dport] = (seg['seq'] + seg['len'] + syn_fin) & 0xFFFFFFFF
        elif src == ctx.client_ip and dport == PORT and word in seg['payload'] and \
                sport in server_next:
            ctx.mark('injected-' + word.decode())
            seq = seg['ack'] if like_kernel else server_next[sport]
            rst = forged_rst(ctx.server_ip, ctx.client_ip, PORT, sport, seq,
                             (seg['seq'] + seg['len']) & 0xFFFFFFFF, ttl, ip_id, like_kernel)
            sock.send(mac_bytes(CLIENT_MAC) + mac_bytes(ROUTER_MAC_TO_CLIENT) + b'\x08\x00' +
                      rst)
            if out_server is not None:
                rst = forged_rst(ctx.client_ip, ctx.server_ip, sport, PORT, seg['seq'],
                                 server_next[sport], *to_server)
                out_server.send(mac_bytes(SERVER_MAC) + mac_bytes(ROUTER_MAC_TO_SERVER) +
                                b'\x08\x00' + rst)
    sock.close()
    if out_server is not None:
        out_server.close()
