"""Every preset is sensible at every size from 128 px up: small renders run their whole
schedule, cost no more than the same preset at 512 px, and keep the keys of renders where
nothing folds. The real renderer shows the difference at 48 px (the 128 px pyramid, scaled)."""
from __future__ import annotations

import pytest

from pipeline.core.params import PRESETS, RenderParams
from pipeline.plan.keys import key_params

SIZES = [128, 144, 160, 192, 224, 256, 320, 384, 448, 512, 768, 1024]


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("size", SIZES)
def test_every_preset_runs_its_whole_schedule_at_every_size(preset, size):
    p = RenderParams(size=size, preset=preset)
    ref = RenderParams(size=512, preset=preset)
    optimised = [(s, it) for s, it in p.levels() if it]
    above = sum(lv.iterations for lv in p.pyramid().levels[p.pyramid().base:])  # print sizes refine on
    assert sum(it for _, it in optimised) == sum(p.schedule()) + above, p.levels()
    # what is only upsampled at the top is no bigger a step than at 512 px (2x for draft)
    top_step = size / optimised[-1][0]
    ref_step = 512 / [s for s, it in ref.levels() if it][-1]
    assert top_step <= ref_step + 1e-9, (p.levels(), ref.levels())
    assert size >= 512 or p.work() <= ref.work()


def test_a_128px_draft_optimises_as_long_as_the_512px_one():
    assert RenderParams(size=128, preset="draft").levels() == ((128, 32),)  # every iteration of the schedule, folded


@pytest.mark.parametrize("size", [384, 512])
def test_renders_where_nothing_folds_keep_their_keys(size):
    p = RenderParams(size=size, min_size=64)
    assert not p.folds() and "levels" not in key_params(p)


@pytest.mark.parametrize("size", [768, 1024, 2048])
def test_print_sizes_key_on_the_pyramid_they_run(size):
    """Above 512 px standard refines its 512 px render: other pixels than the plain pyramid's
    made, so other keys (and a change to the levels above changes them again)."""
    p = RenderParams(size=size)
    assert key_params(p)["levels"] == [list(level) for level in p.levels()]
    assert p.levels()[4] == (512, 170) and p.levels()[-1][0] == size


def test_folded_renders_key_on_the_pyramid_they_run():
    p = RenderParams(size=192, preset="draft")
    assert p.folds() and key_params(p)["levels"] == [[136, 32], [192, 0]]


@pytest.mark.slow
def test_a_small_draft_is_more_than_the_photo_with_noise():
    """At 48 px with min_size 48, the pyramid of a 128 px draft (every lower level folds): the
    style loss must fall well below where it starts, and the picture must change."""
    import numpy as np

    from site_fixtures import content_picture, style_picture
    from pipeline.render.gatys.core import stylize

    content, style = content_picture(0, (72, 60)), style_picture(0, 160)
    r = stylize(content, style, RenderParams(size=48, min_size=48, preset="draft", precision="fp32"),
                progress=False)
    trace = [t for level in r.record["levels"] for t in level["trace"]]
    assert r.record["final"]["style"] < 0.5 * trace[0]["style"], (trace[0], r.record["final"])
    before = np.asarray(content.resize(r.image.size)).astype(float)
    assert np.abs(np.asarray(r.image).astype(float) - before).mean() > 8
