"""Image sources: mirror folders first, then a verified https download; never the real network here."""
from __future__ import annotations

import hashlib
import io
import os

import pytest

from conftest import gradient, snapshot
from https_server import closed_port, https, stall, unannounced  # noqa: F401 - fixture
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.sources import Fetcher, SourceError, download
from pipeline.util.errors import ManifestError


def fetch_missing(path) -> list[str]:
    """What `validate` and `gallery` do: read the manifest, each missing image fetched as its
    entry is checked; returns a line per file fetched. A failure is the manifest's problem."""
    fetcher = Fetcher()
    load_gallery(path, check_files=True, fetch=fetcher)
    return fetcher.done


def image_bytes(seed: int = 0) -> bytes:
    data = io.BytesIO()
    gradient((24, 16), seed).save(data, "PNG")
    return data.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def net(https, monkeypatch):
    """A local HTTPS server (tests/https_server.py): `net.answers[path] = bytes | status | ...`,
    `net.calls` lists the paths asked for, `net.url(path)` is the address; small bounds."""
    from pipeline.util import netlimits

    monkeypatch.setattr(netlimits, "CONNECT_S", 0.5)
    monkeypatch.setattr(netlimits, "READ_S", 0.5)
    return https


@pytest.fixture
def remote_gallery(make_gallery, tmp_path, net):
    """A valid manifest whose style 'gogh' is missing locally but has a url and sha256."""
    data = image_bytes(7)
    path = make_gallery(styles=[{"id": "gogh", "file": "images/style/gogh.png",
                                 "url": net.url("/gogh.png"), "sha256": sha(data)}])
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    (tmp_path / "images" / "style").rmdir()
    return path, data


def test_download_once_then_reuse(net, remote_gallery, tmp_path):
    path, data = remote_gallery
    net.answers["/gogh.png"] = data
    lines = fetch_missing(path)
    assert lines == [f"gogh: downloaded {net.url('/gogh.png')} -> {tmp_path / 'images/style/gogh.png'}"]
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data
    assert fetch_missing(path) == [] and len(net.calls) == 1
    assert [p.name for p in (tmp_path / "images" / "style").iterdir()] == ["gogh.png"]


def test_sha256_mismatch_leaves_nothing_behind(net, remote_gallery, tmp_path):
    path, _ = remote_gallery
    net.answers["/gogh.png"] = image_bytes(8)
    before = snapshot(tmp_path)
    with pytest.raises(ManifestError, match="has sha256 .* not the pinned"):
        fetch_missing(path)
    assert snapshot(tmp_path) == before  # no file, no temp file, no new folder


@pytest.mark.parametrize("announce", [True, False])
def test_size_cap(net, tmp_path, announce):
    net.answers["/big.png"] = b"x" * 5000 if announce else unannounced(b"x" * 5000)
    dest = tmp_path / "new" / "big.png"
    with pytest.raises(SourceError, match="over the limit of 1000 bytes"):
        download(net.url("/big.png"), dest, sha(b"x" * 5000), max_bytes=1000)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("answer,message", [
    (stall(3, head=False), "no data for 0.5 s"),
    (stall(3), "no data for 0.5 s"),
    (404, "HTTP 404 Not Found"),
    ("closed port", "no connection to 127.0.0.1"),
])
def test_network_failures_name_entry_url_and_fix(net, make_gallery, tmp_path, answer, message):
    url = f"https://127.0.0.1:{closed_port()}/gogh.png" if answer == "closed port" else net.url("/gogh.png")
    net.answers["/gogh.png"] = answer
    path = make_gallery(styles=[{"id": "gogh", "file": "images/style/gogh.png", "url": url,
                                 "sha256": sha(image_bytes(7))}])
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    (tmp_path / "images" / "style").rmdir()
    with pytest.raises(ManifestError) as e:
        fetch_missing(path)
    text = str(e.value)
    # the manifest's file and the entry's line first, as the manifest's own problems are named
    assert text.startswith(f"{path}:{file_line(path, 'gogh')}: styles[0] (id 'gogh'): cannot download {url}: ")
    assert message in text
    assert str(tmp_path / "images" / "style" / "gogh.png") in text and "GALLERY_MIRROR is not set" in text
    assert not (tmp_path / "images" / "style").exists()


def file_line(manifest, id: str) -> int:
    """The line of the `file:` key of the entry `- id: <id>` in the manifest."""
    lines = manifest.read_text().splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.strip().lstrip("- ") == f"id: {id}")
    return next(i for i, line in enumerate(lines[start:], start + 1) if line.strip().startswith("file:"))


def test_a_mirror_path_that_is_not_a_folder_is_pointed_out(net, remote_gallery, tmp_path, monkeypatch):
    path, _ = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    typo = tmp_path.parent / (tmp_path.name + "-mirorr")
    monkeypatch.setenv("GALLERY_MIRROR", f"{mirror}{os.pathsep}{typo}")
    with pytest.raises(ManifestError) as e:
        fetch_missing(path)
    text = str(e.value)
    assert f"folders searched: {mirror}, {typo} (not a folder: check the path)" in text
    assert f"{mirror} (not a folder" not in text


def test_offline_is_tried_once(net, make_gallery, tmp_path):
    port = closed_port()
    entries = [{"id": f"s{i}", "url": f"https://127.0.0.1:{port}/s{i}.png", "sha256": "0" * 64} for i in range(3)]
    path = make_gallery(styles=entries)
    for i in range(3):
        (tmp_path / "images" / "style" / f"s{i}.png").unlink()
    with pytest.raises(ManifestError) as e:
        fetch_missing(path)
    assert str(e.value).count("cannot download") == 3 and str(e.value).count("no connection to 127.0.0.1") == 1
    assert str(e.value).count("not tried: the network failed for an earlier image") == 2
    assert str(e.value).endswith("\n3 problems found; nothing was written.")


def test_only_https_is_downloaded(net, tmp_path):
    with pytest.raises(SourceError, match="only https"):
        download(net.plain.url("/a.png"), tmp_path / "a.png", "0" * 64)
    assert net.calls == []


def test_mirror_by_name_searched_recursively(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    (mirror / "deep" / "style").mkdir(parents=True)
    (mirror / "deep" / "style" / "gogh.png").write_bytes(data)
    monkeypatch.setenv("GALLERY_MIRROR", f"/nonexistent{os.pathsep}{mirror}")
    lines = fetch_missing(path)
    assert "copied from mirror" in lines[0] and net.calls == []
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data


def test_mirror_by_sha256_when_the_name_differs(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    (mirror / "gogh.png").write_bytes(image_bytes(9))  # right name, wrong content: not used
    (mirror / "starry-night.png").write_bytes(data)
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    fetch_missing(path)
    assert (tmp_path / "images" / "style" / "gogh.png").read_bytes() == data and net.calls == []


def test_mirror_without_the_file_falls_back_to_the_url(net, remote_gallery, tmp_path, monkeypatch):
    path, data = remote_gallery
    mirror = tmp_path.parent / (tmp_path.name + "-mirror")
    mirror.mkdir()
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    net.answers["/gogh.png"] = data
    fetch_missing(path)
    assert net.calls == ["/gogh.png"]


def test_no_url_and_no_mirror(net, make_gallery, tmp_path):
    path = make_gallery()
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    with pytest.raises(ManifestError) as e:
        fetch_missing(path)
    text = str(e.value)
    assert text.startswith(f"{path}:{file_line(path, 'gogh')}: styles[0] (id 'gogh'): ") and "no url" in text
    assert "GALLERY_MIRROR is not set" in text
    assert str(tmp_path / "images" / "style" / "gogh.png") in text and net.calls == []


def test_cli_offline_without_mirror(net, remote_gallery, cli, tmp_path):
    path, _ = remote_gallery
    before = snapshot(tmp_path)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "Traceback" not in err
    assert f"(id 'gogh'): cannot download {net.url('/gogh.png')}: the server answered HTTP 404" in err
    assert "GALLERY_MIRROR" in err
    assert snapshot(tmp_path) == before


def test_cli_fetches_then_validates(net, remote_gallery, cli):
    path, data = remote_gallery
    net.answers["/gogh.png"] = data
    rc, out, err = cli("validate", "--config", path)
    assert rc == 0, err
    assert "gogh: downloaded" in out
    # the grid, not a claim about the cache (it said "12 cells to render" with 9 of them cached)
    assert out.splitlines()[-1] == f"{path}: valid: 1 contents x 1 styles = 1 cell (0 excluded)"


def test_seed_mirror_holds_the_demo_images(net, demo_manifest, seed_mirror, monkeypatch):
    monkeypatch.setenv("GALLERY_MIRROR", str(seed_mirror))
    lines = fetch_missing(demo_manifest)
    assert len(lines) == 6 and net.calls == []
    load_gallery(demo_manifest)  # every file present, sha256 right, decodable
