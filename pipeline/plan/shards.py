"""Splitting the missing cells over K/N shards (machines, CI jobs, array tasks) without overlap,
balanced by estimated time rather than by count."""
from __future__ import annotations

import math
import re
from pathlib import Path

from pipeline.util import jsonload
from pipeline.util.errors import GalleryError


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` -> (k, n), with a clear error for anything else."""
    m = re.fullmatch(r"(\d+)/(\d+)", (text or "").strip())
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise GalleryError(f"--shard {text}: want K/N with 1 <= K <= N, e.g. --shard 2/4")
    return int(m.group(1)), int(m.group(2))


def deal(keys: list[str], k: int, n: int) -> set[str]:
    """The keys of the k-th of n slices: dealt over the sorted keys, so slices never overlap and
    do not depend on what a machine has cached already."""
    if not (n >= 1 and 1 <= k <= n):
        raise GalleryError(f"--shard {k}/{n}: want K/N with 1 <= K <= N, e.g. --shard 1/4")
    return set(sorted(set(keys))[k - 1::n])


def balance(seconds: dict[str, float], n: int) -> list[set[str]]:
    """Split keys into n shards of about equal time: greedy longest-first (each key, longest
    first, goes to the shard with the least time so far). Deterministic: keys of equal time go
    in sorted order, ties between shards to the first, and times count in tenths of a second,
    so every machine that reads the same estimates makes the same split."""
    if n < 1:
        raise GalleryError(f"--shard K/{n}: want N >= 1")
    tenths = {k: max(0, round(float(s) * 10)) for k, s in seconds.items()}
    loads = [0] * n
    out: list[set[str]] = [set() for _ in range(n)]
    for key in sorted(tenths, key=lambda k: (-tenths[k], k)):
        i = min(range(n), key=lambda j: (loads[j], j))
        out[i].add(key)
        loads[i] += tenths[key]
    return out


def shard_count(seconds: list[float], per_shard: float, most: int) -> int:
    """How many shards `seconds` of rendering need at about `per_shard` each (0 when none)."""
    if not seconds:
        return 0
    return max(1, min(most, len(seconds), math.ceil(sum(seconds) / max(per_shard, 1.0))))


def read_plan_file(path: Path) -> dict[str, float]:
    """The cells a plan (`status --json`, written once before the shards start) says must
    render, as key -> estimated seconds. Cells the remote had then are left out: they are pulled.

    Why a file: every shard must split the same cells. A shard that planned for itself would see
    the cells others finished meanwhile (a shared cache, a remote) and split differently."""
    try:
        data = jsonload.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GalleryError(f"--plan {path}: no such file; write it first with "
                           f"`python -m pipeline status --json > {path}`") from None
    except (OSError, ValueError) as e:
        raise GalleryError(f"--plan {path}: not a plan ({e}); write it with `status --json`") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise GalleryError(f"--plan {path}: not a plan (no \"cells\" list); write it with `status --json`")
    out: dict[str, float] = {}
    for c in cells:
        if not isinstance(c, dict) or c.get("state") != "render" or c.get("on_remote"):
            continue
        key, secs = c.get("key"), c.get("estimated_seconds")
        if not (isinstance(key, str) and re.fullmatch(r"[0-9a-f]{64}", key)
                and isinstance(secs, (int, float)) and not isinstance(secs, bool)):
            raise GalleryError(f"--plan {path}: cell {c.get('cell', '?')}: want a 64-hex \"key\" and a "
                               f"number \"estimated_seconds\"; write the plan again with `status --json`")
        out[key] = float(secs)
    return out
