"""The try-it page's style vectors on the run's before_site hook: before a run builds the site,
each gallery style's vector (100 floats: the fast engine's prediction network on the style
image) is computed once and cached beside the renders (site/tryit.py's layout: named and checked
by the style image's sha256 and the network's pinned one), so the site stage only reads them.

`site: try_it: false`, or a gallery without styles, turns it off. A vector already cached costs
a small read; one computed costs onnxruntime's start and a pass of the network.
"""
from __future__ import annotations

import logging
from typing import Callable

from pipeline.core.weights import FAST_MODEL_SHA256
from pipeline.plugins.hooks import Hooks, Run
from pipeline.util.errors import DISK_ERRNOS, GalleryError
from pipeline.util.hashing import file_sha256

log = logging.getLogger(__name__)

# (style sha256, model sha256) -> vector, for this process: another gallery or cache reuses it
_known: dict[tuple[str, str], list[float]] = {}


def register(hooks: Hooks) -> None:
    """Hang the try-it page's style vectors on `hooks`."""
    hooks.before_site.append(style_vectors)


def style_vectors(run: Run) -> None:
    """Cache the vector of every style of the run's gallery (image hashes from the plan's memo)."""
    cache_vectors(run.gallery, run.plan.cache.file_sha256)


def cache_vectors(gallery, sha_of: Callable = file_sha256) -> list[str]:
    """Compute and cache the vector of each style the cache lacks (or holds damaged); returns
    the ids of those computed. `sha_of(path)` hashes a style image that pins no sha256."""
    if not gallery.site.try_it or not gallery.styles:
        return []
    from pipeline.site import tryit  # the vectors' layout: only a run that builds the site pays for it

    folder, model = tryit.cache_dir(gallery), FAST_MODEL_SHA256["predict"]
    computed = []
    for entry in gallery.styles:
        sha = entry.sha256 or sha_of(entry.file)
        path = tryit.vector_path(folder, sha, model)
        if tryit.read_vector(path, sha, model) is not None:
            continue
        vector = _known.get((sha, model)) or _compute(entry)
        _known[(sha, model)] = vector
        try:
            tryit.write_vector(path, sha, model, vector)
        except OSError as e:
            if e.errno in DISK_ERRNOS:
                raise  # a full or read-only disk: the CLI's one message for it says what to do
            raise GalleryError(f"cannot cache the try-it style vector of style '{entry.id}' in {path}: "
                               f"{e.strerror or e}; the site reads it from there: point `cache:` in "
                               f"{gallery.path} at a writable folder, or set `site: try_it: false`") from None
        computed.append(entry.id)
    return computed


def _compute(entry) -> list[float]:
    import numpy as np  # Pillow, numpy and onnxruntime: only when a vector is missing

    from pipeline.core.images import ImageLoadError, load_rgb
    from pipeline.render.fast import models

    try:
        image = load_rgb(entry.file)
    except (OSError, ImageLoadError) as e:
        raise GalleryError(f"style '{entry.id}' ({entry.file}): cannot read the image for the try-it "
                           f"page's style vector: {e}") from None
    vector = models.style_vector(image)
    log.info("try-it: style vector of %s computed", entry.id)
    return [float(v) for v in np.asarray(vector, np.float32)]  # each exactly a float32
