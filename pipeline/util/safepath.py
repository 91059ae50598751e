"""Every path that comes from input (a manifest, a cache file, a folder on disk) is derived and checked here.

Why one module: a manifest from someone else's pull request, a file planted in a committed
`renders/`, or a symlink left in `site/` must never make the pipeline read or write outside the
folders it owns. So instead of trusting paths case by case, each stage asks this module:

- `inside` / `first_root`: does a path, after resolving symlinks, lie inside an allowed folder?
- `relative_under`: a path read from a file (an index, a record) is accepted only as a plain
  relative path that stays under its folder after symlinks are resolved.
- `write_problem`: may the pipeline create this file (an image fetched for the manifest)?
- `write_under`: write a file under a folder without ever following a symlink below it.
- `open_below`: open a file under a folder for reading, the same way (what `serve` sends).
"""
from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path, PurePosixPath
from typing import Iterable

from pipeline.util.errors import GalleryError, quote

# The only files the pipeline creates on a manifest's say-so are images (fetched from a mirror or
# a url): a `.pth`, a git hook or a shell profile can never be one of them.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff"})


class UnsafePathError(GalleryError):
    """A path that would lead outside the folder it must stay in; the message names both and the fix."""


def real(path: str | os.PathLike) -> Path:
    """The absolute path with `~` expanded and every symlink resolved (missing parts kept as written)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` resolves (symlinks followed) to `folder` or somewhere below it."""
    p, f = real(path), real(folder)
    return p == f or f in p.parents


def first_root(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> Path | None:
    """The first of `roots` that `path` resolves inside, or None."""
    return next((Path(r) for r in roots if inside(path, r)), None)


def relative_under(root: str | os.PathLike, rel: object, what: str) -> Path:
    """`root/rel` for a relative path read from a file, refused unless it stays under `root`.

    Refused: anything but a non-empty string, an absolute path, `..`, a backslash or NUL, and
    a path that a symlink leads out of `root`.
    """
    if not isinstance(rel, str) or not rel or "\0" in rel or "\\" in rel:
        raise UnsafePathError(f"{what}: {quote(rel)} is not a relative file name")
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or ".." in parts or not parts:
        raise UnsafePathError(f"{what}: {quote(rel)} is not a path inside {root}")
    full = Path(root, *parts)
    if not inside(full, root):
        raise UnsafePathError(f"{what}: {quote(rel)} leads out of {root} through a symbolic link")
    return full


def write_problem(path: str | os.PathLike, root: str | os.PathLike) -> str | None:
    """Why the pipeline must not create `path` (an image it fetches), or None when it may.

    It must resolve inside `root`, have an image suffix, and no part of it below `root` may be
    hidden (`.git/hooks/...`, `.venv/...`): those folders hold code that runs.
    """
    if not inside(path, root):
        return f"it resolves to {real(path)}, outside {real(root)}"
    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        return (f"only image files are fetched (a name ending in "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}), not {Path(path).name!r}")
    rel = real(path).relative_to(real(root))
    if any(part.startswith(".") for part in rel.parts):
        return "a hidden file or folder (a name starting with '.') is never written"
    return None


def write_under(root: str | os.PathLike, rel: str, data: bytes) -> bool:
    """Write `root/rel` atomically unless it already holds `data`; return whether it wrote.

    No symlink below `root` is followed: each folder is opened with O_NOFOLLOW relative to the
    one above it, and the file is written to a temp name there and renamed over the old one (a
    symlink in its place is replaced, not followed). `root` itself may be a symlink.
    """
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise UnsafePathError(f"{rel!r} is not a path inside {root}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        here = Path(root)
        for name in parts[:-1]:
            here = here / name
            inner = _enter(fd, name, here)
            os.close(fd)
            fd = inner
        name = parts[-1]
        if _holds(fd, name, data):
            return False
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]
                os.fsync(out)
            finally:
                os.close(out)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=fd)
            except FileNotFoundError:
                pass
            raise
        return True
    except OSError as e:
        if e.filename is None:  # os.write / fsync (a full disk): name the file being written
            raise OSError(e.errno, e.strerror, str(Path(root, *parts))) from None
        raise
    finally:
        os.close(fd)


def open_below(root: str | os.PathLike | int, parts: Iterable[str]) -> int:
    """A read-only descriptor of root/parts[0]/parts[1]/..., each part opened with O_NOFOLLOW
    relative to the one above it: OSError (ELOOP, ENOTDIR, ENOENT) when a symlink or a missing
    part is met below `root` (a path or an open folder's descriptor, which stays open). The open
    does not block (a FIFO would); the caller checks what kind of file it got."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.dup(root) if isinstance(root, int) else os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts:
            inner = os.open(name, flags, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _enter(fd: int, name: str, path: Path) -> int:
    """Open folder `name` in `fd` without following a symlink (creating it when missing)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        try:
            new = os.open(name, flags, dir_fd=fd)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            new = os.open(name, flags, dir_fd=fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            what = "a symbolic link" if os.path.islink(path) else "not a folder"
            raise UnsafePathError(
                f"{path} is {what}: the build writes only into real folders below the site "
                f"folder and never follows a link out of it; remove {path} and build again") from None
        raise
    return new


def _holds(fd: int, name: str, data: bytes) -> bool:
    """Whether the regular file `name` in `fd` (not a symlink) holds exactly `data`."""
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError:
        return False
    try:
        if os.fstat(f).st_size != len(data):
            return False
        with os.fdopen(os.dup(f), "rb") as stream:
            return stream.read() == data
    finally:
        os.close(f)

