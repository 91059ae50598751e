"""Live reload for `serve`: every open page listens on one Server-Sent Events stream, and one
thread holds all of those streams.

A stream is idle nearly all the time, so it gets no thread of its own: once its headers are
sent, the server hands the socket to the Reloader, whose single thread writes a `reload` event
to each stream when `notify()` is called (a rebuild changed the site) and a keep-alive comment
every KEEPALIVE_S. A page that went away (its socket closed, or it stopped reading) is dropped.
The number of streams is bounded: beyond it the server answers 503 and that page simply does
not reload by itself.
"""
from __future__ import annotations

import logging
import selectors
import socket
import threading
import time

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_STREAMS = 32


class Reloader:
    """The generation of the site (bumped by each rebuild that changed something) and the open
    pages' event streams, written by one thread."""

    def __init__(self, max_streams: int = MAX_STREAMS, keepalive_s: float = KEEPALIVE_S) -> None:
        self.generation = 0
        self.closed = False
        self.max_streams = max_streams
        self.keepalive_s = keepalive_s
        self._lock = threading.Lock()
        self._streams: dict[socket.socket, int] = {}  # socket -> the generation it has seen
        self._pending: list[tuple[socket.socket, int]] = []
        self._reserved = 0  # slots promised to handlers still sending their headers
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """Tell every open page to reload."""
        with self._lock:
            self.generation += 1
        self._wake()

    def close(self) -> None:
        """End every stream and the thread (the pages reconnect to the next server by themselves)."""
        with self._lock:
            self.closed = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(timeout=5)
        else:
            self._shut()

    def _taken(self) -> int:
        return len(self._streams) + len(self._pending) + self._reserved

    def reserve(self) -> bool:
        """Promise a slot to a page about to be answered 200; False when full or closed. Checking
        and taking are one step, so two pages cannot both be promised the last slot."""
        with self._lock:
            if self.closed or self._taken() >= self.max_streams:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        """Give back a reserved slot whose page went away before it was adopted."""
        with self._lock:
            self._reserved -= 1

    def adopt(self, sock: socket.socket) -> bool:
        """Take over an event stream (its slot reserved, its headers sent); False when closed
        meanwhile (the caller then closes it)."""
        with self._lock:
            self._reserved -= 1
            if self.closed:
                return False
            self._pending.append((sock, self.generation))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="livereload", daemon=True)
                self._thread.start()
        self._wake()
        return True

    @property
    def streams(self) -> int:
        with self._lock:
            return self._taken()

    # -- the thread

    def _wake(self) -> None:
        try:
            self._wake_write.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (the buffer is full) or closed

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_read, selectors.EVENT_READ)
        last_keepalive = time.monotonic()
        try:
            while True:
                timeout = max(0.0, last_keepalive + self.keepalive_s - time.monotonic())
                for key, _ in selector.select(timeout):
                    if key.fileobj is self._wake_read:
                        self._drain()
                    else:  # a page sends nothing: readable means it closed
                        self._check_closed(key.fileobj, selector)
                with self._lock:
                    closed, generation = self.closed, self.generation
                    pending, self._pending = self._pending, []
                    for sock, seen in pending:
                        self._streams[sock] = seen
                if closed:
                    return
                for sock, _ in pending:
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ)
                for sock, seen in list(self._streams.items()):
                    if seen != generation:
                        self._send(sock, f"event: reload\ndata: {generation}\n\n".encode(), selector)
                        if sock in self._streams:
                            self._streams[sock] = generation
                if time.monotonic() >= last_keepalive + self.keepalive_s:
                    last_keepalive = time.monotonic()
                    for sock in list(self._streams):
                        self._send(sock, b": keep-alive\n\n", selector)
        finally:
            selector.close()
            self._shut()

    def _drain(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _check_closed(self, sock, selector) -> None:
        try:
            data = sock.recv(1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock, selector)

    def _send(self, sock: socket.socket, data: bytes, selector) -> None:
        """Write without blocking; a page that does not read its stream is dropped (it reconnects)."""
        try:
            if sock.send(data) == len(data):
                return
        except OSError:
            pass
        self._drop(sock, selector)

    def _drop(self, sock: socket.socket, selector) -> None:
        with self._lock:
            self._streams.pop(sock, None)
        try:
            selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def _shut(self) -> None:
        with self._lock:
            socks = list(self._streams) + [s for s, _ in self._pending]
            self._streams.clear()
            self._pending.clear()
        for sock in socks:
            sock.close()
        self._wake_read.close()
        self._wake_write.close()
