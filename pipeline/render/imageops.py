"""Image operations both engines share, torch-free: the render's size and preserve_colors'
recombination (the same for either engine, so `preserve_colors` means one thing)."""
from __future__ import annotations

from PIL import Image


def fit_long_edge(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(w, h) scaled so the long edge is `long_edge`, aspect ratio kept, never below 1 px."""
    w, h = size
    if w >= h:
        return long_edge, max(1, round(long_edge * h / w))
    return max(1, round(long_edge * w / h)), long_edge


def recombine_colors(render: Image.Image, content: Image.Image) -> Image.Image:
    """The render's luminance with the content's chroma (YCbCr): colours stay the content's."""
    y, _, _ = render.convert("YCbCr").split()
    _, cb, cr = content.resize(render.size, Image.LANCZOS).convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
