"""Stage 3, the engines behind one interface: `stylize(content, style, params)` renders one pair
with the engine `params.engine` names and returns a RenderResult; `progress` callbacks receive
RenderSteps. An engine is imported only when it renders (torch, onnxruntime)."""
from pipeline.render.engine import Renderer, stylize
from pipeline.render.progress import RenderStep
from pipeline.render.result import RenderResult

__all__ = ["Renderer", "RenderResult", "RenderStep", "stylize"]
