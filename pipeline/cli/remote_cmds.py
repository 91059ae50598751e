"""`pull` and `push`: move renders between the local cache and the remote render cache.

`render` and `gallery` already pull what the remote has and push each new render; these are for
explicit use: fill a new machine's cache before going offline, send renders made before a remote
was configured, or finish a push that a network failure cut short.
"""
from __future__ import annotations

import argparse

from pipeline import runner
from pipeline.cli.options import add_config, add_quiet
from pipeline.cli.report import RunView
from pipeline.cli.words import display
from pipeline.plugins import remote as remote_cache
from pipeline.plan.remote import describe, remote_for
from pipeline.util.errors import GalleryError


def open_remote(gallery, url: str | None = None):
    """The gallery's remote (--remote, GALLERY_REMOTE, or `cache: remote:`), or a clear error."""
    remote = remote_for(gallery, url)
    if remote is None:
        raise GalleryError(f"{display(gallery.path)}: no remote render cache: add "
                           "`cache: {path: ..., remote: s3://bucket/prefix}` to the manifest, set "
                           "GALLERY_REMOTE, or pass --remote URL")
    return remote


def cmd_pull(args: argparse.Namespace) -> int:
    gallery = args.inputs.gallery(args)
    remote = open_remote(gallery, args.remote)
    plan = runner.plan(gallery)
    missing = plan.missing()
    names = {c.key: c.name for c in missing}
    have = remote.which(names)
    keys = [c.key for c in missing if c.key in have]
    with RunView("pull", quiet=args.quiet) as view:
        report = remote_cache.transfer(remote, "pull", keys, plan.cache, jobs=args.jobs, on_event=view)
        for line in describe(report, lambda k: names.get(k, k[:12])):
            print(line)
        plan.refresh(report.done)
        if report.done:
            runner.sync_lock_file(plan, view)
    left = len(plan.missing())
    print(f"{display(gallery.path)}: {plan.counts()['cached']} cells cached, "
          f"{left} still to render" + (f" ({len(missing) - len(keys)} not on the remote)" if left else ""))
    return 0 if report.ok else 1


def cmd_push(args: argparse.Namespace) -> int:
    gallery = args.inputs.gallery(args)
    remote = open_remote(gallery, args.remote)
    if remote.read_only:
        raise GalleryError(f"remote {remote.display}: {remote.protocol}:// is read-only; push to an s3://, "
                           "gs://, az:// or file:// remote (--remote URL)")
    plan = runner.plan(gallery)
    cached = [c for c in plan.cells if c.state == "cached"]
    names = {c.key: c.name for c in reversed(cached)}
    keys = list(dict.fromkeys(c.key for c in cached))
    if args.all:  # every complete entry of the cache, this manifest's or not
        keys += sorted(k for k in plan.cache.entries() if k not in names and plan.cache.has(k))
    with RunView("push", quiet=args.quiet) as view:
        report = remote_cache.transfer(remote, "push", keys, plan.cache, jobs=args.jobs, on_event=view)
    for line in describe(report, lambda k: names.get(k, k[:12])):
        print(line)
    return 0 if report.ok else 1


def register(sub) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        add_config(p)
        add_quiet(p)
        p.add_argument("--remote", metavar="URL",
                       help="the remote render cache (default: GALLERY_REMOTE, else the manifest's "
                            "`cache: remote:`), e.g. s3://bucket/renders or file:///mnt/renders")
        p.add_argument("--cache", metavar="DIR", help="use this cache folder instead of the manifest's")
        p.add_argument("--jobs", "-j", type=int, default=8, metavar="N",
                       help="transfers at once (default: 8)")

    p = sub.add_parser("pull", help="copy the missing cells' renders from the remote render cache",
                       description="Copy every missing cell that the remote render cache has into the "
                                   "local cache (each image checked against its record's sha256 first; a "
                                   "damaged one is reported and left out), then update the lock file.")
    common(p)
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("push", help="copy the cached cells' renders to the remote render cache",
                       description="Copy every cached cell of the manifest to the remote render cache "
                                   "(image first, record last; what the remote has is skipped). Safe "
                                   "to run on many machines at once and to run again after a failure.")
    common(p)
    p.add_argument("--all", action="store_true",
                   help="push every complete entry of the cache, not only this manifest's cells")
    p.set_defaults(func=cmd_push)
