"""`repin`: accept the image now at an entry's file as that entry's image, in one command.

An entry without a url is your own image: its `sha256` pins the file's bytes so that a changed
file is noticed (and its cells render again) rather than published by surprise. When you replace
or retouch the picture on purpose, `repin` checks that the new file decodes and writes its sha256
into the entry, keeping every other line of the manifest.

An entry with a url is refused: its sha256 pins the image at that address, which the Pages
workflow downloads and checks against the pin, so a local file that differs would never be the
one published.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.images import ImageLoadError, load_rgb
from pipeline.core.model import Gallery, ImageEntry
from pipeline.manifest.remover import find_entry
from pipeline.manifest.rewrite import Edit, load_for_edit, rewrite_manifest
from pipeline.manifest.yaml_edit import set_entry_value
from pipeline.util.errors import GalleryError
from pipeline.util.files import shown
from pipeline.util.hashing import file_sha256


@dataclass
class Repinned:
    """What `repin` did, for the CLI's report."""

    entry: ImageEntry
    old: str  # the sha256 pinned before ("" when the entry had none)
    new: str
    size: tuple[int, int]
    cells: int  # cells of the entry that are not excluded: they render again


def repin_entry(manifest: Path, role: str, entry_id: str) -> Repinned:
    """Pin the `role` entry `entry_id` to the sha256 of the file it names. Raises GalleryError
    (writing nothing) for an unknown id, an entry with a url, or a file that is missing or is
    not an image."""
    manifest = Path(manifest)
    entry = find_entry(load_for_edit(manifest, "repin"), role, entry_id, "repin")
    if entry.url:
        raise GalleryError(
            f"repin: {role} '{entry_id}' has a url ({entry.url}): its sha256 pins the image at that "
            f"address, which the Pages workflow downloads and checks against the pin, so a changed "
            f"local file would never be published. To fetch the pinned image again, delete "
            f"{shown(entry.file)} and run `make validate`; to use another image, `make remove "
            f"{role.upper()}={entry_id}`, then `make add {role.upper()}=NEW_FILE_OR_URL`")
    if not entry.file.is_file():
        raise GalleryError(f"repin: {role} '{entry_id}': {entry.file} is not there: put the new "
                           f"image at that path, then run repin again")
    try:
        size = load_rgb(entry.file).size
    except ImageLoadError as e:
        raise GalleryError(f"repin: {role} '{entry_id}': {e}: nothing was written") from None
    sha = file_sha256(entry.file)

    def edit(text: str, gallery: Gallery) -> Edit[Repinned]:
        now = find_entry(gallery, role, entry_id, "repin")
        if now.url or now.file != entry.file:  # edited meanwhile: judge the entry as it is now
            raise GalleryError(f"repin: {role} '{entry_id}' changed in {manifest} while repin ran: "
                               f"run it again (nothing was written)")
        cells = sum(1 for c, s in gallery.cells() if entry_id in (c.id, s.id))
        done = Repinned(now, now.sha256, sha, size, cells)
        if now.sha256 == sha:
            return Edit(None, done)
        return Edit(set_entry_value(text, role, entry_id, "sha256", sha), done)

    return rewrite_manifest(manifest, "repin", edit)
