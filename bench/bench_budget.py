"""Where the top level's budget is best spent: the objective along the top level of one long run
per pair, and the budgets and early-stop rules read off it, against each pair's reference.

Why one long run: the optimiser does the same first N iterations whatever its cap, so a run of
10,10,10,10,400 that keeps its picture every few top-level iterations (its time-lapse) shows
where every cap between would have ended, and where a stop rule (end once the objective's
relative gain over the last W iterations falls under G) would have ended it, exactly: the rule
reads the trace the run records. Each kept picture is scored with the reference's fp32
objective at full size, as bench_render.py scores a render.

    python bench/bench_budget.py [--pairs chicago:udnie,...] [--size 256] [--min-size 64]
                                 [--rows 10/10/10/10/400,10/10/10/10/400+decay=1.0] [--every 5]
                                 [--caps 130,150,170,200,250] [--rules 10:0.005,20:0.01] [--json FILE]

A row is a schedule (levels separated by /, the last one the cap) with options joined by +:
`decay=D` (the style weight's factor per level below the top, the presets' level_style_decay),
`init=fast`. The references come from the sweep's cache (bench_sweep.py runs them once).
Results: bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import find_in_mirror, reference_cache  # noqa: E402
from bench_sweep import PAIRS, chosen_pairs  # noqa: E402
from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import PRESETS, RenderParams  # noqa: E402


def row_params(spec: str, size: int, min_size: int) -> RenderParams:
    """A row's parameters: its schedule under a preset of its own (the bench's process only),
    so that a preset-level option such as the style decay can be varied without code."""
    schedule, *opts = spec.split("+")
    preset = {"iterations": tuple(int(i) for i in schedule.split("/"))}
    init = "auto"
    for opt in opts:
        name, _, value = opt.partition("=")
        if name == "decay":
            preset["level_style_decay"] = float(value)
        elif name == "init":
            init = value
        else:
            sys.exit(f"bench_budget: unknown option {name!r} in row {spec!r} (decay=D, init=I)")
    PRESETS[f"bench:{spec}"] = preset
    return RenderParams(size=size, min_size=min_size, preset=f"bench:{spec}", init=init)


def stop_at(trace: list[float], window: int, gain: float, cap: int) -> int:
    """Iterations a stop rule (see gatys.core.stalled) lets the top level run, at most `cap`."""
    from pipeline.render.gatys.core import stalled

    rows = [{"total": t} for t in trace]
    for n in range(1, min(cap, len(rows)) + 1):
        if stalled(rows[:n], window, gain):
            return n
    return min(cap, len(rows))


def ratio_at(curve: list[tuple[int, float]], n: int) -> float:
    """The objective / reference's after n top-level iterations (linear between kept pictures)."""
    for (a, ra), (b, rb) in zip(curve, curve[1:]):
        if a <= n <= b:
            return ra + (rb - ra) * (n - a) / (b - a)
    return curve[-1][1]


def run_pair(content_path: Path, style_path: Path, rows: list[str], args) -> dict:
    import torch  # noqa: F401

    from pipeline.render.gatys.core import evaluate, stylize

    content, style = load_rgb(content_path), load_rgb(style_path)
    ref_params = RenderParams(size=args.size, iterations=(args.reference_iterations,), precision="fp32")
    cached = reference_cache(SimpleNamespace(reference_cache=args.reference_cache, reference_conv="winograd",
                                             reference_heap="default"), content_path, style_path, ref_params)
    if cached["row"] is None:  # the sweep's reference, run once into its cache
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_render.py"), str(content_path), str(style_path),
                        "--size", str(args.size), "--presets", "", "--reference-iterations",
                        str(args.reference_iterations), "--reference-conv", "winograd",
                        "--reference-cache", args.reference_cache], check=True, stdout=subprocess.DEVNULL)
        cached = reference_cache(SimpleNamespace(reference_cache=args.reference_cache, reference_conv="winograd",
                                                 reference_heap="default"), content_path, style_path, ref_params)
    ref = cached["row"]["objective"]
    out = {}
    for spec in rows:
        params = row_params(spec, args.size, args.min_size)
        cap = params.levels()[-1][1]
        t0 = time.perf_counter()
        result = stylize(content, style, params, progress=False, frames=max(1, cap // args.every))
        seconds = time.perf_counter() - t0
        top = len(params.levels()) - 1
        curve = [(f.iteration, evaluate(f.image, content, style, ref_params)["total"] / ref)
                 for f in result.frames if f.level == top]
        trace = [t["total"] for t in result.record["levels"][-1]["trace"]]
        below = sum(it * (e / args.size) ** 2 for e, it in params.levels()[:-1])
        out[spec] = {"curve": curve, "trace": trace, "seconds": seconds, "work_below": below}
        print(f"  {spec}: {seconds:.0f} s, after {curve[-1][0]} top iterations {curve[-1][1]:.3f}x "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return out


def report(results: dict, rows: list[str], caps: list[int], rules: list[tuple[int, float, int]]) -> None:
    """Per row: the ratio at each cap and under each stop rule, per pair and worst; the work."""
    for spec in rows:
        print(f"\n### {spec}")
        cols = [f"cap {c}" for c in caps] + [f"stop {w}:{g:g} cap {c}" for w, g, c in rules]
        print("| pair | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
        worst = [0.0] * len(cols)
        work = [0.0] * len(cols)
        for pair, rows_ in results.items():
            r = rows_[spec]
            below = r["work_below"]
            cells = []
            for i, c in enumerate(caps):
                v = ratio_at(r["curve"], c)
                worst[i] = max(worst[i], v)
                work[i] += below + c
                cells.append(f"{v:.3f}x")
            for j, (w, g, c) in enumerate(rules, start=len(caps)):
                n = stop_at(r["trace"], w, g, c)
                v = ratio_at(r["curve"], n)
                worst[j] = max(worst[j], v)
                work[j] += below + n
                cells.append(f"{v:.3f}x ({n})")
            print(f"| {pair} | " + " | ".join(cells) + " |")
        print("| **worst pair** | " + " | ".join(f"**{v:.3f}x**" for v in worst) + " |")
        print("| mean work (full-size passes) | " + " | ".join(f"{w / len(results):.0f}" for w in work) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default="", help="as bench_sweep.py: the first N, or content:style names")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--min-size", type=int, default=64)
    ap.add_argument("--rows", default="10/10/10/10/400")
    ap.add_argument("--every", type=int, default=5, help="keep the picture every N top-level iterations")
    ap.add_argument("--caps", default="130,150,170,200,250,300")
    ap.add_argument("--rules", default="10:0.005:300,10:0.003:300,20:0.01:300,20:0.006:300",
                    help="stop rules WINDOW:GAIN:CAP")
    ap.add_argument("--reference-iterations", type=int, default=500)
    ap.add_argument("--reference-cache", default=str(ROOT / "contact-sheets" / "bench" / "references"))
    ap.add_argument("--json", help="write the curves and traces here (and read them back with --report)")
    ap.add_argument("--report", action="store_true", help="only print the tables of an earlier --json")
    args = ap.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    caps = [int(c) for c in args.caps.split(",") if c]
    rules = [(int(w), float(g), int(c)) for w, g, c in (r.split(":") for r in args.rules.split(",") if r)]
    if args.report:  # --json may name several files (lanes run side by side), joined by commas
        results = {k: v for f in args.json.split(",") for k, v in json.loads(Path(f).read_text()).items()}
        rows = [r for r in rows if all(r in v for v in results.values())] or list(next(iter(results.values())))
    else:
        import torch

        print(f"# the top level's budget, {args.size} px (min_size {args.min_size}); {platform.processor()}, "
              f"{os.cpu_count()} cores, torch {torch.__version__}, load {os.getloadavg()[0]:.1f}", flush=True)
        results = {}
        for kind, content, style in chosen_pairs(args.pairs) if args.pairs else PAIRS:
            c, s = find_in_mirror(kind, content), find_in_mirror("style", style)
            print(f"## {c.stem} x {s.stem}", flush=True)
            results[f"{c.stem} x {s.stem}"] = run_pair(c, s, rows, args)
            if args.json:  # partial results survive a kill
                Path(args.json).write_text(json.dumps(results, indent=1))
    report(results, rows, caps, rules)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
