"""The CAM family against torchcam 0.5 and Deconvnet against Captum, on the same models and inputs.

torchcam's Grad-CAM, XGrad-CAM, LayerCAM and Score-CAM give the same maps as convlens (its
``normalized=False`` maps at the layer's resolution). Its Grad-CAM++ does not: the masked
in-place division ``alpha[idx][mask].div_(...)`` divides a copy, so its weights are
``Σ G² · relu(G)``; convlens follows the paper, and the test pins the difference. Batches give
each image its own map in convlens (checked against per-image calls).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from test_attribution_nets import tiny

import convlens.attribution as A
from convlens.models import create_model

torchcam = pytest.importorskip("torchcam.methods")
captum_attr = pytest.importorskip("captum.attr")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def cases():
    gen = torch.Generator().manual_seed(2)
    yield "tiny", tiny("module"), torch.rand(3, 3, 16, 16, generator=gen, dtype=torch.float64), [0, 3, 4], "conv2", 1e-9
    torch.manual_seed(3)
    squeeze = create_model("squeezenet1_1")
    yield "squeezenet1_1", squeeze, torch.rand(2, 3, 64, 64, generator=gen), [7, 500], "features.12", 2e-4


CASES = {name: rest for name, *rest in cases()}


def torchcam_maps(cls, model, x, classes, layer, **kwargs):
    model = copy.deepcopy(model)  # torchcam registers hooks on the model it is given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = cls(model, target_layer=layer, input_shape=tuple(x.shape[1:]), **kwargs)
        with extractor:
            scores = model(x.clone())
            (maps,) = extractor(class_idx=list(classes), scores=scores, normalized=False)
    return maps[:, None].detach()


def assert_close(ours: torch.Tensor, theirs: torch.Tensor, tol: float) -> None:
    scale = float(theirs.abs().max())
    assert scale > 0
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "ours, theirs",
    [(A.grad_cam, "GradCAM"), (A.xgrad_cam, "XGradCAM"), (A.layer_cam, "LayerCAM"), (A.score_cam, "ScoreCAM")],
)
def test_shared_methods_match_torchcam(case, ours, theirs):
    model, x, classes, layer, tol = CASES[case]
    expected = torchcam_maps(getattr(torchcam, theirs), model, x, classes, layer)
    result = ours(model, x, torch.tensor(classes), layer=layer, upsample=False)
    # torchcam's XGrad-CAM adds eps=1e-8 to each channel's activation sum, Score-CAM to the mask span
    assert_close(result, expected, max(tol, 1e-6))


@pytest.mark.parametrize("case", list(CASES))
def test_grad_cam_pp_follows_the_paper_where_torchcam_skips_the_normalisation(case):
    model, x, classes, layer, tol = CASES[case]
    theirs = torchcam_maps(torchcam.GradCAMpp, model, x, classes, layer)
    ours = A.grad_cam_pp(model, x, torch.tensor(classes), layer=layer, upsample=False)
    # torchcam's weights are Σ G² relu(G): reproduce them from our own activation and gradient
    module = dict(model.named_modules())[layer]
    store = {}
    handle = module.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    logits = model(x)
    handle.remove()
    (grad,) = torch.autograd.grad(logits.gather(1, torch.tensor(classes)[:, None]).sum(), store["a"])
    act = store["a"].detach()
    weights = (grad.square() * grad.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    assert_close(theirs.to(act.dtype), (weights * act).sum(1, keepdim=True).clamp(min=0), max(tol, 1e-6))
    rel = float((ours / ours.amax() - theirs.to(ours.dtype) / theirs.amax()).abs().max())
    assert rel > 1e-3  # different maps: the paper's alpha is not G²


@pytest.mark.parametrize("style", ["module", "inplace", "shared"])
def test_deconvnet_matches_captum(style):
    model = tiny(style)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    target = torch.tensor([1, 0, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = captum_attr.Deconvolution(model).attribute(x.clone(), target=target)
    assert_close(A.deconvnet(model, x, target), theirs, 1e-9)


def test_deconvnet_on_squeezenet_matches_captum():
    _, (model, x, classes, _, tol) = "squeezenet1_1", CASES["squeezenet1_1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = captum_attr.Deconvolution(model).attribute(x.clone(), target=torch.tensor(classes))
    assert_close(A.deconvnet(model, x, torch.tensor(classes)), theirs, tol)


def test_torchcam_batches_match_our_per_image_maps():
    model, x, classes, layer, tol = CASES["tiny"]
    theirs = torchcam_maps(torchcam.ScoreCAM, model, x, classes, layer, batch_size=5)
    for b in range(x.shape[0]):
        ours = A.score_cam(model, x[b : b + 1], classes[b], layer=layer, upsample=False)
        assert_close(ours, theirs[b : b + 1], 1e-6)
