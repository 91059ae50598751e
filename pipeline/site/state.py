"""What a site build may skip: the whole build when nothing it reads changed, else each file
whose inputs did not change.

Like a build system, each build leaves a state file: a fingerprint of everything the site
reads, and every file it wrote with its size, mtime, sha256 and recipe (a digest of what its
bytes follow from: a page's template, the data it shows and the code that renders it; a copied
image's source file). The next build

- skips everything when the fingerprint is the same and the output folder still holds exactly
  those files, unedited (a no-op: no page is rendered, Jinja is not even imported);
- else makes only the files whose recipe changed, or whose copy in the output was edited or
  deleted: a title edit renders the pages that show that title, and no other.

What the fingerprint covers: the gallery's fields (site settings, every entry but its line
number, render defaults, exclusions), the resolved base URL, each cell (ids, key, state,
parameters, and the (size, mtime) of its render, record and time-lapse), each source image's (size, mtime),
the encoder settings (with Pillow's version), every file of the template folders (hashed: a user
edits them), the site stage's own source code and the Jinja2 / MarkupSafe installs. Inputs that
would be slow to read (records, images) are tracked by (size, mtime), like the plan's memo.

Output files are trusted by (size, mtime) only when their mtime is well before the moment the
state was taken; a younger one could have been edited within the same timestamp tick ("racily
clean", in git's words), so it is hashed instead. A file whose mtime changed but whose bytes did
not (a `touch`) is hashed too, and the state refreshed.

The state lives in the cache folder (<cache>/.site/<hash of the output path>.json), never in the
output, so that site/ stays byte-identical between builds and machines. Losing it, or a read-only
cache, costs one full build, never a wrong site.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

from pipeline.plan.cache import timelapse_paths
from pipeline.util import jsonload
from pipeline.util.files import write_text_atomic
from pipeline.util.hashing import bytes_sha256, file_sha256_now, json_sha256, sha256_hasher

STATE_VERSION = 2  # files: {relative path: [size, mtime_ns, sha256, recipe]}
# An output file whose mtime is less than this before the state was taken is hashed, not trusted
# by its stat: covers coarse filesystem timestamps (FAT: 2 s) and a little clock skew.
RACY_NS = 2_000_000_000
# Modules whose code decides the pages' bytes: editing one rebuilds the site.
# The code whose change can change the pages' bytes, relative to the package folder.
SITE_MODULES = ("site/*.py", "core/images.py", "core/model.py", "core/params.py", "util/*.py",
                "__init__.py", "render/fast/models.py")  # the last: the try-it page's networks, pinned
# Libraries whose version could change the pages' bytes (found without importing them: ~50 ms).
LIBRARIES = ("jinja2", "markupsafe")


def state_path(cache: Path, out: Path) -> Path:
    """Where the state of the site built into `out` is kept."""
    name = bytes_sha256(str(Path(out).resolve()).encode())[:20]
    return Path(cache) / ".site" / f"{name}.json"


# ---------------------------------------------------------------- the fingerprint

def code_digest(template_dirs: list[Path]) -> str:
    """What renders a page, besides its data: the site's code, Python, Jinja2 and the templates.
    Part of every page's recipe."""
    return json_sha256({"version": STATE_VERSION, "code": _code_hash(), "python": list(sys.version_info[:2]),
                        "libraries": [_library(name) for name in LIBRARIES],
                        "templates": [[str(d), _tree(d)] for d in template_dirs]})


def recipe(value: Any) -> str:
    """A digest of `value` (plain data, dataclasses included): a file's recipe."""
    return json_sha256(value, default=_plain)


def fingerprint(gallery: Any, cells: list, settings: Any, template_dirs: list[Path], base_url: str,
                extras: list = ()) -> str:
    """sha256 over the canonical JSON of everything a build reads (see the module's docstring),
    and which extras it runs (site/extras.py: each by name and the functions on its hooks)."""
    entries = [{**_fields(e, skip=("line",)), "stat": _stat(e.file)}
               for e in (*gallery.contents, *gallery.styles)]
    doc = {
        "code": code_digest(template_dirs),
        "gallery": _fields(gallery, skip=("contents", "styles")),
        "entries": entries,
        "base_url": base_url,
        "encoder": settings.key_dict(),
        "extras": [[e.name, *(f"{fn.__module__}.{fn.__qualname__}" for fn in (e.pages, e.files, e.sizes))]
                   for e in extras],
        "cells": [[c.content.id, c.style.id, c.key, c.state, list(c.reasons), repr(c.params),
                   str(c.image), _stat(c.image), str(c.record), _stat(c.record),
                   *(_stat(p) for p in timelapse_paths(gallery.cache, c.key))] for c in cells],
    }
    return json_sha256(doc, default=_plain)


def _fields(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's fields as plain values: new fields join the fingerprint by themselves."""
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj) if f.name not in skip}


def _plain(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        return _fields(v)
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=repr)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return repr(v)


def _stat(path: Any) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _code_hash() -> str:
    h = sha256_hasher()
    package = Path(__file__).resolve().parent.parent
    for pattern in SITE_MODULES:
        for path in sorted(package.glob(pattern)):
            with contextlib.suppress(OSError):
                h.update(pattern.encode() + path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _library(name: str) -> list[Any]:
    """Where a library is installed and its entry file's (size, mtime): an upgrade changes both."""
    mod = sys.modules.get(name)
    origin = getattr(mod, "__file__", None) if mod else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec else None
    return [name, origin, _stat(origin) if origin else None]


def _tree(folder: Path) -> list[list[str]]:
    """Every file under a template folder with its content hash (they are small: just read them)."""
    out = []
    root = str(folder)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "__pycache__"))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                digest = file_sha256_now(path)
            except OSError:
                digest = "unreadable"
            out.append([os.path.relpath(path, root).replace(os.sep, "/"), digest])
    return out


# ---------------------------------------------------------------- the state file

def load(path: Path, out: Path) -> dict[str, Any] | None:
    try:
        state = jsonload.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(state, dict) and state.get("version") == STATE_VERSION
            and state.get("output") == str(Path(out).resolve()) and isinstance(state.get("files"), dict)):
        return None
    for line in state["files"].values():
        if not (isinstance(line, list) and len(line) == 4 and all(isinstance(x, int) for x in line[:2])
                and all(isinstance(x, str) for x in line[2:])):
            return None  # damaged: one full build
    return state


def save(path: Path, out: Path, fp: str, taken_ns: int, files: dict[str, list], counts: dict[str, int],
         overrides: dict[str, Any] | None = None) -> None:
    """Write the state (best effort: a read-only cache only means the next build is a full one).
    `overrides`: the command line's --size/--preset/--preview the site was built with (also in
    the fingerprint), said plainly for whoever looks."""
    state = {"version": STATE_VERSION, "output": str(Path(out).resolve()), "fingerprint": fp,
             "taken_ns": taken_ns, "counts": counts, "files": files, "overrides": dict(overrides or {})}
    with contextlib.suppress(OSError):
        write_text_atomic(path, json.dumps(state, sort_keys=True, separators=(",", ":")))


def entry(out: Path, rel: str, sha: str, recipe_: str) -> list:
    """A file's line in the state: [size, mtime_ns, sha256, recipe], stat'ed now."""
    st = os.stat(os.path.join(out, rel))
    return [st.st_size, st.st_mtime_ns, sha, recipe_]


class Scan:
    """What the output folder holds against the state: `intact` files (present with the bytes
    the state says), files no build wrote (`extra`), whether an empty folder or a symbolic link
    is there, and the state's files with the mtimes of those that had to be hashed
    (`refreshed`, when any)."""

    def __init__(self) -> None:
        self.intact: set[str] = set()
        self.extra: list[str] = []
        self.empty_folder = False
        self.links = False  # a symbolic link: a build removes every one, kept or not
        self.unreadable = False
        self.refreshed: dict[str, list] | None = None


def scan(out: Path, state: dict[str, Any], kept: Callable[[str], bool] = lambda rel: False) -> Scan:
    """Compare `out` with the state's files (see Scan); `kept` says which files and folders a
    build keeps (site.keep), which are neither extra nor empty."""
    files: dict[str, list] = state["files"]
    trusted_before = int(state.get("taken_ns", 0)) - RACY_NS
    root = str(out)
    cut = len(root) + 1
    result = Scan()
    folders = [root]
    while folders:  # os.walk's view, with fewer calls
        folder = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            result.unreadable = True  # no output folder at all, or an unreadable one
            continue
        if not entries and folder != root and not kept(folder[cut:].replace(os.sep, "/")):
            result.empty_folder = True  # a build would remove it
        for item in entries:
            if item.is_symlink():
                result.links = True  # never followed, never intact
                continue
            if item.is_dir():
                if item.name != ".git":
                    folders.append(item.path)
                continue
            rel = item.path[cut:].replace(os.sep, "/")
            want = files.get(rel)
            if want is None:
                if not kept(rel):
                    result.extra.append(rel)
                continue
            try:
                st = item.stat()
            except OSError:
                continue
            size, mtime, sha = want[:3]
            if st.st_size != size:
                continue
            if st.st_mtime_ns != mtime or mtime >= trusted_before:
                if _sha256(item.path) != sha:
                    continue
                if result.refreshed is None:
                    result.refreshed = dict(files)
                result.refreshed[rel] = [size, st.st_mtime_ns, *want[2:]]
            result.intact.add(rel)
    return result


def check(out: Path, state: dict[str, Any],
          kept: Callable[[str], bool] = lambda rel: False) -> tuple[bool, dict[str, list] | None]:
    """Does `out` hold exactly the state's files, unedited, and no folder or link a build would remove?
    (Files and folders `kept` says a build keeps, such as a CNAME, do not count.)

    Returns (ok, refreshed files) where refreshed is not None when some file had to be hashed
    (racily clean, or touched) and matched: the state is worth saving again with its new stat.
    """
    found = scan(out, state, kept)
    ok = (not found.unreadable and not found.extra and not found.empty_folder and not found.links
          and len(found.intact) == len(state["files"]))
    return ok, (found.refreshed if ok else None)


def _sha256(path: str) -> str | None:
    try:
        return file_sha256_now(path)
    except OSError:
        return None


def now_ns() -> int:
    return time.time_ns()
