"""The image pyramid a render runs: each level's size, iterations and style-weight factor.

Built from a render's parameters (RenderParams.pyramid) and torch-free, as pystiche's pyramid
object is: the optimiser only iterates it, while the plan (keys), the estimate and the site read
its sizes without loading the renderer.

Levels are about sqrt(2) apart, one per schedule entry, ending at the render's size. A level that
would fall below `min_size` (or below the size itself when that is smaller) is not run at a size
it was not meant for: its iterations move to the smallest level kept, so no size is optimised
twice (a 192 px draft once ran three levels at 128 px) and a small render still runs every
iteration of its schedule. (Folding the pixel-work instead, as renderer 5 to 7 did, left a
128 px draft 4 iterations and a 192 px one 8: the photo with dark noise on top.)

Style weight is lighter below the top level: at small sizes the content layer sees only a few
positions, so the full style weight paints the subject over; lighter style at the coarse levels
keeps the layout and the finer levels add the texture. Each level below the top multiplies the
factor by the preset's decay.

A render larger than its base size (print sizes) is the base render's pyramid plus levels above
it, about sqrt(2) apart up to its size, with a few iterations each at the full style weight, as
the base's top: its cost and memory stay bounded (bench/RESULTS.md, print sizes).
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

from pipeline.util.plain import Plain

STEP = 2 ** 0.5  # the ratio of neighbouring levels' long edges


class Level(Plain):
    """One level: its long edge (px), its iterations, its multiplier of style_weight."""

    edge: int
    iterations: int
    style_factor: float = 1.0


class Pyramid(Plain):
    """The levels, smallest first; `base`: how many of them are the base render's (all of them
    unless the render is larger than its base size)."""

    levels: tuple
    base: int

    @classmethod
    def build(cls, size: int, min_size: int, schedule: Sequence[int], decay: float,
              above: Sequence[int] = (0,), large_base: int | None = None) -> "Pyramid":
        """The pyramid of a render of `size` px with `schedule` (iterations per level, smallest
        first); above `large_base`, the base's pyramid plus levels with `above` iterations each
        (its last value for any further level)."""
        if large_base is not None and size > large_base:
            below = cls.build(large_base, min_size, schedule, decay)
            return cls(below.levels + levels_above(size, large_base, above), len(below.levels))
        n = len(schedule)
        lo = min(min_size, size)
        natural = [round(size / STEP ** (n - 1 - i)) for i in range(n)]
        kept = [[s, it] for s, it in zip(natural, schedule) if s >= lo]  # the top is always kept
        kept[0][1] += sum(it for s, it in zip(natural, schedule) if s < lo)
        k = len(kept)
        return cls(tuple(Level(s, it, decay ** (k - 1 - i)) for i, (s, it) in enumerate(kept)), k)

    def sizes(self) -> tuple[tuple[int, int], ...]:
        """(long edge, iterations) of each level, smallest first."""
        return tuple((lv.edge, lv.iterations) for lv in self.levels)

    def __iter__(self) -> Iterator[Level]:
        return iter(self.levels)

    def __len__(self) -> int:
        return len(self.levels)


def levels_above(size: int, large_base: int, above: Sequence[int]) -> tuple[Level, ...]:
    """The levels a render of `size` px adds above its base: counted from the bottom, so a
    2048 px render's first levels above the base are the 1024 px one's."""
    steps = math.ceil(math.log(size / large_base, STEP) - 1e-9)
    return tuple(Level(round(size / STEP ** (steps - 1 - i)), above[min(i, len(above) - 1)])
                 for i in range(steps))
