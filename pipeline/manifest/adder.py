"""`add`: put an image (a file, a folder of them, or an https url) into the gallery.

Why a command: adding an image by hand meant copying it, running `sha256sum`, inventing an id
and typing a YAML entry without a typo. Here the image is checked (it must decode), copied or
downloaded next to the manifest, hashed, given an id from its file name, and appended to
`contents:` or `styles:` with ruamel.yaml's round trip, so the manifest keeps its comments,
blank lines and layout; the result is validated before it replaces the manifest.

Where files go (relative to the manifest):
- a url is downloaded to `images/<role>/` (git-ignored: anyone can fetch it again from the url,
  pinned by its sha256), the entry gets `url` and `sha256`;
- a local file is copied to `my-images/<role>/` (OWN_FOLDER: committed with the manifest, so
  the Pages workflow has it: an image without a url exists nowhere else), unless it is already
  in the manifest's folder outside `images/`, where it stays.
"""
from __future__ import annotations

import copy
import io
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.manifest.images import ImageLoadError, load_rgb
from pipeline.manifest.fields import ID_MAX, slug, text_problem
from pipeline.manifest.reader import load_gallery
from pipeline.util.errors import GalleryError, ManifestError
from pipeline.util.files import file_sha256, write_text_atomic

log = logging.getLogger(__name__)

OWN_FOLDER = "my-images"  # images without a url: committed (see README, "Publish on GitHub Pages")
FETCHED_FOLDER = "images"  # images with a url: git-ignored, fetched again from the url
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif"}
LFS_HINT_BYTES = 10 * 1024 * 1024  # above this, suggest Git LFS for a committed image
_FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
                  "GIF": ".gif", "AVIF": ".avif", "MPO": ".jpg"}


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
    notes: list[str] = field(default_factory=list)


def add_images(manifest: Path, role: str, sources: list[str], *, id: str | None = None,
               title: str | None = None, credit: str = "", link: str = "") -> list[Added]:
    """Add each source (file, folder of images, or https url) as a `role` ("content"/"style")
    entry of `manifest`; return what was added. Raises GalleryError naming the source and the fix.

    Nothing is written unless every source is a readable image and the new manifest validates.
    """
    if role not in ("content", "style"):
        raise GalleryError(f"add: the first word is 'content' or 'style', not {role!r}")
    manifest = Path(manifest)
    try:
        gallery = load_gallery(manifest, check_files=False)
    except ManifestError as e:
        raise GalleryError(f"{e}\nadd: fix these first, then add the image again") from None
    root = manifest.resolve().parent
    files: list[str] = []
    for source in sources:
        files += _expand(source)
    if not files:
        raise GalleryError("add: name at least one image file, folder or https:// url")
    if len(files) > 1 and (id or title or link):
        raise GalleryError(f"add: --id, --title and --link describe one image, and {len(files)} were "
                           f"given; add them one at a time to set these, or leave them out")

    taken = {e.id for e in gallery.contents + gallery.styles}
    known = {(e.sha256 or _sha_or_empty(e.file)): e.id for e in gallery.contents + gallery.styles
             if e.role == role}
    staged: list[tuple[Added, Path | None]] = []  # (entry, temp file to move into place)
    work = Path(tempfile.mkdtemp(prefix=".add-", dir=root))
    try:
        for source in files:
            added, temp = _prepare(source, role, root, work, taken, known, id, title, credit, link)
            staged.append((added, temp))
            if not added.already:
                taken.add(added.id)
                known[added.sha256] = added.id
        new = [a for a, _ in staged if not a.already]
        if new:
            text = manifest.read_text(encoding="utf-8")
            new_text = append_entries(text, role, [_entry_dict(a, root) for a in new])
            _move_into_place(staged)
            _check_new_manifest(manifest, new_text, new)
            write_text_atomic(manifest, new_text)
            lines = _entry_lines(new_text, role)
            for a in new:
                a.line = lines.get(a.id, 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [a for a, _ in staged]


def _expand(source: str) -> list[str]:
    """A folder becomes its image files (sorted, not recursive); anything else stays as given."""
    if "://" in source:
        return [source]
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not found:
            raise GalleryError(f"add: {source} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return found
    if not path.exists():
        raise GalleryError(f"add: {source}: no such file or folder (an address must start with https://)")
    return [str(path)]


def _prepare(source: str, role: str, root: Path, work: Path, taken: set[str], known: dict[str, str],
             id: str | None, title: str | None, credit: str, link: str) -> tuple[Added, Path | None]:
    """Check one image and decide its id, title and place; the file is staged in `work`."""
    url = ""
    if "://" in source:
        url = source
        if not url.startswith("https://"):
            raise GalleryError(f"add: {source}: only https:// addresses are downloaded")
        name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "image"
        temp = work / f"{len(list(work.iterdir()))}-download"
        from pipeline.manifest.sources import SourceError, download

        try:
            download(url, temp, sha256="")
        except SourceError as e:
            raise GalleryError(f"add: cannot download {url}: {e}") from None
        path = temp
    else:
        path = Path(source).expanduser().resolve()
        name = path.name
        temp = None
    try:
        im = load_rgb(path)
    except ImageLoadError as e:
        raise GalleryError(f"add: {source}: {e}") from None
    sha = file_sha256(path)
    stem = Path(name).stem
    if sha in known:
        return Added(role, known[sha], "", path, im.size, sha, url, already=known[sha]), None
    entry_id = id or _unique(slug(stem, "image"), taken)
    if id:
        problem = text_problem("id", "id", id)
        if problem:
            raise GalleryError(f"add: --id: {problem}")
        if id in taken:
            raise GalleryError(f"add: --id {id}: an entry with this id exists already (ids are unique "
                               f"across contents and styles); choose another")
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        suffix = _FORMAT_SUFFIX.get(_format_of(path), ".png")
    added = Added(role, entry_id, title or _title(stem), path, im.size, sha, url, credit, link,
                  copied_from=source if (url or not _stays(path, root)) else "")
    if url:
        added.file = _free_name(root / FETCHED_FOLDER / role, entry_id, suffix, sha)
    elif added.copied_from:
        added.file = _free_name(root / OWN_FOLDER / role, slug(stem, "image"), suffix, sha)
        size = path.stat().st_size
        if size > LFS_HINT_BYTES:
            added.notes.append(f"{size / 1e6:.0f} MB: consider Git LFS for {OWN_FOLDER}/ "
                               f"(`git lfs track '{_rel(root / OWN_FOLDER, root)}/**'`), or a smaller copy")
    return added, (temp if url else (path if added.copied_from else None))


def _stays(path: Path, root: Path) -> bool:
    """A local file already under the manifest's folder stays where it is, unless it is in the
    git-ignored download folder (then it would never reach the published site)."""
    try:
        rel = path.relative_to(root)
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


def _move_into_place(staged: list[tuple[Added, Path | None]]) -> None:
    for added, source in staged:
        if added.already or source is None or added.file.exists():
            continue
        added.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = added.file.with_name(f".{added.file.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, added.file)


def _check_new_manifest(manifest: Path, text: str, new: list[Added]) -> None:
    """The new text must validate as a whole (a bug here must not break the user's manifest)."""
    probe = manifest.with_name(f".{manifest.name}.add-check")
    try:
        probe.write_text(text, encoding="utf-8")
        load_gallery(probe, check_files=False)
    except ManifestError as e:
        raise GalleryError(f"add: the manifest with the new entries would not validate, so it was "
                           f"left as it was:\n{e}") from None
    finally:
        probe.unlink(missing_ok=True)


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


# ---- the round trip

def append_entries(text: str, role: str, entries: list[dict[str, Any]]) -> str:
    """`text` with `entries` appended to its `contents:` or `styles:` list, everything else as it was.

    ruamel.yaml keeps comments and key order; the indentation is the file's own (guessed), and
    the comment or blank lines that followed the list's last entry move below the new ones, so
    an entry never lands under a trailing comment such as a commented-out `exclude:` example.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.util import load_yaml_guess_indent

    _, seq_indent, offset = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long url or credit onto two lines
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 4, offset=offset or 2)
    data = yaml.load(text)
    key = role + "s"
    items = data.get(key)
    if items is None:
        items = data[key] = CommentedSeq()
    for entry in entries:
        new = CommentedMap(entry)
        if items:
            _move_trailing_comment(items[-1], new)
        items.append(new)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _mapping_indent(text: str) -> int:
    """The indentation of nested mappings (`site:`'s keys), 2 when the file has none."""
    m = re.search(r"^[A-Za-z_][\w-]*:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*( +)[A-Za-z_][\w-]*:", text, re.M)
    return len(m.group(1)) if m else 2


def _move_trailing_comment(old: Any, new: Any) -> None:
    from ruamel.yaml.comments import CommentedMap

    container, key = _last_slot(old)
    if container is None:
        return
    slot = container.ca.items.get(key)
    if not slot or len(slot) < 3 or slot[2] is None:
        return
    token = slot[2]
    own, _, rest = token.value.partition("\n")  # the end-of-line comment stays with its value
    if not rest:
        return
    if own.strip():
        kept = copy.copy(token)
        kept.value = own + "\n"
        slot[2] = kept
    else:
        slot[2] = None
    moved = copy.copy(token)
    moved.value = "\n" + rest
    last = list(new)[-1] if isinstance(new, CommentedMap) else None
    if last is not None:
        new.ca.items[last] = [None, None, moved, None]


def _last_slot(node: Any) -> tuple[Any, Any]:
    """(mapping or list, key) of the last scalar in `node`: where a trailing comment hangs."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while True:
        if isinstance(node, CommentedMap) and node:
            key = list(node)[-1]
        elif isinstance(node, CommentedSeq) and node:
            key = len(node) - 1
        else:
            return None, None
        value = node[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and value:
            node = value
            continue
        return node, key


def _entry_lines(text: str, role: str) -> dict[str, int]:
    """id -> line of its entry in `text`, for the report."""
    from ruamel.yaml import YAML

    data = YAML().load(text)
    return {e["id"]: e.lc.line + 1 for e in data.get(role + "s") or [] if hasattr(e, "lc")}


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


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")
