"""A remote render cache that is misconfigured, hostile or dead: its URL's secrets are never
shown, GALLERY_REMOTE is checked as `cache: remote:` is, every entry pulled passes the checks a
local render passes (record, image, sizes) before it enters the cache, every read is capped and
every wait bounded.

Only loopback traffic: file:// folders, moto's S3 on 127.0.0.1 (tests/s3server.py), and small
TCP servers on 127.0.0.1 started here. Renders are fakes (tests/gallery_fakes.py): no torch.
"""
from __future__ import annotations

import pytest

from gallery_fakes import build_gallery
from pipeline.plan.remote import Remote, RemoteError, remote_for

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
LEAKY_URLS = [
    f"S3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # upper-case protocol
    f"simplecache::s3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # fsspec chaining
    f"s3://AKIAEXAMPLE:{SECRET}@bucket/gallery",  # a secret holding '/'
    f"HTTPS://user:{SECRET}@example.org/renders",
    f"https://example.org/renders?sig={SECRET}&se=2030",  # a signed query
    f"filecache::file:///tmp/x?token={SECRET}",
    f"s3://bucket/gallery {SECRET}",
]


# ---------------------------------------------------------------- a URL's secrets are never shown

@pytest.mark.parametrize("url", LEAKY_URLS)
def test_a_refused_remote_url_never_shows_its_secret(url, make_gallery, tmp_path, cli, monkeypatch):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    with pytest.raises(RemoteError) as e:
        Remote(url)
    assert SECRET not in str(e.value) and "SECRET" not in str(e.value).upper().replace("SECRET_", "")
    with pytest.raises(ManifestError) as e:
        load_gallery(make_gallery(cache={"path": "renders", "remote": url}), check_files=False)
    assert SECRET not in str(e.value) and "'remote'" in str(e.value)

    cli.gallery = build_gallery(tmp_path / "g")
    monkeypatch.setenv("GALLERY_REMOTE", url)
    for command in (["status"], ["pull"], ["push"], ["render"]):
        rc, out, err = cli(*command)
        assert rc == 1 and SECRET not in out + err and "Traceback" not in err, (command, err)
        assert err.startswith("error: GALLERY_REMOTE="), err
    monkeypatch.delenv("GALLERY_REMOTE")
    rc, out, err = cli("status", "--remote", url)
    assert rc == 1 and SECRET not in out + err and err.startswith("error: --remote "), err


def test_redact_hides_every_credential_and_keeps_the_rest():
    from pipeline.util.urls import redact

    assert redact("s3://bucket/gallery") == "s3://bucket/gallery"
    assert redact(f"remote S3://KEY:{SECRET}@bucket/x: nope") == "remote S3://***@bucket/x: nope"
    assert redact(f"a simplecache::s3://KEY:{SECRET}@b/x and https://u:p@h/y?sig=1&x") == \
        "a simplecache::s3://***@b/x and https://***@h/y?sig=***&***"
    assert redact("file:///mnt/a@b/renders") == "file:///mnt/a@b/renders"  # a folder may hold '@'


def test_an_endpoint_with_credentials_is_refused_without_showing_them(make_gallery, tmp_path, cli, monkeypatch):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    endpoint = f"http://AKIAEXAMPLE:{SECRET}@127.0.0.1:9000"
    with pytest.raises(ManifestError) as e:
        load_gallery(make_gallery(cache={"remote": "s3://bucket/x", "endpoint_url": endpoint}), check_files=False)
    assert SECRET not in str(e.value) and "holds credentials" in str(e.value)
    cli.gallery = build_gallery(tmp_path / "g")
    monkeypatch.setenv("GALLERY_REMOTE", "s3://bucket/x")
    monkeypatch.setenv("GALLERY_REMOTE_ENDPOINT", endpoint)
    rc, out, err = cli("status")
    assert rc == 1 and SECRET not in out + err and "error: GALLERY_REMOTE_ENDPOINT=" in err, err
    assert "holds credentials" in err


def test_a_backends_error_text_is_redacted_too():
    from pipeline.plan.remote_errors import translate

    exc = OSError(f"GET https://AKIA:{SECRET}@127.0.0.1:9/x failed")
    assert SECRET not in str(translate(exc, "pulling", "s3://bucket/x", "s3"))


# ---------------------------------------------------------------- GALLERY_REMOTE, checked as the manifest's is

@pytest.mark.parametrize("value, words", [
    ("garbage", "must be a URL: s3://bucket/prefix"),
    ("file://relative/folder", "a folder remote needs an absolute path, e.g. file:///mnt/renders"),
    ("memory://renders", "unsupported protocol 'memory://'"),
    ("ftp://127.0.0.1/renders", "unsupported protocol 'ftp://'"),
    ("S3://bucket/x", "write the protocol in lower case: 's3://'"),
    ("s3://", "names no bucket"),
])
def test_gallery_remote_is_checked_as_the_manifests_remote_is(value, words, tmp_path, cli, monkeypatch,
                                                               make_gallery, fake_renderer):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    with pytest.raises(ManifestError, match=words.replace("(", r"\(").replace(".", r"\.")):
        load_gallery(make_gallery(cache={"remote": value}), check_files=False)
    cli.gallery = build_gallery(tmp_path / "g")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GALLERY_REMOTE", value)
    for command in (["status"], ["render"], ["pull"], ["push"], ["gallery", "--no-fetch"]):
        rc, out, err = cli(*command)
        assert rc == 1 and "Traceback" not in err, (command, err)
        assert f"error: GALLERY_REMOTE={value!r}: {words}" in err, (command, err)
        assert "or set GALLERY_REMOTE=none for no remote" in err
    assert list(work.iterdir()) == []  # no folder beside the command
    assert fake_renderer == []  # nothing rendered on a misconfigured remote


def test_remote_for_names_the_source_it_checked(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("GALLERY_REMOTE", raising=False)
    gallery = SimpleNamespace(remote=None)
    with pytest.raises(RemoteError, match=r"^--remote 'garbage': must be a URL"):
        remote_for(gallery, "garbage")
    monkeypatch.setenv("GALLERY_REMOTE", "none")
    assert remote_for(gallery) is None
    monkeypatch.setenv("GALLERY_REMOTE", (tmp_path / "r").as_uri())
    assert remote_for(gallery).url == (tmp_path / "r").as_uri()


# ---------------------------------------------------------------- a hostile remote's entries

import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from conftest import png_bytes  # noqa: E402
from pipeline.plan.cache import Cache, dumps_record  # noqa: E402
from pipeline.plan.remote import RemoteUnreachable, describe  # noqa: E402
from s3server import BUCKET, s3, s3_server  # noqa: E402,F401 - fixtures
from test_remote import fill, make, remote_url  # noqa: E402,F401 - remote_url is a fixture

KEY = hashlib.sha256(b"hostile").hexdigest()


def png(size=(64, 48), seed=3) -> bytes:
    """A PNG of noise (it does not compress: a cut in its pixel data is a cut in the middle)."""
    buf = io.BytesIO()
    Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def plant(remote, image: bytes, key: str = KEY, **record) -> dict:
    """Put an entry on the remote as a hostile or broken machine would: the image under its
    hash, a record that matches it (unless `record` says otherwise) written last."""
    sha = hashlib.sha256(image).hexdigest()
    rec = {"key": key, "image_sha256": sha, "image_bytes": len(image), **record}
    remote.fs.makedirs(remote.record_path(key).rsplit("/", 1)[0], exist_ok=True)
    remote.fs.pipe_file(remote.image_path(key, rec["image_sha256"]), image)
    remote.fs.pipe_file(remote.record_path(key), dumps_record(rec).encode())
    return rec


def nothing_entered(cache: Cache, key: str = KEY) -> None:
    assert not cache.has(key) and not cache.image_path(key).exists() and not cache.record_path(key).exists()
    assert not [p for p in cache.root.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("image, record, words", [
    (b"this is text, not a render\n" * 20, {}, "image is not a PNG image"),
    (png_bytes(30000, 30000), {}, "image is 30000x30000 pixels, over the limit of 4096 pixels"),
    (png((16, 12)), {"levels": [{"size": [64, 48], "iterations": 1}]}, "image is 16x12 pixels, its record says 64x48"),
    (png((64, 48)), {"params": {"size": 512}}, "image is 64x48 pixels, its record says a long edge of 512"),
    (png((64, 48))[:-400], {}, "image does not decode"),
    (png((64, 48)).replace(b"IDAT", b"IDAx"), {}, "image does not decode"),
], ids=["text", "bomb", "other-size", "other-edge", "truncated", "no-pixels"])
def test_a_pulled_image_must_be_a_render_before_it_enters_the_cache(tmp_path, remote_url, image, record, words):
    remote = make(*remote_url)
    plant(remote, image, **record)
    b = Cache(tmp_path / "b")
    report = remote.transfer("pull", [KEY], b)
    assert report.done == [] and words in report.damaged[KEY], report.damaged
    nothing_entered(b)
    assert any(line.startswith("  refused") and words in line for line in describe(report))


def test_a_bad_image_already_in_the_cache_is_corrupt_and_repaired_by_a_pull(tmp_path, cli, fake_renderer, monkeypatch):
    """What a pull before these checks left: a text file whose record matches it, trusted by the
    memo. The normal paths repair it: status says corrupt, render pulls the good copy again."""
    cli.gallery = gallery = build_gallery(tmp_path / "a", contents=("pearl",), styles=("gogh",))
    monkeypatch.setenv("GALLERY_REMOTE", (tmp_path / "remote").as_uri())
    assert cli("render")[0] == 0  # rendered here, pushed
    cache = Cache(gallery.cache)
    [key] = [p.stem for p in gallery.cache.glob("[0-9a-f][0-9a-f]/*.json")]
    good = cache.image_path(key).read_bytes()
    bad = b"not a render at all\n" * 40
    cache.image_path(key).write_bytes(bad)
    record = json.loads(cache.record_path(key).read_text())
    record.update(image_sha256=hashlib.sha256(bad).hexdigest(), image_bytes=len(bad))
    cache.record_path(key).write_text(dumps_record(record))
    cache.memo.put("checked", key, os.lstat(cache.image_path(key)), record["image_sha256"])  # the old memo's mark
    cache.memo.save()

    rc, out, err = cli("status")
    assert rc == 0 and f"{key}.png is not a PNG image" in out and "0 cached, 1 to render" in out, out
    fake_renderer.clear()
    rc, out, err = cli("render")
    assert rc == 0 and "pulled 1 render" in out + err and fake_renderer == [], out + err
    assert cache.image_path(key).read_bytes() == good and Cache(gallery.cache).has(key)


def test_a_render_of_another_size_than_its_record_says_is_not_stored(tmp_path):
    from pipeline.util.errors import GalleryError

    cache = Cache(tmp_path / "c")
    with pytest.raises(GalleryError, match="is 16x12 pixels, its record says a long edge of 64: not stored"):
        cache.store(KEY, Image.new("RGB", (16, 12)), {"params": {"size": 64}})
    nothing_entered(cache)


# ---------------------------------------------------------------- one record check on both sides

def test_a_remote_record_with_a_mistyped_field_is_refused_on_pull_and_replaced_by_push(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill(a, 2)
    remote = make(*remote_url)
    remote.transfer("push", keys, a)
    record = json.loads(remote.fs.cat_file(remote.record_path(keys[0])))
    remote.fs.pipe_file(remote.record_path(keys[0]), json.dumps({**record, "weights": "w"}).encode())

    pulled = remote.transfer("pull", keys, b)
    assert pulled.done == [keys[1]] and "'weights' must be a mapping" in pulled.damaged[keys[0]]
    nothing_entered(b, keys[0])
    pushed = remote.transfer("push", keys, a)
    assert pushed.done == [keys[0]] and pushed.replaced == [keys[0]] and pushed.already == [keys[1]]
    assert "  replaced 1 damaged entry on the remote: " in "\n".join(describe(pushed))
    assert remote.transfer("pull", [keys[0]], b).done == [keys[0]] and b.has(keys[0])


def test_a_remote_record_nested_deep_is_refused_and_replaced(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill(a, 1)
    remote = make(*remote_url)
    remote.transfer("push", [key], a)
    remote.fs.pipe_file(remote.record_path(key), b"[" * 200_000 + b"]" * 200_000)
    pulled = remote.transfer("pull", [key], b)
    assert "record is not valid JSON (nested deeper than 64 levels)" in pulled.damaged[key]
    nothing_entered(b, key)
    assert remote.transfer("push", [key], a).replaced == [key]


# ---------------------------------------------------------------- every read capped

def test_a_folder_remote_cannot_feed_an_endless_or_huge_object(tmp_path):
    remote = make((tmp_path / "remote").as_uri(), {})
    b = Cache(tmp_path / "b")
    image = png()
    sha = hashlib.sha256(image).hexdigest()
    record_path = Path(remote.record_path(KEY))
    image_path = Path(remote.image_path(KEY, sha))
    image_path.parent.mkdir(parents=True)

    def record(**kw) -> None:
        record_path.write_text(dumps_record({"key": KEY, "image_sha256": sha, "image_bytes": len(image), **kw}))

    image_path.symlink_to("/dev/zero")
    record()
    assert "image is not a regular file on the remote" in remote.transfer("pull", [KEY], b).damaged[KEY]
    image_path.unlink()
    with open(image_path, "wb") as f:
        f.truncate(10 << 30)  # 10 GB, sparse: no disk used
    report = remote.transfer("pull", [KEY], b)
    assert f"image is longer than its record says ({len(image) + 1}+ of {len(image)} bytes)" in report.damaged[KEY]
    record(image_bytes=10 << 30)
    report = remote.transfer("pull", [KEY], b)
    assert f"record says the image is {10 << 30} bytes, more than a render may be (64 MiB)" in report.damaged[KEY]
    nothing_entered(b)

    record_path.unlink()
    record_path.symlink_to("/dev/zero")
    assert "record is not a regular file on the remote" in remote.transfer("pull", [KEY], b).damaged[KEY]
    record_path.unlink()
    with open(record_path, "wb") as f:
        f.truncate(10 << 30)
    assert "record is over 32 MiB" in remote.transfer("pull", [KEY], b).damaged[KEY]
    nothing_entered(b)
    assert sum(p.stat().st_size for p in b.root.rglob("*") if p.is_file()) < 1 << 20


def test_an_s3_object_is_read_no_further_than_its_record_allows(tmp_path, s3):
    remote = make(f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint})
    b = Cache(tmp_path / "b")
    image = png()
    plant(remote, image + os.urandom(3 << 20), image_sha256=hashlib.sha256(image).hexdigest(),
          image_bytes=len(image))
    report = remote.transfer("pull", [KEY], b)
    assert f"image is longer than its record says ({len(image) + 1}+ of {len(image)} bytes)" in report.damaged[KEY]
    plant(remote, image, image_bytes=10**12)
    assert "record says the image is 1000000000000 bytes" in remote.transfer("pull", [KEY], b).damaged[KEY]
    nothing_entered(b)



def test_a_record_that_gives_its_image_a_negative_size_is_refused_before_the_image_is_read(tmp_path, monkeypatch):
    """A negative size would make a capped read a slice from the object's end: all of it."""
    remote = make((tmp_path / "remote").as_uri(), {})
    plant(remote, png() + b"\0" * (1 << 20), image_bytes=-2)
    reads = []
    real = remote.io.read_capped
    monkeypatch.setattr(remote.io, "read_capped", lambda *args: reads.append(args) or real(*args))
    b = Cache(tmp_path / "b")
    report = remote.transfer("pull", [KEY], b)
    assert "'image_bytes' must be a size in bytes (a whole number, 0 or more), not -2" in report.damaged[KEY]
    assert [what for _, _, what in reads] == ["record"]
    nothing_entered(b)


# ---------------------------------------------------------------- every wait bounded

class Mute:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; with `drip`, it
    sends an endless HTTP header a byte every 0.1 s, so no read ever waits long enough to time out."""

    def __init__(self, drip: bool = False):
        self.drip, self.stop, self.conns = drip, threading.Event(), []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(conn)
            if self.drip:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn) -> None:
        data = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100_000
        for i in range(len(data)):
            if self.stop.wait(0.1):
                return
            try:
                conn.send(data[i:i + 1])
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        for c in [*self.conns, self.sock]:
            c.close()


@pytest.fixture(params=["mute", "drip"])
def dead_server(request):
    server = Mute(drip=request.param == "drip")
    yield server
    server.close()


SMALL = dict(connect_s=0.5, read_s=0.5, op_s=2.0, attempts=1)


@pytest.mark.parametrize("protocol", ["s3", "http"])
def test_a_remote_that_never_answers_ends_in_a_message_within_the_bounds(tmp_path, dead_server, protocol, monkeypatch):
    from pipeline.plan.remote_io import Bounds
    from s3server import s3_env

    s3_env(monkeypatch)

    def remote() -> Remote:
        if protocol == "s3":
            return Remote(f"s3://{BUCKET}/gallery", {"endpoint_url": f"http://127.0.0.1:{dead_server.port}"},
                          bounds=Bounds(**SMALL))
        return Remote(f"http://127.0.0.1:{dead_server.port}/renders", bounds=Bounds(**SMALL))

    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill(a, 1)
    calls = (("which", lambda r: r.which([key, KEY])), ("pull", lambda r: r.pull(key, b)),
             ("push", lambda r: r.push(key, a) if protocol == "s3" else r.has(key)))
    for what, call in calls:
        t0 = time.monotonic()
        with pytest.raises(RemoteUnreachable) as e:
            call(remote())
        assert time.monotonic() - t0 < 8, what
        assert "no answer" in str(e.value), str(e.value)
    nothing_entered(b, key)
    # a remote that did not answer once fails at once after: a run waits one bound, not one a call
    dead = remote()
    with pytest.raises(RemoteUnreachable):
        dead.which([key])
    t0 = time.monotonic()
    for what, call in calls:
        with pytest.raises(RemoteUnreachable, match="no answer"):
            call(dead)
    assert time.monotonic() - t0 < 1


def test_status_and_render_go_on_without_a_remote_that_never_answers(tmp_path, cli, fake_renderer, monkeypatch):
    from pipeline.util import netlimits
    from s3server import s3_env

    server = Mute()
    try:
        s3_env(monkeypatch)
        for name, value in (("CONNECT_S", 0.5), ("READ_S", 0.5), ("REMOTE_OP_S", 2.0)):
            monkeypatch.setattr(netlimits, name, value)
        monkeypatch.setenv("GALLERY_REMOTE", f"s3://{BUCKET}/gallery")
        monkeypatch.setenv("GALLERY_REMOTE_ENDPOINT", f"http://127.0.0.1:{server.port}")
        cli.gallery = build_gallery(tmp_path / "g", contents=("pearl",), styles=("gogh",))
        for command, words in ((["status"], "note: remote s3://renders/gallery: no answer while listing"),
                               (["render", "--quiet"], "rendered 1 cell")):
            done: dict = {}
            t = threading.Thread(target=lambda: done.update(result=cli(*command)), daemon=True)
            t0 = time.monotonic()
            t.start()
            t.join(60)
            assert not t.is_alive(), f"{command} still waits on a remote that never answers"
            rc, out, err = done["result"]
            assert rc == 0 and words in out + err, (command, out, err)
            assert time.monotonic() - t0 < 30
    finally:
        server.close()
