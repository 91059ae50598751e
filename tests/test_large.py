"""Large renders: the tiled objective is the whole image's, tiles join without seams, and a
render above LARGE_BASE refines its base's render (the same bytes whether the base is handed
in or rendered on the spot). Sizes are scaled down (LARGE_BASE and TILE_PIXELS patched) so
that every path runs in seconds."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

torch = pytest.importorskip("torch")

from pipeline.core import params as params_mod  # noqa: E402
from pipeline.core.params import RenderParams  # noqa: E402
from pipeline.render.gatys import tiled  # noqa: E402
from pipeline.render.gatys.core import feature_net, stylize, to_tensor  # noqa: E402
from pipeline.render.gatys.objective import Objective  # noqa: E402
from pipeline.render.gatys.tiled import ALIGN, TiledObjective, tile_grid  # noqa: E402


def landscape(size=(320, 256)) -> Image.Image:
    """A synthetic photo: a smooth sky gradient over hills, a sun and a dark tower (edges that
    cross the tile cuts, and large smooth areas where a seam would show)."""
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([(90 + 100 * y // h, 140 + 60 * y // h, 230 - 40 * x // w) for y in range(h) for x in range(w)])
    d = ImageDraw.Draw(im)
    d.ellipse((w * 0.55, h * 0.1, w * 0.75, h * 0.35), fill=(250, 210, 90))
    d.polygon([(0, h), (0, h * 0.6), (w * 0.3, h * 0.45), (w * 0.7, h * 0.65), (w, h * 0.5), (w, h)],
              fill=(60, 110, 50))
    d.rectangle((w * 0.45, h * 0.3, w * 0.52, h), fill=(35, 30, 40))
    return im.filter(ImageFilter.GaussianBlur(1))


def strokes(size=(96, 96)) -> Image.Image:
    """A 'painting': thick diagonal strokes of three colours with seeded grain."""
    g = torch.Generator().manual_seed(3)
    noise = (torch.rand(size[1], size[0], generator=g) * 60 - 30).tolist()
    palette = ((200, 60, 40), (30, 70, 160), (230, 200, 60))
    im = Image.new("RGB", size)
    im.putdata([tuple(max(0, min(255, int(c + noise[y][x]))) for c in palette[((x + 2 * y) // 9) % 3])
                for y in range(size[1]) for x in range(size[0])])
    return im


def test_the_grid_covers_the_image_once_on_the_pooling_grid():
    for h, w, budget in ((256, 320, 60_000), (1365, 2048, tiled.TILE_PIXELS), (2048, 2048, tiled.TILE_PIXELS),
                         (1024, 1024, tiled.TILE_PIXELS), (300, 2000, 200_000)):
        grid = tile_grid(h, w, budget)
        covered = torch.zeros(h, w, dtype=torch.int32)
        for (t, b, l, r), (ct, cb, cl, cr) in grid:
            covered[t:b, l:r] += 1
            assert all(v % ALIGN == 0 for v in (t, l)) and b in (h, *range(0, h, ALIGN))
            assert ct <= t and cb >= b and cl <= l and cr >= r
            assert (cb - ct) * (cr - cl) <= budget
            assert ct == max(0, t - tiled.HALO) and cr == min(w, r + tiled.HALO)
        assert bool((covered == 1).all()), (h, w)
    assert len(tile_grid(1024, 1024)) == 1  # fits: one pass, as an untiled render
    assert len(tile_grid(2048, 2048)) == 4  # 2 x 2 tiles of 1120 x 1120 with their halos


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_tiled_objective_is_the_whole_images(precision):
    """Value and gradient from 4 tiles equal those of one pass over the whole image: the style
    term's Grams are summed across tiles, the halo covers every core feature's receptive field."""
    net, _ = feature_net("caffe-vgg19", "max", torch.device("cpu"))
    content = to_tensor(landscape(), torch.device("cpu"))
    style = to_tensor(strokes((200, 160)), torch.device("cpu"))
    x = (content + torch.randn(content.shape, generator=torch.Generator().manual_seed(1)) * 25).clamp(0, 255)
    whole = Objective(net, content, style, 1.0, 4.0, 0.5, precision)
    parts = TiledObjective(net, content, style, 1.0, 4.0, 0.5, precision, max_pixels=60_000)
    assert len(tile_grid(256, 320, 60_000)) == 4
    tw, gw = whole.value_and_grad(x, 1000.0)
    tp, gp = parts.value_and_grad(x, 1000.0)
    tol = 1e-5 if precision == "fp32" else 2e-3
    for k in ("content", "style", "tv", "total"):
        assert tp[k] == pytest.approx(tw[k], rel=tol), k
    assert float((gp - gw).norm() / gw.norm()) < (1e-4 if precision == "fp32" else 2e-2)
    scored = {k: float(v) for k, v in parts.terms(x).items()}
    assert scored["total"] == pytest.approx(tw["total"], rel=tol)


def border_steps(im: Image.Image, cuts: list[int]) -> list[float]:
    """Mean absolute step between the columns either side of each cut."""
    t = to_tensor(im, torch.device("cpu"))[0]
    steps = (t[:, :, 1:] - t[:, :, :-1]).abs().mean(dim=(0, 1))  # step between column i and i+1
    return [float(steps[c - 1]) for c in cuts]


def test_tiles_join_without_seams(monkeypatch):
    """A render whose levels run in tiles: across every tile cut the picture steps no more than
    the untiled render steps there (a seam would add its own step along the whole cut), and the
    two are the same picture within rounding."""
    params = RenderParams(size=320, min_size=160, iterations=(2, 3), precision="fp32")
    untiled = stylize(landscape(), strokes(), params, progress=False, frames=0).image
    monkeypatch.setattr(tiled, "TILE_PIXELS", 60_000)  # the 320 x 256 top level in 4 tiles
    grid = tile_grid(256, 320)
    assert len(grid) == 4
    image = stylize(landscape(), strokes(), params, progress=False, frames=0).image
    cols = sorted({l for (_, _, l, _), _ in grid} - {0})
    rows = sorted({t for (t, _, _, _), _ in grid} - {0})
    assert cols and rows
    for flip in (None, Image.Transpose.TRANSPOSE):
        cuts = rows if flip else cols
        tiled_steps = border_steps(image.transpose(flip) if flip else image, cuts)
        plain_steps = border_steps(untiled.transpose(flip) if flip else untiled, cuts)
        assert all(abs(a - b) < 0.5 for a, b in zip(tiled_steps, plain_steps)), (cuts, tiled_steps, plain_steps)
    diff = (to_tensor(image, torch.device("cpu")) - to_tensor(untiled, torch.device("cpu"))).abs()
    assert float(diff.mean()) < 0.5 and float(diff.max()) <= 8


def test_the_seam_measure_sees_a_seam():
    """The bound above catches a seam: the same picture with one tile's colours off by 3 levels."""
    im = landscape()
    shifted = im.copy()
    shifted.paste(im.crop((160, 0, 320, 256)).point(lambda v: min(255, v + 3)), (160, 0))
    a, b = border_steps(shifted, [160])[0], border_steps(im, [160])[0]
    assert a - b >= 0.5


def test_a_large_render_refines_its_base_to_the_same_bytes_either_way(monkeypatch):
    """Above LARGE_BASE a render is its base's render refined level by level: handed the base
    (a gallery's render, for its print size) it makes the same bytes as rendering it itself."""
    monkeypatch.setattr(params_mod, "LARGE_BASE", 96)
    monkeypatch.setitem(params_mod.PRESETS, "standard", {"iterations": (3, 3, 6), "above": (3, 2)})
    params = RenderParams(size=192, min_size=48, precision="fp32")
    assert params.levels()[-2:] == ((136, 3), (192, 2)) and params.base().size == 96
    assert "levels" in params.key_dict()
    base = stylize(landscape(), strokes(), params.base(), progress=False, frames=4)
    alone = stylize(landscape(), strokes(), params, progress=False, frames=4)
    handed = stylize(landscape(), strokes(), params, progress=False, frames=4, base=base)
    assert alone.image.size == (192, 154) and alone.image.tobytes() == handed.image.tobytes()
    assert [lv["size"][0] for lv in alone.record["levels"]] == [48, 68, 96, 136, 192]
    assert alone.record["base"]["size"] == [96, 77]
    # it is the base's picture, larger: downscaled, it is close to the base render ...
    small = alone.image.resize(base.image.size, Image.LANCZOS)
    diff = (to_tensor(small, torch.device("cpu")) - to_tensor(base.image, torch.device("cpu"))).abs()
    assert float(diff.mean()) < 12
    # ... and its own top level lowered the objective it started from
    top = alone.record["levels"][-1]["trace"]
    assert alone.record["final"]["total"] < top[0]["total"]


def test_the_anchor_scales_down_as_pillow_does():
    """The anchor's scale-down is Pillow's Lanczos resize (the one the site and the scores use):
    on float channels the same numbers, on an 8-bit picture within Pillow's own rounding."""
    from pipeline.render.gatys.anchor import Anchored

    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 3, 77, 100, generator=g) * 255
    anchored = Anchored(None, None, (40, 31), 1.0)
    small = anchored.scaled_down(x)
    assert small.shape == (1, 3, 31, 40)
    for ch in range(3):
        plane = Image.fromarray(x[0, ch].numpy(), "F").resize((40, 31), Image.LANCZOS)
        expect = torch.tensor(np.array(plane))
        assert float((small[0, ch] - expect).abs().max()) < 1e-3
    picture = landscape((100, 77))
    ours = anchored.scaled_down(to_tensor(picture, torch.device("cpu"))).clamp(0, 255).round()
    theirs = to_tensor(picture.resize((40, 31), Image.LANCZOS), torch.device("cpu"))
    assert float((ours - theirs).abs().mean()) < 0.5


def test_the_anchored_gradient_is_the_anchored_objectives():
    """value_and_grad's gradient is the derivative of level total + weight x anchor: a step along
    it changes their sum as the gradient says (central differences), and the anchor moves it."""
    from pipeline.render.gatys.anchor import Anchored

    net, _ = feature_net("caffe-vgg19", "max", torch.device("cpu"))
    c, s = to_tensor(landscape((96, 80)), torch.device("cpu")), to_tensor(strokes((64, 64)), torch.device("cpu"))
    c_small = to_tensor(landscape((96, 80)).resize((48, 40), Image.LANCZOS), torch.device("cpu"))
    level = Objective(net, c, s, 1.0, 10.0, 0.0)
    base = Objective(net, c_small, s, 1.0, 10.0, 0.0)
    anchored = Anchored(level, base, (48, 40), 4.0)
    g = torch.Generator().manual_seed(2)
    x = (c + torch.randn(c.shape, generator=g) * 20).clamp(0, 255)
    terms, grad = anchored.value_and_grad(x, 1.0)
    plain = level.value_and_grad(x, 1.0)[1]
    assert float((grad - plain).abs().max()) > 0  # the anchor pulls too

    def value(y):
        with torch.no_grad():
            return float(level.terms(y)["total"] + 4.0 * base.terms(anchored.scaled_down(y))["total"])

    d = torch.randn(c.shape, generator=g)
    eps = 0.5
    slope = (value(x + eps * d) - value(x - eps * d)) / (2 * eps)
    assert slope == pytest.approx(float((grad * d).sum()), rel=0.05)
    assert terms["anchor"] == pytest.approx(value(x) / 4.0 - terms["total"] / 4.0, rel=1e-4)


def test_a_print_scaled_down_stays_as_good_as_its_base(monkeypatch):
    """Held by the anchor, a large render scaled down to its base's size scores on the base's
    objective at least about as well as the base render (here better: the base's few iterations
    leave it unfinished, and the anchor goes on optimising it); without it, clearly worse."""
    from pipeline.render.gatys.core import evaluate

    monkeypatch.setattr(params_mod, "LARGE_BASE", 96)
    scores = {}
    for weight in (16.0, 0.0):
        monkeypatch.setitem(params_mod.PRESETS, "standard",
                            {"iterations": (4, 4, 12), "above": (6, 6), "anchor": weight})
        params = RenderParams(size=192, min_size=48, precision="fp32")
        assert ("anchor" in params.key_dict()) == bool(weight)
        base = stylize(landscape(), strokes(), params.base(), progress=False, frames=0)
        large = stylize(landscape(), strokes(), params, progress=False, frames=0, base=base)
        small = large.image.resize(base.image.size, Image.LANCZOS)
        scores[weight] = (evaluate(small, landscape(), strokes(), params.base())["total"],
                          evaluate(base.image, landscape(), strokes(), params.base())["total"])
    (held, base_score), (free, _) = scores[16.0], scores[0.0]
    assert held <= base_score * 1.05, scores
    assert free > held * 1.1, scores
