"""Canonical JSON and its sha256: the one way a value becomes a key (render keys, web-image keys,
site fingerprints), so two places can never hash the same value differently."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable


def canonical_json(obj: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII, no NaN; floats as Python's repr.
    `default` turns values JSON has no type for into plain ones (as json.dumps's)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=default).encode("ascii")


def json_sha256(obj: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Hex sha256 of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical_json(obj, default)).hexdigest()
