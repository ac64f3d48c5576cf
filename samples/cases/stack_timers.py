"""The endpoints' own states and timers: a socket stuck in CLOSE-WAIT, TIME-WAIT and its reuse,
tcp_syn_retries, tcp_retries2, tcp_fin_timeout.
"""

import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.registry import Conn, scenario


CLOSE_WAIT_HELD = 7.5    # seconds the leaking server holds its socket before the capture ends


@scenario('close_wait_stuck',
          [Conn(40001, 'half_closed_at_end', 'client',
                detail='close_wait_stuck',
                facts={'close_wait': 'side=server,min_s=7,max_s=9'}),
           Conn(40002, 'fin_graceful', 'client', facts={'close_wait': 'none'}),
           Conn(MARKER_PORT, 'fin_graceful', 'client')],
          options='--close-wait 5',
          doc_args=(CLOSE_WAIT_HELD, MARKER_PORT))
class CloseWaitStuck:
    """A socket leak. 40001: after a request/response the client closes; the server reads EOF
    and never closes its socket (it stays in CLOSE-WAIT). 40002, a control: the same, but the
    server closes 1 s after reading EOF. %.1f s after 40001's FIN a short connection from port
    %d marks the end of the capture; it is read with --close-wait 5."""
    def server(ctx):
        ls = ctx.serve()
        leaked = answer_next(ls)          # 40001: read EOF, never close
        expect_eof(leaked)
        ctx.mark('eof-1')
        c = answer_next(ls)               # 40002: close 1 s after EOF
        expect_eof(c)
        time.sleep(1.0)
        c.close()
        serve_marker(ls)
        ctx.wait('capture-stopped')
        leaked.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        s.close()
        t0 = time.monotonic()
        ctx.wait('eof-1')
        time.sleep(0.2)
        s = ctx.request(40002, 300)
        s.close()
        time.sleep(max(0.0, t0 + CLOSE_WAIT_HELD - time.monotonic()))
        marker_connection(ctx)
        ctx.end_of_capture()

    def check_capture(ctx, segs):
        srv = [s for s in segs if s['dst'][1] == 40001]
        if any('F' in s['flags'] or 'R' in s['flags'] for s in srv):
            return ['40001: the server sent FIN or RST']
        return []


TW_REUSE_WAIT = 1.3   # seconds: tcp_tw_reuse lets connect() take a TIME-WAIT 4-tuple after 1 s


@scenario('time_wait_reuse',
          [Conn(40001, 'fin_graceful', 'client',
                modifiers=('port_reuse',),
                facts={'time_wait': 'side=client', 'time_wait_reuse': 'none'}),
           Conn(40001, 'fin_graceful', 'client',
                modifiers=('port_reuse',),
                facts={'time_wait': 'side=client',
                       'time_wait_reuse': 'side=client,min_s=1.2,max_s=2.5'}),
           Conn(40002, 'fin_graceful', 'server',
                modifiers=('port_reuse',),
                facts={'time_wait': 'side=server'}),
           Conn(40002, 'fin_graceful', 'client',
                modifiers=('port_reuse',),
                facts={'time_wait': 'side=client', 'time_wait_reuse': 'side=server,max_s=1'})],
          doc_args=(TW_REUSE_WAIT,))
class TimeWaitReuse:
    """Two 4-tuples each used twice. 40001: request/response, the client closes first (it holds
    TIME-WAIT); %.1f s later the client binds port 40001 again and connects
    (net.ipv4.tcp_tw_reuse=1 in its namespace lets it take over its own TIME-WAIT 4-tuple):
    request/response, client closes first. 40002: request/response, the server closes first (the
    server holds TIME-WAIT); 100 ms later the client connects from 40002 again and the server's
    TIME-WAIT accepts the new SYN (higher sequence number and timestamp): request/response,
    client closes first."""
    def server(ctx):
        ls = ctx.serve()
        for server_first in (False, False, True, False):
            c = answer_next(ls)
            if not server_first:
                expect_eof(c)
            c.close()
        ctx.wait('done')
        ls.close()

    SERVER_TW_PAUSE = 0.1   # seconds before the client reconnects into the server's TIME-WAIT

    @classmethod
    def client(cls, ctx):
        sysctl('net.ipv4.tcp_tw_reuse', 1)
        ctx.wait('ready')
        for port, server_first, pause in ((40001, False, TW_REUSE_WAIT), (40001, False, 0.2),
                                          (40002, True, cls.SERVER_TW_PAUSE),
                                          (40002, False, 0.3)):
            try:
                s = ctx.connect(port)
            except OSError as e:
                raise ScenarioError('connect from %d: %r' % (port, e))
            round_trip(s, 300)
            if server_first:
                expect_eof(s)
            s.close()
            time.sleep(pause)
        ctx.mark('done')

    def check_capture(ctx, segs):
        problems = []
        for port, first_closer in ((40001, ctx.client_ip), (40002, ctx.server_ip)):
            conn = [s for s in segs if port in (s['src'][1], s['dst'][1])]
            syns = [s for s in conn if s['flags'] == 'S']
            synacks = [s for s in conn if s['flags'] == 'S.']
            if len(syns) != 2 or len(synacks) != 2 or syns[0]['seq'] == syns[1]['seq']:
                problems.append('%d: expected two connections, each SYN answered' % port)
                continue
            first = conn[:conn.index(syns[1])]
            fins = [s for s in first if 'F' in s['flags']]
            if not fins or fins[0]['src'][0] != first_closer or any('R' in s['flags']
                                                                     for s in conn):
                problems.append('%d: the first connection did not close as planned' % port)
        return problems


MARKER_SERVICE = 8082   # a second listening port, not behind the SYN-dropping rule


@scenario('timers_syn_retries',
          [Conn(40001, 'syn_unanswered', 'none',
                facts={'timers': 'side=client,tcp_syn_retries=1'}),
           Conn(MARKER_PORT, 'fin_graceful', 'client', server_port=MARKER_SERVICE)],
          doc_args=(PORT, MARKER_PORT, MARKER_SERVICE))
class TimersSynRetries:
    """The server's namespace drops incoming SYNs to port %d; the client's namespace has
    net.ipv4.tcp_syn_retries=1: its SYN is retransmitted twice (1 s apart) and connect() fails
    with ETIMEDOUT 3 s after the first; 1 s later a short connection from port %d to port %d
    marks the end of the capture."""
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--syn', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.listen()
        marker = ctx.listen(MARKER_SERVICE)
        ctx.mark('ready')
        serve_marker(marker)
        ctx.wait('done')
        ls.close()

    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        ctx.connect_times_out(40001)
        time.sleep(1.0)
        marker_connection(ctx, port=MARKER_SERVICE)
        ctx.mark('done')

    def check_capture(ctx, segs):
        n = len([s for s in segs if s['flags'] == 'S' and s['src'][1] == 40001])
        return [] if n == 3 else ['expected 3 SYNs, got %d' % n]


@scenario('timers_retries2',
          [Conn(40001, 'peer_vanished', 'client',
                detail='retransmit_timeout',
                facts={'timers': 'side=client,tcp_retries2=4'}),
           Conn(MARKER_PORT, 'fin_graceful', 'client')],
          doc_args=(MARKER_PORT,))
class TimersRetries2:
    """The client's namespace has net.ipv4.tcp_retries2=4. After a request/response the server's
    namespace drops every packet of that connection; the client sends 100 bytes, its kernel
    retransmits them with exponential backoff and gives up (recv() fails with ETIMEDOUT); 2.5 s
    later (past the retransmission that would have come next) a short connection from port %d
    marks the end of the capture."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        firewall('-I', 'INPUT', '-p', 'tcp', '--sport', '40001', '-j', 'DROP')
        firewall('-I', 'OUTPUT', '-p', 'tcp', '--dport', '40001', '-j', 'DROP')
        ctx.mark('dropped')
        serve_marker(ls)
        ctx.wait('capture-stopped')
        c.close()

    def client(ctx):
        sysctl('net.ipv4.tcp_retries2', 4)
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        ctx.wait('dropped')
        late_data_times_out(ctx, s)
        time.sleep(2.5)
        s.close()
        marker_connection(ctx)


FIN_TIMEOUT = 2   # net.ipv4.tcp_fin_timeout in the client's namespace


@scenario('timers_fin_timeout',
          [Conn(40001, 'rst_after_close', 'client',
                detail='fin_wait_2_timeout',
                facts={'timers': 'side=client,tcp_fin_timeout=%d' % FIN_TIMEOUT}),
           Conn(40002, 'fin_graceful', 'client',
                facts={'timers': 'side=client,tcp_fin_timeout=%d' % FIN_TIMEOUT})],
          doc_args=(FIN_TIMEOUT,))
class TimersFinTimeout:
    """The client's namespace has net.ipv4.tcp_fin_timeout=%d. On both connections the client
    sends a request, reads the response and close()s (its orphaned socket waits in FIN-WAIT-2
    for the server's FIN). 40001: the server reads EOF and closes 3.5 s later, after the
    client's FIN-WAIT-2 timed out: the client's kernel answers the late FIN with a RST. 40002:
    the server closes 1.5 s after EOF, within the timeout: the FIN is acknowledged normally."""
    def server(ctx):
        ls = ctx.serve()
        for port, delay in ((40001, 3.5), (40002, 1.5)):
            c = answer_next(ls)
            expect_eof(c)
            time.sleep(delay)
            c.close()
            ctx.mark('closed-%d' % port)
        ctx.wait('done')

    def client(ctx):
        sysctl('net.ipv4.tcp_fin_timeout', FIN_TIMEOUT)
        ctx.wait('ready')
        for port in (40001, 40002):
            s = ctx.request(port, 300)
            s.close()
            ctx.wait('closed-%d' % port)
            time.sleep(0.2)
        ctx.mark('done')

    def check_capture(ctx, segs):
        srv40002 = [s for s in segs if s['dst'][1] == 40002]
        cli40002 = [s for s in segs if s['src'][1] == 40002]
        if not any('F' in s['flags'] for s in srv40002) or any('R' in s['flags']
                                                                for s in cli40002):
            return ['40002: the late FIN was not accepted']
        return []
