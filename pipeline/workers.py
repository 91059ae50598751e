"""Render a list of cells: in this process, or in `jobs` forked workers that take cells from
the same list. Each cell is claimed with its mutex, so the cells are shared without a
scheduler and never rendered twice, even by another run at the same time. Each worker starts
with cores // N threads and takes the cores finished workers left idle (render/threads.py).

Progress and outcomes go to `on_event` (pipeline/events.py); nothing here prints. The runner
imports this module only when a cell renders: Pillow, ctypes and multiprocessing are no cost
of a cached run.
"""
from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from typing import Any

from pipeline import __version__
from pipeline.events import CellDone, CellStarted, CellStep, OnEvent, ignore
from pipeline.core.images import ImageLoadError, load_rgb
from pipeline.plan.keys import provenance
from pipeline.render import Renderer, stylize
from pipeline.render.heap import keep_freed_memory
from pipeline.render.threads import USER_THREAD_VARIABLES, Workers, available_cpus, split_threads
from pipeline.util.errors import GalleryError

def make_record(cell, renderer_record: dict[str, Any]) -> dict[str, Any]:
    """The engine's record plus what the plan knows: the key, its inputs and the versions used."""
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


def render_one(plan, cell, renderer: Renderer = stylize, threads=None,
               on_event: OnEvent | None = None) -> float | None:
    """Render a cell with `renderer` while holding its mutex; None when another process rendered
    it meanwhile. `threads`: see the engines' stylize (a worker's share of the cores now);
    `on_event` receives each iteration as a CellStep."""
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
    progress = None if on_event is None else (lambda step: on_event(CellStep(cell, step)))
    start = time.perf_counter()
    result = renderer(images[0], images[1], cell.params, progress=progress, label=cell.name,
                      threads=threads)
    seconds = time.perf_counter() - start
    record = make_record(cell, result.record)
    record.setdefault("seconds", seconds)
    timelapse = None
    if result.frames:  # the optimiser's time-lapse, kept with the render (not part of its key)
        from pipeline.plan.timelapse import files as timelapse_files

        timelapse = timelapse_files(result.frames)
    cache.store(cell.key, result.image, record, timelapse)
    return float(record["seconds"])


def render_cells(plan, cells: list, *, jobs: int = 1, write_lock: bool = True, after_each=(),
                 renderer: Renderer = stylize, on_event: OnEvent = ignore) -> dict[str, int]:
    """Render `cells` with `renderer`, `jobs` at a time, skipping any that another process holds
    or finished; then mark them cached in `plan`. Returns {'rendered': n, 'by_others': m}.
    Each finished cell goes into the lock file at once (unless `write_lock` is off, as for
    shards), so an interrupted run loses nothing. `after_each`: callables of a new cell, called
    as soon as its render is stored, in the process that rendered it (the remote cache pushes)."""
    work = _Work(plan, write_lock, list(after_each), renderer, on_event)
    if jobs > 1 and len(cells) > 1:
        done = _render_in_workers(work, cells, min(jobs, len(cells)))
    else:
        done = _render_here(work, cells)
    plan.refresh(c.key for c in cells)
    return done


class _Work:
    """What every cell of one render_cells call shares (handed to each forked worker)."""

    def __init__(self, plan, write_lock: bool, after_each: list, renderer: Renderer, on_event: OnEvent):
        self.plan, self.write_lock, self.after_each = plan, write_lock, after_each
        self.renderer, self.on_event = renderer, on_event


def _render_in_workers(work: _Work, cells: list, jobs: int) -> dict[str, int]:
    """Fork `jobs` workers over the same list: each claims cells by their mutex (no scheduler)."""
    # A thread count the user fixed is kept as it is; otherwise a worker left alone takes the idle cores.
    adopt_idle = not any(os.environ.get(v, "").strip() for v in USER_THREAD_VARIABLES)
    ctx = multiprocessing.get_context("fork")  # the workers inherit the loaded gallery and plan
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(work, cells, jobs, adopt_idle, results, i),
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


def _worker(work: _Work, cells: list, jobs: int, adopt_idle: bool, results, index: int) -> None:
    threads = split_threads(jobs)
    try:
        results.put((True, _render_here(work, cells, jobs=jobs, threads=threads, adopt_idle=adopt_idle,
                                        wait_for_others=False)))
    except GalleryError as e:
        results.put((False, str(e)))
    except KeyboardInterrupt:
        results.put((False, "interrupted"))
    except BaseException as e:  # a worker must always answer, or the parent waits forever
        results.put((False, f"render worker {index} failed: {type(e).__name__}: {e}"))


def _render_here(work: _Work, cells: list, *, jobs: int = 1, threads: int | None = None,
                 adopt_idle: bool = False, wait_for_others: bool = True) -> dict[str, int]:
    """Render `cells` one at a time in this process.

    A cell another process is rendering is put off to the end, then waited for (its mutex says
    so), so two runs at once share the work instead of repeating it; a worker of this run
    (`wait_for_others` off) leaves it to its sibling.
    """
    plan, on_event = work.plan, work.on_event
    # With several workers, one left alone (fewer cells left than workers) takes the idle cores.
    workers = Workers(plan.cache.mutex_dir() / "workers", available_cpus()) if threads and adopt_idle else None
    grows = workers is not None and threads < workers.cpus
    total = len(cells)
    done = {"rendered": 0, "by_others": 0}

    def run(cell, mutex) -> None:
        index = done["rendered"] + done["by_others"] + 1
        try:
            on_event(CellStarted(cell, index, total, jobs, threads, grows))
            if workers is None:
                seconds = render_one(plan, cell, work.renderer, on_event=on_event)
            else:
                with workers:
                    seconds = render_one(plan, cell, work.renderer, workers.threads, on_event)
        finally:
            mutex.release()
        if seconds is not None:
            for hook in work.after_each:
                hook(cell)
        if work.write_lock:
            plan.record_in_lock(cell.key)
        done["by_others" if seconds is None else "rendered"] += 1
        on_event(CellDone(cell, index, total, jobs, seconds))

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
                           f"or point `cache:` in {plan.gallery.path} at a writable folder; "
                           f"finished cells are kept") from None
    return done
