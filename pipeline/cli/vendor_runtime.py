"""`python -m pipeline.cli.vendor_runtime TARBALL`: vendor another onnxruntime-web for the try-it
page and print the pins to paste into pipeline/site/runtime.py (a maintainer's command: see
docs/development.md, "Updating the vendored runtime")."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.site import runtime
from pipeline.util.errors import GalleryError


def main(argv: list[str] | None = None) -> int:
    """Copy the runtime's files out of the tarball into the vendor folder and print the new pins."""
    ap = argparse.ArgumentParser(prog="python -m pipeline.cli.vendor_runtime", description=main.__doc__)
    ap.add_argument("tarball", type=Path, help="onnxruntime-web-VERSION.tgz from `npm pack onnxruntime-web@VERSION`")
    args = ap.parse_args(argv)
    try:
        version = runtime.tarball_version(args.tarball)
        pins = runtime.vendor_from_tarball(args.tarball, runtime.VENDOR)
    except (GalleryError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f'VERSION = "{version}"')
    for name, sha in pins.items():
        print(f'    "{name}": "{sha}",')
    print(f"then update the version in {runtime.VENDOR / runtime.LICENSE[0]} and its pin, and run "
          "`.venv/bin/python -m pytest tests/test_tryit.py`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
