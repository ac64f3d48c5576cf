"""rswlib.py - namespaces, tcpdump, receive-queue records and a small pcap reader for the
real-software samples (realsw.py) and the window experiments (window.py).

Everything here runs as root on the host and drives programs inside network namespaces through
`ip netns exec`. Names start with "rsw-" (namespaces, interfaces, temporary files) so this family
never collides with the other sample scripts running at the same time.

Topologies (addresses as in samples/README.md):

  pair   rsw-cli [rsw-c 198.51.100.1/24, 2001:db8::1/64] --- [rsw-s .2, ::2] rsw-srv
  proxy  rsw-cli [rsw-c 198.51.100.65/26] --- [rsw-pc .66] rsw-prx [rsw-ps .129]
         --- [rsw-s 198.51.100.130/26] rsw-srv          (no forwarding: the proxy terminates TCP)

Receive-queue records (the ground truth for unread data, never the scenario's intent):

  - `ss -E -tni` in every endpoint namespace prints each TCP socket when the kernel destroys it;
    its Recv-Q is rcv_nxt - copied_seq, i.e. the bytes the socket had received and its
    application never read. tcp_close() frees the unread queue without advancing copied_seq,
    so for a socket closed (or killed) with unread data this is exactly the unread byte count
    at close (measured: 5000 B unread at close() -> Recv-Q 5000 in the destroy record).
  - `ss -tn` snapshots, polled every ~20 ms in every endpoint namespace (and taken on demand
    right before a scenario kills a stopped process): the last one before a connection's end
    says how much was waiting then.

Only the standard library; pcaps are read with tests/lib/capfile.py.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import capfile  # noqa: E402
import truthfile  # noqa: E402

CAPTURES = os.path.join(ROOT, 'samples', 'captures')
PREFIX = 'rsw-'


class Failed(Exception):
    """The run did not produce what the sample needs: retake it."""


def sh(*argv, check=True, **kw):
    return subprocess.run(list(argv), check=check, **kw)


def nsexec(ns, argv):
    return ['ip', 'netns', 'exec', ns] + list(argv)


# ---- topology ---------------------------------------------------------------------------------

PAIR = {
    'namespaces': ['rsw-cli', 'rsw-srv'],
    'links': [('rsw-cli', 'rsw-c', '02:00:00:00:00:01', '198.51.100.1/24', '2001:db8::1/64',
               'rsw-srv', 'rsw-s', '02:00:00:00:00:02', '198.51.100.2/24', '2001:db8::2/64')],
}
PROXY = {
    'namespaces': ['rsw-cli', 'rsw-prx', 'rsw-srv'],
    'links': [('rsw-cli', 'rsw-c', '02:00:00:00:01:01', '198.51.100.65/26', '2001:db8::1:1/112',
               'rsw-prx', 'rsw-pc', '02:00:00:00:01:02', '198.51.100.66/26', '2001:db8::1:2/112'),
              ('rsw-prx', 'rsw-ps', '02:00:00:00:02:01', '198.51.100.129/26',
               '2001:db8::2:1/112',
               'rsw-srv', 'rsw-s', '02:00:00:00:02:02', '198.51.100.130/26', '2001:db8::2:2/112')],
}


class Topology:
    def __init__(self, spec):
        self.spec = spec
        self.namespaces = spec['namespaces']

    def setup(self):
        existing = sh('ip', 'netns', 'list', capture_output=True, text=True).stdout
        for ns in self.namespaces:
            if re.search(r'^%s\b' % re.escape(ns), existing, re.M):
                raise SystemExit('namespace %s exists; delete it first (ip netns del %s)'
                                 % (ns, ns))
        for ns in self.namespaces:
            sh('ip', 'netns', 'add', ns)
            sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        for (ns1, if1, mac1, a41, a61, ns2, if2, mac2, a42, a62) in self.spec['links']:
            sh('ip', 'link', 'add', if1, 'netns', ns1, 'address', mac1, 'type', 'veth',
               'peer', 'name', if2, 'netns', ns2, 'address', mac2)
            for ns, ifc, a4, a6, peer_mac, peer4, peer6 in (
                    (ns1, if1, a41, a61, mac2, a42, a62), (ns2, if2, a42, a62, mac1, a41, a61)):
                # segments MTU-sized with valid checksums
                sh(*nsexec(ns, ['ethtool', '-K', ifc, 'tso', 'off', 'gso', 'off', 'gro', 'off',
                                'tx', 'off', 'rx', 'off']), stdout=subprocess.DEVNULL)
                sh('ip', '-n', ns, 'addr', 'add', a4, 'dev', ifc)
                sh('ip', '-n', ns, 'addr', 'add', a6, 'dev', ifc, 'nodad')
                # static neighbours: no ARP/ND exchange delays the first SYN
                for addr in (peer4, peer6):
                    sh('ip', '-n', ns, 'neigh', 'add', addr.split('/')[0], 'lladdr', peer_mac,
                       'dev', ifc, 'nud', 'permanent')
                sh('ip', '-n', ns, 'link', 'set', ifc, 'up')
        # a fresh veth keeps its "noop" qdisc (dropping everything) until the link watcher ran
        for (ns1, if1, *_rest) in self.spec['links']:
            ns2, if2 = _rest[3], _rest[4]
            for ns, ifc in ((ns1, if1), (ns2, if2)):
                deadline = time.monotonic() + 6
                while 'qdisc noqueue state UP' not in sh(
                        'ip', '-n', ns, '-o', 'link', 'show', 'dev', ifc,
                        capture_output=True, text=True).stdout:
                    if time.monotonic() > deadline:
                        raise SystemExit('%s in %s did not come up' % (ifc, ns))
                    time.sleep(0.01)

    def teardown(self):
        existing = sh('ip', 'netns', 'list', capture_output=True, text=True).stdout
        for ns in self.namespaces:
            if re.search(r'^%s\b' % re.escape(ns), existing, re.M):
                pids = sh('ip', 'netns', 'pids', ns, capture_output=True, text=True,
                          check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                sh('ip', 'netns', 'del', ns, check=False)


def sysctl(ns, name, value):
    """Set a sysctl of one namespace (net.* sysctls are per namespace)."""
    sh(*nsexec(ns, ['sysctl', '-qw', '%s=%s' % (name, value)]))


# ---- tcpdump ----------------------------------------------------------------------------------

class Tcpdump:
    """tcpdump in a namespace; --immediate-mode and -B because without them packets still in the
    kernel's ring are lost when tcpdump stops (samples/README.md, pitfalls)."""

    def __init__(self, ns, iface, path, extra=()):
        self.path = path
        self.err = path + '.err'
        self.ns, self.iface = ns, iface
        self.argv = ['tcpdump', '-i', iface, '-U', '--immediate-mode', '-B', '65536',
                     '-w', path] + list(extra) + ['tcp']
        self.proc = None

    def describe(self):
        """The options that matter to a reader: '-i IFACE [EXTRA] tcp'."""
        return ' '.join(self.argv[1:3] + self.argv[9:])

    def start(self):
        with open(self.err, 'w') as err:
            self.proc = subprocess.Popen(nsexec(self.ns, self.argv), stderr=err)
        deadline = time.monotonic() + 5
        while True:
            with open(self.err) as f:
                if 'listening on' in f.read():
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit('tcpdump did not start: ' + open(self.err).read())
            time.sleep(0.02)

    def stop(self):
        time.sleep(0.3)                      # a moment for the last packets
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        text = open(self.err).read()
        if not re.search(r'^0 packets dropped by kernel', text, re.M):
            raise Failed('tcpdump lost packets: ' + text.replace('\n', ' '))


# ---- receive-queue records --------------------------------------------------------------------

SS_LINE = re.compile(r'^\s*(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)')


def norm_ep(text):
    """ss prints IPv4-mapped and scoped forms; keep 'A:P' or '[A6]:P' as in the truth files."""
    text = text.replace('[::ffff:', '[')
    m = re.match(r'^\[?([^\]]*?)\]?:(\d+)$', text)
    if not m:
        return text
    addr, port = m.group(1), m.group(2)
    if addr.startswith('::ffff:'):
        addr = addr[7:]
    return '[%s]:%s' % (addr, port) if ':' in addr else '%s:%s' % (addr, port)


class Watch:
    """Receive-queue records of one namespace: destroy events (ss -E) and polled snapshots."""

    def __init__(self, ns, workdir, poll_s=0.02):
        self.ns = ns
        self.poll_s = poll_s
        self.destroyed = []      # (time, local, peer, recvq, sendq, info line)
        self.snapshots = []      # (time, {(local, peer): (state, recvq, sendq)})
        self.lock = threading.Lock()
        self.procs = []
        self.stopping = False

    def start(self):
        ev = subprocess.Popen(nsexec(self.ns, ['stdbuf', '-oL', 'ss', '-E', '-tniH']),
                              stdout=subprocess.PIPE, text=True, bufsize=1)
        self.procs.append(ev)
        threading.Thread(target=self._events, args=(ev,), daemon=True).start()
        # one long-lived shell in the namespace takes the snapshots (no setns per poll); each
        # snapshot is followed by the time it was complete, so "before t" is never optimistic
        loop = ('while :; do ss -tnH state all; echo "@ $(date +%%s.%%N)"; '
                'sleep %s; done' % self.poll_s)
        pl = subprocess.Popen(nsexec(self.ns, ['sh', '-c', loop]), stdout=subprocess.PIPE,
                              text=True, bufsize=1)
        self.procs.append(pl)
        threading.Thread(target=self._polls, args=(pl,), daemon=True).start()
        time.sleep(0.2)          # ss -E subscribed, first snapshot taken

    def _events(self, proc):
        pending = None
        for line in proc.stdout:
            now = time.time()
            if line.startswith('\t') or line.startswith(' '):
                if pending:
                    with self.lock:
                        self.destroyed.append(pending + (line.strip(),))
                    pending = None
                continue
            if pending:
                with self.lock:
                    self.destroyed.append(pending + ('',))
            m = SS_LINE.match(line)
            pending = None
            if m:
                pending = (now, norm_ep(m.group(4)), norm_ep(m.group(5)), int(m.group(2)),
                           int(m.group(3)))
        if pending:
            with self.lock:
                self.destroyed.append(pending + ('',))

    def _polls(self, proc):
        table = {}
        for line in proc.stdout:
            if line.startswith('@ '):
                with self.lock:
                    self.snapshots.append((float(line.split()[1]), table))
                table = {}
                continue
            m = SS_LINE.match(line)
            if m:
                table[(norm_ep(m.group(4)), norm_ep(m.group(5)))] = (
                    m.group(1), int(m.group(2)), int(m.group(3)))

    def snapshot(self):
        """An extra `ss -tn` snapshot right now (e.g. of a stopped process before it is killed)."""
        out = sh(*nsexec(self.ns, ['ss', '-tnH', 'state', 'all']), capture_output=True,
                 text=True).stdout
        t = time.time()
        table = {}
        for line in out.splitlines():
            m = SS_LINE.match(line)
            if m:
                table[(norm_ep(m.group(4)), norm_ep(m.group(5)))] = (
                    m.group(1), int(m.group(2)), int(m.group(3)))
        with self.lock:
            self.snapshots.append((t, table))
            self.snapshots.sort(key=lambda s: s[0])
        return table

    def stop(self):
        time.sleep(0.1)
        for p in self.procs:
            p.kill()
            p.wait()

    def destroy_record(self, local, peer, after=0.0):
        """The destroy record of the socket local<->peer: (time, recvq, sendq, aborted) or None.
        An abortive close (SO_LINGER 0: tcp_disconnect) empties the receive queue, sets
        copied_seq = rcv_nxt and clears the peer's port before the socket is destroyed: its
        record reads 'PEER:*' with Recv-Q 0. tcp_close() takes that branch only when nothing
        was unread (it checks for unread data first and then sends its RST without
        disconnecting, keeping the queue count and the port), so aborted=True means: closed with
        SO_LINGER 0 and nothing unread."""
        peer_any = peer.rsplit(':', 1)[0] + ':*'
        port = local.rsplit(':', 1)[1]
        # a connect()ed socket also loses its source address (not bound explicitly)
        unbound = ('[::]:' if local.startswith('[') else '0.0.0.0:') + port
        with self.lock:
            for want_local, want_peer in ((local, peer), (local, peer_any), (unbound, peer_any)):
                for rec in self.destroyed:
                    if rec[0] >= after and rec[1] == want_local and rec[2] == want_peer:
                        return rec[0], rec[3], rec[4], want_peer == peer_any
        return None

    def last_snapshot(self, local, peer, before):
        """The last snapshot complete before `before` (epoch s) that shows the socket: (time
        it was complete, state, recvq, sendq) or None."""
        with self.lock:
            for t, table in reversed(self.snapshots):
                if t < before and (local, peer) in table:
                    return (t,) + table[(local, peer)]
        return None


# ---- reading the capture ----------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Seg:
    __slots__ = ('t', 'src', 'dst', 'flags', 'seq', 'ack', 'win', 'len', 'ttl', 'opts')

    def flagstr(self):
        return ''.join(c for bit, c in ((SYN, 'S'), (FIN, 'F'), (RST, 'R'), (PSH, 'P'),
                                        (ACK, '.')) if self.flags & bit)


def read_segments(path):
    """Every TCP segment of a capture (tests/lib/capfile.py), as Seg."""
    segs = []
    for d in capfile.segments(path):
        s = Seg()
        s.t = d['time']
        s.src, s.dst = ['[%s]:%d' % ep if ':' in ep[0] else '%s:%d' % ep
                        for ep in (d['src'], d['dst'])]
        s.flags = sum(bit for bit, letter in ((FIN, 'F'), (SYN, 'S'), (RST, 'R'), (PSH, 'P'),
                                              (ACK, '.')) if letter in d['flags'])
        s.seq, s.ack, s.win = d['seq'], d['ack'] or 0, d['win']
        s.len = d['wire_len']
        s.ttl = d['ttl']
        s.opts = d['options']
        segs.append(s)
    return segs


def wscale_of(seg):
    """The window scale option of a SYN, or None."""
    o = seg.opts
    i = 0
    while i < len(o):
        kind = o[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(o):
            break
        length = o[i + 1]
        if kind == 3 and length == 3:
            return o[i + 2]
        i += max(length, 2)
    return None


class Conn:
    """One connection of a capture: its segments in order, client = the SYN's sender."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.segs = []
        self.wscale = {}

    def side(self, ep):
        return 'client' if ep == self.client else 'server'

    def sent_by(self, side):
        ep = self.client if side == 'client' else self.server
        return [s for s in self.segs if s.src == ep]

    def first(self, side, flag):
        for s in self.sent_by(side):
            if s.flags & flag:
                return s
        return None

    def closed_seen(self, syn):
        """A FIN or RST was seen and `syn` is not a retransmission of this connection's SYN."""
        return any(x.flags & (FIN | RST) for x in self.segs) and \
            not any(x.seq == syn.seq and x.flags & SYN for x in self.segs)

    def scaled_window(self, seg):
        side = self.side(seg.src)
        if seg.flags & SYN:
            return seg.win
        both = len(self.wscale) == 2
        return seg.win << (self.wscale.get(side, 0) if both else 0)


def connections(segs):
    """Connections in the order of their first SYN; a new SYN on a closed 4-tuple starts a new
    connection."""
    conns, live = [], {}
    for s in segs:
        key = tuple(sorted((s.src, s.dst)))
        c = live.get(key)
        if s.flags & SYN and not s.flags & ACK and (c is None or c.closed_seen(s)):
            c = Conn(s.src, s.dst)
            conns.append(c)
            live[key] = c
        if c is None:
            continue
        if s.flags & SYN:
            ws = wscale_of(s)
            if ws is not None:
                c.wscale[c.side(s.src)] = ws
        c.segs.append(s)
    return conns


# ---- truth files ------------------------------------------------------------------------------

def truth_text(name, description, captured, vantage, rows, comments):
    """The truth file (tests/lib/truthfile.py format). rows: (client, server, class, closer,
    modifiers); comments: prose lines, after the description and the capture line."""
    prose = ['sample %s (samples/cases/realsw), IPv4:' % name]
    prose += [line.strip() for line in description.strip().splitlines()]
    prose += [captured] + list(comments)
    capture = {'scenario': name, 'family': '4', 'vantage': vantage}
    return truthfile.format_truth(prose, capture, [
        {'client': c, 'server': sv, 'class': cls, 'closer': closer,
         'modifiers': mods or (), 'detail': None, 'facts': {}}
        for c, sv, cls, closer, mods in rows])


def linktype_of(path):
    out = subprocess.run(['tcpdump', '-r', path, '-c', '1'], capture_output=True,
                         text=True).stderr
    m = re.search(r'link-type [^,]*(?:, [^)]*\))?', out)
    return m.group(0).split(',')[0] if m else 'link-type ?'


def workdir():
    return tempfile.mkdtemp(prefix='rsw-')
