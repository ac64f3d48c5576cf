"""Loops the scenarios run on either side of a connection: the same code plays the client in one
scenario and the server in its mirror (a heartbeat pinger, its answerer, a streamer, a reader
that asks for the capture to end). Each takes the connected socket; none knows its role.
"""

import errno
import select
import time

from lib.kit import ScenarioError, drop_everything, payload, recv_exact


def stream(ctx, s, until, size=100, interval=0.1):
    """Send `size` bytes every `interval` seconds until until() is true or send() fails;
    return the error (None when until() ended it)."""
    p = select.poll()
    p.register(s, select.POLLERR)      # wakes up at once when the kernel gives up
    while not until():
        try:
            s.send(payload(size, b'd'))
        except OSError as e:
            ctx.note('send() failed with %s' % errno.errorcode.get(e.errno, e.errno))
            return e
        if p.poll(int(interval * 1000)):
            ctx.note('poll() reports a socket error')
    return None


def stream_until_timeout(ctx, s):
    """stream() until the kernel gives up on the silent peer: send() must fail with
    ETIMEDOUT."""
    err = stream(ctx, s, lambda: False)
    if err is None or err.errno != errno.ETIMEDOUT:
        raise ScenarioError('expected ETIMEDOUT from send, got %r' % err)


def stream_until_stopped(ctx, s, size, interval, tag=b's', stop_after=None):
    """Write `size` bytes every `interval` seconds until make-samples.sh has stopped tcpdump;
    after `stop_after` writes, ask it to stop (None: someone else asks)."""
    n = 0
    while not ctx.is_marked('capture-stopped'):
        s.sendall(payload(size, tag))
        n += 1
        if n == stop_after:
            ctx.mark('stop-capture')
        time.sleep(interval)


def read_then_stop(ctx, s, nbytes):
    """Read `nbytes` of a stream, ask for the capture to end, and keep reading (without
    closing) until it has."""
    got = 0
    while got < nbytes:
        got += len(s.recv(65536))
    s.setblocking(False)
    ctx.mark('stop-capture')
    while not ctx.is_marked('capture-stopped'):
        try:
            s.recv(65536)
        except BlockingIOError:
            time.sleep(0.01)


def heartbeat(ctx, s, interval, missed_limit):
    """Send an 8-byte PING every `interval` seconds and expect its PONG within the interval;
    return (pings sent, pings missed in a row) once `missed_limit` in a row went unanswered."""
    start = time.monotonic()
    n = missed = 0
    buf = b''
    while missed < missed_limit:
        s.sendall(b'PING%04d' % n)
        answered = False
        deadline = start + (n + 1) * interval
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
    return n, missed


def answer_pings_then_vanish(ctx, s, count):
    """Answer `count` PINGs with PONGs, then drop everything in this namespace (the host
    vanished) and hold the socket until the capture has stopped."""
    for _ in range(count):
        ping = recv_exact(s, 8)
        s.sendall(b'PONG' + ping[4:])
    drop_everything()
    ctx.mark('dropped')
    ctx.wait('capture-stopped')
    s.close()
