"""The orchestrator: one gallery run in one process: load and check the manifest (once), plan
(once), render the missing cells, keep the lock file in step, build the site.

`python -m pipeline gallery` and every make target come here. `jobs` > 1 (from `--jobs N` or
`make -jN`) forks N workers that take cells from the same list: each claims a cell with its
mutex, so the cells are shared without a scheduler and never rendered twice, even by another
run at the same time. Each worker starts with cores // N threads and takes the cores finished
workers left idle (render/threads.py). Library code: it reports through `logging`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.plan import planner
from pipeline.render.engine import stylize
from pipeline.render.result import RenderResult
from pipeline.render.threads import available_cpus, split_threads
from pipeline.util.errors import GalleryError
from pipeline.util.progress import duration

log = logging.getLogger(__name__)

# stylize(content, style, params, progress=, label=, threads=) -> RenderResult: the engines'
# (pipeline.render.engine.stylize) unless the caller passes another.
Renderer = Callable[..., RenderResult]


# ---- plan: once per run

def plan(gallery):
    """Key every cell and look it up in the cache (torch-free)."""
    return planner.make_plan(gallery)


# ---- one cell

def describe(cell) -> str:
    p = cell.params
    sched = p.preset if p.iterations is None else "iterations " + ",".join(map(str, p.schedule()))
    return f"{p.size} px, {sched}" if p.engine == "gatys" else f"{p.size} px, {p.engine} engine"


def make_record(cell, renderer_record: dict[str, Any]) -> dict[str, Any]:
    """The engine's record plus what the plan knows: the key, its inputs and the versions used."""
    from pipeline import __version__
    from pipeline.plan.keys import provenance

    rec = dict(renderer_record)
    rec["key"] = cell.key
    inputs = provenance(cell)
    inputs.pop("key")
    inputs["content"]["file"] = cell.content.file.name
    inputs["style"]["file"] = cell.style.file.name
    rec["inputs"] = inputs
    torch = sys.modules.get("torch")
    rec["created_with"] = {"pipeline": __version__, "python": platform.python_version(),
                           **({"torch": torch.__version__} if torch else {})}
    return rec


def render_one(plan, cell, progress: bool | str, threads=None, renderer: Renderer = stylize) -> float | None:
    """Render a cell with `renderer` while holding its mutex; None when another process rendered
    it meanwhile. `threads`: see the engines' stylize (a worker's share of the cores now)."""
    from pipeline.manifest.images import ImageLoadError, load_rgb
    from pipeline.render.heap import keep_freed_memory

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
    result = renderer(images[0], images[1], cell.params, progress=progress, label=cell.name,
                      threads=threads)
    seconds = time.perf_counter() - start
    record = make_record(cell, result.record)
    record.setdefault("seconds", seconds)
    cache.store(cell.key, result.image, record)
    return float(record["seconds"])


# ---- the lock file

def record_in_lock_file(plan, key: str) -> None:
    """Record every non-excluded cell with this key in the lock file (read-modify-write, under its mutex)."""
    from pipeline.plan.lockfile import update_lock

    mine = [c for c in plan.cells if c.key == key and c.state != "excluded"]
    plan.refresh(c.key for c in mine)
    mine = [c for c in plan.cells if c.key == key and c.state == "cached"]

    def change(cells):
        return {**cells, **{c.name: plan.lock_entry(c) for c in mine}}

    update_lock(plan.gallery.lock_path, plan.lock_file_mutex(), change)


def sync_lock_file(plan) -> bool:
    """Rewrite the lock file to match the cache (written only when it changes); True if it changed."""
    from pipeline.plan.lockfile import update_lock

    changed = update_lock(plan.gallery.lock_path, plan.lock_file_mutex(), plan.synced_lock)
    if changed:
        log.info("%s: updated (%d cells)", display(plan.gallery.lock_path), len(plan.synced_lock()))
    return bool(changed)


# ---- many cells

def render_cells(plan, cells: list, *, jobs: int = 1, quiet: bool = False, label: str = "",
                 write_lock: bool = True, push=None, renderer: Renderer = stylize) -> dict[str, int]:
    """Render `cells` with `renderer`, `jobs` at a time, skipping any that another process holds
    or finished; then mark them cached in `plan`. Returns {'rendered': n, 'by_others': m}.
    `push`: a plan.remote.Pusher that sends each new render to the remote as soon as it is stored."""
    if jobs > 1 and len(cells) > 1:
        done = _render_in_workers(plan, cells, min(jobs, len(cells)), quiet, label, write_lock, push,
                                  renderer)
    else:
        done = _render_here(plan, cells, quiet=quiet, label=label, write_lock=write_lock, push=push,
                            renderer=renderer)
    plan.refresh(c.key for c in cells)
    return done


def _render_in_workers(plan, cells, jobs: int, quiet: bool, label: str, write_lock: bool,
                       push, renderer: Renderer) -> dict[str, int]:
    """Fork `jobs` workers over the same list: each claims cells by their mutex (no scheduler)."""
    import multiprocessing

    from pipeline.render.threads import USER_THREAD_VARIABLES

    # A thread count the user fixed is kept as it is; otherwise a worker left alone takes the idle cores.
    adopt_idle = not any(os.environ.get(v, "").strip() for v in USER_THREAD_VARIABLES)
    ctx = multiprocessing.get_context("fork")  # the workers inherit the loaded gallery and plan
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(plan, cells, jobs, adopt_idle, quiet, label, write_lock,
                                               results, i, push, renderer),
                         name=f"render-worker-{i}") for i in range(jobs)]
    for p in procs:
        p.start()
    done = {"rendered": 0, "by_others": 0}
    failures = []
    for _ in procs:
        ok, payload = results.get()
        if ok:
            done["rendered"] += payload["rendered"]
        else:
            failures.append(payload)
    for p in procs:
        p.join()
    # A cell one worker left to another counts as 'by another process' there: count each cell once.
    done["by_others"] = max(0, len(cells) - done["rendered"] - len(failures))
    if failures:
        raise GalleryError(failures[0])
    return done


def _worker(plan, cells, jobs, adopt_idle, quiet, label, write_lock, results, index, push, renderer) -> None:
    threads = split_threads(jobs)
    try:
        done = _render_here(plan, cells, quiet=quiet, label=label, write_lock=write_lock, jobs=jobs,
                            threads=threads, adopt_idle=adopt_idle, wait_for_others=False, push=push,
                            renderer=renderer)
        results.put((True, done))
    except GalleryError as e:
        results.put((False, str(e)))
    except KeyboardInterrupt:
        results.put((False, "interrupted"))
    except BaseException as e:  # a worker must always answer, or the parent waits forever
        results.put((False, f"render worker {index} failed: {type(e).__name__}: {e}"))


def _render_here(plan, cells: list, *, quiet: bool = False, label: str = "", write_lock: bool = True,
                 jobs: int = 1, threads: int | None = None, adopt_idle: bool = False,
                 wait_for_others: bool = True, push=None, renderer: Renderer = stylize) -> dict[str, int]:
    """Render `cells` one at a time in this process.

    A cell another process is rendering is put off to the end, then waited for (with a
    message), so two runs at once share the work instead of repeating it; a worker of this run
    (`wait_for_others` off) leaves it to its sibling. Each finished cell goes into the lock
    file at once (unless `write_lock` is off, as for shards), so an interrupted run loses nothing.
    """
    from pipeline.render.threads import Workers

    # With several workers, one left alone (fewer cells left than workers) takes the idle cores.
    workers = Workers(plan.cache.mutex_dir() / "workers", available_cpus()) if threads and adopt_idle else None
    how = f"; {threads} thread{'s' if threads != 1 else ''} per worker, {jobs} workers" if threads else ""
    if workers is not None and threads < workers.cpus:
        how += ", more once fewer cells are left"
    # Each render's own progress: a bar on a terminal, a line a minute in a log; with several
    # workers always lines (bars on one terminal overwrite each other).
    inner_progress = False if quiet else ("lines" if jobs > 1 else True)
    total = len(cells)
    done = {"rendered": 0, "by_others": 0}
    bar = None
    if not quiet and total > 1 and jobs == 1 and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, unit="cell", desc=label or "render", file=sys.stderr, dynamic_ncols=True)

    def say(msg: str) -> None:
        if bar:
            bar.write(msg, file=sys.stderr)
        else:
            log.info(msg)

    def run(cell, mutex) -> None:
        try:
            n = done["rendered"] + done["by_others"] + 1
            at = f"[{n}/{total}] " if total > 1 and jobs == 1 else ""
            if bar is None:
                say(f"{at}{cell.name}: rendering ({describe(cell)}{how})...")
            else:
                bar.set_postfix_str(cell.name)
            if workers is None:
                seconds = render_one(plan, cell, inner_progress, renderer=renderer)
            else:
                with workers:
                    seconds = render_one(plan, cell, inner_progress, workers.threads, renderer)
        finally:
            mutex.release()
        if push is not None and seconds is not None:
            push.push(cell.key)  # record last, as locally; a failure only stops the pushing
        if write_lock:
            record_in_lock_file(plan, cell.key)
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
            mutex = plan.cache.cell_mutex(cell.key, cell.name)
            if mutex.acquire(blocking=False):
                run(cell, mutex)
            else:
                deferred.append(cell)
        for cell in deferred if wait_for_others else []:
            mutex = plan.cache.cell_mutex(cell.key, cell.name)
            mutex.acquire()  # says who holds it and waits
            run(cell, mutex)
    except OSError as e:  # a cache on a full or read-only disk: say where, not a traceback
        where = str(e.filename or "")
        if not where.startswith(str(plan.cache.root)):
            raise
        raise GalleryError(f"cannot write the render cache: {where}: {e.strerror or e}; free some space "
                           f"or point `cache:` in {display(plan.gallery.path)} at a writable folder; "
                           f"finished cells are kept") from None
    finally:
        if bar:
            bar.close()
    return done


# ---- the whole run

@dataclasses.dataclass
class RunReport:
    """What one `gallery` run did, for the CLI to print."""

    plan: Any
    rendered: int = 0
    by_others: int = 0
    pulled: int = 0
    site: Any = None


def run_gallery(gallery, *, jobs: int = 1, quiet: bool = False, build: bool = True,
                remote: str | None = None, renderer: Renderer = stylize) -> RunReport:
    """Plan `gallery`, pull what the remote render cache has, render the rest with `renderer`
    (each pushed as it is done), sync the lock file, build the site. A gallery with overrides
    (a preview) leaves the lock file alone.
    `remote`: a remote URL over GALLERY_REMOTE and the manifest's `cache: remote:`."""
    from pipeline.plan.remote import Pusher, remote_for

    preview = bool(gallery.overrides)
    the_plan = plan(gallery)
    missing = the_plan.missing()
    report = RunReport(the_plan)
    the_remote = remote_for(gallery, remote) if missing else None
    if the_remote is not None:
        report.pulled = len(pull_missing(the_plan, the_remote, missing, quiet=quiet))
        missing = the_plan.missing()
    if missing:
        counts = the_plan.counts()
        log.info("%s: %d cells: %d cached, %d to render (%s of rendering), %d excluded",
                 display(gallery.path), len(the_plan.cells), counts["cached"], counts["render"],
                 estimate_words(the_plan, missing), counts["excluded"])
        done = render_cells(the_plan, missing, jobs=jobs, quiet=quiet, write_lock=not preview,
                            push=Pusher.of(the_remote, the_plan.cache), renderer=renderer)
        report.rendered, report.by_others = done["rendered"], done["by_others"]
        if the_remote is not None:
            check_pushed(the_plan, the_remote, [c.key for c in missing])
    if not preview:
        sync_lock_file(the_plan)
    counts = the_plan.counts()
    log.info("%s: %d cells rendered, %d missing, %d excluded", display(gallery.path), counts["cached"],
             counts["render"], counts["excluded"])
    if build:
        report.site = build_site(gallery, the_plan, quiet=quiet)
    return report


def build_site(gallery, the_plan, quiet: bool = False):
    """Build the site from `the_plan`, showing a cell that is not rendered yet by its fast
    preview where the cache has one (`make preview` first, then `make serve` or `make site`)."""
    from pipeline.site import builder

    return builder.build_site(gallery, with_previews(the_plan), quiet=quiet)


def with_previews(the_plan):
    """`the_plan` with each cell still to render replaced by its cached preview (the same cell
    with engine: fast), if any. The plan itself, for the lock file and the renders, is unchanged."""
    if not any(c.state == "render" for c in the_plan.cells):
        return the_plan
    gallery = the_plan.gallery
    if gallery.overrides.get("engine") == "fast":
        return the_plan
    previews = {c.name: c for c in plan(gallery.with_overrides(engine="fast")).cells if c.state == "cached"}
    if not previews:
        return the_plan
    cells = [previews.get(c.name, c) if c.state == "render" else c for c in the_plan.cells]
    return dataclasses.replace(the_plan, cells=cells, _estimates=None)


# ---- the remote render cache

def pull_missing(plan, remote, cells: list, quiet: bool = False) -> list[str]:
    """Pull those of `cells` that the remote has (each checked before it enters the cache), so
    they need not render; returns the keys pulled. A remote that does not answer is logged and
    left: the cells render here."""
    from pipeline.plan.remote import RemoteError

    try:
        have = remote.which(c.key for c in cells)
    except RemoteError as e:
        log.warning("%s; rendering without it", e)
        return []
    keys = [c.key for c in cells if c.key in have]
    if not keys:
        return []
    report, lines = transfer(remote, "pull", keys, plan.cache, {c.key: c.name for c in cells}, quiet=quiet)
    for line in lines:
        (log.warning if line.startswith(("stopped", "  refused")) else log.info)(line)
    plan.refresh(report.done)
    return report.done


def transfer(remote, verb: str, keys: list[str], cache, names: dict[str, str], *, jobs: int = 4,
             quiet: bool = False):
    """One pull or push of `keys`, with a progress bar on a terminal (logs get the summary lines
    only); returns the report and its lines, each cell by its name in `names`."""
    from pipeline.plan.remote import describe

    bar = None
    if not quiet and len(keys) > 1 and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=len(keys), unit="render", desc=verb, file=sys.stderr, dynamic_ncols=True)
    try:
        report = remote.transfer(verb, keys, cache, jobs=jobs,
                                 on_each=(lambda key, outcome: bar.update(1)) if bar else None)
    finally:
        if bar:
            bar.close()
    return report, describe(report, lambda k: names.get(k, k[:12]))


def check_pushed(plan, remote, keys: list[str]) -> None:
    """Say which new renders did not reach the remote (a push failed during the run)."""
    from pipeline.plan.remote import RemoteError

    new = [k for k in keys if plan.cache.has(k)]
    if not new or remote.read_only:
        return
    try:
        have = remote.which(new)  # one listing (or one check a key), not one per key
    except RemoteError:
        have = set()
    missing = [k for k in new if k not in have]
    if missing:
        log.warning("%d new render%s not on the remote %s: run `python -m pipeline push` to send them",
                    len(missing), "s are" if len(missing) != 1 else " is", remote.display)


# ---- words shared by the commands

def estimate_words(plan, cells: Iterable) -> str:
    """'about 29 min 30 s': the time these cells take to render (see plan/estimate.py)."""
    return f"about {duration(sum(plan.estimate_seconds(c) for c in cells))}"


def display(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
