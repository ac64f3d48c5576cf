"""Distant peers seen from three points: the endings whose evidence is timing, across the distant
topology (make-samples.sh setup_distant: a delay line on each side of the router, 45 ms from
client to server and 75 ms back, a 120 ms round trip; from the router 40 ms to the client and
80 ms to the server, lib/kit.py DELAY_MS). Each scenario is captured at the client, at the
router (its interface towards the client) and at the server at the same time, into
captures/distant/NAME_at_VANTAGE.pcap; where a capture point cannot see an ending its truth says
what it does see (Conn(..., at={...})).

A reset seen 43 microseconds after the segment it answers at a capture point 120 ms from the
server cannot be the server's answer; a timer read off one side's packets is shifted by the
path's delay at the other: these captures hold the rules to that.
"""

import errno
import threading
import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.injector import ask_forbidden, reset_injector
from lib.registry import Conn, conns, scenario, timers_held
from lib.wire import check_path_reset, client_side, conn_segs, flagged, server_side

from cases.resets import (client_loses_state, client_meets_lost_state, send_after_eof,
                          server_loses_state, server_meets_lost_state)
from cases.closes import FinSimultaneous
from cases.giveups import KeepaliveTimeout
from cases.stack_timers import (MARKER_SERVICE, TimeWaitReuse, TimersFinTimeout,
                                 TimersSynRetries)

FAR = 'distant'
DEFAULTS = timers_held()            # both sides with the stock timer settings


def facts(hold=DEFAULTS, **more):
    """A connection's facts: the timer settings in force (no inference may exclude them) and
    more diagnoses; middlebox='none' says the path had no part in the ending."""
    return dict(more, timers_hold=hold)


GENUINE = facts(middlebox='none')
DEFAULTS_ONLY = facts()


@scenario('far_rst_after_close',
          conns('rst_after_close', 'server', 'server', 'client', facts=GENUINE),
          topology=FAR)
class FarRstAfterClose:
    """Data reaching a closed socket, 120 ms away. 40001: the server close()s after its response
    (FIN); the client reads EOF and sends 100 bytes 50 ms later; the server's orphaned socket
    (FIN-WAIT-2) answers with RST. 40002: the same, but on EOF the client sends its last 100
    bytes and close()s at once (data and FIN reach the closed socket, as in a client that
    finishes its own write before reading). 40003: the client close()s after the response; the
    server reads EOF and sends 100 bytes 50 ms later; the client's orphaned socket answers with
    RST."""
    def server(ctx):
        ls = ctx.serve()
        for _ in (40001, 40002):                 # the server closes first
            c = answer_next(ls)
            c.close()
        c = answer_next(ls)                       # 40003: the client closes first
        send_after_eof(c)
        ctx.mark('server-done')

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        send_after_eof(s)
        time.sleep(0.3)
        s = ctx.request(40002, 300)
        expect_eof(s)
        s.sendall(payload(100, b'l'))
        s.close()
        time.sleep(0.5)
        s = ctx.request(40003, 300)
        s.close()
        ctx.wait('server-done')
        time.sleep(0.2)

    def check_capture(ctx, segs):
        problems = []
        for port, closer in ((40001, 'server'), (40002, 'server'), (40003, 'client')):
            side = server_side(segs, port) if closer == 'server' else client_side(segs, port)
            fins, rsts = flagged(side, 'F'), flagged(side, 'R')
            if not fins or not rsts or segs.index(fins[0]) > segs.index(rsts[0]):
                problems.append('%d: expected the %s\'s FIN, later its RST' % (port, closer))
        if not flagged(client_side(segs, 40002), 'F'):
            problems.append('40002: the client\'s FIN is missing')
        return problems


@scenario('far_lost_state',
          conns('rst_peer_restarted', 'server', 'client', facts=GENUINE),
          topology=FAR)
class FarLostState:
    """A host that lost the connection, 120 ms away. 40001: after a request/response the
    server's namespace drops its outgoing TCP while the server closes with SO_LINGER {1,0} (no
    RST reaches the wire) and the rule is removed; 200 ms later the client sends 100 bytes and
    the server's kernel, without a socket, answers with RST. 40002: the mirror: the client
    process is SIGKILLed with its outgoing TCP dropped and net.ipv4.tcp_orphan_retries=1, its
    orphaned socket times out unseen; the server then sends 100 bytes and the client's kernel
    answers with RST."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        server_loses_state(ctx, c, 40001)
        c, _ = ls.accept()
        server_meets_lost_state(ctx, c, 40002)
        ctx.wait('capture-stopped')

    def client(ctx):
        sysctl('net.ipv4.tcp_orphan_retries', 1)
        ctx.wait('ready')
        client_meets_lost_state(ctx, 40001)
        time.sleep(0.2)
        client_loses_state(ctx, 40002)

    def check_capture(ctx, segs):
        problems = []
        for port, who in ((40001, 'server'), (40002, 'client')):
            side = server_side(segs, port) if who == 'server' else client_side(segs, port)
            if flagged(side, 'F') or [s['flags'] for s in flagged(side, 'R')] != ['R']:
                problems.append('%d: expected no FIN and one bare RST from the %s' % (port, who))
        return problems


FORBIDDEN = b'FORBIDDEN'
FORGED_TTL = 63          # what the peers' packets arrive with: the TTL does not tell
FORGED_ID_TO_CLIENT = 31337
FORGED_ID_TO_SERVER = 31338
BLOCKED = b'BLOCKED'     # the word that gets the kernel-like forgery


@scenario('far_rst_forged',
          [Conn(40001, 'fin_graceful', 'client', facts=GENUINE),
           Conn(40002, 'rst_peer_restarted', 'server', modifiers=('rst_from_middlebox',),
                facts=facts(middlebox='claimed=server,expected_ttl=63,seen_ttl=64'),
                at={'server': {'cls': 'open_at_end', 'closer': 'none', 'modifiers': (),
                               'facts': GENUINE}}),
           Conn(40003, 'rst_abort', 'server', modifiers=('rst_from_middlebox',),
                facts=facts(middlebox='claimed=server,expected_ttl=63,seen_ttl=63,'
                                      'seen_ip_id=%d' % FORGED_ID_TO_CLIENT),
                at={'server': {'closer': 'client',
                               'facts': facts(middlebox='claimed=client,expected_ttl=63,'
                                                        'seen_ttl=63,seen_ip_id=%d'
                                                        % FORGED_ID_TO_SERVER)}}),
           Conn(40004, 'rst_peer_restarted', 'server', modifiers=('rst_from_middlebox',),
                facts=facts(middlebox='claimed=server'),
                at={'server': {'cls': 'open_at_end', 'closer': 'none', 'modifiers': (),
                               'facts': GENUINE}})],
          topology=FAR,
          doc_args=(FORGED_TTL, FORGED_ID_TO_CLIENT, FORGED_TTL, FORGED_ID_TO_SERVER,
             BLOCKED.decode(), FORGED_TTL))
class FarRstForged:
    """Resets forged on the router, 40 ms from the client and 80 ms from the server. 40001:
    request/response and an orderly close (client first), a control. 40002: after a
    request/response the router starts rejecting the client's segments of the connection
    (iptables REJECT --reject-with tcp-reset); 200 ms later the client sends 100 bytes and gets
    the router's RST in the server's name (TTL 64 where the server's packets arrive with 63, 40
    ms after its segment where the server is 120 ms away); the server never hears of it. 40003:
    an in-line IPS on the router drops a client segment holding FORBIDDEN and forges a RST+ACK
    both ways: to the client in the server's name (seq = the server's next, TTL %d, IP ID %d)
    and to the server in the client's name (seq = the dropped segment's, TTL %d, IP ID %d); both
    applications see ECONNRESET. 40004: the IPS drops a segment holding %s and forges, to the
    client only, exactly what the server's kernel would send without a socket: a bare RST, seq =
    the segment's ack, TTL %d, IP ID 0. Only its timing gives it away: it reaches the client 40
    ms after the segment, a third of the round trip to the server; the server never hears of it."""
    EXCHANGES = 3

    def router(ctx):
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--dport', str(PORT),
           '-m', 'string', '--string', FORBIDDEN.decode(), '--algo', 'bm', '-j', 'DROP')
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--dport', str(PORT),
           '-m', 'string', '--string', BLOCKED.decode(), '--algo', 'bm', '-j', 'DROP')
        ips = [threading.Thread(target=reset_injector,
                                args=(ctx, FORBIDDEN, FORGED_TTL, FORGED_ID_TO_CLIENT),
                                kwargs={'to_server': (FORGED_TTL, FORGED_ID_TO_SERVER)}),
               threading.Thread(target=reset_injector, args=(ctx, BLOCKED, FORGED_TTL, 0),
                                kwargs={'like_kernel': True})]
        for ips_thread in ips:
            ips_thread.start()           # each marks router-ready once it listens
        try:
            ctx.wait('reject-now')
            fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--sport', '40002',
               '--dport', str(PORT), *REJECT_WITH_RESET)
            ctx.mark('rejecting')
        finally:
            for ips_thread in ips:
                ips_thread.join()

    @classmethod
    def server(cls, ctx):
        ls = ctx.serve()
        c = answer_next(ls)               # 40001: the control
        expect_eof(c)
        c.close()
        rejected = answer_next(ls)        # 40002: its later data never arrives
        c, _ = ls.accept()               # 40003: reset by the IPS
        for _ in range(cls.EXCHANGES):
            answer(c)
        expect_error(c, errno.ECONNRESET)
        ctx.note('40003: server recv() failed with ECONNRESET')
        c.close()
        fooled, _ = ls.accept()          # 40004: the client is reset, the server never learns
        for _ in range(cls.EXCHANGES):
            answer(fooled)
        ctx.wait('capture-stopped')
        rejected.close()
        fooled.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        s.close()
        time.sleep(0.3)
        s = ctx.request(40002, 300)
        time.sleep(0.2)                  # the delayed ACK of the response is past the router
        send_into_reject(ctx, s)
        for port, word in ((40003, FORBIDDEN), (40004, BLOCKED)):
            s = ctx.connect(port)
            ask_forbidden(ctx, s, word, cls.EXCHANGES)
            s.close()
            time.sleep(0.3)

    def check_capture(ctx, segs):
        if ctx.vantage == 'server':
            problems = check_path_reset(ctx, segs, 40003, 'client', FORGED_TTL,
                                        FORGED_ID_TO_SERVER)
            for port in (40002, 40004):
                if flagged(conn_segs(segs, port), 'R'):
                    problems.append('%d: a RST reached the server' % port)
            own, forged = 'client', FORGED_ID_TO_SERVER
        else:
            problems = check_path_reset(ctx, segs, 40002, 'server', 64) + \
                check_path_reset(ctx, segs, 40003, 'server', FORGED_TTL, FORGED_ID_TO_CLIENT) + \
                check_path_reset(ctx, segs, 40004, 'server', FORGED_TTL, 0)
            own, forged = 'server', FORGED_ID_TO_CLIENT
        addr = ctx.client_ip if own == 'client' else ctx.server_ip
        ids = [s['id'] for s in conn_segs(segs, 40003) if s['src'][0] == addr and s['id']
               and 'R' not in s['flags']]
        # The forged ID must not fall just after the real sender's own sequence (retry if so).
        if ids and 0 <= (forged - ids[-1]) % 65536 < 4096:
            problems.append('the %s\'s IP IDs came close to the forged one (retry)' % own)
        return problems


@scenario('far_keepalive',
          [Conn(40001, 'keepalive_timeout', 'client',
                facts=facts(timers_held(client={'tcp_keepalive_time': 1,
                                                'tcp_keepalive_intvl': 1,
                                                'tcp_keepalive_probes': 3}),
                            middlebox='none',
                            timers='side=client,tcp_keepalive_time=1,tcp_keepalive_intvl=1,'
                                   'tcp_keepalive_probes=3'))],
          topology=FAR)
class FarKeepalive(KeepaliveTimeout):
    """Keepalive give-up, 120 ms away: the client has SO_KEEPALIVE with TCP_KEEPIDLE=1,
    TCP_KEEPINTVL=1, TCP_KEEPCNT=3; after a request/response the server's namespace drops
    everything (the host vanished; a capture beside it still sees what arrives); the probes go
    unanswered and the client's kernel resets the connection (recv() fails with ETIMEDOUT)."""
    pass


FAR_RETRIES2 = 4
RETRIES2_HELD = timers_held(client={'tcp_retries2': FAR_RETRIES2})


@scenario('far_retransmit_giveup',
          [Conn(40001, 'peer_vanished', 'client', detail='retransmit_timeout',
                facts=facts(RETRIES2_HELD, middlebox='none',
                            timers='side=client,tcp_retries2=%d' % FAR_RETRIES2),
                at={'server': {'cls': 'idle_at_end', 'closer': 'none', 'detail': None,
                               'facts': facts(RETRIES2_HELD, middlebox='none')}}),
           Conn(MARKER_PORT, 'fin_graceful', 'client', facts=facts(RETRIES2_HELD))],
          topology=FAR,
          doc_args=(FAR_RETRIES2, MARKER_PORT))
class FarRetransmitGiveup:
    """Retransmission give-up across a black hole: the client's namespace has
    net.ipv4.tcp_retries2=%d; after a request/response the router drops every packet of the
    connection (both ways); the client sends 100 bytes, its kernel retransmits them with
    exponential backoff from an RTO fitted to the 120 ms round trip and gives up (recv() fails
    with ETIMEDOUT); 4 s later a short connection from port %d marks the end of the capture. The
    server never hears of it: at its capture point the connection is idle when the capture ends."""
    def router(ctx):
        ctx.mark('router-ready')
        ctx.wait('black-hole-now')
        for direction in ('--sport', '--dport'):
            fw(ctx, '-I', 'FORWARD', '-p', 'tcp', direction, '40001', '-j', 'DROP')
        ctx.mark('dropped')
        ctx.wait('capture-stopped')

    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        serve_marker(ls)
        ctx.wait('capture-stopped')
        c.close()

    def client(ctx):
        sysctl('net.ipv4.tcp_retries2', FAR_RETRIES2)
        ctx.wait('ready')
        s = ctx.request(40001, 300)
        time.sleep(0.2)                  # the ACK of the response has reached the server
        ctx.mark('black-hole-now')
        ctx.wait('dropped')
        late_data_times_out(ctx, s)
        time.sleep(4.0)
        s.close()
        marker_connection(ctx)


SYN_RETRIES_HELD = timers_held(client={'tcp_syn_retries': 1})


@scenario('far_syn_retries',
          [Conn(40001, 'syn_unanswered', 'none',
                facts=facts(SYN_RETRIES_HELD, timers='side=client,tcp_syn_retries=1')),
           Conn(MARKER_PORT, 'fin_graceful', 'client', server_port=MARKER_SERVICE,
                facts=facts(SYN_RETRIES_HELD))],
          topology=FAR,
          doc_args=(PORT, MARKER_PORT, MARKER_SERVICE))
class FarSynRetries(TimersSynRetries):
    """SYN retries, 120 ms away: the server's namespace drops incoming SYNs to port %d; the
    client's namespace has net.ipv4.tcp_syn_retries=1: its SYN is retransmitted twice, 1 s apart
    (the budget is computed as if the backoff doubled), and connect() fails with ETIMEDOUT 3 s
    after the first; 1 s later a short connection from port %d to port %d marks the end of the
    capture."""
    pass


FIN_TIMEOUT_HELD = timers_held(client={'tcp_fin_timeout': 2})


@scenario('far_fin_wait_2',
          [Conn(40001, 'rst_after_close', 'client', detail='fin_wait_2_timeout',
                facts=facts(FIN_TIMEOUT_HELD, middlebox='none',
                            timers='side=client,tcp_fin_timeout=2')),
           Conn(40002, 'fin_graceful', 'client',
                facts=facts(FIN_TIMEOUT_HELD, timers='side=client,tcp_fin_timeout=2'))],
          topology=FAR)
class FarFinWait2(TimersFinTimeout):
    """FIN-WAIT-2 timeout, 120 ms away: as timers_fin_timeout (client namespace
    net.ipv4.tcp_fin_timeout=2; the server closes 3.5 s after EOF on 40001, after the client's
    orphaned socket gave up, and 1.5 s after EOF on 40002, within it)."""
    pass


@scenario('far_time_wait',
          [Conn(40001, 'fin_graceful', 'client', modifiers=('port_reuse',),
                facts=facts(time_wait='side=client', time_wait_reuse='none')),
           Conn(40001, 'fin_graceful', 'client', modifiers=('port_reuse',),
                # reconnected 1.3 s after close(), one round trip less after the last packet
                facts=facts(time_wait='side=client',
                            time_wait_reuse='side=client,min_s=1.1,max_s=2.5')),
           Conn(40002, 'fin_graceful', 'server', modifiers=('port_reuse',),
                facts=facts(time_wait='side=server')),
           Conn(40002, 'fin_graceful', 'client', modifiers=('port_reuse',),
                facts=facts(time_wait='side=client', time_wait_reuse='side=server,max_s=1'))],
          topology=FAR)
class FarTimeWait(TimeWaitReuse):
    """TIME-WAIT and its reuse, 120 ms away: as time_wait_reuse (40001 used twice, the client
    reusing its own TIME-WAIT after 1.3 s with net.ipv4.tcp_tw_reuse=1; 40002 closed by the
    server first, whose TIME-WAIT accepts the client's new SYN 0.3 s later: the client's own
    socket waits a round trip in LAST-ACK first)."""
    SERVER_TW_PAUSE = 0.3


@scenario('far_fin_crossing',
          [Conn(40001, 'fin_simultaneous', 'both', facts=DEFAULTS_ONLY),
           Conn(40002, 'fin_simultaneous', 'both', facts=DEFAULTS_ONLY),
           Conn(40003, 'fin_graceful', 'client', facts=DEFAULTS_ONLY)],
          topology=FAR)
class FarFinCrossing(FinSimultaneous):
    """Closes that cross in flight, 120 ms apart: as fin_simultaneous, both sides
    shutdown(SHUT_WR) at an agreed CLOCK_REALTIME instant, the server with a lag: 40001 none,
    40002 30 ms (the client's FIN is 45 ms on its way: still crossing), 40003 100 ms (the
    client's FIN has arrived: the server's FIN acknowledges it, an ordinary close).
    make-samples.sh keeps the capture only if 40001 and 40002 crossed."""
    PORTS = (40001, 40002, 40003)
    LEAD_NS = 300_000_000       # past the round trip the proposal and its answer take
    SERVER_LAG_NS = {40002: 30_000_000, 40003: 100_000_000}

