"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import LayerRef, Target, resolve_layer, resolve_target
from .._hooks import ReluRule, inspecting, layer_output, reject_scripted, relu_gradient
from ..errors import InputError
from ..models import last_conv_name
from ._common import ModelRunner, finish, gradients_on, input_gradient, outside_inference_mode, prepare_input

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area")


def gradcam_layer(model: nn.Module, layer: LayerRef = None) -> tuple[str, nn.Module]:
    """The layer Grad-CAM looks at: ``layer``, or by default the model's last convolution.

    Returns:
        ``(name, module)``.
    """
    if layer is None:
        layer = last_conv_name(model)
        if layer is None:
            raise InputError("the model has no Conv2d layer; pass layer=NAME of a layer with (B,C,H,W) output")
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


@outside_inference_mode
def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    upsample: bool = True,
    interpolation: str = "bilinear",
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
            forward pass; default the model's last convolution.
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: ``"bilinear"`` (as in the paper), ``"nearest"``, ``"bicubic"`` or ``"area"``.

    Returns:
        The class activation map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,1,H,W), or (B,1,h,w) with ``upsample=False``.
    """
    _check_interpolation(interpolation)
    xin = prepare_input(model, x)
    name, module = gradcam_layer(model, layer)
    with inspecting(model), gradients_on(), layer_output(module, stop_gradient=True) as recorded:
        logits = ModelRunner(model, xin, recorded.clear)(xin)
        act = _one_activation(recorded, name)
        scores = resolve_target(target, logits)
        grad = _layer_gradient(scores, act, name, retain_graph=False)
    heat = cam(act.detach(), grad)
    if upsample:
        heat = _upsample(heat, tuple(xin.shape[-2:]), interpolation)
    return finish(heat, x)


@outside_inference_mode
def guided_grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    interpolation: str = "bilinear",
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
        layer: as in :func:`grad_cam`; default the model's last convolution.
        interpolation: how the Grad-CAM map is resized to the input (``"bilinear"`` as in the
            paper; Captum's GuidedGradCam defaults to ``"nearest"``).

    Returns:
        The guided Grad-CAM map, signed, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W).
    """
    reject_scripted(model, "guided Grad-CAM")
    _check_interpolation(interpolation)
    xin = prepare_input(model, x)
    name, module = gradcam_layer(model, layer)
    rule = ReluRule(guided=False)
    with inspecting(model), gradients_on(), layer_output(module, stop_gradient=False) as recorded:
        run = ModelRunner(model, xin, recorded.clear)
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
