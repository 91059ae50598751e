"""Print-size renders: time, peak memory and work at 512, 1024 and 2048 px on one pair, in one
process, and whether the large renders' quality holds.

    python bench/bench_large.py [CONTENT STYLE] [--sizes 512,1024,2048] [--preset standard]
                                [--out contact-sheets/print]

Above LARGE_BASE (512 px) a render is the 512 px render refined level by level (a few
iterations a level, the largest levels in tiles: pipeline/render/gatys/tiled.py). Measured:
- wall seconds, the 512 px render run again at the end (the load's drift), and work: full-size
  equivalent VGG passes (pixels of every pass over 512 px render's pixels; a tiled level's
  passes over its tiles with their halos, its gradient-free first pass counted as half a pass;
  above the base, the anchor's pass at 512 px each iteration);
- peak resident memory of each render (Linux VmHWM, reset before each);
- quality, downscaled: the large render scaled to 512 px scored on the project's content and
  style distances and objective, against the 512 px render itself;
- detail at full size: the style distance of 512 px tiles of the large render against the style
  image at the render's scale, against the same tiles of a plain (bicubic) upscale of the 512 px
  render, and their sharpness (mean absolute Laplacian);
- crops at full size (render beside the upscale) written to --out (git-ignored) to look at.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import distances, find_in_mirror  # noqa: E402
from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import LARGE_BASE, RenderParams  # noqa: E402


def peak_reset() -> None:
    """Start a new peak: Linux resets VmHWM to the current resident size."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def work(params: RenderParams, content_size: tuple[int, int]) -> float:
    """Full-size-equivalent passes (units of one pass over the 512 px render's pixels)."""
    from pipeline.render.gatys.tiled import needs_tiles, tile_grid
    from pipeline.render.imageops import fit_long_edge

    w0, h0 = fit_long_edge(content_size, LARGE_BASE)
    total = 0.0
    base_levels = len(params.base().levels()) if params.base() is not None else len(params.levels())
    for i, (edge, iters) in enumerate(params.levels()):
        w, h = fit_long_edge(content_size, edge)
        if i >= base_levels and params.anchor():
            total += iters  # the anchor: one pass at the base's size per iteration (gatys/anchor.py)
        if needs_tiles(h, w):
            crops = sum((cb - ct) * (cr - cl) for _, (ct, cb, cl, cr) in tile_grid(h, w))
            total += iters * crops * 1.5 / (w0 * h0)
        else:
            total += iters * w * h / (w0 * h0)
    return total


def tile_style_distance(net, image, style, scale_edge: int, tile: int = 512) -> float:
    """Mean style distance (bench_render.distances' relative Gram distance) of the image's tile x
    tile crops against the whole style image at `scale_edge` px, the scale the render painted at."""
    import torch
    from PIL import Image

    from pipeline.render.gatys.core import STYLE_LAYERS, fit_long_edge, gram, to_tensor

    dev = torch.device("cpu")
    with torch.no_grad():
        fs = net(to_tensor(style.resize(fit_long_edge(style.size, scale_edge), Image.LANCZOS), dev))
        targets = [gram(fs[n]) for n in STYLE_LAYERS]
        del fs
        ds = []
        tile = min(tile, image.width, image.height)  # a 512 px render is one tile as high as it is
        for top in range(0, image.height - tile + 1, tile):
            for left in range(0, image.width - tile + 1, tile):
                fx = net(to_tensor(image.crop((left, top, left + tile, top + tile)), dev))
                ds.append(sum(((gram(fx[n]) - g).norm() / g.norm()).item()
                              for n, g in zip(STYLE_LAYERS, targets)) / len(STYLE_LAYERS))
    return sum(ds) / len(ds)


def sharpness(image) -> float:
    """Mean absolute Laplacian of the luminance: fine detail per pixel."""
    import torch
    import torch.nn.functional as F

    y = torch.tensor(np.asarray(image.convert("L")), dtype=torch.float32).view(1, 1, image.height, image.width)
    k = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float32).view(1, 1, 3, 3)
    return float(F.conv2d(y, k).abs().mean())


def crops(large, small, out: Path, name: str, boxes: int = 3, edge: int = 384) -> list[Path]:
    """`boxes` full-size crops of the large render beside the same crop of the upscaled small one."""
    from PIL import Image

    up = small.resize(large.size, Image.BICUBIC)
    paths = []
    spots = [(0.25, 0.2), (0.5, 0.55), (0.75, 0.8)][:boxes]  # sky, middle, foreground (fractions)
    for i, (fx, fy) in enumerate(spots):
        left = int(fx * (large.width - edge))
        top = int(fy * (large.height - edge))
        sheet = Image.new("RGB", (2 * edge + 8, edge), "white")
        sheet.paste(large.crop((left, top, left + edge, top + edge)), (0, 0))
        sheet.paste(up.crop((left, top, left + edge, top + edge)), (edge + 8, 0))
        path = out / f"{name}-crop{i + 1}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content", nargs="?")
    ap.add_argument("style", nargs="?")
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--preset", default="standard")
    ap.add_argument("--out", default=str(ROOT / "contact-sheets" / "print"))
    args = ap.parse_args(argv)

    import torch

    from pipeline.render.gatys.core import CONTENT_LAYER, STYLE_LAYERS, evaluate, stylize
    from pipeline.render.gatys.vgg import load_vgg
    from pipeline.render.heap import keep_freed_memory

    keep_freed_memory()  # as in a render process
    content_path = Path(args.content) if args.content else find_in_mirror("content", "stata.jpg")
    style_path = Path(args.style) if args.style else find_in_mirror("style", "wave.jpg")
    content, style = load_rgb(content_path), load_rgb(style_path)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    evaluator, _ = load_vgg("caffe-vgg19", (CONTENT_LAYER, *STYLE_LAYERS), "max")
    print(f"# print sizes: {content_path.name} ({content.width}x{content.height}) x {style_path.name}, "
          f"{args.preset}; {platform.processor()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}", flush=True)

    sizes = [int(s) for s in args.sizes.split(",")]
    renders = {}
    rows = []
    for size in sizes + [sizes[0]]:  # the first size again at the end: how the load drifted
        params = RenderParams(size=size, preset=args.preset)
        peak_reset()
        t0 = time.perf_counter()
        result = stylize(content, style, params, progress=False)
        seconds = time.perf_counter() - t0
        peak = peak_gb()
        renders.setdefault(size, result)
        result.image.save(out / f"{content_path.stem}-{style_path.stem}-{size}.png")
        levels = ", ".join(f"{lv['size'][0]}x{lv['size'][1]}:{lv['iterations']} {lv['seconds']:.0f}s"
                           for lv in result.record["levels"])
        rows.append((size, seconds, peak, work(params, content.size)))
        print(f"done {size} px: {seconds:.1f} s, peak {peak:.2f} GB, work {rows[-1][3]:.0f} passes, "
              f"load {os.getloadavg()[0]:.1f}; levels {levels}", flush=True)

    base_seconds = (rows[0][1] + rows[-1][1]) / 2
    print(f"\n| long edge | wall s | / 512 px | work (passes) | / 512 px | peak memory GB |\n|---:|---:|---:|---:|---:|---:|")
    for size, seconds, peak, w in rows[:-1]:
        print(f"| {size} | {seconds:.1f} | {seconds / base_seconds:.2f}x | {w:.0f} | {w / rows[0][3]:.2f}x | {peak:.2f} |")
    print(f"(512 px rendered before and after the others: {rows[0][1]:.1f} s and {rows[-1][1]:.1f} s; "
          f"the ratios use their mean)")

    from PIL import Image

    small = renders[sizes[0]].image
    ref = RenderParams(size=small.width if small.width >= small.height else small.height, preset=args.preset)
    print("\n| render | content dist. (512 px) | style dist. (512 px) | objective (512 px, fp32) "
          "| tile style dist. (full size) | upscale's | sharpness | upscale's |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        im = renders[size].image
        down = im.resize(small.size, Image.LANCZOS) if im.size != small.size else im
        cd, sd = distances(evaluator, down, content, style)
        obj = evaluate(down, content, style, ref.with_(precision="fp32"))["total"]
        if size > sizes[0]:
            up = small.resize(im.size, Image.BICUBIC)
            detail = (f"{tile_style_distance(evaluator, im, style, size):.3f} | "
                      f"{tile_style_distance(evaluator, up, style, size):.3f} | {sharpness(im):.2f} | {sharpness(up):.2f}")
            for p in crops(im, small, out, f"{content_path.stem}-{style_path.stem}-{size}"):
                print(f"crop: {p}")
        else:
            detail = f"{tile_style_distance(evaluator, im, style, size):.3f} | | {sharpness(im):.2f} |"
        print(f"| {size} px{' downscaled' if size > sizes[0] else ''} | {cd:.3f} | {sd:.3f} | {obj:.4f} | {detail} |",
              flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
