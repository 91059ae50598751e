"""PyTorch's CPU-only wheels in this environment: what `make install TORCH=cpu` runs first.

PyTorch's Linux wheels on PyPI depend on about 4 GB of NVIDIA CUDA libraries and Triton, and
cannot do without them: their libtorch links libcudnn, libnccl, libcudart and others, so
`import torch` fails when they are left out. PyTorch's own CPU index has builds that need none
(`torch==2.14.1+cpu`). This installs the pinned torch and torchvision (pins read from
pyproject.toml) from that index; `pip install -e .` after it keeps them, since 2.14.1+cpu
satisfies `torch==2.14.1` and brings no CUDA dependency. A CUDA build already installed is
replaced, and the GPU-only packages it brought are removed, so an existing venv can switch.
Only Linux needs this: PyPI's PyTorch for macOS has no CUDA libraries.

    python tools/install_cpu.py [--index-url https://download.pytorch.org/whl/cpu]

Stdlib only: it runs before anything of ours is installed.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PACKAGES = ("torch", "torchvision")
# What PyTorch's Linux wheels require for the GPU alone (CUDA libraries, their bindings, Triton).
GPU_ONLY = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path = PYPROJECT) -> list[str]:
    """The project's requirements on torch and torchvision, as pyproject.toml writes them."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    found = [d.replace(" ", "") for d in deps if canonical(re.match(r"[A-Za-z0-9_.-]+", d)[0]) in TORCH_PACKAGES]
    if len(found) != len(TORCH_PACKAGES):
        raise SystemExit(f"{pyproject}: expected requirements on {' and '.join(TORCH_PACKAGES)}, found {found}")
    return found


def to_remove(installed: dict[str, str]) -> list[str]:
    """What must go before the CPU wheels come in: torch and torchvision when they are not CPU
    builds (pip would keep them: they satisfy the pins), and every GPU-only package."""
    cuda_build = any(name in installed and "+cpu" not in installed[name] for name in TORCH_PACKAGES)
    return sorted(name for name in installed
                  if GPU_ONLY.match(name) or (cuda_build and name in TORCH_PACKAGES))


def installed_here() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def pip(*args: str) -> None:
    print("pip " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/install_cpu.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-url", default=INDEX, help=f"where the CPU wheels are (default: {INDEX})")
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print(f"PyPI's PyTorch for {sys.platform} has no CUDA libraries: nothing to change")
        return 0
    remove = to_remove(installed_here())
    if remove:
        pip("uninstall", "--yes", *remove)
    try:
        pip("install", "--progress-bar", "on", "--index-url", args.index_url, *pins())
    except subprocess.CalledProcessError:
        raise SystemExit(f"pip could not install {' '.join(pins())} from {args.index_url} (its message "
                         "is above): check the address and the network, then run make install TORCH=cpu again")
    builds = {name: installed_here().get(name, "") for name in TORCH_PACKAGES}
    if not all("+cpu" in v for v in builds.values()):
        raise SystemExit(f"{args.index_url} gave {builds}, not CPU builds (+cpu): is it PyTorch's CPU index?")
    print(f"PyTorch CPU builds installed: {', '.join(f'{n} {v}' for n, v in builds.items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
