"""The term that keeps a print-size render the gallery's picture: above its base, every level
also minimises the base's own objective on the picture scaled down to the base's size.

Why: the levels above the base (core/pyramid.py) optimise the objective at their own size,
against a photo and a painting enlarged past their resolution; alone, in 20 iterations, they
repaint the composition's coarse texture, and the print scaled down to 512 px scored worse than
the 512 px render it started from (style distance 0.23 against 0.15). Held by this term, the
upper levels add detail at full size while the picture, scaled down, stays as good as its base
(bench/RESULTS.md, print sizes).

The picture is scaled down by Pillow's own Lanczos filter, written as two matrices (rows and
columns), so the term scores exactly the image a visitor gets when the print is shown at 512 px
(a bicubic scale-down let fine texture the Lanczos filter keeps go unscored: style 0.171).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def lanczos_matrix(length: int, out: int) -> torch.Tensor:
    """(length, out): the weights with which Pillow's Lanczos resize of a row of `length` pixels
    to `out` makes each output pixel (a row vector times it is the resized row)."""
    eye = Image.fromarray(np.eye(length, dtype=np.float32), "F")
    return torch.from_numpy(np.array(eye.resize((out, length), Image.LANCZOS)))


class Anchored:
    """A level's objective plus `weight` times `anchor` (the base's objective, at the base's
    size) of the picture scaled down: its value and gradient as the level's."""

    def __init__(self, objective, anchor, size: tuple[int, int], weight: float):
        self.objective, self.anchor, self.weight = objective, anchor, weight
        self.size = size  # (width, height) of the base
        self._matrices: tuple[torch.Tensor, torch.Tensor] | None = None

    def scaled_down(self, x: torch.Tensor) -> torch.Tensor:
        """x (1, 3, H, W) at the base's size, as Pillow's Lanczos would scale it (differentiable)."""
        h, w = x.shape[-2:]
        if self._matrices is None or self._matrices[0].shape[0] != h or self._matrices[1].shape[0] != w:
            self._matrices = (lanczos_matrix(h, self.size[1]).T.contiguous().to(x.device),
                              lanczos_matrix(w, self.size[0]).to(x.device))
        rows, cols = self._matrices
        return rows @ x @ cols

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The level's terms (what the picture scores at its own size)."""
        return self.objective.terms(x)

    def value_and_grad(self, x: torch.Tensor, scale: float) -> tuple[dict[str, float], torch.Tensor]:
        """The level's terms plus `anchor` (the base's objective of the scaled-down picture), and
        the gradient of (total + weight * anchor) * scale."""
        terms, grad = self.objective.value_and_grad(x, scale)
        x = x.detach().requires_grad_(True)
        anchor = self.anchor.terms(self.scaled_down(x))["total"]
        (self.weight * anchor * scale).backward()
        return {**terms, "anchor": float(anchor.detach())}, grad + x.grad
