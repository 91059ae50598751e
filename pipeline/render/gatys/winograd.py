"""3x3 convolutions by Winograd's F(4x4, 3x3) on the CPU: the same result with 4x fewer
multiplications than direct convolution.

Why: a render is ~all VGG-19 convolutions (forward and the input gradient), and on a CPU
without native bf16 torch's direct convolution already runs near the machine's peak. Winograd
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) transforms each 6x6
input tile and each 3x3 kernel so that a 4x4 output tile costs 36 products instead of 144, as
36 independent matrix products over the channels. It pays from conv2_1 on; conv1_2 (64
channels at full size) stays direct. The relative error against direct fp32 convolution is
~3e-6. Measurements: bench/RESULTS.md.

The input tiles are transformed, multiplied and written back a band of tile rows at a time so
that the intermediate tensors stay in the CPU's cache. Only fp32 on the CPU: under autocast or on a GPU the
module runs torch's own convolution (cuDNN picks its algorithms itself; in bf16 Winograd's
transforms would cost precision).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

# F(4x4, 3x3): input transform B^T, kernel transform G, output transform A^T (Lavin & Gray).
_BT = torch.tensor([[4, 0, -5, 0, 1, 0],
                    [0, -4, -4, 1, 1, 0],
                    [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0],
                    [0, 2, -1, -2, 1, 0],
                    [0, 4, 0, -5, 0, 1]], dtype=torch.float64)
_G = torch.tensor([[1 / 4, 0, 0],
                   [-1 / 6, -1 / 6, -1 / 6],
                   [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6],
                   [1 / 24, -1 / 12, 1 / 6],
                   [0, 0, 1]], dtype=torch.float64)
_AT = torch.tensor([[1, 1, 1, 1, 1, 0],
                    [0, 1, -1, 2, -2, 0],
                    [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]], dtype=torch.float64)

# Working set per band of tile rows: 4 MiB kept the transforms in this CPU's 8 MiB L3 and the
# channel products large enough to run fast (1, 8 and 32 MiB measured slower in total).
BAND_BYTES = 4 << 20

_enabled = True


@contextlib.contextmanager
def disabled():
    """Run torch's direct convolution inside this block (the benchmark's naive reference)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def transform_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) kernels -> (36, out, in): G g G^T for every pair of channels, in fp64
    (one matrix product with G (x) G: 0.8 s for VGG-19's kernels and their flips, where an
    einsum took 1.6 s)."""
    o, c = weight.shape[:2]
    u = torch.kron(_G, _G) @ weight.double().reshape(o * c, 9).T
    return u.reshape(36, o, c).to(weight.dtype).contiguous()


def conv3x3(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d(x, w, bias, padding=1) for x (n, in, h, w) and kernel = transform_kernel(w)."""
    return torch.cat([_conv3x3_one(image, kernel, bias) for image in x]) if len(x) > 1 \
        else _conv3x3_one(x[0], kernel, bias)


def _padded(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """x (c, h, w) inside a zero border: one row/column before, the rest after (F.pad zeroes
    the whole buffer before copying x in; this zeroes only the border)."""
    c, h, w = x.shape
    xp = x.new_empty(c, height, width)
    xp[:, 0].zero_()
    xp[:, h + 1:].zero_()
    xp[:, 1:h + 1, 0].zero_()
    xp[:, 1:h + 1, w + 1:].zero_()
    xp[:, 1:h + 1, 1:w + 1].copy_(x)
    return xp


def _conv3x3_one(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    c, h, w = x.shape
    co = kernel.shape[1]
    th, tw = -(-h // 4), -(-w // 4)  # 4x4 output tiles; the last row/column may overhang
    xp = _padded(x, 4 * th + 2, 4 * tw + 2)
    s_c, s_h, s_w = xp.stride()
    bt, at = _BT.to(x.dtype), _AT.to(x.dtype)
    out = x.new_empty(co, 4 * th, 4 * tw)
    band = max(1, min(th, BAND_BYTES // (36 * max(c, co) * tw * x.element_size())))
    for r0 in range(0, th, band):
        r = min(band, th - r0)
        # the 6x6 input tiles of this band (stride 4), laid out (tile row, tile col, c, r, tw)
        d = xp[:, 4 * r0:].as_strided((6, 6, c, r, tw), (s_h, s_w, s_c, 4 * s_h, 4 * s_w))
        d = d.contiguous()
        n = c * r * tw
        v = torch.matmul(bt, (bt @ d.view(6, 6 * n)).view(6, 6, n)).view(36, c, r * tw)
        m = torch.bmm(kernel, v)  # (36, co, tiles): one channel product per tile position
        y = torch.matmul(at, (at @ m.view(6, -1)).view(4, 6, -1)).view(4, 4, co, r, tw)
        rows = out[:, 4 * r0:4 * (r0 + r)].view(co, r, 4, tw, 4)
        if bias is None:
            rows.copy_(y.permute(2, 3, 0, 4, 1))
        else:  # the bias is added on the way out: no extra pass over the layer
            torch.add(y.permute(2, 3, 0, 4, 1), bias.view(co, 1, 1, 1, 1), out=rows)
    return out[None, :, :h, :w]


class _Conv3x3(torch.autograd.Function):
    """Winograd forward, and the input gradient as the Winograd convolution of the output
    gradient with the flipped, transposed kernels (the weights are frozen: no weight gradient)."""

    @staticmethod
    def forward(ctx, x, kernel, kernel_grad, bias):
        ctx.kernel_grad = kernel_grad
        return conv3x3(x, kernel, bias)

    @staticmethod
    def backward(ctx, grad):
        return conv3x3(grad.contiguous(), ctx.kernel_grad), None, None, None


class WinogradConv3x3(nn.Module):
    """A frozen 3x3, stride-1, padding-1 convolution that uses Winograd for fp32 on the CPU."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1) \
                or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError("WinogradConv3x3 takes only 3x3 convolutions with stride 1 and padding 1")
        self.conv = conv
        self._kernels: tuple | None = None

    def _apply(self, fn, *args, **kwargs):  # .to(device) etc.: transform the kernels again
        self._kernels = None
        return super()._apply(fn, *args, **kwargs)

    def kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._kernels is None:
            w = self.conv.weight.detach()
            self._kernels = (transform_kernel(w), transform_kernel(w.flip(2, 3).transpose(0, 1)))
        return self._kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _enabled or x.device.type != "cpu" or x.dtype != torch.float32 \
                or torch.is_autocast_enabled("cpu") or self.conv.weight.requires_grad:
            return self.conv(x)
        return _Conv3x3.apply(x.contiguous(), *self.kernels(), self.conv.bias.detach())
