"""`init`: a starter manifest, commented, with no images yet, for a gallery of your own.

Where it points its site and cache: a manifest in a `config/` folder (the project's layout, which
the Pages workflow builds) writes to `../site` and `../renders` like the demo; anywhere else, the
folder is a gallery of its own, with `site/`, `renders/` and the downloads in `images/` inside it
and a `.gitignore` that keeps them out of git.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.manifest.fields import value_problem
from pipeline.manifest.reader import load_gallery
from pipeline.util.errors import GalleryError, ManifestError
from pipeline.util.files import write_text_atomic

DEFAULT_TITLE = "My Style Transfer Gallery"
SCHEMA = "gallery.schema.json"  # `make schema` writes it beside the project's manifest

_TEMPLATE = """\
{schema}# Your gallery: each photo (a content) is a row, each painting (a style) a column, and every
# photo is repainted in the manner of every painting. Paths are relative to this file.
#
#   make add CONTENT=photo.jpg{config}     a photo (or a folder of them, or an https:// address)
#   make add STYLE=painting.jpg{config}    a painting whose manner the photos take
#   make preview{config}                   every cell in seconds with the fast engine, then site/
#   make gallery{config}                   the full renders (minutes a cell)
#   make remove CONTENT=ID{config}         take an image out again
#
# `make help` lists every command; docs/manifest.md describes every key.
site:
  {title}
  description: >-
    Photographs repainted in the manner of paintings by a neural network.
{output}
  # base_url: https://gallery.example.org/   # only for a custom domain: the Pages workflow knows its own address
{cache}

render:                           # defaults for every cell; a content or style may override them
  size: 512                       # the longer side of each render, in pixels

# The photos: `make add CONTENT=...` appends each one here.
contents: []

# The paintings: `make add STYLE=...` appends each one here.
styles: []

# exclude:                        # cells not to render, e.g.
#   - {{content: grandma, style: starry-night}}
"""

_GITIGNORE = """\
# generated output and downloads of this gallery: never committed
/site/
/renders/
/images/
"""


@dataclass
class Started:
    """What `init` wrote, for the CLI's report."""

    manifest: Path
    backup: Path | None  # where the manifest it replaced went
    lock_backup: Path | None  # where that manifest's lock file went
    gitignore: Path | None  # written for a gallery in a folder of its own
    output: Path
    cache: Path


def write_starter(manifest: Path, title: str = DEFAULT_TITLE, force: bool = False,
                  make_config: str = "") -> Started:
    """Write a starter manifest at `manifest`. An existing one is refused, or with `force` moved
    to `NAME.bak` (its lock file to `NAME.lock.json.bak`, so that `prune` no longer keeps the old
    gallery's renders). `make_config` is how the comments' commands name the manifest."""
    manifest = Path(manifest)
    problem = value_problem("nonempty", "title", title)
    if problem:
        raise GalleryError(f"init: --title: {problem}")
    if manifest.is_dir():
        raise GalleryError(f"init: {manifest} is a folder: name the manifest file, e.g. {manifest / 'gallery.yaml'}")
    if manifest.exists() and not force:
        raise GalleryError(f"init: {manifest} exists already{_what_is_there(manifest)}; to start an empty "
                           f"gallery in its place, run init again with --force (`make init{make_config} ARGS=--force`; it is kept as "
                           f"{_free(manifest.with_name(manifest.name + '.bak')).name}), or name a new file "
                           f"with --config")
    folder = manifest.resolve().parent
    in_project = folder.name == "config"
    output, cache = ("../site", "../renders") if in_project else ("site", "renders")
    text = _TEMPLATE.format(
        schema=_schema_line(folder), config=make_config, title=_yaml_line("title", title),
        output=_commented(f"  output: {output}", "<repo>/site: what GitHub Pages publishes" if in_project
                          else "beside this file: the site to publish"),
        cache=_commented(f"cache: {cache}", "<repo>/renders: the render cache, one file per cell" if in_project
                         else "beside this file: the render cache, one file per cell"))
    _check(manifest, text)
    backup = lock_backup = gitignore = None
    if manifest.exists():
        backup = _free(manifest.with_name(manifest.name + ".bak"))
        os.replace(manifest, backup)
        lock = manifest.with_suffix(".lock.json")
        if lock.exists():
            lock_backup = _free(lock.with_name(lock.name + ".bak"))
            os.replace(lock, lock_backup)
    write_text_atomic(manifest, text)
    if not in_project and not (folder / ".gitignore").exists():
        gitignore = folder / ".gitignore"
        write_text_atomic(gitignore, _GITIGNORE)
    return Started(manifest, backup, lock_backup, gitignore, (folder / output).resolve(), (folder / cache).resolve())


def _what_is_there(manifest: Path) -> str:
    try:
        g = load_gallery(manifest, check_files=False)
    except (GalleryError, OSError):
        return ""
    return f" ({len(g.contents)} contents, {len(g.styles)} styles)"


def _free(path: Path) -> Path:
    """`path`, or `path.2`, `path.3`... when it exists: a backup never overwrites another."""
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


def _schema_line(folder: Path) -> str:
    """The editor's schema comment, where the project's schema lies beside the manifest."""
    return f"# yaml-language-server: $schema={SCHEMA}\n#\n" if (folder / SCHEMA).is_file() else ""


def _commented(line: str, comment: str) -> str:
    """`line` with `comment` at column 34, where the template's other comments are."""
    return f"{line:<33} # {comment}"


def _yaml_line(key: str, value: str) -> str:
    """`key: value` as YAML writes it (quoted when the value needs it)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump({key: value}, out)
    return out.getvalue().rstrip("\n")


def _check(manifest: Path, text: str) -> None:
    """The starter must validate where it will be written (a bug here must not leave a bad file)."""
    try:
        load_gallery(manifest, check_files=False, data=text.encode("utf-8"))
    except ManifestError as e:
        raise GalleryError(f"init: the starter manifest would not validate, so nothing was written:\n{e}") from None
