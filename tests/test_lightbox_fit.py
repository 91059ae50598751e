"""The lightbox fits the whole picture in the screen and never draws it larger than its pixels:
a 512 px render on a 1280 x 800 desktop is drawn at 512 px, whole; a 256 x 192 render keeps its
bottom; on a 375 x 667 phone both shrink to fit. The zoom button then shows at least the
render's own pixels, and at least twice the size it fits at."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from PIL import Image

from pipeline.site.builder import build_site
from site_fixtures import fake_render, make_gallery
from test_browser import SHOTS, _open, _QuietHandler, browser, lightbox_items  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

# a 512 x 512 render and a 256 x 192 one (the picture's own shape, at the gallery's 256 px)
CONTENTS = [("pearl", "Girl with a Pearl Earring", (600, 600)), ("dancer", "The Dancer", (320, 240))]


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    gallery, plan = make_gallery(root, contents=CONTENTS, styles=[("starry", "The Starry Night")])
    for cell in plan.cells:
        if cell.content.id == "pearl":  # rendered at 512 px
            fake_render(Image.open(cell.content.file).convert("RGB"), Image.open(cell.style.file).convert("RGB"),
                        size=512).save(cell.image)
    build_site(gallery, plan, quiet=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/"
    server.shutdown()
    server.server_close()


GEOMETRY = """() => { const i = document.querySelector('.lightbox img'), s = document.querySelector('.lb-stage');
    const r = i.getBoundingClientRect(), b = s.getBoundingClientRect();
    return {img: [r.left, r.top, r.right, r.bottom], stage: [b.left, b.top, b.right, b.bottom],
            scale: parseFloat(document.querySelector('.lightbox').getAttribute('data-scale'))}; }"""


def _open_lightbox(page, name: str) -> dict:
    page.locator(f'.zoom[data-lightbox="{name}"]').first.click()
    page.locator(".lightbox").wait_for(state="visible")
    page.wait_for_function("document.querySelector('.lightbox img').complete"
                           " && document.querySelector('.lightbox img').naturalWidth > 0")
    page.wait_for_timeout(50)
    return page.evaluate(GEOMETRY)


@pytest.mark.parametrize("width, height", [(1280, 800), (375, 667)])
@pytest.mark.parametrize("name, pixels", [("pearl--starry", (512, 512)), ("dancer--starry", (256, 192))])
def test_the_whole_render_fits_and_is_never_enlarged(browser, site_url, width, height, name, pixels):
    ctx, page, problems = _open(browser, site_url + f"render/{name}.html", width, height)
    try:
        g = _open_lightbox(page, name)
        (l, t, r, b), (sl, st, sr, sb) = g["img"], g["stage"]
        w, h = r - l, b - t
        assert l >= sl - 0.5 and t >= st - 0.5 and r <= sr + 0.5 and b <= sb + 0.5, f"cut: {g}"
        assert w <= pixels[0] + 0.5 and h <= pixels[1] + 0.5, f"enlarged beyond its pixels: {w} x {h}"
        assert abs(w / h - pixels[0] / pixels[1]) < 0.02, "its shape"
        fit = min((sr - sl) / pixels[0], (sb - st) / pixels[1], 1)
        assert abs(w - pixels[0] * fit) <= 1 and abs(h - pixels[1] * fit) <= 1, "as large as it fits"
        # the zoom button: at least its own pixels, and at least twice the size it fits at
        page.locator(".lb-zoom").click()
        z = page.evaluate(GEOMETRY)
        zoomed = z["img"][2] - z["img"][0]
        assert abs(zoomed - max(pixels[0], 2 * w)) <= 2, (zoomed, w)
        page.locator(".lb-zoom").click()
        assert page.evaluate(GEOMETRY)["img"] == g["img"]
        if name == "pearl--starry":
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / f"lightbox-fit-{width}.png"))
        assert problems == []
    finally:
        ctx.close()


def test_the_fit_follows_a_resized_window(browser, site_url):
    ctx, page, problems = _open(browser, site_url + "render/pearl--starry.html", 1280, 800)
    try:
        _open_lightbox(page, "pearl--starry")
        page.set_viewport_size({"width": 400, "height": 500})
        page.wait_for_timeout(100)
        g = page.evaluate(GEOMETRY)
        (l, t, r, b), (sl, st, sr, sb) = g["img"], g["stage"]
        assert r - l <= min(sr - sl, sb - st) + 1 and l >= sl - 0.5 and b <= sb + 0.5, g
        items = lightbox_items(site_url)
        assert {(i["width"], i["height"]) for i in items} == {(512, 512), (256, 192)}
    finally:
        ctx.close()
