"""`serve`: the site's own 404 page, live reload over Server-Sent Events, what a change must
(and must not) rebuild. The real-browser check of live reload is in test_browser_ux.py."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from pipeline.site.server import RELOAD_PATH, Reloader, make_server
from pipeline.site.watch import Watched


@pytest.fixture
def site(tmp_path):
    out = tmp_path / "site"
    (out / "render").mkdir(parents=True)
    (out / "index.html").write_text("<!doctype html><html><head><title>Home</title></head><body><h1>Home</h1></body></html>")
    (out / "404.html").write_text('<!doctype html><html><head><link rel="stylesheet" href="static/site.css">'
                                  "</head><body><h1>This page is not in the gallery</h1></body></html>")
    (out / "static").mkdir()
    (out / "static" / "site.css").write_text("body{}")
    return out


def _serve(folder, live=True):
    reloader = Reloader() if live else None
    server = make_server(folder, 0, reloader)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, reloader, f"http://127.0.0.1:{server.server_address[1]}"


def test_missing_pages_get_the_sites_404_page_at_any_depth(site):
    server, reloader, url = _serve(site)
    try:
        for path in ("/nope.html", "/render/deep/nope.html"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + path, timeout=10)
            body = e.value.read().decode()
            assert e.value.code == 404 and "This page is not in the gallery" in body
            assert '<base href="/">' in body  # its relative links resolve from the root
    finally:
        reloader.close()
        server.shutdown()


def test_pages_get_the_reload_script_files_on_disk_do_not(site):
    server, reloader, url = _serve(site)
    try:
        for path in ("/", "/index.html"):
            body = urllib.request.urlopen(url + path, timeout=10).read().decode()
            assert RELOAD_PATH in body and body.index(RELOAD_PATH) < body.index("</body>")
        assert RELOAD_PATH not in (site / "index.html").read_text()
        assert RELOAD_PATH not in urllib.request.urlopen(url + "/static/site.css", timeout=10).read().decode()
    finally:
        reloader.close()
        server.shutdown()


def test_a_rebuild_sends_reload_to_every_open_page(site):
    server, reloader, url = _serve(site)
    try:
        streams = [urllib.request.urlopen(url + RELOAD_PATH, timeout=10) for _ in range(2)]
        for s in streams:
            assert s.headers["Content-Type"] == "text/event-stream"
            assert s.readline() == b"retry: 1000\n"
        time.sleep(0.2)
        reloader.notify()
        for s in streams:
            lines = [s.readline() for _ in range(3)]
            assert b"event: reload\n" in lines, lines
    finally:
        reloader.close()
        server.shutdown()


def test_without_watching_pages_are_served_as_they_are(site):
    server, _, url = _serve(site, live=False)
    try:
        assert RELOAD_PATH not in urllib.request.urlopen(url + "/index.html", timeout=10).read().decode()
    finally:
        server.shutdown()


def test_what_a_change_rebuilds(tmp_path):
    root, out, cache = tmp_path / "config", tmp_path / "config" / "site", tmp_path / "config" / "renders"
    w = Watched([root, tmp_path / "templates"], out, cache, {tmp_path / "elsewhere" / "me.jpg"},
                root / "gallery.yaml", [tmp_path / "templates"])
    key = "ab" * 32
    wants = {
        root / "gallery.yaml": True, root / "my-images" / "style" / "wave.jpg": True,
        tmp_path / "templates" / "render.html": True, tmp_path / "elsewhere" / "me.jpg": True,
        cache / "ab" / f"{key}.json": True,  # a render finished in another terminal
        out / "index.html": False,  # the build's own output
        cache / "ab" / f"{key}.png": False,  # the record comes last: the png alone is not a render yet
        cache / "variants" / "ab" / key / "640.avif": False, cache / "site-state.json": False,
        root / "gallery.lock.json": True,  # renders finished in another terminal
        root / ".gallery.yaml.swp": False, root / "x.tmp": False, tmp_path / "elsewhere" / "other.jpg": False,
        root / "serve.log": False,  # a log beside the manifest would rebuild forever
    }
    assert {p: w.wants(str(p)) for p in wants} == wants


@pytest.fixture
def manifest(make_gallery):
    return make_gallery(contents=("pearl",), styles=("gogh",), site={"title": "Before"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(manifest: Path, *args: str, **popen) -> tuple[subprocess.Popen, str]:
    """`python -m pipeline serve` on a free port; returns the process and the site's url."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config", str(manifest),
                             "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, **popen)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:\d+/", line or "")
        if m:
            return proc, m.group(0)
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read()}")
    proc.kill()
    raise AssertionError("serve did not start")


def stop_serve(proc: subprocess.Popen) -> str:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("serve did not stop on Ctrl+C")
    return proc.stdout.read() + proc.stderr.read()


def test_serve_builds_watches_and_rebuilds_on_a_manifest_edit(manifest):
    proc, url = start_serve(manifest)
    try:
        assert "<h1>Before</h1>" in urllib.request.urlopen(url, timeout=10).read().decode()
        stream = urllib.request.urlopen(url + RELOAD_PATH.lstrip("/"), timeout=60)
        stream.readline()
        time.sleep(2)  # the watcher starts just after the server
        manifest.write_text(manifest.read_text().replace("title: Before", "title: After"))
        got = b""
        deadline = time.monotonic() + 60
        while b"event: reload" not in got and time.monotonic() < deadline:
            got += stream.readline()
        assert b"event: reload" in got
        assert "<h1>After</h1>" in urllib.request.urlopen(url, timeout=10).read().decode()
        # a broken manifest is reported, and the last good site stays up
        manifest.write_text(manifest.read_text().replace("title: After", "titel: Broken"))
        time.sleep(3)
        assert "<h1>After</h1>" in urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        log = stop_serve(proc)
    assert "not rebuilt, the last good site stays up" in log and "unknown key 'titel'" in log


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_only_regular_files_below_the_site_are_served_and_no_folder_is_listed(site, tmp_path):
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0:secret\n")
    (site / "etc").symlink_to(secret)  # a folder link out of the site
    (site / "key.txt").symlink_to(secret / "passwd")  # a file link out of it
    (site / "inner.css").symlink_to(site / "static" / "site.css")  # even one that stays inside
    (site / "notes").mkdir()  # a folder without index.html
    (site / "notes" / "a.txt").write_text("a")
    os.mkfifo(site / "pipe.html")  # never blocks the server
    server, reloader, url = _serve(site)
    try:
        for path in ("/etc/passwd", "/etc/", "/key.txt", "/inner.css", "/notes/", "/static/", "/pipe.html",
                     "/%2e%2e/outside/passwd", "/static/../../outside/passwd"):
            code, body = _get(url + path)
            assert code == 404, (path, code)
            assert b"This page is not in the gallery" in body and b"secret" not in body, path
            assert b"Directory listing" not in body and b"a.txt" not in body, path
        assert _get(url + "/notes/a.txt") == (200, b"a")
        assert _get(url + "/static/site.css") == (200, b"body{}")
        # a folder with an index.html: its page, and the address without the slash is redirected
        (site / "render" / "index.html").write_text("<html><body>renders</body></html>")
        code, body = _get(url + "/render")
        assert code == 200 and b"renders" in body
        (site / "404.html").unlink()
        (site / "404.html").symlink_to(secret / "passwd")  # the 404 page itself is no way out
        code, body = _get(url + "/nope.html")
        assert code == 404 and b"secret" not in body
    finally:
        reloader.close()
        server.shutdown()


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_a_port_out_of_range_is_a_clear_message(capsys, port):
    from pipeline.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", port])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert f"--port/-p: {port!r} is not a port: use 1 to 65535, or 0 for any free one" in err
    assert "Traceback" not in err


def _await_reload(stream, seconds: float = 60) -> bool:
    got = b""
    deadline = time.monotonic() + seconds
    while b"event: reload" not in got and time.monotonic() < deadline:
        got += stream.readline()
    return b"event: reload" in got


def test_a_template_folder_named_after_serve_started_is_watched(manifest, tmp_path):
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "index.html").write_text((REPO / "templates" / "index.html").read_text().replace(
        "{% block main %}", "{% block main %}<p>Theme one</p>", 1))
    proc, url = start_serve(manifest)
    try:
        stream = urllib.request.urlopen(url + RELOAD_PATH.lstrip("/"), timeout=60)
        stream.readline()
        time.sleep(2)  # the watcher starts just after the server
        manifest.write_text(manifest.read_text().replace("site:\n", "site:\n  templates: theme\n", 1))
        assert _await_reload(stream)
        assert "Theme one" in urllib.request.urlopen(url, timeout=10).read().decode()
        time.sleep(1)
        page = theme / "index.html"
        page.write_text(page.read_text().replace("Theme one", "Theme two"))
        assert _await_reload(stream), "an edit in the template folder did not rebuild"
        assert "Theme two" in urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        stop_serve(proc)
