"""A render's time-lapse: snapshots of the picture while the optimiser paints it.

Frames are taken at the start, at the end of every pyramid level and evenly through the top
level (where most iterations go), each at one size (the render's, at most FRAME_EDGE px): a
coarse level's picture is shown as the next level would start from it (the content at full
size plus the upsampled change, see core.next_level_start), so the time-lapse is the photo
turning into the painting rather than a blur sharpening. Taking a frame reads the pixels and
changes nothing: a render's bytes are the same with or without its time-lapse.
"""
from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

# The long edge of the frames: the site shows the time-lapse at the gallery's size.
FRAME_EDGE = 512
# Frames evenly through the top level (besides the start and each level's end).
TOP_FRAMES = 24


@dataclass
class Frame:
    """One snapshot: after `iteration` iterations of pyramid level `level` (0: the smallest)."""

    level: int
    iteration: int
    image: Image.Image

    def describe(self) -> dict:
        return {"level": self.level, "iteration": self.iteration}


class Timelapse:
    """Decides when a frame is due and keeps the frames, in the order they were taken."""

    def __init__(self, top_frames: int = TOP_FRAMES):
        self.top_frames = top_frames
        self.frames: list[Frame] = []
        self._marks: set[int] = set()

    def top_level(self, iterations: int) -> None:
        """The top level is about to run `iterations` iterations (at most: a stop rule may end
        it sooner): frames are due evenly through them."""
        n = min(self.top_frames, iterations)
        self._marks = {round(k * iterations / n) for k in range(1, n + 1)} if n > 0 else set()

    def due(self, done: int) -> bool:
        """Whether a frame is due after `done` iterations of the top level."""
        return done in self._marks

    def add(self, level: int, iteration: int, image: Image.Image) -> None:
        last = self.frames[-1] if self.frames else None
        if last is not None and (last.level, last.iteration) == (level, iteration):
            return  # the top level's last iteration already gave this frame
        self.frames.append(Frame(level, iteration, image))
