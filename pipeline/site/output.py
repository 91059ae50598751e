"""Writing the site folder: only into a folder this tool owns (its marker file), each file
atomically and only when its bytes change, never through a symlink below it; then the files no
build produces any more are removed, except what `site.keep` lists, and every removal is named.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pipeline.core.model import Gallery
from pipeline.site.templating import BUILTIN_TEMPLATES
from pipeline.util.errors import GalleryError

MARKER = ".style-gallery-site"
MARKER_TEXT = ("This folder is written by `python -m pipeline build` (style-gallery).\n"
               "Each build deletes the files here that it did not produce.\n")
MB = 1_000_000


@dataclass
class SiteReport:
    """What a build did, for the CLI's summary line and for tests."""

    output: Path
    pages: int = 0
    images: int = 0
    files: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    links_removed: list[str] = field(default_factory=list)  # symbolic links found in the site (also in removed)
    encoded: int = 0  # variant sets encoded now (the rest came from the variants cache)
    bytes: int = 0
    placeholders: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False  # nothing the site reads changed and the output was intact: no page rendered

    def summary(self) -> str:
        return (f"{self.output}: {'up to date, ' if self.up_to_date else ''}"
                f"{self.pages} pages, {self.images} images, {self.bytes / MB:.1f} MB; "
                f"{len(self.written)} files written, {self.unchanged} unchanged, "
                f"{len(self.removed)} removed{named(self.removed)}; {self.encoded} images encoded; "
                f"{self.placeholders} cells not rendered; {self.seconds:.1f} s")


def check_output(out: Path, gallery: Gallery) -> None:
    """Refuse an output folder that is not ours: never delete in a user's directory."""
    real = out.resolve()
    protected = {Path("/"), Path.home().resolve(), Path.cwd().resolve(), gallery.root.resolve(),
                 BUILTIN_TEMPLATES.parent}
    if real in protected or _inside(gallery.path.resolve(), real) or _inside(Path(gallery.cache).resolve(), real):
        raise GalleryError(f"site.output {out} would hold the project, the manifest or the cache: "
                           f"choose a folder of its own, e.g. site/")
    if real.is_file():
        raise GalleryError(f"site.output {out} is a file, not a folder")
    if real.is_dir() and any(real.iterdir()) and not (real / MARKER).is_file():
        raise GalleryError(f"site.output {out} is not empty and has no {MARKER} file, so it was not written "
                           f"by this tool; a build deletes files it did not produce, so it will not touch "
                           f"this folder. Choose another site.output or empty it.")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def kept(rel: str, patterns: Iterable[str]) -> bool:
    """Whether site.keep protects `rel` (a path in the site folder): a pattern ending in / keeps
    a folder and everything in it; * ? [..] match as in the shell."""
    for pattern in patterns:
        if pattern.endswith("/"):
            folder = pattern.rstrip("/")
            parts = rel.split("/")
            if any(fnmatch.fnmatchcase("/".join(parts[:i]), folder) for i in range(1, len(parts) + 1)):
                return True
        elif fnmatch.fnmatchcase(rel, pattern.lstrip("/")):
            return True
    return False


def remove_stale(out: Path, keep: set[str], report: SiteReport, patterns: Iterable[str] = ()) -> None:
    """Delete files this build did not produce (a removed style's pages and images), then empty
    folders; files and folders that `site.keep` lists stay. A symbolic link is always removed
    (never followed), kept or not: served or uploaded, it would publish what it points to."""
    patterns = tuple(patterns)
    links = []
    for dirpath, dirnames, filenames in os.walk(out, topdown=True):
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)  # os.walk lists a link to a folder among the folders
            filenames.append(name)
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(out).as_posix()
            link = path.is_symlink()
            if link or (rel not in keep and not kept(rel, patterns)):
                path.unlink()
                report.removed.append(rel)
                if link:
                    links.append(rel)
    for dirpath, dirnames, filenames in sorted(os.walk(out), key=lambda t: -len(t[0])):
        p = Path(dirpath)
        rel = p.relative_to(out)
        if p != out and ".git" not in rel.parts and not kept(rel.as_posix(), patterns) \
                and not any(p.iterdir()):
            p.rmdir()
    report.removed.sort()
    if links:
        report.links_removed = sorted(links)
        report.warnings.append(
            f"removed {len(links)} symbolic link{'s' if len(links) != 1 else ''}{named(sorted(links), 10)}: "
            "a site holds only real files (a link would publish what it points to); copy a file "
            "there instead of linking it")


def named(removed: list[str], limit: int = 5) -> str:
    """' (a, b, c and 4 more)': what a build removed, named."""
    if not removed:
        return ""
    more = f" and {len(removed) - limit} more" if len(removed) > limit else ""
    return f" ({', '.join(removed[:limit])}{more})"


def warn_unknown_removed(report: SiteReport, previous: dict | None, gallery: Gallery) -> None:
    """Files no earlier build wrote (a user's own, e.g. notes) were removed: say how to keep them."""
    written_before = set((previous or {}).get("files") or {})
    foreign = [rel for rel in report.removed if rel not in written_before and rel not in report.links_removed]
    if foreign:
        report.warnings.append(
            f"removed {len(foreign)} file{'s' if len(foreign) != 1 else ''} that no build wrote"
            f"{named(foreign, 10)}: a build keeps only its own files and those `site: keep:` lists "
            f"in {gallery.path.name} (now: {', '.join(gallery.site.keep) or 'nothing'}); add a "
            "file or folder/ there to keep it")
