"""The try-it page's files, without a browser: the vendored runtime and its pins, the networks and
the styles' vectors a build ships, the links to the page, and `site.try_it: false`.

The page itself, in Chromium, is tests/test_tryit_browser.py.
"""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import struct
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO, dump_manifest, write_image
from pipeline.core.images import load_rgb
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.schema import schema
from pipeline.plugins import tryit as tryit_vectors
from pipeline.render.fast import models
from pipeline.site import runtime, tryit
from pipeline.site.builder import build_site
from pipeline.util.errors import GalleryError, ManifestError
from pipeline.util.hashing import file_sha256
from site_fixtures import STYLES, make_gallery as fake_gallery

MB = 1_000_000


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tryit")
    gallery, plan = fake_gallery(root)
    report = build_site(gallery, plan, quiet=True)
    return gallery, plan, report, gallery.site.output


# ---- the vendored runtime ------------------------------------------------------------------------

def test_vendored_runtime_matches_its_pins():
    """The checker: every file of vendor/onnxruntime-web is the one pinned in runtime.py."""
    pinned = {**runtime.FILES, runtime.LICENSE[0]: runtime.LICENSE[1]}
    assert sorted(p.name for p in runtime.VENDOR.iterdir()) == sorted(pinned)
    for name, sha in pinned.items():
        assert hashlib.sha256((runtime.VENDOR / name).read_bytes()).hexdigest() == sha, name
    licence = (runtime.VENDOR / runtime.LICENSE[0]).read_text(encoding="utf-8")
    assert f"ONNX Runtime Web {runtime.VERSION}" in licence and "MIT License" in licence
    assert runtime.runtime_files().keys() == pinned.keys()


@pytest.mark.parametrize("damage", ["flip", "missing"])
def test_a_damaged_runtime_is_refused_with_the_fix(tmp_path, monkeypatch, damage):
    vendor = tmp_path / "vendor"
    shutil.copytree(runtime.VENDOR, vendor)
    wasm = vendor / runtime.WASM
    if damage == "flip":
        data = bytearray(wasm.read_bytes())
        data[1000] ^= 1
        wasm.write_bytes(bytes(data))
    else:
        wasm.unlink()
    monkeypatch.setattr(runtime, "VENDOR", vendor)
    with pytest.raises(GalleryError) as e:
        runtime.runtime_files()
    message = str(e.value)
    assert str(wasm) in message and "docs/development.md" in message
    assert ("not the pinned" in message) == (damage == "flip")


def _npm_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """An npm pack tarball holding `files` under package/."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_vendor_from_tarball_copies_the_three_files(tmp_path):
    tgz = _npm_tarball(tmp_path / "onnxruntime-web-9.9.9.tgz",
                       {f"dist/{name}": f"contents of {name}".encode() for name in (*runtime.FILES, "ort.min.mjs")})
    dest = tmp_path / "dest"
    dest.mkdir()
    pins = runtime.vendor_from_tarball(tgz, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(runtime.FILES)
    assert pins[runtime.WASM] == hashlib.sha256(f"contents of {runtime.WASM}".encode()).hexdigest()
    incomplete = tmp_path / "other.tgz"
    with tarfile.open(incomplete, "w:gz"):
        pass
    with pytest.raises(GalleryError, match="no package/dist/ort.wasm.min.mjs"):
        runtime.vendor_from_tarball(incomplete, dest)


def test_the_vendoring_command_copies_the_files_and_prints_the_pins(tmp_path, monkeypatch, capsys):
    from pipeline.cli import vendor_runtime

    files = {f"dist/{name}": f"contents of {name}".encode() for name in runtime.FILES}
    tgz = _npm_tarball(tmp_path / "ort.tgz", {"package.json": b'{"version": "9.9.9"}', **files})
    monkeypatch.setattr(runtime, "VENDOR", tmp_path / "vendor")
    (tmp_path / "vendor").mkdir()
    assert vendor_runtime.main([str(tgz)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert 'VERSION = "9.9.9"' in out
    sha = hashlib.sha256(f"contents of {runtime.WASM}".encode()).hexdigest()
    assert f'    "{runtime.WASM}": "{sha}",' in out
    assert (tmp_path / "vendor" / runtime.WASM).read_bytes() == f"contents of {runtime.WASM}".encode()
    assert vendor_runtime.main([str(_npm_tarball(tmp_path / "bare.tgz", files))]) == 1
    assert "no version in package/package.json" in capsys.readouterr().err


# ---- what a build ships --------------------------------------------------------------------------

def test_the_site_ships_runtime_networks_and_licences(built):
    _, _, _, out = built
    folder = out / "try-it"
    for name in runtime.FILES:
        assert (folder / name).read_bytes() == (runtime.VENDOR / name).read_bytes(), name
    assert (folder / tryit.RUNTIME_LICENSE).read_bytes() == (runtime.VENDOR / runtime.LICENSE[0]).read_bytes()
    assert "Apache License" in (folder / tryit.MODELS_LICENSE).read_text(encoding="utf-8")
    assert (folder / tryit.PREDICT).read_bytes() == models.model_bytes("predict")
    import onnx

    transform = onnx.load(str(folder / tryit.TRANSFORM))
    original = onnx.load_from_string(models.model_bytes("transform"))
    for value in (transform.graph.input[0], transform.graph.output[0]):  # NHWC, H and W symbolic
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims[1:3]] == ["height", "width"]
        assert dims[3].dim_value == 3
    assert [i.raw_data for i in transform.graph.initializer] == [i.raw_data for i in original.graph.initializer]
    for name in tryit.ASSETS:
        assert (folder / name).read_bytes() == (REPO / "templates" / "try-it" / name).read_bytes()


def test_each_style_vector_is_the_fast_engines(built):
    """The page's vector of each gallery style is, to the bit, style_vector() of its image."""
    gallery, _, _, out = built
    page = (out / "try-it.html").read_text(encoding="utf-8")
    for e in gallery.styles:
        m = re.search(rf'value="{e.id}" data-title="[^"]*" data-vector="([^"]+)"', page)
        assert m, e.id
        data = (out / "try-it" / m.group(1)).read_bytes()
        assert len(data) == 400
        want = models.style_vector(load_rgb(e.file))
        assert struct.unpack("<100f", data) == tuple(float(v) for v in want)
    vectors = sorted(p.name for p in (out / "try-it" / "styles").iterdir())
    assert [v.split("-")[0] for v in vectors] == sorted(s for s, _ in STYLES)


def test_the_page_is_linked_and_says_nothing_leaves_the_device(built):
    _, _, _, out = built
    page = (out / "try-it.html").read_text(encoding="utf-8")
    assert "Your photo never leaves this device" in page and "no analytics" in page
    assert 'capture="environment"' in page and 'type="file"' in page
    for rel, link in (("index.html", 'href="try-it.html"'), ("style/starry.html", 'href="../try-it.html?style=starry"'),
                      ("render/mona--starry.html", 'href="../try-it.html?style=starry"'),
                      ("render/pearl--nude.html", 'href="../try-it.html?style=nude"')):
        assert link in (out / rel).read_text(encoding="utf-8"), rel


def test_the_page_and_its_script_name_no_other_host(built):
    """No CDN, no analytics: nothing the page or its script loads is absolute."""
    _, _, _, out = built
    page = (out / "try-it.html").read_text(encoding="utf-8")
    urls = re.findall(r'(?:src|href|data-base|data-vector)="([^"]*)"', page)
    assert urls and not [u for u in urls if re.match(r"(?i)[a-z]+:|//", u)]
    script = (out / "try-it" / "tryit.js").read_text(encoding="utf-8")
    assert not re.search(r"https?:|//[a-z]", script.replace("://", "")), "the script names a host"
    assert "fetch(new URL(" in script and "import(new URL(" in script  # both relative to the page


def test_try_it_false_leaves_the_page_and_its_files_out(built, tmp_path):
    gallery, plan, on, _ = built
    off_gallery = replace(gallery, site=replace(gallery.site, output=tmp_path / "site", try_it=False, budget_mb=10))
    off = build_site(off_gallery, plan, quiet=True)
    out = off_gallery.site.output
    assert not (out / "try-it.html").exists() and not (out / "try-it").exists()
    for page in out.rglob("*.html"):
        assert "try-it" not in page.read_text(encoding="utf-8"), page
    # the size budget counts the page's files: about 17 MB more with them
    extra = sum(p.stat().st_size for p in (gallery.site.output / "try-it").rglob("*") if p.is_file())
    assert extra > 17 * MB
    assert on.bytes - off.bytes > extra
    on_again = replace(gallery, site=replace(gallery.site, output=tmp_path / "site-on", budget_mb=10))
    with pytest.raises(GalleryError, match=r"budget_mb[\s\S]*try_it: false +saves about 1\d MB"):
        build_site(on_again, plan, quiet=True)


def test_the_run_caches_each_vector_once_and_the_site_only_reads_them(built, monkeypatch, tmp_path):
    gallery, plan, _, _ = built
    g = replace(gallery, cache=tmp_path / "renders", site=replace(gallery.site, output=tmp_path / "site"))
    shutil.copytree(Path(gallery.cache), g.cache, ignore=shutil.ignore_patterns("vectors"))  # no vector
    with pytest.raises(GalleryError, match=r"style 'starry': its try-it style vector is not in .*vectors.*"
                                           r"python -m pipeline site"):
        build_site(g, plan, quiet=True)
    calls = []
    compute = tryit_vectors._compute
    monkeypatch.setattr(tryit_vectors, "_known", {})
    monkeypatch.setattr(tryit_vectors, "_compute", lambda e: calls.append(e.id) or compute(e))
    ids = [s for s, _ in STYLES]
    assert tryit_vectors.cache_vectors(g) == ids and calls == ids
    assert tryit_vectors.cache_vectors(g) == [] and calls == ids  # cached on disk
    assert build_site(g, plan, quiet=True).files
    entry, sha = g.styles[0], models.MODEL_SHA256["predict"]
    path = tryit.vector_path(tryit.cache_dir(g), file_sha256(entry.file), sha)
    assert tryit.read_vector(path, file_sha256(entry.file), "f" * 64) is None  # another network's: not used
    path.write_text("{not json", encoding="utf-8")
    assert tryit_vectors.cache_vectors(g) == [entry.id] and calls == ids  # repaired from this process's copy
    monkeypatch.setattr(tryit_vectors, "_known", {})
    path.write_text("{not json", encoding="utf-8")
    assert tryit_vectors.cache_vectors(g) == [entry.id] and calls == ids + [entry.id]  # computed again
    assert tryit.read_vector(path, file_sha256(entry.file), sha) == tryit.style_vector(entry, sha, tryit.cache_dir(g))
    off = replace(g, cache=tmp_path / "other", site=replace(g.site, try_it=False))
    assert tryit_vectors.cache_vectors(off) == [] and not (tmp_path / "other").exists()


def test_the_pinned_transform_network_is_what_the_pinned_model_and_onnx_make():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"onnx=={tryit.ONNX_PIN}" in deps
    made = models.dynamic_size(models.model_bytes("transform"))
    assert hashlib.sha256(made).hexdigest() == tryit.TRANSFORM_SHA256


def test_a_planted_transform_network_in_the_cache_is_never_published(built, tmp_path):
    """A cached network (a committed renders/, a restored CI cache) is published only when its
    bytes are the pinned ones; another is made again from the pinned model, and the cache repaired."""
    gallery, plan, _, _ = built
    cache = tmp_path / "renders"
    shutil.copytree(Path(gallery.cache), cache)
    planted = b"\x08\x07planted network" * 1000
    for old in (cache / "try-it").glob("transform-*.onnx"):  # whatever name a cache holds, with its own hash
        old.write_bytes(planted)
        old.with_suffix(".sha256").write_text(hashlib.sha256(planted).hexdigest() + "\n")
    pinned = getattr(tryit, "TRANSFORM_SHA256", "0" * 64)
    for name in (f"transform-{models.MODEL_SHA256['transform'][:16]}-onnx1.23.2.onnx", f"transform-{pinned[:16]}.onnx"):
        (cache / "try-it" / name).write_bytes(planted)
        (cache / "try-it" / name).with_suffix(".sha256").write_text(hashlib.sha256(planted).hexdigest() + "\n")
    g = replace(gallery, cache=cache, site=replace(gallery.site, output=tmp_path / "site"))
    build_site(g, plan, quiet=True)
    shipped = (tmp_path / "site" / "try-it" / "transform.onnx").read_bytes()
    assert shipped != planted and hashlib.sha256(shipped).hexdigest() == tryit.TRANSFORM_SHA256
    assert (cache / "try-it" / f"transform-{pinned[:16]}.onnx").read_bytes() == shipped  # repaired


def test_a_build_with_cached_vectors_imports_neither_torch_nor_onnxruntime(built, tmp_path):
    gallery, _, _, _ = built
    code = f"""
import sys
sys.path.insert(0, {str(REPO / 'tests')!r})
from pathlib import Path
from dataclasses import replace
from site_fixtures import make_gallery
from pipeline.site.builder import build_site
g, plan = make_gallery(Path({str(Path(gallery.root))!r}))
g = replace(g, site=replace(g.site, output=Path({str(tmp_path / 'site')!r})))
build_site(g, plan, quiet=True)
assert Path({str(tmp_path / 'site' / 'try-it.html')!r}).is_file()
print(sorted(m for m in ("torch", "onnxruntime", "onnx") if m in sys.modules))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"


# ---- the manifest key ----------------------------------------------------------------------------

def _manifest(tmp_path: Path, site: dict) -> Path:
    write_image(tmp_path / "images" / "pearl.png", seed=1)
    write_image(tmp_path / "images" / "gogh.png", seed=2)
    return dump_manifest(tmp_path / "gallery.yaml", {
        "site": {"title": "T", **site},
        "contents": [{"id": "pearl", "file": "images/pearl.png"}],
        "styles": [{"id": "gogh", "file": "images/gogh.png"}]})


def test_manifest_site_try_it(tmp_path):
    assert load_gallery(_manifest(tmp_path, {})).site.try_it is True
    assert load_gallery(_manifest(tmp_path, {"try_it": False})).site.try_it is False
    with pytest.raises(ManifestError, match=r"gallery.yaml:\d+: site: 'try_it' must be true or false, not 'no way'"):
        load_gallery(_manifest(tmp_path, {"try_it": "no way"}))
    assert schema()["$defs"]["site"]["properties"]["try_it"] == {
        "description": schema()["$defs"]["site"]["properties"]["try_it"]["description"],
        "type": "boolean", "default": True}
