"""A small demo-like gallery for the site tests: generated pictures, fake renders and records,
and the try-it page's style vectors, as a run leaves the cache before it builds the site.

No torch: a "render" is the content picture tinted and textured by the style, which is enough
for the site stage, which only reads the cache. Cells are built directly (the plan's fields).
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from pipeline.core.model import Gallery, ImageEntry, SiteSettings
from pipeline.core.params import RenderParams
from pipeline.plugins.tryit import cache_vectors

CONTENTS = [("mona", "Mona Lisa", (300, 300)), ("pearl", "Girl with a Pearl Earring", (260, 320)),
            ("dancer", "The Dancer", (320, 240))]
STYLES = [("starry", "The Starry Night"), ("nude", "Seated Nude"), ("stairs", "Nude Descending a Staircase")]


@dataclass(frozen=True)
class FakeCell:
    """The fields of pipeline.plan.Cell that the site reads."""

    content: ImageEntry
    style: ImageEntry
    params: RenderParams
    key: str
    state: str
    reasons: tuple[str, ...]
    image: Path
    record: Path
    inputs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class FakePlan:
    cells: list


def content_picture(seed: int, size: tuple[int, int]) -> Image.Image:
    """A soft portrait-like picture: a warm gradient, a head and shoulders."""
    rng = random.Random(seed)
    w, h = size
    im = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    tint = Image.new("RGB", (w, h), (rng.randint(60, 140), rng.randint(70, 120), rng.randint(30, 90)))
    im = ImageChops.multiply(ImageChops.invert(im), tint)
    d = ImageDraw.Draw(im)
    skin = (rng.randint(190, 230), rng.randint(150, 180), rng.randint(110, 140))
    d.ellipse((w * 0.2, h * 0.62, w * 0.8, h * 1.3), fill=(40 + seed * 20, 50, 60))
    d.ellipse((w * 0.33, h * 0.18, w * 0.67, h * 0.62), fill=skin)
    d.ellipse((w * 0.30, h * 0.12, w * 0.70, h * 0.34), fill=(50, 35, 25))
    return im.filter(ImageFilter.GaussianBlur(1.5))


def style_picture(seed: int, size: int = 340) -> Image.Image:
    """A painting-like texture: many short curved strokes in a small palette."""
    rng = random.Random(100 + seed)
    palette = [tuple(rng.randint(0, 255) for _ in range(3)) for _ in range(5)]
    im = Image.new("RGB", (size, size), palette[0])
    d = ImageDraw.Draw(im)
    for _ in range(700):
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        a = rng.uniform(0, math.tau) if seed != 0 else math.atan2(y - size / 2, x - size / 2) + math.pi / 2
        L = rng.uniform(8, 26)
        d.line((x, y, x + L * math.cos(a), y + L * math.sin(a)), fill=rng.choice(palette[1:]), width=rng.randint(2, 5))
    return im


def fake_render(content: Image.Image, style: Image.Image, size: int = 256) -> Image.Image:
    w, h = content.size
    scale = size / max(w, h)
    out_size = (round(w * scale), round(h * scale))
    c = content.resize(out_size)
    s = style.resize(out_size)
    return Image.blend(c, s, 0.45).filter(ImageFilter.EDGE_ENHANCE).quantize(24).convert("RGB")


def fake_record(key: str, params: RenderParams, seed: int) -> dict:
    rng = random.Random(seed)
    levels = []
    loss = 1e6 * (1 + rng.random())
    for i, edge in enumerate((128, 181, 256)):
        trace = []
        its = (40, 30, 20)[i]
        for it in range(0, its + 1, 5):
            loss *= 0.86 + rng.random() * 0.05
            trace.append({"iteration": it, "content": loss * 0.3, "style": loss * 0.7, "tv": 0.0, "total": loss})
        loss *= 1.8  # a new, larger level starts a little worse
        levels.append({"size": [edge, edge], "iterations": its, "seconds": 1.5 * (i + 1), "trace": trace})
    last = levels[-1]["trace"][-1]
    return {"key": key, "params": params.effective(), "weights": {"id": "caffe-vgg19", "sha256": "c" * 64},
            "renderer_version": 1, "device": "cpu", "precision": "bf16", "seconds": 9.0,
            "levels": levels, "final": {k: last[k] for k in ("content", "style", "tv", "total")},
            "inputs": {}}


def fake_timelapse(cache: Path, key: str, content: Image.Image, render: Image.Image) -> dict:
    """Write a time-lapse of the picture turning into `render` beside its entry in `cache`, with
    the project's encoder (pyramid levels' ends, then the top level in steps), and return the
    record's fields for it."""
    from pipeline.plan.cache import timelapse_paths
    from pipeline.plan.timelapse import encode, still

    start = content.resize(render.size)
    frames = [{"level": 0, "iteration": 0}, {"level": 0, "iteration": 40}, {"level": 1, "iteration": 30},
              *({"level": 2, "iteration": 4 * k} for k in range(1, 6))]
    images = [Image.blend(start, render, min(1.0, i / (len(frames) - 1)) ** 0.7) for i in range(len(frames))]
    anim, picture = encode(images, frames), still(images, frames)
    for path, data in zip(timelapse_paths(cache, key), (anim, picture)):
        path.write_bytes(data)
    return {"frames": frames, "timelapse": {"sha256": hashlib.sha256(anim).hexdigest(), "bytes": len(anim),
                                            "still_sha256": hashlib.sha256(picture).hexdigest(),
                                            "still_bytes": len(picture)}}


def make_gallery(root: Path, *, title: str = "Test Gallery", styles=STYLES, contents=CONTENTS,
                 missing=(), excluded=(), base_url: str = "", description: str = "A test gallery.",
                 output: Path | None = None, cache: Path | None = None,
                 timelapse=()) -> tuple[Gallery, FakePlan]:
    """Write pictures, renders and records under `root` and return (gallery, plan).

    `missing` and `excluded` hold (content_id, style_id) pairs: pending and excluded cells;
    `timelapse` the cached cells that come with a time-lapse.
    `cache` may be shared between tests (keys hash the pictures' bytes): encoding is the slow part.
    """
    root = Path(root)
    images = root / "images"
    cache = Path(cache) if cache else root / "renders"
    images.mkdir(parents=True, exist_ok=True)
    centries, sentries, pics = [], [], {}
    for i, (cid, ctitle, size) in enumerate(contents):
        path = images / f"{cid}.png"
        if not path.exists():
            content_picture(i, size).save(path)
        pics[cid] = path
        centries.append(ImageEntry(cid, "content", ctitle, path, credit=f"Painter {i}, 1500",
                                   link=f"https://example.org/{cid}"))
    for i, (sid, stitle) in enumerate(styles):
        path = images / f"{sid}.png"
        if not path.exists():
            style_picture(i).save(path)
        pics[sid] = path
        sentries.append(ImageEntry(sid, "style", stitle, path, credit=f"Artist {i}, 1900",
                                   link=f"https://example.org/{sid}", url=f"https://example.org/{sid}.jpg",
                                   render={"style_weight": 2.0} if i == 1 else {}))
    gallery = Gallery(path=root / "gallery.yaml",
                      site=SiteSettings(title=title, description=description, base_url=base_url,
                                        output=output or root / "site"),
                      render={"size": 256, "preset": "draft"}, contents=tuple(centries),
                      styles=tuple(sentries), exclude=frozenset(excluded), cache=cache)
    cells = []
    for n, c in enumerate(gallery.contents):
        for s in gallery.styles:
            params = gallery.cell_params(c, s)
            key = hashlib.sha256(pics[c.id].read_bytes() + pics[s.id].read_bytes()
                                 + repr(params).encode()).hexdigest()
            image = cache / key[:2] / f"{key}.png"
            record = image.with_suffix(".json")
            if (c.id, s.id) in excluded:
                state, reasons = "excluded", ()
            elif (c.id, s.id) in missing:
                state, reasons = "render", ("not in the cache",)
            else:
                state, reasons = "cached", ()
                if not image.exists():
                    image.parent.mkdir(parents=True, exist_ok=True)
                    picture = Image.open(pics[c.id]).convert("RGB")
                    render = fake_render(picture, Image.open(pics[s.id]).convert("RGB"))
                    render.save(image)
                    rec = fake_record(key, params, n)
                    if (c.id, s.id) in timelapse:
                        rec.update(fake_timelapse(cache, key, picture, render))
                    record.write_text(json.dumps(rec), encoding="utf-8")
            cells.append(FakeCell(c, s, params, key, state, reasons, image, record))
    cache_vectors(gallery)
    return gallery, FakePlan(cells)


def grid_gallery(root: Path, contents: int, styles: int, *, px: int = 48, cache: Path | None = None,
                 titles: dict[str, str] | None = None, **site: Any) -> tuple[Gallery, FakePlan]:
    """A contents x styles gallery of small generated pictures and fake renders (`px` wide), every
    cell rendered: for the tests of a gallery as it grows. `titles` renames entries by id;
    `site` sets SiteSettings fields (try_it is off unless given)."""
    root = Path(root)
    cache = Path(cache) if cache else root / "renders"
    titles = titles or {}
    pics: dict[str, Path] = {}
    entries: dict[str, list[ImageEntry]] = {"content": [], "style": []}
    for role, n in (("content", contents), ("style", styles)):
        for i in range(n):
            id = f"{role[0]}{i:02d}"
            path = root / "images" / f"{id}.png"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                im = content_picture(i % 5, (px, px * 3 // 4)) if role == "content" else style_picture(i, px)
                im.save(path)
            pics[id] = path
            entries[role].append(ImageEntry(id, role, titles.get(id, f"{role.title()} number {i + 1}"), path,
                                            credit=f"Maker {i}"))
    settings = {"try_it": False, **site}
    gallery = Gallery(path=root / "gallery.yaml",
                      site=SiteSettings(title="Grid", output=root / "site", **settings),
                      render={"size": px, "engine": "fast"}, contents=tuple(entries["content"]),
                      styles=tuple(entries["style"]), cache=cache)
    cells = []
    for c in gallery.contents:
        for s in gallery.styles:
            params = gallery.cell_params(c, s)
            key = hashlib.sha256(f"{c.id}/{s.id}/{px}".encode()).hexdigest()
            image = cache / key[:2] / f"{key}.png"
            record = image.with_suffix(".json")
            if not image.exists():
                image.parent.mkdir(parents=True, exist_ok=True)
                fake_render(Image.open(pics[c.id]).convert("RGB"), Image.open(pics[s.id]).convert("RGB"),
                            size=px).save(image)
                record.write_text(json.dumps({"key": key, "params": params.effective(), "device": "cpu",
                                              "seconds": 0.4, "engine": "fast"}), encoding="utf-8")
            cells.append(FakeCell(c, s, params, key, "cached", (), image, record))
    cache_vectors(gallery)
    return gallery, FakePlan(cells)
