"""A render's time-lapse through the remote cache (a folder and moto's S3 on 127.0.0.1): pushed
with its render, pulled only once it is the file its record lists, and never a reason to refuse
the render itself. Renders are the fake renderer's, at 32 px."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import json
import logging
import re
import threading
import time

import pytest
from PIL import Image

from gallery_fakes import build_gallery, cli_on
from pipeline.plan.cache import Cache, dumps_record, timelapse_paths
from pipeline.plan.remote import Remote, RemoteUnreachable
from pipeline.plan.timelapse import encode, still
from s3server import BUCKET, s3, s3_server  # noqa: F401 - fixtures
from test_remote import fill, make, remote_url, set_remote  # noqa: F401 - remote_url is a fixture
from test_timelapse_site import PaintingRenderer

FRAMES = [{"level": 0, "iteration": 0}, {"level": 0, "iteration": 5}, {"level": 1, "iteration": 5}]


def lapse(shade: int = 0) -> tuple[bytes, bytes]:
    """A small real time-lapse (animation, still) of three frames."""
    images = [Image.new("RGB", (16, 12), (shade, 40 * i, 200 - 60 * i)) for i in range(3)]
    return encode(images, FRAMES), still(images, FRAMES)


def fill_with_lapses(cache: Cache, n: int) -> list[str]:
    """n complete entries, each with its time-lapse."""
    keys = []
    for i in range(n):
        key = hashlib.sha256(f"painted-{i}".encode()).hexdigest()
        cache.store(key, Image.new("RGB", (16, 12), (i * 40 % 256, 9, 90)),
                    {"seconds": 1.5, "frames": FRAMES}, lapse(shade=i * 30))
        keys.append(key)
    return keys


@pytest.fixture
def warned():
    """The warnings the pipeline logs during the test, as text."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("pipeline")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def no_temp_files(cache: Cache) -> None:
    assert not [p for p in cache.root.rglob("*") if p.name.endswith(".tmp")]


def without_lapse(cache: Cache, key: str) -> None:
    """The render is cached, its time-lapse is not, and its record lists none."""
    assert Cache(cache.root).has(key)
    assert not any(p.exists() for p in timelapse_paths(cache.root, key))
    assert "timelapse" not in json.loads(cache.record_path(key).read_text())
    no_temp_files(cache)


# ---------------------------------------------------------------- end to end: the page

def test_a_render_pulled_from_a_remote_shows_how_it_was_painted(tmp_path, remote_url, monkeypatch, capsys):
    g = build_gallery(tmp_path / "a", contents=("pearl",), styles=("gogh",))
    set_remote(monkeypatch, *remote_url)
    assert cli_on(g, PaintingRenderer())(["gallery", "--no-fetch", "--quiet"]) == 0  # renders, pushes
    [key] = [p.stem for p in g.cache.glob("??/*.json")]

    other = PaintingRenderer()
    b = dataclasses.replace(g, cache=tmp_path / "b" / "renders",
                            site=dataclasses.replace(g.site, output=tmp_path / "b" / "site"))
    capsys.readouterr()
    assert cli_on(b, other)(["gallery", "--no-fetch", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert other == [] and "pulled 1 render" in out + err and "time-lapse" not in err, out + err
    for here, there in zip(timelapse_paths(g.cache, key), timelapse_paths(b.cache, key)):
        assert there.read_bytes() == here.read_bytes()
    page = (b.site.output / "render" / "pearl--gogh.html").read_text()
    assert "Watch it being painted" in page and "in 3 frames" in page
    motion = re.search(r'data-motion="\.\./(timelapse/[^"]+\.webp)"', page).group(1)
    assert (b.site.output / motion).read_bytes() == timelapse_paths(g.cache, key)[0].read_bytes()

    # a remote animation changed under its record: the render still comes, its page shows no time-lapse
    remote = make(*remote_url)
    path = remote.timelapse_paths(key, remote.read_record(key)["timelapse"])[0]
    data = bytearray(remote.fs.cat_file(path))
    data[len(data) // 2] ^= 0x55
    remote.fs.pipe_file(path, bytes(data))
    c = dataclasses.replace(g, cache=tmp_path / "c" / "renders",
                            site=dataclasses.replace(g.site, output=tmp_path / "c" / "site"))
    assert cli_on(c, other)(["gallery", "--no-fetch", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert other == [] and "pulled 1 render" in out + err
    assert f"{key[:12]} pulled from" in err and "without its time-lapse: animation checksum differs" in err, err
    page = (c.site.output / "render" / "pearl--gogh.html").read_text()
    assert "Watch it being painted" not in page and "data-timelapse" not in page
    without_lapse(Cache(c.cache), key)


# ---------------------------------------------------------------- push and pull

def test_push_sends_the_timelapse_named_by_its_hash_and_pull_brings_it(tmp_path, remote_url, warned):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill_with_lapses(a, 2)
    remote = make(*remote_url)
    assert remote.transfer("push", keys, a).done == keys
    assert remote.transfer("push", keys, a).already == keys  # nothing sent twice
    key = keys[0]
    record = json.loads(a.record_path(key).read_text())
    anim, picture = (p.read_bytes() for p in timelapse_paths(a.root, key))
    names = {p.rsplit("/", 1)[1] for p in remote.fs.find(remote.root) if key in p}
    assert names == {f"{key}.json", f"{key}.{record['image_sha256']}.png",
                     f"{key}.{hashlib.sha256(anim).hexdigest()}.webp",
                     f"{key}.{hashlib.sha256(picture).hexdigest()}.still.webp"}

    report = remote.transfer("pull", keys, b)
    assert report.done == keys and report.ok and warned == []
    for k in keys:
        assert [p.read_bytes() for p in timelapse_paths(b.root, k)] == [p.read_bytes() for p in timelapse_paths(a.root, k)]
        assert json.loads(b.record_path(k).read_text())["timelapse"] == json.loads(a.record_path(k).read_text())["timelapse"]
    no_temp_files(b)


def _changed(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) // 2] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("damage, words", [
    ("changed", "animation checksum differs from its record's"),
    ("cut", "animation is shorter than its record says"),
    ("longer", "still is longer than its record says"),
    ("gone", "record names an animation that is not there"),
    ("text", "animation is not a WebP image"),
    ("huge", "record says the still is 1000000000 bytes, more than a time-lapse may be (16 MiB)"),
])
def test_a_damaged_remote_timelapse_is_refused_and_its_render_pulled(tmp_path, remote_url, warned, damage, words):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    keys = fill_with_lapses(a, 2)
    remote = make(*remote_url)
    remote.transfer("push", keys, a)
    key = keys[0]
    record = remote.read_record(key)
    anim, picture = remote.timelapse_paths(key, record["timelapse"])
    if damage == "changed":
        remote.fs.pipe_file(anim, _changed(remote.fs.cat_file(anim)))
    elif damage == "cut":
        remote.fs.pipe_file(anim, remote.fs.cat_file(anim)[:-9])
    elif damage == "longer":
        remote.fs.pipe_file(picture, remote.fs.cat_file(picture) + b"\0" * 5000)
    elif damage == "gone":
        remote.fs.rm_file(anim)
    else:  # a record that matches what it lists, as a hostile machine writes one
        text = b"RIFF but not a picture\n" * 30
        if damage == "text":
            record["timelapse"].update(sha256=hashlib.sha256(text).hexdigest(), bytes=len(text))
            remote.fs.pipe_file(remote.timelapse_paths(key, record["timelapse"])[0], text)
        else:
            record["timelapse"]["still_bytes"] = 10**9
        remote.fs.pipe_file(remote.record_path(key), dumps_record(record).encode())

    report = remote.transfer("pull", keys, b)
    assert report.done == keys and report.ok, report  # the render is pulled, never refused for it
    assert [w for w in warned if key[:12] in w and words in w and "without its time-lapse" in w], warned
    without_lapse(b, key)
    assert [p.read_bytes() for p in timelapse_paths(b.root, keys[1])] == \
        [p.read_bytes() for p in timelapse_paths(a.root, keys[1])]


def test_an_entry_without_a_timelapse_pulls_as_before(tmp_path, remote_url, warned):
    """Renders of an engine that records no frames, and entries pushed before time-lapses travelled:
    their record may list a time-lapse whose files never reached the remote."""
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    plain = fill(a, 1)
    listed = fill_with_lapses(a, 1)
    remote = make(*remote_url)
    remote.transfer("push", plain + listed, a)
    for path in remote.timelapse_paths(listed[0], remote.read_record(listed[0])["timelapse"]):
        remote.fs.rm_file(path)
    report = remote.transfer("pull", plain + listed, b)
    assert report.done == plain + listed and report.ok
    without_lapse(b, plain[0])
    assert not [w for w in warned if plain[0][:12] in w]
    without_lapse(b, listed[0])
    assert [w for w in warned if listed[0][:12] in w and "not there" in w]
    # a push from a cache that has the time-lapse completes the remote entry
    assert make(*remote_url).transfer("push", listed, a).replaced == listed
    c = Cache(tmp_path / "c")
    assert make(*remote_url).transfer("pull", listed, c).done == listed
    assert timelapse_paths(c.root, listed[0])[0].read_bytes() == timelapse_paths(a.root, listed[0])[0].read_bytes()


def test_a_damaged_local_timelapse_is_not_pushed_and_its_render_is(tmp_path, remote_url, warned):
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill_with_lapses(a, 1)
    anim = timelapse_paths(a.root, key)[0]
    good = anim.read_bytes()
    anim.write_bytes(_changed(good))
    remote = make(*remote_url)
    assert remote.transfer("push", [key], a).done == [key]
    assert [w for w in warned if key[:12] in w and "time-lapse is not pushed" in w and "checksum differs" in w], warned
    assert not [p for p in remote.fs.find(remote.root) if p.endswith(".webp")]
    assert "timelapse" not in remote.read_record(key)
    warned.clear()
    assert remote.transfer("pull", [key], b).done == [key] and warned == []
    without_lapse(b, key)

    anim.write_bytes(good)  # repaired here: the next push completes the remote entry
    assert remote.transfer("push", [key], a).done == [key]
    c = Cache(tmp_path / "c")
    assert remote.transfer("pull", [key], c).done == [key]
    assert timelapse_paths(c.root, key)[0].read_bytes() == good


# ---------------------------------------------------------------- every wait bounded

def test_a_remote_that_stops_answering_on_a_timelapse_ends_within_the_bounds(tmp_path):
    """A web server that serves the record and the render, then never answers for the time-lapse:
    the pull ends within the bounds, and nothing of the entry enters the cache (a later pull
    brings it whole)."""
    from pipeline.plan.remote_io import Bounds

    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill_with_lapses(a, 1)
    make((tmp_path / "published").as_uri(), {}).transfer("push", [key], a)
    stop = threading.Event()

    class Stalls(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.endswith(".webp"):
                stop.wait(30)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Stalls, directory=str(tmp_path / "published")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = Remote(f"http://127.0.0.1:{server.server_address[1]}/",
                        bounds=Bounds(connect_s=0.5, read_s=0.5, op_s=2.0, attempts=1))
        t0 = time.monotonic()
        report = remote.transfer("pull", [key], b)
        assert time.monotonic() - t0 < 8
        assert isinstance(report.error, RemoteUnreachable) and report.not_done == [key], report
        assert "no answer" in str(report.error)
        assert not b.has(key) and not b.image_path(key).exists() and not b.record_path(key).exists()
        no_temp_files(b)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_the_timelapse_check_reads_sizes_before_pixels(monkeypatch):
    from pipeline.plan import remote_timelapse
    from pipeline.plan.remote_timelapse import problem

    anim, picture = lapse()
    assert problem(anim) is None and problem(picture) is None
    assert problem(anim[:-20], "animation").startswith("animation does not decode")
    big = io.BytesIO()
    Image.new("RGB", (5000, 8)).save(big, "WEBP")
    assert problem(big.getvalue(), "still") == "still is 5000x8 pixels, over the limit of 4096 pixels a side"
    monkeypatch.setattr(remote_timelapse, "MAX_DECODED_PIXELS", 2 * 16 * 12)  # two of its three frames
    assert problem(anim, "animation") == "animation has 3 frames of 16x12 pixels, more than a time-lapse may"



def test_a_record_that_gives_a_timelapse_a_negative_size_is_refused_before_any_read(tmp_path, monkeypatch):
    """A negative size would make a capped read a slice from the object's end: all of it."""
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    [key] = fill_with_lapses(a, 1)
    remote = make((tmp_path / "remote").as_uri(), {})
    remote.transfer("push", [key], a)
    record = remote.read_record(key)
    record["timelapse"]["still_bytes"] = -2
    remote.fs.pipe_file(remote.record_path(key), dumps_record(record).encode())
    reads = []
    real = remote.io.read_capped
    monkeypatch.setattr(remote.io, "read_capped", lambda *args: reads.append(args) or real(*args))
    report = remote.transfer("pull", [key], b)
    assert "'timelapse.still_bytes' must be a size in bytes (a whole number, 0 or more), not -2" in report.damaged[key]
    assert [what for _, _, what in reads] == ["record"]  # nothing else read
    assert not b.record_path(key).exists() and not b.image_path(key).exists()
