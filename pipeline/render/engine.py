"""The engines' one interface: `stylize(content, style, params) -> RenderResult` and the parts of
a cell's cache key that come from the engine, both chosen by `params.engine`.

An engine is a folder under pipeline/render/ (gatys: the optimiser; fast: a feed-forward
network) whose `core.stylize(content, style, params, progress=, label=, threads=)` is a pure
function of its inputs that reports its iterations to `progress` (render/progress.py) and never
prints. The table in pipeline/core/params.py says which parameters each
engine reads (Param.engines); the parts of a cell's key that come from the engine (its networks
and version) are composed in pipeline/plan/keys.py from pinned identities. `stylize` imports an
engine only when it renders.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pipeline.core.params import FAST, RenderParams
from pipeline.render.progress import Progress
from pipeline.render.result import RenderResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Renderer", "stylize"]

# What renders a cell: stylize below, or another callable of its shape that a caller passes in
# (the runner and the CLI take one; tests pass a fake).
Renderer = Callable[..., RenderResult]


def stylize(content: Image.Image, style: Image.Image, params: RenderParams,
            progress: Progress | None = None, label: str = "stylize",
            threads: Callable[[], int] | None = None) -> RenderResult:
    """Render `content` in the manner of `style` with the engine `params.engine` names.

    `progress`, when given, receives each iteration as a RenderStep; `label` names the render
    in the engines' log; `threads`, when given, says how many threads to use now (a `make -jN`
    worker's share of the cores)."""
    if params.engine == FAST:
        from pipeline.render.fast.core import stylize as run
    else:
        from pipeline.render.gatys.core import stylize as run
    return run(content, style, params, progress=progress, label=label, threads=threads)
