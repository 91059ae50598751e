"""The loss curve of a render record as SVG geometry, computed here so the page needs no JS library.

The template draws what this returns (polylines, ticks, level separators); a log scale on the
y axis because the loss falls by orders of magnitude, the x axis counts iterations over all
pyramid levels in order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SERIES = ("total", "content", "style", "tv")
MAX_POINTS = 300  # per series: plenty for a 560 px wide chart, and keeps the page small


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    lines: tuple[tuple[str, str], ...]  # (series name, "x,y x,y ...")
    y_ticks: tuple[tuple[float, str], ...]  # (y, label)
    x_ticks: tuple[tuple[float, str], ...]
    levels: tuple[tuple[float, str], ...]  # (x where a level starts, its size label)
    points: int


def loss_chart(record: dict | None, width: int = 560, height: int = 240) -> Chart | None:
    """Chart geometry for a record's traces, or None when it has fewer than two points."""
    traces = []  # (global iteration, {series: value})
    levels = []
    offset = 0
    all_levels = (record or {}).get("levels") or []
    total_points = sum(len(lv.get("trace") or []) for lv in all_levels)
    stride = max(1, math.ceil(total_points / MAX_POINTS))  # a renderer may trace every iteration
    for level in all_levels:
        trace = level.get("trace") or []
        size = level.get("size") or []
        if trace:
            levels.append((offset, "x".join(str(s) for s in size)))
        last = 0
        for n, point in enumerate(trace):
            it = point.get("iteration", 0)
            if n % stride == 0 or n == len(trace) - 1:
                traces.append((offset + it, point))
            last = max(last, it)
        offset += max(last, level.get("iterations") or 0)
    if len(traces) < 2:
        return None

    values = [p[s] for _, p in traces for s in SERIES
              if isinstance(p.get(s), (int, float)) and p[s] > 0]
    if not values:
        return None
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if hi == lo:
        hi += 1
    x_max = max(offset, traces[-1][0], 1)
    left, right, top, bottom = 56, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(it: float) -> float:
        return left + plot_w * it / x_max

    def y(v: float) -> float:
        return top + plot_h * (hi - math.log10(v)) / (hi - lo)

    lines = []
    for s in SERIES:
        pts = [f"{x(it):.1f},{y(p[s]):.1f}" for it, p in traces
               if isinstance(p.get(s), (int, float)) and p[s] > 0]
        if len(pts) >= 2 and not (s == "tv" and all(p.get("tv", 0) == 0 for _, p in traces)):
            lines.append((s, " ".join(pts)))
    step = max(1, math.ceil((hi - lo) / 6))
    y_ticks = tuple((round(y(10.0 ** e), 1), f"1e{e}") for e in range(lo, hi + 1, step))
    x_step = _nice_step(x_max / 5)
    x_ticks = tuple((round(x(i), 1), str(i)) for i in range(0, int(x_max) + 1, x_step))
    return Chart(width, height, left, right, top, bottom, tuple(lines), y_ticks, x_ticks,
                 _spaced(tuple((round(x(o), 1), label) for o, label in levels), plot_w * LABEL_GAP),
                 len(traces))


# Level labels are written upright along their dashed line (about 14 CSS px wide). The plot is
# at least ~280 px wide on a phone: labels closer than this fraction of it would touch.
LABEL_GAP = 0.06


def _spaced(levels: tuple[tuple[float, str], ...], gap: float) -> tuple[tuple[float, str], ...]:
    """Keep level labels at least `gap` apart; the last level (the render's own size) wins over
    a label just below it, except the first."""
    kept: list[tuple[float, str]] = []
    for i, (x, label) in enumerate(levels):
        if kept and x - kept[-1][0] < gap:
            if i == len(levels) - 1 and len(kept) > 1:
                kept[-1] = (x, label)
            continue
        kept.append((x, label))
    return tuple(kept)


def _nice_step(raw: float) -> int:
    """1, 2 or 5 times a power of ten, at least `raw`: tick labels a reader can count with."""
    if raw <= 1:
        return 1
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)
