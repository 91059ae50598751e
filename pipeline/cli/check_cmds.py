"""`validate` and `schema`: the manifest checked, and its JSON Schema."""
from __future__ import annotations

import argparse
import sys

from pipeline.cli.options import add_config, add_quiet
from pipeline.manifest.schema import schema_json
from pipeline.publish.git import GitMissing, Repo
from pipeline.util.files import write_text_atomic


def cmd_validate(args: argparse.Namespace) -> int:
    # One pass: each missing file is fetched as its entry is checked, so a fetch failure, a
    # typo and a wrong sha256 in different entries are all reported in the same run.
    fetch = not args.no_fetch
    gallery = args.inputs.gallery(args, check_files=fetch, fetch=fetch)
    for warning in _unpublished(gallery):
        print(f"warning: {warning}", file=sys.stderr)
    n = len(gallery.cells())
    # The grid only: which cells the cache already holds is `status`'s to say (it reads the cache).
    print(f"{args.config}: valid: {len(gallery.contents)} contents x {len(gallery.styles)} styles "
          f"= {n} cell{'s' if n != 1 else ''} ({len(gallery.exclude)} excluded)")
    return 0


def _unpublished(gallery) -> list[str]:
    """Entries without a url whose file git ignores: they exist only on this machine, so the
    Pages workflow (a fresh checkout) would fail on them. Silent outside a git work tree
    (`doctor` says everything a repository lacks for Pages)."""

    local = [e for e in gallery.contents + gallery.styles if not e.url]
    try:
        repo = Repo(gallery.root) if local else None
    except GitMissing:
        return []
    if repo is None or repo.top is None:
        return []
    local = [e for e in local if repo.inside(e.file)]
    ignored = repo.ignored([repo.rel(e.file) for e in local])
    return [f"{gallery.path}:{e.line}: {e.role} '{e.id}': {e.file} has no url and git ignores it, so "
            f"it exists only on this machine and the Pages workflow will not have it: move it into "
            f"my-images/ beside the manifest (`make add {e.role.upper()}=...` does) and commit it, "
            f"or give the entry a url and sha256" for e in local if repo.rel(e.file) in ignored]


def cmd_schema(args: argparse.Namespace) -> int:
    text = schema_json()
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate", help="check the manifest and fetch missing images",
                       description="Check the manifest (every problem, with file, line and entry) "
                                   "and fetch images that are missing but have a url.")
    add_config(p)
    add_quiet(p)
    p.add_argument("--no-fetch", action="store_true",
                   help="check the manifest only: do not look for or download image files")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the manifest's JSON Schema",
                       description="Print the JSON Schema of the manifest (for editor completion).")
    p.add_argument("--output", "-o", metavar="PATH", help="write it to PATH instead of stdout")
    p.set_defaults(func=cmd_schema)
