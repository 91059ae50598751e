"""`add content|style PATH_OR_URL...`: add images to the manifest (registered by pipeline.cli)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.options import add_config, config_words
from pipeline.cli.words import duration
from pipeline.manifest.reader import load_gallery
from pipeline.plan.planner import MissingImageError, make_plan
from pipeline.util.files import shown


def cmd_add(args: argparse.Namespace) -> int:
    from pipeline.manifest.adder import add_images  # Pillow and the YAML editor: add alone pays for them

    manifest = Path(args.config)
    added = add_images(manifest, args.role, args.sources, id=args.id, title=args.title,
                       credit=args.credit or "", link=args.link or "")
    for a in added:
        if a.already:
            print(f"{a.source}: already in {shown(manifest)} as {a.role} '{a.already}' (same sha256); "
                  f"nothing added")
            continue
        how = (f"downloaded from {a.url}" if a.url else
               f"copied from {a.copied_from}" if a.copied_from else "in place")
        print(f"added {a.role} '{a.id}' ({a.title}) at {shown(manifest)}:{a.line}: {shown(a.file)}, "
              f"{a.size[0]}x{a.size[1]}, {how}")
        for note in a.notes:
            print(f"  note: {note}")
    new = [a for a in added if not a.already]
    if not new:
        return 0
    print(_next_words(manifest, new, args.config))
    own = [shown(a.file) for a in new if not a.url]
    if own:
        print(f"publish: commit {', '.join(own)} with the manifest (an image without a url exists "
              f"nowhere else; the Pages workflow reads it from the repository)")
    print("edit the title, credit and link in the manifest as you like: they never cause a re-render")
    return 0


def _next_words(manifest: Path, new: list, config: str) -> str:
    """What will render next, and about how long it takes (or why that is not known yet)."""
    make = "make gallery" + config_words(config, make=True)
    gallery = load_gallery(manifest, check_files=False)
    ids = {a.id for a in new}
    cells = [(c, s) for c, s in gallery.cells() if c.id in ids or s.id in ids]
    names = ", ".join(f"{c.id}:{s.id}" for c, s in cells[:6]) + (", ..." if len(cells) > 6 else "")
    if not cells:
        other, what = (("style", "a painting whose manner the photos take") if new[0].role == "content"
                       else ("content", "a photo to paint in these styles"))
        if not (gallery.styles if other == "style" else gallery.contents):
            return (f"next: add {what} (`make add {other.upper()}=FILE{config_words(config, make=True)}`): "
                    f"each cell of the gallery is a content painted in the manner of a style")
        return "next: nothing new to render (every cell of the new entries is excluded)"
    try:
        plan = make_plan(gallery)
    except MissingImageError:  # other entries' images are not fetched yet: no keys, no estimate
        return f"next: `{make}` fetches the missing images and renders {len(cells)} new cells ({names})"
    todo = [c for c in plan.missing() if c.content.id in ids or c.style.id in ids]
    if not todo:
        return f"next: nothing new to render (the cells {names} are cached); `{make}` adds them to the site"
    seconds = plan.estimate_total(todo)
    return (f"next: `{make}` renders {len(todo)} new cell{'s' if len(todo) != 1 else ''} ({names}), "
            f"about {duration(seconds)}; `make status` lists them")



def register(sub) -> None:
    p = sub.add_parser(
        "add", help="add images (files, a folder, https urls) to the manifest",
        description="Add images to the manifest: each file or https url (a folder adds every image "
                    "in it) is checked, copied into my-images/ next to the manifest (committed: "
                    "your own images) or downloaded into images/ (git-ignored: fetched again from "
                    "the url), hashed, given an id from its file name, and appended to contents: or "
                    "styles:, keeping the manifest's comments and layout. Then says what will render.")
    p.add_argument("role", choices=("content", "style"),
                   help="content (a photo: a row of the gallery) or style (a painting: a column)")
    p.add_argument("sources", nargs="+", metavar="PATH_OR_URL",
                   help="an image file, a folder of images, or an https:// address")
    add_config(p)
    p.add_argument("--id", help="the entry's id (default: from the file name)")
    p.add_argument("--title", help="shown in the gallery (default: from the file name)")
    p.add_argument("--credit", help="author, date and source, shown under the image")
    p.add_argument("--link", help="a web page about the image")
    p.set_defaults(func=cmd_add)

