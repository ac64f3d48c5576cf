#!/usr/bin/env python3
"""Ground-truth captures of incidents: many connections ending at once for one cause.

Real Linux sockets in three network namespaces (client -- router -- server), with many
concurrent connections and independent background traffic around the event:

    inc-c  10.77.1.2 (service clients), 10.77.1.3 (background clients)
           |  veth inc-c0 -- inc-r1 (10.77.1.1)       tcpdump runs here, in the router
    inc-r  router, ip_forward                           (client-facing side)
           |  veth inc-r2 (10.77.2.1) -- inc-s0
    inc-s  10.77.2.2:8080 (the service), 10.77.2.3:9090 (a background service)

Usage (root):  python3 samples/incidents/make-incidents.py [SCENARIO...]
               python3 samples/incidents/make-incidents.py list
Writes samples/incidents/SCENARIO.pcap and SCENARIO.truth.json. The truth is what the programs
did, written by them as they did it: which connections were open when the server process was
killed, when the router rule went in, which connect() calls waited for a retried SYN, which
connections the server swept; never an analyzer's output.

Scenarios (each about 20-30 s):
  server_kill       the service process is SIGKILLed holding ~200 connections; a third of them
                    hold requests it never read
  path_reject       the router starts rejecting the service's traffic with TCP resets
                    (iptables REJECT --reject-with tcp-reset inserted on live connections)
  path_outage       the router drops the service's traffic both ways for 10 s; the clients'
                    TCP_USER_TIMEOUT (4 s) gives up on it during the outage
  listen_overflow   the service (listen backlog 4) stops accepting for 4 s while 150 clients
                    connect at once; their SYNs are dropped and retried
  keepalive_sweep   the service closes every connection idle for 3 s or more in one pass,
                    while its busy connections go on
  none_busy         no incident: connections with independent lifetimes, closers and resets
  none_loadtest     no incident: three bursts of 150 short request/response connections
"""

import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NS_C, NS_R, NS_S = 'inc-c', 'inc-r', 'inc-s'
CLIENT, BG_CLIENT = '10.77.1.2', '10.77.1.3'
SERVER, BG_SERVER = '10.77.2.2', '10.77.2.3'
PORT, BG_PORT = 8080, 9090
TCP_USER_TIMEOUT = getattr(socket, 'TCP_USER_TIMEOUT', 18)

SCENARIOS = ['server_kill', 'path_reject', 'path_outage', 'listen_overflow', 'keepalive_sweep',
             'none_busy', 'none_loadtest']


def sh(*cmd, ns=None, check=True):
    full = (['ip', 'netns', 'exec', ns] if ns else []) + list(cmd)
    return subprocess.run(full, check=check, capture_output=True, text=True)


# --------------------------------------------------------------------------------------------
# Topology

def teardown():
    for ns in (NS_C, NS_R, NS_S):
        sh('ip', 'netns', 'del', ns, check=False)


def setup():
    teardown()
    for ns in (NS_C, NS_R, NS_S):
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'link', 'set', 'lo', 'up', ns=ns)
    sh('ip', 'link', 'add', 'inc-c0', 'netns', NS_C, 'type', 'veth', 'peer', 'name', 'inc-r1',
       'netns', NS_R)
    sh('ip', 'link', 'add', 'inc-r2', 'netns', NS_R, 'type', 'veth', 'peer', 'name', 'inc-s0',
       'netns', NS_S)
    for ns, dev, addrs in ((NS_C, 'inc-c0', [CLIENT + '/24', BG_CLIENT + '/24']),
                           (NS_R, 'inc-r1', ['10.77.1.1/24']),
                           (NS_R, 'inc-r2', ['10.77.2.1/24']),
                           (NS_S, 'inc-s0', [SERVER + '/24', BG_SERVER + '/24'])):
        for a in addrs:
            sh('ip', 'addr', 'add', a, 'dev', dev, ns=ns)
        sh('ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx',
           'off', ns=ns, check=False)
        sh('ip', 'link', 'set', dev, 'up', ns=ns)
    sh('ip', 'route', 'add', 'default', 'via', '10.77.1.1', ns=NS_C)
    sh('ip', 'route', 'add', 'default', 'via', '10.77.2.1', ns=NS_S)
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1', ns=NS_R)
    # Source addresses chosen by the client role: bind() picks them; no sysctl needed.
    for ns in (NS_C, NS_S):
        sh('sysctl', '-qw', 'net.ipv4.tcp_syn_retries=6', ns=ns)
    # wait until every link is up (a veth pair comes up when both ends are)
    for _ in range(200):
        up = all('state UP' in sh('ip', 'link', 'show', dev, ns=ns).stdout
                 for ns, dev in ((NS_C, 'inc-c0'), (NS_R, 'inc-r1'), (NS_R, 'inc-r2'),
                                 (NS_S, 'inc-s0')))
        if up:
            break
        time.sleep(0.05)
    else:
        raise SystemExit('the links did not come up')
    time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# Roles (run in a namespace by `ip netns exec ... make-incidents.py role NAME SCENARIO RUNDIR`)

def note(rundir, key, value):
    with open(os.path.join(rundir, 'truth-' + key), 'a') as f:
        f.write(json.dumps(value) + '\n')


def wait_mark(rundir, name, limit=120):
    end = time.time() + limit
    while not os.path.exists(os.path.join(rundir, name)):
        if time.time() > end:
            raise SystemExit('timed out waiting for ' + name)
        time.sleep(0.01)


def mark(rundir, name):
    open(os.path.join(rundir, name), 'w').close()


class Server:
    """A line server: answers each "REQ" line with "RESP"; a connection whose first line is
    "NOREAD" is never read again; "BYE" makes the server close first; the sweep closes
    connections idle for a while."""

    def __init__(self, addr, port, backlog=128):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((addr, port))
        self.ls.listen(backlog)
        self.ls.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        self.conns = {}   # sock -> last activity
        self.accepting = True

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            if key.data is None:
                if not self.accepting:
                    continue
                try:
                    c, _ = self.ls.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                self.conns[c] = time.time()
                self.sel.register(c, selectors.EVENT_READ, 'c')
                continue
            c = key.fileobj
            try:
                data = c.recv(4096)
            except (ConnectionError, OSError):
                data = b''
            if not data:
                self.drop(c)
                continue
            self.conns[c] = time.time()
            text = data.decode(errors='replace')
            if text.startswith('NOREAD'):
                self.sel.unregister(c)   # never read again: requests pile up unread
                continue
            if 'BYE' in text:
                self.drop(c)
                continue
            n = text.count('REQ')
            try:
                c.send(b'RESP\n' * n)
            except OSError:
                self.drop(c)

    def set_accepting(self, on):
        self.accepting = on
        if on:
            self.poll(0)

    def drop(self, c):
        try:
            self.sel.unregister(c)
        except (KeyError, ValueError):
            pass
        self.conns.pop(c, None)
        c.close()

    def sweep(self, idle):
        now = time.time()
        gone = [c for c, t in self.conns.items() if now - t >= idle]
        for c in gone:
            self.drop(c)
        return gone


def run_server(scenario, rundir):
    backlog = 4 if scenario == 'listen_overflow' else 512
    if os.fork() == 0:
        # the background service: a process of its own, untouched by the service's fate
        bg = Server(BG_SERVER, BG_PORT)
        mark(rundir, 'bg-ready')
        while not os.path.exists(os.path.join(rundir, 'stop-servers')):
            bg.poll(0.01)
        os._exit(0)
    wait_mark(rundir, 'bg-ready')
    srv = Server(SERVER, PORT, backlog)
    mark(rundir, 'server-ready')
    sweep_done = stall_done = False
    while not os.path.exists(os.path.join(rundir, 'stop-servers')):
        srv.poll(0.005)
        if scenario == 'server_kill' and os.path.exists(os.path.join(rundir, 'kill')):
            # SIGKILL the service: the kernel closes its sockets at exit (unread data: RST)
            note(rundir, 'event', {'before': time.time()})
            os.kill(os.getpid(), signal.SIGKILL)
        if (scenario == 'keepalive_sweep' and not sweep_done and
                os.path.exists(os.path.join(rundir, 'sweep'))):
            t = time.time()
            gone = srv.sweep(3.0)
            note(rundir, 'event', {'before': t, 'after': time.time(), 'n': len(gone)})
            sweep_done = True
        if (scenario == 'listen_overflow' and not stall_done and
                os.path.exists(os.path.join(rundir, 'stall'))):
            srv.set_accepting(False)
            t = time.time()
            note(rundir, 'event', {'before': t})
            mark(rundir, 'stalled')
            time.sleep(4.0)   # the accept loop is stuck (a pause, a slow handler)
            srv.set_accepting(True)
            note(rundir, 'stall-end', time.time())
            stall_done = True


class Conn:
    def __init__(self, sock, kind, t0, period):
        self.sock, self.kind, self.t0, self.period = sock, kind, t0, period
        self.next = t0
        self.open = True
        self.tuple = None
        self.ended = None

    def close(self):
        if self.open:
            self.open = False
            self.ended = time.time()
            self.sock.close()


def connect(src, dst, port, blocking=True, user_timeout=None):
    s = socket.socket()
    s.bind((src, 0))
    if user_timeout:
        s.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout)
    s.settimeout(20)
    t = time.time()
    s.connect((dst, port))
    took = time.time() - t
    s.setblocking(False)
    return s, took


def four(s):
    a, p = s.getsockname()
    b, q = s.getpeername()
    return [a, p, b, q]


def background(rng, until, rundir):
    """Short independent connections to the background service, about 6 a second, each closed
    by either side at random after its own lifetime (the background of every capture)."""
    conns = []   # [sock, end time, closer, state]
    nxt = time.time()
    while time.time() < until:
        now = time.time()
        if now >= nxt:
            nxt = now + rng.expovariate(6.0)
            try:
                s, _ = connect(BG_CLIENT, BG_SERVER, BG_PORT)
                s.send(b'REQ\n')
                conns.append([s, now + rng.uniform(0.05, 1.5),
                              'server' if rng.random() < 0.5 else 'client', 'open'])
            except OSError:
                pass
        for item in list(conns):
            s, end, closer, state = item
            try:
                data = s.recv(4096)
                if data == b'':
                    s.close()
                    conns.remove(item)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                conns.remove(item)
                continue
            if state == 'open' and now >= end:
                if closer == 'client':
                    s.close()
                    conns.remove(item)
                else:
                    try:
                        s.send(b'BYE\n')   # the server closes first; we close on its FIN
                    except OSError:
                        pass
                    item[3] = 'closing'
        yield
    for item in conns:
        item[0].close()


def service_conns(rng, n, spread, noread_share=0.0, user_timeout=None, idle_share=0.0):
    """n long-lived connections to the service, opened over `spread` seconds."""
    conns = []
    t0 = time.time()
    for i in range(n):
        target = t0 + spread * i / n
        while time.time() < target:
            yield conns
        s, _ = connect(CLIENT, SERVER, PORT, user_timeout=user_timeout)
        r = rng.random()
        kind = 'noread' if r < noread_share else ('idle' if r < noread_share + idle_share else
                                                   'active')
        c = Conn(s, kind, time.time(), rng.uniform(0.3, 0.9))
        c.tuple = four(s)
        s.send(b'NOREAD\n' if kind == 'noread' else b'REQ\n')
        conns.append(c)
    yield conns


def drive(conns, now, rng, on_dead=None):
    """Requests on each live service connection; closes those the peer closed or reset."""
    def dead(c, why):
        if on_dead:
            on_dead(c, why)
        c.close()

    for c in conns:
        if not c.open:
            continue
        try:
            data = c.sock.recv(4096)
            if data == b'':
                dead(c, 'eof')
                continue
        except BlockingIOError:
            pass
        except OSError as e:
            dead(c, type(e).__name__)
            continue
        if c.kind != 'idle' and now >= c.next:
            c.next = now + c.period
            try:
                c.sock.send(b'REQ\n')
            except BlockingIOError:
                pass
            except OSError as e:
                dead(c, type(e).__name__)


def run_client(scenario, rundir):
    rng = random.Random(sum(scenario.encode()))
    start = time.time()
    length = {'none_busy': 30, 'none_loadtest': 30}.get(scenario, 26)
    bg = background(rng, start + length, rundir)
    members, extra = [], {}

    def tick(d=0.005):
        next(bg, None)
        time.sleep(d)

    if scenario == 'none_loadtest':
        for burst in (6, 14, 22):
            while time.time() < start + burst:
                tick()
            socks = []
            for _ in range(150):
                try:
                    s, _ = connect(CLIENT, SERVER, PORT)
                    s.send(b'REQ\nBYE\n')        # HTTP/1.0 style: the server closes after
                    socks.append(s)
                except OSError:
                    pass
            end = time.time() + 3
            while socks and time.time() < end:
                for s in list(socks):
                    try:
                        if s.recv(4096) == b'':
                            s.close()
                            socks.remove(s)
                    except BlockingIOError:
                        pass
                    except OSError:
                        s.close()
                        socks.remove(s)
                tick(0.002)
        while time.time() < start + length:
            tick()
        return {'incidents': []}

    if scenario == 'listen_overflow':
        while time.time() < start + 8:
            tick()
        mark(rundir, 'stall')
        wait_mark(rundir, 'stalled')
        time.sleep(0.05)
        # 150 clients connect at once (non-blocking connect; a retried SYN shows as a long wait)
        pend = []
        for _ in range(150):
            s = socket.socket()
            s.bind((CLIENT, 0))
            s.setblocking(False)
            t = time.time()
            try:
                s.connect((SERVER, PORT))
            except BlockingIOError:
                pass
            pend.append((s, t))
        done = []
        sel = selectors.DefaultSelector()
        for s, t in pend:
            sel.register(s, selectors.EVENT_WRITE, t)
        while len(done) < len(pend) and time.time() < start + length:
            for key, _ in sel.select(0.005):
                s, t = key.fileobj, key.data
                sel.unregister(s)
                took = time.time() - t
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    tup = four(s)
                    s.send(b'REQ\nBYE\n')
                    done.append((s, tup, took))
                else:
                    done.append((s, None, took))
            next(bg, None)
        # The application's view: a connect() that took over 0.9 s had its SYN retried (the
        # first retransmission comes after 1 s); those are the incident's connections.
        for s, tup, took in done:
            if tup and took > 0.9:
                members.append(tup)
        extra['fast_connects'] = sum(1 for _, tup, took in done if tup and took <= 0.9)
        while time.time() < start + length:
            for s, tup, took in done:
                try:
                    if s.fileno() >= 0 and s.recv(4096) == b'':
                        s.close()
                except (BlockingIOError, OSError):
                    pass
            tick()
        return {'incidents': [{'kind': 'listen_overflow', 'members': members}], **extra}

    n = {'server_kill': 200, 'path_reject': 180, 'path_outage': 160, 'keepalive_sweep': 200,
         'none_busy': 0}[scenario]
    gen = service_conns(rng, n, 5.0,
                        noread_share=0.33 if scenario == 'server_kill' else 0.0,
                        user_timeout=4000 if scenario == 'path_outage' else None,
                        idle_share=0.7 if scenario == 'keepalive_sweep' else 0.0)
    conns = []
    for conns in gen:
        drive(conns, time.time(), rng)
        tick()
    dead = {}

    def on_dead(c, why):
        dead[id(c)] = why

    if scenario == 'none_busy':
        # 300 connections, each with its own random lifetime and ending
        pool = []
        nxt = time.time()
        while time.time() < start + length:
            now = time.time()
            if now >= nxt and now < start + length - 8:
                nxt = now + rng.expovariate(12.0)
                s, _ = connect(CLIENT, SERVER, PORT)
                how = rng.choice(['client', 'server', 'noread'])
                c = Conn(s, 'noread' if how == 'noread' else 'active', now, rng.uniform(0.2, 1))
                s.send(b'NOREAD\n' if how == 'noread' else b'REQ\n')
                c.end = now + rng.expovariate(1 / 4.0)
                c.how = how
                pool.append(c)
            for c in pool:
                if c.open and now >= c.end:
                    if c.how == 'server':
                        try:
                            c.sock.send(b'BYE\n')
                        except OSError:
                            pass
                        c.kind = 'idle'
                        c.end = 1e18
                    else:
                        # client close; "noread": the client resets with SO_LINGER 0 at random
                        if c.how == 'noread' and rng.random() < 0.5:
                            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack('ii', 1, 0))
                        c.close()
            drive(pool, now, rng)
            tick()
        return {'incidents': []}

    # let the connections talk, then the event
    event_at = start + 10
    while time.time() < event_at:
        drive(conns, time.time(), rng)
        tick()
    alive = [c for c in conns if c.open]
    if scenario == 'server_kill':
        mark(rundir, 'kill')
        kind = 'server_exit'
    elif scenario == 'path_reject':
        mark(rundir, 'reject')
        wait_mark(rundir, 'rejecting')
        kind = 'path_reset'
    elif scenario == 'path_outage':
        mark(rundir, 'drop')
        wait_mark(rundir, 'dropping')
        kind = 'path_outage'
    else:
        mark(rundir, 'sweep')
        kind = 'keepalive_sweep'
    t_event = time.time()
    while time.time() < start + length:
        now = time.time()
        drive(conns, now, rng, on_dead)
        if scenario == 'keepalive_sweep':
            for c in conns:   # the busy connections end, each when its client is done
                if c.open and c.kind == 'active':
                    if not hasattr(c, 'done_at'):
                        c.done_at = t_event + rng.uniform(2, 14)
                    if now > c.done_at:
                        c.close()
        tick()
    if scenario == 'keepalive_sweep':
        members = [c.tuple for c in alive if c.kind == 'idle' and id(c) in dead]
        extra['survivors'] = sum(1 for c in alive if c.kind == 'active' and id(c) not in dead)
    elif scenario == 'path_outage':
        members = [c.tuple for c in alive if id(c) in dead]
    else:
        members = [c.tuple for c in alive]
        extra['noticed'] = sum(1 for c in alive if id(c) in dead)
    for c in conns:
        c.close()
    return {'incidents': [{'kind': kind, 'members': members}], **extra}


def run_router(scenario, rundir):
    mark(rundir, 'router-ready')
    rule = ['FORWARD', '-p', 'tcp', '-d', SERVER, '--dport', str(PORT)]
    back = ['FORWARD', '-p', 'tcp', '-s', SERVER, '--sport', str(PORT)]
    if scenario == 'path_reject':
        wait_mark(rundir, 'reject')
        t = time.time()
        subprocess.run(['iptables', '-I'] + rule + ['-j', 'REJECT', '--reject-with',
                                                   'tcp-reset'], check=True)
        note(rundir, 'event', {'before': t, 'after': time.time()})
        mark(rundir, 'rejecting')
    elif scenario == 'path_outage':
        wait_mark(rundir, 'drop')
        t = time.time()
        subprocess.run(['iptables', '-I'] + rule + ['-j', 'DROP'], check=True)
        subprocess.run(['iptables', '-I'] + back + ['-j', 'DROP'], check=True)
        note(rundir, 'event', {'before': t, 'after': time.time()})
        mark(rundir, 'dropping')
        time.sleep(10)
        subprocess.run(['iptables', '-D'] + rule + ['-j', 'DROP'], check=True)
        subprocess.run(['iptables', '-D'] + back + ['-j', 'DROP'], check=True)
        note(rundir, 'outage-end', time.time())


def role(name, scenario, rundir):
    if name == 'server':
        run_server(scenario, rundir)
    elif name == 'router':
        run_router(scenario, rundir)
    else:
        out = run_client(scenario, rundir)
        with open(os.path.join(rundir, 'client.json'), 'w') as f:
            json.dump(out, f)


# --------------------------------------------------------------------------------------------
# Driver

def read_notes(rundir, key):
    p = os.path.join(rundir, 'truth-' + key)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [json.loads(line) for line in f if line.strip()]


def make(scenario):
    import tempfile
    rundir = tempfile.mkdtemp(prefix='inc-run-')
    os.chmod(rundir, 0o777)
    pcap = os.path.join(HERE, scenario + '.pcap')
    setup()
    me = os.path.abspath(__file__)
    procs = []
    try:
        dump = subprocess.Popen(['ip', 'netns', 'exec', NS_R, 'tcpdump', '-i', 'inc-r1', '-U',
                                 '--immediate-mode', '-B', '65536', '-w', pcap, 'tcp'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        for r, ns in (('router', NS_R), ('server', NS_S)):
            procs.append(subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, me, 'role',
                                           r, scenario, rundir]))
        wait_mark(rundir, 'server-ready')
        wait_mark(rundir, 'router-ready')
        client = subprocess.run(['ip', 'netns', 'exec', NS_C, sys.executable, me, 'role',
                                 'client', scenario, rundir])
        if client.returncode != 0:
            raise SystemExit('client role failed')
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        _, err = dump.communicate(timeout=10)
        import re
        m = re.search(r'(\d+) packets dropped by kernel', err)
        if m and m.group(1) != '0':
            raise SystemExit('tcpdump dropped packets: ' + err)
        mark(rundir, 'stop-servers')
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        teardown()
    with open(os.path.join(rundir, 'client.json')) as f:
        out = json.load(f)
    events = read_notes(rundir, 'event')
    truth = {'scenario': scenario, 'capture': scenario + '.pcap', 'incidents': []}
    for inc in out.pop('incidents'):
        ev = events[0]
        inc['event_time'] = ev['before']
        if scenario == 'listen_overflow':
            inc['event_end'] = read_notes(rundir, 'stall-end')[0]
        elif scenario == 'path_outage':
            inc['event_end'] = read_notes(rundir, 'outage-end')[0]
        inc['members'] = sorted(inc['members'])
        inc['n_members'] = len(inc['members'])
        truth['incidents'].append(inc)
    truth['program'] = out
    with open(os.path.join(HERE, scenario + '.truth.json'), 'w') as f:
        json.dump(truth, f, indent=1)
        f.write('\n')
    subprocess.run(['rm', '-rf', rundir])
    print(scenario, ':', ', '.join('%s %d members' % (i['kind'], i['n_members'])
                                   for i in truth['incidents']) or 'no incident', out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == 'role':
        role(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) > 1 and sys.argv[1] == 'list':
        print('\n'.join(SCENARIOS))
        return
    names = sys.argv[1:] or SCENARIOS
    for n in names:
        if n not in SCENARIOS:
            raise SystemExit('unknown scenario ' + n)
    for n in names:
        make(n)


if __name__ == '__main__':
    main()
