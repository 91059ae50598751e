"""The zips of the renders' downloads (`site.zip`): one of every render, or one per style or per
picture, each cut into numbered parts that stay under `site.max_file_mb`.

A zip stores the downloads as they are (they are compressed images already) with a CREDITS.txt
and fixed dates, so its size is known before anything is encoded (the members' sizes plus the
zip's headers) and a rebuild with the same inputs gives the same bytes.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Callable

ZIP_CHOICES = ("auto", "all", "style", "content", "off")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the same bytes every build
FOLDER = "renders"
# Per member: a local header (30 bytes) and a central directory entry (46), each with the name;
# at the end, the end-of-central-directory record.
LOCAL, CENTRAL, END = 30, 46, 22


@dataclass
class ZipPart:
    """One zip file of the site: which renders it holds."""

    rel: str  # its path in the site
    group: str  # "all", or the style's or picture's id
    title: str  # what the link says it holds: "every render", a style's or picture's title
    members: list[dict] = field(default_factory=list)  # cell views (their downloads)
    part: int = 1
    parts: int = 1
    bytes: int = 0  # predicted before encoding, exact after (the members' sizes are)
    filename: str = ""  # what a visitor's browser saves it as

    @property
    def count(self) -> int:
        return len(self.members)


def plan_zips(mode: str, rendered: list[dict], size_of: Callable[[str], int], limit: int,
              name: str = "gallery") -> list[ZipPart]:
    """The zips `mode` asks for (see ZIP_CHOICES), each cut below `limit` bytes; `name` (the
    gallery's, as a file name) begins the names visitors save them as.

    auto: one zip of every render while that fits under the limit, else one per style.
    """
    cells = [c for c in rendered if c.get("download")]
    if mode == "off" or not cells:
        return []
    if mode == "auto":
        whole = _size(cells, size_of)
        mode = "all" if whole <= limit else "style"
    groups: dict[str, tuple[str, str, list[dict]]] = {}
    for c in cells:
        if mode == "all":
            key, title, rel = "all", "every render", "download/all-renders"
        elif mode == "style":
            key, title, rel = c["style"]["id"], c["style"]["title"], f"download/style-{c['style']['id']}"
        else:
            key, title, rel = c["content"]["id"], c["content"]["title"], f"download/picture-{c['content']['id']}"
        groups.setdefault(key, (title, rel, []))[2].append(c)
    zips = []
    for key, (title, rel, members) in groups.items():
        chunks = _split(members, size_of, limit)
        for i, chunk in enumerate(chunks, 1):
            suffix = "" if len(chunks) == 1 else f"-{i}"
            saved = name + ("" if key == "all" else f"-{key}") + suffix + ".zip"
            zips.append(ZipPart(f"{rel}{suffix}.zip", key, title, chunk, i, len(chunks), _size(chunk, size_of), saved))
    return zips


def _member(c: dict) -> str:
    return f"{FOLDER}/{c['download']['href'].rsplit('/', 1)[-1]}"


def _size(members: list[dict], size_of: Callable[[str], int]) -> int:
    """The bytes of a stored zip of these downloads and their credits."""
    credits = len(credits_text(members).encode("utf-8", "replace"))
    names = [_member(c) for c in members] + [f"{FOLDER}/CREDITS.txt"]
    return (sum(size_of(c["download"]["href"]) for c in members) + credits
            + sum(LOCAL + CENTRAL + 2 * len(n.encode("utf-8")) for n in names) + END)


def _split(members: list[dict], size_of: Callable[[str], int], limit: int) -> list[list[dict]]:
    """Consecutive runs of members, each zip under `limit` (a member too large alone stays alone:
    the size check names it). Each member adds its bytes, headers and credits lines; 64 bytes
    stay free for the count in the credits' first line."""
    base = _size([], size_of) + 64
    chunks: list[list[dict]] = [[]]
    total = base
    for c in members:
        adds = (size_of(c["download"]["href"]) + LOCAL + CENTRAL + 2 * len(_member(c).encode("utf-8"))
                + len(_credit_lines(c).encode("utf-8", "replace")))
        if chunks[-1] and total + adds > limit:
            chunks.append([])
            total = base
        chunks[-1].append(c)
        total += adds
    return chunks


def credits_text(members: list[dict]) -> str:
    return (f"{len(members)} renders made by neural style transfer.\n\n" + "".join(_credit_lines(c) for c in members)
            + "The source pictures and paintings belong to their credited owners.\n")


def _credit_lines(c: dict) -> str:
    content, style = c["content"], c["style"]
    return (f"{_member(c).split('/', 1)[1]}: {c['alt']}\n"
            f"  picture: {content['title']}" + (f", {content['credit']}" if content["credit"] else "") + "\n"
            f"  style: {style['title']}" + (f", {style['credit']}" if style["credit"] else "") + "\n\n")


def zip_bytes(part: ZipPart, read: Callable[[str], bytes]) -> bytes:
    """The zip itself: each download as published (`read(rel)`), then CREDITS.txt; stored, fixed dates."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for c in part.members:
            _add(z, _member(c), read(c["download"]["href"]))
        _add(z, f"{FOLDER}/CREDITS.txt", credits_text(part.members).encode("utf-8", "replace"))  # (a lone surrogate, which validation refuses, becomes "?")
    return buf.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    z.writestr(info, data)


def zip_view(parts: list[ZipPart]) -> list[dict]:
    """The links a page shows for a group's zip parts."""
    return [{"href": p.rel, "part": p.part, "parts": p.parts, "count": p.count, "title": p.title,
             "filename": p.filename, "mb": f"{max(p.bytes, 1) / 1e6:.1f}"} for p in parts]
