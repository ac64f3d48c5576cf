#!/usr/bin/env python3
"""A delay line: a transparent two-port relay that holds every frame for a fixed time, a
different one in each direction. It stands in for a long cable where `tc netem` is not
available (make-samples.sh, topology "distant": one delay line on each side of the router).

    delay.py IF_A IF_B MS_A_TO_B MS_B_TO_A READY_FILE

Runs in a namespace of its own holding the two interfaces (no addresses, IPv6 off, promiscuous,
offloads off so frames are MTU-sized with valid checksums). Two AF_PACKET sockets see every
frame arriving on IF_A or IF_B; each is queued with its due time and written out of the other
interface when due. A constant delay per direction keeps each direction in order (a FIFO), so
the relay never reorders, never drops (receive buffers of 4 MiB, frames of a few kB at most
in flight here) and changes no byte: to the endpoints and the router it is a cable. Frames the
relay itself sends show up on its sockets as PACKET_OUTGOING and are ignored. Creates
READY_FILE once both sockets are bound; runs until SIGTERM or SIGINT. Standard library only.
"""

import collections
import errno
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
RCVBUF = 4 << 20


def open_port(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def relay(if_a, if_b, delay_ab, delay_ba, ready_file):
    a, b = open_port(if_a), open_port(if_b)
    # the queue a frame read on a socket joins: (queue, delay, socket it leaves by)
    route = {a: (collections.deque(), delay_ab, b), b: (collections.deque(), delay_ba, a)}
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    with open(ready_file, 'w'):
        pass
    try:
        run(a, b, route, stop)
    except OSError as e:
        if e.errno not in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            raise
        # an interface went away: the namespaces are being torn down
    a.close()
    b.close()


def run(a, b, route, stop):
    while not stop:
        now = time.monotonic()
        due = [q[0][0] for q, _, _ in route.values() if q]
        timeout = max(0.0, min(due) - now) if due else 0.2
        try:
            readable, _, _ = select.select([a, b], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for s in readable:
            queue, delay, _ = route[s]
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] != PACKET_OUTGOING:
                    queue.append((now + delay, frame))
        now = time.monotonic()
        for queue, _, out in route.values():
            while queue and queue[0][0] <= now:
                out.send(queue.popleft()[1])


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    if_a, if_b, ms_ab, ms_ba, ready = argv
    relay(if_a, if_b, float(ms_ab) / 1000, float(ms_ba) / 1000, ready)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
