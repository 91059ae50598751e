"""Renderer benchmark: the presets against a naive single-level reference, in one process.

Why one process: the machine, the threads and the loaded weights are the same for every row,
so the ratios are fair even on a shared machine (wall seconds alone are not).

    python bench/bench_render.py [CONTENT STYLE] [--size 512] [--presets draft,standard,high]
                                 [--reference-iterations 500] [--out DIR]

"work" is the number of iterations in units of a full-size iteration (a load-independent cost).
The reference is one level at full size, L-BFGS from the content image for 500 iterations in
fp32, with the same loss and weights as the presets, torch's own convolutions and glibc's
default heap (the naive recipe; `--reference-conv winograd` gives it the presets' Winograd
convolutions, `--reference-heap kept` the presets' kept heap, see pipeline/heap.py). The script
also times one full-size forward+backward pass each way, so the share of the speed-up that
comes from the pass and the share from the schedule (the work column) are apart.
Every result is then re-evaluated with the reference's fp32 objective at full size and with a
fixed evaluator (relative distances).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import PRESETS, RenderParams  # noqa: E402


def find_in_mirror(kind: str, name: str) -> Path:
    """`name` from GALLERY_MIRROR (folders separated by ':'), ../shared/seed-gallery or
    ../shared/sweep-images (the sweep's photographs with skies and extra paintings)."""
    folders = os.environ.get("GALLERY_MIRROR", "").split(":") + [
        str(ROOT.parent / "shared" / sub) for sub in ("seed-gallery", "sweep-images")]
    for folder in filter(None, folders):
        for cand in (Path(folder) / kind / name, Path(folder) / name):
            if cand.is_file():
                return cand
    sys.exit(f"bench: {kind}/{name} is not in GALLERY_MIRROR, ../shared/seed-gallery or ../shared/sweep-images: "
             "pass CONTENT and STYLE paths")


def distances(net, image, content, style) -> tuple[float, float]:
    """Fixed evaluator: relative relu4_2 distance to the content, mean relative Gram distance."""
    import torch
    from PIL import Image

    from pipeline.render.gatys.core import CONTENT_LAYER, STYLE_LAYERS, fit_long_edge, gram, to_tensor

    dev = torch.device("cpu")
    c = to_tensor(content.resize(image.size, Image.LANCZOS), dev)
    s = to_tensor(style.resize(fit_long_edge(style.size, max(image.size)), Image.LANCZOS), dev)
    with torch.no_grad():
        fx, fc, fs = net(to_tensor(image, dev)), net(c), net(s)
        cd = ((fx[CONTENT_LAYER] - fc[CONTENT_LAYER]).norm() / fc[CONTENT_LAYER].norm()).item()
        sd = sum(((gram(fx[n]) - gram(fs[n])).norm() / gram(fs[n]).norm()).item()
                 for n in STYLE_LAYERS) / len(STYLE_LAYERS)
    return cd, sd


def pass_seconds(content, style, params, conv: str, repeats: int = 3, precision: str = "fp32") -> float:
    """Median seconds of one full-size forward+backward of the objective with `conv`
    ("direct": torch's own convolutions, or "winograd"), the same loss and image, with the
    network in `precision` (fp32 or bf16; Winograd applies to fp32 only)."""
    import torch
    from PIL import Image

    from pipeline.render.gatys import winograd
    from pipeline.render.gatys.core import Objective, feature_net, fit_long_edge, level_weights, to_tensor

    dev = torch.device("cpu")
    net, _ = feature_net(params.weights, params.pooling, dev)
    c = to_tensor(content.resize(fit_long_edge(content.size, params.size), Image.LANCZOS), dev)
    s = to_tensor(style.resize(fit_long_edge(style.size, params.size), Image.LANCZOS), dev)
    obj = Objective(net, c, s, *level_weights(params, params.pyramid().levels[-1]), precision)

    def one() -> float:
        x = c.clone().requires_grad_(True)
        t0 = time.perf_counter()
        obj.terms(x)["total"].backward()
        return time.perf_counter() - t0

    with winograd.disabled() if conv == "direct" else contextlib.nullcontext():
        one()  # warm-up: allocations, the kernels' transform
        return sorted(one() for _ in range(repeats))[repeats // 2]


TABLE_HEAD = ("| render | iterations per level | long edges | work | wall s | speed-up | objective (fp32, ref. loss) "
              "| objective / ref. | content dist. | style dist. |\n"
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|")


def work(r: dict) -> float:
    """Iterations in units of full-size iterations (pixels of the level / pixels of the render):
    a load-independent measure of cost, next to the wall seconds of a shared machine."""
    full = r["sizes"][-1][0] * r["sizes"][-1][1]
    return sum(i * w * h / full for i, (w, h) in zip(r["iterations"], r["sizes"]))


def table_row(r: dict, ref: dict) -> str:
    return (f"| {r['name']} | {','.join(map(str, r['iterations']))} "
            f"| {','.join(str(max(s)) for s in r['sizes'])} | {work(r):.0f} | {r['seconds']:.1f} "
            f"| {ref['seconds'] / r['seconds']:.1f}x | {r['objective']:.4f} "
            f"| {r['objective'] / ref['objective']:.3f}x | {r['content_distance']:.3f} "
            f"| {r['style_distance']:.3f} |")


def row_params(spec: str, size: int, precision: str, level_opts: dict) -> RenderParams:
    """A row to run: a preset's name, optionally @ a start (`draft@fast`), or a schedule of its own
    with levels separated by / (`10/10/10/10/200`, optionally @ a start): tuning needs no code."""
    name, _, init = spec.partition("@")
    opts = {"init": init} if init else {}
    if "/" in name:
        opts["iterations"] = tuple(int(i) for i in name.split("/"))
    else:
        opts["preset"] = name
    return RenderParams(size=size, precision=precision, **opts, **level_opts)


def reference_cache(args, content_path: Path, style_path: Path, ref_params) -> dict | None:
    """Where the reference's row is kept for these inputs: the images' hashes and every option
    that changes the reference (its row is reused only when all of them match)."""
    if not args.reference_cache:
        return None
    import hashlib

    import torch

    key = hashlib.sha256(json.dumps([
        hashlib.sha256(content_path.read_bytes()).hexdigest(), hashlib.sha256(style_path.read_bytes()).hexdigest(),
        ref_params.size, list(ref_params.iterations), args.reference_conv, args.reference_heap, torch.__version__,
        platform.processor(), torch.backends.cpu.get_cpu_capability()]).encode()).hexdigest()[:16]
    path = Path(args.reference_cache) / f"{content_path.stem}-{style_path.stem}-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return {"path": path, "row": json.loads(path.read_text()) if path.is_file() else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content", nargs="?", help="content image (default: pearl from the mirror)")
    ap.add_argument("style", nargs="?", help="style image (default: gogh from the mirror)")
    ap.add_argument("--size", type=int, default=512, help="long edge of every render (default 512)")
    ap.add_argument("--min-size", type=int, default=None,
                    help="long edge of the presets' smallest level (default: the parameter's default); "
                         "e.g. 64 with --size 256 replays the 512-px pyramid at half scale")
    ap.add_argument("--presets", default=",".join(PRESETS),
                    help="comma-separated rows to run (default: every preset): a preset, PRESET@INIT "
                         "(e.g. draft@fast) or a schedule 10/10/10/10/200[@INIT]; empty for none")
    ap.add_argument("--reference-iterations", type=int, default=500,
                    help="iterations of the single-level fp32 reference (default 500)")
    ap.add_argument("--reference-conv", choices=("direct", "winograd"), default="direct",
                    help="convolutions of the reference: torch's own (default) or the presets' Winograd")
    ap.add_argument("--reference-heap", choices=("default", "kept"), default="default",
                    help="the reference's heap: glibc's default (default) or kept as the presets' is")
    ap.add_argument("--precision", default="auto", help="precision of the preset renders")
    ap.add_argument("--out", default=str(ROOT / "contact-sheets" / "bench"),
                    help="folder for the rendered images (git-ignored by default)")
    ap.add_argument("--json", help="also write the results as JSON to this path")
    ap.add_argument("--reference-cache", metavar="DIR",
                    help="reuse the reference's row and image from DIR when its inputs match (tuning a "
                         "preset need not rerun a 500-iteration reference); its wall seconds are then "
                         "from the earlier run on this machine")
    args = ap.parse_args(argv)

    import torch

    from pipeline.render.gatys import winograd
    from pipeline.render.heap import keep_freed_memory
    from pipeline.render.gatys.core import CONTENT_LAYER, STYLE_LAYERS, evaluate, resolve_precision, stylize
    from pipeline.render.gatys.vgg import load_vgg

    content_path = Path(args.content) if args.content else find_in_mirror("content", "pearl.jpg")
    style_path = Path(args.style) if args.style else find_in_mirror("style", "gogh.jpg")
    content, style = load_rgb(content_path), load_rgb(style_path)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ref_params = RenderParams(size=args.size, iterations=(args.reference_iterations,), precision="fp32")
    evaluator, _ = load_vgg("caffe-vgg19", (CONTENT_LAYER, *STYLE_LAYERS), "max")
    print(f"# Renderer benchmark: {content_path.name} x {style_path.name}, {args.size} px long edge")
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores "
          f"({len(os.sched_getaffinity(0))} usable), torch {torch.__version__}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)

    if args.reference_heap == "kept":
        keep_freed_memory()
    heap_now = "kept" if args.reference_heap == "kept" else "glibc's default"
    direct_s = pass_seconds(content, style, ref_params, "direct")
    winograd_s = pass_seconds(content, style, ref_params, "winograd")
    reference_conv = "Winograd" if args.reference_conv == "winograd" else "torch's"
    print(f"one full-size forward+backward pass (fp32, {heap_now} heap): torch's convolutions "
          f"{direct_s:.2f} s, Winograd {winograd_s:.2f} s ({direct_s / winograd_s:.2f}x); the "
          f"reference uses {reference_conv}", flush=True)

    runs = [("reference", ref_params)]
    level_opts = {"min_size": args.min_size} if args.min_size else {}
    runs += [(p, row_params(p, args.size, args.precision, level_opts)) for p in filter(None, args.presets.split(","))]
    rows = []
    cached_ref = reference_cache(args, content_path, style_path, ref_params)
    if cached_ref and cached_ref["row"] is not None:
        rows.append(cached_ref["row"])
        runs = runs[1:]
        print(f"reference from the cache ({cached_ref['path']}): {rows[0]['seconds']:.1f} s, "
              f"objective {rows[0]['objective']:.4f}", flush=True)
    for name, params in runs:
        if name != "reference" and heap_now != "kept" and keep_freed_memory():
            heap_now = "kept"  # once, after the reference: as in a render process (pipeline/heap.py)
            kept_s = pass_seconds(content, style, ref_params, "winograd")
            print(f"the presets run with the heap kept: one pass with Winograd {kept_s:.2f} s "
                  f"({direct_s / kept_s:.2f}x the pass with torch's convolutions and glibc's "
                  "default heap)", flush=True)
        t0 = time.perf_counter()
        with (winograd.disabled() if name == "reference" and args.reference_conv == "direct"
              else contextlib.nullcontext()):
            result = stylize(content, style, params, progress=False)
        seconds = time.perf_counter() - t0
        result.image.save(out / f"{content_path.stem}-{style_path.stem}-{name.replace('/', '-')}-{args.size}.png")
        with winograd.disabled():  # one yardstick for every row: torch's own convolutions
            objective = evaluate(result.image, content, style, ref_params)["total"]
            cd, sd = distances(evaluator, result.image, content, style)
        rec = result.record
        rows.append({"name": name, "seconds": seconds, "objective": objective, "content_distance": cd,
                     "style_distance": sd, "iterations": [lv["iterations"] for lv in rec["levels"]],
                     "sizes": [lv["size"] for lv in rec["levels"]], "device": rec["device"],
                     "precision": rec["precision"], "threads": rec["threads"]})
        if name == "reference":
            trace = [t["total"] for t in rec["levels"][0]["trace"]]
            rises = sum(1 for a, b in zip(trace, trace[1:]) if b > a)
            marks = ", ".join(f"{i}: {trace[i]:.4f}" for i in range(0, len(trace), max(1, len(trace) // 10)))
            print(f"reference trace (total objective by iteration): {marks}, last: {trace[-1]:.4f}; "
                  f"{rises} of {len(trace) - 1} steps rose")
        if name == "reference" and cached_ref:
            cached_ref["path"].write_text(json.dumps(rows[-1], indent=2))
        print(f"done {name}: {seconds:.1f} s, objective {objective:.4f} "
              f"(device {rec['device']}, {rec['precision']}, {rec['threads']} threads, "
              f"load average {os.getloadavg()[0]:.1f})", flush=True)
        print("  " + table_row(rows[-1], rows[0]), flush=True)  # partial results survive a kill

    print()
    print(TABLE_HEAD)
    for r in rows:
        print(table_row(r, rows[0]))
    print(f"\ndevice {rows[0]['device']}, precision of presets {rows[-1]['precision']}, "
          f"threads {rows[0]['threads']}, load average at end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
