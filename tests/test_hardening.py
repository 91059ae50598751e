"""No input escapes its folder, no build deletes what it did not write, damaged state gives a
message (never a traceback) and a damaged cache repairs itself.

One test (or one parametrised group) per way in: fetched files, planted variant indexes, image
paths, symbolic links in the site folder, inputs inside the output, files a user adds to the
site. Galleries are tiny: 40x30 generated images and 8x8 fake renders (no torch).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import dump_manifest, write_image
from gallery_fakes import fill_cache


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(path: Path, check_files: bool = True):
    from pipeline.manifest.reader import load_gallery

    return load_gallery(path, check_files=check_files)


def cached_gallery(make_gallery, **kw) -> Path:
    """A valid manifest whose every cell has a fake render in the cache and the lock file."""
    path = make_gallery(render={"size": 64, "preset": "draft"}, **kw)
    fill_cache(load(path))
    return path


def site_files(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- 1-4: input escapes

@pytest.mark.parametrize("target", ["../victim/site-packages/zz.pth", ".git/hooks/post-checkout",
                                    "images/../../victim/bin/activate"])
def test_validate_never_writes_outside_the_images_folder(cli, tmp_path, monkeypatch, target):
    """A missing `file:` is fetched only as an image inside the manifest's folder: a planted `.pth`
    or git hook (copied from the mirror before it was checked to be an image) is refused first."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    payload = mirror / Path(target).name
    payload.write_text("import os; os.system('echo owned')\n")
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    project = tmp_path / "project"  # as a manifest from someone else's pull request
    write_image(project / "images" / "pearl.png")
    path = dump_manifest(project / "gallery.yaml", {
        "contents": [{"id": "pearl", "file": "images/pearl.png"}],
        "styles": [{"id": "gogh", "file": target, "sha256": sha256(payload)}]})
    before = sorted(tmp_path.rglob("*"))
    rc, out, err = cli("validate", "--config", path)
    assert not os.path.lexists(os.path.normpath(project / target))
    assert sorted(tmp_path.rglob("*")) == before, "validate wrote files"
    assert rc == 2, out + err
    assert f"{path}:6: styles[0] (id 'gogh'): 'file' '{target}'" in err
    assert "outside" in err or "only image files" in err


def test_a_fetched_file_that_is_not_an_image_never_lands(make_gallery, cli, tmp_path, monkeypatch):
    """Even inside the folder, with the right name and sha256: it must decode before the rename."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "gogh.png").write_bytes(b"#!/bin/sh\necho owned\n")
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    path = make_gallery(styles=[{"id": "gogh", "file": "images/style/gogh.png",
                                 "sha256": sha256(mirror / "gogh.png")}])
    (tmp_path / "images" / "style" / "gogh.png").unlink()
    rc, out, err = cli("validate", "--config", path)
    assert not (tmp_path / "images" / "style" / "gogh.png").exists()
    assert not list((tmp_path / "images" / "style").glob(".*.tmp"))
    assert rc == 2 and "not a usable image" in err


def test_a_planted_variants_index_cannot_publish_a_local_file(make_gallery, cli, tmp_path):
    """An index.json in renders/variants naming /proc/self/environ or any absolute path is damaged:
    the web images are encoded again, and the named file never reaches site/."""
    path = cached_gallery(make_gallery)
    assert cli("build", "--config", path)[0] == 0
    secret = tmp_path / "secret.env"
    secret.write_bytes(b"GITHUB_TOKEN=ghs_secret\n")
    indexes = sorted((tmp_path / "renders" / "variants").rglob("index.json"))
    assert indexes
    for i, index in enumerate(indexes):
        data = json.loads(index.read_text())
        target = str(secret) if i % 2 else "../../../../secret.env"
        for v in data["variants"]:
            v["file"], v["bytes"] = target, secret.stat().st_size
        index.write_text(json.dumps(data))
    shutil.rmtree(tmp_path / "site")
    rc, out, err = cli("build", "--config", path)
    assert rc == 0, err
    assert not [rel for rel, data in site_files(tmp_path / "site").items() if b"ghs_secret" in data]


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "home"])
def test_file_may_not_name_an_image_outside_the_manifests_folder(make_gallery, cli, tmp_path, monkeypatch, how):
    elsewhere = write_image(tmp_path.parent / f"{tmp_path.name}-elsewhere" / "private.png", seed=5)
    monkeypatch.setenv("HOME", str(elsewhere.parent))
    (tmp_path / "images").mkdir()
    os.symlink(elsewhere, tmp_path / "images" / "link.png")
    file = {"absolute": str(elsewhere), "dotdot": f"../{elsewhere.parent.name}/private.png",
            "symlink": "images/link.png", "home": "~/private.png"}[how]
    path = make_gallery(styles=[{"id": "gogh", "file": file}])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2, out
    assert f"{path}:" in err and "styles[0] (id 'gogh')" in err
    assert "outside" in err and f"--image-root {elsewhere.parent}" in err  # where, and the fix
    # the manifest cannot allow the folder itself; the user can, from outside the manifest
    data = path.read_text() + f"image_roots: [., {elsewhere.parent}]\n"
    path.write_text(data)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "'image_roots'" in err and "a manifest can only narrow" in err
    rc, out, err = cli("validate", "--config", path, "--image-root", elsewhere.parent)
    assert rc == 0, err


def test_a_symlink_in_the_site_folder_is_never_written_through(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    assert cli("build", "--config", path)[0] == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.rmtree(tmp_path / "site" / "img")
    os.symlink(victim, tmp_path / "site" / "img")
    rc, out, err = cli("build", "--config", path)
    assert list(victim.iterdir()) == []
    assert rc == 1 and "site/img is a symbolic link" in err and "remove" in err


def test_a_build_removes_links_it_did_not_make_and_never_follows_them(make_gallery, cli, tmp_path):
    """A link out of the site (planted, or left by hand) would be served, or published by the Pages
    upload (which copies what links point to): the next build removes it, even a kept one, and
    says so; what it pointed to is untouched."""
    path = cached_gallery(make_gallery)
    path.write_text(path.read_text().replace("site:\n", "site:\n  keep: [CNAME, etc/]\n"))
    assert cli("build", "--config", path)[0] == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "passwd").write_text("root:x:0:0\n")
    site = tmp_path / "site"
    (site / "etc").symlink_to(victim)
    (site / "CNAME").symlink_to(victim / "passwd")
    (site / "img" / "secrets").symlink_to(victim)
    rc, out, err = cli("build", "--config", path)  # nothing else changed: it must not be "up to date"
    assert rc == 0, err
    assert not any(os.path.lexists(site / rel) for rel in ("etc", "CNAME", "img/secrets"))
    assert (victim / "passwd").read_text() == "root:x:0:0\n"
    assert "up to date" not in out and "3 removed (CNAME, etc, img/secrets)" in out
    assert "removed 3 symbolic links (CNAME, etc, img/secrets): a site holds only real files" in err
    assert "site: keep:" not in err  # keeping would not help: links are never kept
    rc, out, err = cli("build", "--config", path)
    assert rc == 0 and "up to date" in out


# ---------------------------------------------------------------- 5-6: data loss

def test_an_input_image_inside_site_output_is_refused(make_gallery, cli, tmp_path):
    path = make_gallery(site={"output": "public"},
                        contents=[{"id": "pearl", "file": "public/photos/pearl.png"}])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2
    assert "contents[0] (id 'pearl')" in err and "inside site.output" in err and "move the image" in err
    assert (tmp_path / "public" / "photos" / "pearl.png").is_file()


def test_files_a_user_adds_to_the_site_are_kept_or_named(make_gallery, cli, tmp_path):
    path = cached_gallery(make_gallery)
    assert cli("build", "--config", path)[0] == 0
    site = tmp_path / "site"
    (site / "CNAME").write_text("gallery.example.org\n")
    (site / ".well-known").mkdir()
    (site / ".well-known" / "security.txt").write_text("Contact: me\n")
    (site / "notes.txt").write_text("my notes\n")
    rc, out, err = cli("build", "--config", path)
    assert rc == 0
    assert (site / "CNAME").is_file() and (site / ".well-known" / "security.txt").is_file()
    assert not (site / "notes.txt").exists()
    assert "1 removed (notes.txt)" in out
    assert "notes.txt" in err and "site: keep:" in err  # the warning says how to keep it
    # a configurable list: notes.txt kept too (CNAME no longer listed, so it goes)
    data = path.read_text().replace("site:\n", "site:\n  keep: [notes.txt, .well-known/]\n")
    path.write_text(data)
    (site / "notes.txt").write_text("my notes\n")
    rc, out, err = cli("build", "--config", path)
    assert rc == 0 and (site / "notes.txt").is_file() and not (site / "CNAME").exists()
    assert "1 removed (CNAME)" in out
    # kept files do not make every later build a full one
    rc, out, err = cli("build", "--config", path)
    assert "up to date" in out and "0 removed" in out
