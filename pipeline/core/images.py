"""Image loading: every image enters the pipeline the same way, as 8-bit sRGB RGB.

Why one loader: renders, cache keys and web variants must agree on what an image *is*,
whatever its mode (CMYK, grey, palette, 16-bit, alpha), EXIF orientation or ICC profile.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from pipeline.util.files import atomic_writer

# Decompression-bomb guard: 64 megapixels is far above any sensible gallery input.
MAX_PIXELS = 64_000_000


class ImageLoadError(ValueError):
    """A file that is not a usable image; the message says what is wrong with it."""


def load_rgb(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open `path` and return it as an 8-bit sRGB RGB image, oriented as EXIF says."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageLoadError(
                    f"{w}x{h} is {w * h / 1e6:.0f} megapixels, over the pixel limit of "
                    f"{max_pixels / 1e6:.0f} megapixels: scale it down first")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            return normalise(im)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as e:
        # Pillow refuses huge images at open (over 2x Image.MAX_IMAGE_PIXELS) before our check runs.
        raise ImageLoadError(f"over the pixel limit of {max_pixels / 1e6:.0f} megapixels ({e}): "
                             "scale it down first") from None
    except FileNotFoundError:
        raise ImageLoadError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageLoadError("not an image Pillow can read (JPEG, PNG, WebP, TIFF, ...)") from None
    except IsADirectoryError:
        raise ImageLoadError("is a folder, not an image file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(f"cannot be decoded ({e}); the file may be truncated or corrupt") from None


def oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """The (width, height) `load_rgb` would return, read from the header alone (no decoding):
    the site plans its files and their sizes before it encodes anything."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError:
        raise ImageLoadError("file not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageLoadError(f"cannot be read ({e})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def normalise(im: Image.Image) -> Image.Image:
    """Apply EXIF orientation, convert any ICC profile to sRGB and any mode to 8-bit RGB."""
    im = ImageOps.exif_transpose(im)
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            if im.mode in ("RGBA", "LA"):
                # littlecms converts colour, not alpha: flatten first, back to the profile's mode.
                im = _flatten_alpha(im).convert(im.mode[:-1])
            im = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to treating the pixels as sRGB
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip (Pillow's convert("L") clips).
        im = im.point(lambda v: v / 257).convert("L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = _flatten_alpha(im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    im.info.pop("icc_profile", None)
    return im


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite transparent pixels onto white: a render has no alpha, and black halos look broken."""
    rgba = im.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def save_atomic(im: Image.Image, path: str | os.PathLike, format: str | None = None, **params) -> None:
    """Write an image so that readers see the old file or the whole new one, never half of it."""
    with atomic_writer(path, "wb") as f:
        im.save(f, format=format or _format_for(Path(path)), **params)


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}.get(ext, "PNG")
