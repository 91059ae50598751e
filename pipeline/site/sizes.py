"""The host's limits, checked before the work: every file of the site and its size, predicted
from the plan before anything is encoded, against `site.max_file_mb` (one file) and
`site.budget_mb` (the whole site; GitHub Pages publishes up to 1 GB, and refuses files over
100 MB). A site over a limit fails with advice that works: the setting to change and what it
would save, computed for this gallery.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.model import Gallery
from pipeline.util.errors import GalleryError, quote

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
    settings that shrink it would save: [(setting as written under `site:`, bytes saved, what)];
    `format_ratios`: each other download format's bytes over the chosen one's (estimates)."""

    files: dict[str, int]
    predicted: set[str] = field(default_factory=set)
    savings: list[tuple[str, int, str]] = field(default_factory=list)
    downloads: str = "png"
    format_ratios: dict[str, float] = field(default_factory=dict)  # another download format's bytes / these

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
    """'1,234 MB', '12 MB', '0.4 MB', '37 KB' (below a tenth of a MB)."""
    if size < MB // 10:
        return f"{size / 1000:.0f} KB" if size >= 10_000 else f"{size / 1000:.1f} KB"
    return f"{size / MB:,.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def check_limits(plan: SizePlan, gallery: Gallery, when: str = "predicted before encoding") -> None:
    """Raise, naming the setting that would help, when a file is over `site.max_file_mb` or the
    site over `site.budget_mb`."""
    limit = gallery.site.max_file_mb * MB
    for rel, size in plan.files.items():
        if size > limit:
            about = "about " if rel in plan.predicted else ""
            raise GalleryError(f"{rel} would be {about}{mb(size)} ({when}; nothing was written), above "
                               f"site.max_file_mb ({gallery.site.max_file_mb:g} MB; GitHub Pages refuses files "
                               f"over 100 MB): {_file_advice(rel, plan)}")
    total = plan.total
    if total > gallery.site.budget_mb * MB:
        raise GalleryError(budget_message(plan, gallery, when))


def _file_advice(rel: str, plan: SizePlan) -> str:
    """The settings that would bring one file under site.max_file_mb, each with what it would
    make of the file."""
    size = plan.files[rel]
    kind = kind_of(rel)
    if kind == "try-it page":
        return (f"the try-it page's runtime needs it: `site: try_it: false` leaves the page out (saves "
                f"{mb(_saved(plan, 'try_it: false'))}), or raise site.max_file_mb")
    if kind == "downloads":
        return ("a render is published as one download: " + "; ".join(
            [*_smaller_formats(size, plan), f"`site: downloads: none` leaves the downloads out (saves "
                                            f"{mb(_saved(plan, 'downloads: none'))} in all)"])
            + "; or raise site.max_file_mb")
    if kind == "zips":
        return ("a zip is cut into parts under site.max_file_mb, so this part holds one render too large "
                "alone: " + "; ".join([f"`site: zip: off` leaves the zips out (saves {mb(_saved(plan, 'zip: off'))}"
                                       " in all)", *_smaller_formats(size, plan)]) + "; or raise site.max_file_mb")
    if kind == "web images":
        folder, name = rel.split("/")[1], rel.split("/")[-1].rsplit("-", 2)[0]
        width = rel.rsplit("-", 1)[-1].split(".")[0]
        quarter = mb(size // 4)
        if folder in ("render", "before"):
            return (f"a render's web images are made up to the render's size ({width} px wide here): a smaller "
                    f"`render: size:` shrinks them with its square (at half the size about {quarter}; the cells "
                    f"render again), or raise site.max_file_mb")
        return (f"a picture's web images are made up to its file's size ({width} px wide here): scale the file "
                f"of {folder} {quote(name)} down (at half its width about {quarter}), or raise site.max_file_mb")
    if kind == "pages" or rel.startswith("static/"):
        return ("it is made from the templates (yours, if `site: templates:` names a folder): make it smaller "
                "there, or raise site.max_file_mb")
    return "it lists the gallery's entries: raise site.max_file_mb"


def _saved(plan: SizePlan, setting: str) -> int:
    return next((saved for s, saved, _ in plan.savings if s == setting), 0)


def _smaller_formats(size: int, plan: SizePlan) -> list[str]:
    """'`site: downloads: webp` would make it about 12 MB (an estimate)', smallest first."""
    return [f"`site: downloads: {fmt}` would make it about {mb(round(size * ratio))} (an estimate)"
            for fmt, ratio in sorted(plan.format_ratios.items(), key=lambda kv: kv[1]) if ratio < 1]


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
