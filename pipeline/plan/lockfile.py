"""gallery.lock.json: what each cell was last rendered from, so that `status` can say why it renders again.

Committed next to the manifest, so it is written deterministically (sorted keys, two-space
indent, trailing newline, no timestamps) and a diff shows exactly which cells changed.

    {
      "cells": {
        "pearl:gogh": {"content": {"id": "pearl", "sha256": "..."}, "key": "...", ...}
      },
      "version": 1
    }
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

from pipeline.plan.records import lock_entry_problem
from pipeline.util import jsonload
from pipeline.util.mutex import Mutex
from pipeline.util.plain import Plain
from pipeline.util.errors import GalleryError, quote
from pipeline.util.files import write_text_atomic

LOCK_VERSION = 1
log = logging.getLogger(__name__)


def cell_name(content_id: str, style_id: str) -> str:
    """Ids are [a-z0-9-]+, so ':' joins them without ambiguity."""
    return f"{content_id}:{style_id}"


def read_lock(path: Path, report: bool = True) -> dict[str, dict[str, Any]]:
    """The lock file's cells ({} when there is none yet); a broken file is a clear error.

    Each cell's entry is checked (pipeline.plan.records): a hand-edited one that is not the
    shape this pipeline writes is ignored with a warning naming the file and the cell, as if
    it were not there; the next render rewrites it. `report=False`: ignore such entries
    silently (a command reads the file again to update it, after its plan has reported them).
    """
    fix = (f"fix it (a merge conflict? keep either side) or delete it: the next "
           f"`make render` rewrites it from the cache")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise GalleryError(f"{path} is a folder, not a lock file: move it away; the next "
                           f"`make render` writes the lock file there") from None
    except UnicodeDecodeError as e:
        raise GalleryError(f"{path}: not UTF-8 text (byte {e.start}); {fix}") from None
    except OSError as e:
        raise GalleryError(f"{path}: cannot read the lock file ({e.strerror or e})") from None
    try:
        data = jsonload.loads(text)
    except ValueError as e:
        raise GalleryError(f"{path}: not valid JSON ({e}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
        raise GalleryError(f"{path}: not a gallery lock file (no \"cells\" mapping); {fix}")
    if data.get("version") != LOCK_VERSION:
        raise GalleryError(f"{path}: lock file version {data.get('version')!r}, this pipeline "
                           f"writes version {LOCK_VERSION}; {fix}")
    cells = {}
    for name, entry in data["cells"].items():
        why = lock_entry_problem(entry)
        if why is None and not _CELL_RE.match(name):
            why = "the cell's name must be CONTENT:STYLE"
        if why is None and name != cell_name(entry["content"]["id"], entry["style"]["id"]):
            why = f"its content and style ids make the cell {cell_name(entry['content']['id'], entry['style']['id'])!r}"
        if why:
            if report:
                log.warning("%s: cell %s: entry ignored (%s); the next `make render` rewrites it",
                            path, quote(name, 60), why)
            continue
        cells[name] = entry
    return cells


_CELL_RE = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+$")


def dumps_lock(cells: dict[str, dict[str, Any]]) -> str:
    text = json.dumps({"cells": cells, "version": LOCK_VERSION}, indent=2, sort_keys=True,
                      ensure_ascii=False)
    return _SCALAR_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                            text) + "\n"


# Lists of numbers on one line ("iterations": [150, 100, 70]): shorter, and still one diff line.
_SCALAR_LIST = re.compile(r"\[\s*((?:-?[0-9.eE+-]+\s*,\s*)*-?[0-9.eE+-]+)\s*\]")


def update_lock(path: Path, guard: Mutex,
                change: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]) -> bool:
    """Read, change and write the lock file under `guard`, so concurrent renders never lose an entry.

    Writes only when the text changes (a no-op run leaves the file and its mtime alone), and
    takes the guard only then: a fully cached gallery works from a read-only cache. Returns
    whether it wrote.
    """
    try:
        old_text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        old_text = None
    except OSError:
        old_text = ""  # read_lock below says what is wrong with it
    if old_text is not None and dumps_lock(change(read_lock(path, report=False))) == old_text:
        return False
    with guard:
        try:
            old_text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            old_text = None
        cells = change(read_lock(path, report=False))
        new_text = dumps_lock(cells)
        if new_text == old_text:
            return False
        write_text_atomic(path, new_text)
        return True


class SiblingLock(Plain):
    """Another manifest's lock file beside this one: the renders it names in the same cache and
    the images (sha256) it shows."""

    path: Path
    keys: frozenset[str]
    images: frozenset[str]


def sibling_locks(lock_path: Path, cache_root: Path) -> list[SiblingLock]:
    """The other lock files beside this manifest that name renders in the same cache.

    Why: a copy of the manifest, or a second gallery in the same folder, often shares the cache;
    pruning for one manifest must not delete the renders (or web images) the other still shows.
    """
    root = Path(cache_root).resolve()
    own = Path(lock_path).resolve()
    found = []
    for lock in sorted(own.parent.glob("*.lock.json")):
        if lock.resolve() == own:
            continue
        try:
            cells = read_lock(lock, report=False)  # its own commands report its damaged entries
        except GalleryError:
            continue  # not ours to judge here; its own manifest's commands say what is wrong
        keys = {e["key"] for e in cells.values()
                if isinstance(e.get("key"), str) and isinstance(e.get("image"), str)
                and (lock.parent / e["image"]).resolve().is_relative_to(root)}
        if keys:
            images = {sha for e in cells.values() for sha in (e["content"]["sha256"], e["style"]["sha256"])}
            found.append(SiblingLock(lock, frozenset(keys), frozenset(images)))
    return found
