"""The render cache repairs itself, and damaged state gives a message (never a traceback, nor a
damaged entry trusted forever): corrupt renders, mistyped records, hand-edited lock entries, a
read-only cache, a full disk, unused web images, a pinned image swapped in place.
Renders are 8x8 fakes (tests/gallery_fakes.py): no torch.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

import fs_guard
from conftest import write_image
from test_hardening import cached_gallery, load, sha256


def cache_entry(tmp_path: Path, suffix: str) -> Path:
    [path] = [p for p in (tmp_path / "renders").glob(f"[0-9a-f][0-9a-f]/*{suffix}")]
    return path


# ---------------------------------------------------------------- 7: a corrupt render

@pytest.mark.parametrize("damage", ["truncated", "zeroed"])
def test_a_corrupt_cached_render_is_reported_rerendered_and_pruned(make_gallery, cli, tmp_path,
                                                                     fake_renderer, damage):
    path = cached_gallery(make_gallery)
    assert cli("build", "--config", path)[0] == 0
    png = cache_entry(tmp_path, ".png")
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\0" * len(data))
    shutil.rmtree(tmp_path / "renders" / "variants")  # the web images are made from the render

    rc, out, err = cli("status", "--config", path)
    assert rc == 0 and "  corrupt   pearl:gogh  the cached render is corrupt: " in out and png.name in out, out
    assert "0 cached, 1 to render" in out
    rc, out, err = cli("build", "--config", path)  # a placeholder, not a failure
    assert rc == 0 and "1 cells not rendered" in out, err
    rc, out, err = cli("prune", "--config", path)
    assert rc == 0 and "corrupt" in out and "nothing deleted" in out, out
    rc, out, err = cli("render", "--config", path)
    assert rc == 0 and "rendered 1 cell" in out, out + err
    assert Image.open(png).size == (64, 48)
    rc, out, err = cli("status", "--config", path, "--all")
    assert "1 cached, 0 to render" in out and "  cached    pearl:gogh" in out


def test_prune_removes_a_corrupt_render(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    png = cache_entry(tmp_path, ".png")
    png.write_bytes(b"\0" * png.stat().st_size)
    rc, out, err = cli("prune", "--config", path, "--yes")
    assert rc == 0 and "corrupt" in out and "deleted 1 entry" in out, out
    assert not png.exists() and not png.with_suffix(".json").exists()


# ---------------------------------------------------------------- 8: a mistyped record

@pytest.mark.parametrize("field, value", [
    ("weights", "w"), ("levels", "abc"), ("trace", ["x"]), ("params", [1]), ("final", "x"),
    ("seconds", "fast"), ("key", None)])
def test_a_record_with_a_mistyped_field_counts_as_missing(make_gallery, cli, tmp_path, field, value):
    path = cached_gallery(make_gallery)
    record = cache_entry(tmp_path, ".json")
    data = json.loads(record.read_text())
    if field == "trace":
        data["levels"][0]["trace"] = value
    else:
        data[field] = value
    record.write_text(json.dumps(data))
    rc, out, err = cli("build", "--config", path)
    assert rc == 0 and "1 cells not rendered" in out, err
    rc, out, err = cli("status", "--config", path)
    assert rc == 0 and "corrupt" in out and f"record {record.name}" in out, out
    assert (field if field != "trace" else "levels[0].trace") in out


def test_the_site_never_reads_a_bad_record_even_when_handed_one(tmp_path):
    """The builder checks a record itself too (a plan from elsewhere, a record changed since)."""
    from pipeline.plan.cache import read_record
    from pipeline.site.loss_chart import loss_chart

    key = "a" * 64
    path = tmp_path / "r.json"
    for bad in ({"key": key, "weights": "w"}, {"key": key, "levels": [{"trace": [1]}]},
                {"key": key, "final": {"total": float("inf")}}, ["not a record"], {"key": "b" * 64}):
        path.write_text(json.dumps(bad))
        record = read_record(path, key)
        assert record is None
        assert loss_chart(record) is None


# ---------------------------------------------------------------- 9: a hand-edited lock file

@pytest.mark.parametrize("content", [None, "pearl", ["pearl"], {"id": 5, "sha256": "x"}])
def test_a_hand_edited_lock_entry_is_ignored_with_a_message(make_gallery, cli, tmp_path, content):
    path = cached_gallery(make_gallery)
    lock = path.with_suffix(".lock.json")
    data = json.loads(lock.read_text())
    data["cells"]["pearl:gogh"]["content"] = content
    lock.write_text(json.dumps(data))
    for command in (["status"], ["render"], ["gallery", "--no-fetch"]):
        text = lock.read_text()
        rc, out, err = cli(*command, "--config", path)
        assert rc == 0, (command, err)
        if json.loads(text)["cells"]["pearl:gogh"]["content"] == content:
            assert f"{lock}: cell 'pearl:gogh': entry ignored ('content" in err, err
    assert json.loads(lock.read_text())["cells"]["pearl:gogh"]["content"]["id"] == "pearl"  # rewritten


def test_a_lock_file_that_is_a_folder_is_a_clear_error(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    lock = path.with_suffix(".lock.json")
    lock.unlink()
    lock.mkdir()
    for command in ("status", "render", "gallery"):
        rc, out, err = cli(command, "--config", path)
        assert rc == 1 and f"{lock} is a folder, not a lock file" in err, (command, err)


# ---------------------------------------------------------------- 10: a read-only cache

def test_a_fully_cached_gallery_builds_from_a_read_only_cache(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery, styles=("gogh", "munch"))
    assert cli("build", "--config", path)[0] == 0
    shutil.rmtree(tmp_path / "site")
    with fs_guard.read_only(tmp_path / "renders") as guard:
        for command in (["status"], ["render"], ["gallery", "--no-fetch"], ["build"]):
            rc, out, err = cli(*command, "--config", path)
            assert rc == 0, (command, err)
    assert (tmp_path / "site" / "index.html").is_file()
    assert len(list((tmp_path / "site" / "render").glob("*.html"))) == 2


# ---------------------------------------------------------------- 11: a full disk

def test_a_full_disk_gives_the_message_not_a_traceback(make_gallery, cli, tmp_path, fake_renderer, monkeypatch):
    path = make_gallery(render={"size": 64, "preset": "draft"})
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    rc, out, err = cli("render", "--config", path)
    assert rc == 1 and "cannot write the render cache" in err and "free some space" in err, err
    assert str(tmp_path / "renders") in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert cli("render", "--config", path)[0] == 0
    monkeypatch.setattr(os, "fsync", full)
    rc, out, err = cli("build", "--config", path)
    assert rc == 1 and "No space left on device" in err and "free some space" in err, err
    assert f"cannot write {tmp_path}" in err and "Traceback" not in err


# ---------------------------------------------------------------- 12: prune and web images

def test_prune_removes_web_images_no_page_uses_and_stale_temp_files(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery, styles=("gogh", "munch"))
    assert cli("build", "--config", path)[0] == 0
    variants = tmp_path / "renders" / "variants"
    before = len(list(variants.glob("*/*")))  # pearl, gogh, munch, the two renders (and sliders)
    from pipeline.site.web_images import DEFAULT_SETTINGS, variant_key

    pearl = variant_key(f"content:{sha256(tmp_path / 'images' / 'content' / 'pearl.png')}", DEFAULT_SETTINGS)
    keep_one = variants / pearl[:2] / pearl  # pearl stays in the gallery
    stale = keep_one / ".160.jpg.abcdef.tmp"
    stale.write_bytes(b"half a file")
    an_hour_ago = time.time() - 7200
    os.utime(stale, (an_hour_ago, an_hour_ago))
    # munch leaves the gallery: its render and its web images (and the render's, and its download) are unused
    path.write_text(path.read_text().replace("- id: munch\n  title: Munch\n  file: images/style/munch.png\n", ""))
    assert "munch" not in path.read_text()
    rc, out, err = cli("prune", "--config", path, "--yes")
    assert rc == 0, err
    assert "3 web image sets no page uses and 1 interrupted write" in out, out
    assert len(list(variants.glob("*/*"))) == before - 3 and not stale.exists()  # munch's, pearl:munch's and its download
    rc, out, err = cli("build", "--config", path)
    assert rc == 0 and "0 images encoded" in out  # nothing this gallery shows was pruned


# ---------------------------------------------------------------- 13: a swapped pinned image

@pytest.mark.parametrize("how", ["replaced", "in place"])
def test_a_pinned_image_swapped_for_one_of_the_same_size_and_mtime_is_caught(make_gallery, cli, tmp_path, how):
    image = write_image(tmp_path / "images" / "pearl.bmp", (40, 30), seed=1)
    path = make_gallery(contents=[{"id": "pearl", "file": "images/pearl.bmp", "sha256": sha256(image)}])
    (tmp_path / "renders" / ".mutexes").mkdir(parents=True)  # the memo lives in a cache the pipeline made
    assert cli("validate", "--config", path)[0] == 0
    assert (tmp_path / "renders" / ".memo.json").is_file()
    st = image.stat()
    other = write_image(tmp_path / "other.bmp", (40, 30), seed=7)
    assert other.stat().st_size == st.st_size and sha256(other) != sha256(image)
    if how == "replaced":
        os.replace(other, image)
    else:
        image.write_bytes(other.read_bytes())
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (image.stat().st_size, image.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "has sha256" in err and "not the pinned 'sha256'" in err, out + err
