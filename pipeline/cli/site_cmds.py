"""`site` (also `build`) and `serve`: the site stage's subcommands (registered by pipeline.cli)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.util.errors import GalleryError


def cmd_build(args: argparse.Namespace) -> int:
    from pipeline.cli import overrides
    from pipeline.manifest.reader import load_gallery
    from pipeline.site.builder import build_site

    gallery = overrides.apply(load_gallery(Path(args.config), check_files=True), args)
    build_site(gallery, quiet=args.quiet)  # prints its summary line
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import functools
    import http.server  # ~50 ms of imports (email, ssl, socket) that only `serve` needs

    folder = Path(args.dir) if args.dir else _output_of(args.config)
    if not (folder / "index.html").is_file():
        raise GalleryError(f"{folder}/index.html does not exist: build the site first (`make site`)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as e:
        raise GalleryError(f"cannot listen on 127.0.0.1:{args.port} ({e.strerror}): try --port") from None
    print(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C stops)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _output_of(config: str) -> Path:
    from pipeline.manifest.reader import load_gallery

    return Path(load_gallery(Path(config), check_files=False).site.output)


def register(sub) -> None:
    from pipeline.cli import overrides
    from pipeline.cli.app import _add_config

    description = ("Write the static site (pages, web images, static assets) into site.output from the "
                   "manifest and the render cache. Cells that are not rendered yet appear as "
                   "placeholders; nothing is rendered. Social-card links need an absolute address: "
                   "site.base_url in the manifest, else the GALLERY_BASE_URL environment variable "
                   "(the Pages workflow sets it).")
    for name in ("site", "build"):  # `build`: the old name, kept for scripts; not listed
        p = sub.add_parser(name, description=description,
                           **({"help": "write site/ from the manifest and the render cache (never renders)"}
                              if name == "site" else {}))
        _add_config(p)
        p.add_argument("--quiet", "-q", action="store_true", help="only the summary line (good for CI logs)")
        overrides.add_arguments(p)
        p.set_defaults(func=cmd_build)

    p = sub.add_parser("serve", help="serve the built site on http://127.0.0.1:PORT/",
                       description="Serve the built site folder on localhost, to look at it as a visitor would.")
    _add_config(p)
    p.add_argument("--port", "-p", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--dir", metavar="FOLDER", help="serve this folder instead of the manifest's site.output")
    p.set_defaults(func=cmd_serve)
