"""The command line: a thin layer that wires the stages together (`python -m pipeline --help`).

`status` on a cached gallery never imports torch: the engines import it when they render.
"""
from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

from pipeline import __version__
from pipeline.cli import add_cmd, doctor_cmd, entry_cmds, plan_cmds, remote_cmds, site_cmds, stylize_cmd
from pipeline.cli.inputs import Inputs, Loader
from pipeline.cli.options import add_config, add_quiet
from pipeline.manifest import roots
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.schema import schema_json
from pipeline.publish.git import GitMissing, Repo
from pipeline.render import Renderer, stylize
from pipeline.util.errors import DISK_ERRNOS, GalleryError
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


def _prog() -> str:
    """How the user started us, for usage lines: the installed `style-gallery` command or the module."""
    return "style-gallery" if Path(sys.argv[0]).name == "style-gallery" else "python -m pipeline"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Build a static neural-style-transfer gallery from a YAML manifest.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    for module in (entry_cmds, add_cmd, stylize_cmd, plan_cmds, remote_cmds, site_cmds, doctor_cmd):
        module.register(sub)
    return parser


class _Echo(logging.Handler):
    """The library logs; the CLI prints: info to stdout, warnings and errors to stderr (looked up
    at each message, so a redirected stdout is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            print(self.format(record), file=stream, flush=True)
        except BrokenPipeError:
            pass


def setup_logging(verbose: bool = False) -> None:
    """Route the pipeline's log messages to the terminal (once per process)."""
    logger = logging.getLogger("pipeline")
    if not any(isinstance(h, _Echo) for h in logger.handlers):
        logger.addHandler(_Echo())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None, *, load: Loader | None = None,
         renderer: Renderer | None = None) -> int:
    """Run one command. `load` (as pipeline.manifest.reader.load_gallery) and `renderer` (as the
    engines' stylize) replace where the commands get their gallery and their renders: the seam
    tests and embedders use instead of patching modules."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.inputs = Inputs(load_gallery if load is None else load, stylize if renderer is None else renderer)
    setup_logging()
    try:
        with roots.given(getattr(args, "image_root", ())):
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a reader that went away is caught (below)
        return code
    except GalleryError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished cells are kept; run the command again to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `status | head`: the reader has gone, which is no error. Point stdout at /dev/null so
        # that the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in DISK_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        fix = {errno.EROFS: "the file system is read-only"}.get(e.errno, "free some space")
        print(f"error: cannot write {where}{e.strerror}: {fix} and run the command again "
              "(finished work is kept)", file=sys.stderr)
        return 1
