"""The build's extras (site/extras.py): the feed with sitemap and robots, and the 404 page, hang
on the build's hooks; one list turns them off or replaces them, and a rebuild follows it."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.site.builder import build_site
from pipeline.site.extras import FEEDS, NOT_FOUND, Extra, default_extras
from site_fixtures import make_gallery


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _pages_text(out: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))


def test_the_default_extras_write_the_feed_sitemap_robots_and_404(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache, base_url="https://example.org/g/")
    build_site(gallery, plan, quiet=True)
    out = Path(gallery.site.output)
    assert [e.name for e in default_extras()] == ["feeds", "404"]
    for rel in ("feed.xml", "sitemap.xml", "robots.txt", "404.html"):
        assert (out / rel).is_file(), rel
    assert 'href="../feed.xml"' in (out / "render" / "pearl--starry.html").read_text(encoding="utf-8")
    assert "Feed of new renders" in (out / "index.html").read_text(encoding="utf-8")


def test_without_extras_the_site_has_none_of_their_files_or_links_and_a_rebuild_follows(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache, base_url="https://example.org/g/")
    out = Path(gallery.site.output)
    build_site(gallery, plan, quiet=True)
    report = build_site(gallery, plan, quiet=True, extras=[])  # same inputs, other extras: not "up to date"
    for rel in ("feed.xml", "sitemap.xml", "robots.txt", "404.html"):
        assert not (out / rel).exists(), rel
    assert "feed.xml" not in _pages_text(out) and "Feed of new renders" not in _pages_text(out)
    assert report.files > 0
    build_site(gallery, plan, quiet=True, extras=[NOT_FOUND])
    assert (out / "404.html").is_file() and not (out / "feed.xml").exists()


def test_an_extra_of_ones_own_adds_its_pages_files_and_sizes(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache)
    seen = {}

    def files(site, env):
        seen["rendered"] = len(site.rendered)
        return {"renders.txt": "\n".join(c["name"] for c in site.rendered).encode()}

    def sizes(site, old):
        seen["predicted"] = True
        return {"renders.txt": 20 * len(site.rendered)}

    listing = Extra("listing", files=files, sizes=sizes, view={"listing": "renders.txt"})
    build_site(gallery, plan, quiet=True, extras=[FEEDS, listing])
    out = Path(gallery.site.output)
    names = (out / "renders.txt").read_text().splitlines()
    assert names and len(names) == seen["rendered"] and "pearl--starry" in names and seen["predicted"]
    assert (out / "feed.xml").is_file() and not (out / "404.html").exists()
