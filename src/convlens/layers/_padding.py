"""Padding an input once, in the memory layout the convolution will read it in."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


def pad_input(x: torch.Tensor, pads: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Pad ``(left, right, top, bottom)`` pixels in the given ``padding_mode`` (no copy when all 0).

    Args:
        x: the input.
        pads: pixels to add on the left, right, top and bottom.
        mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns:
        The padded input (``x`` itself when nothing is added).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H + top + bottom, W + left + right)``.
    """
    if not any(pads):
        return x
    if mode == "zeros":
        return F.pad(x, pads)
    height, width = x.shape[-2:]
    limit_h, limit_w = (height - 1, width - 1) if mode == "reflect" else (height, width)
    if mode in ("reflect", "circular") and (max(pads[2:]) > limit_h or max(pads[:2]) > limit_w):
        raise InputError(
            f"padding {pads} is too large for padding_mode={mode!r} on a {height}x{width} input "
            f"(at most {limit_h} rows and {limit_w} columns); use less padding or padding_mode='zeros'"
        )
    return F.pad(x, pads, mode=mode)


def pad_channels_last(x: torch.Tensor, pads: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """The padded input as a contiguous channels-last tensor, in one copy for zero padding.

    Args:
        x: the input (any memory layout).
        pads: pixels to add on the left, right, top and bottom.
        mode: the padding mode, as for :func:`pad_input`.

    Returns:
        A contiguous tensor (a view of ``x`` when it is already channels-last and unpadded).

    Shape:
        ``(B, C, H, W)`` -> ``(B, H + top + bottom, W + left + right, C)``.
    """
    if mode != "zeros" or not any(pads):
        return pad_input(x, pads, mode).permute(0, 2, 3, 1).contiguous()
    left, right, top, bottom = pads
    batch, channels, height, width = x.shape
    out = x.new_zeros(batch, height + top + bottom, width + left + right, channels)
    out[:, top : top + height, left : left + width] = x.permute(0, 2, 3, 1)
    return out
