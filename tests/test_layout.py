"""The folder tree shows the flow: every stage builds on core, no module imports from a later
stage and no two modules import each other (at any depth), planning never loads torch, a gallery
run reads its manifest and builds its plan once, only the CLI prints, tests reach the code
through its seams (never by swapping modules or the runner's globals), and every package ships."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gallery_fakes import FakeRenderer, build_gallery
from pipeline.cli.app import main

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "pipeline"
# What each part may not import: util <- core <- manifest <- plan <- render/site, publish beside
# them, and the run sequence (runner, workers, events) and cli on top. The stages after manifest
# read the gallery through core's model, never the manifest's reader or editors.
TOP = ("cli", "api", "runner", "workers", "events", "plugins")
STAGES = ("manifest", "plan", "render", "site")
FORBIDDEN = {
    "util": ("core", *STAGES, "publish", *TOP),
    "core": (*STAGES, "publish", *TOP),
    "manifest": ("plan", "render", "site", "publish", *TOP),
    "plan": ("manifest", "render", "site", "publish", *TOP),
    "render": ("manifest", "plan", "site", "publish", *TOP),
    "site": ("manifest", "publish", *TOP),
    "publish": TOP,
}
RUN_SEQUENCE = ("runner.py", "workers.py", "events.py")  # library code: reports through events


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


def test_every_stage_builds_on_core():
    """core is the ground floor: each stage imports it, and it imports only pipeline.util."""
    graph = import_graph(PACKAGE)
    users = {stage for stage in STAGES
             if any(m.startswith(f"pipeline.{stage}.") and any(t.startswith("pipeline.core") for t in targets)
                    for m, targets in graph.items())}
    assert users == set(STAGES)
    core = {t for m, targets in graph.items() if m.startswith("pipeline.core") for t in targets}
    assert {t for t in core if not t.startswith(("pipeline.core", "pipeline.util"))} == set()


def test_the_checker_catches_a_backward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from pipeline.site.builder import build_site\n")
    assert _imports(bad) == [(2, "pipeline.site.builder")]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, at any depth (in functions, under
    TYPE_CHECKING); `from pipeline.x import y` points at module pipeline.x.y when there is one."""
    root = package.parent
    modules = {_module_name(p, root): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    assert import_cycles(import_graph(PACKAGE)) == []


def test_the_cycle_finder_finds_a_cycle_at_any_depth(tmp_path):
    pkg = tmp_path / "pipeline"
    for name, text in {"__init__.py": "", "a.py": "from pipeline import b\n",
                       "b.py": "def f():\n    from pipeline.c import g\n",
                       "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipeline.a\n",
                       "d.py": "from pipeline import a\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    assert import_cycles(import_graph(pkg)) == [["pipeline.a", "pipeline.b", "pipeline.c"]]


def _prints_or_bars(path: Path) -> list[str]:
    """Each print() call and tqdm import in a file, as 'file:line: what'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{path.name}:{node.lineno}: print")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"{path.name}:{node.lineno}: imports {n}" for n in names if n.split(".")[0] == "tqdm"]
    return found


def test_library_code_never_prints_or_draws_bars():
    """Only cli/ prints: the run sequence reports through events, the stages log."""
    library = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "cli"]
    assert {PACKAGE / name for name in RUN_SEQUENCE} <= set(library)
    assert [hit for path in library for hit in _prints_or_bars(path)] == []


def test_the_print_finder_finds_them(tmp_path):
    bad = tmp_path / "runner.py"
    bad.write_text("import sys\ndef f():\n    from tqdm import tqdm\n    print('x', file=sys.stderr)\n")
    assert _prints_or_bars(bad) == ["runner.py:3: imports tqdm", "runner.py:4: print"]


def test_one_place_takes_sha256():
    """util/hashing.py is the one sha256 helper (bytes, files, streams, canonical JSON): no other
    library module imports hashlib, so no two places can hash the same thing differently."""
    hashers = [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*.py"))
               if any(isinstance(n, (ast.Import, ast.ImportFrom))
                      and "hashlib" in ([n.module] if isinstance(n, ast.ImportFrom) else [a.name for a in n.names])
                      for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert hashers == ["util/hashing.py"]


# A test that swaps an engine module in sys.modules, or assigns the runner's globals, instead of
# passing a renderer or a gallery through main(argv, load=, renderer=) or runner.run(renderer=).
SWAPS = re.compile(r"sys\.modules\s*\[\s*['\"]pipeline\.render"
                   r"|setitem\(\s*sys\.modules\s*,\s*['\"]pipeline\.render"
                   r"|setattr\(\s*(pipeline\.)?runner\s*,|\brunner\.\w+\s*=[^=]")


def test_no_test_swaps_the_engines_or_patches_the_runner():
    hits = [f"{p.name}:{n}: {line.strip()}" for p in sorted((REPO / "tests").glob("*.py")) if p.name != "test_layout.py"
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if SWAPS.search(line)]
    assert hits == []


@pytest.mark.parametrize("line", ["monkeypatch.setitem(sys.modules, 'pipeline.render.gatys.core', fake)",
                                  'sys.modules["pipeline.render.gatys.core"] = m',
                                  'monkeypatch.setattr(runner, "plan", lambda g: g)',
                                  "runner.read_manifest = lambda config, **kw: g"])
def test_the_swap_finder_finds_them(line):
    assert SWAPS.search(line)


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
