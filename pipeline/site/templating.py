"""The site's templates: the user's folder (site.templates) over the built-in set, and a
template mistake turned into an error that names the template file and line."""
from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.model import Gallery
from pipeline.util.errors import GalleryError

if TYPE_CHECKING:
    import jinja2  # imported when pages are rendered: a build with nothing to do never needs it


def _builtin_templates() -> Path:
    """templates/ at the top of a checkout; in an installed wheel, pipeline/templates (package data)."""
    package = Path(__file__).resolve().parent.parent
    checkout = package.parent / "templates"
    return checkout if (checkout / "base.html").is_file() else package / "templates"


BUILTIN_TEMPLATES = _builtin_templates()


def template_dirs(gallery: Gallery) -> list[Path]:
    """The user's template folder first (site.templates, if set), the built-in set as fallback."""
    user = gallery.site.templates
    if user is not None and not Path(user).is_dir():
        raise GalleryError(f"site.templates: {user} is not a folder")
    return ([Path(user)] if user is not None else []) + [BUILTIN_TEMPLATES]


def environment(gallery: Gallery) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(gallery)]),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["srcset"] = lambda items, root: ", ".join(f"{root}{i['url']} {i['width']}w" for i in items)
    # variants at most `width` wide (thumbnails), the smallest when none is; None keeps them all
    env.filters["upto"] = lambda items, width: (items if width is None else
                                                [i for i in items if i["width"] <= width] or items[:1])
    return env


def render_template(env: jinja2.Environment, name: str, ctx: dict) -> str:
    """Render a template; any template mistake becomes a GalleryError naming file and line."""
    import jinja2

    try:
        return env.get_template(name).render(ctx)
    except jinja2.TemplateSyntaxError as e:
        raise GalleryError(f"{e.filename or e.name}:{e.lineno}: template syntax error: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise GalleryError(f"template {e.name} not found in {', '.join(map(str, _loader_dirs(env)))}") from None
    except Exception as e:  # noqa: BLE001 - an error inside a user-editable template, any kind
        where = _template_frame(e, env)
        raise GalleryError(f"{where}: template error while writing {name}: {type(e).__name__}: {e}") from None


def _loader_dirs(env: jinja2.Environment) -> list[str]:
    return list(getattr(env.loader, "searchpath", []))


def _template_frame(e: BaseException, env: jinja2.Environment) -> str:
    """file:line of the innermost traceback frame inside a template folder (Jinja maps them)."""
    dirs = [os.path.realpath(d) for d in _loader_dirs(env)]
    where = "template"
    for fr in traceback.extract_tb(e.__traceback__):
        if any(os.path.realpath(fr.filename).startswith(d + os.sep) for d in dirs):
            where = f"{fr.filename}:{fr.lineno}"
    return where
