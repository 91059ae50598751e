"""Growth benchmark: a gallery of fast-engine renders at 100, 400 and 1,000 cells, and what its
site costs as it grows (size, files, page weight, incremental rebuilds).

The pictures are made from the mirror's images (GALLERY_MIRROR: the seed gallery's three
photographs and three paintings) by cropping, turning and recolouring them, so that every
picture is its own and every render differs. Each size is a gallery of its own (contents x
styles: 10 x 10, 20 x 20, 40 x 25) in a work folder outside git (.cache/bench-growth/ by
default), each with its own render cache, rendered with `engine: fast` at 512 px by the real
CLI in a fresh process, then:

- render s: `render` of every cell (skipped, and the earlier time reported, when the cache
  already holds them all; --fresh renders again);
- site s: `site` from nothing (no site folder, no web-image cache), with its files, MB, MB a
  cell and the largest page;
- no-op s: `gallery` again with nothing changed (the whole command, start-up included);
- title edit: one picture's title changed, then `site`: files written and seconds;
- added style: one more style rendered, then `site`: files written, seconds and MB added.

Run: `make bench`, or `python bench/bench_growth.py --sizes 100,400` (any N, or CxS such as
4x3, and --px 128 for a quick look while developing). --repo runs another checkout's code
(e.g. an exported older main) against the same pictures and renders: a before/after.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHAPES = {100: (10, 10), 400: (20, 20), 1000: (40, 25)}
MB = 1_000_000


# ---------------------------------------------------------------- the pictures

def mirror_images() -> dict[str, list[Path]]:
    """The mirror's content and style images (GALLERY_MIRROR, folders separated by ':')."""
    found: dict[str, list[Path]] = {"content": [], "style": []}
    for folder in filter(None, os.environ.get("GALLERY_MIRROR", "").split(":")):
        for role in found:
            found[role] += sorted(Path(folder, role).glob("*.jpg"))
    if not found["content"] or not found["style"]:
        raise SystemExit("bench_growth: set GALLERY_MIRROR to a folder with content/*.jpg and style/*.jpg "
                         "(the seed gallery's mirror)")
    return found


def variant(source: Path, seed: int):
    """A picture of its own made from `source`: a crop (60-100% of each side), a quarter turn or a
    mirror, and a hue turn with a change of saturation. The same seed gives the same picture."""
    from PIL import Image, ImageOps

    rng = random.Random(seed)
    im = Image.open(source).convert("RGB")
    w, h = im.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    im = im.crop((x, y, x + cw, y + ch))
    turn = rng.randrange(5)
    im = ImageOps.mirror(im) if turn == 4 else im.rotate(90 * turn, expand=True)
    hue, sat = rng.random(), rng.uniform(0.7, 1.3)
    r, g, b = (colorsys.hsv_to_rgb((hue + colorsys.rgb_to_hsv(*c)[0]) % 1.0, 1, 1) for c in
               ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    # a hue turn as a colour matrix (exact for the primaries), then the saturation
    im = im.convert("RGB", (r[0], g[0], b[0], 0, r[1], g[1], b[1], 0, r[2], g[2], b[2], 0))
    from PIL import ImageEnhance

    return ImageEnhance.Color(im).enhance(sat)


def make_pictures(work: Path, contents: int, styles: int) -> tuple[list[dict], list[dict]]:
    """contents + styles pictures in work/images (made once; a larger gallery reuses the first ones)."""
    sources = mirror_images()
    entries: dict[str, list[dict]] = {"content": [], "style": []}
    for role, n in (("content", contents), ("style", styles)):
        for i in range(n):
            id = f"{role[0]}{i:02d}"
            path = work / "images" / role / f"{id}.jpg"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                src = sources[role][i % len(sources[role])]
                variant(src, seed=hash_seed(role, i)).save(path, quality=92)
            base = sources[role][i % len(sources[role])].stem
            entries[role].append({"id": id, "title": f"{base.title()} {i + 1}",
                                  "credit": f"made from the seed gallery's {base}",
                                  "file": f"../images/{role}/{id}.jpg"})
    return entries["content"], entries["style"]


def hash_seed(role: str, i: int) -> int:
    return (1 if role == "content" else 2) * 100_003 + i


# ---------------------------------------------------------------- one gallery

def write_manifest(folder: Path, contents: list[dict], styles: list[dict], px: int, site: dict) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    data = {"site": {"title": f"Growth {folder.name.split('-')[0]}", "output": "site", **site},
            "cache": "renders", "image_roots": ["../images"],
            "render": {"size": px, "engine": "fast"},
            "contents": contents, "styles": styles}
    manifest = folder / "gallery.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return manifest


CPU = [0.0]  # the CPU seconds (user + system) of the last run(): what a busy machine inflates less
IMAGES: list[Path] = []  # the pictures' folder, which the manifests may read from (GALLERY_IMAGE_ROOTS)


def run(repo: Path, *args: str, check: bool = True) -> tuple[float, str]:
    """`python -m pipeline ARGS` with `repo`'s code in a fresh process: (wall seconds, output)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["PYTHONPATH"] = str(repo)
    env["GALLERY_IMAGE_ROOTS"] = os.pathsep.join(map(str, IMAGES))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=repo, env=env,
                       capture_output=True, text=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if check and r.returncode:
        raise SystemExit(f"bench_growth: `pipeline {' '.join(args)}` failed ({r.returncode}):\n"
                         f"{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return seconds, r.stdout + r.stderr


def spoken_seconds(output: str) -> float:
    """The seconds in status's 'about 1 h 02 min / 4 min 05 s / 12 s of rendering'."""
    m = re.search(r"about ((?:\d+ h ?)?(?:\d+ min ?)?(?:\d+ s)?) of rendering", output)
    if not m:
        return float("nan")
    units = {"h": 3600, "min": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+) (h|min|s)\b", m.group(1))))


def written(output: str) -> int:
    """The site summary's 'N files written'."""
    found = re.findall(r"(\d+) files written", output)
    if not found:
        raise SystemExit(f"bench_growth: no 'files written' in the site's output:\n{output[-2000:]}")
    return int(found[-1])


def site_stats(site: Path) -> dict:
    files = [p for p in site.rglob("*") if p.is_file()]
    pages = [p for p in files if p.suffix == ".html"]
    largest = max(pages, key=lambda p: p.stat().st_size)
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "largest_page": largest.relative_to(site).as_posix(), "largest_page_bytes": largest.stat().st_size,
            "render_page_bytes": max((p.stat().st_size for p in pages if p.parent.name == "render"), default=0)}


def measure(repo: Path, work: Path, contents: int, styles: int, px: int, fresh: bool, site_keys: dict) -> dict:
    """Every figure of one row of the table (see the module's docstring)."""
    content_entries, style_entries = make_pictures(work, contents, styles + 1)
    extra_style = style_entries.pop()
    folder = work / f"{contents}x{styles}-{px}"
    manifest = write_manifest(folder, content_entries, style_entries, px, site_keys)
    cfg = ("--config", str(manifest))
    row: dict = {"cells": contents * styles, "shape": f"{contents} x {styles}", "px": px}

    # what `status` says before anything is rendered (an empty cache: no timed render to learn from)
    empty = folder / "empty-cache"
    shutil.rmtree(empty, ignore_errors=True)
    _, said = run(repo, "status", *cfg, "--cache", str(empty))
    row["first_estimate_s"] = spoken_seconds(said)
    shutil.rmtree(empty, ignore_errors=True)

    timing = folder / "render-seconds.json"
    _, status = run(repo, "status", "--json", *cfg)
    todo = sum(1 for c in json.loads(status[status.index("{"):])["cells"] if c["state"] == "render") \
        if "{" in status else None
    if fresh or todo:
        if fresh:
            shutil.rmtree(folder / "renders", ignore_errors=True)
            todo = row["cells"]
        row["render_s"], _ = run(repo, "render", "--quiet", *cfg)
        if todo == row["cells"]:  # a whole gallery's time: kept for the runs that reuse the renders
            timing.write_text(json.dumps({"seconds": row["render_s"]}))
    else:
        row["render_s"] = json.loads(timing.read_text())["seconds"] if timing.is_file() else float("nan")
    row["rendered"] = todo

    site = folder / "site"
    shutil.rmtree(site, ignore_errors=True)
    shutil.rmtree(folder / "renders" / "variants", ignore_errors=True)  # encode every web image
    shutil.rmtree(folder / "renders" / ".site", ignore_errors=True)
    row["site_s"], out = run(repo, "site", *cfg, check=False)
    if not (site / "index.html").is_file():
        last = [line for line in out.splitlines() if line.startswith("error")] or out.splitlines()[-1:]
        raise SiteFailed(f"{row['shape']}: `site` failed after {row['site_s']:.0f} s: {last[0] if last else out}")
    row.update(site_stats(site))
    row["mb"] = row["bytes"] / MB
    row["mb_cell"] = row["mb"] / row["cells"]

    run(repo, "gallery", "--quiet", "--no-fetch", *cfg)  # settle the lock file
    row["noop_s"], _ = run(repo, "gallery", "--quiet", "--no-fetch", *cfg)
    row["noop_cpu_s"] = CPU[0]

    original = manifest.read_text(encoding="utf-8")
    try:
        manifest.write_text(original.replace(f"title: {content_entries[0]['title']}\n",
                                             "title: A New Title For The First Picture\n", 1), encoding="utf-8")
        row["title_s"], out = run(repo, "site", *cfg)
        row["title_written"] = written(out)
        manifest.write_text(original, encoding="utf-8")
        run(repo, "site", *cfg)  # the title back, so that the style is all the next build changes

        write_manifest(folder, content_entries, [*style_entries, extra_style], px, site_keys)
        row["add_render_s"], _ = run(repo, "render", "--quiet", *cfg)
        before = row["bytes"]
        row["style_s"], out = run(repo, "site", *cfg)
        row["style_written"] = written(out)
        row["style_added_mb"] = (site_stats(site)["bytes"] - before) / MB
    finally:
        manifest.write_text(original, encoding="utf-8")
    return row


class SiteFailed(Exception):
    """`site` failed (a size limit, say): the benchmark reports it and goes on with the next size."""


# ---------------------------------------------------------------- report

def machine() -> str:
    """'2-core AMD EPYC with AVX512-BF16': the cores, the model and its widest vector extension."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    extension = next((name for flag, name in (("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX512"),
                                              ("avx2", "AVX2")) if flag in flags), "")
    return f"{os.cpu_count()}-core {model}" + (f" with {extension}" if extension else "")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


HEAD = ("| cells | first estimate s | render s | site s | files | MB | MB a cell | largest page (KB) | render page (KB) "
        "| title edit: files, s | added style: files, s, MB | no-op s (CPU s) |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")


def table_row(r: dict) -> str:
    return (f"| {r['cells']} ({r['shape']}) | {r.get('first_estimate_s', float('nan')):.0f} | {r['render_s']:.0f} "
            f"| {r['site_s']:.1f} | {r['files']} "
            f"| {r['mb']:.1f} | {r['mb_cell']:.3f} | {r['largest_page_bytes'] / 1000:.0f} ({r['largest_page']}) "
            f"| {r['render_page_bytes'] / 1000:.1f} | {r['title_written']}, {r['title_s']:.1f} "
            f"| {r['style_written']}, {r['style_s']:.1f}, {r['style_added_mb']:.1f} | {r['noop_s']:.2f} "
            f"({r.get('noop_cpu_s', float('nan')):.2f}) |")


def shape(text: str) -> tuple[int, int]:
    if "x" in text:
        c, s = text.lower().split("x")
        return int(c), int(s)
    n = int(text)
    if n in SHAPES:
        return SHAPES[n]
    side = max(1, round(n ** 0.5))
    return side, max(1, n // side)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,400,1000",
                    help="cells, comma-separated: 100, 400, 1000 or CxS such as 4x3 (default 100,400,1000)")
    ap.add_argument("--px", type=int, default=512, help="render size (default 512)")
    ap.add_argument("--work", type=Path, default=REPO / ".cache" / "bench-growth",
                    help="folder for the pictures, renders and sites (default .cache/bench-growth, git-ignored)")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose code runs (default this one)")
    ap.add_argument("--fresh", action="store_true", help="render every cell again (else cached renders are reused)")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--site", action="append", default=[], metavar="KEY=VALUE",
                    help="a `site:` setting of the benchmark's manifests, e.g. max_file_mb=400 (repeatable)")
    args = ap.parse_args()
    import yaml

    site_keys = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.site)}

    work = args.work.resolve()
    repo = args.repo.resolve()
    IMAGES.append(work / "images")
    print(f"growth benchmark: {repo} ({_commit(repo)}), fast engine at {args.px} px, work folder {work}")
    print(f"CPU: {machine()}; {load()} at the start" + (f"; site settings {site_keys}" if site_keys else ""))
    print(HEAD)
    rows = []
    for size in args.sizes.split(","):
        c, s = shape(size.strip())
        try:
            row = measure(repo, work, c, s, args.px, args.fresh, site_keys)
        except SiteFailed as e:
            print(f"| {c * s} ({c} x {s}) | {e} |", flush=True)
            continue
        rows.append(row)
        print(table_row(row), flush=True)
    print(f"{load()} at the end")
    if args.json:
        args.json.write_text(json.dumps({"cpu": machine(), "load": load(), "repo": str(repo),
                                         "commit": _commit(repo), "rows": rows}, indent=1))
    return 0


def _commit(repo: Path) -> str:
    r = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or "no git"


if __name__ == "__main__":
    raise SystemExit(main())
