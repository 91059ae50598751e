"""`--size` and `--preset` on status, render, gallery, site and serve: a quick look at another
size or schedule without editing the manifest.

Overrides win over every layer of the manifest and change each cell's key like any parameter,
so previews cache apart from the real gallery and switching back renders nothing. A run with
overrides leaves the lock file alone: it records the manifest's own cells.
"""
from __future__ import annotations

import argparse
import shlex

from pipeline.core.params import PARAMS_BY_NAME, PRESETS, ParamError
from pipeline.util.errors import GalleryError

NAMES = ("size", "preset")


def add_arguments(p: argparse.ArgumentParser) -> None:
    size = PARAMS_BY_NAME["size"]
    p.add_argument("--size", type=int, metavar="PX",
                   help=f"render at this long edge ({size.minimum:g}..{size.maximum:g} px) instead of the "
                        "manifest's, for a quick look (cached apart; the lock file is left alone)")
    p.add_argument("--preset", choices=tuple(PRESETS),
                   help="use this iteration schedule instead of the manifest's (quick is quickest)")
    p.add_argument("--preview", action="store_true",
                   help="every cell with the fast engine (engine: fast): the whole gallery in seconds, "
                        "at preview quality (cached apart; the lock file is left alone)")


def apply(gallery, args: argparse.Namespace):
    """The gallery with the command line's overrides, or a GalleryError naming the option."""
    values = {n: getattr(args, n, None) for n in NAMES}
    if getattr(args, "preview", False):
        values["engine"] = "fast"
    try:
        return gallery.with_overrides(**values)
    except ParamError as e:
        raise GalleryError(f"--{str(e).split(chr(39))[1]}: {e}") from None


def words(gallery) -> str:
    """The overrides as command-line options ('--size 256 --preset draft'), '' for none."""
    return " ".join("--preview" if (k, v) == ("engine", "fast") else f"--{k} {shlex.quote(str(v))}"
                    for k, v in sorted(gallery.overrides.items()))


def note(gallery) -> str:
    return (f"preview: {words(gallery)} over the manifest's parameters; renders are cached apart and "
            f"the lock file is left as it is")
