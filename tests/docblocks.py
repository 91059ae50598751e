"""Reading the user docs (README.md, docs/*.md) as a test sees them: fenced code blocks,
headings and their GitHub anchors, links, and the simple commands of a shell block.

Stdlib only. The rules are GitHub's where they matter (anchors), and bash's where a command
line is split (quotes, `#` comments, `&&`/`||`/`;`/`|`, redirections, VAR=value prefixes).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
# A block that must not run says so in its first two lines (after a shebang, say):
#   # not run by the tests: a Slurm batch script (needs a cluster)
NOT_RUN = re.compile(r"^\s*#\s*not run by the tests:\s*\S")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")
SEPARATORS = {"&&", "||", ";", "|", "&"}
REDIRECTS = re.compile(r"^(>>?|<)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language (the info string's first word), its text."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def not_run(self) -> bool:
        return any(NOT_RUN.match(line) for line in self.text.splitlines()[:2])


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, indented ones (in list items) included."""
    found, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            text = lines[j]
            body.append(text[indent:] if text[:indent].strip() == "" else text)
            j += 1
        found.append(Block(path, i + 1, m["lang"].lower(), "\n".join(body) + "\n"))
        i = j + 1
    return found


def outside_blocks(path: Path, code_spans: bool = False) -> str:
    """The file's text with fenced blocks blanked out (line numbers stay); inline code blanked
    too unless `code_spans` (a heading's `code` is part of its anchor)."""
    out, fence = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        m = FENCE.match(line)
        if fence:
            fence = "" if line.strip().startswith(fence) else fence
            out.append("")
        elif m:
            fence = m["fence"]
            out.append("")
        else:
            out.append(line if code_spans else re.sub(r"`[^`]*`", "``", line))
    return "\n".join(out)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the file's headings: lowercase, punctuation dropped, spaces to
    hyphens, and -1, -2... for repeats."""
    seen: dict[str, int] = {}
    result = set()
    for line in outside_blocks(path, code_spans=True).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m[1])
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link outside code."""
    return [(n, m["target"]) for n, line in enumerate(outside_blocks(path).splitlines(), 1)
            for m in LINK.finditer(line)]


def strip_comment(line: str) -> str:
    """The line without its `#` comment: a # that starts a word, outside quotes (as bash reads it)."""
    quote, prev = "", " "
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev.isspace():
            return line[:i]
        prev = ch
    return line


def logical_lines(script: str) -> list[str]:
    """The script's lines with continuations joined and comments dropped; blank ones left out."""
    joined, lines = "", []
    for raw in script.splitlines():
        if raw.rstrip().endswith("\\"):
            joined += raw.rstrip()[:-1] + " "
            continue
        line = strip_comment(joined + raw).strip()
        joined = ""
        if line:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class Command:
    """One simple command: its environment assignments, program and arguments."""

    env: dict
    argv: list


def commands(script: str) -> list[Command]:
    """Every simple command of a shell script, split at &&, ||, ;, | and & with redirections
    dropped and leading VAR=value assignments taken apart."""
    found = []
    for line in logical_lines(script):
        line = re.sub(r"(?<!\S)\d*>&\d+", " ", line)  # 2>&1: no word of its own
        line = re.sub(r"(?<!\S)\d+(>>?)", r"\1", line)  # 2> file: like > file
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split, lex.commenters = True, ""
        words, current = list(lex), []
        for word in words + [";"]:
            if word in SEPARATORS:
                if current:
                    found.append(_command(current))
                current = []
            else:
                current.append(word)
    return found


def _command(words: list[str]) -> Command:
    argv, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif REDIRECTS.match(word):
            skip = True  # `> file`: the file is no argument
        else:
            argv.append(word)
    env = {}
    while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    return Command(env, argv)
