"""What a capture shows, for the check that every fresh capture holds what its scenario needs
(make-samples.sh runs `scenarios.py check`; exit 3 asks for a retake). The packets are read
with tests/lib/capfile.py, the one pcap reader of the project's scripts.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'tests', 'lib'))
import capfile  # noqa: E402

from lib.registry import SCENARIOS, make_ctx  # noqa: E402


def read_segments(pcap):
    """The TCP segments of a capture (capfile.tcp_segment dicts with 'time')."""
    return capfile.segments(pcap)


def conn_segs(segs, cport):
    """The segments of the connection from client port cport (no server port is a client port)."""
    return [s for s in segs if cport in (s['src'][1], s['dst'][1])]


def client_side(segs, cport):
    return [s for s in segs if s['src'][1] == cport]


def server_side(segs, cport):
    return [s for s in segs if s['dst'][1] == cport]


def flagged(pkts, flag):
    return [s for s in pkts if flag in s['flags']]



def check_path_reset(ctx, segs, cport, claimed, ttl, ip_id=None):
    """The capture holds, on connection cport, a RST that names `claimed` ('server' or 'client')
    as its sender but arrives with TTL / hop limit `ttl` (and IPv4 ID `ip_id`), while every other
    packet from that side arrives with a different TTL or ID. Returns problems."""
    addr = ctx.server_ip if claimed == 'server' else ctx.client_ip
    conn = [s for s in segs if cport in (s['src'][1], s['dst'][1])]
    from_side = [s for s in conn if s['src'][0] == addr]
    rsts = [s for s in from_side if 'R' in s['flags']]
    others = [s for s in from_side if 'R' not in s['flags']]
    tag = 'connection %d' % cport
    if len(rsts) != 1 or not others:
        return [tag + ': expected one RST and other packets from the ' + claimed]
    problems = []
    if rsts[0]['ttl'] != ttl:
        problems.append(tag + ': the RST has TTL %s, not %d' % (rsts[0]['ttl'], ttl))
    if ip_id is not None and rsts[0]['id'] != ip_id:
        problems.append(tag + ': the RST has IP ID %s, not %d' % (rsts[0]['id'], ip_id))
    if ip_id is None and all(s['ttl'] == ttl for s in others):
        problems.append(tag + ': the %s\'s own packets have the RST\'s TTL too' % claimed)
    return problems


def idle_before(segs, cport, addr):
    """Seconds of silence on connection cport before the first packet from addr that follows
    the longest gap (the resumption after the idle period)."""
    conn = [s for s in segs if cport in (s['src'][1], s['dst'][1])]
    best = (0.0, None)
    for a, b in zip(conn, conn[1:]):
        if b['time'] - a['time'] > best[0] and b['src'][0] == addr:
            best = (b['time'] - a['time'], b)
    return best[0]



def check(name, family, pcap, vantage='client'):
    """Return a list of problems (empty when the capture, taken at `vantage`, shows what the
    scenario needs). A scenario may add its own checks: extra_check(ctx, segs, pcap) runs once
    the generic ones found nothing, check_capture(ctx, segs) always; ctx.vantage says where
    the capture was taken."""
    sc = SCENARIOS[name]
    ctx = make_ctx(name, family)
    ctx.vantage = vantage
    segs = read_segments(pcap)
    problems = []
    truth = [(c.port, c.server_port) + c.seen_from(vantage)[:2] for c in sc.truth]
    truth = [row for row in truth if row[2] is not None]
    want = {cport for cport, *_ in truth}
    seen = set()
    for s in segs:
        if s['src'][0] == ctx.client_ip:
            seen.add(s['src'][1])
        elif s['dst'][0] == ctx.client_ip:
            seen.add(s['dst'][1])
        else:
            problems.append('foreign packet %r' % (s,))
    if seen != want:
        problems.append('connections (client ports) %s, truth has %s' % (sorted(seen),
                                                                          sorted(want)))
    ports = [row[0] for row in truth]
    for cport, sport, cls, closer in truth:
        if ports.count(cport) > 1:
            continue      # a reused 4-tuple: the scenario's own check tells them apart
        conn = [s for s in segs if cport in (s['src'][1], s['dst'][1])]
        cli = [s for s in conn if s['src'][1] == cport]
        srv = [s for s in conn if s['dst'][1] == cport]
        side = {'client': cli, 'server': srv}

        def has(pkts, flag):
            return [s for s in pkts if flag in s['flags']]
        rsts, fins = has(conn, 'R'), has(conn, 'F')
        tag = '%s %d' % (cls, cport)
        if cls.startswith('rst_'):
            if not rsts or not has(side[closer], 'R'):
                problems.append(tag + ': no RST from the ' + closer)
            if has(side['client' if closer == 'server' else 'server'], 'R'):
                problems.append(tag + ': RST from the other side too')
        if cls == 'rst_unread_data' or cls == 'rst_abort' or cls == 'rst_peer_restarted':
            if has(side[closer], 'F'):
                problems.append(tag + ': the closer sent a FIN')
        if cls == 'rst_after_close' and not has(side[closer], 'F'):
            problems.append(tag + ': the closer sent no FIN')
        if cls in ('fin_graceful', 'fin_simultaneous'):
            if rsts or not has(cli, 'F') or not has(srv, 'F'):
                problems.append(tag + ': not two FINs without RST')
            elif cls == 'fin_graceful' and conn.index(fins[0]) not in \
                    [conn.index(s) for s in has(side[closer], 'F')]:
                problems.append(tag + ': first FIN not from the ' + closer)
        if cls == 'fin_simultaneous' and not problems:
            cf, sf = has(cli, 'F')[0], has(srv, 'F')[0]
            # a FIN occupies seq + len; the other FIN's ack covers it if ack > that
            if cf['ack'] > sf['seq'] + sf['len'] or sf['ack'] > cf['seq'] + cf['len']:
                problems.append(tag + ': FINs did not cross (retry)')
        if cls in ('open_at_end', 'idle_at_end', 'half_closed_at_end', 'peer_vanished'):
            if rsts:
                problems.append(tag + ': RST seen')
        if cls in ('open_at_end', 'idle_at_end') and fins:
            problems.append(tag + ': FIN seen')
        other = 'server' if closer == 'client' else 'client'
        if cls == 'half_closed_at_end' and (has(side[other], 'F') or not has(side[closer], 'F')):
            problems.append(tag + ': expected a FIN from the %s only' % closer)
        if cls == 'syn_unanswered' and (srv or any(s['flags'] != 'S' for s in cli)
                                        or len(cli) < 2):
            problems.append(tag + ': expected repeated SYNs only')
        if cls == 'rst_refused' and [s['flags'] for s in conn] != ['S', 'R.']:
            problems.append(tag + ': expected SYN, RST+ACK')
        if cls in ('keepalive_timeout', 'peer_vanished') and closer != 'none':
            # after the other side vanished nothing comes from it
            last = conn.index(side[other][-1])
            if not any(s in side[closer] for s in conn[last + 1:]):
                problems.append(tag + ': %s sent nothing after the %s vanished' % (closer, other))
        if cls == 'peer_vanished' and (rsts or fins):
            problems.append(tag + ': FIN or RST seen')
        if cls == 'keepalive_timeout' and not has(side[closer], 'R'):
            problems.append(tag + ': no RST from the ' + closer)
    extra = getattr(sc, 'extra_check', None)     # what a scenario needs beyond the above
    if extra is not None and not problems:
        problems += extra(ctx, segs, pcap)
    if hasattr(sc, 'check_capture'):             # the diagnoses' scenarios
        problems += sc.check_capture(ctx, segs)
    return problems


