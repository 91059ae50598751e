"""A render's time-lapse as one animated WebP: the optimiser's frames, from the photo to the
painting, timed so that the start and the finished picture hold and the painting runs between.

Why WebP: one file that every current browser animates in an <img>, lossy (a stylised picture
is all texture: lossless frames would be megabytes each), with no video codec to install. The
file is made once, when the render is stored, and kept beside it in the cache; the site copies
it as it is. Torch-free (Pillow only).
"""
from __future__ import annotations

import io
from typing import Sequence

from PIL import Image

# The site's bound for one time-lapse at 512 px; the encoder lowers its quality until it fits.
MAX_BYTES = 1_400_000
QUALITIES = (70, 55, 40, 30)
# Milliseconds a frame shows: the photo, each pyramid level's end, the top level's frames, the end.
HOLD_START_MS, LEVEL_MS, TOP_MS, HOLD_END_MS = 900, 350, 140, 2200


def durations(frames: Sequence[dict]) -> list[int]:
    """How long each frame shows, from the frames' descriptions ({'level', 'iteration'})."""
    if not frames:
        return []
    top = max(f["level"] for f in frames)
    out = []
    for i, f in enumerate(frames):
        if i == 0:
            out.append(HOLD_START_MS)
        elif i == len(frames) - 1:
            out.append(HOLD_END_MS)
        else:
            out.append(TOP_MS if f["level"] == top else LEVEL_MS)
    return out


def encode(images: Sequence, frames: Sequence[dict], max_bytes: int = MAX_BYTES) -> bytes:
    """The animated WebP of `images` (PIL images of one size, in order), at the best of
    QUALITIES that keeps it under `max_bytes` (the lowest when none does)."""
    if len(images) != len(frames) or not images:
        raise ValueError(f"{len(images)} images for {len(frames)} frame descriptions")
    data = b""
    for quality in QUALITIES:
        buf = io.BytesIO()
        images[0].save(buf, format="WEBP", save_all=True, append_images=list(images[1:]),
                       duration=durations(frames), loop=0, quality=quality, method=4)
        data = buf.getvalue()
        if len(data) <= max_bytes:
            break
    return data


def still(images: Sequence, frames: Sequence[dict], quality: int = 80) -> bytes:
    """The time-lapse in one picture, for visitors who prefer reduced motion: four moments at
    half size, two by two (the photo, the coarse levels' end, halfway through the top level,
    the finished picture), as a WebP the size of one frame."""
    if len(images) != len(frames) or not images:
        raise ValueError(f"{len(images)} images for {len(frames)} frame descriptions")
    top = max(f["level"] for f in frames)
    first_top = next(i for i, f in enumerate(frames) if f["level"] == top)
    coarse_end = max(0, first_top - 1)
    halfway = first_top + (len(frames) - 1 - first_top) // 2
    picks = [0, coarse_end, halfway, len(frames) - 1]
    w, h = images[0].size
    half = (max(1, w // 2), max(1, h // 2))
    sheet = Image.new("RGB", (2 * half[0], 2 * half[1]), "white")
    for n, i in enumerate(picks):
        sheet.paste(images[i].convert("RGB").resize(half, Image.LANCZOS), ((n % 2) * half[0], (n // 2) * half[1]))
    buf = io.BytesIO()
    sheet.save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


def files(frames: Sequence) -> tuple[bytes, bytes]:
    """(animation, still) of a render's frames (Frame: .image, .describe())."""
    images, described = [f.image for f in frames], [f.describe() for f in frames]
    return encode(images, described), still(images, described)
