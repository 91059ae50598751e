"""Progress of one render: a bar with ETA on a terminal, a line a minute in logs, or nothing.

A 512 px render takes minutes on a CPU; in a log file (`make gallery > log`, CI, `make -j2`,
where two bars would overwrite each other) a bar shows nothing useful, so there the render
prints a plain line every LINE_INTERVAL_S seconds instead.
"""
from __future__ import annotations

import sys
import time

LINE_INTERVAL_S = 60.0


def mode_for(progress: bool | str) -> str:
    """stylize's `progress` argument -> "bar", "lines" or "off" (True: bar on a terminal)."""
    if progress in ("bar", "lines", "off"):
        return progress
    if not progress:
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 02 min: how long, to the precision a person reads."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Counts iterations; the ETA weighs each by its cost (pixels), since the last level's
    iterations cost about twice the level before's and counting them alike misleads."""

    def __init__(self, total: int, desc: str = "", mode: str = "bar", label: str = "stylize",
                 work: float | None = None, clock=time.monotonic):
        self.mode = mode
        self.total, self.done = total, 0
        self.work_total, self.work_done = float(work or total), 0.0
        self.label, self.where = label, desc
        self.step_cost = 1.0  # work per iteration at the current level (see set_description)
        self.clock = clock
        self.start = self.last_line = clock()
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"{label} {desc}".strip(), unit="it", file=sys.stderr,
                            dynamic_ncols=True, leave=False)

    def update(self, n: int = 1, **postfix) -> None:
        self.done += n
        self.work_done += n * self.step_cost
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)
        elif self.mode == "lines" and self.clock() - self.last_line >= LINE_INTERVAL_S:
            self.last_line = self.clock()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """'pearl:gogh: 40/125 iterations (512x512), 3 min 10 s so far, about 9 min 20 s left'"""
        elapsed = self.clock() - self.start
        left = elapsed * (self.work_total - self.work_done) / self.work_done if self.work_done else 0
        return (f"{self.label}: {self.done}/{self.total} iterations ({self.where}), "
                f"{duration(elapsed)} so far, about {duration(left)} left")

    def set_description(self, desc: str, step_cost: float = 1.0) -> None:
        """Name the current level (e.g. '512x512') and say what one of its iterations costs."""
        self.where, self.step_cost = desc, step_cost
        if self.bar is not None:
            self.bar.set_description(f"{self.label} {desc}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
