"""The one place a run's events (pipeline/events.py) become words and bars.

RunView takes every event of a run (or of a pull or push) and prints what the command says:
before rendering, how many cells and about how long; then, on a terminal, one bar over all the
cells with the time left (CellsProgress: it moves within a cell as its iterations go), or in a
log a line a cell with the time left; RenderProgress shows one render's iterations (a single
cell's bar, or a plain line every LINE_INTERVAL_S seconds in a log: `make gallery > log`, CI,
`make -j2`, where bars would overwrite each other), or nothing with --quiet. Info goes to
stdout, warnings to stderr, bars to stderr.
"""
from __future__ import annotations

import sys
import time

from pipeline.cli.words import display, duration, estimate_words, settings
from pipeline.events import (CellDone, CellStarted, CellStep, LockUpdated, NotPushed, Planned, Pulled,
                             RemoteUnavailable, RenderDone, RenderStarted, Settled, TransferDone,
                             TransferStarted, TransferStep)
from pipeline.plan.remote import describe
from pipeline.render.progress import RenderStep
from pipeline.runner import Shard

LINE_INTERVAL_S = 60.0


def mode_for(progress: bool | str) -> str:
    """True (show progress) -> "bar" on a terminal, else "lines"; False -> "off"."""
    if progress in ("bar", "lines", "off"):
        return progress
    if not progress:
        return "off"
    return "bar" if sys.stderr.isatty() else "lines"


def _bar(**kw):
    from tqdm import tqdm  # 40 ms: paid only on a terminal that shows a bar

    return tqdm(file=sys.stderr, dynamic_ncols=True, **kw)


class RenderProgress:
    """One render's progress from its engine's RenderSteps. The time left weighs each iteration
    by its pixels: the last level's iterations cost about twice the level before's."""

    def __init__(self, label: str = "stylize", mode: str = "bar", clock=time.monotonic):
        self.label, self.mode, self.clock = label, mode, clock
        self.start = self.last_line = clock()
        self.bar = None
        self.shown = 0  # iterations the bar shows
        self.size: tuple[int, int] | None = None

    def __call__(self, step: RenderStep) -> None:
        if self.mode == "bar":
            if self.bar is None:
                self.bar = _bar(total=step.total, unit="it", leave=False, desc=self.label)
            if step.size != self.size:
                self.size = step.size
                self.bar.set_description(f"{self.label} {step.size[0]}x{step.size[1]}", refresh=False)
            self.bar.set_postfix({"loss": f"{step.loss:.4g}"}, refresh=False)
            self.bar.update(step.done - self.shown)
            self.shown = step.done
        elif self.mode == "lines" and self.clock() - self.last_line >= LINE_INTERVAL_S:
            self.last_line = self.clock()
            print(self.line(step), file=sys.stderr, flush=True)

    def line(self, step: RenderStep) -> str:
        """'pearl:gogh: 40/125 iterations (512x512), 3 min 10 s so far, about 9 min 20 s left'"""
        elapsed = self.clock() - self.start
        left = elapsed * (step.work_total - step.work_done) / step.work_done if step.work_done else 0
        return (f"{self.label}: {step.done}/{step.total} iterations ({step.size[0]}x{step.size[1]}), "
                f"{duration(elapsed)} so far, about {duration(left)} left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CellsProgress:
    """A run's cells as one measure of work (each cell weighs its estimated seconds), for one bar
    and for the time left: elapsed x work left / work done."""

    def __init__(self, plan, cells: list, clock=time.monotonic):
        self.clock = clock
        self.start = clock()
        self.weight = {c.key: max(plan.estimate_seconds(c), 1e-3) for c in cells}
        self.total = sum(self.weight.values()) or 1.0
        self.done = 0.0  # the weight of the cells finished
        self.count = 0

    def finished(self, cell) -> None:
        self.done += self.weight.get(cell.key, 0.0)
        self.count += 1

    def fraction(self, cell=None, step: RenderStep | None = None) -> float:
        """How much of the run is done, `step` of `cell` included."""
        part = 0.0
        if cell is not None and step is not None and step.work_total:
            part = self.weight.get(cell.key, 0.0) * step.work_done / step.work_total
        return min(1.0, (self.done + part) / self.total)

    def left(self, fraction: float | None = None) -> float | None:
        f = self.fraction() if fraction is None else fraction
        return (self.clock() - self.start) * (1 - f) / f if f > 0 else None


class RunView:
    """What `command` ("gallery", "render", "cell", "site", "pull" or "push") says as its run goes,
    built from the run's events; `quiet` leaves out bars and minute-by-minute lines."""

    def __init__(self, command: str, quiet: bool = False):
        self.command, self.quiet = command, quiet
        self.selection = None
        self.cells_bar = None
        self.transfer_bar = None
        self.render: RenderProgress | None = None
        self.cells: CellsProgress | None = None
        self.pulled = self.finished = 0  # renders pulled, cells rendered (here or by another process)

    def __enter__(self) -> "RunView":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for bar in (self.render, self.cells_bar, self.transfer_bar):
            if bar is not None:
                bar.close()
        self.render = self.cells_bar = self.transfer_bar = None

    def say(self, message: str) -> None:
        if self.cells_bar is not None:
            self.cells_bar.write(message, file=sys.stderr)
        else:
            print(message, flush=True)

    def warn(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def __call__(self, event) -> None:
        handler = self.HANDLERS.get(type(event))
        if handler is not None:  # else an event this view has nothing to say about
            handler(self, event)

    # ---- the plan and the remote

    def _planned(self, e: Planned) -> None:
        self.selection = e.selection
        if isinstance(e.selection, Shard):
            self._shard_lines(e)

    def _shard_lines(self, e: Planned) -> None:
        s, missing = e.selection, e.plan.missing()
        print(f"shard {s.k}/{s.n}: {len(e.cells)} of {len(missing)} missing cells"
              + (f", about {duration(sum(s.planned[c.key] for c in e.cells))} by {s.plan_file}"
                 if s.planned is not None else ""))
        if s.planned is not None and s.k == 1:
            unplanned = [c.name for c in missing if c.key not in s.planned]
            if unplanned:
                print(f"note: {len(unplanned)} missing cell{'s are' if len(unplanned) != 1 else ' is'} not "
                      f"in {s.plan_file} (on the remote then, or the manifest changed since): the run "
                      f"after the shards pulls or renders {'them' if len(unplanned) != 1 else 'it'}")

    def _remote_unavailable(self, e: RemoteUnavailable) -> None:
        self.warn(f"{e.error}; rendering without it")

    def _transfer_started(self, e: TransferStarted) -> None:
        if not self.quiet and e.total > 1 and sys.stderr.isatty():
            self.transfer_bar = _bar(total=e.total, unit="render", desc=e.verb)

    def _transfer_step(self, e: TransferStep) -> None:
        if self.transfer_bar is not None:
            self.transfer_bar.update(1)

    def _transfer_done(self, e: TransferDone) -> None:
        if self.transfer_bar is not None:
            self.transfer_bar.close()
            self.transfer_bar = None

    def _pulled(self, e: Pulled) -> None:
        self.pulled += len(e.report.done)
        for line in describe(e.report, lambda k: e.names.get(k, k[:12])):
            (self.warn if line.startswith(("stopped", "  refused")) else self.say)(line)

    def _not_pushed(self, e: NotPushed) -> None:
        n = len(e.keys)
        self.warn(f"{n} new render{'s are' if n != 1 else ' is'} not on the remote {e.remote}: run "
                  "`python -m pipeline push` to send them")

    # ---- rendering

    def _render_started(self, e: RenderStarted) -> None:
        if not e.cells:
            return
        self.cells = CellsProgress(e.plan, list(e.cells))
        if self.command == "gallery":
            counts = e.plan.counts()
            self.say(f"{display(e.plan.gallery.path)}: {len(e.plan.cells)} cells: {counts['cached']} cached, "
                     f"{counts['render']} to render ({estimate_words(e.plan, e.cells)} of rendering), "
                     f"{counts['excluded']} excluded")
        elif self.command == "render":
            kinds = sorted({settings(c) for c in e.cells})
            n = len(e.cells)
            self.say(f"rendering {n} cell{'s' if n != 1 else ''} ({kinds[0] if len(kinds) == 1 else 'mixed settings'}"
                     f"{f', {e.jobs} at a time' if e.jobs > 1 else ''}), {estimate_words(e.plan, e.cells)}")
        if not self.quiet and len(e.cells) > 1 and e.jobs == 1 and sys.stderr.isatty():
            label = f"shard {self.selection.k}/{self.selection.n}" if isinstance(self.selection, Shard) else "render"
            # one bar for the whole run: the cells done, the time left; it moves within a cell too
            self.cells_bar = _bar(total=1.0, desc=label, postfix="",
                                  bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

    def _cell_started(self, e: CellStarted) -> None:
        if self.cells_bar is not None:
            self._bar_postfix(e.cell.name)
        elif e.jobs > 1:  # in a log, a worker's cells say where they render; one process says it at the end
            how = f"; {e.threads} thread{'s' if e.threads != 1 else ''} per worker, {e.jobs} workers" if e.threads else ""
            how += ", more once fewer cells are left" if e.threads and e.grows else ""
            self.say(f"{e.cell.name}: rendering ({settings(e.cell)}{how})...")
        # One render's own progress: lines in a log, a bar for a single cell on a terminal, none
        # under the run's bar (it moves with the iterations itself).
        mode = "off" if self.quiet or self.cells_bar is not None else ("lines" if e.jobs > 1 else mode_for(True))
        self.render = RenderProgress(e.cell.name, mode)

    def _bar_postfix(self, name: str) -> None:
        done = self.cells.count if self.cells else 0
        total = len(self.cells.weight) if self.cells else 0
        self.cells_bar.set_postfix_str(f"{done}/{total} cells, {name}", refresh=False)

    def _cell_step(self, e: CellStep) -> None:
        if self.render is not None:
            self.render(e.step)
        if self.cells_bar is not None and self.cells is not None:
            self.cells_bar.n = self.cells.fraction(e.cell, e.step)
            self.cells_bar.refresh()

    def _cell_done(self, e: CellDone) -> None:
        if self.render is not None:
            self.render.close()
            self.render = None
        self.finished += 1
        if self.cells is not None:
            self.cells.finished(e.cell)
        if self.cells_bar is not None:
            self.cells_bar.n = self.cells.fraction()
            self._bar_postfix(e.cell.name)
            self.cells_bar.refresh()
            if e.seconds is None:
                self.say(f"{e.cell.name}: rendered meanwhile by another process")
            return
        left = self.cells.left() if self.cells is not None and e.index < e.total else None
        later = f"; about {duration(left)} left" if left is not None and e.jobs == 1 else ""
        if e.seconds is None:
            self.say(f"{self._at(e)}{e.cell.name}: rendered meanwhile by another process{later}")
        else:
            self.say(f"{self._at(e)}{e.cell.name}: done in {e.seconds:.1f} s ({settings(e.cell)}){later}")

    @staticmethod
    def _at(e) -> str:
        return f"[{e.index}/{e.total}] " if e.total > 1 and e.jobs == 1 else ""

    def _render_done(self, e: RenderDone) -> None:
        if self.cells_bar is not None:
            self.cells_bar.close()
            self.cells_bar = None
        if self.command != "render":
            return
        if not e.cells:
            s = self.selection
            print(f"shard {s.k}/{s.n}: nothing to render" if isinstance(s, Shard)
                  else f"nothing to render: {e.plan.counts()['cached']} cells cached")
        else:
            took = f" in {duration(self.cells.clock() - self.cells.start)}" if self.cells is not None else ""
            print(f"rendered {e.rendered} cell{'s' if e.rendered != 1 else ''}{took}"
                  + (f" ({e.by_others} by another process)" if e.by_others else ""))

    # ---- the end

    def _lock_updated(self, e: LockUpdated) -> None:
        self.say(f"{display(e.path)}: updated ({e.cells} cells)")

    def _settled(self, e: Settled) -> None:
        plan = e.plan
        counts = plan.counts()
        if self.command == "gallery":
            self.say(f"{display(plan.gallery.path)}: {counts['cached']} cells rendered, "
                     f"{counts['render']} missing, {counts['excluded']} excluded")
        elif self.command == "cell":
            cell = plan.cell(self.selection.content, self.selection.style)
            if self.pulled:
                print(f"{cell.name}: pulled from the remote ({cell.image})")
            elif self.finished:
                to_go = plan.missing()
                left = f"; {estimate_words(plan, to_go)} of rendering left" if to_go else ""
                print(f"{cell.name}: {counts['cached']} of {counts['cached'] + counts['render']} cells now "
                      f"cached{left}")
            else:
                print(f"{cell.name}: cached ({cell.image})")

    # Which method says what about each kind of event (a plain table: cheap to build at start).
    HANDLERS = {
        Planned: _planned, RemoteUnavailable: _remote_unavailable, TransferStarted: _transfer_started,
        TransferStep: _transfer_step, TransferDone: _transfer_done, Pulled: _pulled, NotPushed: _not_pushed,
        RenderStarted: _render_started, CellStarted: _cell_started, CellStep: _cell_step,
        CellDone: _cell_done, RenderDone: _render_done, LockUpdated: _lock_updated, Settled: _settled,
    }
