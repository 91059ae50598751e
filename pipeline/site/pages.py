"""Which pages the site has and what each one shows.

Each page gets only the data it shows (never the whole gallery), so its bytes, and whether a
rebuild must write it, depend on what is on it: a title edit rewrites the pages that show
that title, and a page weighs the same in a 9-cell gallery and a 1,000-cell one.

Past MATRIX_STYLES styles or MATRIX_PICTURES pictures the matrix is cut into blocks, each a page
(index.html holds the first), linked to each other; per-picture and per-style pages, with
their neighbours and the lists of every picture and every style, are the way around.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.model import Gallery
from pipeline.core.params import RenderParams
from pipeline.site import views as v
from pipeline.site.downloads import ZipPart, zip_view
from pipeline.site.loss_chart import loss_chart

MATRIX_STYLES = 8  # columns of one matrix page, at most: about 140 px a cell at 1280 px
MATRIX_PICTURES = 20  # rows of one matrix page, at most
ABSOLUTE = "absolute"  # a page's root: the site's base URL (404.html, served at any depth)


@dataclass
class Page:
    rel: str
    template: str
    title: str
    description: str
    image: dict | None = None  # its social card
    image_alt: str = ""
    root: str | None = None  # None: relative links ("../" per folder); ABSOLUTE: the base URL
    ctx: dict[str, Any] = field(default_factory=dict)


def blocks(n: int, most: int) -> list[range]:
    """0..n cut into the fewest runs of at most `most`, as even as they can be."""
    k = max(1, -(-n // most))
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    out, start = [], 0
    for size in sizes:
        out.append(range(start, start + size))
        start += size
    return out


def link(entry: dict) -> dict:
    """What a page needs to name and link a picture or style it does not show."""
    return {"id": entry["id"], "title": entry["title"], "href": entry["href"]}


def card(cell: dict) -> dict:
    """A cell as a thumbnail shows it (matrix, cards): no record, no parameters."""
    return {"name": cell["name"], "alt": cell["alt"], "href": cell["href"], "state": cell["state"],
            "picture": cell["picture"], "preview": cell["preview"],
            "content": link(cell["content"]), "style": link(cell["style"]),
            "shape": [cell["content"]["picture"]["width"], cell["content"]["picture"]["height"]]}


def full(cell: dict) -> dict:
    """A rendered cell as its own page shows it (the record goes into provenance and chart)."""
    return {k: val for k, val in cell.items() if k != "record"}


def site_pages(g: Gallery, contents: dict, styles: dict, cells: list[dict], zips: list[ZipPart],
               tryit: dict | None, plan_cells: list) -> list[Page]:
    """Every page of the gallery itself (the extras add theirs: site/extras.py), each with the data it shows; `plan_cells` for the about
    page's credits (which engines the gallery uses)."""
    site_title = g.site.title
    rendered = [c for c in cells if c["state"] == "rendered"]
    tryit_href = tryit["href"] if tryit else ""
    counts = {"contents": len(contents), "styles": len(styles), "renders": len(rendered), "cells": len(cells)}
    pages = _matrix_pages(g, contents, styles, cells, zips, counts, tryit_href)

    order = {"content": list(contents.values()), "style": list(styles.values())}
    for role, entries in order.items():
        listing = "pictures.html" if role == "content" else "styles.html"
        for i, entry in enumerate(entries):
            own = [card(c) for c in cells if c[role]["id"] == entry["id"]]
            done = sum(1 for c in own if c["state"] == "rendered")
            what = (f"{entry['title']} in the styles of {len(styles)} paintings." if role == "content"
                    else f"{len(contents)} pictures in the style of {entry['title']}.")
            pages.append(Page(entry["href"], f"{role}.html", f"{entry['title']} · {site_title}", what,
                              image=entry["picture"], ctx={
                                  "entry": entry, "cells": own, "rendered": done, "listing": listing,
                                  "prev": link(entries[i - 1]) if i > 0 else None,
                                  "next": link(entries[i + 1]) if i + 1 < len(entries) else None,
                                  "zips": zip_view([z for z in zips if z.group == entry["id"]]),
                                  "tryit_href": tryit_href if role == "style" else ""}))
        pages.append(Page(listing, "entries.html",
                          f"{'Pictures' if role == 'content' else 'Styles'} · {site_title}",
                          f"All {len(entries)} {'pictures' if role == 'content' else 'styles'} of the gallery.",
                          ctx={"role": role, "entries": [{**e, "renders": sum(
                              1 for c in rendered if c[role]["id"] == e["id"])} for e in entries]}))

    for i, cell in enumerate(rendered):
        prev = rendered[i - 1] if i > 0 else None
        nxt = rendered[i + 1] if i + 1 < len(rendered) else None
        pages.append(Page(cell["href"], "render.html", f"{cell['alt']} · {site_title}",
                          f"{cell['alt']}: a neural style transfer render, with its parameters and loss curve.",
                          image=cell["picture"], image_alt=cell["alt"], ctx={
                              "cell": full(cell), "tryit_href": tryit_href,
                              "prev": {"alt": prev["alt"], "href": prev["href"]} if prev else None,
                              "next": {"alt": nxt["alt"], "href": nxt["href"]} if nxt else None,
                              "provenance": v.provenance(cell), "chart": loss_chart(cell.get("record"))}))

    pages.append(Page("about.html", "about.html", f"About · {site_title}",
                      "What neural style transfer is, how this gallery was made, and the parameters it used.",
                      ctx={"defaults": v.param_rows(RenderParams.from_layers(g.render, g.overrides).effective()),
                           "overrides": v.overrides(g), "schedules": v.schedules(cells),
                           "fast_models": v.fast_models(plan_cells),
                           "example": full(rendered[0]) if rendered else None,
                           "entries": [{**link(e), "role": e["role"], "credit": e["credit"], "link": e["link"]}
                                       for e in (*contents.values(), *styles.values())]}))
    if tryit:
        pages.append(Page(tryit["href"], "try-it.html", f"Try it with your photo · {site_title}",
                          "Your own photo in the style of one of the gallery's paintings, painted in your "
                          "browser: nothing is uploaded.", ctx={"styles": list(styles.values()), "tryit": tryit}))
    return pages


def _matrix_pages(g: Gallery, contents: dict, styles: dict, cells: list[dict], zips: list[ZipPart],
                  counts: dict, tryit_href: str) -> list[Page]:
    """index.html and, past one block, matrix/R-C.html: each block of the matrix a page."""
    content_list, style_list = list(contents.values()), list(styles.values())
    by_pair = {(c["content"]["id"], c["style"]["id"]): c for c in cells}
    row_blocks = blocks(len(content_list), MATRIX_PICTURES)
    col_blocks = blocks(len(style_list), MATRIX_STYLES)
    paged = len(row_blocks) * len(col_blocks) > 1

    def rel(r: int, c: int) -> str:
        return "index.html" if (r, c) == (0, 0) else f"matrix/{r + 1}-{c + 1}.html"

    def nav(r: int, c: int) -> dict | None:
        if not paged:
            return None
        return {"rows": [{"label": f"{b.start + 1}–{b.stop}", "href": rel(i, c), "current": i == r,
                          "titles": "\n".join(content_list[k]["title"] for k in b)} for i, b in enumerate(row_blocks)],
                "cols": [{"label": f"{b.start + 1}–{b.stop}", "href": rel(r, i), "current": i == c,
                          "titles": "\n".join(style_list[k]["title"] for k in b)} for i, b in enumerate(col_blocks)]}

    all_zips = zip_view([z for z in zips if z.group == "all"])
    zip_mode = next((("style" if z.group in styles else "content") for z in zips if z.group != "all"), "")
    pages = []
    for r, rows in enumerate(row_blocks):
        for c, cols in enumerate(col_blocks):
            block_styles = [style_list[k] for k in cols]
            matrix = {"styles": block_styles, "rows": [
                {"content": content_list[k], "cells": [card(by_pair[(content_list[k]["id"], s["id"])])
                                                       for s in block_styles if (content_list[k]["id"], s["id"]) in by_pair]}
                for k in rows]}
            ctx = {"counts": counts, "matrix": matrix, "blocks": nav(r, c), "zips": all_zips,
                   "zip_mode": zip_mode, "tryit_href": tryit_href,
                   "here": {"pictures": f"{rows.start + 1}–{rows.stop}", "styles": f"{cols.start + 1}–{cols.stop}"}}
            if (r, c) == (0, 0):
                pages.append(Page("index.html", "index.html", g.site.title, g.site.description or
                                  f"{len(contents)} pictures in the styles of {len(styles)} paintings, made by "
                                  "neural style transfer.", image=_first_picture(cells), ctx=ctx))
            else:
                pages.append(Page(rel(r, c), "matrix.html",
                                  f"Pictures {rows.start + 1}–{rows.stop}, styles {cols.start + 1}–{cols.stop} · "
                                  f"{g.site.title}", f"Part of the gallery's matrix: pictures {rows.start + 1} to "
                                  f"{rows.stop} in styles {cols.start + 1} to {cols.stop}.", ctx=ctx))
    return pages


def _first_picture(cells: list[dict]) -> dict | None:
    return next((c["picture"] for c in cells if c["state"] == "rendered"), None)
