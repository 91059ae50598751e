"""The manifest: every bad input is refused with file, line, entry and key; nothing is written."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, gradient, png_bytes, snapshot, write_image
from https_server import closed_port, https  # noqa: F401 - fixture
from pipeline.util.errors import ManifestError
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.schema import schema_json

# Line numbers below refer to this text: contents[0] 'pearl' starts on line 6, styles[0] 'gogh' on 10.
BASE = """\
site:
  title: Test gallery
render:
  size: 64
contents:
  - id: pearl
    title: Pearl
    file: images/pearl.png
styles:
  - id: gogh
    title: Gogh
    file: images/gogh.png
"""


@pytest.fixture
def manifest(tmp_path):
    """Write BASE (or a variant of it) with its two images; return the manifest's path."""
    def write(text: str = BASE) -> Path:
        write_image(tmp_path / "images" / "pearl.png", seed=1)
        write_image(tmp_path / "images" / "gogh.png", seed=2)
        path = tmp_path / "gallery.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


@pytest.fixture
def refused(cli, tmp_path):
    """Run `validate` on a manifest; assert it fails with one line holding all `parts`, writing nothing."""
    def check(path: Path, *parts: str, code: int = 2, args: tuple = ()) -> str:
        before = snapshot(tmp_path)
        rc, out, err = cli("validate", "--config", path, *args)
        assert rc == code, (out, err)
        assert "Traceback" not in err
        assert snapshot(tmp_path) == before, "validation wrote something"
        assert any(all(p in line for p in parts) for line in err.splitlines()), \
            f"no line with all of {parts} in:\n{err}"
        return err
    return check


def at(path: Path, line: int) -> str:
    return f"{path}:{line}:"


# ---- the good case --------------------------------------------------------------------------

def test_valid_manifest(cli, manifest):
    path = manifest()
    rc, out, err = cli("validate", "--config", path)
    assert (rc, err) == (0, "")
    assert "1 contents x 1 styles = 1 cell (0 excluded)" in out


def test_model_values_and_defaults(manifest, tmp_path):
    g = load_gallery(manifest(BASE.replace("    title: Pearl\n", "")))
    pearl, gogh = g.contents[0], g.styles[0]
    assert (pearl.id, pearl.role, pearl.title, pearl.line) == ("pearl", "content", "pearl", 6)
    assert pearl.file == tmp_path / "images" / "pearl.png"
    assert gogh.title == "Gogh" and gogh.role == "style"
    assert g.path == tmp_path / "gallery.yaml"
    assert g.site.output == tmp_path / "site" and g.cache == tmp_path / "renders"
    assert g.site.title == "Test gallery" and g.render == {"size": 64}


def test_paths_are_relative_to_the_manifest(manifest, tmp_path):
    path = manifest(BASE.replace("  title: Test gallery\n", "  title: T\n  output: out/www\n"
                                 "  base_url: https://example.org/gallery\n") + "cache: ../shared-cache\n")
    g = load_gallery(path)
    assert g.site.output == tmp_path / "out" / "www"
    assert g.cache == tmp_path.parent / "shared-cache"
    assert g.site.base_url == "https://example.org/gallery/"


def test_text_values_are_taken_as_written(manifest):
    g = load_gallery(manifest(BASE.replace("title: Pearl", "title: 1889").replace("id: gogh", "id: '2001'")))
    assert g.contents[0].title == "1889" and g.styles[0].id == "2001"


def test_render_overrides_merge_in_order(manifest):
    text = BASE + "    render: {seed: 3, style_weight: 5}\n"
    text = text.replace("    file: images/pearl.png\n",
                        "    file: images/pearl.png\n    render: {seed: 2, size: 32, tv_weight: 0.5}\n")
    g = load_gallery(manifest(text))
    p = g.cell_params(g.contents[0], g.styles[0])
    # built-in defaults < gallery render < content render < style render
    assert (p.size, p.seed, p.tv_weight, p.style_weight, p.preset) == (32, 3, 0.5, 5.0, "standard")


def test_yaml_merge_keys_share_render_blocks(manifest):
    text = BASE.replace("render:\n  size: 64\n", "render: &base\n  size: 64\n") + \
        "    render:\n      <<: *base\n      seed: 7\n"
    g = load_gallery(manifest(text))
    assert g.styles[0].render == {"size": 64, "seed": 7}


def test_exclude(manifest):
    text = BASE + "  - {id: picasso, file: images/pearl.png}\nexclude:\n  - {content: pearl, style: gogh}\n"
    g = load_gallery(manifest(text))
    assert [(c.id, s.id) for c, s in g.cells()] == [("pearl", "picasso")]


@pytest.mark.parametrize("mode", ["cmyk", "exif", "palette", "grey16", "rgba"])
def test_every_image_mode_is_accepted(cli, manifest, tmp_path, mode):
    path = manifest()
    target = tmp_path / "images" / "pearl.png"
    if mode == "cmyk":
        target = target.with_suffix(".jpg")
        Image.new("CMYK", (20, 10), (0, 50, 100, 0)).save(target)
    elif mode == "exif":
        target = target.with_suffix(".jpg")
        exif = Image.Exif()
        exif[0x0112] = 8
        gradient().save(target, exif=exif)
    elif mode == "palette":
        gradient().convert("P").save(target)
    elif mode == "grey16":
        target.write_bytes(png_bytes(2, 2, 16, 0, b"\x80\x00" * 4))
    else:
        Image.new("RGBA", (8, 8), (1, 2, 3, 100)).save(target)
    path.write_text(BASE.replace("images/pearl.png", f"images/{target.name}"))
    rc, out, err = cli("validate", "--config", path)
    assert rc == 0, err


# ---- structure and YAML -----------------------------------------------------------------------

def test_yaml_syntax_error(manifest, refused):
    path = manifest(BASE.replace("    title: Gogh\n", "    title: [Gogh\n"))
    refused(path, at(path, 12), "YAML syntax error")


def test_control_character_is_a_clear_error(manifest, refused):
    path = manifest(BASE.replace("    title: Gogh\n", "    title: Go\x01gh\n"))
    err = refused(path, at(path, 11), "unacceptable character #x0001")
    assert "<unicode string>" not in err


def test_top_level_not_a_mapping(manifest, refused):
    path = manifest("- pearl\n- gogh\n")
    refused(path, at(path, 1), "top level must be a mapping")


def test_empty_manifest(manifest, refused):
    path = manifest("# nothing yet\n")
    refused(path, at(path, 1), "empty", "contents")


def test_not_utf8(manifest, refused):
    path = manifest()
    path.write_bytes(BASE.encode() + b"# caf\xe9\n")
    refused(path, at(path, 13), "UTF-8")


def test_missing_manifest(cli, tmp_path):
    rc, out, err = cli("validate", "--config", tmp_path / "nope.yaml")
    assert rc == 1 and "nope.yaml" in err and "--config" in err and "Traceback" not in err


@pytest.mark.parametrize("old,new,line,where,key,hint", [
    ("    title: Gogh", "    titel: Gogh", 11, "styles[0] (id 'gogh')", "'titel'", "did you mean 'title'"),
    ("  title: Test gallery", "  tilte: Test gallery", 2, "site", "'tilte'", "did you mean 'title'"),
    ("styles:", "stlyes:", 9, "", "'stlyes'", "did you mean 'styles'"),
    ("  size: 64", "  szie: 64", 4, "render", "'szie'", "did you mean 'size'"),
    ("    title: Pearl", "    size: 64", 7, "contents[0] (id 'pearl')", "'size'", "'render:' block"),
])
def test_unknown_keys_with_suggestions(manifest, refused, old, new, line, where, key, hint):
    path = manifest(BASE.replace(old, new))
    refused(path, at(path, line), where, f"unknown key {key}", hint)


def test_duplicate_key(manifest, refused):
    path = manifest(BASE.replace("    title: Gogh\n", "    title: Gogh\n    title: Starry\n"))
    refused(path, at(path, 12), "styles[0] (id 'gogh')", "duplicate key 'title'", "line 11")


def test_python_tags_are_refused_and_never_run(manifest, refused, tmp_path):
    marker = tmp_path / "pwned"
    path = manifest(BASE.replace("  size: 64", f"  size: !!python/object/apply:os.system ['touch {marker}']"))
    refused(path, at(path, 4), "!!python/object/apply:os.system", "not allowed")
    assert not marker.exists()


# ---- ids --------------------------------------------------------------------------------------

def test_missing_id(manifest, refused):
    path = manifest(BASE.replace("  - id: gogh\n    title", "  - title"))
    refused(path, at(path, 10), "styles[0]", "'id' is missing")


def test_duplicate_id_across_contents_and_styles(manifest, refused):
    path = manifest(BASE.replace("id: gogh", "id: pearl"))
    refused(path, at(path, 10), "styles[0] (id 'pearl')", "duplicate id 'pearl'", "contents, line 6")


@pytest.mark.parametrize("bad", ["../x", "Pearl", "a b", "x/y", "a" * 65, "''", r'"x\n"'])
def test_ids_that_could_reach_the_file_system_are_refused(manifest, refused, tmp_path, bad):
    path = manifest(BASE.replace("id: gogh", f"id: {bad}"))
    refused(path, at(path, 10), "styles[0]", "'id'")
    assert not (tmp_path.parent / "x").exists()


# ---- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("old,new,line,where,key", [
    ("  size: 64", "  size: 8", 4, "render", "'size' must be at least 16"),
    ("  size: 64", "  size: big", 4, "render", "'size' must be a whole number"),
    ("  size: 64", "  size: 64\n  preset: fast", 5, "render", "'preset' must be one of quick, draft"),
    ("  size: 64", "  size: 64\n  preserve_colors: 3", 5, "render", "'preserve_colors' must be true"),
    ("  size: 64", "  iterations: [0, 0]", 4, "render", "'iterations'"),
    ("    title: Gogh", "    render: {style_weight: -1}", 11, "styles[0] (id 'gogh'): render",
     "'style_weight' must be at least 0"),
    ("    title: Pearl", "    render: {seed: -5}", 7, "contents[0] (id 'pearl'): render",
     "'seed' must be at least 0"),
    ("    title: Pearl", "    render: 512", 7, "contents[0] (id 'pearl')", "render: must be a mapping"),
    ("  title: Test gallery", "  title: T\n  budget_mb: -1", 3, "site", "'budget_mb' must be a number above 0"),
    ("  title: Test gallery", "  title: T\n  base_url: example.org", 3, "site", "'base_url'"),
    ("    title: Pearl", "    title: [a, b]", 7, "contents[0] (id 'pearl')", "'title' must be text"),
    ("    title: Pearl", "    title:", 7, "contents[0] (id 'pearl')", "'title' is empty"),
    ("    title: Pearl", "    link: javascript:alert(1)", 7, "contents[0] (id 'pearl')",
     "'link' 'javascript:alert(1)' must be an http:// or https:// address"),
    ("    title: Gogh", "    url: http://example.org/gogh.png\n    sha256: " + "0" * 64, 11,
     "styles[0] (id 'gogh')", "'url' 'http://example.org/gogh.png' must be an https://"),
    ("    title: Gogh", "    url: https://example.org/gogh.png", 11, "styles[0] (id 'gogh')",
     "'sha256' is missing"),
    ("    title: Gogh", "    sha256: abc123", 11, "styles[0] (id 'gogh')", "'sha256' must be 64 hexadecimal"),
])
def test_wrong_types_and_ranges(manifest, refused, old, new, line, where, key):
    path = manifest(BASE.replace(old, new))
    refused(path, at(path, line), where, key)


@pytest.mark.parametrize("empty", ["contents: []", "contents:", "contents:   # none yet"])
def test_empty_contents_are_a_gallery_with_nothing_yet(manifest, empty):
    path = manifest(BASE.replace("contents:\n  - id: pearl\n    title: Pearl\n    file: images/pearl.png\n",
                                 empty + "\n"))
    g = load_gallery(path)
    assert g.contents == () and [s.id for s in g.styles] and g.cells() == []


def test_contents_that_are_no_list(manifest, refused):
    path = manifest(BASE.replace("contents:\n  - id: pearl\n    title: Pearl\n    file: images/pearl.png\n",
                                 "contents: pearl.png\n"))
    refused(path, at(path, 5), "'contents' must be a list of images (- id: ..., file: ...), not 'pearl.png'")


def test_missing_styles(manifest, refused):
    path = manifest(BASE.split("styles:")[0])
    refused(path, at(path, 1), "'styles' is missing")


def test_exclude_naming_unknown_ids(manifest, refused):
    path = manifest(BASE + "exclude:\n  - {content: perl, style: gogh}\n  - {content: gogh, style: pearl}\n")
    err = refused(path, at(path, 14), "exclude[0]", "'content'", "no content has id 'perl'",
                  "did you mean 'pearl'")
    assert f"{at(path, 15)} exclude[1]: 'content': 'gogh' is a style, not a content" in err


def test_excluding_every_cell(manifest, refused):
    path = manifest(BASE + "exclude:\n  - {content: pearl, style: gogh}\n")
    refused(path, at(path, 14), "every cell is excluded")


def test_output_must_not_hold_the_manifest(manifest, refused):
    path = manifest(BASE.replace("  title: Test gallery", "  title: T\n  output: ."))
    refused(path, "site", "'output'", "would contain the manifest")


def test_every_problem_reported_at_once(manifest, refused):
    path = manifest(BASE.replace("  size: 64", "  size: 1").replace("    title: Gogh", "    titel: Gogh")
                    .replace("id: pearl", "id: Pearl"))
    err = refused(path, at(path, 4), "'size'")
    assert at(path, 6) in err and at(path, 11) in err and "3 problems found" in err
    lines = [int(re.search(r"gallery.yaml:(\d+):", line)[1]) for line in err.splitlines()[:3]]
    assert lines == sorted(lines)


# ---- files ------------------------------------------------------------------------------------

def test_missing_file_is_a_problem_with_its_line(manifest, tmp_path):
    path = manifest()
    (tmp_path / "images" / "gogh.png").unlink()
    with pytest.raises(ManifestError) as e:
        load_gallery(path)
    assert f"{at(path, 12)} styles[0] (id 'gogh'): 'file' 'images/gogh.png' not found" in str(e.value)


def test_missing_file_without_url_via_cli(manifest, refused, tmp_path, monkeypatch):
    monkeypatch.delenv("GALLERY_MIRROR", raising=False)
    path = manifest()
    (tmp_path / "images" / "gogh.png").unlink()
    refused(path, at(path, 12), "styles[0] (id 'gogh')", "images/gogh.png", "no url", "GALLERY_MIRROR")


def test_no_fetch_skips_file_checks(cli, manifest, tmp_path):
    path = manifest()
    (tmp_path / "images" / "gogh.png").unlink()
    assert cli("validate", "--no-fetch", "--config", path)[0] == 0


def corrupt(kind: str, target: Path) -> None:
    data = io.BytesIO()
    gradient((64, 64)).save(data, "PNG")
    if kind == "not an image":
        target.write_text("this is text, not pixels")
    elif kind == "truncated":
        target.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    elif kind == "pixel limit":
        target.write_bytes(png_bytes(20000, 20000))


@pytest.mark.parametrize("kind", ["not an image", "truncated", "pixel limit"])
def test_bad_image_files(manifest, refused, tmp_path, kind):
    path = manifest()
    corrupt(kind, tmp_path / "images" / "gogh.png")
    refused(path, at(path, 12), "styles[0] (id 'gogh')", "'file' 'images/gogh.png'", kind)


def test_folder_is_not_an_image(manifest, refused, tmp_path):
    path = manifest(BASE.replace("file: images/gogh.png", "file: images"))
    refused(path, at(path, 12), "styles[0] (id 'gogh')", "'file' 'images' is not a regular file")


def test_sha256_mismatch_without_url_never_says_delete(manifest, refused):
    # without a url the file on disk may be the only copy: deleting it would lose the image
    path = manifest(BASE.replace("    title: Gogh", "    sha256: " + "ab" * 32))
    err = refused(path, at(path, 12), "styles[0] (id 'gogh')", "has sha256", "ab" * 32,
                  "set 'sha256: ", "restore the original", "Do not delete it")
    assert "delete the file" not in err and "download" not in err


def test_sha256_mismatch_with_url_says_how_to_fetch_again(manifest, refused):
    path = manifest(BASE.replace("    title: Gogh", "    url: https://example.org/gogh.png\n"
                                                  "    sha256: " + "ab" * 32))
    err = refused(path, at(path, 13), "styles[0] (id 'gogh')", "has sha256", "move the file away",
                  "download the pinned one from 'url'", "set 'sha256: ")
    assert "Do not delete" not in err


def test_sha256_match(cli, manifest, tmp_path):
    from pipeline.util.hashing import file_sha256

    digest = file_sha256(write_image(tmp_path / "images" / "gogh.png", seed=2))
    path = manifest(BASE.replace("    title: Gogh", "    sha256: " + digest.upper()))
    assert cli("validate", "--config", path)[0] == 0
    assert load_gallery(path).styles[0].sha256 == digest


def test_cli_subprocess_has_no_traceback(manifest, tmp_path):
    path = manifest(BASE.replace("    title: Gogh", "    titel: Gogh"))
    r = subprocess.run([sys.executable, "-m", "pipeline", "validate", "--config", str(path)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "gallery.yaml:11: styles[0] (id 'gogh'): unknown key 'titel'" in r.stderr


# ---- the demo manifest and the schema ---------------------------------------------------------

def test_demo_manifest_with_the_seed_mirror(demo_manifest, seed_mirror):
    """What `GALLERY_MIRROR=../shared/seed-gallery make validate` does, on a copy of the manifest."""
    env = {**os.environ, "GALLERY_MIRROR": str(seed_mirror)}
    r = subprocess.run([sys.executable, "-m", "pipeline", "validate", "-q", "--config", str(demo_manifest)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 contents x 3 styles = 9 cells (0 excluded)" in r.stdout
    g = load_gallery(demo_manifest)
    assert [e.id for e in g.contents] == ["dancing", "pearl", "vinci"]
    assert [e.id for e in g.styles] == ["gogh", "picasso", "staircase"]
    assert all(e.file.is_file() and e.file.is_relative_to(demo_manifest.parent / "images")
               for e in g.contents + g.styles)
    assert g.site.output == demo_manifest.parent.parent / "site"
    assert g.cache == demo_manifest.parent.parent / "renders"
    assert g.render == {"size": 512}


def test_demo_manifest_pins_what_sources_md_lists(seed_mirror):
    sources = (seed_mirror / "SOURCES.md").read_text()
    g = load_gallery(REPO / "config" / "gallery.yaml", check_files=False)
    for e in g.contents + g.styles:
        assert e.sha256 in sources and e.title and e.credit and e.link
        assert e.url.startswith("https://raw.githubusercontent.com/dkharazi/style-transfer/"
                                "b279dc25f0cad1dab7017079dcfd872bbe2c6c50/data/")
        assert f"| data/{e.url.rsplit('/data/', 1)[1]} | {e.sha256} |" in sources


def test_committed_schema_is_current():
    committed = (REPO / "config" / "gallery.schema.json").read_text()
    assert committed == schema_json(), "config/gallery.schema.json is stale: run `make schema`"


def test_demo_manifest_references_the_schema():
    first = (REPO / "config" / "gallery.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=gallery.schema.json"


def test_schema_follows_params():
    s = json.loads(schema_json())
    render = s["$defs"]["render"]["properties"]
    assert render["size"]["minimum"] == 16 and render["preset"]["enum"] == ["quick", "draft", "standard", "high"]
    assert s["$defs"]["entry"]["required"] == ["id", "file"]
    assert set(s["properties"]) == {"site", "render", "cache", "image_roots", "contents", "styles", "exclude"}


def test_a_checked_image_is_decoded_again_only_when_it_changes(manifest, tmp_path, monkeypatch):
    """Checking files decodes each image once per (size, mtime), remembered in the cache's memo."""
    import pipeline.core.images as images

    path = manifest()
    (tmp_path / "renders" / ".mutexes").mkdir(parents=True)  # the memo lives in a cache the pipeline made
    decoded = []
    real = images.load_rgb
    monkeypatch.setattr(images, "load_rgb", lambda file, *a: decoded.append(Path(file).name) or real(file, *a))
    load_gallery(path)
    assert sorted(decoded) == ["gogh.png", "pearl.png"]
    load_gallery(path)
    assert len(decoded) == 2
    assert load_gallery(path, check_files=False) and len(decoded) == 2
    corrupt("truncated", tmp_path / "images" / "gogh.png")
    with pytest.raises(ManifestError, match="truncated"):
        load_gallery(path)
    assert decoded[2:] == ["gogh.png"]
    with pytest.raises(ManifestError, match="truncated"):  # a failure is never remembered
        load_gallery(path)


def test_validate_reports_every_problem_of_every_entry_in_one_run(manifest, refused, tmp_path, monkeypatch):
    """Two new entries, four problems of three kinds (a typo, an image that cannot be fetched, a
    wrong sha256, a bad parameter): one run names them all, not one a run."""
    monkeypatch.delenv("GALLERY_MIRROR", raising=False)
    url = f"https://127.0.0.1:{closed_port()}/kanagawa.jpg"  # offline: the connection is refused
    write_image(tmp_path / "images" / "wave.png", seed=3)
    path = manifest(BASE + """\
  - id: kanagawa
    titel: The Great Wave
    file: images/kanagawa.jpg
    url: """ + url + """
    sha256: """ + "cd" * 32 + """
  - id: wave
    file: images/wave.png
    sha256: """ + "ab" * 32 + """
    render:
      style_weight: lots
""")
    err = refused(path)
    lines = err.splitlines()
    assert any(at(path, 14) in l and "unknown key 'titel'" in l for l in lines), err
    assert any(at(path, 15) in l and f"cannot download {url}" in l for l in lines), err
    assert any(at(path, 19) in l and "has sha256" in l for l in lines), err
    assert any(at(path, 22) in l and "'style_weight' must be a number" in l for l in lines), err
    assert "4 problems found" in err


def test_validate_never_downloads_without_a_valid_sha256(manifest, refused, https):
    https.answers["/kanagawa.jpg"] = b"anything"
    path = manifest(BASE + """\
  - id: kanagawa
    file: images/kanagawa.jpg
    url: """ + https.url("/kanagawa.jpg") + """
    sha256: not-a-hash
""")
    err = refused(path, at(path, 16), "'sha256' must be 64 hexadecimal digits")
    assert https.calls == [] and "1 problem found" in err
