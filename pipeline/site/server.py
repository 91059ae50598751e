"""A local HTTP server for the built site, with live reload and the site's own 404 page.

Why not `python -m http.server`: after each rebuild the open pages should reload by themselves,
and a mistyped address should show the gallery's 404 page, as GitHub Pages does. Reload uses
Server-Sent Events: every HTML response gets a small script that listens on /__livereload, and
`notify()` sends a `reload` event to every open page. The files on disk are never changed: the
script exists only in what this server sends.
"""
from __future__ import annotations

import functools
import http.server
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

RELOAD_PATH = "/__livereload"
# Reconnects by itself (EventSource does) when the server restarts; reloads on each event.
RELOAD_SCRIPT = (b'<script>(function(){if(!window.EventSource)return;var s=new EventSource("'
                 + RELOAD_PATH.encode() + b'");s.addEventListener("reload",function(){'
                 b'location.reload()});})();</script>\n')
KEEPALIVE_S = 15.0


class Reloader:
    """The generation of the site: bumped by each rebuild that changed something; each open
    page's event stream waits on it."""

    def __init__(self) -> None:
        self.generation = 0
        self.closed = False
        self._cond = threading.Condition()

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the generation moves past `seen` (or timeout, or close); return it."""
        with self._cond:
            self._cond.wait_for(lambda: self.generation != seen or self.closed, timeout)
            return self.generation


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files from the site folder, the live-reload stream, the site's 404 page."""

    reloader: Reloader
    live: bool

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s - %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        # a rebuilt page must not come from the browser's cache on reload
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] == RELOAD_PATH:
            return self._events()
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        if path.suffix == ".html" and path.is_file() and self.live:
            return self._send_html(200, path.read_bytes())
        return super().do_GET()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code == 404 and page.is_file():
            # at any depth: let its relative links resolve from the site's root
            body = page.read_bytes().replace(b"<head>", b'<head>\n<base href="/">', 1)
            return self._send_html(404, body)
        super().send_error(code, message, explain)

    def _send_html(self, code: int, body: bytes) -> None:
        if self.live:
            at = body.rfind(b"</body>")
            body = body[:at] + RELOAD_SCRIPT + body[at:] if at >= 0 else body + RELOAD_SCRIPT
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        seen = self.reloader.generation
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not self.reloader.closed:
                now = self.reloader.wait(seen, KEEPALIVE_S)
                if now != seen:
                    seen = now
                    self.wfile.write(f"event: reload\ndata: {now}\n\n".encode())
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # open event streams must not keep the process alive

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a page closed or reloaded mid-answer: nothing to report
        super().handle_error(request, client_address)


def make_server(folder: Path, port: int, reloader: Reloader | None = None,
                host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for `folder` (not started); live reload when a Reloader is given."""
    handler = functools.partial(type("Handler", (_Handler,), {"reloader": reloader or Reloader(),
                                                              "live": reloader is not None}),
                                directory=str(folder))
    return _Server((host, port), handler)
