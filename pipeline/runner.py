"""The orchestrator: the one run sequence every command that renders or builds calls.

    run(gallery, select=..., build_site=..., write_lock=..., renderer=..., remote=..., jobs=...,
        on_event=..., hooks=...)

plans the gallery the caller read (once), chooses the cells (`select`: every missing cell, one
cell, a shard, or none), renders those still missing (pipeline/workers.py, `jobs` at a time),
brings the lock file in step and builds the site. Extras beside this sequence hang on its named
hooks (pipeline/plugins/: before rendering, after each render, after the renders, before the
site), registered in one place (default_hooks): the remote render cache pulls, pushes and checks
there, and the try-it page's style vectors are computed before the site is built.
`render`, `render --cell`, `render --shard`, `gallery`, `make preview`, `site` and `serve`
differ only in their arguments. Progress and outcomes go to `on_event` as the records of
pipeline/events.py: nothing here prints or words anything.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from pipeline.events import LockUpdated, OnEvent, Planned, RenderDone, RenderStarted, Settled, ignore
from pipeline.plan import planner
from pipeline.plan.cache import Collection
from pipeline.plan.lockfile import sibling_locks
from pipeline.plan.planner import Cell, Plan
from pipeline.plugins import remote as remote_cache
from pipeline.plugins import tryit as tryit_vectors
from pipeline.plugins.hooks import Hooks, Run
from pipeline.render import Renderer, stylize
from pipeline.util.plain import Plain


# ---- which cells a run renders

class Missing:
    """Every cell still to render: the whole gallery (its lock file is synced after)."""

    whole = True

    def cells(self, plan: Plan) -> list[Cell]:
        return plan.missing()


class Nothing:
    """No cell: a run that only builds the site from what the cache holds."""

    whole = True

    def cells(self, plan: Plan) -> list[Cell]:
        return []


class OneCell(Plain):
    """One cell, cached or not (the caller checks that the gallery has it and does not exclude
    it); the lock file records it, and leaves the other cells' entries alone."""

    content: str
    style: str
    whole = False

    def cells(self, plan: Plan) -> list[Cell]:
        cell = plan.cell(self.content, self.style)
        return [] if cell is None or cell.state == "excluded" else [cell]


class Shard(Plain):
    """The k-th of n shards of the missing cells (plan.shard); `planned`: key -> seconds from
    the plan file `plan_file` that every shard splits alike."""

    k: int
    n: int
    planned: dict[str, float] | None = None
    plan_file: str | None = None
    whole = False

    def cells(self, plan: Plan) -> list[Cell]:
        return plan.shard(self.k, self.n, self.planned)


MISSING, NOTHING = Missing(), Nothing()


# ---- the run

class RunReport(Plain):
    """What one run did."""

    plan: Plan
    cells: list[Cell]  # those the selection chose
    pulled: int = 0
    rendered: int = 0
    by_others: int = 0  # rendered meanwhile by another process
    site: Any = None  # the site builder's report, when the run built the site


def plan(gallery) -> Plan:
    """Key every cell and look it up in the cache (torch-free)."""
    return planner.make_plan(gallery)


def default_hooks() -> Hooks:
    """The extras every run has, on the run's hooks (pipeline/plugins/): the remote render cache
    and the try-it page's style vectors."""
    hooks = Hooks([], [], [], [])
    remote_cache.register(hooks)
    tryit_vectors.register(hooks)
    return hooks


def run(gallery, *, select=MISSING, build_site: bool = False, write_lock: bool = True,
        renderer: Renderer = stylize, remote: str | None = None, jobs: int = 1,
        on_event: OnEvent = ignore, site_quiet: bool = False, hooks: Hooks | None = None) -> RunReport:
    """Plan `gallery`, call the extras before rendering (the remote cache pulls what it has),
    render the rest with `renderer` (`jobs` at a time, the extras called after each: pushed),
    call them after the renders (which pushes failed), bring the lock file in step
    (`write_lock`: synced for the whole gallery, else the selected cells recorded), and build the
    site (`build_site`; `site_quiet` keeps its log to the summary). `remote`: a remote URL over
    GALLERY_REMOTE and the manifest's `cache: remote:`. `hooks`: the extras (default_hooks())."""
    hooks = default_hooks() if hooks is None else hooks
    the_plan = plan(gallery)
    chosen = select.cells(the_plan)
    on_event(Planned(the_plan, chosen, select))
    state = Run(gallery, the_plan, chosen, remote=remote, on_event=on_event)
    for hook in hooks.before_render:
        hook(state)
    missing = state.missing
    done = {"rendered": 0, "by_others": 0}
    if missing:
        from pipeline.workers import render_cells  # Pillow, ctypes, multiprocessing: only to render

        on_event(RenderStarted(the_plan, missing, jobs))
        done = render_cells(the_plan, missing, jobs=jobs, write_lock=write_lock,
                            after_each=[functools.partial(hook, state) for hook in hooks.after_each],
                            renderer=renderer, on_event=on_event)
    on_event(RenderDone(the_plan, missing, done["rendered"], done["by_others"]))
    for hook in hooks.after_render:
        hook(state)
    if write_lock and select.whole:
        sync_lock_file(the_plan, on_event)
    elif write_lock:
        for cell in chosen:
            the_plan.record_in_lock(cell.key)
    on_event(Settled(the_plan))
    site = None
    if build_site:
        for hook in hooks.before_site:
            hook(state)
        site = build(gallery, the_plan, quiet=site_quiet)
    return RunReport(the_plan, chosen, state.pulled, done["rendered"], done["by_others"], site)


def sync_lock_file(the_plan: Plan, on_event: OnEvent = ignore) -> bool:
    """Rewrite the lock file to match the cache (written only when it changes); True if it changed."""
    changed = the_plan.sync_lock()
    if changed:
        on_event(LockUpdated(the_plan.gallery.lock_path, len(the_plan.synced_lock())))
    return changed


def build(gallery, the_plan: Plan, quiet: bool = False):
    """Build the site from `the_plan`, showing a cell that is not rendered yet by its fast
    preview where the cache has one (`make preview` first, then `make serve` or `make site`)."""
    from pipeline.site import builder  # Jinja2: a run that builds no site does not import it

    return builder.build_site(gallery, with_previews(the_plan), quiet=quiet)


def with_previews(the_plan: Plan) -> Plan:
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


# ---- prune: what no cell uses

class PruneReport(Plain):
    """What `prune` found in the cache (and deleted, when asked to)."""

    plan: Plan
    entries: Collection  # renders no cell uses, stale temp files, corrupt renders
    web_images: dict  # web image sets (and temp files) no page shows -> bytes
    kept_for: dict  # another manifest's lock file beside -> entries kept for it


def prune(the_plan: Plan, *, delete: bool = False) -> PruneReport:
    """Collect what no cell of this gallery, nor of a manifest whose lock file lies beside it,
    uses, and the site does not show (the preview of a cell not rendered yet is kept): the
    cache's entries (Cache.collect) and the site's web images (its prune hook); deleted with
    `delete`."""
    from pipeline.site import web_images  # Pillow: prune alone pays for the site's image module

    cells, cache = the_plan.cells, the_plan.cache
    keep = {c.key for c in cells if c.state != "excluded"}
    # what the site shows: a cell not rendered yet shows its cached preview (with_previews)
    keep |= {c.key for c in with_previews(the_plan).cells if c.state == "cached"}
    images = {sha for c in cells for sha in (c.inputs.get("content"), c.inputs.get("style"))}
    siblings = sibling_locks(the_plan.gallery.lock_path, cache.root)
    present = set(cache.entries()) if siblings else set()
    kept_for = {}
    for lock in siblings:
        shared = len((lock.keys - keep) & present)
        if shared:
            kept_for[lock.path] = shared
        keep |= lock.keys
        images |= lock.images
    corrupt = {c.key: c.corrupt for c in cells if c.corrupt}
    entries = cache.collect(keep, corrupt, delete=delete)
    sets = web_images.collect(cache.root, keep - set(corrupt), images, delete=delete)
    return PruneReport(the_plan, entries, sets, kept_for)
