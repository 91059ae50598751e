"""Every sha256 the pipeline takes, in one place: of bytes, of a file (as it is now, or memoised
by its identity within a process), of a stream as it is read, and of a value's canonical JSON
(the one way a value becomes a key: render keys, web-image keys, site fingerprints), so two
places can never hash the same thing differently."""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

CHUNK = 1 << 20  # files are read 1 MiB at a time


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_hasher():
    """An incremental sha256 (update(chunk), then hexdigest()) for data hashed as it streams."""
    return hashlib.sha256()


def file_sha256_now(path: str | os.PathLike) -> str:
    """Hex sha256 of a file as it is now, read in chunks (no memo: a render just written, a cache
    entry being checked)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _file_sha256_of(path: str, size: int, mtime_ns: int, ino: int, ctime_ns: int) -> str:
    return file_sha256_now(path)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, memoised by (path, size, mtime, inode, ctime) so that repeated plans
    in one process hash once, and a file swapped for another of the same size and mtime is
    hashed again. (util/memo.py remembers hashes across runs.)"""
    st = Path(path).stat()
    return _file_sha256_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def canonical_json(obj: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII, no NaN; floats as Python's repr.
    `default` turns values JSON has no type for into plain ones (as json.dumps's)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=default).encode("ascii")


def json_sha256(obj: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Hex sha256 of the canonical JSON of `obj`."""
    return bytes_sha256(canonical_json(obj, default))
