"""Winograd 3x3 convolutions: the same numbers and gradients as torch's own, on any image size."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pipeline.render.gatys import winograd  # noqa: E402
from pipeline.render.gatys.vgg import VGGFeatures  # noqa: E402


def frozen_conv(c_in: int, c_out: int, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, 3, padding=1)
    conv.requires_grad_(False)
    return conv


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# sizes that are and are not multiples of the 4x4 output tile, tiny and wide, and a batch of 2
@pytest.mark.parametrize("shape", [(1, 8, 16, 16), (1, 5, 7, 13), (1, 3, 1, 1), (2, 6, 10, 9),
                                   (1, 4, 3, 33)])
def test_matches_torchs_convolution(shape):
    conv = frozen_conv(shape[1], 12)
    x = torch.rand(shape) * 255
    y = winograd.WinogradConv3x3(conv)(x)
    ref = conv(x)
    assert y.shape == ref.shape
    assert rel_err(y, ref) < 1e-5
    assert not torch.equal(y, ref)  # it really took the Winograd path, not conv2d


def test_bands_of_tile_rows_give_the_same_result(monkeypatch):
    conv = frozen_conv(6, 7)
    x = torch.randn(1, 6, 37, 21)
    whole = winograd.WinogradConv3x3(conv)(x)
    monkeypatch.setattr(winograd, "BAND_BYTES", 1)  # one tile row per band
    banded = winograd.WinogradConv3x3(conv)(x)
    assert rel_err(banded, whole) < 1e-6


def test_input_gradient_matches_torchs():
    conv = frozen_conv(5, 9)
    x = torch.randn(1, 5, 14, 11)
    g = torch.randn(1, 9, 14, 11)
    x1 = x.clone().requires_grad_(True)
    (winograd.WinogradConv3x3(conv)(x1) * g).sum().backward()
    x2 = x.clone().requires_grad_(True)
    (conv(x2) * g).sum().backward()
    assert rel_err(x1.grad, x2.grad) < 1e-5


def test_falls_back_to_torch_where_winograd_does_not_apply():
    conv = frozen_conv(4, 6)
    module = winograd.WinogradConv3x3(conv)
    x = torch.randn(1, 4, 12, 12)
    with winograd.disabled():
        assert torch.equal(module(x), conv(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(module(x), conv(x))
    module.double()  # other dtypes, and the kernels are transformed again after a move
    assert torch.equal(module(x.double()), conv(x.double()))
    with pytest.raises(ValueError, match="3x3"):
        winograd.WinogradConv3x3(nn.Conv2d(4, 4, 5, padding=2))


def test_vgg_uses_winograd_from_128_channels_and_keeps_the_same_features():
    torch.manual_seed(0)
    convs = {}
    prev = 3
    for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"):
        out = {"1": 64, "2": 128, "3": 256}[name[4]]
        convs[name] = (torch.randn(out, prev, 3, 3) * (2 / (9 * prev)) ** 0.5, torch.randn(out) * 0.1)
        prev = out
    from pipeline.render.gatys.vgg import Preprocess
    net = VGGFeatures(convs, Preprocess.caffe(), ("relu1_1", "relu3_1"))
    kinds = [type(m).__name__ for m in net.net if "Conv" in type(m).__name__]
    assert kinds == ["Conv2d", "Conv2d", "WinogradConv3x3", "WinogradConv3x3", "WinogradConv3x3"]
    x = torch.rand(1, 3, 40, 28) * 255
    fast = net(x)["relu3_1"]
    with winograd.disabled():
        direct = net(x)["relu3_1"]
    assert rel_err(fast, direct) < 1e-5
