"""The site as a visitor meets it (issue 22): what each page leads with, the pyramid each render
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
