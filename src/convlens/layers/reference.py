"""The textbook convolution, written to be read.

For every output pixel ``(h, w)`` of output channel ``o`` in group ``g``::

    y[b, o, h, w] = bias[o] + sum over c, i, j of
                    weight[o, c, i, j] * x[b, g * Cg + c, h * sh + i * dh, w * sw + j * dw]

The code below keeps exactly this sum but lets tensors do the work over batch, channels and
pixels: it loops only over the ``kh * kw`` kernel offsets ``(i, j)``. For each offset it takes
the strided slice of the input that every output pixel sees through that tap, and adds its
product with the weight column ``weight[:, :, i, j]``.
"""

from __future__ import annotations

import torch

from ._geometry import output_size
from ._padding import pad_input


def conv2d_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Convolve, one kernel offset at a time.

    Args:
        x: input.
        weight: filters; ``Cg = C // groups`` input channels each.
        bias: one value per output channel, or ``None``.
        stride: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        groups: number of channel groups.
        pads: ``(left, right, top, bottom)`` padding.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Returns:
        The convolution, differentiable with respect to ``x``, ``weight`` and ``bias``.

    Shape:
        ``x`` ``(B, C, H, W)``, ``weight`` ``(O, Cg, kh, kw)``, ``bias`` ``(O,)``;
        output ``(B, O, Ho, Wo)``.
    """
    x = pad_input(x, pads, padding_mode)
    batch, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    out_h, out_w = output_size((height, width), (kh, kw), stride, dilation)

    # Split channels into groups: input (B, G, Cg, Hp, Wp), weight (G, Og, Cg, kh, kw).
    xg = x.reshape(batch, groups, group_channels, height, width)
    wg = weight.reshape(groups, out_channels // groups, group_channels, kh, kw)

    out = x.new_zeros(batch, groups, out_channels // groups, out_h, out_w)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            # The input pixel that output pixel (h, w) sees through tap (i, j), for all h, w at once.
            seen = xg[:, :, :, top : top + sh * (out_h - 1) + 1 : sh, left : left + sw * (out_w - 1) + 1 : sw]
            # Sum over the group's input channels c: (B,G,Cg,Ho,Wo) x (G,Og,Cg) -> (B,G,Og,Ho,Wo).
            out = out + torch.einsum("bgchw,goc->bgohw", seen, wg[:, :, :, i, j])
    out = out.reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, out_channels, 1, 1)
    return out
