"""The time-lapse from the renderer to the page: kept with its render in the cache (not in its
key), removed with it, published beside the render page and shown there when asked."""
from __future__ import annotations

import hashlib
import json
import re

from PIL import Image, ImageDraw, ImageFilter

from gallery_fakes import FakeRenderer, build_gallery, cli_on
from pipeline.plan.cache import Cache, timelapse_paths
from pipeline.plan.timelapse import MAX_BYTES, encode, still
from pipeline.render.gatys.timelapse import Frame


def painting_frames(size=(512, 340), n=30) -> list[Frame]:
    """Frames of a photo-like gradient taking on a pattern of strokes (as textured as a render)."""
    w, h = size
    photo = Image.linear_gradient("L").resize(size).convert("RGB")
    strokes = Image.new("RGB", size, (30, 60, 140))
    d = ImageDraw.Draw(strokes)
    for i in range(900):
        x, y = (i * 97) % w, (i * 57) % h
        d.line((x, y, x + 14, y + 6 + i % 9), fill=((i * 40) % 255, (i * 70) % 255, 90), width=3)
    strokes = strokes.filter(ImageFilter.GaussianBlur(0.6))
    levels = [(0, 0), (0, 10), (1, 10), (2, 10), (3, 10)] + [(4, 7 * k) for k in range(1, n - 4)]
    return [Frame(lv, it, Image.blend(photo, strokes, i / (len(levels) - 1))) for i, (lv, it) in enumerate(levels)]


class PaintingRenderer(FakeRenderer):
    """FakeRenderer whose results carry frames, as the optimiser's do."""

    def __call__(self, content, style, params, progress=None, label="stylize", threads=None):
        result = super().__call__(content, style, params, progress, label, threads)
        start = content.convert("RGB").resize(result.image.size)
        result.frames = [Frame(0, 0, start), Frame(0, 1, Image.blend(start, result.image, 0.5)),
                         Frame(1, 1, result.image)]
        result.record["frames"] = [f.describe() for f in result.frames]
        return result


def test_a_512px_timelapse_fits_its_bound_and_plays_every_frame():
    frames = painting_frames()
    data = encode([f.image for f in frames], [f.describe() for f in frames])
    assert len(data) <= MAX_BYTES
    with Image.open(__import__("io").BytesIO(data)) as im:
        assert im.format == "WEBP" and im.n_frames == len(frames) and im.size == (512, 340)
        assert im.info["loop"] == 0
    picture = still([f.image for f in frames], [f.describe() for f in frames])
    with Image.open(__import__("io").BytesIO(picture)) as im:
        assert getattr(im, "n_frames", 1) == 1 and im.size == (512, 340)


def test_the_cache_keeps_the_timelapse_with_its_render_and_removes_it_with_it(tmp_path):
    cache = Cache(tmp_path / "renders")
    key = "ab" * 32
    image = Image.new("RGB", (32, 21), (200, 30, 40))
    cache.store(key, image, {"params": {"size": 32}, "levels": [{"size": [32, 21]}]}, (b"anim", b"still"))
    anim, picture = timelapse_paths(cache.root, key)
    assert anim.read_bytes() == b"anim" and picture.read_bytes() == b"still"
    record = json.loads(cache.record_path(key).read_text())
    assert record["timelapse"] == {"sha256": hashlib.sha256(b"anim").hexdigest(), "bytes": 4,
                                   "still_sha256": hashlib.sha256(b"still").hexdigest(), "still_bytes": 5}
    assert cache.has(key) and set(cache.entries()[key]) == {anim, picture, cache.image_path(key),
                                                            cache.record_path(key)}
    cache.store(key, image, {"params": {"size": 32}, "levels": [{"size": [32, 21]}]})  # a render without one
    assert not anim.exists() and not picture.exists()
    cache.store(key, image, {"params": {"size": 32}, "levels": [{"size": [32, 21]}]}, (b"anim", b"still"))
    collected = Cache(cache.root).collect(set(), delete=True)
    assert collected.deleted == 1 and not anim.exists() and not picture.exists()


def test_a_render_with_frames_is_published_with_its_timelapse(tmp_path):
    g = build_gallery(tmp_path, contents=("pearl",), styles=("gogh", "munch"))
    assert cli_on(g, PaintingRenderer())(["gallery", "--no-fetch", "--quiet"]) == 0
    keys = [p.stem for p in g.cache.glob("??/*.json") if re.fullmatch("[0-9a-f]{64}", p.stem)]
    assert len(keys) == 2
    for key in keys:
        record = json.loads((g.cache / key[:2] / f"{key}.json").read_text())
        assert record["frames"] == [{"level": 0, "iteration": 0}, {"level": 0, "iteration": 1},
                                    {"level": 1, "iteration": 1}]
        assert timelapse_paths(g.cache, key)[0].stat().st_size == record["timelapse"]["bytes"]
    page = (g.site.output / "render" / "pearl--gogh.html").read_text()
    motion = re.search(r'data-motion="\.\./(timelapse/[^"]+\.webp)"', page).group(1)
    still_rel = re.search(r'data-still="\.\./(timelapse/[^"]+-still\.webp)"', page).group(1)
    key = next(k for k in keys if (g.site.output / motion).read_bytes() == timelapse_paths(g.cache, k)[0].read_bytes())
    assert (g.site.output / still_rel).read_bytes() == timelapse_paths(g.cache, key)[1].read_bytes()
    tag = re.search(r'<img class="timelapse-img"[^>]*>', page).group(0)
    assert " src=" not in tag  # nothing loads before the visitor opens it

    # a time-lapse that is not the one its record describes is not published (the page stays whole)
    for k in keys:
        anim = timelapse_paths(g.cache, k)[0]
        anim.write_bytes(anim.read_bytes()[:-7])
    assert cli_on(g, PaintingRenderer())(["site", "--quiet"]) == 0
    page = (g.site.output / "render" / "pearl--gogh.html").read_text()
    assert "data-timelapse" not in page and not (g.site.output / motion).exists()
