"""Inputs in 0..255 and models with non-finite scores are stopped with a clear message."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from convlens._checks import check_images
from convlens.attribution import explain, grad_cam, integrated_gradients, occlusion, saliency, smoothgrad
from convlens.errors import ConvlensWarning, InputError
from convlens.models import create_model

METHODS = [saliency, grad_cam, integrated_gradients, occlusion, smoothgrad]


def test_pixel_values_in_0_255_are_an_error(test_digits):
    x = test_digits[0][:2] * 255
    with pytest.raises(InputError, match=r"up to 255: images must be floats in \[0,1\].*divide 0..255 values by 255"):
        check_images(x)


def test_values_slightly_outside_0_1_only_warn(test_digits):
    normalized = (test_digits[0][:2] - 0.1307) / 0.3081  # normalized outside the model: min -0.42, max 2.8
    with pytest.warns(ConvlensWarning, match=r"outside \[0,1\]"):
        check_images(normalized)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_images(test_digits[0]) is test_digits[0]  # proper images: silent, the same object


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.__name__)
def test_every_method_refuses_0_255_images(trained_mnist, test_digits, method):
    with pytest.raises(InputError, match="divide 0..255"):
        method(trained_mnist, test_digits[0][:2] * 255)


@pytest.mark.parametrize("method", [*METHODS, lambda m, x: explain(m, x, ["saliency"])],
                         ids=[m.__name__ for m in METHODS] + ["explain"])  # fmt: skip
def test_a_nan_weight_is_named_instead_of_returning_nan_maps(test_digits, method):
    torch.manual_seed(0)
    model = create_model("mnist-cnn")
    with torch.no_grad():
        model.features[3].weight[0, 0, 0, 0] = float("nan")
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(InputError, match=r"parameter 'features.3.weight' holds NaN or infinite values"):
        method(model, test_digits[0][:2])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) or (before[k].isnan() == after[k].isnan()).all() for k in before)


def test_an_overflowing_model_is_reported_even_with_finite_weights(test_digits):
    class Huge(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x.flatten(1).sum(1) * 1e38 * 1e10, x.flatten(1).sum(1)], 1)

    with pytest.raises(InputError, match="although its weights are finite"):
        saliency(Huge(), test_digits[0][:2])


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda m, x: integrated_gradients(m, x, baseline=float("nan"), steps=2), "baseline must be a finite"),
        (lambda m, x: integrated_gradients(m, x, baseline=255.0, steps=2), "baseline has pixel values up to 255"),
        (lambda m, x: occlusion(m, x, fill=float("inf")), "fill must be a finite"),
        (lambda m, x: occlusion(m, x, fill=255), "fill has pixel values up to 255"),
        (lambda m, x: occlusion(m, x, fill=torch.full((1, 1, 1, 1), 255.0)), "fill has pixel values up to 255"),
    ],
)
def test_fill_values_and_baselines_are_pixels_too(trained_mnist, test_digits, call, pattern):
    with pytest.raises(InputError, match=pattern):
        call(trained_mnist, test_digits[0][:2])


def test_a_nan_batchnorm_statistic_is_named():
    torch.manual_seed(0)
    model = create_model("mnist-cnn", batchnorm=True).eval()
    model.features[1].running_var[0] = float("nan")
    with pytest.raises(InputError, match=r"buffer 'features.1.running_var' holds NaN"):
        grad_cam(model, torch.rand(2, 1, 28, 28))
