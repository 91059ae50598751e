"""The renderer at tiny sizes (64 px, a few iterations): behaviour that can fail, not looks."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")

from pipeline.cli.app import main  # noqa: E402
from pipeline.util.errors import GalleryError  # noqa: E402
from pipeline.core.params import RENDERER_VERSION, RenderParams  # noqa: E402
from pipeline.render.gatys.core import RenderError, RenderResult, gram, stylize  # noqa: E402
from pipeline.core.weights import WeightsError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def content_image(size=(80, 48)) -> Image.Image:
    """A 'portrait': warm background, a cool disc, a dark bar (colourful, with edges)."""
    w, h = size
    im = Image.new("RGB", size, (220, 160, 90))
    d = ImageDraw.Draw(im)
    d.ellipse((w * 0.2, h * 0.15, w * 0.6, h * 0.85), fill=(40, 90, 200))
    d.rectangle((w * 0.7, 0, w * 0.8, h), fill=(30, 30, 30))
    return im


def style_image(size=(64, 64)) -> Image.Image:
    """'Brush strokes': diagonal green and magenta stripes with seeded noise (same every call)."""
    rng = random.Random(0)
    im = Image.new("RGB", size)
    im.putdata([tuple(min(255, max(0, v + rng.randint(-40, 40)))
                      for v in ((30, 200, 60) if (x + y) % 12 < 6 else (200, 40, 180)))
                for y in range(size[1]) for x in range(size[0])])
    return im


def tiny(**kw) -> RenderParams:
    return RenderParams(size=64, min_size=32, **{"iterations": (4,), **kw})


def test_objective_decreases_and_record_is_complete():
    r = stylize(content_image(), style_image(), tiny(iterations=(10,)), progress=False)
    assert isinstance(r, RenderResult)
    trace = r.record["levels"][0]["trace"]
    assert len(trace) == 10 and [t["iteration"] for t in trace] == list(range(10))
    assert trace[-1]["total"] < 0.8 * trace[0]["total"]
    assert r.record["final"]["total"] < 0.8 * trace[0]["total"]
    rec = json.loads(json.dumps(r.record))  # JSON-serialisable as is
    assert rec["renderer_version"] == RENDERER_VERSION and rec["device"] == "cpu"
    assert rec["weights"]["id"] == "caffe-vgg19" and len(rec["weights"]["sha256"]) == 64
    assert rec["params"] == tiny(iterations=(10,)).effective() | {"iterations": [10]}
    assert set(trace[0]) == {"iteration", "content", "style", "tv", "total"}
    assert rec["precision"] in ("fp32", "bf16") and rec["threads"] >= 1 and rec["seconds"] > 0


def test_adam_also_decreases_the_objective():
    r = stylize(content_image(), style_image(), tiny(iterations=(6,), optimizer="adam"), progress=False)
    trace = r.record["levels"][0]["trace"]
    assert trace[-1]["total"] < trace[0]["total"]


@pytest.mark.parametrize("size,expected", [((80, 48), (64, 38)), ((30, 90), (21, 64))])
def test_output_keeps_aspect_ratio_and_long_edge(size, expected):
    r = stylize(content_image(size), style_image((50, 70)), tiny(iterations=(1, 1)), progress=False)
    assert r.image.mode == "RGB" and r.image.size == expected
    sizes = [lv["size"] for lv in r.record["levels"]]
    assert sizes[-1] == list(expected) and max(sizes[0]) == 45  # 64 / sqrt(2): the pyramid's lower level


def test_pyramid_levels_follow_the_schedule():
    p = RenderParams(size=512, preset="standard")
    sizes = [s for s, _ in p.levels()]
    assert [it for _, it in p.levels()] == list(p.schedule())  # nothing folds at 512 px
    assert sizes[-1] == 512 and len(sizes) == len(p.schedule()) and 120 <= sizes[0] <= 140
    assert all(1.3 < b / a < 1.5 for a, b in zip(sizes, sizes[1:]))
    factors = [lv.style_factor for lv in p.pyramid()]
    assert factors[-1] == 1 and factors[0] < 1 and factors == sorted(factors)


@pytest.mark.parametrize("size", [32, 64, 100, 192, 256, 1024])
@pytest.mark.parametrize("preset", ["draft", "standard", "high"])
def test_small_renders_fold_levels_below_min_size_into_the_smallest_level(size, preset):
    """No size is optimised twice (a 192 px draft would run three levels at 128 px: 60% of
    its time), and folding keeps every iteration of the schedule (folding the pixel-work left a
    128 px draft 4 iterations: the photo with dark noise on top)."""
    p = RenderParams(size=size, preset=preset, min_size=128)
    levels = p.levels()
    sizes = [s for s, _ in levels]
    assert sizes[-1] == size and sizes[0] >= min(128, size)
    assert all(b > a for a, b in zip(sizes, sizes[1:]))
    # (above LARGE_BASE the levels go on up from the 512 px pyramid: tests/test_large.py)
    above = p.pyramid().levels[p.pyramid().base:]
    assert sum(it for _, it in levels) == sum(p.schedule()) + sum(lv.iterations for lv in above)


def test_a_192px_draft_runs_two_levels():
    assert RenderParams(size=192, preset="draft").levels() == ((136, 32), (192, 0))


def test_finer_levels_keep_the_content_detail_the_coarse_levels_did_not_change():
    """A level starts at content + upsampled change, not at a blurred upsample of the coarse
    result: with no iterations anywhere the render is the content at full size, pixel for pixel."""
    content = content_image()
    r = stylize(content, style_image(), tiny(iterations=(0, 0, 0)), progress=False)
    expected = content.resize(r.image.size, Image.LANCZOS)
    assert r.image.tobytes() == expected.tobytes()
    # ... and a coarse level's change still reaches the top: its pixels differ from the content.
    r = stylize(content, style_image(), tiny(iterations=(5, 0)), progress=False)
    diff = [abs(a - b) for a, b in zip(r.image.tobytes(), expected.tobytes())]
    assert sum(diff) / len(diff) > 2


def test_every_evaluated_image_stays_in_the_pixel_range(monkeypatch):
    """The optimiser only ever scores valid 0-255 images, so the saved (8-bit) render scores what
    the trace says (unclamped, a 512 px reference lost 20% of its objective when saved)."""
    from pipeline.render.gatys import core as render

    seen = []
    terms = render.Objective.terms

    def spy(self, x):
        seen.append((float(x.detach().min()), float(x.detach().max())))
        return terms(self, x)

    monkeypatch.setattr(render.Objective, "terms", spy)
    r = stylize(content_image(), style_image(), tiny(iterations=(12,), style_weight=1000.0), progress=False)
    lows, highs = zip(*seen[:-1])  # the last call scores the saved image
    assert min(lows) >= 0 and max(highs) <= 255 and len(seen) == 13
    trace = r.record["levels"][0]["trace"]
    assert r.record["final"]["total"] < trace[0]["total"]


def test_the_thread_count_follows_the_callback_between_iterations():
    """A make -jN worker left alone grows its threads mid-render; the record says when."""
    asked = []

    def threads():
        asked.append(torch.get_num_threads())
        return 1 if len(asked) <= 3 else 2

    before = torch.get_num_threads()
    try:
        r = stylize(content_image(), style_image(), tiny(iterations=(3, 3)), progress=False, threads=threads)
        assert len(asked) == 6  # once before each iteration
        assert asked[3] == 1 and torch.get_num_threads() == 2  # switched before the 4th
        assert r.record["thread_changes"][-1] == {"level": 1, "iteration": 0, "threads": 2}
        plain = stylize(content_image(), style_image(), tiny(iterations=(3, 3)), progress=False)
        assert "thread_changes" not in plain.record
    finally:
        torch.set_num_threads(before)


def test_same_inputs_give_identical_bytes():
    p = tiny(iterations=(3, 2), init="noise", seed=7)
    a = stylize(content_image(), style_image(), p, progress=False).image.tobytes()
    b = stylize(content_image(), style_image(), p, progress=False).image.tobytes()
    assert a == b
    c = stylize(content_image(), style_image(), p.with_(seed=8), progress=False).image.tobytes()
    assert c != a


def test_preserve_colors_keeps_the_content_chroma():
    # fp32 on every CPU: in bf16 (auto on a CPU with native bf16) 8 iterations move the colours
    # about half as far, under the bound below, with or without the option.
    content = content_image()
    r = stylize(content, style_image(), tiny(iterations=(8,), preserve_colors=True, precision="fp32"),
                progress=False)
    out = r.image.convert("YCbCr")
    ref = content.resize(r.image.size, Image.LANCZOS).convert("YCbCr")
    for band in (1, 2):  # Cb, Cr
        diff = [abs(a - b) for a, b in zip(out.getchannel(band).tobytes(), ref.getchannel(band).tobytes())]
        assert sum(diff) / len(diff) < 2.0
    # ...while the luminance did change: the style was transferred, not skipped.
    ydiff = [abs(a - b) for a, b in zip(out.getchannel(0).tobytes(), ref.getchannel(0).tobytes())]
    assert sum(ydiff) / len(ydiff) > 2.0
    plain = stylize(content, style_image(), tiny(iterations=(8,), precision="fp32"),
                    progress=False).image.convert("YCbCr")
    pdiff = [abs(a - b) for a, b in zip(plain.getchannel(1).tobytes(), ref.getchannel(1).tobytes())]
    assert sum(pdiff) / len(pdiff) > 2.0  # without the option, the style's colours come through


def test_clear_errors():
    with pytest.raises(WeightsError, match="unknown weights"):
        stylize(content_image(), style_image(), tiny(weights="no-such-weights"), progress=False)
    for bad in ("banana", "cuda:99" if not torch.cuda.is_available() else "cuda:99999"):
        with pytest.raises(RenderError, match="device") as e:
            stylize(content_image(), style_image(), tiny(device=bad), progress=False)
        assert isinstance(e.value, GalleryError)


def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys):
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    content_image().save(c)
    style_image().save(s)
    cases = [
        ([str(tmp_path / "missing.jpg"), str(s)], "content image .*missing.jpg: file not found"),
        ([str(c), str(s), "--weights", "vgg99"], "unknown weights 'vgg99'"),
        ([str(c), str(s), "--device", "quantum"], "unknown device 'quantum'"),
        ([str(c), str(s), "--size", "3"], "'size' must be at least 16"),
    ]
    for args, message in cases:
        code = main(["stylize", *args[:2], str(tmp_path / "out.png"), *args[2:], "--quiet"])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        assert err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "out.png").exists()


def test_cli_stylize_writes_image_and_record(tmp_path):
    c, s = tmp_path / "c.jpg", tmp_path / "s.png"
    content_image((90, 60)).save(c)
    style_image().save(s)
    out, rec = tmp_path / "out" / "render.png", tmp_path / "render.json"
    r = subprocess.run([sys.executable, "-m", "pipeline", "stylize", str(c), str(s), str(out),
                        "--size", "64", "--min-size", "32", "--iterations", "2,2", "--style-weight", "2", "--seed", "3",
                        "--quiet", "--record", str(rec)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout and "64x43" in r.stdout and len(r.stdout.strip().splitlines()) == 1
    assert Image.open(out).format == "PNG" and Image.open(out).size == (64, 43)
    record = json.loads(rec.read_text())
    assert record["params"]["style_weight"] == 2.0 and record["params"]["iterations"] == [2, 2]
    assert len(record["levels"]) == 2 and len(record["levels"][1]["trace"]) == 2


def test_cli_module_does_not_import_torch():
    code = ("import sys, pipeline.cli.app as c, pipeline.cli.stylize_cmd; c.build_parser();"
            "assert 'torch' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_gram_matches_the_plain_product_and_its_gradient():
    g = torch.Generator().manual_seed(3)
    f = torch.rand(1, 5, 4, 7, generator=g, dtype=torch.float64).requires_grad_(True)
    plain = f.reshape(5, 28) @ f.reshape(5, 28).T / 28
    assert torch.allclose(gram(f), plain, rtol=1e-12, atol=0)
    weight = torch.rand(5, 5, generator=g, dtype=torch.float64)  # not symmetric: both halves count
    ours, = torch.autograd.grad((gram(f) * weight).sum(), f)
    expected, = torch.autograd.grad((plain * weight).sum(), f)
    assert torch.allclose(ours, expected, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(gram, (f,))
