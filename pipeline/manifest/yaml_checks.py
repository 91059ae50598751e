"""YAML safety for the manifest: parse it into nodes (which keep their line numbers) and refuse
what plain data never needs, before anything is built from it: tags that construct Python
objects, and aliases that expand without end ("billion laughs") or refer to themselves.

A mixin of the reader: it reports through `self.problem` and keeps the loader in `self.loader`.
"""
from __future__ import annotations

from typing import Any

import yaml

from pipeline.util.errors import quote

# Values after YAML aliases are expanded (`*x` repeats what `&x` names): a gallery of a thousand
# images is ~30 000; a "billion laughs" alias bomb is refused before anything is built from it.
MAX_NODES = 200_000

MERGE = "tag:yaml.org,2002:merge"
ALLOWED_TAGS = {t for t in yaml.SafeLoader.yaml_constructors if t is not None} | {MERGE}
FAILED = object()  # YamlChecks.parse: a syntax error was reported


REPORTED = object()  # the value of a node whose refused tag is already reported


class Invalid(str):
    """A value YAML could not construct (e.g. a bad timestamp); reported by whoever reads it."""


class Recursive(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


class YamlChecks:
    """Parsing and the document-wide checks of one manifest."""

    def fast_parse(self, text: str) -> yaml.Node | None:
        """The root node by libyaml (~10x faster than PyYAML's own parser, the same nodes and
        marks), or None when PyYAML lacks it or the text has an error: `parse` then explains it."""
        loader = getattr(yaml, "CSafeLoader", None)
        if loader is None:
            return None
        try:
            self.loader = loader(text)
            return self.loader.get_single_node()
        except yaml.YAMLError:
            return None

    def parse(self, text: str) -> yaml.Node | None:
        """The root node by PyYAML's pure-Python parser, whose error messages name what it found;
        None for an empty document, FAILED after reporting a syntax error."""
        try:
            self.loader = yaml.SafeLoader(text)  # the reader checks for control characters here
            return self.loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            what = " ".join(s for s in (e.context, e.problem) if s)
            if e.context_mark and mark and e.context_mark.line != mark.line:
                what += f" (what started on line {e.context_mark.line + 1})"
            self.problem(mark.line + 1 if mark else 1, "", f"YAML syntax error: {what} "
                         "- check the indentation, and quote values that contain ': ' or start with a symbol")
            return FAILED
        except yaml.YAMLError as e:  # e.g. a control character: the reader has a position, not a mark
            pos = getattr(e, "position", 0)
            what = str(e).split("\n")[0]  # drop PyYAML's 'in "<unicode string>", position N'
            self.problem(text[:pos].count("\n") + 1, "", f"YAML error: {what} - remove the character "
                         "or write it as an escape inside a double-quoted string")
            return FAILED

    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node (safe constructors only; tags were checked already)."""
        if id(node) in self.tainted:
            return REPORTED
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            return Invalid(str(getattr(e, "problem", e)))

    def check_tags(self, node: yaml.Node, seen: set[int]) -> bool:
        """Refuse tags that would construct Python objects (`!!python/object` ...): plain data only."""
        if id(node) in seen:
            return id(node) in self.tainted
        seen.add(id(node))
        bad = node.tag not in ALLOWED_TAGS
        if bad:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(node, "", f"YAML tag '{tag}' is not allowed: the manifest holds plain "
                                   "data only (text, numbers, lists, mappings); remove the tag")
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode) else []
        for child in children:
            bad = self.check_tags(child, seen) or bad
        if bad:
            self.tainted.add(id(node))
        return bad

    def check_size(self, root: yaml.Node) -> bool:
        """Refuse a document whose aliases expand past MAX_NODES values, or refer to themselves,
        before anything is built from it (a "billion laughs" took minutes and gigabytes)."""
        sizes: dict[int, int] = {}
        open_: set[int] = set()

        def size(node: yaml.Node) -> int:
            if id(node) in sizes:
                return sizes[id(node)]
            if id(node) in open_:
                raise Recursive(node)
            open_.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode) else []
            total = 1
            for child in children:
                total += size(child)
                if total > MAX_NODES:
                    break
            open_.discard(id(node))
            sizes[id(node)] = total
            return total

        try:
            total = size(root)
        except Recursive as e:
            self.problem(e.node, "", "a YAML alias refers to the list or mapping it is in: "
                                     "write the values out")
            return False
        if total > MAX_NODES:
            self.problem(root, "", f"the manifest expands to more than {MAX_NODES} values (YAML aliases "
                                   "`*name` repeat what `&name` marks): write the values out, without "
                                   "aliases that repeat aliases")
            return False
        return True


def peek(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def describe(node: yaml.Node | None) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    if node is None or node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return quote(node.value)
