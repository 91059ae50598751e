"""The site stage: from the gallery, the plan's cells and the cache, write a static `site/`.

Never renders. Everything a page shows is prepared here as plain dicts and handed to the
Jinja2 templates in `templates/`, which a user may edit. The output is deterministic (no
timestamps, manifest order), files are rewritten only when their bytes change, and files a
previous build wrote that this one does not produce are deleted, but only in a folder that
carries our marker file, so a mistyped `site.output` can never wipe someone's directory. Files
that `site.keep` lists (CNAME and .well-known/ by default) are kept, and the summary names every
file a build removes (output.py writes the folder; templating.py finds and renders the templates).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from pipeline.site import extras, owner
from pipeline.site import state as sitestate
from pipeline.util import site_url
from pipeline.util.errors import DISK_ERRNOS, GalleryError, quote
from pipeline.util.files import file_sha256
from pipeline.plan.cache import read_record
from pipeline.site.loss_chart import loss_chart
from pipeline.site import tryit as tryit_page
from pipeline.manifest.model import Gallery, ImageEntry
from pipeline.manifest.params import PARAMS_BY_NAME, RenderParams
from pipeline.site.output import (MARKER, MARKER_TEXT, SiteReport, budget_warnings, check_output, check_sizes, kept,
                                  remove_stale, warn_unknown_removed, write_files)
from pipeline.site.templating import environment, render_template, template_dirs
from pipeline.site.web_images import (DEFAULT_SETTINGS, MIME, EncoderSettings, VariantSet, make_variants,
                                       variants_dir)

log = logging.getLogger(__name__)


def build_site(gallery: Gallery, plan, quiet: bool = False,
               settings: EncoderSettings = DEFAULT_SETTINGS) -> SiteReport:
    """Write the site for `gallery` into `gallery.site.output` from `plan`'s cells, and say
    (through logging) what changed; `quiet` keeps it to the summary line.

    When nothing the site reads has changed since the last build and its output is intact,
    nothing is rendered or written (see site/state.py): the same result, in milliseconds.
    """
    t0 = time.monotonic()
    out = Path(gallery.site.output)
    check_output(out, gallery)
    report = SiteReport(output=out)
    say = (lambda msg: log.debug("site: %s", msg)) if quiet else (lambda msg: log.info("site: %s", msg))
    cells = list(plan.cells)

    with owner.owning(out, gallery.cache):  # one build of a site at a time; none while `serve` owns it
        # Fingerprint the inputs before reading them: an edit during the build shows up next time.
        state_file = sitestate.state_path(gallery.cache, out)
        fp = sitestate.fingerprint(gallery, cells, settings, template_dirs(gallery), _base_url(gallery))
        if not _up_to_date(out, state_file, fp, gallery, report):
            taken = sitestate.now_ns()
            builder = _Builder(gallery, cells, settings, say, report)
            files = builder.files()
            check_sizes(files, gallery, report)
            hashes = write_files(out, files, report)
            previous = sitestate.load(state_file, out)
            remove_stale(out, set(files), report, gallery.site.keep)
            warn_unknown_removed(report, previous, gallery)
            sitestate.save(state_file, out, fp, taken, sitestate.record_files(out, hashes),
                           {"pages": report.pages, "images": report.images, "files": report.files,
                            "bytes": report.bytes, "placeholders": report.placeholders}, gallery.overrides)
    report.seconds = time.monotonic() - t0
    for w in report.warnings:
        log.warning("warning: %s", w)
    log.info("site: %s", report.summary())
    return report


def _up_to_date(out: Path, state_file: Path, fp: str, gallery: Gallery, report: SiteReport) -> bool:
    """True (with the report filled in) when the last build read the same inputs and its files are intact."""
    state = sitestate.load(state_file, out)
    if state is None or state.get("fingerprint") != fp:
        return False
    taken = sitestate.now_ns()  # before looking: what the check sees is at least this recent
    ok, refreshed = sitestate.check(out, state, lambda rel: kept(rel, gallery.site.keep))
    if not ok:
        return False
    counts = state.get("counts") or {}
    try:
        report.pages, report.images, report.files, report.bytes, report.placeholders = (
            int(counts[k]) for k in ("pages", "images", "files", "bytes", "placeholders"))
    except (KeyError, TypeError, ValueError):
        return False
    if refreshed is not None:  # some files were hashed (too young to trust, or touched): remember them
        sitestate.save(state_file, out, fp, taken, refreshed, counts, gallery.overrides)
    report.unchanged = report.files
    report.up_to_date = True
    report.warnings.extend(budget_warnings(report.bytes, gallery))
    return True


def _base_url(gallery: Gallery) -> str:
    """The site's address as every file writes it (pipeline.util.site_url), or "" for relative
    links only. The manifest wins; GALLERY_BASE_URL lets CI pass the Pages address it only
    learns at run time, and is checked the same way."""
    base, source = gallery.site.base_url.strip(), f"site.base_url in {gallery.path}"
    if not base:
        base, source = os.environ.get("GALLERY_BASE_URL", "").strip(), "the environment variable GALLERY_BASE_URL"
    if not base:
        return ""
    try:
        return site_url.normalise(base)
    except site_url.SiteUrlError as e:
        raise GalleryError(f"{source} {quote(base)} {e}; set it to the address the site is published at, "
                           f"e.g. {site_url.EXAMPLE}, or leave it empty for relative links only") from None


# ---------------------------------------------------------------- what the site holds

def page_name(content_id: str, style_id: str) -> str:
    return f"{content_id}--{style_id}"


class _Builder:
    """Collects every output file (relative path -> bytes or a cached file to copy)."""

    def __init__(self, gallery: Gallery, cells: list, settings: EncoderSettings, say, report: SiteReport):
        self.g = gallery
        self.cells = cells
        self.settings = settings
        self.say = say
        self.report = report
        self.out: dict[str, bytes | Path] = {}
        self.variant_cache = variants_dir(gallery.cache)
        self.env = environment(gallery)
        self.base_url = _base_url(gallery)

    # -- images

    def picture(self, kind: str, name: str, source: Path, source_key: str,
                size: tuple[int, int] | None = None) -> dict:
        """Encode (or reuse) the variants of one image, schedule them for copying, describe them."""
        try:
            vset, encoded = make_variants(source, source_key, self.variant_cache, self.settings, size)
        except (OSError, ValueError) as e:
            if getattr(e, "errno", None) in DISK_ERRNOS:
                raise  # the disk, not the image: the CLI says so and what to do
            raise GalleryError(f"cannot make web images of {source}: {e}") from None
        self.report.encoded += encoded
        if encoded:
            self.say(f"encoded {kind}/{name} ({len(vset.variants)} files)")
        return self._describe(kind, name, vset)

    def _describe(self, kind: str, name: str, vset: VariantSet) -> dict:
        def url(v) -> str:
            rel = f"img/{kind}/{name}-{vset.key[:10]}-{v.width}.{v.format}"
            self.out[rel] = v.path
            return rel

        sources = {fmt: [{"url": url(v), "width": v.width} for v in vset.of(fmt)] for fmt in ("avif", "webp", "jpg")}
        largest = vset.largest("jpg")
        return {
            "sources": [{"type": MIME[f], "srcset": sources[f]} for f in ("avif", "webp")],
            "fallback": sources["jpg"],
            # the plain `src` for browsers without srcset: a mid-size JPEG
            "src": url(vset.smallest_at_least(640, "jpg")),
            "largest": url(largest),
            "width": largest.width,
            "height": largest.height,
        }

    # -- model -> view

    def entry_view(self, e: ImageEntry) -> dict:
        key = e.sha256 or file_sha256(e.file)
        return {
            "id": e.id, "role": e.role, "title": e.title, "credit": e.credit, "link": e.link,
            "url": e.url, "href": f"{e.role}/{e.id}.html",
            "picture": self.picture(e.role, e.id, Path(e.file), f"{e.role}:{key}"),
        }

    def cell_view(self, cell, contents: dict, styles: dict) -> dict:
        c, s = cell.content, cell.style
        rendered = cell.state == "cached" and Path(cell.image).is_file()
        name = page_name(c.id, s.id)
        view = {
            "name": name, "content": contents[c.id], "style": styles[s.id],
            "state": "rendered" if rendered else ("excluded" if cell.state == "excluded" else "pending"),
            "reasons": list(cell.reasons), "key": cell.key,
            "alt": f"{c.title} in the style of {s.title}",
            "href": f"render/{name}.html" if rendered else None,
            "picture": None,
        }
        if rendered:
            view["picture"] = pic = self.picture("render", name, Path(cell.image), f"render:{cell.key}")
            view["record"] = read_record(Path(cell.record), cell.key)
            view["params"] = cell.params
            # the slider's original at the render's own size, so neither side is sharper
            wh = (pic["width"], pic["height"])
            content_key = c.sha256 or file_sha256(c.file)
            view["before"] = self.picture("before", name, Path(c.file),
                                          f"before:{content_key}:{wh[0]}x{wh[1]}", size=wh)
            view["download"] = extras.download_path(name)
            view["_image"] = Path(cell.image)
            self.out[view["download"]] = Path(cell.image)
        else:
            view["params"] = cell.params
            self.report.placeholders += 1
        return view

    # -- pages

    def files(self) -> dict[str, bytes | Path]:
        g = self.g
        n = len(g.contents) + len(g.styles) + sum(1 for c in self.cells if c.state == "cached")
        self.say(f"preparing images of {n} pictures")
        contents = {e.id: self.entry_view(e) for e in g.contents}
        styles = {e.id: self.entry_view(e) for e in g.styles}
        cells = [self.cell_view(cell, contents, styles) for cell in self.cells]
        names = [c["name"] for c in cells]
        if len(set(names)) != len(names):
            raise GalleryError("two cells share a page name: ids must not make '<content>--<style>' ambiguous")

        rows = [{"content": contents[e.id], "cells": [c for c in cells if c["content"]["id"] == e.id]}
                for e in g.contents]
        rendered = [c for c in cells if c["state"] == "rendered"]
        first = rendered[0] if rendered else None
        common = {"site": self._site_view(), "contents": list(contents.values()),
                  "styles": list(styles.values()), "rows": rows, "rendered": rendered,
                  "lightbox": extras.lightbox_items(rendered), "archive": extras.archive_info(g, rendered),
                  "tryit": None}
        tryit_files: dict[str, bytes | Path] = {}
        if g.site.try_it and g.styles:  # the page where visitors stylise their own photo (pipeline.site.tryit)
            tryit_files, common["tryit"] = tryit_page.tryit_files(g, template_dirs(g))

        self.page("index.html", "index.html",
                  title=g.site.title, description=g.site.description or
                  f"{len(g.contents)} pictures in the styles of {len(g.styles)} paintings, made by neural style transfer.",
                  image=first["picture"] if first else None, **common)
        self.page("about.html", "about.html", title=f"About · {g.site.title}",
                  description="What neural style transfer is, how this gallery was made, and the parameters it used.",
                  image=None, defaults=_param_rows(RenderParams.from_layers(g.render, g.overrides).effective()),
                  overrides=_overrides(g), schedules=_schedules(cells), fast_models=_fast_models(self.cells),
                  **common)
        for e in g.contents:
            row = next(r for r in rows if r["content"]["id"] == e.id)["cells"]
            self.page(f"content/{e.id}.html", "content.html", title=f"{e.title} · {g.site.title}",
                      description=f"{e.title} in the styles of {len(g.styles)} paintings.",
                      image=contents[e.id]["picture"], entry=contents[e.id], cells=row, **common)
        for e in g.styles:
            col = [c for c in cells if c["style"]["id"] == e.id]
            self.page(f"style/{e.id}.html", "style.html", title=f"{e.title} · {g.site.title}",
                      description=f"{len(g.contents)} pictures in the style of {e.title}.",
                      image=styles[e.id]["picture"], entry=styles[e.id], cells=col, **common)
        for i, cell in enumerate(rendered):
            prev = rendered[i - 1] if i > 0 else None
            nxt = rendered[i + 1] if i + 1 < len(rendered) else None
            self.page(f"render/{cell['name']}.html", "render.html", title=f"{cell['alt']} · {g.site.title}",
                      description=f"{cell['alt']}: a neural style transfer render, with its parameters and loss curve.",
                      image=cell["picture"], image_alt=cell["alt"], cell=cell, prev=prev, next=nxt,
                      provenance=_provenance(cell), chart=loss_chart(cell.get("record")), **common)

        if common["tryit"]:
            self.page(tryit_page.PAGE, "try-it.html", title=f"Try it with your photo · {g.site.title}",
                      description="Your own photo in the style of one of the gallery's paintings, "
                                  "painted in your browser: nothing is uploaded.",
                      image=None, **common)
            self.out.update(tryit_files)
        self.page("404.html", "404.html", title=f"Not found · {g.site.title}",
                  description="This page is not part of the gallery.", image=None,
                  root=self.base_url, **common)  # served at any depth: absolute links when the address is known
        self.out.update(extras.feeds_and_archive(self.env, g, self.base_url, rendered, self._site_view(),
                                                 [k for k in self.out if k.endswith(".html")]))

        self.static()
        self.out[".nojekyll"] = b""
        self.out[MARKER] = MARKER_TEXT.encode()
        self.report.pages = sum(1 for k in self.out if k.endswith(".html") and k != "404.html")
        self.report.images = sum(1 for k in self.out if k.startswith("img/"))
        return dict(sorted(self.out.items()))

    def page(self, rel: str, template: str, *, title: str, description: str, image: dict | None,
             image_alt: str = "", root: str | None = None, **ctx: Any) -> None:
        depth = rel.count("/")
        root = "../" * depth if root is None else root
        meta = {"title": title, "description": description, "path": rel, "og_image": "", "og_url": "",
                "image_alt": image_alt or title, "image_width": 0, "image_height": 0}
        if self.base_url:
            meta["og_url"] = self.base_url + ("" if rel == "index.html" else rel)
            if image:
                meta["og_image"] = self.base_url + image["largest"]
                meta["image_width"], meta["image_height"] = image["width"], image["height"]
        html = render_template(self.env, template, {"root": root, "page": meta, **ctx})
        self.out[rel] = html.encode("utf-8")

    def static(self) -> None:
        """templates/static/ of the built-in set, overlaid file by file by the user's own."""
        found: dict[str, Path] = {}
        for base in reversed(template_dirs(self.g)):
            static = base / "static"
            if static.is_dir():
                for p in sorted(static.rglob("*")):
                    if p.is_file() and not p.name.startswith("."):
                        found["static/" + p.relative_to(static).as_posix()] = p
        self.out.update(found)

    def _site_view(self) -> dict:
        s = self.g.site
        return {"title": s.title, "description": s.description, "base_url": self.base_url}


def _param_rows(params: dict) -> list[dict]:
    rows = []
    for name, value in params.items():
        p = PARAMS_BY_NAME.get(name)
        rows.append({"name": name, "value": _fmt(value), "help": p.help if p else ""})
    return rows


def _fast_models(cells) -> dict | None:
    """The fast engine's networks, their origin and licence, when a cell uses them (as its engine
    or as the optimiser's start): the about page credits them."""
    if not any(c.params.engine == "fast" or c.params.start() == "fast" for c in cells if c.state != "excluded"):
        return None
    from pipeline.render.fast import models

    return {"origin": models.MODELS_ORIGIN, "license": models.MODELS_LICENSE, "package": models.PACKAGE_PIN,
            "files": [{"file": models.MODEL_FILES[n].rsplit("/", 1)[-1], "sha256": models.MODEL_SHA256[n]}
                      for n in sorted(models.MODEL_FILES)]}


def _schedules(cells: list[dict]) -> list[dict]:
    """The pyramids the renders actually ran (from their records; the plan's for the rest),
    each with how many renders used it: the preset's schedule differs at small sizes."""
    groups: dict[tuple, list[str]] = {}
    for cell in cells:
        if cell["state"] == "excluded" or getattr(cell.get("params"), "engine", "gatys") != "gatys":
            continue  # the fast engine runs no pyramid
        levels = [(max(lv.get("size") or [0]), lv.get("iterations", 0))
                  for lv in (cell.get("record") or {}).get("levels") or [] if isinstance(lv, dict)]
        if not levels and cell.get("params") is not None:
            levels = list(cell["params"].levels())
        if levels:
            groups.setdefault(tuple(levels), []).append(cell["alt"])
    return [{"steps": [{"size": size, "iterations": its} for size, its in levels], "count": len(names),
             "total": sum(its for _, its in levels), "examples": names[:3]}
            for levels, names in sorted(groups.items(), key=lambda kv: -len(kv[1]))]


def _overrides(g: Gallery) -> list[dict]:
    return [{"title": e.title, "role": e.role, "href": f"{e.role}/{e.id}.html",
             "params": [{"name": k, "value": _fmt(v)} for k, v in sorted(e.render.items())]}
            for e in (*g.contents, *g.styles) if e.render]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return "—" if v is None else str(v)


def _provenance(cell: dict) -> dict:
    """Everything the record says about how the render was made; gaps shown as such."""
    rec = cell.get("record") or {}
    params = rec.get("params") or cell["params"].effective()
    weights = rec.get("weights") or {}
    seconds = rec.get("seconds")
    levels = [{"size": "×".join(str(x) for x in (lv.get("size") or [])),
               "iterations": lv.get("iterations", "—"),
               "seconds": f"{lv['seconds']:.1f} s" if isinstance(lv.get("seconds"), (int, float)) else "—"}
              for lv in rec.get("levels") or []]
    final = rec.get("final") or {}
    return {
        "recorded": bool(rec),
        "params": _param_rows(params),
        "weights_id": weights.get("id", "—"), "weights_sha256": weights.get("sha256", "—"),
        "renderer_version": _fmt(rec.get("renderer_version")), "device": _fmt(rec.get("device")),
        "precision": _fmt(rec.get("precision")),
        "software": " · ".join(f"{k} {rec[k]}" for k in ("torch", "onnxruntime") if rec.get(k)),
        "seconds": f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "—",
        "key": cell["key"], "levels": levels,
        "final": [{"name": k, "value": f"{final[k]:.4g}"} for k in ("content", "style", "tv", "total")
                  if isinstance(final.get(k), (int, float))],
    }
