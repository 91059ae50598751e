"""Where images may be is the user's to widen, never the manifest's: the manifest's folder by
default, more only by `--image-root DIR` or GALLERY_IMAGE_ROOTS; `image_roots:` only narrows.
Nothing is ever fetched outside the manifest's folder."""
from __future__ import annotations

import hashlib

import pytest

from conftest import dump_manifest, snapshot, write_image
from gallery_fakes import fill_cache
from pipeline.manifest.reader import load_gallery


@pytest.fixture
def outside(tmp_path):
    """A folder beside the project with a private image: nothing of the manifest's."""
    folder = tmp_path / "private"
    write_image(folder / "secret.png", seed=9)
    return folder


def _manifest(project, image_roots=None, style_file="images/gogh.png", **style):
    write_image(project / "images" / "pearl.png", seed=1)
    if not style_file.startswith("/"):
        write_image(project / style_file, seed=2)
    data = {"site": {"title": "T"}, "render": {"size": 64, "preset": "draft"},
            "contents": [{"id": "pearl", "file": "images/pearl.png"}],
            "styles": [{"id": "gogh", "file": style_file, **style}]}
    if image_roots is not None:
        data["image_roots"] = image_roots
    return dump_manifest(project / "gallery.yaml", data)


def test_a_manifest_cannot_widen_where_images_may_be(cli, tmp_path, outside):
    path = _manifest(tmp_path / "project", image_roots=["/"], style_file=str(outside / "secret.png"))
    before = snapshot(tmp_path)
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2 and "Traceback" not in err
    lines = err.splitlines()
    assert any(f"{path}:" in l and "'image_roots' '/' resolves to /, outside the manifest's folder" in l
               and "a manifest can only narrow" in l and "--image-root / on the command line" in l
               and "GALLERY_IMAGE_ROOTS=/" in l for l in lines), err
    assert any("styles[0] (id 'gogh'): 'file'" in l and f"--image-root {outside}" in l for l in lines), err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_user_allows_a_folder_from_outside_the_manifest(cli, tmp_path, outside, monkeypatch, how):
    path = _manifest(tmp_path / "project", style_file=str(outside / "secret.png"))
    args = ("--image-root", str(outside)) if how == "option" else ()
    if how == "environment":
        monkeypatch.setenv("GALLERY_IMAGE_ROOTS", f"/nonexistent:{outside}")
    rc, out, err = cli("validate", "--config", path, *args)
    assert rc == 0, err
    # and the manifest may narrow to it, now that it is allowed
    path = _manifest(tmp_path / "project", image_roots=[str(outside), "images"], style_file=str(outside / "secret.png"))
    rc, out, err = cli("validate", "--config", path, *args)
    assert rc == 0, err


def test_image_roots_narrows_the_manifests_folder(cli, tmp_path):
    path = _manifest(tmp_path / "project", image_roots=["photos"])
    rc, out, err = cli("validate", "--config", path)
    assert rc == 2
    assert "outside the folders `image_roots:` names" in err and "add its folder to `image_roots:`" in err


def test_the_site_never_publishes_an_image_from_outside(cli, tmp_path, outside):
    """`build` reads the manifest as validate does: a private image never reaches site/ unless
    the user allowed its folder."""
    from pipeline.manifest import roots

    path = _manifest(tmp_path / "project", image_roots=["/"], style_file=str(outside / "secret.png"))
    rc, out, err = cli("build", "--config", path)
    assert rc == 2 and "a manifest can only narrow" in err and "Traceback" not in err
    assert not (tmp_path / "project" / "site").exists()
    path = _manifest(tmp_path / "project", style_file=str(outside / "secret.png"))
    rc, out, err = cli("build", "--config", path)
    assert rc == 2 and f"--image-root {outside}" in err and not (tmp_path / "project" / "site").exists()
    with roots.given([str(outside)]):
        fill_cache(load_gallery(path))
    rc, out, err = cli("build", "--config", path, "--image-root", outside)
    assert rc == 0, err
    assert "gogh" in (tmp_path / "project" / "site" / "index.html").read_text(encoding="utf-8")


def test_a_missing_image_is_never_fetched_outside_the_manifests_folder(cli, tmp_path, outside, monkeypatch):
    """Even in a folder the user allows for reading, a missing file is not created."""
    mirror = tmp_path / "mirror"
    data = write_image(mirror / "wave.png", seed=4).read_bytes()
    monkeypatch.setenv("GALLERY_MIRROR", str(mirror))
    path = _manifest(tmp_path / "project", style_file=str(outside / "wave.png"),
                     sha256=hashlib.sha256(data).hexdigest())
    before = snapshot(tmp_path)
    rc, out, err = cli("validate", "--config", path, "--image-root", outside)
    assert rc == 2 and "is missing and cannot be fetched" in err and "only into the manifest's folder" in err
    assert snapshot(tmp_path) == before and not (outside / "wave.png").exists()


def test_add_reads_the_same_allowed_area(cli, tmp_path, outside, monkeypatch):
    path = _manifest(tmp_path / "project", style_file=str(outside / "secret.png"))
    photo = write_image(tmp_path / "incoming" / "wave.png", seed=5)
    rc, out, err = cli("add", "style", photo, "--config", path)
    assert rc == 1 and "fix these first" in err and "--image-root" in err
    monkeypatch.setenv("GALLERY_IMAGE_ROOTS", str(outside))
    rc, out, err = cli("add", "style", photo, "--config", path)
    assert rc == 0, err
    assert (tmp_path / "project" / "my-images" / "style" / "wave.png").is_file()  # copied into the manifest's folder
