"""The time-lapse's own cost at 512 px, apart from any render: taking its 29 frames (4 coarse
levels' ends shown on the content at 512 px, 25 through the top level) and encoding them
(animated WebP and still), on frames as noisy as a render's (the encoder's worst case).

    python bench/bench_frames.py [CONTENT] [--rounds 3]

Compare with a 512 px render's seconds on the same machine (bench_large.py, bench_render.py);
bench_timelapse.py measures the same inside whole renders, at a render's cost.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content", nargs="?")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    import torch
    from PIL import Image

    from pipeline.plan.timelapse import files
    from pipeline.render.gatys.core import _frame, _frame_base, to_tensor
    from pipeline.render.gatys.timelapse import Frame
    from pipeline.render.imageops import fit_long_edge

    content = load_rgb(Path(args.content) if args.content else find_in_mirror("content", "stata.jpg"))
    dev = torch.device("cpu")
    top = fit_long_edge(content.size, 512)
    frame_base = _frame_base(content, None, top, dev)
    levels = [fit_long_edge(content.size, e) for e in (128, 181, 256, 362)] + [top] * 25
    bases = {wh: to_tensor(content.resize(wh, Image.LANCZOS), dev) for wh in set(levels)}
    g = torch.Generator().manual_seed(0)
    print(f"# time-lapse cost: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    for r in range(args.rounds):
        xs = [(bases[wh] + torch.randn(bases[wh].shape, generator=g) * 20).clamp(0, 255) for wh in levels]
        t0 = time.perf_counter()
        frames = [Frame(i, 0, _frame(x, bases[wh], frame_base, "content")) for i, (x, wh) in enumerate(zip(xs, levels))]
        taking = time.perf_counter() - t0
        t0 = time.perf_counter()
        anim, still = files(frames)
        encoding = time.perf_counter() - t0
        print(f"round {r + 1}: {len(frames)} frames at {top[0]}x{top[1]}: taking {taking:.2f} s, encoding "
              f"{encoding:.2f} s; animation {len(anim) / 1e6:.2f} MB, still {len(still) / 1e3:.0f} KB; "
              f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
