"""Edit the manifest's YAML text as a person would: append entries to `contents:` or `styles:`,
remove list items, set one value of an entry, keeping comments, blank lines, key order and
indentation (line edits where the shape is simple, else ruamel.yaml's round trip), so the diff
of an `add`, `remove` or `repin` is that change and nothing else."""
from __future__ import annotations

import copy
import io
import re
from typing import Any, Callable


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

    key = role + "s"
    data = YAML().load(text)
    if not data.get(key):
        first = _first_entries(text, data, key, entries)
        if first is not None:
            return first
    yaml = _round_trip_yaml(text)
    data = yaml.load(text)
    items = data.get(key)
    if items is None:
        items = data[key] = CommentedSeq()
        items.fa.set_block_style()
    for entry in entries:
        new = CommentedMap(entry)
        if items:
            _move_trailing_comment(items[-1], new)
        items.append(new)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


_EMPTY_KEY = re.compile(r"(?P<key>[A-Za-z_]\w*:)[ \t]*(?:\[[ \t]*\])?(?P<rest>[ \t]*(?:#.*)?)")


def _first_entries(text: str, data: Any, key: str, entries: list[dict[str, Any]]) -> str | None:
    """`text` with the first entries of an empty list (`contents: []` or `contents:` with nothing
    under it) written as a block list on the lines after its key, the key's end-of-line comment
    and every other line as they were; None when the key's line is not that simple shape."""
    from ruamel.yaml import YAML

    try:
        line = data.lc.key(key)[0]
    except (AttributeError, KeyError, TypeError):
        return None
    lines = text.splitlines(keepends=True)
    m = _EMPTY_KEY.fullmatch(lines[line].rstrip("\n")) if line < len(lines) else None
    if m is None or m.group("key") != key + ":":
        return None
    indent = _mapping_indent(text)
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=indent, sequence=indent + 2, offset=indent)
    out = io.StringIO()
    yaml.dump({key: entries}, out)
    block = out.getvalue().splitlines(keepends=True)[1:]
    rest = m.group("rest").strip()
    lines[line] = f"{key}:" + (f"  {rest}" if rest else "") + "\n"
    return "".join(lines[:line + 1] + block + lines[line + 1:])


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


def remove_items(text: str, key: str, drop: Callable[[Any], bool]) -> tuple[str, int]:
    """`text` without the items of its top-level list `key` for which `drop(item)` is true, and
    how many went; every other line as it was.

    An item is its `- ` line and the lines after it indented deeper than its dash (its keys, its
    `render:` block, the comments written under it). A list left empty becomes `key: []`, its
    end-of-line comment kept. A list of another shape (flow style) goes through ruamel.yaml's
    round trip instead, as does any text where the line edit would not give the expected list.
    """
    from ruamel.yaml import YAML

    data = YAML().load(text)
    items = data.get(key) if data is not None else None
    gone = [i for i, item in enumerate(items or []) if drop(item)]
    if not gone:
        return text, 0
    kept = [item for i, item in enumerate(items) if i not in gone]
    out = None if items.fa.flow_style() else _cut_lines(text, data, key, gone, empty=not kept)
    if out is None or list(YAML().load(out).get(key) or []) != kept:
        out = _round_trip_without(text, key, gone)
    return out, len(gone)


def _cut_lines(text: str, data: Any, key: str, gone: list[int], empty: bool) -> str | None:
    lines = text.splitlines(keepends=True)
    items = data[key]
    for i in sorted(gone, reverse=True):  # from the bottom, so earlier line numbers stay valid
        line, col = items.lc.item(i)
        dash = lines[line].rfind("-", 0, col)
        if dash < 0 or lines[line][:dash].strip():
            return None  # `-` alone on a line above its item, or another shape: not cut by lines
        last = line
        for j in range(line + 1, len(lines)):
            if not lines[j].strip():
                continue
            if len(lines[j]) - len(lines[j].lstrip(" ")) <= dash:
                break
            last = j
        del lines[line:last + 1]
    if empty:
        line = data.lc.key(key)[0]
        m = _EMPTY_KEY.fullmatch(lines[line].rstrip("\n"))
        if m is None or m.group("key") != key + ":":
            return None
        rest = m.group("rest").strip()
        lines[line] = f"{key}: []" + (f"  {rest}" if rest else "") + "\n"
    return "".join(lines)


def _round_trip_without(text: str, key: str, gone: list[int]) -> str:
    yaml = _round_trip_yaml(text)
    data = yaml.load(text)
    for i in sorted(gone, reverse=True):
        del data[key][i]
    if not data[key]:
        data[key].fa.set_flow_style()
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def set_entry_value(text: str, role: str, entry_id: str, name: str, value: str) -> str:
    """`text` with `name: value` in the entry `entry_id` of `contents:` or `styles:`: the value
    replaced where the key is, else a new line after the entry's `file:`; every other line as it
    was (ruamel.yaml's round trip when the line edit would not give exactly that)."""
    from ruamel.yaml import YAML

    if YAML().load(f"v: {value}\n")["v"] != value:  # a value YAML would read as a number
        value = "'" + value.replace("'", "''") + "'"
    key = role + "s"
    data = YAML().load(text)
    index = next(i for i, e in enumerate(data[key]) if e.get("id") == entry_id)
    entry = data[key][index]
    lines = text.splitlines(keepends=True)
    if name in entry:
        line, col = entry.lc.value(name)
        old = lines[line][col:]
        m = re.match(r"""("[^"\n]*"|'[^'\n]*'|[^\s#]+)""", old)
        if m:
            lines[line] = lines[line][:col] + value + old[m.end():]
    else:
        line, col = entry.lc.key("file")
        lines.insert(line + 1, " " * col + f"{name}: {value}\n")
    out = "".join(lines)
    expected = dict(entry)
    expected[name] = YAML().load(f"v: {value}\n")["v"]
    check = YAML().load(out)
    if dict(check[key][index]) == expected and _without(check, key, index) == _without(data, key, index):
        return out
    yaml = _round_trip_yaml(text)
    data = yaml.load(text)
    data[key][index][name] = expected[name]
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def _without(data: Any, key: str, index: int) -> Any:
    """The document with one entry blanked, for comparing the rest of two documents."""
    plain = {k: v for k, v in data.items() if k != key}
    plain[key] = [e for i, e in enumerate(data[key]) if i != index]
    return plain


def _round_trip_yaml(text: str):
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, seq_indent, offset = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long url or credit onto two lines
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 4, offset=2 if offset is None else offset)
    return yaml
