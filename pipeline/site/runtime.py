"""The browser runtime of the try-it page: onnxruntime-web, vendored and pinned.

Why vendored: `make gallery` must work on a fresh clone with no Node and no network, and a
site must load nothing from a CDN. So the three files the WebAssembly backend needs (one
thread, no WebGPU) are copied from the npm package into vendor/onnxruntime-web/ with the
licence, pinned here by version and sha256, and checked before each copy into a site.

To refresh the copy (docs/development.md, "Updating the vendored runtime"): `npm pack onnxruntime-web@VERSION`
(or download the tarball from the registry), then
`python -m pipeline.cli.vendor_runtime onnxruntime-web-VERSION.tgz`, which copies the files and
prints the lines to paste into VERSION and FILES below.
"""
from __future__ import annotations

import logging
import tarfile
from pathlib import Path

from pipeline.util import jsonload
from pipeline.util.errors import GalleryError
from pipeline.util.hashing import bytes_sha256

log = logging.getLogger(__name__)

VERSION = "1.30.0"
VENDOR = Path(__file__).resolve().parent / "vendor" / "onnxruntime-web"
# name in vendor/ -> sha256. The module, its WebAssembly glue and binary, as in the package's dist/.
FILES: dict[str, str] = {
    "ort.wasm.min.mjs": "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
}
LICENSE = ("LICENSE", "36bcb1ecd4404ba395b83d98518a12863dac8b412fa38b23f9698bc8019f3e94")
MODULE, GLUE, WASM = FILES  # the roles the page's script gives them
REFRESH = "refresh the copy from the npm package: see docs/development.md, 'Updating the vendored runtime'"


def identity() -> dict:
    """What identifies the runtime a site ships (for the page and its tests)."""
    return {"package": f"onnxruntime-web@{VERSION}", "files": dict(FILES)}


def runtime_files() -> dict[str, bytes]:
    """Each vendored file's bytes (the licence included), refused unless its sha256 is pinned."""
    out = {}
    for name, sha in (*FILES.items(), LICENSE):
        path = VENDOR / name
        try:
            data = path.read_bytes()
        except OSError as e:
            raise GalleryError(f"{path}: the try-it page's runtime cannot be read ({e.strerror or e}); "
                               f"restore it from git (`git checkout -- {path.name}`) or {REFRESH}, "
                               f"or set `site: try_it: false`") from None
        digest = bytes_sha256(data)
        if digest != sha:
            raise GalleryError(f"{path}: sha256 {digest} is not the pinned {sha} (onnxruntime-web "
                               f"{VERSION}, pipeline/site/runtime.py): the copy is corrupt or was "
                               f"replaced without updating the pins; {REFRESH}")
        out[name] = data
    return out


def vendor_from_tarball(tarball: Path, dest: Path = VENDOR) -> dict[str, str]:
    """Copy the runtime's files out of an npm tarball of onnxruntime-web into `dest`;
    returns {name: sha256} for FILES. The licence is ours to keep (the package has none)."""
    found = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for name in FILES:
            try:
                member = tar.getmember(f"package/dist/{name}")
            except KeyError:
                raise GalleryError(f"{tarball}: no package/dist/{name}; is it an onnxruntime-web "
                                   f"tarball (npm pack onnxruntime-web@VERSION)?") from None
            data = tar.extractfile(member).read()
            (dest / name).write_bytes(data)
            found[name] = bytes_sha256(data)
    log.info("copied %d files from %s into %s", len(found), tarball, dest)
    return found


def tarball_version(tarball: Path) -> str:
    """The onnxruntime-web version an npm tarball holds (its package/package.json)."""
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            member = tar.extractfile("package/package.json")
            version = jsonload.loads(member.read().decode("utf-8"))["version"]
        except (KeyError, AttributeError, ValueError, TypeError):
            raise GalleryError(f"{tarball}: no version in package/package.json; is it an onnxruntime-web "
                               f"tarball (npm pack onnxruntime-web@VERSION)?") from None
    if not isinstance(version, str) or not version:
        raise GalleryError(f"{tarball}: package/package.json's version is not a string")
    return version
