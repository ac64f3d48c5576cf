"""The diagnoses of the path (routed topology, a router namespace between the peers): resets
forged by a firewall or an IPS, a stateful firewall's idle timeout.
"""

import errno
import socket
import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.injector import ask_forbidden, reset_injector
from lib.registry import Conn, scenario
from lib.wire import check_path_reset, idle_before


@scenario('rst_middlebox',
          [Conn(40001, 'fin_graceful', 'client',
                facts={'middlebox': 'none', 'stack': 'client=linux/0,server=linux/1'}),
           Conn(40002, 'rst_peer_restarted', 'server',
                modifiers=('rst_from_middlebox',),
                facts={'middlebox': 'claimed=server,expected_ttl=63,seen_ttl=64'})],
          topology='routed')
class RstMiddlebox:
    """Client and server talk through a router. 40001: request/response and an orderly close
    (client first): a control. 40002: request/response; then the router starts rejecting the
    client's segments of that connection (iptables REJECT --reject-with tcp-reset, a policy
    change on a live connection); 200 ms later the client sends 100 bytes and gets the router's
    reset. It carries the server's address but the router's TTL / hop limit: 64, where the
    server's packets arrive with 63. The server never learns of it."""
    def router(ctx):
        ctx.mark('router-ready')
        ctx.wait('reject-now')
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--sport', '40002',
           '--dport', str(PORT), *REJECT_WITH_RESET)
        ctx.mark('rejecting')
        ctx.wait('capture-stopped')

    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)               # 40001: the control
        expect_eof(c)
        c.close()
        c = answer_next(ls)               # 40002: its later data never arrives
        ctx.wait('capture-stopped')
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        s.close()
        time.sleep(0.1)
        s = ctx.request(40002, 300)
        send_into_reject(ctx, s)

    def check_capture(ctx, segs):
        return check_path_reset(ctx, segs, 40002, 'server', 64)


FORBIDDEN = b'FORBIDDEN'


INJECTED_TTL = 63        # as the server's packets arrive at the client: the TTL does not tell


INJECTED_IP_ID = 31337   # the injector's own ID, outside the server's per-connection sequence


@scenario('rst_injected',
          [Conn(40001, 'rst_abort', 'server',
                modifiers=('rst_from_middlebox',),
                facts={'middlebox': 'claimed=server,expected_ttl=63,seen_ttl=63,'
                                    'seen_ip_id=%d' % INJECTED_IP_ID})],
          topology='routed',
          doc_args=(INJECTED_TTL, INJECTED_IP_ID))
class RstInjected:
    """Client and server talk through a router running an in-line IPS: iptables drops any client
    segment holding the word FORBIDDEN, and a program on the router (AF_PACKET) answers it with
    a RST+ACK in the server's name, seq = the server's next sequence number, TTL %d (exactly
    what the server's packets arrive with) and IPv4 ID %d, outside the server's per-connection
    ID sequence. The client does three request/responses (so the server's ID sequence shows),
    then sends FORBIDDEN and gets ECONNRESET; the server never sees it."""
    def router(ctx):
        if ctx.v6:
            raise ScenarioError('rst_injected is IPv4 only')
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--dport', str(PORT),
           '-m', 'string', '--string', FORBIDDEN.decode(), '--algo', 'bm', '-j', 'DROP')
        reset_injector(ctx, FORBIDDEN, INJECTED_TTL, INJECTED_IP_ID)

    EXCHANGES = 3

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        for _ in range(cls.EXCHANGES):
            answer(c)
        ctx.wait('capture-stopped')
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        ask_forbidden(ctx, s, FORBIDDEN, cls.EXCHANGES)
        s.close()
        time.sleep(0.2)

    def check_capture(ctx, segs):
        problems = check_path_reset(ctx, segs, 40001, 'server', INJECTED_TTL, INJECTED_IP_ID)
        ids = [s['id'] for s in segs if s['src'][0] == ctx.server_ip and s['id']
               and 'R' not in s['flags']]
        # The injected ID must not fall just after the server's own sequence (retry if it does).
        if ids and 0 <= (INJECTED_IP_ID - ids[-1]) % 65536 < 4096:
            problems.append('the server\'s IP IDs came close to the injected one (retry)')
        return problems


class IdleThroughFirewall:
    """Request/response through the stateful firewall, then MIDDLEBOX_IDLE seconds of silence
    (longer than its conntrack timeout), then the client sends 100 bytes more."""
    marker = False    # a marker connection follows (marker_connection)

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        if cls.marker:
            serve_marker(ls)
        ctx.wait('capture-stopped')
        c.close()

    def exchange_then_idle(ctx, opts=()):
        ctx.wait('ready')
        s = ctx.request(40001, 300, opts=opts)
        time.sleep(MIDDLEBOX_IDLE)
        s.sendall(payload(100, b'n'))
        ctx.note('100 bytes sent after %.1f s of silence' % MIDDLEBOX_IDLE)
        return s

    def check_capture(ctx, segs):
        idle = idle_before(segs, 40001, ctx.client_ip)
        if idle < MIDDLEBOX_IDLE - 0.1:
            return ['the client was silent for only %.2f s' % idle]
        return []


@scenario('middlebox_idle_drop',
          [Conn(40001, 'peer_vanished', 'client',
                detail='middlebox_idle_timeout',
                facts={'idle': 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1),
                       'timers': 'side=client,user_timeout_ms=5000'}),
           Conn(MARKER_PORT, 'fin_graceful', 'client')],
          topology='routed',
          doc_args=(CT_ESTABLISHED_TIMEOUT, MIDDLEBOX_IDLE, MARKER_PORT))
class MiddleboxIdleDrop(IdleThroughFirewall):
    """Client and server talk through a stateful firewall (conntrack forgets a connection after
    %d s without packets, no mid-stream pickup, segments of unknown connections dropped). After
    a request/response the client is silent for %.0f s, then sends 100 bytes: the firewall drops
    them and every retransmission; the client has TCP_USER_TIMEOUT 5000 ms, recv() fails with
    ETIMEDOUT, and 3.5 s later (past the retransmission that would have come next) a short
    connection from port %d marks the end of the capture."""
    marker = True

    def router(ctx):
        stateful_firewall('-j', 'DROP')
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    @classmethod
    def client(cls, ctx):
        s = cls.exchange_then_idle(ctx, opts=[(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 5000)])
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        time.sleep(3.5)
        s.close()
        marker_connection(ctx)


@scenario('middlebox_idle_reset',
          [Conn(40001, 'rst_peer_restarted', 'server',
                modifiers=('rst_from_middlebox',),
                detail='middlebox_idle_timeout',
                facts={'middlebox': 'claimed=server,expected_ttl=63,seen_ttl=64',
                       'idle': 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1)})],
          topology='routed',
          doc_args=(MIDDLEBOX_IDLE,))
class MiddleboxIdleReset(IdleThroughFirewall):
    """As middlebox_idle_drop, but the firewall rejects segments of connections it does not know
    with a TCP reset (iptables REJECT --reject-with tcp-reset): the client's 100 bytes after
    %.0f s of silence are answered by the router's RST in the server's name (TTL 64, where the
    server's packets arrive with 63) and recv() fails with ECONNRESET."""
    def router(ctx):
        stateful_firewall(*REJECT_WITH_RESET)
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    @classmethod
    def client(cls, ctx):
        s = cls.exchange_then_idle(ctx)
        expect_error(s, errno.ECONNRESET)
        s.close()
        time.sleep(0.2)

    def check_capture(ctx, segs):
        return (IdleThroughFirewall.check_capture(ctx, segs) +
                check_path_reset(ctx, segs, 40001, 'server', 64))


@scenario('middlebox_idle_push',
          [Conn(40001, 'rst_peer_restarted', 'client',
                modifiers=('rst_from_middlebox',),
                detail='middlebox_idle_timeout',
                facts={'middlebox': 'claimed=client,expected_ttl=63,seen_ttl=64',
                       'idle': 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1),
                       'stack': 'client=linux/1,server=linux/0'})],
          topology='routed',
          doc_args=(MIDDLEBOX_IDLE,))
class MiddleboxIdlePush:
    """As middlebox_idle_reset, but it is the server that speaks first after %.0f s of silence
    (a push to an idle client), and the capture is taken at the server: the router answers the
    server's 100 bytes with a RST in the client's name, TTL 64 where the client's packets arrive
    with 63; the server's recv() fails with ECONNRESET. The client never learns of it."""
    def router(ctx):
        stateful_firewall(*REJECT_WITH_RESET)
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        time.sleep(MIDDLEBOX_IDLE)
        c.sendall(payload(100, b'p'))
        expect_error(c, errno.ECONNRESET)
        c.close()
        time.sleep(0.2)
        ctx.end_of_capture()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        ctx.wait('capture-stopped')
        s.close()

    def check_capture(ctx, segs):
        problems = check_path_reset(ctx, segs, 40001, 'client', 64)
        if idle_before(segs, 40001, ctx.server_ip) < MIDDLEBOX_IDLE - 0.1:
            problems.append('the server did not speak after the idle period')
        return problems


@scenario('keepalive_middlebox',
          [Conn(40001, 'keepalive_timeout', 'client',
                detail='middlebox_idle_timeout',
                facts={'idle': 'min_s=5.9',
                       'timers': 'side=client,tcp_keepalive_time=6,tcp_keepalive_intvl=1,'
                                 'tcp_keepalive_probes=4'})],
          topology='routed',
          doc_args=(CT_ESTABLISHED_TIMEOUT,))
class KeepaliveMiddlebox:
    """Through the stateful firewall of middlebox_idle_drop (conntrack timeout %d s, segments of
    unknown connections dropped), a client with SO_KEEPALIVE, TCP_KEEPIDLE 6, TCP_KEEPINTVL 1,
    TCP_KEEPCNT 4 does a request/response and waits: its first keepalive probe comes after the
    firewall forgot the connection, so no probe is answered and the client's kernel resets the
    connection (recv() fails with ETIMEDOUT)."""
    def router(ctx):
        stateful_firewall('-j', 'DROP')
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    server = IdleThroughFirewall.server

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300, opts=keepalive_opts(6, 1, 4))
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        s.close()
        time.sleep(0.3)
