"""The objective one pyramid level minimises: content + style + total variation, in fp32 terms.

Every loss term is relative (a squared distance divided by the target's squared norm), so
content_weight and style_weight mean the same at every size, for every style image and
for every weights file.
"""
from __future__ import annotations

import torch

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Share of each style layer in the style term (sums to 1).
STYLE_LAYER_WEIGHTS = (0.2, 0.2, 0.2, 0.2, 0.2)
# The network's dtype under autocast for each reduced precision (fp32: no autocast).
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def gram(f: torch.Tensor) -> torch.Tensor:
    """Channel co-activations averaged over positions: the style of a feature map, size-free."""
    _, c, h, w = f.shape
    return _Gram.apply(f.reshape(c, h * w), h * w)


class _Gram(torch.autograd.Function):
    """F F^T / n, whose gradient takes one matrix product where autograd's mm takes two.

    autograd differentiates F F^T as two products (G' F and (F^T G')^T) and a sum; both
    factors are F, so the gradient is (G' + G'^T) F / n, one product over all positions.
    Measured at 512 px: the five style layers' Grams, forward and backward, 0.50 -> 0.32 s
    of a 4.7 s pass; the loss's G' is symmetric, so renders came out bit-identical.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, n: int) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.n = n
        return (f @ f.T) / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f, = ctx.saved_tensors
        return ((grad + grad.T) / ctx.n) @ f, None


def net_features(net, precision: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The network's features of `x` as fp32, computed under autocast when `precision` is a
    reduced one (bf16): what the whole-image and the tiled objective both read."""
    dtype = AUTOCAST_DTYPES.get(precision)
    with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        out = net(x)
    return {k: v.float() for k, v in out.items()}


class Objective:
    """content + style + tv for one pyramid level: targets are computed once, in fp32 terms.

    The network runs under autocast when `precision` asks for it; Gram matrices and losses
    are always fp32 (bf16 Grams lose the small differences the optimiser follows).
    """

    def __init__(self, net, content: torch.Tensor, style: torch.Tensor, content_weight: float,
                 style_weight: float, tv_weight: float, precision: str = "fp32"):
        self.net = net
        self.weights = (content_weight, style_weight, tv_weight)
        self.precision = precision
        with torch.no_grad():
            fc = self.features(content)[CONTENT_LAYER]
            fs = self.features(style)
        self.content_target = fc
        self.content_norm = fc.pow(2).mean().clamp_min(1e-8)
        self.style_targets = [gram(fs[n]) for n in STYLE_LAYERS]
        self.style_norms = [g.pow(2).mean().clamp_min(1e-8) for g in self.style_targets]

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return net_features(self.net, self.precision, x)

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        content = (f[CONTENT_LAYER] - self.content_target).pow(2).mean() / self.content_norm
        style = sum(w * (gram(f[n]) - g).pow(2).mean() / s
                    for w, n, g, s in zip(STYLE_LAYER_WEIGHTS, STYLE_LAYERS, self.style_targets,
                                          self.style_norms))
        tv = ((x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
              + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()) / 255 ** 2
        cw, sw, tw = self.weights
        total = cw * content + sw * style + tw * tv
        return {"content": content, "style": style, "tv": tv, "total": total}

    def value_and_grad(self, x: torch.Tensor, scale: float) -> tuple[dict[str, float], torch.Tensor]:
        """The terms at x and the gradient of `total * scale` (one forward and one backward)."""
        x = x.detach().requires_grad_(True)
        t = self.terms(x)
        (t["total"] * scale).backward()
        return as_floats(t), x.grad


def as_floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in terms.items()}
