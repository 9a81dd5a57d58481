"""Occlusion: slide a patch over the image and watch the class score (Zeiler & Fergus 2014)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import Target, check_pixel_range, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._common import broadcast_like, finish, outside_inference_mode, prepare_input
from ._perturb import Engine

Pair = int | tuple[int, int]


def _pair(value: object, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair)
    ):
        raise InputError(f"{name} must be a positive int or a (height, width) pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


Grid = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def patch_grid(size: tuple[int, int], window: Pair, stride: Pair) -> Grid:
    """Where the patches go: ``((rows, cols), window, stride)``.

    Patches start at multiples of the stride; along a side of length ``n`` there are
    ``ceil((n - window) / stride) + 1`` of them, the last one cut off by the border when the
    stride does not divide ``n - window`` (the same grid as Captum's Occlusion).
    """
    win, step = _pair(window, "window"), _pair(stride, "stride")
    if win[0] > size[0] or win[1] > size[1]:
        raise InputError(f"window {win} is larger than the images ({size[0]}x{size[1]}); pick a smaller window")
    rows, cols = (math.ceil((n - w) / s) + 1 for n, w, s in zip(size, win, step, strict=False))
    return (rows, cols), win, step


def _covers(n: int, count: int, window: int, stride: int, device: torch.device) -> torch.Tensor:
    """(count, n) bool: which of the ``n`` pixels along one side each patch covers."""
    starts = torch.arange(count, device=device)[:, None] * stride
    pixel = torch.arange(n, device=device)[None, :]
    return (pixel >= starts) & (pixel < starts + window)


def _changed(
    xin: torch.Tensor,
    fill: float | torch.Tensor,
    rows_cols: tuple[int, int],
    win: tuple[int, int],
    step: tuple[int, int],
) -> torch.Tensor:
    """(rows, cols, B) bool: whether the patch changes the image at all.

    A patch over pixels that already hold the fill value (the black border of an MNIST digit
    under a black patch) leaves the image bit-identical, so its score is the clean score and
    needs no forward pass. Counted with an integral image of the pixels that differ.
    """
    batch, _, height, width = xin.shape
    differs = (xin != fill).any(dim=1).to(torch.int64)
    integral = F.pad(differs.cumsum(1).cumsum(2), (1, 0, 1, 0))  # (B, H+1, W+1)
    r0 = torch.arange(rows_cols[0], device=xin.device) * step[0]
    c0 = torch.arange(rows_cols[1], device=xin.device) * step[1]
    r1, c1 = (r0 + win[0]).clamp(max=height), (c0 + win[1]).clamp(max=width)
    corner = lambda r, c: integral[:, r[:, None], c[None, :]]  # noqa: E731  (B, rows, cols)
    inside = corner(r1, c1) - corner(r0, c1) - corner(r1, c0) + corner(r0, c0)
    return (inside > 0).permute(1, 2, 0)


def _occluded_scores(
    model: nn.Module,
    xin: torch.Tensor,
    target: Target,
    window: Pair,
    stride: Pair,
    fill: float | torch.Tensor,
    batch_size: int | None,
    probability: bool,
    output: OutputSpec,
    top: int | None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int], tuple[int, int]]:
    """Scores of the clean images (B, K) and of every occluded copy (B, K, rows, cols).

    The occluded copies (patch position × image, skipping patches that change nothing) run
    through the perturbation engine (:mod:`convlens.attribution._perturb`): built on the
    device chunk by chunk, in large batches without autograd, halved on out-of-memory.
    """
    batch, _, height, width = xin.shape
    (rows, cols), win, step = patch_grid((height, width), window, stride)
    scalar_fill = isinstance(fill, (int, float)) and not isinstance(fill, bool)
    fill_images = None if scalar_fill else broadcast_like(fill, xin, "fill")
    if scalar_fill:
        check_pixel_range(float(fill), "fill")
    row_cover = _covers(height, rows, win[0], step[0], xin.device)
    col_cover = _covers(width, cols, win[1], step[1], xin.device)
    with inspecting(model), torch.no_grad():
        engine = Engine(model, xin, target, top, output, batch_size=batch_size, probability=probability)
        clean = engine.clean  # (B, K)
        layout = engine.run.layout(xin)
        changed = _changed(layout, float(fill) if fill_images is None else fill_images, (rows, cols), win, step)
        todo = changed.reshape(-1).nonzero()[:, 0]  # flat (patch, image) indices, patch-major

        def build(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            flat = todo[idx]
            patch, image = flat // batch, flat % batch
            mask = (row_cover[patch // cols][:, :, None] & col_cover[patch % cols][:, None, :])[:, None]
            copies = layout[image]
            if fill_images is None:
                copies.masked_fill_(mask, float(fill))
            else:
                copies = torch.where(mask, fill_images[image], copies)
            return copies, image

        scores = engine.inputs(todo.numel(), build)
        grid = clean.repeat(rows * cols, 1)  # (rows·cols·B, K): unchanged copies keep the clean score
        grid[todo] = scores
    return clean, grid.view(rows, cols, batch, -1).permute(2, 3, 0, 1), win, step


@register_method(
    "occlusion",
    kind="attribution",
    output="pixel",
    signed=True,
    summary="average drop of the class score when a sliding patch covers each pixel",
    paper="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks",
)
@outside_inference_mode
def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    window: Pair = 8,
    stride: Pair = 4,
    fill: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Occlusion attribution: how much the class score drops when a patch covers each pixel.

    From Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks". A
    ``window`` patch (all channels) filled with ``fill`` slides over the image with ``stride``;
    each pixel gets the average score drop ``S(x) - S(x occluded)`` over the patches covering
    it. Same values as Captum's ``Occlusion`` with ``sliding_window_shapes=(C, window, window)``,
    ``strides=(C, stride, stride)`` and ``baselines=fill``.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class of the clean image), an int, one class per image, or a
            callable from logits to scores that works row by row.
        window: patch size, an int or (height, width).
        stride: patch step, an int or (height, width), at most the window so every pixel is covered.
        fill: the patch's pixel value (0.0 is black), or a tensor broadcastable to ``x``.
        batch_size: occluded copies per forward pass; default sized to free memory.
        top: explain each image's ``top`` highest-scoring classes; all K come from the same copies.
        output: where the logits are in the model's output: an index, a key or a callable
            (:mod:`convlens._outputs`).

    Returns:
        The attribution, signed, the same for every channel of a pixel; detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result: (B,C,H,W), or (B,K,C,H,W) for K classes per image.
    """
    xin = prepare_input(model, x)
    (_, _), win, step = patch_grid((int(xin.shape[-2]), int(xin.shape[-1])), window, stride)
    for n, w, s in zip(xin.shape[-2:], win, step, strict=False):
        if s > w and w < n:
            raise InputError(f"stride {step} is larger than the window {win}: some pixels would never be covered")
    clean, grid, win, step = _occluded_scores(model, xin, target, window, stride, fill, batch_size, False, output, top)
    batch, classes = clean.shape
    drop = (clean[:, :, None, None] - grid).reshape(batch * classes, 1, *grid.shape[-2:])
    ones = torch.ones((1, 1, *win), dtype=drop.dtype, device=drop.device)
    height, width = xin.shape[-2:]
    summed = F.conv_transpose2d(drop, ones, stride=step)[..., :height, :width]
    counts = F.conv_transpose2d(torch.ones_like(drop[:1]), ones, stride=step)[..., :height, :width]
    result = (summed / counts).view(batch, classes, 1, height, width).expand(-1, -1, xin.shape[1], -1, -1)
    return finish(result if is_multi(target, top) else result[:, 0], x)


@register_method(
    "occlusion-sensitivity",
    kind="attribution",
    output="grid",
    signed=False,
    summary="probability of the class for each position of an occluding patch",
    paper="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks",
)
@outside_inference_mode
def occlusion_sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    window: Pair = 8,
    stride: Pair = 4,
    fill: float | torch.Tensor = 0.0,
    batch_size: int | None = None,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """Occlusion sensitivity: the probability of the class for each position of an occluding patch.

    The classic experiment of Zeiler & Fergus 2014 (figure 7): a ``window`` patch filled with
    ``fill`` is placed at every ``stride``-th position (the patch grid of :func:`occlusion`),
    and the softmax probability of the target class is recorded; low values mark the regions
    the prediction depends on.

    Args:
        model: any classifier taking [0,1] images and returning logits.
        x: images in [0,1].
        target: None (predicted class of the clean image), an int, or one class per image.
        window: patch size, an int or (height, width).
        stride: patch step, an int or (height, width).
        fill: the patch's pixel value (default 0.0, black), or a tensor broadcastable to ``x``.
        batch_size: occluded copies per forward pass; default sized to free memory.
        top: explain each image's ``top`` most probable classes; all K come from the same copies.
        output: where the logits are in the model's output (:mod:`convlens._outputs`).

    Returns:
        Probabilities in [0,1], detached, on ``x``'s device. Cell ``[r, c]`` is the patch whose
        top-left corner is at pixel ``(r·stride, c·stride)`` (not its centre).

    Shape:
        ``x``: (B,C,H,W); result: (B, rows, cols) with ``rows = ceil((H - window) / stride) + 1``,
        or (B, K, rows, cols) for K classes per image.
    """
    xin = prepare_input(model, x)
    _, grid, _, _ = _occluded_scores(model, xin, target, window, stride, fill, batch_size, True, output, top)
    return finish(grid if is_multi(target, top) else grid[:, 0], x)
