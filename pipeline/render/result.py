"""What every engine's `stylize` returns: a module of its own, so that the engines and the
dispatcher (render/engine.py), which imports them, do not import each other. Pillow is named
for the type only: the plan commands import this without decoding an image."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.util.plain import Plain

if TYPE_CHECKING:
    from PIL import Image


class RenderResult(Plain):
    """The stylised image (8-bit RGB, the content's aspect ratio), how it was made (JSON-able)
    and its time-lapse: the optimiser's frames (gatys/timelapse.py Frame: .level, .iteration,
    .image), none from an engine that paints in one pass."""

    image: Image.Image
    record: dict
    frames: tuple | list = ()
