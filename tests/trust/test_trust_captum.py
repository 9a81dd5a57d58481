"""compare_with_captum: every shared method agrees with Captum; the model comes back untouched."""

from __future__ import annotations

import copy
import sys

import pytest
import torch

pytest.importorskip("captum.attr")

from convlens.registry import list_methods  # noqa: E402
from convlens.trust import CAPTUM_CALLS, CaptumNotInstalled, compare_with_captum  # noqa: E402
from convlens.trust.faithfulness import random_maps  # noqa: E402
from model_safety import assert_unchanged, snapshot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def comparison(trained_mnist, test_digits):
    images, _ = test_digits
    before = snapshot(trained_mnist)
    x = images[:4].clone()
    result = compare_with_captum(trained_mnist, x, seed=3)
    assert torch.equal(x, images[:4])
    assert_unchanged(before, trained_mnist)
    return result


def test_every_shared_method_agrees_with_captum(comparison):
    registered = [s.name for s in list_methods("attribution")]
    compared = [r.method for r in comparison.rows]
    assert compared == [n for n in registered if n in CAPTUM_CALLS]
    assert set(comparison.skipped) == {n for n in registered if n not in CAPTUM_CALLS}
    assert "occlusion-sensitivity" in comparison.skipped
    for row in comparison.rows:
        assert row.ours.shape == row.theirs.shape
        if row.statistical:
            continue
        assert row.max_rel_diff < 1e-4, (row.method, row.max_rel_diff, row.captum_call)
        assert row.correlation > 0.9999


def test_smoothgrad_is_compared_statistically(comparison):
    row = comparison.row("smoothgrad")
    assert row.statistical
    assert row.max_rel_diff > 1e-4  # different noise draws: the maps cannot match exactly ...
    assert row.correlation > 0.8  # ... but the mean maps agree
    assert "NoiseTunnel" in row.captum_call


def test_settings_reach_both_sides(trained_mnist, test_digits):
    images, labels = test_digits
    result = compare_with_captum(
        trained_mnist, images[:2], ["integrated-gradients", "grad-cam", "occlusion"], labels[:2],
        steps=8, method="riemann_right", baseline=0.25, layer="features.0", window=5, stride=3, fill=0.5,
    )  # fmt: skip
    assert result.layer == "features.0"
    calls = {r.method: r.captum_call for r in result.rows}
    assert "n_steps=8" in calls["integrated-gradients"] and "riemann_right" in calls["integrated-gradients"]
    assert "features.0" in calls["grad-cam"] and "(5, 5)" in calls["occlusion"]
    assert torch.equal(result.target, labels[:2])
    for row in result.rows:
        assert row.max_rel_diff < 1e-4, (row.method, row.max_rel_diff)


def test_captum_sees_functional_relus_differently_and_says_so(test_digits):
    """A model with functional ReLUs: Captum's guided backprop cannot see them, and the row shows it."""

    class Functional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 28 * 28, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    torch.manual_seed(0)
    model = Functional()
    images, _ = test_digits
    result = compare_with_captum(model, images[:2], ["saliency", "guided-backprop"])
    assert result.row("saliency").max_rel_diff < 1e-4
    assert result.row("guided-backprop").max_rel_diff > 1e-3


def test_without_captum_a_one_line_message_says_how_to_install(monkeypatch, trained_mnist, test_digits):
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(CaptumNotInstalled, match="pip install"):
        compare_with_captum(trained_mnist, test_digits[0][:1])


def test_random_maps_are_reproducible(test_digits):
    x = test_digits[0][:3]
    assert torch.equal(random_maps(x, 1), random_maps(x, 1))
    assert random_maps(x).shape == (3, 1, 28, 28)


def test_model_in_training_mode_is_compared_in_eval_mode(trained_mnist, test_digits):
    model = copy.deepcopy(trained_mnist).train()
    result = compare_with_captum(model, test_digits[0][:2], ["saliency", "grad-cam"])
    assert model.training and all(m.training for m in model.modules())
    assert all(r.max_rel_diff < 1e-4 for r in result.rows)
