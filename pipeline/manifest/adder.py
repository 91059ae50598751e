"""`add`: put an image (a file, a folder of them, or an https url) into the gallery.

Why a command: adding an image by hand meant copying it, running `sha256sum`, inventing an id
and typing a YAML entry without a typo. Here the image is checked (it must decode), copied or
downloaded next to the manifest, hashed, given an id from its file name, and appended to
`contents:` or `styles:` keeping the manifest's comments and layout (pipeline.manifest.yaml_edit).

Where files go (relative to the manifest):
- a url is downloaded to `images/<role>/` (git-ignored: anyone can fetch it again from the url,
  pinned by its sha256), the entry gets `url` and `sha256`;
- a local file is copied to `my-images/<role>/` (OWN_FOLDER: committed with the manifest, so
  the Pages workflow has it: an image without a url exists nowhere else), unless it is already
  in the manifest's folder outside `images/`, where it stays.

Nothing is written unless everything is good: each image is checked in a temporary folder, each
value as the reader checks it, and the new manifest validated, before an image is copied into
place; the manifest is replaced last, and the copies are removed again if that fails.

Two `add`s at once, or an editor saving meanwhile, lose no entry: the manifest's read-modify-write
is pipeline.manifest.rewrite's (locked, replaced only while it holds the bytes that were read).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.images import ImageLoadError, load_rgb
from pipeline.core.model import Gallery
from pipeline.manifest.fields import ENTRY_FIELDS, ID_MAX, slug, value_problem
from pipeline.manifest.rewrite import Edit, load_for_edit, refused, remove_created, rewrite_manifest
from pipeline.manifest.sources import SourceError, download
from pipeline.manifest.yaml_edit import append_entries, entry_lines
from pipeline.util import safepath
from pipeline.util.errors import GalleryError, quote
from pipeline.util.files import atomic_writer
from pipeline.util.hashing import file_sha256

log = logging.getLogger(__name__)

OWN_FOLDER = "my-images"  # images without a url: committed (see README, "Publish on GitHub Pages")
FETCHED_FOLDER = "images"  # images with a url: git-ignored, fetched again from the url
LFS_HINT_BYTES = 10 * 1024 * 1024  # above this, suggest Git LFS for a committed image
_FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
                  "GIF": ".gif", "AVIF": ".avif", "MPO": ".jpg"}
_OPTIONS = ("id", "title", "credit", "link")


@dataclass
class Added:
    """One entry `add` appended (or found already there), for the CLI's report."""

    role: str
    id: str
    title: str
    file: Path  # absolute
    size: tuple[int, int]
    sha256: str
    url: str = ""
    credit: str = ""
    link: str = ""
    line: int = 0  # of the entry in the new manifest
    copied_from: str = ""  # what was copied or downloaded; "" when the file stayed in place
    already: str = ""  # the id of an existing entry with the same image: nothing was added
    source: str = ""  # the file or url as given (quoted if it holds a line break or a non-UTF-8 byte)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Staged:
    """One image checked before the manifest is touched: `path` is what will be put in place
    (a copy or a download in the temporary folder, or the file itself when it stays)."""

    source: str
    url: str
    path: Path
    name: str  # the file name the id, title and suffix come from
    size: tuple[int, int]
    sha256: str
    stays: bool


def add_images(manifest: Path, role: str, sources: list[str], *, id: str | None = None,
               title: str | None = None, credit: str = "", link: str = "") -> list[Added]:
    """Add each source (file, folder of images, or https url) as a `role` ("content"/"style")
    entry of `manifest`; return what was added. Raises GalleryError naming the source and the fix.

    Nothing is written unless every source is a readable image and the new manifest validates.
    """
    try:
        return _add(Path(manifest), role, sources, id, title, credit, link)
    except GalleryError as e:
        raise refused(e) from None


def _add(manifest: Path, role: str, sources: list[str], id: str | None, title: str | None,
         credit: str, link: str) -> list[Added]:
    if role not in ("content", "style"):
        raise GalleryError(f"add: the first word is 'content' or 'style', not {role!r}")
    load_for_edit(manifest, "add")  # a broken manifest is reported before anything is downloaded
    given = dict(zip(_OPTIONS, (id, title, credit, link)))
    for key, value in given.items():
        problem = value_problem(ENTRY_FIELDS[key].kind, key, value) if value else None
        if problem:
            raise GalleryError(f"add: --{key}: {problem}")
    root = Path(os.path.abspath(manifest)).parent  # what the reader resolves the manifest's paths against
    files = [f for source in sources for f in _expand(source)]
    if not files:
        raise GalleryError("add: name at least one image file, folder or https:// url")
    if len(files) > 1 and (id or title or link):
        raise GalleryError(f"add: --id, --title and --link describe one image, and {len(files)} were "
                           f"given; add them one at a time to set these, or leave them out")
    work = Path(tempfile.mkdtemp(prefix=".add-", dir=root))
    try:
        staged = [_stage(source, n, root, work) for n, source in enumerate(files)]
        return rewrite_manifest(manifest, "add", lambda text, gallery: _edit(text, gallery, role, staged,
                                                                             root, given))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _edit(text: str, gallery: Gallery, role: str, staged: list[_Staged], root: Path,
          given: dict) -> Edit[list[Added]]:
    """The manifest's text with the new entries appended (None when every image is there already)."""
    added = _entries(gallery, role, staged, root, given)
    new = [a for a in added if not a.already]
    if not new:
        return Edit(None, added)
    new_text = append_entries(text, role, [_entry_dict(a, root) for a in new])
    lines = entry_lines(new_text, role)
    for a in new:
        a.line = lines.get(a.id, 0)
    return Edit(new_text, added, place=lambda: _put_in_place(new, staged))


def _expand(source: str) -> list[str]:
    """A folder becomes its image files (sorted, not recursive); anything else stays as given."""
    if "://" in source:
        return [source]
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in safepath.IMAGE_SUFFIXES and not p.name.startswith("."))
        if not found:
            raise GalleryError(f"add: {_say(source)} holds no image files ({', '.join(sorted(safepath.IMAGE_SUFFIXES))})")
        return found
    if not path.exists():
        raise GalleryError(f"add: {_say(source)}: no such file or folder (an address must start with https://)")
    if not path.is_file():  # a FIFO would block the reader forever, a device never end
        raise GalleryError(f"add: {_say(source)}: not a regular file (a FIFO, device or socket is never read): "
                           f"name an image file")
    return [str(path)]


def _stage(source: str, n: int, root: Path, work: Path) -> _Staged:
    """Check one image in the temporary folder `work`: a download or a copy lands there first,
    so what is checked is what will be put in place."""
    url = ""
    if "://" in source:
        url = source
        if not url.startswith("https://"):
            raise GalleryError(f"add: {_say(source)}: only https:// addresses are downloaded")
        problem = value_problem("https", "url", url)
        if problem:
            raise GalleryError(f"add: {problem}")
        name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "image"
        path = work / f"{n}-download"

        try:
            download(url, path, sha256="")
        except SourceError as e:
            raise GalleryError(f"add: cannot download {_say(url)}: {e}") from None
        stays = False
    else:
        original = Path(source).expanduser().resolve()
        name, stays = original.name, _stays(original, root)
        path = root / original.relative_to(safepath.real(root)) if stays else original
        if not stays:
            path = work / f"{n}-copy"
            try:
                shutil.copyfile(original, path)
            except (OSError, shutil.SpecialFileError) as e:
                raise GalleryError(f"add: {_say(source)}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    try:
        im = load_rgb(path)
    except ImageLoadError as e:
        raise GalleryError(f"add: {_say(source)}: {e}") from None
    return _Staged(source, url, path, name, im.size, file_sha256(path), stays)


def _entries(gallery: Gallery, role: str, staged: list[_Staged], root: Path, given: dict) -> list[Added]:
    """The entries for `staged` in this gallery: ids, titles and file names that are free, or the
    existing entry of an image that is there already. Raises GalleryError for a value that the
    manifest could not hold (a title made from a file name with a line break)."""
    taken = {e.id for e in gallery.contents + gallery.styles}
    known = {(e.sha256 or _sha_or_empty(e.file)): e.id for e in gallery.contents + gallery.styles
             if e.role == role}
    out = []
    for s in staged:
        if s.sha256 in known:
            out.append(Added(role, known[s.sha256], "", s.path, s.size, s.sha256, s.url,
                             already=known[s.sha256], source=_say(s.source)))
            continue
        stem = Path(s.name).stem
        if given["id"] in taken:
            raise GalleryError(f"add: --id {given['id']}: an entry with this id exists already (ids are "
                               f"unique across contents and styles); choose another")
        entry_id = given["id"] or _unique(slug(stem, "image"), taken)
        title = given["title"] or _title(stem)
        problem = None if given["title"] else value_problem("nonempty", "title", title)
        if problem:
            raise GalleryError(f"add: {_say(s.source)}: the title made from its file name, {quote(title)}, "
                               f"cannot be used: {problem}; give a title with --title, or rename the file")
        suffix = Path(s.name).suffix.lower()
        if suffix not in safepath.IMAGE_SUFFIXES:
            suffix = _FORMAT_SUFFIX.get(_format_of(s.path), ".png")
        a = Added(role, entry_id, title, s.path, s.size, s.sha256, s.url, given["credit"] or "",
                  given["link"] or "", copied_from="" if s.stays else _say(s.source), source=_say(s.source))
        if s.url:
            a.file = _free_name(root / FETCHED_FOLDER / role, entry_id, suffix, s.sha256)
        elif not s.stays:
            a.file = _free_name(root / OWN_FOLDER / role, slug(stem, "image"), suffix, s.sha256)
            if s.path.stat().st_size > LFS_HINT_BYTES:
                a.notes.append(f"{s.path.stat().st_size / 1e6:.0f} MB: consider Git LFS for {OWN_FOLDER}/ "
                               f"(`git lfs track '{_rel(root / OWN_FOLDER, root)}/**'`), or a smaller copy")
        taken.add(entry_id)
        known[s.sha256] = entry_id
        out.append(a)
    return out


def _stays(path: Path, root: Path) -> bool:
    """A local file already under the manifest's folder stays where it is, unless it is in the
    git-ignored download folder (then it would never reach the published site)."""
    try:
        rel = path.relative_to(safepath.real(root))
    except ValueError:
        return False
    return rel.parts[0] != FETCHED_FOLDER


def _free_name(folder: Path, stem: str, suffix: str, sha: str) -> Path:
    """folder/stem.suffix, or stem-2.suffix ... when another image has that name already."""
    n = 1
    while True:
        candidate = folder / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"
        if not candidate.exists() or _sha_or_empty(candidate) == sha:
            return candidate
        n += 1


def _put_in_place(new: list[Added], staged: list[_Staged]) -> list[Path]:
    """Copy each new entry's checked image to its place; return what was created (files, then
    the folders made for them), so that a failure after this can remove it again."""
    by_sha = {s.sha256: s for s in staged}
    created: list[Path] = []
    try:
        for a in new:
            if not a.copied_from or a.file.exists():
                continue
            folders = [p for p in (a.file.parent, *a.file.parent.parents) if not p.exists()]
            a.file.parent.mkdir(parents=True, exist_ok=True)
            created += folders
            with atomic_writer(a.file, "wb") as out, open(by_sha[a.sha256].path, "rb") as f:
                shutil.copyfileobj(f, out)
            created.append(a.file)
    except BaseException:
        remove_created(created)
        raise
    return created


def _entry_dict(a: Added, root: Path) -> dict[str, Any]:
    d: dict[str, Any] = {"id": a.id, "title": a.title}
    if a.credit:
        d["credit"] = a.credit
    if a.link:
        d["link"] = a.link
    d["file"] = _rel(a.file, root)
    if a.url:
        d["url"] = a.url
    d["sha256"] = a.sha256
    return d


# ---- names

def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name[:ID_MAX - 4]}-{n}" in taken:
        n += 1
    return f"{name[:ID_MAX - 4]}-{n}"


def _title(stem: str) -> str:
    """'the_great-wave' -> 'The great wave': a readable first guess, to be edited."""
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else stem


def _format_of(path: Path) -> str:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.format or ""
    except OSError:
        return ""


def _sha_or_empty(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""


def _say(source: str) -> str:
    """A file name or url for a message: as given, or quoted when it holds a line break or a byte
    that is not text, so that it cannot break or forge the lines around it."""
    return source if source.isprintable() else repr(source)


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")
