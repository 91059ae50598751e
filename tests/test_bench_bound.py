"""bench/bench_bound.py: the multiply-add count and the bound it prints follow from the measurements."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pipeline.core.params import RenderParams

from conftest import write_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
bench_bound = pytest.importorskip("bench_bound")


def vgg19_to_conv5_1_macs(h: int, w: int) -> int:
    """VGG-19's convolutions up to conv5_1, counted by hand: (channels in, out) per block,
    each block at half the size of the one before (the pools round up)."""
    blocks = [[(3, 64), (64, 64)], [(64, 128), (128, 128)],
              [(128, 256)] + [(256, 256)] * 3, [(256, 512)] + [(512, 512)] * 3, [(512, 512)]]
    total = 0
    for convs in blocks:
        total += sum(h * w * ci * co * 9 for ci, co in convs)
        h, w = -(-h // 2), -(-w // 2)
    return total


def test_convolution_macs_match_the_hand_count():
    import torch

    from pipeline.render.gatys.core import feature_net

    net, _ = feature_net("caffe-vgg19", "max", torch.device("cpu"))
    for h, w in ((64, 64), (48, 80)):
        assert bench_bound.convolution_macs(net, h, w) == vgg19_to_conv5_1_macs(h, w)


def test_standard_is_179_full_size_passes_at_512():
    """10,10,10,10,170 at sqrt(2) steps: 170 + 10 (1/2 + 1/4 + 1/8 + 1/16) + the 10 at 512."""
    assert round(RenderParams(size=512).work() / 512 ** 2) == 179


def test_the_bound_is_cells_times_work_times_pass(tmp_path, capsys):
    content = write_image(tmp_path / "c.png", (64, 48), seed=1)
    style = write_image(tmp_path / "s.png", (40, 40), seed=2)
    assert bench_bound.main([str(content), str(style), "--size", "64", "--cells", "4",
                             "--target-minutes", "1", "--peak-size", "256"]) == 0
    out = capsys.readouterr().out
    assert f"one pass: {4 * vgg19_to_conv5_1_macs(48, 64) / 1e9:.0f} GFLOP" in out
    work = float(re.search(r"standard: (\d+) full-size passes a cell", out).group(1))
    # at 64 px every level folds into one (min_size 128): all 210 iterations at full size
    assert work == round(RenderParams(size=64).work() / 64 ** 2) == 210
    rows = re.findall(r"^\| (measured|at the peak) \(([\d.]+) s\) \| (\d+) s \| .* \| ([\d.]+)x \| (\d+) \|$",
                      out, re.M)
    assert [r[0] for r in rows] == ["measured", "at the peak"]
    for _, pass_s, cell, ratio, fit in rows:
        assert float(cell) == pytest.approx(work * float(pass_s), abs=0.5 + work * 0.005)
        assert float(ratio) == pytest.approx(4 * work * float(pass_s) / 60, rel=0.01, abs=0.01)
        assert int(fit) == pytest.approx(60 / 4 / float(pass_s), rel=0.02, abs=1)
