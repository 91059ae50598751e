"""What `pip install` builds from pyproject.toml: setuptools' own build of the package, run on a
copy of the checkout, ships every template, static file, the vendored browser runtime and the
fast networks' licence, and says nothing about our packaging while it builds."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

# setuptools' build_py is the step that lays out a wheel's files; its warnings are the ones
# `pip install` prints (pip 24+ shows a build backend's warnings).
BUILD = """
import json, sys, warnings
from setuptools import setup
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    setup(script_args=["--quiet", "build_py", "--build-lib", sys.argv[1]])
print(json.dumps([str(w.message).strip() for w in caught]))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[str]]:
    """(the build folder, setuptools' warnings) for a copy of pyproject.toml, pipeline/ and templates/."""
    root = tmp_path_factory.mktemp("package")
    src, lib = root / "src", root / "lib"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    for folder in ("pipeline", "templates"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-c", BUILD, str(lib)], cwd=src, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return lib, json.loads(r.stdout.strip().splitlines()[-1])


def test_setuptools_builds_the_package_without_a_word_about_it(built):
    _, warnings = built
    ours = [w for w in warnings if "pipeline" in w or "packages" in w]
    assert not ours, "\n\n".join(ours)


def test_the_package_ships_templates_runtime_and_licences(built):
    lib, _ = built
    wanted = {Path("pipeline/templates") / p.relative_to(REPO / "templates")
              for p in (REPO / "templates").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    vendor = REPO / "pipeline" / "site" / "vendor"
    wanted |= {p.relative_to(REPO) for p in vendor.rglob("*") if p.is_file()}
    wanted |= {Path("pipeline/render/fast/LICENSE-models.txt")}
    assert {Path("pipeline/templates/try-it.html"), Path("pipeline/templates/static/site.css"),
            Path("pipeline/site/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")} <= wanted
    missing = sorted(str(p) for p in wanted if not (lib / p).is_file())
    assert not missing, f"not in the package: {missing}"
    for p in sorted(vendor.rglob("*")):
        if p.is_file():
            assert (lib / p.relative_to(REPO)).read_bytes() == p.read_bytes(), p
