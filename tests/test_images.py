"""load_rgb: every kind of input image comes out as 8-bit sRGB RGB, the right way up."""
from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from conftest import gradient, linear_rgb_icc, png_bytes
from pipeline.core.images import MAX_PIXELS, ImageLoadError, load_rgb, save_atomic


def close(a, b, tol=6):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_rgb_png_round_trip(tmp_path):
    path = tmp_path / "a.png"
    gradient((20, 10)).save(path)
    im = load_rgb(path)
    assert (im.mode, im.size) == ("RGB", (20, 10))
    assert im.tobytes() == gradient((20, 10)).tobytes()


def test_exif_orientation_applied(tmp_path):
    # Stored 40x20, left half red, right half blue; orientation 6 = rotate 90 degrees clockwise.
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif, quality=95)
    out = load_rgb(path)
    assert out.size == (20, 40)
    assert close(out.getpixel((10, 5)), (255, 0, 0), 30)  # what was left is now on top
    assert close(out.getpixel((10, 35)), (0, 0, 255), 30)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path, quality=95)  # pure cyan
    out = load_rgb(path)
    assert out.mode == "RGB"
    assert close(out.getpixel((8, 8)), (0, 255, 255), 10)


def test_greyscale(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (8, 8), 100).save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (100, 100, 100)


def test_palette_with_transparency_goes_on_white(tmp_path):
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 255, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((0, 0), 1)
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)  # palette index 0 (green) is transparent
    out = load_rgb(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((4, 4)) == (255, 255, 255)


def test_alpha_flattened_onto_white(tmp_path):
    path = tmp_path / "rgba.png"
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    im.putpixel((1, 1), (0, 0, 255, 255))
    im.save(path)
    out = load_rgb(path)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 1)) == (0, 0, 255)


def test_grey_with_alpha(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (8, 8), (0, 128)).save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and close(out.getpixel((0, 0)), (127, 127, 127), 2)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "grey16.png"
    path.write_bytes(png_bytes(4, 2, 16, 0, struct.pack(">8H", *[32896] * 8)))  # 0x8080 ~ 50 %
    assert Image.open(path).mode.startswith("I")
    out = load_rgb(path)
    assert out.mode == "RGB" and close(out.getpixel((0, 0)), (128, 128, 128), 1)


def test_sixteen_bit_rgb_becomes_eight_bit(tmp_path):
    path = tmp_path / "rgb16.png"
    path.write_bytes(png_bytes(2, 1, 16, 2, struct.pack(">6H", 65535, 0, 32896, 0, 65535, 0)))
    out = load_rgb(path)
    assert out.mode == "RGB"
    assert close(out.getpixel((0, 0)), (255, 0, 128), 1)
    assert close(out.getpixel((1, 0)), (0, 255, 0), 1)


def test_icc_profile_converted_to_srgb(tmp_path):
    path = tmp_path / "linear.png"
    Image.new("RGB", (4, 4), (128, 128, 128)).save(path, icc_profile=linear_rgb_icc())
    out = load_rgb(path)
    # 0.5 in linear light is about 0.735 in sRGB: the pixels must move, not be read as sRGB.
    assert close(out.getpixel((0, 0)), (188, 188, 188), 3)
    assert "icc_profile" not in out.info


def test_srgb_profile_is_a_no_op(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "srgb.png"
    Image.new("RGB", (4, 4), (128, 64, 200)).save(path, icc_profile=srgb)
    assert close(load_rgb(path).getpixel((0, 0)), (128, 64, 200), 2)


def test_broken_icc_profile_is_ignored(tmp_path):
    path = tmp_path / "broken.png"
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path, icc_profile=b"not a profile")
    assert load_rgb(path).getpixel((0, 0)) == (10, 20, 30)


def test_truncated_jpeg(tmp_path):
    data = io.BytesIO()
    gradient((64, 64)).save(data, "JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb(path)


def test_truncated_png(tmp_path):
    data = io.BytesIO()
    gradient((64, 64)).save(data, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_rgb(path)


@pytest.mark.parametrize("side", [9000, 20000])  # over our limit; over Pillow's own bomb limit
def test_decompression_bomb_refused_without_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(side, side))  # the header claims it, no pixel data follows
    assert side * side > MAX_PIXELS
    with pytest.raises(ImageLoadError, match="pixel limit"):
        load_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_rgb(tmp_path / "nope.png")


def test_save_atomic_writes_whole_file(tmp_path):
    path = tmp_path / "out" / "a.webp"
    save_atomic(gradient(), path)
    assert Image.open(path).format == "WEBP"
    assert [p.name for p in path.parent.iterdir()] == ["a.webp"]
