"""Where and how the optimiser runs: the device, the network's precision, the thread count.

Each is resolved from the render's parameters and the machine (auto picks what this machine
does best); an explicit choice that this machine cannot honour is refused with the fix.
"""
from __future__ import annotations

import torch

from pipeline.render.threads import requested_threads
from pipeline.util.errors import GalleryError


class RenderError(GalleryError):
    """A render that cannot start: bad device, unsupported precision, unusable image."""


def resolve_device(name: str) -> torch.device:
    """auto picks cuda, then mps, then cpu; an explicit device must exist here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise RenderError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RenderError(f"device '{name}' is not available: this machine has no usable CUDA GPU "
                              "(use --device auto or cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RenderError(f"device '{name}' is not available: only {torch.cuda.device_count()} "
                              "CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RenderError(f"device '{name}' is not available on this machine (use auto or cpu)")
    elif dev.type != "cpu":
        raise RenderError(f"unsupported device '{name}': use auto, cpu, cuda, cuda:N or mps")
    return dev


def cpu_bf16_supported() -> bool:
    """True where oneDNN has native bf16 (AVX512-BF16/AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """auto: bf16 on CPUs with native bf16, bf16 (else fp16) on CUDA, fp32 elsewhere."""
    if name != "auto":
        return name
    if device.type == "cpu":
        return "bf16" if cpu_bf16_supported() else "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def choose_threads() -> int:
    """The user's count (render/threads.py), else torch's default."""
    return requested_threads() or torch.get_num_threads()
