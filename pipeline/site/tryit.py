"""The files of the "Try it with your photo" page: runtime, networks, and the styles' vectors.

The page runs the fast engine's transform network in the visitor's browser (onnxruntime-web,
WebAssembly). The gallery's styles are not sent as images: their style vectors, computed in
Python with the same prediction network, ship as 400-byte files, so a visitor downloads only
the transform network unless they bring a style image of their own.

The site stage never runs a network: the run computes each vector before the site is built (the
try-it extra on the run's before_site hook, pipeline/plugins/tryit.py) and caches it here, under
the style image's and the prediction network's sha256 (<cache>/try-it/vectors/); a build reads
it back only when its record names both, the network's being the pinned one. The transform
network is cached only as the pinned bytes it must have (TRANSFORM_SHA256), since every
visitor's browser runs it. A build whose networks are cached imports neither onnx nor
onnxruntime. Nothing here imports torch.
"""
from __future__ import annotations

import json
import logging
import math
import struct
from pathlib import Path

from pipeline.core.model import Gallery, ImageEntry
from pipeline.site import runtime
from pipeline.util import jsonload
from pipeline.util.errors import GalleryError
from pipeline.util.files import write_bytes_atomic, write_text_atomic
from pipeline.util.hashing import bytes_sha256, file_sha256

log = logging.getLogger(__name__)

PAGE = "try-it.html"
FOLDER = "try-it/"  # everything the page loads, beside it
ASSETS = ("tryit.js", "tryit.css")  # from templates/try-it/ (a user's own template folder overrides them)
TRANSFORM, PREDICT, VECTORS = "transform.onnx", "predict.onnx", "styles/"
RUNTIME_LICENSE, MODELS_LICENSE = "LICENSE-onnxruntime-web.txt", "LICENSE-models.txt"
CACHE_VERSION = 1
# The transform network as the page ships it: models.dynamic_size of the pinned model, made by
# the pinned onnx (pyproject.toml). A cached copy is published only when it has these bytes.
TRANSFORM_SHA256 = "b31ad3a5f1675185a90dca478c153fb5054d5641265a143584c39a67c6538630"
ONNX_PIN = "1.23.2"

def tryit_files(gallery: Gallery, template_dirs: list[Path]) -> tuple[dict[str, bytes | Path], dict]:
    """(files for the site, relative path -> bytes or a file to copy; the template's view)."""
    from pipeline.render.fast import models

    cache = cache_dir(gallery)
    files: dict[str, bytes | Path] = {}
    for name, data in runtime.runtime_files().items():
        files[FOLDER + (RUNTIME_LICENSE if name == runtime.LICENSE[0] else name)] = data
    try:
        files[FOLDER + TRANSFORM] = _transform_model(cache, models)
        files[FOLDER + PREDICT] = models.model_bytes("predict")
    except models.ModelError as e:
        raise GalleryError(f"the try-it page needs the fast engine's networks: {e}; "
                           f"or set `site: try_it: false` in {gallery.path}") from None
    files[FOLDER + MODELS_LICENSE] = Path(models.__file__).with_name("LICENSE-models.txt")
    # one small file per style: its vector as 100 little-endian float32, named by its hash so
    # that a changed style image never meets a stale copy in a browser's cache
    vectors = {}
    for e in gallery.styles:
        data = struct.pack("<100f", *style_vector(e, models.MODEL_SHA256["predict"], cache))
        rel = f"{VECTORS}{e.id}-{bytes_sha256(data)[:12]}.f32"
        files[FOLDER + rel] = data
        vectors[e.id] = rel
    for name in ASSETS:
        files[FOLDER + name] = _asset(name, template_dirs)
    view = {
        "href": PAGE, "dir": FOLDER, "runtime": runtime.MODULE, "glue": runtime.GLUE,
        "wasm": runtime.WASM, "transform": TRANSFORM, "predict": PREDICT, "vectors": vectors,
        "js": FOLDER + "tryit.js", "css": FOLDER + "tryit.css",
        "runtime_license": FOLDER + RUNTIME_LICENSE, "models_license": FOLDER + MODELS_LICENSE,
        "version": runtime.VERSION,
        # what a visitor downloads: the runtime and the transform network (predict: own style only)
        "download_mb": _mb(files, runtime.MODULE, runtime.GLUE, runtime.WASM, TRANSFORM),
        "predict_mb": _mb(files, PREDICT),
    }
    return files, view


def cache_dir(gallery: Gallery) -> Path:
    """Where the try-it page's networks and style vectors are cached: beside the renders."""
    return Path(gallery.cache) / "try-it"


def vector_path(cache: Path, style_sha: str, model_sha: str) -> Path:
    """The cached vector of the style image `style_sha` by the prediction network `model_sha`."""
    return cache / "vectors" / f"{style_sha}-{model_sha[:16]}.json"


def style_vector(entry: ImageEntry, model_sha: str, cache: Path) -> list[float]:
    """The style vector of one style image (100 floats), as the run cached it."""
    sha = entry.sha256 or file_sha256(entry.file)
    path = vector_path(cache, sha, model_sha)
    vector = read_vector(path, sha, model_sha)
    if vector is None:
        raise GalleryError(f"style '{entry.id}': its try-it style vector is not in {path} (missing or "
                           f"damaged): a site built through `python -m pipeline site` (make site, gallery "
                           f"or serve) computes it first")
    return vector


def read_vector(path: Path, sha: str, model_sha: str) -> list[float] | None:
    """The vector cached at `path` if its record names both hashes and it holds 100 finite numbers."""
    try:
        doc = jsonload.loads(path.read_text(encoding="utf-8"))
        vector = doc["vector"]
        ok = (doc.get("version") == CACHE_VERSION and doc.get("style_sha256") == sha
              and doc.get("model_sha256") == model_sha and isinstance(vector, list) and len(vector) == 100
              and all(isinstance(v, (int, float)) and math.isfinite(v) for v in vector))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [float(v) for v in vector] if ok else None


def write_vector(path: Path, sha: str, model_sha: str, vector: list[float]) -> None:
    """Cache a style vector with the hashes it was computed from (raises OSError)."""
    doc = {"version": CACHE_VERSION, "style_sha256": sha, "model_sha256": model_sha, "vector": vector}
    write_text_atomic(path, json.dumps(doc) + "\n")


def _transform_model(cache: Path, models) -> bytes:
    """The transform network with a symbolic height and width (the shipped one is fixed at 384).

    What every visitor's browser runs must be what the pinned model makes, so a cached copy is
    used only when its bytes hash to TRANSFORM_SHA256; any other (damaged, or planted in a
    committed renders/ or a restored CI cache) is made again from the pinned model, and the
    cache repaired. With another onnx than the pinned one the bytes may differ: then the network
    is made at each build (from the pinned model, so still trusted) and never cached."""
    path = cache / f"transform-{TRANSFORM_SHA256[:16]}.onnx"
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is not None:
        if bytes_sha256(data) == TRANSFORM_SHA256:
            return data
        log.warning("try-it: %s is not the network the pinned model makes; making it again", path)
    data = models.dynamic_size(models.model_bytes("transform"))
    if bytes_sha256(data) != TRANSFORM_SHA256:
        log.info("try-it: the transform network made with this onnx differs from the pinned bytes "
                 "(onnx %s makes them); it is made at each build instead of cached", ONNX_PIN)
        return data
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        log.warning("cannot cache the try-it transform network in %s: %s", path, e)
    return data


def _asset(name: str, template_dirs: list[Path]) -> Path:
    for base in template_dirs:  # the user's folder first
        path = base / "try-it" / name
        if path.is_file():
            return path
    raise GalleryError(f"try-it/{name} is missing from the templates ({', '.join(map(str, template_dirs))}); "
                       f"reinstall the package or set `site: try_it: false`")


def _mb(files: dict[str, bytes | Path], *names: str) -> str:
    total = sum(len(d) if isinstance(d, bytes) else d.stat().st_size for n in names for d in [files[FOLDER + n]])
    return f"{total / 1e6:.1f}"
