"""The cache and the lock file: what counts as an entry, kill -9 at any moment, prune, flocks."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import time

import pytest
from PIL import Image

from gallery_fakes import build_gallery, cli_on, fill_cache, run_driver, with_style
from pipeline.cli import plan_cmds as plan_cli
from pipeline.plan.cache import Cache, Mutex
from pipeline.util.errors import GalleryError
from pipeline.plan.lockfile import dumps_lock, read_lock, update_lock
from pipeline.plan.planner import make_plan

KEY = "ab" + "0" * 62


def test_an_entry_is_cached_only_when_complete(tmp_path):
    cache = Cache(tmp_path)
    assert not cache.has(KEY)
    cache.store(KEY, Image.new("RGB", (4, 4), (1, 2, 3)), {"seconds": 1.0})
    assert cache.image_path(KEY) == tmp_path / "ab" / f"{KEY}.png"
    assert Cache(tmp_path).has(KEY)
    assert Image.open(cache.image_path(KEY)).getpixel((0, 0)) == (1, 2, 3)  # lossless
    assert json.loads(cache.record_path(KEY).read_text())["key"] == KEY

    for broken in ("{not json", json.dumps({"key": "other"}), "[]"):
        cache.record_path(KEY).write_text(broken)
        assert not Cache(tmp_path).has(KEY), broken
    cache.store(KEY, Image.new("RGB", (4, 4)), {})
    cache.image_path(KEY).unlink()
    assert not Cache(tmp_path).has(KEY)
    cache.store(KEY, Image.new("RGB", (4, 4)), {})
    cache.record_path(KEY).unlink()
    assert not Cache(tmp_path).has(KEY)


def test_lock_file_is_deterministic_and_rewritten_only_on_change(tmp_path):
    def entry(c: str, s: str, key: str, **more) -> dict:
        return {"content": {"id": c, "sha256": "c" * 64}, "style": {"id": s, "sha256": "d" * 64},
                "key": key * 64, **more}

    cells = {"b:y": entry("b", "y", "2", params={"iterations": [3, 2], "size": 32}), "a:x": entry("a", "x", "1")}
    text = dumps_lock(cells)
    assert text == dumps_lock(dict(reversed(cells.items())))
    assert text.endswith("}\n") and text.index('"a:x"') < text.index('"b:y"')
    assert '"iterations": [3, 2]' in text
    path = tmp_path / "gallery.lock.json"
    guard = Mutex(tmp_path / "guard.lock")
    assert update_lock(path, guard, lambda old: cells)
    assert read_lock(path) == cells
    assert not update_lock(path, guard, lambda old: dict(old))


@pytest.mark.parametrize("text", ["<<<<<<< HEAD\n{}", '{"version": 1}', '{"version": 9, "cells": {}}'])
def test_a_broken_lock_file_is_a_clear_error(tmp_path, text):
    path = tmp_path / "gallery.lock.json"
    path.write_text(text)
    with pytest.raises(GalleryError, match="gallery.lock.json.*delete it"):
        read_lock(path)


def test_file_lock_excludes_a_second_holder(tmp_path):
    a, b = Mutex(tmp_path / "x.lock"), Mutex(tmp_path / "x.lock")
    assert a.acquire(blocking=False)
    assert not b.acquire(blocking=False)
    a.release()
    assert b.acquire(blocking=False)
    b.release()


def test_prune_lists_then_deletes_only_unused_entries(tmp_path, monkeypatch, capsys):
    g = build_gallery(tmp_path)
    fill_cache(g)
    old = {c.key for c in make_plan(g).cells}
    g2 = with_style(g, "gogh", render={"style_weight": 2.0})
    fill_cache(g2)
    current = {c.key for c in make_plan(g2).cells}
    stale_tmp = g.cache / "ab" / f".{KEY}.png.x1.tmp"
    fresh_tmp = g.cache / "ab" / f".{KEY}.json.x2.tmp"
    for p in (stale_tmp, fresh_tmp):
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"half")
    os.utime(stale_tmp, (time.time() - 7200, time.time() - 7200))
    main = cli_on(g2)

    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert "3 cache entries no cell uses" in out and "nothing deleted" in out
    assert "was pearl:gogh" in out and "interrupted write" in out
    assert set(Cache(g.cache).entries()) == old | current | {KEY}

    assert main(["prune", "--yes"]) == 0
    assert "deleted 3 entries" in capsys.readouterr().out
    assert set(Cache(g.cache).entries()) == current | {KEY}  # the young temp file may be a live write
    assert fresh_tmp.exists() and not stale_tmp.exists()
    assert all(c.state == "cached" for c in make_plan(g2).cells)

    excluded = dataclasses.replace(g2, exclude=frozenset({("pearl", "munch")}))
    main = cli_on(excluded)
    assert main(["prune", "--yes"]) == 0
    assert "was pearl:munch" in capsys.readouterr().out


def test_collect_keeps_an_entry_being_rendered_and_takes_a_corrupt_one(tmp_path):
    g = build_gallery(tmp_path)
    fill_cache(g)
    cells = make_plan(g).cells
    cache = Cache(g.cache)
    keep = {c.key for c in cells[1:]}  # the first cell's render is garbage; the second is corrupt
    found = cache.collect(keep, {cells[1].key: "sha256 differs"})
    assert sorted((x.key, x.cell, x.corrupt) for x in found.garbage) == sorted(
        [(cells[0].key, cells[0].name, ""), (cells[1].key, cells[1].name, "sha256 differs")])
    assert all(x.bytes == sum(p.stat().st_size for p in x.files) > 0 for x in found.garbage)
    assert set(Cache(g.cache).entries()) == {c.key for c in cells}  # listing deletes nothing

    with Mutex(g.cache / ".mutexes" / f"{cells[0].key}.mutex"):  # being rendered right now
        deleted = cache.collect(keep, {cells[1].key: "sha256 differs"}, delete=True)
    assert deleted.busy == [cells[0].key] and deleted.deleted == 1
    assert set(Cache(g.cache).entries()) == {c.key for c in cells} - {cells[1].key}
    assert cache.collect(keep, delete=True).deleted == 1
    assert set(Cache(g.cache).entries()) == {c.key for c in cells[1:]} - {cells[1].key}


def test_prune_keeps_the_renders_a_manifest_beside_it_still_uses(tmp_path, monkeypatch, capsys):
    # Met as a new user: a copy of the demo manifest shares its cache; removing a content from
    # the copy made `prune --yes` offer, and delete, renders the original gallery still showed.
    g = build_gallery(tmp_path)
    fill_cache(g)  # gallery.yaml: its 4 cells, named by gallery.lock.json
    copy = dataclasses.replace(g, path=tmp_path / "copy.yaml",
                               contents=tuple(c for c in g.contents if c.id != "vinci"))
    copy.path.write_text("# a copy of the manifest without vinci\n")
    fill_cache(with_style(copy, "gogh", render={"style_weight": 2.0}))  # an entry only the copy made
    main = cli_on(copy)
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"kept: 2 entries that \S*/gallery.lock.json \(another manifest's lock file\) "
                     r"names", out), out
    assert "1 cache entry no cell uses" in out and "was pearl:gogh" in out
    assert "vinci" not in out

    (tmp_path / "gallery.lock.json").unlink()  # no lock beside: the original's renders are offered
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert "kept:" not in out and "3 cache entries no cell uses" in out
    assert "was vinci:gogh" in out and "was vinci:munch" in out


def test_prunes_hint_names_the_manifest_and_the_way_it_was_run(tmp_path, monkeypatch, capsys):
    # `make prune CONFIG=config/fourth.yaml` said to run `python -m pipeline prune --yes`: that
    # prunes config/gallery.yaml's cache use instead, and not the way the user runs things.
    g = build_gallery(tmp_path)
    fill_cache(g)
    fill_cache(with_style(g, "gogh", render={"style_weight": 2.0}))
    main = cli_on(g)
    monkeypatch.delenv("MAKELEVEL", raising=False)
    assert main(["prune", "--config", "config/fourth.yaml"]) == 0
    assert "run `python -m pipeline prune --yes --config config/fourth.yaml` to delete" in capsys.readouterr().out
    assert main(["prune"]) == 0
    assert "run `python -m pipeline prune --yes` to delete" in capsys.readouterr().out
    monkeypatch.setenv("MAKELEVEL", "1")
    assert main(["prune", "--config", "config/fourth.yaml"]) == 0
    assert "run `make prune CONFIG=config/fourth.yaml ARGS=--yes` to delete" in capsys.readouterr().out
    main = cli_on(with_style(g, "gogh", render={"style_weight": 3.0}))
    assert main(["status", "--config", "config/fourth.yaml"]) == 0
    assert ("next: `make gallery CONFIG=config/fourth.yaml` renders them (`make -j2 gallery "
            "CONFIG=config/fourth.yaml`: two at a time)") in capsys.readouterr().out


@pytest.mark.parametrize("phase", ["image", "record"])
def test_kill_9_mid_write_leaves_no_entry_and_the_rerun_completes(tmp_path, phase):
    g = build_gallery(tmp_path)
    marker = tmp_path / "hanging"
    proc = run_driver(g, "render", "--quiet", wait=False,
                      env={"FAKE_RENDER": "1", "FAKE_HANG": phase, "FAKE_HANG_MARKER": str(marker)})
    try:
        deadline = time.time() + 60
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    plan = make_plan(g)
    first = plan.cells[0]
    assert first.state == "render" and first.reasons
    assert all(c.state == "render" for c in plan.cells)
    leftovers = [p.name for files in Cache(g.cache).entries().values() for p in files]
    assert leftovers  # the half-written temp file or the record-less image...
    assert not any(p.endswith(".json") for p in leftovers)  # ...but never a record: no entry

    r = run_driver(g, "render", "--quiet", env={"FAKE_RENDER": "1"})
    assert r.returncode == 0, r.stderr
    assert "rendered 4 cells" in r.stdout
    plan = make_plan(g)
    assert all(c.state == "cached" for c in plan.cells)
    names = {p.name for files in Cache(g.cache).entries().values() for p in files}
    assert not [n for n in names if n.endswith(".tmp")]  # the rerun cleaned up after the killed one
    assert set(read_lock(g.lock_path)) == {c.name for c in plan.cells}


def test_the_memo_skips_parsing_but_never_hides_a_change(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    cache.store(KEY, Image.new("RGB", (4, 4)), {"seconds": 3.0, "device": "cpu", "threads": 1,
                                                "thread_changes": [{"level": 2, "threads": 2}]})
    assert cache.summary(KEY) == {"seconds": 3.0, "device": "cpu", "threads": 2}
    cache.memo.save()
    again = Cache(tmp_path)
    monkeypatch.setattr(Cache, "read_record", lambda self, key: pytest.fail("parsed despite the memo"))
    assert again.has(KEY)
    monkeypatch.undo()
    cache.record_path(KEY).write_text('{"key": "another"}')  # other size and mtime: parsed again
    assert not Cache(tmp_path).has(KEY)
    cache.store(KEY, Image.new("RGB", (4, 4)), {})
    Cache(tmp_path).memo.save()
    cache.image_path(KEY).unlink()
    assert not Cache(tmp_path).has(KEY)

    img = tmp_path / "in.bin"
    img.write_bytes(b"one")
    first = cache.file_sha256(img)
    cache.memo.save()
    img.write_bytes(b"two!")
    assert Cache(tmp_path).file_sha256(img) != first


def test_ctrl_c_mid_write_cleans_up_and_says_how_to_go_on(tmp_path):
    g = build_gallery(tmp_path)
    marker = tmp_path / "hanging"
    # (conftest.py gives the suite Ctrl+C's default, so the child starts with it too)
    proc = run_driver(g, "render", "--quiet", wait=False,
                      env={"FAKE_RENDER": "1", "FAKE_HANG": "image", "FAKE_HANG_MARKER": str(marker)})
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "run the command again to continue" in err
    assert "Traceback" not in err
    assert Cache(g.cache).entries() == {}  # not even a temp file
