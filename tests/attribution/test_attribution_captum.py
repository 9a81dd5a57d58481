"""Every attribution method that Captum also has, checked against Captum on the same inputs.

Models: ``TinyNet`` with ReLU modules, inplace ReLUs, functional ReLUs and one reused ReLU
module (float64, so agreement is to rounding); ``mnist-cnn`` with BatchNorm left in training
mode; SqueezeNet 1.1 at 64×64; and the ``mnist-cnn`` trained on real digits. Captum cannot see
functional ReLUs, so that model is compared with Captum run on the same weights in a model
with ReLU modules. convlens runs models in eval mode, so the BatchNorm model is compared with
Captum on an eval-mode copy.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from test_attribution_nets import tiny

captum_attr = pytest.importorskip("captum.attr")

import convlens.attribution as A  # noqa: E402
from convlens.models import create_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Captum's Occlusion divides in float32 (``attrib.float() / weights``) and its integrated
# gradients weight the steps with float32 step sizes, even for float64 models.
CAPTUM_FLOAT32_TOL = 1e-6
CASES = (
    "tiny-module", "tiny-inplace", "tiny-functional", "tiny-shared", "mnist-bn-train", "squeezenet1_1", "trained-mnist",
)  # fmt: skip


class Case:
    """A model for convlens, the model Captum runs, inputs, targets and the Grad-CAM layer."""

    def __init__(self, model, reference, x, target, layer: str, tol: float) -> None:
        self.model, self.reference, self.x, self.target, self.layer, self.tol = model, reference, x, target, layer, tol

    def ref_layer(self) -> torch.nn.Module:
        return dict(self.reference.named_modules())[self.layer]


@pytest.fixture(scope="module")
def cases(request) -> dict[str, Case]:
    trained = request.getfixturevalue("trained_mnist")
    digits, labels = request.getfixturevalue("test_digits")
    gen = torch.Generator().manual_seed(1)
    x_tiny = torch.rand(3, 3, 16, 16, generator=gen, dtype=torch.float64)
    t_tiny = torch.tensor([0, 3, 4])
    out: dict[str, Case] = {}
    reference = tiny("module")
    for style in ("module", "inplace", "functional", "shared"):
        model = tiny(style)
        ref = reference if style == "functional" else model
        out[f"tiny-{style}"] = Case(model, ref, x_tiny, t_tiny, "conv2", 1e-9)

    torch.manual_seed(2)
    bn = create_model("mnist-cnn", batchnorm=True)
    for m in bn.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    bn.train()
    x_bn = torch.rand(4, 1, 28, 28, generator=gen)
    out["mnist-bn-train"] = Case(bn, copy.deepcopy(bn).eval(), x_bn, torch.tensor([1, 2, 3, 4]), "features.4", 2e-4)

    torch.manual_seed(3)
    squeeze = create_model("squeezenet1_1")
    x_sq = torch.rand(2, 3, 64, 64, generator=gen)
    out["squeezenet1_1"] = Case(squeeze, squeeze, x_sq, torch.tensor([7, 500]), "features.12", 2e-4)

    out["trained-mnist"] = Case(trained, trained, digits[:6], labels[:6], "features.3", 2e-4)
    return out


def assert_matches(ours: torch.Tensor, theirs: torch.Tensor, tol: float) -> None:
    """Equal up to ``tol`` relative to the largest value of Captum's result."""
    assert ours.shape == theirs.shape
    scale = float(theirs.abs().max())
    assert scale > 0, "degenerate comparison: Captum's result is all zero"
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=tol, atol=tol * scale)


def captum_run(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("name", CASES)
def test_saliency_matches_captum(cases, name):
    c = cases[name]
    ours = A.saliency(c.model, c.x, c.target)
    theirs = captum_run(captum_attr.Saliency(c.reference).attribute, c.x.clone(), target=c.target, abs=True)
    assert_matches(ours, theirs.amax(dim=1, keepdim=True), c.tol)


@pytest.mark.parametrize("name", CASES)
def test_guided_backprop_matches_captum(cases, name):
    c = cases[name]
    ours = A.guided_backprop(c.model, c.x, c.target)
    theirs = captum_run(captum_attr.GuidedBackprop(c.reference).attribute, c.x.clone(), target=c.target)
    assert_matches(ours, theirs, c.tol)


@pytest.mark.parametrize("name", CASES)
def test_grad_cam_matches_captum(cases, name):
    c = cases[name]
    layer_cam = captum_attr.LayerGradCam(c.reference, c.ref_layer())
    theirs = captum_run(layer_cam.attribute, c.x.clone(), target=c.target, relu_attributions=True)
    assert_matches(A.grad_cam(c.model, c.x, c.target, layer=c.layer, upsample=False), theirs, c.tol)
    up = captum_attr.LayerAttribution.interpolate(theirs, tuple(c.x.shape[-2:]), interpolate_mode="bilinear")
    assert_matches(A.grad_cam(c.model, c.x, c.target, layer=c.layer), up, c.tol)


@pytest.mark.parametrize("name", CASES)
def test_guided_grad_cam_matches_captum(cases, name):
    c = cases[name]
    ggc = captum_attr.GuidedGradCam(c.reference, c.ref_layer())
    for mode in ("bilinear", "nearest"):
        theirs = captum_run(ggc.attribute, c.x.clone(), target=c.target, interpolate_mode=mode)
        assert_matches(A.guided_grad_cam(c.model, c.x, c.target, layer=c.layer, interpolation=mode), theirs, c.tol)


@pytest.mark.parametrize("name", CASES)
def test_occlusion_matches_captum(cases, name):
    c = cases[name]
    channels, height, _ = c.x.shape[1:]
    # tiny float64 models: two grids (one ragged at the border) and chunks that split images;
    # float32 models: one ragged grid, default chunks (every new batch shape costs oneDNN setup)
    if name.startswith("tiny"):
        settings, batch_size = [(4, 2, 0.0), (5, 3, 0.5)], 13
    else:
        settings, batch_size = [(5, 3, 0.5) if height <= 28 else (20, 12, 0.5)], None
    for window, stride, fill in settings:
        ours = A.occlusion(c.model, c.x, c.target, window=window, stride=stride, fill=fill, batch_size=batch_size)
        theirs = captum_run(
            captum_attr.Occlusion(c.reference).attribute, c.x.clone(), target=c.target,
            sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride), baselines=fill,
        )  # fmt: skip
        assert_matches(ours, theirs, max(c.tol, CAPTUM_FLOAT32_TOL))


@pytest.mark.parametrize("name", CASES)
def test_integrated_gradients_matches_captum(cases, name):
    c = cases[name]
    ig = captum_attr.IntegratedGradients(c.reference)
    for method, baseline in (("gausslegendre", 0.0), ("riemann_right", 0.25)):
        ours = A.integrated_gradients(c.model, c.x, c.target, baseline=baseline, steps=16, method=method, batch_size=5)
        theirs = captum_run(ig.attribute, c.x.clone(), baselines=baseline, target=c.target, n_steps=16, method=method)
        assert_matches(ours, theirs, max(c.tol, CAPTUM_FLOAT32_TOL))


def test_occlusion_tensor_fill_matches_captum(cases):
    c = cases["tiny-module"]
    fill = torch.rand(1, 3, 1, 1, dtype=torch.float64)
    ours = A.occlusion(c.model, c.x, c.target, window=(3, 5), stride=(2, 4), fill=fill)
    theirs = captum_run(
        captum_attr.Occlusion(c.reference).attribute, c.x.clone(), target=c.target,
        sliding_window_shapes=(3, 3, 5), strides=(3, 2, 4), baselines=fill,
    )  # fmt: skip
    assert_matches(ours, theirs, CAPTUM_FLOAT32_TOL)


def test_default_target_is_the_prediction(cases):
    c = cases["trained-mnist"]
    predicted = c.model(c.x).argmax(dim=1)
    theirs = captum_run(captum_attr.Saliency(c.model).attribute, c.x.clone(), target=predicted, abs=True)
    assert_matches(A.saliency(c.model, c.x), theirs.amax(dim=1, keepdim=True), c.tol)
