"""A real HTTPS server on 127.0.0.1 for the download tests, with a self-signed certificate that
the process trusts through SSL_CERT_FILE (OpenSSL's own variable), so the code under test runs
its ordinary TLS path: no mock of urllib or http.client.

Each path answers as a test says: bytes (200), a status, a redirect, or a function that writes
the answer itself (a server that drips, stalls or hangs up). Only loopback traffic.
"""
from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost) and its key, as PEM files in `folder`."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Server:
    """`answers[path]` = bytes (200), a status, (status, location) or a function that writes the
    answer; `calls` lists the paths asked for; `url(path)` is the address."""

    def __init__(self, cert: Path | None, key: Path | None):
        self.answers: dict[str, object] = {}
        self.calls: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.calls.append(self.path)
                answer = server.answers.get(self.path, 404)
                if callable(answer):
                    answer(self)
                elif isinstance(answer, bytes):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    code, location = answer if isinstance(answer, tuple) else (answer, "")
                    self.send_response(code)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def drip(body: bytes, every: float, headers_too: bool = False) -> Callable:
    """An answer that sends `body` one byte every `every` seconds (the headers too, if asked),
    until the client hangs up: a connection that is never idle long enough to time out."""
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        data = head + body if headers_too else body
        if not headers_too:
            handler.wfile.write(head)
        try:
            for i in range(len(data)):
                handler.wfile.write(data[i:i + 1])
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
        handler.close_connection = True
    return answer


def unannounced(body: bytes) -> Callable:
    """An answer without Content-Length: the body ends when the server closes the connection."""
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        handler.close_connection = True
    return answer


def stall(seconds: float, head: bool = True) -> Callable:
    """An answer that sends the headers (or nothing) and then says nothing for `seconds`."""
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        if head:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            handler.wfile.flush()
        time.sleep(seconds)
        handler.close_connection = True
    return answer


@pytest.fixture
def https(tmp_path_factory, monkeypatch):
    """A local HTTPS server the process trusts (SSL_CERT_FILE), and a plain-http one beside it."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("GALLERY_MIRROR", raising=False)
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    secure, plain = Server(cert, key), Server(None, None)
    secure.plain = plain
    yield secure
    secure.close()
    plain.close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: a connection is refused at once (offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConnectProxy:
    """An HTTP proxy on 127.0.0.1 that only tunnels (CONNECT host:port), as corporate proxies do
    for https; `tunnels` lists the targets asked for."""

    def __init__(self) -> None:
        import socketserver

        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = self.request.recv(1024)
                    if not chunk:
                        return
                    head += chunk
                method, target, _ = head.split(b"\r\n")[0].decode().split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                proxy.tunnels.append(target)
                host, port = target.rsplit(":", 1)
                with socket.create_connection((host, int(port)), timeout=10) as upstream:
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    pipe = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
                    pipe.start()
                    _pump(self.request, upstream)
                    pipe.join(10)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
