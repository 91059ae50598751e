"""The site's address (site.base_url, GALLERY_BASE_URL): one check for both sources, and one
written form in every file that carries it (robots.txt, sitemap, feed, 404 page, social cards)."""
from __future__ import annotations

import html.parser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from gallery_fakes import fill_cache

ATOM = "{http://www.w3.org/2005/Atom}"


def _built(make_gallery, cli, base_url: str | None = None) -> tuple[int, str, str, Path]:
    from pipeline.manifest.reader import load_gallery

    site = {"title": "Address", "try_it": False, **({"base_url": base_url} if base_url is not None else {})}
    path = make_gallery(site=site, render={"size": 64})
    fill_cache(load_gallery(path, check_files=False))
    rc, out, err = cli("site", "--config", path)
    return rc, out, err, path.parent / "site"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(markup: str) -> list[tuple[str, dict]]:
    p = _Links()
    p.feed(markup)
    return p.tags


def _feed_links(site: Path) -> list[str]:
    """Every address the feed gives: its links, and the links and images of its HTML content."""
    feed = ElementTree.parse(site / "feed.xml").getroot()
    urls = [link.get("href") for link in feed.iter(f"{ATOM}link")]
    for content in feed.iter(f"{ATOM}content"):
        tags = _tags(content.text)
        assert [t for t, _ in tags] == ["p", "a", "img", "p"], tags  # no element of an address's own
        urls += [attrs.get("href") or attrs.get("src") for t, attrs in tags if t in ("a", "img")]
    return urls


def test_markup_in_the_manifests_base_url_never_reaches_the_feed_as_markup(make_gallery, cli):
    rc, out, err, site = _built(make_gallery, cli, 'https://example.org/g"><svg/onload=alert(1)>/')
    assert rc == 0, err
    base = "https://example.org/g%22%3E%3Csvg/onload=alert(1)%3E/"
    links = _feed_links(site)
    assert links and all(u.startswith(base) for u in links), links
    for page in ("404.html", "index.html"):
        assert "<svg/onload" not in (site / page).read_text() and "onload=alert(1)>" not in (site / page).read_text()
    assert (site / "robots.txt").read_text() == f"User-agent: *\nAllow: /\nSitemap: {base}sitemap.xml\n"


@pytest.mark.parametrize("value, says", [
    ("javascript:alert(1)//", "must be an http:// or https:// address"),
    ("https://example.org/\nDisallow: /", "holds a line break at character 21"),
    ("https://example.org/ a/", "holds a space at character 21"),
    ("https://user:secret@example.org/", "holds a user name or password"),
    ("https://example.org/?utm=1", "has a query or fragment"),
    ("https://example.org:99999/", "has the port '99999'"),
])
def test_gallery_base_url_is_checked_like_the_manifests(make_gallery, cli, monkeypatch, value, says):
    monkeypatch.setenv("GALLERY_BASE_URL", value)
    rc, out, err, site = _built(make_gallery, cli)
    assert rc == 1, out + err
    assert "Traceback" not in err
    assert f"error: the environment variable GALLERY_BASE_URL {value!r} {says}" in err, err
    assert "set it to the address the site is published at, e.g. https://USER.github.io/REPO/" in err
    assert not (site / "robots.txt").exists() and not (site / "404.html").exists()


@pytest.mark.parametrize("value, says", [
    ("https://user:secret@example.org/", "holds a user name or password"),
    ("https://example.org/#top", "has a query or fragment"),
    ("https://exa_mple.org/", "has the host 'exa_mple.org', which is not a valid domain name"),
])
def test_the_manifests_base_url_gets_the_same_check_with_its_line(make_gallery, cli, value, says):
    path = make_gallery(site={"title": "Address", "base_url": value})
    rc, out, err = cli("validate", "--config", path, "--no-fetch")
    assert rc == 2, out + err
    assert f"{path}:3: site: 'base_url' {value!r} {says}" in err, err
    assert "write the address the site is published at" in err


def test_a_non_ascii_address_is_written_as_browsers_send_it(make_gallery, cli):
    rc, out, err, site = _built(make_gallery, cli, "https://Bücher.example/galería/")
    assert rc == 0, err
    base = "https://xn--bcher-kva.example/galer%C3%ADa/"
    assert (site / "robots.txt").read_bytes() == f"User-agent: *\nAllow: /\nSitemap: {base}sitemap.xml\n".encode()
    locs = [e.text for e in ElementTree.parse(site / "sitemap.xml").getroot().iter()
            if e.tag.endswith("loc")]
    assert locs[0] == base and all(u.startswith(base) for u in locs)
    assert all(u.startswith(base) for u in _feed_links(site))
    meta = {a.get("property") or a.get("rel"): a.get("content") or a.get("href")
            for t, a in _tags((site / "index.html").read_text()) if t in ("meta", "link")}
    assert meta["og:url"] == base and meta["og:image"].startswith(base)
    links = [a["href"] for t, a in _tags((site / "404.html").read_text()) if t == "a" and "href" in a]
    assert f"{base}index.html" in links and f"{base}about.html" in links
