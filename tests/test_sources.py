"""Image sources: mirror folders first, then a verified https download; never the real network here."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.error

import pytest

from conftest import gradient, snapshot
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.sources import SourceError, download, resolve_sources


def image_bytes(seed: int = 0) -> bytes:
    data = io.BytesIO()
    gradient((24, 16), seed).save(data, "PNG")
    return data.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeResponse(io.BytesIO):
    """What urllib's urlopen returns, enough for download(): a stream with headers."""

    def __init__(self, data: bytes, announce: bool = True):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))} if announce else {}


@pytest.fixture
def net(monkeypatch):
    """Replace urlopen: `net.answers[url] = bytes | exception`; `net.calls` lists the urls asked for."""
    class Net:
        answers: dict = {}
        calls: list = []
        announce = True

        def urlopen(self, request, timeout=None):
            url = request.full_url
            self.calls.append(url)
            answer = self.answers.get(url, urllib.error.URLError(OSError(-2, "Name or service not known")))
            if isinstance(answer, BaseException):
                raise answer
            return FakeResponse(answer, self.announce)

    n = Net()
    n.answers, n.calls = {}, []
    monkeypatch.setattr("urllib.request.urlopen", n.urlopen)
    monkeypatch.delenv("GALLERY_MIRROR", raising=False)
    return n


@pytest.fixture
def remote_gallery(make_gallery, tmp_path):
    """A valid manifest whose style 'gogh' is missing locally but has a url and sha256."""
    data = image_bytes(7)
    path = make_gallery(styles=[{"id": "gogh", "file": "images/style/gogh.png",
                                 "url": "https://example.org/gogh.png", "sha256": sha(data)}])
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    (tmp_path / "images" / "style").rmdir()
    return path, data


def test_download_once_then_reuse(net, remote_gallery, tmp_path):
    path, data = remote_gallery
    net.answers["https://example.org/gogh.png"] = data
    lines = resolve_sources(load_gallery(path, check_files=False))
    assert lines == [f"gogh: downloaded https://example.org/gogh.png -> {tmp_path / 'images/style/gogh.png'}"]
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data
    assert resolve_sources(load_gallery(path)) == [] and len(net.calls) == 1
    assert [p.name for p in (tmp_path / "images" / "style").iterdir()] == ["gogh.png"]


def test_sha256_mismatch_leaves_nothing_behind(net, remote_gallery, tmp_path):
    path, _ = remote_gallery
    net.answers["https://example.org/gogh.png"] = image_bytes(8)
    before = snapshot(tmp_path)
    with pytest.raises(SourceError, match="has sha256 .* not the pinned"):
        resolve_sources(load_gallery(path, check_files=False))
    assert snapshot(tmp_path) == before  # no file, no temp file, no new folder


@pytest.mark.parametrize("announce", [True, False])
def test_size_cap(net, tmp_path, announce):
    net.announce = announce
    net.answers["https://example.org/big.png"] = b"x" * 5000
    dest = tmp_path / "new" / "big.png"
    with pytest.raises(SourceError, match="over the limit of 1000 bytes"):
        download("https://example.org/big.png", dest, sha(b"x" * 5000), max_bytes=1000)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("error,message", [
    (urllib.error.URLError(TimeoutError("timed out")), "no answer within 30 s"),
    (TimeoutError("timed out"), "timed out"),
    (urllib.error.HTTPError("https://example.org/gogh.png", 404, "Not Found", {}, None), "HTTP 404 Not Found"),
    (urllib.error.URLError(OSError(-2, "Name or service not known")), "no connection"),
])
def test_network_failures_name_entry_url_and_fix(net, remote_gallery, tmp_path, error, message):
    path, _ = remote_gallery
    net.answers["https://example.org/gogh.png"] = error
    with pytest.raises(SourceError) as e:
        resolve_sources(load_gallery(path, check_files=False))
    text = str(e.value)
    # the manifest's file and the entry's line first, as the manifest's own problems are named
    assert text.startswith(f"{path}:{entry_line(path, 'gogh')}: gogh: cannot download "
                           "https://example.org/gogh.png: ") and message in text
    assert str(tmp_path / "images" / "style" / "gogh.png") in text and "GALLERY_MIRROR is not set" in text
    assert not (tmp_path / "images" / "style").exists()


def entry_line(manifest, id: str) -> int:
    """The line of `- id: <id>` in the manifest."""
    lines = manifest.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().lstrip("- ") == f"id: {id}")


def test_a_mirror_path_that_is_not_a_folder_is_pointed_out(net, remote_gallery, tmp_path, monkeypatch):
    path, _ = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    typo = tmp_path.parent / (tmp_path.name + "-mirorr")
    monkeypatch.setenv("GALLERY_MIRROR", f"{mirror}{os.pathsep}{typo}")
    with pytest.raises(SourceError) as e:
        resolve_sources(load_gallery(path, check_files=False))
    text = str(e.value)
    assert f"folders searched: {mirror}, {typo} (not a folder: check the path)" in text
    assert f"{mirror} (not a folder" not in text


def test_offline_is_tried_once(net, make_gallery, tmp_path):
    entries = [{"id": f"s{i}", "url": f"https://example.org/s{i}.png", "sha256": "0" * 64} for i in range(3)]
    path = make_gallery(styles=entries)
    for i in range(3):
        (tmp_path / "images" / "style" / f"s{i}.png").unlink()
    with pytest.raises(SourceError) as e:
        resolve_sources(load_gallery(path, check_files=False))
    assert len(net.calls) == 1
    assert str(e.value).count("cannot download") == 3 and "not tried" in str(e.value)
    assert str(e.value).endswith("\n3 of 3 missing images could not be fetched; nothing was rendered.")


def test_only_https_is_downloaded(net, tmp_path):
    with pytest.raises(SourceError, match="only https"):
        download("http://example.org/a.png", tmp_path / "a.png", "0" * 64)
    assert net.calls == []


def test_mirror_by_name_searched_recursively(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    (mirror / "deep" / "style").mkdir(parents=True)
    (mirror / "deep" / "style" / "gogh.png").write_bytes(data)
    monkeypatch.setenv("GALLERY_MIRROR", f"/nonexistent{os.pathsep}{mirror}")
    lines = resolve_sources(load_gallery(path, check_files=False))
    assert "copied from mirror" in lines[0] and net.calls == []
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data


def test_mirror_by_sha256_when_the_name_differs(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    (mirror / "gogh.png").write_bytes(image_bytes(9))  # right name, wrong content: not used
    (mirror / "starry-night.png").write_bytes(data)
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    resolve_sources(load_gallery(path, check_files=False))
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data and net.calls == []


def test_mirror_without_the_file_falls_back_to_the_url(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    net.answers["https://example.org/gogh.png"] = data
    resolve_sources(load_gallery(path, check_files=False))
    assert net.calls == ["https://example.org/gogh.png"]


def test_no_url_and_no_mirror(net, make_gallery, tmp_path):
    path = make_gallery()
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    with pytest.raises(SourceError) as e:
        resolve_sources(load_gallery(path, check_files=False))
    text = str(e.value)
    assert text.startswith(f"{path}:{entry_line(path, 'gogh')}: gogh: ") and "no url" in text
    assert "GALLERY_MIRROR is not set" in text
    assert str(tmp_path / "images" / "style" / "gogh.png") in text and net.calls == []


def test_cli_offline_without_mirror(net, remote_gallery, cli, tmp_path):
    path, _ = remote_gallery
    before = snapshot(tmp_path)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "Traceback" not in err
    assert "(id 'gogh'): cannot download https://example.org/gogh.png" in err and "GALLERY_MIRROR" in err
    assert snapshot(tmp_path) == before


def test_cli_fetches_then_validates(net, remote_gallery, cli):
    path, data = remote_gallery
    net.answers["https://example.org/gogh.png"] = data
    rc, out, err = cli("validate", "--config", path)
    assert rc == 0, err
    assert "gogh: downloaded" in out
    # the grid, not a claim about the cache (it said "12 cells to render" with 9 of them cached)
    assert out.splitlines()[-1] == f"{path}: valid: 1 contents x 1 styles = 1 cell (0 excluded)"


def test_seed_mirror_holds_the_demo_images(net, demo_manifest, seed_mirror, monkeypatch):
    monkeypatch.setenv("GALLERY_MIRROR", str(seed_mirror))
    lines = resolve_sources(load_gallery(demo_manifest, check_files=False))
    assert len(lines) == 6 and net.calls == []
    load_gallery(demo_manifest)  # every file present, sha256 right, decodable
