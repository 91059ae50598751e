"""Test helpers for the plan, cache and render commands: small galleries and a fake renderer.

Also a subprocess driver (`python tests/gallery_fakes.py CMD ...`) that runs the real CLI on a
pickled gallery, optionally with the fake renderer, so that kill -9 and concurrent runs are
tested on real processes without torch and without the manifest stage. Environment:

    FAKE_GALLERY  pickle of the Gallery to use (instead of reading a manifest)
    FAKE_RENDER   1: render with the fake below instead of the engines
    FAKE_SLEEP    seconds each fake render takes
    FAKE_CREATED  the record's "created" time (ISO 8601) instead of now
    FAKE_LOG      file to which each fake render appends "<pair hash> <pid> <GALLERY_THREADS>
                  <min> <max>", the last two the thread counts it was given while it slept
    FAKE_HANG     "image" (half the PNG written) or "record" (image written, record not):
                  touch FAKE_HANG_MARKER there and sleep, for a test to kill -9 us
    CHECK_NO_TORCH  1: exit 99 if torch got imported
Several commands run in one process when separated by `--then`.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from pipeline.cli.app import main as cli_main  # noqa: E402
from pipeline.core.model import Gallery, ImageEntry, SiteSettings  # noqa: E402
from pipeline.plan.keys import key_inputs  # noqa: E402
from pipeline.plan.planner import make_plan  # noqa: E402
from pipeline.render.progress import RenderStep  # noqa: E402
from pipeline.render.result import RenderResult  # noqa: E402
from pipeline.util.hashing import json_sha256  # noqa: E402
from pipeline.workers import make_record  # noqa: E402


def tiny_png(path: Path, seed: int, size: tuple[int, int] = (24, 16)) -> Path:
    """A small image whose bytes depend on `seed`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([((x * 9 + seed * 53) % 256, (y * 13 + seed * 29) % 256, (seed * 71) % 256)
                for y in range(h) for x in range(w)])
    im.save(path)
    return path


def entry(root: Path, role: str, id: str, seed: int, **kw: Any) -> ImageEntry:
    file = kw.pop("file", None) or tiny_png(root / "images" / role / f"{id}.png", seed)
    return ImageEntry(id=id, role=role, title=id.title(), file=file, **kw)


def build_gallery(root: Path, contents=("pearl", "vinci"), styles=("gogh", "munch"),
                  render: dict | None = None, exclude=(), style_render: dict | None = None) -> Gallery:
    """A gallery of generated images in `root`, its cache in root/renders."""
    root.mkdir(parents=True, exist_ok=True)
    style_render = style_render or {}
    cs = tuple(entry(root, "content", c, i) for i, c in enumerate(contents))
    ss = tuple(entry(root, "style", s, 100 + i, render=style_render.get(s, {})) for i, s in enumerate(styles))
    manifest = root / "gallery.yaml"
    manifest.write_text("# stands in for a manifest: tests pass the Gallery directly\n")
    return Gallery(path=manifest, site=SiteSettings(output=root / "site"),
                   render=dict(render or {"size": 32}), contents=cs, styles=ss,
                   exclude=frozenset(exclude), cache=root / "renders")


def with_style(gallery: Gallery, id: str, **changes: Any) -> Gallery:
    styles = tuple(dataclasses.replace(s, **changes) if s.id == id else s for s in gallery.styles)
    return dataclasses.replace(gallery, styles=styles)


def render_key(content_sha: str, style_sha: str, params, weights: dict | None = None) -> str:
    """The cache key make_plan gives a cell of these images and parameters."""
    return json_sha256(key_inputs(content_sha, style_sha, params, weights))


def cli_on(gallery: Gallery, renderer=None):
    """The CLI's main(argv) run on `gallery` instead of the manifest --config names (in this
    process), rendering with `renderer` (a FakeRenderer; None: the engines)."""
    return functools.partial(cli_main, load=lambda path, **kw: gallery, renderer=renderer)


def fake_stylize(content: Image.Image, style: Image.Image, params, progress=None,
                 threads=None, seen: list | None = None) -> RenderResult:
    """A tinted, resized copy of the content, with a record shaped like the renderer's, made in
    one iteration that goes to `progress` as the engines report theirs. `threads` (see stylize)
    is asked every 50 ms through the sleep; the answers go to `seen`."""
    end = time.monotonic() + float(os.environ.get("FAKE_SLEEP", "0"))
    while True:
        if threads is not None and seen is not None:
            seen.append(threads())
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(left, 0.05))
    w, h = content.size
    scale = params.size / max(w, h)
    out = content.resize((max(1, round(w * scale)), max(1, round(h * scale))))
    tint = style.resize((1, 1)).getpixel((0, 0))
    out = Image.blend(out, Image.new("RGB", out.size, tint), 0.5)
    record = {"params": params.effective(), "weights": {"id": params.weights}, "renderer_version": 1,
              "device": "cpu", "precision": "fp32", "seconds": 2.5,
              "levels": [{"size": list(out.size), "iterations": 1, "seconds": 2.5, "trace": [{"iteration": 1, "content": 1.0, "style": 1.0, "tv": 0.0, "total": 2.0}]}],
              "final": {"content": 1.0, "style": 1.0, "tv": 0.0, "total": 2.0}}
    if os.environ.get("FAKE_CREATED"):  # the render's time, fixed: two runs then give equal records
        record["created"] = os.environ["FAKE_CREATED"]
    if progress:
        progress(RenderStep(1, 1, out.size, 1.0, 1.0, 2.0))
    return RenderResult(out, record)


class FakeRenderer(list):
    """A renderer to pass where the engines' stylize goes: renders with fake_stylize and keeps
    the params of each call (it is the list of them). With FAKE_LOG set, each render appends
    "<pair hash> <pid> <GALLERY_THREADS> <min threads> <max threads>" to that file."""

    def __call__(self, content, style, params, progress=None, label="stylize", threads=None):
        seen: list[int] = []
        result = fake_stylize(content, style, params, progress, threads, seen)
        self.append(params)
        path = os.environ.get("FAKE_LOG")
        if path:
            pair = hashlib.md5(content.tobytes() + b"|" + style.tobytes()).hexdigest()[:12]
            with open(path, "a") as f:
                span = f"{min(seen)} {max(seen)}" if seen else "- -"
                f.write(f"{pair} {os.getpid()} {os.environ.get('GALLERY_THREADS', '-')} {span}\n")
        return result


def fill_cache(gallery: Gallery) -> None:
    """Store a fake render for every cell and write the lock file: a fully cached gallery."""
    plan = make_plan(gallery)
    for cell in plan.missing():
        im = Image.new("RGB", (8, 8), (10, 20, 30))
        result = fake_stylize(im, im, cell.params)  # at the render's size, as its record says
        plan.cache.store(cell.key, result.image, make_record(cell, result.record))
    make_plan(gallery).sync_lock()


def run_driver(gallery: Gallery, *args: str, env: dict | None = None, wait: bool = True, **popen):
    """Run the CLI in a subprocess on `gallery` (pickled beside it)."""
    import subprocess

    pkl = gallery.root / "gallery.pkl"
    pkl.write_bytes(pickle.dumps(gallery))
    full_env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    full_env.update({"FAKE_GALLERY": str(pkl), "PYTHONPATH": str(REPO)}, **(env or {}))
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    if not wait:
        return subprocess.Popen(cmd, env=full_env, cwd=gallery.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)
    return subprocess.run(cmd, env=full_env, cwd=gallery.root, capture_output=True, text=True,
                          timeout=120, **popen)


def _install_hang(phase: str, marker: Path) -> None:
    """Stop in the middle of storing an entry, so that a test can kill -9 us there."""
    import pipeline.plan.cache
    import pipeline.core.images
    from pipeline.util.files import atomic_writer

    def hang() -> None:
        marker.write_text("ready")
        time.sleep(60)

    if phase == "image":
        def save_atomic(im, path, format=None, **params):
            import io
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            with atomic_writer(path, "wb") as f:
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                hang()
        pipeline.core.images.save_atomic = save_atomic
    else:
        real = pipeline.plan.cache.write_text_atomic

        def write_text_atomic(path, text):
            if len(Path(path).stem) == 64:  # a record, not the memo
                hang()
            real(path, text)
        pipeline.plan.cache.write_text_atomic = write_text_atomic


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_GALLERY"], "rb") as f:
        gallery = pickle.load(f)
    cli = cli_on(gallery, FakeRenderer() if os.environ.get("FAKE_RENDER") else None)
    if os.environ.get("FAKE_HANG"):
        _install_hang(os.environ["FAKE_HANG"], Path(os.environ["FAKE_HANG_MARKER"]))
    commands: list[list[str]] = [[]]
    for a in argv:
        if a == "--then":
            commands.append([])
        else:
            commands[-1].append(a)
    for cmd in commands:
        rc = cli(cmd)
        if rc:
            return rc
    if os.environ.get("CHECK_NO_TORCH") and "torch" in sys.modules:
        print("torch was imported", file=sys.stderr)
        return 99
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
