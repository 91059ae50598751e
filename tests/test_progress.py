"""Render progress: a bar on a terminal, a timed line in logs (cost-weighted ETA), or nothing."""
from __future__ import annotations

import sys

import pytest

from pipeline.util import progress
from pipeline.util.progress import Progress, duration, mode_for


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_lines_come_at_the_interval_with_an_eta_weighted_by_cost(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 10.0)
    clock = Clock()
    # two cheap iterations (a quarter of the pixels) then two full-size ones: 2.5 units of work
    p = Progress(4, mode="lines", label="pearl:gogh", work=2.5, clock=clock)
    p.set_description("256x256", step_cost=0.25)
    clock.t += 5
    p.update(1)
    assert capsys.readouterr().err == ""  # not yet 10 s
    clock.t += 5
    p.update(1)
    # 0.5 of 2.5 done in 10 s: 40 s left (counting iterations alike would say 10 s)
    assert capsys.readouterr().err == "pearl:gogh: 2/4 iterations (256x256), 10 s so far, about 40 s left\n"
    p.set_description("512x512", step_cost=1.0)
    clock.t += 3
    p.update(1)
    assert capsys.readouterr().err == ""  # 3 s since the last line
    clock.t += 20
    p.update(1)
    assert capsys.readouterr().err == "pearl:gogh: 4/4 iterations (512x512), 33 s so far, about 0 s left\n"


def test_off_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    p = Progress(3, mode="off")
    p.update(3)
    p.close()
    assert capsys.readouterr().err == ""


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


def test_a_render_in_a_log_reports_its_levels(monkeypatch, capsys):
    pytest.importorskip("torch")
    from test_render import content_image, style_image, tiny

    from pipeline.render.gatys.core import stylize

    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    stylize(content_image(), style_image(), tiny(iterations=(2, 2)), progress=True, label="a:b")
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"a:b: {i}/4 iterations" for i in (1, 2, 3, 4)]
    assert "(45x27)" in lines[0] and "(64x38)" in lines[3] and lines[3].endswith("about 0 s left")
