"""How long cells take to render: from this machine's earlier renders when there are any, else
from a measured default pace. Torch-free (the CPU's bf16 support is read from /proc/cpuinfo)."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from pipeline.core.params import FAST, PARAMS_BY_NAME, RenderParams

# Used when no earlier render says how fast this machine is: seconds per unit of work (the sum
# over pyramid levels of iterations x level_size^2) plus a per-render overhead, for a CPU that
# multiplies bf16 natively and one that runs fp32 (the measurements: bench/RESULTS.md). After
# the first render every estimate uses this machine's own pace.
CPU_PACE = {"fp32": (1.65e-5, 12.0), "bf16": (3.2e-6, 6.7)}  # (seconds per work, overhead)
# engine: fast, before this machine has timed one: (seconds per pixel, overhead a cell), and
# once a run: the process's start and the networks' load (bench/RESULTS.md, "The first time
# estimate"). A run renders its cells in one process, so the load is not paid per cell.
FAST_PACE = (9e-7, 0.1)
FAST_START = 2.0
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



class Estimates:
    """Render times learned from the cached cells' records and the lock file (one plan's worth)."""

    def __init__(self, plan: Any):
        self.plan = plan
        self._timing_cache: tuple[dict[tuple, list[float]], list[float]] | None = None

    def seconds(self, cell: Any) -> float:
        """From earlier renders of the same size and schedule, else scaled from any earlier render
        by the work (iterations x pixels per level), else the default CPU pace."""
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

    def total(self, cells) -> float:
        """How long `cells` take in one run: their seconds, plus the fast engine's start once
        when none of its renders is timed yet (timed renders already count it)."""
        cells = list(cells)
        seconds = sum(self.seconds(c) for c in cells)
        fast = [c for c in cells if c.params.engine == FAST]
        if fast and not self._timings()[0].get(_schedule(fast[0].params)):
            seconds += FAST_START
        return seconds

    def timed_renders(self) -> list[float]:
        """Seconds per unit of work of earlier renders (cache and lock file) that say how long they took."""
        return self._timings()[1]

    def _timings(self) -> tuple[dict[tuple, list[float]], list[float]]:
        """Render seconds by (size, schedule), and per unit of work, from the cached cells'
        records and from the lock file (a cell's previous render, even if its key changed).

        CPU renders are scaled to the most threads any of them had: under `make -j2` each
        worker renders on 1 of 2 cores and takes about twice as long, but the gallery does not.
        """
        if self._timing_cache is None:
            plan = self.plan
            samples: dict[str, tuple[RenderParams, dict[str, Any]]] = {}
            for name, entry in plan.lock.items():
                try:
                    known = {k: v for k, v in (entry.get("params") or {}).items() if k in PARAMS_BY_NAME}
                    samples[name] = (RenderParams.from_layers(known), entry)
                except (ValueError, TypeError, AttributeError):
                    continue  # written by another version of the parameter table
            for c in plan.cells:
                if c.state == "cached":
                    samples[c.name] = (c.params, plan.cache.summary(c.key) or {})
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


def _cpu_threads(info: dict[str, Any]) -> int | None:
    """The threads of a CPU render (None for a GPU's, or where the record does not say)."""
    threads = info.get("threads")
    if info.get("device") != "cpu" or not isinstance(threads, int) or threads < 1:
        return None
    return threads


def _schedule(params: RenderParams) -> tuple:
    """Renders that take the same time: the engine, the size and the optimiser's schedule."""
    return (params.engine, params.size, tuple(params.schedule()) if params.engine != FAST else ())
