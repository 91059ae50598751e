"""The plan: each cell's render key, whether the cache holds it, and if not, why it must render.

Like a build system, a cell is redone when what determines its pixels changes, not when a
file's date does: the key hashes the content and style image bytes, the effective render
parameters, the weights and the renderer version. Titles, credits, links and order never
enter it. Torch-free, so that a fully cached gallery plans in milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.plan.cache import Cache, FileLock
from pipeline.util.errors import GalleryError
from pipeline.plan.lockfile import cell_name, read_lock
from pipeline.manifest.model import Gallery, ImageEntry
from pipeline.manifest.params import FAST, PARAMS, PARAMS_BY_NAME, RenderParams
from pipeline.manifest.weights import file_sha256, weights_identity

# Used when no earlier render says how fast this machine is: the pace of a 2-core x86 CPU,
# seconds per unit of work plus a per-render overhead (process start, weights, style features),
# fitted to 512 px renders under `make`. Work is the sum over pyramid levels of
# iterations x level_size^2. Two CPUs, because `precision: auto` runs bf16 where the CPU
# multiplies it natively (the one measured took a third of the other's time):
# - fp32 (AVX2 only): the renderer benchmark, renderer 7: standard 582 s, draft 25 s;
# - native bf16 (AVX512-BF16), renderer 7 under `make`: standard 189-206 s, draft 8-11 s,
#   plus about 3 s each for the process.
# On a GPU the first estimate is far too high, which misleads less than a tenfold
# underestimate on the CPU most users have; after the first render every estimate uses this
# machine's own pace.
CPU_PACE = {"fp32": (1.65e-5, 12.0), "bf16": (5.2e-6, 6.7)}  # (seconds per work, overhead)
# engine: fast, before this machine has timed one: (seconds per pixel, overhead). Measured on
# the 2-core CPU: the transform about 0.2 s at 512 px and 0.9 s at 1024 px, plus a process's
# start and the models' load.
FAST_PACE = (9e-7, 2.0)
CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (Linux's CPU flags; False where unknown).

    Read from /proc/cpuinfo rather than asked of torch: `status` stays torch-free (importing it
    costs a second), and the answer is the same one oneDNN acts on.
    """
    try:
        with CPUINFO.open(encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool(NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    except OSError:
        pass
    return False


def default_pace(params: RenderParams) -> tuple[str, float, float]:
    """The assumed CPU (fp32 or bf16) and its (seconds per work, overhead) for `params`."""
    cpu = "bf16" if params.precision in ("auto", "bf16") and cpu_has_native_bf16() else "fp32"
    return (cpu, *CPU_PACE[cpu])


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

    def shard(self, k: int, n: int) -> list[Cell]:
        """The missing cells of the k-th of n slices: 1/n..n/n partition the missing cells exactly.

        Slices are dealt over every cell's key in sorted order, cached or not, so a slice does not
        depend on what a machine has cached already: shards run in any order, on any machine,
        with any partial cache, and still never overlap or miss a cell.
        """
        if not (n >= 1 and 1 <= k <= n):
            raise GalleryError(f"--shard {k}/{n}: want K/N with 1 <= K <= N, e.g. --shard 1/4")
        keys = sorted({c.key for c in self.cells if c.state != "excluded"})
        mine = set(keys[k - 1::n])
        return [c for c in self.missing() if c.key in mine]

    def counts(self) -> dict[str, int]:
        out = {"cached": 0, "render": 0, "excluded": 0}
        for c in self.cells:
            out[c.state] += 1
        return out

    # ---- lock file
    def lock_entry(self, cell: Cell) -> dict[str, Any]:
        """What the lock file says about a rendered cell: its inputs, key and a record summary."""
        record = self.cache.summary(cell.key) or {}
        entry = {
            "content": {"id": cell.content.id, "sha256": cell.inputs["content"]},
            "style": {"id": cell.style.id, "sha256": cell.inputs["style"]},
            "key": cell.key,
            "params": cell.inputs["params"],
            "weights": cell.inputs["weights"],
            "renderer_version": cell.inputs["renderer_version"],
            "image": _relative(cell.image, self.gallery.lock_path.parent),
        }
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

    def lock_in_sync(self) -> bool:
        return self.synced_lock() == self.lock

    def lock_guard(self) -> FileLock:
        """The flock that serialises lock-file updates (it lives in the cache, not beside the manifest)."""
        return FileLock(self.cache.lock_dir() / f"{self.gallery.lock_path.name}.lock", "the lock file",
                        announce=False)

    # ---- time estimates
    def estimate_seconds(self, cell: Cell) -> float:
        """From earlier renders of the same size and schedule, else scaled from any earlier render
        by the work (iterations x pixels per level), else a default CPU rate."""
        import statistics

        same, rates = self._timings()
        sched = _schedule(cell.params)
        if same.get(sched):
            return statistics.median(same[sched])
        if cell.params.engine == FAST:  # the optimiser's rate says nothing of the network's
            per_pixel, overhead = FAST_PACE
            return overhead + per_pixel * cell.params.size ** 2
        if rates:
            return statistics.median(rates) * cell.params.work()
        _, per_work, overhead = default_pace(cell.params)
        return overhead + per_work * cell.params.work()

    def timed_renders(self) -> list[float]:
        """Seconds per unit of work of earlier renders (cache and lock file) that say how long they took."""
        return self._timings()[1]

    def _timings(self) -> tuple[dict[tuple, list[float]], list[float]]:
        """Render seconds by (size, schedule), and per unit of work, from the cached cells'
        records and from the lock file (a cell's previous render, even if its key changed).

        CPU renders are scaled to the most threads any of them had: under `make -j2` each
        worker renders on 1 of 2 cores and takes about twice as long, but the gallery does not.
        """
        if not hasattr(self, "_timing_cache"):
            samples: dict[str, tuple[RenderParams, dict[str, Any]]] = {}
            for name, entry in self.lock.items():
                try:
                    known = {k: v for k, v in (entry.get("params") or {}).items() if k in PARAMS_BY_NAME}
                    samples[name] = (RenderParams.from_layers(known), entry)
                except (ValueError, TypeError):
                    continue  # written by another version of the parameter table
            for c in self.cells:
                if c.state == "cached":
                    samples[c.name] = (c.params, self.cache.summary(c.key) or {})
            timed = [(params, float(info["seconds"]), _cpu_threads(info))
                     for params, info in samples.values()
                     if isinstance(info.get("seconds"), (int, float)) and info["seconds"] > 0]
            most = max((t for _, _, t in timed if t), default=None)
            same: dict[tuple, list[float]] = {}
            rates: list[float] = []
            for params, seconds, threads in timed:
                if threads and most:
                    seconds *= threads / most
                same.setdefault(_schedule(params), []).append(seconds)
                if params.engine != FAST:
                    rates.append(seconds / max(params.work(), 1))
            self._timing_cache = (same, rates)
        return self._timing_cache


def _schedule(params: RenderParams) -> tuple:
    """Renders that take the same time: the engine, the size and the optimiser's schedule."""
    return (params.engine, params.size, tuple(params.schedule()) if params.engine != FAST else ())


def _cpu_threads(info: dict[str, Any]) -> int | None:
    """The threads of a CPU render (None for a GPU's, or where the record does not say)."""
    threads = info.get("threads")
    if info.get("device") != "cpu" or not isinstance(threads, int) or threads < 1:
        return None
    return threads


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()


# ---- keys

def canonical_json(obj: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII, no NaN; floats as Python's repr."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def key_params(params: RenderParams) -> dict[str, Any]:
    """`params.key_dict()` with each value in its table type, so 1 and 1.0 hash the same."""
    out: dict[str, Any] = {}
    for name, value in params.key_dict().items():
        kind = PARAMS_BY_NAME[name].kind if name in PARAMS_BY_NAME else ""
        if kind == "float" and value is not None:
            value = float(value)
        elif kind == "int_list" and value is not None:
            value = [int(v) for v in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def key_inputs(content_sha: str, style_sha: str, params: RenderParams,
               weights: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything that determines a render's pixels, as the plain dict the key hashes: the
    engine's networks and version come from the engine (pipeline/render/engine.py)."""
    from pipeline.render.engine import key_parts

    return {
        "content": content_sha,
        "style": style_sha,
        "params": key_params(params),
        **key_parts(params, weights),
    }


def render_key(content_sha: str, style_sha: str, params: RenderParams,
               weights: dict[str, str] | None = None) -> str:
    """sha256 of the canonical JSON of the key inputs: the cell's address in the cache."""
    return hashlib.sha256(canonical_json(key_inputs(content_sha, style_sha, params, weights))).hexdigest()


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
    known_contents = {e.get("content", {}).get("id") for e in lock.values()}
    known_styles = {e.get("style", {}).get("id") for e in lock.values()}
    shas = {e.id: image_sha256(gallery, e, cache) for e in (*gallery.contents, *gallery.styles)}
    weights: dict[str, dict[str, str]] = {}
    cells = []
    for content in gallery.contents:
        for style in gallery.styles:
            params = gallery.cell_params(content, style)
            if params.uses("weights") and params.weights not in weights:
                weights[params.weights] = weights_identity(params.weights)
            inputs = key_inputs(shas[content.id], shas[style.id], params, weights.get(params.weights))
            key = hashlib.sha256(canonical_json(inputs)).hexdigest()
            image, record = cache.image_path(key), cache.record_path(key)
            reasons: tuple[str, ...] = ()
            if (content.id, style.id) in gallery.exclude:
                state = "excluded"
            elif cache.has(key):
                state = "cached"
            else:
                state = "render"
                prev = lock.get(cell_name(content.id, style.id))
                reasons = explain(prev, inputs, key, image, lock_empty=not lock,
                                  new_content=content.id not in known_contents,
                                  new_style=style.id not in known_styles)
            cells.append(Cell(content, style, params, key, state, reasons, image, record, inputs))
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
    old_w, new_w = prev.get("weights") or {}, inputs["weights"]
    if old_w != new_w:  # says it better than "parameters changed: weights"
        changed = [c for c in changed if not c.startswith("weights ")]
    if changed:
        reasons.append("parameters changed: " + ", ".join(changed))
    if old_w != new_w:
        if old_w.get("id") != new_w["id"]:
            reasons.append(f"weights changed: {old_w.get('id', '?')} -> {new_w['id']}")
        else:
            reasons.append(f"weights file changed ({new_w['id']})")
    if prev.get("renderer_version") != inputs["renderer_version"]:
        reasons.append(f"renderer version changed: {prev.get('renderer_version', '?')} -> "
                       f"{inputs['renderer_version']}")
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


def _show(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
