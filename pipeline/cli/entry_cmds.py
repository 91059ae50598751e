"""`init`, `remove content|style ID` and `repin content|style ID`: start a gallery of your own and
change its entries (registered by pipeline.cli). The manifest edits are pipeline.manifest's."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.options import add_config, config_words
from pipeline.manifest.remover import check_removable, remove_entry
from pipeline.manifest.starter import DEFAULT_TITLE, write_starter
from pipeline.plan.planner import make_plan
from pipeline.util.errors import GalleryError
from pipeline.util.files import shown


def cmd_init(args: argparse.Namespace) -> int:
    cw = config_words(args.config, make=True)
    started = write_starter(Path(args.config), title=args.title or DEFAULT_TITLE, force=args.force,
                            make_config=cw)
    print(f"created {shown(started.manifest)}: a gallery with no images yet; its site goes to "
          f"{shown(started.output)}, its renders to {shown(started.cache)}")
    if started.backup:
        kept = shown(started.backup) + (f" (its lock file: {shown(started.lock_backup)})"
                                        if started.lock_backup else "")
        print(f"  the manifest it replaces is kept as {kept}")
    if started.gitignore:
        print(f"  {shown(started.gitignore)} keeps the site, the renders and downloaded images out of git")
    print(f"next: `make add CONTENT=photo.jpg{cw}` and `make add STYLE=painting.jpg{cw}` (a file, a "
          f"folder or an https:// address), then `make preview{cw}`")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    manifest = Path(args.config)
    check_removable(manifest, args.role, args.id)
    before = _cached_renders(args, args.role, args.id)
    removed = remove_entry(manifest, args.role, args.id)
    e = removed.entry
    print(f"removed {e.role} '{e.id}' ({e.title}) from {shown(manifest)}")
    for content, style in removed.excludes:
        print(f"  with it: exclude {{content: {content}, style: {style}}}")
    cw = config_words(args.config, make=True)
    if removed.cells:
        names = ", ".join(f"{c}:{s}" for c, s in removed.cells[:6]) + (", ..." if len(removed.cells) > 6 else "")
        print(f"  {len(removed.cells)} cell{'s' if len(removed.cells) != 1 else ''} left the gallery: {names}")
    prune = f"`make prune{cw}` lists every render no cell uses, `make prune{cw} ARGS=--yes` deletes them"
    if before is None:
        print(f"  their renders, if any, stay in the cache until you prune them: {prune}")
    elif before[0]:
        stay = "stays" if len(before[0]) == 1 else "stay"
        print(f"  {_count(before[0], before[1])} {stay} in the cache until you prune them (adding "
              f"the image back uses them again): {prune}")
    where = "downloaded from its url, git-ignored" if e.url else "your own image"
    if removed.shared_file:
        print(f"  its image {shown(e.file)} stays: another entry uses it")
    elif e.file.exists():
        print(f"  its image {shown(e.file)} ({where}) stays on disk: delete it if nothing else uses it"
              + ("" if e.url else " (`git rm` it if you committed it)"))
    print(f"next: `make gallery{cw}` (or `make preview{cw}`) rebuilds the site without it")
    return 0


def _cached_renders(args: argparse.Namespace, role: str, entry_id: str) -> tuple[list[str], int] | None:
    """The cached renders and previews of the entry's cells, and their bytes (before it goes);
    None when they cannot be known (images not fetched, or a manifest `remove` will refuse)."""
    try:
        gallery = args.inputs.gallery(args)
        keys: dict[str, str] = {}
        for kind, g in (("render", gallery), ("preview", gallery.with_overrides(engine="fast"))):
            plan = make_plan(g)
            for c in plan.cells:
                if c.state == "cached" and (c.content if role == "content" else c.style).id == entry_id:
                    keys.setdefault(c.key, kind)
        files = plan.cache.entries()
    except (GalleryError, OSError):
        return None
    size = sum(p.stat().st_size for k in keys for p in files.get(k, []) if p.exists())
    return sorted(keys.values()), size


def _count(kinds: list[str], size: int) -> str:
    """'2 renders and 3 previews (4.1 MB)'."""
    renders, previews = kinds.count("render"), kinds.count("preview")
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((renders, "render"), (previews, "preview")) if n]
    return " and ".join(parts) + f" ({size / 1e6:.1f} MB)"


def cmd_repin(args: argparse.Namespace) -> int:
    from pipeline.manifest.repin import repin_entry  # Pillow and the YAML editor: only to edit

    done = repin_entry(Path(args.config), args.role, args.id)
    e = done.entry
    if done.old == done.new:
        print(f"{e.role} '{e.id}' is pinned to the image at {shown(e.file)} already (sha256 "
              f"{done.new[:12]}...): nothing to change")
        return 0
    was = f"sha256 {done.old[:12]}... -> {done.new[:12]}..." if done.old else f"sha256 {done.new[:12]}... (it had none)"
    print(f"repinned {e.role} '{e.id}' to the image now at {shown(e.file)} ({done.size[0]}x{done.size[1]}): {was}")
    cw = config_words(args.config, make=True)
    if done.cells:
        print(f"  its {done.cells} cell{'s' if done.cells != 1 else ''} render again with it (`make status{cw}` "
              f"says '{e.role} image changed'); `make gallery{cw}` renders them")
    return 0


def _add_entry(p) -> None:
    """The arguments naming one entry: its role and id, and the manifest."""
    p.add_argument("role", choices=("content", "style"), help="content (a row) or style (a column)")
    p.add_argument("id", metavar="ID", help="the entry's id")
    add_config(p)


def register(sub) -> None:
    p = sub.add_parser(
        "init", help="start a gallery of your own: a commented manifest with no images yet",
        description="Write a starter manifest (commented, with empty contents: and styles:) at "
                    "--config, for `add` to fill. In a config/ folder it uses the project's site/ "
                    "and renders/ (what the Pages workflow publishes); anywhere else the folder is a "
                    "gallery of its own (site/, renders/ and a .gitignore inside it). An existing "
                    "manifest is refused, or with --force kept as NAME.bak.")
    add_config(p)
    p.add_argument("--title", help="the gallery's title, shown on every page (editable later)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing manifest (moved to NAME.bak, its lock file beside it)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "remove", help="take an image out of the manifest (its renders stay until prune)",
        description="Remove a content or style entry from the manifest, with the exclude: items that "
                    "name it, keeping the manifest's comments and layout. Says which cells leave the "
                    "gallery and which cached renders are unused now (`prune` deletes them). The image "
                    "file stays on disk.")
    _add_entry(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser(
        "repin", help="accept the replaced image at an entry's file (your own images: no url)",
        description="Pin a content or style entry to the image now at its file: check that it decodes "
                    "and write its sha256 into the entry, so that a photo you replaced or retouched on "
                    "purpose is used (its cells render again). Refused for an entry with a url: the "
                    "workflow publishes the image at that address.")
    _add_entry(p)
    p.set_defaults(func=cmd_repin)
