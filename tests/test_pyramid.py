"""The image pyramid (core/pyramid.py): the levels a render runs, built from its parameters."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.core.params import RenderParams
from pipeline.core.pyramid import Level, Pyramid


def test_standard_at_512px_runs_five_levels_with_lighter_style_below_the_top():
    p = RenderParams(size=512, preset="standard")
    pyramid = p.pyramid()
    assert pyramid.sizes() == ((128, 10), (181, 10), (256, 10), (362, 10), (512, 170)) == p.levels()
    assert [lv.style_factor for lv in pyramid] == pytest.approx([0.7 ** 4, 0.7 ** 3, 0.7 ** 2, 0.7, 1.0])
    assert pyramid.base == len(pyramid) == 5 and all(isinstance(lv, Level) for lv in pyramid)


def test_a_small_render_folds_the_levels_below_min_size_into_its_smallest():
    pyramid = RenderParams(size=192, preset="draft").pyramid()
    assert pyramid.sizes() == ((136, 32), (192, 0))
    assert [lv.style_factor for lv in pyramid] == [1.0, 1.0]  # draft keeps the full style weight
    folded = Pyramid.build(100, 64, (3, 4, 5), 0.5)
    assert folded.sizes() == ((71, 7), (100, 5)) and [lv.style_factor for lv in folded] == [0.5, 1.0]


@pytest.mark.parametrize("size, above", [(1024, ((724, 20), (1024, 20))),
                                         (2048, ((724, 20), (1024, 20), (1448, 10), (2048, 10)))])
def test_a_print_size_render_is_its_base_pyramid_plus_levels_at_full_style_weight(size, above):
    pyramid = RenderParams(size=size, preset="standard").pyramid()
    assert pyramid.base == 5 and pyramid.sizes()[:5] == RenderParams(size=512).levels()
    assert pyramid.sizes()[5:] == above
    assert all(lv.style_factor == 1.0 for lv in pyramid.levels[5:])


def test_the_pyramid_is_torch_free():
    code = "import sys, pipeline.core.pyramid, pipeline.core.params; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_only_a_preset_with_levels_above_refines_a_print_size():
    """draft and quick run their own pyramid at any size (cheap there), as does an explicit
    schedule, which names every level it runs."""
    assert RenderParams(size=1024, preset="quick").levels()[-1] == (1024, 4)
    assert RenderParams(size=1024, preset="draft").pyramid().base == 5
    explicit = RenderParams(size=2048, iterations=(5, 10))
    assert explicit.base() is None and explicit.levels() == ((1448, 5), (2048, 10))
