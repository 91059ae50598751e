"""Read the YAML manifest into a validated Gallery, reporting every problem with file, line and entry.

Why walk YAML nodes instead of calling yaml.safe_load: nodes keep their line numbers, and
duplicate keys (which safe_load silently overwrites) stay visible. Validation writes nothing but
the memo of checked images in an existing cache folder (so a no-op run hashes nothing). The key
tables below are also what pipeline.schema publishes as JSON Schema.

Paths in a manifest are relative to the manifest's folder (`~` is the home folder, in every
path). Without `site.output` and `cache`, the site goes to `site/` and renders to `renders/`
beside the manifest. Image files must resolve (symlinks followed) inside the manifest's folder or
a folder that `image_roots:` names, and never inside `site.output`: a manifest from someone else
cannot make the pipeline read, publish or fetch into any other place (see pipeline.util.safepath).
"""
from __future__ import annotations

import difflib
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.util import safepath
from pipeline.util.errors import GalleryError, ManifestError, quote
from pipeline.manifest.model import Gallery, ImageEntry, RemoteSettings, SiteSettings
from pipeline.manifest.params import (PARAMS_BY_NAME, ParamError, RenderParams, check_value, unused,
                                      unused_reason)
from pipeline.manifest.weights import BUILTIN, file_sha256
from pipeline.util.memo import MEMO_FILE, Memo

ID_PATTERN = r"^[a-z0-9-]+$"  # ids become file names and URLs: nothing else may reach the file system
ID_MAX = 64
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
_ID_RE, _SHA_RE = re.compile(ID_PATTERN), re.compile(SHA256_PATTERN)
# Values after YAML aliases are expanded (`*x` repeats what `&x` names): a gallery of a thousand
# images is ~30 000; a "billion laughs" alias bomb is refused before anything is built from it.
MAX_NODES = 200_000
# Text may hold tabs and line breaks (descriptions, credits); no other control character (NUL,
# escape sequences, C1 codes) may reach a page or a terminal.
_ALLOWED_CONTROLS = {"text": "\t\n", "nonempty": ""}


@dataclass(frozen=True)
class Field:
    """One manifest key: its kind (how it is checked and published), whether required, a line of help."""

    kind: str  # text | nonempty | id | path | paths | url | https | remote | sha256 | positive | keep | bool | cache | site | render | entries | exclude | ref
    help: str
    required: bool = False


SITE_FIELDS = {
    "title": Field("nonempty", "title of the gallery, shown on every page"),
    "description": Field("text", "one or two sentences for the home page and social cards"),
    "base_url": Field("url", "absolute address the site is published at (for social-card links); "
                             "leave out for relative links only"),
    "output": Field("path", "folder the site is written to, relative to the manifest (default: site)"),
    "budget_mb": Field("positive", "warn when the whole site is larger than this many MB"),
    "max_file_mb": Field("positive", "fail when one file of the site is larger than this many MB"),
    "keep": Field("keep", "files and folders (ending in /) in the site folder that a build keeps although "
                          "it did not write them; * matches within a name (default: CNAME, .well-known/)"),
    "try_it": Field("bool", "write the 'Try it with your photo' page, where visitors stylise their own "
                            "photo in their browser (about 17 MB of files; default: true)"),
    "templates": Field("path", "a folder of your own templates, relative to the manifest: a file there "
                               "replaces the built-in one of the same name (static/ files too)"),
}
ENTRY_FIELDS = {
    "id": Field("id", "short name: lowercase letters, digits and hyphens; unique across contents "
                      "and styles (it becomes file names and URLs)", required=True),
    "title": Field("nonempty", "title shown in the gallery (default: the id)"),
    "credit": Field("text", "author, date and source, shown under the image"),
    "link": Field("url", "web page about the image (http or https)"),
    "file": Field("path", "the image file, relative to the manifest", required=True),
    "url": Field("https", "https address to download the file from when it is missing "
                          "(needs sha256)"),
    "sha256": Field("sha256", "sha256 of the file (64 hex digits): required with url, "
                              "checked whenever given"),
    "render": Field("render", "render parameters for the cells of this image, over the gallery's"),
}
EXCLUDE_FIELDS = {
    "content": Field("ref", "id of a content image", required=True),
    "style": Field("ref", "id of a style image", required=True),
}
TOP_FIELDS = {
    "site": Field("site", "the generated site: title, description, base_url, output, size limits"),
    "render": Field("render", "render parameters for every cell (entries' `render:` override them)"),
    "cache": Field("cache", "folder of the render cache, relative to the manifest (default: renders); "
                            "or a mapping with `path:` and a shared `remote:` render cache"),
    "image_roots": Field("paths", "folders the image files may be in, relative to the manifest "
                                  "(default: the manifest's folder); a file elsewhere is refused"),
    "contents": Field("entries", "the content images (rows of the gallery)", required=True),
    "styles": Field("entries", "the style images (columns of the gallery)", required=True),
    "exclude": Field("exclude", "cells not to render: a list of {content: ID, style: ID}"),
}
CACHE_FIELDS = {
    "path": Field("path", "folder of the local render cache, relative to the manifest (default: renders)"),
    "remote": Field("remote", "a render cache every machine shares: s3://bucket/prefix, gs://bucket/prefix, "
                              "az://container/prefix, file:///absolute/folder or (read-only) https://...; "
                              "credentials come from the environment, never from the manifest"),
    "endpoint_url": Field("url", "for an s3:// remote on an S3-compatible service (MinIO, R2): its address"),
}
REMOTE_PATTERN = r"^(s3|s3a|gs|gcs|az|abfs|abfss|file|https?)://\S+$"
PARAM_FIELDS = {name: Field("param", p.help) for name, p in PARAMS_BY_NAME.items()}

_MERGE = "tag:yaml.org,2002:merge"
_ALLOWED_TAGS = {t for t in yaml.SafeLoader.yaml_constructors if t is not None} | {_MERGE}


def load_gallery(path: Path, check_files: bool = True, fetch: Callable[[ImageEntry], Any] | None = None) -> Gallery:
    """Parse and validate the manifest at `path`; raise ManifestError listing every problem.

    check_files: also check each image file (exists, sha256, decodes, under the pixel limit).
    fetch: called with an entry whose file is missing, to put it in place (sources.Fetcher);
    its SourceError becomes one more problem of that entry. Fetching inside the one pass is
    what lets `validate` report every problem of every entry in one run, not in waves.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GalleryError(f"{path}: no such manifest: pass --config PATH "
                           f"(the demo is config/gallery.yaml)") from None
    except OSError as e:
        raise GalleryError(f"{path}: cannot read the manifest: {e.strerror}") from None
    reader = _Reader(str(path), Path(os.path.abspath(path)), check_files, fetch)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ManifestError([f"{path}:{line}: not UTF-8 text (byte {e.start}): save the file as UTF-8"])
    try:
        gallery = reader.read(text)
    except RecursionError:
        raise ManifestError([f"{path}:1: nested too deeply to be a gallery manifest"]) from None
    if reader.problems or gallery is None:
        raise ManifestError([p for _, p in sorted(reader.problems, key=lambda lp: lp[0])])
    return gallery


_FAILED = object()  # _Reader.parse: a syntax error was reported


class _Reader:
    """One pass over one manifest: collects problems instead of stopping at the first."""

    def __init__(self, label: str, path: Path, check_files: bool, fetch: Callable[[ImageEntry], Any] | None = None):
        self.label, self.path, self.root, self.check_files = label, path, path.parent, check_files
        self.fetch = fetch if check_files else None
        self.problems: list[tuple[int, str]] = []  # (line, message): sorted by line at the end
        self.loader: yaml.SafeLoader | None = None
        self.memo: Memo | None = None  # the cache folder's memo of checked images, when checking
        self.tainted: set[int] = set()  # nodes holding a refused tag (already reported)
        self.param_nodes: dict[str, dict[str, yaml.Node]] = {}  # render block's `where` -> key -> its node
        self.entry_blocks: dict[tuple[str, str], str] = {}  # (role, id) -> its render block's `where`

    def problem(self, node_or_line: Any, where: str, message: str) -> None:
        line = node_or_line if isinstance(node_or_line, int) else node_or_line.start_mark.line + 1
        self.problems.append((line, f"{self.label}:{line}: {where + ': ' if where else ''}{message}"))

    # ---- parsing -------------------------------------------------------------------------------

    def read(self, text: str) -> Gallery | None:
        root = self.fast_parse(text)
        if root is None:
            root = self.parse(text)
        if root is _FAILED:
            return None
        if root is None:
            self.problem(1, "", "the manifest is empty: it needs at least `contents:` and `styles:` "
                                "(see config/gallery.yaml)")
            return None
        self.check_tags(root, set())
        if not self.check_size(root):
            return None
        top = self.mapping(root, "", TOP_FIELDS)
        if top is None:
            return None
        site = self.site(top.get("site"))
        render = self.render(top.get("render"), "")
        cache, remote = self.cache(top.get("cache"))
        self.image_roots = self.roots(top.get("image_roots"))
        self.output = site.output if site is not None else None
        if self.check_files and cache is not None:
            self.memo = Memo(Path(cache) / MEMO_FILE)
        ids: dict[str, tuple[str, int]] = {}
        contents = self.entries(top.get("contents"), "contents", "content", ids)
        styles = self.entries(top.get("styles"), "styles", "style", ids)
        if self.memo is not None and _made_by_us(Path(cache)):  # validate never creates the cache
            self.memo.save()
        exclude = self.exclude(top.get("exclude"), ids, len(contents) * len(styles))
        if not self.problems:
            self.check_unused(render, contents, styles)
        if site is not None and cache is not None:
            self.check_output(site.output, cache, top.get("site") or root)
        if self.problems or site is None or cache is None:
            return None
        return Gallery(path=self.path, site=site, render=render, contents=tuple(contents),
                       styles=tuple(styles), exclude=frozenset(exclude), cache=cache,
                       image_roots=self.image_roots, remote=remote)

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
        None for an empty document, _FAILED after reporting a syntax error."""
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
            return _FAILED
        except yaml.YAMLError as e:  # e.g. a control character: the reader has a position, not a mark
            pos = getattr(e, "position", 0)
            what = str(e).split("\n")[0]  # drop PyYAML's 'in "<unicode string>", position N'
            self.problem(text[:pos].count("\n") + 1, "", f"YAML error: {what} - remove the character "
                         "or write it as an escape inside a double-quoted string")
            return _FAILED

    def check_tags(self, node: yaml.Node, seen: set[int]) -> bool:
        """Refuse tags that would construct Python objects (`!!python/object` ...): plain data only."""
        if id(node) in seen:
            return id(node) in self.tainted
        seen.add(id(node))
        bad = node.tag not in _ALLOWED_TAGS
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
                raise _Recursive(node)
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
        except _Recursive as e:
            self.problem(e.node, "", "a YAML alias refers to the list or mapping it is in: "
                                     "write the values out")
            return False
        if total > MAX_NODES:
            self.problem(root, "", f"the manifest expands to more than {MAX_NODES} values (YAML aliases "
                                   "`*name` repeat what `&name` marks): write the values out, without "
                                   "aliases that repeat aliases")
            return False
        return True

    def mapping(self, node: yaml.Node, where: str, fields: dict[str, Field]) -> dict[str, yaml.Node] | None:
        """Keys of a mapping node -> value nodes; reports non-mappings, unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            keys = ", ".join(list(fields)[:6]) + (", ..." if len(fields) > 6 else "")
            self.problem(node, where, f"{'' if where else 'the top level '}must be a mapping of "
                                      f"keys ({keys}), not {_describe(node)}")
            return None
        own = [kv for kv in node.value if kv[0].tag != _MERGE]
        if len(own) < len(node.value):  # YAML merge keys (<<: *defaults): own keys win
            try:
                self.loader.flatten_mapping(node)
            except yaml.YAMLError as e:
                self.problem(node, where, f"'<<' merge: {getattr(e, 'problem', e)}")
                node.value = own
        merged = [kv for kv in node.value if kv not in own]
        seen: dict[str, int] = {}
        out: dict[str, yaml.Node] = {}
        for key_node, value in merged + own:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, where, "keys must be plain names, not lists or mappings")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen and (key_node, value) in own:
                self.problem(line, where, f"duplicate key '{key}' (first on line {seen[key]}): "
                                          "keep one, YAML would silently use the last")
            elif key not in fields:
                self.problem(line, where, f"unknown key '{key}'{_suggest(key, fields)}")
            if (key_node, value) in own:
                seen.setdefault(key, line)
            out[key] = value
        for key, field in fields.items():
            if field.required and key not in out:
                self.problem(node, where, f"'{key}' is missing: add it ({field.help})")
        return {k: v for k, v in out.items() if k in fields}

    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node (safe constructors only; tags were checked already)."""
        if id(node) in self.tainted:
            return _REPORTED
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            return _Invalid(str(getattr(e, "problem", e)))

    # ---- scalars -------------------------------------------------------------------------------

    def scalar(self, node: yaml.Node | None, where: str, key: str, field: Field) -> Any:
        """Check one value of a simple kind; returns it, or None after reporting a problem."""
        if node is None:
            return None
        if field.kind == "positive":
            v = self.value(node)
            if v is _REPORTED:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                self.problem(node, where, f"'{key}' must be a number above 0, not {_describe(node)}")
                return None
            return float(v)
        if field.kind == "bool":
            v = self.value(node)
            if v is _REPORTED:
                return None
            if not isinstance(v, bool):
                self.problem(node, where, f"'{key}' must be true or false, not {_describe(node)}")
                return None
            return v
        # Text kinds use the text as written, so that `title: 1889` or `id: 2001` mean what they say.
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, where, f"'{key}' must be text, not {_describe(node)}")
            return None
        text = "" if node.tag == "tag:yaml.org,2002:null" else node.value
        bad = _control_character(text, _ALLOWED_CONTROLS.get(field.kind, ""))
        if bad is not None:
            self.problem(node, where, f"'{key}' contains the control character U+{ord(text[bad]):04X} "
                                      f"at character {bad + 1}: remove it (pages and terminals would "
                                      "show it raw)")
            return None
        if field.kind == "text":
            return text
        if not text.strip():
            self.problem(node, where, f"'{key}' is empty: {field.help}")
            return None
        message = _text_problem(field.kind, key, text)
        if message:
            self.problem(node, where, message)
            return None
        return text.lower() if field.kind == "sha256" else text

    def path_value(self, node: yaml.Node | None, where: str, key: str, default: str) -> Path | None:
        text = self.scalar(node, where, key, Field("path", "a folder, relative to the manifest"))
        if node is not None and text is None:
            return None
        return self.resolve(text or default)

    def resolve(self, text: str) -> Path:
        """A path of the manifest: `~` expanded (in every path alike), relative to its folder."""
        return Path(os.path.normpath(self.root / Path(text).expanduser()))

    def roots(self, node: yaml.Node | None) -> tuple[Path, ...]:
        """`image_roots:`: one folder or a list of them; the manifest's folder when not given."""
        if node is None:
            return (self.root,)
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            self.problem(node, "", "'image_roots' is an empty list: leave it out to keep images beside "
                                   "the manifest, or name the folders that hold them")
        out = []
        for item in items:
            text = self.scalar(item, "", "image_roots", Field("path", "a folder, relative to the manifest"))
            if text is not None:
                out.append(self.resolve(text))
        return tuple(out) or (self.root,)

    # ---- sections ------------------------------------------------------------------------------

    def site(self, node: yaml.Node | None) -> SiteSettings | None:
        if node is None:
            return SiteSettings(output=self.root / "site")
        keys = self.mapping(node, "site", SITE_FIELDS)
        if keys is None:
            return None
        values = {k: self.scalar(v, "site", k, SITE_FIELDS[k]) for k, v in keys.items()
                  if k not in ("output", "keep", "templates")}
        if "keep" in keys:
            values["keep"] = self.keep(keys["keep"])
        output = self.path_value(keys.get("output"), "site", "output", "site")
        if output is None or any(v is None for v in values.values()):
            return None
        if "templates" in keys:
            templates = self.path_value(keys["templates"], "site", "templates", "templates")
            if templates is None:
                return None
            if not templates.is_dir():
                self.problem(keys["templates"], "site", f"'templates' {templates} is not a folder: create "
                                                        "it, or remove the key to use the built-in templates")
                return None
            values["templates"] = templates
        if "base_url" in values:
            values["base_url"] = values["base_url"].rstrip("/") + "/"
        return SiteSettings(output=output, **values)

    def keep(self, node: yaml.Node) -> tuple[str, ...] | None:
        """`site.keep`: relative names or patterns in the site folder (a folder ends in /)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out, ok = [], True
        for item in items:
            text = self.scalar(item, "site", "keep", SITE_FIELDS["keep"])
            if text is None:
                ok = False
                continue
            parts = text.strip("/").split("/")
            if text.startswith(("/", "~")) or ".." in parts or "\\" in text:
                self.problem(item, "site", f"'keep' {quote(text)} must be a path inside the site folder, "
                                           "like CNAME or .well-known/")
                ok = False
                continue
            out.append(text)
        return tuple(out) if ok else None

    def cache(self, node: yaml.Node | None) -> tuple[Path | None, RemoteSettings | None]:
        """`cache: FOLDER`, or `cache: {path: FOLDER, remote: URL, endpoint_url: URL}`."""
        if not isinstance(node, yaml.MappingNode):
            return self.path_value(node, "", "cache", "renders"), None
        keys = self.mapping(node, "cache", CACHE_FIELDS)
        if keys is None:
            return None, None
        path = self.path_value(keys.get("path"), "cache", "path", "renders")
        url = self.scalar(keys.get("remote"), "cache", "remote", CACHE_FIELDS["remote"])
        endpoint = self.scalar(keys.get("endpoint_url"), "cache", "endpoint_url", CACHE_FIELDS["endpoint_url"])
        if endpoint and not (url or "").startswith(("s3://", "s3a://")):
            self.problem(keys["endpoint_url"], "cache", "'endpoint_url' goes with an s3:// `remote:` "
                                                        "(an S3-compatible service); remove it or set remote")
            return path, None
        return path, (RemoteSettings(url=url.rstrip("/"), endpoint_url=endpoint or "") if url else None)

    def render(self, node: yaml.Node | None, prefix: str) -> dict[str, Any]:
        """A `render:` block: each key a known parameter, each value checked by params.check_value."""
        if node is None:
            return {}
        where = f"{prefix}: render" if prefix else "render"
        keys = self.mapping(node, where, PARAM_FIELDS)
        out: dict[str, Any] = {}
        for key, value_node in (keys or {}).items():
            value = self.value(value_node)
            if value is _REPORTED:
                continue
            try:
                if isinstance(value, _Invalid):
                    raise ParamError(f"'{key}': {value}")
                out[key] = check_value(key, value)
            except ParamError as e:
                self.problem(value_node, where, str(e))
                continue
            if key == "weights":
                out[key] = self.weights(out[key], value_node, where)
        key_nodes = {k.value: k for k, _ in node.value if isinstance(k, yaml.ScalarNode)} \
            if isinstance(node, yaml.MappingNode) else {}
        self.param_nodes[where] = {k: key_nodes.get(k, keys[k]) for k in out}  # the key's line
        return out

    def check_unused(self, render: dict[str, Any], contents: list[ImageEntry],
                     styles: list[ImageEntry]) -> None:
        """Refuse a parameter that no cell of its render block reads (an optimiser parameter in a
        block whose cells are all engine: fast, strength where none is): see params.unused."""
        cells = {(c.id, s.id): RenderParams.from_layers(render, c.render, s.render)
                 for c in contents for s in styles}
        blocks = [("render", render, list(cells.values()))]
        blocks += [(self.entry_blocks[("content", c.id)], c.render, [cells[c.id, s.id] for s in styles])
                   for c in contents if c.render]
        blocks += [(self.entry_blocks[("style", s.id)], s.render, [cells[c.id, s.id] for c in contents])
                   for s in styles if s.render]
        for where, block, block_cells in blocks:
            for name in unused(block, block_cells):
                self.problem(self.param_nodes[where][name], where,
                             f"'{name}' does nothing: every cell it applies to renders with engine: "
                             f"{block_cells[0].engine}, {unused_reason(name, block_cells[0].engine)}")

    def weights(self, name: str, node: yaml.Node, where: str) -> str:
        """A weights file path is relative to the manifest, like every path in it."""
        if name in BUILTIN:
            return name
        path = self.resolve(name)
        if self.check_files and not path.is_file():
            self.problem(node, where, f"'weights' {quote(name)} is neither {' nor '.join(BUILTIN)} nor an existing "
                         f".pth file (looked for {path})")
        return str(path)

    def entries(self, node: yaml.Node | None, key: str, role: str,
                ids: dict[str, tuple[str, int]]) -> list[ImageEntry]:
        if node is None:
            return []  # reported as missing by mapping()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(node, key, f"'{key}' must be a non-empty list of images (- id: ..., file: ...), "
                                    f"not {_describe(node)}")
            return []
        out = []
        for i, item in enumerate(node.value):
            entry = self.entry(item, key, i, role, ids)
            if entry is not None:
                out.append(entry)
        return out

    def entry(self, node: yaml.Node, key: str, i: int, role: str,
              ids: dict[str, tuple[str, int]]) -> ImageEntry | None:
        id_node = _peek(node, "id")
        raw_id = id_node.value if isinstance(id_node, yaml.ScalarNode) else None
        where = f"{key}[{i}]" + (f" (id {quote(raw_id)})" if raw_id else "")
        keys = self.mapping(node, where, ENTRY_FIELDS)
        if keys is None:
            return None
        before = len(self.problems)
        v = {k: self.scalar(n, where, k, ENTRY_FIELDS[k]) for k, n in keys.items() if k != "render"}
        render = self.render(keys.get("render"), where)
        line = node.start_mark.line + 1
        if raw_id:
            self.entry_blocks[(role, raw_id)] = f"{where}: render"
        if v.get("id"):
            if v["id"] in ids:
                other, other_line = ids[v["id"]]
                self.problem(keys["id"], where, f"duplicate id '{v['id']}' (also in {other}, line "
                                                f"{other_line}): ids are unique across contents and styles")
            else:
                ids[v["id"]] = (key, line)
        if v.get("url") and "sha256" not in keys:
            self.problem(keys["url"], where, "'sha256' is missing: an entry with 'url' needs the "
                                             "file's sha256 (run `sha256sum FILE` on a good copy)")
        file = self.resolve(v["file"]) if v.get("file") else None
        if file is not None and not self.check_place(file, v["file"], keys["file"], where):
            file = None  # never fetched, read or published: it is outside the allowed folders
        elif file is not None and self.check_files:
            fetched = True
            # never download without a valid pin: the problem with url or sha256 is reported already
            pinned = "url" not in keys or bool(v.get("url") and v.get("sha256"))
            if self.fetch is not None and pinned and not file.exists() and v.get("id"):
                fetched = self.fetch_file(ImageEntry(
                    id=v["id"], role=role, title=v.get("title") or v["id"], file=file, url=v.get("url") or "",
                    sha256=v.get("sha256") or "", line=line), keys["file"], where)
            elif self.fetch is not None and not pinned and not file.exists():
                fetched = False  # fetched once its url and sha256 are right (reported above)
            if fetched:
                self.check_file(file, v["file"], v.get("sha256"), bool(v.get("url")), keys["file"], where)
        if len(self.problems) > before or not v.get("id") or file is None:
            return None
        return ImageEntry(id=v["id"], role=role, title=v.get("title") or v["id"], file=file,
                          credit=v.get("credit", ""), link=v.get("link", ""), url=v.get("url", ""),
                          sha256=v.get("sha256", ""), render=render, line=line)

    def fetch_file(self, entry: ImageEntry, node: yaml.Node, where: str) -> bool:
        """Put a missing file in place through `self.fetch`; False after reporting why it failed."""
        from pipeline.manifest.sources import SourceError

        try:
            self.fetch(entry)
        except SourceError as e:
            message = str(e)
            if message.startswith(f"{entry.id}: "):  # the entry is named by `where` already
                message = message[len(entry.id) + 2:]
            self.problem(node, where, message)
            return False
        return True

    def check_place(self, file: Path, written: str, node: yaml.Node, where: str) -> bool:
        """The image resolves inside an allowed folder and outside the site folder; a file that
        is missing (to be fetched) has an image's name in a folder that is not hidden."""
        roots = self.image_roots
        root = safepath.first_root(file, roots)
        if root is None:
            places = " or ".join(str(r) for r in roots)
            self.problem(node, where, f"'file' {quote(written)} resolves to {safepath.real(file)}, outside "
                                      f"{places}: move the image there, or add its folder to "
                                      "`image_roots:` (a list of folders, relative to the manifest)")
            return False
        if self.output is not None and safepath.inside(file, self.output):
            self.problem(node, where, f"'file' {quote(written)} is inside site.output ({self.output}), "
                                      "which every build rewrites (it deletes what it did not write): "
                                      "move the image out of that folder")
            return False
        if not os.path.lexists(file):
            why = safepath.write_problem(file, root)
            if why:
                self.problem(node, where, f"'file' {quote(written)} cannot be fetched: {why}; "
                                          "point it at an image file such as images/NAME.jpg")
                return False
        return True

    def check_file(self, file: Path, written: str, sha256: str | None, has_url: bool,
                   node: yaml.Node, where: str) -> None:
        """The image file exists, has the pinned sha256, decodes fully and is under the pixel limit."""
        if not file.exists():
            fix = ("run `python -m pipeline validate` (without --no-fetch) to fetch it from its url, "
                   "or copy it there" if has_url else
                   "copy the image there, or fix the path (it is relative to the manifest)")
            self.problem(node, where, f"'file' {quote(written)} not found (looked for {file}): {fix}")
            return
        if not file.is_file():  # a folder, or a FIFO that would block the reader
            self.problem(node, where, f"'file' {quote(written)} is not a regular file: point it at an image")
            return
        if sha256:
            try:
                actual = self.memo.file_sha256(file) if self.memo else file_sha256(file)
            except OSError as e:
                self.problem(node, where, f"'file' {quote(written)} cannot be read: {e.strerror}")
                return
            if actual != sha256:
                self.problem(node, where, _sha256_mismatch(written, actual, sha256, has_url))
        # Decoding every image takes most of a no-op `make gallery`'s time: a file that decoded
        # fine is not decoded again while its size and mtime hold (the plan trusts them for hashes).
        name, st = str(file), file.stat()
        if self.memo and self.memo.get("decoded", name, st) is not None:
            return
        from pipeline.manifest.images import MAX_PIXELS, ImageLoadError, load_rgb  # Pillow: only when files are checked

        try:
            im = load_rgb(file, MAX_PIXELS)
        except ImageLoadError as e:
            self.problem(node, where, f"'file' {quote(written)}: {e}")
            return
        if self.memo:
            self.memo.put("decoded", name, st, list(im.size))

    def exclude(self, node: yaml.Node | None, ids: dict[str, tuple[str, int]],
                n_cells: int) -> set[tuple[str, str]]:
        if node is None:
            return set()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "exclude", f"'exclude' must be a list of {{content: ID, style: ID}}, "
                                          f"not {_describe(node)}")
            return set()
        known = {role: {i for i, (key, _) in ids.items() if key == role + "s"} for role in ("content", "style")}
        out = set()
        for i, item in enumerate(node.value):
            where = f"exclude[{i}]"
            keys = self.mapping(item, where, EXCLUDE_FIELDS)
            if keys is None:
                continue
            pair = []
            for role in ("content", "style"):
                ref = self.scalar(keys.get(role), where, role, Field("nonempty", f"a {role} id"))
                other = "style" if role == "content" else "content"
                if ref is not None and known[role] and ref not in known[role]:
                    hint = (f"'{ref}' is a {other}, not a {role}" if ref in known[other]
                            else f"no {role} has id '{ref}'{_suggest(ref, known[role])}")
                    self.problem(keys[role], where, f"'{role}': {hint}")
                    ref = None
                pair.append(ref)
            if None not in pair:
                out.add(tuple(pair))
        if n_cells and len(out) >= n_cells:
            self.problem(node, "exclude", "every cell is excluded: nothing would be rendered")
        return out

    def check_output(self, output: Path, cache: Path, node: yaml.Node) -> None:
        """The site folder is rebuilt by the site stage: it must not hold the manifest or the cache."""
        for name, inside in (("the manifest", self.path), ("the render cache", cache)):
            if inside == output or output in inside.parents:
                self.problem(node, "site", f"'output' {output} would contain {name}: "
                                           "choose a folder of its own (default: site)")


def _sha256_mismatch(written: str, actual: str, pinned: str, has_url: bool) -> str:
    """The advice depends on whether another copy exists: without a url, the file on disk may
    be the only one, and deleting it would lose the image."""
    what = f"'file' {quote(written)} has sha256 {actual}, not the pinned 'sha256' {pinned}"
    if has_url:
        return (f"{what}: if you replaced the image on purpose, set 'sha256: {actual}' (and point "
                f"'url' at the new image); otherwise move the file away and run `validate` again "
                f"to download the pinned one from 'url'")
    return (f"{what}: if you changed or replaced the image on purpose, set 'sha256: {actual}'; "
            f"otherwise restore the original from your own copy. Do not delete it: the entry has "
            f"no 'url', so this file may be the only copy")


class _Recursive(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


class _Invalid(str):
    """A value YAML could not construct (e.g. a bad timestamp); reported by whoever reads it."""


_REPORTED = object()  # the value of a node whose refused tag is already reported


def _text_problem(kind: str, key: str, text: str) -> str | None:
    """What is wrong with a non-empty text value of this kind, or None."""
    if kind == "id" and not (_ID_RE.fullmatch(text) and len(text) <= ID_MAX):
        return (f"'id' {quote(text)} must be 1 to {ID_MAX} lowercase letters, digits or hyphens "
                f"(it becomes file names and URLs), e.g. {_slug(text)!r}")
    if kind == "url" and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        return f"'{key}' {quote(text)} must be an http:// or https:// address"
    if kind == "https" and not re.fullmatch(r"https://[^\s/]+/\S*", text):
        return f"'{key}' {quote(text)} must be an https:// address of the file (plain http is not allowed)"
    if kind == "remote" and re.match(r"^[a-z0-9+]+://[^/@]*@", text):
        return (f"'{key}' holds credentials (user@host): remove them; each storage reads its own "
                f"from the environment (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS, ...)")
    if kind == "remote" and not re.fullmatch(REMOTE_PATTERN, text):
        return (f"'{key}' {text!r} must be a URL: s3://bucket/prefix, gs://bucket/prefix, "
                f"az://container/prefix, file:///absolute/folder or https://...")
    if kind == "remote" and text.startswith("file://") and not text.startswith("file:///"):
        return f"'{key}' {text!r}: a folder remote needs an absolute path, e.g. file:///mnt/renders"
    if kind == "sha256" and not _SHA_RE.fullmatch(text):
        return f"'{key}' must be 64 hexadecimal digits (run `sha256sum FILE`), not {quote(text)}"
    return None


def _peek(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _suggest(word: str, choices) -> str:
    if word in PARAMS_BY_NAME and "render" in choices:
        return " - render parameters go in a 'render:' block"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" - did you mean '{close[0]}'?"
    return f" - allowed: {', '.join(sorted(choices))}" if choices else ""


def _describe(node: yaml.Node | None) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    if node is None or node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return quote(node.value)


def _made_by_us(cache: Path) -> bool:
    """Whether `cache` is a render cache the pipeline made (its memo or mutex folder is there):
    validation saves what it learned only there, never into just any folder `cache:` names."""
    return (cache / MEMO_FILE).is_file() or (cache / ".mutexes").is_dir()


def _control_character(text: str, allowed: str) -> int | None:
    """Index of the first control character in `text` not in `allowed`, or None."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            return i
    return None


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")[:ID_MAX] or "my-image"
