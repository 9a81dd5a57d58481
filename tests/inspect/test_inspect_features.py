"""feature_maps / activation_stats / filters: hand-computed references, one pass, the model untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convlens.errors import InputError, UnknownNameError
from convlens.inspect import activation_stats, feature_maps, filters


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_feature_maps_equal_hand_computed_activations_on_mnist_cnn(trained_mnist, test_digits):
    model, x = trained_mnist, test_digits[0][:6]
    maps = feature_maps(model, x)
    f = model.features
    with torch.no_grad():
        c1 = f[0](model.normalize(x))
        p1 = f[2](torch.relu(c1))
        c2 = f[3](p1)
        p2 = f[5](torch.relu(c2))
    assert list(maps) == ["features.0", "features.2", "features.3", "features.5"]  # every conv and pool, in order
    for got, want in zip(maps.values(), (c1, p1, c2, p2), strict=True):
        assert got.shape == want.shape and not got.requires_grad
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert (maps["features.0"] < 0).any()  # the conv's own output, before its ReLU


def test_one_forward_pass_no_hooks_left_training_flags_restored(trained_mnist, test_digits):
    import copy

    model = copy.deepcopy(trained_mnist).train()
    calls = []
    handle = model.register_forward_pre_hook(lambda *_: calls.append(1))
    before = _hooks(model)
    x = test_digits[0][:4]
    x0 = x.clone()
    feature_maps(model, x)
    handle.remove()
    assert len(calls) == 1 and _hooks(model) == before - 1 == 0
    assert all(m.training for m in model.modules()) and torch.equal(x, x0)


def test_no_hooks_left_when_a_named_layer_fails(trained_mnist, test_digits):
    with pytest.raises(UnknownNameError, match="closest names"):
        feature_maps(trained_mnist, test_digits[0][:2], ["features.33"])
    with pytest.raises(InputError):
        feature_maps(trained_mnist, test_digits[0][:2].long())
    assert _hooks(trained_mnist) == 0


class FunctionalNet(nn.Module):
    """Functional, in-place ReLUs and one pooling module used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x), inplace=True))
        x = self.pool(self.conv2(x).relu_())
        return self.fc(F.adaptive_avg_pool2d(x, 2).flatten(1))


def test_functional_and_inplace_relus_and_a_reused_module():
    torch.manual_seed(0)
    model, x = FunctionalNet().eval(), torch.rand(3, 1, 16, 16)
    maps = feature_maps(model, x)
    assert list(maps) == ["conv1", "pool", "conv2", "pool#2"]
    with torch.no_grad():
        c1 = model.conv1(x)
        c2 = model.conv2(model.pool(torch.relu(c1)))
    torch.testing.assert_close(maps["conv1"], c1)  # not overwritten by the in-place ReLU that follows
    torch.testing.assert_close(maps["conv2"], c2)
    torch.testing.assert_close(maps["pool#2"], model.pool(torch.relu(c2)))
    assert (maps["conv1"] < 0).any()


def test_squeezenet_fire_modules_in_execution_order():
    from convlens.models import create_model

    torch.manual_seed(0)
    model, x = create_model("squeezenet1_1"), torch.rand(1, 3, 96, 96)
    maps = feature_maps(model, x)
    names = list(maps)
    assert names[:5] == [
        "features.0",
        "features.2",
        "features.3.squeeze",
        "features.3.expand1x1",
        "features.3.expand3x3",
    ]
    assert names[-1] == "classifier.3" and "classifier.1" in names
    fire = model.features[3]
    with torch.no_grad():
        squeezed = torch.relu(maps["features.3.squeeze"])
        torch.testing.assert_close(maps["features.3.expand3x3"], fire.expand3x3(squeezed), rtol=1e-4, atol=1e-5)
    whole = feature_maps(model, x, ["features.4", "features.3"])  # containers, returned in execution order
    assert list(whole) == ["features.3", "features.4"] and whole["features.3"].shape[1] == 128
    expected = torch.cat([torch.relu(maps["features.3.expand1x1"]), torch.relu(maps["features.3.expand3x3"])], 1)
    torch.testing.assert_close(whole["features.3"], expected)


def test_activation_stats_against_hand_counts():
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1, 1))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    x = torch.rand(4, 1, 5, 5) * 0.9 + 0.05  # strictly positive
    stats = activation_stats(model, x)
    relu = stats["1"]
    assert list(stats) == ["0", "1"]
    assert relu.dead_channels == pytest.approx(2 / 3)  # channels 1 and 2 are never positive
    assert relu.zeros == pytest.approx(2 / 3) and relu.dead_units == pytest.approx(2 / 3)
    out = model(x)
    assert relu.mean == pytest.approx(out.mean().item(), rel=1e-5) and relu.std == pytest.approx(
        out.std().item(), rel=1e-5
    )
    assert stats["0"].zeros == 0 and stats["0"].dead_channels == pytest.approx(2 / 3)


def test_filters_copy_the_weights_and_name_conv_layers(trained_mnist):
    f = filters(trained_mnist)
    assert f.name == "features.0" and f.first and f.shape == (32, 1, 3, 3)
    assert torch.equal(f.weight, trained_mnist.features[0].weight) and f.weight is not trained_mnist.features[0].weight
    second = filters(trained_mnist, "features.3")
    assert not second.first and second.shape == (32, 32, 3, 3)
    with pytest.raises(InputError, match="not a 2-D convolution; choose from: features.0, features.3"):
        filters(trained_mnist, "features.1")
    with pytest.raises(UnknownNameError, match="features.3"):
        filters(trained_mnist, "features.33")
