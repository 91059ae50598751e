"""Small pieces of wording the commands share: durations, sizes, paths as the user types them,
a cell's settings and the time cells take."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 02 min: how long, to the precision a person reads."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def display(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def estimate_words(plan, cells: Iterable) -> str:
    """'about 29 min 30 s': the time these cells take to render (see plan/estimate.py)."""
    return f"about {duration(plan.estimate_total(cells))}"


def settings(cell) -> str:
    """'512 px, standard', '256 px, iterations 10,20' or '512 px, fast engine': how a cell renders."""
    p = cell.params
    sched = p.preset if p.iterations is None else "iterations " + ",".join(map(str, p.schedule()))
    return f"{p.size} px, {sched}" if p.engine == "gatys" else f"{p.size} px, {p.engine} engine"
