"""Score-CAM (Wang et al. 2020): channels weighted by the score of the image they mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import LayerRef, Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..registry import register_method
from ._camgrad import check_interpolation, finish_map, weighted_channels
from ._common import outside_inference_mode, prepare_input
from ._perturb import Engine
from .gradcam import gradcam_layer


def channel_masks(activation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each channel min-max normalised to [0,1] over its positions, and which channels are not constant.

    A constant channel (all zero after a ReLU, typically) gives the all-zero mask.

    Shape:
        activation (B,C,h,w); masks (B,C,h,w); live (B,C) bool.
    """
    low = activation.amin(dim=(2, 3), keepdim=True)
    high = activation.amax(dim=(2, 3), keepdim=True)
    span = high - low
    live = span > 0
    masks = torch.where(live, (activation - low) / torch.where(live, span, torch.ones_like(span)), 0.0)
    return masks, live[:, :, 0, 0]


@register_method(
    "score-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="channels weighted by the class score of the image masked with each channel",
    paper="Wang et al. 2020, Score-CAM: Score-Weighted Visual Explanations for CNNs",
)
@outside_inference_mode
def score_cam(
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
    """Score-CAM: each channel's weight is the class score of the image masked by that channel.

    From Wang, Wang, Du, Yang, Zhang, Ding, Mardziel & Hu 2020, "Score-CAM: Score-Weighted
    Visual Explanations for Convolutional Neural Networks" (Algorithm 1). Channel ``k`` of the
    layer is min-max normalised to [0,1], upsampled (bilinear) to the image size and multiplied
    with the image; the weights are the softmax over channels of the class logits of these
    masked images, and the map is ``relu(Σ_k w_k A_k)``, the same definition as torchcam's
    ``ScoreCAM``. The masked copies of all images and channels run through the perturbation
    engine (:mod:`convlens.attribution._perturb`); channels that are constant over the image
    mask it to black, so their score is computed once per batch, not once per channel.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor, or a
            callable from logits to (B,) scores.
        layer: a module name or module with (B,C,h,w) output; default the last feature map.
        batch_size: masked copies per forward pass; default sized to free memory.
        upsample: resize the map to the input size (default), or keep the layer's resolution.
        interpolation: how the final map is resized (the masks are always bilinear).
        top: explain each image's ``top`` highest-scoring classes; all K come from the same copies.
        output: where the logits are in the model's output.

    Returns:
        The map, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result (B,1,H,W), or (B,K,1,H,W) for K classes per image.
    """
    check_interpolation(interpolation)
    xin = prepare_input(model, x)
    size = (int(xin.shape[-2]), int(xin.shape[-1]))
    with inspecting(model), torch.no_grad():
        resolved = gradcam_layer(model, layer, xin, output)
        engine = Engine(model, xin, target, top, output, layer=resolved, batch_size=batch_size)
        act = engine.activation
        assert act is not None
        masks, live = channel_masks(act)
        pairs = live.nonzero()  # (n, 2): image, channel
        layout = engine.run.layout(xin)

        def build(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            image, channel = pairs[idx, 0], pairs[idx, 1]
            up = F.interpolate(masks[image, channel][:, None], size=size, mode="bilinear", align_corners=False)
            return layout[image] * up, image

        scores = engine.inputs(pairs.shape[0], build)  # (n, K)
        batch, channels = live.shape
        black = engine.score(
            engine.run(torch.zeros_like(xin[:1])).expand(batch, -1), torch.arange(batch, device=xin.device)
        )
        table = black[:, None, :].expand(batch, channels, -1).clone()  # (B, C, K)
        table[pairs[:, 0], pairs[:, 1]] = scores
        weights = torch.softmax(table, dim=1).transpose(1, 2)  # (B, K, C)
        heat = weighted_channels(act, weights)
    return finish_map(heat, is_multi(target, top), size, upsample, interpolation, x)
