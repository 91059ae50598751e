"""What a run reports as it goes: plain records (util/plain.py: every command imports this, so
they must be cheap to define) that the runner hands to its `on_event` callback.

The runner and its workers never print and never word anything: the CLI turns these into lines
and bars in one place (pipeline/cli/report.py); another caller may log them, count them or
ignore them. Events of forked render workers are handled in the worker that has them.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pipeline.util.plain import Plain

if TYPE_CHECKING:  # named for the reader only: events are plain records
    from pipeline.plan.planner import Cell, Plan
    from pipeline.plan.remote import Transfer
    from pipeline.render.progress import RenderStep


class Planned(Plain):
    """The plan is made and `selection` chose `cells` (before anything is pulled or rendered)."""

    plan: Plan
    cells: list[Cell]
    selection: Any


class RemoteUnavailable(Plain):
    """The remote did not say what it has: the cells render here without it."""

    error: Exception


class TransferStarted(Plain):
    verb: str  # "pull" | "push"
    total: int


class TransferStep(Plain):
    verb: str
    key: str
    outcome: str  # remote_batch.run's: "pulled", "pushed", "replaced", "local", "present", "absent", "busy", "damaged"


class TransferDone(Plain):
    verb: str
    report: Transfer


class Pulled(Plain):
    """A run's pull of the renders the remote had is over; `names`: key -> cell name."""

    report: Transfer
    names: dict[str, str]


class RenderStarted(Plain):
    """`cells` (missing after any pull) are about to render, `jobs` at a time."""

    plan: Plan
    cells: list[Cell]
    jobs: int


class CellStarted(Plain):
    """A process took `cell` (the `index`-th of the `total` it was given) and renders it.
    `threads`: each worker's share of the cores when several render (None: one process);
    `grows`: a worker left alone takes the idle cores."""

    cell: Cell
    index: int
    total: int
    jobs: int
    threads: int | None = None
    grows: bool = False


class CellStep(Plain):
    """One iteration of `cell`'s render, as its engine reported it."""

    cell: Cell
    step: RenderStep


class CellDone(Plain):
    """`cell` is in the cache: rendered in `seconds`, or None when another process rendered it."""

    cell: Cell
    index: int
    total: int
    jobs: int
    seconds: float | None


class RenderDone(Plain):
    """The render step is over (also when nothing was left to render)."""

    plan: Plan
    cells: list[Cell]
    rendered: int
    by_others: int


class NotPushed(Plain):
    """New renders that did not reach the remote (a push failed during the run)."""

    keys: list[str]
    remote: str  # as shown: credentials hidden


class LockUpdated(Plain):
    path: Path
    cells: int


class Settled(Plain):
    """Renders and lock file are done; the site comes next, if the run builds it."""

    plan: Plan


Event = Any  # one of the records above
OnEvent = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default `on_event`: a caller that does not listen."""
