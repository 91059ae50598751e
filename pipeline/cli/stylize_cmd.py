"""`stylize CONTENT STYLE OUT`: render one pair without a manifest (registered by pipeline.cli).

Every render knob becomes an option generated from the PARAMS table, so the CLI, the manifest
and the cache key can never disagree on names, types or bounds. Torch is imported only when
the command runs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.cli.report import RenderProgress, mode_for
from pipeline.core.params import PARAMS, ParamError, RenderParams, unused, unused_reason
from pipeline.render.heap import keep_freed_memory
from pipeline.util.errors import GalleryError
from pipeline.util.files import write_text_atomic


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, not {text!r}")


def add_param_options(p: argparse.ArgumentParser) -> None:
    """One --option per render parameter; unset options stay None (the defaults apply)."""
    for param in PARAMS:
        flag = "--" + param.name.replace("_", "-")
        help_ = f"{param.help} (default: {param.default})"
        if param.kind == "bool":
            p.add_argument(flag, dest=param.name, action=argparse.BooleanOptionalAction, default=None,
                           help=help_)
        elif param.kind == "choice":
            p.add_argument(flag, dest=param.name, choices=param.choices, default=None, help=help_)
        elif param.kind == "int_list":
            p.add_argument(flag, dest=param.name, type=_int_list, default=None, metavar="N,N,...",
                           help=help_)
        else:
            kind = {"int": int, "float": float, "str": str}[param.kind]
            p.add_argument(flag, dest=param.name, type=kind, default=None,
                           metavar={"int": "N", "float": "X", "str": "NAME"}[param.kind], help=help_)


def params_from_args(args: argparse.Namespace) -> RenderParams:
    given = {p.name: getattr(args, p.name) for p in PARAMS if getattr(args, p.name) is not None}
    try:
        params = RenderParams.from_layers(given)
    except ParamError as e:
        raise GalleryError(f"stylize: {e}") from None
    idle = unused(given, [params])
    if idle:
        why = {n: unused_reason(n, params.engine).replace("set engine: ", "use --engine ")
               .replace("init: fast", "--init fast") for n in idle}
        raise GalleryError("\n".join(f"stylize: --{n.replace('_', '-')} does nothing with --engine "
                                     f"{params.engine}, {why[n]}" for n in idle))
    return params


def cmd_stylize(args: argparse.Namespace) -> int:
    from pipeline.core.images import ImageLoadError, load_rgb, save_atomic  # Pillow: only to render

    params = params_from_args(args)
    images = []
    for role, path in (("content", args.content), ("style", args.style)):
        try:
            images.append(load_rgb(path))
        except ImageLoadError as e:
            raise GalleryError(f"{role} image {path}: {e}") from None

    keep_freed_memory()  # this process only renders: reuse its tensors' memory (see heap.py)
    progress = RenderProgress("stylize", mode_for(not args.quiet))
    try:
        result = args.inputs.renderer(images[0], images[1], params, progress=progress)
    finally:
        progress.close()
    out = Path(args.out)
    fmt = out.suffix.lower()
    extra = {"quality": 95} if fmt in (".jpg", ".jpeg", ".webp") else {}
    try:
        save_atomic(result.image, out, **extra)
        if args.record:
            write_text_atomic(args.record, json.dumps(result.record, indent=1) + "\n")
    except OSError as e:
        raise GalleryError(f"cannot write {e.filename or out}: {e.strerror or e}") from None
    rec = result.record
    w, h = result.image.size
    if params.engine == "fast":
        print(f"{out}: {w}x{h}, engine fast, {rec['seconds']:.2f} s on the CPU ({rec['threads']} threads)")
        return 0
    print(f"{out}: {w}x{h}, {params.preset} {','.join(map(str, rec['params']['iterations']))} iterations, "
          f"{rec['seconds']:.1f} s on {rec['device']} ({rec['precision']}, {rec['threads']} threads), "
          f"objective {rec['final']['total']:.4g}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("stylize", help="render one content/style pair to an image file",
                       description="Render CONTENT in the style of STYLE and write OUT (format from "
                                   "the extension; PNG, lossless, when unknown). No manifest needed.")
    p.add_argument("content", metavar="CONTENT", help="the content image (a photo, a portrait...)")
    p.add_argument("style", metavar="STYLE", help="the style image (a painting)")
    p.add_argument("out", metavar="OUT", help="where to write the render (.png, .jpg, .webp)")
    add_param_options(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (for CI logs)")
    p.add_argument("--record", metavar="PATH.json",
                   help="also write the render's record (parameters, weights, loss trace) as JSON")
    p.set_defaults(func=cmd_stylize)
