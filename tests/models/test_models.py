"""Models: architectures, exact counts against independent arithmetic, weights loading."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from torch import nn

from convlens.errors import DownloadError, InputError, UnknownNameError
from convlens.models import create_model, get_info, imagenet_classes, last_conv_name, list_models, summary


def conv_out(size: int, kernel: int, stride: int = 1, pad: int = 0, ceil: bool = False) -> int:
    value = (size + 2 * pad - kernel) / stride + 1
    return math.ceil(value) if ceil else math.floor(value)


def test_registry_lists_the_seed_models():
    assert {"mnist-cnn", "cifar-cnn", "squeezenet1_0", "squeezenet1_1"} <= set(list_models())


@pytest.mark.parametrize("name", ["mnist-cnn", "cifar-cnn", "squeezenet1_0", "squeezenet1_1"])
def test_every_model_runs_on_its_input_size_and_records_metadata(name):
    model = create_model(name)
    info = get_info(model)
    out = model(torch.rand(2, *info.input_size))
    assert out.shape == (2, info.num_classes)
    assert dict(model.named_modules())[info.last_conv] is not None
    assert len(info.mean) == len(info.std) == info.input_size[0]
    assert not model.training


def test_mnist_cnn_counts_match_hand_arithmetic():
    s = summary(create_model("mnist-cnn"))
    conv1 = 32 * 1 * 3 * 3 + 32
    conv2 = 32 * 32 * 3 * 3 + 32
    fc1 = 32 * 7 * 7 * 500 + 500
    fc2 = 500 * 10 + 10
    assert (s.conv_params, s.fc_params, s.other_params) == (conv1 + conv2, fc1 + fc2, 0)
    assert s.total_params == conv1 + conv2 + fc1 + fc2 == 799_078
    assert s.conv_neurons == 32 * 28 * 28 + 32 * 14 * 14
    assert s.fc_neurons == 500 + 10
    assert s.mult_adds == 28 * 28 * 32 * 9 + 14 * 14 * 32 * 32 * 9 + 1568 * 500 + 500 * 10
    shapes = [(r.name, r.output_shape) for r in s.rows if r.kind != "other"]
    assert shapes == [("features.0", (1, 32, 28, 28)), ("features.3", (1, 32, 14, 14)),
                      ("classifier.1", (1, 500)), ("classifier.3", (1, 10))]  # fmt: skip


def test_mnist_cnn_with_batchnorm_counts_batchnorm_as_other():
    s = summary(create_model("mnist-cnn", batchnorm=True))
    assert s.other_params == 2 * (32 + 32)
    assert s.total_params == 799_078 + 128
    assert [r.type for r in s.rows[:5]] == ["Normalize", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]


def test_cifar_cnn_counts_match_hand_arithmetic():
    s = summary(create_model("cifar-cnn"))
    h1 = conv_out(32, 5)  # 28
    p1 = h1 // 2  # 14
    h2 = conv_out(p1, 5)  # 10
    p2 = h2 // 2  # 5
    conv = (3 * 8 * 25 + 8) + (8 * 16 * 25 + 16)
    fc = (16 * p2 * p2 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
    assert (s.conv_params, s.fc_params, s.total_params) == (conv, fc, conv + fc)
    assert s.conv_neurons == 8 * h1 * h1 + 16 * h2 * h2
    assert s.fc_neurons == 128 + 64 + 10


FIRES = {
    "1_0": (224, 7, 96, {3: (96, 16, 64), 4: (128, 16, 64), 5: (128, 32, 128), 7: (256, 32, 128),
                         8: (256, 48, 192), 9: (384, 48, 192), 10: (384, 64, 256), 12: (512, 64, 256)},
            (2, 6, 11)),
    "1_1": (224, 3, 64, {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
                         9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)},
            (2, 5, 8)),
}  # fmt: skip


def expected_squeezenet(version: str):
    """Parameters, neurons and torchvision's state_dict keys computed from the published table."""
    size, k, first, fires, pools = FIRES[version]
    params = 3 * first * k * k + first
    hw = conv_out(size, k, 2)
    neurons = first * hw * hw
    keys = ["features.0.weight", "features.0.bias"]
    for index in range(2, 13):
        if index in pools:
            hw = conv_out(hw, 3, 2, ceil=True)
            continue
        if index not in fires:
            continue
        cin, sq, ex = fires[index]
        params += (cin * sq + sq) + (sq * ex + ex) + (sq * ex * 9 + ex)
        neurons += (sq + ex + ex) * hw * hw
        keys += [
            f"features.{index}.{part}.{p}" for part in ("squeeze", "expand1x1", "expand3x3") for p in ("weight", "bias")
        ]
    params += 512 * 1000 + 1000
    neurons += 1000 * hw * hw
    keys += ["classifier.1.weight", "classifier.1.bias"]
    return params, neurons, keys


@pytest.mark.parametrize("version,published", [("1_0", 1_248_424), ("1_1", 1_235_496)])
def test_squeezenet_counts_and_torchvision_keys(version, published):
    model = create_model(f"squeezenet{version}")
    s = summary(model)
    params, neurons, keys = expected_squeezenet(version)
    assert s.total_params == s.conv_params == params == published
    assert s.fc_params == 0
    assert s.conv_neurons == neurons
    assert list(model.state_dict()) == keys


def _hashed_weight_file(tmp_path, version):
    state = create_model(f"squeezenet{version}").state_dict()
    raw = tmp_path / "raw.pth"
    torch.save(state, raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    path = tmp_path / f"squeezenet{version}-{digest}.pth"
    raw.rename(path)
    return path, state


def test_pretrained_weights_load_through_the_download_path_offline(tmp_path):
    path, state = _hashed_weight_file(tmp_path, "1_1")
    model = create_model("squeezenet1_1", pretrained=True, weights_url=path.as_uri(),
                         model_dir=tmp_path / "cache", progress=False)  # fmt: skip
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    assert len(get_info(model).class_names) == 1000


def test_pretrained_weights_with_a_wrong_hash_are_refused(tmp_path):
    path, _ = _hashed_weight_file(tmp_path, "1_0")
    bad = tmp_path / "squeezenet1_0-deadbeef.pth"
    path.rename(bad)
    with pytest.raises(DownloadError, match="checksum"):
        create_model(
            "squeezenet1_0", pretrained=True, weights_url=bad.as_uri(), model_dir=tmp_path / "c", progress=False
        )


def test_imagenet_classes_ship_with_the_package():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet tissue"


def test_bad_model_requests_give_clear_errors():
    with pytest.raises(UnknownNameError, match="did you mean mnist-cnn"):
        create_model("mnist-cn")
    with pytest.raises(InputError, match="BatchNorm"):
        create_model("squeezenet1_1", batchnorm=True)
    with pytest.raises(InputError, match="no published weights"):
        create_model("mnist-cnn", pretrained=True)


def test_custom_num_classes_and_any_module():
    model = create_model("cifar-cnn", num_classes=3)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.Flatten(), nn.LazyLinear(2))
    net(torch.rand(1, 3, 8, 8))
    assert last_conv_name(net) is None  # nothing recorded: a probe forward pass decides
    from convlens._probe import default_cam_layer

    assert default_cam_layer(net, torch.rand(1, 3, 8, 8)) == "2"
    s = summary(net, (3, 8, 8))
    assert s.conv_params == (3 * 4 * 9 + 4) + (4 * 5 * 9 + 5) and s.fc_params == 5 * 4 * 4 * 2 + 2
    with pytest.raises(InputError, match="input_size"):
        summary(net)
    with pytest.raises(InputError, match="cannot run"):
        summary(net, (3, 2, 2))


def test_summary_leaves_the_model_untouched_and_exports(tmp_path):
    model = create_model("mnist-cnn", batchnorm=True).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = summary(model)
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())
    s.to_csv(tmp_path / "s.csv")
    s.to_json(tmp_path / "s.json")
    assert (tmp_path / "s.csv").read_text().splitlines()[0].startswith("name,type,kind")
    assert '"total_params": 799206' in (tmp_path / "s.json").read_text()


def test_zoo_names_need_their_package():
    try:
        import torchvision.models  # noqa: F401
    except Exception:  # absent, or installed but broken against this torch build
        with pytest.raises(InputError, match="optional package 'torchvision'"):
            create_model("torchvision.resnet18")
        return
    model = create_model("torchvision.resnet18")
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
    assert last_conv_name(model).startswith("net.layer4")


def test_timm_names_when_installed():
    timm = pytest.importorskip("timm")
    assert timm is not None
    model = create_model("timm.resnet18")
    assert get_info(model).num_classes == 1000


def test_transposed_convolution_mult_adds():
    net = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2))
    s = summary(net, (4, 5, 5))
    assert s.rows[0].output_shape == (1, 6, 11, 11)
    assert s.mult_adds == 4 * 5 * 5 * 6 * 3 * 3  # each input value times out_channels x kernel area
