"""The manifest's image files: each one in an allowed place, present (or fetched), with its
pinned sha256, decodable and under the pixel limit. Never trust a path read from a file: each
is resolved and checked against the allowed folders first (see pipeline.util.safepath): the
area the user allows (pipeline.manifest.roots), narrowed by the manifest's `image_roots:`.

A mixin of the reader: it reports through `self.problem` and reads `self.root` (the manifest's
folder), `self.image_roots`, `self.output`, `self.memo` and `self.fetch`.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipeline.core.model import ImageEntry
from pipeline.manifest import roots as allowed_roots
from pipeline.manifest.fields import Field
from pipeline.manifest.sources import SourceError
from pipeline.util import safepath
from pipeline.util.errors import quote
from pipeline.util.hashing import file_sha256
from pipeline.util.memo import MEMO_FILE


class ImageFileChecks:
    """Where each image file is, and whether it is the pinned, decodable image."""

    def fetch_file(self, entry: ImageEntry, node: yaml.Node, where: str) -> bool:
        """Put a missing file in place through `self.fetch`; False after reporting why it failed."""

        try:
            self.fetch(entry)
        except SourceError as e:
            message = str(e)
            if message.startswith(f"{entry.id}: "):  # the entry is named by `where` already
                message = message[len(entry.id) + 2:]
            self.problem(node, where, message)
            return False
        return True

    def roots(self, node: yaml.Node | None) -> tuple[Path, ...]:
        """`image_roots:`, one folder or a list of them, each inside the area the user allows
        (a manifest may narrow it, never widen it); that whole area when not given."""
        area = allowed_roots.allowed(self.root)
        if node is None:
            return area
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            self.problem(node, "", "'image_roots' is an empty list: leave it out to keep images beside "
                                   "the manifest, or name the folders that hold them")
        out = []
        for item in items:
            text = self.scalar(item, "", "image_roots", Field("path", "a folder, relative to the manifest"))
            if text is None:
                continue
            folder = self.resolve(text)
            if safepath.first_root(folder, area) is None:
                self.problem(item, "", f"'image_roots' {quote(text)} resolves to {safepath.real(folder)}, outside "
                                       f"{allowed_roots.describe(area)}: a manifest can only narrow where images "
                                       f"may be. Move the images into {self.root}, or, if you trust this "
                                       f"manifest, allow the folder yourself: {allowed_roots.how_to_allow(folder)}")
                continue
            out.append(folder)
        return tuple(out) or area

    def check_place(self, file: Path, written: str, node: yaml.Node, where: str) -> bool:
        """The image resolves inside an allowed folder and outside the site folder; a file that
        is missing (to be fetched) is an image file inside the manifest's folder, not hidden."""
        root = safepath.first_root(file, self.image_roots)
        if root is None:
            area = allowed_roots.allowed(self.root)
            if safepath.first_root(file, area) is not None:  # allowed, but not where `image_roots:` says
                fix = ("move the image into one of them, or add its folder to `image_roots:` (a list of "
                       "folders, relative to the manifest)")
                self.problem(node, where, f"'file' {quote(written)} resolves to {safepath.real(file)}, outside "
                                          f"the folders `image_roots:` names ({', '.join(map(str, self.image_roots))}): {fix}")
            else:
                self.problem(node, where, f"'file' {quote(written)} resolves to {safepath.real(file)}, outside "
                                          f"{allowed_roots.describe(area)}: move the image into {self.root}, or, "
                                          f"if you trust this manifest, allow its folder yourself: "
                                          f"{allowed_roots.how_to_allow(safepath.real(file).parent)}")
            return False
        if self.output is not None and safepath.inside(file, self.output):
            self.problem(node, where, f"'file' {quote(written)} is inside site.output ({self.output}), "
                                      "which every build rewrites (it deletes what it did not write): "
                                      "move the image out of that folder")
            return False
        if not os.path.lexists(file):
            why = safepath.write_problem(file, self.root)
            if why:
                self.problem(node, where, f"'file' {quote(written)} is missing and cannot be fetched: {why} "
                                          f"(images are fetched only into the manifest's folder); put the "
                                          "file there yourself, or point 'file' at an image such as images/NAME.jpg")
                return False
        return True

    def check_file(self, file: Path, written: str, sha256: str | None, has_url: bool,
                   node: yaml.Node, where: str, repin: str = "") -> None:
        """The image file exists, has the pinned sha256, decodes fully and is under the pixel limit.
        `repin`: the command that pins this entry to a file replaced on purpose."""
        if not file.exists():
            fix = ("run `python -m pipeline validate` (without --no-fetch) to fetch it from its url, "
                   "or copy it there" if has_url else
                   "copy the image there, or fix the path (it is relative to the manifest)")
            self.problem(node, where, f"'file' {quote(written)} not found (looked for {file}): {fix}")
            return
        if not file.is_file():  # a folder, or a FIFO that would block the reader
            self.problem(node, where, f"'file' {quote(written)} is not a regular file: point it at an image")
            return
        if sha256:
            try:
                actual = self.memo.file_sha256(file) if self.memo else file_sha256(file)
            except OSError as e:
                self.problem(node, where, f"'file' {quote(written)} cannot be read: {e.strerror}")
                return
            if actual != sha256:
                self.problem(node, where, sha256_mismatch(written, actual, sha256, has_url, repin))
        # Decoding every image takes most of a no-op `make gallery`'s time: a file that decoded
        # fine is not decoded again while its size and mtime hold (the plan trusts them for hashes).
        name, st = str(file), file.stat()
        if self.memo and self.memo.get("decoded", name, st) is not None:
            return
        from pipeline.core.images import MAX_PIXELS, ImageLoadError, load_rgb  # Pillow: only when files are checked

        try:
            im = load_rgb(file, MAX_PIXELS)
        except ImageLoadError as e:
            self.problem(node, where, f"'file' {quote(written)}: {e}")
            return
        if self.memo:
            self.memo.put("decoded", name, st, list(im.size))


def sha256_mismatch(written: str, actual: str, pinned: str, has_url: bool, repin: str = "") -> str:
    """The advice depends on whether another copy exists: without a url, the file on disk may
    be the only one, and deleting it would lose the image."""
    what = f"'file' {quote(written)} has sha256 {actual}, not the pinned 'sha256' {pinned}"
    if has_url:
        return (f"{what}: if you replaced the image on purpose, set 'sha256: {actual}' (and point "
                f"'url' at the new image); otherwise move the file away and run `validate` again "
                f"to download the pinned one from 'url'")
    fix = f"run `{repin}` (or set 'sha256: {actual}')" if repin else f"set 'sha256: {actual}'"
    return (f"{what}: if you changed or replaced the image on purpose, {fix}; "
            f"otherwise restore the original from your own copy. Do not delete it: the entry has "
            f"no 'url', so this file may be the only copy")


def made_by_us(cache: Path) -> bool:
    """Whether `cache` is a render cache the pipeline made (its memo or mutex folder is there):
    validation saves what it learned only there, never into just any folder `cache:` names."""
    return (cache / MEMO_FILE).is_file() or (cache / ".mutexes").is_dir()
