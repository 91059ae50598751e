"""The site stage: from the gallery, the plan's cells and the cache, write a static `site/`.

Never renders. A build plans every file first (site/assemble.py: pages from `templates/`, which
a user may edit, web images, downloads, zips), checks the host's limits against the planned
sizes before it encodes anything (site/sizes.py), encodes the images the cache lacks, then
makes only the files whose inputs changed (site/state.py) and writes only those whose bytes
differ. The output is deterministic (no timestamps, manifest order); files a previous build
wrote that this one does not produce are deleted, but only in a folder that carries our marker
file, so a mistyped `site.output` can never wipe someone's directory. Files that `site.keep`
lists (CNAME and .well-known/ by default) are kept, and the summary names every file a build
removes (output.py writes the folder).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from pipeline.core.model import Gallery
from pipeline.site import owner
from pipeline.site import state as sitestate
from pipeline.site.assemble import Output, SiteFiles, base_url
from pipeline.site.extras import Extra, default_extras
from pipeline.site.output import SiteReport, check_output, kept, remove_stale, warn_unknown_removed
from pipeline.site.sizes import SizePlan, check_limits
from pipeline.site.templating import template_dirs
from pipeline.site.web_images import DEFAULT_SETTINGS, EncoderSettings
from pipeline.util import safepath
from pipeline.util.hashing import bytes_sha256

log = logging.getLogger(__name__)


def build_site(gallery: Gallery, plan, quiet: bool = False,
               settings: EncoderSettings = DEFAULT_SETTINGS, extras: list[Extra] | None = None) -> SiteReport:
    """Write the site for `gallery` into `gallery.site.output` from `plan`'s cells, and say
    (through logging) what changed; `quiet` keeps it to the summary line. `extras`: the parts
    beside the gallery itself (default: site/extras.py's default_extras()).

    When nothing the site reads has changed since the last build and its output is intact,
    nothing is rendered or written (see site/state.py): the same result, in milliseconds.
    """
    t0 = time.monotonic()
    out = Path(gallery.site.output)
    check_output(out, gallery)
    report = SiteReport(output=out)
    say = (lambda msg: log.debug("site: %s", msg)) if quiet else (lambda msg: log.info("site: %s", msg))
    cells = list(plan.cells)
    extras = default_extras() if extras is None else extras

    with owner.owning(out, gallery.cache):  # one build of a site at a time; none while `serve` owns it
        # Fingerprint the inputs before reading them: an edit during the build shows up next time.
        dirs = template_dirs(gallery)
        state_file = sitestate.state_path(gallery.cache, out)
        fp = sitestate.fingerprint(gallery, cells, settings, dirs, base_url(gallery), extras)
        previous = sitestate.load(state_file, out)
        if not _up_to_date(out, state_file, previous, fp, gallery, report):
            taken = sitestate.now_ns()
            site = SiteFiles(gallery, cells, settings, extras=extras)
            check_limits(site.size_plan(previous), gallery)  # before any encoding
            report.encoded = site.pictures.encode_missing(say)
            if report.encoded:
                site.replan()
            outputs = site.outputs(sitestate.code_digest(dirs))
            files = _write(out, outputs, previous, site, gallery, report)
            remove_stale(out, set(outputs), report, gallery.site.keep)
            warn_unknown_removed(report, previous, gallery)
            report.placeholders = len(site.cells) - len(site.rendered)
            sitestate.save(state_file, out, fp, taken, files,
                           {"pages": report.pages, "images": report.images, "files": report.files,
                            "bytes": report.bytes, "placeholders": report.placeholders}, gallery.overrides)
    report.seconds = time.monotonic() - t0
    for w in report.warnings:
        log.warning("warning: %s", w)
    log.info("site: %s", report.summary())
    return report


def _up_to_date(out: Path, state_file: Path, state: dict | None, fp: str, gallery: Gallery,
                report: SiteReport) -> bool:
    """True (with the report filled in) when the last build read the same inputs and its files are intact."""
    if state is None or state.get("fingerprint") != fp:
        return False
    taken = sitestate.now_ns()  # before looking: what the check sees is at least this recent
    ok, refreshed = sitestate.check(out, state, lambda rel: kept(rel, gallery.site.keep))
    if not ok:
        return False
    counts = state.get("counts") or {}
    try:
        report.pages, report.images, report.files, report.bytes, report.placeholders = (
            int(counts[k]) for k in ("pages", "images", "files", "bytes", "placeholders"))
    except (KeyError, TypeError, ValueError):
        return False
    if refreshed is not None:  # some files were hashed (too young to trust, or touched): remember them
        sitestate.save(state_file, out, fp, taken, refreshed, counts, gallery.overrides)
    report.unchanged = report.files
    report.up_to_date = True
    return True


def _write(out: Path, outputs: dict[str, Output], previous: dict | None, site: SiteFiles, gallery: Gallery,
           report: SiteReport) -> dict[str, list]:
    """Make the files whose recipe changed (or whose copy in `out` is missing or edited), check the
    site's exact size, then write those whose bytes differ. Returns the new state's files."""
    old: dict[str, list] = {}
    intact: set[str] = set()
    if previous is not None:
        found = sitestate.scan(out, previous, lambda rel: kept(rel, gallery.site.keep))
        old, intact = found.refreshed or previous["files"], found.intact
    todo = [rel for rel, o in outputs.items() if not (rel in intact and old[rel][3] == o.recipe)]
    made = {rel: outputs[rel].make() for rel in todo if outputs[rel].size is None}  # pages: small
    sizes = {rel: (len(made[rel]) if rel in made else o.size if o.size is not None else old[rel][0])
             for rel, o in outputs.items()}
    plan = SizePlan(sizes, downloads=gallery.site.downloads)
    plan.savings = site.savings(plan)
    check_limits(plan, gallery, when="after encoding")

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list] = {}
    todo_set = set(todo)
    for rel, o in outputs.items():
        if rel not in todo_set:
            files[rel] = old[rel]
            report.unchanged += 1
            continue
        data = made.pop(rel) if rel in made else o.make()
        if safepath.write_under(out, rel, data):  # never through a symlink below `out`
            report.written.append(rel)
        else:
            report.unchanged += 1
        files[rel] = sitestate.entry(out, rel, bytes_sha256(data), o.recipe)
    report.files = len(outputs)
    report.bytes = sum(sizes.values())
    report.pages = sum(1 for k in outputs if k.endswith(".html") and k != "404.html")
    report.images = sum(1 for k in outputs if k.startswith("img/"))
    return files
