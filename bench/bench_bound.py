"""How fast can the gallery render on this machine? A pass's arithmetic against the CPU's peak.

Why: nearly all of a render is VGG-19 passes (one forward and one input-gradient backward per
iteration), and a preset fixes how many (its work, in full-size passes). So the time a gallery
takes is bounded below by cells x work x (a pass's multiply-adds / the machine's peak rate).
This script measures both sides in one process, so that a time target can be checked against
arithmetic before anyone tunes for it:

    python bench/bench_bound.py [CONTENT STYLE] [--size 512] [--preset standard] [--cells 9]
                                [--target-minutes 12]

The peak is the rate of a large matrix product in the render's precision on the render's
threads: convolutions are matrix products, and one that runs faster than this is rare. In
fp32 the deeper layers use Winograd (pipeline/winograd.py), which needs fewer products than
counted here, so the pass can then beat the "at the peak" figure.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_render import find_in_mirror, pass_seconds  # noqa: E402
from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import PRESETS, RenderParams  # noqa: E402
from pipeline.cli.words import duration  # noqa: E402


def convolution_macs(net, height: int, width: int) -> int:
    """Multiply-adds of the network's convolutions on one image (direct convolution's count)."""
    import torch

    from pipeline.render.gatys.winograd import WinogradConv3x3

    total = 0

    def count(module, inputs, output):
        nonlocal total
        conv = getattr(module, "conv", module)  # WinogradConv3x3 wraps its nn.Conv2d
        kh, kw = conv.kernel_size
        total += output.shape[-2] * output.shape[-1] * conv.in_channels * conv.out_channels * kh * kw

    # the network's layers only: a WinogradConv3x3 may call the nn.Conv2d inside it
    hooks = [m.register_forward_hook(count) for m in net.net
             if isinstance(m, (torch.nn.Conv2d, WinogradConv3x3))]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
    return total


def matmul_peak(dtype, n: int = 4096, repeats: int = 3) -> float:
    """FLOP/s of the fastest of `repeats` n x n matrix products in `dtype` (after a warm-up)."""
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content", nargs="?", help="content image (default: pearl.jpg from the mirror)")
    ap.add_argument("style", nargs="?", help="style image (default: gogh.jpg from the mirror)")
    ap.add_argument("--size", type=int, default=512, help="long edge in pixels (default 512)")
    ap.add_argument("--preset", choices=tuple(PRESETS), default="standard")
    ap.add_argument("--cells", type=int, default=9, help="cells in the gallery (default 9: the demo)")
    ap.add_argument("--target-minutes", type=float, default=12.0,
                    help="the gallery time to check against (default 12)")
    ap.add_argument("--peak-size", type=int, default=4096, help="matrix side for the peak (default 4096)")
    args = ap.parse_args(argv)

    import torch

    from pipeline.render.heap import keep_freed_memory
    from pipeline.render.gatys.core import (AUTOCAST_DTYPES, choose_threads, feature_net, fit_long_edge,
                                 resolve_precision)

    keep_freed_memory()  # as in a render process
    torch.set_num_threads(choose_threads())
    content = load_rgb(Path(args.content) if args.content else find_in_mirror("content", "pearl.jpg"))
    style = load_rgb(Path(args.style) if args.style else find_in_mirror("style", "gogh.jpg"))
    params = RenderParams(size=args.size, preset=args.preset)
    device = torch.device("cpu")
    precision = resolve_precision(params.precision, device)
    dtype = AUTOCAST_DTYPES.get(precision, torch.float32)

    w, h = fit_long_edge(content.size, args.size)
    net, _ = feature_net(params.weights, params.pooling, device)
    flop = 2 * 2 * convolution_macs(net, h, w)  # forward and input gradient, 2 FLOP a multiply-add
    levels = params.levels()
    work = params.work() / args.size ** 2  # in full-size passes
    print(f"# Bound: {args.cells} cells x {args.preset} at {w}x{h}, {precision} on "
          f"{torch.get_num_threads()} threads ({os.cpu_count()} cores), torch {torch.__version__}")

    peak = matmul_peak(dtype, args.peak_size)
    pass_s = pass_seconds(content, style, params, "winograd", precision=precision)
    at_peak = flop / peak
    print(f"one pass: {flop / 1e9:.0f} GFLOP of convolutions (forward and input gradient)")
    print(f"matrix-product peak ({precision}, {args.peak_size}^2): {peak / 1e9:.0f} GFLOP/s -> "
          f"a pass at the peak {at_peak:.2f} s")
    print(f"one pass measured: {pass_s:.2f} s = {flop / pass_s / 1e9:.0f} GFLOP/s, "
          f"{at_peak / pass_s:.2f} of the peak")

    target = args.target_minutes * 60
    print(f"{args.preset}: {work:.0f} full-size passes a cell ({', '.join(str(it) for _, it in levels)} "
          "per level)")
    print("| pass | a cell | the gallery | vs. the target | passes a cell within the target |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds in (("measured", pass_s), ("at the peak", at_peak)):
        cell = work * seconds
        print(f"| {name} ({seconds:.3g} s) | {cell:.0f} s | {duration(args.cells * cell)} | "
              f"{args.cells * cell / target:.2f}x | {target / args.cells / seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
