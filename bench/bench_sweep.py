"""The presets across several pairs against each pair's single-level reference: the worst pair
is what a preset's quality bar must hold on (standard: within 1.05x of the reference objective).

Runs bench_render.py once per pair (each in its own process: the ratios are within a process,
so they stay fair on a shared machine) and prints one table with the worst pair per preset.

    python bench/bench_sweep.py [--size 256] [--min-size 64] [--presets standard,draft,draft@fast,10/10/10/10/200]
                                [--pairs 5 | --pairs chicago:udnie,stata:wave] [--json FILE]

Pairs: the demo's three styles each with a demo photo, two pairs outside the demo (a painting
as the content), and six photographs with skies (two photos, three paintings of strong colour
and stroke), where the palette must be painted over large smooth areas. Images come from
GALLERY_MIRROR (or ../shared/seed-gallery and ../shared/sweep-images).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_render import find_in_mirror  # noqa: E402

PAIRS = (("content", "pearl.jpg", "gogh.jpg"), ("content", "dancing.jpg", "picasso.jpg"),
         ("content", "vinci.jpg", "staircase.jpg"),
         ("style", "gogh.jpg", "staircase.jpg"), ("style", "picasso.jpg", "gogh.jpg"),
         ("content", "chicago.jpg", "udnie.jpg"), ("content", "chicago.jpg", "wave.jpg"),
         ("content", "chicago.jpg", "la_muse.jpg"), ("content", "stata.jpg", "udnie.jpg"),
         ("content", "stata.jpg", "wave.jpg"), ("content", "stata.jpg", "la_muse.jpg"))


def chosen_pairs(spec: str) -> list[tuple[str, str, str]]:
    """`--pairs`: empty for all, a number for the first N, or content:style names."""
    if not spec:
        return list(PAIRS)
    if spec.isdigit():
        return list(PAIRS[:int(spec)])
    by_name = {f"{Path(c).stem}:{Path(s).stem}": (k, c, s) for k, c, s in PAIRS}
    unknown = [n for n in spec.split(",") if n not in by_name]
    if unknown:
        sys.exit(f"bench_sweep: unknown pair(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in spec.split(",")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--min-size", type=int, default=64,
                    help="the presets' smallest level (64 at 256 px replays the 512 px pyramid)")
    ap.add_argument("--presets", default="standard,draft")
    ap.add_argument("--reference-iterations", type=int, default=500)
    ap.add_argument("--pairs", default="", help="the first N pairs, or content:style names separated by "
                    "commas (default: all)")
    ap.add_argument("--json", help="also write every pair's rows as JSON to this path")
    ap.add_argument("--reference-cache", default=str(ROOT / "contact-sheets" / "bench" / "references"),
                    help="where each pair's reference is kept and reused (git-ignored; '' for none)")
    args = ap.parse_args(argv)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, content, style in chosen_pairs(args.pairs):
            c, s = find_in_mirror(kind, content), find_in_mirror("style", style)
            out = Path(tmp) / f"{c.stem}-{s.stem}.json"
            cmd = [sys.executable, str(ROOT / "bench" / "bench_render.py"), str(c), str(s),
                   "--size", str(args.size), "--min-size", str(args.min_size), "--presets", args.presets,
                   "--reference-iterations", str(args.reference_iterations), "--json", str(out),
                   "--reference-conv", "winograd"]
            if args.reference_cache:
                cmd += ["--reference-cache", args.reference_cache]
            print(f"## {c.stem} x {s.stem}", flush=True)
            r = subprocess.run(cmd, text=True, capture_output=True)
            print("\n".join(line for line in r.stdout.splitlines() if line.startswith(("done", "one full"))),
                  flush=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return r.returncode
            results[f"{c.stem} x {s.stem}"] = json.loads(out.read_text())

    presets = [p for p in args.presets.split(",") if p]
    print(f"\n| pair ({args.size} px) | reference: style dist. | "
          + " | ".join(f"{p}: objective / ref., speed-up, style dist." for p in presets) + " |")
    print("|---|---:|" + "---:|" * len(presets))
    worst = {p: (0.0, "") for p in presets}
    for pair, rows in results.items():
        ref = rows[0]
        cells = []
        for p in presets:
            row = next(r for r in rows if r["name"] == p)
            ratio = row["objective"] / ref["objective"]
            cells.append(f"{ratio:.3f}x, {ref['seconds'] / row['seconds']:.1f}x, {row['style_distance']:.3f}")
            if ratio > worst[p][0]:
                worst[p] = (ratio, pair)
        print(f"| {pair} | {ref['style_distance']:.3f} | " + " | ".join(cells) + " |")
    for p, (ratio, pair) in worst.items():
        print(f"worst {p}: {ratio:.3f}x the reference's objective ({pair})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
