"""`status`, `render`, `prune` and `gallery`: the plan's commands, thin wrappers of pipeline.runner.

Torch is imported only when a cell actually renders, so every command on a fully cached
gallery stays fast.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pipeline import runner
from pipeline.cli import options, overrides, summary
from pipeline.cli.report import RunView
from pipeline.cli.words import display as _display, estimate_words as _estimate_words, human_bytes as _human_bytes
from pipeline.plan.estimate import default_pace
from pipeline.plan.remote import RemoteError, remote_for
from pipeline.plan.shards import parse_shard, read_plan_file, shard_count
from pipeline.render import threads
from pipeline.util.errors import GalleryError


# ---- commands

def _status_json(plan, remote=None, on_remote: set[str] = frozenset(),
                 shard_seconds: float = 10800, max_shards: int = 16) -> dict[str, Any]:
    """What a scheduler needs: per missing cell its key, estimated seconds and whether the
    remote has it, plus how many shards of about `shard_seconds` the rest needs."""
    g = plan.gallery
    cells = []
    for c in plan.cells:
        d = {"content": c.content.id, "style": c.style.id, "cell": c.name, "state": c.state,
             "reasons": list(c.reasons), "key": c.key, "image": str(c.image), "record": str(c.record)}
        if c.corrupt:
            d["corrupt"] = c.corrupt
        if c.state == "render":
            d["estimated_seconds"] = round(plan.estimate_seconds(c), 1)
            if remote is not None:
                d["on_remote"] = c.key in on_remote
        cells.append(d)
    missing = plan.missing()
    here = [round(plan.estimate_seconds(c), 1) for c in missing if c.key not in on_remote]
    return {"manifest": str(g.path), "cache": str(plan.cache.root), "lock_file": str(g.lock_path),
            "remote": remote.display if remote is not None else None,
            "counts": plan.counts(), "to_render": len(missing),
            "on_remote": len(missing) - len(here),
            "estimated_seconds": round(sum(plan.estimate_seconds(c) for c in missing), 1),
            "shard_seconds": shard_seconds, "shards": shard_count(here, shard_seconds, max_shards),
            "cells": cells}


def _on_remote(plan, url: str | None) -> tuple[Any, set[str]]:
    """(the remote or None, the missing cells' keys it has); a remote that does not answer is
    reported and counted as having nothing."""
    missing = plan.missing()
    remote = remote_for(plan.gallery, url)
    if remote is None or not missing:
        return remote, set()
    try:
        return remote, remote.which(c.key for c in missing)
    except RemoteError as e:
        print(f"note: {e}; showing every missing cell as to render", file=sys.stderr)
        return remote, set()


def _gallery(args: argparse.Namespace):
    """The manifest with --cache and --size/--preset applied (image files not checked)."""
    return overrides.apply(args.inputs.gallery(args), args)


def cmd_status(args: argparse.Namespace) -> int:
    plan = runner.plan(_gallery(args))
    counts = plan.counts()
    missing = plan.missing()
    remote, on_remote = _on_remote(plan, args.remote)
    if args.json:
        print(json.dumps(_status_json(plan, remote, on_remote, args.shard_seconds, args.max_shards),
                         indent=2))
        return 0
    g = plan.gallery
    if g.overrides:
        print(overrides.note(g))
    print(f"{_display(g.path)}: {len(g.contents)} contents x {len(g.styles)} styles = {len(plan.cells)} cells: "
          f"{counts['cached']} cached, {counts['render']} to render, {counts['excluded']} excluded")
    for line in summary.status_lines(plan, on_remote, every=args.all):
        print(line)
    if on_remote:
        print(f"on the remote: {len(on_remote)} of the {len(missing)} missing cells ({remote.display}); "
              f"`render` and `gallery` pull them, `pull` fetches them now")
        missing = [c for c in missing if c.key not in on_remote]
    elif remote is not None and missing:
        print(f"on the remote: none of the {len(missing)} missing cells ({remote.display})")
    if missing:
        known = len(plan.timed_renders())
        cpu = {"bf16": "a measured CPU with native bf16", "fp32": "a measured CPU in fp32"}[
            default_pace(missing[0].params)[0]]
        if all(c.params.engine == "fast" for c in missing):
            cpu = "the fast engine on a measured CPU"
        basis = (f"from {known} earlier render{'s' if known != 1 else ''}" if known
                 else f"at the pace of {cpu}; the first render measures this machine's")
        print(f"to render: {len(missing)} cell{'s' if len(missing) != 1 else ''}, "
              f"{_estimate_words(plan, missing)} of rendering ({basis})")
    else:
        print("nothing to render")
    with contextlib.suppress(GalleryError, OSError):  # a prediction: never in the way of status
        print(summary.site_line(g, plan.cells))
    if missing:
        cfg = options.config_words(args.config, make=True) + "".join(
            f" {k.upper()}={v}" for k, v in sorted(g.overrides.items()))
        print(f"next: `make gallery{cfg}` renders them (`make -j2 gallery{cfg}`: two at a time)")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    report = runner.prune(runner.plan(args.inputs.gallery(args)), delete=args.yes)
    plan, entries, variants = report.plan, report.entries.garbage, report.web_images
    for lock, shared in report.kept_for.items():
        print(f"kept: {shared} entr{'ies' if shared != 1 else 'y'} that {_display(lock)} "
              "(another manifest's lock file) names")
    if not entries and not variants:
        print(f"{_display(plan.cache.root)}: nothing to prune (every entry is used by a cell of "
              f"{_display(plan.gallery.path)})")
        return 0
    rendered = {c.name for c in plan.cells if c.state == "cached"}
    for line in summary.prune_lines(entries, rendered, every=args.all):
        print(line)
    if entries:
        n, corrupt = len(entries), any(g.corrupt for g in entries)
        print(f"{n} cache entr{'ies' if n != 1 else 'y'} no cell uses{' or corrupt' if corrupt else ''}, "
              f"{_human_bytes(sum(g.bytes for g in entries))} in {_display(plan.cache.root)}")
    if variants:
        sets = sum(1 for p in variants if not p.name.endswith(".tmp"))
        tmps = len(variants) - sets
        print(f"{sets} web image set{'s' if sets != 1 else ''} no page uses"
              + (f" and {tmps} interrupted write{'s' if tmps != 1 else ''}" if tmps else "")
              + f", {_human_bytes(sum(variants.values()))} in {_display(plan.cache.root / 'variants')}")
    if not args.yes:
        again = ("make prune" + options.config_words(args.config, make=True) + " ARGS=--yes"
                 if os.environ.get("MAKELEVEL") else
                 "python -m pipeline prune --yes" + options.config_words(args.config, make=False))
        print(f"nothing deleted: run `{again}` to delete them (renders of another manifest that "
              "uses this cache are kept only if its lock file lies beside this one)")
        return 0
    for key in report.entries.busy:
        print(f"  {key[:12]}: being rendered right now; kept")
    deleted = report.entries.deleted
    print(f"deleted {deleted} entr{'ies' if deleted != 1 else 'y'}"
          + (f" and {len(variants)} web image file{'s' if len(variants) != 1 else ''} or sets" if variants else ""))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    gallery = _gallery(args)
    preview = bool(gallery.overrides)  # a quick look: the lock file keeps the manifest's cells
    if preview and not args.cell:
        print(overrides.note(gallery))
    if args.plan and not args.shard:
        raise GalleryError("--plan FILE goes with --shard K/N: it says which cells the shards split")
    select = runner.MISSING
    if args.cell:
        select = _one_cell(gallery, args.cell)
    elif args.shard:
        k, n = parse_shard(args.shard)
        select = runner.Shard(k, n, read_plan_file(Path(args.plan)) if args.plan else None, args.plan)
    with RunView("cell" if args.cell else "render", quiet=args.quiet) as view:
        # shards leave the lock file alone: the run after the merge writes it
        runner.run(gallery, select=select, write_lock=not (args.shard or preview),
                   renderer=args.inputs.renderer, remote=args.remote,
                   jobs=args.jobs or threads.jobs_from_make(), on_event=view)
    return 0


def _one_cell(gallery, name: str) -> runner.OneCell:
    """--cell CONTENT:STYLE, checked against the gallery."""
    content_id, _, style_id = name.partition(":")
    if not any(e.id == content_id for e in gallery.contents) or not any(e.id == style_id for e in gallery.styles):
        raise GalleryError(f"--cell {name}: no such cell in {gallery.path}; want CONTENT:STYLE "
                           f"with contents {', '.join(e.id for e in gallery.contents)} and styles "
                           f"{', '.join(e.id for e in gallery.styles)}")
    if (content_id, style_id) in gallery.exclude:
        raise GalleryError(f"--cell {name}: excluded in {gallery.path} (`exclude:`); remove it "
                           f"from there to render it")
    return runner.OneCell(content_id, style_id)


def cmd_gallery(args: argparse.Namespace) -> int:
    gallery = overrides.apply(args.inputs.gallery(args, check_files=True, fetch=not args.no_fetch), args)
    if gallery.overrides:
        print(overrides.note(gallery))
    with RunView("gallery", quiet=args.quiet) as view:
        runner.run(gallery, build_site=True, write_lock=not gallery.overrides,  # a preview leaves it alone
                   renderer=args.inputs.renderer, remote=args.remote,
                   jobs=args.jobs or threads.jobs_from_make(), on_event=view, site_quiet=args.quiet)
    return 0


def register(sub) -> None:
    p = sub.add_parser("status", help="what is cached, what must render and why",
                       description="Count the cells cached, to render (and why: new content or style, "
                                   "image changed, parameters changed, weights or renderer version "
                                   "changed) and excluded, list those not cached (--all: every cell), "
                                   "estimate the time to render them and the size of the site.")
    options.add_config(p)
    p.add_argument("--all", action="store_true",
                   help=f"list every cell (by default: counts, then the first {summary.SHOWN} cells not cached)")
    p.add_argument("--json", action="store_true",
                   help="print the same as JSON, with each cell's key, output paths and estimated "
                        "seconds, whether the remote has it, and how many shards the rest needs")
    p.add_argument("--shard-seconds", type=float, default=10800, metavar="S",
                   help="--json's \"shards\": about this many seconds of rendering per shard (default 3 h)")
    p.add_argument("--max-shards", type=int, default=16, metavar="N",
                   help="--json's \"shards\": at most this many (default 16)")
    options.add_cache(p)
    options.add_remote(p)
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("render", help="render the missing cells, then update the lock file",
                       description="Render what `status` says is missing, one cell at a time, into the "
                                   "cache; then update the lock file. Safe to interrupt and to run "
                                   "twice at once: finished cells are kept, cells are never rendered twice.")
    options.add_config(p)
    options.add_quiet(p)
    p.add_argument("--shard", metavar="K/N",
                   help="render only the K-th of N shards of the missing cells, balanced by estimated "
                        "time (split across machines; merge by copying the cache folders or through "
                        "the remote; the lock file is left to the run after)")
    p.add_argument("--plan", metavar="FILE",
                   help="with --shard: split the cells that this `status --json` output (written once, "
                        "before the shards start) says must render, by its estimates")
    p.add_argument("--cell", metavar="CONTENT:STYLE", help="render just this cell")
    options.add_cache(p)
    options.add_remote(p)
    options.add_jobs(p)
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("prune", help="list cache entries no cell uses; delete them with --yes",
                       description="List renders in the cache that no current cell uses (removed "
                                   "entries, old parameters, excluded cells, interrupted writes).")
    options.add_config(p)
    p.add_argument("--yes", action="store_true", help="delete them (without it, only list)")
    p.add_argument("--all", action="store_true",
                   help=f"list every entry (by default: counts, then the first {summary.SHOWN})")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("gallery", help="validate, fetch, render what is missing, build the site",
                       description="Everything in one process: check the manifest, fetch missing "
                                   "images, render missing cells, update the lock file, build site/.")
    options.add_config(p)
    options.add_quiet(p)
    p.add_argument("--no-fetch", action="store_true",
                   help="do not look for or download missing image files (they must be in place)")
    options.add_cache(p)
    options.add_remote(p)
    options.add_jobs(p)
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_gallery)
