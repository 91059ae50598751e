"""Shared fixtures: small generated images and manifests, so that no test depends on real files.

`make_gallery` writes a valid manifest with tiny PNGs into tmp_path; other stages' tests build
on it. `seed_mirror` is the folder of the six demo images (GALLERY_MIRROR, else
../shared/seed-gallery beside the repository).
"""
from __future__ import annotations

import difflib
import os
import shutil
import signal
import struct
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parent.parent

# A shell without job control starts a background job with SIGINT ignored, and every process it
# starts inherits that: a `serve` a test starts would ignore the Ctrl+C that stops it ("serve did
# not stop"). The suite gives Ctrl+C its default back, as a terminal does; children start with it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def gradient(size: tuple[int, int] = (40, 30), seed: int = 0) -> Image.Image:
    """A small RGB image with structure (a gradient, varied by seed), so resizes and renders differ."""
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([((x * 255 // max(w - 1, 1) + seed * 37) % 256, (y * 255 // max(h - 1, 1)) % 256,
                 (seed * 91 + 60) % 256) for y in range(h) for x in range(w)])
    return im


def write_image(path: Path, size: tuple[int, int] = (40, 30), seed: int = 0, **save: Any) -> Path:
    """Save a gradient image at `path` (format from the suffix), creating folders; returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    gradient(size, seed).save(path, **save)
    return path


def png_bytes(width: int, height: int, bit_depth: int = 8, colour_type: int = 2,
              rows: bytes | None = None) -> bytes:
    """A hand-built PNG: for what Pillow will not write (16-bit RGB, a header claiming a huge size).

    `rows` is the raw scanline data without filter bytes; None writes no pixel data at all.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = b""
    if rows is not None:
        stride = len(rows) // height
        idat = zlib.compress(b"".join(b"\0" + rows[i * stride:(i + 1) * stride] for i in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def linear_rgb_icc() -> bytes:
    """An ICC v2 RGB profile with sRGB primaries but linear (gamma 1.0) curves: not sRGB.

    Pixels tagged with it must come out brighter once converted to sRGB (0.5 linear is ~188/255).
    """
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"linear sRGB test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)), (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
            (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249)
              + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def lines_only(kind: str, before: str, after: str) -> list[str]:
    """The lines `after` inserts into `before` (kind "insert") or drops from it ("delete"); fails
    when any other line changed or moved, showing the diff."""
    ops = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False).get_opcodes()
    assert all(op in ("equal", kind) for op, *_ in ops), \
        "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))
    a, b = before.splitlines(), after.splitlines()
    return [line for op, i1, i2, j1, j2 in ops if op == kind for line in (b[j1:j2] if kind == "insert" else a[i1:i2])]


def dump_manifest(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def make_gallery(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a valid manifest `tmp_path/gallery.yaml` with generated PNGs; return its path.

    contents/styles: ids, or dicts of entry fields (an `id` plus overrides; `file: None` to omit
    the key). A missing image file is generated. Images go to images/<role>/<id>.png. `render`, `site`, `exclude`, `cache` and any
    `extra` top-level keys are written as given. The site and cache default to tmp_path/site and
    tmp_path/renders (paths in a manifest are relative to it).
    """
    def make(contents=("pearl",), styles=("gogh",), render=None, site=None, exclude=(),
             cache=None, extra=None, name="gallery.yaml", size=(40, 30)) -> Path:
        data: dict[str, Any] = {"site": {"title": "Test gallery", **(site or {})}}
        if render is not None:
            data["render"] = render
        if cache is not None:
            data["cache"] = cache
        seed = 0
        for role, key, items in (("content", "contents", contents), ("style", "styles", styles)):
            data[key] = []
            for item in items:
                entry = {"id": item} if isinstance(item, str) else dict(item)
                entry.setdefault("title", entry["id"].title())
                entry.setdefault("file", f"images/{role}/{entry['id']}.png")
                if entry["file"] is None:
                    del entry["file"]
                elif not (tmp_path / entry["file"]).exists():
                    write_image(tmp_path / entry["file"], size, seed)
                seed += 1
                data[key].append(entry)
        if exclude:
            data["exclude"] = [{"content": c, "style": s} for c, s in exclude]
        data.update(extra or {})
        return dump_manifest(tmp_path / name, data)

    return make


@pytest.fixture
def seed_mirror() -> Path:
    """The folder holding the six demo images (content/*.jpg, style/*.jpg); skips if absent."""
    for folder in os.environ.get("GALLERY_MIRROR", "").split(os.pathsep):
        if folder and (Path(folder) / "SOURCES.md").is_file():
            return Path(folder).resolve()
    folder = REPO.parent / "shared" / "seed-gallery"
    if not folder.is_dir():
        pytest.skip("no seed-gallery mirror: set GALLERY_MIRROR to ../shared/seed-gallery")
    return folder


@pytest.fixture
def demo_manifest(tmp_path: Path) -> Path:
    """A copy of config/gallery.yaml (and its schema) in tmp_path/config: images land there, not in the repo."""
    dest = tmp_path / "config"
    dest.mkdir()
    for name in ("gallery.yaml", "gallery.schema.json"):
        shutil.copy(REPO / "config" / name, dest / name)
    return dest / "gallery.yaml"


class Cli:
    """`python -m pipeline ARGS...` in-process: returns (exit code, stdout, stderr). `gallery`,
    once set, stands in for the manifest --config names; `renderer` renders instead of the engines."""

    def __init__(self, capsys, renderer=None):
        self.capsys, self.renderer, self.gallery = capsys, renderer, None

    def __call__(self, *args) -> tuple[int, str, str]:
        from pipeline.cli.app import main

        load = None if self.gallery is None else (lambda path, **kw: self.gallery)
        code = main([str(a) for a in args], load=load, renderer=self.renderer)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys, request) -> Cli:
    """The CLI in-process (see Cli); a test that also asks for `fake_renderer` renders with it."""
    return Cli(capsys, request.getfixturevalue("fake_renderer") if "fake_renderer" in request.fixturenames else None)


def snapshot(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Every file (size, mtime) and folder under `folder`: compare two to prove nothing was written."""
    return {str(p.relative_to(folder)): None if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def fake_renderer(monkeypatch):
    """A fast fake renderer (tests/gallery_fakes.py) to pass to the CLI's main or the runner: a
    list of the params it was called with. MAKEFLAGS is cleared so a parent `make -jN` does
    not fork workers."""
    from gallery_fakes import FakeRenderer

    monkeypatch.delenv("MAKEFLAGS", raising=False)
    return FakeRenderer()


@pytest.fixture
def demo(tmp_path):
    """The demo manifest (comments, folded text, trailing commented-out `exclude:`) with its images
    replaced by generated ones, so `add` can validate it and plan it offline."""
    config = tmp_path / "config"
    config.mkdir()
    text = (REPO / "config" / "gallery.yaml").read_text(encoding="utf-8")
    out = []
    for n, line in enumerate(text.splitlines()):
        if line.strip().startswith("url:") or line.strip().startswith("sha256:"):
            continue  # generated stand-ins have no url; their sha256 is computed by the plan
        out.append(line)
        if line.strip().startswith("file: images/"):
            write_image(config / line.split("file:")[1].strip(), (48, 36), seed=n)
    path = config / "gallery.yaml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
