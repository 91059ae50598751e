"""The manifest's keys: what each one holds, and how a text value is checked.

The reader validates a manifest with these tables; pipeline.manifest.schema publishes the same
tables as JSON Schema, so an editor and the reader never disagree about a key.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from pipeline.core.params import PARAMS_BY_NAME
from pipeline.util import site_url
from pipeline.util.errors import quote
from pipeline.util.urls import ENDPOINT_PATTERN, REMOTE_PATTERN  # noqa: F401 - the schema publishes them
from pipeline.util.urls import endpoint_problem, remote_url_problem, shown

ID_PATTERN = r"^[a-z0-9-]+$"  # ids become file names and URLs: nothing else may reach the file system
ID_MAX = 64
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
ID_RE, SHA_RE = re.compile(ID_PATTERN), re.compile(SHA256_PATTERN)
# Text may hold tabs and line breaks (descriptions, credits); no other control character (NUL,
# escape sequences, C1 codes) may reach a page or a terminal.
ALLOWED_CONTROLS = {"text": "\t\n", "nonempty": ""}


@dataclass(frozen=True)
class Field:
    """One manifest key: its kind (how it is checked and published), whether required, a line of help."""

    kind: str  # text | nonempty | id | path | paths | url | https | remote | endpoint | sha256 | positive | keep | bool | choice | cache | site | render | entries | exclude | ref
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()  # kind choice: the values allowed


SITE_FIELDS = {
    "title": Field("nonempty", "title of the gallery, shown on every page"),
    "description": Field("text", "one or two sentences for the home page and social cards"),
    "base_url": Field("url", "absolute address the site is published at (for social-card links); "
                             "leave out for relative links only"),
    "output": Field("path", "folder the site is written to, relative to the manifest (default: site)"),
    "budget_mb": Field("positive", "fail when the whole site would be larger than this many MB, before "
                                   "anything is encoded (default 800; GitHub Pages publishes up to 1,000)"),
    "max_file_mb": Field("positive", "fail when one file of the site would be larger than this many MB, before "
                                     "anything is encoded; zips are cut into parts below it (default 50; "
                                     "GitHub Pages refuses files over 100)"),
    "downloads": Field("choice", "each render's full-size download: webp (high quality, about a third of the "
                                 "PNG; the default), png (lossless), jpeg (high quality), avif (the smallest, "
                                 "slowest to make) or none",
                       choices=("webp", "png", "jpeg", "avif", "none")),
    "zip": Field("choice", "zips of the downloads: auto (one of every render while it fits in max_file_mb, "
                           "else one per style; the default), all, style (one per style), content (one per "
                           "picture) or off; a zip over max_file_mb is cut into numbered parts",
                 choices=("auto", "all", "style", "content", "off")),
    "keep": Field("keep", "files and folders (ending in /) in the site folder that a build keeps although "
                          "it did not write them; * matches within a name (default: CNAME, .well-known/)"),
    "try_it": Field("bool", "write the 'Try it with your photo' page, where visitors stylise their own "
                            "photo in their browser (about 17 MB of files; default: true)"),
    "templates": Field("path", "a folder of your own templates, relative to the manifest: a file there "
                               "replaces the built-in one of the same name (static/ files too)"),
}
ENTRY_FIELDS = {
    "id": Field("id", "short name: lowercase letters, digits and hyphens; unique across contents "
                      "and styles (it becomes file names and URLs)", required=True),
    "title": Field("nonempty", "title shown in the gallery (default: the id)"),
    "credit": Field("text", "author, date and source, shown under the image"),
    "link": Field("url", "web page about the image (http or https)"),
    "file": Field("path", "the image file, relative to the manifest", required=True),
    "url": Field("https", "https address to download the file from when it is missing "
                          "(needs sha256)"),
    "sha256": Field("sha256", "sha256 of the file (64 hex digits): required with url, "
                              "checked whenever given"),
    "render": Field("render", "render parameters for the cells of this image, over the gallery's"),
}
EXCLUDE_FIELDS = {
    "content": Field("ref", "id of a content image", required=True),
    "style": Field("ref", "id of a style image", required=True),
}
TOP_FIELDS = {
    "site": Field("site", "the generated site: title, description, base_url, output, size limits"),
    "render": Field("render", "render parameters for every cell (entries' `render:` override them)"),
    "cache": Field("cache", "folder of the render cache, relative to the manifest (default: renders); "
                            "or a mapping with `path:` and a shared `remote:` render cache"),
    "image_roots": Field("paths", "folders the image files must be in, relative to the manifest: inside "
                                  "its folder, or inside a folder you allow with --image-root or "
                                  "GALLERY_IMAGE_ROOTS (a manifest can narrow where images may be, never "
                                  "widen it; default: all of those)"),
    "contents": Field("entries", "the content images (rows of the gallery)", required=True),
    "styles": Field("entries", "the style images (columns of the gallery)", required=True),
    "exclude": Field("exclude", "cells not to render: a list of {content: ID, style: ID}"),
}
CACHE_FIELDS = {
    "path": Field("path", "folder of the local render cache, relative to the manifest (default: renders)"),
    "remote": Field("remote", "a render cache every machine shares: s3://bucket/prefix, gs://bucket/prefix, "
                              "az://container/prefix, file:///absolute/folder or (read-only) https://...; "
                              "credentials come from the environment, never from the manifest"),
    "endpoint_url": Field("endpoint", "for an s3:// remote on an S3-compatible service (MinIO, R2): its address"),
}
PARAM_FIELDS = {name: Field("param", p.help) for name, p in PARAMS_BY_NAME.items()}


def text_problem(kind: str, key: str, text: str) -> str | None:
    """What is wrong with a non-empty text value of this kind, or None."""
    if kind == "id" and not (ID_RE.fullmatch(text) and len(text) <= ID_MAX):
        return (f"'id' {quote(text)} must be 1 to {ID_MAX} lowercase letters, digits or hyphens "
                f"(it becomes file names and URLs), e.g. {slug(text)!r}")
    if kind == "url" and key == "base_url" and (why := site_url.problem(text)):
        return f"'base_url' {quote(text)} {why}; write the address the site is published at, e.g. {site_url.EXAMPLE}"
    if kind == "url" and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        return f"'{key}' {quote(text)} must be an http:// or https:// address"
    if kind == "https" and not re.fullmatch(r"https://[^\s/]+/\S*", text):
        return f"'{key}' {quote(text)} must be an https:// address of the file (plain http is not allowed)"
    if kind == "remote" and (why := remote_url_problem(text)):
        return f"'{key}' {shown(text)}: {why}"
    if kind == "endpoint" and (why := endpoint_problem(text)):
        return f"'{key}' {shown(text)}: {why}"
    if kind == "sha256" and not SHA_RE.fullmatch(text):
        return f"'{key}' must be 64 hexadecimal digits (run `sha256sum FILE`), not {quote(text)}"
    return None


def suggest(word: str, choices) -> str:
    if word in PARAMS_BY_NAME and "render" in choices:
        return " - render parameters go in a 'render:' block"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" - did you mean '{close[0]}'?"
    return f" - allowed: {', '.join(sorted(choices))}" if choices else ""


def bad_character(key: str, text: str, allowed: str = "") -> str | None:
    """What is wrong with the first character of `text` that a page, the feed or a terminal cannot
    carry, or None: a control character not in `allowed`, a lone surrogate (half of a UTF-16 pair:
    what a byte of non-UTF-8 text becomes) or a noncharacter (U+FFFE, U+FFFF, U+FDD0..U+FDEF and
    the last two of every plane, which XML forbids)."""
    for i, ch in enumerate(text):
        code = ord(ch)
        at = f"U+{code:04X} at character {i + 1}"
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            return (f"'{key}' contains the control character {at}: remove it (pages and terminals "
                    "would show it raw)")
        if 0xD800 <= code <= 0xDFFF:
            return (f"'{key}' contains {at}, a lone surrogate (usually a byte of text that was not "
                    "UTF-8): write the character it stands for instead (pages and the feed are UTF-8, "
                    "which cannot carry it)")
        if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
            return (f"'{key}' contains the noncharacter {at}: remove it (XML and HTML cannot carry "
                    "it: the feed would not be well-formed)")
    return None


def value_problem(kind: str, key: str, text: str) -> str | None:
    """What is wrong with a text value of this kind, or None: the reader's check of one value,
    also run by `add` on what it is given before anything is written."""
    bad = bad_character(key, text, ALLOWED_CONTROLS.get(kind, ""))
    if bad is not None:
        return bad
    if kind != "text" and not text.strip():
        return f"'{key}' is empty"
    return None if kind == "text" else text_problem(kind, key, text)


def slug(text: str, fallback: str = "my-image") -> str:
    """An id made of free text (a title, a file name): lowercase letters, digits, single hyphens."""
    made = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")[:ID_MAX].strip("-")
    return made or fallback
