"""The public API (pipeline/api.py) as a program that uses the library meets it: the list is the
module's whole public surface, the docs' samples import only from it, and its calls work as the
docs show them (one pair with each engine, a gallery read, rendered and built)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from PIL import Image

from docblocks import DOCS, blocks
from gallery_fakes import tiny_png

import pipeline.api as api
from pipeline.api import *  # noqa: F403 - exactly the listed names, as a user's star import gets them

PUBLIC = {
    "load_rgb", "ImageLoadError", "RenderParams", "ParamError", "PARAMS", "PRESETS",
    "stylize", "RenderResult", "RenderStep",
    "load_gallery", "Gallery", "run", "GalleryError",
}


def test_the_list_is_the_whole_public_surface():
    assert len(api.__all__) == len(set(api.__all__))
    assert set(api.__all__) == PUBLIC  # a change to the public API is a change to this test too
    defined = {name for name in vars(api) if not name.startswith("_")}
    assert defined == PUBLIC, f"public names not in __all__: {sorted(defined - PUBLIC)}"


def _pipeline_imports(code: str) -> list[tuple[str, str]]:
    """(module, name) of each `from pipeline... import name` and `import pipeline...` in `code`."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"):
            found += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("pipeline")]
    return found


def test_the_docs_samples_import_only_the_public_api():
    samples = [b for doc in DOCS for b in blocks(doc) if b.lang == "python" and not b.not_run]
    used = [(b.where, module, name) for b in samples for module, name in _pipeline_imports(b.text)]
    assert used, "the docs show the API in at least one sample"
    assert [u for u in used if u[1] != "pipeline.api" or u[2] not in api.__all__] == []


def test_the_import_finder_finds_internal_imports():
    code = "import pipeline.render.engine\nfrom pipeline.core.params import RenderParams\n"
    assert _pipeline_imports(code) == [("pipeline.render.engine", ""), ("pipeline.core.params", "RenderParams")]


def _pair(tmp_path: Path) -> tuple[Image.Image, Image.Image]:
    return (load_rgb(tiny_png(tmp_path / "content.png", 1, (48, 32))),
            load_rgb(tiny_png(tmp_path / "style.png", 2, (40, 40))))


def test_one_pair_with_the_optimiser_reports_each_iteration(tmp_path):
    content, style = _pair(tmp_path)
    steps = []
    params = RenderParams(size=32, min_size=16, iterations=(2, 3), weights="caffe-vgg19")
    result = stylize(content, style, params, progress=steps.append)
    assert isinstance(result, RenderResult)
    assert result.image.size == (32, 21) and result.image.mode == "RGB"
    assert result.record["engine"] == "gatys" and result.record["params"]["size"] == 32
    assert all(isinstance(s, RenderStep) for s in steps)
    assert [s.done for s in steps] == [1, 2, 3, 4, 5] and {s.total for s in steps} == {5}


def test_one_pair_with_the_fast_engine(tmp_path):
    content, style = _pair(tmp_path)
    result = stylize(content, style, RenderParams(engine="fast", size=40))
    assert result.image.size == (40, 27)
    assert result.record["engine"] == "fast"
    assert result.image.tobytes() != content.resize((40, 27), Image.LANCZOS).tobytes()  # painted, not copied


def test_bad_input_raises_the_public_errors(tmp_path):
    with pytest.raises(ParamError, match="'size' must be at least 16"):
        RenderParams().with_(size=4)
    assert set(PRESETS) >= {"draft", "standard"} and {p.name for p in PARAMS} >= {"size", "engine"}
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_rgb(text)
    manifest = tmp_path / "gallery.yaml"
    manifest.write_text("contents: [{id: a, title: A, file: missing.png}]\nstyles: []\n")
    with pytest.raises(GalleryError, match="gallery.yaml:1"):
        load_gallery(manifest)


def test_a_gallery_is_read_rendered_and_built(tmp_path):
    for role, ids in (("content", ("pearl", "vinci")), ("style", ("gogh",))):
        for i, id in enumerate(ids):
            tiny_png(tmp_path / "images" / f"{id}.png", 10 * i + len(role), (48, 32))
    manifest = tmp_path / "gallery.yaml"
    manifest.write_text(
        "site: {title: Mine, output: site}\ncache: renders\nrender: {engine: fast, size: 32}\n"
        "contents:\n  - {id: pearl, title: Pearl, file: images/pearl.png}\n"
        "  - {id: vinci, title: Vinci, file: images/vinci.png}\n"
        "styles:\n  - {id: gogh, title: Gogh, file: images/gogh.png}\n")
    gallery = load_gallery(manifest)
    assert isinstance(gallery, Gallery) and [c.id for c in gallery.contents] == ["pearl", "vinci"]
    report = run(gallery, build_site=True)
    assert report.rendered == 2
    assert len(json.loads(gallery.lock_path.read_text())["cells"]) == 2
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Mine" in index and "Pearl" in index
    assert run(gallery).rendered == 0  # cached now
