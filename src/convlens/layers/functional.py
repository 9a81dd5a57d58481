"""Functional forms of the from-scratch layers: ``linear`` and ``conv2d``.

Neither calls ``torch.nn.functional.linear``/``conv2d`` or a ``torch.nn`` layer: the linear map
is a matrix product, and the convolution is one of the two implementations in
:mod:`.reference` (readable) and :mod:`.fast` (vectorized). Both implementations pad the input
themselves (once, with ``torch.nn.functional.pad`` or one copy), in the layout they read.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ._geometry import (
    IntPair,
    Padding,
    check_config,
    check_conv_input,
    check_dtype,
    check_implementation,
    check_padding,
    explicit_padding,
    pair,
)
from .fast import conv2d_fast
from .reference import conv2d_reference

_IMPLEMENTATIONS = {"fast": conv2d_fast, "reference": conv2d_reference}


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x Wᵀ + b`` over any leading dimensions.

    Args:
        x: input features.
        weight: the weight matrix ``W``.
        bias: the bias ``b``, or ``None``.

    Returns:
        The affine map of ``x``.

    Shape:
        ``x`` ``(*, in_features)``, ``weight`` ``(out_features, in_features)``, ``bias``
        ``(out_features,)``; output ``(*, out_features)``.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"the input must be a torch.Tensor of shape (*, in_features), got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise InputError(
            f"the layer expects {weight.shape[1]} input features in the last dimension but the input has shape "
            f"{tuple(x.shape)}; flatten the input or fix in_features"
        )
    check_dtype(x, weight)
    if x.dim() == 2 and bias is not None:
        return torch.addmm(bias, x, weight.t())  # one fused call for the common (B, in) case
    out = torch.matmul(x, weight.t())
    return out if bias is None else out + bias


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    implementation: str = "fast",
) -> torch.Tensor:
    """2-D convolution (cross-correlation, like ``torch.nn.functional.conv2d``) from scratch.

    Args:
        x: input images or feature maps (any values; not only [0,1]).
        weight: filters.
        bias: one value per output channel, or ``None``.
        stride: step between output pixels, an int or ``(sh, sw)``.
        padding: pixels added on each side (int or ``(ph, pw)``), or ``"same"``/``"valid"``.
        dilation: spacing between kernel taps, an int or ``(dh, dw)``.
        groups: split channels into this many independent groups.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        implementation: ``"fast"`` (vectorized) or ``"reference"`` (the textbook sum).

    Returns:
        The convolution, differentiable with respect to ``x``, ``weight`` and ``bias``.

    Shape:
        ``x`` ``(B, C, H, W)`` or ``(C, H, W)``; ``weight`` ``(O, C // groups, kh, kw)``;
        output ``(B, O, Ho, Wo)`` (``(O, Ho, Wo)`` for an unbatched input) with
        ``Ho = (H + pad_top + pad_bottom - dh * (kh - 1) - 1) // sh + 1`` and likewise ``Wo``.
    """
    stride2 = pair(stride, "stride", minimum=1)
    dilation2 = pair(dilation, "dilation", minimum=1)
    pad = check_padding(padding)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise InputError("weight must be a 4-D tensor (out_channels, in_channels // groups, kh, kw)")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise InputError(f"groups must be a positive int, got {groups!r}")
    check_config(weight.shape[1] * groups, weight.shape[0], groups, pad, stride2, padding_mode)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise InputError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    pads = explicit_padding(pad, (weight.shape[2], weight.shape[3]), dilation2)
    return convolve(x, weight, bias, stride2, pads, dilation2, groups, padding_mode, implementation)


def convolve(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int,
    padding_mode: str,
    implementation: str,
) -> torch.Tensor:
    """The convolution with already validated arguments (the layers call this on every forward).

    Args:
        x: input, ``(B, C, H, W)`` or unbatched ``(C, H, W)``; checked against ``weight``.
        pads: ``(left, right, top, bottom)`` from :func:`._geometry.explicit_padding`.
        implementation: ``"fast"`` or ``"reference"``.
        (the others as in :func:`conv2d`, already normalized to pairs).

    Returns:
        ``(B, O, Ho, Wo)``, or ``(O, Ho, Wo)`` for an unbatched input.
    """
    run = _IMPLEMENTATIONS[check_implementation(implementation)]
    x4 = check_conv_input(x, weight, groups)
    out = run(x4, weight, bias, stride, dilation, groups, pads, padding_mode)
    return out if x.dim() == 4 else out.squeeze(0)
