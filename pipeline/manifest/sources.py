"""Put missing image files in place: from a local mirror folder first, else from the entry's url.

Why a mirror: CI, tests and offline machines have no network. GALLERY_MIRROR names folders
(`:`-separated) searched recursively by file name, then by sha256. Every copy or download is
size-capped and written to a temporary name beside its place, and renamed into place only after
its sha256 matches and it decodes as an image, so a file that exists is whole and is never
fetched again. Only image files are written, and only inside the manifest's folder (the reader
checks each entry's place before it asks the Fetcher; pipeline.util.safepath), whatever folders
the user allows images to be read from: a manifest cannot plant a `.pth` or a git hook, or fill
any other folder.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable

from pipeline import __version__
from pipeline.util.errors import GalleryError
from pipeline.util import safepath
from pipeline.util.files import _UMASK
from pipeline.core.model import ImageEntry
from pipeline.util.hashing import file_sha256, sha256_hasher

MIRROR_ENV = "GALLERY_MIRROR"
MAX_BYTES = 100 * 1024 * 1024  # no gallery image is this large; a bigger answer is not an image


class SourceError(GalleryError):
    """An image that could not be fetched; the message names the entry, the url and the fix."""

    offline = False  # the network itself failed: do not try it again for the next image


class OfflineError(SourceError):
    offline = True


def mirror_folders() -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(MIRROR_ENV, "").split(os.pathsep) if p]


class Fetcher:
    """Fetch missing files one entry at a time, as the manifest reader meets them
    (`load_gallery(..., fetch=Fetcher())`), so that one `validate` names every problem.

    Remembers a failed network, so later entries fail at once instead of waiting again.
    `report` receives one line per file fetched (the CLI prints it).
    """

    def __init__(self, report: Callable[[str], None] | None = None, mirror: "Mirror | None" = None):
        self.mirror = mirror if mirror is not None else Mirror(mirror_folders())
        self.report = report or (lambda line: None)
        self.offline = False
        self.done: list[str] = []

    def __call__(self, entry: ImageEntry) -> None:
        try:
            how = fetch(entry, self.mirror, self.offline)
        except SourceError as e:
            self.offline = self.offline or e.offline
            raise
        line = f"{entry.id}: {how} -> {_show(entry.file)}"
        self.done.append(line)
        self.report(line)


def fetch(entry: ImageEntry, mirror: "Mirror", offline: bool = False) -> str:
    """Copy the entry's file from the mirror or download it; say how, or raise SourceError.

    offline: an earlier download found no network; fail at once instead of waiting again.
    """
    if entry.file.suffix.lower() not in safepath.IMAGE_SUFFIXES:  # never a .pth or a git hook
        raise SourceError(f"{entry.id}: {_show(entry.file)} is not fetched: only image files are "
                          f"(names ending in {', '.join(sorted(safepath.IMAGE_SUFFIXES))})")
    src = mirror.find(entry.file.name, entry.sha256)
    if src is not None:
        try:
            with open(src, "rb") as f:
                _save_verified(f, entry.file, entry.sha256, f"mirror file {src}")
        except OSError as e:
            raise SourceError(f"{entry.id}: cannot copy {src} to {_show(entry.file)}: "
                              f"{e.strerror or e}") from None
        return f"copied from mirror {src}"
    if not entry.url:
        raise SourceError(
            f"{entry.id}: {_show(entry.file)} is missing and the entry has no url: put the image "
            f"there, or add url and sha256 to entry '{entry.id}', or set {MIRROR_ENV} to a folder "
            f"that holds {entry.file.name} ({mirror.describe()})")
    try:
        if offline:
            raise OfflineError("not tried: the network failed for an earlier image")
        download(entry.url, entry.file, entry.sha256)
    except SourceError as e:
        raise type(e)(
            f"{entry.id}: cannot download {entry.url}: {e}\n"
            f"  fix: put the file (sha256 {entry.sha256}) at {_show(entry.file)}, or set "
            f"{MIRROR_ENV} to a folder that holds {entry.file.name} ({mirror.describe()})") from None
    return f"downloaded {entry.url}"


def download(url: str, dest: Path, sha256: str, max_bytes: int = MAX_BYTES) -> None:
    """Stream `url` (https only) to `dest` atomically, refusing oversize answers and sha256
    mismatches; every wait is bounded (pipeline.util.https_get, with netlimits' numbers)."""
    from pipeline.util.https_get import FetchError, https_get  # http.client, ssl: only when downloading

    if not url.startswith("https://"):
        raise SourceError("only https:// urls are downloaded")
    try:
        with https_get(url, {"User-Agent": f"style-gallery/{__version__}"}) as body:
            if body.length is not None and body.length > max_bytes:
                raise SourceError(f"the server announces {body.length} bytes, over the limit of "
                                  f"{max_bytes} bytes")
            _save_verified(body, dest, sha256, url, max_bytes)
    except FetchError as e:
        raise (OfflineError if e.offline else SourceError)(str(e)) from None


def _save_verified(stream: IO[bytes], dest: Path, sha256: str, what: str, max_bytes: int = MAX_BYTES) -> None:
    """Copy `stream` to `dest` through a temp file, renamed into place only once the sha256
    matches and the file decodes as an image; on any failure nothing is left behind."""
    from pipeline.core.images import ImageLoadError, load_rgb  # Pillow: only when something is fetched

    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    h, size = sha256_hasher(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: stream.read(1 << 16), b""):
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"{what} is over the limit of {max_bytes} bytes")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha256 and h.hexdigest() != sha256:
            raise SourceError(f"{what} has sha256 {h.hexdigest()}, not the pinned {sha256}")
        try:
            load_rgb(tmp)
        except ImageLoadError as e:
            raise SourceError(f"{what} is not a usable image ({e}); it was not saved") from None
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp made it 0600
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        for folder in created:  # deepest first: only the folders this copy made, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


class Mirror:
    """Local folders searched for image files, by name first and then by content (sha256)."""

    def __init__(self, folders: Iterable[Path]):
        self.folders = list(folders)
        self._files: list[Path] | None = None
        self._by_sha: dict[str, Path] | None = None

    def files(self) -> list[Path]:
        if self._files is None:
            self._files = []
            for folder in self.folders:
                for parent, dirs, names in os.walk(folder):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    # regular files only: opening a FIFO someone left in the mirror would block
                    self._files += [Path(parent, n) for n in sorted(names)
                                    if not n.startswith(".") and os.path.isfile(os.path.join(parent, n))]
        return self._files

    def describe(self) -> str:
        """The folders, for a message: one that is not a folder is marked (a typo in the path
        would otherwise look like a mirror without the file)."""
        if not self.folders:
            return f"{MIRROR_ENV} is not set"
        return "folders searched: " + ", ".join(
            str(f) if f.is_dir() else f"{f} (not a folder: check the path)" for f in self.folders)

    def find(self, name: str, sha256: str = "") -> Path | None:
        """A file called `name` (with the right sha256 when one is pinned), else one with that sha256."""
        for path in self.files():
            if path.name == name and (not sha256 or _sha_or_none(path) == sha256):
                return path
        if not sha256:
            return None
        if self._by_sha is None:  # hash the whole mirror once, only when a name did not match
            self._by_sha = {}
            for path in self.files():
                digest = _sha_or_none(path) if path.stat().st_size <= MAX_BYTES else None
                if digest:
                    self._by_sha.setdefault(digest, path)
        return self._by_sha.get(sha256)


def _sha_or_none(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def _show(path: Path) -> str:
    """A path relative to the working directory when it is inside it: shorter messages."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
