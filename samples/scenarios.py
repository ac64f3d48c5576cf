#!/usr/bin/env python3
"""Socket programs for the tcpmortem ground-truth captures.

make-samples.sh runs this file inside two network namespaces joined by a veth pair:

    ip netns exec tmortem-srv python3 scenarios.py server SCENARIO FAMILY RUNDIR
    ip netns exec tmortem-cli python3 scenarios.py client SCENARIO FAMILY RUNDIR

or, for a scenario whose topology is "routed", inside three (client -- router -- server), with a
third role in the router's namespace that starts first and creates "router-ready" once its
firewall rules and sysctls are in place:

    ip netns exec tmortem-rtr python3 scenarios.py router SCENARIO FAMILY RUNDIR

FAMILY is 4 or 6. The two roles synchronise through empty files in RUNDIR (a fresh directory per
capture): the server creates "ready" once it listens, either side may create further marks, the
client creates "stop-capture" when a scenario must end while something is still going on (open
or idle at the end), and make-samples.sh creates "capture-stopped" once tcpdump has stopped; any
role still holding a socket waits for that mark before it closes, so nothing after it is captured.

Other commands (used by make-samples.sh, plain Python, no namespaces needed):

    scenarios.py list                          scenario names
    scenarios.py topology SCENARIO             "pair" (two namespaces) or "routed" (three)
    scenarios.py truth SCENARIO FAMILY         the truth file for one capture, on stdout
    scenarios.py check SCENARIO FAMILY PCAP    compare the capture (read with tcpdump) with the
                                               truth: the same connections, and the packets the
                                               scenario must have produced (exit 3 = the capture
                                               did not show what the scenario needs, e.g. FINs
                                               that did not cross; make-samples.sh then retries)

The truth of every connection is written down here, next to the code that makes it happen: it
comes from what the programs did, never from an analyzer. Only the standard library is used.
Per-namespace knobs (sysctls under /proc/sys/net, iptables/ip6tables rules) are set by the role
running in that namespace, so they die with the namespace.
"""

import errno
import fcntl
import os
import re
import select
import signal
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


class ScenarioError(Exception):
    """The stack did not do what the scenario needs; the capture must not be used."""


# --------------------------------------------------------------------------------------------
# Helpers shared by both roles

class Ctx:
    def __init__(self, family, rundir=None, routed=False):
        if family not in ('4', '6'):
            raise SystemExit('FAMILY must be 4 or 6')
        self.v6 = family == '6'
        self.family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.routed = routed
        if routed:
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


# --------------------------------------------------------------------------------------------
# Scenarios. Each has server(ctx), client(ctx), a description and its truth:
# a list of (client port, server port, class, closer, modifiers, detail).

SCENARIOS = {}


def scenario(name, description, truth, topology='pair', facts=(), options=''):
    """Registers a scenario. `facts` are further expected results, written to the truth file as
    comment lines '# KEY CLIENT VALUE' (tests/e2e/check_samples.py checks them): a list of
    (connection, key, value), the connection being a client port, or (port, n) for the n-th
    connection from that port (1-based) when a port is used twice. `options` are tcpmortem
    options the capture must be read with ('# options ...')."""
    def register(cls):
        SCENARIOS[name] = cls
        cls.name = name
        cls.description = description
        cls.truth = truth
        cls.topology = topology
        cls.facts = list(facts)
        cls.options = options
        return cls
    return register


@scenario('fin_graceful',
          'Request/response, then an orderly close: on 40001 the client closes first, on 40002 '
          'the server closes first; the other side closes after reading EOF.',
          [(40001, PORT, 'fin_graceful', 'client', '-', None),
           (40002, PORT, 'fin_graceful', 'server', '-', None)])
class FinGraceful:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()               # 40001: client closes first
        recv_exact(c, REQ)
        c.sendall(payload(2000))
        expect_eof(c)
        c.close()
        c, _ = ls.accept()               # 40002: server closes first
        recv_exact(c, REQ)
        c.sendall(payload(800))
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 2000)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 800)
        expect_eof(s)
        s.close()
        time.sleep(0.1)


SIMULTANEOUS_PORTS = (40001, 40002, 40003)


@scenario('fin_simultaneous',
          'After a request/response both sides sleep until the same absolute instant (agreed '
          'over the connection) and call shutdown(SHUT_WR) together, so the FINs cross; then '
          'each reads EOF and closes. make-samples.sh keeps the capture only if every '
          'connection\'s FINs really crossed (neither FIN acknowledges the other).',
          [(p, PORT, 'fin_simultaneous', 'both', '-', None) for p in SIMULTANEOUS_PORTS])
class FinSimultaneous:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        for _ in SIMULTANEOUS_PORTS:
            c, _ = ls.accept()
            (t,) = struct.unpack('!q', recv_exact(c, 8))
            c.sendall(b'OK')
            spin_until(t)
            c.shutdown(socket.SHUT_WR)
            drain_to_eof(c)
            c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        for port in SIMULTANEOUS_PORTS:
            s = ctx.connect(port)
            t = time.time_ns() + 40_000_000
            s.sendall(struct.pack('!q', t))
            recv_exact(s, 2)
            spin_until(t)
            s.shutdown(socket.SHUT_WR)
            drain_to_eof(s)
            s.close()
            time.sleep(0.05)


@scenario('half_closed_at_end',
          'The client sends its request and shutdown(SHUT_WR)s; the server reads to EOF and then '
          'streams 200 bytes every 50 ms; the capture stops while it is still streaming.',
          [(40001, PORT, 'half_closed_at_end', 'client', '-', None)])
class HalfClosedAtEnd:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        expect_eof(c)
        while not ctx.is_marked('capture-stopped'):
            c.sendall(payload(200, b's'))
            time.sleep(0.05)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        s.shutdown(socket.SHUT_WR)
        got = 0
        while got < 200 * 20:            # about one second of streaming
            got += len(s.recv(65536))
        s.setblocking(False)
        ctx.mark('stop-capture')
        while not ctx.is_marked('capture-stopped'):   # keep reading, do not close yet
            try:
                s.recv(65536)
            except BlockingIOError:
                time.sleep(0.01)
        s.close()


@scenario('rst_unread_data',
          'Request/response, then the client sends 1000 more bytes that the server never reads; '
          'the server\'s kernel ACKs them, 100 ms later the server close()s (40001) or its '
          'process is SIGKILLed (40002): RST instead of FIN.',
          [(40001, PORT, 'rst_unread_data', 'server', '-', None),
           (40002, PORT, 'rst_unread_data', 'server', '-', None)])
class RstUnreadData:
    @staticmethod
    def handle(c, kill):
        recv_exact(c, REQ)
        c.sendall(payload(300))
        wait_until(lambda: unread_bytes(c) >= 1000, what='unread data')
        time.sleep(0.1)
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        c.close()

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        cls.handle(c, kill=False)
        c, _ = ls.accept()
        ls.close()
        reap(in_child(cls.handle, c, True), expect_signal=signal.SIGKILL)

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        for port in (40001, 40002):
            s = ctx.connect(port)
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 300)
            s.sendall(payload(1000, b'u'))
            expect_error(s, errno.ECONNRESET)
            s.close()
            time.sleep(0.05)


@scenario('rst_abort',
          'Complete request/response, every byte read by both applications, then an abortive '
          'close (SO_LINGER {1,0} + close()): by the client right after reading the response '
          '(40001), by the server once its response is acknowledged (40002).',
          [(40001, PORT, 'rst_abort', 'client', '-', None),
           (40002, PORT, 'rst_abort', 'server', '-', None)])
class RstAbort:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()               # 40001: the client aborts
        recv_exact(c, REQ)
        c.sendall(payload(500))
        expect_error(c, errno.ECONNRESET)
        c.close()
        c, _ = ls.accept()               # 40002: the server aborts
        recv_exact(c, REQ)
        c.sendall(payload(500))
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        linger0(c)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 500)
        linger0(s)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 500)
        expect_error(s, errno.ECONNRESET)
        s.close()


@scenario('rst_after_close',
          'One side close()s (FIN, all data read), the other reads EOF but sends more data 50 ms '
          'later, and the closed side\'s kernel answers it with RST. 40001: the server closed, '
          'the client sends late data; 40002: the client closed, the server sends late data.',
          [(40001, PORT, 'rst_after_close', 'server', '-', None),
           (40002, PORT, 'rst_after_close', 'client', '-', None)])
class RstAfterClose:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()               # 40001: server closes, client keeps sending
        recv_exact(c, REQ)
        c.sendall(payload(300))
        c.close()
        c, _ = ls.accept()               # 40002: client closes, server keeps sending
        recv_exact(c, REQ)
        c.sendall(payload(300))
        expect_eof(c)
        time.sleep(0.05)
        c.sendall(payload(100, b'l'))
        expect_so_error(c, errno.EPIPE)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        expect_eof(s)
        time.sleep(0.05)
        s.sendall(payload(100, b'l'))
        expect_so_error(s, errno.EPIPE)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        s.close()
        time.sleep(0.3)


@scenario('rst_peer_restarted',
          'Request/response; then the server\'s namespace drops its outgoing TCP packets while the '
          'server closes the socket with SO_LINGER {1,0} (the RST never reaches the wire), and the '
          'rule is removed: the server lost the connection silently. The client then sends data '
          'and the server\'s kernel, having no socket, answers with RST.',
          [(40001, PORT, 'rst_peer_restarted', 'server', '-', None)])
class RstPeerRestarted:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        ctx.wait('client-idle')
        firewall('-I', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
        linger0(c)
        c.close()
        ls.close()
        firewall('-D', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
        ctx.mark('state-lost')

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        time.sleep(0.1)
        ctx.mark('client-idle')
        ctx.wait('state-lost')
        time.sleep(0.2)
        s.sendall(payload(100, b'n'))
        expect_error(s, errno.ECONNRESET)
        s.close()


@scenario('rst_refused',
          'The client connects to port %d where nothing listens.' % CLOSED_PORT,
          [(40001, CLOSED_PORT, 'rst_refused', 'server', '-', None)])
class RstRefused:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()                # the service port is open, the other one is not
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        try:
            ctx.connect(40001, port=CLOSED_PORT)
            raise ScenarioError('connect to a closed port succeeded')
        except ConnectionRefusedError:
            pass
        time.sleep(0.1)
        ctx.mark('done')


@scenario('syn_unanswered',
          'The server\'s namespace drops incoming SYNs to port %d (listening); the client\'s '
          'namespace has net.ipv4.tcp_syn_retries=2, so connect() gives up with ETIMEDOUT.' % PORT,
          [(40001, PORT, 'syn_unanswered', 'none', '-', None)])
class SynUnanswered:
    @staticmethod
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--syn', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.listen()
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 2)
        ctx.wait('ready')
        ctx.note('connect() called')
        try:
            ctx.connect(40001)
            raise ScenarioError('connect succeeded')
        except TimeoutError:
            ctx.note('connect() failed with ETIMEDOUT')
        time.sleep(0.3)
        ctx.mark('done')


def keepalive_opts(idle, intvl, cnt):
    return [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
            (socket.IPPROTO_TCP, TCP_KEEPIDLE, idle),
            (socket.IPPROTO_TCP, TCP_KEEPINTVL, intvl),
            (socket.IPPROTO_TCP, TCP_KEEPCNT, cnt)]


@scenario('keepalive_timeout',
          'The client has SO_KEEPALIVE with TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=3. After a '
          'request/response the connection is idle and the server\'s namespace drops everything; '
          'the probes go unanswered and the client\'s kernel drops the connection (recv() fails '
          'with ETIMEDOUT).',
          [(40001, PORT, 'keepalive_timeout', 'client', '-', None)])
class KeepaliveTimeout:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=keepalive_opts(1, 1, 3))
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        ctx.wait('dropped')
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        s.close()
        time.sleep(0.5)


class Streamer:
    """Client sends a 100-byte message every 100 ms, the server reads them; after 5 messages
    the server's namespace drops everything."""
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        for _ in range(5):
            recv_exact(c, 100)
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def stream(ctx, s, until):
        """Send every 100 ms until until() is true or send() fails; return the error."""
        p = select.poll()
        p.register(s, select.POLLERR)      # wakes up at once when the kernel gives up
        while not until():
            try:
                s.send(payload(100, b'd'))
            except OSError as e:
                ctx.note('send() failed with %s' % errno.errorcode.get(e.errno, e.errno))
                return e
            if p.poll(100):
                ctx.note('poll() reports a socket error')
        return None


@scenario('peer_vanished',
          'The client streams 100-byte messages every 100 ms with TCP_USER_TIMEOUT=3000 ms; '
          'after 5 messages the server\'s namespace drops everything. The client keeps writing, '
          'its kernel retransmits, gives up after 3 s (send() fails with ETIMEDOUT) and the '
          'client close()s.',
          [(40001, PORT, 'peer_vanished', 'client', '-', 'retransmit_timeout')])
class PeerVanished(Streamer):
    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=[(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 3000)])
        err = cls.stream(ctx, s, lambda: False)
        if err is None or err.errno != errno.ETIMEDOUT:
            raise ScenarioError('expected ETIMEDOUT from send, got %r' % err)
        s.close()
        time.sleep(0.5)


@scenario('peer_vanished_retries2',
          'As peer_vanished, but instead of TCP_USER_TIMEOUT the client\'s namespace has '
          'net.ipv4.tcp_retries2=3: the kernel gives up after its retransmissions, send() fails '
          'with ETIMEDOUT and the client close()s.',
          [(40001, PORT, 'peer_vanished', 'client', '-', 'retransmit_timeout')])
class PeerVanishedRetries2(Streamer):
    @classmethod
    def client(cls, ctx):
        sysctl('net.ipv4.tcp_retries2', 3)
        ctx.wait('ready')
        s = ctx.connect(40001)
        err = cls.stream(ctx, s, lambda: False)
        if err is None or err.errno != errno.ETIMEDOUT:
            raise ScenarioError('expected ETIMEDOUT from send, got %r' % err)
        s.close()
        time.sleep(0.5)


@scenario('peer_vanished_ongoing',
          'As peer_vanished, without TCP_USER_TIMEOUT (tcp_retries2 at its default 15): the '
          'capture stops 2.5 s after the server vanished, while the client\'s kernel is still '
          'retransmitting. The closer of a vanished peer is the side left sending to nobody '
          '(DESIGN: the side that gives up on retransmissions), here the client, even though '
          'the capture ends before it gives up.',
          [(40001, PORT, 'peer_vanished', 'client', '-', 'retransmit_timeout')])
class PeerVanishedOngoing(Streamer):
    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        t = []

        def until():
            if ctx.is_marked('dropped') and not t:
                t.append(time.monotonic())
            return bool(t) and time.monotonic() - t[0] > 2.5
        err = cls.stream(ctx, s, until)
        if err is not None:
            raise ScenarioError('send failed: %r' % err)
        ctx.end_of_capture()
        s.close()


@scenario('peer_vanished_heartbeat',
          'Client and server exchange 8-byte PING/PONG messages every 300 ms; after 5 pongs the '
          'server\'s namespace drops everything. The client keeps pinging; when three pings in a '
          'row got no pong within their 300 ms interval it close()s (no FIN reaches the wire: '
          'it is queued behind the unacknowledged ping). The capture ends 1 s later.',
          [(40001, PORT, 'peer_vanished', 'client', '-', 'heartbeat')])
class PeerVanishedHeartbeat:
    INTERVAL = 0.3
    MISSED = 3

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        for i in range(5):
            ping = recv_exact(c, 8)
            c.sendall(b'PONG' + ping[4:])
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        start = time.monotonic()
        n = missed = 0
        buf = b''
        while missed < cls.MISSED:
            s.sendall(b'PING%04d' % n)
            answered = False
            deadline = start + (n + 1) * cls.INTERVAL
            n += 1
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if r:
                    data = s.recv(64)
                    if not data:
                        raise ScenarioError('unexpected EOF')
                    buf += data
                    while len(buf) >= 8:
                        if buf[:8] == b'PONG%04d' % (n - 1):
                            answered = True
                        elif not buf.startswith(b'PONG'):
                            raise ScenarioError('bad pong %r' % buf[:8])
                        buf = buf[8:]
            missed = 0 if answered else missed + 1
        if not ctx.is_marked('dropped'):
            raise ScenarioError('pongs missing before the server vanished')
        ctx.note('%d pings sent, the last %d unanswered: close()' % (n, missed))
        s.close()
        time.sleep(1.0)


@scenario('open_at_end',
          'The client sends a request and the server streams 200 bytes every 50 ms; the capture '
          'stops after about one second of streaming, with data still flowing.',
          [(40001, PORT, 'open_at_end', 'none', '-', None)])
class OpenAtEnd:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        while not ctx.is_marked('capture-stopped'):
            c.sendall(payload(200, b's'))
            time.sleep(0.05)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        got = 0
        while got < 200 * 20:
            got += len(s.recv(65536))
        s.setblocking(False)
        ctx.mark('stop-capture')
        while not ctx.is_marked('capture-stopped'):
            try:
                s.recv(65536)
            except BlockingIOError:
                time.sleep(0.01)
        s.close()


IDLE_SECONDS = 8.5


@scenario('idle_at_end',
          'Connection 40001 does a request/response and then stays open and silent for %.1f s; '
          'then a second connection 40002 does a request/response and closes gracefully (client '
          'first), marking the end of the capture.' % IDLE_SECONDS,
          [(40001, PORT, 'idle_at_end', 'none', '-', None),
           (40002, PORT, 'fin_graceful', 'client', '-', None)])
class IdleAtEnd:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        idle, _ = ls.accept()
        recv_exact(idle, REQ)
        idle.sendall(payload(300))
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        expect_eof(c)
        c.close()
        ctx.wait('capture-stopped')
        idle.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        idle = ctx.connect(40001)
        idle.sendall(payload(REQ, b'q'))
        recv_exact(idle, 300)
        time.sleep(IDLE_SECONDS)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        s.close()
        time.sleep(0.2)
        ctx.end_of_capture()
        idle.close()


@scenario('idle_at_end_keepalive',
          'Connection 40001 (client SO_KEEPALIVE, TCP_KEEPIDLE=3, TCP_KEEPINTVL=3) does a '
          'request/response and stays open with no data for about 9.3 s: the only packets are '
          'the client\'s keepalive probes at 3, 6 and 9 s and the server\'s answers. The capture '
          'stops 0.3 s after the last answer.',
          [(40001, PORT, 'idle_at_end', 'none', '-', None)])
class IdleAtEndKeepalive:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=keepalive_opts(3, 3, 9))
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        time.sleep(9.0)
        ctx.end_of_capture()
        s.close()


# ============================================================================================
# Variants (make-samples.sh section "variants"): the classes above reached through other
# realistic paths (the other side closing, other timings, pipelining, bulk transfers, the
# capture point in the server's namespace), to try the rules calibrated on the base captures
# on endings they were not tuned on. A scenario may define extra_check(ctx, segs, pcap), which
# returns more problems once the generic check() found none.

def conn_segs(segs, cport):
    """The segments of the connection from client port cport (no server port is a client port)."""
    return [s for s in segs if cport in (s['src'][1], s['dst'][1])]


def client_side(segs, cport):
    return [s for s in segs if s['src'][1] == cport]


def server_side(segs, cport):
    return [s for s in segs if s['dst'][1] == cport]


def flagged(pkts, flag):
    return [s for s in pkts if flag in s['flags']]


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


BANNER = b'220 tmortem.example ESMTP ready\r\n'


@scenario('rst_unread_data_variants',
          '40001: the client writes its 64-byte request right after connecting; the server never '
          'sends anything and close()s 100 ms after the request arrived, without reading it. '
          '40002: the server writes a %d-byte greeting banner; the client never reads it and '
          'close()s as soon as it has arrived (within 2 ms). 40003: as 40002, but the client '
          'close()s 500 ms after the banner arrived. 40004: the client sends three requests one '
          'after the other; the server answers the first two (400 bytes each) and close()s '
          '100 ms after the third arrived, unread. 40005: the client uploads 100 kB the server '
          'never reads; the server close()s once its receive queue has not grown for 300 ms. '
          '40006: as 40005, but the server\'s listening socket has SO_RCVBUF 16384 (window '
          'scale 0): the window fills (zero window, a window probe), the rest of the upload '
          'waits in the client\'s send queue when the server close()s.' % len(BANNER),
          [(40001, PORT, 'rst_unread_data', 'server', '-', None),
           (40002, PORT, 'rst_unread_data', 'client', '-', None),
           (40003, PORT, 'rst_unread_data', 'client', '-', None),
           (40004, PORT, 'rst_unread_data', 'server', '-', None),
           (40005, PORT, 'rst_unread_data', 'server', '-', None),
           (40006, PORT, 'rst_unread_data', 'server', '-', None)])
class RstUnreadDataVariants:
    UPLOAD = 100_000

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
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
            recv_exact(c, REQ)
            c.sendall(payload(400))
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
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
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
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 400)
        s.sendall(payload(REQ, b'q'))
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

    @staticmethod
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


@scenario('rst_abort_variants',
          '40001: the client sets SO_LINGER {1,0} and close()s right after connect() returned: '
          'no data at all. 40002: 20 request/response rounds (requests 100 to 1050 bytes, '
          'responses 1000 to 6700 bytes), every byte read by both applications; once its last '
          'response is acknowledged the server sets SO_LINGER {1,0} and close()s. 40003: the '
          'server reads the request, writes a 500-byte response and at once sets SO_LINGER '
          '{1,0} and close()s, without waiting for the response to be acknowledged.',
          [(40001, PORT, 'rst_abort', 'client', '-', None),
           (40002, PORT, 'rst_abort', 'server', '-', None),
           (40003, PORT, 'rst_abort', 'server', '-', None)])
class RstAbortVariants:
    ROUNDS = 20

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
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
        c, _ = ls.accept()                       # 40003: abort right after writing
        recv_exact(c, REQ)
        c.sendall(payload(500))
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
        s = ctx.connect(40003)
        s.sendall(payload(REQ, b'q'))
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

    @staticmethod
    def extra_check(ctx, segs, pcap):
        problems = []
        c1 = conn_segs(segs, 40001)
        if any(s['len'] for s in c1) or [s['flags'] for s in c1] != ['S', 'S.', '.', 'R.']:
            problems.append('40001: expected handshake then RST+ACK, got %s'
                            % [s['flags'] for s in c1])
        return problems


@scenario('fin_graceful_variants',
          '40001: the client writes its request and shutdown(SHUT_WR)s at once; the server reads '
          'to EOF, writes a 3000-byte response and close()s; the client reads the response and '
          'EOF and close()s (a half-close that completes; the client closed first). 40002: '
          'persistent connection, 5 request/response rounds, then the client waits; after 300 '
          'ms without a request the server close()s (its keep-alive timeout); the client reads '
          'EOF and close()s. 40003: request/response, the client close()s; the server reads EOF '
          'but close()s only 200 ms later (its FIN after a separate ACK of the client\'s).',
          [(40001, PORT, 'fin_graceful', 'client', '-', None),
           (40002, PORT, 'fin_graceful', 'server', '-', None),
           (40003, PORT, 'fin_graceful', 'client', '-', None)])
class FinGracefulVariants:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()                       # 40001: request, then the client's FIN
        recv_exact(c, REQ)
        expect_eof(c)
        c.sendall(payload(3000))
        c.close()
        c, _ = ls.accept()                       # 40002: keep-alive timeout
        for _ in range(5):
            recv_exact(c, REQ)
            c.sendall(payload(700))
        r, _, _ = select.select([c], [], [], 0.3)
        if r:
            raise ScenarioError('40002: unexpected request')
        c.close()
        c, _ = ls.accept()                       # 40003: late close after EOF
        recv_exact(c, REQ)
        c.sendall(payload(600))
        expect_eof(c)
        time.sleep(0.2)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        s.shutdown(socket.SHUT_WR)
        recv_exact(s, 3000)
        expect_eof(s)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        for _ in range(5):
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 700)
        expect_eof(s)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40003)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 600)
        s.close()
        time.sleep(0.4)

    @staticmethod
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


@scenario('fin_graceful_bulk',
          'The client sends a 64-byte request; the server writes 1 MB (1000000 bytes) and '
          'close()s at once; the client reads everything and EOF, then close()s.',
          [(40001, PORT, 'fin_graceful', 'server', '-', None)])
class FinGracefulBulk:
    SIZE = 1_000_000

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(cls.SIZE))
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
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


@scenario('half_closed_at_end_server',
          'The client sends a request; the server reads it, writes a 300-byte response and '
          'shutdown(SHUT_WR)s (FIN), then keeps reading; the client reads the response and EOF '
          'and uploads 200 bytes every 50 ms; the capture stops after about one second of '
          'uploading, with the client still sending.',
          [(40001, PORT, 'half_closed_at_end', 'server', '-', None)])
class HalfClosedAtEndServer:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        c.shutdown(socket.SHUT_WR)
        recv_until_stopped(ctx, c)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        expect_eof(s)
        n = 0
        while not ctx.is_marked('capture-stopped'):
            s.sendall(payload(200, b'u'))
            n += 1
            if n == 20:
                ctx.mark('stop-capture')
            time.sleep(0.05)
        s.close()


@scenario('rst_after_close_stream',
          'The server streams to the client without ever reading after the request (40001: 200 '
          'bytes every 50 ms; 40002: 1000 bytes every 10 ms); the client reads 2000 (10000) '
          'bytes and close()s at once, nothing unread (FIN); the server goes on writing and the '
          'client\'s kernel answers its next segment with RST.',
          [(40001, PORT, 'rst_after_close', 'client', '-', None),
           (40002, PORT, 'rst_after_close', 'client', '-', None)])
class RstAfterCloseStream:
    STREAMS = ((40001, 200, 0.05), (40002, 1000, 0.01))

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
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
            s = ctx.connect(port)
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 10 * size)
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


@scenario('rst_peer_restarted_client',
          'Request/response; then the client\'s namespace drops its outgoing TCP packets and the '
          'client process holding the socket is SIGKILLed: its kernel\'s FIN never reaches the '
          'wire, and with net.ipv4.tcp_orphan_retries=1 the orphaned socket times out about '
          '1 s later and is gone (the client host lost the connection); the rule is removed. '
          'The server then sends 100 bytes and the client\'s kernel, with no socket for them, '
          'answers with RST.',
          [(40001, PORT, 'rst_peer_restarted', 'client', '-', None)])
class RstPeerRestartedClient:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        ctx.mark('response-acked')
        ctx.wait('state-lost')
        time.sleep(0.2)
        c.sendall(payload(100, b'n'))
        expect_error(c, errno.ECONNRESET)
        c.close()
        ctx.mark('server-done')

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_orphan_retries', 1)
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        ctx.wait('response-acked')
        time.sleep(0.1)
        pid = in_child(lambda conn: time.sleep(WAIT_LIMIT), s)   # the child alone holds it
        firewall('-I', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
        os.kill(pid, signal.SIGKILL)
        reap(pid, expect_signal=signal.SIGKILL)
        ctx.note('client process killed')
        wait_until(lambda: not socket_exists(40001), limit=20, what='orphaned socket gone')
        ctx.note('the client\'s orphaned socket is gone')
        firewall('-D', 'OUTPUT', '-p', 'tcp', '-j', 'DROP')
        ctx.mark('state-lost')
        ctx.wait('server-done')
        time.sleep(0.1)

    @staticmethod
    def extra_check(ctx, segs, pcap):
        cli = client_side(segs, 40001)
        if flagged(cli, 'F') or [s['flags'] for s in flagged(cli, 'R')] != ['R']:
            return ['40001: expected no FIN and one bare RST from the client']
        return []


@scenario('peer_vanished_client_gone',
          'The client sends a 64-byte request, then the server streams 100-byte messages every '
          '100 ms with TCP_USER_TIMEOUT=3000 ms; after 5 messages the client\'s namespace drops '
          'everything (the client vanished). The server keeps writing, its kernel retransmits, '
          'gives up after about 3 s (send() fails with ETIMEDOUT) and the server close()s. '
          'Captured in the server\'s namespace.',
          [(40001, PORT, 'peer_vanished', 'server', '-', 'retransmit_timeout')])
class PeerVanishedClientGone:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 3000)
        recv_exact(c, REQ)
        err = Streamer.stream(ctx, c, lambda: False)
        if err is None or err.errno != errno.ETIMEDOUT:
            raise ScenarioError('expected ETIMEDOUT from send, got %r' % err)
        c.close()
        time.sleep(0.5)
        ctx.end_of_capture()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 500)
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        s.close()


@scenario('peer_vanished_heartbeat_server',
          'The server sends an 8-byte PING every 300 ms and the client answers each with an '
          '8-byte PONG; after 5 pongs the client\'s namespace drops everything (the client '
          'vanished). The server keeps pinging; when three pings in a row got no pong within '
          'their interval it close()s. The capture, in the server\'s namespace, ends 1 s later.',
          [(40001, PORT, 'peer_vanished', 'server', '-', 'heartbeat')])
class PeerVanishedHeartbeatServer:
    INTERVAL = 0.3
    MISSED = 3

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        start = time.monotonic()
        n = missed = 0
        buf = b''
        while missed < cls.MISSED:
            c.sendall(b'PING%04d' % n)
            answered = False
            deadline = start + (n + 1) * cls.INTERVAL
            n += 1
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([c], [], [], left)
                if r:
                    data = c.recv(64)
                    if not data:
                        raise ScenarioError('unexpected EOF')
                    buf += data
                    while len(buf) >= 8:
                        if buf[:8] == b'PONG%04d' % (n - 1):
                            answered = True
                        elif not buf.startswith(b'PONG'):
                            raise ScenarioError('bad pong %r' % buf[:8])
                        buf = buf[8:]
            missed = 0 if answered else missed + 1
        if not ctx.is_marked('dropped'):
            raise ScenarioError('pongs missing before the client vanished')
        ctx.note('%d pings sent, the last %d unanswered: close()' % (n, missed))
        c.close()
        time.sleep(1.0)
        ctx.end_of_capture()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        for _ in range(5):
            ping = recv_exact(s, 8)
            s.sendall(b'PONG' + ping[4:])
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        s.close()


@scenario('keepalive_timeout_server',
          'The server\'s listening socket has SO_KEEPALIVE with TCP_KEEPIDLE=2, TCP_KEEPINTVL=1, '
          'TCP_KEEPCNT=4, inherited by the accepted socket. After a request/response the '
          'client\'s namespace drops everything (the client vanished); the server\'s probes go '
          'unanswered and its kernel drops the connection (recv() fails with ETIMEDOUT). '
          'Captured in the client\'s namespace, where the server\'s packets still arrive.',
          [(40001, PORT, 'keepalive_timeout', 'server', '-', None)])
class KeepaliveTimeoutServer:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        for level, opt, value in keepalive_opts(2, 1, 4):
            ls.setsockopt(level, opt, value)
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        expect_error(c, errno.ETIMEDOUT)
        ctx.note('server recv() failed with ETIMEDOUT')
        c.close()
        time.sleep(0.5)
        ctx.end_of_capture()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        time.sleep(0.1)                          # its ACK of the response has gone out
        drop_everything()
        ctx.mark('dropped')
        ctx.wait('capture-stopped')
        s.close()

    @staticmethod
    def extra_check(ctx, segs, pcap):
        srv = server_side(segs, 40001)
        probes = [s for s in srv if s['len'] == 0 and s['flags'] == '.']
        if len(probes) < 4:
            return ['40001: fewer than 4 keepalive probes']
        return []


@scenario('syn_unanswered_variants',
          'The server\'s namespace drops every incoming TCP packet to port %d (listening). '
          '40001: the client\'s application gives up on its own: non-blocking connect(), '
          'close() after 1.5 s without an answer. 40002: blocking connect() with '
          'net.ipv4.tcp_syn_retries=1 (it covers IPv6 too) fails with ETIMEDOUT.' % PORT,
          [(40001, PORT, 'syn_unanswered', 'none', '-', None),
           (40002, PORT, 'syn_unanswered', 'none', '-', None)])
class SynUnansweredVariants:
    @staticmethod
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.listen()
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        s = connect_nonblocking(ctx, 40001)
        _, w, _ = select.select([], [s], [], 1.5)
        if w:
            raise ScenarioError('40001: connect completed')
        s.close()
        ctx.note('40001: close() after 1.5 s in SYN_SENT')
        time.sleep(0.1)
        try:
            ctx.connect(40002)
            raise ScenarioError('40002: connect succeeded')
        except TimeoutError:
            ctx.note('40002: connect() failed with ETIMEDOUT')
        time.sleep(0.3)
        ctx.mark('done')


@scenario('syn_unanswered_filtered',
          'Nothing listens on port %d and the server\'s namespace drops every incoming TCP '
          'packet to it (a filtered port). The client\'s namespace has '
          'net.ipv4.tcp_syn_retries=1; connect() fails with ETIMEDOUT. Captured in the '
          'server\'s namespace: the SYNs reach its interface before the firewall drops them.'
          % PORT,
          [(40001, PORT, 'syn_unanswered', 'none', '-', None)])
class SynUnansweredFiltered:
    @staticmethod
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(PORT), '-j', 'DROP')
        ctx.mark('ready')
        ctx.wait('done')

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        try:
            ctx.connect(40001)
            raise ScenarioError('connect succeeded')
        except TimeoutError:
            ctx.note('connect() failed with ETIMEDOUT')
        time.sleep(0.3)
        ctx.mark('done')


REJECT_PORT = 8082   # the server's firewall answers SYNs to this port with a TCP reset


@scenario('rst_refused_variants',
          '40001: connect() to port %d where nothing listens. 40002: connect() to port %d, '
          'rejected by the server namespace\'s firewall (iptables REJECT --reject-with '
          'tcp-reset): the RST comes from the server host\'s netfilter, not from its TCP stack.'
          % (CLOSED_PORT, REJECT_PORT),
          [(40001, CLOSED_PORT, 'rst_refused', 'server', '-', None),
           (40002, REJECT_PORT, 'rst_refused', 'server', '-', None)])
class RstRefusedVariants:
    @staticmethod
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--dport', str(REJECT_PORT), '-j', 'REJECT',
                 '--reject-with', 'tcp-reset')
        ls = ctx.listen()                        # only the service port is open
        ctx.mark('ready')
        ctx.wait('done')
        ls.close()

    @staticmethod
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


IDLE_LONG_SECONDS = 12.0


@scenario('idle_at_end_long',
          'Connection 40001 does three request/response rounds and then stays open and silent '
          'for %.0f s; then a second connection 40002 does a request/response, the server '
          'close()s first and the client close()s on EOF, marking the end of the capture.'
          % IDLE_LONG_SECONDS,
          [(40001, PORT, 'idle_at_end', 'none', '-', None),
           (40002, PORT, 'fin_graceful', 'server', '-', None)])
class IdleAtEndLong:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        idle, _ = ls.accept()
        for _ in range(3):
            recv_exact(idle, REQ)
            idle.sendall(payload(300))
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        c.close()
        ctx.wait('capture-stopped')
        idle.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        idle = ctx.connect(40001)
        for _ in range(3):
            idle.sendall(payload(REQ, b'q'))
            recv_exact(idle, 300)
        time.sleep(IDLE_LONG_SECONDS)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        expect_eof(s)
        s.close()
        time.sleep(0.2)
        ctx.end_of_capture()
        idle.close()


@scenario('open_at_end_upload',
          'The client uploads 1000 bytes every 20 ms; the server only reads (it sends no data, '
          'only ACKs); the capture stops after about one second of uploading, with the client '
          'still sending.',
          [(40001, PORT, 'open_at_end', 'none', '-', None)])
class OpenAtEndUpload:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_until_stopped(ctx, c)
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        n = 0
        while not ctx.is_marked('capture-stopped'):
            s.sendall(payload(1000, b'u'))
            n += 1
            if n == 50:
                ctx.mark('stop-capture')
            time.sleep(0.02)
        s.close()


# --------------------------------------------------------------------------------------------
# Diagnoses: resets from the path, middlebox idle timeouts, stuck CLOSE-WAIT, TIME-WAIT reuse,
# the closing stack's timers. Routed scenarios run with a third role in the router's namespace.

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
    s = ctx.connect(MARKER_PORT, port=port)
    s.sendall(payload(REQ, b'q'))
    recv_exact(s, 300)
    s.close()
    time.sleep(0.2)


def serve_marker(ls):
    """The server's side of marker_connection()."""
    c, _ = ls.accept()
    recv_exact(c, REQ)
    c.sendall(payload(300))
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


@scenario('rst_middlebox',
          'Client and server talk through a router. 40001: request/response and an orderly '
          'close (client first): a control. 40002: request/response; then the router starts '
          'rejecting the client\'s segments of that connection (iptables REJECT --reject-with '
          'tcp-reset, a policy change on a live connection); 200 ms later the client sends 100 '
          'bytes and gets the router\'s reset. It carries the server\'s address but the '
          'router\'s TTL / hop limit: 64, where the server\'s packets arrive with 63. The '
          'server never learns of it.',
          [(40001, PORT, 'fin_graceful', 'client', '-', None),
           (40002, PORT, 'rst_peer_restarted', 'server', 'rst_from_middlebox', None)],
          topology='routed',
          facts=[(40001, 'middlebox', 'none'),
                 (40002, 'middlebox', 'claimed=server,expected_ttl=63,seen_ttl=64'),
                 (40001, 'stack', 'client=linux/0,server=linux/1')])
class RstMiddlebox:
    @staticmethod
    def router(ctx):
        ctx.mark('router-ready')
        ctx.wait('reject-now')
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--sport', '40002',
           '--dport', str(PORT), *REJECT_WITH_RESET)
        ctx.mark('rejecting')
        ctx.wait('capture-stopped')

    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()               # 40001: the control
        recv_exact(c, REQ)
        c.sendall(payload(300))
        expect_eof(c)
        c.close()
        c, _ = ls.accept()               # 40002: its later data never arrives
        recv_exact(c, REQ)
        c.sendall(payload(300))
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        s.close()
        time.sleep(0.1)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        ctx.mark('reject-now')
        ctx.wait('rejecting')
        time.sleep(0.2)
        s.sendall(payload(100, b'n'))
        expect_error(s, errno.ECONNRESET)
        s.close()
        time.sleep(0.2)

    @staticmethod
    def check_capture(ctx, segs):
        return check_path_reset(ctx, segs, 40002, 'server', 64)


FORBIDDEN = b'FORBIDDEN'
INJECTED_TTL = 63        # as the server's packets arrive at the client: the TTL does not tell
INJECTED_IP_ID = 31337   # the injector's own ID, outside the server's per-connection sequence


def inet_checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(':'))


def reset_injector(ctx, iface):
    """What an in-line IPS does to a connection that carries a forbidden word: watch the
    router's interface towards the client (AF_PACKET), follow the server's sequence numbers, and
    when the client sends FORBIDDEN (the firewall drops that segment) send the client a RST+ACK
    in the server's name, seq = the server's next sequence number, with TTL INJECTED_TTL (what
    the server's packets arrive with) and IP ID INJECTED_IP_ID. IPv4 only. Runs until the
    capture has stopped."""
    ETH_P_ALL = 0x0003   # outgoing packets reach only ETH_P_ALL taps (dev_queue_xmit_nit)
    PACKET_OUTGOING = 4
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, ETH_P_ALL))
    sock.settimeout(0.05)
    server = socket.inet_aton(ctx.server_ip)
    client = socket.inet_aton(ctx.client_ip)
    server_next = {}
    ctx.mark('router-ready')
    while not ctx.is_marked('capture-stopped'):
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        ip = frame[14:]
        if frame[12:14] != b'\x08\x00' or len(ip) < 40 or ip[9] != 6:
            continue
        ihl = (ip[0] & 0xF) * 4
        total = struct.unpack('!H', ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq, ack, off, flags = struct.unpack('!HHIIBB', tcp[:14])
        data = tcp[(off >> 4) * 4:]
        if addr[2] == PACKET_OUTGOING and ip[12:16] == server and sport == PORT:
            server_next[dport] = (seq + len(data) + (flags & 0x03 != 0)) & 0xFFFFFFFF
        elif ip[12:16] == client and dport == PORT and FORBIDDEN in data and \
                sport in server_next:
            rst = struct.pack('!HHIIBBHHH', PORT, sport, server_next[sport],
                              (seq + len(data)) & 0xFFFFFFFF, 5 << 4, 0x14, 0, 0, 0)
            pseudo = struct.pack('!4s4sBBH', server, client, 0, 6, len(rst))
            rst = rst[:16] + struct.pack('!H', inet_checksum(pseudo + rst)) + rst[18:]
            hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(rst), INJECTED_IP_ID, 0x4000,
                              INJECTED_TTL, 6, 0, server, client)
            hdr = hdr[:10] + struct.pack('!H', inet_checksum(hdr)) + hdr[12:]
            ctx.mark('injected')
            sock.send(mac_bytes(CLIENT_MAC_ROUTED) + mac_bytes(ROUTER_MAC_TO_CLIENT) +
                      b'\x08\x00' + hdr + rst)
    sock.close()


@scenario('rst_injected',
          'Client and server talk through a router running an in-line IPS: iptables drops any '
          'client segment holding the word FORBIDDEN, and a program on the router (AF_PACKET) '
          'answers it with a RST+ACK in the server\'s name, seq = the server\'s next sequence '
          'number, TTL %d (exactly what the server\'s packets arrive with) and IPv4 ID %d, '
          'outside the server\'s per-connection ID sequence. The client does three '
          'request/responses (so the server\'s ID sequence shows), then sends FORBIDDEN and gets '
          'ECONNRESET; the server never sees it.'
          % (INJECTED_TTL, INJECTED_IP_ID),
          [(40001, PORT, 'rst_abort', 'server', 'rst_from_middlebox', None)],
          topology='routed',
          facts=[(40001, 'middlebox',
                  'claimed=server,expected_ttl=63,seen_ttl=63,seen_ip_id=%d' % INJECTED_IP_ID)])
class RstInjected:
    @staticmethod
    def router(ctx):
        if ctx.v6:
            raise ScenarioError('rst_injected is IPv4 only')
        fw(ctx, '-I', 'FORWARD', '-p', 'tcp', '-s', ctx.client_ip, '--dport', str(PORT),
           '-m', 'string', '--string', FORBIDDEN.decode(), '--algo', 'bm', '-j', 'DROP')
        reset_injector(ctx, 'tmortem-rc')

    EXCHANGES = 3

    @classmethod
    def server(cls, ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        for _ in range(cls.EXCHANGES):
            recv_exact(c, REQ)
            c.sendall(payload(300))
        ctx.wait('capture-stopped')
        c.close()

    @classmethod
    def client(cls, ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        for _ in range(cls.EXCHANGES):
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 300)
            time.sleep(0.05)
        time.sleep(0.1)
        s.sendall(b'GET /' + FORBIDDEN + b' ' + payload(86, b'f'))
        expect_error(s, errno.ECONNRESET)
        if not ctx.is_marked('injected'):
            raise ScenarioError('reset, but not the injector\'s')
        s.close()
        time.sleep(0.2)

    @staticmethod
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
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        if cls.marker:
            serve_marker(ls)
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def exchange_then_idle(ctx, opts=()):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=opts)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        time.sleep(MIDDLEBOX_IDLE)
        s.sendall(payload(100, b'n'))
        ctx.note('100 bytes sent after %.1f s of silence' % MIDDLEBOX_IDLE)
        return s

    @staticmethod
    def check_capture(ctx, segs):
        idle = idle_before(segs, 40001, ctx.client_ip)
        if idle < MIDDLEBOX_IDLE - 0.1:
            return ['the client was silent for only %.2f s' % idle]
        return []


@scenario('middlebox_idle_drop',
          'Client and server talk through a stateful firewall (conntrack forgets a connection '
          'after %d s without packets, no mid-stream pickup, segments of unknown connections '
          'dropped). After a request/response the client is silent for %.0f s, then sends 100 '
          'bytes: the firewall drops them and every retransmission; the client has '
          'TCP_USER_TIMEOUT 5000 ms, recv() fails with ETIMEDOUT, and 3.5 s later (past the '
          'retransmission that would have come next) a short connection from port %d marks the '
          'end of the capture.' % (CT_ESTABLISHED_TIMEOUT, MIDDLEBOX_IDLE, MARKER_PORT),
          [(40001, PORT, 'peer_vanished', 'client', '-', 'middlebox_idle_timeout'),
           (MARKER_PORT, PORT, 'fin_graceful', 'client', '-', None)],
          topology='routed',
          facts=[(40001, 'idle', 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1)),
                 (40001, 'timers', 'side=client,user_timeout_ms=5000')])
class MiddleboxIdleDrop(IdleThroughFirewall):
    marker = True

    @staticmethod
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
          'As middlebox_idle_drop, but the firewall rejects segments of connections it does not '
          'know with a TCP reset (iptables REJECT --reject-with tcp-reset): the client\'s 100 '
          'bytes after %.0f s of silence are answered by the router\'s RST in the server\'s name '
          '(TTL 64, where the server\'s packets arrive with 63) and recv() fails with '
          'ECONNRESET.' % MIDDLEBOX_IDLE,
          [(40001, PORT, 'rst_peer_restarted', 'server', 'rst_from_middlebox',
            'middlebox_idle_timeout')],
          topology='routed',
          facts=[(40001, 'middlebox', 'claimed=server,expected_ttl=63,seen_ttl=64'),
                 (40001, 'idle', 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1))])
class MiddleboxIdleReset(IdleThroughFirewall):
    @staticmethod
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

    @staticmethod
    def check_capture(ctx, segs):
        return (IdleThroughFirewall.check_capture(ctx, segs) +
                check_path_reset(ctx, segs, 40001, 'server', 64))


@scenario('middlebox_idle_push',
          'As middlebox_idle_reset, but it is the server that speaks first after %.0f s of '
          'silence (a push to an idle client), and the capture is taken at the server: the '
          'router answers the server\'s 100 bytes with a RST in the client\'s name, TTL 64 where '
          'the client\'s packets arrive with 63; the server\'s recv() fails with ECONNRESET. The '
          'client never learns of it.' % MIDDLEBOX_IDLE,
          [(40001, PORT, 'rst_peer_restarted', 'client', 'rst_from_middlebox',
            'middlebox_idle_timeout')],
          topology='routed',
          facts=[(40001, 'middlebox', 'claimed=client,expected_ttl=63,seen_ttl=64'),
                 (40001, 'idle', 'min_s=%.1f' % (MIDDLEBOX_IDLE - 0.1)),
                 (40001, 'stack', 'client=linux/1,server=linux/0')])
class MiddleboxIdlePush:
    @staticmethod
    def router(ctx):
        stateful_firewall(*REJECT_WITH_RESET)
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        time.sleep(MIDDLEBOX_IDLE)
        c.sendall(payload(100, b'p'))
        expect_error(c, errno.ECONNRESET)
        c.close()
        time.sleep(0.2)
        ctx.end_of_capture()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        ctx.wait('capture-stopped')
        s.close()

    @staticmethod
    def check_capture(ctx, segs):
        problems = check_path_reset(ctx, segs, 40001, 'client', 64)
        if idle_before(segs, 40001, ctx.server_ip) < MIDDLEBOX_IDLE - 0.1:
            problems.append('the server did not speak after the idle period')
        return problems


@scenario('keepalive_middlebox',
          'Through the stateful firewall of middlebox_idle_drop (conntrack timeout %d s, '
          'segments of unknown connections dropped), a client with SO_KEEPALIVE, TCP_KEEPIDLE 6, '
          'TCP_KEEPINTVL 1, TCP_KEEPCNT 4 does a request/response and waits: its first keepalive '
          'probe comes after the firewall forgot the connection, so no probe is answered and '
          'the client\'s kernel resets the connection (recv() fails with ETIMEDOUT).'
          % CT_ESTABLISHED_TIMEOUT,
          [(40001, PORT, 'keepalive_timeout', 'client', '-', 'middlebox_idle_timeout')],
          topology='routed',
          facts=[(40001, 'idle', 'min_s=5.9'),
                 (40001, 'timers', 'side=client,tcp_keepalive_time=6,tcp_keepalive_intvl=1,'
                  'tcp_keepalive_probes=4')])
class KeepaliveMiddlebox:
    @staticmethod
    def router(ctx):
        stateful_firewall('-j', 'DROP')
        ctx.mark('router-ready')
        ctx.wait('capture-stopped')

    server = IdleThroughFirewall.server

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001, opts=keepalive_opts(6, 1, 4))
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        s.close()
        time.sleep(0.3)


CLOSE_WAIT_HELD = 7.5    # seconds the leaking server holds its socket before the capture ends


@scenario('close_wait_stuck',
          'A socket leak. 40001: after a request/response the client closes; the server reads '
          'EOF and never closes its socket (it stays in CLOSE-WAIT). 40002, a control: the same, '
          'but the server closes 1 s after reading EOF. %.1f s after 40001\'s FIN a short '
          'connection from port %d marks the end of the capture; it is read with '
          '--close-wait 5.' % (CLOSE_WAIT_HELD, MARKER_PORT),
          [(40001, PORT, 'half_closed_at_end', 'client', '-', 'close_wait_stuck'),
           (40002, PORT, 'fin_graceful', 'client', '-', None),
           (MARKER_PORT, PORT, 'fin_graceful', 'client', '-', None)],
          options='--close-wait 5',
          facts=[(40001, 'close_wait', 'side=server,min_s=7,max_s=9'),
                 (40002, 'close_wait', 'none')])
class CloseWaitStuck:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        leaked, _ = ls.accept()          # 40001: read EOF, never close
        recv_exact(leaked, REQ)
        leaked.sendall(payload(300))
        expect_eof(leaked)
        ctx.mark('eof-1')
        c, _ = ls.accept()               # 40002: close 1 s after EOF
        recv_exact(c, REQ)
        c.sendall(payload(300))
        expect_eof(c)
        time.sleep(1.0)
        c.close()
        serve_marker(ls)
        ctx.wait('capture-stopped')
        leaked.close()

    @staticmethod
    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        s.close()
        t0 = time.monotonic()
        ctx.wait('eof-1')
        time.sleep(0.2)
        s = ctx.connect(40002)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        s.close()
        time.sleep(max(0.0, t0 + CLOSE_WAIT_HELD - time.monotonic()))
        marker_connection(ctx)
        ctx.end_of_capture()

    @staticmethod
    def check_capture(ctx, segs):
        srv = [s for s in segs if s['dst'][1] == 40001]
        if any('F' in s['flags'] or 'R' in s['flags'] for s in srv):
            return ['40001: the server sent FIN or RST']
        return []


TW_REUSE_WAIT = 1.3   # seconds: tcp_tw_reuse lets connect() take a TIME-WAIT 4-tuple after 1 s


@scenario('time_wait_reuse',
          'Two 4-tuples each used twice. 40001: request/response, the client closes first (it '
          'holds TIME-WAIT); %.1f s later the client binds port 40001 again and connects '
          '(net.ipv4.tcp_tw_reuse=1 in its namespace lets it take over its own TIME-WAIT '
          '4-tuple): request/response, client closes first. 40002: request/response, the server '
          'closes first (the server holds TIME-WAIT); 100 ms later the client connects from '
          '40002 again and the server\'s TIME-WAIT accepts the new SYN (higher sequence number '
          'and timestamp): request/response, client closes first.' % TW_REUSE_WAIT,
          [(40001, PORT, 'fin_graceful', 'client', 'port_reuse', None),
           (40001, PORT, 'fin_graceful', 'client', 'port_reuse', None),
           (40002, PORT, 'fin_graceful', 'server', 'port_reuse', None),
           (40002, PORT, 'fin_graceful', 'client', 'port_reuse', None)],
          facts=[((40001, 1), 'time_wait', 'side=client'),
                 ((40001, 1), 'time_wait_reuse', 'none'),
                 ((40001, 2), 'time_wait', 'side=client'),
                 ((40001, 2), 'time_wait_reuse', 'side=client,min_s=1.2,max_s=2.5'),
                 ((40002, 1), 'time_wait', 'side=server'),
                 ((40002, 2), 'time_wait', 'side=client'),
                 ((40002, 2), 'time_wait_reuse', 'side=server,max_s=1')])
class TimeWaitReuse:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        for server_first in (False, False, True, False):
            c, _ = ls.accept()
            recv_exact(c, REQ)
            c.sendall(payload(300))
            if not server_first:
                expect_eof(c)
            c.close()
        ctx.wait('done')
        ls.close()

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_tw_reuse', 1)
        ctx.wait('ready')
        for port, server_first, pause in ((40001, False, TW_REUSE_WAIT), (40001, False, 0.2),
                                          (40002, True, 0.1), (40002, False, 0.3)):
            try:
                s = ctx.connect(port)
            except OSError as e:
                raise ScenarioError('connect from %d: %r' % (port, e))
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 300)
            if server_first:
                expect_eof(s)
            s.close()
            time.sleep(pause)
        ctx.mark('done')

    @staticmethod
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
          'The server\'s namespace drops incoming SYNs to port %d; the client\'s namespace has '
          'net.ipv4.tcp_syn_retries=1: its SYN is retransmitted twice (1 s apart) and connect() '
          'fails with ETIMEDOUT 3 s after the first; 1 s later a short connection from port %d '
          'to port %d marks the end of the capture.' % (PORT, MARKER_PORT, MARKER_SERVICE),
          [(40001, PORT, 'syn_unanswered', 'none', '-', None),
           (MARKER_PORT, MARKER_SERVICE, 'fin_graceful', 'client', '-', None)],
          facts=[(40001, 'timers', 'side=client,tcp_syn_retries=1')])
class TimersSynRetries:
    @staticmethod
    def server(ctx):
        firewall('-I', 'INPUT', '-p', 'tcp', '--syn', '--dport', str(PORT), '-j', 'DROP')
        ls = ctx.listen()
        marker = ctx.listen(MARKER_SERVICE)
        ctx.mark('ready')
        serve_marker(marker)
        ctx.wait('done')
        ls.close()

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_syn_retries', 1)
        ctx.wait('ready')
        try:
            ctx.connect(40001)
            raise ScenarioError('connect succeeded')
        except TimeoutError:
            ctx.note('connect() failed with ETIMEDOUT')
        time.sleep(1.0)
        marker_connection(ctx, port=MARKER_SERVICE)
        ctx.mark('done')

    @staticmethod
    def check_capture(ctx, segs):
        n = len([s for s in segs if s['flags'] == 'S' and s['src'][1] == 40001])
        return [] if n == 3 else ['expected 3 SYNs, got %d' % n]


@scenario('timers_retries2',
          'The client\'s namespace has net.ipv4.tcp_retries2=4. After a request/response the '
          'server\'s namespace drops every packet of that connection; the client sends 100 '
          'bytes, its kernel retransmits them with exponential backoff and gives up (recv() '
          'fails with ETIMEDOUT); 2.5 s later (past the retransmission that would have come '
          'next) a short connection from port %d marks the end of the capture.' % MARKER_PORT,
          [(40001, PORT, 'peer_vanished', 'client', '-', 'retransmit_timeout'),
           (MARKER_PORT, PORT, 'fin_graceful', 'client', '-', None)],
          facts=[(40001, 'timers', 'side=client,tcp_retries2=4')])
class TimersRetries2:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        c, _ = ls.accept()
        recv_exact(c, REQ)
        c.sendall(payload(300))
        wait_until(lambda: unacked_bytes(c) == 0, what='response acknowledged')
        firewall('-I', 'INPUT', '-p', 'tcp', '--sport', '40001', '-j', 'DROP')
        firewall('-I', 'OUTPUT', '-p', 'tcp', '--dport', '40001', '-j', 'DROP')
        ctx.mark('dropped')
        serve_marker(ls)
        ctx.wait('capture-stopped')
        c.close()

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_retries2', 4)
        ctx.wait('ready')
        s = ctx.connect(40001)
        s.sendall(payload(REQ, b'q'))
        recv_exact(s, 300)
        ctx.wait('dropped')
        s.sendall(payload(100, b'n'))
        expect_error(s, errno.ETIMEDOUT)
        ctx.note('recv() failed with ETIMEDOUT')
        time.sleep(2.5)
        s.close()
        marker_connection(ctx)


FIN_TIMEOUT = 2   # net.ipv4.tcp_fin_timeout in the client's namespace


@scenario('timers_fin_timeout',
          'The client\'s namespace has net.ipv4.tcp_fin_timeout=%d. On both connections the '
          'client sends a request, reads the response and close()s (its orphaned socket waits in '
          'FIN-WAIT-2 for the server\'s FIN). 40001: the server reads EOF and closes 3.5 s later, '
          'after the client\'s FIN-WAIT-2 timed out: the client\'s kernel answers the late FIN '
          'with a RST. 40002: the server closes 1.5 s after EOF, within the timeout: the FIN is '
          'acknowledged normally.' % FIN_TIMEOUT,
          [(40001, PORT, 'rst_after_close', 'client', '-', 'fin_wait_2_timeout'),
           (40002, PORT, 'fin_graceful', 'client', '-', None)],
          facts=[(40001, 'timers', 'side=client,tcp_fin_timeout=%d' % FIN_TIMEOUT),
                 (40002, 'timers', 'side=client,tcp_fin_timeout=%d' % FIN_TIMEOUT)])
class TimersFinTimeout:
    @staticmethod
    def server(ctx):
        ls = ctx.listen()
        ctx.mark('ready')
        for port, delay in ((40001, 3.5), (40002, 1.5)):
            c, _ = ls.accept()
            recv_exact(c, REQ)
            c.sendall(payload(300))
            expect_eof(c)
            time.sleep(delay)
            c.close()
            ctx.mark('closed-%d' % port)
        ctx.wait('done')

    @staticmethod
    def client(ctx):
        sysctl('net.ipv4.tcp_fin_timeout', FIN_TIMEOUT)
        ctx.wait('ready')
        for port in (40001, 40002):
            s = ctx.connect(port)
            s.sendall(payload(REQ, b'q'))
            recv_exact(s, 300)
            s.close()
            ctx.wait('closed-%d' % port)
            time.sleep(0.2)
        ctx.mark('done')

    @staticmethod
    def check_capture(ctx, segs):
        srv40002 = [s for s in segs if s['dst'][1] == 40002]
        cli40002 = [s for s in segs if s['src'][1] == 40002]
        if not any('F' in s['flags'] for s in srv40002) or any('R' in s['flags']
                                                                for s in cli40002):
            return ['40002: the late FIN was not accepted']
        return []


# --------------------------------------------------------------------------------------------
# Truth files and the capture check

def make_ctx(name, family, rundir=None):
    return Ctx(family, rundir, routed=SCENARIOS[name].topology == 'routed')


def connection_label(ctx, conn):
    """'198.51.100.1:40001' for a port, '198.51.100.1:40001#2' for (port, 2)."""
    if isinstance(conn, tuple):
        return '%s#%d' % (ctx.endpoint(ctx.client_ip, conn[0]), conn[1])
    return ctx.endpoint(ctx.client_ip, conn)


def truth_text(name, family):
    sc = SCENARIOS[name]
    ctx = make_ctx(name, family)
    lines = ['client\tserver\tclass\tcloser\tmodifiers',
             '# scenario %s, IPv%s: %s' % (name, family, sc.description)]
    if sc.options:
        lines.append('# options %s' % sc.options)
    rows = []
    seen = {}
    for cport, sport, cls, closer, mods, detail in sc.truth:
        seen[cport] = seen.get(cport, 0) + 1
        c = ctx.endpoint(ctx.client_ip, cport)
        if detail:
            repeated = sum(1 for row in sc.truth if row[0] == cport) > 1
            label = connection_label(ctx, (cport, seen[cport]) if repeated else cport)
            lines.append('# detail %s %s' % (label, detail))
        rows.append('\t'.join([c, ctx.endpoint(ctx.server_ip, sport), cls, closer, mods]))
    for conn, key, value in sc.facts:
        lines.append('# %s %s %s' % (key, connection_label(ctx, conn), value))
    return '\n'.join(lines + rows) + '\n'


PKT_RE = re.compile(r'(\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\](.*)$')
TTL_RE = re.compile(r'\b(?:ttl|hlim) (\d+)')
ID_RE = re.compile(r'\bid (\d+)')


def read_segments(pcap):
    """Segments of a capture as printed by tcpdump -nn -v -S (absolute sequence numbers), with
    each packet's TTL / hop limit and IPv4 ID (None for IPv6)."""
    out = subprocess.run(['tcpdump', '-nn', '-v', '-S', '-r', pcap], check=True,
                         capture_output=True, text=True).stdout
    packets = []
    for line in out.splitlines():
        if line[:1].isspace() and packets:
            packets[-1] += ' ' + line.strip()     # -v continues an IPv4 packet on a second line
        else:
            packets.append(line)
    segs = []
    for line in packets:
        m = PKT_RE.search(line)
        if not m:
            raise ScenarioError('unparsed tcpdump line: ' + line)
        src, sport, dst, dport, flags, rest = m.groups()
        seq = re.search(r'\bseq (\d+)(?::(\d+))?', rest)
        ack = re.search(r'\back (\d+)', rest)
        length = re.search(r', length (\d+)', rest)
        ttl = TTL_RE.search(line)
        ip_id = ID_RE.search(line[:m.start(1)])
        ts = line.split(' ', 1)[0]
        h, mi, sec = ts.split(':') if ts.count(':') == 2 else ('0', '0', '0')
        segs.append({'src': (src, int(sport)), 'dst': (dst, int(dport)), 'flags': flags,
                     'seq': int(seq.group(1)) if seq else None,
                     'ack': int(ack.group(1)) if ack else None,
                     'len': int(length.group(1)) if length else 0,
                     'ttl': int(ttl.group(1)) if ttl else None,
                     'id': int(ip_id.group(1)) if ip_id else None,
                     'time': int(h) * 3600 + int(mi) * 60 + float(sec)})
    return segs


def check(name, family, pcap):
    """Return a list of problems (empty when the capture shows what the scenario needs)."""
    sc = SCENARIOS[name]
    ctx = make_ctx(name, family)
    segs = read_segments(pcap)
    problems = []
    want = {cport for cport, *_ in sc.truth}
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
    ports = [row[0] for row in sc.truth]
    for cport, sport, cls, closer, _, _ in sc.truth:
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


def main(argv):
    if len(argv) >= 1 and argv[0] == 'list':
        print('\n'.join(SCENARIOS))
        return 0
    if len(argv) == 2 and argv[0] == 'topology':
        print(SCENARIOS[argv[1]].topology)
        return 0
    if len(argv) == 3 and argv[0] == 'truth':
        sys.stdout.write(truth_text(argv[1], argv[2]))
        return 0
    if len(argv) == 4 and argv[0] == 'check':
        problems = check(argv[1], argv[2], argv[3])
        for p in problems:
            print('check %s: %s' % (argv[1], p), file=sys.stderr)
        return 3 if problems else 0
    if len(argv) == 4 and argv[0] in ('server', 'client', 'router'):
        role, name, family, rundir = argv
        sc = SCENARIOS[name]
        ctx = make_ctx(name, family, rundir)
        try:
            getattr(sc, role, default_router)(ctx)
        except (ScenarioError, OSError) as e:
            print('%s %s: %r' % (role, name, e), file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
