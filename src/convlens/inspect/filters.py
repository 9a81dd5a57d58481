"""A layer's learned filters (its weights), for filter grids (Krizhevsky et al. 2012; Zeiler & Fergus 2014)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._checks import LayerRef, resolve_layer
from ..errors import InputError
from ._capture import is_conv


@dataclass(frozen=True)
class Filters:
    """The weights of one convolution.

    Attributes:
        name: the layer's ``named_modules()`` name.
        weight: a detached copy, shape (out_channels, in_channels / groups, kh, kw).
        bias: a detached copy of the bias, shape (out_channels,), or ``None``.
        first: whether this is the model's first convolution (it sees the image's colours).
    """

    name: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    first: bool

    @property
    def shape(self) -> tuple[int, ...]:
        """``(out_channels, in_channels / groups, kh, kw)``."""
        return tuple(self.weight.shape)


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's convolutions, in ``named_modules()`` order."""
    return [n for n, m in model.named_modules() if n and is_conv(m) and getattr(m, "weight", None) is not None]


def filters(model: nn.Module, layer: LayerRef = None) -> Filters:
    """The filters of a convolution.

    Args:
        model: any model (only read).
        layer: a conv layer's name or module; ``None`` for the first convolution.

    Returns:
        A :class:`Filters` with a copy of the weights.

    Shape:
        weight: (out_channels, in_channels / groups, kh, kw).
    """
    convs = conv_layers(model)
    if not convs:
        raise InputError("the model has no convolution layers, so it has no filters to show")
    name, module = resolve_layer(model, convs[0] if layer is None else layer)
    weight = getattr(module, "weight", None)
    if not is_conv(module) or not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        listing = ", ".join(convs[:12]) + (" ..." if len(convs) > 12 else "")
        raise InputError(f"layer {name!r} is a {type(module).__name__}, not a 2-D convolution; choose from: {listing}")
    bias = getattr(module, "bias", None)
    bias = bias.detach().clone() if isinstance(bias, torch.Tensor) else None
    return Filters(name, weight.detach().clone(), bias, name == convs[0])


__all__ = ["Filters", "conv_layers", "filters"]
