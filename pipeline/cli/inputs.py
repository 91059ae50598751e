"""Where the commands get their gallery and their renderer: the manifest reader and the engines,
or what the caller of `main` passes instead (a test's gallery, a fake renderer).

Each command reads the manifest once, here, and hands the gallery on: the runner never reads it.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Callable

from pipeline.core.model import Gallery
from pipeline.manifest.reader import load_gallery
from pipeline.manifest.sources import Fetcher
from pipeline.render import Renderer, stylize
from pipeline.util.plain import Plain

# load(path, check_files=..., fetch=...) -> Gallery, as pipeline.manifest.reader.load_gallery
Loader = Callable[..., Gallery]


class Inputs(Plain):
    """What main() hands every command as `args.inputs`: how to read a manifest and what renders."""

    load: Loader = load_gallery
    renderer: Renderer = stylize

    def gallery(self, args: argparse.Namespace, *, check_files: bool = False,
                fetch: bool = False) -> Gallery:
        """The manifest --config names, validated; with `check_files` every image file too, and
        with `fetch` each missing one fetched as its entry is checked (one line printed per file).
        --cache, where the command has it, replaces the manifest's cache folder."""
        gallery = self.load(Path(args.config), check_files=check_files,
                            fetch=Fetcher(report=print) if fetch else None)
        cache = getattr(args, "cache", None)
        return dataclasses.replace(gallery, cache=Path(cache).resolve()) if cache else gallery
