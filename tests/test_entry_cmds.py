"""`init`, `remove` and `repin`: a gallery of your own from nothing, and its entries changed in one
command each, keeping the manifest's comments and layout and writing nothing when refused."""
from __future__ import annotations

import hashlib

import pytest

from conftest import lines_only, snapshot, write_image
from pipeline.manifest.reader import load_gallery


# ---- init

def test_init_writes_a_commented_empty_gallery_that_add_fills(cli, tmp_path):
    manifest = tmp_path / "config" / "gallery.yaml"
    rc, out, err = cli("init", "--config", manifest, "--title", "Grandma's: paintings")
    assert rc == 0, err
    text = manifest.read_text(encoding="utf-8")
    assert "contents: []" in text and "styles: []" in text and "# " in text
    g = load_gallery(manifest)
    assert (g.contents, g.styles, g.site.title) == ((), (), "Grandma's: paintings")
    assert g.site.output == tmp_path / "site" and g.cache == tmp_path / "renders"  # the project's layout
    assert "created" in out and "next: `make add CONTENT=photo.jpg CONFIG=" in out

    photo = write_image(tmp_path / "in" / "beach.png", seed=1)
    rc, out, err = cli("add", "content", photo, "--config", manifest)
    assert rc == 0, err
    assert "next: add a painting" in out and "make add STYLE=" in out
    after = manifest.read_text(encoding="utf-8")
    # the entry replaces `[]` as a block list under its key; every other line is as it was
    assert after.replace("contents:\n  - id: beach\n    title: Beach\n    file: my-images/content/beach.png\n"
                         f"    sha256: {hashlib.sha256(photo.read_bytes()).hexdigest()}\n", "contents: []\n") == text
    painting = write_image(tmp_path / "in" / "wave.png", seed=2)
    assert cli("add", "style", painting, "--config", manifest)[0] == 0
    g = load_gallery(manifest)
    assert [c.id for c in g.contents] == ["beach"] and [s.id for s in g.styles] == ["wave"]


def test_init_refuses_an_existing_manifest_and_force_keeps_it(cli, demo, tmp_path):
    lock = demo.with_suffix(".lock.json")
    lock.write_text("{}\n")
    before = snapshot(tmp_path)
    rc, out, err = cli("init", "--config", demo)
    assert rc == 1 and "exists already (3 contents, 3 styles)" in err and "--force" in err
    assert snapshot(tmp_path) == before
    old = demo.read_bytes()
    rc, out, err = cli("init", "--config", demo, "--force")
    assert rc == 0, err
    assert (demo.parent / "gallery.yaml.bak").read_bytes() == old
    assert (demo.parent / "gallery.lock.json.bak").read_text() == "{}\n" and not lock.exists()
    assert "kept as" in out and "gallery.yaml.bak" in out
    assert load_gallery(demo).contents == ()
    assert cli("init", "--config", demo, "--force")[0] == 0  # a second backup does not overwrite the first
    assert (demo.parent / "gallery.yaml.bak").read_bytes() == old
    assert (demo.parent / "gallery.yaml.bak.2").is_file()


def test_init_in_a_folder_of_its_own_keeps_its_output_inside_and_out_of_git(cli, tmp_path):
    manifest = tmp_path / "holiday" / "gallery.yaml"
    assert cli("init", "--config", manifest)[0] == 0
    g = load_gallery(manifest)
    assert g.site.output == tmp_path / "holiday" / "site" and g.cache == tmp_path / "holiday" / "renders"
    ignore = (tmp_path / "holiday" / ".gitignore").read_text().split()
    assert {"/site/", "/renders/", "/images/"} <= set(ignore)


def test_init_refuses_a_bad_title_writing_nothing(cli, tmp_path):
    rc, out, err = cli("init", "--config", tmp_path / "config" / "gallery.yaml", "--title", "a\x07b")
    assert rc == 1 and "--title" in err
    assert not (tmp_path / "config").exists()


# ---- an empty gallery

def test_an_empty_gallery_validates_plans_and_builds(cli, tmp_path):
    manifest = tmp_path / "config" / "gallery.yaml"
    assert cli("init", "--config", manifest)[0] == 0
    rc, out, err = cli("validate", "--config", manifest)
    assert rc == 0 and "0 contents x 0 styles = 0 cells" in out, err
    rc, out, err = cli("status", "--config", manifest)
    assert rc == 0 and "nothing to render" in out, err
    rc, out, err = cli("site", "--config", manifest)
    assert rc == 0, err
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "Nothing here yet" in index
    assert 'class="matrix"' not in index and "Download all" not in index
    assert not (tmp_path / "site" / "try-it.html").exists()  # no style to try


# ---- remove

def test_remove_takes_the_entry_and_its_excludes_out_and_nothing_else(cli, demo, tmp_path):
    text = demo.read_text(encoding="utf-8").replace(
        "# exclude:                        # cells not to render, e.g.\n#   - {content: pearl, style: staircase}",
        "exclude:                          # cells not to render\n  - {content: pearl, style: staircase}\n"
        "  - {content: vinci, style: picasso}")
    demo.write_text(text, encoding="utf-8")
    rc, out, err = cli("remove", "style", "picasso", "--config", demo)
    assert rc == 0, err
    gone = lines_only("delete", text, demo.read_text(encoding="utf-8"))
    assert gone[:3] == ["  - id: picasso", "    title: Seated Nude", "    credit: Pablo Picasso, 1909-1910"]
    assert gone[-1] == "  - {content: vinci, style: picasso}"
    assert "                                  # and they reach the faces too (measured at 512 px)" in gone
    g = load_gallery(demo)
    assert [s.id for s in g.styles] == ["gogh", "staircase"] and g.exclude == {("pearl", "staircase")}
    assert "removed style 'picasso' (Seated Nude)" in out
    assert "with it: exclude {content: vinci, style: picasso}" in out
    assert "2 cells left the gallery: dancing:picasso, pearl:picasso" in out  # vinci:picasso was excluded
    assert "stays on disk" in out and "prune" not in out  # nothing of them was cached


def test_removing_the_last_entry_leaves_an_empty_list_that_validates(cli, demo):
    for style in ("gogh", "picasso", "staircase"):
        assert cli("remove", "style", style, "--config", demo)[0] == 0
    text = demo.read_text(encoding="utf-8")
    assert "\nstyles: []\n" in text and "# exclude:" in text  # the commented example after the list stays
    assert load_gallery(demo).styles == ()


def test_remove_refuses_an_unknown_id_naming_those_there_are(cli, demo, tmp_path):
    before = snapshot(tmp_path)
    rc, out, err = cli("remove", "content", "perl", "--config", demo)
    assert rc == 1
    assert "no content has id 'perl' (did you mean 'pearl'?)" in err
    assert "are: dancing, pearl, vinci" in err and "nothing was written" in err
    rc, out, err = cli("remove", "content", "gogh", "--config", demo)
    assert rc == 1 and "'gogh' is a style, not a content: `remove style gogh`" in err
    assert snapshot(tmp_path) == before


def test_remove_keeps_crlf_line_endings(cli, demo):
    demo.write_bytes(demo.read_bytes().replace(b"\n", b"\r\n"))
    assert cli("remove", "content", "vinci", "--config", demo)[0] == 0
    data = demo.read_bytes()
    assert b"vinci" not in data and data.count(b"\r\n") == data.count(b"\n")


def test_remove_names_the_cached_renders_that_prune_then_lists(cli, demo, fake_renderer):
    assert cli("gallery", "--config", demo, "--quiet")[0] == 0
    rc, out, err = cli("remove", "content", "dancing", "--config", demo)
    assert rc == 0, err
    assert "3 renders" in out and "stay in the cache until you prune them" in out
    rc, out, err = cli("prune", "--config", demo)
    assert rc == 0 and out.count("was dancing:") == 3, out


# ---- repin

def _replace(g_path, entry_id, seed):
    g = load_gallery(g_path, check_files=False)
    entry = next(e for e in g.contents + g.styles if e.id == entry_id)
    write_image(entry.file, (48, 36), seed=seed)
    return entry.file


def test_repin_pins_a_replaced_own_image_in_one_line(cli, demo, fake_renderer):
    rc, out, err = cli("repin", "content", "pearl", "--config", demo)  # no sha256 yet: one is added
    assert rc == 0 and "(it had none)" in out, err
    pinned = demo.read_text(encoding="utf-8")
    assert cli("gallery", "--config", demo, "--quiet")[0] == 0
    new = _replace(demo, "pearl", seed=99)
    rc, out, err = cli("validate", "--config", demo)
    assert rc == 2 and "make repin CONTENT=pearl" in err
    rc, out, err = cli("repin", "content", "pearl", "--config", demo)
    assert rc == 0, err
    sha = hashlib.sha256(new.read_bytes()).hexdigest()
    after = demo.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(pinned.splitlines(), after.splitlines()) if a != b]
    assert len(pinned.splitlines()) == len(after.splitlines()) and len(changed) == 1
    assert changed[0][1] == f"    sha256: {sha}"
    assert "its 3 cells render again" in out
    assert cli("validate", "--config", demo)[0] == 0
    rc, out, err = cli("status", "--config", demo)
    assert out.count("content image changed") == 3, out
    rc, out, err = cli("repin", "content", "pearl", "--config", demo)
    assert rc == 0 and "already" in out and demo.read_text(encoding="utf-8") == after


def test_repin_refuses_an_entry_with_a_url(cli, demo_manifest, tmp_path):
    before = snapshot(tmp_path)
    rc, out, err = cli("repin", "style", "gogh", "--config", demo_manifest)
    assert rc == 1 and "has a url" in err and "make remove STYLE=gogh" in err and "make add STYLE=" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["not an image", "missing"])
def test_repin_refuses_a_file_that_is_no_image(cli, demo, tmp_path, case):
    g = load_gallery(demo, check_files=False)
    file = g.content("vinci").file
    if case == "missing":
        file.unlink()
    else:
        file.write_text("hello")
    before = snapshot(tmp_path)
    rc, out, err = cli("repin", "content", "vinci", "--config", demo)
    assert rc == 1 and "vinci" in err
    assert ("is not there" if case == "missing" else "nothing was written") in err
    assert snapshot(tmp_path) == before


def test_make_targets_pass_the_id():
    import subprocess

    from conftest import REPO

    out = subprocess.run(["make", "-n", "-C", str(REPO), "remove", "STYLE=gogh", "repin", "CONTENT=me", "init"],
                         capture_output=True, text=True).stdout
    assert '-m pipeline remove style "gogh"' in out and '-m pipeline repin content "me"' in out
    assert "-m pipeline init --config" in out
