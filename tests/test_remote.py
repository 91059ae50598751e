"""The remote render cache against a real S3 API (moto's server on 127.0.0.1, through s3fs) and
a file:// folder: push, pull, many writers, damaged objects, a server that stops, credentials.

Only loopback traffic: the S3 server is started here on 127.0.0.1 with a free port.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from pipeline.plan.cache import Cache
from pipeline.plan.remote import (Remote, RemoteDenied, RemoteError, RemoteUnreachable, describe,
                                  remote_for)
from s3server import BUCKET, s3, s3_server  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["s3", "file"])
def remote_url(request, tmp_path) -> tuple[str, dict]:
    """(url, options) of an empty remote: a bucket prefix on the moto server, or a folder."""
    if request.param == "s3":
        server = request.getfixturevalue("s3")
        return f"s3://{BUCKET}/gallery", {"endpoint_url": server.endpoint}
    return (tmp_path / "shared").as_uri(), {}


def make(url: str, options: dict) -> Remote:
    # one try per request: a stopped server fails at once instead of after ~12 s of retries
    opts = dict(options)
    if url.startswith("s3://"):
        opts["config_kwargs"] = {"retries": {"max_attempts": 1}}
    return Remote(url, opts, retries=1)


def fill(cache: Cache, n: int, shade: int = 0) -> list[str]:
    """n complete entries with made-up keys; `shade` changes the pixels (not the keys)."""
    keys = []
    for i in range(n):
        key = hashlib.sha256(f"cell-{i}".encode()).hexdigest()
        cache.store(key, Image.new("RGB", (16, 12), (i * 40 % 256, shade, 90)),
                    {"seconds": 1.5, "device": "cpu", "threads": 2})
        keys.append(key)
    return keys


def entry_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.parent.name != ".locks" and not p.name.startswith(".")}


# ---- push and pull

def test_push_then_pull_on_another_cache(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill(a, 3)
    remote = make(*remote_url)
    first = remote.transfer("push", keys, a)
    assert first.done == keys and first.ok
    assert remote.keys() == set(keys)
    again = remote.transfer("push", keys, a)  # idempotent: nothing is sent twice
    assert again.done == [] and again.already == keys

    absent = "f" * 64
    pulled = remote.transfer("pull", keys + [absent], b)
    assert pulled.done == keys and pulled.absent == [absent] and pulled.ok
    for k in keys:
        assert b.has(k)
        assert b.image_path(k).read_bytes() == a.image_path(k).read_bytes()
        record = json.loads(b.record_path(k).read_text())
        assert record["image_sha256"] == hashlib.sha256(a.image_path(k).read_bytes()).hexdigest()
    assert remote.transfer("pull", keys, b).already == keys
    assert describe(pulled)[0].startswith("pulled 3 renders from ")


def test_the_remote_names_each_image_by_its_hash(tmp_path, remote_url):
    a = Cache(tmp_path / "a")
    [key] = fill(a, 1)
    remote = make(*remote_url)
    remote.transfer("push", [key], a)
    sha = hashlib.sha256(a.image_path(key).read_bytes()).hexdigest()
    names = sorted(p.rsplit("/", 1)[1] for p in remote.fs.find(remote.root))
    assert names == sorted([f"{key}.json", f"{key}.{sha}.png"])


def test_two_writers_at_once_leave_entries_that_verify(tmp_path, remote_url):
    """Two machines render the same keys to different bytes and push at the same moment:
    whichever record lands last names its own image, so every entry pulls and verifies."""
    a, c = Cache(tmp_path / "a"), Cache(tmp_path / "c")
    keys = fill(a, 8, shade=0)
    assert fill(c, 8, shade=200) == keys
    results = {}
    barrier = threading.Barrier(2)

    def push(name: str, cache: Cache) -> None:
        remote = make(*remote_url)
        barrier.wait()
        results[name] = remote.transfer("push", keys, cache, jobs=4)

    threads = [threading.Thread(target=push, args=(n, c_)) for n, c_ in (("a", a), ("c", c))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"].ok and results["c"].ok
    assert set(results["a"].done + results["a"].already) == set(keys)
    b = Cache(tmp_path / "b")
    pulled = make(*remote_url).transfer("pull", keys, b)
    assert pulled.done == keys and pulled.ok, pulled
    for k in keys:
        got = b.image_path(k).read_bytes()
        assert got in (a.image_path(k).read_bytes(), c.image_path(k).read_bytes())


def test_a_truncated_remote_image_is_refused_then_repaired_by_a_push(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill(a, 2)
    remote = make(*remote_url)
    remote.transfer("push", keys, a)
    record = remote.read_record(keys[0])
    path = remote.image_path(keys[0], record["image_sha256"])
    data = remote.fs.cat_file(path)
    remote.fs.pipe_file(path, data[: len(data) // 2])

    pulled = remote.transfer("pull", keys, b)
    assert pulled.done == [keys[1]]
    assert list(pulled.damaged) == [keys[0]] and "shorter" in pulled.damaged[keys[0]]
    assert not b.has(keys[0]) and not b.image_path(keys[0]).exists()
    assert not [p for p in (tmp_path / "b").rglob("*") if p.name.endswith(".tmp")]
    assert any("refused" in line and "not trusted" in line for line in describe(pulled))

    assert remote.transfer("push", [keys[0]], a).done == [keys[0]]  # the push sees it incomplete
    assert remote.transfer("pull", [keys[0]], b).done == [keys[0]]
    assert b.image_path(keys[0]).read_bytes() == a.image_path(keys[0]).read_bytes()


def test_an_image_that_differs_from_its_record_is_refused(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill(a, 1)
    remote = make(*remote_url)
    remote.transfer("push", [key], a)
    record = remote.read_record(key)
    path = remote.image_path(key, record["image_sha256"])
    data = bytearray(remote.fs.cat_file(path))
    data[-20] ^= 0xFF  # same length, other bytes
    remote.fs.pipe_file(path, bytes(data))
    pulled = remote.transfer("pull", [key], b)
    assert "checksum" in pulled.damaged[key] and not b.has(key)


def test_a_record_that_is_not_json_is_refused(tmp_path, remote_url):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill(a, 1)
    remote = make(*remote_url)
    remote.transfer("push", [key], a)
    remote.fs.pipe_file(remote.record_path(key), b'{"key": "')
    pulled = remote.transfer("pull", [key], b)
    assert "not valid JSON" in pulled.damaged[key] and not b.has(key)


# ---- failures mid-way

def test_the_server_stopping_mid_push_says_what_was_and_was_not_pushed(tmp_path, s3):
    a = Cache(tmp_path / "a")
    keys = fill(a, 5)
    before = entry_files(tmp_path / "a")
    remote = make(f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint})
    seen: list[str] = []

    def each(key: str, outcome: str) -> None:
        seen.append(key)
        if len(seen) == 2:
            s3.stop()

    report = remote.transfer("push", keys, a, jobs=1, on_each=each)
    assert report.done == keys[:2]
    assert isinstance(report.error, RemoteUnreachable)
    assert report.not_done == keys[2:]
    text = "\n".join(describe(report))
    assert "no answer" in text and "not transferred" in text and "push again" in text
    assert entry_files(tmp_path / "a") == before  # the local cache is untouched
    s3.start()  # same port, same state: the remote holds exactly the two whole entries
    assert make(f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint}).keys() == set(keys[:2])


def test_the_server_stopping_mid_pull_leaves_the_local_cache_whole(tmp_path, s3):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill(a, 4)
    url, opts = f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint}
    make(url, opts).transfer("push", keys, a)
    seen: list[str] = []

    def each(key: str, outcome: str) -> None:
        seen.append(key)
        if len(seen) == 1:
            s3.stop()

    report = make(url, opts).transfer("pull", keys, b, jobs=1, on_each=each)
    assert report.done == keys[:1] and report.not_done == keys[1:]
    assert isinstance(report.error, RemoteUnreachable)
    assert [k for k in keys if b.has(k)] == keys[:1]
    leftovers = [p.name for p in (tmp_path / "b").rglob("*") if p.is_file() and ".mutexes" not in p.parts]
    assert sorted(leftovers) == sorted([f"{keys[0]}.png", f"{keys[0]}.json"])


def test_a_folder_remote_failing_mid_push_keeps_both_sides_whole(tmp_path, monkeypatch):
    a = Cache(tmp_path / "a")
    keys = fill(a, 4)
    remote = make((tmp_path / "shared").as_uri(), {})
    real = remote.fs.pipe_file
    calls = []

    def flaky(path, data, **kw):
        calls.append(path)
        if len(calls) == 5:  # the third entry's image: the network "drops" here
            raise ConnectionResetError(104, "Connection reset by peer")
        return real(path, data, **kw)

    monkeypatch.setattr(remote.fs, "pipe_file", flaky)
    report = remote.transfer("push", keys, a, jobs=1)
    assert report.done == keys[:2] and report.not_done == keys[2:]
    assert isinstance(report.error, RemoteUnreachable)
    assert make((tmp_path / "shared").as_uri(), {}).keys() == set(keys[:2])


# ---- credentials, extras, options

def test_missing_credentials_are_named(tmp_path, s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    a = Cache(tmp_path / "a")
    keys = fill(a, 2)
    report = make(f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint}).transfer("push", keys, a)
    assert isinstance(report.error, RemoteDenied)
    assert "AWS_ACCESS_KEY_ID" in str(report.error) and "never in the manifest" in str(report.error)
    assert report.done == [] and report.not_done == keys


def test_credentials_are_refused_in_options_and_urls():
    with pytest.raises(RemoteError, match="look like credentials"):
        Remote("s3://bucket/x", {"secret": "abc"})
    with pytest.raises(RemoteError, match="holds credentials"):
        Remote("s3://AKIA:abc@bucket/x")


def test_an_unknown_protocol_is_named():
    with pytest.raises(RemoteError, match="unsupported protocol 'nope://'"):
        Remote("nope://bucket/x")


def test_a_missing_extra_is_named():
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(RemoteError, match=r"pip install '\.\[gcs\]'"):
            Remote("gs://bucket/x")
    # s3fs hidden in a fresh process: the message names the s3 extra
    code = ("import sys; sys.modules['s3fs'] = None\n"
            "from pipeline.plan.remote import Remote, RemoteError\n"
            "try:\n    Remote('s3://bucket/x')\nexcept RemoteError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert "pip install '.[s3]'" in out.stdout, out.stdout + out.stderr


def test_remote_for_reads_the_environment_before_the_manifest(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("GALLERY_REMOTE", raising=False)
    monkeypatch.delenv("GALLERY_REMOTE_ENDPOINT", raising=False)
    gallery = SimpleNamespace(remote=SimpleNamespace(url=(tmp_path / "m").as_uri(), endpoint_url=""))
    assert remote_for(gallery).root.endswith("/m")
    monkeypatch.setenv("GALLERY_REMOTE", (tmp_path / "e").as_uri())
    assert remote_for(gallery).root.endswith("/e")
    assert remote_for(gallery, (tmp_path / "arg").as_uri()).root.endswith("/arg")
    monkeypatch.setenv("GALLERY_REMOTE", "none")
    assert remote_for(gallery) is None
    assert remote_for(SimpleNamespace(remote=None), None) is None


# ---- read-only https

def test_https_remote_is_read_only_and_pulls(tmp_path):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill(a, 2)
    make((tmp_path / "published").as_uri(), {}).transfer("push", keys, a)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "published"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = Remote(f"http://127.0.0.1:{server.server_address[1]}/")
        assert remote.read_only and remote.keys() is None
        assert remote.which(keys + ["e" * 64]) == set(keys)
        assert remote.transfer("pull", keys, b).done == keys
        with pytest.raises(RemoteError, match="read-only"):
            remote.push(keys[0], a)
    finally:
        server.shutdown()
        server.server_close()


# ---- the manifest's `cache:` mapping

def test_the_manifest_names_a_remote_and_never_its_credentials(make_gallery):
    from pipeline.manifest.reader import load_gallery
    from pipeline.util.errors import ManifestError

    path = make_gallery(cache={"path": "shared-renders", "remote": "s3://bucket/gallery/",
                               "endpoint_url": "http://127.0.0.1:9000"})
    g = load_gallery(path, check_files=False)
    assert g.cache == path.parent / "shared-renders"
    assert g.remote.url == "s3://bucket/gallery" and g.remote.endpoint_url == "http://127.0.0.1:9000"
    assert load_gallery(make_gallery(cache="renders"), check_files=False).remote is None

    for cache, words in (({"remote": "s3://KEY:SECRET@bucket/x"}, "holds credentials"),
                         ({"remote": "renders-on-nfs"}, "must be a URL"),
                         ({"remote": "file://relative/folder"}, "absolute path"),
                         ({"remote": "gs://b/x", "endpoint_url": "http://127.0.0.1:1"}, "goes with an s3://"),
                         ({"path": "r", "secret_key": "x"}, "unknown key 'secret_key'")):
        with pytest.raises(ManifestError) as e:
            load_gallery(make_gallery(cache=cache), check_files=False)
        assert words in str(e.value) and ":" in str(e.value).split(" ")[0], str(e.value)


# ---- the commands, in process, with the fake renderer

def set_remote(monkeypatch, url: str, options: dict) -> None:
    monkeypatch.setenv("GALLERY_REMOTE", url)
    if options.get("endpoint_url"):
        monkeypatch.setenv("GALLERY_REMOTE_ENDPOINT", options["endpoint_url"])


def test_a_second_machine_renders_nothing_that_the_remote_has(tmp_path, remote_url, monkeypatch, fake_renderer, capsys):
    from gallery_fakes import build_gallery, cli_on
    from pipeline.plan.planner import make_plan

    g = build_gallery(tmp_path / "a")
    main = cli_on(g, fake_renderer)
    set_remote(monkeypatch, *remote_url)
    assert main(["render", "--quiet"]) == 0
    assert len(fake_renderer) == 4 and "rendered 4 cells" in capsys.readouterr().out
    b = tmp_path / "b"
    assert main(["status", "--cache", str(b)]) == 0
    out = capsys.readouterr().out
    assert "on the remote: 4 of the 4 missing cells" in out and out.count("pulled, not rendered") == 4
    assert main(["status", "--json", "--cache", str(b)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["remote"] == remote_url[0] and plan["on_remote"] == 4 and plan["shards"] == 0
    assert all(c["on_remote"] and c["estimated_seconds"] > 0 for c in plan["cells"])

    fake_renderer.clear()
    assert main(["render", "--quiet", "--cache", str(b)]) == 0
    out = capsys.readouterr().out
    assert fake_renderer == [] and "pulled 4 renders from" in out and "nothing to render" in out
    here, there = make_plan(g), make_plan(dataclasses.replace(g, cache=b))
    assert all(c.state == "cached" for c in there.cells)
    for c in here.cells:
        assert there.cache.image_path(c.key).read_bytes() == c.image.read_bytes()


def test_pull_and_push_commands(tmp_path, remote_url, monkeypatch, fake_renderer, capsys):
    from gallery_fakes import build_gallery, cli_on
    from pipeline.plan.lockfile import read_lock

    g = build_gallery(tmp_path / "a")
    main = cli_on(g, fake_renderer)
    assert main(["render", "--quiet"]) == 0  # no remote yet
    capsys.readouterr()
    set_remote(monkeypatch, *remote_url)
    assert main(["push"]) == 0
    assert "pushed 4 renders to" in capsys.readouterr().out
    assert main(["push"]) == 0
    assert "pushed 0 renders to" in (out := capsys.readouterr().out) and "4 there already" in out
    [other] = fill(Cache(g.cache), 1)  # an entry no cell of this manifest uses: only --all sends it
    assert main(["push", "--all"]) == 0
    assert "pushed 1 render to" in capsys.readouterr().out and other in make(*remote_url).keys()

    g2 = dataclasses.replace(g, path=tmp_path / "b" / "gallery.yaml", cache=tmp_path / "b" / "renders")
    main = cli_on(g2, fake_renderer)
    (tmp_path / "b").mkdir()
    assert main(["pull"]) == 0
    out = capsys.readouterr().out
    assert "pulled 4 renders from" in out and "4 cells cached, 0 still to render" in out
    assert len(read_lock(g2.lock_path)) == 4  # the lock file follows the cache


def test_a_damaged_remote_copy_is_rendered_here_and_repaired(tmp_path, remote_url, monkeypatch, fake_renderer, capsys):
    from gallery_fakes import build_gallery, cli_on

    g = build_gallery(tmp_path / "a")
    main = cli_on(g, fake_renderer)
    set_remote(monkeypatch, *remote_url)
    assert main(["render", "--quiet"]) == 0
    remote = make(*remote_url)
    key = sorted(remote.keys())[0]
    path = remote.image_path(key, remote.read_record(key)["image_sha256"])
    remote.fs.pipe_file(path, remote.fs.cat_file(path)[:40])
    fake_renderer.clear()
    capsys.readouterr()
    assert main(["render", "--quiet", "--cache", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert len(fake_renderer) == 1 and "pulled 3 renders" in captured.out
    assert "refused" in captured.err and "shorter" in captured.err and "rendered 1 cell" in captured.out
    assert make(*remote_url).transfer("pull", [key], Cache(tmp_path / "c")).done == [key]  # pushed again


def test_missing_credentials_stop_push_and_leave_render_working(tmp_path, s3, monkeypatch, fake_renderer, capsys):
    from gallery_fakes import build_gallery, cli_on

    main = cli_on(build_gallery(tmp_path / "a"), fake_renderer)
    set_remote(monkeypatch, f"s3://{BUCKET}/gallery", {"endpoint_url": s3.endpoint})
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["render", "--quiet"]) == 0  # the remote helps; it is never required
    captured = capsys.readouterr()
    assert len(fake_renderer) == 4 and "AWS_ACCESS_KEY_ID" in captured.err and "rendered 4 cells" in captured.out
    assert main(["push"]) == 1
    out = capsys.readouterr().out
    assert "no credentials" in out and "AWS_ACCESS_KEY_ID" in out and "not transferred: pearl:gogh" in out


def test_forked_render_workers_push_too(tmp_path, remote_url, monkeypatch, fake_renderer, capsys):
    """Under --jobs 2 each forked worker opens its own connection (an event loop does not
    survive a fork) and pushes its renders as they are done."""
    from gallery_fakes import build_gallery, cli_on

    main = cli_on(build_gallery(tmp_path / "a"), fake_renderer)
    set_remote(monkeypatch, *remote_url)
    assert make(*remote_url).keys() == set()  # the parent has used the remote before forking
    assert main(["render", "--quiet", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    assert "rendered 4 cells" in captured.out and "not on the remote" not in captured.err
    assert len(make(*remote_url).keys()) == 4
