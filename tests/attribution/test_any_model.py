"""Any model, any output: ResNet-like shortcuts, auxiliary heads, tuple/dict/.logits outputs."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from convlens._probe import default_cam_layer
from convlens.attribution import explain, grad_cam
from convlens.attribution.gradcam import gradcam_layer
from convlens.errors import InputError
from convlens.registry import list_methods

SMALL = {"steps": 4, "samples": 3, "window": 4, "stride": 4, "seed": 0}


class Block(nn.Module):
    """A residual block whose projection shortcut is registered after its last convolution."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.relu = nn.ReLU(inplace=True)  # reused three times, as in torchvision's Bottleneck
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.conv1(x))
        out = self.relu(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNetLike(nn.Module):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.layer1 = nn.Sequential(Block(6, 8, 1), Block(8, 8, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.layer1(torch.relu(self.stem(x)))).flatten(1))


class GoogLeNetLike(nn.Module):
    """An auxiliary classifier that runs only in training, registered after the main path."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU()
        )
        self.fc = nn.Linear(8, classes)
        self.aux = nn.Sequential(
            nn.Conv2d(8, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        logits = self.fc(f.mean(dim=(2, 3)))
        if self.training:
            return logits, self.aux(f)
        return logits


@dataclass
class Output:
    logits: torch.Tensor
    features: torch.Tensor


class Wrapped(nn.Module):
    """The same network returning its logits inside a tuple, a dict or an object."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        torch.manual_seed(0)
        self.net = ResNetLike()

    def forward(self, x: torch.Tensor) -> object:
        logits = self.net(x)
        if self.kind == "tuple1":
            return (logits,)
        if self.kind == "tuple2":
            return logits, logits.detach() * 0
        if self.kind == "dict":
            return {"logits": logits, "aux": logits * 2}
        if self.kind == "dict1":
            return {"scores": logits}
        return Output(logits, x)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def _all_maps(model: nn.Module, x: torch.Tensor, **kw: object) -> dict[str, torch.Tensor]:
    names = [s.name for s in list_methods("attribution")]
    return explain(model, x, names, target=1, **SMALL, **kw).maps  # type: ignore[arg-type]


def test_resnet_default_layer_is_the_last_block_after_the_residual_addition(x):
    torch.manual_seed(0)
    model = ResNetLike().eval()
    assert default_cam_layer(model, x) == "layer1.1"  # not layer1.1.downsample.0, not the reused relu
    name, _ = gradcam_layer(model, None, x)
    assert name == "layer1.1"
    maps = _all_maps(model, x)
    assert all(bool(torch.isfinite(m).all()) for m in maps.values())


def test_auxiliary_head_that_runs_only_in_training_is_never_the_default(x):
    torch.manual_seed(0)
    model = GoogLeNetLike().train()
    before = copy.deepcopy(model.state_dict())
    assert default_cam_layer(model, x) == "features.3"
    maps = _all_maps(model, x)
    assert model.training and all(m.training for m in model.modules())  # flags restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(maps) == {s.name for s in list_methods("attribution")}


def test_squeezenet_default_layer_found_by_the_probe_is_the_last_fire_module():
    from convlens.models import create_model
    from convlens.models.info import INFO_ATTR

    model = create_model("squeezenet1_1")
    object.__delattr__(model, INFO_ATTR)  # forget the recorded layer: the probe must find it
    assert default_cam_layer(model, torch.rand(1, 3, 96, 96)) == "features.12"


@pytest.mark.parametrize("kind", ["tuple1", "dict1", "object", "dict"])
def test_obvious_outputs_need_no_output_argument(kind, x):
    reference = _all_maps(Wrapped("plain").eval(), x, output=lambda z: z.logits)
    maps = _all_maps(Wrapped(kind).eval(), x)
    for name, m in maps.items():
        torch.testing.assert_close(m, reference[name], msg=name)


@pytest.mark.parametrize(
    "kind, output", [("tuple2", 0), ("dict", "aux"), ("object", "logits"), ("tuple2", lambda z: z[0])]
)
def test_output_argument_picks_the_logits(kind, output, x):
    model = Wrapped(kind).eval()
    maps = _all_maps(model, x, output=output)
    for spec in list_methods("attribution"):
        direct = spec.func(model, x, 1, output=output, **{k: v for k, v in SMALL.items() if k in spec.parameters})
        torch.testing.assert_close(maps[spec.name], direct, msg=spec.name)


def test_ambiguous_output_is_a_one_line_error_that_says_to_pass_output(x):
    model = Wrapped("tuple2").eval()
    for spec in list_methods("attribution"):
        with pytest.raises(InputError, match="pass output=") as info:
            spec.func(model, x, 1, **{k: v for k, v in SMALL.items() if k in spec.parameters})
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="not a key"):
        grad_cam(Wrapped("dict").eval(), x, output="nope")


def test_a_real_error_inside_the_model_is_not_retried(x):
    class Failing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.calls = 0

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if z.shape[0] > 1:  # fails on the batch, not on the one-image layout probe
                raise RuntimeError("boom inside the model")
            return self.conv(z).mean(dim=(2, 3))

    model = Failing()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, x, layer="conv")
    calls = model.calls
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, x, layer="conv")
    assert model.calls - calls == 1  # layout already known: one failing call, never a retry
