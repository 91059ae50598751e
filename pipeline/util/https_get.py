"""One HTTPS GET with an end to every wait, for the image downloads (`add URL`, validate's fetch).

Why not urllib.request.urlopen: its one timeout bounds each socket operation alone, so a server
that sends a byte every few seconds holds a download for days, and it follows a redirect from
https to plain http without a word. Here, with the bounds of pipeline.util.netlimits (read at
call time, so a test can shrink them):
- the connection (DNS, TCP, a proxy's CONNECT, TLS) must be open within CONNECT_S;
- each read must bring a byte within READ_S;
- a watchdog shuts the connection when the whole exchange, redirects included, passes
  DOWNLOAD_TOTAL_S: the one bound a server that drips bytes cannot stretch;
- a redirect is followed only to https (at most MAX_REDIRECTS): a downgrade is refused.
An https proxy from the environment (https_proxy, no_proxy) is used, as urllib would.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from typing import Iterator

from pipeline.util import netlimits

MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """Why a GET failed, in words; `offline`: no connection at all (do not try the next url)."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


class Body:
    """The answer's body: `read(n)` as a file's, each wait bounded; `length` as announced (or None)."""

    def __init__(self, response: http.client.HTTPResponse, deadline: "_Deadline"):
        self._response, self._deadline = response, deadline
        length = response.getheader("Content-Length", "")
        self.length = int(length) if length.isdigit() else None

    def read(self, n: int) -> bytes:
        try:
            data = self._response.read(n)
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise self._deadline.explain(e) from None
        if self._deadline.expired:
            raise self._deadline.explain(None)
        return data


@contextlib.contextmanager
def https_get(url: str, headers: dict[str, str]) -> Iterator[Body]:
    """GET `url` (https only) and yield its body once the server answers 200; raises FetchError."""
    deadline = _Deadline(netlimits.DOWNLOAD_TOTAL_S)
    conn = None
    try:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise FetchError(f"{url} is not an https:// address")
            conn = _connect(parts, deadline)
            try:
                conn.request("GET", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                             headers={**headers, "Accept-Encoding": "identity"})
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise deadline.explain(e) from None
            if response.status not in REDIRECTS:
                break
            target = urllib.parse.urljoin(url, response.getheader("Location", ""))
            if not target.startswith("https://"):
                raise FetchError(f"the server redirected {url} to {target}, which is not https (plain http "
                                 "can be changed by anyone on the way): refused; use an https address "
                                 "that does not redirect to plain http")
            conn.close()
            url = target
        else:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects (the last to {url})")
        if response.status != 200:
            raise FetchError(f"the server answered HTTP {response.status} {response.reason}")
        yield Body(response, deadline)
    finally:
        deadline.cancel()
        if conn is not None:
            conn.close()


def _connect(parts: urllib.parse.SplitResult, deadline: "_Deadline") -> http.client.HTTPSConnection:
    """An open connection to the url's host (through the environment's https proxy, if any),
    or FetchError once CONNECT_S has passed: DNS, TCP and TLS run in a thread we stop waiting for."""
    limit = netlimits.CONNECT_S
    port = parts.port or 443
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(parts.hostname):
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        conn = http.client.HTTPSConnection(via.hostname, via.port or 80, timeout=limit)
        auth = {}
        if via.username:
            token = base64.b64encode(f"{urllib.parse.unquote(via.username)}:"
                                     f"{urllib.parse.unquote(via.password or '')}".encode()).decode()
            auth = {"Proxy-Authorization": f"Basic {token}"}
        conn.set_tunnel(parts.hostname, port, headers=auth)
    else:
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=limit)
    outcome: list[BaseException | None] = []
    gave_up = threading.Event()

    def run() -> None:
        try:
            conn.connect()
            outcome.append(None)
        except BaseException as e:  # handed to the waiting thread below
            outcome.append(e)
        if gave_up.is_set():
            conn.close()

    worker = threading.Thread(target=run, name="https-connect", daemon=True)
    worker.start()
    worker.join(limit)
    if not outcome:
        gave_up.set()
        raise FetchError(f"no connection to {parts.hostname} within {limit:g} s (offline, or the server "
                         "does not answer)", offline=True)
    if outcome[0] is not None:
        raise _connect_error(outcome[0], parts.hostname)
    conn.sock.settimeout(netlimits.READ_S)
    deadline.watch(conn.sock)
    return conn


def _connect_error(e: BaseException, host: str) -> FetchError:
    if isinstance(e, ssl.SSLCertVerificationError):
        return FetchError(f"the certificate of {host} is not valid ({e.verify_message}): refused")
    if isinstance(e, ssl.SSLError):
        return FetchError(f"no secure connection to {host} ({e.reason or e})")
    if isinstance(e, socket.gaierror):
        return FetchError(f"no connection: {host} is not known ({e.strerror}); offline?", offline=True)
    if isinstance(e, TimeoutError):
        return FetchError(f"no connection to {host} within {netlimits.CONNECT_S:g} s (offline, or the "
                          "server does not answer)", offline=True)
    if isinstance(e, OSError):
        return FetchError(f"no connection to {host} ({e.strerror or e}); offline?", offline=True)
    return FetchError(f"no connection to {host} ({e})")


class _Deadline:
    """Shuts the connection down when the whole exchange has taken DOWNLOAD_TOTAL_S: a server that
    keeps each read short (a byte a second) never trips the per-read timeout."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def cancel(self) -> None:
        self._timer.cancel()

    def explain(self, error: BaseException | None) -> FetchError:
        """The words for a failed read: the deadline, a stall, or what the socket said."""
        if self.expired:
            return FetchError(f"the download took longer than {self.seconds:g} s, the limit for one image "
                              "(the server sends too slowly): try again later, or put the file in place yourself")
        if isinstance(error, TimeoutError):
            return FetchError(f"no data for {netlimits.READ_S:g} s: the server stopped sending")
        if isinstance(error, http.client.IncompleteRead):
            return FetchError(f"the server closed the connection after {len(error.partial)} bytes, before the end")
        return FetchError(f"the transfer failed ({error})")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)  # wakes a blocked read at once
