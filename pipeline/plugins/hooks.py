"""The run's named hooks and what a hook sees.

    before_render(run)        the cells about to render are `run.missing`: a hook may take some
                              off (the remote cache pulls them)
    after_each(run, cell)     one new render is stored, in the process that made it (a forked
                              render worker, with -jN): the remote cache pushes it
    after_render(run)         the renders are done (the remote cache checks its pushes)
    before_site(run)          the run is about to build the site (the try-it page's style vectors)

Each hook is a list of callables, called in order. A hook reports through `run.on_event` (the
records of pipeline/events.py) and never prints.
"""
from __future__ import annotations

from typing import Any, Callable

from pipeline.events import OnEvent
from pipeline.util.plain import Plain


class Run:
    """One run as its hooks see it: the gallery and its plan, the cells the selection chose, those
    still to render, the remote the caller named (over GALLERY_REMOTE and the manifest's), and
    what the hooks did (`pulled`; `notes`, each extra's own state, by its name)."""

    def __init__(self, gallery: Any, plan: Any, chosen: list, *, remote: str | None = None,
                 on_event: OnEvent):
        self.gallery, self.plan, self.chosen = gallery, plan, chosen
        self.missing = [c for c in chosen if c.state == "render"]
        self.remote = remote
        self.on_event = on_event
        self.pulled = 0
        self.notes: dict[str, Any] = {}


class Hooks(Plain):
    """The callables on each of the run's hooks (see the module's docstring)."""

    before_render: list[Callable[[Run], None]]
    after_each: list[Callable[[Run, Any], None]]
    after_render: list[Callable[[Run], None]]
    before_site: list[Callable[[Run], None]]
