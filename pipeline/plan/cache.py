"""The render cache: content-addressed files, so concurrency, sharding and merging need no coordination.

    <cache>/<key[:2]>/<key>.png    the render (lossless PNG)
    <cache>/<key[:2]>/<key>.json   its record, written last: the entry exists once both do
    <cache>/.mutexes/<key>.mutex   held (flock) while one process renders that key
    <cache>/.mutexes/<name>.mutex  held while the lock file (gallery.lock.json) is read, changed, written
    <cache>/.mutexes/workers/      one worker slot per render process running now (render/threads.py)
    <cache>/.memo.json             image hashes, record summaries and checked images, by (size, mtime)
    <cache>/variants/              web image variants of the site (site/web_images.py)
    <cache>/.site/<hash>.json      what the last site build into a folder read and wrote (site/state.py)
    <cache>/try-it/                the try-it page's style vectors and sized network (site/tryit.py)

Torch-free: the plan reads it for every cell of a fully cached gallery.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.util.files import write_text_atomic
from pipeline.util.memo import MEMO_FILE, Memo
from pipeline.util.mutex import Mutex

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# Temp files of atomic writes look like `.<name>.<random>.tmp` (see fsutil.atomic_writer).
TMP_RE = re.compile(r"^\.(?P<key>[0-9a-f]{64})\.(png|json)\..*\.tmp$")
STALE_TMP_SECONDS = 3600  # prune leaves younger temp files alone: a render may be writing them


def final_threads(record: dict[str, Any]) -> int | None:
    """The CPU threads a render ended with (under `make -jN` a worker gains threads late):
    the count that ran its top level, where nearly all of its time goes."""
    changes = record.get("thread_changes") or []
    threads = changes[-1].get("threads") if changes else record.get("threads")
    return threads if isinstance(threads, int) and threads > 0 else None


class Cache:
    """One cache folder. Records read here are memoised for the life of the object (one plan)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._records: dict[str, dict[str, Any] | None] = {}
        self._memo: Memo | None = None

    @property
    def memo(self) -> Memo:
        if self._memo is None:
            self._memo = Memo(self.root / MEMO_FILE)
        return self._memo

    def file_sha256(self, path: Path) -> str:
        """sha256 of a file (an input image), hashed once per (path, size, mtime) across runs."""
        return self.memo.file_sha256(path)

    # ---- layout
    def image_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.png"

    def record_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def mutex_dir(self) -> Path:
        return self.root / ".mutexes"

    def cell_mutex(self, key: str, what: str = "") -> Mutex:
        return Mutex(self.mutex_dir() / f"{key}.mutex", what)

    # ---- reading
    def read_record(self, key: str) -> dict[str, Any] | None:
        """The entry's record, or None when the entry is incomplete or corrupt (so: not cached)."""
        if key not in self._records:
            self._records[key] = self._read_record(key)
        return self._records[key]

    def _read_record(self, key: str) -> dict[str, Any] | None:
        return read_record(self.record_path(key), key)

    def summary(self, key: str) -> dict[str, Any] | None:
        """{'seconds', 'device', 'threads'} of a complete entry; None when it is not cached.

        Complete means: the image exists and the record, written last, parses and names the
        key. A record is parsed once; later runs trust the memo while its size and mtime hold.
        """
        try:
            st = self.record_path(key).stat()
            if not self.image_path(key).is_file():
                return None
        except OSError:
            return None
        hit = self.memo.get("record-summaries", key, st)
        if hit is not None:
            return hit
        record = self.read_record(key)
        if record is None:
            return None
        hit = {"seconds": record.get("seconds"), "device": record.get("device"),
               "threads": final_threads(record)}
        self.memo.put("record-summaries", key, st, hit)
        return hit

    def has(self, key: str) -> bool:
        return self.summary(key) is not None

    def forget(self, key: str) -> None:
        """Look again next time (another process may have written or removed the entry)."""
        self._records.pop(key, None)
        self.memo.data.get("record-summaries", {}).pop(key, None)

    # ---- writing
    def store(self, key: str, image: Any, record: dict[str, Any]) -> None:
        """Write the image, then the record: a crash in between leaves an entry that is not cached."""
        from pipeline.manifest.images import save_atomic  # PIL: only a process that renders needs it

        record = dict(record, key=key)
        # when it was made, for the site's feed of new renders (not part of the key)
        record.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        save_atomic(image, self.image_path(key), format="PNG")
        write_text_atomic(self.record_path(key), dumps_record(record))
        self._records[key] = json.loads(dumps_record(record))

    def clean_partial(self, key: str) -> None:
        """Remove what a killed render of `key` left behind (call while holding its cell lock)."""
        folder = self.root / key[:2]
        if not folder.is_dir():
            return
        for p in folder.glob(f".{key}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        if not self.has(key):
            with contextlib.suppress(FileNotFoundError):
                self.image_path(key).unlink()

    # ---- listing and pruning
    def entries(self) -> dict[str, list[Path]]:
        """Every key found in the cache with its files (complete or not), temp files included."""
        found: dict[str, list[Path]] = {}
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.iterdir()):
            if not (folder.is_dir() and re.fullmatch(r"[0-9a-f]{2}", folder.name)):
                continue
            for p in sorted(folder.iterdir()):
                stem = p.name.split(".")[0]
                m = TMP_RE.match(p.name)
                key = m.group("key") if m else stem
                if KEY_RE.match(key) and (m or p.suffix in (".png", ".json")):
                    found.setdefault(key, []).append(p)
        return found

    def unused(self, keep: set[str]) -> dict[str, list[Path]]:
        """Files of entries whose key is not in `keep`, plus stale temp files of any key."""
        now = time.time()
        result: dict[str, list[Path]] = {}
        for key, files in self.entries().items():
            for p in files:
                is_tmp = p.name.endswith(".tmp")
                if is_tmp:
                    with contextlib.suppress(FileNotFoundError):
                        if now - p.stat().st_mtime < STALE_TMP_SECONDS:
                            continue
                if key not in keep or is_tmp:
                    result.setdefault(key, []).append(p)
        return result

    def delete(self, key: str, files: list[Path], drop_mutex: bool = True) -> bool:
        """Delete an entry's files, record first (so it stops counting as cached), unless it is being rendered."""
        lock = self.cell_mutex(key)
        if not lock.acquire(blocking=False):
            return False
        try:
            for p in sorted(files, key=lambda p: p.suffix != ".json"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self.forget(key)
            if drop_mutex:
                with contextlib.suppress(FileNotFoundError):
                    lock.path.unlink()
        finally:
            lock.release()
        return True


def read_record(path: Path, key: str | None = None) -> dict[str, Any] | None:
    """A render record, or None when it is missing, unreadable, not a JSON object, or names
    another key: every reader of records goes through here, so all treat a bad one alike."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or (key is not None and record.get("key") != key):
        return None
    return record


def dumps_record(record: dict[str, Any]) -> str:
    """Records as readable, stable JSON (numbers from numpy or torch become plain numbers)."""
    return json.dumps(record, indent=1, sort_keys=True, default=_plain) + "\n"


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)
