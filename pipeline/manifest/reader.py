"""Read the YAML manifest into a validated Gallery, reporting every problem with file, line and entry.

Why walk YAML nodes instead of calling yaml.safe_load: nodes keep their line numbers, and
duplicate keys (which safe_load silently overwrites) stay visible. Validation writes nothing but
the memo of checked images in an existing cache folder (so a no-op run hashes nothing). The keys
and their checks are in fields.py (the schema publishes the same tables), YAML safety in
yaml_checks.py, the image files' checks in image_checks.py.

Paths in a manifest are relative to the manifest's folder (`~` is the home folder, in every
path). Without `site.output` and `cache`, the site goes to `site/` and renders to `renders/`
beside the manifest. Image files must resolve (symlinks followed) inside the manifest's folder or
a folder the user allows from outside the manifest (pipeline.manifest.roots; `image_roots:` can
only narrow that), and never inside `site.output`: a manifest from someone else cannot make the
pipeline read, publish or fetch into any other place (see pipeline.util.safepath).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.manifest.fields import (CACHE_FIELDS, ENTRY_FIELDS, EXCLUDE_FIELDS, PARAM_FIELDS, SITE_FIELDS,
                                      TOP_FIELDS, Field, suggest, value_problem)
from pipeline.manifest.image_checks import ImageFileChecks, made_by_us
from pipeline.core.model import Gallery, ImageEntry, RemoteSettings, SiteSettings
from pipeline.core.params import ParamError, RenderParams, check_value, unused, unused_reason
from pipeline.core.weights import BUILTIN
from pipeline.manifest.yaml_checks import FAILED, MERGE, REPORTED, Invalid, YamlChecks, describe, peek
from pipeline.util.errors import GalleryError, ManifestError, quote
from pipeline.util.memo import MEMO_FILE, Memo


def load_gallery(path: Path, check_files: bool = True, fetch: Callable[[ImageEntry], Any] | None = None,
                 data: bytes | None = None) -> Gallery:
    """Parse and validate the manifest at `path`; raise ManifestError listing every problem.

    check_files: also check each image file (exists, sha256, decodes, under the pixel limit).
    fetch: called with an entry whose file is missing, to put it in place (sources.Fetcher);
    its SourceError becomes one more problem of that entry. Fetching inside the one pass is
    what lets `validate` report every problem of every entry in one run, not in waves.
    data: the manifest's bytes, read already (`add` validates the text it is about to write).
    """
    path = Path(path)
    try:
        data = path.read_bytes() if data is None else data
    except FileNotFoundError:
        raise GalleryError(f"{path}: no such manifest: pass --config PATH (the demo is "
                           f"config/gallery.yaml), or start a gallery there with `init`") from None
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


class _Reader(YamlChecks, ImageFileChecks):
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
        if root is FAILED:
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
        if self.memo is not None and made_by_us(Path(cache)):  # validate never creates the cache
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

    def mapping(self, node: yaml.Node, where: str, fields: dict[str, Field]) -> dict[str, yaml.Node] | None:
        """Keys of a mapping node -> value nodes; reports non-mappings, unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            keys = ", ".join(list(fields)[:6]) + (", ..." if len(fields) > 6 else "")
            self.problem(node, where, f"{'' if where else 'the top level '}must be a mapping of "
                                      f"keys ({keys}), not {describe(node)}")
            return None
        own = [kv for kv in node.value if kv[0].tag != MERGE]
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
                self.problem(line, where, f"unknown key '{key}'{suggest(key, fields)}")
            if (key_node, value) in own:
                seen.setdefault(key, line)
            out[key] = value
        for key, field in fields.items():
            if field.required and key not in out:
                self.problem(node, where, f"'{key}' is missing: add it ({field.help})")
        return {k: v for k, v in out.items() if k in fields}

    # ---- scalars -------------------------------------------------------------------------------

    def scalar(self, node: yaml.Node | None, where: str, key: str, field: Field) -> Any:
        """Check one value of a simple kind; returns it, or None after reporting a problem."""
        if node is None:
            return None
        if field.kind == "positive":
            v = self.value(node)
            if v is REPORTED:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                self.problem(node, where, f"'{key}' must be a number above 0, not {describe(node)}")
                return None
            return float(v)
        if field.kind == "choice":  # the text as written: YAML would read `off` as false
            v = node.value if isinstance(node, yaml.ScalarNode) else None
            if v not in field.choices:
                self.problem(node, where, f"'{key}' must be one of {', '.join(field.choices)}, not "
                                          f"{describe(node)}")
                return None
            return v
        if field.kind == "bool":
            v = self.value(node)
            if v is REPORTED:
                return None
            if not isinstance(v, bool):
                self.problem(node, where, f"'{key}' must be true or false, not {describe(node)}")
                return None
            return v
        # Text kinds use the text as written, so that `title: 1889` or `id: 2001` mean what they say.
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, where, f"'{key}' must be text, not {describe(node)}")
            return None
        text = "" if node.tag == "tag:yaml.org,2002:null" else node.value
        message = value_problem(field.kind, key, text)
        if message:
            self.problem(node, where, message + (f": {field.help}" if message.endswith("is empty") else ""))
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
            if value is REPORTED:
                continue
            try:
                if isinstance(value, Invalid):
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
            if not block_cells:  # no cell yet (a new gallery): nothing to judge a parameter by
                continue
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
        if node is None or node.tag == "tag:yaml.org,2002:null":
            return []  # missing: reported by mapping(); `contents:` with nothing yet: a new gallery
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, key, f"'{key}' must be a list of images (- id: ..., file: ...), "
                                    f"not {describe(node)}")
            return []
        out = []
        for i, item in enumerate(node.value):
            entry = self.entry(item, key, i, role, ids)
            if entry is not None:
                out.append(entry)
        return out

    def entry(self, node: yaml.Node, key: str, i: int, role: str,
              ids: dict[str, tuple[str, int]]) -> ImageEntry | None:
        id_node = peek(node, "id")
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
                self.check_file(file, v["file"], v.get("sha256"), bool(v.get("url")), keys["file"], where,
                                repin=f"make repin {role.upper()}={v['id']}" if v.get("id") else "")
        if len(self.problems) > before or not v.get("id") or file is None:
            return None
        return ImageEntry(id=v["id"], role=role, title=v.get("title") or v["id"], file=file,
                          credit=v.get("credit", ""), link=v.get("link", ""), url=v.get("url", ""),
                          sha256=v.get("sha256", ""), render=render, line=line)

    def exclude(self, node: yaml.Node | None, ids: dict[str, tuple[str, int]],
                n_cells: int) -> set[tuple[str, str]]:
        if node is None:
            return set()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "exclude", f"'exclude' must be a list of {{content: ID, style: ID}}, "
                                          f"not {describe(node)}")
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
                            else f"no {role} has id '{ref}'{suggest(ref, known[role])}")
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

