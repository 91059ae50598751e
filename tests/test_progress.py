"""Render progress: the engine reports RenderSteps; the CLI shows a bar on a terminal, a timed
line in logs (cost-weighted time left), or nothing."""
from __future__ import annotations

import sys

import pytest

from pipeline.cli import report
from pipeline.cli.report import RenderProgress, mode_for
from pipeline.cli.words import duration
from pipeline.render.progress import RenderStep, Steps


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_lines_come_at_the_interval_with_an_eta_weighted_by_cost(monkeypatch, capsys):
    monkeypatch.setattr(report, "LINE_INTERVAL_S", 10.0)
    clock = Clock()
    seen: list[RenderStep] = []
    view = RenderProgress("pearl:gogh", mode="lines", clock=clock)
    # two cheap iterations (a quarter of the pixels) then two full-size ones: 2.5 units of work
    steps = Steps(4, 2.5, lambda step: (seen.append(step), view(step)))
    steps.level((256, 256), 0.25)
    clock.t += 5
    steps.step(3.0)
    assert capsys.readouterr().err == ""  # not yet 10 s
    clock.t += 5
    steps.step(2.0)
    # 0.5 of 2.5 done in 10 s: 40 s left (counting iterations alike would say 10 s)
    assert capsys.readouterr().err == "pearl:gogh: 2/4 iterations (256x256), 10 s so far, about 40 s left\n"
    steps.level((512, 512), 1.0)
    clock.t += 3
    steps.step(1.5)
    assert capsys.readouterr().err == ""  # 3 s since the last line
    clock.t += 20
    steps.step(1.0)
    assert capsys.readouterr().err == "pearl:gogh: 4/4 iterations (512x512), 33 s so far, about 0 s left\n"
    assert [(s.done, s.size, s.work_done, s.loss) for s in seen] == [
        (1, (256, 256), 0.25, 3.0), (2, (256, 256), 0.5, 2.0), (3, (512, 512), 1.5, 1.5), (4, (512, 512), 2.5, 1.0)]


def test_off_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(report, "LINE_INTERVAL_S", 0.0)
    view = RenderProgress(mode="off")
    for done in (1, 2, 3):
        view(RenderStep(done, 3, (64, 64), float(done), 3.0, 1.0))
    view.close()
    assert capsys.readouterr().err == ""


def test_a_step_counter_without_a_listener_only_counts():
    steps = Steps(2, 2.0, None)
    steps.level((8, 8), 1.0)
    steps.step(1.0)
    steps.step(0.5)
    assert (steps.done, steps.work_done) == (2, 2.0)


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (59, "59 s"), (245, "4 min 05 s"),
                                           (3720, "1 h 02 min")])
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert duration(seconds) == text


def test_mode_follows_the_terminal(monkeypatch):
    assert mode_for(False) == "off" and mode_for("lines") == "lines"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert mode_for(True) == "lines"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert mode_for(True) == "bar"


def test_a_render_reports_each_iteration_at_its_level(monkeypatch, capsys):
    pytest.importorskip("torch")
    from test_render import content_image, style_image, tiny

    from pipeline.render.gatys.core import stylize

    steps: list[RenderStep] = []
    stylize(content_image(), style_image(), tiny(iterations=(2, 2)), progress=steps.append, label="a:b")
    assert capsys.readouterr().err == ""  # the engine itself never prints
    assert [s.done for s in steps] == [1, 2, 3, 4] and {s.total for s in steps} == {4}
    assert [s.size for s in steps] == [(45, 27), (45, 27), (64, 38), (64, 38)]
    assert steps[-1].work_done == pytest.approx(steps[-1].work_total)
    monkeypatch.setattr(report, "LINE_INTERVAL_S", 0.0)
    view = RenderProgress("a:b", mode="lines")
    for step in steps:
        view(step)
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"a:b: {i}/4 iterations" for i in (1, 2, 3, 4)]
    assert "(45x27)" in lines[0] and "(64x38)" in lines[3] and lines[3].endswith("about 0 s left")
