"""Downloads (`add URL`, validate's fetch) against a real HTTPS server on 127.0.0.1 that drips,
stalls, hangs up or redirects to plain http: every wait ends, within the bounds of
pipeline.util.netlimits (shrunk here to fractions of a second), with a clear message, and
nothing is left behind."""
from __future__ import annotations

import hashlib
import io
import socket
import threading
import time

import pytest

from conftest import gradient, snapshot
from https_server import closed_port, drip, https, stall  # noqa: F401 - fixture
from pipeline.manifest.sources import OfflineError, SourceError, download


def png(seed: int = 1) -> bytes:
    data = io.BytesIO()
    gradient((24, 16), seed).save(data, "PNG")
    return data.getvalue()


@pytest.fixture
def small_bounds(monkeypatch):
    """Bounds of a second or less, so a hang shows as a failure in seconds, not minutes."""
    from pipeline.util import netlimits

    monkeypatch.setattr(netlimits, "CONNECT_S", 0.5)
    monkeypatch.setattr(netlimits, "READ_S", 0.5)
    monkeypatch.setattr(netlimits, "DOWNLOAD_TOTAL_S", 1.5)
    return netlimits


def _timed(fn, *args, **kw):
    start = time.monotonic()
    try:
        fn(*args, **kw)
    except BaseException as e:
        return e, time.monotonic() - start
    return None, time.monotonic() - start


def test_a_good_download(https, tmp_path):
    data = png()
    https.answers["/a.png"] = data
    download(https.url("/a.png"), tmp_path / "a.png", hashlib.sha256(data).hexdigest())
    assert (tmp_path / "a.png").read_bytes() == data


# ---------------------------------------------------------------- every wait ends

def test_a_body_that_drips_a_byte_at_a_time_ends_at_the_total_bound(https, tmp_path, small_bounds):
    """Each byte comes well within the read bound, so only the whole-transfer bound can end it."""
    https.answers["/slow.png"] = drip(png(), every=0.1)
    error, seconds = _timed(download, https.url("/slow.png"), tmp_path / "slow.png", "")
    assert isinstance(error, SourceError) and "took longer than 1.5 s" in str(error), error
    assert seconds < 1.5 + 1.0
    assert list(tmp_path.iterdir()) == []  # no temp file left


def test_headers_that_drip_end_at_the_total_bound_too(https, tmp_path, small_bounds):
    https.answers["/slow-head.png"] = drip(png(), every=0.1, headers_too=True)
    error, seconds = _timed(download, https.url("/slow-head.png"), tmp_path / "x.png", "")
    assert isinstance(error, SourceError) and "took longer than 1.5 s" in str(error), error
    assert seconds < 1.5 + 1.0


def test_a_server_that_stops_sending_ends_at_the_read_bound(https, tmp_path, small_bounds):
    https.answers["/stalled.png"] = stall(5)
    error, seconds = _timed(download, https.url("/stalled.png"), tmp_path / "x.png", "")
    assert isinstance(error, SourceError) and "no data for 0.5 s" in str(error), error
    assert seconds < 0.5 + 0.8


def test_a_server_that_never_answers_the_request_ends_at_the_read_bound(https, tmp_path, small_bounds):
    https.answers["/silent.png"] = stall(5, head=False)
    error, seconds = _timed(download, https.url("/silent.png"), tmp_path / "x.png", "")
    assert isinstance(error, SourceError) and "no data for 0.5 s" in str(error), error


def test_a_server_that_accepts_but_never_speaks_tls_ends_at_the_connect_bound(tmp_path, small_bounds):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # the kernel accepts; nobody ever sends a byte
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/a.png"
        error, seconds = _timed(download, url, tmp_path / "a.png", "")
    finally:
        listener.close()
    assert isinstance(error, OfflineError) and "no connection to 127.0.0.1 within 0.5 s" in str(error), error
    assert seconds < 0.5 + 0.8


def test_a_refused_connection_is_offline_at_once(tmp_path):
    error, seconds = _timed(download, f"https://127.0.0.1:{closed_port()}/a.png", tmp_path / "a.png", "")
    assert isinstance(error, OfflineError) and "no connection to 127.0.0.1" in str(error) and seconds < 5


def test_an_untrusted_certificate_is_refused(https, tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    https.answers["/a.png"] = png()
    error, _ = _timed(download, https.url("/a.png"), tmp_path / "a.png", "")
    assert isinstance(error, SourceError) and "certificate" in str(error) and "not valid" in str(error), error


# ---------------------------------------------------------------- redirects

def test_a_redirect_to_plain_http_is_refused_before_anything_is_asked_there(https, tmp_path):
    data = png()
    https.plain.answers["/a.png"] = data
    https.answers["/a.png"] = (302, https.plain.url("/a.png"))
    error, _ = _timed(download, https.url("/a.png"), tmp_path / "a.png", hashlib.sha256(data).hexdigest())
    assert isinstance(error, SourceError), error
    assert f"redirected {https.url('/a.png')} to {https.plain.url('/a.png')}, which is not https" in str(error)
    assert "refused" in str(error)
    assert https.plain.calls == [] and list(tmp_path.iterdir()) == []


def test_a_redirect_to_https_is_followed(https, tmp_path):
    data = png()
    https.answers["/old.png"] = (301, "/new.png")
    https.answers["/new.png"] = data
    download(https.url("/old.png"), tmp_path / "a.png", hashlib.sha256(data).hexdigest())
    assert (tmp_path / "a.png").read_bytes() == data and https.calls == ["/old.png", "/new.png"]


def test_a_redirect_loop_ends(https, tmp_path):
    https.answers["/loop.png"] = (302, "/loop.png")
    error, _ = _timed(download, https.url("/loop.png"), tmp_path / "a.png", "")
    assert isinstance(error, SourceError) and "more than 5 redirects" in str(error)
    assert len(https.calls) == 6


# ---------------------------------------------------------------- through the commands

def test_add_of_a_url_that_redirects_to_http_pins_nothing(cli, demo, https):
    https.plain.answers["/wave.png"] = png(3)
    https.answers["/wave.png"] = (302, https.plain.url("/wave.png"))
    before = snapshot(demo.parent)
    rc, out, err = cli("add", "style", https.url("/wave.png"), "--config", demo)
    assert rc == 1 and "which is not https" in err and "nothing was written" in err
    assert snapshot(demo.parent) == before


def test_add_of_a_dripping_url_ends_with_a_message(cli, demo, https, small_bounds):
    https.answers["/wave.png"] = drip(png(3), every=0.1)
    before = snapshot(demo.parent)
    start = time.monotonic()
    rc, out, err = cli("add", "style", https.url("/wave.png"), "--config", demo)
    assert rc == 1 and "took longer than 1.5 s" in err and "Traceback" not in err
    assert time.monotonic() - start < 10
    assert snapshot(demo.parent) == before


def test_validate_fetch_of_a_dripping_url_names_the_entry_and_the_fix(cli, make_gallery, tmp_path, https, small_bounds):
    data = png(4)
    https.answers["/gogh.png"] = drip(data, every=0.1)
    path = make_gallery(styles=[{"id": "gogh", "file": "images/style/gogh.png", "url": https.url("/gogh.png"),
                                 "sha256": hashlib.sha256(data).hexdigest()}])
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "(id 'gogh'): cannot download" in err and "took longer than 1.5 s" in err
    assert "fix: put the file" in err and not (tmp_path / "images" / "style" / "gogh.png").exists()


def test_the_docs_give_the_bounds_the_code_uses():
    """docs/manifest.md's table of network limits says what pipeline.util.netlimits holds."""
    import re

    from conftest import REPO
    from pipeline.util import https_get, netlimits

    text = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([^|]+?) \| (\d+) s \|", text, re.M))
    assert rows == {"opening a connection (DNS, TCP, proxy, TLS)": f"{netlimits.CONNECT_S:g}",
                    "no byte arriving": f"{netlimits.READ_S:g}",
                    "one image download, whole, redirects included": f"{netlimits.DOWNLOAD_TOTAL_S:g}",
                    "one request to the remote render cache, whole": f"{netlimits.REMOTE_OP_S:g}"}, rows
    assert f"at most {https_get.MAX_REDIRECTS} redirects" in text


def test_an_https_proxy_from_the_environment_is_used(https, tmp_path, monkeypatch):
    from https_server import ConnectProxy

    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("no_proxy", "")
        data = png(5)
        https.answers["/a.png"] = data
        download(https.url("/a.png"), tmp_path / "a.png", hashlib.sha256(data).hexdigest())
        assert (tmp_path / "a.png").read_bytes() == data
        assert proxy.tunnels == [f"127.0.0.1:{https.port}"] and https.calls == ["/a.png"]
    finally:
        proxy.close()
