"""`render`, `gallery` and make -jN: only missing cells render, once, even with two runs at once."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gallery_fakes import REPO, FakeRenderer, build_gallery, cli_on, fill_cache, run_driver, with_style
from pipeline.render import threads as render_threads
from pipeline.cli import report
from pipeline.util.mutex import Mutex
from pipeline.cli.app import main
from pipeline.plan.lockfile import read_lock
from pipeline.core.params import DEFAULTS
from pipeline.plan.planner import make_plan


def test_render_only_what_is_missing_then_nothing(tmp_path, monkeypatch, fake_renderer, capsys):
    g = build_gallery(tmp_path, exclude={("vinci", "munch")})
    main = cli_on(g, fake_renderer)
    assert main(["render", "--quiet"]) == 0
    assert len(fake_renderer) == 3 and "rendered 3 cells" in capsys.readouterr().out
    plan = make_plan(g)
    assert [c.state for c in plan.cells] == ["cached", "cached", "cached", "excluded"]
    record = json.loads(plan.cells[0].record.read_text())
    assert record["key"] == plan.cells[0].key and record["inputs"]["content"]["id"] == "pearl"
    assert record["created_with"]["pipeline"] and record["levels"] and record["final"]
    lock_text = g.lock_path.read_text()
    assert set(read_lock(g.lock_path)) == {"pearl:gogh", "pearl:munch", "vinci:gogh"}
    assert read_lock(g.lock_path)["pearl:gogh"]["seconds"] == 2.5

    assert main(["render", "--quiet"]) == 0
    assert len(fake_renderer) == 3 and "nothing to render: 3 cells cached" in capsys.readouterr().out
    assert g.lock_path.read_text() == lock_text


@pytest.mark.parametrize("argv, makeflags, want", [
    (["render"], None, True),                              # a bar on a terminal, lines in a log
    (["render", "--quiet"], None, False),
    (["render", "--cell", "pearl:gogh"], " -j2 --jobserver-auth=3,4", True),  # one cell: in this process
    (["render", "--cell", "pearl:gogh"], "", True),         # plain make
    (["render", "--cell", "pearl:gogh", "--quiet"], "", False),
])
def test_each_render_shows_progress_unless_quiet(tmp_path, monkeypatch, capsys, argv, makeflags, want):
    monkeypatch.setattr(report, "LINE_INTERVAL_S", 0.0)  # a line for each iteration (not a terminal)
    renderer = FakeRenderer()
    main = cli_on(build_gallery(tmp_path), renderer)
    if makeflags is None:
        monkeypatch.delenv("MAKEFLAGS", raising=False)
    else:
        monkeypatch.setenv("MAKEFLAGS", makeflags)
    assert main(argv) == 0 and renderer
    err = capsys.readouterr().err
    # the line names the cell, its iterations and the level's size
    assert ("pearl:gogh: 1/1 iterations (32x21), " in err) == want and ("iterations" in err) == want, err


def test_add_a_style_renders_its_column_and_a_param_change_only_its_column(tmp_path, monkeypatch, fake_renderer):
    g = build_gallery(tmp_path, contents=("a", "b", "c"), styles=("x", "y", "z"))
    main = cli_on(g, fake_renderer)
    main(["render", "--quiet"])
    assert len(fake_renderer) == 9
    fake_renderer.clear()
    bigger = build_gallery(tmp_path, contents=("a", "b", "c"), styles=("x", "y", "z", "w"))
    main = cli_on(bigger, fake_renderer)
    main(["render", "--quiet"])
    assert len(fake_renderer) == 3
    fake_renderer.clear()
    weight = DEFAULTS["style_weight"] + 4
    main = cli_on(with_style(bigger, "y", render={"style_weight": weight}), fake_renderer)
    main(["render", "--quiet"])
    assert len(fake_renderer) == 3 and {p.style_weight for p in fake_renderer} == {weight}
    entry = read_lock(bigger.lock_path)["b:y"]
    assert entry["params"]["style_weight"] == weight


def test_render_one_cell_and_clear_errors(tmp_path, monkeypatch, fake_renderer, capsys):
    main = cli_on(build_gallery(tmp_path, exclude={("vinci", "munch")}), fake_renderer)
    assert main(["render", "--cell", "vinci:gogh"]) == 0
    # the time left is measured by the render just made (2.5 s for each of the 2 cells left)
    assert len(fake_renderer) == 1 and "1 of 3 cells now cached; about 5 s of rendering left\n" in capsys.readouterr().out
    assert main(["render", "--cell", "vinci:gogh"]) == 0
    assert len(fake_renderer) == 1 and "cached" in capsys.readouterr().out
    assert main(["render", "--cell", "vinci:nope"]) == 1
    assert "no such cell" in capsys.readouterr().err
    assert main(["render", "--cell", "vinci:munch"]) == 1
    assert "excluded" in capsys.readouterr().err
    assert main(["render", "--shard", "3/2"]) == 1
    assert "want K/N" in capsys.readouterr().err


def test_shards_render_disjoint_parts_and_a_plain_render_merges_the_lock(tmp_path, monkeypatch, fake_renderer):
    g = build_gallery(tmp_path, contents=("a", "b", "c"), styles=("x", "y"))
    main = cli_on(g, fake_renderer)
    assert main(["render", "--shard", "1/2", "--quiet"]) == 0
    first = len(fake_renderer)
    assert main(["render", "--shard", "2/2", "--quiet"]) == 0
    assert first == 3 and len(fake_renderer) == 6
    assert not g.lock_path.exists()  # shards leave the lock file to the run after the merge
    assert main(["render", "--quiet"]) == 0 and len(fake_renderer) == 6
    assert len(read_lock(g.lock_path)) == 6


def test_shards_on_two_machines_merge_by_copying(tmp_path, monkeypatch, fake_renderer):
    """Two caches filled by two shards; copying one folder into the other completes the gallery."""
    import shutil

    a = build_gallery(tmp_path / "a")
    main = cli_on(a, fake_renderer)
    assert main(["render", "--shard", "1/2", "--quiet", "--cache", str(tmp_path / "one")]) == 0
    assert main(["render", "--shard", "2/2", "--quiet", "--cache", str(tmp_path / "two")]) == 0
    assert len(fake_renderer) == 4 and not a.cache.exists()
    for shard in ("one", "two"):
        shutil.copytree(tmp_path / shard, a.cache, dirs_exist_ok=True)
    fake_renderer.clear()
    main(["render", "--quiet"])
    assert not fake_renderer and all(c.state == "cached" for c in make_plan(a).cells)
    assert len(read_lock(a.lock_path)) == 4


def test_two_runs_at_once_render_every_cell_once(tmp_path):
    g = build_gallery(tmp_path, contents=("a", "b"), styles=("x", "y", "z"))
    log = tmp_path / "renders.log"
    env = {"FAKE_RENDER": "1", "FAKE_SLEEP": "0.3", "FAKE_LOG": str(log)}
    procs = [run_driver(g, "render", "--quiet", env=env, wait=False) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    pairs = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(pairs) == 6 and len(set(pairs)) == 6  # every cell rendered exactly once
    assert len({line.split()[1] for line in log.read_text().splitlines()}) == 2  # both did work
    plan = make_plan(g)
    assert all(c.state == "cached" for c in plan.cells)
    assert read_lock(g.lock_path) == plan.synced_lock()


def test_a_run_waits_for_a_cell_another_run_holds(tmp_path):
    g = build_gallery(tmp_path)
    log = tmp_path / "renders.log"
    env = {"FAKE_RENDER": "1", "FAKE_SLEEP": "1.5", "FAKE_LOG": str(log)}
    first = run_driver(g, "render", "--cell", "pearl:gogh", env=env, wait=False)
    key = make_plan(g).cell("pearl", "gogh").key
    probe = Mutex(g.cache / ".mutexes" / f"{key}.mutex")
    deadline = time.time() + 30
    while probe.acquire(blocking=False):  # wait until the first run holds the cell
        probe.release()
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    second = run_driver(g, "render", "--cell", "pearl:gogh", env=env)
    first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "another process holds" in second.stderr and "waiting" in second.stderr
    assert "rendered meanwhile by another process" in second.stdout
    assert len(log.read_text().splitlines()) == 1


@pytest.mark.parametrize("makeflags,cpus,expected", [
    (None, 8, None), ("", 8, None), (" -j2 --jobserver-auth=3,4", 2, 1), ("-j4", 16, 4),
    ("k -j3", 8, 2), ("-j", 8, 1), ("--jobs=2", 8, 4), ("-j16", 2, 1)])
def test_make_jobs_split_the_cores(makeflags, cpus, expected):
    env = {} if makeflags is None else {"MAKEFLAGS": makeflags}
    assert render_threads.split_threads(render_threads.jobs_from_make(env, cpus=cpus), env, cpus=cpus) == expected
    if expected:
        assert env["GALLERY_THREADS"] == env["OMP_NUM_THREADS"] == str(expected)


def test_a_thread_count_the_user_set_wins():
    env = {"MAKEFLAGS": "-j2", "GALLERY_THREADS": "3"}
    assert render_threads.split_threads(render_threads.jobs_from_make(env, cpus=8), env, cpus=8) == 3
    assert env["OMP_NUM_THREADS"] == "4"


def test_gallery_renders_then_builds_the_site_with_the_plan(tmp_path, monkeypatch, fake_renderer, capsys):
    import pipeline.site.builder

    g = build_gallery(tmp_path)
    main = cli_on(g, fake_renderer)
    built = []
    monkeypatch.setattr(pipeline.site.builder, "build_site", lambda gallery, plan=None, quiet=False: built.append(plan))
    assert main(["gallery", "--no-fetch", "--quiet"]) == 0
    assert len(fake_renderer) == 4 and len(built) == 1
    assert [c.state for c in built[0].cells] == ["cached"] * 4
    assert len(read_lock(g.lock_path)) == 4


def test_real_manifest_no_op_gallery_never_imports_torch(make_gallery, tmp_path):
    """Through the real manifest loader and site stage: the whole no-op `make gallery` path."""
    from pipeline.manifest.reader import load_gallery

    manifest = make_gallery(contents=("pearl", "vinci"), styles=("gogh", "munch"), render={"size": 32})
    fill_cache(load_gallery(manifest))
    code = ("import sys; from pipeline.cli import main\n"
            f"for cmd in (['validate'], ['status'], ['gallery', '--no-fetch', '--quiet']):\n"
            f"    assert main([*cmd, '--config', {str(manifest)!r}]) == 0, cmd\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 cells rendered, 0 missing" in r.stdout


@pytest.mark.skipif(importlib.util.find_spec("pipeline.render.gatys.core") is None, reason="renderer not written yet")
def test_real_stylize_at_32_px(tmp_path, monkeypatch):
    g = build_gallery(tmp_path, contents=("pearl",), styles=("gogh",),
                      render={"size": 32, "min_size": 32, "iterations": [3]})
    main = cli_on(g)
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    assert main(["render", "--quiet"]) == 0
    cell = make_plan(g).cells[0]
    assert cell.state == "cached"
    record = json.loads(cell.record.read_text())
    assert record["key"] == cell.key and record["seconds"] > 0 and "torch" in record["created_with"]
    from PIL import Image
    assert max(Image.open(cell.image).size) == 32


def _fake_make(tmp_path, manifest, sleep: float) -> tuple[list[str], dict[str, str], Path]:
    """The real Makefile driving the CLI with the fake renderer: (make argv, env, the fake's log)."""
    log = tmp_path / "renders.log"
    fake_py = tmp_path / "python"
    fake_py.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'tests')!r}, {str(REPO)!r}]\n"
        "from gallery_fakes import FakeRenderer\n"
        "from pipeline.cli.app import main\n"
        "sys.exit(main(sys.argv[3:], renderer=FakeRenderer()))\n")  # after `-m pipeline`
    fake_py.chmod(0o755)
    stamp = tmp_path / "installed"
    stamp.touch()
    # Isolated from a parent make (`make test ARGS=...` exports its command-line variables).
    # Thread counts the user set would turn off the split (and the lone worker's growth).
    parent_make = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ARGS", "CONFIG", "PY",
                   "GALLERY_THREADS", "OMP_NUM_THREADS")
    env = {**{k: v for k, v in os.environ.items() if k not in parent_make},
           "FAKE_LOG": str(log), "FAKE_SLEEP": str(sleep)}
    args = ["make", "--no-print-directory", "-C", str(REPO), f"CONFIG={manifest}", f"PY={fake_py}",
            f"STAMP={stamp}", "ARGS="]
    return args, env, log


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_j2_render_runs_cells_in_parallel_with_one_thread_each(make_gallery, tmp_path):
    """The real Makefile: one process, two workers under -j2, the cores split between them."""
    manifest = make_gallery(contents=("a", "b"), styles=("x", "y"), render={"size": 16})
    args, env, log = _fake_make(tmp_path, manifest, sleep=0.2)
    dry = subprocess.run([*args, "-n", "render"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("-m pipeline render") == 1 and not log.exists()

    r = subprocess.run([*args, "-j2", "render"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(set(line.split()[0] for line in log.read_text().splitlines())) == 4
    threads = [line.split()[2] for line in log.read_text().splitlines()]
    assert threads == [str(max(1, render_threads.available_cpus() // 2))] * 4
    assert "1 thread" in r.stdout or render_threads.available_cpus() > 3
    from pipeline.manifest.reader import load_gallery
    g = load_gallery(manifest)
    assert all(c.state == "cached" for c in make_plan(g).cells)
    assert len(read_lock(g.lock_path)) == 4

    again = subprocess.run([*args, "-j2", "render"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to render: 4 cells cached" in again.stdout
    assert len(log.read_text().splitlines()) == 4


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_j2_a_worker_left_alone_takes_the_idle_cores(make_gallery, tmp_path):
    """3 cells under -j2: the third ends alone and must not stay on half the cores (at 512 px
    that lone tail made `make -j2` slower than `make`)."""
    manifest = make_gallery(contents=("a", "b", "c"), styles=("x",), render={"size": 16})
    args, env, log = _fake_make(tmp_path, manifest, sleep=2.0)
    r = subprocess.run([*args, "-j2", "render"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "per worker, 2 workers, more once fewer cells are left" in r.stdout or render_threads.available_cpus() < 2
    # Each fake render polls the thread count it is given through its sleep: "<min> <max>".
    seen = [tuple(map(int, line.split()[3:5])) for line in log.read_text().splitlines()]
    cpus, half = render_threads.available_cpus(), max(1, render_threads.available_cpus() // 2)
    assert len(seen) == 3
    assert seen[0][0] == half and seen[1][0] == half  # the first two ran side by side
    assert seen[2][1] == cpus  # the last one, once alone, used every core
    assert all(lo >= 1 and hi <= cpus for lo, hi in seen)
    workers = Path(manifest).parent / "renders" / ".mutexes" / "workers"
    assert list(workers.glob("*.slot")) == []  # every worker removed its entry


def test_workers_count_only_live_workers(tmp_path):
    from pipeline.render.threads import Workers

    folder = tmp_path / "workers"
    with Workers(folder, cpus=4) as me:
        assert me.running() == 1 and me.threads() == 4
        (folder / f"{me.prefix}999999.slot").write_text("")  # a dead worker's file: nobody locks it
        (folder / "other-host-1.slot").write_text("")  # another machine sharing the cache
        assert me.running() == 1
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys, time; sys.path.insert(0, %r)\n"
            "from pipeline.render.threads import Workers\n"
            "with Workers(%r, 4):\n"
            "    print('in', flush=True); time.sleep(30)") % (str(REPO), str(folder))],
            stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "in"
            assert me.running() == 2 and me.threads() == 2
        finally:
            child.kill()
            child.wait(timeout=10)
        assert me.running() == 1 and me.threads() == 4  # killed: the OS dropped its lock
    assert not me.path.exists()
    assert Workers(folder, cpus=3).threads() == 3


def test_an_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch, fake_renderer, capsys):
    g = build_gallery(tmp_path)
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    main = cli_on(dataclasses.replace(g, cache=tmp_path / "blocked" / "renders"), fake_renderer)
    assert main(["render", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot write the render cache" in err and "blocked" in err and "Traceback" not in err
