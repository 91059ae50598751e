"""What a gallery site offers beyond its pages: the lightbox's list of renders (a script every
page loads only when a visitor opens the lightbox), and the extras that hang on the build's
hooks: the Atom feed of new renders with sitemap.xml and robots.txt, and the 404 page. (The
downloads' zips: site/downloads.py, switched by `site.zip`; the try-it page: `site.try_it`.)

An extra is turned off or replaced in one place, `default_extras()`, or for one build
(`build_site(extras=...)`), as sigal's plugins hang on its signals.

All of it is derived from the same views the pages use, deterministically (the feed's dates come
from the render records), so a rebuild with the same inputs stays byte-identical.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.site.pages import ABSOLUTE, Page, card

EPOCH = "2000-01-01T00:00:00Z"  # a render recorded before records carried "created"
LIGHTBOX = "data/lightbox.js"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _nothing(*_: Any) -> dict:
    return {}


@dataclass(frozen=True)
class Extra:
    """A part of the site beside the gallery itself, on the build's hooks. Each hook gets the
    site being planned (assemble.SiteFiles: its gallery `g`, `base_url`, `rendered` cells,
    `pages`, `site_view`): `pages(site)` adds pages; `files(site, env)` adds files (bytes) made
    with the templates' Jinja2 environment; `sizes(site, old)` predicts those files' bytes
    before anything is made (`old`: the last build's files and sizes); `view` is what every
    page is told of it (a link)."""

    name: str
    pages: Callable[..., list[Page]] = lambda site: []
    files: Callable[..., dict[str, bytes]] = _nothing
    sizes: Callable[..., dict[str, int]] = _nothing
    view: dict[str, str] = field(default_factory=dict)


FEED_GUESS = 800  # feed.xml's bytes a render, before its first build


def _feed_files(site, env) -> dict[str, bytes]:
    return feeds(env, site.g, site.base_url, site.rendered, site.site_view, [p.rel for p in site.pages])


def _feed_sizes(site, old: dict) -> dict[str, int]:
    sizes = {"feed.xml": old["feed.xml"][0] if "feed.xml" in old else 1000 + FEED_GUESS * len(site.rendered)}
    if site.base_url:
        for rel in ("sitemap.xml", "robots.txt"):
            sizes[rel] = old[rel][0] if rel in old else 200 + 100 * len(site.pages)
    return sizes


def _not_found_page(site) -> list[Page]:
    title = site.g.site.title
    return [Page("404.html", "404.html", f"Not found · {title}", "This page is not part of the gallery.",
                 root=ABSOLUTE, ctx={"examples": [card(c) for c in site.rendered[:6]]})]


FEEDS = Extra("feeds", files=_feed_files, sizes=_feed_sizes, view={"feed": "feed.xml"})
NOT_FOUND = Extra("404", pages=_not_found_page)


def default_extras() -> list[Extra]:
    """The build's extras, registered here: the feed (with sitemap and robots) and the 404 page."""
    return [FEEDS, NOT_FOUND]


def slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-") or "gallery"


def lightbox_script(rendered: list[dict[str, Any]]) -> bytes:
    """Every render as the lightbox shows it, as a script that hands the list to static/site.js
    (a script, not JSON, so that it loads from file:// too). Paths are relative to the site's
    root; each render's files follow from its `base`: base + width + "." + format.

    One compact row a render: [name, alt, base, [AVIF widths], JPEG width, width, height,
    download or ""]; its page is render/<name>.html.
    """
    rows = []
    for c in rendered:
        pic = c["picture"]
        avif = next((s["srcset"] for s in pic["sources"] if s["type"] == "image/avif"), [])
        fallback = pic["fallback"][-1]
        base = fallback["url"][: -len(f"{fallback['width']}.jpg")]
        if not all(i["url"] == f"{base}{i['width']}.avif" for i in avif):
            raise ValueError(f"{c['name']}: its web images do not follow one base name")
        rows.append([c["name"], c["alt"], base, [i["width"] for i in avif], fallback["width"],
                     pic["width"], pic["height"], (c.get("download") or {}).get("href", "")])
    # ASCII (every other character escaped): no title can end the script early or break it
    data = json.dumps({"version": 1, "renders": rows}, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    return f"window.galleryLightbox && window.galleryLightbox({data});\n".encode("ascii")


def feeds(env, gallery, base_url: str, rendered: list[dict], site: dict, pages: list[str]) -> dict[str, bytes]:
    """feed.xml and (with a base url, which they require) sitemap.xml and robots.txt."""
    from pipeline.site.templating import render_template

    out: dict[str, bytes] = {}
    entries = []
    for c in rendered:
        rec = c.get("record") or {}
        created = rec.get("created") if isinstance(rec.get("created"), str) else ""
        entries.append({
            "id": f"urn:style-gallery:render:{c['key']}", "title": c["alt"], "href": c["href"],
            "updated": _atom_date(created), "image": c["picture"]["src"],
            "width": c["picture"]["width"], "height": c["picture"]["height"],
            "summary": f"{c['content']['title']} ({c['content']['credit'] or 'picture'}) repainted in the "
                       f"style of {c['style']['title']} ({c['style']['credit'] or 'painting'}).",
        })
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)  # newest first, then stable
    feed_id = base_url or f"urn:style-gallery:{slug(gallery.site.title)}"
    out["feed.xml"] = xml_safe(render_template(env, "feed.xml", {
        "site": site, "base": base_url, "feed_id": feed_id, "entries": entries,
        "updated": entries[0]["updated"] if entries else EPOCH})).encode("utf-8")
    if base_url:
        urls = ["" if p == "index.html" else p for p in sorted(pages) if p != "404.html"]
        urls.sort(key=lambda u: (u != "", u))
        out["sitemap.xml"] = xml_safe(render_template(env, "sitemap.xml", {"base": base_url, "urls": urls})).encode("utf-8")
        out["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {base_url}sitemap.xml\n".encode("ascii")
    return out


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry (control characters but tab and line
    breaks, lone surrogates, U+FFFE and U+FFFF) replaced by U+FFFD: a feed reader drops a feed
    that is not well-formed, whatever a title holds."""
    return _NOT_XML.sub("\ufffd", text)


def _atom_date(text: str) -> str:
    """An RFC 3339 date for Atom from a record's ISO timestamp, or EPOCH."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", text or "")
    if not m:
        return EPOCH
    return m.group(1) + ("Z" if m.group(2) in (None, "Z", "+00:00") else m.group(2))
