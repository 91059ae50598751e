"""A cell's key: the sha256 of everything that determines its pixels, and nothing else.

The key hashes the content and style image bytes, the parameters the engine reads, and the
engine's version and model files (weights). Titles, credits, links and order never enter it.
"""
from __future__ import annotations

from typing import Any

from pipeline.core import params as _params
from pipeline.core.params import FAST, PARAMS_BY_NAME, RenderParams
from pipeline.core.weights import fast_models_identity, weights_identity


def key_params(params: RenderParams) -> dict[str, Any]:
    """The parameters the cell's engine reads (params.key_dict), each value in its table type
    (1 and 1.0 hash the same)."""
    out: dict[str, Any] = {}
    for name, value in params.key_dict().items():
        kind = PARAMS_BY_NAME[name].kind if name in PARAMS_BY_NAME else ""
        if kind == "float" and value is not None:
            value = float(value)
        elif kind == "int_list" and value is not None:
            value = [int(v) for v in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def key_parts(params: RenderParams, weights: dict[str, str] | None = None) -> dict[str, Any]:
    """The engine's part of a cell's key: `weights` (id and sha256 of the networks it runs) and
    `renderer_version`, and with init: fast the fast engine's as `head_start`. `weights`: the
    optimiser's weights identity, when the caller has it (hashing a .pth file is worth doing once).
    The names and shapes of the optimiser's parts are what every cached render was keyed with."""
    fast = {"weights": fast_models_identity(), "renderer_version": f"fast-{_params.FAST_VERSION}"}
    if params.engine == FAST:
        return fast
    w = weights or weights_identity(params.weights)
    parts = {"weights": {"id": w["id"], "sha256": w["sha256"]},
             "renderer_version": _params.RENDERER_VERSION}  # read now: tests pin it
    if params.start() == FAST:  # the optimiser starts from the fast render: its networks count too
        parts["head_start"] = fast
    return parts


def key_inputs(content_sha: str, style_sha: str, params: RenderParams,
               weights: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything that determines a render's pixels, as the plain dict the key hashes."""
    return {"content": content_sha, "style": style_sha, "params": key_params(params),
            **key_parts(params, weights)}


def provenance(cell: Any) -> dict[str, Any]:
    """What a cell was rendered from, for its record and its lock-file entry alike: the inputs
    its key hashes, with the images' ids beside their hashes."""
    inputs = dict(cell.inputs)
    return {
        **{k: v for k, v in inputs.items() if k not in ("content", "style")},
        "content": {"id": cell.content.id, "sha256": inputs["content"]},
        "style": {"id": cell.style.id, "sha256": inputs["style"]},
        "key": cell.key,
    }
