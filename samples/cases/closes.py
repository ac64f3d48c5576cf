"""Orderly closes: both FINs (client first, server first, crossing), half-closes that complete
or are still half-closed when the capture ends, bulk transfers.
"""

import select
import socket
import struct
import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.loops import read_then_stop, stream_until_stopped
from lib.registry import Conn, conns, scenario
from lib.wire import client_side, conn_segs, flagged, server_side


@scenario('fin_graceful', conns('fin_graceful', 'client', 'server'))
class FinGraceful:
    """Request/response, then an orderly close: on 40001 the client closes first, on 40002 the
    server closes first; the other side closes after reading EOF."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls, 2000)               # 40001: client closes first
        expect_eof(c)
        c.close()
        c = answer_next(ls, 800)               # 40002: server closes first
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 2000)
        s.close()
        time.sleep(0.1)
        s = ctx.request(40002, 800)
        expect_eof(s)
        s.close()
        time.sleep(0.1)


SIMULTANEOUS_PORTS = (40001, 40002, 40003)


@scenario('fin_simultaneous', [Conn(p, 'fin_simultaneous', 'both') for p in SIMULTANEOUS_PORTS])
class FinSimultaneous:
    """After a request/response both sides sleep until the same absolute instant (agreed over
    the connection) and call shutdown(SHUT_WR) together, so the FINs cross; then each reads EOF
    and closes. make-samples.sh keeps the capture only if every connection's FINs really crossed
    (neither FIN acknowledges the other)."""
    PORTS = SIMULTANEOUS_PORTS
    LEAD_NS = 40_000_000        # the agreed instant: this far after the client proposes it
    SERVER_LAG_NS = {}          # client port -> how much later than that the server closes

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        for _ in cls.PORTS:
            c, peer = ls.accept()
            (t,) = struct.unpack('!q', recv_exact(c, 8))
            c.sendall(b'OK')
            spin_until(t + cls.SERVER_LAG_NS.get(peer[1], 0))
            c.shutdown(socket.SHUT_WR)
            drain_to_eof(c)
            c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        for port in cls.PORTS:
            s = ctx.connect(port)
            t = time.time_ns() + cls.LEAD_NS
            s.sendall(struct.pack('!q', t))
            recv_exact(s, 2)
            spin_until(t)
            s.shutdown(socket.SHUT_WR)
            drain_to_eof(s)
            s.close()
            time.sleep(0.05)


@scenario('half_closed_at_end', conns('half_closed_at_end', 'client'))
class HalfClosedAtEnd:
    """The client sends its request and shutdown(SHUT_WR)s; the server reads to EOF and then
    streams 200 bytes every 50 ms; the capture stops while it is still streaming."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        recv_exact(c, REQ)
        expect_eof(c)
        stream_until_stopped(ctx, c, 200, 0.05)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = send_request(ctx.connect(40001))
        s.shutdown(socket.SHUT_WR)
        read_then_stop(ctx, s, 200 * 20)   # about one second of streaming
        s.close()


@scenario('fin_graceful_variants', conns('fin_graceful', 'client', 'server', 'client'))
class FinGracefulVariants:
    """40001: the client writes its request and shutdown(SHUT_WR)s at once; the server reads to
    EOF, writes a 3000-byte response and close()s; the client reads the response and EOF and
    close()s (a half-close that completes; the client closed first). 40002: persistent
    connection, 5 request/response rounds, then the client waits; after 300 ms without a request
    the server close()s (its keep-alive timeout); the client reads EOF and close()s. 40003:
    request/response, the client close()s; the server reads EOF but close()s only 200 ms later
    (its FIN after a separate ACK of the client's)."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()                       # 40001: request, then the client's FIN
        recv_exact(c, REQ)
        expect_eof(c)
        c.sendall(payload(3000))
        c.close()
        c, _ = ls.accept()                       # 40002: keep-alive timeout
        for _ in range(5):
            answer(c, 700)
        r, _, _ = select.select([c], [], [], 0.3)
        if r:
            raise ScenarioError('40002: unexpected request')
        c.close()
        c = answer_next(ls, 600)                       # 40003: late close after EOF
        expect_eof(c)
        time.sleep(0.2)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = send_request(ctx.connect(40001))
        s.shutdown(socket.SHUT_WR)
        recv_exact(s, 3000)
        expect_eof(s)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        for _ in range(5):
            round_trip(s, 700)
        expect_eof(s)
        s.close()
        time.sleep(0.1)
        s = ctx.request(40003, 600)
        s.close()
        time.sleep(0.4)

    def extra_check(ctx, segs, pcap):
        problems = []
        c = conn_segs(segs, 40001)
        cfin = c.index(flagged(client_side(segs, 40001), 'F')[0])
        if not any(s['len'] for s in server_side(c[cfin:], 40001)):
            problems.append('40001: no response data after the client\'s FIN')
        c = conn_segs(segs, 40003)
        cfin = flagged(client_side(c, 40003), 'F')[0]
        srv = server_side(c[c.index(cfin):], 40003)
        if not srv or 'F' in srv[0]['flags'] or srv[0]['ack'] != cfin['seq'] + cfin['len'] + 1:
            problems.append('40003: the client\'s FIN was not ACKed before the server\'s FIN')
        return problems


@scenario('fin_graceful_bulk', conns('fin_graceful', 'server'))
class FinGracefulBulk:
    """The client sends a 64-byte request; the server writes 1 MB (1000000 bytes) and close()s
    at once; the client reads everything and EOF, then close()s."""
    SIZE = 1_000_000

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(cls.SIZE))
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = send_request(ctx.connect(40001))
        got = 0
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
        if got != cls.SIZE:
            raise ScenarioError('got %d bytes' % got)
        s.close()
        time.sleep(0.1)


@scenario('half_closed_at_end_server', conns('half_closed_at_end', 'server'))
class HalfClosedAtEndServer:
    """The client sends a request; the server reads it, writes a 300-byte response and
    shutdown(SHUT_WR)s (FIN), then keeps reading; the client reads the response and EOF and
    uploads 200 bytes every 50 ms; the capture stops after about one second of uploading, with
    the client still sending."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        c.shutdown(socket.SHUT_WR)
        recv_until_stopped(ctx, c)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        expect_eof(s)
        stream_until_stopped(ctx, s, 200, 0.05, b'u', stop_after=20)
        s.close()
