"""Rebuild the site when what it is built from changes: `serve`'s watch loop.

Watched (with watchfiles, which asks the operating system rather than polling): the manifest's
folder (the manifest, its images, the lock file), the template folders, the render cache (a
finished render's record, so renders made in another terminal appear), and the folder of any
image kept elsewhere. Ignored: the site folder itself, what the build writes into the cache
(web images, its state file), temp and lock files. A rebuild that changes files tells the open
pages to reload; a broken manifest or template is reported and the last good site stays up.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.util.safepath import IMAGE_SUFFIXES
from pipeline.util.errors import GalleryError

log = logging.getLogger(__name__)

_RECORD = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}\.json")
DEBOUNCE_MS = 300


@dataclass
class Watched:
    """What one watch covers, derived from the gallery as last loaded."""

    roots: list[Path]  # folders handed to watchfiles (recursive)
    output: Path  # the site folder: never a reason to rebuild
    cache: Path  # only finished render records count in here
    images: set[Path] = field(default_factory=set)  # image files kept outside the roots
    manifest: Path | None = None  # in its folder: the manifest, its lock file and image files count
    templates: list[Path] = field(default_factory=list)  # anything in here counts

    def wants(self, path: str) -> bool:
        p = Path(path)
        name = p.name
        if name.startswith(".") or name.endswith((".tmp", ".lock", "~", ".swp")) or "__pycache__" in p.parts:
            return False
        if _inside(p, self.output):
            return False
        if _inside(p, self.cache):
            return bool(_RECORD.fullmatch(p.relative_to(self.cache).as_posix()))
        if any(_inside(p, t) for t in self.templates) or p in self.images:
            return True
        if self.manifest is not None and _inside(p, self.manifest.parent):
            # not any file: a log written beside the manifest must not rebuild the site forever
            return p in (self.manifest, self.manifest.with_suffix(".lock.json")) or \
                p.suffix.lower() in IMAGE_SUFFIXES
        return False


def watched(gallery, template_dirs: list[Path]) -> Watched:
    """The folders and files a rebuild of `gallery` depends on."""
    root = gallery.path.resolve().parent
    output, cache = Path(gallery.site.output).resolve(), Path(gallery.cache).resolve()
    roots = [root, *(d.resolve() for d in template_dirs if d.is_dir())]
    if cache.is_dir() and not _inside(cache, root):
        roots.append(cache)
    images = set()
    for e in (*gallery.contents, *gallery.styles):
        f = Path(e.file).resolve()
        if not any(_inside(f, r) for r in roots) and f.parent.is_dir():
            images.add(f)
            roots.append(f.parent)
    return Watched(_outermost(roots), output, cache, images, gallery.path.resolve(),
                   [d.resolve() for d in template_dirs if d.is_dir()])


def watch_and_rebuild(load: Callable[[], Any], build: Callable[[Any], Any], template_dirs: Callable[[Any], list[Path]],
                      on_rebuilt: Callable[[Any], None], on_error: Callable[[str], None],
                      stop: threading.Event, first=None) -> None:
    """Until `stop` is set: wait for a change that matters, reload the gallery, rebuild, and
    hand the build's report to `on_rebuilt` (or the problem to `on_error`)."""
    import watchfiles

    gallery = first if first is not None else load()
    while not stop.is_set():
        w = watched(gallery, template_dirs(gallery))
        log.debug("watching %s", ", ".join(map(str, w.roots)))
        changed = False
        for changes in watchfiles.watch(*w.roots, watch_filter=lambda _c, p: w.wants(p),
                                        debounce=DEBOUNCE_MS, stop_event=stop, raise_interrupt=False):
            log.debug("changed: %s", sorted(p for _, p in changes))
            try:
                new = load()
                on_rebuilt(build(new))
            except GalleryError as e:
                on_error(str(e))
                continue
            if watched(new, template_dirs(new)) != w:
                gallery, changed = new, True
                break  # an image moved, a template folder was named or dropped: watch anew
            gallery = new
        if not changed:
            return


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _outermost(folders: list[Path]) -> list[Path]:
    """Folders with those inside another left out (watchfiles watches recursively), in order."""
    out: list[Path] = []
    for f in folders:
        if not any(_inside(f, o) for o in out):
            out = [o for o in out if not _inside(o, f)] + [f]
    return out
