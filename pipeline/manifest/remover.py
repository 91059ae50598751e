"""`remove`: take an image out of the gallery, the inverse of `add`.

The entry leaves `contents:` or `styles:`, and so do the `exclude:` items that name it (they
would name an unknown id); every other line of the manifest stays as it was. The image file is
left on disk (another manifest may use it; deleting a photo without a url could lose the only
copy), and so are the renders of its cells: the command says which, and how to prune them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.model import Gallery, ImageEntry
from pipeline.manifest.rewrite import Edit, load_for_edit, refused, rewrite_manifest
from pipeline.manifest.yaml_edit import remove_items
from pipeline.util.errors import GalleryError

ROLES = ("content", "style")


@dataclass
class Removed:
    """What `remove` took out, for the CLI's report."""

    entry: ImageEntry
    cells: list[tuple[str, str]]  # (content id, style id) of the cells that left the gallery
    excludes: list[tuple[str, str]] = field(default_factory=list)  # exclude items removed with it
    shared_file: bool = False  # another entry names the same image file


def find_entry(gallery: Gallery, role: str, entry_id: str, command: str) -> ImageEntry:
    """The `role` entry `entry_id`, or a GalleryError that lists the ids there are."""
    if role not in ROLES:
        raise GalleryError(f"{command}: the first word is 'content' or 'style', not {role!r}")
    entries = {e.id: e for e in gallery.contents + gallery.styles}
    entry = entries.get(entry_id)
    if entry is not None and entry.role == role:
        return entry
    if entry is not None:
        raise GalleryError(f"{command}: '{entry_id}' is a {entry.role}, not a {role}: "
                           f"`{command} {entry.role} {entry_id}`")
    mine = [e.id for e in (gallery.contents if role == "content" else gallery.styles)]
    there = (f"the {role}s of {gallery.path} are: {', '.join(mine)}" if mine
             else f"{gallery.path} has no {role}s yet")
    close = difflib.get_close_matches(entry_id, mine, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise GalleryError(f"{command}: no {role} has id '{entry_id}'{hint}; {there}")


def check_removable(manifest: Path, role: str, entry_id: str) -> ImageEntry:
    """The entry `remove` would take out, or the GalleryError it would refuse with (before
    anything, even the cache's memo, is written)."""
    try:
        return find_entry(load_for_edit(Path(manifest), "remove"), role, entry_id, "remove")
    except GalleryError as e:
        raise refused(e) from None


def remove_entry(manifest: Path, role: str, entry_id: str) -> Removed:
    """Remove the `role` ("content"/"style") entry `entry_id` from `manifest`, with the exclude
    items that name it. Raises GalleryError naming the ids that exist; writes nothing then."""

    def edit(text: str, gallery: Gallery) -> Edit[Removed]:
        entry = find_entry(gallery, role, entry_id, "remove")
        others = gallery.styles if role == "content" else gallery.contents
        cells = [(entry.id, o.id) if role == "content" else (o.id, entry.id) for o in others]
        excludes = sorted(pair for pair in gallery.exclude if pair[ROLES.index(role)] == entry_id)
        text, _ = remove_items(text, role + "s", lambda item: _id(item) == entry_id)
        if excludes:
            text, _ = remove_items(text, "exclude", lambda item: _ref(item, role) == entry_id)
        shared = any(e.file == entry.file for e in gallery.contents + gallery.styles if e is not entry)
        return Edit(text, Removed(entry, [c for c in cells if c not in gallery.exclude], excludes, shared))

    return rewrite_manifest(Path(manifest), "remove", edit)


def _id(item: object) -> object:
    return item.get("id") if isinstance(item, dict) else None


def _ref(item: object, role: str) -> object:
    return item.get(role) if isinstance(item, dict) else None
