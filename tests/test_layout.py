"""The folder tree shows the flow: no module imports from a later stage, planning never loads
torch, a gallery run reads its manifest and builds its plan once, and every package ships."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gallery_fakes import FakeRenderer, build_gallery
from pipeline.cli.app import main

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "pipeline"
# What each stage may not import (manifest <- plan <- render/site; cli and the runner on top).
FORBIDDEN = {
    "util": ("manifest", "plan", "render", "site", "cli", "runner"),
    "manifest": ("plan", "render", "site", "cli", "runner"),
    "plan": ("render", "site", "cli", "runner"),
    "render": ("plan", "site", "cli", "runner"),
    "site": ("cli", "runner"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every pipeline module a file imports, at any depth (lazy imports in functions count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module == "pipeline"]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("pipeline")]
    return out


def test_no_module_imports_from_a_later_stage():
    wrong = []
    for stage, banned in FORBIDDEN.items():
        for path in sorted((PACKAGE / stage).rglob("*.py")):
            for line, module in _imports(path):
                parts = module.split(".")
                if len(parts) > 1 and parts[1] in banned:
                    wrong.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
    assert wrong == []


def test_the_checker_catches_a_backward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from pipeline.site.builder import build_site\n")
    assert _imports(bad) == [(2, "pipeline.site.builder")]


def test_every_package_is_listed_for_the_wheel():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(pipeline(?:\.[a-z_]+)*)"', text.split("[tool.setuptools]")[1].split("\n\n")[0]))
    found = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)


def test_one_gallery_run_reads_the_manifest_once_and_plans_once(tmp_path, monkeypatch):
    """make gallery with N cells to render: 1 manifest load, 1 plan."""
    import pipeline.plan.planner as planner

    gallery = build_gallery(tmp_path, contents=("a", "b", "c"), styles=("x", "y"))
    counts = {"loads": 0, "plans": 0}
    real_plan = planner.make_plan

    def load(config, **kw):
        counts["loads"] += 1
        return gallery

    def make_plan(g):
        counts["plans"] += 1
        return real_plan(g)

    monkeypatch.setattr(planner, "make_plan", make_plan)
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    renderer = FakeRenderer()
    assert main(["gallery", "--no-fetch", "--quiet"], load=load, renderer=renderer) == 0
    assert len(renderer) == 6
    assert counts == {"loads": 1, "plans": 1}
    assert (Path(gallery.site.output) / "index.html").is_file()
    assert len(__import__("json").loads(gallery.lock_path.read_text())["cells"]) == 6
