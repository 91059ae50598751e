"""Parsing JSON that a user, a merge, a restored CI cache or a shared remote controls (render
records, the lock file, the memo, plan files, the site's state): every way it can fail is one
ValueError, which each reader turns into its own "damaged file" handling, naming the file.

Why not json.loads alone: a document nested 200,000 deep raises RecursionError (not ValueError),
and one nested 900 deep parses but crashes whatever walks it later (json.dumps, the record
checks, a deep copy). The files this pipeline writes nest a few levels; MAX_DEPTH is far above.
"""
from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


def loads(text: str | bytes) -> Any:
    """json.loads, with nesting deeper than MAX_DEPTH refused as a ValueError."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if depth_over(data, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return data


def depth_over(value: Any, limit: int) -> bool:
    """Whether lists and mappings in `value` nest deeper than `limit` (walked without recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False
