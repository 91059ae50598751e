"""init: fast against init: content: the optimiser's objective after the same schedules, and the
fast engine's own speed, in one process per pair.

Why: the fast engine's render already carries much of the style, so the optimiser should need
fewer passes from it. This measures where that pays, on several pairs:

    python bench/bench_init.py [--pairs pearl:gogh,dancing:picasso] [--size 256] [--min-size 64]
                               [--schedules draft,standard,...] [--reference-iterations 500]

Every render is scored with one yardstick: the reference's fp32 objective at full size (see
bench_render.py). The reference is one level at full size, L-BFGS from the content for 500
iterations in fp32. At --size 256 with --min-size 64 the 512 px pyramid is replayed at half
scale (as bench_render.py does), so schedules keep their meaning and a run costs a quarter.
"work" is the schedule's cost in full-size iterations (load-independent); seconds are wall time
on whatever else the machine is doing, so compare them within one run only. The defaults take
most of an hour on a 2-core CPU (the fp32 references dominate); `--reference-precision auto
--reference-iterations 300` takes about a quarter of that. Results: bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import find_in_mirror, row_params  # noqa: E402
from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import PRESETS, RenderParams  # noqa: E402

# Schedules compared from both starts, by name: presets, or explicit iterations per level
# (smallest first, five levels as the presets). The ones of draft's work (4 full-size
# iterations) spend it at full size (quick), or at lower sizes, the change carried up onto the
# fast render at full size (see gatys.core.next_level_start).
SCHEDULES = {
    "quick": None,  # the preset: 0,0,0,0,4
    "draft": None,
    "standard": None,
    "half16": (0, 0, 16, 0, 0),
    "half8-mid4": (0, 0, 8, 4, 0),
    "mid8": (0, 0, 0, 8, 0),
    "top6": (0, 0, 0, 0, 6),
    "top8": (0, 0, 0, 0, 8),
    "top10": (0, 0, 0, 0, 10),
    "top20": (0, 0, 0, 0, 20),
}
DEFAULT_SCHEDULES = "draft,quick,half8-mid4,top8,standard"
DEFAULT_PAIRS = "pearl:gogh,dancing:picasso,vinci:staircase"


def params_for(name: str, size: int, min_size: int | None, init: str) -> RenderParams:
    """A schedule of SCHEDULES from `init`, as bench_render.py reads its rows."""
    spec = name if name in PRESETS else "/".join(map(str, SCHEDULES[name]))
    return row_params(f"{spec}@{init}", size, "auto", {"min_size": min_size} if min_size else {})


def fast_speed(content, style, sizes=(384, 512, 1024), repeats: int = 3) -> dict[str, float]:
    """Best-of-`repeats` seconds of the style vector and of the transform at each size."""
    from pipeline.render.fast import models
    from pipeline.render.imageops import fit_long_edge

    models.sessions()  # loaded once, as in a render process
    out = {}
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        vector = models.style_vector(style)
        t.append(time.perf_counter() - t0)
    out["style vector"] = min(t)
    for size in sizes:
        im = content.resize(fit_long_edge(content.size, size))
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            models.transform(im, vector)
            t.append(time.perf_counter() - t0)
        out[f"transform {size} px"] = min(t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default=DEFAULT_PAIRS, help=f"content:style names (default {DEFAULT_PAIRS})")
    ap.add_argument("--size", type=int, default=256, help="long edge of every render (default 256)")
    ap.add_argument("--min-size", type=int, default=64,
                    help="smallest pyramid level (default 64: the 512 px pyramid at half scale)")
    ap.add_argument("--schedules", default=DEFAULT_SCHEDULES,
                    help=f"schedules to run from both starts, of {', '.join(SCHEDULES)}")
    ap.add_argument("--reference-iterations", type=int, default=500)
    ap.add_argument("--reference-precision", default="fp32",
                    help="precision of the reference (default fp32; auto is ~2.5x cheaper on a bf16 CPU)")
    ap.add_argument("--out", default=str(ROOT / "contact-sheets" / "bench-init"),
                    help="folder for the rendered images (git-ignored)")
    ap.add_argument("--no-speed", action="store_true", help="skip the fast engine's own timings")
    args = ap.parse_args(argv)

    import torch

    from pipeline.render import stylize
    from pipeline.render.gatys.core import evaluate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"# init: fast against init: content, {args.size} px (min_size {args.min_size})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average at start {os.getloadavg()[0]:.1f} (a shared machine: compare within a run)",
          flush=True)
    names = [n for n in args.schedules.split(",") if n]
    summary = []
    for pair in args.pairs.split(","):
        cname, sname = pair.split(":")
        content = load_rgb(find_in_mirror("content", f"{cname}.jpg"))
        style = load_rgb(find_in_mirror("style", f"{sname}.jpg"))
        if not args.no_speed and not summary:
            speed = fast_speed(content, style)
            print("fast engine (best of 3): " + ", ".join(f"{k} {v:.3f} s" for k, v in speed.items()),
                  flush=True)
        ref_params = RenderParams(size=args.size, iterations=(args.reference_iterations,),
                                  precision=args.reference_precision)

        def score(image) -> float:  # always the fp32 objective
            return evaluate(image, content, style, ref_params.with_(precision="fp32"))["total"]

        t0 = time.perf_counter()
        ref = stylize(content, style, ref_params, progress=False)
        ref_s, ref_obj = time.perf_counter() - t0, score(ref.image)
        ref.image.save(out / f"{cname}-{sname}-reference-{args.size}.png")
        fast = stylize(content, style, RenderParams(engine="fast", size=args.size), progress=False)
        fast.image.save(out / f"{cname}-{sname}-fast-{args.size}.png")
        fast_obj = score(fast.image)
        print(f"\n## {cname} x {sname}: reference {ref_obj:.4f} in {ref_s:.0f} s; the fast render alone "
              f"{fast_obj:.4f} ({fast_obj / ref_obj:.2f}x) in {fast.record['seconds']:.2f} s", flush=True)
        print("| schedule | iterations | work | from content: obj / ref | s | from fast: obj / ref | s |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name in names:
            row = {}
            for init in ("content", "fast"):
                p = params_for(name, args.size, args.min_size, init)
                t0 = time.perf_counter()
                r = stylize(content, style, p, progress=False)
                seconds = time.perf_counter() - t0
                r.image.save(out / f"{cname}-{sname}-{name}-{init}-{args.size}.png")
                row[init] = (score(r.image) / ref_obj, seconds)
            work = p.work() / args.size ** 2
            iters = ",".join(map(str, p.schedule()))
            print(f"| {name} | {iters} | {work:.1f} | {row['content'][0]:.3f}x | {row['content'][1]:.1f} "
                  f"| {row['fast'][0]:.3f}x | {row['fast'][1]:.1f} |", flush=True)
            summary.append((pair, name, work, row))
    print("\n## worst pair per schedule (objective / reference's)")
    print("| schedule | work | from content | from fast |\n|---|---:|---:|---:|")
    for name in names:
        rows = [r for r in summary if r[1] == name]
        worst_c = max(r[3]["content"][0] for r in rows)
        worst_f = max(r[3]["fast"][0] for r in rows)
        print(f"| {name} | {rows[0][2]:.1f} | {worst_c:.3f}x | {worst_f:.3f}x |")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
