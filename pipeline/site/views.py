"""The gallery as the templates see it: plain dicts for each picture, style and cell.

Pictures are described from their plans (pipeline.site.pictures), so building every view needs
no encoding; a render's record is read only when its page is made (`with_records`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.model import Gallery, ImageEntry
from pipeline.core.params import PARAMS_BY_NAME, RenderParams
from pipeline.plan.cache import read_record
from pipeline.site.pictures import Pictures
from pipeline.util.errors import GalleryError
from pipeline.util.hashing import file_sha256


def page_name(content_id: str, style_id: str) -> str:
    return f"{content_id}--{style_id}"


def entry_key(e: ImageEntry) -> str:
    return e.sha256 or file_sha256(e.file)


def entry_view(e: ImageEntry, pictures: Pictures) -> dict:
    return {
        "id": e.id, "role": e.role, "title": e.title, "credit": e.credit, "link": e.link,
        "url": e.url, "href": f"{e.role}/{e.id}.html",
        "picture": pictures.picture(e.role, e.id, Path(e.file), f"{e.role}:{entry_key(e)}"),
    }


def is_preview(gallery: Gallery, cell) -> bool:
    """A fast-engine render standing in for one the manifest asks of the optimiser (`make
    preview`, or a cell not rendered yet); a gallery that chooses the fast engine has none."""
    if getattr(cell.params, "engine", "") != "fast":
        return False
    return RenderParams.from_layers(gallery.render, cell.content.render, cell.style.render).engine != "fast"


def cell_view(cell, contents: dict, styles: dict, pictures: Pictures, with_records: bool = True,
              preview: bool = False, expected: bool = False) -> dict:
    """One cell: rendered (its picture, the original at the same size, its download), or a
    placeholder for a cell still to render or excluded. `expected`: a cell still to render
    counts as rendered, at the size its render will have (to predict the site's size)."""
    c, s = cell.content, cell.style
    rendered = cell.state == "cached" and Path(cell.image).is_file()
    size = None
    if expected and not rendered and cell.state == "render":
        from pipeline.core.images import oriented_size
        from pipeline.render.imageops import fit_long_edge  # torch-free: the renders' own sizing

        rendered, size = True, fit_long_edge(oriented_size(c.file), cell.params.size)
    name = page_name(c.id, s.id)
    view: dict[str, Any] = {
        "name": name, "content": contents[c.id], "style": styles[s.id],
        "state": "rendered" if rendered else ("excluded" if cell.state == "excluded" else "pending"),
        "alt": f"{c.title} in the style of {s.title}", "key": cell.key,
        "href": f"render/{name}.html" if rendered else None,
        "params": cell.params, "preview": preview,
        "picture": None, "record": None,
    }
    if rendered:
        view["picture"] = pic = pictures.picture("render", name, Path(cell.image), f"render:{cell.key}", size)
        wh = (pic["width"], pic["height"])
        # the slider's original at the render's own size, so neither side is sharper; one set per
        # picture and size, which every cell of that size shows
        view["before"] = pictures.picture("before", c.id, Path(c.file), f"before:{entry_key(c)}:{wh[0]}x{wh[1]}",
                                          size=wh)
        view["download"] = pictures.download(name, Path(cell.image), cell.key, wh)
        if with_records and size is None:
            view["record"] = read_record(Path(cell.record), cell.key)
            view["timelapse"] = pictures.timelapse(name, cell.key, view["record"])
    return view


def gallery_views(gallery: Gallery, cells: list, pictures: Pictures, with_records: bool = True,
                  expected: bool = False):
    """(contents by id, styles by id, every cell's view in the plan's order); `expected`: see cell_view."""
    contents = {e.id: entry_view(e, pictures) for e in gallery.contents}
    styles = {e.id: entry_view(e, pictures) for e in gallery.styles}
    views = [cell_view(cell, contents, styles, pictures, with_records, is_preview(gallery, cell), expected)
             for cell in cells]
    names = [v["name"] for v in views]
    if len(set(names)) != len(names):
        raise GalleryError("two cells share a page name: ids must not make '<content>--<style>' ambiguous")
    return contents, styles, views


# ---------------------------------------------------------------- what the pages say about renders

def param_rows(params: dict) -> list[dict]:
    rows = []
    for name, value in params.items():
        p = PARAMS_BY_NAME.get(name)
        rows.append({"name": name, "value": fmt(value), "help": p.help if p else ""})
    return rows


def fast_models(cells) -> dict | None:
    """The fast engine's networks, their origin and licence, when a cell uses them (as its engine
    or as the optimiser's start): the about page credits them."""
    if not any(c.params.engine == "fast" or c.params.start() == "fast" for c in cells if c.state != "excluded"):
        return None
    from pipeline.render.fast import models

    return {"origin": models.MODELS_ORIGIN, "license": models.MODELS_LICENSE, "package": models.PACKAGE_PIN,
            "files": [{"file": models.MODEL_FILES[n].rsplit("/", 1)[-1], "sha256": models.MODEL_SHA256[n]}
                      for n in sorted(models.MODEL_FILES)]}


def schedules(cells: list[dict]) -> list[dict]:
    """The pyramids the renders actually ran (from their records; the plan's for the rest),
    each with how many renders used it: the preset's schedule differs at small sizes."""
    groups: dict[tuple, list[str]] = {}
    for cell in cells:
        if cell["state"] == "excluded" or getattr(cell.get("params"), "engine", "gatys") != "gatys":
            continue  # the fast engine runs no pyramid
        levels = [(max(lv.get("size") or [0]), lv.get("iterations", 0))
                  for lv in (cell.get("record") or {}).get("levels") or [] if isinstance(lv, dict)]
        if not levels and cell.get("params") is not None:
            levels = list(cell["params"].levels())
        if levels:
            groups.setdefault(tuple(levels), []).append(cell["alt"])
    return [{"steps": [{"size": size, "iterations": its} for size, its in levels], "count": len(names),
             "total": sum(its for _, its in levels), "examples": names[:3]}
            for levels, names in sorted(groups.items(), key=lambda kv: -len(kv[1]))]


def overrides(g: Gallery) -> list[dict]:
    return [{"title": e.title, "role": e.role, "href": f"{e.role}/{e.id}.html",
             "params": [{"name": k, "value": fmt(v)} for k, v in sorted(e.render.items())]}
            for e in (*g.contents, *g.styles) if e.render]


def fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return "—" if v is None else str(v)


def device_name(device) -> str:
    """What a visitor calls the record's torch device: 'CPU', 'GPU', 'GPU (NVIDIA H100)' for
    'cuda:0 (NVIDIA H100)'; a device it does not know, as recorded."""
    if not isinstance(device, str) or not device:
        return fmt(device or None)
    kind, _, rest = device.partition(" ")
    name = {"cpu": "CPU", "cuda": "GPU", "mps": "GPU", "xpu": "GPU"}.get(kind.split(":")[0].lower())
    if name is None:
        return device
    model = rest.strip() if rest.strip().startswith("(") else ("(Apple)" if kind.startswith("mps") else "")
    return f"{name} {model}".strip()


def provenance(cell: dict) -> dict:
    """Everything the record says about how the render was made; gaps shown as such."""
    rec = cell.get("record") or {}
    params = rec.get("params") or cell["params"].effective()
    weights = rec.get("weights") or {}
    seconds = rec.get("seconds")
    levels = [{"size": "×".join(str(x) for x in (lv.get("size") or [])),
               "iterations": lv.get("iterations", "—"),
               "seconds": f"{lv['seconds']:.1f} s" if isinstance(lv.get("seconds"), (int, float)) else "—"}
              for lv in rec.get("levels") or []]
    final = rec.get("final") or {}
    return {
        "recorded": bool(rec),
        "params": param_rows(params),
        "weights_id": weights.get("id", "—"), "weights_sha256": weights.get("sha256", "—"),
        "renderer_version": fmt(rec.get("renderer_version")), "device": device_name(rec.get("device")),
        "precision": fmt(rec.get("precision")),
        "software": " · ".join(f"{k} {rec[k]}" for k in ("torch", "onnxruntime") if rec.get(k)),
        "seconds": f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "—",
        "key": cell["key"], "levels": levels,
        "final": [{"name": k, "value": f"{final[k]:.4g}"} for k in ("content", "style", "tv", "total")
                  if isinstance(final.get(k), (int, float))],
    }
