"""The time-lapse's cost and size: renders with and without frames, interleaved in one process
(A B A B), the time spent taking frames, and the animated WebP's bytes.

    python bench/bench_timelapse.py [CONTENT STYLE] [--size 512] [--preset standard] [--rounds 2]
                                    [--out contact-sheets/timelapse]

The wall-clock overhead depends on the load (compare within the run only); the seconds spent
inside frame-taking itself, over the render's, do not much. The animation is written to --out
(git-ignored: a render of third-party images) to look at.
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

from bench_render import find_in_mirror  # noqa: E402
from pipeline.core.images import load_rgb  # noqa: E402
from pipeline.core.params import RenderParams  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content", nargs="?")
    ap.add_argument("style", nargs="?")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--preset", default="standard")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "contact-sheets" / "timelapse"))
    args = ap.parse_args(argv)

    import torch

    from pipeline.plan import timelapse as encoder
    from pipeline.render.gatys import core
    from pipeline.render.gatys.timelapse import TOP_FRAMES
    from pipeline.render.heap import keep_freed_memory

    keep_freed_memory()
    content_path = Path(args.content) if args.content else find_in_mirror("content", "pearl.jpg")
    style_path = Path(args.style) if args.style else find_in_mirror("style", "gogh.jpg")
    content, style = load_rgb(content_path), load_rgb(style_path)
    params = RenderParams(size=args.size, preset=args.preset)
    print(f"# time-lapse: {content_path.name} x {style_path.name}, {args.size} px, {args.preset}; "
          f"{platform.processor()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}", flush=True)

    taking = [0.0]
    frame = core._frame

    def timed_frame(*a, **kw):
        t0 = time.perf_counter()
        try:
            return frame(*a, **kw)
        finally:
            taking[0] += time.perf_counter() - t0

    core._frame = timed_frame
    walls = {0: [], TOP_FRAMES: []}
    result = None
    for r in range(args.rounds):
        for frames in (0, TOP_FRAMES):
            taking[0] = 0.0
            t0 = time.perf_counter()
            out = core.stylize(content, style, params, progress=False, frames=frames)
            wall = time.perf_counter() - t0
            walls[frames].append(wall)
            print(f"round {r + 1}, frames={frames}: {wall:.1f} s, taking frames {taking[0]:.3f} s "
                  f"({len(out.frames)} frames), load {os.getloadavg()[0]:.1f}", flush=True)
            if frames:
                share, result = taking[0] / wall, out
    a, b = sum(walls[0]) / len(walls[0]), sum(walls[TOP_FRAMES]) / len(walls[TOP_FRAMES])
    print(f"\nwithout frames {a:.1f} s, with {b:.1f} s (mean of {args.rounds}): {100 * (b / a - 1):+.2f}% "
          f"wall; taking the frames {100 * share:.3f}% of the render")

    t0 = time.perf_counter()
    data = encoder.encode([f.image for f in result.frames], [f.describe() for f in result.frames])
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{content_path.stem}-{style_path.stem}-{args.size}.webp"
    path.write_bytes(data)
    print(f"animated WebP: {len(result.frames)} frames, {len(data) / 1e6:.2f} MB, encoded in {seconds:.1f} s: {path}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
