"""The command line: a thin layer that wires the stages together (`python -m pipeline --help`).

`status` on a cached gallery never imports torch: the engines import it when they render.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from pathlib import Path

from pipeline import __version__
from pipeline.cli.inputs import Inputs, Loader
from pipeline.manifest import roots
from pipeline.manifest.reader import load_gallery
from pipeline.render import Renderer, stylize
from pipeline.util.errors import DISK_ERRNOS, GalleryError


def _prog() -> str:
    """How the user started us, for usage lines: the installed `style-gallery` command or the module."""
    return "style-gallery" if Path(sys.argv[0]).name == "style-gallery" else "python -m pipeline"


# Each command's module, imported only when that command runs (as pip loads its commands): a
# no-op `gallery` does not pay for serve's server, the manifest editors or git. The order is the
# order of `--help`'s list.
COMMANDS = {"validate": "check_cmds", "schema": "check_cmds", "init": "entry_cmds", "remove": "entry_cmds",
            "repin": "entry_cmds", "add": "add_cmd", "stylize": "stylize_cmd", "status": "plan_cmds",
            "render": "plan_cmds", "prune": "plan_cmds", "gallery": "plan_cmds", "pull": "remote_cmds",
            "push": "remote_cmds", "site": "site_cmds", "build": "site_cmds", "serve": "site_cmds",
            "doctor": "doctor_cmd"}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with every command's options, or only those of the command `argv` names
    (its module's group: the others are not imported)."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Build a static neural-style-transfer gallery from a YAML manifest.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    named = next((a for a in argv or () if not a.startswith("-")), None)
    modules = [COMMANDS[named]] if named in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"pipeline.cli.{module}").register(sub)
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
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser(argv).parse_args(argv)
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
