"""A 400-cell gallery (20 x 20, fake renders) in headless Chromium: what the index's first screen
costs, the matrix's heads staying in view, the filter by title, and the lightbox moving across
every render of the gallery (its list is loaded on demand, not carried by the page)."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest

from pipeline.site.builder import build_site
from site_fixtures import grid_gallery
from test_browser import _QuietHandler, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

TITLES = {"c03": "Harbour at Dawn", "s02": "Blue Period", "s17": "Golden Spiral"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid400")
    gallery, plan = grid_gallery(root, 20, 20, px=200, titles=TITLES, downloads="none")
    build_site(gallery, plan, quiet=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(gallery.site.output)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _page(browser, url, width=1280, height=800):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    return ctx, page, errors


def test_the_index_first_screen_is_light(browser, site):
    ctx, page, errors = _page(browser, site + "index.html")
    try:
        entries = page.evaluate("""() => performance.getEntriesByType('navigation').concat(
            performance.getEntriesByType('resource')).map(e => [e.name, e.transferSize, e.initiatorType])""")
        total = sum(size for _, size, _ in entries)
        images = [name for name, _, kind in entries if kind == "img"]
        assert total < 1_000_000, (total, len(entries))
        assert len(entries) < 120, len(entries)
        # thumbnails only: no image wider than 320 px is fetched for the matrix
        assert all(int(n.rsplit("-", 1)[1].split(".")[0]) <= 320 for n in images), images
        assert not any("lightbox" in name for name, _, _ in entries), "the lightbox's list waits for a click"
        # the first block of the matrix: 20 pictures x 7 styles, and links to the other parts
        assert page.locator("#matrix tbody tr").count() == 20
        assert page.locator("#matrix thead th").count() == 7
        assert page.locator(".blocks a").count() == 3  # the styles' blocks (the pictures fit one)
        assert errors == []
    finally:
        ctx.close()


def test_the_heads_stay_in_view_while_the_matrix_scrolls(browser, site):
    ctx, page, errors = _page(browser, site + "index.html", 375, 812)
    try:
        box = page.locator(".matrix-scroll")
        box.scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.matrix-scroll').scrollBy(250, 900)")
        page.wait_for_timeout(100)
        frame = box.bounding_box()
        assert page.evaluate("document.querySelector('.matrix-scroll').scrollTop") > 500
        head = page.locator("#matrix thead th").nth(3).bounding_box()  # a style's head
        row = page.locator("#matrix tbody tr:nth-child(12) th").bounding_box()  # a picture's head
        assert abs(head["y"] - frame["y"]) < 20, (head, frame)
        assert abs(row["x"] - frame["x"]) < 20, (row, frame)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # the page never scrolls sideways
    finally:
        ctx.close()


def test_a_wheel_on_the_matrix_scrolls_it_then_the_page(browser, site):
    """The matrix's box holds the wheel until its end, then the page scrolls on to the footer."""
    ctx, page, errors = _page(browser, site + "index.html")
    try:
        box = page.locator(".matrix-scroll").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, min(box["y"] + 100, 700))
        for _ in range(80):
            page.mouse.wheel(0, 300)
            page.wait_for_timeout(20)
        assert page.evaluate("(e => e.scrollHeight - e.clientHeight - e.scrollTop)"
                             "(document.querySelector('.matrix-scroll'))") < 2  # the matrix to its end
        assert page.evaluate("document.documentElement.scrollHeight - innerHeight - scrollY") < 2  # the page too
        assert page.locator("footer").is_visible()
        assert errors == []
    finally:
        ctx.close()


def test_the_filter_finds_a_picture_a_style_and_the_parts_that_hold_them(browser, site):
    ctx, page, errors = _page(browser, site + "index.html")
    try:
        search = page.locator("input[data-filter=matrix]")
        assert search.is_visible()
        visible_rows = "[...document.querySelectorAll('#matrix tbody tr')].filter(r => !r.hidden).length"
        visible_cols = "[...document.querySelectorAll('#matrix thead th')].filter(h => !h.hidden).length"
        search.fill("harbour")
        assert page.evaluate(visible_rows) == 1 and page.evaluate(visible_cols) == 7
        search.fill("harbour blue")
        assert page.evaluate(visible_rows) == 1 and page.evaluate(visible_cols) == 1
        assert page.locator("#matrix tbody tr:not([hidden]) td:not([hidden]) a").get_attribute("href") == \
            "render/c03--s02.html"
        search.fill("golden spiral")  # a style of another part of the matrix
        assert page.evaluate(visible_rows) == 0
        marked = page.locator(".blocks a.has-match")
        assert marked.count() == 1 and marked.get_attribute("href") == "matrix/1-3.html"
        assert "see the marked parts" in page.locator(".filter-status").inner_text()
        search.fill("")
        assert page.evaluate(visible_rows) == 20
        assert errors == []
    finally:
        ctx.close()


def test_the_lightbox_moves_across_every_render(browser, site):
    ctx, page, errors = _page(browser, site + "matrix/1-3.html")
    try:
        button = page.locator("#matrix tbody tr:first-child .zoom").first
        button.click()
        box = page.locator(".lightbox")
        box.wait_for(state="visible")
        start = int(box.get_attribute("data-index"))
        assert start == 14  # c00--s14: the first cell of this part, in the gallery's order
        assert page.locator(".lb-count").inner_text() == "15 / 400"
        for _ in range(6):
            page.keyboard.press("ArrowRight")
        assert page.locator(".lb-count").inner_text() == "21 / 400"  # on into the next picture's row
        assert "Content number 2 in the style of Style number 1" in box.inner_text()
        page.keyboard.press("Escape")
        page.goto(site + "index.html", wait_until="networkidle")
        page.locator("#matrix .zoom").first.click()
        page.locator(".lightbox").wait_for(state="visible")
        page.keyboard.press("ArrowLeft")
        assert page.locator(".lb-count").inner_text() == "400 / 400"
        assert "Content number 20 in the style of Style number 20" in page.locator(".lightbox").inner_text()
        page.wait_for_function("document.querySelector('.lightbox img').naturalWidth > 0")
        assert errors == []
    finally:
        ctx.close()
