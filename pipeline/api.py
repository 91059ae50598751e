"""The library's public API, in one place: what a program that uses the pipeline imports.

    from pipeline.api import load_rgb, RenderParams, stylize

One pair: `load_rgb` reads any image as 8-bit sRGB, `RenderParams` takes every render parameter
by name (checked: ParamError), `stylize` renders with the engine the parameters name and returns
a RenderResult (the image and its record), reporting each iteration as a RenderStep to
`progress`. A whole gallery: `load_gallery` reads and validates a manifest (GalleryError and its
subclasses say what is wrong, naming the file, line and entry), `run` renders what it lacks and,
with `build_site=True`, builds its site. docs/engines.md shows the calls; tests/test_api.py runs
them. Every other module is internal: it may move without notice.
"""
from pipeline.core.images import ImageLoadError, load_rgb
from pipeline.core.model import Gallery
from pipeline.core.params import PARAMS, PRESETS, ParamError, RenderParams
from pipeline.manifest.reader import load_gallery
from pipeline.render import RenderResult, RenderStep, stylize
from pipeline.runner import run
from pipeline.util.errors import GalleryError

__all__ = [
    # one pair
    "load_rgb", "ImageLoadError", "RenderParams", "ParamError", "PARAMS", "PRESETS",
    "stylize", "RenderResult", "RenderStep",
    # a gallery
    "load_gallery", "Gallery", "run", "GalleryError",
]
