"""See, or refuse, every file this process writes: a Python audit hook (PEP 578).

Why a hook: tests run as root in CI containers, where `chmod -w` stops nothing, so a read-only
cache is simulated by refusing writes under it with EROFS, as a read-only mount would; and the
fuzz tests prove that reading hostile input writes nowhere outside a temp folder. The hook is
installed once (hooks cannot be removed) and does nothing unless a guard is active.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from typing import Iterator

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_active: list["Guard"] = []
_installed = False


class Guard:
    def __init__(self, roots: list[Path], refuse: bool):
        self.roots = [os.path.realpath(r) for r in roots]
        self.refuse = refuse
        self.writes: list[str] = []  # paths written (record mode: outside the roots)

    def covers(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r + os.sep) for r in self.roots)


def _written(event: str, args: tuple) -> list[str]:
    """The paths an audited call writes, creates or removes (absolute; [] for reads)."""
    if event == "open":
        path, mode, flags = args
        if not isinstance(path, (str, bytes, os.PathLike)):
            return []
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
        paths = [path] if writing else []
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.chmod", "os.truncate", "os.utime",
                   "shutil.rmtree", "os.chown"):
        paths = [args[0]]
    elif event in ("os.rename", "os.link", "os.symlink"):
        paths = [args[0], args[1]] if event == "os.rename" else [args[1]]
    else:
        return []
    out = []
    for p in paths:
        if isinstance(p, int):
            continue
        p = os.fsdecode(p)
        if "__pycache__" in p:  # the interpreter caching bytecode, not the code under test
            continue
        out.append(os.path.abspath(p))
    return out


def _hook(event: str, args: tuple) -> None:
    if not _active:
        return
    for path in _written(event, args):
        for guard in _active:
            if guard.refuse and guard.covers(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            if not guard.refuse and not guard.covers(path):
                guard.writes.append(f"{event} {path}")


def _install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


@contextlib.contextmanager
def _guarded(folders: list[Path], refuse: bool) -> Iterator[Guard]:
    _install()
    guard = Guard(folders, refuse=refuse)
    _active.append(guard)
    try:
        yield guard
    finally:
        _active.remove(guard)


def read_only(*folders: Path) -> contextlib.AbstractContextManager[Guard]:
    """Writes under `folders` fail with EROFS, as on a read-only mount."""
    return _guarded(list(folders), refuse=True)


def writes_outside(*allowed: Path) -> contextlib.AbstractContextManager[Guard]:
    """Record every write outside `allowed` in the guard's `writes`."""
    return _guarded(list(allowed), refuse=False)
