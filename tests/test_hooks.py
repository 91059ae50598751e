"""The run's named hooks (pipeline/plugins/): the extras every run has are registered in one
place, a run without them is the gallery's own sequence, and a hook of one's own sees what the
docs say (the cells about to render, each new render in the process that made it, the end)."""
from __future__ import annotations

import dataclasses
import os

import pytest

from gallery_fakes import FakeRenderer, build_gallery
from pipeline import runner
from pipeline.events import Pulled
from pipeline.plan.remote import Remote
from pipeline.plugins import remote as remote_cache
from pipeline.plugins import tryit as tryit_vectors
from pipeline.plugins.hooks import Hooks
from pipeline.util.errors import GalleryError


def test_the_default_extras_are_the_remote_cache_and_the_try_it_vectors():
    hooks = runner.default_hooks()
    assert hooks == Hooks([remote_cache.pull], [remote_cache.push], [remote_cache.check], [tryit_vectors.style_vectors])


def _remote(tmp_path, monkeypatch) -> str:
    url = (tmp_path / "shared").as_uri()
    monkeypatch.setenv("GALLERY_REMOTE", url)
    return url


def test_the_remote_cache_pulls_pushes_and_checks_through_the_hooks(tmp_path, monkeypatch):
    url = _remote(tmp_path, monkeypatch)
    a = build_gallery(tmp_path / "a")
    report = runner.run(a, renderer=FakeRenderer())
    assert report.rendered == 4 and report.pulled == 0
    assert len(Remote(url, {}).keys()) == 4  # each pushed after its render
    b = dataclasses.replace(a, cache=tmp_path / "b")
    renderer, events = FakeRenderer(), []
    report = runner.run(b, renderer=renderer, on_event=events.append)
    assert renderer == [] and report.pulled == 4 and report.rendered == 0
    assert [type(e) for e in events if isinstance(e, Pulled)] == [Pulled]


def test_a_run_without_the_extras_neither_pulls_nor_pushes(tmp_path, monkeypatch):
    url = _remote(tmp_path, monkeypatch)
    a = build_gallery(tmp_path / "a")
    runner.run(a, renderer=FakeRenderer())
    b = dataclasses.replace(a, cache=tmp_path / "b")
    renderer = FakeRenderer()
    report = runner.run(b, renderer=renderer, hooks=Hooks([], [], [], []))
    assert len(renderer) == 4 and report.pulled == 0  # the remote had them all: not asked
    c = build_gallery(tmp_path / "c", render={"size": 48})  # other keys
    assert runner.run(c, renderer=FakeRenderer(), hooks=Hooks([], [], [], [])).rendered == 4
    assert len(Remote(url, {}).keys()) == 4  # c's renders were not pushed


def test_a_hook_of_ones_own_sees_the_cells_each_render_and_the_end(tmp_path, monkeypatch):
    monkeypatch.delenv("GALLERY_REMOTE", raising=False)
    g = build_gallery(tmp_path / "g", contents=("a", "b", "c"), styles=("x",))
    log = tmp_path / "hooks.log"

    def note(line: str) -> None:
        with open(log, "a") as f:
            f.write(f"{line}\n")

    def skip_first(run):
        note("before " + " ".join(c.name for c in run.missing))
        run.missing = run.missing[1:]  # as a pull takes off what the remote had

    hooks = Hooks([skip_first], [lambda run, cell: note(f"each {cell.name} {os.getpid()}")],
                  [lambda run: note(f"after {len(run.missing)}")], [lambda run: note("site")])
    renderer = FakeRenderer()
    report = runner.run(g, renderer=renderer, hooks=hooks, jobs=2)
    lines = log.read_text().splitlines()
    assert lines[0] == "before a:x b:x c:x" and lines[-1] == "after 2"  # no site built: no "site"
    each = sorted(line.split()[1] for line in lines[1:-1])
    assert each == ["b:x", "c:x"] and report.rendered == 2
    pids = {line.split()[2] for line in lines[1:-1]}
    assert str(os.getpid()) not in pids  # called in the forked workers that rendered them


def test_the_site_reads_the_vectors_the_run_computed_before_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GALLERY_REMOTE", raising=False)
    g = build_gallery(tmp_path / "g", contents=("a",), styles=("x", "y"))
    runner.run(g, renderer=FakeRenderer())
    default = runner.default_hooks()
    without = Hooks(default.before_render, default.after_each, default.after_render, [])
    with pytest.raises(GalleryError, match="style 'x': its try-it style vector is not in"):
        runner.run(g, select=runner.NOTHING, build_site=True, hooks=without)
    report = runner.run(g, select=runner.NOTHING, build_site=True)
    assert report.site.files and (g.site.output / "try-it.html").is_file()
    assert len(list((g.cache / "try-it" / "vectors").glob("*.json"))) == 2
    off = dataclasses.replace(g, site=dataclasses.replace(g.site, try_it=False, output=tmp_path / "off"))
    assert runner.run(off, select=runner.NOTHING, build_site=True, hooks=without).site.files
