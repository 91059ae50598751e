"""How an engine reports a render's progress: one RenderStep per iteration to the caller's
`progress` callback (as style-transfer-pytorch hands its iterate to a callback). The engines
never print; the CLI turns the steps into a bar or a line a minute (pipeline/cli/report.py).
"""
from __future__ import annotations

from typing import Callable

from pipeline.util.plain import Plain


class RenderStep(Plain):
    """One iteration done. `work_*` weigh each iteration by its level's pixels (a top-level
    iteration is 1), so that a time-left estimate is not misled by the cheap small levels."""

    done: int  # iterations so far, every level counted
    total: int  # iterations in all
    size: tuple[int, int]  # the level being optimised: (width, height)
    work_done: float
    work_total: float
    loss: float  # the objective before this iteration's step


Progress = Callable[[RenderStep], None]


class Steps:
    """Counts a render's iterations and hands each to `progress` (None or False: nobody asked)."""

    def __init__(self, total: int, work_total: float, progress: Progress | None):
        self.total, self.work_total = total, float(work_total)
        self.progress = progress or None
        self.done, self.work_done = 0, 0.0
        self.size, self.cost = (0, 0), 1.0

    def level(self, size: tuple[int, int], cost: float) -> None:
        """The next iterations run at `size`; each costs `cost` top-level iterations."""
        self.size, self.cost = size, cost

    def skip(self, n: int) -> None:
        """`n` iterations of the current level will not run (an early stop): out of the total."""
        self.total -= n
        self.work_total -= n * self.cost

    def step(self, loss: float) -> None:
        self.done += 1
        self.work_done += self.cost
        if self.progress is not None:
            self.progress(RenderStep(self.done, self.total, self.size, self.work_done,
                                     self.work_total, loss))
