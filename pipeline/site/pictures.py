"""Every image the site publishes, planned before any is encoded: web variants of the pictures,
the renders and their "before" originals, and the renders' full-size downloads.

A picture is described to the templates (URLs, widths, its size) from its plan alone, so the
site knows every file and about how large it is before the slow part; `encode_missing` then
encodes the sets the cache lacks, several at once. An image shown by many cells (a picture's
"before" original at one size) is one set, published once.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.plan.cache import timelapse_paths
from pipeline.site.web_images import (DEFAULT_SETTINGS, DOWNLOADS, MIME, EncoderSettings, Variant, VariantSet,
                                      encode_set, plan_set, table_estimate, variants_dir)
from pipeline.util import safepath
from pipeline.util.errors import DISK_ERRNOS, GalleryError

log = logging.getLogger(__name__)

DOWNLOAD_FORMATS = ("png", *DOWNLOADS, "none")  # site.downloads
EXTENSION = {"png": "png", "webp": "webp", "avif": "avif", "jpeg": "jpg"}
LABEL = {"png": "PNG", "webp": "WebP", "avif": "AVIF", "jpeg": "JPEG"}
# A render's PNG, before it exists: bytes per pixel of bench_growth's 512 px fast-engine renders
# (2.2; the optimiser's smoother renders weigh less). Only `status`'s prediction uses it.
PNG_BYTES_PER_PIXEL = 2.2
# A render this large (long edge, px) is offered as a print: at PRINT_DPI, 1024 px is 8.7 cm.
PRINT_EDGE, PRINT_DPI = 1024, 300


@dataclass
class _Job:
    """A set to encode, with what encoding it needs."""

    kind: str  # render | content | style | before | download
    vset: VariantSet
    source: Path
    source_key: str
    settings: EncoderSettings
    size: tuple[int, int] | None


class Pictures:
    """Plans, describes and (on request) encodes the site's images; `files` maps each published
    path to its source (a cached variant, or a render to copy as is)."""

    def __init__(self, cache: Path, settings: EncoderSettings = DEFAULT_SETTINGS, downloads: str = "png",
                 verify: bool = True):
        self.cache_root = Path(cache)
        self.cache_dir = variants_dir(cache)
        self.settings = settings
        self.downloads = downloads
        self.verify = verify  # False: trust the cached sets' indexes (a prediction, which copies nothing)
        self.sets: dict[str, _Job] = {}  # variant key -> its job (ready sets too: they calibrate predictions)
        self.files: dict[str, tuple[str, str, int] | Path] = {}  # rel -> (set key, format, width) or a file to copy
        self._ratios: dict[tuple[str, str, int], float] | None = None
        self._future: dict[str, int] = {}  # rel -> predicted bytes of a render to copy that does not exist yet

    # ---------------------------------------------------------------- planning

    def _plan(self, kind: str, source: Path, source_key: str, settings: EncoderSettings,
              size: tuple[int, int] | None) -> VariantSet:
        try:
            vset = plan_set(source, source_key, self.cache_dir, settings, size, verify=self.verify)
        except (OSError, ValueError) as e:
            if getattr(e, "errno", None) in DISK_ERRNOS:
                raise
            raise GalleryError(f"cannot make web images of {source}: {e}") from None
        self.sets.setdefault(vset.key, _Job(kind, vset, Path(source), source_key, settings, size))
        return self.sets[vset.key].vset

    def picture(self, kind: str, name: str, source: Path, source_key: str,
                size: tuple[int, int] | None = None) -> dict:
        """Plan the web variants of one image and describe them for the templates."""
        vset = self._plan(kind, source, source_key, self.settings, size)
        by_format: dict[str, list[dict]] = {}
        for v in vset.variants:
            rel = f"img/{kind}/{name}-{vset.key[:10]}-{v.width}.{v.format}"
            self.files[rel] = (vset.key, v.format, v.width)
            by_format.setdefault(v.format, []).append({"url": rel, "width": v.width})
        fallback_format = self.settings.formats[-1]
        fallback = by_format[fallback_format]
        return {
            "sources": [{"type": MIME[f], "srcset": items} for f, items in by_format.items() if f != fallback_format],
            "fallback": fallback,
            "src": fallback[-1]["url"],  # for browsers without srcset or the modern formats
            "largest": fallback[-1]["url"],  # social cards: a JPEG
            "width": vset.width,
            "height": vset.height,
        }

    def download(self, name: str, image: Path, key: str, size: tuple[int, int]) -> dict | None:
        """Plan a render's full-size download in the chosen format (None when downloads are off)."""
        if self.downloads == "none":
            return None
        rel = f"download/{name}.{EXTENSION[self.downloads]}"
        if self.downloads == "png":
            self.files[rel] = Path(image)  # the render as it is in the cache
            if not Path(image).is_file():  # still to render (a prediction)
                self._future[rel] = int(size[0] * size[1] * PNG_BYTES_PER_PIXEL)
        else:
            vset = self._plan("download", image, f"render:{key}", DOWNLOADS[self.downloads],
                              None if Path(image).is_file() else tuple(size))
            v = vset.variants[0]
            self.files[rel] = (vset.key, v.format, v.width)
        # large enough to print: say how large, at a photo print's resolution
        printed = (f"{size[0] / PRINT_DPI * 2.54:.0f} × {size[1] / PRINT_DPI * 2.54:.0f} cm at {PRINT_DPI} dpi"
                   if max(size) >= PRINT_EDGE else "")
        return {"href": rel, "format": LABEL[self.downloads], "width": size[0], "height": size[1], "print": printed}

    def timelapse(self, name: str, key: str, record: dict | None) -> dict | None:
        """Plan a render's time-lapse (its animation and still, copied as they are in the cache)
        when its record names them and the files are there at the sizes it gives; else None."""
        want = (record or {}).get("timelapse")
        if not want:
            return None
        anim, still = timelapse_paths(self.cache_root, key)
        for path, size in ((anim, want["bytes"]), (still, want["still_bytes"])):
            try:
                st = os.lstat(path)
            except OSError:
                return None
            if not stat.S_ISREG(st.st_mode) or st.st_size != size or not safepath.inside(path, self.cache_root):
                log.warning("%s is not the time-lapse its record describes: not published", path)
                return None
        from PIL import Image  # a page's build reads records: not the cost of a prediction

        try:
            with Image.open(anim) as im:
                width, height = im.size
        except (OSError, ValueError) as e:
            log.warning("%s cannot be read (%s): not published", anim, e)
            return None
        rel, still_rel = (f"timelapse/{name}-{want['sha256'][:10]}.webp",
                          f"timelapse/{name}-{want['still_sha256'][:10]}-still.webp")
        self.files[rel], self.files[still_rel] = anim, still
        return {"href": rel, "still": still_rel, "bytes": want["bytes"], "width": width, "height": height,
                "frames": len(record.get("frames") or [])}

    # ---------------------------------------------------------------- sizes

    def size(self, rel: str) -> int:
        """A published image's bytes: exact when encoded (or copied), else predicted."""
        src = self.files[rel]
        if isinstance(src, Path):
            return self._future[rel] if rel in self._future else src.stat().st_size
        job, v = self._variant(src)
        return v.bytes if job.vset.ready else self._predict(job, v)

    def _variant(self, src: tuple[str, str, int]) -> tuple[_Job, Variant]:
        key, fmt, width = src
        job = self.sets[key]
        return job, next(v for v in job.vset.variants if v.format == fmt and v.width == width)

    def _predict(self, job: _Job, v: Variant) -> int:
        """Bytes per pixel of the same kind, format and quality among the sets already encoded
        (at least 3 of them), else the measured table's."""
        if self._ratios is None:
            sums: dict[tuple[str, str, int], list[int]] = {}
            for j in self.sets.values():
                if j.vset.ready:
                    for w in j.vset.variants:
                        s = sums.setdefault((j.kind, w.format, j.settings.quality(w.format)), [0, 0, 0])
                        s[0] += w.bytes
                        s[1] += w.width * w.height
                        s[2] += 1
            self._ratios = {k: b / px for k, (b, px, n) in sums.items() if n >= 3 and px}
        ratio = self._ratios.get((job.kind, v.format, job.settings.quality(v.format)))
        if ratio is None:
            return table_estimate(v.format, job.settings.quality(v.format), v.width, v.height)
        return int(ratio * v.width * v.height)

    def ready(self, rel: str) -> bool:
        """Whether a published image's bytes exist (encoded, or a file copied as is)."""
        src = self.files[rel]
        return rel not in self._future if isinstance(src, Path) else self.sets[src[0]].vset.ready

    def to_encode(self) -> list[_Job]:
        return [j for j in self.sets.values() if not j.vset.ready]

    # ---------------------------------------------------------------- encoding

    def encode_missing(self, say=log.info, workers: int | None = None) -> int:
        """Encode every planned set the cache lacks, `workers` at once (default: one a core);
        returns how many were encoded."""
        jobs = self.to_encode()
        if not jobs:
            return 0
        workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
        say(f"encoding {len(jobs)} image set{'s' if len(jobs) != 1 else ''} ({workers} at once)")
        t0 = last = time.monotonic()
        done = 0
        with ThreadPoolExecutor(workers) as pool:  # Pillow's encoders release the GIL
            for job, ready in zip(jobs, pool.map(self._encode, jobs)):
                job.vset = ready
                done += 1
                now = time.monotonic()
                if now - last >= 10 and done < len(jobs):
                    left = (now - t0) / done * (len(jobs) - done)
                    say(f"encoded {done} of {len(jobs)} image sets, about {_duration(left)} left")
                    last = now
        self._ratios = None
        return done

    def _encode(self, job: _Job) -> VariantSet:
        try:
            return encode_set(job.vset, job.source, self.cache_dir, job.settings, job.size, job.source_key)
        except (OSError, ValueError) as e:
            if getattr(e, "errno", None) in DISK_ERRNOS:
                raise
            raise GalleryError(f"cannot make web images of {job.source}: {e}") from None

    def source_path(self, rel: str) -> Path:
        """The file a published image is copied from (encoded sets only)."""
        src = self.files[rel]
        return src if isinstance(src, Path) else self._variant(src)[1].path


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
