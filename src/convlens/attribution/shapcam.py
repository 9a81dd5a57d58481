"""Shap-CAM (Zheng et al. 2022): channels weighted by their Shapley values, by permutation sampling."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import LayerRef, Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._camgrad import check_interpolation, finish_map, weighted_channels
from ._common import outside_inference_mode, positive_int, prepare_input
from ._perturb import Engine
from .gradcam import gradcam_layer


def permutation_ranks(live: torch.Tensor, samples: int, seed: int | None) -> torch.Tensor:
    """Random orders of each image's live channels: rank of every channel in each sampled order.

    The ``samples`` orders of all C channels are drawn once and shared by every image (so an
    image gets the same orders in any batch); each image keeps the order they induce on its
    live channels (a uniformly random order of them) and puts its dead channels last.

    Shape:
        live (B,C) bool; result (B, samples, C) long, each row a permutation of 0..C-1.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    keys = torch.rand((samples, live.shape[1]), generator=generator, dtype=torch.float64).to(live.device)
    keys = torch.where(live[:, None, :], keys[None], keys[None] + 2.0)
    return keys.argsort(dim=2).argsort(dim=2)


@register_method(
    "shap-cam",
    kind="attribution",
    output="map",
    signed=False,
    summary="channels weighted by their Shapley values for the class score (Monte-Carlo permutations)",
    paper="Zheng et al. 2022, Shap-CAM: Visual Explanations for CNNs based on Shapley Value",
)
@outside_inference_mode
def shap_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    layer: LayerRef = None,
    samples: int = 8,
    seed: int | None = 0,
    batch_size: int | None = None,
    upsample: bool = True,
    interpolation: str = "bilinear",
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Shap-CAM: ``relu(Σ_k φ_k A_k)`` with ``φ_k`` the Shapley value of channel k for the class score.

    From Zheng, Wang, Li, Fang, Zhang & Li 2022, "Shap-CAM: Visual Explanations for
    Convolutional Neural Networks based on Shapley Value". The players are the layer's
    channels; a coalition S is worth the class logit with every channel outside S set to 0.
    ``φ_k`` is estimated by Monte-Carlo permutation sampling: each of ``samples`` random
    orders adds the channels one by one and credits each with the change of the score, and
    the estimate is the mean over the orders (unbiased; its error shrinks as
    ``1/sqrt(samples)``). Channels that are all zero are null players (exactly 0) and are left
    out of the orders, so an order of n live channels costs n - 1 evaluations of the part of
    the model after the layer (the empty and the full coalition are shared).

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, a (B, K) tensor, or a
            callable from logits to (B,) scores.
        layer: a module name or module with (B,C,h,w) output; default the last feature map.
        samples: permutations per image.
        seed: seed of the permutations (reproducible on any device); None draws from torch's
            global generator.
        batch_size: copies per forward pass; default sized to free memory.
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
    samples = positive_int(samples, "samples")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"seed must be an int or None, got {seed!r}")
    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        resolved = gradcam_layer(model, layer, xin, output)
        engine = Engine(model, xin, target, top, output, layer=resolved, batch_size=batch_size)
        act = engine.activation
        assert act is not None
        phi = shapley_values(engine, act, samples, seed)
        heat = weighted_channels(act, phi.transpose(1, 2))
    size = (int(xin.shape[-2]), int(xin.shape[-1]))
    return finish_map(heat, is_multi(target, top), size, upsample, interpolation, x)


def shapley_values(engine: Engine, act: torch.Tensor, samples: int, seed: int | None) -> torch.Tensor:
    """Monte-Carlo Shapley values of the channels of ``act`` for the engine's K scores.

    Returns:
        (B, C, K) estimates; exactly 0 for channels that are all zero.
    """
    batch, channels = act.shape[:2]
    live = (act != 0).flatten(2).any(dim=2)  # (B, C)
    n_live = live.sum(dim=1)  # (B,)
    ranks = permutation_ranks(live, samples, seed)  # (B, S, C)
    # evaluations: (image, sample, j) for the prefixes of j = 1 .. n_live - 1 live channels
    inner = (n_live - 1).clamp(min=0)
    per_image = inner * samples
    offsets = torch.cumsum(per_image, 0) - per_image
    total = int(per_image.sum())

    def locate(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image = torch.searchsorted(offsets, idx, right=True) - 1
        rest = idx - offsets[image]
        width = inner[image]
        return image, rest // width, rest % width + 1

    def build(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image, sample, j = locate(idx)
        keep = ranks[image, sample] < j[:, None]  # (n, C): the first j channels of the order
        return act[image] * keep[:, :, None, None].to(act.dtype), image

    prefix = engine.activations(total, build)  # (total, K)
    classes = engine.classes_per_image
    # v(∅) for each image: the tail of an all-zero activation, scored for each image's classes
    zeros = torch.zeros_like(act[:1]).expand(batch, *act.shape[1:])
    empty = engine.activations(batch, lambda idx: (zeros[idx], idx))  # (B, K)
    phi = act.new_zeros((batch, channels, classes))
    for b in range(batch):  # a few tensor operations per image, not per copy
        n = int(n_live[b])
        if n == 0:
            continue
        values = act.new_empty((samples, n + 1, classes))
        values[:, 0] = empty[b]
        values[:, n] = engine.clean[b]
        if n > 1:
            start = int(offsets[b])
            values[:, 1:n] = prefix[start : start + samples * (n - 1)].view(samples, n - 1, classes)
        gains = values[:, 1:] - values[:, :-1]  # (S, n, K): gain of the j-th channel added
        order = ranks[b].argsort(dim=1)[:, :n]  # (S, n): the channel added at each step
        phi[b].index_add_(0, order.reshape(-1), gains.reshape(-1, classes))
    return phi / samples
