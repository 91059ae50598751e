"""The gallery model: plain, validated objects that every later stage reads (never YAML)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.core.params import RenderParams, check_value


@dataclass(frozen=True)
class ImageEntry:
    """One content or style image of the manifest, its file already resolved to an absolute path."""

    id: str
    role: Literal["content", "style"]
    title: str
    file: Path
    credit: str = ""
    link: str = ""
    url: str = ""
    sha256: str = ""
    render: dict[str, Any] = field(default_factory=dict)  # per-entry overrides (styles)
    line: int = 0  # line of the entry in the manifest, for messages


@dataclass(frozen=True)
class SiteSettings:
    title: str = "Style Transfer Gallery"
    description: str = ""
    base_url: str = ""  # absolute root for social-card links; empty means relative links only
    output: Path = Path("site")
    budget_mb: float = 800.0  # fail when the whole site would be larger (GitHub Pages: 1 GB at most)
    max_file_mb: float = 50.0  # fail when one file would be larger (GitHub Pages refuses > 100 MB)
    downloads: str = "webp"  # each render's full-size download: png | webp | avif | jpeg | none
    zip: str = "auto"  # the zips of the downloads: auto | all | style | content | off
    # Files and folders (ending in /) of the site folder a build keeps although it did not write them.
    keep: tuple[str, ...] = ("CNAME", ".well-known/")
    try_it: bool = True  # the "Try it with your photo" page (the fast engine, in the visitor's browser)
    templates: Path | None = None  # the user's templates: each file overrides the built-in one


@dataclass(frozen=True)
class RemoteSettings:
    """`cache: {remote: URL}`: a render cache every machine shares (any fsspec URL). Credentials
    never come from here: each backend reads its own environment."""

    url: str  # s3://bucket/prefix, gs://..., az://..., file:///abs/path, https://... (read-only)
    endpoint_url: str = ""  # an S3-compatible service's address (MinIO, R2)


@dataclass(frozen=True)
class Gallery:
    """The whole manifest, validated. Paths are absolute."""

    path: Path  # the manifest file
    site: SiteSettings
    render: dict[str, Any]  # gallery-wide render defaults, as written
    contents: tuple[ImageEntry, ...]
    styles: tuple[ImageEntry, ...]
    exclude: frozenset[tuple[str, str]] = frozenset()
    cache: Path = Path("renders")
    remote: RemoteSettings | None = None  # the remote render cache, if the manifest names one
    # Parameters from the command line (`--size 256 --preset draft`) over every layer of the
    # manifest: a quick look without editing it. They enter each cell's key like any parameter.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Folders the image files lie in (checked by the reader); empty means the manifest's folder.
    image_roots: tuple[Path, ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock.json")

    def content(self, id: str) -> ImageEntry:
        return next(e for e in self.contents if e.id == id)

    def style(self, id: str) -> ImageEntry:
        return next(e for e in self.styles if e.id == id)

    def cell_params(self, content: ImageEntry, style: ImageEntry) -> RenderParams:
        """Effective parameters of one cell: built-in defaults < gallery `render:` < entry overrides
        < command-line overrides."""
        return RenderParams.from_layers(self.render, content.render, style.render, self.overrides)

    def with_overrides(self, **params: Any) -> "Gallery":
        """This gallery with command-line parameters over the manifest's (None values ignored);
        raises ParamError for a bad value."""
        given = {k: check_value(k, v) for k, v in params.items() if v is not None}
        return replace(self, overrides={**self.overrides, **given}) if given else self

    def cells(self) -> list[tuple[ImageEntry, ImageEntry]]:
        """Every (content, style) pair in manifest order, excluded pairs left out."""
        return [(c, s) for c in self.contents for s in self.styles
                if (c.id, s.id) not in self.exclude]
