"""A contact sheet: each cell of a gallery in two or more settings side by side, to look at.

    python bench/contact_sheet.py [--config config/gallery.yaml] [--rows engine=fast,preset=standard]
                                  [--tile 240] [--per-row 3] [--out contact-sheets/previews.png]

Each setting is a set of command-line overrides (`engine=fast`, `preset=standard`,
`preset=quick`, `init=fast` ...; several joined by +, e.g. `preset=standard+init=fast`).
Reads the render cache only: a cell not rendered in a setting shows as a grey tile with the
command that renders it. The sheet holds renders of the gallery's images, so it goes to
contact-sheets/ (git-ignored): third-party images and renders of them are never committed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from pipeline.manifest.reader import load_gallery  # noqa: E402
from pipeline.plan.planner import make_plan  # noqa: E402

LABEL = 18  # pixels of caption above each tile


def overrides(setting: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in setting.split("+") if p]
    bad = [p[0] for p in pairs if len(p) != 2]
    if bad:
        sys.exit(f"contact_sheet: {setting!r}: write each override as NAME=VALUE")
    return dict(pairs)


def sheet(config: Path, settings: list[str], tile: int, per_row: int = 1) -> tuple[Image.Image, list[str]]:
    """The sheet, `per_row` cells a row, each cell a tile per setting; and what cells lacked."""
    gallery = load_gallery(Path(config), check_files=True)
    plans = [make_plan(gallery.with_overrides(**overrides(s))) for s in settings]
    names = [c.name for c in plans[0].cells if c.state != "excluded"]
    by_name = [{c.name: c for c in p.cells} for p in plans]
    rows = -(-len(names) // per_row)
    out = Image.new("RGB", (tile * len(settings) * per_row, (tile + LABEL) * rows), "white")
    draw = ImageDraw.Draw(out)
    missing = []
    for i, name in enumerate(names):
        row, first = divmod(i, per_row)
        for col, (setting, cells) in enumerate(zip(settings, by_name), start=first * len(settings)):
            x, y = col * tile, row * (tile + LABEL)
            cell = cells[name]
            draw.text((x + 4, y + 3), f"{name}  {setting}", fill="black")
            if cell.state == "cached":
                with Image.open(cell.image) as im:
                    im = im.convert("RGB")
                    im.thumbnail((tile, tile))
                    out.paste(im, (x + (tile - im.width) // 2, y + LABEL))
            else:
                draw.rectangle((x + 2, y + LABEL, x + tile - 3, y + LABEL + tile - 3), fill="#ddd")
                draw.text((x + 8, y + LABEL + tile // 2), "not rendered", fill="#555")
                missing.append(f"{name} ({setting})")
    return out, missing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "gallery.yaml"))
    ap.add_argument("--rows", default="engine=fast,preset=standard",
                    help="comma-separated settings, one tile each per cell (overrides joined by +)")
    ap.add_argument("--tile", type=int, default=240, help="longest edge of a tile in pixels")
    ap.add_argument("--per-row", type=int, default=3, help="cells side by side in a row of the sheet")
    ap.add_argument("--out", default=str(ROOT / "contact-sheets" / "previews.png"))
    args = ap.parse_args(argv)
    image, missing = sheet(Path(args.config), [s for s in args.rows.split(",") if s], args.tile, args.per_row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    print(f"{out}: {image.width} x {image.height} px" +
          (f"; not rendered: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
