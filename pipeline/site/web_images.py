"""Web image variants: AVIF at a few widths, one JPEG fallback, cached by their own key; and the
full-size downloads, which are sets of one file made the same way.

Why a cache of its own: encoding AVIF is the slowest step of a site build. A variant set's key is
sha256(source key + encoder settings), so a rebuild re-encodes only when the picture or the
settings change, and two machines with the same inputs produce the same bytes.

Why plan before encoding: a set's files (formats, widths, heights, paths) follow from the source's
size and the settings alone, so the site knows every file it will publish, and about how large
each is, before it encodes anything: the host's limits are checked first (site/sizes.py).

Why AVIF and one JPEG, and no WebP: every current browser shows AVIF, which is the smallest;
the few that do not get the JPEG, which is also the picture social cards show. A WebP ladder
beside them cost more bytes than either (measured in bench/bench_growth.py).
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import PIL  # just the version (for keys); PIL.Image is imported when something is encoded

from pipeline.util.errors import GalleryError
from pipeline.util.files import write_text_atomic
from pipeline.util import jsonload
from pipeline.util.hashing import json_sha256

# Bump when this module changes how it encodes: every variant key changes with it.
VARIANTS_VERSION = 2

VARIANTS_FOLDER = "variants"  # inside the render cache folder
FORMATS = ("avif", "webp", "jpg")  # every format a set may hold, in <source> order
MIME = {"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides a set's bytes besides the source pixels."""

    widths: tuple[int, ...] = (160, 320, 640, 1024, 1600)
    formats: tuple[str, ...] = ("avif", "jpg")
    # The last format is the <img> fallback: made at one width only, the largest up to this
    # (0: at every width).
    fallback_width: int = 1024
    avif_quality: int = 55
    avif_speed: int = 8  # 6 made files 4% smaller in 3x the time (bench_growth's renders)
    avif_subsampling: str = "4:2:0"
    webp_quality: int = 80
    webp_method: int = 4  # 6 made files no smaller in 5x the time
    jpeg_quality: int = 85
    jpeg_subsampling: str = "4:2:0"
    # A requested width this close to the source width is dropped: the source width stands in.
    near: float = 0.9

    def key_dict(self) -> dict:
        return dict(_key_dict(self))

    def quality(self, fmt: str) -> int:
        return {"avif": self.avif_quality, "webp": self.webp_quality, "jpg": self.jpeg_quality}[fmt]


@functools.lru_cache(maxsize=None)
def _key_dict(settings: EncoderSettings) -> tuple:
    return tuple({**asdict(settings), "version": VARIANTS_VERSION, "pillow": PIL.__version__}.items())


@functools.lru_cache(maxsize=4096)
def _variant_key(source_key: str, settings: EncoderSettings) -> str:
    return json_sha256({"source": source_key, "encoder": settings.key_dict()})


DEFAULT_SETTINGS = EncoderSettings()

# The full-size downloads (`site.downloads`), each a set of one file at the render's own size.
# Measured on 512 px fast-engine renders against their PNG (bench_growth's pictures): WebP q95
# 0.30x the bytes (PSNR 35.4 dB), AVIF q85 4:4:4 0.21x (35.1 dB, 6x slower), JPEG q92 4:4:4
# 0.34x (35.6 dB); lossless WebP saved only 31%, so it is not offered.
DOWNLOADS = {
    "webp": EncoderSettings(widths=(), formats=("webp",), fallback_width=0, webp_quality=95),
    "avif": EncoderSettings(widths=(), formats=("avif",), fallback_width=0, avif_quality=85, avif_speed=6,
                            avif_subsampling="4:4:4"),
    "jpeg": EncoderSettings(widths=(), formats=("jpg",), fallback_width=0, jpeg_quality=92,
                            jpeg_subsampling="4:4:4"),
}

# Bytes per pixel of each format at a quality, measured on the same renders (widths 160-512 px
# pooled): what a set is predicted to weigh before it is encoded. The site calibrates these
# against the sets already in the cache (site/sizes.py).
BYTES_PER_PIXEL = {("avif", 55): 0.26, ("avif", 85): 0.46, ("jpg", 85): 0.50, ("jpg", 92): 0.75,
                   ("webp", 80): 0.38, ("webp", 95): 0.69}


def table_estimate(fmt: str, quality: int, width: int, height: int) -> int:
    """Predicted bytes of one file, from BYTES_PER_PIXEL (the nearest quality measured)."""
    measured = [(abs(q - quality), bpp) for (f, q), bpp in BYTES_PER_PIXEL.items() if f == fmt]
    bpp = min(measured)[1] if measured else 1.0
    return int(width * height * bpp) + 400  # headers


@dataclass(frozen=True)
class Variant:
    format: str  # "avif" | "webp" | "jpg"
    width: int
    height: int
    path: Path  # the file in the variants cache
    bytes: int  # exact once encoded; predicted before


@dataclass(frozen=True)
class VariantSet:
    """One source image's variants; widths ascending within each format."""

    key: str
    width: int  # the source's size: the largest variant is never bigger
    height: int
    variants: tuple[Variant, ...] = field(default_factory=tuple)
    ready: bool = True  # encoded and in the cache; False: planned, bytes predicted

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

    @property
    def bytes(self) -> int:
        return sum(v.bytes for v in self.variants)


def target_widths(src_width: int, settings: EncoderSettings) -> list[int]:
    """Requested widths below the source (never upscale), then the source width itself."""
    out = [w for w in settings.widths if w < src_width * settings.near]
    return out + [src_width]


def planned_files(src_w: int, src_h: int, settings: EncoderSettings) -> list[tuple[str, int, int]]:
    """(format, width, height) of every file of a set, in the set's order."""
    widths = target_widths(src_w, settings)
    out = []
    for fmt in sorted(settings.formats, key=FORMATS.index):
        ws = widths
        if settings.fallback_width and fmt == settings.formats[-1] and len(settings.formats) > 1:
            ws = [max([w for w in widths if w <= settings.fallback_width] or widths[:1])]
        out += [(fmt, w, max(1, round(src_h * w / src_w))) for w in ws]
    return out


def variant_key(source_key: str, settings: EncoderSettings) -> str:
    return _variant_key(source_key, settings)


Estimate = Callable[[str, int, int, int], int]  # (format, quality, width, height) -> bytes


def plan_set(source: Path, source_key: str, cache_dir: Path, settings: EncoderSettings = DEFAULT_SETTINGS,
             size: tuple[int, int] | None = None, estimate: Estimate = table_estimate,
             verify: bool = True) -> VariantSet:
    """The set of `source` as cached (ready), or as it will be once encoded (bytes predicted by
    `estimate`); reads the source's header only.

    size: scale the source to exactly this size first (the slider's original, at its render's
    own size); `source_key` must then name the size too. verify=False trusts a cached set's
    index without looking at its files (a prediction of sizes, which copies nothing).
    """
    key = variant_key(source_key, settings)
    folder = variant_folder(cache_dir, key)
    cached = _read_index(folder / "index.json", key, settings, verify)
    if cached is not None:
        return cached
    from pipeline.core.images import oriented_size

    w, h = tuple(size) if size is not None else oriented_size(source)
    return VariantSet(key, w, h, tuple(Variant(f, vw, vh, folder / f"{vw}.{f}", estimate(f, settings.quality(f), vw, vh))
                                       for f, vw, vh in planned_files(w, h, settings)), ready=False)


def encode_set(vset: VariantSet, source: Path, cache_dir: Path, settings: EncoderSettings = DEFAULT_SETTINGS,
               size: tuple[int, int] | None = None, source_key: str = "") -> VariantSet:
    """Encode a planned set into the cache; returns it ready (with its files' real sizes).

    Files live in <cache_dir>/<key[:2]>/<key>/<width>.<ext>; an index.json written last marks
    the set complete, so an interrupted encode is redone instead of trusted.
    """
    if vset.ready:
        return vset
    from PIL import Image

    from pipeline.core.images import load_rgb, save_atomic

    folder = variant_folder(cache_dir, vset.key)
    im = load_rgb(source)
    if size is not None and im.size != tuple(size):
        im = im.resize(tuple(size), Image.Resampling.LANCZOS)
    src_w, src_h = im.size
    scaled: dict[int, Image.Image] = {src_w: im}
    variants = []
    for fmt, width, height in planned_files(src_w, src_h, settings):
        if width not in scaled:
            scaled[width] = im.resize((width, height), Image.Resampling.LANCZOS)
        path = folder / f"{width}.{fmt}"
        save_atomic(scaled[width], path, **_encoder_args(fmt, settings))
        variants.append(Variant(fmt, width, height, path, path.stat().st_size))
    ready = VariantSet(vset.key, src_w, src_h, tuple(variants))
    write_text_atomic(folder / "index.json", json.dumps({
        "key": vset.key, "source_key": source_key, "width": src_w, "height": src_h,
        "variants": [{"format": v.format, "width": v.width, "height": v.height, "file": v.path.name,
                      "bytes": v.bytes} for v in ready.variants],
    }, indent=1, sort_keys=True) + "\n")
    return ready


def make_variants(source: Path, source_key: str, cache_dir: Path,
                  settings: EncoderSettings = DEFAULT_SETTINGS,
                  size: tuple[int, int] | None = None) -> tuple[VariantSet, bool]:
    """Return (the variant set of `source`, whether it had to be encoded now)."""
    vset = plan_set(source, source_key, cache_dir, settings, size)
    if vset.ready:
        return vset, False
    return encode_set(vset, source, cache_dir, settings, size, source_key), True


def variant_folder(cache_dir: Path, key: str) -> Path:
    """<cache_dir>/<key[:2]>/<key>, refused when a symlink leads it out of the cache folder (a
    committed `renders/` is input too: the build would write, and publish, where it points).
    Only the two levels below the cache folder can be links of ours to check: two lstats, not a
    realpath of the whole path (a site of thousands of images plans every set)."""
    folder = Path(cache_dir) / key[:2] / key
    if any(os.path.islink(p) for p in (folder.parent, folder)):
        raise GalleryError(f"{folder} leads out of {cache_dir} through a symbolic link: delete it "
                           "(the web images are made again)")
    return folder


def _positive(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def _encoder_args(fmt: str, s: EncoderSettings) -> dict:
    # No metadata is written (no EXIF, no ICC): pixels are sRGB, which browsers assume untagged.
    if fmt == "avif":
        return {"format": "AVIF", "quality": s.avif_quality, "speed": s.avif_speed,
                "subsampling": s.avif_subsampling, "max_threads": 1}  # the site encodes sets in parallel
    if fmt == "webp":
        return {"format": "WEBP", "quality": s.webp_quality, "method": s.webp_method}
    return {"format": "JPEG", "quality": s.jpeg_quality, "optimize": True, "progressive": True,
            "subsampling": s.jpeg_subsampling}


def _read_index(index: Path, key: str, settings: EncoderSettings, verify: bool = True) -> VariantSet | None:
    """The cached set, or None when absent, damaged or missing a file.

    Each file is located by the set's key, format and width (an index naming another file, such
    as /proc/self/environ, is damaged), must be a regular file inside the folder, and must have
    the size the index says; the set must hold exactly the files the settings make.
    """
    try:
        data = jsonload.loads(index.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("variants"), list):
            return None
        width, height = data.get("width"), data.get("height")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (width, height)):
            return None
        variants = []
        folder = index.parent
        for v in data["variants"]:
            if not isinstance(v, dict):
                return None
            fmt, w, h, size = v.get("format"), v.get("width"), v.get("height"), v.get("bytes")
            name = f"{w}.{fmt}"
            # each file derived from its format and width: never a name read from the index
            if fmt not in FORMATS or not _positive(w) or not _positive(h) or v.get("file") != name \
                    or not isinstance(size, int):
                return None
            path = folder / name
            if verify:
                st = os.lstat(path)  # one call: a symlink is not a regular file
                if not stat.S_ISREG(st.st_mode) or st.st_size != size:
                    return None
            variants.append(Variant(fmt, w, h, path, size))
        if [(v.format, v.width, v.height) for v in variants] != planned_files(width, height, settings):
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
