"""`status`, `render`, `prune` and `gallery`: the plan's commands (registered by pipeline.cli).

Torch is imported only when a cell actually renders, so every command on a fully cached
gallery stays fast. `make -jN` runs one `render --cell` per missing cell; each worker then
starts with cores // N threads (see `split_threads`) and takes more when fewer renders run
(see `workers`).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.util.errors import GalleryError
from pipeline.util.progress import duration
from pipeline.render.threads import USER_THREAD_VARIABLES, Workers


# ---- wiring

def _load_gallery(config: str, check_files: bool):
    """The validated manifest (one place, so tests can swap in a gallery of their own)."""
    from pipeline.manifest.reader import load_gallery

    return load_gallery(Path(config), check_files=check_files)


def _fetch(config: str, quiet: bool) -> None:
    from pipeline.manifest.sources import resolve_sources

    resolve_sources(_load_gallery(config, check_files=False), quiet=quiet)


# ---- make -jN: threads per worker

def make_jobs(makeflags: str | None) -> int | None:
    """The -jN of the make that started us: None outside make, 0 for an unlimited `-j`."""
    if makeflags is None:
        return None
    jobs = 1
    for tok in makeflags.split():
        m = re.fullmatch(r"-j(\d*)|--jobs(?:=(\d+))?", tok)
        if m:
            n = m.group(1) or m.group(2)
            jobs = int(n) if n else 0
    return jobs


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def split_threads(env: dict[str, str] | None = None, cpus: int | None = None) -> int | None:
    """Under `make -jN` give each worker cores // N threads (at least 1), so N renders at once
    do not oversubscribe the cores. Values the user set are kept. Returns the threads set."""
    env = os.environ if env is None else env
    jobs = make_jobs(env.get("MAKEFLAGS"))
    if jobs is None or jobs == 1:
        return None
    threads = max(1, (cpus or cpu_count()) // jobs) if jobs else 1
    for var in ("GALLERY_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(threads))
    return int(env["GALLERY_THREADS"])


# ---- rendering

def _describe(cell) -> str:
    p = cell.params
    if p.engine != "gatys":
        return f"{p.size} px, engine {p.engine}"
    sched = p.preset if p.iterations is None else "iterations " + ",".join(map(str, p.schedule()))
    return f"{p.size} px, {sched}"


def _record(cell, renderer_record: dict[str, Any]) -> dict[str, Any]:
    """The renderer's record plus what the plan knows: the key, its inputs and the versions used."""
    import platform

    from pipeline import __version__

    rec = dict(renderer_record)
    rec["key"] = cell.key
    rec["inputs"] = {
        "content": {"id": cell.content.id, "sha256": cell.inputs["content"], "file": cell.content.file.name},
        "style": {"id": cell.style.id, "sha256": cell.inputs["style"], "file": cell.style.file.name},
        "params": cell.inputs["params"],
        "weights": cell.inputs["weights"],
        "renderer_version": cell.inputs["renderer_version"],
    }
    torch = sys.modules.get("torch")
    rec["created_with"] = {"pipeline": __version__, "python": platform.python_version(),
                           **({"torch": torch.__version__} if torch else {})}
    return rec


def _render_one(plan, cell, progress: bool | str, threads=None) -> float | None:
    """Render a cell while holding its lock; None when another process rendered it meanwhile.
    `threads`: see stylize (under make -jN, the worker's share of the cores now)."""
    from pipeline.render.heap import keep_freed_memory
    from pipeline.manifest.images import ImageLoadError, load_rgb
    from pipeline.render.engine import stylize

    keep_freed_memory()  # a render process reuses its tensors' memory (see heap.py)
    cache = plan.cache
    cache.forget(cell.key)
    if cache.has(cell.key):
        return None
    cache.clean_partial(cell.key)
    images = []
    for entry in (cell.content, cell.style):
        try:
            images.append(load_rgb(entry.file))
        except ImageLoadError as e:
            raise GalleryError(f"{plan.gallery.path}:{entry.line}: {entry.role} '{entry.id}': "
                               f"{entry.file}: {e}") from None
    start = time.perf_counter()
    result = stylize(images[0], images[1], cell.params, progress=progress, label=cell.name,
                     threads=threads)
    seconds = time.perf_counter() - start
    record = _record(cell, result.record)
    record.setdefault("seconds", seconds)
    cache.store(cell.key, result.image, record)
    return float(record["seconds"])


def _update_lock_for(plan, key: str) -> None:
    """Record every non-excluded cell with this key in the lock file (read-modify-write, locked)."""
    from pipeline.plan.lockfile import update_lock

    mine = [c for c in plan.cells if c.key == key and c.state != "excluded"]

    def change(cells):
        return {**cells, **{c.name: plan.lock_entry(c) for c in mine}}

    update_lock(plan.gallery.lock_path, plan.lock_guard(), change)


def sync_lock(gallery, quiet: bool = True) -> Any:
    """Re-plan and rewrite the lock file to match the cache (written only when it changes)."""
    from pipeline.plan.lockfile import update_lock
    from pipeline.plan.planner import make_plan

    plan = make_plan(gallery)
    if update_lock(gallery.lock_path, plan.lock_guard(), plan.synced_lock) and not quiet:
        print(f"{_display(gallery.lock_path)}: updated ({len(plan.synced_lock())} cells)")
    return plan


def render_cells(plan, cells: list, quiet: bool = False, label: str = "",
                 write_lock: bool = True) -> dict[str, int]:
    """Render `cells` one at a time, skipping any that another process holds or finished.

    A cell another process is rendering is put off to the end, then waited for (with a
    message), so two runs at once share the work instead of repeating it. Each finished
    cell goes into the lock file at once (unless `write_lock` is off, as for shards), so an
    interrupted run loses nothing.
    """
    user_threads = any(os.environ.get(v, "").strip() for v in USER_THREAD_VARIABLES)
    threads = split_threads()
    jobs = make_jobs(os.environ.get("MAKEFLAGS"))
    # Under make -jN, a worker left alone (fewer cells left than N) takes the idle cores, unless
    # the user fixed the thread count.
    workers = None
    if threads and not user_threads:
        workers = Workers(plan.cache.lock_dir() / "workers", cpu_count())
    how = f"; {threads} thread{'s' if threads != 1 else ''} per worker under make -j{jobs or ''}" if threads else ""
    if workers is not None and threads < workers.cpus:
        how += ", more once fewer cells are left"
    # Each render's own progress: a bar on a terminal, a line a minute in a log; with make -jN
    # always lines (N bars on one terminal overwrite each other).
    inner_progress = False if quiet else ("lines" if jobs not in (None, 1) else True)
    total = len(cells)
    done = {"rendered": 0, "by_others": 0}
    bar = None
    if not quiet and total > 1 and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, unit="cell", desc=label or "render", file=sys.stderr, dynamic_ncols=True)

    def say(msg: str) -> None:
        (bar.write if bar else print)(msg, **({"file": sys.stderr} if bar else {"flush": True}))

    def run(cell, lock) -> None:
        try:
            n = done["rendered"] + done["by_others"] + 1
            at = f"[{n}/{total}] " if total > 1 else ""
            if bar is None:
                say(f"{at}{cell.name}: rendering ({_describe(cell)}{how})...")
            else:
                bar.set_postfix_str(cell.name)
            if workers is None:
                seconds = _render_one(plan, cell, inner_progress)
            else:
                with workers:
                    seconds = _render_one(plan, cell, inner_progress, workers.threads)
        finally:
            lock.release()
        if write_lock:
            _update_lock_for(plan, cell.key)
        if seconds is None:
            done["by_others"] += 1
            say(f"{at}{cell.name}: rendered meanwhile by another process")
        else:
            done["rendered"] += 1
            say(f"{at}{cell.name}: done in {seconds:.1f} s")
        if bar:
            bar.update(1)

    deferred = []
    try:
        for cell in cells:
            lock = plan.cache.cell_lock(cell.key, cell.name)
            if lock.acquire(blocking=False):
                run(cell, lock)
            else:
                deferred.append(cell)
        for cell in deferred:
            lock = plan.cache.cell_lock(cell.key, cell.name)
            lock.acquire()  # prints who holds it and waits
            run(cell, lock)
    except OSError as e:  # a cache on a full or read-only disk: say where, not a traceback
        where = str(e.filename or "")
        if not where.startswith(str(plan.cache.root)):
            raise
        raise GalleryError(f"cannot write the render cache: {where}: {e.strerror or e}; free some space "
                           f"or point `cache:` in {_display(plan.gallery.path)} at a writable folder; "
                           f"finished cells are kept") from None
    finally:
        if bar:
            bar.close()
    return done


# ---- commands

def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _status_json(plan) -> dict[str, Any]:
    g = plan.gallery
    cells = []
    for c in plan.cells:
        d = {"content": c.content.id, "style": c.style.id, "cell": c.name, "state": c.state,
             "reasons": list(c.reasons), "key": c.key, "image": str(c.image), "record": str(c.record)}
        if c.state == "render":
            d["estimated_seconds"] = round(plan.estimate_seconds(c), 1)
        cells.append(d)
    missing = plan.missing()
    return {"manifest": str(g.path), "cache": str(plan.cache.root), "lock_file": str(g.lock_path),
            "counts": plan.counts(), "to_render": len(missing),
            "estimated_seconds": round(sum(plan.estimate_seconds(c) for c in missing), 1),
            "cells": cells}


def _make_fragment(plan) -> str:
    """A makefile: one phony target per missing cell, so `make -jN` schedules them."""
    from pipeline.cli import overrides

    missing = plan.missing()
    extra = (" " + overrides.words(plan.gallery)) if plan.gallery.overrides else ""
    targets = [f"cell.{c.content.id}.{c.style.id}" for c in missing]
    lines = ["# Generated by `python -m pipeline status --make`: one target per cell to render.",
             "PY ?= python3", f"CONFIG ?= {plan.gallery.path}",
             ".PHONY: render-cells " + " ".join(targets),
             "render-cells: " + " ".join(targets)]
    if missing or not plan.lock_in_sync():
        lines.append(f"\t$(PY) -m pipeline render --config $(CONFIG) --quiet{extra}")
    else:
        lines.append("\t@:")
    for t, c in zip(targets, missing):
        lines += [f"{t}:", f"\t$(PY) -m pipeline render --config $(CONFIG) --cell {c.name}{extra}"]
    return "\n".join(lines) + "\n"


def _with_cache(gallery, args: argparse.Namespace):
    """`--cache DIR` replaces the manifest's cache folder (a shard's own folder, a merged one)."""
    import dataclasses

    if getattr(args, "cache", None):
        return dataclasses.replace(gallery, cache=Path(args.cache).resolve())
    return gallery


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from pipeline.cli import overrides
    from pipeline.plan.planner import MissingImageError, default_pace, make_plan

    gallery = overrides.apply(_with_cache(_load_gallery(args.config, check_files=False), args), args)
    try:
        plan = make_plan(gallery)
    except MissingImageError as e:
        if not args.make:
            raise
        # `make -n gallery` before the images are fetched: which cells will render is not
        # known yet, so show the one step that will find out.
        missing = str(e).split(";")[0]
        print(f"note: {missing}; until `validate` fetches the images, one `render` step stands "
              f"for every cell", file=sys.stderr)
        sys.stdout.write("PY ?= python3\nrender-cells:\n\t$(PY) -m pipeline render --config $(CONFIG)\n")
        return 0
    counts = plan.counts()
    missing = plan.missing()
    if args.make:
        sys.stdout.write(_make_fragment(plan))
        # `make gallery` shows this line, not status's own: the time is worth knowing up front
        estimate = f" ({_estimate_words(plan, missing)} of rendering)" if missing else ""
        print(f"{_display(plan.gallery.path)}: {len(plan.cells)} cells: {counts['cached']} cached, "
              f"{counts['render']} to render{estimate}, {counts['excluded']} excluded", file=sys.stderr)
        return 0
    if args.json:
        print(json.dumps(_status_json(plan), indent=2))
        return 0
    g = plan.gallery
    if g.overrides:
        print(overrides.note(g))
    width = max((len(c.name) for c in plan.cells), default=0)
    print(f"{_display(g.path)}: {len(g.contents)} contents x {len(g.styles)} styles = {len(plan.cells)} cells: "
          f"{counts['cached']} cached, {counts['render']} to render, {counts['excluded']} excluded")
    for c in plan.cells:
        state = {"render": "render"}.get(c.state, c.state)
        why = "; ".join(c.reasons)
        print(f"  {state:<9} {c.name:<{width}}  {why}".rstrip())
    if missing:
        known = len(plan.timed_renders())
        cpu = {"bf16": "a 2-core CPU with native bf16", "fp32": "a 2-core CPU in fp32"}[
            default_pace(missing[0].params)[0]]
        if all(c.params.engine == "fast" for c in missing):
            cpu = "the fast engine on a 2-core CPU"
        basis = (f"from {known} earlier render{'s' if known != 1 else ''}" if known
                 else f"at the pace of {cpu}; the first render measures this machine's")
        print(f"to render: {len(missing)} cell{'s' if len(missing) != 1 else ''}, "
              f"{_estimate_words(plan, missing)} of rendering ({basis})")
        cfg = _config_words(args.config, make=True) + "".join(
            f" {k.upper()}={v}" for k, v in sorted(g.overrides.items()))
        print(f"next: `make gallery{cfg}` renders them (`make -j2 gallery{cfg}`: two at a time)")
    else:
        print("nothing to render")
    return 0


def _estimate_words(plan, cells) -> str:
    """'about 29 min 30 s': the time these cells take to render (see Plan.estimate_seconds)."""
    return f"about {duration(sum(plan.estimate_seconds(c) for c in cells))}"


def sibling_lock_keys(lock_path: Path, cache_root: Path) -> dict[Path, set[str]]:
    """The cache keys that the other lock files beside this manifest name in the same cache.

    Why: a copy of the manifest, or a second gallery in the same folder, often shares the cache;
    pruning for one manifest must not delete the renders the other still shows.
    """
    from pipeline.plan.lockfile import read_lock

    root = Path(cache_root).resolve()
    own = Path(lock_path).resolve()
    found: dict[Path, set[str]] = {}
    for lock in sorted(own.parent.glob("*.lock.json")):
        if lock.resolve() == own:
            continue
        try:
            cells = read_lock(lock)
        except GalleryError:
            continue  # not ours to judge here; its own manifest's commands say what is wrong
        keys = {e["key"] for e in cells.values()
                if isinstance(e.get("key"), str) and isinstance(e.get("image"), str)
                and (lock.parent / e["image"]).resolve().is_relative_to(root)}
        if keys:
            found[lock] = keys
    return found


def _config_words(config: str, make: bool) -> str:
    """The manifest as a suggested command must name it: nothing for the default one."""
    from pipeline.cli.app import DEFAULT_CONFIG

    if Path(config) == Path(DEFAULT_CONFIG):
        return ""
    return f" CONFIG={config}" if make else f" --config {config}"


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise GalleryError(f"--shard {text}: want K/N with 1 <= K <= N, e.g. --shard 2/4")
    return int(m.group(1)), int(m.group(2))


def cmd_render(args: argparse.Namespace) -> int:
    from pipeline.cli import overrides
    from pipeline.plan.planner import make_plan

    gallery = overrides.apply(_with_cache(_load_gallery(args.config, check_files=False), args), args)
    preview = bool(gallery.overrides)  # a quick look: the lock file keeps the manifest's cells
    if preview and not args.cell:
        print(overrides.note(gallery))
    plan = make_plan(gallery)
    if args.cell:
        content_id, _, style_id = args.cell.partition(":")
        cell = plan.cell(content_id, style_id)
        if cell is None:
            raise GalleryError(f"--cell {args.cell}: no such cell in {gallery.path}; want CONTENT:STYLE "
                               f"with contents {', '.join(e.id for e in gallery.contents)} and styles "
                               f"{', '.join(e.id for e in gallery.styles)}")
        if cell.state == "excluded":
            raise GalleryError(f"--cell {args.cell}: excluded in {gallery.path} (`exclude:`); remove it "
                               f"from there to render it")
        if cell.state == "cached":
            if not preview:
                _update_lock_for(plan, cell.key)
            print(f"{cell.name}: cached ({cell.image})")
            return 0
        render_cells(plan, [cell], quiet=args.quiet, write_lock=not preview)
        after = make_plan(gallery)
        counts = after.counts()
        to_go = after.missing()
        left = f"; {_estimate_words(after, to_go)} of rendering left" if to_go else ""
        print(f"{cell.name}: {counts['cached']} of {counts['cached'] + counts['render']} cells now "
              f"cached{left}")
        return 0
    cells = plan.missing()
    label = "render"
    if args.shard:
        k, n = _parse_shard(args.shard)
        cells = plan.shard(k, n)
        label = f"shard {k}/{n}"
        print(f"shard {k}/{n}: {len(cells)} of {len(plan.missing())} missing cells")
    if not cells:
        print(f"nothing to render: {plan.counts()['cached']} cells cached" if not args.shard
              else f"shard {k}/{n}: nothing to render")
    else:
        done = render_cells(plan, cells, quiet=args.quiet, label=label, write_lock=not (args.shard or preview))
        print(f"rendered {done['rendered']} cell{'s' if done['rendered'] != 1 else ''}"
              + (f" ({done['by_others']} by another process)" if done["by_others"] else ""))
    if not args.shard and not preview:  # shards leave the lock file alone: the run after the merge writes it
        sync_lock(gallery, quiet=False)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    import json

    from pipeline.plan.planner import make_plan

    plan = make_plan(_load_gallery(args.config, check_files=False))
    keep = {c.key for c in plan.cells if c.state != "excluded"}
    siblings = sibling_lock_keys(plan.gallery.lock_path, plan.cache.root)
    present = set(plan.cache.entries()) if siblings else set()
    for lock, keys in siblings.items():
        shared = len((keys - keep) & present)
        if shared:
            print(f"kept: {shared} entr{'ies' if shared != 1 else 'y'} that {_display(lock)} "
                  "(another manifest's lock file) names")
        keep |= keys
    unused = plan.cache.unused(keep)
    if not unused:
        print(f"{_display(plan.cache.root)}: nothing to prune (every entry is used by a cell of "
              f"{_display(plan.gallery.path)})")
        return 0
    total = 0
    for key, files in unused.items():
        size = sum(p.stat().st_size for p in files if p.exists())
        total += size
        what = "interrupted write" if all(p.name.endswith(".tmp") for p in files) else "unused"
        try:
            inputs = json.loads(plan.cache.record_path(key).read_text()).get("inputs", {})
            what += f", was {inputs['content']['id']}:{inputs['style']['id']}"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            if what == "unused":
                what += ", no record"
        print(f"  {key[:12]}  {_human_bytes(size):>9}  ({what})")
    n = len(unused)
    print(f"{n} cache entr{'ies' if n != 1 else 'y'} no cell uses, {_human_bytes(total)} in "
          f"{_display(plan.cache.root)}")
    if not args.yes:
        again = ("make prune" + _config_words(args.config, make=True) + " ARGS=--yes"
                 if os.environ.get("MAKELEVEL") else
                 "python -m pipeline prune --yes" + _config_words(args.config, make=False))
        print(f"nothing deleted: run `{again}` to delete them (renders of another manifest that "
              "uses this cache are kept only if its lock file lies beside this one)")
        return 0
    deleted = 0
    for key, files in unused.items():
        if plan.cache.delete(key, files, drop_lock=key not in keep):
            deleted += 1
        else:
            print(f"  {key[:12]}: being rendered right now; kept")
    plan.cache.memo.path.unlink(missing_ok=True)  # drop what it remembered of deleted entries
    print(f"deleted {deleted} entr{'ies' if deleted != 1 else 'y'}")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    from pipeline.cli import overrides
    from pipeline.plan.planner import make_plan

    if not args.no_fetch:
        _fetch(args.config, args.quiet)
    gallery = overrides.apply(_load_gallery(args.config, check_files=True), args)
    preview = bool(gallery.overrides)
    if preview:
        print(overrides.note(gallery))
    plan = make_plan(gallery)
    missing = plan.missing()
    if missing:
        render_cells(plan, missing, quiet=args.quiet, write_lock=not preview)
    plan = make_plan(gallery) if preview else sync_lock(gallery)
    counts = plan.counts()
    print(f"{_display(gallery.path)}: {counts['cached']} cells rendered, {counts['render']} missing, "
          f"{counts['excluded']} excluded")
    try:
        from pipeline.site.builder import build_site
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.site":
            raise
        print("site: not built (this version has no site stage)")
        return 0
    build_site(gallery, plan=plan, quiet=args.quiet)
    return 0


def _add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR",
                   help="use this cache folder instead of the manifest's `cache:` (e.g. one per shard)")


def register(sub) -> None:
    from pipeline.cli import overrides
    from pipeline.cli.app import _add_config, _add_quiet

    p = sub.add_parser("status", help="what is cached, what must render and why",
                       description="List every cell as cached, to render (with the reason: new content "
                                   "or style, image changed, parameters changed, weights or renderer "
                                   "version changed) or excluded, with counts and an estimated time.")
    _add_config(p)
    p.add_argument("--json", action="store_true",
                   help="print the same as JSON, with each cell's key and output paths")
    p.add_argument("--make", action="store_true",
                   help="print a makefile with one target per missing cell (used by `make render`)")
    _add_cache(p)
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("render", help="render the missing cells, then update the lock file",
                       description="Render what `status` says is missing, one cell at a time, into the "
                                   "cache; then update the lock file. Safe to interrupt and to run "
                                   "twice at once: finished cells are kept, cells are never rendered twice.")
    _add_config(p)
    _add_quiet(p)
    p.add_argument("--shard", metavar="K/N",
                   help="render only the K-th of N slices of the missing cells (split across machines; "
                        "merge by copying the cache folders; the lock file is left to the run after)")
    p.add_argument("--cell", metavar="CONTENT:STYLE", help="render just this cell (what `make -jN` runs)")
    _add_cache(p)
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("prune", help="list cache entries no cell uses; delete them with --yes",
                       description="List renders in the cache that no current cell uses (removed "
                                   "entries, old parameters, excluded cells, interrupted writes).")
    _add_config(p)
    p.add_argument("--yes", action="store_true", help="delete them (without it, only list)")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("gallery", help="validate, fetch, render what is missing, build the site",
                       description="Everything in one process: check the manifest, fetch missing "
                                   "images, render missing cells, update the lock file, build site/.")
    _add_config(p)
    _add_quiet(p)
    p.add_argument("--no-fetch", action="store_true",
                   help="do not look for or download missing image files (they must be in place)")
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_gallery)
