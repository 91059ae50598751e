"""`add`: images into the manifest without hand-editing YAML, keeping its comments and layout."""
from __future__ import annotations

import hashlib
import io
import shutil
import subprocess

import pytest

from conftest import REPO, gradient, lines_only, snapshot, write_image
from https_server import https  # noqa: F401 - fixture
from pipeline.manifest.reader import load_gallery


def test_add_a_file_copies_it_hashes_it_and_appends_a_nice_entry(cli, demo, tmp_path):
    photo = write_image(tmp_path / "incoming" / "The Great_Wave.jpg", (60, 40), seed=5)
    before = demo.read_text(encoding="utf-8")
    rc, out, err = cli("add", "style", photo, "--config", demo, "--credit", "Katsushika Hokusai, c. 1831")
    assert rc == 0, err
    added = lines_only("insert", before, demo.read_text(encoding="utf-8"))
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert added == ["  - id: the-great-wave", "    title: The Great Wave", "    credit: Katsushika Hokusai, c. 1831",
                     "    file: my-images/style/the-great-wave.jpg", f"    sha256: {sha}"]
    # the new entry goes above the commented-out `exclude:` example, not below it
    text = demo.read_text(encoding="utf-8")
    assert text.index("id: the-great-wave") < text.index("# exclude:")
    copy = demo.parent / "my-images" / "style" / "the-great-wave.jpg"
    assert copy.read_bytes() == photo.read_bytes()
    g = load_gallery(demo)  # valid, with files
    assert [s.id for s in g.styles][-1] == "the-great-wave"
    assert f"added style 'the-great-wave' (The Great Wave) at {demo}:" in out or "added style 'the-great-wave'" in out
    assert "next: `make gallery CONFIG=" in out and "renders 3 new cells" in out and "about " in out
    assert "dancing:the-great-wave" in out
    assert "publish: commit" in out and "my-images/style/the-great-wave.jpg" in out


def test_add_a_folder_adds_each_image_with_unique_ids(cli, demo, tmp_path):
    folder = tmp_path / "photos"
    write_image(folder / "dancing.png", seed=11)  # 'dancing' is taken by the demo: dancing-2
    write_image(folder / "beach day.jpg", seed=12)
    (folder / "notes.txt").write_text("not an image")
    before = demo.read_text(encoding="utf-8")
    rc, out, err = cli("add", "content", folder, "--config", demo)
    assert rc == 0, err
    added = lines_only("insert", before, demo.read_text(encoding="utf-8"))
    assert [line for line in added if "- id:" in line] == ["  - id: beach-day", "  - id: dancing-2"]
    assert [c.id for c in load_gallery(demo).contents][-2:] == ["beach-day", "dancing-2"]
    assert "renders 6 new cells" in out


def test_adding_the_same_image_twice_adds_nothing(cli, demo, tmp_path):
    photo = write_image(tmp_path / "me.png", seed=3)
    assert cli("add", "content", photo, "--config", demo)[0] == 0
    before = demo.read_text(encoding="utf-8")
    rc, out, err = cli("add", "content", photo, "--config", demo)
    assert rc == 0 and "already in" in out and "as content 'me'" in out
    assert demo.read_text(encoding="utf-8") == before


def test_add_a_url_downloads_it_and_pins_it(cli, demo, https):
    data = io.BytesIO()
    gradient((50, 30), 4).save(data, "JPEG")
    data = data.getvalue()
    https.answers["/art/Kanagawa%20Wave.jpeg"] = data
    url = https.url("/art/Kanagawa%20Wave.jpeg")
    rc, out, err = cli("add", "style", url, "--config", demo, "--title", "The Great Wave off Kanagawa",
                       "--link", "https://en.wikipedia.org/wiki/The_Great_Wave_off_Kanagawa")
    assert rc == 0, err
    entry = load_gallery(demo).styles[-1]
    assert (entry.id, entry.title, entry.url) == ("kanagawa-wave", "The Great Wave off Kanagawa", url)
    assert entry.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.file == demo.parent / "images" / "style" / "kanagawa-wave.jpeg"  # git-ignored: fetched again
    assert entry.file.read_bytes() == data
    assert "publish: commit" not in out  # a url entry is fetched again anywhere


@pytest.mark.parametrize("case", ["not an image", "missing", "http url", "--id with a folder", "taken id"])
def test_add_refuses_clearly_and_writes_nothing(cli, demo, tmp_path, case):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not really a jpeg")
    folder = tmp_path / "two"
    write_image(folder / "a.png", seed=1)
    write_image(folder / "b.png", seed=2)
    args, expect = {
        "not an image": (["style", bad], "not an image Pillow can read"),
        "missing": (["style", tmp_path / "nope.jpg"], "no such file or folder"),
        "http url": (["style", "http://example.org/x.jpg"], "only https://"),
        "--id with a folder": (["content", folder, "--id", "x"], "add them one at a time"),
        "taken id": (["content", folder / "a.png", "--id", "pearl"], "exists already"),
    }[case]
    before = snapshot(demo.parent)
    rc, out, err = cli("add", *args, "--config", demo)
    assert rc == 1 and expect in err and "Traceback" not in err
    assert snapshot(demo.parent) == before


def test_add_refuses_an_invalid_manifest_and_says_so(cli, demo, tmp_path):
    demo.write_text(demo.read_text(encoding="utf-8").replace("title: Dancer", "titel: Dancer"), encoding="utf-8")
    rc, out, err = cli("add", "style", write_image(tmp_path / "x.png"), "--config", demo)
    assert rc == 1 and "unknown key 'titel'" in err and "fix these first" in err


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_add_passes_the_image_on():
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-n", "add", "STYLE=art/wave.jpg",
                        "ARGS=--title Wave", "STAMP=/dev/null"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '-m pipeline add style "art/wave.jpg" --config "config/gallery.yaml" --title Wave' in r.stdout
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "add", "STAMP=/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "make add STYLE=" in r.stderr


# ---- publishing your own images (item 4): they live in a committed folder

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@needs_git
def test_own_images_go_to_a_folder_git_keeps_and_fetched_ones_to_one_it_ignores():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", path]).returncode == 0

    assert not ignored("config/my-images/style/wave.jpg"), "own images must be committable"
    assert ignored("config/images/style/gogh.jpg"), "downloaded third-party images stay out of git"
    assert (REPO / "config" / "my-images" / "README.md").is_file()


@needs_git
def test_validate_warns_about_an_image_only_this_machine_has(cli, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("images/\n")
    write_image(tmp_path / "images" / "me.png", seed=1)
    write_image(tmp_path / "my-images" / "content" / "you.png", seed=2)
    write_image(tmp_path / "my-images" / "style" / "wave.png", seed=3)
    (tmp_path / "gallery.yaml").write_text(
        "contents:\n  - id: me\n    file: images/me.png\n  - id: you\n    file: my-images/content/you.png\n"
        "styles:\n  - id: wave\n    file: my-images/style/wave.png\n", encoding="utf-8")
    rc, out, err = cli("validate", "--config", tmp_path / "gallery.yaml")
    assert rc == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "content 'me'" in warnings[0] and "git ignores it" in warnings[0]
    assert "make add CONTENT=" in warnings[0] and "my-images/" in warnings[0]
