#!/usr/bin/env python3
"""Real software in the ground truth: endings produced by Debian-packaged daemons and clients.

    sudo python3 samples/cases/realsw/realsw.py [--deps] [-o DIR] [NAME...]   (default: all)
    python3 samples/cases/realsw/realsw.py list

Each sample starts nginx, haproxy, redis-server, sshd or `openssl s_server` inside fresh network
namespaces (rswlib.py: PAIR or PROXY), drives them with curl, wrk, ab, redis-cli, ssh,
`openssl s_client` or a few lines of Python where the ending needs a client that stalls, captures
with tcpdump and writes samples/captures/NAME.pcap and NAME.truth. `--deps` first installs the
Debian packages it needs (apt-get).

How the truth is decided (never from what the scenario meant to happen):
- who ended the connection and how (FIN or RST, in which order) is read from the capture;
- whether an application closed with data it never read is read from its socket: the `ss -E`
  destroy record's Recv-Q (the bytes received and not read when the socket was closed or its
  process killed), with the last polled `ss -tn` snapshot before the connection's end as
  corroboration (rswlib.Watch). A closer's RST with unread bytes is `rst_unread_data`, without
  `rst_abort`; a close with nothing unread puts a FIN on the wire.
Both figures are written into the truth file (`# recvq` comment lines) for every connection.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import rswlib
from rswlib import FIN, RST, Failed, nsexec

PACKAGES = ['nginx', 'haproxy', 'redis-server', 'redis-tools', 'openssh-server',
            'openssh-client', 'curl', 'openssl', 'wrk', 'apache2-utils', 'tcpdump', 'ethtool',
            'iproute2', 'coreutils']

CLI, SRV, PRX = 'rsw-cli', 'rsw-srv', 'rsw-prx'
S4 = '198.51.100.2'            # the server in PAIR
P4C, B4 = '198.51.100.66', '198.51.100.130'   # PROXY: haproxy's client side, the servers
TRIES = 5


# ---- one run ----------------------------------------------------------------------------------

class Run:
    """One attempt at one sample: namespaces, watchers, capture, the processes it started, and
    the expected connections (expect()) in the order their SYNs will appear."""

    def __init__(self, sample):
        self.sample = sample
        self.topo = rswlib.Topology(sample.topology)
        self.work = rswlib.workdir()
        self.procs = []
        self.expects = []
        self.notes = []
        self.watches = {}
        self.ns_of_ip = {}
        for link in sample.topology['links']:
            for ns, a4, a6 in ((link[0], link[3], link[4]), (link[5], link[8], link[9])):
                self.ns_of_ip[a4.split('/')[0]] = ns
                self.ns_of_ip[a6.split('/')[0]] = ns

    def path(self, name):
        return os.path.join(self.work, name)

    def start(self, ns, argv, name, stdin=None, stdout=None):
        """A background process in a namespace, its output logged to NAME.log."""
        log = open(self.path(name + '.log'), 'w')
        p = subprocess.Popen(nsexec(ns, argv), stdin=stdin,
                             stdout=stdout if stdout is not None else log, stderr=log)
        p.rsw_name = name
        self.procs.append(p)
        return p

    def run(self, ns, argv, name, timeout=20, ok=(0,), stdin_data=None):
        """A client to completion; its exit status must be in `ok`."""
        log = self.path(name + '.log')
        with open(log, 'w') as f:
            r = subprocess.run(nsexec(ns, argv), stdout=f, stderr=subprocess.STDOUT,
                               input=stdin_data, timeout=timeout)
        if r.returncode not in ok:
            raise Failed('%s exited with %d: %s' % (name, r.returncode, open(log).read()[-500:]))
        return r.returncode

    def python(self, ns, code, name, timeout=20):
        """A few lines of Python as a client (stalled uploads, idle keepalive connections)."""
        return self.run(ns, ['python3', '-c', CLIENT_PRELUDE + code], name, timeout)

    def wait_listen(self, ns, port, limit=10):
        deadline = time.monotonic() + limit
        while True:
            out = subprocess.run(nsexec(ns, ['ss', '-tlnH', 'sport = :%d' % port]),
                                 capture_output=True, text=True).stdout
            if out.strip():
                return
            if time.monotonic() > deadline:
                logs = ' '.join(open(self.path(p.rsw_name + '.log')).read()[-300:]
                                for p in self.procs)
                raise SystemExit('nothing listens on %d in %s: %s' % (port, ns, logs))
            time.sleep(0.05)

    def expect(self, server, what, count=1):
        """The next `count` connections to `server` (an 'address:port' endpoint) are `what`
        (a short text for the truth file's comments); count None: all the others to it (at
        least one)."""
        self.expects.append((server, what, count))

    def note(self, text):
        self.notes.append(text)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


CLIENT_PRELUDE = r'''
import socket, sys, time
def conn(src, dst, port, sport):
    s = socket.socket(socket.AF_INET6 if ':' in dst else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.connect((dst, port))
    return s
def until_end(s, limit=10):
    """Read until EOF or reset; report which."""
    s.settimeout(limit)
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                print('EOF after', got); return 'eof'
            got += len(d)
    except ConnectionResetError:
        print('reset after', got); return 'reset'
'''


# ---- deciding the truth of one connection -----------------------------------------------------

def decide(run, conn):
    """(class, closer, comments) of one connection from the capture (who sent FIN/RST first)
    and the closer's receive queue (unread bytes when it closed)."""
    comments = []
    ends = [s for s in conn.segs if s.flags & (FIN | RST)]
    if not ends:
        raise Failed('%s -> %s: no FIN and no RST' % (conn.client, conn.server))
    first = ends[0]
    closer = conn.side(first.src)
    peer = 'server' if closer == 'client' else 'client'
    rec = {}
    for side in ('client', 'server'):
        rec[side] = unread_record(run, conn, side, comments)
    closer_fin = conn.first(closer, FIN)
    peer_fin = conn.first(peer, FIN)
    closer_rst = conn.first(closer, RST)
    peer_rst = conn.first(peer, RST)
    if first.flags & RST:
        unread = rec[closer]
        if unread is None:
            raise Failed('no receive-queue record of the %s of %s' % (closer, conn.client))
        cls = 'rst_unread_data' if unread > 0 else 'rst_abort'
        return cls, closer, comments
    # the closer's FIN came first
    if peer_rst is not None and (peer_fin is None or peer_rst.t < peer_fin.t):
        # the peer ended it with a reset after the closer's FIN: its decisive RST
        unread = rec[peer]
        if unread is None:
            raise Failed('no receive-queue record of the %s of %s' % (peer, conn.client))
        return ('rst_unread_data' if unread > 0 else 'rst_abort'), peer, comments
    if closer_rst is not None:
        # a FIN, then a RST from the same side: either shutdown(SHUT_WR) and later close() with
        # unread data (the queue still counts it), or a fully closed socket answering data that
        # arrived after its close() (the data is never queued: nothing unread)
        unread = rec[closer]
        if unread is None:
            raise Failed('no receive-queue record of the %s of %s' % (closer, conn.client))
        if unread > 0:
            comments.append('note %s: FIN first (shutdown), then close() with %d bytes unread'
                            % (conn.client, unread))
            return 'rst_unread_data', closer, comments
        after = [s for s in conn.sent_by(peer) if s.t > closer_fin.t and s.len > 0]
        if after and after[0].t < closer_rst.t:
            return 'rst_after_close', closer, comments
        raise Failed('%s: RST from the FIN sender without data after its FIN' % conn.client)
    if peer_fin is None:
        return 'half_closed_at_end', closer, comments
    if peer_fin.ack != (closer_fin.seq + closer_fin.len + 1) % (1 << 32):
        # the peer's FIN does not acknowledge the closer's: they crossed
        return 'fin_simultaneous', 'both', comments
    return 'fin_graceful', closer, comments


def unread_record(run, conn, side, comments):
    """Bytes `side` had received and not read when its socket was closed: the ss -E destroy
    record (less the peer's FIN, which Recv-Q counts once received), or, where that record is
    missing or meaningless (an abortive close empties the queue first), the last `ss -tn`
    snapshot before the side's FIN/RST. Both are written into `comments`."""
    local = conn.client if side == 'client' else conn.server
    peer = conn.server if side == 'client' else conn.client
    ip = local.rsplit(':', 1)[0].strip('[]')
    watch = run.watches.get(run.ns_of_ip.get(ip))
    if watch is None:
        return None
    end = [s for s in conn.sent_by(side) if s.flags & (FIN | RST)]
    t_end = end[0].t if end else conn.segs[-1].t
    other = 'server' if side == 'client' else 'client'
    fin_in = conn.first(other, FIN)
    fin_counted = fin_in is not None and (not end or fin_in.t < end[0].t or
                                          end[0].flags & FIN)
    destroyed = watch.destroy_record(local, peer, after=conn.segs[0].t)
    snap = watch.last_snapshot(local, peer, t_end)
    parts = ['recvq', conn.client, 'side=%s' % side]
    figure = None
    if destroyed is None:
        parts.append('at_close=unknown (no destroy record)')
    elif destroyed[3]:
        # tcp_close(): "Check zero linger _after_ checking for unread data": a socket with
        # unread data is reset without tcp_disconnect(), keeping its count and peer port
        figure = 0
        parts.append('at_close=0 (SO_LINGER 0 with nothing unread: the record shows the '
                     'disconnected socket)')
    else:
        figure = max(destroyed[1] - (1 if fin_counted else 0), 0)
        parts.append('at_close=%d' % figure)
    if snap:
        queued = max(snap[2] - (1 if snap[1] in ('CLOSE-WAIT', 'LAST-ACK', 'CLOSING',
                                                 'TIME-WAIT') else 0), 0)
        parts.append('last_snapshot=%d (%s, %.0f ms before its %s)' % (
            queued, snap[1], (t_end - snap[0]) * 1000,
            'FIN/RST' if end else 'last packet'))
        if figure is None:
            figure = queued
    comments.append(' '.join(parts))
    return figure


# ---- driving one sample -----------------------------------------------------------------------

SAMPLES = {}


def sample(name, topology, description, captures=((CLI, 'rsw-c', ''),), extra=(), keep=None):
    """Registers a sample: its topology (rswlib.PAIR or PROXY), the text for the truth file,
    where tcpdump runs (namespace, interface, suffix of the capture's name: one capture per
    entry, each with its own truth file), further tcpdump options, and `keep`: a test on the
    classes found (a list) that a run must pass to be kept, for endings that are a race (like
    fin_simultaneous in make-samples.sh); a run that fails it is retaken."""
    def register(fn):
        SAMPLES[name] = (fn, topology, description, list(captures), list(extra), keep)
        return fn
    return register


class Spec:
    def __init__(self, name):
        (fn, self.topology, self.description, self.captures, self.extra,
         self.keep) = SAMPLES[name]
        self.fn, self.name = fn, name


def take(name):
    spec = Spec(name)
    for attempt in range(1, TRIES + 1):
        run = Run(spec)
        try:
            return attempt_once(spec, run)
        except Failed as e:
            print('realsw: %s: attempt %d not usable: %s' % (name, attempt, e), file=sys.stderr)
        finally:
            run.stop_all()
            for w in run.watches.values():
                w.stop()
            run.topo.teardown()
            if os.environ.get('RSW_KEEP'):
                # debugging: keep the logs, and dump the receive-queue records
                with open(run.path('records.txt'), 'w') as f:
                    for ns, w in run.watches.items():
                        for rec in w.destroyed:
                            f.write('%s destroyed %r\n' % (ns, rec[:5]))
                print('realsw: kept %s' % run.work, file=sys.stderr)
            else:
                shutil.rmtree(run.work, ignore_errors=True)
    raise SystemExit('realsw: %s: no usable capture in %d attempts' % (name, TRIES))


def attempt_once(spec, run):
    run.topo.setup()
    for ns in spec.topology['namespaces']:
        run.watches[ns] = rswlib.Watch(ns, run.work)
        run.watches[ns].start()
    dumps = []
    for ns, iface, suffix in spec.captures:
        td = rswlib.Tcpdump(ns, iface, run.path(spec.name + suffix + '.pcap'), spec.extra)
        td.start()
        dumps.append((ns, suffix, td))
    spec.fn(run)
    time.sleep(0.5)                          # the last FINs/RSTs and destroy records
    for _, _, td in dumps:
        td.stop()
    run.stop_all()
    time.sleep(0.2)
    for w in run.watches.values():
        w.stop()
    per_capture = []
    claimed = set()
    for ns, suffix, td in dumps:
        conns = rswlib.connections(rswlib.read_segments(td.path))
        per_capture.append((ns, suffix, td, conns, [], []))
    for server, what, count in run.expects:
        for ns, suffix, td, conns, rows, comments in per_capture:
            mine = [c for c in conns if c.server == server and id(c) not in claimed]
            if mine:
                break
        if count is not None:
            mine = mine[:count]
        if len(mine) < (count or 1):
            raise Failed('expected %s connection(s) to %s (%s), found %d'
                         % (count or 'some', server, what, len(mine)))
        for c in mine:
            claimed.add(id(c))
            cls, closer, cm = decide(run, c)
            rows.append((c, (c.client, c.server, cls, closer, ())))
            comments.append('connection %s -> %s: %s' % (c.client, c.server, what))
            comments += cm
    for ns, suffix, td, conns, rows, comments in per_capture:
        extra = [c for c in conns if id(c) not in claimed]
        if extra:
            raise Failed('unexpected connections: %s' % ', '.join(c.client for c in extra))
    classes = [row[2] for pc in per_capture for _, row in pc[4]]
    if spec.keep and not spec.keep(classes):
        raise Failed('not the race this sample keeps: %s' % ', '.join(classes))
    for ns, suffix, td, conns, rows, comments in per_capture:
        name = spec.name + suffix
        rows.sort(key=lambda r: r[0].segs[0].t)
        where = {CLI: "client's", SRV: "server's", PRX: "proxy's"}[ns]
        captured = 'captured in the %s namespace by tcpdump %s; %s' % (
            where, td.describe(), rswlib.linktype_of(td.path))
        # the proxy is the server of the connections it accepts, the client of those it opens
        vantage = {CLI: 'client', SRV: 'server'}.get(ns) or (
            'server' if suffix == '_front' else 'client')
        text = rswlib.truth_text(name, spec.description, captured, vantage,
                                 [r[1] for r in rows], comments + run.notes)
        shutil.copy(td.path, os.path.join(rswlib.CAPTURES, name + '.pcap'))
        with open(os.path.join(rswlib.CAPTURES, name + '.truth'), 'w') as f:
            f.write(text)
        summary = {}
        for _, row in rows:
            key = row[2] + '/' + row[3]
            summary[key] = summary.get(key, 0) + 1
        print('%-28s %s' % (name, ' '.join('%d %s' % (n, k) for k, n in sorted(summary.items()))))


# ---- daemons ----------------------------------------------------------------------------------

NGINX_CONF = '''
daemon off;
master_process off;
worker_processes 1;
user root;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {w}/nginx-access.log;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    default_type application/octet-stream;
    keepalive_timeout 1s;
    client_body_timeout 1s;
    client_header_timeout 3s;
    client_header_buffer_size 1k;
    large_client_header_buffers 2 1k;
    client_max_body_size 1k;
    server {{
        listen {addr}:8080;
        root {w}/www;
        location / {{ }}
        location /slow/ {{ limit_rate {rate}; }}
        # the body is read in full before proxying (proxy_request_buffering on): a stalled
        # upload meets client_body_timeout; nothing listens on port 9
        location /upload {{
            client_max_body_size 1m;
            reset_timedout_connection on;
            proxy_pass http://127.0.0.1:9;
        }}
        location /upload-fin {{
            client_max_body_size 1m;
            proxy_pass http://127.0.0.1:9;
        }}
        # a client that stops reading a download: send_timeout, then an abortive close
        location /unread/ {{
            alias {w}/www/;
            send_timeout 1s;
            reset_timedout_connection on;
        }}
    }}
    # the same without lingering close: an error answered before the request was read in
    # full is followed by close() at once
    server {{
        listen {addr}:8082;
        root {w}/www;
        lingering_close off;
        location /slow/ {{ limit_rate {rate}; }}
    }}
}}
'''


def start_nginx(run, ns, addr, rate='10k'):
    w = run.work
    www = os.path.join(w, 'www')
    os.makedirs(os.path.join(www, 'slow'))
    with open(os.path.join(www, 'index.html'), 'w') as f:
        f.write('<html><body>' + 'tcpmortem sample page ' * 25 + '</body></html>\n')
    payload = bytes((i * 7 + 13) % 251 for i in range(1 << 20))
    with open(os.path.join(www, 'big.bin'), 'wb') as f:
        f.write(payload)
    for path in (os.path.join(www, 'slow', 'mid.bin'), os.path.join(www, 'mid.bin')):
        with open(path, 'wb') as f:
            f.write(payload[:100000])
    conf = run.path('nginx.conf')
    with open(conf, 'w') as f:
        f.write(NGINX_CONF.format(w=w, addr=addr, rate=rate))
    run.start(ns, ['nginx', '-c', conf, '-p', w], 'nginx')
    run.wait_listen(ns, 8080)


# ---- the samples ------------------------------------------------------------------------------

@sample('realsw_nginx', rswlib.PAIR, '''
nginx 1.22 (Debian 12) on 198.51.100.2:8080: keepalive_timeout 1s, client_body_timeout 1s,
client_header_buffer_size 1k, large_client_header_buffers 2 1k, client_max_body_size 1k.
40001 curl fetches a 600-byte page and exits. 40002 a Python client fetches the page on a
keepalive connection and stays idle until nginx's keepalive_timeout closes it. 40003 a Python
client POSTs to /upload (Content-Length 100000, reset_timedout_connection on), sends 30000 bytes
and stalls; nginx reads them all, times out after 1 s. 40004 the same on /upload-fin
(reset_timedout_connection off). 40005 curl sends a request with a 60000-byte header: nginx
answers 400 having read only its header buffers. 40006 the same request from a Python client
that sends the header and waits. 40007 curl POSTs a 100000-byte body to a location with
client_max_body_size 1k (413). 40008 curl --limit-rate 20k --max-time 2 downloads a 1 MB file
and gives up mid-download. 40009 and 40010 are 40005 and 40006 sent to a server block on port
8082 with lingering_close off. 40011 a Python client GETs the 1 MB file from a location with
send_timeout 1s and reset_timedout_connection on, and reads nothing for 2.5 s.''')
def realsw_nginx(run):
    start_nginx(run, SRV, S4)
    url = 'http://%s:8080' % S4
    srv = S4 + ':8080'
    curl = ['curl', '-sS', '-o', '/dev/null']
    run.expect(srv, 'curl GET, exit')
    run.run(CLI, curl + ['--local-port', '40001', url + '/index.html'], 'c40001')
    run.expect(srv, 'keepalive connection left idle: keepalive_timeout')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 8080, 40002)
s.sendall(b'GET /index.html HTTP/1.1\\r\\nHost: rsw\\r\\n\\r\\n')
until_end(s, 5)
s.close()
''' % S4, 'c40002')
    for port, loc in ((40003, '/upload'), (40004, '/upload-fin')):
        run.expect(srv, 'stalled upload to %s: client_body_timeout' % loc)
        run.python(CLI, '''
s = conn('198.51.100.1', '%s', 8080, %d)
s.sendall(b'POST %s HTTP/1.1\\r\\nHost: rsw\\r\\nContent-Length: 100000\\r\\n\\r\\n')
s.sendall(b'u' * 30000)
until_end(s, 5)
s.close()
''' % (S4, port, loc), 'c%d' % port)
    run.expect(srv, 'curl, 60000-byte header')
    run.run(CLI, curl + ['--local-port', '40005', '-H', 'X-Big: ' + 'h' * 60000,
                         url + '/index.html'], 'c40005')
    run.expect(srv, 'Python, 60000-byte header, waits for the answer')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 8080, 40006)
s.sendall(b'GET /index.html HTTP/1.1\\r\\nHost: rsw\\r\\nX-Big: ' + b'h' * 60000 + b'\\r\\n\\r\\n')
until_end(s, 5)
s.close()
''' % S4, 'c40006')
    body = run.path('body.bin')
    with open(body, 'wb') as f:
        f.write(b'b' * 100000)
    run.expect(srv, 'curl POST of 100000 bytes over client_max_body_size (413)')
    run.run(CLI, curl + ['--local-port', '40007', '-H', 'Expect:', '--data-binary', '@' + body,
                         url + '/index.html'], 'c40007')
    run.expect(srv, 'curl --limit-rate 20k --max-time 2 on 1 MB')
    run.run(CLI, curl + ['--local-port', '40008', '--limit-rate', '20k', '--max-time', '2',
                         url + '/big.bin'], 'c40008', ok=(28,))
    run.expect(srv, 'GET of 1 MB, the client never reads: send_timeout')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 8080, 40011)
s.sendall(b'GET /unread/big.bin HTTP/1.1\\r\\nHost: rsw\\r\\n\\r\\n')
time.sleep(2.5)
until_end(s, 5)
s.close()
''' % S4, 'c40011')
    srv2 = S4 + ':8082'
    run.expect(srv2, 'curl, 60000-byte header, lingering_close off')
    run.run(CLI, curl + ['--local-port', '40009', '-H', 'X-Big: ' + 'h' * 60000,
                         'http://%s:8082/index.html' % S4], 'c40009', ok=(0, 52, 56))
    run.expect(srv2, 'Python, 60000-byte header, waits for the answer, lingering_close off')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 8082, 40010)
s.sendall(b'GET /index.html HTTP/1.1\\r\\nHost: rsw\\r\\nX-Big: ' + b'h' * 60000 + b'\\r\\n\\r\\n')
until_end(s, 5)
s.close()
''' % S4, 'c40010')


@sample('realsw_loadgen', rswlib.PAIR, extra=['-s', '128'],
        keep=lambda classes: 'rst_unread_data' in classes, description="""
Load generators against nginx 1.22 on 198.51.100.2:8080 and :8082 (lingering_close off) serving a
100000-byte file; the server's side of the link is a 20 Mbit/s bottleneck (tc tbf on rsw-s, burst
16 kB, latency 50 ms), so the responses arrive steadily (captured with snaplen 128: headers
only): wrk -t1 -c3 -d1s to port 8080 (wrk opens one connection first to check the server), then
ab -k -c3 -t1 to port 8082; both stop at their time limit with responses still arriving. Whether
a connection had data unread at that moment is a race (most read everything: FIN, then the
server's next segments are reset): a run is kept only if at least one had.""")
def realsw_loadgen(run):
    start_nginx(run, SRV, S4)
    rswlib.sh(*nsexec(SRV, ['tc', 'qdisc', 'add', 'dev', 'rsw-s', 'root', 'tbf', 'rate',
                            '20mbit', 'burst', '16kb', 'latency', '50ms']))
    srv = S4 + ':8080'
    run.expect(srv, 'wrk -t1 -c3 -d1s, stops at its time limit', count=None)
    run.run(CLI, ['wrk', '-t1', '-c3', '-d1s', '--timeout', '5s',
                  'http://%s:8080/mid.bin' % S4], 'wrk')
    time.sleep(1.0)
    run.expect(S4 + ':8082', 'ab -k -c3 -t1, stops at its time limit', count=None)
    run.run(CLI, ['ab', '-k', '-c', '3', '-t', '1', '-n', '100000',
                  'http://%s:8082/mid.bin' % S4], 'ab')
    for log in ('wrk', 'ab'):
        lines = [line.strip() for line in open(run.path(log + '.log'))
                 if re.match(r'\s*(\d+ requests in|Complete requests|Time taken)', line)]
        run.note('%s said: %s' % (log, ' | '.join(lines)))


def start_redis(run, ns, addr):
    run.start(ns, ['redis-server', '--bind', addr, '--port', '6379', '--save', '',
                   '--appendonly', 'no', '--protected-mode', 'no', '--timeout', '1',
                   '--daemonize', 'no', '--dir', run.work], 'redis')
    run.wait_listen(ns, 6379)


def stop_snapshot_kill(run, proc, ns, settle=0.5):
    """SIGSTOP a client (it reads nothing more), let what is in flight arrive, take an `ss -tn`
    snapshot, SIGKILL it."""
    proc.send_signal(signal.SIGSTOP)
    time.sleep(settle)
    table = run.watches[ns].snapshot()
    proc.kill()
    proc.wait(5)
    return table


@sample('realsw_redis', rswlib.PAIR, '''
redis-server 7.0 (Debian 12) on 198.51.100.2:6379 with `timeout 1` (idle clients closed after
1 s). 1: redis-cli SET of a 10000-byte value, exits. 2: redis-cli SUBSCRIBE news; the process is
stopped (SIGSTOP), 3: a second redis-cli publishes ten 10000-byte messages and exits, then the
subscriber is killed (SIGKILL) with the messages in its receive queue. 4: redis-cli --pipe sends
BLPOP on an empty list with a 0.5 s timeout followed by ten GETs of the 10000-byte value; it is
stopped during the BLPOP, the replies arrive, it is killed. 5: redis-cli SUBSCRIBE killed with
nothing pending. 6: a Python client sends PING, reads PONG and stays idle until redis-server's
timeout closes it.''')
def realsw_redis(run):
    start_redis(run, SRV, S4)
    srv = S4 + ':6379'
    cli = ['redis-cli', '-h', S4, '-p', '6379']
    value = 'v' * 10000
    run.expect(srv, 'redis-cli SET, exit')
    run.run(CLI, cli + ['SET', 'big', value], 'set')
    run.expect(srv, 'redis-cli SUBSCRIBE, stopped, killed with ten 10000-byte messages pending')
    sub = run.start(CLI, cli + ['SUBSCRIBE', 'news'], 'sub')
    time.sleep(0.5)
    sub.send_signal(signal.SIGSTOP)
    run.expect(srv, 'redis-cli publishing ten messages, exit')
    run.run(CLI, cli, 'pub', stdin_data=''.join('PUBLISH news %s\n' % value
                                                 for _ in range(10)).encode())
    time.sleep(0.3)
    stop_snapshot_kill(run, sub, CLI, settle=0.1)
    run.expect(srv, 'redis-cli --pipe stopped during BLPOP, killed with ten GET replies pending')
    pipe = run.start(CLI, cli + ['--pipe'], 'pipe', stdin=subprocess.PIPE)
    pipe.stdin.write(b'BLPOP nothing 0.5\r\n' + b'GET big\r\n' * 10)
    pipe.stdin.flush()
    time.sleep(0.25)
    stop_snapshot_kill(run, pipe, CLI, settle=0.7)
    run.expect(srv, 'redis-cli SUBSCRIBE killed with nothing pending')
    sub2 = run.start(CLI, cli + ['SUBSCRIBE', 'other'], 'sub2')
    time.sleep(0.5)
    stop_snapshot_kill(run, sub2, CLI, settle=0.1)
    run.expect(srv, 'PING, then idle until the server timeout')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 6379, 40006)
s.sendall(b'PING\\r\\n')
until_end(s, 5)
s.close()
''' % S4, 'idle')


HAPROXY_CONF = '''
global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 1s
    timeout server 1s
    timeout http-request 1s
    timeout http-keep-alive 1s
frontend fe
    bind {p4c}:8080
    tcp-request connection reject if {{ src_port 40005 }}
    http-request deny if {{ path_beg /deny }}
    use_backend stall if {{ path_beg /stall }}
    default_backend web
backend web
    server nginx {b4}:8080
backend stall
    server py {b4}:8081
'''

STALL_SERVER = r'''
import socket, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('%s', 8081))
l.listen(8)
while True:
    c, _ = l.accept()
    c.recv(65536)          # the request, never answered; the socket stays open
    held = globals().setdefault('held', [])
    held.append(c)
'''


@sample('realsw_haproxy', rswlib.PROXY,
        captures=((PRX, 'rsw-pc', '_front'), (PRX, 'rsw-ps', '_back')), description='''
haproxy 2.6 (Debian 12) on 198.51.100.66:8080 in the proxy's namespace, mode http, timeouts
client/server/http-request/http-keep-alive 1 s, in front of nginx 1.22 on 198.51.100.130:8080
(keepalive_timeout 1s) and of a Python server on 198.51.100.130:8081 that reads requests and never
answers. Both legs captured in the proxy's namespace: realsw_haproxy_front (rsw-pc, client to
haproxy) and realsw_haproxy_back (rsw-ps, haproxy to the servers). 40001 curl GET through
haproxy, exits. 40002 a Python client GETs on a keepalive connection and stays idle (timeout
http-keep-alive). 40003 curl GET /stall: the backend never answers, haproxy's timeout server
gives 504. 40004 a Python client sends half a request line and stalls (timeout http-request:
408). 40005 curl from a source port haproxy rejects (tcp-request connection reject). 40006 curl
--limit-rate 20k --max-time 2 downloads a 1 MB file through haproxy and gives up. 40007 curl
POSTs 100000 bytes to a path haproxy denies (http-request deny: 403). 40008 a Python client GETs
the 1 MB file and reads nothing for 2.5 s (timeout client 1s).''')
def realsw_haproxy(run):
    start_nginx(run, SRV, B4)
    run.start(SRV, ['python3', '-c', STALL_SERVER % B4], 'stall')
    run.wait_listen(SRV, 8081)
    conf = run.path('haproxy.cfg')
    with open(conf, 'w') as f:
        f.write(HAPROXY_CONF.format(p4c=P4C, b4=B4))
    run.start(PRX, ['haproxy', '-db', '-f', conf], 'haproxy')
    run.wait_listen(PRX, 8080)
    url = 'http://%s:8080' % P4C
    fe, web, stall = P4C + ':8080', B4 + ':8080', B4 + ':8081'
    curl = ['curl', '-sS', '-o', '/dev/null']
    run.expect(fe, 'curl GET through haproxy, exit')
    run.expect(web, 'haproxy to nginx for 40001')
    run.run(CLI, curl + ['--local-port', '40001', url + '/index.html'], 'c40001')
    time.sleep(1.5)
    run.expect(fe, 'keepalive connection left idle: timeout http-keep-alive')
    run.expect(web, 'haproxy to nginx for 40002')
    run.python(CLI, '''
s = conn('198.51.100.65', '%s', 8080, 40002)
s.sendall(b'GET /index.html HTTP/1.1\\r\\nHost: rsw\\r\\n\\r\\n')
until_end(s, 5)
s.close()
''' % P4C, 'c40002')
    time.sleep(1.5)
    run.expect(fe, 'curl GET /stall: timeout server, 504')
    run.expect(stall, 'haproxy to the stalled backend for 40003')
    run.run(CLI, curl + ['--local-port', '40003', url + '/stall'], 'c40003')
    run.expect(fe, 'half a request line, stalled: timeout http-request')
    run.python(CLI, '''
s = conn('198.51.100.65', '%s', 8080, 40004)
s.sendall(b'GET /index.html HT')
until_end(s, 5)
s.close()
''' % P4C, 'c40004')
    run.expect(fe, 'curl from a rejected source port')
    run.run(CLI, curl + ['--local-port', '40005', url + '/index.html'], 'c40005', ok=(7, 52, 56))
    run.expect(fe, 'curl --limit-rate 20k --max-time 2 through haproxy')
    run.expect(web, 'haproxy to nginx for 40006')
    run.run(CLI, curl + ['--local-port', '40006', '--limit-rate', '20k', '--max-time', '2',
                         url + '/big.bin'], 'c40006', ok=(28,))
    run.note('curl 40006 said: ' + open(run.path('c40006.log')).read().strip())
    time.sleep(1.5)
    body = run.path('body.bin')
    with open(body, 'wb') as f:
        f.write(b'b' * 100000)
    run.expect(fe, 'curl POST of 100000 bytes to a denied path (403)')
    run.run(CLI, curl + ['--local-port', '40007', '-H', 'Expect:', '--data-binary', '@' + body,
                         url + '/deny'], 'c40007', ok=(0, 52, 55, 56))
    run.expect(fe, 'GET of 1 MB, the client never reads: timeout client')
    run.expect(web, 'haproxy to nginx for 40008')
    run.python(CLI, '''
s = conn('198.51.100.65', '%s', 8080, 40008)
s.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: rsw\\r\\n\\r\\n')
time.sleep(2.5)
until_end(s, 5)
s.close()
''' % P4C, 'c40008')
    time.sleep(1.5)


SSHD_CONF = '''
ListenAddress {addr}:22
HostKey {w}/host_ed25519
PidFile {w}/sshd.pid
AuthorizedKeysFile {w}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LoginGraceTime 2
'''


@sample('realsw_ssh', rswlib.PAIR, '''
OpenSSH 9.2 (Debian 12) sshd on 198.51.100.2:22, LoginGraceTime 2, public keys only. 1: ssh logs
in with its key and runs `true`. 2: ssh without an accepted key (BatchMode): permission denied.
3 (40003): a Python client reads the server's banner, sends its own and stalls: sshd gives up
after LoginGraceTime. 4 (40004): a Python client sends an HTTP request instead of an SSH
identification string and waits.''')
def realsw_ssh(run):
    w = run.work
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', w + '/host_ed25519'],
                   check=True)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', w + '/user'],
                   check=True)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', w + '/stranger'],
                   check=True)
    shutil.copy(w + '/user.pub', w + '/authorized_keys')
    with open(run.path('sshd_config'), 'w') as f:
        f.write(SSHD_CONF.format(addr=S4, w=w))
    os.makedirs('/run/sshd', exist_ok=True)   # sshd's privilege separation directory
    run.start(SRV, ['/usr/sbin/sshd', '-D', '-e', '-f', run.path('sshd_config')], 'sshd')
    run.wait_listen(SRV, 22)
    srv = S4 + ':22'
    ssh = ['ssh', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
           '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o',
           'IdentitiesOnly=yes']
    run.expect(srv, 'ssh with its key runs true')
    run.run(CLI, ssh + ['-i', w + '/user', 'root@' + S4, 'true'], 'ssh-ok')
    run.expect(srv, 'ssh without an accepted key')
    run.run(CLI, ssh + ['-i', w + '/stranger', 'root@' + S4, 'true'], 'ssh-denied', ok=(255,))
    run.expect(srv, 'banner, then silence: LoginGraceTime')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 22, 40003)
print(s.recv(256))
s.sendall(b'SSH-2.0-rsw_stalled\\r\\n')
until_end(s, 6)
s.close()
''' % S4, 'grace')
    run.expect(srv, 'an HTTP request instead of an identification string')
    run.python(CLI, '''
s = conn('198.51.100.1', '%s', 22, 40004)
s.sendall(b'GET / HTTP/1.1\\r\\nHost: rsw\\r\\nUser-Agent: rsw\\r\\n\\r\\n')
until_end(s, 6)
s.close()
''' % S4, 'http')


@sample('realsw_tls', rswlib.PAIR, '''
OpenSSL 3.0 (Debian 12) `openssl s_server -WWW` on 198.51.100.2:8443 (TLS 1.3, a self-signed
RSA 2048 certificate) serving a 1 MB file. 1: `openssl s_client` GETs a small file (HTTP/1.0)
and exits at the end of its input. 2: `openssl s_client` GETs the 1 MB
file with its output going to a pipe nobody reads: it blocks writing, stops reading the
socket; it is then killed (SIGKILL).''')
def realsw_tls(run):
    w = run.work
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj',
                    '/CN=rsw', '-days', '2', '-keyout', w + '/key.pem', '-out', w + '/cert.pem'],
                   check=True, capture_output=True)
    www = os.path.join(w, 'www')
    os.makedirs(www)
    with open(os.path.join(www, 'small.txt'), 'w') as f:
        f.write('tcpmortem\n' * 50)
    with open(os.path.join(www, 'big.bin'), 'wb') as f:
        f.write(bytes((i * 7 + 13) % 251 for i in range(1 << 20)))
    run.start(SRV, ['sh', '-c', 'cd %s && exec openssl s_server -quiet -accept %s:8443 '
                    '-cert %s/cert.pem -key %s/key.pem -WWW' % (www, S4, w, w)], 's_server')
    run.wait_listen(SRV, 8443)
    srv = S4 + ':8443'
    s_client = ['openssl', 's_client', '-quiet', '-connect', srv]
    run.expect(srv, 's_client GET small file, end of input')
    run.run(CLI, s_client, 'c1', stdin_data=b'GET /small.txt HTTP/1.0\r\n\r\n')
    run.expect(srv, 's_client GET 1 MB into an unread pipe, killed')
    r, wfd = os.pipe()
    blocked = run.start(CLI, s_client, 'c2', stdin=subprocess.PIPE, stdout=wfd)
    os.close(wfd)
    blocked.stdin.write(b'GET /big.bin HTTP/1.0\r\n\r\n')
    blocked.stdin.flush()
    time.sleep(1.0)
    run.watches[CLI].snapshot()
    blocked.kill()
    blocked.wait(5)
    os.close(r)


# ---- main -------------------------------------------------------------------------------------

def install_deps():
    missing = [p for p in PACKAGES if subprocess.run(
        ['dpkg-query', '-W', '-f=${Status}', p], capture_output=True,
        text=True).stdout != 'install ok installed']
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        subprocess.run(['apt-get', 'update', '-qq'], check=True, env=env)
        # Debian's policy-rc.d or the absence of systemd keeps the daemons from starting
        subprocess.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends'] + missing,
                       check=True, env=env)


def main(argv):
    if argv[:1] == ['--deps']:
        install_deps()
        argv = argv[1:]
    if argv[:1] == ['-o']:
        rswlib.CAPTURES = argv[1]            # elsewhere than samples/captures
        argv = argv[2:]
    if argv[:1] == ['list']:
        print('\n'.join(SAMPLES))
        return 0
    if os.geteuid() != 0:
        raise SystemExit('realsw: must run as root (namespaces, tcpdump)')
    names = argv or list(SAMPLES)
    for name in names:
        if name not in SAMPLES:
            raise SystemExit('realsw: no sample %s (see list)' % name)
    for name in names:
        take(name)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
