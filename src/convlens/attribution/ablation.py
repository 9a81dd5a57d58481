"""Ablation-CAM (Desai & Ramaswamy 2020): channels weighted by the score lost without them."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import LayerRef, Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..registry import register_method
from ._camgrad import check_interpolation, finish_map, weighted_channels
from ._common import outside_inference_mode, prepare_input
from ._perturb import Engine
from .gradcam import gradcam_layer


@register_method(
    "ablation-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="channels weighted by the relative drop of the class score when each is zeroed",
    paper="Desai & Ramaswamy 2020, Ablation-CAM: Visual Explanations for Deep Convolutional Network",
)
@outside_inference_mode
def ablation_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    batch_size: int | None = None,
    upsample: bool = True,
    interpolation: str = "bilinear",
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Ablation-CAM: ``w_k = (y - y_k) / y``, where ``y_k`` is the class score with channel k zeroed.

    From Desai & Ramaswamy 2020, "Ablation-CAM: Visual Explanations for Deep Convolutional
    Network via Gradient-free Localization" (eq. 3); the map is ``relu(Σ_k w_k A_k)``. Scores
    are logits; an image whose score ``y`` is 0 gets weight 0. Only the part of the model after
    the layer runs for the ablated copies when the model can be split there
    (:func:`convlens.attribution._perturb.split_after`); a channel that is already all zero
    changes nothing and is not run.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor, or a
            callable from logits to (B,) scores.
        layer: a module name or module with (B,C,h,w) output; default the last feature map.
        batch_size: ablated copies per forward pass; default sized to free memory.
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"`` or ``"area"``.
        top: explain each image's ``top`` highest-scoring classes; all K come from the same copies.
        output: where the logits are in the model's output.

    Returns:
        The map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result (B,1,H,W), or (B,K,1,H,W) for K classes per image.
    """
    check_interpolation(interpolation)
    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        resolved = gradcam_layer(model, layer, xin, output)
        engine = Engine(model, xin, target, top, output, layer=resolved, batch_size=batch_size)
        act = engine.activation
        assert act is not None
        pairs = (act != 0).flatten(2).any(dim=2).nonzero()  # (n, 2): image, channel

        def build(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image, channel = pairs[idx, 0], pairs[idx, 1]
            copies = act[image].clone()
            copies[torch.arange(idx.numel(), device=idx.device), channel] = 0
            return copies, image

        scores = engine.activations(pairs.shape[0], build)
        batch, channels = act.shape[:2]
        clean = engine.clean  # (B, K)
        table = clean[:, None, :].expand(batch, channels, -1).clone()
        table[pairs[:, 0], pairs[:, 1]] = scores
        drop = clean[:, None, :] - table
        safe = torch.where(clean != 0, clean, torch.ones_like(clean))[:, None, :]
        weights = torch.where(clean[:, None, :] != 0, drop / safe, torch.zeros_like(drop)).transpose(1, 2)
        heat = weighted_channels(act, weights)
    size = (int(xin.shape[-2]), int(xin.shape[-1]))
    return finish_map(heat, is_multi(target, top), size, upsample, interpolation, x)
