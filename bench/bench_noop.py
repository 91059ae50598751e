"""No-op rebuild benchmark: a 10 x 10 gallery whose every cell is cached must plan in well under a
second and never import torch.

Builds the gallery from generated 512 px images in a temp folder, fills the cache with fake
renders (records shaped like the renderer's, loss traces included), then times the commands
a no-op `make gallery` runs, each in a fresh process, best of 3. Run: `make bench` or
`python bench/bench_noop.py [--size 10]`.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PYCACHE = Path(tempfile.gettempdir()) / "bench-noop-pycache"


def build(root: Path, n: int) -> Path:
    """A manifest of n contents x n styles with generated images; returns its path."""
    import yaml
    from PIL import Image

    data = {"site": {"title": "Benchmark", "output": "site"}, "cache": "renders",
            "render": {"size": 512}, "contents": [], "styles": []}
    for role, key in (("content", "contents"), ("style", "styles")):
        for i in range(n):
            id = f"{role[0]}{i:02d}"
            file = root / "images" / role / f"{id}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            im = Image.linear_gradient("L").resize((512, 384)).convert("RGB")
            im = Image.merge("RGB", [im.split()[0].point(lambda v, i=i: (v + 7 * i) % 256)] + list(im.split()[1:]))
            im.save(file)
            data[key].append({"id": id, "title": f"{role} {i}", "file": f"images/{role}/{id}.png"})
    manifest = root / "gallery.yaml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return manifest


def fill(manifest: Path) -> int:
    """Store a fake render for every cell (records as large as real ones) and sync the lock file."""
    from PIL import Image

    from pipeline.manifest.reader import load_gallery
    from pipeline.plan.planner import make_plan
    from pipeline.workers import make_record

    gallery = load_gallery(manifest)
    plan = make_plan(gallery)
    im = Image.new("RGB", (512, 384), (90, 60, 30))
    for cell in plan.missing():
        trace = [{"iteration": i, "content": 1.0 / (i + 1), "style": 2.0 / (i + 1), "tv": 0.0,
                  "total": 3.0 / (i + 1)} for i in range(0, 150, 5)]
        record = {"params": cell.params.effective(), "device": "cpu", "precision": "bf16", "seconds": 60.0,
                  "renderer_version": 1, "weights": cell.inputs["weights"],
                  "levels": [{"size": [s, s * 3 // 4], "iterations": it, "seconds": 12.0, "trace": trace}
                             for s, it in cell.params.levels()],
                  "final": {"content": 1.0, "style": 1.0, "tv": 0.0, "total": 2.0}}
        plan.cache.store(cell.key, im, make_record(cell, record))
    make_plan(gallery).sync_lock()
    return len(plan.cells)


def plan_ms(manifest: Path, repeat: int = 5) -> float:
    """The pipeline's own work for a no-op plan, without interpreter start-up and imports."""
    from pipeline.manifest.reader import load_gallery
    from pipeline.plan.planner import make_plan

    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        plan = make_plan(load_gallery(manifest, check_files=False))
        assert plan.synced_lock() == plan.lock
        best = min(best, time.perf_counter() - t)
    assert all(c.state == "cached" for c in plan.cells)
    return best * 1000


CPU = [float("inf")]  # CPU seconds (user + sys, children included) of the last timed() command, best run


def site_ms(manifest: Path, repeat: int = 5) -> float:
    """build_site on the built, unchanged site, without start-up, imports, manifest or plan."""
    import contextlib
    import io

    from pipeline.manifest.reader import load_gallery
    from pipeline.plan.planner import make_plan
    from pipeline.site.builder import build_site

    gallery = load_gallery(manifest, check_files=False)
    plan = make_plan(gallery)
    best = float("inf")
    for _ in range(repeat):
        with contextlib.redirect_stdout(io.StringIO()):
            t = time.perf_counter()
            build_site(gallery, plan, quiet=True)
            best = min(best, time.perf_counter() - t)
    return best * 1000


def timed(cmd: list[str], cwd: Path, repeat: int = 3) -> tuple[float, str]:
    """Best wall time of `repeat` runs; CPU[0] gets the best CPU time, which a busy machine inflates less."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)  # compiled once, as on a user's machine, outside the tree
    best, out = float("inf"), ""
    CPU[0] = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU[0] = min(CPU[0], after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
        out = r.stdout
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10, help="contents and styles (default 10: 100 cells)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder and print its path")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    try:
        manifest = build(root, args.size)
        cells = fill(manifest)
        py = sys.executable
        cfg = ["--config", str(manifest)]
        print(f"no-op benchmark: {args.size} x {args.size} = {cells} cells, all cached ({root})")
        rows = [
            ("python startup (baseline)", [py, "-c", "pass"]),
            ("validate --no-fetch", [py, "-m", "pipeline", "validate", "--no-fetch", *cfg]),
            ("status", [py, "-m", "pipeline", "status", *cfg]),
            ("render (nothing to do)", [py, "-m", "pipeline", "render", "--quiet", *cfg]),
        ]
        # In one process, like `make gallery`'s steps minus the site: is torch ever imported?
        probe = ("import sys, time; from pipeline.cli import main\n"
                 "t = time.perf_counter()\n"
                 f"for cmd in (['status'], ['render', '--quiet']):\n"
                 f"    assert main([*cmd, '--config', {str(manifest)!r}]) == 0\n"
                 "print(f'{time.perf_counter() - t:.3f}', 'torch' in sys.modules)\n")
        rows.append(("status+render in-process", [py, "-c", probe]))
        print(f"  {'load manifest + plan, in-process':<32} {plan_ms(manifest):7.0f} ms   "
              f"(imports done; hashes and records from the memo)")
        for label, cmd in rows:
            seconds, out = timed(cmd, REPO)
            extra = ""
            if cmd[-1] == probe:
                inner, torch = out.split()[-2:]
                extra = f"   (work inside the process {float(inner) * 1000:.0f} ms; torch imported: {torch})"
                if torch != "False":
                    raise SystemExit("FAIL: the no-op path imported torch")
            print(f"  {label:<32} {seconds * 1000:7.0f} ms  cpu {CPU[0] * 1000:5.0f} ms{extra}")
        if shutil.which("make"):
            timed([py, "-m", "pipeline", "build", *cfg], REPO, repeat=1)  # first site build encodes variants
            site, _ = timed([py, "-m", "pipeline", "build", "--quiet", *cfg], REPO)
            print(f"  {'build (site stage, no-op)':<32} {site * 1000:7.0f} ms  cpu {CPU[0] * 1000:5.0f} ms")
            print(f"  {'build_site no-op, in-process':<32} {site_ms(manifest):7.0f} ms   (imports, manifest and plan done)")
            make = ["make", "--no-print-directory", "gallery", f"CONFIG={manifest}", f"PY={py}"]
            if not (REPO / ".venv" / ".installed").exists():  # run from a venv made by hand
                (root / "installed").touch()
                make.append(f"STAMP={root / 'installed'}")
            seconds, _ = timed(make, REPO)
            print(f"  {'make gallery (whole no-op)':<32} {seconds * 1000:7.0f} ms  cpu {CPU[0] * 1000:5.0f} ms   "
                  "(one `gallery` process: read, plan, lock file, site)")
        else:
            print("  make gallery: skipped (no make)")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
