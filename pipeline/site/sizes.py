"""The host's limits, checked before the work: every file of the site and its size, predicted
from the plan before anything is encoded, against `site.max_file_mb` (one file) and
`site.budget_mb` (the whole site; GitHub Pages publishes up to 1 GB, and refuses files over
100 MB). A site over a limit fails with advice that works: the setting to change and what it
would save, computed for this gallery.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.manifest.model import Gallery
from pipeline.util.errors import GalleryError

MB = 1_000_000
KINDS = ("web images", "downloads", "zips", "pages", "try-it page", "other")
PAGES_LIMIT_MB = 1000  # GitHub Pages' limit for a whole site
# Another download format's size is an estimate (bytes per pixel measured on renders, which a
# gallery's own pictures may miss by half): such a setting is called enough only with this margin.
ESTIMATE_MARGIN = 1.5


def estimated(setting: str) -> bool:
    """Whether what `setting` saves is an estimate (another download format) rather than a sum
    of files the plan knows (zip: off, downloads: none, try_it: false)."""
    return setting.startswith("downloads: ") and setting != "downloads: none"


def enough(setting: str, saved: int, over: int) -> str:
    """'enough alone', 'perhaps enough alone (an estimate)' or 'not enough alone'."""
    if saved >= over * (ESTIMATE_MARGIN if estimated(setting) else 1):
        return "enough alone"
    return "perhaps enough alone (an estimate)" if saved >= over else "not enough alone"


def kind_of(rel: str) -> str:
    if rel.startswith("img/"):
        return "web images"
    if rel.startswith("download/"):
        return "zips" if rel.endswith(".zip") else "downloads"
    if rel.startswith("try-it"):
        return "try-it page"
    if rel.endswith(".html"):
        return "pages"
    return "other"


@dataclass
class SizePlan:
    """Every file of a site with its bytes (`predicted`: the files not encoded yet), and what the
    settings that shrink it would save: [(setting as written under `site:`, bytes saved, what)]."""

    files: dict[str, int]
    predicted: set[str] = field(default_factory=set)
    savings: list[tuple[str, int, str]] = field(default_factory=list)
    downloads: str = "png"

    @property
    def total(self) -> int:
        return sum(self.files.values())

    def by_kind(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for rel, size in self.files.items():
            out[kind_of(rel)] += size
        return out

    def describe(self) -> str:
        """'web images 120 MB, downloads (WebP) 90 MB, ...': the parts that weigh anything."""
        parts = []
        for kind, size in sorted(self.by_kind().items(), key=lambda kv: -kv[1]):
            if size >= MB // 20:
                label = f"downloads ({self.downloads.upper() if self.downloads != 'webp' else 'WebP'})" \
                    if kind == "downloads" else kind
                parts.append(f"{label} {mb(size)}")
        return ", ".join(parts)


def mb(size: int) -> str:
    """'1,234 MB', '12 MB', '0.4 MB'."""
    return f"{size / MB:,.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def check_limits(plan: SizePlan, gallery: Gallery, when: str = "predicted before encoding") -> None:
    """Raise, naming the setting that would help, when a file is over `site.max_file_mb` or the
    site over `site.budget_mb`."""
    limit = gallery.site.max_file_mb * MB
    for rel, size in plan.files.items():
        if size > limit:
            about = "about " if rel in plan.predicted else ""
            raise GalleryError(f"{rel} would be {about}{size / MB:.1f} MB ({when}; nothing was written), above "
                               f"site.max_file_mb ({gallery.site.max_file_mb:g} MB; GitHub Pages refuses files "
                               f"over 100 MB): {_file_advice(rel, plan)}")
    total = plan.total
    if total > gallery.site.budget_mb * MB:
        raise GalleryError(budget_message(plan, gallery, when))


def _file_advice(rel: str, plan: SizePlan) -> str:
    kind = kind_of(rel)
    if kind == "try-it page":
        return "the try-it page's runtime needs it: raise site.max_file_mb, or set `site: try_it: false`"
    if kind == "downloads":
        better = [f"`site: downloads: {s.split(': ')[1]}`" for s, _, _ in plan.savings if s.startswith("downloads:")]
        return ("a render this large is published as one download: " + (" or ".join(better) or
                "`site: downloads: none`") + ", or raise site.max_file_mb")
    if kind == "zips":
        return "a zip holds at least one download: `site: zip: off`, or a smaller `site: downloads:` format"
    if kind == "web images":
        return "scale its source image down (web images are made at the source's size at most)"
    return "it comes from your templates folder (site.templates): make it smaller there"


def budget_message(plan: SizePlan, gallery: Gallery, when: str = "predicted before encoding") -> str:
    total, budget = plan.total, gallery.site.budget_mb * MB
    over = total - budget
    lines = [f"the site would be about {mb(total)} ({when}; nothing was written), above "
             f"site.budget_mb ({gallery.site.budget_mb:g} MB; GitHub Pages publishes sites up to "
             f"{PAGES_LIMIT_MB} MB). Its parts: {plan.describe()}."]
    # the settings that make a difference (a twentieth of the overshoot, at least), largest first
    helps = sorted((s for s in plan.savings if s[1] >= over / 20), key=lambda s: -s[1])
    if helps:
        lines.append(f"Settings that would help, under `site:` in {gallery.path.name}:")
        for setting, saved, what in helps:
            lines.append(f"  {setting:<18} saves about {mb(saved)} ({what}; {enough(setting, saved, over)})")
    lines.append(f"  or raise budget_mb (now {gallery.site.budget_mb:g}; GitHub Pages allows up to "
                 f"{PAGES_LIMIT_MB})")
    return "\n".join(lines)
