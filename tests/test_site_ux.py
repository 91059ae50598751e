"""The site as a visitor meets it: what each page leads with, the pyramid each render
ran, uncropped images, the lightbox's markup, sitemap, 404 page, feed and zip download.
Browser behaviour is in test_browser_ux.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.site.builder import build_site
from site_fixtures import make_gallery


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache):
    root = tmp_path_factory.mktemp("site")
    gallery, plan = make_gallery(root, missing={("dancer", "nude")}, excluded={("pearl", "stairs")},
                                 cache=cache, base_url="https://example.org/gallery/")
    build_site(gallery, plan, quiet=True)
    return gallery, plan, gallery.site.output


def read(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def text_of(html: str) -> str:
    import html as _html

    return re.sub(r"\s+", " ", _html.unescape(re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " "))


def test_about_page_shows_the_pyramid_each_render_ran(built):
    _, _, out = built
    about = text_of(read(out, "about.html"))
    # the fake records ran 128 x 40, 181 x 30, 256 x 20 (7 renders); the pending cell would run
    # the 256 px draft: every iteration at 128 px, then enlarged (the schedule actually used)
    assert "128 px × 40 → 181 px × 30 → 256 px × 20: 90 iterations, 7 renders" in about
    assert "128 px × 32 → 181 px (enlarged) → 256 px (enlarged): 32 iterations, 1 render" in about


def test_render_page_leads_with_the_art_and_keeps_the_lab_notes_one_click_away(built):
    _, _, out = built
    html = read(out, "render/mona--starry.html")
    main = html[html.index("<main"):]
    first_img = re.search(r'<img[^>]*src="([^"]+)"', main).group(1)
    assert "img/render/mona--starry-" in first_img
    details = re.search(r'<details class="provenance"[^>]*>', main)
    assert details and " open" not in details.group(0), "provenance must start closed"
    before = main[:details.start()]
    for lab in ("Cache key", "caffe-vgg19", "Renderer version", "Weights", "loss-chart"):
        assert lab not in before and lab in main[details.start():], lab
    # the story and the artists come before it
    story = text_of(before)
    assert "repainted in the manner of The Starry Night (Artist 0, 1900)" in story
    assert "Mona Lisa (Painter 0, 1500)" in story


def test_slider_shows_both_sides_at_the_render_size(built):
    _, plan, out = built
    html = read(out, "render/mona--starry.html")
    frame = re.search(r'<figure class="compare" style="--pos: 50%; max-width: (\d+)px">', html)
    after = re.search(r'class="compare-after">.*?width="(\d+)" height="(\d+)"', html, re.S)
    before = re.search(r'class="compare-before"[^>]*>.*?<img src="([^"]+)"[^>]*width="(\d+)" height="(\d+)"', html, re.S)
    assert frame and after and before
    assert int(frame.group(1)) == int(after.group(1)), "the slider never stretches the render"
    assert (before.group(2), before.group(3)) == after.groups(), "the original is shown at the render's size"
    from PIL import Image
    with Image.open(out / "render" / before.group(1)) as im:
        assert im.size == (int(after.group(1)), int(after.group(2)))


def test_full_size_download_and_the_zip_of_every_render(built):
    import zipfile

    from PIL import Image

    _, plan, out = built
    html = read(out, "render/mona--starry.html")
    assert 'href="../download/mona--starry.webp" download>Download full size <span>(WebP, ' in html
    cell = next(c for c in plan.cells if c.content.id == "mona" and c.style.id == "starry")
    with Image.open(out / "download" / "mona--starry.webp") as im, Image.open(cell.image) as render:
        assert im.format == "WEBP" and im.size == render.size  # full size, high quality by default
    index = read(out, "index.html")
    m = re.search(r'href="(download/all-renders\.zip)" download="test-gallery\.zip">Download all renders \((\d+) renders\)', index)
    assert m and m.group(2) == "7"
    with zipfile.ZipFile(out / m.group(1)) as z:
        names = z.namelist()
        assert len([n for n in names if n.endswith(".webp")]) == 7 and "renders/CREDITS.txt" in names
        assert z.read("renders/mona--starry.webp") == (out / "download" / "mona--starry.webp").read_bytes()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())
    # its size, known before anything was encoded, is exact
    assert f"(zip, {(out / m.group(1)).stat().st_size / 1e6:.1f} MB)" in index


def test_sitemap_robots_and_404(built):
    import xml.etree.ElementTree as ET

    _, _, out = built
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [e.text for e in ET.parse(out / "sitemap.xml").getroot().findall("s:url/s:loc", ns)]
    assert locs[0] == "https://example.org/gallery/"
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html") if p.name != "404.html")
    assert sorted(locs) == sorted("https://example.org/gallery/" + ("" if p == "index.html" else p) for p in pages)
    assert "https://example.org/gallery/render/mona--starry.html" in locs
    assert "Sitemap: https://example.org/gallery/sitemap.xml" in read(out, "robots.txt")
    page = read(out, "404.html")
    assert "This page is not in the gallery" in page
    # served for any missing address at any depth: its links are absolute
    assert 'href="https://example.org/gallery/static/site.css"' in page
    assert 'href="https://example.org/gallery/index.html"' in page


def test_atom_feed_lists_renders_newest_first(tmp_path, cache):
    import json
    import xml.etree.ElementTree as ET

    gallery, plan = make_gallery(tmp_path, cache=cache, base_url="https://example.org/g/")
    dates = {}
    for n, cell in enumerate(c for c in plan.cells if c.state == "cached"):
        rec = json.loads(Path(cell.record).read_text())
        rec["created"] = dates[cell.key] = f"2024-05-{n + 1:02d}T10:00:00+00:00"
        Path(cell.record).write_text(json.dumps(rec))
    try:
        build_site(gallery, plan, quiet=True)
    finally:
        for cell in plan.cells:  # the cache is shared with the other tests: leave it as it was
            if cell.state == "cached":
                rec = json.loads(Path(cell.record).read_text())
                rec.pop("created", None)
                Path(cell.record).write_text(json.dumps(rec))
    atom = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(gallery.site.output / "feed.xml").getroot()
    entries = feed.findall("a:entry", atom)
    assert len(entries) == 9
    updated = [e.find("a:updated", atom).text for e in entries]
    assert updated == sorted(updated, reverse=True) and updated[0] == "2024-05-09T10:00:00Z"
    assert feed.find("a:updated", atom).text == updated[0]
    first = entries[0]
    assert first.find("a:link", atom).get("href").startswith("https://example.org/g/render/")
    assert first.find("a:id", atom).text.startswith("urn:style-gallery:render:")
    assert "<img src=\"https://example.org/g/img/render/" in first.find("a:content", atom).text
    index = (gallery.site.output / "index.html").read_text()
    assert '<link rel="alternate" type="application/atom+xml"' in index


def test_new_renders_carry_the_time_they_were_made(tmp_path):
    from PIL import Image

    from pipeline.plan.cache import Cache

    cache = Cache(tmp_path / "c")
    cache.store("ab" * 32, Image.new("RGB", (4, 4)), {"seconds": 1.0})
    rec = cache.record_path("ab" * 32).read_text()
    assert re.search(r'"created": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"', rec)


def test_no_image_is_cropped_by_the_stylesheet(built):
    _, _, out = built
    css = read(out, "static/site.css")
    assert "object-fit: cover" not in css.replace(".compare-frame img { display: block; width: 100%; height: 100%; object-fit: cover; }", "")
    assert "aspect-ratio: 1;" not in css
    index = read(out, "index.html")
    # a pending cell keeps its picture's shape (The Dancer is 320 x 240)
    assert re.search(r'class="placeholder placeholder--pending" style="aspect-ratio: 320 / 240"', index)


def test_loss_chart_labels_are_text_that_keeps_its_size(built):
    _, _, out = built
    html = read(out, "render/mona--starry.html")
    chart = html[html.index('<figure class="loss">'):html.index("</figure>", html.index('<figure class="loss">'))]
    assert "<text" not in chart, "SVG text shrinks with the drawing (6 px on a phone)"
    assert 'preserveAspectRatio="none"' in chart and 'vector-effect="non-scaling-stroke"' in chart
    assert re.search(r'<div class="loss-levels"[^>]*><span[^>]*>128x', chart)


def test_level_labels_never_crowd():
    from pipeline.site.loss_chart import loss_chart

    trace = lambda n: [{"iteration": i, "total": 10.0 / (i + 1), "content": 1.0, "style": 5.0 / (i + 1)}
                       for i in range(n + 1)]
    record = {"levels": [{"size": [s, s], "iterations": n, "trace": trace(n)}
                         for s, n in ((128, 10), (181, 10), (256, 10), (362, 10), (512, 500))]}
    chart = loss_chart(record)
    xs = [x for x, _ in chart.levels]
    plot = chart.width - chart.left - chart.right
    assert all(b - a >= 0.06 * plot for a, b in zip(xs, xs[1:]))
    assert chart.levels[-1][1] == "512x512" and chart.levels[0][1] == "128x128"
