"""A gallery as it grows: page weight independent of the number of cells, incremental rebuilds,
shared "before" images, the downloads' zips, and the size limits checked before encoding."""
from __future__ import annotations

import re
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.core.model import Gallery, SiteSettings
from pipeline.site import assemble
from pipeline.site.builder import build_site
from pipeline.util.errors import GalleryError
from site_fixtures import grid_gallery

MB_ = 1_000_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("grid-cache")


@pytest.fixture
def renders(monkeypatch):
    """The pages rendered with Jinja, by template."""
    calls = []
    real = assemble.render_template
    monkeypatch.setattr(assemble, "render_template", lambda env, name, ctx: calls.append(name) or real(env, name, ctx))
    return calls


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def with_site(gallery, **changes):
    return replace(gallery, site=replace(gallery.site, **changes))


def test_render_pages_weigh_the_same_at_25_and_400_cells(tmp_path, cache):
    sizes = {}
    for n in (5, 20):
        gallery, plan = grid_gallery(tmp_path / f"g{n}", n, n, cache=cache)
        build_site(gallery, plan, quiet=True)
        out = gallery.site.output
        pages = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*.html")}
        sizes[n] = max(size for rel, size in pages.items() if rel.startswith("render/"))
        # no page lists every render: the lightbox's list is one shared script, loaded on demand
        lightbox = (out / "data" / "lightbox.js").read_text(encoding="utf-8")
        assert lightbox.count('"c00--s') == n and lightbox.count("--s00-") == n
        assert not any("galleryLightbox(" in (out / rel).read_text(encoding="utf-8") for rel in pages)
        # a gallery that chooses the fast engine shows renders, not previews
        assert "preview-badge" not in (out / "index.html").read_text(encoding="utf-8")
    assert abs(sizes[20] - sizes[5]) / sizes[5] < 0.10, sizes
    assert sizes[20] < 30_000


def test_a_title_edit_rewrites_only_the_files_that_show_it(tmp_path, cache, renders):
    gallery, plan = grid_gallery(tmp_path, 5, 5, cache=cache)
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    before = files(out)
    renders.clear()
    new = "A Picture Renamed"
    gallery2, plan2 = grid_gallery(tmp_path, 5, 5, cache=cache, titles={"c02": new})
    t0 = time.monotonic()
    report = build_site(gallery2, plan2, quiet=True)
    seconds = time.monotonic() - t0
    after = files(out)
    shows = {rel for rel, data in after.items() if new.encode() in data}
    assert set(report.written) == shows  # every file that shows the title, and nothing else
    assert {rel for rel in after if after[rel] != before.get(rel)} == shows
    assert {"index.html", "content/c02.html", "pictures.html", "feed.xml", "data/lightbox.js"} <= shows
    assert len([r for r in shows if r.startswith("render/")]) == 5 + 2  # its row, and the neighbours' links
    # no image or download (a zip's credits name it: the zip is rewritten)
    assert not any(r.startswith(("img/", "download/")) and not r.endswith(".zip") for r in report.written)
    assert len(renders) == len([r for r in shows if r.endswith(".html")])  # no other page was even rendered
    assert seconds < 30


def test_adding_a_style_writes_its_cells_and_the_pages_that_list_styles(tmp_path, cache):
    gallery, plan = grid_gallery(tmp_path, 5, 5, cache=cache)
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    before = files(out)
    gallery2, plan2 = grid_gallery(tmp_path, 5, 6, cache=cache)
    report = build_site(gallery2, plan2, quiet=True)
    new_style = "s05"
    changed_old = sorted(r for r in report.written if r in before)
    created = sorted(r for r in report.written if r not in before)
    assert all(new_style in r or not r.startswith(("img/", "download/", "render/", "style/"))
               for r in created), created
    assert len([r for r in created if r.startswith("render/")]) == 5
    # of the files there before: pages that list styles or the new cells, and the neighbours'
    # links; no image, download or other render page
    allowed = {"index.html", "styles.html", "pictures.html", "about.html", "feed.xml", "data/lightbox.js", "404.html",
               "style/s04.html", *(f"content/c{i:02d}.html" for i in range(5)),
               *(f"render/c{i:02d}--s04.html" for i in range(5)), *(f"render/c{i:02d}--s00.html" for i in range(1, 5))}
    assert set(changed_old) <= allowed | {r for r in changed_old if r.endswith(".zip")}, changed_old
    assert not any(r.startswith(("img/", "download/")) and not r.endswith(".zip") for r in changed_old)


def test_before_images_are_shared_by_the_cells_of_a_picture(tmp_path, cache):
    gallery, plan = grid_gallery(tmp_path, 4, 5, cache=cache)
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    befores = sorted(p.name for p in (out / "img" / "before").iterdir())
    assert len({name.rsplit("-", 1)[0] for name in befores}) == 4  # one set per picture and size
    for c in ("c00", "c03"):
        pages = [(out / "render" / f"{c}--s{s:02d}.html").read_text(encoding="utf-8") for s in range(5)]
        urls = {page.split('class="compare-before"')[1].split('src="')[1].split('"')[0] for page in pages}
        assert len(urls) == 1 and f"img/before/{c}-" in urls.pop()


def _zips(out: Path) -> dict[str, list[str]]:
    found = {}
    for z in sorted((out / "download").glob("*.zip")):
        with zipfile.ZipFile(z) as f:
            found[z.name] = [n for n in f.namelist() if not n.endswith("CREDITS.txt")]
    return found


def test_the_zip_is_one_while_it_fits_then_one_per_style_cut_into_parts(tmp_path, cache):
    gallery, plan = grid_gallery(tmp_path, 4, 3, cache=cache, px=160, downloads="png")
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    assert list(_zips(out)) == ["all-renders.zip"] and len(_zips(out)["all-renders.zip"]) == 12
    total = (out / "download" / "all-renders.zip").stat().st_size

    # smaller than the one zip: a zip per style, each under the limit, every render once
    limit = total * 0.6 / 1e6
    build_site(with_site(gallery, max_file_mb=limit), plan, quiet=True)
    zips = _zips(out)
    assert sorted(zips) == ["style-s00.zip", "style-s01.zip", "style-s02.zip"]
    assert sorted(m for ms in zips.values() for m in ms) == sorted(f"renders/c{c:02d}--s{s:02d}.png"
                                                                  for c in range(4) for s in range(3))
    assert "style-s01.zip" in (out / "style" / "s01.html").read_text(encoding="utf-8")
    assert "all-renders" not in (out / "index.html").read_text(encoding="utf-8")

    # smaller than a style's zip: numbered parts, each under it; per picture on request
    limit = total * 0.15 / 1e6
    report = build_site(with_site(gallery, max_file_mb=limit, zip="content"), plan, quiet=True)
    zips = _zips(out)
    assert all(n.startswith("picture-c0") and n[-6:-4] in ("-1", "-2", "-3", "-4") for n in zips), zips
    assert all((out / "download" / n).stat().st_size <= limit * 1e6 for n in zips)
    assert sum(len(m) for m in zips.values()) == 12
    assert any(n.endswith(".zip") for n in report.removed)

    build_site(with_site(gallery, zip="off"), plan, quiet=True)
    assert _zips(out) == {}
    build_site(with_site(gallery, downloads="none"), plan, quiet=True)
    assert not (out / "download").exists()
    assert "Download full size" not in (out / "render" / "c00--s00.html").read_text(encoding="utf-8")


def test_an_over_budget_site_fails_before_encoding_with_advice_that_works(tmp_path):
    """400 cells, nothing encoded yet: the prediction alone fails the build, fast, and the
    setting it names as enough fits the site under the budget."""
    gallery, plan = grid_gallery(tmp_path, 20, 20, px=96, downloads="png")
    variants = Path(gallery.cache) / "variants"
    budget = round(assemble.predict(gallery, plan.cells).total * 0.7 / 1e6, 2)
    t0 = time.monotonic()
    with pytest.raises(GalleryError) as e:
        build_site(with_site(gallery, budget_mb=budget), plan, quiet=True)
    assert time.monotonic() - t0 < 5
    assert not variants.exists() and not gallery.site.output.exists()  # nothing encoded, nothing written
    message = str(e.value)
    assert f"site.budget_mb ({budget:g} MB" in message and "nothing was written" in message
    assert "zip: off" in message and "downloads: none" in message and "downloads: webp" in message
    enough = [line.split()[:2] for line in message.splitlines() if line.endswith("; enough alone)")]
    assert enough, message
    for setting, value in enough:
        report = build_site(with_site(gallery, budget_mb=budget, **{setting.rstrip(":"): value}), plan, quiet=True)
        assert report.bytes <= budget * 1e6


def test_a_download_over_max_file_mb_names_the_settings_and_what_they_would_make_of_it(tmp_path, cache):
    gallery, plan = grid_gallery(tmp_path, 2, 2, px=400, cache=tmp_path / "c400", downloads="png", zip="off")
    built = files(gallery.site.output) if build_site(gallery, plan, quiet=True) else {}  # every size exact
    size = max(len(data) for rel, data in built.items() if rel.startswith("download/"))
    limit = size * 0.9 / 1e6
    assert max(len(data) for rel, data in built.items() if not rel.startswith("download/")) < limit * 1e6
    with pytest.raises(GalleryError) as e:
        build_site(with_site(gallery, max_file_mb=limit), plan, quiet=True)
    message = str(e.value)
    assert "download/" in message and "encoder quality" not in message
    # each other format that would shrink it, with the size it would give this file, smallest first
    said = re.findall(r"`site: downloads: (\w+)` would make it about ([\d.]+) KB", message)
    assert said and {fmt for fmt, _ in said} <= {"webp", "jpeg", "avif"}, message
    kb = [float(n) for _, n in said]
    assert kb == sorted(kb) and kb[-1] * 1000 < size, message
    assert re.search(r"`site: downloads: none` leaves the downloads out \(saves [\d.]+ [KM]B in all\)", message)
    # the smallest format the advice names fits the same limit
    report = build_site(with_site(gallery, max_file_mb=limit, downloads=said[0][0]), plan, quiet=True)
    assert max(p.stat().st_size for p in (gallery.site.output / "download").iterdir()) <= limit * 1e6
    assert report.files


@pytest.mark.parametrize("rel, names", [
    ("download/all-renders-2.zip", ["`site: zip: off` leaves the zips out (saves 40 MB in all)",
                                    "`site: downloads: webp` would make it about 30 MB"]),
    ("img/render/c00--s00-1a2b3c4d5e-4096.avif", ["`render: size:`", "4096 px", "about 15 MB"]),
    ("img/content/harbour-1a2b3c4d5e-9000.jpg", ["content 'harbour'", "9000 px", "about 15 MB"]),
    ("try-it/ort.wasm", ["`site: try_it: false` leaves the page out (saves 25 MB)"]),
    ("static/hero.mp4", ["`site: templates:`"]),
    ("style/s00.html", ["`site: templates:`"]),
])
def test_every_file_over_max_file_mb_is_told_the_setting_that_helps(rel, names):
    """Whatever kind of file is over the limit, the advice names what to change and what it
    would save; raising the limit is always named last."""
    from pipeline.site.sizes import SizePlan, check_limits

    plan = SizePlan({rel: 60 * MB_, "download/c00--s00.png": 20 * MB_}, downloads="png",
                    savings=[("zip: off", 40 * MB_, ""), ("downloads: webp", 50 * MB_, ""),
                             ("downloads: none", 60 * MB_, ""), ("try_it: false", 25 * MB_, "")],
                    format_ratios={"webp": 0.5, "png": 1.0})
    gallery = Gallery(path=Path("gallery.yaml"), site=SiteSettings(title="t", output=Path("site"), max_file_mb=50),
                      render={"size": 512}, contents=(), styles=(), cache=Path("renders"))
    with pytest.raises(GalleryError) as e:
        check_limits(plan, gallery)
    message = str(e.value)
    assert message.startswith(f"{rel} would be 60 MB") and "above site.max_file_mb (50 MB" in message
    for name in names:
        assert name in message, message
    assert message.endswith("raise site.max_file_mb")


def test_the_sites_size_is_predicted_before_anything_is_rendered_or_encoded(tmp_path):
    """`status`'s prediction: every file a build will write once the cells still to render are
    rendered, exact for what the cache holds, within a factor of two for the rest."""
    from site_fixtures import FakePlan

    gallery, plan = grid_gallery(tmp_path, 4, 4, px=96, downloads="png")
    pending = FakePlan([replace(c, state="render", image=tmp_path / "not-yet" / c.image.name)
                        if c.style.id == "s03" else c for c in plan.cells])
    guess = assemble.predict(gallery, pending.cells)
    assert not gallery.site.output.exists() and not (Path(gallery.cache) / "variants").exists()
    report = build_site(gallery, plan, quiet=True)  # every cell rendered: the site the prediction meant
    built = {p.relative_to(gallery.site.output).as_posix(): p.stat().st_size
             for p in gallery.site.output.rglob("*") if p.is_file()}
    assert set(guess.files) == set(built)
    assert 0.5 < guess.total / report.bytes < 2, (guess.total, report.bytes)
    again = assemble.predict(gallery, plan.cells)  # everything encoded, pages built once: exact
    assert again.predicted == set() and again.files == built
