"""What a visitor sees, in headless Debian Chromium (Playwright): the lightbox, uncropped images,
live reload while `serve` runs, the phone layout, a readable loss chart. Screenshots of the
index, a render page and the lightbox at 375 and 1280 px go to .screenshots/ (git-ignored).

The gallery is generated (site_fixtures): three pictures of different shapes, a portrait
painting, fake renders; one record carries a standard 5-level schedule for the loss chart.
"""
from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from pipeline.site.builder import build_site
from site_fixtures import make_gallery, style_picture
from test_browser import SHOTS, _load_all_images, _open, _QuietHandler, browser, lightbox_items  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

PAGES = ["index.html", "render/pearl--nude.html", "content/pearl.html", "style/nude.html", "about.html"]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("ux")
    images = root / "images"
    images.mkdir()
    # a portrait painting (as The Scream is): its cards must not be cropped square either
    style_picture(1, 340).resize((272, 340)).save(images / "nude.png")
    gallery, plan = make_gallery(root, title="Style Transfer Gallery", missing={("dancer", "stairs")})
    for cell in plan.cells:  # one render with a five-level schedule (standard's shape)
        if (cell.content.id, cell.style.id) == ("pearl", "nude"):
            rec = json.loads(Path(cell.record).read_text())
            levels, loss = [], 3e6
            for edge, its in ((128, 10), (181, 10), (256, 10), (362, 10), (512, 130)):
                trace = [{"iteration": i, "content": loss * 0.3, "style": loss * 0.7, "tv": 0.0,
                          "total": (loss := loss * 0.97)} for i in range(0, its + 1, 2)]
                levels.append({"size": [edge, round(edge * 1.23)], "iterations": its, "seconds": 1.0, "trace": trace})
            rec["levels"] = levels
            Path(cell.record).write_text(json.dumps(rec))
    build_site(gallery, plan, quiet=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/"
    server.shutdown()
    server.server_close()


def _shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


# ---- no image is cropped

CROPPED = """() => [...document.images].filter(i => i.naturalWidth > 0 && i.offsetWidth > 0).map(i => {
    const r = i.getBoundingClientRect();
    return {src: i.currentSrc.split('/').pop(), box: r.width / r.height, file: i.naturalWidth / i.naturalHeight};
}).filter(x => Math.abs(x.box / x.file - 1) > 0.01)"""


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("path", PAGES)
def test_no_image_is_cropped(browser, site_url, path, width):
    ctx, page, problems = _open(browser, site_url + path, width, 900)
    try:
        assert _load_all_images(page) == []
        assert page.evaluate("document.images.length") > 0
        assert page.evaluate(CROPPED) == [], "rendered box ratio differs from the file's by more than 1%"
        assert problems == []
    finally:
        ctx.close()


def test_no_layout_shift_while_images_load(browser, site_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    try:
        page.add_init_script("""window.__cls = 0; window.__shifts = []; new PerformanceObserver(l => {
            for (const e of l.getEntries()) if (!e.hadRecentInput) { window.__cls += e.value;
                window.__shifts.push(e.sources.map(s => s.node ? (s.node.className || s.node.nodeName) : '?')); }
            }).observe({type: 'layout-shift', buffered: true});""")
        page.goto(site_url + "index.html", wait_until="load")
        # the lazy images below the first screen load while scrolling: none may move the page
        first = page.evaluate("[window.__cls, window.__shifts]")
        page.evaluate("window.__cls = 0; window.__shifts = []")
        _load_all_images(page)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__cls") < 0.01, page.evaluate("window.__shifts")
        assert first[0] < 0.1, first
    finally:
        ctx.close()


# ---- the lightbox

def test_lightbox_opens_zooms_moves_with_arrow_keys_and_closes_on_escape(browser, site_url):
    ctx, page, problems = _open(browser, site_url + "render/pearl--nude.html", 1280, 900)
    try:
        button = page.locator(".compare .zoom")
        assert button.is_visible() and button.inner_text().strip() == "Full screen"
        button.click()
        box = page.locator(".lightbox")
        box.wait_for(state="visible")
        page.wait_for_function("document.querySelector('.lightbox img').complete"
                               " && document.querySelector('.lightbox img').naturalWidth > 0")
        assert page.evaluate("document.activeElement.closest('.lightbox') !== null"), "focus moves into the dialog"
        items = lightbox_items(site_url)
        assert not page.locator("script#lightbox-data").count(), "no page carries the list of renders"
        start = [i["name"] for i in items].index("pearl--nude")
        assert box.get_attribute("data-index") == str(start)
        assert "Girl with a Pearl Earring in the style of Seated Nude" in box.inner_text()
        view = page.viewport_size
        fit = page.locator(".lightbox img").bounding_box()
        # as large as the screen allows, never beyond its own pixels (test_lightbox_fit: every case)
        scale = min(1, view["width"] / items[start]["width"], (view["height"] - 80) / items[start]["height"])
        assert abs(fit["width"] - items[start]["width"] * scale) <= 1 and fit["width"] <= items[start]["width"]
        # zoom: the + key, then the button, then a click on the picture
        page.keyboard.press("+")
        assert float(box.get_attribute("data-scale")) > 1.4
        assert page.locator(".lightbox img").bounding_box()["width"] > 1.4 * fit["width"]
        page.keyboard.press("0")
        assert box.get_attribute("data-scale") == "1.00"
        page.locator(".lightbox img").click()
        assert float(box.get_attribute("data-scale")) >= 2
        page.keyboard.press("0")
        # arrow keys move across the renders, both ways, with the caption
        page.keyboard.press("ArrowRight")
        assert box.get_attribute("data-index") == str((start + 1) % len(items))
        assert items[(start + 1) % len(items)]["alt"] in box.inner_text()
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        assert box.get_attribute("data-index") == str((start - 1) % len(items))
        assert page.locator(".lightbox .lb-download").get_attribute("href").endswith(
            items[(start - 1) % len(items)]["download"])
        _shot(page, "lightbox-desktop.png", full_page=False)
        page.keyboard.press("Escape")
        assert not box.is_visible()
        assert page.evaluate("document.activeElement.classList.contains('zoom')"), "focus returns to its button"
        assert problems == []
    finally:
        ctx.close()


def test_lightbox_on_a_phone_swipes_and_opens_from_the_grid(browser, site_url):
    ctx = browser.new_context(viewport={"width": 375, "height": 812}, has_touch=True, is_mobile=True)
    page = ctx.new_page()
    try:
        page.goto(site_url + "index.html", wait_until="load")
        first = page.locator(".matrix .zoom").first
        assert first.is_visible()
        first.click()
        box = page.locator(".lightbox")
        box.wait_for(state="visible")
        assert box.get_attribute("data-index") == "0"
        page.wait_for_function("document.querySelector('.lightbox img').naturalWidth > 0")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        lb = box.bounding_box()
        assert (lb["width"], lb["height"]) == (375, 812)
        _shot(page, "lightbox-phone.png", full_page=False)
        # a swipe to the left is the next render
        page.evaluate("""() => { const s = document.querySelector('.lb-stage');
            const ev = (type, x) => s.dispatchEvent(new PointerEvent(type, {pointerId: 7, pointerType: 'touch',
                clientX: x, clientY: 300, bubbles: true, isPrimary: true}));
            ev('pointerdown', 300); ev('pointermove', 200); ev('pointermove', 120); ev('pointerup', 120); }""")
        assert box.get_attribute("data-index") == "1"
        page.keyboard.press("Escape")
        assert not box.is_visible()
    finally:
        ctx.close()


def test_without_javascript_the_lightbox_buttons_stay_hidden(browser, site_url):
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(site_url + "render/pearl--nude.html")
        assert page.locator(".zoom").count() > 0 and not page.locator(".zoom").first.is_visible()
        assert page.locator("a.download").is_visible()
    finally:
        ctx.close()


# ---- the render page, on a phone and on a desktop

def test_render_page_leads_with_the_art_on_a_phone(browser, site_url):
    ctx, page, problems = _open(browser, site_url + "render/pearl--nude.html", 375, 812)
    try:
        assert _load_all_images(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        frame = page.locator(".compare-frame").bounding_box()
        assert frame["y"] < 812 * 0.6, "the render starts in the first screen"
        assert not page.locator("text=Cache key").is_visible(), "provenance is one click away, not in the way"
        page.locator(".provenance > summary").click()
        assert page.locator("text=Cache key").is_visible()
        # the loss chart's labels: real text size on a phone, and none on top of another
        labels = page.evaluate("""() => [...document.querySelectorAll('.loss-chart span')].map(s => {
            const r = s.getBoundingClientRect();
            return {t: s.textContent, size: parseFloat(getComputedStyle(s).fontSize), x: r.left, y: r.top, w: r.width, h: r.height};
        })""")
        assert len(labels) > 8
        assert min(label["size"] for label in labels) >= 11, labels
        overlaps = [(a["t"], b["t"]) for i, a in enumerate(labels) for b in labels[i + 1:]
                    if a["x"] < b["x"] + b["w"] - 0.5 and b["x"] < a["x"] + a["w"] - 0.5
                    and a["y"] < b["y"] + b["h"] - 0.5 and b["y"] < a["y"] + a["h"] - 0.5]
        assert overlaps == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.locator(".provenance > summary").click()
        _shot(page, "render-phone.png")
        assert problems == []
    finally:
        ctx.close()


def test_slider_is_never_stretched_past_the_render(browser, site_url):
    ctx, page, problems = _open(browser, site_url + "render/pearl--nude.html", 1280, 900)
    try:
        assert _load_all_images(page) == []
        # the file's own pixels (naturalWidth is density-corrected when srcset picked the file)
        sizes = page.evaluate("""() => Promise.all(['.compare-after img', '.compare-before img'].map(q => {
            const i = document.querySelector(q), f = new Image();
            return new Promise(ok => { f.onload = () => ok([i.getBoundingClientRect().width, f.naturalWidth, f.naturalHeight]);
                                       f.src = i.currentSrc; }); }))""")
        (after_w, after_nw, after_nh), (before_w, before_nw, before_nh) = sizes
        assert after_w <= after_nw + 0.5, "the render is shown at most at its own size"
        assert (before_nw, before_nh) == (after_nw, after_nh), "both sides have the render's pixels"
        assert abs(before_w - after_w) < 0.5
        _shot(page, "render-desktop.png")
        assert problems == []
    finally:
        ctx.close()


def test_index_screenshots_and_phone_layout(browser, site_url):
    for width, height, name in ((375, 812, "index-phone.png"), (1280, 900, "index-desktop.png")):
        ctx, page, problems = _open(browser, site_url + "index.html", width, height)
        try:
            assert _load_all_images(page) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            # rows stay rows: every render in a row has its picture's height
            rows = page.evaluate("""() => [...document.querySelectorAll('.matrix tbody tr')].map(tr =>
                [...tr.querySelectorAll('img')].map(i => Math.round(i.getBoundingClientRect().height)))""")
            for heights in rows:
                assert max(heights) - min(heights) <= 1, heights
            assert page.locator("a[download]").first.is_visible()
            _shot(page, name)
            assert problems == []
        finally:
            ctx.close()


# ---- live reload while `serve` runs

def test_live_reload_shows_a_new_title_without_a_manual_reload(browser, make_gallery):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from test_serve import start_serve, stop_serve

    manifest = make_gallery(contents=("pearl",), styles=("gogh",), site={"title": "Before the edit"})
    proc, url = start_serve(manifest)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        assert page.locator("h1").inner_text() == "Before the edit"
        page.evaluate("window.__not_reloaded = true")
        # The watcher starts just after the server answers: on a loaded machine an edit made at
        # once can land before it watches. The edit is saved again until a rebuild shows it
        # (each save is a real change the watcher must see), for at most 90 s.
        edited = manifest.read_text().replace("title: Before the edit", "title: After the edit")
        shown = "document.querySelector('h1') && document.querySelector('h1').textContent === 'After the edit'"
        deadline = time.monotonic() + 90
        while True:
            manifest.write_text(edited)
            try:
                page.wait_for_function(shown, timeout=15000)
                break
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    raise
        assert page.evaluate("window.__not_reloaded === undefined"), "the page reloaded itself"
        assert "After the edit" in page.title()
    finally:
        ctx.close()
        stop_serve(proc)
