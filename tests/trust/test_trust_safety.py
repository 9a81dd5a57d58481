"""Every trust check gives a messy model back exactly as it was, on success and when the model raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.trust import (
    average_drop_increase,
    compare_with_captum,
    deletion_insertion,
    methods_faithfulness,
    randomization_test,
)
from model_safety import Bomb, assert_unchanged, snapshot


class Messy(nn.Module):
    """BatchNorm in training mode, an in-place ReLU, a frozen bias, a stale .grad, a user hook."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.bomb = Bomb()
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bomb(self.relu(self.bn(self.conv(x)))).mean(dim=(2, 3)))


def messy() -> Messy:
    torch.manual_seed(0)
    model = Messy().train()
    model.conv.bias.requires_grad_(False)
    model.fc.weight.grad = torch.randn_like(model.fc.weight)
    model.fc.register_forward_hook(lambda module, inputs, output: None)
    return model


CALLS = {
    "deletion_insertion": lambda m, x: deletion_insertion(m, x, torch.rand(2, 1, 8, 8), steps=4),
    "average_drop_increase": lambda m, x: average_drop_increase(m, x, torch.rand(2, 1, 8, 8)),
    "methods_faithfulness": lambda m, x: methods_faithfulness(m, x, ["saliency", "grad-cam"], steps=4),
    "randomization_test": lambda m, x: randomization_test(m, x, ["saliency"], seed=0),
    "compare_with_captum": lambda m, x: compare_with_captum(m, x, ["saliency", "grad-cam"]),
}


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("fails", [False, True])
def test_model_and_input_come_back_untouched(name, fails):
    if name == "compare_with_captum":
        pytest.importorskip("captum.attr")
    model, x = messy(), torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = snapshot(model, x)
    if fails:
        model.bomb.after = 1  # the second forward pass raises
        with pytest.raises(RuntimeError, match="boom"):
            CALLS[name](model, x)
    else:
        CALLS[name](model, x)
    assert_unchanged(before, model, x)
