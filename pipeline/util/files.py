"""Atomic file writes (a reader, or a crash, sees the old file or the whole new one, never half)
and paths as messages show them."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

# mkstemp creates files 0600; published files (site/, cache, lock file) should get the usual
# 0644-style mode. Reading the umask means setting it, so do it once at import.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Yield a temp file beside `path`; on success fsync it and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:  # write/fsync on a full disk: say which file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_writer(path, "w") as f:
        f.write(text)


def shown(path: str | os.PathLike) -> str:
    """A path for a message, as the user would type it: relative to the working folder when it is
    inside it, else absolute."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(os.path.abspath(path))
