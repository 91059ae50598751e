"""`make install TORCH=cpu`: PyTorch's CPU-only wheels instead of PyPI's CUDA builds.

The real install downloads gigabytes from download.pytorch.org, so its sizes are measured by
hand (README, Install). Here: what the Makefile runs, what tools/install_cpu.py removes and
installs, that what it calls GPU-only is what PyTorch needs for the GPU alone, and the script
itself in a fresh venv against a local index of stand-in wheels (no network): a CUDA build and
its GPU-only packages are replaced by the CPU builds, which a later install of the project keeps.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
spec = importlib.util.spec_from_file_location("install_cpu", REPO / "tools" / "install_cpu.py")
install_cpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_cpu)


def _project(tmp_path: Path, torch: str | None = None) -> Path:
    """A copy of the Makefile with a venv that is installed (stamps newer than pyproject.toml)."""
    project = tmp_path / "project"
    (project / ".venv").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", project)
    (project / "pyproject.toml").write_text("")
    for stamp in (".installed", ".installed-test"):  # as the install leaves them
        (project / ".venv" / f"{stamp}{'-' + torch if torch else ''}").touch()
    if torch:
        (project / ".venv" / ".torch").write_text(f"{torch}\n")
    return project


def _make_n(project: Path, *args: str) -> list[str]:
    r = subprocess.run(["make", "--no-print-directory", "-C", str(project), "-n", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@needs_make
def test_make_install_torch_cpu_puts_the_cpu_wheels_first_and_remembers_it(tmp_path):
    lines = _make_n(_project(tmp_path), "test", "TORCH=cpu")
    cpu = ".venv/bin/python tools/install_cpu.py --index-url https://download.pytorch.org/whl/cpu"
    assert lines.index(cpu) < lines.index(".venv/bin/python -m pip install --progress-bar on -e .")
    assert "echo cpu > .venv/.torch" in lines
    assert ".venv/bin/python -m pip install --progress-bar on -e '.[test]'" in lines
    assert "Nothing to be done" in _make_n(_project(tmp_path / "default"), "install")[0]

    # installed with TORCH=cpu: later targets need no TORCH=, and a new pin installs CPU builds again
    project = _project(tmp_path / "cpu", torch="cpu")
    assert "Nothing to be done" in _make_n(project, "install")[0]
    os.utime(project / "pyproject.toml", (2e9, 2e9))
    assert cpu in _make_n(project, "gallery")


@needs_make
def test_make_install_refuses_an_unknown_torch_variant(tmp_path):
    r = subprocess.run(["make", "-C", str(_project(tmp_path)), "-n", "install", "TORCH=cuda"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "TORCH=cuda" in r.stderr and "TORCH=cpu" in r.stderr


def test_the_pins_are_the_projects():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = install_cpu.pins()
    assert [p.split("==")[0] for p in pins] == ["torch", "torchvision"]
    assert all(p in deps and "==" in p for p in pins), (pins, deps)


def test_a_cuda_build_goes_with_its_gpu_only_packages_and_a_cpu_build_stays():
    cuda = {"torch": "2.14.1", "torchvision": "0.29.1", "nvidia-cudnn-cu13": "9.24.0.43",
            "cuda-toolkit": "13.0.3.0", "cuda-bindings": "13.5.0", "triton": "3.8.0", "jinja2": "3.1.6",
            "sympy": "1.14.0"}
    assert install_cpu.to_remove(cuda) == ["cuda-bindings", "cuda-toolkit", "nvidia-cudnn-cu13", "torch",
                                           "torchvision", "triton"]
    assert install_cpu.to_remove({"torch": "2.14.1+cpu", "torchvision": "0.29.1+cpu", "jinja2": "3.1.6"}) == []
    assert install_cpu.to_remove({"jinja2": "3.1.6"}) == []


def _name(requirement: str) -> str:
    return install_cpu.canonical(re.match(r"[A-Za-z0-9_.-]+", requirement)[0])


def _installed_closure(names: list[str]) -> set[str]:
    """The installed distributions these pull in, transitively (markers aside: an over-count)."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [_name(r) for r in requires]
    return seen


def test_gpu_only_is_what_the_installed_torch_needs_on_linux_and_nothing_else():
    linux, everywhere = [], []
    for req in metadata.requires("torch") or []:
        if "extra ==" not in req:
            (linux if 'platform_system == "Linux"' in req else everywhere).append(_name(req))
    if not linux:
        pytest.skip("this torch is a CPU build: it needs nothing GPU-only")
    assert all(install_cpu.GPU_ONLY.match(n) for n in linux), linux
    assert not any(install_cpu.GPU_ONLY.match(n) for n in everywhere), everywhere
    pulled_in = _installed_closure(linux)
    assert all(install_cpu.GPU_ONLY.match(n) for n in pulled_in), sorted(pulled_in)
    assert not pulled_in & _installed_closure(everywhere), "a GPU-only package is needed by a CPU one"


# ---- the script in a fresh venv, against local stand-in wheels -------------------------------------

def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: the package's version in its __init__, its requirements."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    files = {f"{module}/__init__.py": f"VERSION = {version!r}\n",
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                           + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return path


def _index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 simple index of these wheels, as a file:// URL."""
    for w in wheels:
        project = root / "simple" / install_cpu.canonical(w.name.split("-")[0])
        project.mkdir(parents=True, exist_ok=True)
        (project / "index.html").write_text(f'<a href="{w.as_uri()}">{w.name}</a>\n')
    return (root / "simple").as_uri()


@pytest.mark.slow
def test_the_script_replaces_a_cuda_build_and_a_later_install_keeps_the_cpu_one(tmp_path):
    cuda_dir, cpu_dir = tmp_path / "cuda", tmp_path / "cpu"
    cuda = [_wheel(cuda_dir, "torch", "2.14.1", ("nvidia-cudnn-cu13", "triton")),
            _wheel(cuda_dir, "torchvision", "0.29.1", ("torch==2.14.1",)),
            _wheel(cuda_dir, "nvidia-cudnn-cu13", "9.24.0.43"), _wheel(cuda_dir, "triton", "3.8.0")]
    cpu = [_wheel(cpu_dir, "torch", "2.14.1+cpu"), _wheel(cpu_dir, "torchvision", "0.29.1+cpu", ("torch==2.14.1",))]
    project = _wheel(tmp_path / "project", "gallery-stand-in", "1.0", ("torch==2.14.1", "torchvision==0.29.1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([py, *args], capture_output=True, text=True, timeout=300, env=env)

    def versions() -> dict[str, str]:
        r = run("-c", "import json; from importlib import metadata as m; "
                      "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
        return __import__("json").loads(r.stdout)

    r = run("-m", "pip", "install", "--no-index", "--find-links", str(cuda_dir), "torchvision==0.29.1")
    assert r.returncode == 0, r.stderr
    assert versions()["nvidia-cudnn-cu13"] == "9.24.0.43"

    # an index that has only the CUDA build: refused, naming it
    r = run(str(REPO / "tools" / "install_cpu.py"), "--index-url", _index(tmp_path / "wrong", cuda))
    assert r.returncode != 0 and "not CPU builds" in r.stderr, r.stdout + r.stderr

    r = run(str(REPO / "tools" / "install_cpu.py"), "--index-url", _index(tmp_path / "index", cpu))
    assert r.returncode == 0, r.stdout + r.stderr
    have = versions()
    assert (have["torch"], have["torchvision"]) == ("2.14.1+cpu", "0.29.1+cpu")
    assert "nvidia-cudnn-cu13" not in have and "triton" not in have, have
    assert "PyTorch CPU builds installed: torch 2.14.1+cpu, torchvision 0.29.1+cpu" in r.stdout

    # the project's own install (pins torch==2.14.1), with the CUDA build on offer: the CPU one stays
    r = run("-m", "pip", "install", "--no-index", "--find-links", str(cuda_dir), str(project))
    assert r.returncode == 0, r.stderr
    have = versions()
    assert have["torch"] == "2.14.1+cpu" and "nvidia-cudnn-cu13" not in have, have
