"""Change the manifest file safely: the one read-modify-write that `add`, `remove` and `repin` share.

Under an flock on the manifest, its bytes are read, the command's edit is applied to the text (LF
line endings; the file's CRLF or LF are put back), the new text is validated, the files it needs
are put in place, and the manifest is replaced atomically, only while it still holds the bytes that
were read: if an editor saved it meanwhile, its new text is read and the edit applied to that.
A refused or failed change writes nothing (files put in place are removed again).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, TypeVar

from pipeline.core.model import Gallery
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.yaml_edit import line_ending, with_line_ending
from pipeline.util import safepath
from pipeline.util.errors import GalleryError, ManifestError
from pipeline.util.files import atomic_writer
from pipeline.util.mutex import locked_file

TRIES = 5  # reads of a manifest that another program keeps changing, before giving up

R = TypeVar("R")


@dataclass
class Edit(Generic[R]):
    """What an edit makes of the manifest's text: `text` (None: nothing to write), the command's
    `result`, and `place`, called once the new text validated, which puts the files the new text
    names in place and returns what it created (removed again if the manifest cannot be replaced)."""

    text: str | None
    result: R
    place: Callable[[], list[Path]] = field(default=lambda: [])


class _Changed(Exception):
    """The manifest changed between reading it and replacing it (an editor saved it)."""


def load_for_edit(manifest: Path, command: str, data: bytes | None = None) -> Gallery:
    """The gallery as it is, without looking at image files; a manifest with problems is refused
    with them, since a change on top of it could not be validated."""
    try:
        return load_gallery(manifest, check_files=False, data=data)
    except ManifestError as e:
        raise GalleryError(f"{e}\n{command}: fix these first, then run it again "
                           f"(nothing was written)") from None


def refused(e: GalleryError) -> GalleryError:
    """`e`, saying that nothing was written (once)."""
    return e if "nothing was written" in str(e) else GalleryError(f"{e} (nothing was written)")


def rewrite_manifest(manifest: Path, command: str, edit: Callable[[str, Gallery], Edit[R]]) -> R:
    """Apply `edit(text, gallery)` to the manifest under its lock and return its result.

    `text` has LF line endings; `gallery` is what it holds. Raises GalleryError (naming `command`
    and saying that nothing was written) when the new text would not validate, the file cannot be
    written, or another program keeps changing it.
    """
    try:
        with locked_file(manifest, command):
            for _ in range(TRIES):
                data = manifest.read_bytes()
                text = data.decode("utf-8").replace("\r\n", "\n")
                try:
                    change = edit(text, load_for_edit(manifest, command, data))
                except GalleryError as e:  # the edit refused: say that nothing changed
                    raise refused(e) from None
                if change.text is None:
                    return change.result
                out = with_line_ending(change.text, line_ending(data))
                try:
                    load_gallery(manifest, check_files=False, data=out)
                except ManifestError as e:  # a bug here must not break the user's manifest
                    raise GalleryError(f"{command}: the manifest with this change would not validate, "
                                       f"so it was left as it was (nothing was written):\n{e}") from None
                if manifest.read_bytes() != data:
                    continue
                created = change.place()
                try:
                    _replace_unless_changed(manifest, data, out)
                except BaseException as e:
                    remove_created(created)
                    if isinstance(e, _Changed):
                        continue
                    raise
                return change.result
    except OSError as e:
        raise GalleryError(f"{command}: cannot write {manifest}: {e.strerror or e} "
                           f"(nothing was written)") from None
    raise GalleryError(f"{command}: {manifest} changed while `{command}` ran, {TRIES} times over (is an "
                       f"editor saving it?): nothing was written; save and close it, then run it again")


def _replace_unless_changed(manifest: Path, expected: bytes, data: bytes) -> None:
    """Write `data` over the manifest atomically, unless it no longer holds `expected` (raises
    _Changed): checked once the new file is on disk, just before the rename."""
    with atomic_writer(safepath.real(manifest), "wb") as f:  # through a symlink: the link stays
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        if manifest.read_bytes() != expected:
            raise _Changed()


def remove_created(created: list[Path]) -> None:
    """Undo a `place`: the files, then the folders it made (deepest first) if still empty."""
    for path in sorted(created, key=lambda p: (p.is_dir(), -len(p.parts))):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()
