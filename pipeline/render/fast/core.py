"""The fast engine: one pass of a feed-forward network (Ghiasi et al. 2017), as a pure function.

`stylize(content, style, params)` -> RenderResult(image, record), like the optimiser's, in well
under a second at 512 px on a CPU. What it reads of the parameters (see params.py): `size`
(the long edge; any aspect ratio, the network runs at the render's own size), `strength` (the
style vector moved from the content's own towards the style's, as in the paper),
`preserve_colors` (luminance only, as the optimiser does it). It has no randomness: the same
inputs give the same bytes, whatever the thread count.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from PIL import Image

from pipeline.core.params import FAST_VERSION, RenderParams
from pipeline.render.progress import Progress
from pipeline.render.result import RenderResult
from pipeline.render.fast import models
from pipeline.render.imageops import fit_long_edge, recombine_colors

log = logging.getLogger(__name__)


def blended_vector(content: Image.Image, style: Image.Image, strength: float, threads: int):
    """strength x the style's vector + (1 - strength) x the content's own (Ghiasi et al.'s
    interpolation: 0 renders the content in its own style, 1 in the style image's)."""
    vector = models.style_vector(style, threads)
    if strength < 1.0:
        own = models.style_vector(content, threads)
        vector = strength * vector + (1.0 - strength) * own
    return vector


def stylize(content: Image.Image, style: Image.Image, params: RenderParams,
            progress: Progress | None = None, label: str = "stylize",
            threads: Callable[[], int] | None = None) -> RenderResult:
    """Render `content` in the manner of `style` at `params.size` (long edge), in one pass.

    `progress` is accepted for the common interface: a render this short reports no steps (it
    logs one line, named by `label`). `threads`, when given, says how many threads to use."""
    t_start = time.perf_counter()
    n = threads() if threads else models.choose_threads()
    content = content.convert("RGB")
    style = style.convert("RGB")
    models.sessions(n)  # load (verify, build) before the clock of the networks starts
    t_loaded = time.perf_counter()
    vector = blended_vector(content, style, params.strength, n)
    t_vector = time.perf_counter()
    size = fit_long_edge(content.size, params.size)
    image = models.transform(content.resize(size, Image.LANCZOS), vector, n)
    t_transform = time.perf_counter()
    if params.preserve_colors:
        image = recombine_colors(image, content)
    seconds = time.perf_counter() - t_start
    log.info("%s: fast engine, %dx%d in %.2f s", label, *size, seconds)
    record = {
        "engine": "fast",
        "params": params.effective(),
        "weights": models.weights_identity(),
        "models": models.identity(),
        "renderer_version": f"fast-{FAST_VERSION}",
        "device": "cpu",
        "precision": "int8",
        "threads": n,
        "onnxruntime": models.onnxruntime_version(),
        "seconds": round(seconds, 3),
        "timings": {"load": round(t_loaded - t_start, 3), "style_vector": round(t_vector - t_loaded, 3),
                    "transform": round(t_transform - t_vector, 3)},
        "size": list(size),
    }
    return RenderResult(image=image, record=record)
