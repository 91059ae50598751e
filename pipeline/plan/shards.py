"""Splitting the missing cells over K/N shards (machines, CI jobs, array tasks) without overlap,
balanced by estimated time rather than by count."""
from __future__ import annotations

import heapq
import math
import os
import re
import stat
from pathlib import Path

from pipeline.util import jsonload
from pipeline.util.errors import GalleryError

MAX_SHARDS = 10_000  # machines or CI jobs: GitHub's matrix stops at 256
MAX_CELL_SECONDS = 10_000_000  # an estimate above 115 days is no estimate
MAX_PLAN_BYTES = 256 << 20  # `status --json` writes about 600 bytes a cell


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` -> (k, n), with a clear error for anything else (N at most MAX_SHARDS)."""
    shown = quote_arg(text)
    m = re.fullmatch(r"([0-9]+)/([0-9]+)", (text or "").strip())
    if not m:
        raise GalleryError(f"--shard {shown}: want K/N with 1 <= K <= N, e.g. --shard 2/4")
    k_digits, n_digits = (g.lstrip("0") or "0" for g in m.groups())
    if len(n_digits) > len(str(MAX_SHARDS)) or int(n_digits) > MAX_SHARDS:
        raise GalleryError(f"--shard {shown}: N must be at most {MAX_SHARDS} (one shard a machine "
                           f"or CI job), e.g. --shard 2/4")
    n = int(n_digits)
    if len(k_digits) > len(n_digits) or not 1 <= int(k_digits) <= n:
        raise GalleryError(f"--shard {shown}: want K/N with 1 <= K <= N, e.g. --shard 2/4")
    return int(k_digits), n


def quote_arg(text: str, limit: int = 40) -> str:
    """An argument as typed, cut for a message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def shard_of(seconds: dict[str, float], k: int, n: int) -> set[str]:
    """The keys of the k-th of n shards of about equal time: greedy longest-first (each key,
    longest first, goes to the shard with the least time so far). Deterministic: keys of equal
    time go in sorted order, ties between shards to the first, and times count in tenths of a
    second, so every machine that reads the same estimates makes the same split.

    Costs the same for any n: only the first min(n, keys) shards ever get a key (each of the
    first keys goes to an empty shard), so only those are tracked, in a heap by load."""
    if not (n >= 1 and 1 <= k <= n):
        raise GalleryError(f"--shard {k}/{n}: want K/N with 1 <= K <= N, e.g. --shard 2/4")
    return {key for key, i in _assign(seconds, n).items() if i == k - 1}


def balance(seconds: dict[str, float], n: int) -> list[set[str]]:
    """All n shards of shard_of (for a small n: one set each)."""
    out: list[set[str]] = [set() for _ in range(n)]
    for key, i in _assign(seconds, n).items():
        out[i].add(key)
    return out


def _assign(seconds: dict[str, float], n: int) -> dict[str, int]:
    """key -> its shard's index (0-based) under greedy longest-first over n shards."""
    tenths = {k: max(0, round(float(s) * 10)) for k, s in seconds.items()}
    loads = [(0, i) for i in range(min(n, len(tenths)))]  # (time so far, shard): a heap
    out: dict[str, int] = {}
    for key in sorted(tenths, key=lambda k: (-tenths[k], k)):
        load, i = heapq.heappop(loads)
        out[key] = i
        heapq.heappush(loads, (load + tenths[key], i))
    return out


def shard_count(seconds: list[float], per_shard: float, most: int) -> int:
    """How many shards `seconds` of rendering need at about `per_shard` each (0 when none)."""
    if not (math.isfinite(per_shard) and per_shard > 0):
        raise GalleryError(f"--shard-seconds {per_shard:g}: want a number of seconds above 0, "
                           f"e.g. --shard-seconds 10800 (3 hours a shard)")
    if not seconds:
        return 0
    return max(1, min(most, len(seconds), math.ceil(sum(seconds) / max(per_shard, 1.0))))


def read_plan_file(path: Path) -> dict[str, float]:
    """The cells a plan (`status --json`, written once before the shards start) says must
    render, as key -> estimated seconds. Cells the remote had then are left out: they are pulled.

    Why a file: every shard must split the same cells. A shard that planned for itself would see
    the cells others finished meanwhile (a shared cache, a remote) and split differently."""
    again = "write the plan again with `status --json`"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise GalleryError(f"--plan {path}: not a regular file; {again}")
        if st.st_size > MAX_PLAN_BYTES:
            raise GalleryError(f"--plan {path}: {st.st_size} bytes, more than a plan of any gallery "
                               f"({MAX_PLAN_BYTES >> 20} MiB); {again}")
        data = jsonload.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GalleryError(f"--plan {path}: no such file; write it first with "
                           f"`python -m pipeline status --json > {path}`") from None
    except (OSError, ValueError) as e:
        raise GalleryError(f"--plan {path}: not a plan ({e}); {again}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise GalleryError(f"--plan {path}: not a plan (no \"cells\" list); {again}")
    out: dict[str, float] = {}
    for c in cells:
        if not isinstance(c, dict) or c.get("state") != "render" or c.get("on_remote"):
            continue
        key, secs = c.get("key"), c.get("estimated_seconds")
        name = quote_arg(str(c.get("cell", "?")))
        if not (isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key)):
            raise GalleryError(f"--plan {path}: cell {name}: want a 64-hex \"key\"; {again}")
        if not (isinstance(secs, (int, float)) and not isinstance(secs, bool)
                and 0 <= secs <= MAX_CELL_SECONDS):  # NaN fails both comparisons
            raise GalleryError(f"--plan {path}: cell {name}: \"estimated_seconds\" must be a number of "
                               f"seconds from 0 to {MAX_CELL_SECONDS}, not {quote_arg(repr(secs))}; {again}")
        out[key] = float(secs)
    return out
