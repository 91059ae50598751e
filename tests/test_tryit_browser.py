"""The try-it page in a real browser: headless Debian Chromium driven by Playwright.

A demo-like site (generated pictures, fake renders; tests/site_fixtures.py) is built with the
page and served from a local HTTP server under a sub-path (/site/), as GitHub Pages serves a
project site. A generated photo goes through the file input (and through the keyboard's file
chooser); the canvas must differ from the photo and match the Python fast engine's output for
the same photo and style vector. Every request the page makes is recorded: none may leave the
local server. Run with -s to see the measured time from choosing a photo to the result.
"""
from __future__ import annotations

import base64
import functools
import http.server
import io
import random
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from pipeline.render.fast import models
from pipeline.site.builder import build_site
from site_fixtures import content_picture, make_gallery
from test_browser import SHOTS, _QuietHandler, browser  # noqa: F401 - fixture

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.browser

# Mean absolute difference (0-255 levels) allowed between the browser's canvas and the Python
# engine's output for the same photo and style vector. Both run the same int8 network, but the
# requantisation after each layer rounds in different kernels (WebAssembly SIMD here, x86
# VNNI/AVX2 in Python), and a value that lands on the other side of a rounding step flips one
# quantised level, which the next layers spread into fine texture noise: invisible side by side,
# but not zero. Measured on the 2-core AVX512-VNNI machine over 24 pairs (this test's photo and
# the demo's three 444 px pictures, each with the three generated styles and the demo's three
# paintings): 0.10 to 6.3, median 4.1 (99th percentile of a pixel's difference 5-33). Wrong
# answers are far: the same photo in the nearest other style differs by 28 or more, the photo
# itself by 23.6 or more. So 10: 1.6 times the worst pair measured, under half the nearest wrong
# answer.
MAD_BOUND = 10.0
PHOTO_SIZE = (318, 238)  # not a multiple of 4: the page pads as the engine does, then crops


def photo_picture() -> Image.Image:
    """A photo-like picture with edges and fine detail (a blurred portrait alone has too little)."""
    im = content_picture(3, PHOTO_SIZE)
    rng = random.Random(7)
    d = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rng.uniform(0, PHOTO_SIZE[0]), rng.uniform(0, PHOTO_SIZE[1])
        d.rectangle((x, y, x + rng.uniform(4, 40), y + rng.uniform(4, 30)),
                    fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return im.filter(ImageFilter.GaussianBlur(0.8))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL of the site under /site/, its folder, the gallery, the photo's path)."""
    root = tmp_path_factory.mktemp("tryit-browser")
    gallery, plan = make_gallery(root, title="Style Transfer Gallery")
    build_site(gallery, plan, quiet=True)
    photo = root / "photo.png"
    photo_picture().save(photo)
    (root / "photo.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200))
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/", gallery.site.output, gallery, photo
    server.shutdown()
    server.server_close()


class Page:
    """A page plus everything it requested and every console error, failed request and JS exception."""

    def __init__(self, browser, url, width=1280, height=900, init_script=None):
        self.ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        if init_script:
            self.ctx.add_init_script(init_script)
        self.page = self.ctx.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        p = self.page
        p.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        p.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        p.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        p.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        p.on("request", lambda r: self.requests.append(r.url))
        p.goto(url, wait_until="load")

    def ready(self):
        self.page.wait_for_selector("[data-tryit][data-ready=true]", timeout=60_000)

    def done(self) -> int:
        return int(self.page.get_attribute("[data-tryit]", "data-done") or 0)

    def wait_done(self, n: int):
        self.page.wait_for_function(f"Number(document.querySelector('[data-tryit]').dataset.done) >= {n}",
                                    timeout=60_000)

    def canvas(self) -> np.ndarray:
        """The result canvas's pixels (RGB), through a lossless PNG."""
        url = self.page.evaluate("document.querySelector('[data-result]').toDataURL('image/png')")
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))

    def status(self) -> str:
        return self.page.text_content("[data-status]").strip()

    def foreign(self, base_url: str) -> list[str]:
        origin = base_url.split("/site/")[0] + "/"
        return [u for u in self.requests if not (u.startswith(origin) or u.startswith(f"blob:{origin}")
                                                 or u.startswith("data:"))]

    def close(self):
        self.ctx.close()


def engine_output(photo: Path, out: Path, style_id: str) -> np.ndarray:
    """The Python fast engine's render of the photo with the vector the site ships for a style."""
    page = (out / "try-it.html").read_text(encoding="utf-8")
    rel = page.split(f'value="{style_id}"', 1)[1].split('data-vector="', 1)[1].split('"', 1)[0]
    vector = np.array(struct.unpack("<100f", (out / "try-it" / rel).read_bytes()), np.float32)
    return np.asarray(models.transform(Image.open(photo).convert("RGB"), vector))


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_a_photo_is_stylised_like_the_python_engine(browser, site):
    base_url, out, _, photo = site
    p = Page(browser, base_url + "try-it.html")
    try:
        p.ready()
        assert p.page.eval_on_selector("input[name=style]:checked", "e => e.value") == "starry"
        p.page.set_input_files("[data-photo] >> nth=0", str(photo))
        p.wait_done(1)
        ms = int(p.page.get_attribute("[data-tryit]", "data-last-ms"))
        got = p.canvas()
        assert got.shape == (PHOTO_SIZE[1], PHOTO_SIZE[0], 3)
        source = np.asarray(Image.open(photo).convert("RGB"))
        want = engine_output(photo, out, "starry")
        other = engine_output(photo, out, "nude")
        same, to_photo, to_other = mad(got, want), mad(got, source), mad(got, other)
        print(f"\ntry-it: photo {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} -> result in {ms} ms "
              f"(network ready after {p.page.get_attribute('[data-tryit]', 'data-ready-ms')} ms); "
              f"mean |browser - python| {same:.3f} levels (bound {MAD_BOUND}), "
              f"to the photo {to_photo:.1f}, to another style's render {to_other:.1f}")
        assert same < MAD_BOUND
        assert to_photo > 2 * MAD_BOUND and to_other > 2 * MAD_BOUND
        assert "Done in" in p.status()
        assert p.problems == []
        assert p.foreign(base_url) == []
        loaded = {u.rsplit("/", 1)[-1] for u in p.requests}
        assert {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
                "transform.onnx"} <= loaded
        assert "predict.onnx" not in loaded  # only for a style image of the visitor's own
    finally:
        p.close()


def test_keyboard_only_style_picker_slider_and_download(browser, site, tmp_path):
    base_url, out, _, photo = site
    p = Page(browser, base_url + "try-it.html?style=nude")
    try:
        page = p.page
        p.ready()
        assert page.eval_on_selector("input[name=style]:checked", "e => e.value") == "nude"

        def tab_to(selector: str, limit: int = 40):
            for _ in range(limit):
                page.keyboard.press("Tab")
                if page.evaluate(f"document.activeElement.matches({selector!r})"):
                    return
            raise AssertionError(f"Tab never reached {selector}")

        tab_to("[data-photo]")
        chooser = None
        for key in ("Space", "Enter", "Space"):  # either key opens a focused file input; under a
            try:                                  # heavy load Chromium has missed one press
                with page.expect_file_chooser(timeout=10000) as chooser:
                    page.keyboard.press(key)
                break
            except PlaywrightTimeout:
                chooser = None
        assert chooser is not None, "neither Space nor Enter opened the file chooser"
        chooser.value.set_files(str(photo))
        p.wait_done(1)
        first = p.canvas()
        assert mad(first, engine_output(photo, out, "nude")) < MAD_BOUND

        tab_to("input[name=style]:checked")
        page.keyboard.press("ArrowRight")  # the next style: the result is painted again
        assert page.eval_on_selector("input[name=style]:checked", "e => e.value") == "stairs"
        p.wait_done(2)
        second = p.canvas()
        assert mad(second, engine_output(photo, out, "stairs")) < MAD_BOUND
        assert mad(first, second) > 2 * MAD_BOUND

        tab_to(".compare-range")
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        assert page.evaluate("getComputedStyle(document.querySelector('.tryit .compare')).getPropertyValue('--pos').trim()") == "45%"

        tab_to("[data-download]")
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        saved = tmp_path / "download.png"
        download.value.save_as(saved)
        assert download.value.suggested_filename == "photo-stairs.png"
        assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")), second)
        assert p.problems == [] and p.foreign(base_url) == []
    finally:
        p.close()


def test_a_style_image_of_ones_own_loads_the_prediction_network(browser, site):
    base_url, out, gallery, photo = site
    p = Page(browser, base_url + "try-it.html")
    try:
        p.ready()
        p.page.set_input_files("[data-photo] >> nth=0", str(photo))
        p.wait_done(1)
        assert not any(u.endswith("/predict.onnx") for u in p.requests)
        p.page.set_input_files("[data-own-style]", str(gallery.style("stairs").file))
        p.wait_done(2)
        assert p.page.eval_on_selector("input[name=style]:checked", "e => e.value") == "own"
        assert p.page.is_visible("input[name=style][value=own]")
        assert any(u.endswith("/try-it/predict.onnx") for u in p.requests)
        # the browser's own vector of the same image (resized to 256 px by the canvas, not by
        # Pillow) gives nearly the render of the vector computed at build time: measured 11.6,
        # between the same vector's 0.1-6.3 and another style's 28 or more
        own = mad(p.canvas(), engine_output(photo, out, "stairs"))
        print(f"\ntry-it: own style image: mean |browser - python with the build's vector| {own:.2f} levels")
        assert own < 2 * MAD_BOUND
        assert p.problems == [] and p.foreign(base_url) == []
    finally:
        p.close()


def test_fits_a_phone(browser, site):
    base_url, _, _, photo = site
    p = Page(browser, base_url + "try-it.html", width=375, height=812)
    try:
        p.ready()
        p.page.set_input_files("[data-photo] >> nth=0", str(photo))
        p.wait_done(1)
        width = p.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"try-it.html scrolls sideways on a phone ({width}px wide)"
        box = p.page.eval_on_selector("[data-result]", "c => c.getBoundingClientRect().width")
        assert 300 <= box <= 375
        SHOTS.mkdir(exist_ok=True)
        p.page.screenshot(path=str(SHOTS / "try-it-phone.png"), full_page=True)
        assert p.problems == []
    finally:
        p.close()


def test_clear_messages_for_an_undecodable_photo_and_no_webassembly(browser, site):
    base_url, out, _, _ = site
    p = Page(browser, base_url + "try-it.html")
    try:
        p.ready()
        p.page.set_input_files("[data-photo] >> nth=0", str(out.parent / "photo.heic"))
        p.page.wait_for_selector("[data-status][data-kind=error]")
        assert "HEIC" in p.status() and "JPEG" in p.status()
        assert p.problems == []
    finally:
        p.close()
    p = Page(browser, base_url + "try-it.html", init_script="delete globalThis.WebAssembly")
    try:
        p.page.wait_for_selector("[data-status][data-kind=error]")
        assert "WebAssembly" in p.status()
        assert p.page.is_disabled("[data-photo] >> nth=0")
        assert not any("/try-it/ort" in u or u.endswith(".onnx") for u in p.requests)
        assert p.problems == []
    finally:
        p.close()


def test_other_pages_link_to_it_and_load_none_of_it(browser, site):
    base_url, _, _, _ = site
    for path in ("index.html", "style/starry.html", "render/mona--starry.html"):
        p = Page(browser, base_url + path)
        try:
            assert not [u for u in p.requests if "/try-it/" in u], f"{path} loads the try-it page's files"
            assert p.page.locator(".masthead nav a[href$='try-it.html']").count() == 1, path  # the top navigation
            assert p.page.locator("main a[href*='try-it.html']").count() == 1, path
            assert p.problems == []
        finally:
            p.close()
    p = Page(browser, base_url + "style/starry.html")
    try:
        p.page.click("main a[href*='try-it.html']")
        p.ready()
        assert p.page.url.endswith("/site/try-it.html?style=starry")
        assert p.page.eval_on_selector("input[name=style]:checked", "e => e.value") == "starry"
    finally:
        p.close()
