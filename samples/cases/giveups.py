"""A side that gives up on a silent peer: SYN retries, keepalive probes, retransmissions
(TCP_USER_TIMEOUT, tcp_retries2), an application heartbeat.
"""

import errno
import select
import socket
import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.loops import answer_pings_then_vanish, heartbeat, stream, stream_until_timeout
from lib.registry import conns, scenario
from lib.wire import server_side


@scenario('syn_unanswered', conns('syn_unanswered', 'none'), doc_args=(PORT,))
class SynUnanswered:
    """The server's namespace drops incoming SYNs to port %d (listening); the client's namespace
    has net.ipv4.tcp_syn_retries=2, so connect() gives up with ETIMEDOUT."""
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--syn', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.serve()
        ctx.wait('done')
        ls.close()

    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 2)
        ctx.wait('ready')
        ctx.note('connect() called')
        ctx.connect_times_out(40001)
        time.sleep(0.3)
        ctx.mark('done')


@scenario('keepalive_timeout', conns('keepalive_timeout', 'client'))
class KeepaliveTimeout:
    """The client has SO_KEEPALIVE with TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=3. After a
    request/response the connection is idle and the server's namespace drops everything; the
    probes go unanswered and the client's kernel drops the connection (recv() fails with
    ETIMEDOUT)."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300, opts=keepalive_opts(1, 1, 3))
        ctx.wait('dropped')
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        s.close()
        time.sleep(0.5)


class Streamer:
    """Client sends a 100-byte message every 100 ms, the server reads them; after 5 messages
    the server's namespace drops everything."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        for _ in range(5):
            recv_exact(c, 100)
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        c.close()


@scenario('peer_vanished', conns('peer_vanished', 'client', detail='retransmit_timeout'))
class PeerVanished(Streamer):
    """The client streams 100-byte messages every 100 ms with TCP_USER_TIMEOUT=3000 ms; after 5
    messages the server's namespace drops everything. The client keeps writing, its kernel
    retransmits, gives up after 3 s (send() fails with ETIMEDOUT) and the client close()s."""
    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=[(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 3000)])
        stream_until_timeout(ctx, s)
        s.close()
        time.sleep(0.5)


@scenario('peer_vanished_retries2', conns('peer_vanished', 'client', detail='retransmit_timeout'))
class PeerVanishedRetries2(Streamer):
    """As peer_vanished, but instead of TCP_USER_TIMEOUT the client's namespace has
    net.ipv4.tcp_retries2=3: the kernel gives up after its retransmissions, send() fails with
    ETIMEDOUT and the client close()s."""
    @classmethod
    def client(cls, ctx):
        sysctl('net.ipv4.tcp_retries2', 3)
        ctx.wait('ready')
        s = ctx.connect(40001)
        stream_until_timeout(ctx, s)
        s.close()
        time.sleep(0.5)


@scenario('peer_vanished_ongoing', conns('peer_vanished', 'client', detail='retransmit_timeout'))
class PeerVanishedOngoing(Streamer):
    """As peer_vanished, without TCP_USER_TIMEOUT (tcp_retries2 at its default 15): the capture
    stops 2.5 s after the server vanished, while the client's kernel is still retransmitting.
    The closer of a vanished peer is the side left sending to nobody (DESIGN: the side that
    gives up on retransmissions), here the client, even though the capture ends before it gives
    up."""
    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        t = []

        def until():
            if ctx.is_marked('dropped') and not t:
                t.append(time.monotonic())
            return bool(t) and time.monotonic() - t[0] > 2.5
        err = stream(ctx, s, until)
        if err is not None:
            raise ScenarioError('send failed: %r' % err)
        ctx.end_of_capture()
        s.close()


HEARTBEAT_INTERVAL = 0.3     # seconds between pings
HEARTBEAT_MISSED = 3         # pings in a row without a pong before the pinger gives up
PONGS_BEFORE_VANISHING = 5


def ping_until_silent(ctx, s):
    """The pinging side of the heartbeat scenarios, client or server: ping until
    HEARTBEAT_MISSED pings in a row went unanswered (the peer vanished after its pongs), then
    close() and let the capture run 1 s more."""
    n, missed = heartbeat(ctx, s, HEARTBEAT_INTERVAL, HEARTBEAT_MISSED)
    if not ctx.is_marked('dropped'):
        raise ScenarioError('pongs missing before the peer vanished')
    ctx.note('%d pings sent, the last %d unanswered: close()' % (n, missed))
    s.close()
    time.sleep(1.0)


@scenario('peer_vanished_heartbeat', conns('peer_vanished', 'client', detail='heartbeat'))
class PeerVanishedHeartbeat:
    """Client and server exchange 8-byte PING/PONG messages every 300 ms; after 5 pongs the
    server's namespace drops everything. The client keeps pinging; when three pings in a row got
    no pong within their 300 ms interval it close()s (no FIN reaches the wire: it is queued
    behind the unacknowledged ping). The capture ends 1 s later."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        answer_pings_then_vanish(ctx, c, PONGS_BEFORE_VANISHING)

    def client(ctx):
        ctx.wait('ready')
        ping_until_silent(ctx, ctx.connect(40001))


@scenario('peer_vanished_client_gone',
          conns('peer_vanished', 'server', detail='retransmit_timeout'))
class PeerVanishedClientGone:
    """The client sends a 64-byte request, then the server streams 100-byte messages every 100
    ms with TCP_USER_TIMEOUT=3000 ms; after 5 messages the client's namespace drops everything
    (the client vanished). The server keeps writing, its kernel retransmits, gives up after
    about 3 s (send() fails with ETIMEDOUT) and the server close()s. Captured in the server's
    namespace."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 3000)
        recv_exact(c, REQ)
        stream_until_timeout(ctx, c)
        c.close()
        time.sleep(0.5)
        ctx.end_of_capture()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 500)
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        s.close()


@scenario('peer_vanished_heartbeat_server', conns('peer_vanished', 'server', detail='heartbeat'))
class PeerVanishedHeartbeatServer:
    """The server sends an 8-byte PING every 300 ms and the client answers each with an 8-byte
    PONG; after 5 pongs the client's namespace drops everything (the client vanished). The
    server keeps pinging; when three pings in a row got no pong within their interval it
    close()s. The capture, in the server's namespace, ends 1 s later."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        ping_until_silent(ctx, c)
        ctx.end_of_capture()

    def client(ctx):
        ctx.wait('ready')
        answer_pings_then_vanish(ctx, ctx.connect(40001), PONGS_BEFORE_VANISHING)


@scenario('keepalive_timeout_server', conns('keepalive_timeout', 'server'))
class KeepaliveTimeoutServer:
    """The server's listening socket has SO_KEEPALIVE with TCP_KEEPIDLE=2, TCP_KEEPINTVL=1,
    TCP_KEEPCNT=4, inherited by the accepted socket. After a request/response the client's
    namespace drops everything (the client vanished); the server's probes go unanswered and its
    kernel drops the connection (recv() fails with ETIMEDOUT). Captured in the client's
    namespace, where the server's packets still arrive."""
    def server(ctx):
        ls = ctx.listen()
        for level, opt, value in keepalive_opts(2, 1, 4):
            ls.setsockopt(level, opt, value)
        ctx.mark('ready')
        c = answer_next(ls)
        expect_error(c, errno.ETIMEDOUT)
        ctx.note('server recv() failed with ETIMEDOUT')
        c.close()
        time.sleep(0.5)
        ctx.end_of_capture()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        time.sleep(0.1)                          # its ACK of the response has gone out
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        s.close()

    def extra_check(ctx, segs, pcap):
        srv = server_side(segs, 40001)
        probes = [s for s in srv if s['len'] == 0 and s['flags'] == '.']
        if len(probes) < 4:
            return ['40001: fewer than 4 keepalive probes']
        return []


@scenario('syn_unanswered_variants', conns('syn_unanswered', 'none', 'none'), doc_args=(PORT,))
class SynUnansweredVariants:
    """The server's namespace drops every incoming TCP packet to port %d (listening). 40001: the
    client's application gives up on its own: non-blocking connect(), close() after 1.5 s
    without an answer. 40002: blocking connect() with net.ipv4.tcp_syn_retries=1 (it covers IPv6
    too) fails with ETIMEDOUT."""
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.serve()
        ctx.wait('done')
        ls.close()

    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        s = connect_nonblocking(ctx, 40001)
        _, w, _ = select.select([], [s], [], 1.5)
        if w:
            raise ScenarioError('40001: connect completed')
        s.close()
        ctx.note('40001: close() after 1.5 s in SYN_SENT')
        time.sleep(0.1)
        ctx.connect_times_out(40002)
        time.sleep(0.3)
        ctx.mark('done')


@scenario('syn_unanswered_filtered', conns('syn_unanswered', 'none'), doc_args=(PORT,))
class SynUnansweredFiltered:
    """Nothing listens on port %d and the server's namespace drops every incoming TCP packet to
    it (a filtered port). The client's namespace has net.ipv4.tcp_syn_retries=1; connect() fails
    with ETIMEDOUT. Captured in the server's namespace: the SYNs reach its interface before the
    firewall drops them."""
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(PORT), '-j', 'DROP')
        ctx.mark('ready')
        ctx.wait('done')

    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        ctx.connect_times_out(40001)
        time.sleep(0.3)
        ctx.mark('done')
