"""The options several commands share (--config and --image-root, --quiet, --cache, --remote,
--jobs) and how a suggested command names the manifest, so every subcommand module says them alike."""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

DEFAULT_CONFIG = "config/gallery.yaml"


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default=os.environ.get("GALLERY_CONFIG", DEFAULT_CONFIG),
                   metavar="PATH", help=f"the gallery manifest (default: {DEFAULT_CONFIG})")
    p.add_argument("--image-root", action="append", default=[], metavar="DIR",
                   help="also allow image files in DIR, outside the manifest's folder (repeatable; "
                        "GALLERY_IMAGE_ROOTS does the same for every command): the manifest itself "
                        "cannot widen where images may be read from")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars or minute-by-minute lines: one line per step")


def add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR",
                   help="use this cache folder instead of the manifest's `cache:` (e.g. one per shard)")


def add_remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--remote", metavar="URL",
                   help="the remote render cache (default: GALLERY_REMOTE, else the manifest's "
                        "`cache: remote:`; GALLERY_REMOTE=none for none)")


def add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                   help="render N cells at once, each on cores/N threads (default: make's -jN, else 1)")


def config_words(config: str, make: bool) -> str:
    """The manifest as a suggested command must name it: nothing for the default one."""
    if Path(config) == Path(DEFAULT_CONFIG):
        return ""
    return f" CONFIG={shlex.quote(str(config))}" if make else f" --config {shlex.quote(str(config))}"
