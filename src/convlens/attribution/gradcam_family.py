"""Grad-CAM++, XGrad-CAM, LayerCAM (with multi-layer fusion) and HiRes-CAM.

Every method here starts from the layer activation ``A`` and the class-score gradient
``G = dY/dA`` of :func:`convlens.attribution._camgrad.layer_pass`, so that several of them
(and Grad-CAM) share one forward and one backward pass inside
:func:`convlens.attribution.explain`. Formulas work on (B,K,C,h,w) gradients: K classes per
image come from the same forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import LayerRef, Target
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._camgrad import check_interpolation, finish_cam, layer_pass, run_cam, upsample
from ._common import outside_inference_mode, prepare_input
from .gradcam import gradcam_layer

_HW = (-2, -1)


def grad_cam_pp_formula(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19 with the exponential's closed form).

    ``alpha = G² / (2 G² + Σ_ab A_ab · G³)`` (0 where the denominator is 0),
    ``w_k = Σ_ij alpha_kij · relu(G_kij)``, map ``relu(Σ_k w_k A_k)``. The paper's
    ``relu(dexp(Y)/dA) = exp(Y) relu(G)`` differs from ``relu(G)`` by the positive factor
    ``exp(Y)`` per image and class, which scales a map without changing its shape; like the
    reference implementations, this uses ``relu(G)``.

    Shape:
        activation (..., C, h, w), gradient broadcastable to it; result (..., 1, h, w).
    """
    g2 = gradient.square()
    denom = 2 * g2 + activation.sum(dim=_HW, keepdim=True) * g2 * gradient
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g2))
    weights = (alpha * torch.relu(gradient)).sum(dim=_HW, keepdim=True)
    return torch.relu((weights * activation).sum(dim=-3, keepdim=True))


def xgrad_cam_formula(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (Fu et al. 2020): ``w_k = Σ_ij (A_kij / Σ_ab A_kab) · G_kij``, map ``relu(Σ_k w_k A_k)``.

    A channel whose activations sum to 0 gets weight 0.
    """
    total = activation.sum(dim=_HW, keepdim=True)
    safe = torch.where(total != 0, total, torch.ones_like(total))
    weights = torch.where(
        total != 0, (activation * gradient).sum(dim=_HW, keepdim=True) / safe, torch.zeros_like(total)
    )
    return torch.relu((weights * activation).sum(dim=-3, keepdim=True))


def layer_cam_formula(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): ``relu(Σ_k relu(G_kij) · A_kij)``, a weight per position."""
    return torch.relu((torch.relu(gradient) * activation).sum(dim=-3, keepdim=True))


def hires_cam_formula(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """HiRes-CAM (Draelos & Carin 2020): ``relu(Σ_k G_kij · A_kij)``, the gradient not averaged."""
    return torch.relu((gradient * activation).sum(dim=-3, keepdim=True))


_COMMON_DOC = """
    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor of K
            classes per image, or a callable from logits to (B,) scores.
        layer: a ``named_modules()`` name or a module with (B,C,h,w) output that runs once per
            forward pass; default the model's last feature map.
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"`` or ``"area"``.
        top: explain each image's ``top`` highest-scoring classes (then ``target`` must be None).
        output: where the logits are in the model's output (:mod:`convlens._outputs`).

    Returns:
        The map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result (B,1,H,W) (or (B,1,h,w) with ``upsample=False``), and
        (B,K,1,H,W) for K classes per image, all from one forward pass.
"""


@register_method(
    "grad-cam++",
    kind="attribution",
    output="map",
    signed=False,
    summary="channels weighted by positive gradients with per-position second-order coefficients",
    paper="Chattopadhyay et al. 2018, Grad-CAM++: Improved Visual Explanations for Deep CNNs",
)
@outside_inference_mode
def grad_cam_pp(
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
    """Grad-CAM++: channel weights from positive gradients, each position weighted by ``alpha``.

    From Chattopadhyay, Sarkar, Howlader & Balasubramanian 2018, "Grad-CAM++: Generalized
    Gradient-Based Visual Explanations for Deep Convolutional Networks"; see
    :func:`grad_cam_pp_formula`. torchcam 0.5's ``GradCAMpp`` skips the division by the
    denominator (its masked in-place ``div_`` acts on a copy), so its weights are
    ``Σ G² · relu(G)``; this follows the paper.
    """
    return run_cam(model, x, target, layer, top, output, grad_cam_pp_formula, upsample, interpolation)


grad_cam_pp.__doc__ = (grad_cam_pp.__doc__ or "") + _COMMON_DOC


@register_method(
    "xgrad-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="channels weighted by their activation-weighted gradient (axiom-based Grad-CAM)",
    paper="Fu et al. 2020, Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs",
)
@outside_inference_mode
def xgrad_cam(
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
    """XGrad-CAM: channel weights ``Σ_ij (A_kij / Σ A_k) G_kij`` (sensitivity and conservation axioms).

    From Fu, Hu, Dong, Guo, Gao & Li 2020, "Axiom-based Grad-CAM: Towards Accurate
    Visualization and Explanation of CNNs"; see :func:`xgrad_cam_formula`.
    """
    return run_cam(model, x, target, layer, top, output, xgrad_cam_formula, upsample, interpolation)


xgrad_cam.__doc__ = (xgrad_cam.__doc__ or "") + _COMMON_DOC


@register_method(
    "hires-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="activations times gradients position by position, summed over channels",
    paper="Draelos & Carin 2020, Use HiResCAM instead of Grad-CAM for faithful explanations",
)
@outside_inference_mode
def hires_cam(
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
    """HiRes-CAM: ``relu(Σ_k G_k ⊙ A_k)``, Grad-CAM without averaging the gradient over positions.

    From Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks"; see :func:`hires_cam_formula`. For a model that ends in
    global average pooling and a linear layer it equals Grad-CAM.
    """
    return run_cam(model, x, target, layer, top, output, hires_cam_formula, upsample, interpolation)


hires_cam.__doc__ = (hires_cam.__doc__ or "") + _COMMON_DOC


def fuse_layer_cams(
    maps: Sequence[torch.Tensor], size: tuple[int, int], gamma: float, interpolation: str
) -> torch.Tensor:
    """LayerCAM's fusion of maps from several layers (Jiang et al. 2021, section III-C).

    Each map is scaled to ``tanh(gamma · M / max M)`` (per image and class; an all-zero map stays
    0), resized to ``size``, and the scaled maps are combined by their element-wise maximum.

    Shape:
        each map (B,K,1,h_l,w_l); result (B,K,1,*size).
    """
    fused: torch.Tensor | None = None
    for heat in maps:
        peak = heat.amax(dim=(-3, -2, -1), keepdim=True)
        scaled = torch.tanh(gamma * heat / torch.where(peak > 0, peak, torch.ones_like(peak)))
        scaled = upsample(scaled, size, interpolation)
        fused = scaled if fused is None else torch.maximum(fused, scaled)
    assert fused is not None
    return fused


@register_method(
    "layer-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="activations weighted by their own positive gradients, position by position",
    paper="Jiang et al. 2021, LayerCAM: Exploring Hierarchical Class Activation Maps for Localization",
)
@outside_inference_mode
def layer_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef | Sequence[LayerRef] = None,
    upsample: bool = True,
    interpolation: str = "bilinear",
    gamma: float = 2.0,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """LayerCAM: ``relu(Σ_k relu(G_kij) · A_kij)``; a list of layers fuses their maps.

    From Jiang, Zhang, Hou, Cheng & Wei 2021, "LayerCAM: Exploring Hierarchical Class
    Activation Maps for Localization" (see :func:`layer_cam_formula`). With ``layer`` a list or
    tuple of layers, one forward pass and one backward pass per class give every layer's map,
    and :func:`fuse_layer_cams` combines them (``tanh(gamma · M / max M)`` per layer, then the
    element-wise maximum); a single layer's map is returned unscaled.

    Args:
        gamma: the fusion's scale factor (the paper's 2); used only with several layers.
    """
    if layer is None or isinstance(layer, (str, nn.Module)):
        return run_cam(model, x, target, layer, top, output, layer_cam_formula, upsample, interpolation)
    if not layer:
        raise InputError("pass at least one layer to fuse")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
        raise InputError(f"gamma must be a number > 0, got {gamma!r}")
    check_interpolation(interpolation)
    xin = prepare_input(model, x)
    with inspecting(model):
        resolved = [gradcam_layer(model, one, xin, output) for one in layer]
        if len({name for name, _ in resolved}) != len(resolved):
            raise InputError("the layers to fuse must be different layers")
        lp = layer_pass(model, x, xin, target, resolved, top=top, output=output)
    maps = [layer_cam_formula(a[:, None], g) for a, g in zip(lp.activations, lp.gradients, strict=True)]
    size = lp.size if upsample else max((tuple(m.shape[-2:]) for m in maps), key=lambda s: s[0] * s[1])
    fused = fuse_layer_cams(maps, (int(size[0]), int(size[1])), float(gamma), interpolation)
    return finish_cam(fused, lp, False, interpolation, x)


layer_cam.__doc__ = (layer_cam.__doc__ or "") + _COMMON_DOC
