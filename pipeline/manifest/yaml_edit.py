"""Edit the manifest's YAML text as a person would: append entries to `contents:` or `styles:`
with ruamel.yaml's round trip, keeping comments, blank lines, key order, indentation and the
file's line endings, so the diff of an `add` is the new entry and nothing else."""
from __future__ import annotations

import copy
import io
import re
from typing import Any


def line_ending(data: bytes) -> str:
    """The file's line ending: CRLF when most of its lines end so, else LF."""
    return "\r\n" if data.count(b"\r\n") * 2 > data.count(b"\n") else "\n"


def with_line_ending(text: str, newline: str) -> bytes:
    """`text` (LF) as UTF-8 bytes with `newline` at the end of each line."""
    return (text if newline == "\n" else text.replace("\n", newline)).encode("utf-8")


def append_entries(text: str, role: str, entries: list[dict[str, Any]]) -> str:
    """`text` with `entries` appended to its `contents:` or `styles:` list, everything else as it was.

    ruamel.yaml keeps comments and key order; the indentation is the file's own (guessed), and
    the comment or blank lines that followed the list's last entry move below the new ones, so
    an entry never lands under a trailing comment such as a commented-out `exclude:` example.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.util import load_yaml_guess_indent

    _, seq_indent, offset = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long url or credit onto two lines
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 4, offset=2 if offset is None else offset)
    data = yaml.load(text)
    key = role + "s"
    items = data.get(key)
    if items is None:
        items = data[key] = CommentedSeq()
    for entry in entries:
        new = CommentedMap(entry)
        if items:
            _move_trailing_comment(items[-1], new)
        items.append(new)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _mapping_indent(text: str) -> int:
    """The indentation of nested mappings (`site:`'s keys), 2 when the file has none."""
    m = re.search(r"^[A-Za-z_][\w-]*:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*( +)[A-Za-z_][\w-]*:", text, re.M)
    return len(m.group(1)) if m else 2


def _move_trailing_comment(old: Any, new: Any) -> None:
    from ruamel.yaml.comments import CommentedMap

    container, key = _last_slot(old)
    if container is None:
        return
    slot = container.ca.items.get(key)
    if not slot or len(slot) < 3 or slot[2] is None:
        return
    token = slot[2]
    own, _, rest = token.value.partition("\n")  # the end-of-line comment stays with its value
    if not rest:
        return
    if own.strip():
        kept = copy.copy(token)
        kept.value = own + "\n"
        slot[2] = kept
    else:
        slot[2] = None
    moved = copy.copy(token)
    moved.value = "\n" + rest
    last = list(new)[-1] if isinstance(new, CommentedMap) else None
    if last is not None:
        new.ca.items[last] = [None, None, moved, None]


def _last_slot(node: Any) -> tuple[Any, Any]:
    """(mapping or list, key) of the last scalar in `node`: where a trailing comment hangs."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while True:
        if isinstance(node, CommentedMap) and node:
            key = list(node)[-1]
        elif isinstance(node, CommentedSeq) and node:
            key = len(node) - 1
        else:
            return None, None
        value = node[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and value:
            node = value
            continue
        return node, key


def entry_lines(text: str, role: str) -> dict[str, int]:
    """id -> line of its entry in `text`, for the report."""
    from ruamel.yaml import YAML

    data = YAML().load(text)
    return {e["id"]: e.lc.line + 1 for e in data.get(role + "s") or [] if hasattr(e, "lc")}
