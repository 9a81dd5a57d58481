"""Every registered attribution method gives the caller's model and input back exactly as they were.

Checked on success and when the call raises (a bad target found after the forward pass, a
model that raises in its first or in a later forward pass, a target callable that raises):
parameters and buffers (BatchNorm running statistics included) bit-identical and at the same
version, every module's ``training`` flag, ``requires_grad`` flags, ``.grad`` tensors (the same
objects with the same values, or None), the hooks the user registered and no others, no
torch-function mode left active, and the input tensor unchanged.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convlens.attribution as A
from convlens.errors import InputError
from convlens.registry import list_methods
from model_safety import Bomb, assert_unchanged, snapshot

SMALL_OPTIONS = {
    "integrated-gradients": {"steps": 3, "batch_size": 2},
    "smoothgrad": {"samples": 3, "batch_size": 2},
    "occlusion": {"window": 6, "stride": 4, "batch_size": 3},
    "occlusion-sensitivity": {"window": 6, "stride": 4, "batch_size": 3},
    "score-cam": {"batch_size": 3},
    "ablation-cam": {"batch_size": 3},
    "shap-cam": {"samples": 3, "batch_size": 5},
    "rise": {"masks": 20, "batch_size": 7},
}


class Messy(nn.Module):
    """BatchNorm in training mode, dropout, inplace/functional/reused ReLUs, frozen parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu_inplace = nn.ReLU(inplace=True)
        self.bomb = Bomb()
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.shared = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(8 * 3 * 3, 12)
        self.fc2 = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bomb(self.relu_inplace(self.bn(self.conv1(x))))
        x = F.max_pool2d(x, 2)
        x = F.max_pool2d(F.relu(self.conv2(x), inplace=True), 2)
        x = self.drop(self.shared(self.fc1(x.flatten(1))))
        return self.fc2(self.shared(x))


def messy_model() -> Messy:
    torch.manual_seed(0)
    model = Messy()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.3, 0.3)
        model.bn.running_var.uniform_(0.5, 1.5)
    model.train()
    model.conv2.eval()  # a mix of flags, each must come back as it was
    model.conv1.bias.requires_grad_(False)
    model.fc1.weight.grad = torch.randn_like(model.fc1.weight)
    model.fc2.register_forward_hook(lambda module, inputs, output: None)
    model.conv1.register_forward_pre_hook(lambda module, inputs: None)
    return model


SPECS = {spec.name: spec for spec in list_methods("attribution")}


def run(name: str, model: nn.Module, x: torch.Tensor, target: object) -> torch.Tensor:
    spec = SPECS[name]
    options = {**spec.defaults, **SMALL_OPTIONS.get(name, {})}
    if "layer" in options:
        options["layer"] = "conv2"
    return spec.func(model, x, target, **options)


@pytest.fixture()
def setup() -> tuple[Messy, torch.Tensor]:
    return messy_model(), torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", list(SPECS))
def test_success_leaves_model_and_input_untouched(setup, name):
    model, x = setup
    before = snapshot(model, x)
    out = run(name, model, x, None)
    assert torch.isfinite(out).all() and not out.requires_grad
    assert_unchanged(before, model, x)


@pytest.mark.parametrize("name", list(SPECS))
def test_input_that_requires_grad_is_untouched(setup, name):
    model, x = setup
    x.requires_grad_(True)
    before = snapshot(model, x)
    run(name, model, x, 1)
    assert_unchanged(before, model, x)


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("failure", ["bad-target", "first-forward", "later-forward", "target-raises"])
def test_errors_leave_model_and_input_untouched(setup, name, failure):
    model, x = setup
    before = snapshot(model, x)
    target: object = None
    if failure == "bad-target":
        target = 7
    elif failure == "first-forward":
        model.bomb.after = 0
    elif failure == "later-forward":
        model.bomb.after = 1  # multi-pass methods fail part-way; single-pass ones succeed
    elif failure == "target-raises":

        def target(logits: torch.Tensor) -> torch.Tensor:
            raise ValueError("target failed")

    if failure == "later-forward":
        try:
            run(name, model, x, target)
        except RuntimeError as exc:
            assert "boom" in str(exc)
    else:
        error, message = {
            "bad-target": (InputError, "out of range"),
            "first-forward": (RuntimeError, "boom"),
            "target-raises": (ValueError, "target failed"),
        }[failure]
        with pytest.raises(error, match=message):
            run(name, model, x, target)
    model.bomb.after = None
    assert_unchanged(before, model, x)


def test_explain_leaves_model_and_input_untouched(setup):
    model, x = setup
    before = snapshot(model, x)
    result = A.explain(model, x, list(SPECS), layer="conv2", steps=3, samples=2, window=6, stride=4)
    assert set(result.maps) == set(SPECS)
    assert_unchanged(before, model, x)
    model.bomb.after = 2
    with pytest.raises(RuntimeError, match="boom"):
        A.explain(model, x, list(SPECS), layer="conv2", steps=3, samples=2, window=6, stride=4)
    model.bomb.after = None
    assert_unchanged(before, model, x)
