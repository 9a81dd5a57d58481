"""Feature maps and activation statistics of every conv and pool layer, from one forward pass.

The classic exercise (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
Networks"): look at what each layer computes for an image, channel by channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._runner import finish, outside_inference_mode, prepare_input
from ..errors import InputError
from ._capture import Layers, capture, conv_and_pool_layers, resolve_layers, stats_layers


@outside_inference_mode
def feature_maps(model: nn.Module, x: torch.Tensor, layers: Layers = None) -> dict[str, torch.Tensor]:
    """What each layer outputs for ``x``, captured in ONE forward pass.

    Args:
        model: any model; it comes back exactly as given (hooks live for this call only).
        x: images in [0,1].
        layers: ``None`` for every convolution and pooling layer, or layer names/modules (one or a
            sequence; containers such as a SqueezeNet ``Fire`` module work too).

    Returns:
        ``{layer name: activations}`` in execution order, detached copies on ``x``'s device. A
        convolution's map is its own output (before the activation that follows it). A module
        called several times in one pass appears as ``name``, ``name#2``, ...

    Shape:
        x: (B, C, H, W); each value: (B, C', h, w) (whatever the layer returns).
    """
    xin = prepare_input(model, x)
    chosen = conv_and_pool_layers(model) if layers is None else resolve_layers(model, layers)
    if not chosen:
        raise InputError("the model has no conv or pooling modules; pass layers=[names] to choose layers")
    maps = capture(model, xin, chosen, lambda _name, out: out.clone())
    return {name: finish(m, x) for name, m in maps.items()}


@dataclass(frozen=True)
class LayerStats:
    """Activation statistics of one layer over a batch.

    Attributes:
        name: the layer (``name#k`` for the k-th call of a reused module).
        shape: the output shape without the batch, ``(C, h, w)`` or ``(F,)``.
        mean: mean activation.
        std: standard deviation of the activations.
        zeros: fraction of activations that are exactly zero (a ReLU output's silent units).
        dead_units: fraction of units (one channel at one position) never positive on the batch.
        dead_channels: fraction of channels never positive anywhere on the batch.
    """

    name: str
    shape: tuple[int, ...]
    mean: float
    std: float
    zeros: float
    dead_units: float
    dead_channels: float


def _stats(name: str, out: torch.Tensor) -> LayerStats:
    a = out.float()
    active = a > 0
    units = active.any(dim=0)  # (C, ...) active anywhere on the batch
    channels = units.flatten(1).any(dim=1) if units.dim() > 1 else units
    return LayerStats(
        name, tuple(a.shape[1:]), a.mean().item(), a.std().item() if a.numel() > 1 else 0.0,
        (a == 0).float().mean().item(), 1.0 - units.float().mean().item(), 1.0 - channels.float().mean().item(),
    )  # fmt: skip


@outside_inference_mode
def activation_stats(model: nn.Module, x: torch.Tensor, layers: Layers = None) -> dict[str, LayerStats]:
    """Mean, spread and dead units of each layer's activations on a batch, from one forward pass.

    A unit is "dead" on the batch when it is never positive: after a ReLU it is always zero, and
    before one (a convolution's own output) the ReLU that follows would always silence it.

    Args:
        model: any model; it comes back exactly as given.
        x: images in [0,1], shape (B, C, H, W); the more images, the more telling "never active" is.
        layers: ``None`` for every convolution, pooling, fully connected and activation module, or
            layer names/modules.

    Returns:
        ``{layer name: LayerStats}`` in execution order.
    """
    xin = prepare_input(model, x)
    chosen = stats_layers(model) if layers is None else resolve_layers(model, layers)
    if not chosen:
        raise InputError("the model has no conv, pool, linear or activation modules; pass layers=[names]")
    return capture(model, xin, chosen, _stats)


__all__ = ["LayerStats", "activation_stats", "feature_maps"]
