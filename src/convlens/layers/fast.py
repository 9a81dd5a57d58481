"""The vectorized convolution: patches gathered into a matrix, then one matrix product.

This is "im2col + GEMM", arranged for where the bytes go on a CPU:

* **The patch matrix is built by one copy from a strided view.** ``Tensor.unfold`` (twice)
  gives every patch of the padded input as a view, without copying; ``reshape`` then copies
  it into a matrix with ``K = Cg*kh*kw`` entries per output pixel. That copy is fast only when
  it moves long contiguous runs, and which layout gives long runs depends on the layer:

  - ``"nchw"``: the input as it comes, ``(B, C, H, W)``. Runs are output rows (``Wo``
    pixels): good for the first layers, with few channels and large images.
  - ``"nhwc"``: the input copied once to channels-last, ``(B, H, W, C)``. Runs are a
    kernel row across all channels (``kw*C`` values): good for deeper layers with many
    channels and small images, where ``Wo`` is short.

  The layout with the longer run is chosen per call.
* **The product writes the output in place, in the order ``torch.nn.Conv2d`` returns it.**
  Each image's ``weight (O, K) @ patches (K, Ho*Wo)`` lands in ``(B, O, Ho, Wo)`` directly (the
  channels-last patches enter the product transposed, which BLAS reads without a copy), so
  there is no transpose of the output afterwards.
* **The batch is processed in blocks that fit in cache.** The patch matrix is ``kh*kw`` times
  larger than the input; built for a whole batch it falls out of the CPU caches (and a fresh
  multi-megabyte buffer costs page faults on every call), which is what makes a plain
  ``F.unfold`` + matmul many times slower than ``torch.nn.Conv2d``. Blocks of images whose patch
  matrix takes about :data:`BLOCK_BYTES` per thread are copied and consumed at once.
* Groups become one more batch dimension of the matrix product.

With autograd recording, the blocks' results are concatenated instead of written in place, so
gradients flow through ordinary differentiable ops (``unfold``, ``reshape``, ``matmul``).
"""

from __future__ import annotations

import torch

from ..errors import InputError
from ._geometry import output_size
from ._padding import pad_channels_last, pad_input

# Bytes of patch matrix per block of images and per thread: about what a core's L2 cache holds
# (the threads split a block's images between them).
BLOCK_BYTES = 1 << 20

LAYOUTS = ("nchw", "nhwc")


def conv2d_fast(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    padding_mode: str = "zeros",
    layout: str | None = None,
) -> torch.Tensor:
    """Convolve with cache-blocked im2col and batched matrix products.

    Args:
        x: input.
        weight: filters; ``Cg = C // groups`` input channels each.
        bias: one value per output channel, or ``None``.
        stride: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        groups: number of channel groups.
        pads: ``(left, right, top, bottom)`` padding.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        layout: ``"nchw"`` or ``"nhwc"`` patch layout; ``None`` picks the one with longer
            contiguous runs (see the module docstring).

    Returns:
        The convolution, contiguous, differentiable with respect to ``x``, ``weight`` and ``bias``.

    Shape:
        ``x`` ``(B, C, H, W)``, ``weight`` ``(O, Cg, kh, kw)``, ``bias`` ``(O,)``;
        output ``(B, O, Ho, Wo)``.
    """
    batch, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    left, right, top, bottom = pads
    out_h, out_w = output_size((height + top + bottom, width + left + right), (kh, kw), stride, dilation)
    if layout is None:
        layout = choose_layout(group_channels, groups, (kh, kw), stride, dilation, out_w)
    elif layout not in LAYOUTS:
        raise InputError(f"layout must be 'nchw', 'nhwc' or None (automatic), got {layout!r}")
    group_out = out_channels // groups
    taps = group_channels * kh * kw  # the inner dimension of the matrix product
    pixels = out_h * out_w

    if layout == "nchw":
        patches = _patches_nchw(pad_input(x, pads, padding_mode), (kh, kw), stride, dilation, groups)
        w = weight.reshape(groups, group_out, taps)
    else:
        patches = _patches_nhwc(pad_channels_last(x, pads, padding_mode), (kh, kw), stride, dilation, groups)
        w = weight.permute(0, 2, 3, 1).reshape(groups, group_out, taps)  # taps ordered (kh, kw, Cg)
    b = None if bias is None else bias.view(groups, group_out, 1)
    if groups == 1:  # plain 3-D products: no group dimension to broadcast over
        patches, w, b = patches[:, 0], w[0], None if b is None else b[0]

    per_image = channels * kh * kw * pixels * x.element_size()
    block = max(1, min(batch, BLOCK_BYTES * torch.get_num_threads() // max(1, per_image)))
    product = _Product(w, b, layout, taps, pixels, block)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        pieces = [product(patches[s : s + block]) for s in range(0, max(batch, 1), block)]  # batch 0 too
        out = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    else:
        out = x.new_empty(batch, out_channels, pixels)
        target = out if groups == 1 else out.view(batch, groups, group_out, pixels)
        for s in range(0, batch, block):
            product(patches[s : s + block], target[s : s + block])
    return out.view(batch, out_channels, out_h, out_w)


def choose_layout(
    group_channels: int,
    groups: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_w: int,
) -> str:
    """The patch layout whose copy moves the longer contiguous runs of memory.

    Returns:
        ``"nchw"`` (runs of ``Wo`` output pixels, when the stride is 1) or ``"nhwc"`` (runs of
        ``kw*C`` channel values, or ``Cg`` with groups or dilation).
    """
    run_nchw = out_w if stride[1] == 1 else 1
    run_nhwc = kernel[1] * group_channels if groups == 1 and dilation[1] == 1 else group_channels
    return "nhwc" if run_nhwc > run_nchw else "nchw"


def _patches_nchw(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], groups: int
) -> torch.Tensor:
    """All patches of a padded ``(B, C, H, W)`` input as a view ``(B, G, Cg, kh, kw, Ho, Wo)``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    view = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)  # (B, C, Ho, Wo, spanh, spanw)
    if dilation != (1, 1):
        view = view[..., ::dh, ::dw]  # the dilated taps: (B, C, Ho, Wo, kh, kw)
    view = view.unsqueeze(1) if groups == 1 else view.unflatten(1, (groups, -1))  # (B, G, Cg, Ho, Wo, kh, kw)
    return view.permute(0, 1, 2, 5, 6, 3, 4)


def _patches_nhwc(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], groups: int
) -> torch.Tensor:
    """All patches of a padded ``(B, H, W, C)`` input as a view ``(B, G, Ho, Wo, kh, kw, Cg)``."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    view = x.unfold(1, dh * (kh - 1) + 1, sh).unfold(2, dw * (kw - 1) + 1, sw)  # (B, Ho, Wo, C, spanh, spanw)
    if dilation != (1, 1):
        view = view[..., ::dh, ::dw]  # (B, Ho, Wo, C, kh, kw)
    view = view.unsqueeze(3) if groups == 1 else view.unflatten(3, (groups, -1))  # (B, Ho, Wo, G, Cg, kh, kw)
    return view.permute(0, 3, 1, 2, 5, 6, 4)


class _Product:
    """The matrix product of one block of images, with as few tensor operations as possible.

    Args:
        w: weights, ``(O, taps)``, or ``(G, Og, taps)`` with groups.
        b: bias, ``(O, 1)`` or ``(G, Og, 1)``, or ``None``.
        layout: ``"nchw"`` or ``"nhwc"``, the layout of the patches.
        taps: ``Cg * kh * kw``.
        pixels: ``Ho * Wo``.
        block: images per full block.
    """

    def __init__(
        self, w: torch.Tensor, b: torch.Tensor | None, layout: str, taps: int, pixels: int, block: int
    ) -> None:
        self.w, self.b, self.nchw = w, b, layout == "nchw"
        self.grouped = w.dim() == 3
        self.shape = (taps, pixels) if self.nchw else (pixels, taps)
        self.w_block = w if self.grouped else w.expand(block, *w.shape)  # a view, made once

    def __call__(self, patches: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Copy the block's patches into a matrix (the one copy) and multiply; fill ``out`` if given.

        Shape:
            ``patches`` ``(n, Cg, kh, kw, Ho, Wo)`` (nchw) or ``(n, Ho, Wo, kh, kw, Cg)`` (nhwc),
            with a group dimension after ``n`` when grouped; result ``(n, O, Ho*Wo)`` or
            ``(n, G, Og, Ho*Wo)``.
        """
        n = patches.shape[0]
        lead = (n, patches.shape[1]) if self.grouped else (n,)
        cols = patches.reshape(*lead, *self.shape)
        if not self.nchw:
            cols = cols.transpose(-1, -2)  # BLAS reads the transposed operand without a copy
        if self.grouped:
            result = torch.matmul(self.w, cols, out=out)
            if self.b is not None:
                result = result.add_(self.b) if out is not None else result + self.b
            return result
        w = self.w_block if n == self.w_block.shape[0] else self.w.expand(n, *self.w.shape)
        if self.b is None:
            return torch.bmm(w, cols, out=out)
        return torch.baddbmm(self.b, w, cols, out=out)
