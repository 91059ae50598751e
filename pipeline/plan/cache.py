"""The render cache: content-addressed files, so concurrency, sharding and merging need no coordination.

    <cache>/<key[:2]>/<key>.png    the render (lossless PNG)
    <cache>/<key[:2]>/<key>.json   its record, written last: the entry exists once both do
    <cache>/.locks/<key>.lock      flock held while one process renders that key
    <cache>/.locks/<name>.lock     flock held while the lock file is read, changed and written
    <cache>/.locks/workers/        one flocked file per `make -jN` worker rendering now (pipeline.workers)
    <cache>/.memo.json             image hashes, record summaries and checked images, by (size, mtime)
    <cache>/variants/              web image variants of the site (pipeline.variants)
    <cache>/.site/<hash>.json      what the last site build into a folder read and wrote (pipeline.sitestate)
    <cache>/try-it/                the try-it page's style vectors and sized network (pipeline.site.tryit)

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

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# Temp files of atomic writes look like `.<name>.<random>.tmp` (see fsutil.atomic_writer).
TMP_RE = re.compile(r"^\.(?P<key>[0-9a-f]{64})\.(png|json)\..*\.tmp$")
STALE_TMP_SECONDS = 3600  # prune leaves younger temp files alone: a render may be writing them


class FileLock:
    """An exclusive flock on a file: the OS releases it when the process dies, even by kill -9."""

    def __init__(self, path: Path, what: str = "", announce: bool = True):
        self.path = Path(path)
        self.what = what
        self.announce = announce  # False for locks held for milliseconds: waiting is no news
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; when another process holds it, say so and wait (or return False)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not blocking:
                os.close(fd)
                return False
            what = f" ({self.what})" if self.what else ""
            if self.announce:
                print(f"another render holds {self.path}{what}; waiting...", file=sys.stderr,
                      flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Memo:
    """What earlier runs learned about files unchanged since, keyed by (size, mtime_ns): image
    hashes and record summaries. It spares each process of a no-op `make gallery` from hashing
    every image and parsing every record again. Losing it, or a race between two writers, only
    costs time: the next plan recomputes what is missing."""

    VERSION = 1

    def __init__(self, path: Path):
        self.path = path
        self.changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ok = isinstance(data, dict) and data.get("version") == self.VERSION
        except (OSError, ValueError):
            ok = False
        self.data: dict[str, dict[str, list]] = data if ok else {"version": self.VERSION}

    def get(self, section: str, name: str, st: os.stat_result) -> Any:
        hit = self.data.get(section, {}).get(name)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        return None

    def put(self, section: str, name: str, st: os.stat_result, value: Any) -> None:
        self.data.setdefault(section, {})[name] = [st.st_size, st.st_mtime_ns, value]
        self.changed = True

    def save(self) -> None:
        if self.changed:
            with contextlib.suppress(OSError):  # a read-only cache still plans, just slower
                write_text_atomic(self.path, json.dumps(self.data, sort_keys=True, separators=(",", ":")))
            self.changed = False


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
            self._memo = Memo(self.root / ".memo.json")
        return self._memo

    def file_sha256(self, path: Path) -> str:
        """sha256 of a file (an input image), hashed once per (path, size, mtime) across runs."""
        from pipeline.manifest.weights import file_sha256

        name = str(Path(path).resolve())
        st = os.stat(name)
        sha = self.memo.get("files", name, st)
        if sha is None:
            sha = file_sha256(name)
            self.memo.put("files", name, st, sha)
        return sha

    # ---- layout
    def image_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.png"

    def record_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def lock_dir(self) -> Path:
        return self.root / ".locks"

    def cell_lock(self, key: str, what: str = "") -> FileLock:
        return FileLock(self.lock_dir() / f"{key}.lock", what)

    # ---- reading
    def read_record(self, key: str) -> dict[str, Any] | None:
        """The entry's record, or None when the entry is incomplete or corrupt (so: not cached)."""
        if key not in self._records:
            self._records[key] = self._read_record(key)
        return self._records[key]

    def _read_record(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self.record_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        return record

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
        self.memo.data.get("records", {}).pop(key, None)

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

    def delete(self, key: str, files: list[Path], drop_lock: bool = True) -> bool:
        """Delete an entry's files, record first (so it stops counting as cached), unless it is being rendered."""
        lock = self.cell_lock(key)
        if not lock.acquire(blocking=False):
            return False
        try:
            for p in sorted(files, key=lambda p: p.suffix != ".json"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self.forget(key)
            if drop_lock:
                with contextlib.suppress(FileNotFoundError):
                    lock.path.unlink()
        finally:
            lock.release()
        return True


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
