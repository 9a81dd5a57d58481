"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import LayerRef, Target, resolve_layer, resolve_target
from .._hooks import ReluRule, inspecting, layer_output, reject_scripted, relu_gradient
from .._outputs import OutputSpec
from .._probe import default_cam_layer
from ..errors import InputError
from ..models import get_info
from ..registry import register_method
from ._common import ModelRunner, finish, gradients_on, input_gradient, outside_inference_mode, prepare_input

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area")


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


def _one_activation(recorded: list[torch.Tensor], name: str) -> torch.Tensor:
    """The single (B,C,H,W) activation the layer produced in one forward pass."""
    if not recorded:
        raise InputError(f"layer {name!r} did not run in the forward pass; pick a layer the model uses")
    if len(recorded) > 1:
        raise InputError(
            f"layer {name!r} runs {len(recorded)} times in one forward pass; pick a layer that runs once"
        )
    act = recorded[0]
    if not isinstance(act, torch.Tensor) or act.dim() != 4:
        shape = tuple(act.shape) if isinstance(act, torch.Tensor) else type(act).__name__
        raise InputError(f"Grad-CAM needs a layer with (B,C,H,W) output; {name!r} gives {shape}: pick a conv layer")
    return act


def _layer_gradient(scores: torch.Tensor, act: torch.Tensor, name: str, *, retain_graph: bool) -> torch.Tensor:
    if not scores.requires_grad:
        raise InputError(f"the score does not depend on layer {name!r}; pick a layer on the path to the output")
    (grad,) = torch.autograd.grad(scores.sum(), act, retain_graph=retain_graph, allow_unused=True)
    if grad is None:
        raise InputError(f"the score does not depend on layer {name!r}; pick a layer on the path to the output")
    return grad


def cam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """The Grad-CAM formula ``ReLU(sum_k mean_ij(dS/dA_kij) * A_k)``.

    Shape:
        activation and gradient: (B,K,h,w); result: (B,1,h,w).
    """
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1, keepdim=True))


def _check_interpolation(mode: object) -> None:
    if mode not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {mode!r}")


def _upsample(heat: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(heat.shape[-2:]) == tuple(size):
        return heat
    align = False if mode in ("bilinear", "bicubic") else None
    return F.interpolate(heat, size=size, mode=mode, align_corners=align)


@register_method(
    "grad-cam", kind="attribution", output="map", signed=False,
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
        target: None (predicted class), an int, one class per image, or a callable from
            logits to (B,) scores.
        layer: a ``named_modules()`` name or a module with (B,K,h,w) output that runs once per
            forward pass; default the model's last feature map (:func:`gradcam_layer`).
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: ``"bilinear"`` (as in the paper), ``"nearest"``, ``"bicubic"`` or ``"area"``.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`); tensors, 1-tuples, one-tensor dicts and ``.logits`` need none.

    Returns:
        The class activation map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W), or (B,1,h,w) with ``upsample=False``.
    """
    _check_interpolation(interpolation)
    xin = prepare_input(model, x)
    with inspecting(model):
        name, module = gradcam_layer(model, layer, xin, output)
        run = ModelRunner(model, xin, output)
        with gradients_on(), layer_output(module, stop_gradient=True) as recorded:
            logits = run(xin)
            act = _one_activation(recorded, name)
            scores = resolve_target(target, logits)
            grad = _layer_gradient(scores, act, name, retain_graph=False)
    heat = cam(act.detach(), grad)
    if upsample:
        heat = _upsample(heat, tuple(xin.shape[-2:]), interpolation)
    return finish(heat, x)


@register_method(
    "guided-grad-cam", kind="attribution", output="pixel", signed=True,
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
        output: as in :func:`grad_cam`.

    Returns:
        The guided Grad-CAM map, signed, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W).
    """
    reject_scripted(model, "guided Grad-CAM")
    _check_interpolation(interpolation)
    xin = prepare_input(model, x)
    rule = ReluRule(guided=False)
    with inspecting(model):
        name, module = gradcam_layer(model, layer, xin, output)
        run = ModelRunner(model, xin, output)
        with gradients_on(), layer_output(module, stop_gradient=False) as recorded:
            xin = run.layout(xin).requires_grad_(True)
            with relu_gradient(rule):
                logits = run(xin)
            act = _one_activation(recorded, name)
            scores = resolve_target(target, logits)
            layer_grad = _layer_gradient(scores, act, name, retain_graph=True)
            rule.guided = True
            guided = input_gradient(scores, xin)
    heat = _upsample(cam(act.detach(), layer_grad), tuple(xin.shape[-2:]), interpolation)
    return finish(guided * heat, x)
