"""What a render's image must be, wherever it comes from (an engine, a pull, a cache folder on
disk): a PNG that decodes whole, within the project's limits (the `size` parameter's maximum on
its long edge, core.images.MAX_PIXELS in all), at the dimensions its record gives.

Why more than the record's sha256: a record is as easy to forge as its image, so a text file or
a 30000 x 30000 PNG bomb with a matching record would count as a render and fail every build.
The cache checks an image once per file version (its memo); a pulled one before it is written.
"""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import Any

from pipeline.core.params import PARAMS_BY_NAME

MAX_EDGE = int(PARAMS_BY_NAME["size"].maximum)  # pixels on a render's long edge
MAX_RENDER_BYTES = 64 << 20  # a 4096 x 4096 PNG of noise, stored uncompressed, is 50.4 MB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def expected_size(record: dict[str, Any]) -> tuple[tuple[int, int] | None, int | None]:
    """((width, height) or None, long edge or None): what the record says of its image. The
    engines record the top level's size (gatys: levels[-1].size; fast: size) and `params.size`,
    the long edge; a record without them (hand-made, or older) claims nothing."""
    def pair(v: Any) -> tuple[int, int] | None:
        ok = isinstance(v, list) and len(v) == 2 and all(type(n) is int and n > 0 for n in v)
        return (v[0], v[1]) if ok else None

    levels = record.get("levels")
    size = pair(levels[-1].get("size")) if isinstance(levels, list) and levels and isinstance(levels[-1], dict) else None
    size = size or pair(record.get("size"))
    params = record.get("params")
    edge = params.get("size") if isinstance(params, dict) else None
    return size, (edge if type(edge) is int else None)


def size_problem(size: tuple[int, int], record: dict[str, Any]) -> str | None:
    """What is wrong with an image of `size` as the render `record` describes, or None."""
    from pipeline.core.images import MAX_PIXELS  # Pillow: only where images are checked

    w, h = size
    if max(w, h) > MAX_EDGE or w * h > MAX_PIXELS:
        return f"is {w}x{h} pixels, over the limit of {MAX_EDGE} pixels on a render's long edge"
    want, edge = expected_size(record)
    if want is not None and (w, h) != want:
        return f"is {w}x{h} pixels, its record says {want[0]}x{want[1]}"
    if edge is not None and max(w, h) != edge:
        return f"is {w}x{h} pixels, its record says a long edge of {edge}"
    return None


def image_problem(source: Path | bytes, record: dict[str, Any]) -> str | None:
    """Why `source` (a file, or a pulled image's bytes) cannot be the render `record` describes,
    or None: it must be a PNG of a sane size matching the record that decodes to the last byte.
    The size is read from the PNG's header first, so a bomb is refused before Pillow sees it."""
    from PIL import Image

    try:
        head = source[:24] if isinstance(source, bytes) else _head(Path(source), 24)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return "is not a PNG image"
    w, h = struct.unpack(">II", head[16:24])
    why = "has no pixels" if not (w and h) else size_problem((w, h), record)
    if why:
        return why
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return f"does not decode ({e})"
    return None


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)
