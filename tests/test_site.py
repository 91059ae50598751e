"""The site stage on a small generated gallery: pages, links, escaping, determinism, cleanup."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.site.builder as site_mod
from pipeline.site import assemble
from htmlcheck import check_site, parse
from pipeline.util.errors import GalleryError
from pipeline.site.builder import build_site
from pipeline.site.output import MARKER
from pipeline.site import templating
from pipeline.site.templating import BUILTIN_TEMPLATES
from site_fixtures import CONTENTS, STYLES, make_gallery


def tree_hash(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One render + variants cache for the module: encoding AVIF is what makes a build slow."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache):
    """One build shared by the read-only tests: a pending cell and an excluded one."""
    root = tmp_path_factory.mktemp("site")
    gallery, plan = make_gallery(root, missing={("dancer", "nude")}, excluded={("pearl", "stairs")},
                                 cache=cache)
    report = build_site(gallery, plan, quiet=True)
    return gallery, plan, report, gallery.site.output


def read(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def test_layout(built):
    _, _, report, out = built
    for rel in ["index.html", "about.html", ".nojekyll", MARKER, "static/site.css", "static/site.js",
                "static/favicon.svg", "content/mona.html", "style/starry.html", "render/mona--starry.html"]:
        assert (out / rel).is_file(), rel
    assert sorted(p.name for p in (out / "render").iterdir()) == sorted(
        f"{c}--{s}.html" for c in ("mona", "pearl", "dancer") for s in ("starry", "nude", "stairs")
        if (c, s) not in {("dancer", "nude"), ("pearl", "stairs")})
    assert report.pages == 1 + 1 + 3 + 3 + 7 + 1 + 2  # + try-it.html, pictures.html and styles.html
    assert report.placeholders == 2


def test_every_page_parses_and_every_link_resolves(built):
    out = built[3]
    assert check_site(out) == []


def test_link_checker_catches_a_broken_link(tmp_path):
    """The checker itself can fail: a page pointing at a missing image is reported."""
    (tmp_path / "a.html").write_text('<!doctype html><html><head><title>t</title></head><body>'
                                     '<img src="img/nope.jpg" alt=""><a href="/abs.html">x</a></body></html>')
    problems = check_site(tmp_path)
    assert any("broken link to img/nope.jpg" in p for p in problems)
    assert any("root-absolute" in p for p in problems)
    assert parse("<!doctype html><title>t</title><div><span></div>").errors


def test_head_tags_on_every_page_and_no_absolute_urls_without_base_url(built):
    out = built[3]
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        tags = parse(text).tags
        metas = {(a.get("name") or a.get("property")): a.get("content") for t, a in tags if t == "meta"}
        assert metas.get("description"), page
        for k in ("og:title", "og:description", "og:type", "twitter:card", "twitter:title"):
            assert metas.get(k), (page, k)
        assert "og:image" not in metas and "og:url" not in metas
        assert "https://example.com" not in text


def test_social_cards_use_absolute_urls_when_base_url_is_set(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache, base_url="https://example.com/gallery/")
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    text = read(out, "render/mona--starry.html")
    m = re.search(r'<meta property="og:image" content="([^"]+)"', text)
    assert m and m.group(1).startswith("https://example.com/gallery/img/render/mona--starry-")
    assert (out / m.group(1).removeprefix("https://example.com/gallery/")).is_file()
    assert '<meta property="og:url" content="https://example.com/gallery/render/mona--starry.html">' in text
    assert 'content="summary_large_image"' in text
    # pages still link relatively
    assert check_site(out) == []


def test_images_are_responsive_and_described(built):
    out = built[3]
    index = read(out, "index.html")
    imgs = [a for t, a in parse(index).tags if t == "img"]
    assert imgs
    for a in imgs:
        assert a["width"].isdigit() and a["height"].isdigit(), a
        assert a["decoding"] == "async"
        assert "alt" in a and a["src"].endswith(".jpg")  # one JPEG: the fallback for browsers without AVIF
    # the first screen (style headers and the first rows) loads eagerly, the rest lazily
    assert any(a.get("loading") is None for a in imgs) and any(a.get("loading") == "lazy" for a in imgs)
    assert 'alt="Mona Lisa in the style of The Starry Night"' in index
    sources = [a for t, a in parse(index).tags if t == "source"]
    assert {a["type"] for a in sources} == {"image/avif"} and all(a["srcset"] and a["sizes"] for a in sources)
    # thumbnails only in the matrix (at most 320 px), and never upscaled (renders are 256 px)
    widths = [int(w) for w in re.findall(r" (\d+)w", index)]
    assert max(widths) <= 320 and 256 in widths


def test_a_missing_cell_is_a_placeholder_and_an_excluded_one_is_left_empty(built):
    out = built[3]
    index = read(out, "index.html")
    assert index.count("placeholder--pending") == 1
    assert "placeholder--excluded" not in index and "Excluded" not in index  # nothing for visitors
    assert "Not rendered yet" in index
    assert "render/dancer--nude.html" not in index
    assert not (out / "render/dancer--nude.html").exists()
    # the content page of that row shows the placeholder too
    assert "placeholder--pending" in read(out, "content/dancer.html")


def test_title_is_escaped(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache, title="Evil <script>alert(1)</script>",
                                 contents=[("mona", "<script>alert(1)</script>", (200, 200))])
    build_site(gallery, plan, quiet=True)
    for page in gallery.site.output.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>alert(1)" not in text, page
    index = read(gallery.site.output, "index.html")
    assert "<title>Evil &lt;script&gt;alert(1)&lt;/script&gt;</title>" in index


def test_render_page_has_slider_provenance_and_loss_curve(built):
    out = built[3]
    text = read(out, "render/mona--starry.html")
    assert 'type="range"' in text and "aria-label" in text
    assert "<svg" in text and "<polyline" in text
    for needle in ("caffe-vgg19", "Renderer version", "bf16", "9.0 s", "style_weight", "128×128"):
        assert needle in text, needle
    key = next(c.key for c in built[1].cells if c.content.id == "mona" and c.style.id == "starry")
    assert key in text
    assert 'rel="next"' in text and 'href="../index.html"' in text
    assert "https://example.org/starry" in text  # the style's link


def test_about_page_lists_the_parameters(built):
    text = read(built[3], "about.html")
    assert "Gram matrix" in text
    assert "<code>size</code></th><td>256</td>" in text
    assert "<code>style_weight</code> = 2" in text  # the Seated Nude override


def test_two_builds_are_byte_identical(tmp_path):
    """From cold variant caches in two folders: the encoders are deterministic, no timestamps."""
    hashes = []
    for name in ("a", "b"):
        gallery, plan = make_gallery(tmp_path / name, contents=CONTENTS[:2], styles=STYLES[:2],
                                     missing={("pearl", "nude")})
        build_site(gallery, plan, quiet=True)
        hashes.append(tree_hash(gallery.site.output))
    assert hashes[0] == hashes[1]


def test_rebuild_rewrites_only_what_changed(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache)
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = build_site(gallery, plan, quiet=True)
    assert again.written == [] and again.removed == [] and again.encoded == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes

    gallery2, plan2 = make_gallery(tmp_path, cache=cache, title="Another title")
    report = build_site(gallery2, plan2, quiet=True)
    assert report.written and all(p.endswith(".html") or p == "feed.xml" for p in report.written)
    assert report.encoded == 0


def test_removed_style_disappears(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache)
    build_site(gallery, plan, quiet=True)
    out = gallery.site.output
    assert list(out.glob("img/style/nude-*")) and (out / "style/nude.html").exists()

    gallery, plan = make_gallery(tmp_path, cache=cache, styles=[s for s in STYLES if s[0] != "nude"])
    report = build_site(gallery, plan, quiet=True)
    assert report.removed
    assert not (out / "style/nude.html").exists()
    assert not list(out.glob("render/*--nude.html"))
    assert not list(out.glob("img/style/nude-*")) and not list(out.glob("img/render/*--nude-*"))
    for page in out.rglob("*.html"):
        assert "nude.html" not in page.read_text(encoding="utf-8"), page
    assert check_site(out) == []
    assert tree_hash(out) == tree_hash(out)  # nothing half-written


def test_refuses_a_folder_it_did_not_write(tmp_path, cache):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    gallery, plan = make_gallery(tmp_path, cache=cache, output=out)
    with pytest.raises(GalleryError, match=MARKER):
        build_site(gallery, plan, quiet=True)
    assert (out / "thesis.tex").read_text() == "precious"


def test_refuses_to_build_over_the_manifest_folder(tmp_path, cache):
    gallery, plan = make_gallery(tmp_path, cache=cache, output=tmp_path)
    with pytest.raises(GalleryError, match="manifest"):
        build_site(gallery, plan, quiet=True)


def test_a_file_over_max_file_mb_fails_before_anything_is_written(tmp_path, cache):
    from dataclasses import replace
    gallery, plan = make_gallery(tmp_path, cache=cache)
    tiny = replace(gallery, site=replace(gallery.site, max_file_mb=0.005, try_it=False))
    with pytest.raises(GalleryError, match="max_file_mb") as e:
        build_site(tiny, plan, quiet=True)
    assert not gallery.site.output.exists()  # nothing written before the check
    assert "site: downloads:" in str(e.value) or "scale the file of style 'starry' down" in str(e.value)


@pytest.mark.parametrize("bad, message", [
    ("{% if %}", "template syntax error"),
    ("{{ no_such_variable }}", "no_such_variable"),
])
def test_template_error_names_file_and_line(tmp_path, cache, monkeypatch, bad, message):
    templates = tmp_path / "templates"
    shutil.copytree(BUILTIN_TEMPLATES, templates)
    lines = (templates / "about.html").read_text().splitlines()
    lines.insert(4, bad)
    (templates / "about.html").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(templating, "BUILTIN_TEMPLATES", templates)
    gallery, plan = make_gallery(tmp_path / "g", cache=cache)
    with pytest.raises(GalleryError) as e:
        build_site(gallery, plan, quiet=True)
    assert f"about.html:5" in str(e.value) and message in str(e.value)


def test_base_url_from_the_environment_when_the_manifest_has_none(tmp_path, cache, monkeypatch):
    """CI learns the Pages address from actions/configure-pages and passes it as GALLERY_BASE_URL."""
    monkeypatch.setenv("GALLERY_BASE_URL", "https://someone.github.io/repo")
    gallery, plan = make_gallery(tmp_path, cache=cache)
    build_site(gallery, plan, quiet=True)
    text = read(gallery.site.output, "index.html")
    assert '<meta property="og:image" content="https://someone.github.io/repo/img/render/' in text


def test_loss_chart_geometry():
    from pipeline.site.loss_chart import loss_chart
    from pipeline.core.params import RenderParams
    from site_fixtures import fake_record

    assert loss_chart(None) is None and loss_chart({"levels": []}) is None
    chart = loss_chart(fake_record("k", RenderParams(), 0))
    assert [name for name, _ in chart.lines] == ["total", "content", "style"]  # tv is all zero
    assert [label for _, label in chart.levels] == ["128x128", "181x181", "256x256"]
    for _, points in chart.lines:
        for pt in points.split():
            x, y = map(float, pt.split(","))
            assert chart.left <= x <= chart.width - chart.right and chart.top <= y <= chart.height - chart.bottom


def _manifest(tmp_path: Path) -> Path:
    from PIL import Image
    (tmp_path / "images").mkdir()
    for name, colour in (("a", (200, 30, 30)), ("b", (30, 200, 30)), ("s", (30, 30, 200))):
        Image.new("RGB", (120, 90), colour).save(tmp_path / "images" / f"{name}.png")
    path = tmp_path / "gallery.yaml"
    path.write_text("site:\n  title: CLI test\ncontents:\n"
                    "  - {id: a, title: Apple, file: images/a.png}\n"
                    "  - {id: b, title: Bee, file: images/b.png}\n"
                    "styles:\n  - {id: s, title: Sea, file: images/s.png}\n")
    return path


def test_build_command_with_the_real_manifest_and_plan(tmp_path, capsys):
    """`python -m pipeline build` on a manifest with nothing rendered: placeholders, valid links."""
    from pipeline.cli.app import main
    config = _manifest(tmp_path)
    assert main(["build", "--config", str(config), "--quiet"]) == 0
    assert "2 cells not rendered" in capsys.readouterr().out
    out = tmp_path / "site"
    assert read(out, "index.html").count("placeholder--pending") == 2
    assert check_site(out) == []


def test_serve_command_serves_the_site(tmp_path):
    import subprocess
    import sys
    import urllib.request
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<!doctype html><title>hi</title>")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--dir", str(out), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "index.html", timeout=10) as r:
            assert r.status == 200 and b"<title>hi</title>" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_render_without_its_record_says_so(tmp_path):
    gallery, plan = make_gallery(tmp_path, contents=CONTENTS[:1], styles=STYLES[:1])
    plan.cells[0].record.unlink()
    build_site(gallery, plan, quiet=True)
    text = read(gallery.site.output, "render/mona--starry.html")
    assert "No render record was found" in text and "No loss trace was recorded" in text
    assert "<code>preset</code></th><td>draft</td>" in text  # the manifest's parameters instead


def test_loss_chart_thins_out_a_long_trace():
    from pipeline.site.loss_chart import MAX_POINTS, loss_chart
    levels = [{"size": [s, s], "iterations": 300, "seconds": 1.0,
               "trace": [{"iteration": i, "content": 1e5 / (i + 1), "style": 1e6 / (i + 1), "tv": 0.0,
                          "total": 1.1e6 / (i + 1)} for i in range(300)]} for s in (128, 256, 512)]
    chart = loss_chart({"levels": levels})
    for _, points in chart.lines:
        assert len(points.split()) <= MAX_POINTS + 3
    assert chart.x_ticks[-1][1] == "800" and [x for x, _ in chart.levels][0] == chart.left


# ---------------------------------------------------------------- no-op rebuilds (pipeline.sitestate)

@pytest.fixture
def renders(monkeypatch):
    """Count the pages rendered with Jinja: a build with nothing to do must render none."""
    calls = []
    real = assemble.render_template

    def counting(env, name, ctx):
        calls.append(name)
        return real(env, name, ctx)

    monkeypatch.setattr(assemble, "render_template", counting)
    return calls


def _noop_ready(tmp_path, cache, **kw):
    """A built site, then a second build that found it up to date (written files hashed once)."""
    gallery, plan = make_gallery(tmp_path, cache=cache, **kw)
    first = build_site(gallery, plan, quiet=True)
    assert not first.up_to_date and first.written
    return gallery, plan


def test_noop_rebuild_renders_and_writes_nothing(tmp_path, cache, renders):
    gallery, plan = _noop_ready(tmp_path, cache, missing={("dancer", "nude")})
    out = gallery.site.output
    full = tree_hash(out)
    stats = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*")}
    renders.clear()
    for _ in range(2):  # the first check hashes the young files, the second trusts their stat
        report = build_site(gallery, plan, quiet=True)
        assert report.up_to_date and renders == []
        assert report.written == [] and report.removed == [] and report.encoded == 0
        assert report.unchanged == report.files == len(full)
        assert report.pages == 1 + 1 + 3 + 3 + 8 + 1 + 2 and report.placeholders == 1
        assert report.bytes == sum((out / rel).stat().st_size for rel in full)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*")} == stats
    assert "up to date" in report.summary()


def test_noop_rebuild_does_not_import_jinja(tmp_path, cache):
    """In a fresh process: an up-to-date build never imports Jinja2 (~50 ms)."""
    gallery, plan = _noop_ready(tmp_path, cache)
    code = ("import pickle, sys; from pipeline.site.builder import build_site\n"
            f"g, p = pickle.loads({pickle.dumps((gallery, plan))!r})\n"
            "r = build_site(g, p, quiet=True)\n"
            "print(r.up_to_date, 'jinja2' in sys.modules)\n")
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "tests")])}
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["True", "False"]


def _rebuilt(gallery, plan, renders) -> "site_mod.SiteReport":
    """A build that is not a no-op (`renders` then lists the pages it had to render)."""
    renders.clear()
    report = build_site(gallery, plan, quiet=True)
    assert not report.up_to_date, "expected a build"
    return report


def _same_as_fresh(tmp_path, cache, out: Path, **kw) -> None:
    """The output equals a build of the same inputs into a fresh folder."""
    gallery, plan = make_gallery(tmp_path / "fresh", cache=cache, **kw)
    build_site(gallery, plan, quiet=True)
    assert tree_hash(out) == tree_hash(gallery.site.output)


def test_editing_a_template_rebuilds(tmp_path, cache, monkeypatch, renders):
    templates = tmp_path / "templates"
    shutil.copytree(BUILTIN_TEMPLATES, templates)
    monkeypatch.setattr(templating, "BUILTIN_TEMPLATES", templates)
    gallery, plan = _noop_ready(tmp_path / "g", cache)
    page = templates / "about.html"
    page.write_text(page.read_text().replace("</h1>", "</h1>\n<p>Edited by hand.</p>", 1))
    report = _rebuilt(gallery, plan, renders)
    assert report.written == ["about.html"]
    assert "Edited by hand." in read(gallery.site.output, "about.html")

    css = templates / "static" / "site.css"
    css.write_text(css.read_text() + "\n/* edited */\n")
    report = _rebuilt(gallery, plan, renders)
    assert report.written == ["static/site.css"]
    assert build_site(gallery, plan, quiet=True).up_to_date


def test_changing_a_title_rebuilds(tmp_path, cache, renders):
    gallery, plan = _noop_ready(tmp_path, cache)
    gallery2, plan2 = make_gallery(tmp_path, cache=cache, title="Another title")
    report = _rebuilt(gallery2, plan2, renders)
    assert report.written and "Another title" in read(gallery2.site.output, "index.html")
    _same_as_fresh(tmp_path, cache, gallery2.site.output, title="Another title")

    renamed = [(c, t + " (detail)" if c == "pearl" else t, s) for c, t, s in CONTENTS]
    gallery3, plan3 = make_gallery(tmp_path, cache=cache, contents=renamed, title="Another title")
    report = _rebuilt(gallery3, plan3, renders)
    assert "content/pearl.html" in report.written
    assert "Girl with a Pearl Earring (detail)" in read(gallery3.site.output, "content/pearl.html")


def test_a_changed_cell_or_record_rebuilds(tmp_path, cache, renders):
    from dataclasses import replace
    gallery, plan = _noop_ready(tmp_path, cache)
    out = gallery.site.output
    # the plan now says a cell must render (its key changed): its render page goes away
    cells = [replace(c, state="render", key="f" * 64, reasons=("parameters changed",))
             if (c.content.id, c.style.id) == ("mona", "starry") else c for c in plan.cells]
    report = _rebuilt(gallery, type(plan)(cells), renders)
    assert "render/mona--starry.html" in report.removed
    assert build_site(gallery, type(plan)(cells), quiet=True).up_to_date

    # back as it was, then the record of a cell is rewritten (say, rendered again on a GPU)
    _rebuilt(gallery, plan, renders)
    cell = plan.cells[1]
    record = json.loads(cell.record.read_text())
    record["device"] = "cuda:0 (NVIDIA H100)"
    cell.record.write_text(json.dumps(record))
    try:
        report = _rebuilt(gallery, plan, renders)
        assert report.written == [f"render/{cell.content.id}--{cell.style.id}.html"]
        assert "on a GPU (NVIDIA H100)" in read(out, report.written[0])  # in a visitor's words
    finally:
        record["device"] = "cpu"  # the render cache is shared by this module's tests
        cell.record.write_text(json.dumps(record))


def test_a_deleted_output_file_is_restored(tmp_path, cache, renders):
    gallery, plan = _noop_ready(tmp_path, cache)
    out = gallery.site.output
    before = tree_hash(out)
    image = next(iter(sorted((out / "img" / "render").iterdir())))
    for victim, rendered in ((out / "render" / "mona--starry.html", ["render.html"]), (image, []),
                             (out / ".nojekyll", [])):
        victim.unlink()
        report = _rebuilt(gallery, plan, renders)
        assert report.written == [victim.relative_to(out).as_posix()]
        assert renders == rendered  # only what is missing is made again
        assert tree_hash(out) == before
    shutil.rmtree(out / "static")
    report = _rebuilt(gallery, plan, renders)
    assert sorted(report.written) == sorted(r for r in before if r.startswith("static/"))
    assert tree_hash(out) == before


def test_a_hand_edited_or_added_output_file_is_restored(tmp_path, cache, renders):
    gallery, plan = _noop_ready(tmp_path, cache)
    out = gallery.site.output
    before = tree_hash(out)
    page = out / "index.html"
    # Right after the build, same size, within the same timestamp tick (so the same mtime, as
    # on a coarse filesystem clock): only the content tells; a "racily clean" file is hashed.
    text, st = page.read_bytes(), page.stat()
    page.write_bytes(text.replace(b"Test Gallery", b"Best Gallery"))
    os.utime(page, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert page.stat().st_size == st.st_size
    report = _rebuilt(gallery, plan, renders)
    assert report.written == ["index.html"] and tree_hash(out) == before

    # Long after the build, with its old mtime kept: the size tells.
    old = page.stat().st_mtime_ns - 10**10
    assert build_site(gallery, plan, quiet=True).up_to_date
    page.write_bytes(text + b"<!-- extra -->")
    os.utime(page, ns=(old, old))
    _rebuilt(gallery, plan, renders)
    assert tree_hash(out) == before

    # Touched but not changed: no render, and the state learns the new mtime.
    page.touch()
    renders.clear()
    assert build_site(gallery, plan, quiet=True).up_to_date and renders == []

    # A stray file and an empty folder: a full build removes them.
    (out / "render" / "old--page.html").write_text("stale")
    report = _rebuilt(gallery, plan, renders)
    assert report.removed == ["render/old--page.html"]
    (out / "leftover").mkdir()
    _rebuilt(gallery, plan, renders)
    assert not (out / "leftover").exists() and tree_hash(out) == before


def test_the_state_lives_in_the_cache_and_losing_it_costs_one_full_build(tmp_path, cache, renders):
    from pipeline.site import state as sitestate
    gallery, plan = _noop_ready(tmp_path, cache)
    state = sitestate.state_path(gallery.cache, gallery.site.output)
    assert state.is_file() and state.parent.parent == cache
    assert not any("state" in p.name or p.suffix == ".json" for p in gallery.site.output.rglob("*"))
    state.write_text("{not json")
    _rebuilt(gallery, plan, renders)
    state.unlink()
    _rebuilt(gallery, plan, renders)
    assert build_site(gallery, plan, quiet=True).up_to_date


def test_base_url_from_the_environment_is_an_input(tmp_path, cache, monkeypatch, renders):
    gallery, plan = _noop_ready(tmp_path, cache)
    monkeypatch.setenv("GALLERY_BASE_URL", "https://someone.github.io/repo")
    _rebuilt(gallery, plan, renders)
    assert "https://someone.github.io/repo/" in read(gallery.site.output, "index.html")


def test_noop_rebuilds_stay_byte_identical_to_a_fresh_build(tmp_path, cache):
    gallery, plan = _noop_ready(tmp_path / "a", cache, missing={("pearl", "nude")})
    for _ in range(2):
        assert build_site(gallery, plan, quiet=True).up_to_date
    _same_as_fresh(tmp_path / "a", cache, gallery.site.output, missing={("pearl", "nude")})
