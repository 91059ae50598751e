"""`site` (also `build`) and `serve`: the site stage's subcommands (registered by pipeline.cli)."""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from pipeline import runner
from pipeline.cli import overrides
from pipeline.cli.options import add_config
from pipeline.site import owner
from pipeline.site.watch import watch_and_rebuild
from pipeline.util.errors import GalleryError


def cmd_build(args: argparse.Namespace) -> int:
    gallery = overrides.apply(args.inputs.gallery(args, check_files=True), args)
    runner.run(gallery, select=runner.NOTHING, build_site=True, write_lock=False,
               site_quiet=args.quiet)  # the builder logs its summary line
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Build, serve, and (unless --no-watch) rebuild on changes with live reload in the browser.
    While it runs, serve owns the site folder: other builds of it are refused (site/owner.py)."""
    if args.dir:
        return _serve(args, Path(args.dir), None)

    gallery = _load_for_serve(args)
    out = Path(gallery.site.output)
    with owner.owning(out, gallery.cache, serve=True):
        _build(gallery)
        return _serve(args, out, gallery, lambda url: owner.describe(out, gallery.cache, url))


def _serve(args: argparse.Namespace, folder: Path, gallery, listening=lambda url: None) -> int:
    import webbrowser  # these three: serve alone pays for them (http.server is 60 ms)

    from pipeline.site.server import Reloader, make_server

    watch = not args.no_watch and gallery is not None
    if not (folder / "index.html").is_file():
        raise GalleryError(f"{folder}/index.html does not exist: build the site first (`make site`)")
    reloader = Reloader() if watch else None
    try:
        server = make_server(folder, args.port, reloader)
    except OSError as e:
        raise GalleryError(f"cannot listen on 127.0.0.1:{args.port} ({e.strerror}): try --port") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    listening(url)
    how = ("; rebuilds when the manifest, an image or a template changes, and open pages reload"
           if watch else "")
    print(f"serving {folder} at {url} (Ctrl+C stops){how}", flush=True)
    threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()
    if args.open:
        webbrowser.open(url)
    stop = threading.Event()
    try:
        if watch:
            from pipeline.site.templating import template_dirs

            def rebuilt(report) -> None:
                if report.written or report.removed:
                    print(f"serve: {len(report.written)} files written, {len(report.removed)} removed; "
                          "reloading open pages", flush=True)
                    reloader.notify()

            def failed(message: str) -> None:
                print(f"serve: not rebuilt, the last good site stays up:\n{message}", file=sys.stderr, flush=True)

            watch_and_rebuild(lambda: _load_for_serve(args), _build, template_dirs, rebuilt, failed, stop,
                              first=gallery)
        else:
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if reloader is not None:
            reloader.close()
        server.shutdown()
        server.server_close()
    print("stopped", file=sys.stderr)
    return 0


def _load_for_serve(args: argparse.Namespace):
    return overrides.apply(args.inputs.gallery(args, check_files=True), args)


def _build(gallery):
    return runner.run(gallery, select=runner.NOTHING, build_site=True, write_lock=False, site_quiet=True).site


def port_number(text: str) -> int:
    """--port's type: argparse turns the ArgumentTypeError into a usage line and exit code 2."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 1 to 65535, or 0 for any free one")
    return port


def register(sub) -> None:
    description = ("Write the static site (pages, web images, static assets) into site.output from the "
                   "manifest and the render cache. Cells that are not rendered yet appear as "
                   "placeholders; nothing is rendered. Social-card links need an absolute address: "
                   "site.base_url in the manifest, else the GALLERY_BASE_URL environment variable "
                   "(the Pages workflow sets it).")
    for name in ("site", "build"):  # `build`: the old name, kept for scripts; not listed
        p = sub.add_parser(name, description=description,
                           **({"help": "write site/ from the manifest and the render cache (never renders)"}
                              if name == "site" else {}))
        add_config(p)
        p.add_argument("--quiet", "-q", action="store_true", help="only the summary line (good for CI logs)")
        overrides.add_arguments(p)
        p.set_defaults(func=cmd_build)

    p = sub.add_parser("serve", help="build and serve the site on http://127.0.0.1:PORT/, rebuilding on changes",
                       description="Build the site and serve it on localhost, to look at it as a visitor "
                                   "would. Edits to the manifest, its images or the templates, and renders "
                                   "finished in another terminal, rebuild the site and reload the open pages; "
                                   "a missing page shows the site's 404 page.")
    add_config(p)
    p.add_argument("--port", "-p", type=port_number, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--dir", metavar="FOLDER", help="serve this folder as it is instead of building the "
                                                   "manifest's site (no watching)")
    p.add_argument("--open", action="store_true", help="open the site in the default web browser")
    p.add_argument("--no-watch", action="store_true",
                   help="build once and serve, without rebuilding on changes or reloading pages")
    overrides.add_arguments(p)
    p.set_defaults(func=cmd_serve)
