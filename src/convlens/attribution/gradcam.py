"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import LayerRef, Target, is_multi, resolve_layer, target_scores
from .._hooks import ReluRule, inspecting, layer_output, reject_scripted, relu_gradient
from .._outputs import OutputSpec
from .._probe import default_cam_layer
from ..errors import InputError
from ..models import get_info
from ..registry import register_method
from ._camgrad import check_interpolation, class_gradients, one_activation, run_cam, upsample
from ._common import ModelRunner, finish, gradients_on, outside_inference_mode, prepare_input


def gradcam_layer(
    model: nn.Module, layer: LayerRef = None, x: torch.Tensor | None = None, output: OutputSpec = None
) -> tuple[str, nn.Module]:
    """The layer a CAM method looks at: ``layer``, or by default the model's last feature map.

    The default is the layer recorded in the model's :class:`convlens.models.ModelInfo` (models
    convlens builds know theirs), else the one found by a probe forward pass of ``x[:1]``
    (:func:`convlens._probe.default_cam_layer`).

    Args:
        model: the classifier.
        layer: a name, a module, or None for the default.
        x: images on the model's device and dtype (needed only for the probe).
        output: where the logits are in the model's output.

    Returns:
        ``(name, module)``.
    """
    if layer is None:
        info = get_info(model)
        if info is not None and info.last_conv:
            layer = info.last_conv
        elif x is None:
            raise InputError("pass layer=NAME: the default layer is found by running the model on an image")
        else:
            layer = default_cam_layer(model, x, output)
    return resolve_layer(model, layer)


def cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """The Grad-CAM formula ``ReLU(sum_k mean_ij(dS/dA_kij) * A_k)``.

    Shape:
        activation and gradient: (..., C, h, w) (broadcastable); result: (..., 1, h, w).
    """
    weights = gradient.mean(dim=(-2, -1), keepdim=True)
    return torch.relu((weights * activation).sum(dim=-3, keepdim=True))


@register_method(
    "grad-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="a conv layer's channels weighted by their mean gradient, rectified and upsampled",
    paper="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks",
)
@outside_inference_mode
def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    interpolation: str = "bilinear",
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Grad-CAM: the layer's channels weighted by their average gradient, rectified.

    From Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization". The backward pass stops at the layer: the parameters are
    frozen and the layer's output is differentiated as a leaf, so no gradient flows into the
    parameters or the layers below (one forward pass plus the backward pass of the head).

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor of K
            classes per image, or a callable from logits to (B,) scores.
        layer: a ``named_modules()`` name or a module with (B,K,h,w) output that runs once per
            forward pass; default the model's last feature map (:func:`gradcam_layer`).
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: ``"bilinear"`` (as in the paper), ``"nearest"``, ``"bicubic"`` or ``"area"``.
        top: explain each image's ``top`` highest-scoring classes (then ``target`` must be None).
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`); tensors, 1-tuples, one-tensor dicts and ``.logits`` need none.

    Returns:
        The class activation map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W), or (B,1,h,w) with ``upsample=False``; with K
        classes per image (a (B, K) target or ``top=K``) (B,K,1,H,W), from one forward pass.
    """
    return run_cam(model, x, target, layer, top, output, cam, upsample, interpolation)


@register_method(
    "guided-grad-cam",
    kind="attribution",
    output="pixel",
    signed=True,
    summary="guided backprop times the upsampled Grad-CAM map",
    paper="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks",
)
@outside_inference_mode
def guided_grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    interpolation: str = "bilinear",
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map.

    From Selvaraju et al. 2017 (section 3.1). One forward pass serves both factors: every ReLU
    records a rule switch, the first backward pass (ordinary ReLU gradients, as Grad-CAM
    defines) runs from the score down to the layer only, then the switch turns guided and the
    second backward pass runs to the input. ReLUs after the layer therefore count as ordinary
    ReLUs for the Grad-CAM weights and as guided ReLUs for the guided gradient, exactly as when
    the two methods are computed separately.

    Args:
        model: any classifier taking [0,1] images (not TorchScript).
        x: images in [0,1].
        target: as in :func:`grad_cam`.
        layer: as in :func:`grad_cam`; default the model's last feature map.
        interpolation: how the Grad-CAM map is resized to the input (``"bilinear"`` as in the
            paper; Captum's GuidedGradCam defaults to ``"nearest"``).
        top: as in :func:`grad_cam`.
        output: as in :func:`grad_cam`.

    Returns:
        The guided Grad-CAM map, signed, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W), or (B,K,C,H,W) for K classes per image.
    """
    reject_scripted(model, "guided Grad-CAM")
    check_interpolation(interpolation)
    xin = prepare_input(model, x)
    rule = ReluRule(guided=False)
    with inspecting(model):
        name, module = gradcam_layer(model, layer, xin, output)
        run = ModelRunner(model, xin, output)
        with gradients_on(), layer_output(module, stop_gradient=False) as recorded:
            xin = run.layout(xin).requires_grad_(True)
            with relu_gradient(rule):
                logits = run(xin)
            act = one_activation(recorded, name)
            scores = target_scores(target, logits, top)
            if not (scores.requires_grad and act.requires_grad):
                raise InputError(f"the score does not depend on layer {name!r}; pick a layer on the path to the output")
            (layer_grad,) = class_gradients(scores, [act], retain_graph=True)
            rule.guided = True
            (guided,) = class_gradients(scores, [xin], retain_graph=False)
    heat = upsample(cam(act.detach()[:, None], layer_grad), (int(xin.shape[-2]), int(xin.shape[-1])), interpolation)
    result = guided * heat
    return finish(result if is_multi(target, top) else result[:, 0], x)
