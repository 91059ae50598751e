"""The shapes of a render record and of a lock-file entry, checked whenever one is read.

Why: both are JSON files a user can edit, a merge can garble and a pull request can plant.
Code that reads them (the plan's reasons, the site's provenance table and loss chart) indexes
into them; a record that is valid JSON with one mistyped field (`weights: "w"`, `levels: "abc"`)
would crash `build` with AttributeError. A value that fails its check makes the whole record
or entry count as missing, with the reason, so the cell renders again instead.

A spec is a type name ("str", "int", "bytes": a whole number not below 0, "num", "hex64",
"dict", "any"), a dict of fields (each optional unless listed in REQUIRED), a one-element list
(a list of that spec), or `null(spec)`: that spec or null (readers take a top-level null as
"not recorded").
"""
from __future__ import annotations

import math
import re
from typing import Any

from pipeline.util.errors import quote

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
REQUIRED = "__required__"


def null(spec: Any) -> tuple[None, Any]:
    return (None, spec)


_LOSSES = {"content": "num", "style": "num", "tv": "num", "total": "num"}
RECORD_SPEC: dict[str, Any] = {
    REQUIRED: ("key",),
    "key": "hex64",
    "params": null("dict"),
    "weights": null({"id": "str", "sha256": "str"}),
    "renderer_version": "any",
    "device": null("str"),
    "precision": null("str"),
    "seconds": null("num"),
    "threads": null("int"),
    "thread_changes": null([{"level": "int", "iteration": "int", "threads": "int"}]),
    "levels": null([{"size": null(["int"]), "iterations": null("int"), "seconds": null("num"),
                     "trace": null([{"iteration": "int", **_LOSSES, "anchor": null("num")}])}]),
    "final": null(_LOSSES),
    "frames": null([{"level": "int", "iteration": "int"}]),
    "timelapse": null({REQUIRED: ("sha256", "bytes", "still_sha256", "still_bytes"),
                       "sha256": "hex64", "bytes": "bytes", "still_sha256": "hex64", "still_bytes": "bytes"}),
    "inputs": null({"content": {"id": "str", "sha256": "str", "file": "str"},
                    "style": {"id": "str", "sha256": "str", "file": "str"},
                    "params": "dict", "weights": "dict"}),
    "created_with": null("dict"),
    "created": null("str"),
    "image_sha256": "hex64",
    "image_bytes": "bytes",  # a negative size would read a remote object whole (a slice from its end)
}

LOCK_ENTRY_SPEC: dict[str, Any] = {
    REQUIRED: ("content", "style", "key"),
    "content": {REQUIRED: ("id", "sha256"), "id": "str", "sha256": "str"},
    "style": {REQUIRED: ("id", "sha256"), "id": "str", "sha256": "str"},
    "key": "hex64",
    "params": null("dict"),
    "weights": null({"id": "str", "sha256": "str"}),
    "renderer_version": "any",
    "image": null("str"),
    "seconds": null("num"),
    "device": null("str"),
    "threads": null("int"),
}


def record_problem(record: Any, key: str) -> str | None:
    """What is wrong with a render record for `key`, or None when every field has its shape."""
    why = problem(record, RECORD_SPEC)
    if why is None and record["key"] != key:
        why = f"'key' names another entry ({record['key'][:12]}...)"
    return why


def lock_entry_problem(entry: Any) -> str | None:
    """What is wrong with one cell's entry of the lock file, or None."""
    return problem(entry, LOCK_ENTRY_SPEC)


def problem(value: Any, spec: Any, where: str = "") -> str | None:
    """The first place where `value` does not match `spec`, described for a message; else None."""
    at = f"'{where}' " if where else ""
    if isinstance(spec, tuple):
        if value is None:
            return None
        spec = spec[1]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{at or 'it '}must be a mapping, not {_kind(value)}"
        for name in spec.get(REQUIRED, ()):
            if name not in value:
                return f"'{_join(where, name)}' is missing"
        for name, sub in spec.items():
            if name != REQUIRED and name in value:
                why = problem(value[name], sub, _join(where, name))
                if why:
                    return why
        return None
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{at}must be a list, not {_kind(value)}"
        for i, item in enumerate(value):
            why = problem(item, spec[0], f"{where}[{i}]")
            if why:
                return why
        return None
    ok = {
        "any": lambda v: True,
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bytes": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        # NaN passes (a diverged loss is recorded as such; every reader skips it), infinity does not
        "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isinf(v),
        "hex64": lambda v: isinstance(v, str) and bool(_HEX64.match(v)),
        "dict": lambda v: isinstance(v, dict),
    }[spec](value)
    if ok:
        return None
    want = {"str": "text", "int": "a whole number", "bytes": "a size in bytes (a whole number, 0 or more)",
            "num": "a number (not infinite)", "hex64": "64 hexadecimal digits", "dict": "a mapping"}[spec]
    return f"{at}must be {want}, not {_kind(value)}"


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return quote(value, 40)
