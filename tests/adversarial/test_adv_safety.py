"""Every registered attack gives the caller's model and images back exactly as they were.

Checked on success and when the call raises (a target out of range, a model that raises in its
first or in a later forward pass): parameters and buffers (BatchNorm statistics included)
bit-identical and at the same version, every module's ``training`` flag, ``requires_grad``
flags, ``.grad`` tensors, the user's hooks and no others, and the input tensor. Also: the
registry lists the attacks, and robustness at eps 0 is exactly the clean accuracy.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convlens.adversarial as A
from convlens.errors import InputError, UnknownNameError
from convlens.registry import get_method, list_methods
from model_safety import Bomb, assert_unchanged, snapshot


class Messy(nn.Module):
    """BatchNorm in training mode, dropout, an in-place ReLU, a frozen bias, a stale .grad, user hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.bomb = Bomb()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(6 * 6 * 6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.bomb(self.relu(self.bn(self.conv(x)))), 2)
        return self.fc(self.drop(x.flatten(1)))


def messy() -> Messy:
    torch.manual_seed(0)
    model = Messy()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.3, 0.3)
    model.train()
    model.fc.eval()
    model.conv.bias.requires_grad_(False)
    model.fc.weight.grad = torch.randn_like(model.fc.weight)
    model.fc.register_forward_hook(lambda module, inputs, output: None)
    return model


CALLS = {
    "fooling": lambda m, x, t: A.fooling_image(m, x, t, max_steps=3),
    "from-noise": lambda m, x, t: A.image_from_noise(m, t, image_size=(3, 12, 12), steps=2),
    "lookalike": lambda m, x, t: A.lookalike(m, t, x, steps=3),
    "noise": lambda m, x, t: A.additive_noise(m, x, t, steps=2),
    "fgsm": lambda m, x, t: A.fgsm(m, x, t, eps=0.1),
    "pgd": lambda m, x, t: A.pgd(m, x, t, eps=0.1, steps=3, restarts=2, early_stop=True),
}


def test_every_registered_attack_is_covered_and_documented():
    names = [s.name for s in list_methods("attack")]
    assert sorted(names) == sorted(CALLS)
    for spec in list_methods("attack"):
        assert spec.output == "image" and spec.paper and spec.summary
        assert "output" in spec.parameters and spec.func.__doc__ and "Returns" in spec.func.__doc__
    assert get_method("pgd", "attack").defaults["eps"] == 0.3  # read from the signature
    with pytest.raises(UnknownNameError):
        get_method("pdg", "attack")


@pytest.fixture()
def setup() -> tuple[Messy, torch.Tensor]:
    return messy(), torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", list(CALLS))
def test_success_leaves_model_and_input_untouched(setup, name):
    model, x = setup
    x.requires_grad_(True)
    before = snapshot(model, x)
    result = CALLS[name](model, x, 1)
    assert not result.images.requires_grad and result.images.min() >= 0 and result.images.max() <= 1
    assert_unchanged(before, model, x)


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("failure", ["bad-target", "first-forward", "later-forward"])
def test_errors_leave_model_and_input_untouched(setup, name, failure):
    model, x = setup
    before = snapshot(model, x)
    target = 9 if failure == "bad-target" else 1
    if failure == "first-forward":
        model.bomb.after = 0
    elif failure == "later-forward":
        model.bomb.after = 2
    error, message = (InputError, "out of range") if failure == "bad-target" else (RuntimeError, "boom")
    with pytest.raises(error, match=message):
        CALLS[name](model, x, target)
    model.bomb.after = None
    assert_unchanged(before, model, x)


def test_inference_mode_and_no_grad_callers_still_get_adversarials(setup):
    model, x = setup
    with torch.inference_mode():
        inside = A.pgd(model, x, 1, eps=0.1, steps=2, random_start=False)
    with torch.no_grad():
        nograd = A.pgd(model, x, 1, eps=0.1, steps=2, random_start=False)
    assert torch.equal(inside.images, nograd.images) and not torch.equal(inside.images, x)


def test_robustness_at_eps_zero_is_exactly_the_clean_accuracy(trained_mnist, mnist_splits):
    data = mnist_splits.test.subset(torch.arange(0, 1000, 5))
    clean = float((trained_mnist(data.batch(slice(None))[0]).argmax(1) == data.labels).float().mean())
    curve = A.robustness(trained_mnist, data, "pgd", [0.3, 0.0, 0.1], steps=5, batch_size=64, progress=False)
    assert curve.eps.tolist() == [0.0, 0.1, 0.3]
    assert float(curve.accuracy[0]) == clean == curve.clean_accuracy
    assert curve.accuracy[1] < clean and curve.accuracy[2] <= curve.accuracy[1]  # never rises
    # an image counts at a budget only if the attack failed on it there: check eps 0.1 directly
    x, y = data.batch(slice(None))
    alive = curve.robust[1]
    again = A.pgd(trained_mnist, x[alive], y[alive], eps=0.1, steps=5, seed=1)
    assert again.success.float().mean() < 0.2
    fgsm = A.robustness(trained_mnist, (x, y), "fgsm", [0.0, 0.1], progress=False)
    assert float(fgsm.accuracy[0]) == clean and fgsm.accuracy[1] >= curve.accuracy[1]
    with pytest.raises(InputError, match="no eps budget"):
        A.robustness(trained_mnist, data, "fooling", [0.1], progress=False)
    with pytest.raises(InputError, match="eps must be >= 0"):
        A.robustness(trained_mnist, data, "pgd", [-0.1], progress=False)
