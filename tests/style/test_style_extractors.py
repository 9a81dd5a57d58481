"""Extractors: published-weight loading (offline, from local files in torchvision's format, with
the hash check), the "auto" choice, truncation and layer names."""

from __future__ import annotations

import hashlib

import pytest
import torch

from convlens.errors import DataFileError, DownloadError, UnknownNameError
from convlens.models import create_model
from convlens.style import LayerTap, get_extractor, list_extractors
from convlens.style.extractors import _vgg_layers


def _publish(state: dict, folder, stem: str) -> str:
    """Save a state dict as torchvision names its files (``stem-<sha256 prefix>.pth``); its file:// URL."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "raw.pth"
    torch.save(state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    path = raw.rename(folder / f"{stem}-{digest}.pth")
    return path.as_uri()


def test_registry_lists_every_extractor():
    assert list_extractors() == ["random", "squeezenet1_1", "vgg16", "vgg19"]
    with pytest.raises(UnknownNameError, match="vgg19"):
        get_extractor("vgg20")


def test_squeezenet_weights_load_from_a_torchvision_format_file(tmp_path):
    torch.manual_seed(0)
    reference = create_model("squeezenet1_1")  # torchvision-identical state_dict keys, classifier included
    url = _publish(reference.state_dict(), tmp_path / "mirror", "squeezenet1_1")
    cache = tmp_path / "cache"
    ex = get_extractor("squeezenet1_1", weights_url=url, model_dir=cache, progress=False)
    assert ex.weights == "published" and "published" in ex.label
    assert torch.equal(ex.layers.conv1.weight, reference.features[0].weight)
    assert torch.equal(ex.layers.fire9.expand3x3.bias, reference.features[12].expand3x3.bias)
    # the file is now cached: "auto" takes it without downloading
    assert get_extractor("auto", weights_url=url, model_dir=cache).name == "squeezenet1_1"
    assert get_extractor("squeezenet1_1", download=False, weights_url=url, model_dir=cache).name == "squeezenet1_1"


def test_auto_falls_back_to_the_random_network(tmp_path):
    ex = get_extractor("auto", model_dir=tmp_path)
    assert ex.name == "random" and ex.weights == "random" and "offline" in ex.label


def test_vgg16_weights_load_and_the_classifier_is_ignored(tmp_path):
    torch.manual_seed(0)
    layers = _vgg_layers("vgg16")
    state = {f"features.{i}.{k}": v for i, m in enumerate(layers) for k, v in m.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    url = _publish(state, tmp_path / "mirror", "vgg16")
    ex = get_extractor("vgg16", weights_url=url, model_dir=tmp_path / "cache", progress=False)
    assert [n for n in ex.layer_names if n.startswith("conv")][-1] == "conv5_3"
    assert torch.equal(ex.layers.conv5_3.weight, layers[28].weight)
    assert ex.content_layer == "relu4_2" and ex.style_layers[-1] == "relu5_1"


def test_a_file_that_fails_its_checksum_is_refused(tmp_path):
    state = create_model("squeezenet1_1").state_dict()
    url = _publish(state, tmp_path / "mirror", "squeezenet1_1")
    good = tmp_path / "mirror" / url.rsplit("/", 1)[1]
    bad = good.with_name("squeezenet1_1-00000000.pth")
    good.rename(bad)
    with pytest.raises(DownloadError, match="checksum"):
        get_extractor("squeezenet1_1", weights_url=bad.as_uri(), model_dir=tmp_path / "cache", progress=False)


def test_weights_of_another_network_are_refused(tmp_path):
    url = _publish(create_model("squeezenet1_1").state_dict(), tmp_path / "mirror", "vgg19")
    with pytest.raises(DataFileError):
        get_extractor("vgg19", weights_url=url, model_dir=tmp_path / "cache", progress=False)


def test_tap_truncates_after_the_last_used_layer_and_clones_before_inplace_relu():
    ex = get_extractor("random")
    tap = LayerTap(ex, ["conv2", "relu1"])
    assert [n for n, _ in tap.net.named_children()] == ["conv1", "relu1", "pool1", "conv2"]
    tap = LayerTap(ex, ["conv1", "relu1"])
    x = torch.rand(1, 3, 16, 16)
    conv1, relu1 = tap(x)
    assert conv1.min() < 0  # not overwritten by the in-place ReLU that follows
    torch.testing.assert_close(relu1, conv1.clamp_min(0))
    with pytest.raises(UnknownNameError, match="relu1"):
        LayerTap(ex, ["relu11"])


def test_a_tap_runs_where_its_extractor_lives():
    """The normalization front follows the network's device (a CUDA extractor gets a CUDA tap)."""
    import dataclasses

    ex = get_extractor("random")
    meta = dataclasses.replace(ex, layers=ex.layers.to("meta"))
    tap = LayerTap(meta, [meta.layer_names[0]])
    assert all(b.device.type == "meta" for b in tap.normalize.buffers())
