"""Argument checking and shape arithmetic shared by the convolution implementations.

Every error a caller can cause here is an :class:`~convlens.errors.InputError` (a ``ValueError``,
like the errors ``torch.nn.Conv2d`` raises for the same mistakes) whose message says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch

from ..errors import InputError

IntPair = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
IMPLEMENTATIONS = ("fast", "reference")


def pair(value: IntPair, name: str, *, minimum: int) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays; anything else raises :class:`InputError`.

    Args:
        value: an int or a sequence of two ints.
        name: the argument's name, for the message.
        minimum: the smallest allowed value of each entry.

    Returns:
        ``(height, width)`` values.
    """
    if isinstance(value, bool):
        raise InputError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        out = (value, value)
    elif (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise InputError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value!r}")
    return out


def check_padding(padding: Padding) -> str | tuple[int, int]:
    """Normalize the ``padding`` argument like ``torch.nn.Conv2d``: ``"same"``, ``"valid"`` or a pair."""
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise InputError(f"padding must be 'same', 'valid', an int or a pair of ints, got {padding!r}")
        return padding
    return pair(padding, "padding", minimum=0)


def check_config(
    in_channels: int, out_channels: int, groups: int, padding: str | tuple[int, int], stride: tuple[int, int],
    padding_mode: str,
) -> None:  # fmt: skip
    """Raise :class:`InputError` for a layer configuration ``torch.nn.Conv2d`` would also reject."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive int, got {value!r}")
    if in_channels % groups:
        raise InputError(f"in_channels ({in_channels}) must be divisible by groups ({groups}); change one of them")
    if out_channels % groups:
        raise InputError(f"out_channels ({out_channels}) must be divisible by groups ({groups}); change one of them")
    if padding == "same" and stride != (1, 1):
        raise InputError("padding='same' is not supported for strided convolutions; use stride=1 or an int padding")
    if padding_mode not in PADDING_MODES:
        raise InputError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}")


def check_implementation(implementation: str) -> str:
    """Return ``implementation`` if it names a convolution implementation, else raise."""
    if implementation not in IMPLEMENTATIONS:
        raise InputError(f"implementation must be 'fast' or 'reference', got {implementation!r}")
    return implementation


def explicit_padding(
    padding: str | tuple[int, int], kernel: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Padding as ``(left, right, top, bottom)``, the order ``torch.nn.functional.pad`` takes.

    ``"same"`` pads ``dilation * (kernel - 1)`` in total per side pair, the extra pixel of an
    even kernel going to the right/bottom, exactly as ``torch.nn.Conv2d`` does.
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (total_w // 2, total_w - total_w // 2, total_h // 2, total_h - total_h // 2)
    assert not isinstance(padding, str)
    return (padding[1], padding[1], padding[0], padding[0])


def output_size(
    padded: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int]:
    """Output ``(H, W)`` of a convolution over an already padded ``(H, W)`` input.

    Raises:
        InputError: the (dilated) kernel does not fit in the padded input.
    """
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if padded[0] < span[0] or padded[1] < span[1]:
        raise InputError(
            f"kernel size {kernel[0]}x{kernel[1]} (dilated span {span[0]}x{span[1]}) is larger than the padded "
            f"input {padded[0]}x{padded[1]}; use a larger image, more padding or a smaller kernel"
        )
    return ((padded[0] - span[0]) // stride[0] + 1, (padded[1] - span[1]) // stride[1] + 1)


def check_conv_input(x: object, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """Check a convolution input against its weight; return it with a batch dimension.

    Args:
        x: the input, ``(B, C, H, W)`` or unbatched ``(C, H, W)``.
        weight: ``(O, C // groups, kh, kw)``.
        groups: number of channel groups.

    Returns:
        ``x`` as a 4-D tensor (a view; never a copy).
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"the input must be a torch.Tensor of shape (B,C,H,W), got {type(x).__name__}")
    if x.dim() not in (3, 4):
        raise InputError(f"the input must have shape (B,C,H,W) or (C,H,W), got shape {tuple(x.shape)}")
    x4 = x if x.dim() == 4 else x.unsqueeze(0)
    channels = weight.shape[1] * groups
    if x4.shape[1] != channels:
        raise InputError(
            f"the layer expects {channels} input channels but the input has {x4.shape[1]} "
            f"(shape {tuple(x.shape)}); check the layer's in_channels or the input"
        )
    check_dtype(x4, weight)
    return x4


def check_dtype(x: torch.Tensor, weight: torch.Tensor) -> None:
    """The input must be floating point with the weight's dtype (``torch.nn`` has the same rule)."""
    if x.dtype != weight.dtype:
        raise InputError(
            f"the input is {x.dtype} but the layer's weights are {weight.dtype}; convert the input "
            f"(x.to({weight.dtype})) or the layer (layer.to({x.dtype}))"
        )
