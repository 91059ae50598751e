"""The engines' one interface: `stylize(content, style, params) -> RenderResult` and the parts of
a cell's cache key that come from the engine, both chosen by `params.engine`.

An engine is a folder under pipeline/render/ (gatys: the optimiser; fast: a feed-forward
network) whose `core.stylize(content, style, params, progress=, label=, threads=)` is a pure
function of its inputs. The table in pipeline/manifest/params.py says which parameters each
engine reads (Param.engines); the parts of a cell's key that come from the engine (its networks
and version) are composed in pipeline/plan/keys.py from pinned identities. `stylize` imports an
engine only when it renders.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pipeline.manifest.params import FAST, RenderParams
from pipeline.render.result import RenderResult

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["RenderResult", "stylize"]


def stylize(content: Image.Image, style: Image.Image, params: RenderParams, progress: bool | str = True,
            label: str = "stylize", threads: Callable[[], int] | None = None) -> RenderResult:
    """Render `content` in the manner of `style` with the engine `params.engine` names.

    `progress` and `label`: how progress is shown (see pipeline.util.progress); `threads`, when
    given, says how many threads to use now (a `make -jN` worker's share of the cores)."""
    if params.engine == FAST:
        from pipeline.render.fast.core import stylize as run
    else:
        from pipeline.render.gatys.core import stylize as run
    return run(content, style, params, progress=progress, label=label, threads=threads)
