"""The objective of a large image, computed tile by tile: the same value and gradient as
`Objective`, with the network's memory bounded by one tile.

Why: a forward and backward pass of VGG-19 keeps every activation of the image, about 1-2.5 KB
a pixel (bf16-fp32): 2048 x 2048 px would need 5-10 GB. The loss is not local, though: the
style term compares Gram matrices of the whole image. So every evaluation runs two passes:

1. without gradients, each tile's features on its core give its share of the Gram matrices
   (sums over positions add up across tiles);
2. with the whole image's Grams known, the style loss's gradient with respect to each Gram,
   dL/dG, is fixed; each tile then backpropagates its content term and <dL/dG, F F^T> over its
   core, whose gradient with respect to the tile's features is the whole loss's. The pixels'
   gradients from all tiles (their halos overlap) add up to the whole image's gradient.

Tiles join without seams because nothing is approximated: each tile is its core plus a halo
wider than the receptive field's reach (HALO), cut on the grid of the network's deepest
pooling (ALIGN), so every feature of the core is computed from exactly the pixels it sees in
the whole image, and the zero padding at a tile's cut never reaches the core.
"""
from __future__ import annotations

import math

import torch

from pipeline.render.gatys.objective import (CONTENT_LAYER, STYLE_LAYER_WEIGHTS, STYLE_LAYERS, _Gram,
                                             net_features)

# The deepest layer used (relu5_1) sits below four 2x2 poolings: tiles are cut on a 16 px grid
# so that every tile's pooling windows are the whole image's.
ALIGN = 16
# How far a change at a tile's cut reaches into relu5_1: 2 + 2x2 + 4x4 + 4x8 + 1x16 px of the
# convolutions plus 1 + 2 + 4 + 8 of the poolings, about 85 px; rounded up to the grid.
HALO = 96
# Pixels of one tile with its halo: about 1.5 GB for a forward and backward pass in bf16, 3-4 GB
# in fp32. Fixed (not taken from the machine's memory): the tiles are part of how a render is
# computed, and the same parameters must give the same bytes everywhere.
TILE_PIXELS = 1_600_000


def layer_stride(name: str) -> int:
    """How many pixels apart a layer's positions are (relu3_1: block 3, behind 2 poolings: 4)."""
    return 2 ** (int(name[4]) - 1)


def split(length: int, parts: int) -> list[tuple[int, int]]:
    """`parts` spans covering 0..length, cut on the ALIGN grid, as even as the grid allows."""
    cuts = [0] + [round(length * i / parts / ALIGN) * ALIGN for i in range(1, parts)] + [length]
    return list(zip(cuts, cuts[1:]))


def tile_grid(height: int, width: int, max_pixels: int | None = None) -> list[tuple[tuple[int, int, int, int],
                                                                                     tuple[int, int, int, int]]]:
    """[(core, crop)] boxes as (top, bottom, left, right): the fewest tiles whose crops (core plus
    HALO inside the image) have at most `max_pixels` (TILE_PIXELS) pixels; one when it fits."""
    max_pixels = max_pixels or TILE_PIXELS
    best = None
    for rows in range(1, math.ceil(height / ALIGN) + 1):
        for cols in range(1, math.ceil(width / ALIGN) + 1):
            if best is not None and rows * cols >= len(best):
                break
            grid = [((t, b, l, r), (max(0, t - HALO), min(height, b + HALO), max(0, l - HALO), min(width, r + HALO)))
                    for t, b in split(height, rows) for l, r in split(width, cols)]
            if all(b > t and r > l for (t, b, l, r), _ in grid) and \
                    max((cb - ct) * (cr - cl) for _, (ct, cb, cl, cr) in grid) <= max_pixels:
                best = grid
                break
    if best is None:
        raise ValueError(f"a {width}x{height} image cannot be cut into tiles of {max_pixels} pixels")
    return best


def needs_tiles(height: int, width: int, max_pixels: int | None = None) -> bool:
    """Whether one pass over the image would hold more than `max_pixels` (TILE_PIXELS) pixels."""
    return height * width > (max_pixels or TILE_PIXELS)


class TiledObjective:
    """`Objective`'s content + style + tv, and its gradient, computed a tile at a time."""

    def __init__(self, net, content: torch.Tensor, style: torch.Tensor, content_weight: float,
                 style_weight: float, tv_weight: float, precision: str = "fp32",
                 max_pixels: int | None = None):
        self.net = net
        self.weights = (content_weight, style_weight, tv_weight)
        self.precision = precision
        self.max_pixels = max_pixels
        with torch.no_grad():
            self.style_targets = self._grams(style)[0]
            rows: dict[int, list[tuple[int, torch.Tensor]]] = {}
            for core, crop, f in self._tiles(content):
                rows.setdefault(core[0], []).append((core[2], self.core_of(f[CONTENT_LAYER], CONTENT_LAYER, core, crop)))
            self.content_target = torch.cat([torch.cat([f for _, f in sorted(row, key=lambda p: p[0])], dim=3)
                                             for _, row in sorted(rows.items())], dim=2)
        self.content_norm = self.content_target.pow(2).mean().clamp_min(1e-8)
        self.style_norms = [g.pow(2).mean().clamp_min(1e-8) for g in self.style_targets]

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return net_features(self.net, self.precision, x)

    @staticmethod
    def core_of(f: torch.Tensor, name: str, core: tuple, crop: tuple) -> torch.Tensor:
        """The positions of a tile's feature map that lie in its core (the rest is halo)."""
        s = layer_stride(name)
        (t, b, l, r), (ct, _, cl, _) = core, crop
        return f[..., (t - ct) // s:-(-(b - ct) // s), (l - cl) // s:-(-(r - cl) // s)]

    def _tiles(self, x: torch.Tensor):
        """(core, crop, features of the crop) of every tile, one at a time."""
        for core, crop in tile_grid(*x.shape[-2:], self.max_pixels):
            ct, cb, cl, cr = crop
            yield core, crop, self.features(x[..., ct:cb, cl:cr])

    def _grams(self, x: torch.Tensor, content: bool = False) -> tuple[list[torch.Tensor], list[int], torch.Tensor]:
        """The whole image's Gram matrices (the tiles' cores' sums of F F^T over all positions,
        divided by their count), each layer's count of positions and, with `content`, the sum
        of squared differences to the content target (else 0)."""
        sums: list[torch.Tensor] = []
        counts = [0] * len(STYLE_LAYERS)
        content_sum = torch.zeros(())
        for core, crop, f in self._tiles(x):
            for i, name in enumerate(STYLE_LAYERS):
                fc = self.core_of(f[name], name, core, crop)
                flat = fc.reshape(fc.shape[1], -1)
                g = flat @ flat.T
                if len(sums) <= i:
                    sums.append(g)
                else:
                    sums[i] += g
                counts[i] += flat.shape[1]
            if content:
                content_sum += (self.core_of(f[CONTENT_LAYER], CONTENT_LAYER, core, crop)
                                - self._content_core(core)).pow(2).sum()
        return [g / n for g, n in zip(sums, counts)], counts, content_sum

    def _content_core(self, core: tuple) -> torch.Tensor:
        s = layer_stride(CONTENT_LAYER)
        t, b, l, r = core
        return self.content_target[..., t // s:-(-b // s), l // s:-(-r // s)]

    def _style_terms(self, grams: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The style term and, per layer, its derivative with respect to each Gram entry."""
        style = torch.zeros(())
        slopes = []
        for w, g, target, norm in zip(STYLE_LAYER_WEIGHTS, grams, self.style_targets, self.style_norms):
            diff = g - target
            style = style + w * diff.pow(2).mean() / norm
            slopes.append(w * 2 * diff / (diff.numel() * norm))
        return style, slopes

    @staticmethod
    def _tv(x: torch.Tensor) -> torch.Tensor:
        return ((x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
                + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()) / 255 ** 2

    def _total(self, content, style, tv) -> dict[str, torch.Tensor]:
        cw, sw, tw = self.weights
        return {"content": content, "style": style, "tv": tv, "total": cw * content + sw * style + tw * tv}

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms at x, without gradients (the score of a finished image)."""
        with torch.no_grad():
            grams, _, content_sum = self._grams(x, content=True)
            return self._total(content_sum / self.content_target.numel() / self.content_norm,
                               self._style_terms(grams)[0], self._tv(x))

    def value_and_grad(self, x: torch.Tensor, scale: float) -> tuple[dict[str, float], torch.Tensor]:
        """The terms at x and the gradient of `total * scale`: two passes over the tiles."""
        cw, sw, tw = self.weights
        x = x.detach()
        with torch.no_grad():
            grams, counts, _ = self._grams(x)
            style, slopes = self._style_terms(grams)
        grad = torch.zeros_like(x)
        content_sum = torch.zeros(())
        n_content = self.content_target.numel()
        for core, crop in tile_grid(*x.shape[-2:], self.max_pixels):
            ct, cb, cl, cr = crop
            part = x[..., ct:cb, cl:cr].clone().requires_grad_(True)
            f = self.features(part)
            sq = (self.core_of(f[CONTENT_LAYER], CONTENT_LAYER, core, crop) - self._content_core(core)).pow(2).sum()
            surrogate = cw * sq / n_content / self.content_norm
            for name, slope, n in zip(STYLE_LAYERS, slopes, counts):
                fc = self.core_of(f[name], name, core, crop)
                # <dL/dG, F F^T> / n: its gradient is the whole style term's for this tile's features
                surrogate = surrogate + sw / n * (slope * _Gram.apply(fc.reshape(fc.shape[1], -1), 1)).sum()
            (surrogate * scale).backward()
            grad[..., ct:cb, cl:cr] += part.grad
            content_sum += sq.detach()
        xt = x.clone().requires_grad_(True)
        tv = self._tv(xt)
        if tw:
            (tw * tv * scale).backward()
            grad += xt.grad
        t = self._total(content_sum / n_content / self.content_norm, style, tv.detach())
        return {k: float(v) for k, v in t.items()}, grad
