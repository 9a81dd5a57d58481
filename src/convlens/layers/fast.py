"""The vectorized convolution: patches gathered into matrices, then batched matrix products.

This is "im2col + GEMM", arranged for where the bytes go on a CPU. The matrix products are
cheap to arrange; the copies that feed them are what decide the speed:

* **Patches come from a strided view, copied once into matrix form.** ``Tensor.unfold`` gives
  every patch of the padded input as a view, without copying; ``reshape`` then copies it into
  a matrix. The copy is fast only when it moves long contiguous runs of memory, and how much
  it duplicates decides how many bytes move. Two methods, chosen per call:

  - ``"nchw"`` (full im2col): the input as it comes, ``(B, C, H, W)``; the matrix holds all
    ``C*kh*kw`` taps of every output pixel (``kh*kw`` times the input) and the runs are output
    rows (``Wo`` pixels). One matrix product. Best for the first layers: few channels, large
    images.
  - ``"nhwc"`` (kernel-row im2col): the input copied once to channels-last, ``(B, H, W, C)``;
    the matrix holds, for every input row and output column, one kernel row across all
    channels (``kw*C`` values, one contiguous run). That is only ``kw`` times the input: the
    ``kh`` kernel rows are then ``kh`` *views* of the same matrix shifted by whole image
    rows, and ``kh`` products accumulate into the output. Best for deeper layers: many
    channels, small images, where ``Wo`` is short. Needs a vertical stride of 1.

  The method with the longer contiguous run is chosen.
* **The products write the output in place, in the order ``torch.nn.Conv2d`` returns it.**
  Each image's ``weight (O, K) @ patches (K, Ho*Wo)`` lands in ``(B, O, Ho, Wo)`` directly (the
  channels-last patches enter the product transposed, which BLAS reads without a copy), so
  there is no transpose of the output afterwards.
* **The batch is processed in blocks that fit in cache.** Built for a whole batch, the patch
  matrix falls out of the CPU caches (and a fresh multi-megabyte buffer costs page faults on
  every call), which is what makes a plain ``F.unfold`` + matmul many times slower than
  ``torch.nn.Conv2d``. Blocks of images whose patch matrix takes about :data:`BLOCK_BYTES` per
  thread are copied and consumed at once.
* Groups become part of the batch dimension of the products.

With autograd recording, the blocks' results are concatenated instead of written in place, so
gradients flow through ordinary differentiable ops (``unfold``, ``reshape``, ``baddbmm``).
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
        layout: ``"nchw"`` (full im2col) or ``"nhwc"`` (kernel-row im2col, vertical stride 1
            only); ``None`` picks the one that copies longer runs (see the module docstring).

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
    elif layout == "nhwc" and stride[0] != 1:
        raise InputError("layout 'nhwc' needs a vertical stride of 1; use layout='nchw' or None")

    plan: _FullIm2col | _RowIm2col
    if layout == "nchw":
        plan = _FullIm2col(pad_input(x, pads, padding_mode), weight, bias, (out_h, out_w), stride, dilation, groups)
    else:
        padded = pad_channels_last(x, pads, padding_mode)
        plan = _RowIm2col(padded, weight, bias, (out_h, out_w), stride, dilation, groups)
    block = max(1, min(batch, BLOCK_BYTES * torch.get_num_threads() // max(1, plan.bytes_per_image)))

    pixels = out_h * out_w
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        pieces = [plan.run(s, min(batch, s + block)) for s in range(0, max(batch, 1), block)]  # batch 0 too
        out = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    else:
        out = x.new_empty(batch, out_channels, pixels)
        for s in range(0, batch, block):
            plan.run(s, min(batch, s + block), out=out[s : s + block])
    return out.view(batch, out_channels, out_h, out_w)


def choose_layout(
    group_channels: int,
    groups: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_w: int,
) -> str:
    """The im2col method whose copy moves the longer contiguous runs of memory.

    Returns:
        ``"nchw"`` (runs of ``Wo`` output pixels when the horizontal stride is 1) or ``"nhwc"``
        (runs of ``kw*C`` channel values, or ``Cg`` with groups or dilation; vertical stride 1).
    """
    if stride[0] != 1:
        return "nchw"
    run_nchw = out_w if stride[1] == 1 else 1
    run_nhwc = kernel[1] * group_channels if groups == 1 and dilation[1] == 1 else group_channels
    return "nhwc" if run_nhwc > run_nchw else "nchw"


class _Plan:
    """What both methods share: weights and bias batched per block, and the block products.

    Products are batched over ``n * G`` (images times groups) matrices.
    """

    bytes_per_image: int

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, groups: int, pixels: int) -> None:
        self.groups = groups
        self.group_out = weight.shape[0] // groups
        self.pixels = pixels
        self.bias = None if bias is None else bias.view(1, groups, self.group_out, 1)
        self._batched: dict[tuple[int, int], torch.Tensor] = {}

    def batched(self, w: torch.Tensor, n: int, key: int = 0) -> torch.Tensor:
        """``w`` ``(G, Og, K)`` repeated for ``n`` images as ``(n*G, Og, K)`` (a view when G is 1)."""
        if (key, n) not in self._batched:
            self._batched[(key, n)] = w.expand(n, *w.shape).reshape(n * self.groups, *w.shape[1:])
        return self._batched[(key, n)]

    def bias_for(self, n: int) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias.expand(n, -1, -1, -1).reshape(n * self.groups, self.group_out, 1)

    def product(
        self, w: torch.Tensor, cols: torch.Tensor, n: int, out: torch.Tensor | None, accumulate: bool
    ) -> torch.Tensor:
        """``out (+)= w @ cols (+ bias)`` for ``n * G`` matrices; ``out`` is ``(n*G, Og, Ho*Wo)``."""
        if accumulate:
            assert out is not None
            return out.baddbmm_(w, cols)
        bias = self.bias_for(n)
        if bias is None:
            return torch.bmm(w, cols, out=out)
        return torch.baddbmm(bias, w, cols, out=out)

    def run(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``start:stop``; fills ``out`` ``(n, O, Ho*Wo)`` or returns a new tensor."""
        raise NotImplementedError


class _FullIm2col(_Plan):
    """All ``Cg*kh*kw`` taps of every output pixel in one matrix; one product per block.

    Shape:
        ``x`` padded ``(B, C, Hp, Wp)``.
    """

    def __init__(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, out_size: tuple[int, int],
        stride: tuple[int, int], dilation: tuple[int, int], groups: int,
    ) -> None:  # fmt: skip
        out_channels, group_channels, kh, kw = weight.shape
        super().__init__(weight, bias, groups, out_size[0] * out_size[1])
        self.taps = group_channels * kh * kw
        (sh, sw), (dh, dw) = stride, dilation
        view = x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)  # (B, C, Ho, Wo, spanh, spanw)
        if dilation != (1, 1):
            view = view[..., ::dh, ::dw]  # the dilated taps: (B, C, Ho, Wo, kh, kw)
        self.patches = view.permute(0, 1, 4, 5, 2, 3)  # (B, C, kh, kw, Ho, Wo): rows of Wo pixels innermost
        self.w = weight.reshape(groups, self.group_out, self.taps)
        self.bytes_per_image = x.shape[1] * kh * kw * self.pixels * x.element_size()

    def run(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        n = stop - start
        cols = self.patches[start:stop].reshape(n * self.groups, self.taps, self.pixels)  # the one copy
        target = None if out is None else out.view(n * self.groups, self.group_out, self.pixels)
        result = self.product(self.batched(self.w, n), cols, n, target, accumulate=False)
        return result.view(n, -1, self.pixels)


class _RowIm2col(_Plan):
    """One kernel row across all channels per input row and output column; ``kh`` products.

    The matrix ``U`` has one row per (input row, output column) and ``kw*Cg`` columns. For kernel
    row ``i``, the rows of ``U`` that output pixel ``(h, w)`` needs start at input row
    ``h + i*dh``: a contiguous slice of ``U`` (vertical stride 1), so no further copy.

    Shape:
        ``x`` padded channels-last ``(B, Hp, Wp, C)``.
    """

    def __init__(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, out_size: tuple[int, int],
        stride: tuple[int, int], dilation: tuple[int, int], groups: int,
    ) -> None:  # fmt: skip
        out_channels, group_channels, kh, kw = weight.shape
        super().__init__(weight, bias, groups, out_size[0] * out_size[1])
        self.out_w = out_size[1]
        self.rows = x.shape[1]  # padded input rows
        self.kh, self.dh = kh, dilation[0]
        self.row_taps = kw * group_channels
        view = x.unfold(2, dilation[1] * (kw - 1) + 1, stride[1])  # (B, Hp, Wo, C, spanw)
        if dilation[1] != 1:
            view = view[..., :: dilation[1]]  # (B, Hp, Wo, C, kw)
        view = view.unflatten(3, (groups, group_channels))  # (B, Hp, Wo, G, Cg, kw)
        self.patches = view.permute(0, 3, 1, 2, 5, 4)  # (B, G, Hp, Wo, kw, Cg): runs of kw*Cg when G == 1
        # One weight matrix per kernel row, taps ordered (kw, Cg) like the columns of U.
        w = weight.view(groups, self.group_out, group_channels, kh, kw).permute(3, 0, 1, 4, 2)
        self.w_rows = w.reshape(kh, groups, self.group_out, self.row_taps)
        self.bytes_per_image = self.rows * self.out_w * x.shape[3] * kw * x.element_size()

    def run(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        n = stop - start
        u = self.patches[start:stop].reshape(n * self.groups, self.rows * self.out_w, self.row_taps)  # the copy
        target = None if out is None else out.view(n * self.groups, self.group_out, self.pixels)
        for i in range(self.kh):
            first = i * self.dh * self.out_w
            cols = u[:, first : first + self.pixels].transpose(1, 2)  # (n*G, kw*Cg, Ho*Wo), a view
            target = self.product(self.batched(self.w_rows[i], n, key=i), cols, n, target, accumulate=i > 0)
        assert target is not None
        return target.view(n, -1, self.pixels)
