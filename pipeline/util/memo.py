"""What earlier runs learned about files unchanged since (image hashes, decoded sizes, record
summaries), kept in the cache folder so a no-op run re-reads nothing."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline.util import jsonload
from pipeline.util.files import write_text_atomic
from pipeline.util.hashing import file_sha256

MEMO_FILE = ".memo.json"  # in the cache folder


class Memo:
    """What earlier runs learned about files unchanged since, keyed by (size, mtime_ns, inode,
    ctime_ns): image hashes, checked renders and record summaries. It spares each process of a
    no-op `make gallery` from hashing every image and parsing every record again. Losing it, or a
    race between two writers, only costs time: the next plan recomputes what is missing.

    Why the inode and ctime too: a file swapped for another of the same size and mtime (`cp -p`,
    `touch -r`) must not keep the old hash. Replacing a file gives it a new inode, and writing
    it in place sets its ctime, which no tool can set back."""

    VERSION = 2

    def __init__(self, path: Path):
        self.path = path
        self.changed = False
        try:
            data = jsonload.loads(path.read_text(encoding="utf-8"))
            ok = isinstance(data, dict) and data.get("version") == self.VERSION
        except (OSError, ValueError):
            ok = False
        self.data: dict[str, dict[str, list]] = data if ok else {"version": self.VERSION}

    def get(self, section: str, name: str, st: os.stat_result) -> Any:
        entries = self.data.get(section)
        hit = entries.get(name) if isinstance(entries, dict) else None
        if isinstance(hit, list) and len(hit) == 5 and hit[:4] == stamp(st):
            return hit[4]
        return None

    def put(self, section: str, name: str, st: os.stat_result, value: Any) -> None:
        entries = self.data.get(section)
        if not isinstance(entries, dict):
            entries = self.data[section] = {}
        entries[name] = [*stamp(st), value]
        self.changed = True

    def save(self) -> None:
        if self.changed:
            with contextlib.suppress(OSError):  # a read-only cache still plans, just slower
                write_text_atomic(self.path, json.dumps(self.data, sort_keys=True, separators=(",", ":")))
            self.changed = False

    def file_sha256(self, path: Path) -> str:
        """sha256 of a file (an input image), hashed once per version of the file (see stamp) across runs."""
        name = str(Path(path).resolve())
        st = os.stat(name)
        sha = self.get("files", name, st)
        if sha is None:
            sha = file_sha256(name)
            self.put("files", name, st, sha)
        return sha


def stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged: size, mtime, inode and ctime (see Memo)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
