"""Everything a site build publishes, planned before any of it is made: each file with its size
(exact, or predicted for images not encoded yet) and its recipe (what its bytes follow from),
and a way to make it.

The builder checks the sizes against the host's limits first (site/sizes.py), encodes what is
missing, then makes only the files whose recipe changed (site/state.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.core.model import Gallery
from pipeline.site import extras as extras_
from pipeline.site import state as sitestate
from pipeline.site import tryit as tryit_page
from pipeline.site.downloads import ZipPart, credits_text, plan_zips, zip_bytes
from pipeline.site.output import MARKER, MARKER_TEXT
from pipeline.site.pages import ABSOLUTE, Page, site_pages
from pipeline.site.pictures import LABEL, PNG_BYTES_PER_PIXEL, Pictures
from pipeline.site.sizes import MB, SizePlan
from pipeline.site.templating import environment, render_template, template_dirs
from pipeline.site.views import gallery_views
from pipeline.util import site_url
from pipeline.util.errors import GalleryError, quote
from pipeline.util.hashing import bytes_sha256
from pipeline.site.web_images import DEFAULT_SETTINGS, DOWNLOADS, EncoderSettings, table_estimate

# A page's bytes before it was ever made: render pages weighed 8-9 KB in bench_growth (at 100 to
# 1,000 cells), the matrix's blocks up to 105 KB, the other pages 10-40 KB.
PAGE_GUESS = {"render.html": 10_000, "index.html": 100_000, "matrix.html": 100_000}
PAGE_GUESS_OTHER = 30_000


@dataclass
class Output:
    """One file of the site: its recipe, its size when known without making it, how to make it."""

    recipe: str
    make: Callable[[], bytes]
    size: int | None = None


def base_url(gallery: Gallery) -> str:
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


def predict(gallery: Gallery, cells: list, settings: EncoderSettings = DEFAULT_SETTINGS) -> SizePlan:
    """The site's files and their sizes once every cell still to render is rendered, as a build
    would plan them, without encoding, rendering or reading records (fast: `status` shows it).
    Encoded images count at their real size, the rest as predicted."""
    out = Path(gallery.site.output)
    last = sitestate.load(sitestate.state_path(gallery.cache, out), out)  # pages: the last build's sizes
    return SiteFiles(gallery, cells, settings, with_records=False, expected=True).size_plan(last)


class SiteFiles:
    """The site of `gallery` from the plan's `cells`, planned (see the module's docstring).

    with_records=False skips what only pages need (records; the try-it page's style vectors,
    estimated instead): enough to predict the site's size, fast, for `status`; `expected`
    counts the cells still to render as rendered (see views.cell_view).
    """

    def __init__(self, gallery: Gallery, cells: list, settings: EncoderSettings, with_records: bool = True,
                 expected: bool = False, extras: list[extras_.Extra] | None = None):
        g = self.g = gallery
        self.extras = extras_.default_extras() if extras is None else extras
        self.plan_cells = cells
        self._images = {f"{c.content.id}--{c.style.id}": Path(c.image) for c in cells}
        self.base_url = base_url(g)
        self.pictures = Pictures(g.cache, settings, g.site.downloads, verify=with_records)
        self.contents, self.styles, self.cells = gallery_views(g, cells, self.pictures, with_records, expected)
        self.rendered = [c for c in self.cells if c["state"] == "rendered"]
        self.tryit_files: dict[str, bytes | Path] = {}
        self.tryit: dict | None = None
        self.tryit_estimate = 0
        if g.site.try_it and g.styles and with_records:  # none without a style to try
            self.tryit_files, self.tryit = tryit_page.tryit_files(g, template_dirs(g))
        elif g.site.try_it and g.styles:
            self.tryit_estimate = _tryit_estimate(len(g.styles))
        self.static = _static_files(g)
        self.zips: list[ZipPart] = []
        self.pages: list[Page] = []
        self.replan()

    def replan(self) -> None:
        """Zips and pages from the pictures' sizes as they stand (again once encoded: a zip's
        parts and the sizes the pages show follow the real files)."""
        self.zips = plan_zips(self.g.site.zip, self.rendered, self.pictures.size, int(self.g.site.max_file_mb * MB),
                              extras_.slug(self.g.site.title))
        self.pages = site_pages(self.g, self.contents, self.styles, self.cells, self.zips, self.tryit, self.plan_cells)
        self.pages += [page for extra in self.extras for page in extra.pages(self)]

    @property
    def site_view(self) -> dict:
        return {"title": self.g.site.title, "description": self.g.site.description, "base_url": self.base_url,
                "tryit": self.tryit["href"] if self.tryit else "", "lightbox": extras_.LIGHTBOX if self.rendered else "",
                **{k: link for extra in self.extras for k, link in extra.view.items()}}

    # ---------------------------------------------------------------- sizes

    def size_plan(self, previous: dict | None = None) -> SizePlan:
        """Every file and its bytes, with what the settings that shrink the site would save.
        A page not made yet counts as its last build's size, or PAGE_GUESS."""
        old = (previous or {}).get("files") or {}
        files, predicted = {}, set()
        for rel in self.pictures.files:
            files[rel] = self.pictures.size(rel)
            if not self.pictures.ready(rel):
                predicted.add(rel)
        for z in self.zips:
            files[z.rel] = z.bytes
            if any(not self.pictures.ready(c["download"]["href"]) for c in z.members):
                predicted.add(z.rel)
        for p in self.pages:
            files[p.rel] = old[p.rel][0] if p.rel in old else PAGE_GUESS.get(p.template, PAGE_GUESS_OTHER)
        for rel, src in {**self.static, **self.tryit_files}.items():
            files[rel] = len(src) if isinstance(src, bytes) else src.stat().st_size
        if self.tryit_estimate:
            files["try-it/"] = self.tryit_estimate
        if self.rendered:
            files[extras_.LIGHTBOX] = len(extras_.lightbox_script(self.rendered))
        for extra in self.extras:
            files.update(extra.sizes(self, old))
        files[".nojekyll"], files[MARKER] = 0, len(MARKER_TEXT.encode())
        plan = SizePlan(files, predicted, downloads=self.g.site.downloads)
        plan.savings = self.savings(plan)
        return plan

    def savings(self, plan: SizePlan) -> list[tuple[str, int, str]]:
        """What each setting that shrinks the site would save on this gallery (see SizePlan); also
        records in `plan.format_ratios` how each other download format compares, for the advice
        on one file over site.max_file_mb."""
        kinds = plan.by_kind()
        downloads, zips = kinds["downloads"], kinds["zips"]
        out = []
        if zips:
            out.append(("zip: off", zips, "no zip; every render keeps its own download"))
        if downloads:
            for fmt in ("webp", "jpeg", "avif", "png"):
                if fmt == self.g.site.downloads:
                    continue
                other = self.download_bytes(fmt)
                plan.format_ratios[fmt] = other / downloads
                saved = round((downloads - other) * (1 + zips / downloads))
                if saved > 0:
                    out.append((f"downloads: {fmt}", saved,
                                f"the downloads{' and zips' if zips else ''} as {LABEL[fmt]}"))
            out.append(("downloads: none", downloads + zips, "no downloads" + (" and no zips" if zips else "")))
        if kinds["try-it page"]:
            out.append(("try_it: false", kinds["try-it page"], "no try-it page"))
        return out

    def download_bytes(self, fmt: str) -> int:
        """The downloads' bytes if they were `fmt`: the renders' PNGs as they are, else predicted."""
        total = 0
        for c in self.rendered:
            if fmt == "png":
                image = self._images[c["name"]]
                w, h = c["picture"]["width"], c["picture"]["height"]
                total += image.stat().st_size if image.is_file() else int(w * h * PNG_BYTES_PER_PIXEL)
            else:
                s = DOWNLOADS[fmt]
                f = s.formats[0]
                total += table_estimate(f, s.quality(f), c["picture"]["width"], c["picture"]["height"])
        return total

    # ---------------------------------------------------------------- the files

    def outputs(self, code: str) -> dict[str, Output]:
        """Every file with its recipe; `code` is what renders pages besides their data
        (state.code_digest)."""
        out: dict[str, Output] = {}
        for rel in self.pictures.files:
            out[rel] = _copy(self.pictures.source_path(rel))
        for rel, src in {**self.static, **self.tryit_files}.items():
            out[rel] = _copy(src) if isinstance(src, Path) else _bytes(src)
        for z in self.zips:
            members = [out[c["download"]["href"]].recipe for c in z.members]
            out[z.rel] = Output(sitestate.recipe([z.rel, members, credits_text(z.members)]),
                                lambda z=z: zip_bytes(z, lambda rel: self.pictures.source_path(rel).read_bytes()),
                                z.bytes)
        env = environment(self.g)
        site = self.site_view
        for p in self.pages:
            ctx = {"root": self._root(p),
                   "page": self._meta(p), "site": site, **p.ctx}
            out[p.rel] = Output(sitestate.recipe([code, p.template, ctx]),
                                lambda p=p, ctx=ctx: render_template(env, p.template, ctx).encode("utf-8"))
        data = {rel: blob for extra in self.extras for rel, blob in extra.files(self, env).items()}
        if self.rendered:
            data[extras_.LIGHTBOX] = extras_.lightbox_script(self.rendered)
        data[".nojekyll"] = b""
        data[MARKER] = MARKER_TEXT.encode()
        for rel, blob in data.items():
            out[rel] = _bytes(blob)
        return dict(sorted(out.items()))

    def _root(self, p: Page) -> str:
        """The way back to the site's top: relative, or the base URL for a page served at any depth."""
        if p.root == ABSOLUTE:
            return self.base_url
        return "../" * p.rel.count("/") if p.root is None else p.root

    def _meta(self, p: Page) -> dict:
        meta = {"title": p.title, "description": p.description, "path": p.rel, "og_image": "", "og_url": "",
                "image_alt": p.image_alt or p.title, "image_width": 0, "image_height": 0}
        if self.base_url:
            meta["og_url"] = self.base_url + ("" if p.rel == "index.html" else p.rel)
            if p.image:
                meta["og_image"] = self.base_url + p.image["largest"]
                meta["image_width"], meta["image_height"] = p.image["width"], p.image["height"]
        return meta


def _copy(path: Path) -> Output:
    st = Path(path).stat()
    return Output(f"copy:{path}:{st.st_size}:{st.st_mtime_ns}", Path(path).read_bytes, st.st_size)


def _bytes(data: bytes) -> Output:
    return Output("sha256:" + bytes_sha256(data), lambda: data, len(data))


def _static_files(g: Gallery) -> dict[str, Path]:
    """templates/static/ of the built-in set, overlaid file by file by the user's own."""
    found: dict[str, Path] = {}
    for base in reversed(template_dirs(g)):
        static = base / "static"
        if static.is_dir():
            for p in sorted(static.rglob("*")):
                if p.is_file() and not p.name.startswith("."):
                    found["static/" + p.relative_to(static).as_posix()] = p
    return found


def _tryit_estimate(styles: int) -> int:
    """The try-it page's files, from the sizes of the runtime and the networks (no vectors computed)."""
    from pipeline.site import runtime

    total = 400 * styles + 40_000  # the style vectors, the page's script, stylesheet and licences
    for name in runtime.FILES:
        try:
            total += (runtime.VENDOR / name).stat().st_size
        except OSError:
            pass
    try:
        from pipeline.render.fast import models

        folder = models.package_dir()
        total += sum((folder / f).stat().st_size for f in models.MODEL_FILES.values())
    except Exception:  # noqa: BLE001 - an estimate: a missing package only leaves the networks out
        pass
    return total
