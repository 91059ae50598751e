"""The plan: each cell's render key, whether the cache holds it, and if not, why it must render.

Like a build system, a cell is redone when what determines its pixels changes, not when a
file's date does: the key hashes the content and style image bytes, the effective render
parameters, the weights and the renderer version. Titles, credits, links and order never
enter it. Torch-free, so that a fully cached gallery plans in milliseconds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.core.model import Gallery, ImageEntry
from pipeline.core.params import PARAMS, RenderParams
from pipeline.plan.cache import Cache
from pipeline.plan.estimate import CPU_PACE, Estimates
from pipeline.plan.keys import key_inputs, provenance
from pipeline.plan.lockfile import cell_name, read_lock, update_lock
from pipeline.plan.shards import shard_of
from pipeline.util.errors import GalleryError
from pipeline.core.weights import weights_identity
from pipeline.util.hashing import file_sha256
from pipeline.util.hashing import json_sha256
from pipeline.util.mutex import Mutex

class MissingImageError(GalleryError):
    """An input image is not on disk yet (`validate` fetches it): no key can be computed."""


@dataclass(frozen=True)
class Cell:
    """One (content, style) pair of the grid, with its key and what the plan decided for it."""

    content: ImageEntry
    style: ImageEntry
    params: RenderParams
    key: str  # hex sha256 (64 chars)
    state: str  # "cached" | "render" | "excluded"
    reasons: tuple[str, ...]  # why it must render (empty when cached or excluded)
    image: Path  # <cache>/<key[:2]>/<key>.png (exists when cached)
    record: Path  # <cache>/<key[:2]>/<key>.json
    inputs: dict[str, Any] = field(default_factory=dict, compare=False)  # what the key hashes
    corrupt: str = ""  # why its cached render cannot be used (it renders again); "" when sound

    @property
    def name(self) -> str:
        """`content:style`, as in the lock file and `render --cell`."""
        return cell_name(self.content.id, self.style.id)


@dataclass
class Plan:
    gallery: Gallery
    cells: list[Cell]  # manifest order: content rows x style columns, excluded included
    cache: Cache | None = None
    lock: dict[str, dict[str, Any]] = field(default_factory=dict)  # the lock file as read
    _estimates: Estimates | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cache is None:
            self.cache = Cache(self.gallery.cache)

    def cell(self, content_id: str, style_id: str) -> Cell | None:
        return next((c for c in self.cells if c.content.id == content_id and c.style.id == style_id), None)

    def missing(self) -> list[Cell]:
        """Cells to render, in manifest order, one per key (identical inputs render once)."""
        seen: set[str] = set()
        out = []
        for c in self.cells:
            if c.state == "render" and c.key not in seen:
                seen.add(c.key)
                out.append(c)
        return out

    def shard(self, k: int, n: int, planned: dict[str, float] | None = None) -> list[Cell]:
        """The missing cells of the k-th of n shards, balanced by estimated time (plan/shards.py).

        `planned` (key -> seconds, from a plan file written before the shards started): split
        exactly those cells by their estimates, so shards share the work evenly. Without it,
        split every non-excluded cell, cached or not, by a machine-independent estimate (the
        fp32 default pace): the split then does not depend on what a machine has cached, so
        shards on a shared cache never overlap or miss a cell, whenever each starts.
        """
        if planned is None:
            per_work, overhead = CPU_PACE["fp32"]
            planned = {c.key: overhead + per_work * c.params.work()
                       for c in self.cells if c.state != "excluded"}
        mine = shard_of(planned, k, n)
        return [c for c in self.missing() if c.key in mine]

    def refresh(self, keys) -> None:
        """Look again at these keys in the cache (rendered since the plan was made, here or by
        another process): a cell now in the cache becomes cached. Cheaper than a new plan."""
        keys = set(keys)
        for i, c in enumerate(self.cells):
            if c.key in keys and c.state == "render":
                self.cache.forget(c.key)
                if self.cache.has(c.key):
                    self.cells[i] = replace(c, state="cached", reasons=())
        self._estimates = None

    def counts(self) -> dict[str, int]:
        out = {"cached": 0, "render": 0, "excluded": 0}
        for c in self.cells:
            out[c.state] += 1
        return out

    # ---- lock file
    def lock_entry(self, cell: Cell) -> dict[str, Any]:
        """What the lock file says about a rendered cell: its inputs, key and a record summary."""
        record = self.cache.summary(cell.key) or {}
        entry = {**provenance(cell), "image": _relative(cell.image, self.gallery.lock_path.parent)}
        if isinstance(record.get("seconds"), (int, float)):
            entry["seconds"] = round(float(record["seconds"]), 1)
        if record.get("device"):
            entry["device"] = str(record["device"])
        if record.get("threads"):
            entry["threads"] = record["threads"]
        return entry

    def synced_lock(self, current: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """The lock file this plan implies: cached cells as they are now; cells still to render
        keep their entry in `current` (so the reason survives an interrupted run); the rest drop out."""
        current = self.lock if current is None else current
        cells: dict[str, dict[str, Any]] = {}
        for c in self.cells:
            if c.state == "cached":
                cells[c.name] = self.lock_entry(c)
            elif c.state == "render" and c.name in current:
                cells[c.name] = current[c.name]
        return cells

    def record_in_lock(self, key: str) -> None:
        """Record the cells with this key that are in the cache now in the lock file, leaving the
        others' entries alone (read-modify-write under its mutex: renders end at any time)."""
        mine = [c for c in self.cells if c.key == key and c.state != "excluded"]
        self.refresh(c.key for c in mine)
        mine = [c for c in self.cells if c.key == key and c.state == "cached"]
        update_lock(self.gallery.lock_path, self.lock_file_mutex(),
                    lambda cells: {**cells, **{c.name: self.lock_entry(c) for c in mine}})

    def sync_lock(self) -> bool:
        """Rewrite the lock file to match the cache (written only when it changes); True if it changed."""
        return bool(update_lock(self.gallery.lock_path, self.lock_file_mutex(), self.synced_lock))

    def lock_file_mutex(self) -> Mutex:
        """The flock that serialises lock-file updates (it lives in the cache, not beside the manifest)."""
        return Mutex(self.cache.mutex_dir() / f"{self.gallery.lock_path.name}.mutex", "the lock file",
                        announce=False)

    # ---- time estimates
    def estimate_seconds(self, cell: Cell) -> float:
        """How long `cell` will take to render here (see plan/estimate.py)."""
        return self.estimates.seconds(cell)

    def estimate_total(self, cells) -> float:
        """How long `cells` take to render in one run here (see plan/estimate.py)."""
        return self.estimates.total(cells)

    def timed_renders(self) -> list[float]:
        return self.estimates.timed_renders()

    @property
    def estimates(self) -> Estimates:
        if self._estimates is None:
            self._estimates = Estimates(self)
        return self._estimates


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()


def image_sha256(gallery: Gallery, entry: ImageEntry, cache: Cache | None = None) -> str:
    """The image file's bytes hash (memoised by path, size and mtime), or a clear error if it is missing."""
    try:
        return cache.file_sha256(entry.file) if cache else file_sha256(entry.file)
    except FileNotFoundError:
        where = f"{gallery.path}:{entry.line}: " if entry.line else f"{gallery.path}: "
        raise MissingImageError(f"{where}{entry.role} '{entry.id}': image file {entry.file} is missing; "
                           f"run `make validate` to fetch it, or fix `file:`") from None


# ---- the plan

def make_plan(gallery: Gallery) -> Plan:
    """Key every cell of the grid, look each up in the cache, and explain what must render."""
    cache = Cache(gallery.cache)
    lock = read_lock(gallery.lock_path)
    known_contents = {e["content"]["id"] for e in lock.values()}  # entries are checked on read
    known_styles = {e["style"]["id"] for e in lock.values()}
    shas = {e.id: image_sha256(gallery, e, cache) for e in (*gallery.contents, *gallery.styles)}
    weights: dict[str, dict[str, str]] = {}
    cells = []
    for content in gallery.contents:
        for style in gallery.styles:
            params = gallery.cell_params(content, style)
            if params.uses("weights") and params.weights not in weights:
                weights[params.weights] = weights_identity(params.weights)
            inputs = key_inputs(shas[content.id], shas[style.id], params, weights.get(params.weights))
            key = json_sha256(inputs)
            image, record = cache.image_path(key), cache.record_path(key)
            reasons: tuple[str, ...] = ()
            found, corrupt = ("", "") if (content.id, style.id) in gallery.exclude else cache.state(key)
            if (content.id, style.id) in gallery.exclude:
                state = "excluded"
            elif found == "cached":
                state = "cached"
            elif corrupt:
                state, reasons = "render", (f"the cached render is corrupt: {corrupt}",)
            else:
                state = "render"
                prev = lock.get(cell_name(content.id, style.id))
                reasons = explain(prev, inputs, key, image, lock_empty=not lock,
                                  new_content=content.id not in known_contents,
                                  new_style=style.id not in known_styles)
            cells.append(Cell(content, style, params, key, state, reasons, image, record, inputs, corrupt))
    cache.memo.save()
    return Plan(gallery, cells, cache, lock)


def explain(prev: dict[str, Any] | None, inputs: dict[str, Any], key: str, image: Path, *,
            lock_empty: bool = False, new_content: bool = False, new_style: bool = False) -> tuple[str, ...]:
    """Why a cell must render, from its lock-file entry (what it was last rendered from)."""
    if prev is None:
        if lock_empty:
            return ("new cell (no lock file entries yet)",)
        reasons = []
        if new_content:
            reasons.append("new content")
        if new_style:
            reasons.append("new style")
        # Its content and style are known, the cell is not: most often a run stopped before it.
        return tuple(reasons) or ("not rendered yet (an earlier run stopped before it, or it was excluded)",)
    reasons = []
    if prev.get("content", {}).get("sha256") != inputs["content"]:
        reasons.append("content image changed")
    if prev.get("style", {}).get("sha256") != inputs["style"]:
        reasons.append("style image changed")
    changed = param_changes(prev.get("params") or {}, inputs["params"])
    old_w, new_w = prev.get("weights") or {}, inputs.get("weights") or {}
    if old_w != new_w:  # says it better than "parameters changed: weights"
        changed = [c for c in changed if not c.startswith("weights ")]
    if changed:
        reasons.append("parameters changed: " + ", ".join(changed))
    if old_w != new_w:
        if old_w.get("id") != new_w["id"]:
            reasons.append(f"weights changed: {old_w.get('id', '?')} -> {new_w.get('id', 'none')}")
        else:
            reasons.append(f"weights file changed ({new_w.get('id')})")
    engine_parts = set(inputs) | ({"head_start"} & set(prev))  # the entry's other fields are not key inputs
    for part in sorted(engine_parts - {"content", "style", "params", "weights"}):
        if prev.get(part) != inputs.get(part):  # renderer_version, or init: fast's head start
            reasons.append(_part_change(part, prev.get(part), inputs.get(part)))
    if not reasons:
        if prev.get("key") == key:
            reasons.append(f"render missing from the cache ({image.name} not found or incomplete)")
        else:
            reasons.append("key changed (the key format of this pipeline version differs)")
    return tuple(reasons)


def param_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`name old -> new` for each parameter that differs, in the parameter table's order."""
    order = [p.name for p in PARAMS]
    names = sorted(set(old) | set(new), key=lambda n: (order.index(n) if n in order else len(order), n))
    out = []
    for n in names:
        a, b = old.get(n, "unset"), new.get(n, "unset")
        if a != b:
            out.append(f"{n} {_show(a)} -> {_show(b)}")
    return out


def _part_change(part: str, old: Any, new: Any) -> str:
    """One engine part's change in words: a version, or a head start's engine and models."""
    name = part.replace("_", " ")
    if old is None:
        return f"{name} added: {_show(new)}"
    if new is None:
        return f"{name} removed (was {_show(old)})"
    return f"{name} changed: {_show(old)} -> {_show(new)}"


def _show(v: Any) -> str:
    if isinstance(v, dict) and "renderer_version" in v:  # a head start: its engine and its models
        return f"{v['renderer_version']} with {(v.get('weights') or {}).get('id', '?')}"
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
