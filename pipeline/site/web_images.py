"""Web image variants: AVIF, WebP and a JPEG fallback at a few widths, cached by their own key.

Why a cache of its own: encoding AVIF is the slowest step of a site build. A variant set's key is
sha256(source key + encoder settings), so a rebuild re-encodes only when the picture or the
settings change, and two machines with the same inputs produce the same bytes.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import PIL  # just the version (for keys); PIL.Image is imported when something is encoded

from pipeline.util import safepath
from pipeline.util.errors import GalleryError
from pipeline.util.files import write_text_atomic
from pipeline.util import jsonload
from pipeline.util.hashing import json_sha256

# Bump when this module changes how it encodes: every variant key changes with it.
VARIANTS_VERSION = 1

VARIANTS_FOLDER = "variants"  # inside the render cache folder
FORMATS = ("avif", "webp", "jpg")
MIME = {"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg"}


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides a variant's bytes besides the source pixels."""

    widths: tuple[int, ...] = (160, 320, 640, 1024, 1600)
    avif_quality: int = 55
    avif_speed: int = 6
    webp_quality: int = 80
    jpeg_quality: int = 85
    # A requested width this close to the source width is dropped: the source width stands in.
    near: float = 0.9

    def key_dict(self) -> dict:
        return {**asdict(self), "version": VARIANTS_VERSION, "pillow": PIL.__version__}


DEFAULT_SETTINGS = EncoderSettings()


@dataclass(frozen=True)
class Variant:
    format: str  # "avif" | "webp" | "jpg"
    width: int
    height: int
    path: Path  # the file in the variants cache
    bytes: int


@dataclass(frozen=True)
class VariantSet:
    """One source image's variants; widths ascending within each format."""

    key: str
    width: int  # the source's size: the largest variant is never bigger
    height: int
    variants: tuple[Variant, ...] = field(default_factory=tuple)

    def of(self, fmt: str) -> list[Variant]:
        return [v for v in self.variants if v.format == fmt]

    def largest(self, fmt: str = "jpg") -> Variant:
        return self.of(fmt)[-1]

    def smallest_at_least(self, width: int, fmt: str = "jpg") -> Variant:
        """The smallest variant at least `width` wide (or the largest): a sensible single `src`."""
        for v in self.of(fmt):
            if v.width >= width:
                return v
        return self.largest(fmt)


def target_widths(src_width: int, settings: EncoderSettings) -> list[int]:
    """Requested widths below the source (never upscale), then the source width itself."""
    out = [w for w in settings.widths if w < src_width * settings.near]
    return out + [src_width]


def variant_key(source_key: str, settings: EncoderSettings) -> str:
    return json_sha256({"source": source_key, "encoder": settings.key_dict()})


def make_variants(source: Path, source_key: str, cache_dir: Path,
                  settings: EncoderSettings = DEFAULT_SETTINGS,
                  size: tuple[int, int] | None = None) -> tuple[VariantSet, bool]:
    """Return (the variant set of `source`, whether it had to be encoded now).

    size: scale the source to exactly this size first (the slider's original, at its render's
    own size); `source_key` must then name the size too.

    Files live in <cache_dir>/<key[:2]>/<key>/<width>.<ext>; an index.json written last marks
    the set complete, so an interrupted encode is redone instead of trusted.
    """
    key = variant_key(source_key, settings)
    folder = variant_folder(cache_dir, key)
    index = folder / "index.json"
    cached = _read_index(index, key)
    if cached is not None:
        return cached, False

    from PIL import Image

    from pipeline.manifest.images import load_rgb, save_atomic

    im = load_rgb(source)
    if size is not None and im.size != tuple(size):
        im = im.resize(tuple(size), Image.Resampling.LANCZOS)
    src_w, src_h = im.size
    variants = []
    for width in target_widths(src_w, settings):
        height = max(1, round(src_h * width / src_w))
        scaled = im if width == src_w else im.resize((width, height), Image.Resampling.LANCZOS)
        for fmt in FORMATS:
            path = folder / f"{width}.{fmt}"
            save_atomic(scaled, path, **_encoder_args(fmt, settings))
            variants.append(Variant(fmt, width, height, path, path.stat().st_size))
    vset = VariantSet(key, src_w, src_h, tuple(sorted(variants, key=lambda v: (FORMATS.index(v.format), v.width))))
    write_text_atomic(index, json.dumps({
        "key": key, "source_key": source_key, "width": src_w, "height": src_h,
        "variants": [{"format": v.format, "width": v.width, "height": v.height, "file": v.path.name,
                      "bytes": v.bytes} for v in vset.variants],
    }, indent=1, sort_keys=True) + "\n")
    return vset, True


def variant_folder(cache_dir: Path, key: str) -> Path:
    """<cache_dir>/<key[:2]>/<key>, refused when a symlink leads it out of the cache folder (a
    committed `renders/` is input too: the build would write, and publish, where it points)."""
    folder = Path(cache_dir) / key[:2] / key
    if not safepath.inside(folder, cache_dir):
        raise GalleryError(f"{folder} leads out of {cache_dir} through a symbolic link: delete it "
                           "(the web images are made again)")
    return folder


def _variant_path(folder: Path, fmt: object, width: object) -> Path | None:
    """A variant's file, derived from its format and width: never a name read from the index."""
    if fmt not in FORMATS or isinstance(width, bool) or not isinstance(width, int) or width < 1:
        return None
    return folder / f"{width}.{fmt}"


def _encoder_args(fmt: str, s: EncoderSettings) -> dict:
    # No metadata is written (no EXIF, no ICC): pixels are sRGB, which browsers assume untagged.
    if fmt == "avif":
        return {"format": "AVIF", "quality": s.avif_quality, "speed": s.avif_speed}
    if fmt == "webp":
        return {"format": "WEBP", "quality": s.webp_quality, "method": 6}
    return {"format": "JPEG", "quality": s.jpeg_quality, "optimize": True, "progressive": True}


def _read_index(index: Path, key: str) -> VariantSet | None:
    """The cached set, or None when absent, damaged or missing a file.

    Each file is located by the set's key, format and width (an index naming another file, such
    as /proc/self/environ, is damaged), must be a regular file inside the folder, and must have
    the size the index says.
    """
    try:
        data = jsonload.loads(index.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("variants"), list):
            return None
        width, height = data.get("width"), data.get("height")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (width, height)):
            return None
        variants = []
        for v in data["variants"]:
            if not isinstance(v, dict):
                return None
            path = _variant_path(index.parent, v.get("format"), v.get("width"))
            size, h = v.get("bytes"), v.get("height")
            if path is None or v.get("file") != path.name or not isinstance(size, int) or \
                    not isinstance(h, int) or isinstance(h, bool) or h < 1:
                return None
            if path.is_symlink() or not path.is_file() or path.stat().st_size != size:
                return None
            variants.append(Variant(v["format"], v["width"], h, path, size))
        formats = {v.format for v in variants}
        if formats != set(FORMATS):
            return None
        return VariantSet(key, width, height, tuple(variants))
    except (OSError, ValueError):
        return None


def unused_sets(cache_dir: Path, used: Callable[[str], bool], stale_seconds: float = 3600) -> dict[Path, int]:
    """What `prune` may delete in the variants cache: {path: bytes}.

    Each set folder whose index names a source that `used(source_key)` says no page shows any
    more (web images of pruned renders, removed entries), a set whose index is missing or
    damaged once it is older than `stale_seconds` (an interrupted encode; a build may be
    writing a younger one), a symlink planted in place of a folder, and temp files a killed
    build left in the sets that are kept.
    """
    import re
    import time

    found: dict[Path, int] = {}
    root = Path(cache_dir)
    if not root.is_dir():
        return found
    now = time.time()
    for prefix in sorted(root.iterdir()):
        if prefix.is_symlink() or not prefix.is_dir() or not re.fullmatch(r"[0-9a-f]{2}", prefix.name):
            continue
        for folder in sorted(prefix.iterdir()):
            if folder.is_symlink():
                found[folder] = 0
                continue
            if not folder.is_dir() or not re.fullmatch(r"[0-9a-f]{64}", folder.name):
                continue
            try:
                source = jsonload.loads((folder / "index.json").read_text(encoding="utf-8"))["source_key"]
                ok = isinstance(source, str)
            except (OSError, ValueError, KeyError, TypeError):
                ok, source = False, None
            old = now - folder.lstat().st_mtime >= stale_seconds
            if (ok and not used(source)) or (not ok and old):
                found[folder] = sum(p.lstat().st_size for p in folder.iterdir())
                continue
            for p in folder.glob(".*.tmp"):
                st = p.lstat()
                if now - st.st_mtime >= stale_seconds:
                    found[p] = st.st_size
    return found


def collect(cache_root: Path, renders: set[str], images: set[str], delete: bool = False) -> dict[Path, int]:
    """`prune`'s hook into the site: the web image sets in the cache that no page shows any more
    (unused_sets) -- those of renders whose key is not in `renders` (pruned or corrupt) and of
    images whose sha256 is not in `images` -- deleted with `delete`; returns {path: bytes}. A
    set of a kind this does not know is kept."""
    def used(source_key: str) -> bool:
        kind, _, rest = source_key.partition(":")
        if kind == "render":
            return rest in renders
        if kind in ("content", "style", "before"):  # before:<content sha>:<size>: the slider's original
            return rest.partition(":")[0] in images
        return True

    found = unused_sets(variants_dir(cache_root), used)
    if delete:
        delete_sets(found)
    return found


def variants_dir(cache_root: Path) -> Path:
    return Path(cache_root) / VARIANTS_FOLDER


def delete_sets(paths: Iterable[Path]) -> None:
    """Delete what `unused_sets` found (a planted symlink is unlinked, never followed)."""
    import shutil

    for p in paths:
        if p.is_symlink() or not p.is_dir():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)
        with contextlib.suppress(OSError):
            p.parent.rmdir()  # succeeds only once emptied (a <key[:2]> folder)
