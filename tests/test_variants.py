"""Web variants: formats, widths (never upscaled), colour, the cache that skips re-encoding, and
the plan of a set (its files and predicted sizes) before it is encoded."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from pipeline.site.web_images import (DEFAULT_SETTINGS, DOWNLOADS, EncoderSettings, encode_set, make_variants,
                                      plan_set, target_widths, variant_key)


def picture(path: Path, size=(300, 200), colour=(200, 30, 40)) -> Path:
    im = Image.new("RGB", size, colour)
    for x in range(0, size[0], 20):
        im.paste((20, 90, 200), (x, 0, x + 6, size[1]))
    im.save(path)
    return path


def test_widths_never_upscale():
    s = DEFAULT_SETTINGS
    assert target_widths(300, s) == [160, 300]
    assert target_widths(100, s) == [100]
    assert target_widths(650, s) == [160, 320, 650]  # 640 is within 10% of 650: the source stands in
    assert target_widths(4000, s) == [160, 320, 640, 1024, 1600, 4000]


def test_every_format_and_width_decodes_with_the_right_size(tmp_path):
    src = picture(tmp_path / "a.png")
    vset, encoded = make_variants(src, "k1", tmp_path / "cache")
    assert encoded
    assert (vset.width, vset.height) == (300, 200)
    # AVIF at every width; one JPEG (the fallback for browsers without AVIF, and social cards)
    assert [(v.format, v.width) for v in vset.variants] == [("avif", 160), ("avif", 300), ("jpg", 300)]
    for v in vset.variants:
        with Image.open(v.path) as im:
            assert im.format == {"avif": "AVIF", "webp": "WEBP", "jpg": "JPEG"}[v.format]
            assert im.size == (v.width, v.height)
            assert im.mode == "RGB"
            assert not im.info.get("icc_profile")  # untagged means sRGB to every browser


def test_colour_stays_srgb(tmp_path):
    """Every format decodes to the source's colours (profiles are handled by images.load_rgb)."""
    src = picture(tmp_path / "plain.png", size=(64, 64), colour=(200, 30, 40))
    vset, _ = make_variants(src, "plain", tmp_path / "cache")
    for v in vset.variants:
        r, g, b = Image.open(v.path).convert("RGB").getpixel((10, 32))
        assert abs(r - 200) < 12 and abs(g - 30) < 12 and abs(b - 40) < 12, v.format



def test_cache_skips_reencoding_until_source_or_settings_change(tmp_path):
    src = picture(tmp_path / "a.png")
    cache = tmp_path / "cache"
    first, encoded = make_variants(src, "k1", cache)
    assert encoded
    mtimes = [v.path.stat().st_mtime_ns for v in first.variants]
    again, encoded = make_variants(src, "k1", cache)
    assert not encoded and again == first
    assert [v.path.stat().st_mtime_ns for v in again.variants] == mtimes

    _, encoded = make_variants(src, "k2", cache)  # a new source key (the render changed)
    assert encoded
    other = replace(DEFAULT_SETTINGS, avif_quality=40)
    assert variant_key("k1", other) != variant_key("k1", DEFAULT_SETTINGS)
    vset, encoded = make_variants(src, "k1", cache, other)
    assert encoded and vset.key != first.key


def test_a_damaged_cache_entry_is_reencoded(tmp_path):
    src = picture(tmp_path / "a.png")
    cache = tmp_path / "cache"
    vset, _ = make_variants(src, "k", cache)
    vset.variants[0].path.unlink()
    again, encoded = make_variants(src, "k", cache)
    assert encoded and again.variants[0].path.is_file()


def test_encoding_is_deterministic(tmp_path):
    src = picture(tmp_path / "a.png")
    a, _ = make_variants(src, "k", tmp_path / "c1")
    b, _ = make_variants(src, "k", tmp_path / "c2")
    assert [v.path.read_bytes() for v in a.variants] == [v.path.read_bytes() for v in b.variants]


def test_settings_are_part_of_the_key():
    assert variant_key("k", EncoderSettings(widths=(100,))) != variant_key("k", EncoderSettings())


@pytest.mark.parametrize("width, expect", [(100, 160), (200, 300), (9999, 300)])
def test_smallest_at_least(tmp_path, width, expect):
    vset, _ = make_variants(picture(tmp_path / "a.png"), "k", tmp_path / "cache")
    assert vset.smallest_at_least(width, "avif").width == expect


def test_the_jpeg_fallback_is_one_width_up_to_1024(tmp_path):
    vset, _ = make_variants(picture(tmp_path / "big.png", size=(1500, 900)), "k", tmp_path / "cache")
    assert [v.width for v in vset.of("avif")] == [160, 320, 640, 1024, 1500]
    assert [v.width for v in vset.of("jpg")] == [1024]


def test_a_set_is_planned_before_it_is_encoded(tmp_path):
    """Its files, sizes and paths follow from the source's header and the settings; the
    predicted bytes are within 3x of the real ones, and encoding fills in the real ones."""
    src = picture(tmp_path / "a.png", size=(512, 340))
    cache = tmp_path / "cache"
    planned = plan_set(src, "k", cache)
    assert not planned.ready and not any(v.path.exists() for v in planned.variants)
    ready = encode_set(planned, src, cache, source_key="k")
    assert ready.ready and [(v.format, v.width, v.height, v.path) for v in ready.variants] == \
        [(v.format, v.width, v.height, v.path) for v in planned.variants]
    assert plan_set(src, "k", cache) == ready  # now read from the cache
    for p, r in zip(planned.variants, ready.variants):
        assert r.bytes == r.path.stat().st_size and 0 < p.bytes


@pytest.mark.parametrize("fmt, decoded", [("webp", "WEBP"), ("avif", "AVIF"), ("jpeg", "JPEG")])
def test_a_download_is_one_file_at_full_size(tmp_path, fmt, decoded):
    src = picture(tmp_path / "a.png", size=(700, 500))
    vset, _ = make_variants(src, "render:k", tmp_path / "cache", DOWNLOADS[fmt])
    assert [(v.width, v.height) for v in vset.variants] == [(700, 500)]
    with Image.open(vset.variants[0].path) as im:
        assert im.format == decoded and im.size == (700, 500)
