"""The optimiser's time-lapse and its early stop, at tiny sizes."""
from __future__ import annotations

import json

import numpy as np

import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from pipeline.core import params as params_mod  # noqa: E402
from pipeline.core.params import RenderParams  # noqa: E402
from pipeline.render.gatys.core import stalled, stylize  # noqa: E402
from test_render import content_image, style_image, tiny  # noqa: E402


def test_recording_frames_does_not_change_the_render():
    p = tiny(iterations=(3, 6))
    plain = stylize(content_image(), style_image(), p, progress=False, frames=0)
    lapse = stylize(content_image(), style_image(), p, progress=False, frames=3)
    assert lapse.image.tobytes() == plain.image.tobytes()
    assert plain.frames == [] and "frames" not in plain.record
    # the start, the first level's end, and three evenly through the top level (the last: its end)
    assert [(f.level, f.iteration) for f in lapse.frames] == [(0, 0), (0, 3), (1, 2), (1, 4), (1, 6)]
    assert json.loads(json.dumps(lapse.record))["frames"] == [f.describe() for f in lapse.frames]
    assert all(f.image.size == lapse.image.size for f in lapse.frames)
    # it starts at the photo and ends at the render
    assert lapse.frames[0].image.tobytes() == content_image().resize(lapse.image.size, Image.LANCZOS).tobytes()
    assert lapse.frames[-1].image.tobytes() == lapse.image.tobytes()


def test_frames_show_the_photo_turning_into_the_painting():
    """Each frame is further from the photo than the one before (the style takes over)."""
    r = stylize(content_image(), style_image(), tiny(iterations=(4, 12), style_weight=40.0),
                progress=False, frames=4)
    photo = torch.tensor(np.asarray(r.frames[0].image), dtype=torch.float32)
    away = [float((torch.tensor(np.asarray(f.image), dtype=torch.float32) - photo).abs().mean())
            for f in r.frames]
    assert away[0] == 0 and away[1] > 1 and away[-1] > away[1]


def test_the_stop_rule_reads_the_relative_gain_over_its_window():
    trace = [{"total": t} for t in (10.0, 5.0, 4.0, 3.96, 3.95, 3.949)]
    assert not stalled(trace[:3], 2, 0.01)  # 5.0 -> ... too short to judge, then 10 -> 4: gaining
    assert not stalled(trace[:4], 2, 0.01)  # 5.0 -> 3.96: 26% in 2 iterations
    assert stalled(trace, 2, 0.01)  # 3.96 -> 3.949: 0.3% in 2 iterations
    assert not stalled(trace, 2, 0.001)


def test_a_preset_with_a_stop_rule_ends_early_and_keys_on_it(monkeypatch):
    monkeypatch.setitem(params_mod.PRESETS, "standard", {"iterations": (2, 60), "stop": (3, 0.05)})
    p = RenderParams(size=64, min_size=32)
    assert p.stop() == (3, 0.05) and p.key_dict()["stop"] == [3, 0.05]
    assert p.with_(iterations=(2, 60)).stop() is None  # an explicit schedule runs every iteration
    r = stylize(content_image(), style_image(), p, progress=False, frames=6)
    top = r.record["levels"][-1]
    assert 3 < len(top["trace"]) < 60 and top["iterations"] == 60
    # the time-lapse ends at the iteration the rule stopped at
    assert (r.frames[-1].level, r.frames[-1].iteration) == (1, len(top["trace"]))
    assert r.frames[-1].image.tobytes() == r.image.tobytes()
