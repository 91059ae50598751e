"""`add` under accidents: refusals that write nothing, files that are not files, manifests with
CRLF line endings, and several `add`s (or an editor) writing the manifest at once."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, snapshot, write_image
from https_server import https  # noqa: F401 - fixture
from pipeline.manifest.reader import load_gallery


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


# ---------------------------------------------------------------- refusals write nothing

@pytest.mark.parametrize("case", ["newline in the file name", "escape in --credit", "javascript: --link",
                                  "surrogate in --title", "noncharacter in --title"])
def test_a_refused_add_copies_no_image_and_leaves_the_manifest(cli, demo, tmp_path, case):
    name, extra, expect = {
        "newline in the file name": ("two\nlines.png", [], "the title made from its file name, 'Two\\nlines'"),
        "escape in --credit": ("wave.png", ["--credit", "Hokusai\x1b[31m"], "'credit' contains the control character U+001B"),
        "javascript: --link": ("wave.png", ["--link", "javascript:alert(1)"], "must be an http:// or https:// address"),
        "surrogate in --title": ("wave.png", ["--title", "Caf\udce9"], "U+DCE9"),
        "noncharacter in --title": ("wave.png", ["--title", "Wave\uffff"], "U+FFFF"),
    }[case]
    photo = write_image(tmp_path / "incoming" / name, seed=4)
    before = snapshot(demo.parent)
    rc, out, err = cli("add", "style", photo, "--config", demo, *extra)
    assert rc == 1, (out, err)
    assert expect in err and "Traceback" not in err
    assert "nothing was written" in err
    assert snapshot(demo.parent) == before  # no image in my-images/, no temp file, the manifest as it was


def test_a_title_typed_in_latin_1_is_refused_with_the_fix(demo, tmp_path):
    """A terminal in Latin-1 passes the byte 0xE9 for 'é': Python makes it a lone surrogate."""
    photo = write_image(tmp_path / "wave.png", seed=4)
    before = snapshot(demo.parent)
    r = subprocess.run([sys.executable, "-m", "pipeline", "add", "style", str(photo), "--config", str(demo),
                        "--title", b"Caf\xe9"], capture_output=True, timeout=60, cwd=REPO,
                       env={**os.environ, "LC_ALL": "C.UTF-8"})
    err = r.stderr.decode("utf-8")
    assert r.returncode == 1 and "--title: 'title' contains U+DCE9" in err and "lone surrogate" in err, err
    assert "Traceback" not in err and snapshot(demo.parent) == before


def test_already_in_the_gallery_names_the_address_given(cli, demo, https):
    from conftest import gradient
    import io

    data = io.BytesIO()
    gradient((30, 20), 6).save(data, "PNG")
    https.answers["/art/wave.png"] = data.getvalue()
    url = https.url("/art/wave.png")
    assert cli("add", "style", url, "--config", demo)[0] == 0
    rc, out, err = cli("add", "style", url, "--config", demo)
    assert rc == 0, err
    assert out.startswith(f"{url}: already in ") and "as style 'wave'" in out


def test_a_title_from_a_file_name_that_is_no_text_says_how_to_give_one(cli, demo, tmp_path):
    photo = write_image(tmp_path / "incoming" / "one\ttwo\x07.png", seed=4)
    rc, out, err = cli("add", "content", photo, "--config", demo)
    assert rc == 1 and "--title" in err and str(photo.name) not in ("",)
    rc, out, err = cli("add", "content", photo, "--config", demo, "--title", "One two")
    assert rc == 0, err
    assert load_gallery(demo).contents[-1].title == "One two"


def test_a_fifo_is_refused_before_it_is_opened(demo, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    before = snapshot(demo.parent)
    r = _run("add", "style", fifo, "--config", demo, timeout=30)  # a reader of the FIFO would wait forever
    assert r.returncode == 1, r.stderr
    assert f"add: {fifo}: not a regular file" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(demo.parent) == before


def test_a_device_is_refused(cli, demo, tmp_path):
    rc, out, err = cli("add", "style", "/dev/zero", "--config", demo)
    assert rc == 1 and "/dev/zero: not a regular file" in err


# ---------------------------------------------------------------- line endings and messages

def test_a_crlf_manifest_keeps_its_line_endings(cli, demo, tmp_path):
    demo.write_bytes(demo.read_bytes().replace(b"\n", b"\r\n"))
    before = demo.read_bytes()
    rc, out, err = cli("add", "style", write_image(tmp_path / "wave.png", seed=3), "--config", demo)
    assert rc == 0, err
    after = demo.read_bytes()
    assert after.startswith(before.split(b"\r\n# exclude")[0].split(b"\r\nstyles:")[0])
    assert after.count(b"\n") == after.count(b"\r\n") and b"id: wave\r\n" in after
    assert load_gallery(demo).styles[-1].id == "wave"


def test_an_lf_manifest_stays_lf(cli, demo, tmp_path):
    rc, out, err = cli("add", "style", write_image(tmp_path / "wave.png", seed=3), "--config", demo)
    assert rc == 0, err
    assert b"\r" not in demo.read_bytes()


# ---------------------------------------------------------------- several writers at once

_ADD_AT = """\
import sys, time
from pipeline.manifest.adder import add_images
start, manifest, image = float(sys.argv[1]), sys.argv[2], sys.argv[3]
time.sleep(max(0.0, start - time.time()))
added = add_images(manifest, "content", [image])
print(added[0].id)
"""


def test_concurrent_adds_lose_no_entry(demo, tmp_path):
    """Processes started together, each adding one image: every entry and every image is there."""
    n = 6
    images = [write_image(tmp_path / "incoming" / f"photo{i}.png", seed=10 + i) for i in range(n)]
    start = time.time() + 4  # imports done in every process, then all at once
    procs = [subprocess.Popen([sys.executable, "-c", _ADD_AT, str(start), str(demo), str(image)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for image in images]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, [err for _, err in results]
    ids = {c.id for c in load_gallery(demo).contents}
    assert {f"photo{i}" for i in range(n)} <= ids
    copies = sorted(p.name for p in (demo.parent / "my-images" / "content").iterdir())
    assert copies == [f"photo{i}.png" for i in range(n)]


def test_an_editor_saving_meanwhile_keeps_its_change_and_the_new_entry(cli, demo, tmp_path, monkeypatch):
    """An editor (which takes no lock) saves the manifest while `add` works: `add` notices, reads
    the editor's text and applies its entry to that."""
    from pipeline.manifest import adder

    real = adder.append_entries
    saves = []

    def editor_saves_first(text, role, entries):
        if not saves:
            saves.append(1)
            demo.write_text(demo.read_text(encoding="utf-8").replace("title: Dancer", "title: The dancer"),
                            encoding="utf-8")
        return real(text, role, entries)

    monkeypatch.setattr(adder, "append_entries", editor_saves_first)
    rc, out, err = cli("add", "style", write_image(tmp_path / "wave.png", seed=3), "--config", demo)
    assert rc == 0, err
    g = load_gallery(demo)
    assert g.content("dancing").title == "The dancer" and g.styles[-1].id == "wave"


def test_an_editor_that_never_stops_saving_gets_a_clear_refusal(cli, demo, tmp_path, monkeypatch):
    from pipeline.manifest import adder

    real = adder.append_entries
    count = []

    def editor_saves_always(text, role, entries):
        count.append(1)
        demo.write_text(demo.read_text(encoding="utf-8") + f"# save {len(count)}\n", encoding="utf-8")
        return real(text, role, entries)

    monkeypatch.setattr(adder, "append_entries", editor_saves_always)
    photo = write_image(tmp_path / "wave.png", seed=3)
    rc, out, err = cli("add", "style", photo, "--config", demo)
    assert rc == 1 and "changed while `add` ran" in err and "nothing was written" in err
    assert not (demo.parent / "my-images").exists()
    assert "id: wave" not in demo.read_text(encoding="utf-8")


def test_a_manifest_whose_lists_are_not_indented_gets_entries_in_its_own_style(cli, tmp_path):
    """`- id:` at the start of the line under `contents:` (what yaml.safe_dump and many editors
    write): the new entry has the same shape and nothing else moves."""
    import difflib

    write_image(tmp_path / "images" / "pearl.png", seed=1)
    write_image(tmp_path / "images" / "gogh.png", seed=2)
    path = tmp_path / "gallery.yaml"
    before = ("site:\n  title: T\ncontents:\n- id: pearl\n  file: images/pearl.png\n"
              "styles:\n- id: gogh\n  file: images/gogh.png\n")
    path.write_text(before, encoding="utf-8")
    rc, out, err = cli("add", "style", write_image(tmp_path / "wave.png", seed=3), "--config", path)
    assert rc == 0, err
    after = path.read_text(encoding="utf-8")
    ops = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines()).get_opcodes()
    assert [op for op, *_ in ops] == ["equal", "insert"], after
    assert after.splitlines()[8:10] == ["- id: wave", "  title: Wave"]


def test_a_manifest_that_is_a_symbolic_link_stays_one(cli, demo, tmp_path):
    """`add` writes through the link (the file it names gets the entry), as an editor would."""
    real = demo.with_name("gallery-real.yaml")
    demo.rename(real)
    demo.symlink_to(real.name)
    rc, out, err = cli("add", "style", write_image(tmp_path / "wave.png", seed=3), "--config", demo)
    assert rc == 0, err
    assert demo.is_symlink() and "id: wave" in real.read_text(encoding="utf-8")
    assert load_gallery(demo).styles[-1].file == demo.parent / "my-images" / "style" / "wave.png"


def test_an_image_already_beside_the_manifest_stays_and_is_named_relative_to_it(cli, demo):
    photo = write_image(demo.parent / "photos" / "wave.png", seed=3)
    rc, out, err = cli("add", "style", photo, "--config", demo)
    assert rc == 0, err
    assert "file: photos/wave.png" in demo.read_text(encoding="utf-8") and "in place" in out
    assert not (demo.parent / "my-images").exists()
