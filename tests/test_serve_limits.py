"""`serve` under many connections that never finish their request, and many open pages: it keeps
answering, does not spin, and closes what never comes, within its bounds (a low open-file limit
as on macOS, in a subprocess)."""
from __future__ import annotations

import os
import resource
import socket
import sys
import threading
import time
import urllib.request

import pytest

from pipeline.site.livereload import MAX_STREAMS
from pipeline.site.server import READ_TIMEOUT_S, RELOAD_PATH, Reloader, make_server
from test_serve import start_serve, stop_serve

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the CPU time")


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _connect(port: int, data: bytes) -> socket.socket | None:
    s = socket.socket()
    s.settimeout(5)  # a burst past the listen queue waits for the SYN to be sent again (1 s, then 3 s)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(data)
    except OSError:
        s.close()
        return None
    return s


def _closed_by_peer(s: socket.socket, wait_s: float) -> bool:
    s.settimeout(wait_s)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return True
    except (TimeoutError, socket.timeout):
        return False
    except OSError:
        return True


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_stalled_connections_and_idle_streams_never_stop_it_answering(make_gallery):
    manifest = make_gallery(site={"title": "Limits", "try_it": False})
    proc, url = start_serve(manifest, preexec_fn=_low_file_limit)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    held: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        # a request that drips a byte at a time never completes its headers
        drip = _connect(port, b"GET /index.html HTTP/1.1\r\n")
        assert drip is not None
        for _ in range(300):  # more than the open-file limit leaves: each stalls mid-request
            s = _connect(port, b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
            assert s is not None, "serve stopped accepting connections"
            held.append(s)
        streams = [_connect(port, f"GET {RELOAD_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode()) for _ in range(60)]
        assert None not in streams, "serve stopped accepting connections"
        held += streams
        answers = []
        for s in streams:
            s.settimeout(10)
            answers.append(s.recv(64).split(b"\r\n", 1)[0])
        assert answers.count(b"HTTP/1.0 200 OK") == MAX_STREAMS, answers
        assert all(a.startswith(b"HTTP/1.0 503") or a == b"HTTP/1.0 200 OK" or a == b"" for a in answers), answers

        started = time.monotonic()
        with urllib.request.urlopen(url, timeout=20) as r:
            assert r.status == 200 and b"Limits" in r.read()
        assert time.monotonic() - started < 10

        before = _cpu_seconds(proc.pid)
        time.sleep(3)
        assert _cpu_seconds(proc.pid) - before < 1.0, "serve spins while the connections are held"

        closed = False
        while not closed and time.monotonic() < t0 + READ_TIMEOUT_S + 5:  # a byte a second, on and on
            try:
                drip.send(b"X")
            except OSError:
                closed = True
            closed = closed or _closed_by_peer(drip, 1)
        assert closed, "a request dripping a byte a second was never closed"
        with urllib.request.urlopen(url + "about.html", timeout=20) as r:
            assert r.status == 200
    finally:
        for s in held:
            s.close()
        log = stop_serve(proc)
    assert "Traceback" not in log, log


def test_a_request_that_never_arrives_is_closed_after_the_read_timeout(tmp_path):
    (tmp_path / "index.html").write_text("<html><body>home</body></html>")
    server = make_server(tmp_path, 0, Reloader(), read_timeout_s=1.0, max_connections=4)

    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        slow = [_connect(port, b"GET / HTTP/1.1\r\n") for _ in range(3)]
        t0 = time.monotonic()
        assert all(_closed_by_peer(s, 5) for s in slow)
        assert time.monotonic() - t0 < 4
        # at the limit, the connection that waited longest for its request makes room
        stalled = [_connect(port, b"GET / HTTP/1.1\r\n") for _ in range(4)]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"home" in r.read()
        assert _closed_by_peer(stalled[0], 2)
    finally:
        server.shutdown()
        server.server_close()


def test_the_last_stream_slot_is_promised_once_however_many_pages_ask_at_once():
    reloader = Reloader(max_streams=8)
    barrier = threading.Barrier(40)
    granted: list[bool] = []

    def ask() -> None:
        barrier.wait()
        granted.append(reloader.reserve())

    threads = [threading.Thread(target=ask) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 8 and reloader.streams == 8
    reloader.release()
    assert reloader.reserve() and not reloader.reserve()
    reloader.close()
