"""The user docs (README.md, docs/*.md) as a user meets them: every code block a user can run runs
or parses, every link and anchor resolves, and the references name what the code has.

How each block is checked (a block that must not run says `# not run by the tests: WHY` in its
first two lines; `text` blocks are output and diagrams):
- python: runs in a fresh interpreter in a temporary folder holding the demo's manifest and its
  images (from GALLERY_MIRROR) where the docs say they are;
- sh, bash: each simple command exists and its arguments parse: make targets with `make -n`,
  then each pipeline command that they expand to; `style-gallery`, `python -m MODULE` and
  scripts through their own argparse parsers (stopped right after parsing: nothing runs);
  pytest paths exist; pip extras are in pyproject.toml;
- yaml: a manifest fragment, read by the manifest reader on a small manifest.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml

from docblocks import DOCS, REPO, Block, anchors, blocks, commands, links, outside_blocks

ALL_BLOCKS = [b for doc in DOCS for b in blocks(doc)]
LANGS = {"python", "sh", "bash", "yaml", "text"}
# Other projects' programs a block may show: named here, not checked.
OTHERS = {"git", "npm", "sha256sum", "sbatch", "apt-get", "cd", "export"}
PY = {"python", "python3", ".venv/bin/python"}
STYLE_GALLERY = {"style-gallery", ".venv/bin/style-gallery"}
ENV_READ = set(re.findall(r"GALLERY_[A-Z_]+", "".join(
    p.read_text(encoding="utf-8") for folder in ("pipeline", "bench") for p in (REPO / folder).rglob("*.py"))))
EXTRAS = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"])
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(encoding="utf-8"), re.M))


def _of(lang: set[str]) -> list:
    return [pytest.param(b, id=b.where) for b in ALL_BLOCKS if b.lang in lang and not b.not_run]


def test_every_block_names_its_language():
    unnamed = [f"{b.where}: ```{b.lang}" for b in ALL_BLOCKS if b.lang not in LANGS]
    assert not unnamed, f"name each block's language ({', '.join(sorted(LANGS))}): {unnamed}"


def test_blocks_that_do_not_run_say_why():
    skipped = [b for b in ALL_BLOCKS if b.not_run]
    assert all(b.lang in LANGS - {"text"} for b in skipped)
    assert len(skipped) <= 3, f"only what cannot run here is skipped: {[b.where for b in skipped]}"


# ---- python: runs as shown ----------------------------------------------------------------------

@pytest.mark.parametrize("block", _of({"python"}))
def test_python_block_runs(block: Block, tmp_path: Path, seed_mirror: Path):
    """From the repository root as the docs say, here a copy: the demo's manifest and its images in
    config/."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "gallery.yaml").write_bytes((REPO / "config" / "gallery.yaml").read_bytes())
    for role in ("content", "style"):
        folder = tmp_path / "config" / "images" / role
        folder.mkdir(parents=True)
        for image in (seed_mirror / role).glob("*.jpg"):
            (folder / image.name).write_bytes(image.read_bytes())  # copies: the reader refuses links out
    before = set(tmp_path.rglob("*"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{block.where}:\n{r.stderr[-3000:]}"
    written = sorted(set(tmp_path.rglob("*")) - before)
    assert r.stdout.strip() or written, f"{block.where}: shows nothing and writes nothing"
    from PIL import Image

    for path in written:
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            with Image.open(path) as im:
                im.verify()


# ---- sh, bash: each command exists and parses ----------------------------------------------------

class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace):
        self.namespace = namespace


def _parse_only(run, argv0: str, args: list[str]) -> tuple[argparse.Namespace | None, str]:
    """Run a program's entry point until its argparse parser has parsed `args`, and stop there:
    (the namespace, "") or (None, what went wrong)."""
    real = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, a=None, namespace=None):
        raise _Parsed(real(self, a, namespace))

    saved_argv, out = sys.argv, io.StringIO()
    argparse.ArgumentParser.parse_args = parse_and_stop
    sys.argv = [argv0, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)  # runpy, -m twice
            run()
    except _Parsed as parsed:
        return parsed.namespace, ""
    except SystemExit as e:  # --help, --version: 0; a parse error: 2 and its message
        return None, "" if e.code in (0, None) else f"exit {e.code}: {out.getvalue().strip()[-800:]}"
    finally:
        argparse.ArgumentParser.parse_args = real
        sys.argv = saved_argv
    return None, "never parsed its arguments"


def _check_module(module: str, args: list[str]) -> list[str]:
    if module == "pytest":
        return _check_pytest(args)
    if module == "pip":
        return _check_pip(args)
    ns, problem = _parse_only(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True),
                              module, args)
    if problem:
        return [f"python -m {module} {shlex.join(args)}: {problem}"]
    if module == "pipeline" and ns is not None and ns.command == "stylize":
        from pipeline.cli.stylize_cmd import params_from_args
        from pipeline.util.errors import GalleryError

        try:
            params_from_args(ns)
        except GalleryError as e:
            return [f"stylize {shlex.join(args)}: {e}"]
    return []


def _check_python(args: list[str]) -> list[str]:
    if args[:1] == ["-m"]:
        return _check_module(args[1], args[2:])
    script = REPO / args[0]
    if not script.is_file():
        return [f"python {args[0]}: no such script"]
    sys.path.insert(0, str(script.parent))  # as `python SCRIPT` does
    try:
        _, problem = _parse_only(lambda: runpy.run_path(str(script), run_name="__main__"), str(script), args[1:])
    finally:
        sys.path.remove(str(script.parent))
    return [f"python {shlex.join(args)}: {problem}"] if problem else []


def _check_pytest(args: list[str]) -> list[str]:
    takes_value = {"-k", "-m", "-p", "-o", "--deselect"}
    paths = [a for prev, a in zip([""] + args, args) if not a.startswith("-") and prev not in takes_value]
    return [f"pytest {p}: no such file" for p in paths if not (REPO / p.split("::")[0]).exists()]


def _check_pip(args: list[str]) -> list[str]:
    wanted = {e.strip() for a in args for m in re.finditer(r"^\.\[([\w,\s-]+)\]$", a) for e in m[1].split(",")}
    return [f"pip install: no extra {e!r} in pyproject.toml" for e in sorted(wanted - EXTRAS)]


def _check_make(args: list[str], env: dict) -> list[str]:
    targets = [a for a in args if not a.startswith("-") and "=" not in a]
    problems = [f"make {t}: no such target" for t in targets if t not in MAKE_TARGETS]
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), *args],
                       env={**clean, **env}, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return problems + [f"make {shlex.join(args)}: {r.stderr.strip()[-800:]}"]
    for line in r.stdout.splitlines():
        words = shlex.split(line) if line.startswith(".venv/bin/") else []
        if words[:1] == [".venv/bin/python"]:
            problems += _check_python(words[1:])
    return problems


def check_command(argv: list[str], env: dict) -> list[str]:
    """What is wrong with one simple command of a block (nothing: an empty list)."""
    problems = [f"{name}: no code reads it" for name in env
                if name.startswith("GALLERY_") and name not in ENV_READ]
    program, args = argv[0], argv[1:]
    if program == "make":
        problems += _check_make(args, env)
    elif program in STYLE_GALLERY:
        problems += _check_module("pipeline", args)
    elif program in PY:
        problems += _check_python(args)
    elif program == "pip":
        problems += _check_pip(args)
    elif program not in OTHERS:
        problems.append(f"{program}: neither this project's command nor one the docs may name")
    return problems


@pytest.mark.parametrize("block", _of({"sh", "bash"}))
def test_shell_block_commands_exist_and_parse(block: Block):
    found = commands(block.text)
    assert found, f"{block.where}: a shell block without a command"
    problems = [p for c in found for p in check_command(c.argv, c.env)]
    assert not problems, f"{block.where}:\n" + "\n".join(problems)


def test_the_command_checker_can_fail():
    assert check_command(["make", "galery"], {})
    assert check_command(["make", "add", "STYLE=x.jpg", "ARGS=--titel x"], {})
    assert check_command([".venv/bin/python", "-m", "pipeline", "stylize", "a.jpg", "b.jpg"], {})
    assert check_command(["style-gallery", "stylize", "a", "b", "c", "--strength", "0.5"], {})
    assert check_command(["make", "gallery"], {"GALLERY_MIROR": "x"})
    assert check_command(["pip", "install", ".[s4]"], {})
    assert check_command(["python", "bench/bench_sweep.py", "--no-such-option"], {})
    assert check_command(["rm", "-rf", "site"], {})
    assert not check_command(["make", "status", "ARGS=--json"], {"GALLERY_MIRROR": "x"})


# ---- yaml: manifest fragments the manifest reader accepts ---------------------------------------

@pytest.mark.parametrize("block", _of({"yaml"}))
def test_yaml_block_is_a_manifest_the_reader_accepts(block: Block, tmp_path: Path):
    from pipeline.manifest.fields import TOP_FIELDS
    from pipeline.manifest.reader import load_gallery

    fragment = yaml.safe_load(block.text)
    assert isinstance(fragment, dict) and set(fragment) <= set(TOP_FIELDS), (
        f"{block.where}: not a manifest fragment (mark it `# not run by the tests: WHY`)")
    manifest = {"contents": [{"id": "photo", "file": "photo.png"}],
                "styles": [{"id": "painting", "file": "painting.png"}], **fragment}
    path = tmp_path / "config" / "gallery.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    load_gallery(path, check_files=False)  # raises with file, line and entry on any problem


# ---- links, anchors and the files the docs name -------------------------------------------------

def test_every_link_and_anchor_resolves():
    broken = []
    for doc in DOCS:
        for line, target in links(doc):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: outside the repository
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists() or not dest.is_relative_to(REPO):
                broken.append(f"{doc.relative_to(REPO)}:{line}: {target}: no such file")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                broken.append(f"{doc.relative_to(REPO)}:{line}: {target}: no heading #{anchor}")
    assert not broken, "\n".join(broken)


def test_the_link_checker_can_fail(tmp_path: Path):
    doc = tmp_path / "a.md"
    doc.write_text("# A `b` c: d\n\n[x](#a-b-c-d) [y](#nope)\n```sh\n[z](#in-code)\n```\n")
    assert anchors(doc) == {"a-b-c-d"}
    assert [t for _, t in links(doc)] == ["#a-b-c-d", "#nope"]


def test_the_files_the_docs_name_exist():
    named = set()
    for doc in DOCS:
        text = outside_blocks(doc, code_spans=True)
        named |= set(re.findall(r"`((?:pipeline|tests|bench|docs|\.github|\.ci)/[\w./-]*?)/?`", text))
        named |= {f"tests/{n}" for n in re.findall(r"`(test_\w+\.py)`", text)}
    missing = sorted(n for n in named if not (REPO / n).exists())
    assert not missing, f"the docs name files that are not there: {missing}"


def test_the_readme_is_the_users_path_and_links_every_doc():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    n = len(text.splitlines())
    assert n <= 200, f"README.md is {n} lines: keep it the user's path, move reference to docs/"
    for heading in ("Quick start", "Install", "Make it yours", "Daily commands", "Publish on GitHub Pages"):
        assert re.search(rf"^## {heading}$", text, re.M), heading
    linked = {(REPO / t.partition("#")[0]).resolve() for _, t in links(REPO / "README.md")}
    orphans = [d.name for d in DOCS[1:] if d.resolve() not in linked]
    assert not orphans, f"docs the README does not link to: {orphans}"


# ---- references that must follow the code ------------------------------------------------------

def _module_tree() -> list[str]:
    """The paths the module tree of docs/architecture.md lists, from its indentation."""
    doc = REPO / "docs" / "architecture.md"
    tree = next(b for b in blocks(doc) if b.text.startswith("pipeline/"))
    stack, paths = [], []
    for line in tree.text.splitlines():
        m = re.match(r"^( *)(\S+)", line)
        if not m or not re.fullmatch(r"[\w.]+/?", m[2]):
            continue
        depth = len(m[1]) // 2
        if depth > len(stack):
            continue  # a description's second line (indented far beyond the tree)
        stack[depth:] = [m[2].rstrip("/")]
        paths.append("/".join(stack))
    return paths


def test_the_module_tree_in_the_docs_is_the_code():
    listed = set(_module_tree())
    missing = sorted(p for p in listed if not (REPO / p).exists())
    assert not missing, f"docs/architecture.md lists what is not there: {missing}"
    code = {p.relative_to(REPO).as_posix() for p in (REPO / "pipeline").rglob("*.py")
            if p.name not in ("__init__.py", "__main__.py")}
    code |= {p.parent.relative_to(REPO).as_posix() for p in (REPO / "pipeline").rglob("__init__.py")}
    unlisted = sorted(code - listed)
    assert not unlisted, f"add a line for each to the module tree in docs/architecture.md: {unlisted}"


def _yaml_default(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_the_manifest_reference_has_every_key_parameter_and_preset():
    from pipeline.manifest.fields import CACHE_FIELDS, ENTRY_FIELDS, SITE_FIELDS, TOP_FIELDS
    from pipeline.core.params import PARAMS, PRESETS

    text = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    rows = {name for line in text.splitlines() if line.startswith("| `")
            for name in re.findall(r"`([\w.]+):?`", line.split("|")[1])}
    rows |= {name.split(".")[0] for name in rows}  # site.title: the key site
    missing = [k for k in TOP_FIELDS if k not in rows]
    missing += [f"site.{k}" for k in SITE_FIELDS if f"site.{k}" not in rows]
    missing += [k for k in ENTRY_FIELDS if k not in rows]
    cache_row = next(line for line in text.splitlines() if line.startswith("| `cache` |"))
    missing += [f"cache.{k}" for k in CACHE_FIELDS if f"{k}:" not in cache_row]
    for p in PARAMS:
        default = r"`[^`]*`" if p.default is None else re.escape(f"`{_yaml_default(p.default)}`")
        if not re.search(rf"^\| `{p.name}` \| {default}", text, re.M):
            missing.append(f"render parameter {p.name} (default {_yaml_default(p.default)})")
    for name, preset in PRESETS.items():
        if f"- `{name}`: {', '.join(map(str, preset['iterations']))}" not in text:
            missing.append(f"preset {name}: {preset['iterations']}")
    assert not missing, f"docs/manifest.md lacks or misstates: {missing}"


def test_the_commands_reference_has_every_make_target():
    text = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    helped = re.findall(r"^([a-z][a-z-]*):.*## ", (REPO / "Makefile").read_text(encoding="utf-8"), re.M)
    missing = [t for t in helped if f"`make {t}`" not in text]
    assert not missing, f"docs/commands.md lacks these targets: {missing}"
