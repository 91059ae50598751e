"""The built site in a real browser: headless Debian Chromium driven by Playwright.

Serves a demo-like site (generated pictures, fake renders) from a local HTTP server under a
sub-path, as GitHub Pages does for a project site, and checks what only a browser can: no
console errors, every image decodes, the slider answers the arrow keys, the matrix fits a
375 px phone. Screenshots go to .screenshots/ at the repository root (git-ignored).
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from pipeline.site.builder import build_site
from site_fixtures import CONTENTS, STYLES, make_gallery

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / ".screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _need(reason: str) -> None:
    """Skip locally, but fail in CI: there the browser is installed on purpose."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _need("no /usr/bin/chromium (apt-get install -y chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed (pip install playwright; never `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """The demo site, served from a parent folder so that it lives under /site/ (a sub-path)."""
    root = tmp_path_factory.mktemp("browser")
    gallery, plan = make_gallery(root, title="Style Transfer Gallery",
                                 description="Three pictures in the manner of three paintings.",
                                 missing={("dancer", "nude")}, timelapse={("mona", "starry")})
    build_site(gallery, plan, quiet=True)
    # a wide gallery (8 styles, mostly unrendered): the matrix must scroll in its box, not the page
    styles = STYLES + [(f"extra{i}", f"Extra style {i}") for i in range(5)]
    wide, wide_plan = make_gallery(root / "wide", styles=styles, output=root / "site-wide",
                                   missing={(c, s) for c, _, _ in CONTENTS for s, _ in styles[1:]})
    build_site(wide, wide_plan, quiet=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _open(browser, url, width=1280, height=900, scheme="light"):
    """A page plus the list that collects its console errors, failed requests and JS exceptions."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(url, wait_until="load")
    return ctx, page, problems


def _load_all_images(page) -> list[str]:
    """Scroll every image into view (lazy ones load then), wait, return those that did not decode
    (an image with no source yet is one the visitor must ask for: the time-lapse's)."""
    page.evaluate("""async () => {
        for (const img of document.querySelectorAll('img')) {
            img.scrollIntoView({block: 'center'});
            await new Promise(r => requestAnimationFrame(() => r()));
        }
        window.scrollTo(0, 0);
    }""")
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=15000)
    return page.evaluate("[...document.images].filter(i => (i.src || i.srcset) && !(i.naturalWidth > 0))"
                         ".map(i => i.currentSrc || i.src)")


def lightbox_items(site_url: str) -> list[dict]:
    """The shared list of renders the lightbox loads (data/lightbox.js), one dict a render."""
    from urllib.request import urlopen

    with urlopen(site_url + "data/lightbox.js", timeout=10) as r:
        text = r.read().decode("utf-8")
    rows = json.loads(text[text.index("(", text.index("galleryLightbox(")) + 1: text.rindex(")")])["renders"]
    return [{"name": r[0], "alt": r[1], "width": r[5], "height": r[6], "download": r[7]} for r in rows]


def _bytes_loaded(page) -> int:
    return page.evaluate("""() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).reduce((n, e) => n + (e.encodedBodySize || 0), 0)""")


def _shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


PAGES = ["index.html", "about.html", "content/mona.html", "style/starry.html", "render/mona--starry.html",
         "render/pearl--stairs.html"]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_with_every_image(browser, base_url, path):
    ctx, page, problems = _open(browser, base_url + path)
    try:
        broken = _load_all_images(page)
        assert page.evaluate("document.images.length") > 0
        assert broken == []
        assert problems == []
    finally:
        ctx.close()


def test_matrix_fits_a_phone_and_screenshots(browser, base_url):
    sizes = {}
    for width, height, scheme, suffix in ((375, 812, "light", "phone"), (1280, 900, "light", "desktop"),
                                          (1280, 900, "dark", "desktop-dark")):
        for path, name in (("index.html", "index"), ("render/mona--starry.html", "render"),
                           ("style/starry.html", "style"), ("about.html", "about")):
            ctx, page, problems = _open(browser, base_url + path, width, height, scheme)
            try:
                assert _load_all_images(page) == []
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"{path} scrolls sideways at {width}px ({scroll}px wide)"
                assert problems == []
                if suffix == "desktop" and name in ("index", "render"):
                    sizes[path] = _bytes_loaded(page)
                _shot(page, f"{name}-{suffix}.png")
            finally:
                ctx.close()
    (SHOTS / "bytes.json").write_text(json.dumps(sizes, indent=1) + "\n")


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
def test_the_timelapse_loads_only_when_opened_and_stands_still_for_reduced_motion(browser, base_url, motion):
    from io import BytesIO
    from urllib.request import urlopen

    from PIL import Image

    for width, height, suffix in ((1280, 900, "desktop"), (375, 812, "phone")):
        ctx = browser.new_context(viewport={"width": width, "height": height}, reduced_motion=motion)
        try:
            page = ctx.new_page()
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url) if "/timelapse/" in r.url else None)
            page.goto(base_url + "render/mona--starry.html", wait_until="load")
            _load_all_images(page)
            box = page.locator("details.timelapse")
            assert box.count() == 1 and not box.evaluate("d => d.open") and asked == []
            box.locator("summary").click()
            page.wait_for_function("(() => { const i = document.querySelector('.timelapse-img');"
                                   " return i.complete && i.naturalWidth > 0; })()", timeout=15000)
            src = page.evaluate("document.querySelector('.timelapse-img').currentSrc")
            assert src.endswith("-still.webp") == (motion == "reduce") and len(asked) == 1, (src, asked)
            assert page.locator(".timelapse-still" if motion == "reduce" else ".timelapse-motion").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            with urlopen(src, timeout=10) as r:
                data = r.read()
            with Image.open(BytesIO(data)) as im:  # the animation moves; the still is one picture
                assert (im.n_frames > 1) == (motion != "reduce") and im.format == "WEBP"
            assert len(data) < 1_500_000
            box.scroll_into_view_if_needed()
            _shot(page, f"render-timelapse-{'still-' if motion == 'reduce' else ''}{suffix}.png")
        finally:
            ctx.close()
    ctx, page, problems = _open(browser, base_url + "render/pearl--stairs.html")  # a render without one
    try:
        assert page.locator("details.timelapse").count() == 0 and problems == []
    finally:
        ctx.close()


def test_slider_moves_with_arrow_keys(browser, base_url):
    ctx, page, problems = _open(browser, base_url + "render/mona--starry.html")
    try:
        slider = page.locator(".compare-range")
        slider.focus()
        assert slider.input_value() == "50"
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert slider.input_value() == "55"
        pos = page.evaluate("getComputedStyle(document.querySelector('.compare')).getPropertyValue('--pos').trim()")
        assert pos == "55%"
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("Home")
        assert slider.input_value() == "0"
        clip = page.evaluate("getComputedStyle(document.querySelector('.compare-before')).clipPath")
        assert "100%" in clip
        assert problems == []
    finally:
        ctx.close()


def test_works_without_javascript(browser, base_url):
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 812})
    try:
        page = ctx.new_page()
        page.goto(base_url + "render/mona--starry.html")
        assert not page.locator(".compare-range").is_visible()
        assert page.locator(".compare-after img").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        _shot(page, "render-phone-nojs.png")
    finally:
        ctx.close()


def test_missing_browser_skips_locally_but_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        _need("no chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _need("no chromium")


def test_a_wide_matrix_scrolls_inside_its_box_on_a_phone(browser, base_url):
    ctx, page, problems = _open(browser, base_url + "../site-wide/index.html", 375, 812)
    try:
        assert _load_all_images(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        box = page.evaluate("(() => { const b = document.querySelector('.matrix-scroll');"
                            " return [b.scrollWidth, b.clientWidth]; })()")
        assert box[0] > box[1], "the 9-column matrix should scroll inside .matrix-scroll"
        assert problems == []
        _shot(page, "index-wide-phone.png")
    finally:
        ctx.close()
