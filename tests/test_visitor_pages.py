"""Public pages speak to visitors: no commands, no preset a render did not use, no empty tile for
an excluded cell, "1 picture"; and their layout at 375 and 1280 px: the styles' heads on one
line when titles wrap, the preview badge beside the thumbnail (not over it), the sources of a
small render smaller than it."""
from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from pipeline.core.params import RenderParams
from pipeline.site.builder import build_site
from site_fixtures import make_gallery, style_picture
from test_browser import _open, _QuietHandler, browser  # noqa: F401 - fixture

CONTENTS = [("pearl", "Girl with a Pearl Earring", (260, 320)), ("dancer", "The Dancer", (320, 240))]
STYLES = [("starry", "The Starry Night"), ("nude", "Seated Nude"), ("stairs", "Nude Descending a Staircase, No. 2")]
COMMANDS = re.compile(r"\bmake (gallery|preview|serve|site|add|init)\b|python -m|style-gallery|\bpipeline (build|gallery)\b")


def _preview(gallery, plan, pair):
    """The plan with the cell `pair` rendered by the fast engine (a preview), and its record."""
    cells = []
    for cell in plan.cells:
        if (cell.content.id, cell.style.id) == pair:
            params = RenderParams.from_layers(gallery.render, cell.content.render, cell.style.render,
                                              {"engine": "fast"})
            Path(cell.record).write_text(json.dumps({
                "key": cell.key, "params": params.effective(), "seconds": 0.2, "device": "cpu",
                "weights": {"id": "fast", "sha256": "f" * 64}, "renderer_version": 1, "inputs": {}}))
            cell = dataclasses.replace(cell, params=params)
        cells.append(cell)
    return dataclasses.replace(plan, cells=cells)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("visitors")
    (root / "images").mkdir()
    style_picture(1, 340).resize((272, 340)).save(root / "images" / "nude.png")  # a portrait painting
    gallery, plan = make_gallery(root, contents=CONTENTS, styles=STYLES, excluded={("dancer", "stairs")})
    build_site(gallery, _preview(gallery, plan, ("pearl", "starry")), quiet=True)
    one = root / "one"
    gallery1, plan1 = make_gallery(one, contents=CONTENTS[:1], styles=STYLES[:1])
    build_site(gallery1, plan1, quiet=True)
    return root


def _pages(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.html"))}


def test_no_public_page_names_a_command(site):
    pages = _pages(site / "site")
    assert len(pages) > 8
    found = {name: m.group(0) for name, text in pages.items() if (m := COMMANDS.search(text))}
    assert found == {}


def test_a_preview_page_says_what_it_is_without_the_presets_it_did_not_use(site):
    text = (site / "site" / "render" / "pearl--starry.html").read_text(encoding="utf-8")
    facts = re.search(r'<span class="summary-facts">(.*?)</span>', text, re.S).group(1)
    assert "fast network" in facts and "draft" not in facts and "standard" not in facts
    assert "loss curve" not in facts  # a fast render has none
    note = re.search(r'<p class="preview-note">(.*?)</p>', text, re.S).group(1)
    assert "fast network" in note and "<code>" not in note
    full = (site / "site" / "render" / "pearl--nude.html").read_text(encoding="utf-8")
    assert "draft" in re.search(r'<span class="summary-facts">(.*?)</span>', full, re.S).group(1)
    assert 'class="preview-note"' not in full


def test_counts_say_one_picture(site):
    one = (site / "one" / "site" / "index.html").read_text(encoding="utf-8")
    assert "1 picture × 1 style · 1 render." in one
    many = (site / "site" / "index.html").read_text(encoding="utf-8")
    assert "2 pictures × 3 styles · 5 renders." in many


def test_an_excluded_cell_shows_visitors_nothing(site):
    pages = _pages(site / "site")
    assert not [name for name, text in pages.items() if "Excluded" in text or "excluded from this gallery" in text]
    for name in ("index.html", "content/dancer.html", "style/stairs.html"):
        assert "dancer--stairs" not in pages[name] and "placeholder" not in pages[name], name


# ---- layout, in the browser

@pytest.fixture(scope="module")
def site_url(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/"
    server.shutdown()
    server.server_close()


HEADS = """() => [...document.querySelectorAll('.matrix thead th')].map(th => {
    const i = th.querySelector('img').getBoundingClientRect(), t = th.querySelector('.source-title').getBoundingClientRect();
    return {img_bottom: i.bottom, title_top: t.top, title_lines: Math.round(t.height / 14), ratio: i.width / i.height,
            file: th.querySelector('img').naturalWidth / th.querySelector('img').naturalHeight}; })"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_the_styles_heads_sit_on_one_line_when_titles_wrap(browser, site_url, width):
    ctx, page, problems = _open(browser, site_url + "index.html", width, 800)
    try:
        page.wait_for_function("[...document.images].every(i => i.complete)")
        heads = page.evaluate(HEADS)
        assert len(heads) == 3
        if width == 375:
            assert len({h["title_lines"] for h in heads}) > 1, "the titles wrap differently (the case to test)"
        assert max(h["img_bottom"] for h in heads) - min(h["img_bottom"] for h in heads) < 1, heads
        assert max(h["title_top"] for h in heads) - min(h["title_top"] for h in heads) < 1, heads
        assert all(abs(h["ratio"] / h["file"] - 1) < 0.02 for h in heads), "no painting is cropped or stretched"
        assert problems == []
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_the_preview_badge_does_not_cover_the_thumbnail(browser, site_url, width):
    ctx, page, problems = _open(browser, site_url + "index.html", width, 800)
    try:
        boxes = page.evaluate("""() => [...document.querySelectorAll('.cell-art')].filter(a => a.querySelector('.preview-badge'))
            .map(a => [a.querySelector('img').getBoundingClientRect(), a.querySelector('.preview-badge').getBoundingClientRect()]
            .map(r => [r.left, r.top, r.right, r.bottom]))""")
        assert len(boxes) == 1
        (il, it, ir, ib), (bl, bt, br, bb) = boxes[0]
        assert bb <= it or bt >= ib or br <= il or bl >= ir, f"badge {boxes[0][1]} over image {boxes[0][0]}"
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [375, 1280])
def test_the_sources_of_a_small_render_are_smaller_than_it(browser, site_url, width):
    ctx, page, problems = _open(browser, site_url + "render/dancer--starry.html", width, 800)
    try:
        page.wait_for_function("[...document.images].every(i => i.complete)")
        frame, *sources = page.evaluate("""() => [document.querySelector('.compare-frame'),
            ...document.querySelectorAll('.source-card img')].map(e => { const r = e.getBoundingClientRect();
            return [r.width, r.height]; })""")
        assert frame == [256, 192]  # the render at its own size
        assert all(w < frame[0] and h < frame[1] for w, h in sources), (frame, sources)
    finally:
        ctx.close()


def test_the_renders_are_the_sizes_the_tests_assume(site):
    cache = site / "renders"
    sizes = {Image.open(p).size for p in cache.rglob("*.png")}
    assert (256, 192) in sizes
