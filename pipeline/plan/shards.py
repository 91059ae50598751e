"""Splitting the missing cells over K/N shards (machines, CI jobs, array tasks) without overlap."""
from __future__ import annotations

import re

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
