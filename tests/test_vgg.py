"""The feature network: weight loading, checksum, preprocessing, truncation (no network access)."""
from __future__ import annotations

import shutil
import urllib.error

import pytest

torch = pytest.importorskip("torch")

from pipeline.render.gatys import vgg  # noqa: E402
from pipeline.util.errors import GalleryError  # noqa: E402
from pipeline.core.weights import CAFFE_SHA256, TORCHVISION, WeightsError, caffe_weights_path, \
    weights_identity  # noqa: E402


def synthetic_state(seed: int = 0) -> dict:
    """A random state dict in torchvision's VGG-19 layout (features.N.*, plus a classifier)."""
    g = torch.Generator().manual_seed(seed)
    state, prev = {}, 3
    for name, idx in vgg.TORCHVISION_INDEX.items():
        out = vgg.BLOCKS[int(name[4]) - 1][0]
        state[f"features.{idx}.weight"] = torch.randn(out, prev, 3, 3, generator=g) * (2 / (9 * prev)) ** 0.5
        state[f"features.{idx}.bias"] = torch.zeros(out)
        prev = out
    state["classifier.0.weight"] = torch.zeros(4, 8)
    return state


def test_layer_names_follow_vgg19():
    assert vgg.LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert len(vgg.CONV_NAMES) == 16 and vgg.LAYER_NAMES[-1] == "pool5"
    assert vgg.TORCHVISION_INDEX["conv4_2"] == 21 and vgg.TORCHVISION_INDEX["conv5_1"] == 28


def test_caffe_weights_load_dequantised_oihw():
    convs = vgg.load_caffe(caffe_weights_path())
    assert set(convs) == set(vgg.CONV_NAMES)
    w, b = convs["conv1_1"]
    assert tuple(w.shape) == (64, 3, 3, 3) and tuple(b.shape) == (64,)
    assert tuple(convs["conv5_1"][0].shape) == (512, 512, 3, 3)
    assert all(torch.isfinite(w).all() and w.abs().max() < 2 for w, _ in convs.values())
    # Real weights respond to structure: an edge excites relu1_1 far more than a flat grey image.
    net = vgg.VGGFeatures(convs, vgg.Preprocess.caffe(), ["relu1_1"])
    flat = torch.full((1, 3, 16, 16), 120.0)
    edge = flat.clone()
    edge[..., 8:] = 250
    assert net(edge)["relu1_1"].std() > 3 * net(flat)["relu1_1"].std()


def test_checksum_rejects_a_corrupted_file(tmp_path):
    bad = tmp_path / "vgg.bin"
    shutil.copy(caffe_weights_path(), bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256") as e:
        vgg.load_caffe(bad)
    assert isinstance(e.value, GalleryError) and CAFFE_SHA256 in str(e.value)


@pytest.mark.parametrize("pre", [vgg.Preprocess.caffe(), vgg.Preprocess.torchvision()])
def test_preprocessing_round_trips(pre):
    x = torch.rand(1, 3, 5, 7) * 255
    assert torch.allclose(pre.inverse(pre(x)), x, atol=1e-3)


def test_preprocessing_matches_each_weights_convention():
    x = torch.rand(1, 3, 4, 4) * 255
    caffe = vgg.Preprocess.caffe()(x)
    assert torch.allclose(caffe[:, 0], x[:, 2] - 103.939)  # BGR order, 0-255, mean removed
    assert torch.allclose(caffe[:, 2], x[:, 0] - 123.68)
    tv = vgg.Preprocess.torchvision()(x)
    assert torch.allclose(tv[:, 0], (x[:, 0] / 255 - 0.485) / 0.229, atol=1e-5)


def test_network_stops_at_deepest_layer_in_use():
    convs = vgg.convs_from_torchvision_state(synthetic_state(), "test")
    net = vgg.VGGFeatures(convs, vgg.Preprocess.torchvision(), ["relu1_1", "relu2_1"])
    assert net.names[-1] == "relu2_1" and len(net.net) == len(net.names) == 7
    out = net(torch.rand(1, 3, 16, 12) * 255)
    assert tuple(out["relu2_1"].shape) == (1, 128, 8, 6)


def test_max_and_avg_pooling_differ():
    convs = vgg.convs_from_torchvision_state(synthetic_state(), "test")
    x = torch.rand(1, 3, 16, 16) * 255
    a = vgg.VGGFeatures(convs, vgg.Preprocess.caffe(), ["relu2_1"], "max")(x)["relu2_1"]
    b = vgg.VGGFeatures(convs, vgg.Preprocess.caffe(), ["relu2_1"], "avg")(x)["relu2_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_local_pth_loads_with_torchvision_preprocessing(tmp_path):
    path = tmp_path / "mine.pth"
    state = synthetic_state()
    torch.save(state, path)
    net, identity = vgg.load_vgg(str(path), ["relu4_2", "relu5_1"])
    assert not net.preprocess.bgr
    assert torch.equal(net.net[0].weight, state["features.0.weight"])
    out = net(torch.rand(1, 3, 32, 32) * 255)
    assert tuple(out["relu5_1"].shape) == (1, 512, 2, 2)
    assert identity == weights_identity(str(path)) and identity["id"] == "file:mine.pth"


def test_pth_with_wrong_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="not a torchvision VGG-19"):
        vgg.load_vgg(str(path), ["relu1_1"])
    notweights = tmp_path / "text.pth"
    notweights.write_text("hello")
    with pytest.raises(WeightsError, match="cannot be read"):
        vgg.load_vgg(str(notweights), ["relu1_1"])


def test_unknown_weights_name_is_a_clear_error():
    with pytest.raises(WeightsError, match="unknown weights 'vgg99'"):
        vgg.load_vgg("vgg99", ["relu1_1"])


def test_torchvision_weights_offline_fail_cleanly(tmp_path, monkeypatch):
    """An empty torch cache and no network: a WeightsError naming the cache path and the fix."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError) as e:
        vgg.load_vgg(TORCHVISION, ["relu1_1"])
    msg = str(e.value)
    assert "could not be downloaded" in msg and str(tmp_path / "torch") in msg and "caffe-vgg19" in msg
