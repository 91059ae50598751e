"""The optimisation core: Gatys et al.'s style transfer, coarse to fine, as one pure function.

`stylize(content, style, params)` -> RenderResult(image, record). It knows nothing of
manifests, caches or sites. The image is optimised directly as RGB pixels in 0-255 (the
space the classic Caffe implementations use, where L-BFGS is well scaled), starting from the
content image at a small size and refined level by level up to `params.size`.

Every loss term is relative (a squared distance divided by the target's squared norm), so
content_weight and style_weight mean the same at every size, for every style image and
for every weights file.
"""
from __future__ import annotations

import functools
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.util.errors import GalleryError
from pipeline.render.gatys.lbfgs import LBFGS
from pipeline.core.params import RENDERER_VERSION, RenderParams
from pipeline.render.gatys.vgg import load_vgg
from pipeline.render.progress import Progress, Steps
from pipeline.render.result import RenderResult
from pipeline.render.imageops import fit_long_edge, recombine_colors  # noqa: F401 - shared with fast
from pipeline.render.threads import requested_threads

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Share of each style layer in the style term (sums to 1).
STYLE_LAYER_WEIGHTS = (0.2, 0.2, 0.2, 0.2, 0.2)
LBFGS_HISTORY = 50
# init: fast starts near the optimum, where torch's first L-BFGS step moves no pixel and the
# next ones learn no curvature (pearl x gogh, 256 px: the objective stood still for 10+
# iterations). Its first step moves the pixels by this much instead (root mean square, 0-255).
INIT_FAST_FIRST_STEP = 2.0
ADAM_LR = 4.0  # pixels (0-255) per step: Adam's step size is about lr, whatever the loss scale
# The network's dtype under autocast for each reduced precision (fp32: no autocast).
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class RenderError(GalleryError):
    """A render that cannot start: bad device, unsupported precision, unusable image."""


# ---------------------------------------------------------------- device, precision, threads

def resolve_device(name: str) -> torch.device:
    """auto picks cuda, then mps, then cpu; an explicit device must exist here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise RenderError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RenderError(f"device '{name}' is not available: this machine has no usable CUDA GPU "
                              "(use --device auto or cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RenderError(f"device '{name}' is not available: only {torch.cuda.device_count()} "
                              "CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RenderError(f"device '{name}' is not available on this machine (use auto or cpu)")
    elif dev.type != "cpu":
        raise RenderError(f"unsupported device '{name}': use auto, cpu, cuda, cuda:N or mps")
    return dev


def cpu_bf16_supported() -> bool:
    """True where oneDNN has native bf16 (AVX512-BF16/AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """auto: bf16 on CPUs with native bf16, bf16 (else fp16) on CUDA, fp32 elsewhere."""
    if name != "auto":
        return name
    if device.type == "cpu":
        return "bf16" if cpu_bf16_supported() else "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def choose_threads() -> int:
    """The user's count (render/threads.py), else torch's default."""
    return requested_threads() or torch.get_num_threads()


# ---------------------------------------------------------------- images <-> tensors

def to_tensor(im: Image.Image, device: torch.device) -> torch.Tensor:
    """8-bit RGB image -> float (1, 3, H, W) pixels in 0-255."""
    t = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
    return t.view(im.height, im.width, 3).permute(2, 0, 1).unsqueeze(0).float().contiguous().to(device)


def to_image(x: torch.Tensor) -> Image.Image:
    """float (1, 3, H, W) pixels in 0-255 -> 8-bit RGB image (rounded, clipped)."""
    a = x.detach()[0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu()
    return Image.fromarray(a.numpy(), "RGB")


def luminance_style(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style as grey, its luminance mean/std matched to the content's: for preserve_colors."""
    def luma(im: Image.Image) -> torch.Tensor:
        return torch.frombuffer(bytearray(im.convert("L").tobytes()), dtype=torch.uint8).float()

    sy, cy = luma(style), luma(content)
    y = (sy - sy.mean()) / (sy.std() + 1e-6) * cy.std() + cy.mean()
    grey = y.clamp(0, 255).round().to(torch.uint8).view(style.height, style.width)
    return Image.fromarray(grey.numpy(), "L").convert("RGB")


# ---------------------------------------------------------------- the loss

def gram(f: torch.Tensor) -> torch.Tensor:
    """Channel co-activations averaged over positions: the style of a feature map, size-free."""
    _, c, h, w = f.shape
    return _Gram.apply(f.reshape(c, h * w), h * w)


class _Gram(torch.autograd.Function):
    """F F^T / n, whose gradient takes one matrix product where autograd's mm takes two.

    autograd differentiates F F^T as two products (G' F and (F^T G')^T) and a sum; both
    factors are F, so the gradient is (G' + G'^T) F / n, one product over all positions.
    Measured at 512 px: the five style layers' Grams, forward and backward, 0.50 -> 0.32 s
    of a 4.7 s pass; the loss's G' is symmetric, so renders came out bit-identical.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, n: int) -> torch.Tensor:
        ctx.save_for_backward(f)
        ctx.n = n
        return (f @ f.T) / n

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        f, = ctx.saved_tensors
        return ((grad + grad.T) / ctx.n) @ f, None


class Objective:
    """content + style + tv for one pyramid level: targets are computed once, in fp32 terms.

    The network runs under autocast when `precision` asks for it; Gram matrices and losses
    are always fp32 (bf16 Grams lose the small differences the optimiser follows).
    """

    def __init__(self, net, content: torch.Tensor, style: torch.Tensor, content_weight: float,
                 style_weight: float, tv_weight: float, precision: str = "fp32"):
        self.net = net
        self.weights = (content_weight, style_weight, tv_weight)
        self.precision = precision
        with torch.no_grad():
            fc = self.features(content)[CONTENT_LAYER]
            fs = self.features(style)
        self.content_target = fc
        self.content_norm = fc.pow(2).mean().clamp_min(1e-8)
        self.style_targets = [gram(fs[n]) for n in STYLE_LAYERS]
        self.style_norms = [g.pow(2).mean().clamp_min(1e-8) for g in self.style_targets]

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        dtype = AUTOCAST_DTYPES.get(self.precision)
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.net(x)
        return {k: v.float() for k, v in out.items()}

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        content = (f[CONTENT_LAYER] - self.content_target).pow(2).mean() / self.content_norm
        style = sum(w * (gram(f[n]) - g).pow(2).mean() / s
                    for w, n, g, s in zip(STYLE_LAYER_WEIGHTS, STYLE_LAYERS, self.style_targets,
                                          self.style_norms))
        tv = ((x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
              + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()) / 255 ** 2
        cw, sw, tw = self.weights
        total = cw * content + sw * style + tw * tv
        return {"content": content, "style": style, "tv": tv, "total": total}


def as_floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in terms.items()}


# ---------------------------------------------------------------- the optimiser

def optimise(objective: Objective, x: torch.Tensor, iterations: int, optimizer: str,
             steps: Steps, before_step: Callable[[int], None] | None = None,
             curvature: float | None = None,
             first_step_rms: float | None = None) -> tuple[torch.Tensor, list[dict], float | None]:
    """Run `iterations` steps from x; return the result, the trace (terms before each step)
    and L-BFGS's curvature scale at the end (the next level starts from it).

    Each iteration costs one forward+backward and is traced; x is kept in 0-255 throughout.
    `before_step(i)` runs before iteration i (the thread count is adjusted there).
    `first_step_rms`: with no curvature yet, L-BFGS's first step moves the pixels by this much
    (root mean square, 0-255 scale) instead of torch's step that moves nothing.
    """
    x = x.detach().clone().requires_grad_(True)
    lbfgs = LBFGS(LBFGS_HISTORY, curvature, first_step_rms) if optimizer == "lbfgs" else None
    adam = torch.optim.Adam([x], lr=ADAM_LR) if lbfgs is None else None
    trace: list[dict] = []
    # The relative losses are O(1), so their per-pixel gradients are tiny (~1/pixels):
    # L-BFGS would then skip every curvature pair (its s.y > 1e-10 test) and crawl along -g,
    # and fp16 gradients underflow. The optimiser sees the objective scaled by the number of
    # pixel values (L-BFGS and Adam are otherwise invariant to a constant factor).
    scale = float(x.numel())
    for i in range(iterations):
        if before_step is not None:
            before_step(i)
        x.grad = None
        # Every evaluated image is a valid one: unclamped, L-BFGS drifts out of 0-255 and the
        # saved (clipped) image scored up to 20% worse than the optimiser believed (500 steps
        # at 512 px). Clamping here cost nothing measurable (0.4788 vs 0.4786 after 150 steps
        # at 256 px) and the saved image now scores what the trace says.
        with torch.no_grad():
            x.clamp_(0, 255)
        t = objective.terms(x)
        (t["total"] * scale).backward()
        terms = as_floats(t)
        if not math.isfinite(terms["total"]):
            raise RenderError(f"the objective became {terms['total']} at iteration {i}: try "
                              "--precision fp32 or lower weights")
        trace.append({"iteration": i, **terms})
        steps.step(terms["total"])
        with torch.no_grad():
            if lbfgs is not None:
                lbfgs.step(x, x.grad)
            else:
                adam.step()
    return x.detach().clamp_(0, 255), trace, lbfgs.gamma if lbfgs is not None else None


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


def level_weights(params: RenderParams, level: int, n_levels: int) -> tuple[float, float, float]:
    """(content, style, tv) weights at a pyramid level: see RenderParams.level_style_factor."""
    return (params.content_weight, params.style_weight * params.level_style_factor(level, n_levels),
            params.tv_weight)


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
            threads: Callable[[], int] | None = None) -> RenderResult:
    """Render `content` in the manner of `style`: coarse to fine, one L-BFGS run per level.

    `progress`, when given, receives a RenderStep after each iteration (render/progress.py);
    `label` is the common interface's (the fast engine logs it). `threads`, when given, says
    before each iteration how many threads to use now (a `make -jN` worker takes the cores its
    finished siblings left idle); the record lists the changes.
    """
    t_start = time.perf_counter()
    device = resolve_device(params.device)
    precision = resolve_precision(params.precision, device)
    start_threads = choose_threads()
    torch.set_num_threads(start_threads)
    thread_changes: list[dict] = []

    def adjust_threads(level: int, step: int) -> None:
        n = threads()
        if n != torch.get_num_threads():
            torch.set_num_threads(n)
            thread_changes.append({"level": level, "iteration": step, "threads": n})

    torch.manual_seed(params.seed)
    if device.type == "cuda":  # reproducible pixels: no autotuned, non-deterministic kernels
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

    content = content.convert("RGB")
    style = style.convert("RGB")
    head_start = fast_start(content, style, params, threads) if params.start() == "fast" else None
    if params.preserve_colors:
        style = luminance_style(style, content)

    net, identity = feature_net(params.weights, params.pooling, device)

    plan = params.levels()
    sizes = [fit_long_edge(content.size, long_edge) for long_edge, _ in plan]
    top = sizes[-1][0] * sizes[-1][1]
    work = sum(it * w * h for (w, h), (_, it) in zip(sizes, plan)) / top  # in top-level iterations
    levels: list[dict] = []
    x = None
    curvature = None  # L-BFGS's curvature scale, handed from level to level
    steps = Steps(sum(it for _, it in plan), work, progress)
    for i, ((long_edge, iters), wh) in enumerate(zip(plan, sizes)):
        t0 = time.perf_counter()
        c = to_tensor(content.resize(wh, Image.LANCZOS), device)
        # The image each level starts from and keeps the detail of: the content, or the
        # fast render at this level's size (init: fast); noise has none.
        base = c if head_start is None else to_tensor(head_start.image.resize(wh, Image.LANCZOS), device)
        if x is None:
            x = base if params.start() != "noise" else _noise(c, params.seed)
        else:
            x = next_level_start(x, base_prev, base, params.start())
        base_prev = base
        steps.level(wh, wh[0] * wh[1] / top)
        trace = []
        if iters > 0 or i == len(plan) - 1:  # the top's targets also score the result
            s_wh = fit_long_edge(style.size, max(1, round(long_edge * params.style_scale)))
            s = to_tensor(style.resize(s_wh, Image.LANCZOS), device)
            obj = Objective(net, c, s, *level_weights(params, i, len(plan)), precision)
        if iters > 0:
            x, trace, curvature = optimise(
                obj, x, iters, params.optimizer, steps,
                functools.partial(adjust_threads, i) if threads else None, curvature,
                INIT_FAST_FIRST_STEP if head_start is not None else None)
        levels.append({"size": list(wh), "iterations": iters,
                       "seconds": round(time.perf_counter() - t0, 3), "trace": trace})

    image = to_image(x)
    with torch.no_grad():  # the objective of the image as saved (rounded to 8 bits)
        final = as_floats(obj.terms(to_tensor(image, device)))
    if params.preserve_colors:
        image = recombine_colors(image, content)
    record = {
        "engine": "gatys",
        "params": params.effective(),
        "weights": identity,
        "renderer_version": RENDERER_VERSION,
        "device": str(device),
        "precision": precision,
        "threads": start_threads,
        **({"thread_changes": thread_changes} if thread_changes else {}),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - t_start, 3),
        "levels": levels,
        "final": final,
    }
    if head_start is not None:
        hs = head_start.record
        record["head_start"] = {k: hs[k] for k in ("engine", "weights", "renderer_version", "onnxruntime",
                                                   "seconds")}
    return RenderResult(image=image, record=record)


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
    s_wh = fit_long_edge(style.size, max(1, round(max(image.size) * params.style_scale)))
    s = to_tensor(style.convert("RGB").resize(s_wh, Image.LANCZOS), device)
    n = len(params.schedule())
    with torch.no_grad():
        obj = Objective(net, c, s, *level_weights(params, n - 1, n), "fp32")
        return as_floats(obj.terms(to_tensor(image, device)))
