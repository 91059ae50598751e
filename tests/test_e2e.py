"""End to end, as a new user meets it: the demo manifest through validate, render, site and a browser.

Runs the real CLI in subprocesses on a copy of the demo manifest at a small size with the
draft preset (the real renderer, the real VGG-19 weights), then walks the user's path: a
second run renders nothing, a new style renders exactly its column, a changed style
parameter re-renders exactly that column, a removed content leaves the site and `prune`
offers its renders.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from htmlcheck import check_site

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SMALL = {"size": 64, "preset": "draft", "min_size": 32}


def _run(manifest: Path, *args: str, mirror: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GALLERY_MIRROR": str(mirror), "PYTHONUNBUFFERED": "1"}
    env.pop("MAKEFLAGS", None)
    r = subprocess.run([sys.executable, "-m", "pipeline", *args, "--config", str(manifest)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _status(manifest: Path, mirror: Path) -> dict:
    r = _run(manifest, "status", "--json", mirror=mirror)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _to_render(status: dict) -> dict[str, list[str]]:
    return {c["cell"]: c["reasons"] for c in status["cells"] if c["state"] == "render"}


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file's sha256 and mtime: equal trees with equal mtimes were not even rewritten."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _edit(manifest: Path, change) -> None:
    data = yaml.safe_load(manifest.read_text())
    change(data)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A copy of the demo manifest in its own project folder, rendered small, built once."""
    mirrors = os.environ.get("GALLERY_MIRROR") or str(REPO.parent / "shared" / "seed-gallery")
    mirror = Path(mirrors.split(os.pathsep)[0])
    if not (mirror / "SOURCES.md").is_file():
        pytest.skip("no seed-gallery mirror: set GALLERY_MIRROR to ../shared/seed-gallery")
    root = tmp_path_factory.mktemp("e2e")
    manifest = root / "config" / "gallery.yaml"
    manifest.parent.mkdir()
    manifest.write_text((REPO / "config" / "gallery.yaml").read_text())
    _edit(manifest, lambda d: d["render"].update(SMALL))
    first = _run(manifest, "gallery", "--quiet", mirror=mirror)
    assert first.returncode == 0, first.stdout + first.stderr
    return manifest, mirror, root, first


def test_fresh_gallery_renders_all_nine_cells_and_builds_a_clean_site(demo):
    manifest, mirror, root, first = demo
    status = _status(manifest, mirror)
    assert status["counts"].get("cached") == 9 and status["to_render"] == 0
    site = root / "site"
    renders = sorted(p.name for p in (site / "render").glob("*.html"))
    assert renders == sorted(f"{c}--{s}.html" for c in ("dancing", "pearl", "vinci")
                             for s in ("gogh", "picasso", "staircase"))
    assert check_site(site) == []
    index = (site / "index.html").read_text()
    assert "Mona Lisa in the style of The Starry Night" in index
    lock = json.loads(manifest.with_suffix(".lock.json").read_text())
    assert len(lock["cells"]) == 9


def test_second_run_renders_nothing_and_leaves_the_site_untouched(demo):
    manifest, mirror, root, _ = demo
    before = _tree(root / "site")
    lock_before = manifest.with_suffix(".lock.json").read_bytes()
    again = _run(manifest, "gallery", "--quiet", mirror=mirror)
    assert again.returncode == 0, again.stderr
    assert "rendering" not in again.stdout.lower() or "nothing to render" in again.stdout.lower()
    assert _tree(root / "site") == before
    assert manifest.with_suffix(".lock.json").read_bytes() == lock_before


def test_the_site_works_in_a_real_browser(demo):
    from test_browser import CHROMIUM, _load_all_images, _need, _open, _QuietHandler, ARGS
    import functools
    import http.server
    import threading

    if not CHROMIUM.exists():
        _need("no /usr/bin/chromium (apt-get install -y chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed")
    _, _, root, _ = demo
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/site/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            for path in ("index.html", "render/vinci--gogh.html", "content/pearl.html", "about.html"):
                ctx, page, problems = _open(browser, base + path)
                assert _load_all_images(page) == [], path
                assert problems == [], (path, problems)
                ctx.close()
            ctx, page, problems = _open(browser, base + "render/pearl--picasso.html")
            slider = page.locator("input[type=range]").first
            slider.focus()
            start = float(slider.input_value())
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            assert float(slider.input_value()) < start
            ctx.close()
            ctx, page, problems = _open(browser, base + "index.html", width=375, height=812)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            ctx.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_new_style_renders_exactly_its_column(demo):
    manifest, mirror, root, _ = demo

    def add_style(d):
        gogh = next(s for s in d["styles"] if s["id"] == "gogh")
        d["styles"].append({**gogh, "id": "gogh-bold", "title": "The Starry Night (bold)",
                            "render": {"style_weight": 8.0}})
    _edit(manifest, add_style)
    todo = _to_render(_status(manifest, mirror))
    assert sorted(todo) == ["dancing:gogh-bold", "pearl:gogh-bold", "vinci:gogh-bold"]
    assert all(any("new style" in r for r in reasons) for reasons in todo.values()), todo
    r = _run(manifest, "gallery", "--quiet", mirror=mirror)
    assert r.returncode == 0, r.stderr
    assert _to_render(_status(manifest, mirror)) == {}
    assert (root / "site" / "render" / "pearl--gogh-bold.html").is_file()


def test_a_changed_style_parameter_rerenders_exactly_that_column(demo):
    manifest, mirror, _, _ = demo

    def tweak(d):
        next(s for s in d["styles"] if s["id"] == "picasso").setdefault("render", {})["style_scale"] = 0.8
    _edit(manifest, tweak)
    todo = _to_render(_status(manifest, mirror))
    assert sorted(todo) == ["dancing:picasso", "pearl:picasso", "vinci:picasso"]
    assert all(any("style_scale" in r for r in reasons) for reasons in todo.values()), todo
    r = _run(manifest, "render", "--quiet", mirror=mirror)
    assert r.returncode == 0, r.stderr
    assert _to_render(_status(manifest, mirror)) == {}


def test_a_removed_content_leaves_the_site_and_prune_offers_its_renders(demo):
    manifest, mirror, root, _ = demo
    _edit(manifest, lambda d: d.update(contents=[c for c in d["contents"] if c["id"] != "dancing"]))
    r = _run(manifest, "gallery", "--quiet", mirror=mirror)
    assert r.returncode == 0, r.stderr
    site = root / "site"
    assert not (site / "content" / "dancing.html").exists()
    assert not list((site / "render").glob("dancing--*"))
    assert "dancing" not in (site / "index.html").read_text()
    assert check_site(site) == []
    listed = _run(manifest, "prune", mirror=mirror)
    assert listed.returncode == 0
    # dancing x (gogh, picasso, staircase, gogh-bold), plus the 3 picasso renders that the
    # style_scale change replaced (one of them dancing's too)
    assert listed.stdout.count("was dancing:") == 5, listed.stdout
    assert listed.stdout.count("(unused, was ") == 7, listed.stdout
    assert "nothing deleted" in listed.stdout
    deleted = _run(manifest, "prune", "--yes", mirror=mirror)
    assert deleted.returncode == 0 and "deleted 7 entries" in deleted.stdout, deleted.stdout
    assert "nothing to prune" in _run(manifest, "prune", mirror=mirror).stdout
