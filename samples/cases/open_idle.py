"""Connections still open when the capture ends: data flowing, or idle (with or without
keepalive probes).
"""

import time

from lib.kit import *  # noqa: F401,F403 (the scenarios' vocabulary)
from lib.loops import read_then_stop, stream_until_stopped
from lib.registry import Conn, conns, scenario


@scenario('open_at_end', conns('open_at_end', 'none'))
class OpenAtEnd:
    """The client sends a request and the server streams 200 bytes every 50 ms; the capture
    stops after about one second of streaming, with data still flowing."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        recv_exact(c, REQ)
        stream_until_stopped(ctx, c, 200, 0.05)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = send_request(ctx.connect(40001))
        read_then_stop(ctx, s, 200 * 20)   # about one second of streaming
        s.close()


IDLE_SECONDS = 8.5


@scenario('idle_at_end', [Conn(40001, 'idle_at_end', 'none'), Conn(40002, 'fin_graceful', 'client')],
          doc_args=(IDLE_SECONDS,))
class IdleAtEnd:
    """Connection 40001 does a request/response and then stays open and silent for %.1f s; then
    a second connection 40002 does a request/response and closes gracefully (client first),
    marking the end of the capture."""
    def server(ctx):
        ls = ctx.serve()
        idle = answer_next(ls)
        c = answer_next(ls)
        expect_eof(c)
        c.close()
        ctx.wait('capture-stopped')
        idle.close()

    def client(ctx):
        ctx.wait('ready')
        idle = ctx.request(40001, 300)
        time.sleep(IDLE_SECONDS)
        s = ctx.request(40002, 300)
        s.close()
        time.sleep(0.2)
        ctx.end_of_capture()
        idle.close()


@scenario('idle_at_end_keepalive', conns('idle_at_end', 'none'))
class IdleAtEndKeepalive:
    """Connection 40001 (client SO_KEEPALIVE, TCP_KEEPIDLE=3, TCP_KEEPINTVL=3) does a
    request/response and stays open with no data for about 9.3 s: the only packets are the
    client's keepalive probes at 3, 6 and 9 s and the server's answers. The capture stops 0.3 s
    after the last answer."""
    def server(ctx):
        ls = ctx.serve()
        c = answer_next(ls)
        ctx.wait('capture-stopped')
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.request(40001, 300, opts=keepalive_opts(3, 3, 9))
        time.sleep(9.0)
        ctx.end_of_capture()
        s.close()


IDLE_LONG_SECONDS = 12.0


@scenario('idle_at_end_long', [Conn(40001, 'idle_at_end', 'none'), Conn(40002, 'fin_graceful', 'server')],
          doc_args=(IDLE_LONG_SECONDS,))
class IdleAtEndLong:
    """Connection 40001 does three request/response rounds and then stays open and silent for
    %.0f s; then a second connection 40002 does a request/response, the server close()s first
    and the client close()s on EOF, marking the end of the capture."""
    def server(ctx):
        ls = ctx.serve()
        idle, _ = ls.accept()
        for _ in range(3):
            answer(idle)
        c = answer_next(ls)
        c.close()
        ctx.wait('capture-stopped')
        idle.close()

    def client(ctx):
        ctx.wait('ready')
        idle = ctx.connect(40001)
        for _ in range(3):
            round_trip(idle, 300)
        time.sleep(IDLE_LONG_SECONDS)
        s = ctx.request(40002, 300)
        expect_eof(s)
        s.close()
        time.sleep(0.2)
        ctx.end_of_capture()
        idle.close()


@scenario('open_at_end_upload', conns('open_at_end', 'none'))
class OpenAtEndUpload:
    """The client uploads 1000 bytes every 20 ms; the server only reads (it sends no data, only
    ACKs); the capture stops after about one second of uploading, with the client still sending."""
    def server(ctx):
        ls = ctx.serve()
        c, _ = ls.accept()
        recv_until_stopped(ctx, c)
        c.close()

    def client(ctx):
        ctx.wait('ready')
        s = ctx.connect(40001)
        stream_until_stopped(ctx, s, 1000, 0.02, b'u', stop_after=50)
        s.close()
