"""The optimisation core: Gatys et al.'s style transfer, coarse to fine, as one pure function.

`stylize(content, style, params)` -> RenderResult(image, record, frames). It knows nothing of
manifests, caches or sites. The image is optimised directly as RGB pixels in 0-255 (the
space the classic Caffe implementations use, where L-BFGS is well scaled), starting from the
content image at a small size and refined level by level up to `params.size`. A render larger
than LARGE_BASE is that size's render refined further up, a few iterations a level, its
largest levels computed in tiles (tiled.py): its cost and memory stay bounded (see
RenderParams.levels).
"""
from __future__ import annotations

import functools
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.core.params import RENDERER_VERSION, RenderParams
from pipeline.core.pyramid import Level
from pipeline.render.gatys.anchor import Anchored
from pipeline.render.gatys.device import (RenderError, choose_threads, cpu_bf16_supported,  # noqa: F401
                                          resolve_device, resolve_precision)
from pipeline.render.gatys.lbfgs import LBFGS
from pipeline.render.gatys.objective import (AUTOCAST_DTYPES, CONTENT_LAYER, STYLE_LAYERS, Objective,  # noqa: F401
                                             as_floats, gram)
from pipeline.render.gatys.tiled import TiledObjective, needs_tiles
from pipeline.render.gatys.timelapse import FRAME_EDGE, TOP_FRAMES, Timelapse
from pipeline.render.gatys.vgg import load_vgg
from pipeline.render.imageops import fit_long_edge, recombine_colors
from pipeline.render.progress import Progress, Steps
from pipeline.render.result import RenderResult

LBFGS_HISTORY = 50
# L-BFGS keeps two image-sized vectors per pair of its history: above ~900 x 900 px, 50 pairs
# would take more than this, so large renders keep fewer (a 2048 px square keeps 10).
LBFGS_HISTORY_BYTES = 1 << 30
# init: fast starts near the optimum, where torch's first L-BFGS step moves no pixel and the
# next ones learn no curvature (pearl x gogh, 256 px: the objective stood still for 10+
# iterations). Its first step moves the pixels by this much instead (root mean square, 0-255).
# The levels above a large render's base start from a finished picture the same way.
INIT_FAST_FIRST_STEP = 2.0
ADAM_LR = 4.0  # pixels (0-255) per step: Adam's step size is about lr, whatever the loss scale


# ---------------------------------------------------------------- images <-> tensors

def to_tensor(im: Image.Image, device: torch.device) -> torch.Tensor:
    """8-bit RGB image -> float (1, 3, H, W) pixels in 0-255."""
    t = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
    return t.view(im.height, im.width, 3).permute(2, 0, 1).unsqueeze(0).float().contiguous().to(device)


def to_image(x: torch.Tensor) -> Image.Image:
    """float (1, 3, H, W) pixels in 0-255 -> 8-bit RGB image (rounded, clipped)."""
    a = x.detach()[0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu()
    return Image.fromarray(a.numpy(), "RGB")


def style_at(style: Image.Image, long_edge: int, params: RenderParams, device: torch.device) -> torch.Tensor:
    """The style image as a level of `long_edge` px paints with it (scaled by style_scale)."""
    wh = fit_long_edge(style.size, max(1, round(long_edge * params.style_scale)))
    return to_tensor(style.resize(wh, Image.LANCZOS), device)


def luminance_style(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style as grey, its luminance mean/std matched to the content's: for preserve_colors."""
    def luma(im: Image.Image) -> torch.Tensor:
        return torch.frombuffer(bytearray(im.convert("L").tobytes()), dtype=torch.uint8).float()

    sy, cy = luma(style), luma(content)
    y = (sy - sy.mean()) / (sy.std() + 1e-6) * cy.std() + cy.mean()
    grey = y.clamp(0, 255).round().to(torch.uint8).view(style.height, style.width)
    return Image.fromarray(grey.numpy(), "L").convert("RGB")


# ---------------------------------------------------------------- the optimiser

def optimise(objective, x: torch.Tensor, iterations: int, optimizer: str, steps: Steps,
             before_step: Callable[[int], None] | None = None, curvature: float | None = None,
             first_step_rms: float | None = None, stop: tuple[int, float] | None = None,
             after_step: Callable[[int, torch.Tensor], None] | None = None,
             ) -> tuple[torch.Tensor, list[dict], float | None]:
    """Run up to `iterations` steps from x; return the result, the trace (terms before each
    step) and L-BFGS's curvature scale at the end (the next level starts from it).

    Each iteration costs one objective.value_and_grad and is traced; x stays in 0-255.
    `before_step(i)` runs before iteration i (the thread count is adjusted there), `after_step(n,
    x)` after the n-th step (n from 1; the time-lapse reads x there, changing nothing).
    `first_step_rms`: with no curvature yet, L-BFGS's first step moves the pixels by this much
    (root mean square, 0-255 scale) instead of torch's step that moves nothing.
    `stop` (window, gain): end early once the objective fell by less than `gain` (relative)
    over the last `window` iterations (see stalled).
    """
    x = x.detach().clone()
    lbfgs = LBFGS(lbfgs_history(x.numel()), curvature, first_step_rms) if optimizer == "lbfgs" else None
    if lbfgs is None:
        x.requires_grad_(True)
        adam = torch.optim.Adam([x], lr=ADAM_LR)
    trace: list[dict] = []
    # The relative losses are O(1), so their per-pixel gradients are tiny (~1/pixels):
    # L-BFGS would then skip every curvature pair (its s.y > 1e-10 test) and crawl along -g,
    # and fp16 gradients underflow. The optimiser sees the objective scaled by the number of
    # pixel values (L-BFGS and Adam are otherwise invariant to a constant factor).
    scale = float(x.numel())
    for i in range(iterations):
        if before_step is not None:
            before_step(i)
        # Every evaluated image is a valid one: unclamped, L-BFGS drifts out of 0-255 and the
        # saved (clipped) image scored up to 20% worse than the optimiser believed (500 steps
        # at 512 px). Clamping here cost nothing measurable (0.4788 vs 0.4786 after 150 steps
        # at 256 px) and the saved image now scores what the trace says.
        with torch.no_grad():
            x.clamp_(0, 255)
        terms, grad = objective.value_and_grad(x, scale)
        if not math.isfinite(terms["total"]):
            raise RenderError(f"the objective became {terms['total']} at iteration {i}: try "
                              "--precision fp32 or lower weights")
        trace.append({"iteration": i, **terms})
        steps.step(terms["total"])
        with torch.no_grad():
            if lbfgs is not None:
                lbfgs.step(x, grad)
            else:
                x.grad = grad
                adam.step()
        if after_step is not None:
            after_step(i + 1, x)
        if stop is not None and stalled(trace, *stop):
            steps.skip(iterations - i - 1)
            break
    return x.detach().clamp_(0, 255), trace, lbfgs.gamma if lbfgs is not None else None


def stalled(trace: list[dict], window: int, gain: float) -> bool:
    """Whether the objective fell by less than `gain` times its value over the last `window`
    iterations: the render has come as far as its budget is worth (easy pairs stop early,
    hard ones run on to their cap)."""
    if len(trace) <= window:
        return False
    before, now = trace[-1 - window]["total"], trace[-1]["total"]
    return before - now < gain * now


def lbfgs_history(values: int) -> int:
    """L-BFGS pairs kept for an image of `values` pixel values (see LBFGS_HISTORY_BYTES)."""
    return max(5, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // (2 * 4 * values)))


# ---------------------------------------------------------------- the pyramid

def feature_net(weights: str, pooling: str, device: torch.device):
    """The network and weights identity, kept for the next render in this process (a gallery
    renders many cells in one process; a .pth file is reloaded when its contents change)."""
    from pipeline.core.weights import BUILTIN, weights_identity

    version = "" if weights in BUILTIN else weights_identity(weights)["sha256"]
    return _feature_net(weights, pooling, str(device), version)


@functools.lru_cache(maxsize=2)
def _feature_net(weights: str, pooling: str, device: str, version: str):
    net, identity = load_vgg(weights, (CONTENT_LAYER, *STYLE_LAYERS), pooling)
    net = net.to(device)
    return net, identity


def level_weights(params: RenderParams, level: Level) -> tuple[float, float, float]:
    """(content, style, tv) weights at a pyramid level (its style factor: core/pyramid.py)."""
    return params.content_weight, params.style_weight * level.style_factor, params.tv_weight


def next_level_start(x: torch.Tensor, c_prev: torch.Tensor, c: torch.Tensor, init: str) -> torch.Tensor:
    """The start of the next pyramid level from the result `x` of the previous one.

    From the content, the level starts at the content at its own size plus the upsampled
    change the coarser levels made (c + up(x - c_prev)), not at the upsampled x: upsampling
    blurs, and the content's fine edges are nearer the optimum than a blur. Measured on pearl x
    gogh (the 512 pyramid at half scale): the top level starts at objective 1.16 instead of
    1.41 and the standard preset ends at 0.5076 instead of 0.5151.
    From noise there is no content detail to keep, so x itself is upsampled. From the fast
    engine's render (init: fast), `c` and `c_prev` are that render at the two sizes: its fine
    texture is kept the same way.
    """
    size = c.shape[-2:]
    def up(t):
        return F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=True)

    start = c + up(x - c_prev) if init in ("content", "fast") else up(x)
    return start.clamp(0, 255)


def stylize(content: Image.Image, style: Image.Image, params: RenderParams,
            progress: Progress | None = None, label: str = "stylize",
            threads: Callable[[], int] | None = None, frames: int = TOP_FRAMES,
            base: RenderResult | None = None) -> RenderResult:
    """Render `content` in the manner of `style`: coarse to fine, one L-BFGS run per level.

    `progress`, when given, receives a RenderStep after each iteration (render/progress.py);
    `label` is the common interface's (the fast engine logs it). `threads`, when given, says before each iteration how many threads to use now (a `make -jN`
    worker takes the cores its finished siblings left idle); the record lists the changes.
    `frames`: the time-lapse's frames through the top level (0: none; the start and each
    level's end come with any other number); they never change the render's pixels.
    `base`: for a render above LARGE_BASE, the render of the same parameters at LARGE_BASE
    when the caller has it (a gallery's print size refines the gallery's render): the result
    is the same bytes as without it, sooner.
    """
    t_start = time.perf_counter()
    pyramid = params.pyramid()
    top = fit_long_edge(content.size, pyramid.levels[-1].edge)
    to_run = pyramid.levels[pyramid.base:] if base is not None else pyramid.levels
    work = sum(lv.iterations * w * h for (w, h), lv in
               zip((fit_long_edge(content.size, lv.edge) for lv in to_run), to_run)) / (top[0] * top[1])
    steps = Steps(sum(lv.iterations for lv in to_run), work, progress)
    result = _stylize(content.convert("RGB"), style.convert("RGB"), params, steps, top[0] * top[1], threads,
                      frames, base)
    result.record["seconds"] = round(time.perf_counter() - t_start, 3)
    return result


def _stylize(content: Image.Image, style: Image.Image, params: RenderParams, steps: Steps, pixels: int,
             threads: Callable[[], int] | None, frames: int, base: RenderResult | None) -> RenderResult:
    """stylize's body: a large render runs (or takes) its base's render, then its own levels.
    `pixels`: the whole render's, in which the steps' work is counted."""
    below = params.base()
    if below is not None and base is None:
        base = _stylize(content, style, below, steps, pixels, threads, frames, None)
    run = _Run(params, threads)
    head_start = fast_start(content, style, params, threads) if params.start() == "fast" else None
    if params.preserve_colors:
        style = luminance_style(style, content)
    pyramid = params.pyramid()
    plan = pyramid.levels
    top = fit_long_edge(content.size, plan[-1].edge)
    lapse = Timelapse(frames) if frames else None
    frame_base = _frame_base(content, head_start, top, run.device)
    if below is None:
        x, levels, obj = run.levels(content, style, head_start, plan, steps, pixels, lapse, frame_base)
    else:
        if lapse is not None:
            lapse.frames += base.frames
        first = pyramid.base
        x, levels, obj = run.levels(content, style, head_start, plan[first:], steps, pixels, lapse, frame_base,
                                    start=base.image, first=first)
        levels = base.record["levels"] + levels
    image = to_image(x)
    with torch.no_grad():  # the objective of the image as saved (rounded to 8 bits)
        final = as_floats(obj.terms(to_tensor(image, run.device)))
    if params.preserve_colors:
        image = recombine_colors(image, content)
    record = {
        "engine": "gatys",
        "params": params.effective(),
        "weights": run.identity,
        "renderer_version": RENDERER_VERSION,
        "device": str(run.device),
        "precision": run.precision,
        "threads": run.start_threads,
        **({"thread_changes": run.thread_changes} if run.thread_changes else {}),
        "torch": torch.__version__,
        "seconds": None,  # stylize sets it: the whole render's
        "levels": levels,
        "final": final,
    }
    if base is not None:
        record["base"] = {"size": base.record["levels"][-1]["size"], "final": base.record["final"]}
    if head_start is not None:
        hs = head_start.record
        record["head_start"] = {k: hs[k] for k in ("engine", "weights", "renderer_version", "onnxruntime",
                                                   "seconds")}
    if lapse is not None:
        record["frames"] = [f.describe() for f in lapse.frames]
    return RenderResult(image=image, record=record, frames=lapse.frames if lapse is not None else [])


class _Run:
    """What every level of one render shares: device, precision, network, threads, schedule."""

    def __init__(self, params: RenderParams, threads: Callable[[], int] | None):
        self.params = params
        self.device = resolve_device(params.device)
        self.precision = resolve_precision(params.precision, self.device)
        self.start_threads = choose_threads()
        torch.set_num_threads(self.start_threads)
        self.threads = threads
        self.thread_changes: list[dict] = []
        torch.manual_seed(params.seed)
        if self.device.type == "cuda":  # reproducible pixels: no autotuned, non-deterministic kernels
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        self.net, self.identity = feature_net(params.weights, params.pooling, self.device)

    def adjust_threads(self, level: int, step: int) -> None:
        n = self.threads()
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
            self.thread_changes.append({"level": level, "iteration": step, "threads": n})

    def levels(self, content: Image.Image, style: Image.Image, head_start: RenderResult | None,
               plan, steps: Steps, pixels: int, lapse: Timelapse | None, frame_base: torch.Tensor,
               start: Image.Image | None = None, first: int = 0):
        """Optimise the pyramid levels of `plan` in turn (core/pyramid.py Level, smallest first);
        `start`: the finished picture a large render's upper levels begin from (else the
        params' start). Returns the last level's result, the levels' records and objective."""
        params, device = self.params, self.device
        init = params.start()
        n_levels = len(plan) + first
        levels: list[dict] = []
        x = base_prev = None
        if start is not None:
            x = to_tensor(start, device)
            base_prev = self._level_base(content, head_start, start.size)
        curvature = None  # L-BFGS's curvature scale, handed from level to level
        # Above the base, each level also holds the base's objective of its picture scaled down
        # to the base's size (anchor.py): the base's top-level objective, built once.
        anchor = None
        if start is not None and params.anchor():
            anchor = Objective(self.net, to_tensor(content.resize(start.size, Image.LANCZOS), device),
                               style_at(style, max(start.size), params, device),
                               params.content_weight, params.style_weight, params.tv_weight, self.precision)
        for i, level in enumerate(plan, start=first):
            long_edge, iters = level.edge, level.iterations
            t0 = time.perf_counter()
            wh = fit_long_edge(content.size, long_edge)
            c = to_tensor(content.resize(wh, Image.LANCZOS), device)
            # The image each level starts from and keeps the detail of: the content, or the
            # fast render at this level's size (init: fast); noise has none.
            base = self._level_base(content, head_start, wh, c)
            if x is None:
                x = base if init != "noise" else _noise(c, params.seed)
                if lapse is not None:
                    lapse.add(i, 0, _frame(x, base, frame_base, init))
            else:
                x = next_level_start(x, base_prev, base, init)
            base_prev = base
            steps.level(wh, wh[0] * wh[1] / pixels)
            trace = []
            is_top = i == n_levels - 1
            if iters > 0 or is_top:  # the top's targets also score the result
                s = style_at(style, long_edge, params, device)
                kind = TiledObjective if needs_tiles(wh[1], wh[0]) else Objective
                obj = kind(self.net, c, s, *level_weights(params, level), self.precision)
                if anchor is not None:
                    obj = Anchored(obj, anchor, start.size, params.anchor())
            if iters > 0:
                after = None
                if lapse is not None and is_top:
                    lapse.top_level(iters)

                    def after(done, x, i=i, base=base):
                        if lapse.due(done):
                            lapse.add(i, done, _frame(x, base, frame_base, init))
                x, trace, curvature = optimise(
                    obj, x, iters, params.optimizer, steps,
                    functools.partial(self.adjust_threads, i) if self.threads else None, curvature,
                    INIT_FAST_FIRST_STEP if (head_start is not None or start is not None) else None,
                    params.stop() if is_top else None, after)
            if lapse is not None:
                lapse.add(i, len(trace), _frame(x, base, frame_base, init))
            levels.append({"size": list(wh), "iterations": iters,
                           "seconds": round(time.perf_counter() - t0, 3), "trace": trace})
        return x, levels, obj

    def _level_base(self, content: Image.Image, head_start: RenderResult | None, wh: tuple[int, int],
                    c: torch.Tensor | None = None) -> torch.Tensor:
        if head_start is None:
            return c if c is not None else to_tensor(content.resize(wh, Image.LANCZOS), self.device)
        return to_tensor(head_start.image.resize(wh, Image.LANCZOS), self.device)


def _frame_base(content: Image.Image, head_start: RenderResult | None, top: tuple[int, int],
                device: torch.device) -> torch.Tensor:
    """The content (or fast render) at the time-lapse's size: what coarse levels are shown on."""
    size = fit_long_edge(top, min(FRAME_EDGE, max(top)))
    return to_tensor((head_start.image if head_start is not None else content).resize(size, Image.LANCZOS), device)


def _frame(x: torch.Tensor, base: torch.Tensor, frame_base: torch.Tensor, init: str) -> Image.Image:
    """The picture x at the time-lapse's size: a smaller level as the next level would start
    from it (its change upsampled onto the content), a larger one scaled down."""
    if x.shape[-2:] == frame_base.shape[-2:]:
        return to_image(x)
    if x.shape[-1] > frame_base.shape[-1]:
        return to_image(x).resize((frame_base.shape[-1], frame_base.shape[-2]), Image.LANCZOS)
    with torch.no_grad():
        return to_image(next_level_start(x, base, frame_base, init))


def fast_start(content: Image.Image, style: Image.Image, params: RenderParams,
               threads: Callable[[], int] | None = None) -> RenderResult:
    """init: fast: the fast engine's render at the full size (its strength and preserve_colors),
    the image the optimiser starts from: most of the style is there after one pass."""
    from pipeline.render.fast.core import stylize as fast_stylize

    return fast_stylize(content, style, params.with_(engine="fast"), threads=threads)


def _noise(like: torch.Tensor, seed: int) -> torch.Tensor:
    """Seeded grey noise the size of `like` (init=noise): the same seed gives the same start."""
    g = torch.Generator().manual_seed(seed)
    n = torch.randn(like.shape, generator=g) * 40 + 128
    return n.clamp(0, 255).to(like.device)


def evaluate(image: Image.Image, content: Image.Image, style: Image.Image, params: RenderParams,
             net=None) -> dict[str, float]:
    """The final level's objective of `image` in fp32 (for benchmarks: one yardstick for all)."""
    device = resolve_device(params.device)
    if net is None:
        net, _ = feature_net(params.weights, params.pooling, device)
    if params.preserve_colors:
        style = luminance_style(style.convert("RGB"), content.convert("RGB"))
    c = to_tensor(content.convert("RGB").resize(image.size, Image.LANCZOS), device)
    s = style_at(style.convert("RGB"), max(image.size), params, device)
    with torch.no_grad():
        obj = Objective(net, c, s, *level_weights(params, params.pyramid().levels[-1]), "fp32")
        return as_floats(obj.terms(to_tensor(image, device)))
