"""moto's S3 in server mode on 127.0.0.1 (a real HTTP S3 API, through s3fs), as pytest fixtures.

Only loopback traffic: the server listens on 127.0.0.1 on a free port; credentials are dummies
from the environment (no config file, no instance metadata).
"""
from __future__ import annotations

import logging
import os
import socket
import urllib.request

import pytest

BUCKET = "renders"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 in server mode on 127.0.0.1: a real HTTP API, stoppable mid-transfer."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server_class = ThreadedMotoServer
        self.server = None

    def start(self) -> None:
        self.server = self._server_class(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def reset(self) -> None:
        """Forget every bucket (moto keeps its state per process), then create ours."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint)
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"))
        client.create_bucket(Bucket=BUCKET)


def s3_env(monkeypatch, credentials: bool = True) -> None:
    """Dummy credentials from the environment only: no config file, no instance metadata."""
    for k in list(os.environ):
        if k.startswith("AWS_") or k.startswith("GALLERY_REMOTE"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    if s3_server.server is None:  # a test stopped it
        s3_server.start()
    s3_env(monkeypatch)
    s3_server.reset()
    return s3_server
