"""Where image files may be: the manifest's folder, and the folders the user allows outside it.

Why not the manifest's say: a manifest from someone else's pull request could otherwise name
`image_roots: ['/']` and publish any image on the machine. So the area is widened only from
outside the manifest, by whoever runs the command: `--image-root DIR` (any command that reads
the manifest; repeatable) or GALLERY_IMAGE_ROOTS (folders separated by `:`, for make and CI).
The manifest's `image_roots:` can only narrow the area, naming folders inside it. Missing images
are fetched only into the manifest's folder, whatever the area (pipeline.manifest.sources).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import shlex
from pathlib import Path
from typing import Iterable, Iterator

ENV = "GALLERY_IMAGE_ROOTS"
_given: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("image_roots_given", default=())


def _folder(text: str) -> Path:
    """A folder the user named: `~` expanded, relative to the working folder."""
    return Path(os.path.abspath(os.path.expanduser(text)))


@contextlib.contextmanager
def given(folders: Iterable[str]) -> Iterator[None]:
    """The `--image-root` folders of one command, for every manifest it reads meanwhile."""
    token = _given.set(tuple(_folder(f) for f in folders))
    try:
        yield
    finally:
        _given.reset(token)


def user_roots() -> tuple[Path, ...]:
    """The folders the user allows outside the manifest's folder: --image-root, then GALLERY_IMAGE_ROOTS."""
    env = tuple(_folder(f) for f in os.environ.get(ENV, "").split(os.pathsep) if f.strip())
    return _given.get() + env


def allowed(manifest_folder: Path) -> tuple[Path, ...]:
    """Every folder an image of the manifest in `manifest_folder` may be in."""
    return (manifest_folder, *user_roots())


def describe(folders: tuple[Path, ...]) -> str:
    """The allowed area for a message: the manifest's folder, then what the user allowed."""
    first, *more = folders
    return f"the manifest's folder {first}" + (f" or the folders you allowed ({', '.join(map(str, more))})"
                                                 if more else "")


def how_to_allow(folder: Path) -> str:
    """The fix, for someone who trusts the manifest: allow the folder from outside it."""
    q = shlex.quote(str(folder))
    return f"--image-root {q} on the command line, or {ENV}={q} in the environment (e.g. for make)"
