"""A local HTTP server for the built site, with live reload and the site's own 404 page.

Why not `python -m http.server`: after each rebuild the open pages should reload by themselves,
a mistyped address should show the gallery's 404 page (as GitHub Pages does), and nothing but
the site may be served. Every HTML response gets a small script that listens on /__livereload
(pipeline.site.livereload); the files on disk are never changed.

What is served: regular files below the site folder, opened one path component at a time
without following a symbolic link (a link `site/etc -> /etc` leads nowhere), a folder's
index.html for a folder address, and nothing else: no listings, no FIFOs, no devices.

What it costs: a request (its line and headers) must arrive within `read_timeout_s` in all,
however slowly it drips; at most `max_connections` connections are handled at once (a thread
each), the limit derived from the open-file limit; when they are all taken, the one that has
waited longest for its request is closed to make room (a browser sends its request at once),
else the newcomer gets a 503. Event streams are held by one thread, bounded apart.
"""
from __future__ import annotations

import errno
import functools
import http.server
import io
import logging
import os
import resource
import socket
import stat
import threading
import time
import urllib.parse

from pipeline.site.livereload import Reloader
from pipeline.util import safepath

log = logging.getLogger(__name__)

RELOAD_PATH = "/__livereload"
# Reconnects by itself (EventSource does) when the server restarts; reloads on each event.
RELOAD_SCRIPT = (b'<script>(function(){if(!window.EventSource)return;var s=new EventSource("'
                 + RELOAD_PATH.encode() + b'");s.addEventListener("reload",function(){'
                 b'location.reload()});})();</script>\n')
READ_TIMEOUT_S = 10.0  # the whole request line and headers, however slowly they come
WRITE_TIMEOUT_S = 30.0  # each write of an answer to a client that stopped reading
MAX_CONNECTIONS = 64
RESERVED_FILES = 64  # open files left for the rest of `serve`: the watcher, the rebuilds
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n"
        b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy: too many connections at once")


def connection_limit() -> int:
    """Connections at once, so that all of them (a socket and a file each, plus the sockets of
    closing ones and of event streams) stay well under the process's open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, (soft - RESERVED_FILES) // 4))


class _DeadlineReader(io.RawIOBase):
    """The request's socket as a stream whose reads stop at the handler's deadline (not per read:
    a request dripping a byte a second still ends)."""

    def __init__(self, handler: "_Handler") -> None:
        self.handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        sock, deadline = self.handler.connection, self.handler.deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            sock.settimeout(left)
        return sock.recv_into(buffer)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Regular files from the site folder, the live-reload stream, the site's 404 page."""

    reloader: Reloader
    live: bool
    read_timeout_s: float = READ_TIMEOUT_S
    timeout = WRITE_TIMEOUT_S
    deadline: float | None = None

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: it would hold the socket open after close()
        self.rfile = io.BufferedReader(_DeadlineReader(self))

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.read_timeout_s
        self.server.waiting(self.request, True)
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()  # reads the headers, within the deadline
        self.deadline = None
        self.connection.settimeout(self.timeout)
        self.server.waiting(self.request, False)
        return ok

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s - %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        # a rebuilt page must not come from the browser's cache on reload
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if urllib.parse.urlsplit(self.path).path == RELOAD_PATH:
            return self._events()
        return super().do_GET()

    def list_directory(self, path):  # never: a folder address serves its index.html or the 404 page
        self.send_error(404)
        return None

    def send_head(self):
        """Headers for the file the address names, and the file (or None after an error)."""
        url_path = urllib.parse.urlsplit(self.path).path
        try:
            fd, name = self._open(url_path)
        except _Redirect as r:
            self.send_response(301)
            self.send_header("Location", r.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if fd is None:
            self.send_error(404)
            return None
        f = os.fdopen(fd, "rb")
        if name.endswith(".html") and self.live:
            with f:
                return self._send_html(200, f.read(), body_later=True)
        size = os.fstat(fd).st_size
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(name))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        return f

    def _open(self, url_path: str) -> tuple[int | None, str]:
        """(a descriptor of the regular file below the site folder that `url_path` names, its
        name), or (None, "") when there is none."""
        text = urllib.parse.unquote(url_path, errors="surrogateescape")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if any(p == ".." or "\0" in p or "\\" in p for p in parts):
            return None, ""
        fd = _open_regular(self.directory, parts, directory_ok=True)
        if fd is None:
            return None, ""
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            index = _open_regular(fd, ["index.html"])
            os.close(fd)
            if index is None:
                return None, ""
            if not url_path.endswith("/"):
                os.close(index)
                raise _Redirect(urllib.parse.quote("/" + "/".join(parts) + "/", errors="surrogateescape"))
            return index, "index.html"
        return fd, parts[-1] if parts else ""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        fd = _open_regular(self.directory, ["404.html"]) if code == 404 else None
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                page = f.read()
            # at any depth: let its relative links resolve from the site's root
            self.close_connection = True
            self._send_html(404, page.replace(b"<head>", b'<head>\n<base href="/">', 1))
            return
        super().send_error(code, message, explain)

    def _send_html(self, code: int, body: bytes, body_later: bool = False):
        if self.live:
            at = body.rfind(b"</body>")
            body = body[:at] + RELOAD_SCRIPT + body[at:] if at >= 0 else body + RELOAD_SCRIPT
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body_later:  # send_head's caller copies it (GET) or drops it (HEAD)
            return io.BytesIO(body)
        if self.command != "HEAD":
            self.wfile.write(body)
        return None

    def _events(self) -> None:
        self.close_connection = True
        if not self.live or not self.reloader.reserve():
            self.send_error(503 if self.live else 404, "too many pages listening for reloads")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
        except BaseException:
            self.reloader.release()
            raise
        if self.reloader.adopt(self.connection):
            self.server.detach(self.request)  # the Reloader's thread holds it from now on


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _open_regular(root: str | int, parts: list[str], directory_ok: bool = False) -> int | None:
    """A descriptor of root/parts (a regular file, or a folder when `directory_ok`) with no
    symbolic link followed below root, or None."""
    try:
        fd = safepath.open_below(root, parts)
    except OSError:
        return None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) or (directory_ok and stat.S_ISDIR(mode)):
        return fd
    os.close(fd)
    return None


class _Server(http.server.ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them (see the module's docstring)."""

    daemon_threads = True  # a slow client must not keep the process alive
    request_queue_size = 128

    def __init__(self, address, handler, max_connections: int) -> None:
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._open: dict[socket.socket, float | None] = {}  # -> since when it waits for its request
        self._evicted: set[socket.socket] = set()
        self._detached: set[socket.socket] = set()
        super().__init__(address, handler)

    def get_request(self):
        try:
            return super().get_request()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):  # out of files: free one, do not spin
                with self._lock:
                    self._evict_one()
                time.sleep(0.05)
            raise

    def process_request(self, request, client_address) -> None:
        with self._lock:
            room = len(self._open) - len(self._evicted) < self.max_connections or self._evict_one()
            if room:
                self._open[request] = time.monotonic()
        if not room:
            return self._refuse(request)
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # no thread could be started
            self.shutdown_request(request)

    def waiting(self, request, waiting: bool) -> None:
        with self._lock:
            if request in self._open:
                self._open[request] = time.monotonic() if waiting else None

    def detach(self, request) -> None:
        with self._lock:
            self._detached.add(request)

    def shutdown_request(self, request) -> None:
        with self._lock:
            self._open.pop(request, None)
            self._evicted.discard(request)
            detached = request in self._detached
            self._detached.discard(request)
        if not detached:
            super().shutdown_request(request)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for its request (lock held)."""
        waiting = [(since, s) for s, since in self._open.items() if since is not None and s not in self._evicted]
        if not waiting:
            return False
        _, sock = min(waiting, key=lambda t: t[0])
        self._evicted.add(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)  # its thread's read ends now; the thread closes it
        except OSError:
            pass
        return True

    def _refuse(self, request) -> None:
        try:
            request.setblocking(False)
            request.send(BUSY)
        except OSError:
            pass
        request.close()

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a page closed or reloaded mid-answer, or never sent its request
        super().handle_error(request, client_address)


def make_server(folder, port: int, reloader: Reloader | None = None, host: str = "127.0.0.1",
                read_timeout_s: float = READ_TIMEOUT_S,
                max_connections: int | None = None) -> http.server.ThreadingHTTPServer:
    """An HTTP server for `folder` (not started); live reload when a Reloader is given."""
    handler = type("Handler", (_Handler,), {"reloader": reloader or Reloader(), "live": reloader is not None,
                                            "read_timeout_s": read_timeout_s})
    return _Server((host, port), functools.partial(handler, directory=os.fspath(folder)),
                   max_connections or connection_limit())
