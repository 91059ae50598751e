"""Property-based fuzzing (Hypothesis) of the feed and sitemap writers and of the site's address:
any Unicode title, credit and site text, and any base URL, give well-formed XML (parsed back
here) whose links are the address's written form, or the address gets a message naming what is
wrong. The writers are called directly, without validation in front of them: what validation
refuses (tests/test_fuzz_readers.py) must not break them either."""
from __future__ import annotations

import html.parser
from pathlib import Path
from xml.etree import ElementTree

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import write_image  # noqa: E402
from pipeline.core.model import Gallery, SiteSettings  # noqa: E402
from pipeline.site import extras  # noqa: E402
from pipeline.site.templating import environment  # noqa: E402
from pipeline.util import site_url  # noqa: E402
from test_fuzz_readers import unicode_text  # noqa: E402

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ATOM = "{http://www.w3.org/2005/Atom}"
URL_PARTS = ["https://", "http://", "HTTPS://", "javascript:", "example.org", "bücher.example", "[::1]",
             ":8000", ":0", "/", "/galería/", "%", "%41", "?", "#", "@", "\"", "<", ">", "'", "\\", " ",
             "\n", "\u3002", "\uff0f", "xn--", "..", "-"]
urls = (unicode_text | st.lists(st.sampled_from(URL_PARTS) | unicode_text, max_size=6).map("".join)
        | st.tuples(st.sampled_from(["https://", "http://"]), st.sampled_from(["example.org", "bücher.example"]),
                    unicode_text).map(lambda t: f"{t[0]}{t[1]}/{t[2]}"))


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def env(image):
    """One template environment for every example (the templates compile once)."""
    return environment(_gallery(image, "", ""))


def _gallery(image: Path, title: str, description: str) -> Gallery:
    return Gallery(path=image.parent / "gallery.yaml", render={}, contents=(), styles=(),
                   site=SiteSettings(title=title, description=description, output=image.parent / "site"))


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return write_image(tmp_path_factory.mktemp("render") / "r.png", (8, 8))


def _parsed(text: str) -> str:
    """`text` as an XML parser gives it back from the feed: what XML cannot carry replaced, line
    ends normalised (XML reads a carriage return as a line feed)."""
    return extras.xml_safe(text).replace("\r\n", "\n").replace("\r", "\n")


def _cell(image: Path, title: str, credit: str) -> dict:
    person = {"title": title, "credit": credit}
    return {"name": "a--b", "key": "ab" * 32, "alt": f"{title} in the style of {title}", "href": "render/a--b.html",
            "content": person, "style": person, "record": {"created": "2024-05-01T10:00:00Z"}, "_image": image,
            "picture": {"src": "img/render/a--b-1.jpg", "width": 8, "height": 8}}


@FUZZ
@given(title=unicode_text, credit=unicode_text, site_title=unicode_text, description=unicode_text, base=urls)
@example(title="Wave \ufffe", credit="Hokusai \uffff", site_title="G\x00", description="\udce9", base="https://x.org/")
@example(title="t", credit="", site_title="s", description="", base='https://x.org/a"><svg onload=alert(1)>/')
@example(title="t", credit="", site_title="s", description="", base="https://Bücher.example/galería/")
@example(title="t", credit="", site_title="s", description="", base="https://x.org/\nDisallow: /")
def test_feed_and_sitemap_are_well_formed_for_any_text_and_address(env, image, title, credit, site_title,
                                                                   description, base):
    try:
        written = site_url.normalise(base)
    except site_url.SiteUrlError as e:
        assert str(e)  # the builder puts it after the source's name; the reader after file and line
        written = ""
    else:
        assert written.isascii() and written.endswith("/") and written.startswith(("http://", "https://"))
        assert not any(c.isspace() or c in "\"<>\\`{}|^" or ord(c) < 32 for c in written), written
        assert site_url.normalise(written) == written  # one written form
    gallery = _gallery(image, site_title, description)
    site = {"title": site_title, "description": description, "base_url": written}
    files = extras.feeds(env, gallery, written, [_cell(image, title, credit)], site,
                        ["index.html", "about.html", "render/a--b.html", "404.html"])

    feed = ElementTree.fromstring(files["feed.xml"])
    assert (feed.find(f"{ATOM}title").text or "") == _parsed(site_title)
    entry = feed.find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == _parsed(f"{title} in the style of {title}")
    assert _parsed(credit) in entry.find(f"{ATOM}summary").text
    parser = _Tags()
    parser.feed(entry.find(f"{ATOM}content").text)
    tags = dict(parser.tags)
    assert [t for t, _ in parser.tags] == ["p", "a", "img", "p"]
    assert tags["a"]["href"] == f"{written}render/a--b.html" and tags["img"]["src"] == f"{written}img/render/a--b-1.jpg"
    if written:
        locs = [e.text for e in ElementTree.fromstring(files["sitemap.xml"]).iter() if e.tag.endswith("loc")]
        assert locs == [written, f"{written}about.html", f"{written}render/a--b.html"]
        assert files["robots.txt"].decode("ascii").splitlines() == [
            "User-agent: *", "Allow: /", f"Sitemap: {written}sitemap.xml"]
    else:
        assert "sitemap.xml" not in files and "robots.txt" not in files
