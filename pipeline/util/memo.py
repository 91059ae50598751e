"""What earlier runs learned about files unchanged since (image hashes, decoded sizes, record
summaries), kept in the cache folder so a no-op run re-reads nothing."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline.util.files import file_sha256, write_text_atomic

MEMO_FILE = ".memo.json"  # in the cache folder


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

    def file_sha256(self, path: Path) -> str:
        """sha256 of a file (an input image), hashed once per (path, size, mtime) across runs."""
        name = str(Path(path).resolve())
        st = os.stat(name)
        sha = self.get("files", name, st)
        if sha is None:
            sha = file_sha256(name)
            self.put("files", name, st, sha)
        return sha
