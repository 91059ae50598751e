"""What a gallery site offers beyond its pages: the lightbox's list of renders, the full-size
downloads and the zip of them all, the Atom feed of new renders, sitemap.xml and robots.txt.

All of it is derived from the same views the pages use, deterministically (the zip's entries
carry a fixed date, the feed's dates come from the render records), so a rebuild with the
same inputs stays byte-identical.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

EPOCH = "2000-01-01T00:00:00Z"  # a render recorded before records carried "created"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the same bytes every build
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def download_path(name: str) -> str:
    """Where the full-size PNG of a render is published."""
    return f"download/{name}.png"


def slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-") or "gallery"


def archive_info(gallery, rendered: list[dict]) -> dict[str, Any] | None:
    """The zip of every render: its path and size, for the download link (None without renders)."""
    if not rendered:
        return None
    size = sum(Path(c["_image"]).stat().st_size for c in rendered if c.get("_image"))
    # one path whatever the title (renaming the gallery does not rewrite megabytes); the link's
    # `download` attribute gives the saved file the gallery's name
    return {"href": "download/all-renders.zip", "filename": f"{slug(gallery.site.title)}.zip",
            "count": len(rendered), "mb": f"{max(size, 1) / 1e6:.1f}"}


def lightbox_items(rendered: list[dict]) -> list[dict[str, Any]]:
    """Every render as the lightbox shows it: paths relative to the site's root (the page's
    script prefixes its own `root`), the largest variants listed for zooming."""
    items = []
    for c in rendered:
        pic = c["picture"]
        items.append({
            "name": c["name"], "alt": c["alt"], "href": c["href"], "download": c.get("download"),
            "width": pic["width"], "height": pic["height"],
            "sources": [{"type": s["type"], "srcset": [[i["url"], i["width"]] for i in s["srcset"]]}
                        for s in pic["sources"]],
            "fallback": [[i["url"], i["width"]] for i in pic["fallback"]],
            "src": pic["largest"],
        })
    return items


def feeds_and_archive(env, gallery, base_url: str, rendered: list[dict], site: dict,
                      pages: list[str]) -> dict[str, bytes]:
    """feed.xml, the zip of every render, and (with a base url, which they require) sitemap.xml
    and robots.txt."""
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
    if rendered:
        out[archive_info(gallery, rendered)["href"]] = _zip(gallery, rendered)
    return out


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry (control characters but tab and line
    breaks, lone surrogates, U+FFFE and U+FFFF) replaced by U+FFFD: a feed reader drops a feed
    that is not well-formed, whatever a title holds."""
    return _NOT_XML.sub("\ufffd", text)


def _zip(gallery, rendered: list[dict]) -> bytes:
    """Every render's PNG plus a CREDITS.txt, stored (PNGs do not compress further), fixed dates."""
    folder = "renders"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        lines = [f"{len(rendered)} renders made by neural style transfer.", ""]
        for c in rendered:
            _add(z, f"{folder}/{c['name']}.png", Path(c["_image"]).read_bytes())
            lines += [f"{c['name']}.png: {c['alt']}",
                      f"  picture: {c['content']['title']}" + (f", {c['content']['credit']}" if c['content']['credit'] else ""),
                      f"  style: {c['style']['title']}" + (f", {c['style']['credit']}" if c['style']['credit'] else ""),
                      ""]
        lines.append("The source pictures and paintings belong to their credited owners.")
        # (a lone surrogate, which validation refuses, becomes "?" rather than a crash)
        _add(z, f"{folder}/CREDITS.txt", ("\n".join(lines) + "\n").encode("utf-8", "replace"))
    return buf.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    z.writestr(info, data)


def _atom_date(text: str) -> str:
    """An RFC 3339 date for Atom from a record's ISO timestamp, or EPOCH."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", text or "")
    if not m:
        return EPOCH
    return m.group(1) + ("Z" if m.group(2) in (None, "Z", "+00:00") else m.group(2))
