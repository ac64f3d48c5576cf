"""Resets from an endpoint: close with unread data, abortive close (SO_LINGER 0), data reaching
a closed socket, a host that lost the connection, a refused connection.
"""

import errno
import os
import select
import signal
import socket
import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.registry import Conn, conns, scenario
from lib.wire import client_side, conn_segs, flagged, server_side


@scenario('rst_unread_data', conns('rst_unread_data', 'server', 'server'))
class RstUnreadData:
    """Request/response, then the client sends 1000 more bytes that the server never reads; the
    server's kernel ACKs them, 100 ms later the server close()s (40001) or its process is
    SIGKILLed (40002): RST instead of FIN."""
    def handle(c, kill):
        answer(c)
        wait_until(lambda: unread_bytes(c) >= 1000, what='unread data')
        time.sleep(0.1)
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        c.close()

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        cls.handle(c, kill=False)
        c, _ = ls.accept()
        ls.close()
        reap(in_child(cls.handle, c, True), expect_signal=signal.SIGKILL)

    def client(ctx):
        ctx.wait('ready')
        for port in (40001, 40002):
            s = ctx.request(port, 300)
            s.sendall(payload(1000, b'u'))
            expect_error(s, errno.ECONNRESET)
            s.close()
            time.sleep(0.05)


@scenario('rst_abort', conns('rst_abort', 'client', 'server'))
class RstAbort:
    """Complete request/response, every byte read by both applications, then an abortive close
    (SO_LINGER {1,0} + close()): by the client right after reading the response (40001), by the
    server once its response is acknowledged (40002)."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls, 500)               # 40001: the client aborts
        expect_error(c, errno.ECONNRESET)
        c.close()
        c = answer_next(ls, 500)               # 40002: the server aborts
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        linger0(c)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 500)
        linger0(s)
        s.close()
        time.sleep(0.1)
        s = ctx.request(40002, 500)
        expect_error(s, errno.ECONNRESET)
        s.close()


@scenario('rst_after_close', conns('rst_after_close', 'server', 'client'))
class RstAfterClose:
    """One side close()s (FIN, all data read), the other reads EOF but sends more data 50 ms
    later, and the closed side's kernel answers it with RST. 40001: the server closed, the
    client sends late data; 40002: the client closed, the server sends late data."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)               # 40001: server closes, client keeps sending
        c.close()
        c = answer_next(ls)               # 40002: client closes, server keeps sending
        send_after_eof(c)

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        send_after_eof(s)
        time.sleep(0.1)
        s = ctx.request(40002, 300)
        s.close()
        time.sleep(0.3)


def send_after_eof(s):
    """The side that did not close first: read the peer's FIN (EOF), write 100 bytes 50 ms
    later, and expect the closed peer's reset (after a FIN, Linux reports it as EPIPE)."""
    expect_eof(s)
    time.sleep(0.05)
    s.sendall(payload(100, b'l'))
    expect_so_error(s, errno.EPIPE)
    s.close()


@scenario('rst_peer_restarted', conns('rst_peer_restarted', 'server'))
class RstPeerRestarted:
    """Request/response; then the server's namespace drops its outgoing TCP packets while the
    server closes the socket with SO_LINGER {1,0} (the RST never reaches the wire), and the rule
    is removed: the server lost the connection silently. The client then sends data and the
    server's kernel, having no socket, answers with RST."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        server_loses_state(ctx, c, 40001)
        ls.close()

    def client(ctx):
        ctx.wait('ready')
        client_meets_lost_state(ctx, 40001)


def server_loses_state(ctx, c, port):
    """The server's side of a connection its host loses silently: request/response, then
    (once the client is idle) the namespace drops its outgoing TCP while the socket is closed
    with SO_LINGER {1,0}, so the RST never reaches the wire, and the rule is removed."""
    answer(c)
    wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
    ctx.wait('client-idle-%d' % port)
    firewall('-I', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
    linger0(c)
    c.close()
    firewall('-D', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
    ctx.mark('state-lost-%d' % port)


def client_meets_lost_state(ctx, port):
    """The client's side of server_loses_state(): 200 ms after the server lost the connection
    it sends 100 bytes, which the server's kernel answers with RST."""
    s = ctx.request(port, 300)
    time.sleep(0.1)
    ctx.mark('client-idle-%d' % port)
    ctx.wait('state-lost-%d' % port)
    late_data_meets_reset(s)


@scenario('rst_refused',
          conns('rst_refused', 'server', server_port=CLOSED_PORT),
          doc_args=(CLOSED_PORT,))
class RstRefused:
    """The client connects to port %d where nothing listens."""
    def server(ctx):
        ls = ctx.listen()                # the service port is open, the other one is not
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    def client(ctx):
        ctx.wait('ready')
        try:
            ctx.connect(40001, port=CLOSED_PORT)
            raise ScenarioError('connect to a closed port succeeded')
        except ConnectionRefusedError:
            pass
        time.sleep(0.1)
        ctx.mark('done')


BANNER = b'220 tmortem.example ESMTP ready\r\n'


@scenario('rst_unread_data_variants',
          conns('rst_unread_data', 'server', 'client', 'client', 'server', 'server', 'server'),
          doc_args=(len(BANNER),))
class RstUnreadDataVariants:
    """40001: the client writes its 64-byte request right after connecting; the server never
    sends anything and close()s 100 ms after the request arrived, without reading it. 40002: the
    server writes a %d-byte greeting banner; the client never reads it and close()s as soon as
    it has arrived (within 2 ms). 40003: as 40002, but the client close()s 500 ms after the
    banner arrived. 40004: the client sends three requests one after the other; the server
    answers the first two (400 bytes each) and close()s 100 ms after the third arrived, unread.
    40005: the client uploads 100 kB the server never reads; the server close()s once its
    receive queue has not grown for 300 ms. 40006: as 40005, but the server's listening socket
    has SO_RCVBUF 16384 (window scale 0): the window fills (zero window, a window probe), the
    rest of the upload waits in the client's send queue when the server close()s."""
    UPLOAD = 100_000

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c, _ = ls.accept()                       # 40001: request never read, nothing sent
        wait_until(lambda: unread_bytes(c) >= REQ, what='request')
        time.sleep(0.1)
        c.close()
        for _ in (40002, 40003):                 # banner the client never reads
            c, _ = ls.accept()
            c.sendall(BANNER)
            expect_error(c, errno.ECONNRESET)
            c.close()
        c, _ = ls.accept()                       # 40004: third request unread
        for _ in range(2):
            answer(c, 400)
        wait_until(lambda: unread_bytes(c) >= REQ, what='third request')
        time.sleep(0.1)
        c.close()
        for port in (40005, 40006):              # upload never read
            c, _ = ls.accept()
            last, since = -1, time.monotonic()
            while True:
                n = unread_bytes(c)
                if n != last:
                    last, since = n, time.monotonic()
                elif n > 0 and time.monotonic() - since > 0.3:
                    break
                if time.monotonic() - since > 10:
                    raise ScenarioError('no upload')
                time.sleep(0.01)
            ctx.note('%d: server close()s with %d bytes unread' % (port, n))
            c.close()
            if port == 40005:                    # a small receive buffer for the next one
                ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                ctx.mark('rcvbuf-set')

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = send_request(ctx.connect(40001))
        expect_error(s, errno.ECONNRESET)
        s.close()
        time.sleep(0.05)
        for port, pause in ((40002, 0), (40003, 0.5)):
            s = ctx.connect(port)
            wait_until(lambda: unread_bytes(s) >= len(BANNER), what='banner')
            time.sleep(pause)
            s.close()
            time.sleep(0.1)
        s = ctx.connect(40004)
        for _ in range(2):
            round_trip(s, 400)
        send_request(s)
        expect_error(s, errno.ECONNRESET)
        s.close()
        time.sleep(0.05)
        for port in (40005, 40006):
            if port == 40006:
                ctx.wait('rcvbuf-set')
            s = ctx.connect(port)
            data = memoryview(payload(cls.UPLOAD, b'u'))
            s.setblocking(False)
            sent, reset = 0, False
            while sent < len(data):
                try:
                    sent += s.send(data[sent:])
                except BlockingIOError:
                    select.select([], [s], [], 0.05)
                except ConnectionResetError:
                    reset = True
                    break
            ctx.note('%d: client handed %d of %d bytes to its kernel, %d unacknowledged%s'
                     % (port, sent, cls.UPLOAD, unacked_bytes(s), ' (reset)' if reset else ''))
            if not reset:
                s.setblocking(True)
                expect_error(s, errno.ECONNRESET)
            s.close()
            time.sleep(0.1)

    def extra_check(ctx, segs, pcap):
        problems = []
        for cport in (40002, 40003):
            cli, srv = client_side(segs, cport), server_side(segs, cport)
            if any(s['len'] for s in cli) or sum(s['len'] for s in srv) != len(BANNER):
                problems.append('%d: expected the banner only' % cport)
        if not any(s['len'] == 0 and s['ack'] for s in client_side(segs, 40003)[2:]
                   if 'R' not in s['flags']):
            problems.append('40003: the banner was not ACKed before the reset')
        return problems


@scenario('rst_abort_variants', conns('rst_abort', 'client', 'server', 'server'))
class RstAbortVariants:
    """40001: the client sets SO_LINGER {1,0} and close()s right after connect() returned: no
    data at all. 40002: 20 request/response rounds (requests 100 to 1050 bytes, responses 1000
    to 6700 bytes), every byte read by both applications; once its last response is acknowledged
    the server sets SO_LINGER {1,0} and close()s. 40003: the server reads the request, writes a
    500-byte response and at once sets SO_LINGER {1,0} and close()s, without waiting for the
    response to be acknowledged."""
    ROUNDS = 20

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c, _ = ls.accept()                       # 40001: the client aborts at once
        try:
            data = c.recv(4096)
            ctx.note('40001: server recv() returned %d bytes' % len(data))
            if data:
                raise ScenarioError('40001: data from the client')
        except ConnectionResetError:
            ctx.note('40001: server recv() failed with ECONNRESET')
        c.close()
        c, _ = ls.accept()                       # 40002: long exchange, then the server aborts
        for i in range(cls.ROUNDS):
            recv_exact(c, 100 + 50 * i)
            c.sendall(payload(1000 + 300 * i))
        wait_until(lambda: unacked_bytes(c) == 0, what='responses acknowledged')
        linger0(c)
        c.close()
        c = answer_next(ls, 500)                       # 40003: abort right after writing
        linger0(c)
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        linger0(s)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        for i in range(cls.ROUNDS):
            s.sendall(payload(100 + 50 * i, b'q'))
            recv_exact(s, 1000 + 300 * i)
        expect_error(s, errno.ECONNRESET)
        s.close()
        time.sleep(0.1)
        s = send_request(ctx.connect(40003))
        got = 0
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    raise ScenarioError('40003: EOF instead of a reset')
                got += len(data)
        except ConnectionResetError:
            ctx.note('40003: client read %d bytes, then ECONNRESET' % got)
        s.close()
        time.sleep(0.1)

    def extra_check(ctx, segs, pcap):
        problems = []
        c1 = conn_segs(segs, 40001)
        if any(s['len'] for s in c1) or [s['flags'] for s in c1] != ['S', 'S.', '.', 'R.']:
            problems.append('40001: expected handshake then RST+ACK, got %s'
                            % [s['flags'] for s in c1])
        return problems


@scenario('rst_after_close_stream', conns('rst_after_close', 'client', 'client'))
class RstAfterCloseStream:
    """The server streams to the client without ever reading after the request (40001: 200 bytes
    every 50 ms; 40002: 1000 bytes every 10 ms); the client reads 2000 (10000) bytes and
    close()s at once, nothing unread (FIN); the server goes on writing and the client's kernel
    answers its next segment with RST."""
    STREAMS = ((40001, 200, 0.05), (40002, 1000, 0.01))

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        for _, size, interval in cls.STREAMS:
            c, _ = ls.accept()
            recv_exact(c, REQ)
            n = 0
            while True:
                try:
                    c.send(payload(size, b's'))
                except (BrokenPipeError, ConnectionResetError) as e:
                    ctx.note('server send() #%d failed: %r' % (n + 1, e))
                    break
                n += 1
                time.sleep(interval)
            c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        for port, size, _ in cls.STREAMS:
            s = ctx.request(port, 10 * size)
            if unread_bytes(s):
                raise ScenarioError('%d: data arrived before close()' % port)
            s.close()
            time.sleep(0.3)

    @classmethod
    def extra_check(cls, ctx, segs, pcap):
        problems = []
        for port, _, _ in cls.STREAMS:
            cli = client_side(segs, port)
            fins, rsts = flagged(cli, 'F'), flagged(cli, 'R')
            if [s['flags'] for s in rsts] != ['R'] or segs.index(fins[0]) > segs.index(rsts[0]):
                problems.append('%d: expected the client\'s FIN, later one bare RST' % port)
        return problems


@scenario('rst_peer_restarted_client', conns('rst_peer_restarted', 'client'))
class RstPeerRestartedClient:
    """Request/response; then the client's namespace drops its outgoing TCP packets and the
    client process holding the socket is SIGKILLed: its kernel's FIN never reaches the wire, and
    with net.ipv4.tcp_orphan_retries=1 the orphaned socket times out about 1 s later and is gone
    (the client host lost the connection); the rule is removed. The server then sends 100 bytes
    and the client's kernel, with no socket for them, answers with RST."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        server_meets_lost_state(ctx, c, 40001)

    def client(ctx):
        sysctl('net.ipv4.tcp_orphan_retries', 1)
        ctx.wait('ready')
        client_loses_state(ctx, 40001)

    def extra_check(ctx, segs, pcap):
        cli = client_side(segs, 40001)
        if flagged(cli, 'F') or [s['flags'] for s in flagged(cli, 'R')] != ['R']:
            return ['40001: expected no FIN and one bare RST from the client']
        return []


def server_meets_lost_state(ctx, c, port):
    """The server's side of client_loses_state(): request/response, and 200 ms after the client
    host lost the connection 100 bytes, which the client's kernel answers with RST."""
    answer(c)
    wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
    ctx.mark('response-acked-%d' % port)
    ctx.wait('state-lost-%d' % port)
    late_data_meets_reset(c)
    ctx.mark('server-done-%d' % port)


def client_loses_state(ctx, port):
    """The client host loses the connection silently: its namespace drops outgoing TCP, the
    process holding the socket is SIGKILLed (its FIN never reaches the wire) and the orphaned
    socket times out (the caller sets net.ipv4.tcp_orphan_retries=1); the rule is removed."""
    s = ctx.request(port, 300)
    ctx.wait('response-acked-%d' % port)
    time.sleep(0.1)
    pid = in_child(lambda conn: time.sleep(WAIT_LIMIT), s)   # the child alone holds it
    firewall('-I', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
    os.kill(pid, signal.SIGKILL)
    reap(pid, expect_signal=signal.SIGKILL)
    ctx.note('%d: client process killed' % port)
    wait_until(lambda: not socket_exists(port), limit=20, what='orphaned socket gone')
    ctx.note('%d: the client\'s orphaned socket is gone' % port)
    firewall('-D', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
    ctx.mark('state-lost-%d' % port)
    ctx.wait('server-done-%d' % port)
    time.sleep(0.1)


REJECT_PORT = 8082   # the server's firewall answers SYNs to this port with a TCP reset


@scenario('rst_refused_variants',
          [Conn(40001, 'rst_refused', 'server', server_port=CLOSED_PORT),
           Conn(40002, 'rst_refused', 'server', server_port=REJECT_PORT)],
          doc_args=(CLOSED_PORT, REJECT_PORT))
class RstRefusedVariants:
    """40001: connect() to port %d where nothing listens. 40002: connect() to port %d, rejected
    by the server namespace's firewall (iptables REJECT --reject-with tcp-reset): the RST comes
    from the server host's netfilter, not from its TCP stack."""
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(REJECT_PORT), '-j', 'REJECT',
                 '--reject-with', 'tcp-reset')
        ls = ctx.listen()                        # only the service port is open
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    def client(ctx):
        ctx.wait('ready')
        for cport, port in ((40001, CLOSED_PORT), (40002, REJECT_PORT)):
            try:
                ctx.connect(cport, port=port)
                raise ScenarioError('connect to port %d succeeded' % port)
            except ConnectionRefusedError:
                pass
            time.sleep(0.1)
        ctx.mark('done')
