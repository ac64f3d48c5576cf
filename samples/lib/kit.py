"""The shared kit of the sample scenarios: addresses, the per-capture context (marks between
the roles, notes), socket helpers, per-namespace knobs (sysctls, firewall rules), the marker
connection. Every scenario module does `from lib.kit import *`: these names are the vocabulary
the scenarios are written in. Standard library only.
"""

import errno
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import termios
import time

CLIENT4, SERVER4 = '198.51.100.1', '198.51.100.2'
CLIENT6, SERVER6 = '2001:db8::1', '2001:db8::2'
# The routed topology (make-samples.sh setup_routed): client and server on two links, the router
# in between (.66 / 2001:db8::1:2 towards the client, .129 / 2001:db8::2:1 towards the server).
ROUTED_CLIENT4, ROUTED_SERVER4 = '198.51.100.65', '198.51.100.130'
ROUTED_CLIENT6, ROUTED_SERVER6 = '2001:db8::1:1', '2001:db8::2:2'
ROUTER_MAC_TO_CLIENT = '02:00:00:00:01:02'
CLIENT_MAC_ROUTED = '02:00:00:00:01:01'
PORT = 8080          # the service port
CLOSED_PORT = 8081   # nothing listens here

# Linux constants not all exported by the socket module of every Python version.
TCP_KEEPIDLE = getattr(socket, 'TCP_KEEPIDLE', 4)
TCP_KEEPINTVL = getattr(socket, 'TCP_KEEPINTVL', 5)
TCP_KEEPCNT = getattr(socket, 'TCP_KEEPCNT', 6)
TCP_USER_TIMEOUT = getattr(socket, 'TCP_USER_TIMEOUT', 18)

# Every socket uses CUBIC, the stock Linux default, whatever the host's default is (a network
# namespace may only choose among the host's "allowed" algorithms, a root socket may use any).
CONGESTION = b'cubic'

WAIT_LIMIT = 60.0    # seconds; a role that waits longer than this for a mark gives up

# Interface and namespace names start with this prefix (make-samples.sh exports TM_PREFIX; it
# lets two runs on one machine keep apart).
PREFIX = os.environ.get('TM_PREFIX', 'tmortem')



class ScenarioError(Exception):
    """The stack did not do what the scenario needs; the capture must not be used."""


# --------------------------------------------------------------------------------------------
# Helpers shared by both roles

# The topologies (make-samples.sh): "pair", two namespaces on one veth pair; "routed", a router
# namespace between them; "distant", the routed topology with a delay line (delay.py) on each
# of the router's links, so the peers are tens of milliseconds apart.
TOPOLOGIES = ('pair', 'routed', 'distant')
# The distant topology's one-way delays in milliseconds, different in each direction (the delay
# line between client and router, the one between router and server): 45 ms from client to
# server, 75 ms back, a 120 ms round trip; from the router 40 ms to the client, 80 ms to the
# server. make-samples.sh reads them with `scenarios.py delays`.
# The timer settings of a fresh network namespace (Linux 6.x defaults): what a side runs with
# unless a scenario sets them (sysctls, or TCP_KEEP* socket options for keepalive).
DEFAULT_TIMERS = {'tcp_syn_retries': 6, 'tcp_retries2': 15, 'tcp_fin_timeout': 60,
                  'tcp_keepalive_time': 7200, 'tcp_keepalive_intvl': 75,
                  'tcp_keepalive_probes': 9}
DELAY_MS = {'client_to_router': 30, 'router_to_client': 10,
            'router_to_server': 15, 'server_to_router': 65}


class Ctx:
    """What a role knows of its capture: the address family, the addresses of the topology, the
    run directory holding the marks."""

    def __init__(self, family, rundir=None, topology='pair'):
        if family not in ('4', '6'):
            raise SystemExit('FAMILY must be 4 or 6')
        if topology not in TOPOLOGIES:
            raise SystemExit('unknown topology %r' % topology)
        self.v6 = family == '6'
        self.family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.topology = topology
        if topology != 'pair':
            self.client_ip = ROUTED_CLIENT6 if self.v6 else ROUTED_CLIENT4
            self.server_ip = ROUTED_SERVER6 if self.v6 else ROUTED_SERVER4
        else:
            self.client_ip = CLIENT6 if self.v6 else CLIENT4
            self.server_ip = SERVER6 if self.v6 else SERVER4
        self.rundir = rundir

    # -- marks -------------------------------------------------------------------------------
    def mark(self, name):
        with open(os.path.join(self.rundir, name), 'w'):
            pass

    def is_marked(self, name):
        return os.path.exists(os.path.join(self.rundir, name))

    def wait(self, name, limit=WAIT_LIMIT):
        deadline = time.monotonic() + limit
        while not self.is_marked(name):
            if time.monotonic() > deadline:
                raise ScenarioError('timed out waiting for mark %r' % name)
            time.sleep(0.005)

    def note(self, text):
        """Record when something only the application sees happened (printed by make-samples.sh
        with the epoch time, to compare with the capture's timestamps)."""
        with open(os.path.join(self.rundir, 'notes'), 'a') as f:
            f.write('%.6f %s\n' % (time.time(), text))

    def end_of_capture(self):
        """Ask make-samples.sh to stop tcpdump now, and wait until it has."""
        self.mark('stop-capture')
        self.wait('capture-stopped')

    # -- sockets -----------------------------------------------------------------------------
    def listen(self, port=PORT):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CONGESTION)
        s.bind((self.server_ip, port))
        s.listen(16)
        return s

    def serve(self, port=PORT):
        """listen() and tell the client it may connect (mark 'ready')."""
        ls = self.listen(port)
        self.mark('ready')
        return ls

    def request(self, cport, size, port=PORT, opts=()):
        """connect(), send a REQ-byte request and read the `size`-byte response."""
        s = self.connect(cport, port, opts)
        round_trip(s, size)
        return s

    def connect_times_out(self, cport, port=PORT):
        """A blocking connect() that must fail with ETIMEDOUT (SYNs unanswered); noted."""
        try:
            self.connect(cport, port)
        except TimeoutError:
            self.note('%d: connect() failed with ETIMEDOUT' % cport)
            return
        raise ScenarioError('%d: connect succeeded' % cport)

    def connect(self, cport, port=PORT, opts=()):
        """Connect from an explicit source port, once (a retry would put a refused connection
        into the capture, so the client waits for the server's "ready" mark instead)."""
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CONGESTION)
        for level, opt, value in opts:
            s.setsockopt(level, opt, value)
        s.bind((self.client_ip, cport))
        s.connect((self.server_ip, port))
        return s

    def endpoint(self, ip, port):
        return '[%s]:%d' % (ip, port) if self.v6 else '%s:%d' % (ip, port)


def payload(n, tag=b'x'):
    unit = tag + b'0123456789abcdefghijklmnopqrstuvwxyz'
    return (unit * (n // len(unit) + 1))[:n]


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ScenarioError('EOF after %d of %d bytes' % (len(buf), n))
        buf += chunk
    return buf


def expect_eof(s):
    data = s.recv(4096)
    if data != b'':
        raise ScenarioError('expected EOF, got %d bytes' % len(data))


def drain_to_eof(s):
    while s.recv(65536):
        pass


def expect_error(s, err, what='recv'):
    """Block in recv() (or send()) and require it to fail with errno err."""
    try:
        if what == 'recv':
            data = s.recv(4096)
            raise ScenarioError('expected %s, recv returned %d bytes' % (errno.errorcode[err],
                                                                           len(data)))
        s.send(b'?')
        raise ScenarioError('expected %s, send succeeded' % errno.errorcode[err])
    except OSError as e:
        if e.errno != err:
            raise ScenarioError('expected %s, got %r' % (errno.errorcode[err], e))


def expect_so_error(s, err, limit=5.0):
    """Wait until the socket has a pending error (a RST arrived) and require it to be err.
    After a FIN has been received a reset does not make recv() fail (it keeps returning 0):
    Linux records EPIPE in CLOSE_WAIT, so this reads SO_ERROR instead."""
    deadline = time.monotonic() + limit
    while True:
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if e:
            if e != err:
                raise ScenarioError('expected %s, got %s' % (errno.errorcode[err],
                                                             errno.errorcode.get(e, e)))
            return
        if time.monotonic() > deadline:
            raise ScenarioError('no error on the socket')
        time.sleep(0.002)


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))


def unacked_bytes(s):
    """Bytes in the send queue not yet acknowledged by the peer (SIOCOUTQ)."""
    return struct.unpack('i', fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b'\0' * 4))[0]


def unread_bytes(s):
    """Bytes in the receive queue not yet read by the application (SIOCINQ)."""
    return struct.unpack('i', fcntl.ioctl(s.fileno(), termios.FIONREAD, b'\0' * 4))[0]


def wait_until(cond, limit=10.0, what='condition'):
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise ScenarioError('timed out waiting for ' + what)
        time.sleep(0.002)


def spin_until(t_ns):
    """Wait for an absolute CLOCK_REALTIME instant (shared by both namespaces) with ~µs
    precision: sleep most of the way, busy-wait the rest."""
    while True:
        d = t_ns - time.time_ns()
        if d <= 0:
            return
        if d > 3_000_000:
            time.sleep((d - 2_000_000) / 1e9)


def sysctl(name, value):
    """Set a sysctl of the caller's network namespace (net.* sysctls are per namespace)."""
    with open('/proc/sys/' + name.replace('.', '/'), 'w') as f:
        f.write(str(value))


def firewall(*rule):
    """Add a rule for IPv4 and IPv6 in the caller's namespace: firewall('-I', 'INPUT', ...)."""
    for tool in ('iptables', 'ip6tables'):
        subprocess.run([tool, '-w'] + list(rule), check=True)


def drop_everything():
    """The server's namespace silently drops every packet in and out: the peer vanished."""
    firewall('-I', 'INPUT', '-j', 'DROP')
    firewall('-I', 'OUTPUT', '-j', 'DROP')


def send_request(s):
    """Write a REQ-byte request on the connected socket `s`; return `s`."""
    s.sendall(payload(REQ, b'q'))
    return s


def round_trip(s, size):
    """One request/response round on an open connection: the client's half of answer()."""
    send_request(s)
    recv_exact(s, size)


def answer(c, size=300):
    """The server's half of Ctx.request(): read the request, write a `size`-byte response."""
    recv_exact(c, REQ)
    c.sendall(payload(size))


def answer_next(ls, size=300):
    """accept() the next connection on `ls` and answer() its request; return the socket."""
    c, _ = ls.accept()
    answer(c, size)
    return c


def in_child(fn, conn, *args):
    """Run fn(conn, *args) in a forked process that alone holds conn; return its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            fn(conn, *args)
            os._exit(0)
        except BaseException as e:  # report and fail the scenario
            sys.stderr.write('child: %r\n' % (e,))
            os._exit(1)
    conn.close()
    return pid


def reap(pid, expect_signal=None):
    _, status = os.waitpid(pid, 0)
    if expect_signal is not None:
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == expect_signal):
            raise ScenarioError('child did not die of signal %d: %r' % (expect_signal, status))
    elif not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        raise ScenarioError('child failed: status %r' % status)


REQ = 64       # request size (client to server)


def socket_exists(port):
    """Whether any TCP socket of this namespace has local port `port` (any state)."""
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(name) as f:
            next(f)
            for line in f:
                local = line.split()[1]
                if int(local.rsplit(':', 1)[1], 16) == port:
                    return True
    return False


def connect_nonblocking(ctx, cport, port=PORT):
    """Start a connect() from cport without waiting for it (EINPROGRESS)."""
    s = socket.socket(ctx.family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CONGESTION)
    s.bind((ctx.client_ip, cport))
    s.setblocking(False)
    err = s.connect_ex((ctx.server_ip, port))
    if err != errno.EINPROGRESS:
        raise ScenarioError('non-blocking connect returned %s' % errno.errorcode.get(err, err))
    return s


def recv_until_stopped(ctx, s):
    """Read (and discard) whatever arrives until make-samples.sh has stopped tcpdump."""
    while not ctx.is_marked('capture-stopped'):
        r, _, _ = select.select([s], [], [], 0.01)
        if r and not s.recv(65536):
            if ctx.is_marked('capture-stopped'):  # the peer closed once tcpdump was stopped
                return
            raise ScenarioError('unexpected EOF')



def late_data_meets_reset(s):
    """200 ms later, send 100 bytes on `s` that a reset answers (ECONNRESET), and close."""
    time.sleep(0.2)
    s.sendall(payload(100, b'n'))
    expect_error(s, errno.ECONNRESET)
    s.close()


def late_data_times_out(ctx, s):
    """Send 100 bytes on `s` that nothing answers: recv() fails with ETIMEDOUT (noted)."""
    s.sendall(payload(100, b'n'))
    expect_error(s, errno.ETIMEDOUT)
    ctx.note('recv() failed with ETIMEDOUT')


def send_into_reject(ctx, s):
    """The client's side of a router that starts rejecting its connection `s` (the router waits
    for the mark 'reject-now' and creates 'rejecting' once its rule is in): 200 ms later send
    100 bytes, expect the forged reset (ECONNRESET), close, and let 200 ms pass."""
    ctx.mark('reject-now')
    ctx.wait('rejecting')
    late_data_meets_reset(s)
    time.sleep(0.2)


def keepalive_opts(idle, intvl, cnt):
    return [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.IPPROTO_TCP, TCP_KEEPIDLE, idle),
            (socket.IPPROTO_TCP, TCP_KEEPINTVL, intvl),
            (socket.IPPROTO_TCP, TCP_KEEPCNT, cnt)]



def default_router(ctx):
    """A router that only forwards (the role of a routed scenario without its own)."""
    ctx.mark('router-ready')
    ctx.wait('capture-stopped')


def fw(ctx, *rule):
    """Add a rule with the tool of the scenario's family only (rules that name an address)."""
    subprocess.run(['ip6tables' if ctx.v6 else 'iptables', '-w'] + list(rule), check=True)


MARKER_PORT = 40009   # the client port of a short last connection that marks the capture's end


def marker_connection(ctx, port=PORT):
    """A request/response and an orderly close from MARKER_PORT. A capture file ends with its
    last packet: when a scenario is about a side falling silent for good (giving up on
    retransmissions or SYNs), this later packet shows that nothing more came before the
    capture ended."""
    ctx.request(MARKER_PORT, 300, port=port).close()
    time.sleep(0.2)


def serve_marker(ls):
    """The server's side of marker_connection()."""
    c = answer_next(ls)
    expect_eof(c)
    c.close()


CT_ESTABLISHED_TIMEOUT = 4   # seconds: the router's conntrack forgets an idle connection
MIDDLEBOX_IDLE = 6.0         # seconds the client stays silent, longer than that
REJECT_WITH_RESET = ('-j', 'REJECT', '--reject-with', 'tcp-reset')


def stateful_firewall(*action):
    """A stateful firewall in the router's namespace: conntrack forgets an established
    connection after CT_ESTABLISHED_TIMEOUT seconds without a packet, does not pick connections
    up mid-stream (nf_conntrack_tcp_loose 0), and `action` is applied to every TCP segment of a
    connection it does not know (conntrack state INVALID): DROP, or REJECT with a TCP reset."""
    firewall('-A', 'FORWARD', '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID', *action)
    sysctl('net.netfilter.nf_conntrack_tcp_loose', 0)
    sysctl('net.netfilter.nf_conntrack_tcp_timeout_established', CT_ESTABLISHED_TIMEOUT)


