"""The render cache: content-addressed files, so concurrency, sharding and merging need no coordination.

    <cache>/<key[:2]>/<key>.png    the render (lossless PNG)
    <cache>/<key[:2]>/<key>.json   its record, written last: the entry exists once both do;
                                   it carries the PNG's sha256 and size, checked when used
    <cache>/<key[:2]>/<key>.webp   its time-lapse (animated), when the engine recorded one, and
    <cache>/<key[:2]>/<key>.still.webp  the same in one still picture: part of the entry (its
                                   record gives their sizes and sha256), not of its key
    <cache>/.mutexes/<key>.mutex   held (flock) while one process renders that key
    <cache>/.mutexes/<name>.mutex  held while the lock file (gallery.lock.json) is read, changed, written
    <cache>/.mutexes/workers/      one worker slot per render process running now (render/threads.py)
    <cache>/.memo.json             image hashes, record summaries and checked images, by (size, mtime)
    <cache>/variants/              web image variants of the site (site/web_images.py)
    <cache>/.site/<hash>.json      what the last site build into a folder read and wrote (site/state.py)
    <cache>/try-it/                the try-it page's style vectors and sized network (site/tryit.py)

Torch-free: the plan reads it for every cell of a fully cached gallery.

Every path is derived from a key, never read from a file in the cache, and an entry counts only
when its files are regular files inside the cache folder (a committed `renders/` is input too).
An entry is `cached`, `missing`, or `corrupt` (a record that fails its checks, or a PNG that is
not the one its record describes, or no sane render): a corrupt entry renders again, a pull
replaces it, and `prune` removes it.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.plan.records import record_problem
from pipeline.plan.render_image import image_problem, size_problem
from pipeline.util import jsonload, safepath
from pipeline.util.errors import GalleryError
from pipeline.util.files import write_bytes_atomic, write_text_atomic
from pipeline.util.hashing import bytes_sha256, file_sha256_now
from pipeline.util.memo import MEMO_FILE, Memo
from pipeline.util.mutex import Mutex
from pipeline.util.plain import Plain

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# Temp files of atomic writes look like `.<name>.<random>.tmp` (see fsutil.atomic_writer).
TMP_RE = re.compile(r"^\.(?P<key>[0-9a-f]{64})\.(png|json|webp|still\.webp)\..*\.tmp$")
ENTRY_SUFFIXES = (".png", ".json", ".webp")  # .webp: the time-lapse and its still
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
        self._problems: dict[str, str] = {}  # why a record was refused, by key
        self._states: dict[str, tuple[str, str]] = {}
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

    def timelapse_paths(self, key: str) -> tuple[Path, Path]:
        return timelapse_paths(self.root, key)

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
        record, why = check_record(self.record_path(key), key)
        if why:
            self._problems[key] = why
        else:
            self._problems.pop(key, None)
        return record

    def state(self, key: str) -> tuple[str, str]:
        """("cached", ""), ("missing", "") or ("corrupt", why) for the entry of `key`.

        Cached means: the PNG and the record (written last) are regular files inside the cache,
        the record passes its checks (pipeline.plan.records), the PNG has the size and sha256
        the record gives, and it decodes whole at the dimensions the record says, within the
        limits (pipeline.plan.render_image). Each check is done once per file version; later
        runs trust the memo while the files' stamps hold.
        """
        if key not in self._states:
            self._states[key] = self._state(key)
        return self._states[key]

    def _state(self, key: str) -> tuple[str, str]:
        image, record = self.image_path(key), self.record_path(key)
        try:
            rst, ist = os.lstat(record), os.lstat(image)
        except OSError:
            return "missing", ""  # not rendered, or killed before the record was written
        for path, st in ((record, rst), (image, ist)):
            if not stat.S_ISREG(st.st_mode) or not safepath.inside(path, self.root):
                return "corrupt", f"{path.name} is not a regular file of the cache"
        hit = self.memo.get("record-summaries", key, rst)
        if not (isinstance(hit, dict) and isinstance(hit.get("summary"), dict)):
            rec = self.read_record(key)
            if rec is None:
                return "corrupt", self._problems.get(key) or f"record {record.name} is unreadable"
            hit = {"summary": {"seconds": rec.get("seconds"), "device": rec.get("device"),
                               "threads": final_threads(rec)},
                   "image": [rec.get("image_sha256"), rec.get("image_bytes")]}
            self.memo.put("record-summaries", key, rst, hit)
        want_sha, want_bytes = (hit.get("image") or [None, None])[:2]
        if self.memo.get("checked", key, ist) == checked_mark(want_sha):
            return "cached", ""
        if isinstance(want_bytes, int) and ist.st_size != want_bytes:
            return "corrupt", (f"{image.name} is {ist.st_size} bytes, its record says {want_bytes} "
                               "(truncated or overwritten)")
        if want_sha is not None:
            try:
                actual = file_sha256_now(image)
            except OSError as e:
                return "corrupt", f"{image.name} cannot be read ({e.strerror})"
            if actual != want_sha:
                return "corrupt", f"{image.name} is not the image its record describes (sha256 differs)"
        rec = self.read_record(key)
        if rec is None:
            return "corrupt", self._problems.get(key) or f"record {record.name} is unreadable"
        why = image_problem(image, rec)  # a record is as easy to forge as its image
        if why:
            return "corrupt", f"{image.name} {why}"
        self.memo.put("checked", key, ist, checked_mark(want_sha))
        return "cached", ""

    def summary(self, key: str) -> dict[str, Any] | None:
        """{'seconds', 'device', 'threads'} of a cached entry; None when it is missing or corrupt."""
        if self.state(key)[0] != "cached":
            return None
        try:
            hit = self.memo.get("record-summaries", key, os.lstat(self.record_path(key)))
        except OSError:
            return None
        return dict(hit["summary"]) if isinstance(hit, dict) else None

    def has(self, key: str) -> bool:
        return self.state(key)[0] == "cached"

    def forget(self, key: str) -> None:
        """Look again next time (another process may have written or removed the entry)."""
        self._records.pop(key, None)
        self._states.pop(key, None)
        self.memo.data.get("record-summaries", {}).pop(key, None)

    # ---- writing
    def store(self, key: str, image: Any, record: dict[str, Any],
              timelapse: tuple[bytes, bytes] | None = None) -> None:
        """Write the image (and the time-lapse: animation, still), then the record: a crash in
        between leaves an entry that is not cached."""
        from pipeline.core.images import save_atomic  # PIL: only a process that renders needs it

        self._check_inside(key)
        why = size_problem(image.size, record)
        if why:
            raise GalleryError(f"the render of {key[:12]} {why}: not stored (an engine's bug; please "
                               "report it)")
        record = dict(record, key=key)
        # when it was made, for the site's feed of new renders (not part of the key)
        record.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        save_atomic(image, self.image_path(key), format="PNG")
        ist = os.lstat(self.image_path(key))
        sha = file_sha256_now(self.image_path(key))
        record = dict(record, image_sha256=sha, image_bytes=ist.st_size)
        self._write_timelapse(key, timelapse)
        if timelapse is not None:
            record["timelapse"] = {"sha256": bytes_sha256(timelapse[0]), "bytes": len(timelapse[0]),
                                   "still_sha256": bytes_sha256(timelapse[1]), "still_bytes": len(timelapse[1])}
        write_text_atomic(self.record_path(key), dumps_record(record))
        self._records[key] = json.loads(dumps_record(record))
        self._states.pop(key, None)
        self.memo.put("checked", key, ist, checked_mark(sha))  # just made: the next plan need not read it

    def put(self, key: str, png: bytes, record: dict[str, Any],
            timelapse: tuple[bytes, bytes] | None = None) -> None:
        """Write an entry whose image (and time-lapse) are encoded and checked already (a pulled
        one, checked against `record`): the image and time-lapse, then the record, as store does.
        Without a time-lapse, the record written lists none."""
        self._check_inside(key)
        write_bytes_atomic(self.image_path(key), png)
        ist = os.lstat(self.image_path(key))
        self._write_timelapse(key, timelapse)
        if timelapse is None:
            record = {k: v for k, v in record.items() if k != "timelapse"}
        write_text_atomic(self.record_path(key), dumps_record(record))
        self.forget(key)
        self.memo.put("checked", key, ist, checked_mark(record.get("image_sha256")))

    def _write_timelapse(self, key: str, timelapse: tuple[bytes, bytes] | None) -> None:
        """Write the entry's time-lapse (animation, still), or remove an older render's: a
        time-lapse is never shown with another render than its own."""
        for path in self.timelapse_paths(key):
            path.unlink(missing_ok=True)
        if timelapse is not None:
            for path, data in zip(self.timelapse_paths(key), timelapse):
                write_bytes_atomic(path, data)

    def _check_inside(self, key: str) -> None:
        for path in (self.image_path(key), self.record_path(key)):
            if not safepath.inside(path.parent, self.root):
                raise safepath.UnsafePathError(f"{path.parent} leads out of {self.root} through a "
                                               "symbolic link: remove it")

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
                if KEY_RE.match(key) and (m or p.suffix in ENTRY_SUFFIXES):
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

    def collect(self, keep: set[str], corrupt: dict[str, str] | None = None,
                delete: bool = False) -> Collection:
        """The garbage of the cache: entries whose key is not in `keep`, stale temp files, and the
        `corrupt` entries (key -> why: a cell uses the key, but its render cannot be used, so it
        goes and renders again). With `delete`, each is deleted unless it is being rendered
        right now (kept, and listed in `busy`), and the memo forgets what it knew of them."""
        corrupt = corrupt or {}
        found = self.unused(keep)
        if corrupt:
            entries = self.entries()
            for key in corrupt:
                found[key] = sorted(set(found.get(key, [])) | set(entries.get(key, [])))
        garbage = [Garbage(key, files, sum(p.stat().st_size for p in files if p.exists()),
                           *self._cell_of(key), corrupt.get(key, "")) for key, files in found.items()]
        if not delete:
            return Collection(garbage)
        busy = [g.key for g in garbage if not self.delete(g.key, g.files, drop_mutex=g.key not in keep)]
        self.memo.path.unlink(missing_ok=True)  # drop what it remembered of deleted entries
        return Collection(garbage, len(garbage) - len(busy), busy)

    def _cell_of(self, key: str) -> tuple[str | None, bool]:
        """content:style, as the entry's record names its inputs (None when it cannot say), and
        whether the record says it is a preview (engine: fast)."""
        try:
            record = self.read_record(key) or {}
            preview = (record.get("engine") or (record.get("params") or {}).get("engine")) == "fast"
            inputs = record.get("inputs", {})
            return f"{inputs['content']['id']}:{inputs['style']['id']}", preview
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, False

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


class Garbage(Plain):
    """One cache entry a collection removes: its files, their size, the cell its record names
    (None: no readable record), and why its render cannot be used ("" when it is just unused)."""

    key: str
    files: list[Path]
    bytes: int
    cell: str | None
    preview: bool = False  # a render by the fast engine
    corrupt: str = ""

    @property
    def interrupted(self) -> bool:
        """Only temp files of a write that never finished."""
        return all(p.name.endswith(".tmp") for p in self.files)


class Collection(Plain):
    """What Cache.collect found and, when asked to, deleted."""

    garbage: list[Garbage]
    deleted: int = 0
    busy: list[str] = []  # being rendered right now: kept (never changed in place)


def timelapse_paths(root: Path, key: str) -> tuple[Path, Path]:
    """An entry's time-lapse: the animation and its still picture."""
    return Path(root) / key[:2] / f"{key}.webp", Path(root) / key[:2] / f"{key}.still.webp"


def read_record(path: Path, key: str | None = None) -> dict[str, Any] | None:
    """A render record, or None when it is missing, unreadable, or not the shape a record has
    (pipeline.plan.records), or names another key: every reader of records goes through here,
    so all treat a bad one alike."""
    return check_record(path, key)[0]


def check_record(path: Path, key: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """(the record, "") or (None, why it is refused); why is "" when the file does not exist."""
    path = Path(path)
    try:
        record = jsonload.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError) as e:
        return None, f"record {path.name} cannot be read ({getattr(e, 'strerror', None) or e})"
    if key is None:
        key = record.get("key") if isinstance(record, dict) and isinstance(record.get("key"), str) else ""
    why = record_problem(record, key)
    return (None, f"record {path.name}: {why}") if why else (record, "")


def checked_mark(sha: str | None) -> str:
    """What the memo keeps for an image that passed every check (its record's sha256, and
    render_image.image_problem), so a later run skips them while the file's stamp holds."""
    return f"image ok: {sha or 'no checksum'}"


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
