"""A render's time-lapse between the local cache and the remote: the animation and its still,
pushed with the render when its record lists them, pulled only once they pass every check.

The time-lapse is part of an entry, not of its key, and never a condition of it: a render whose
time-lapse is damaged (here before a push, or on the remote before a pull) travels without it,
with a warning, and its record stops listing one; the render itself is never refused for it.

What a time-lapse must be, wherever it comes from: the size and sha256 its record gives (at most
MAX_TIMELAPSE_BYTES), a WebP of at most MAX_EDGE pixels a side whose every frame decodes, within
a pixel budget (a hostile record matches any bytes, so the checksum alone proves nothing).
"""
from __future__ import annotations

import io
import logging
import os
import stat
import warnings
from typing import Any

from pipeline.plan.cache import Cache
from pipeline.plan.remote_errors import DamagedEntry
from pipeline.plan.remote_io import check_read
from pipeline.plan.render_image import MAX_EDGE
from pipeline.util import safepath

log = logging.getLogger(__name__)

MAX_TIMELAPSE_BYTES = 16 << 20  # 512 px time-lapses are under 1.4 MB (plan/timelapse.py MAX_BYTES)
MAX_FRAMES = 1000
MAX_DECODED_PIXELS = 1 << 27  # every frame's pixels together: 512 x 512 x 512
# (the record's size field, its sha256 field, what a message calls it), animation then still
PARTS = (("bytes", "sha256", "animation"), ("still_bytes", "still_sha256", "still"))


def listed(record: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(size, sha256, name) of the animation and the still that `record` lists; [] for none."""
    lapse = record.get("timelapse")
    if not isinstance(lapse, dict):
        return []
    return [(lapse[size], lapse[sha], what) for size, sha, what in PARTS]


def without(record: dict[str, Any]) -> dict[str, Any]:
    """`record` listing no time-lapse."""
    return {k: v for k, v in record.items() if k != "timelapse"}


def problem(data: bytes, what: str = "time-lapse") -> str | None:
    """Why `data` cannot be a time-lapse's animation or still, or None: a WebP of a sane size
    whose frames all decode. Its dimensions and frame count are read before any pixel is."""
    from PIL import Image

    from pipeline.core.images import MAX_PIXELS

    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return f"{what} is not a WebP image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["WEBP"]) as im:
                (w, h), frames = im.size, getattr(im, "n_frames", 1)
                if not (w and h) or max(w, h) > MAX_EDGE or w * h > MAX_PIXELS:
                    return f"{what} is {w}x{h} pixels, over the limit of {MAX_EDGE} pixels a side"
                if frames > MAX_FRAMES or w * h * frames > MAX_DECODED_PIXELS:
                    return f"{what} has {frames} frames of {w}x{h} pixels, more than a time-lapse may"
                for i in range(frames):
                    im.seek(i)
                    im.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        return f"{what} does not decode ({e})"
    return None


def checked(data: bytes, size: int, sha: str, what: str) -> bytes:
    """`data` when it is the file its record describes (`size` bytes, `sha`, a sound WebP);
    else DamagedEntry. `data` may hold one byte more than `size`: a longer file."""
    check_read(data, size, sha, what)
    why = problem(data, what)
    if why:
        raise DamagedEntry(why)
    return data


def local(cache: Cache, key: str, record: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The time-lapse of a local entry to push, checked as a pull will check it; None when the
    record lists none, or (with a warning) when a file is missing or is not the one it lists."""
    parts = listed(record)
    if not parts:
        return None
    try:
        anim, still = (_read_local(path, size, sha, what, cache.root)
                       for path, (size, sha, what) in zip(cache.timelapse_paths(key), parts))
    except DamagedEntry as e:
        log.warning("%s: its time-lapse is not pushed: %s; the render is pushed without it", key[:12], e)
        return None
    return anim, still


def _read_local(path, size: int, sha: str, what: str, root) -> bytes:
    try:
        st = os.lstat(path)
    except OSError:
        raise DamagedEntry(f"{what} {path} is missing") from None
    if not stat.S_ISREG(st.st_mode) or not safepath.inside(path, root):
        raise DamagedEntry(f"{what} {path} is not a regular file of the cache")
    if size > MAX_TIMELAPSE_BYTES:
        raise DamagedEntry(f"{what} is {size} bytes, more than a time-lapse may be "
                           f"({MAX_TIMELAPSE_BYTES >> 20} MiB)")
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
    except OSError as e:
        raise DamagedEntry(f"{what} {path} cannot be read ({e.strerror or e})") from None
    return checked(data, size, sha, f"{what} {path}")


def pulled(remote: Any, key: str, record: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The time-lapse `record` lists, read from `remote` (a pipeline.plan.remote.Remote) no
    further than its sizes and checked; None when it lists none, or (with a warning) when a
    file is absent or fails a check. RemoteError when the remote stops answering: then
    nothing of the entry is written, and the next pull brings it whole."""
    parts = listed(record)
    if not parts:
        return None
    try:
        anim, still = (_read_remote(remote, path, size, sha, what)
                       for path, (size, sha, what) in zip(remote.timelapse_paths(key, record["timelapse"]), parts))
    except DamagedEntry as e:
        log.warning("%s pulled from %s without its time-lapse: %s; not trusted, left out of the "
                    "local cache", key[:12], remote.display, e)
        return None
    return anim, still


def _read_remote(remote: Any, path: str, size: int, sha: str, what: str) -> bytes:
    if size > MAX_TIMELAPSE_BYTES:
        raise DamagedEntry(f"record says the {what} is {size} bytes, more than a time-lapse may be "
                           f"({MAX_TIMELAPSE_BYTES >> 20} MiB)")
    return checked(remote.read(path, size, what), size, sha, what)
