#!/usr/bin/env python3
"""Window experiments (issue 11 part 5): how a Linux receiver's advertised window answers data
left unread, and what a close with unread data and an abort after reading everything look like.

    sudo python3 samples/cases/realsw/window.py [-o DIR] [NAME...]     (default: all)
    python3 samples/cases/realsw/window.py list

Every experiment is one capture (samples/captures/window/NAME.pcap + .truth) of five connections from
198.51.100.1:4000k (the sender, in rsw-cli) to 198.51.100.2:8080 (the receiver, in rsw-srv),
captured at the sender's veth with snaplen 128. Connection k's sender writes SIZES[k] bytes
(100 B, 1 kB, 10 kB, 100 kB, 1 MB: whatever its kernel accepts within 0.5 s), optionally keeps
sending 1000 B every 20 ms for 0.4 s more ("more"), then waits for the receiver. The receiver
accepts and either never reads ("unread") or reads exactly what was sent ("read"), and 1.2 s
after accept() prints its receive queue (SIOCINQ, and `ss -tmi`) and closes: plainly, or with
SO_LINGER {1, 0} ("abort").

The class of each connection comes from the receiver's own receive queue at close (SIOCINQ
right before close(), and the ss -E destroy record): bytes unread -> rst_unread_data, none ->
rst_abort (abort) or a FIN (plain close). The window figures of every connection (the
receiver's advertised windows, scaled by its window scale) are written into the truth file and
printed as a table (samples/README.md, "Window experiments").
"""

import json
import os
import shutil
import subprocess
import sys

import rswlib
from rswlib import FIN, RST, SYN, Failed, nsexec

CLI, SRV = 'rsw-cli', 'rsw-srv'
# the experiments' captures have their own folder and e2e check (tests/CMakeLists.txt): they
# measure the stack more than they exercise the analyzer's robustness checks
OUT = os.path.join(rswlib.CAPTURES, 'window')
SIZES = (100, 1000, 10000, 100000, 1000000)
TRIES = 3

RECEIVER = r'''
import fcntl, json, socket, struct, subprocess, sys, termios, time
mode, rcvbuf, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic')
if rcvbuf:
    # before listen(): inherited by the accepted socket, and it turns receive autotuning off
    l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
l.bind(('198.51.100.2', 8080))
l.listen(1)
print('listening', flush=True)
c, _ = l.accept()
t0 = time.monotonic()
got = 0
if mode.startswith('read'):
    c.settimeout(1.2)
    try:
        while got < n:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
    except socket.timeout:
        pass
time.sleep(max(0.0, 1.2 - (time.monotonic() - t0)))
inq = struct.unpack('i', fcntl.ioctl(c.fileno(), termios.FIONREAD, b'\0' * 4))[0]
ss = subprocess.run(['ss', '-tmiH', 'state', 'all', 'sport', '=', ':8080'], capture_output=True,
                    text=True).stdout
rb = c.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
if mode.endswith('abort'):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
t_close = time.time()
c.close()
print(json.dumps({'read': got, 'unread_at_close': inq, 'so_rcvbuf': rb, 'ss': ss,
                  't_close': t_close}), flush=True)
time.sleep(0.3)
'''

SENDER = r'''
import json, select, socket, sys, time
n, more, port = int(sys.argv[1]), sys.argv[2] == 'more', int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic')
s.bind(('198.51.100.1', port))
s.connect(('198.51.100.2', 8080))
s.setblocking(False)
data = bytes((i * 7 + 13) % 251 for i in range(n))
sent, deadline = 0, time.monotonic() + 0.5
while sent < n and time.monotonic() < deadline:
    select.select([], [s], [], 0.05)
    try:
        sent += s.send(data[sent:])
    except BlockingIOError:
        pass
extra = 0
ending = 'none'
if more:
    end = time.monotonic() + 0.4
    while time.monotonic() < end:
        try:
            extra += s.send(b'm' * 1000)
        except BlockingIOError:
            pass
        except ConnectionResetError:
            ending = 'reset while sending'
            break
        time.sleep(0.02)
s.setblocking(True)
s.settimeout(3)
try:
    if ending != 'none':
        raise EOFError
    while True:
        d = s.recv(65536)
        if not d:
            ending = 'eof'
            break
except ConnectionResetError:
    ending = 'reset'
except socket.timeout:
    ending = 'timeout'
except EOFError:
    pass
print(json.dumps({'accepted': sent, 'more_accepted': extra, 'ending': ending}), flush=True)
s.close()
'''

# name: (description, receiver mode, sender pattern, SO_RCVBUF, {sysctl: value} in the
# receiver's namespace)
EXPERIMENTS = {
    'win_unread': ('defaults (tcp_rmem 4096 131072 33554432, autotuning on, window scaling on, '
                   'tcp_adv_win_scale 1): the receiver never reads, the sender stops after '
                   'its data', 'unread', 'stop', 0, {}),
    'win_unread_more': ('defaults; the receiver never reads, the sender keeps sending 1000 B '
                        'every 20 ms for 0.4 s after its data', 'unread', 'more', 0, {}),
    'win_unread_noscale': ('net.ipv4.tcp_window_scaling=0 in the receiver\'s namespace (no '
                           'wscale option in its SYN-ACK); never reads; the sender keeps '
                           'sending', 'unread', 'more', 0, {'net.ipv4.tcp_window_scaling': 0}),
    'win_unread_rcvbuf': ('SO_RCVBUF 32768 on the receiver\'s listening socket (no '
                          'autotuning); never reads; the sender keeps sending', 'unread', 'more',
                          32768, {}),
    'win_unread_advscale': ('net.ipv4.tcp_adv_win_scale=-2 in the receiver\'s namespace; never '
                            'reads; the sender keeps sending', 'unread', 'more', 0,
                            {'net.ipv4.tcp_adv_win_scale': -2}),
    'win_unread_shrink': ('net.ipv4.tcp_shrink_window=1 in the receiver\'s namespace (the '
                          'window may shrink); never reads; the sender keeps sending',
                          'unread', 'more', 0, {'net.ipv4.tcp_shrink_window': 1}),
    'win_read_abort': ('defaults; the receiver reads everything, then SO_LINGER {1,0} + '
                       'close()', 'read-abort', 'stop', 0, {}),
    'win_read_close': ('defaults; the receiver reads everything, then close() (control: FIN)',
                       'read', 'stop', 0, {}),
}


def window_figures(conn):
    """The receiver's (server's) advertised windows on one connection, scaled."""
    rx = conn.sent_by('server')
    tx = [s for s in conn.sent_by('client') if s.len > 0 or s.flags & FIN]
    synack = next((s for s in rx if s.flags & SYN), None)
    acks = [s for s in rx if not s.flags & (SYN | RST)]
    rst = next((s for s in rx if s.flags & RST), None)
    wins = [conn.scaled_window(s) for s in acks]
    first_data = tx[0].t if tx else None
    after = [conn.scaled_window(s) for s in acks if first_data and s.t > first_data]
    # zero-window probes: the sender's zero-length segments one below its next sequence
    probes = 0
    nxt = None
    for s in conn.sent_by('client'):
        if s.len > 0:
            nxt = s.seq + s.len
        elif nxt is not None and s.seq == (nxt - 1) % (1 << 32) and not s.flags & (SYN | FIN |
                                                                                     RST):
            probes += 1
    first = acks[0] if acks else None
    data_bytes = sum(s.len for s in conn.sent_by('client'))
    return {
        'wscale': conn.wscale.get('server') if len(conn.wscale) == 2 else None,
        'synack_win': synack.win if synack else None,
        'first_ack_win': conn.scaled_window(first) if first else None,
        'min_after_data': min(after) if after else None,
        'max_after_data': max(after) if after else None,
        'last_before_end': wins[-1] if wins else None,
        'zero_windows': sum(1 for w in after if w == 0),
        'rst_win': conn.scaled_window(rst) if rst else None,
        'rst_win_raw': rst.win if rst else None,
        'probes': probes,
        'bytes_on_wire': data_bytes,
        'series': compress(after),
    }


def compress(values):
    """'64512 x3, 62464, ...': the advertised windows in order, repeats folded."""
    out = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return ', '.join('%d' % v if n == 1 else '%d x%d' % (v, n) for v, n in out)


def attempt(name):
    desc, mode, pattern, rcvbuf, sysctls = EXPERIMENTS[name]
    topo = rswlib.Topology(rswlib.PAIR)
    work = rswlib.workdir()
    procs = []
    try:
        topo.setup()
        for key, value in sysctls.items():
            rswlib.sysctl(SRV, key, value)
        watch = rswlib.Watch(SRV, work)
        watch.start()
        pcap = os.path.join(work, name + '.pcap')
        # snaplen 128: headers and the first payload bytes (the windows are what matters)
        td = rswlib.Tcpdump(CLI, 'rsw-c', pcap, ['-s', '128'])
        td.start()
        results = []
        for k, size in enumerate(SIZES):
            port = 40001 + k
            rx = subprocess.Popen(nsexec(SRV, ['python3', '-c', RECEIVER, mode, str(rcvbuf),
                                               str(size)]), stdout=subprocess.PIPE, text=True)
            procs.append(rx)
            if rx.stdout.readline().strip() != 'listening':
                raise Failed('receiver did not start')
            tx = subprocess.run(nsexec(CLI, ['python3', '-c', SENDER, str(size), pattern,
                                             str(port)]), capture_output=True, text=True,
                                timeout=20)
            if tx.returncode != 0:
                raise Failed('sender: ' + tx.stderr[-300:])
            out, _ = rx.communicate(timeout=20)
            if rx.returncode != 0:
                raise Failed('receiver failed')
            results.append((port, size, json.loads(tx.stdout), json.loads(out.splitlines()[-1])))
        td.stop()
        watch.stop()
        conns = rswlib.connections(rswlib.read_segments(pcap))
        if len(conns) != len(SIZES):
            raise Failed('%d connections in the capture' % len(conns))
        rows, comments, table = [], [], []
        for conn, (port, size, txr, rxr) in zip(conns, results):
            if not conn.client.endswith(':%d' % port):
                raise Failed('connection order')
            destroyed = watch.destroy_record(conn.server, conn.client, after=conn.segs[0].t)
            unread = rxr['unread_at_close']
            rx_end = [s for s in conn.sent_by('server') if s.flags & (FIN | RST)]
            if not rx_end:
                raise Failed('the receiver sent no FIN or RST')
            if unread > 0:
                cls = 'rst_unread_data'
            elif rx_end[0].flags & RST:
                cls = 'rst_abort'
            else:
                cls = 'fin_graceful'
            if cls.startswith('rst') and not rx_end[0].flags & RST:
                raise Failed('unread data but a FIN')
            if cls == 'fin_graceful' and not conn.first('client', FIN):
                raise Failed('no FIN from the sender')
            rows.append((conn.client, conn.server, cls, 'server', ()))
            fig = window_figures(conn)
            fig.update({'size': size, 'accepted': txr['accepted'],
                        'more_accepted': txr['more_accepted'], 'read': rxr['read'],
                        'unread_at_close': unread, 'so_rcvbuf': rxr['so_rcvbuf'],
                        'destroy_recvq': destroyed[1] if destroyed and not destroyed[3]
                        else None})
            table.append(fig)
            comments.append(
                'connection %s: sender wrote %d of %d B (+%d B more), receiver read %d, '
                'unread at close %d (SIOCINQ; ss -E destroy record %s), SO_RCVBUF %d' % (
                    conn.client, txr['accepted'], size, txr['more_accepted'], rxr['read'],
                    unread, fig['destroy_recvq'], rxr['so_rcvbuf']))
            comments.append(
                'window %s: wscale %s, SYN-ACK %s, first ACK %s, after data min %s max %s, '
                'last before the end %s, zero windows %d, RST window %s (raw %s), sender '
                'probes %d' % (conn.client, fig['wscale'], fig['synack_win'],
                               fig['first_ack_win'], fig['min_after_data'],
                               fig['max_after_data'], fig['last_before_end'],
                               fig['zero_windows'], fig['rst_win'], fig['rst_win_raw'],
                               fig['probes']))
            comments.append('windows %s after data: %s' % (conn.client, fig['series'][:600]))
            ss = ' '.join(line for line in rxr['ss'].splitlines() if 'LISTEN' not in line)
            ss = ' '.join(ss.split())
            comments.append('ss %s before close: %s' % (conn.client, ss[:400]))
        text = rswlib.truth_text(
            name, 'Window experiment: ' + desc + '. ' + __doc__.split('\n\n')[2].replace(
                '\n', ' '),
            'captured in the client\'s (sender\'s) namespace by tcpdump %s; %s' % (
                td.describe(), rswlib.linktype_of(pcap)), 'client', rows, comments)
        shutil.copy(pcap, os.path.join(OUT, name + '.pcap'))
        with open(os.path.join(OUT, name + '.truth'), 'w') as f:
            f.write(text)
        return table
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        topo.teardown()
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    if argv[:1] == ['list']:
        print('\n'.join(EXPERIMENTS))
        return 0
    if argv[:1] == ['-o']:
        global OUT
        OUT = argv[1]                        # elsewhere than samples/captures/window
        argv = argv[2:]
    if os.geteuid() != 0:
        raise SystemExit('window: must run as root')
    names = argv or list(EXPERIMENTS)
    summary = {}
    for name in names:
        if name not in EXPERIMENTS:
            raise SystemExit('window: no experiment %s' % name)
        for n in range(1, TRIES + 1):
            try:
                summary[name] = attempt(name)
                break
            except Failed as e:
                print('window: %s: attempt %d not usable: %s' % (name, n, e), file=sys.stderr)
        else:
            raise SystemExit('window: %s: no usable capture' % name)
        print('%s:' % name)
        print('  %8s %8s %8s %6s %7s %7s %7s %7s %7s %5s %7s %6s' % (
            'size', 'sent', 'unread', 'wscale', 'synack', 'first', 'min', 'max', 'last',
            'zeros', 'rst', 'probes'))
        for f in summary[name]:
            print('  %8d %8d %8d %6s %7s %7s %7s %7s %7s %5d %7s %6d' % (
                f['size'], f['bytes_on_wire'], f['unread_at_close'], f['wscale'],
                f['synack_win'], f['first_ack_win'], f['min_after_data'],
                f['max_after_data'], f['last_before_end'], f['zero_windows'], f['rst_win'],
                f['probes']))
            print('           windows: %s' % f['series'][:300])
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
