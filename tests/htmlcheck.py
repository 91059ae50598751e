"""A strict-enough HTML checker and a link checker for a built site (stdlib html.parser only).

`check_html` finds what html.parser tolerates but a page should not have: mismatched or
unclosed elements, duplicate ids, a missing doctype or <title>. `check_links` resolves every
local href/src/srcset of every page to a file inside the site.
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Elements whose end tag HTML lets you omit; we never omit them, but tolerate it in user templates.
OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "option"}
URL_ATTRS = {"href", "src"}


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.doctype = False

    def handle_decl(self, decl):
        self.doctype |= decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append(f"line {self.getpos()[0]}: duplicate id {a['id']!r}")
            self.ids.add(a["id"])
        for k, v in attrs:
            if k in URL_ATTRS and v is not None:
                self.urls.append(v)
            elif k == "srcset" and v:
                self.urls.extend(part.strip().split()[0] for part in v.split(",") if part.strip())
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"line {self.getpos()[0]}: end tag for void element </{tag}>")
            return
        while self.stack and self.stack[-1][0] != tag and self.stack[-1][0] in OPTIONAL_END:
            self.stack.pop()
        if not self.stack or self.stack[-1][0] != tag:
            open_ = self.stack[-1] if self.stack else ("nothing", 0)
            self.errors.append(f"line {self.getpos()[0]}: </{tag}> closes <{open_[0]}> of line {open_[1]}")
            return
        self.stack.pop()


def parse(text: str) -> _Checker:
    c = _Checker()
    c.feed(text)
    c.close()
    if not c.doctype:
        c.errors.append("no <!doctype html>")
    for tag, line in c.stack:
        if tag not in OPTIONAL_END:
            c.errors.append(f"<{tag}> of line {line} is never closed")
    if not any(t == "title" for t, _ in c.tags):
        c.errors.append("no <title>")
    return c


def check_html(path: Path) -> list[str]:
    return [f"{path}: {e}" for e in parse(path.read_text(encoding="utf-8")).errors]


def local_targets(page: Path, site: Path) -> tuple[list[Path], list[str]]:
    """(files the page's local URLs point to, problems such as root-absolute URLs)."""
    targets, problems = [], []
    for url in parse(page.read_text(encoding="utf-8")).urls:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            if parts.scheme not in ("http", "https", "mailto"):
                problems.append(f"{page}: odd URL {url!r}")
            continue
        if not parts.path:
            continue  # "#fragment"
        if parts.path.startswith("/"):
            problems.append(f"{page}: root-absolute URL {url!r} breaks under a sub-path")
            continue
        target = (page.parent / unquote(parts.path)).resolve()
        if site.resolve() not in target.parents:
            problems.append(f"{page}: {url!r} points outside the site")
            continue
        targets.append(target)
    return targets, problems


def check_site(site: Path) -> list[str]:
    """Every page parses and every local URL of every page resolves to a file of the site."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        problems += check_html(page)
        targets, p = local_targets(page, site)
        problems += p
        problems += [f"{page.relative_to(site)}: broken link to {t.relative_to(site.resolve())}"
                     for t in targets if not t.is_file()]
    return problems
