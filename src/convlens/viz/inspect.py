"""Figures of what a network has learned: filter grids and feature-map mosaics.

Reads :class:`convlens.inspect.Filters` and the mappings of :func:`convlens.inspect.feature_maps`;
never runs a model. Each filter and each feature-map channel is scaled to [0,1] on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from ..inspect.features import LayerStats
from ..inspect.filters import Filters
from .figures import new_figure

BACKGROUND = (0.75, 0.85, 1.0)  # light blue between tiles, so white and black filter pixels both show


def unit_scale(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Min-max scale ``a`` to [0,1] over ``axes`` (each slice on its own; a constant slice becomes 0.5)."""
    low = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (a - low) / np.where(span > 0, span, 1), 0.5)


def filter_tiles(weight: torch.Tensor, *, colour: bool | None = None, inputs: int | None = None) -> np.ndarray:
    """Filters as tiles, each scaled to [0,1] on its own.

    Args:
        weight: (out, in, kh, kw) weights.
        colour: one RGB tile per filter (default: when the filters have exactly 3 input channels).
        inputs: show the first ``inputs`` input channels of each filter as separate tiles instead of
            their average.

    Returns:
        (out, kh, kw, 3) RGB tiles, (out, kh, kw) averaged tiles, or (out, inputs, kh, kw).
    """
    w = weight.detach().float().cpu().numpy()
    colour = w.shape[1] == 3 if colour is None else colour
    if colour:
        return unit_scale(np.transpose(w[:, :3], (0, 2, 3, 1)), (1, 2, 3))
    if inputs:
        return unit_scale(w[:, :inputs], (2, 3))
    return unit_scale(w.mean(axis=1), (1, 2))


def filters_figure(
    filters: Filters, *, colour: bool | None = None, inputs: int | None = None, limit: int = 64, tile: float = 0.5
) -> Figure:
    """A labelled grid of a convolution's filters, drawn as one mosaic (fast even for 64 filters).

    The first layer of an RGB model is drawn in colour; deeper layers (and grayscale models) get
    one gray tile per output channel, its input channels averaged, or (``inputs=k``) one row of k
    tiles per output channel. Each tile is scaled to [0,1] on its own and labelled with its
    output channel.

    Args:
        filters: a :class:`convlens.inspect.Filters`.
        colour: force colour tiles on or off (default: the first conv layer of a 3-channel model).
        inputs: show the first k input channels of each filter instead of their average.
        limit: at most this many output channels.
        tile: inches per tile.
    """
    weight = filters.weight[:limit]
    colour = (bool(filters.first) and weight.shape[1] == 3) if colour is None else colour
    tiles = filter_tiles(weight, colour=colour, inputs=None if colour else inputs)
    n = tiles.shape[0]
    per = tiles.shape[1] if (inputs and not colour) else 1
    if per > 1:  # (n, k, kh, kw) -> one row per output channel
        cells = [tiles[i, j] for i in range(n) for j in range(per)]
        cols, rows = per, n
    else:
        cells = list(tiles)
        cols = min(n, 16)
        rows = math.ceil(n / cols)
    kh, kw = cells[0].shape[:2]
    gap = max(1, kh // 4)
    canvas = np.empty((rows * (kh + gap) - gap, cols * (kw + gap) - gap, 3))
    canvas[:] = BACKGROUND
    for k, cell in enumerate(cells):
        r, c = divmod(k, cols)
        canvas[r * (kh + gap) : r * (kh + gap) + kh, c * (kw + gap) : c * (kw + gap) + kw] = (
            cell if colour else cell[..., None]
        )
    fig = new_figure(tile * cols + 0.6, tile * rows + 0.6)
    ax = fig.add_subplot()
    ax.imshow(canvas, interpolation="nearest")
    centres = [c * (kw + gap) + (kw - 1) / 2 for c in range(cols)]
    if per > 1:
        ax.set_xticks(centres, [f"in {j}" for j in range(cols)], fontsize=6)
        ax.set_yticks([r * (kh + gap) + (kh - 1) / 2 for r in range(rows)], [str(i) for i in range(rows)], fontsize=6)
    else:
        ax.set_xticks(centres, [str(c) for c in range(cols)], fontsize=6)
        ax.set_yticks([r * (kh + gap) + (kh - 1) / 2 for r in range(rows)], [f"+{r * cols}" for r in range(rows)],
                      fontsize=6)  # fmt: skip
    ax.tick_params(length=0, pad=1)
    for spine in ax.spines.values():
        spine.set_visible(False)
    dims = "×".join(map(str, filters.shape))
    how = "colour" if colour else (f"first {per} input channels per row" if per > 1 else "input channels averaged")
    how = "one input channel" if weight.shape[1] == 1 else how
    fig.suptitle(f"{filters.name}: {dims} ({how}); filter = row label + column", fontsize=8)
    return fig


def _mosaic(maps: np.ndarray, gap: int = 1) -> np.ndarray:
    """(k, h, w) tiles in a row separated by ``gap`` columns of NaN (drawn as background)."""
    k, h, w = maps.shape
    out = np.full((h, k * (w + gap) - gap), np.nan)
    for i in range(k):
        out[:, i * (w + gap) : i * (w + gap) + w] = maps[i]
    return out


def feature_maps_figure(
    maps: Mapping[str, torch.Tensor],
    image: torch.Tensor,
    *,
    index: int = 0,
    channels: int = 5,
    title: str = "",
    row_height: float = 0.9,
) -> Figure:
    """One image's feature maps: its first ``channels`` channels of every layer, one row per layer.

    Each channel is scaled to [0,1] on its own (so a weak channel is as visible as a strong one);
    the layer names are the row titles, the input image is the first row.

    Args:
        maps: ``{layer: (B, C, h, w)}`` from :func:`convlens.inspect.feature_maps`.
        image: the input images, (B, C, H, W) in [0,1].
        index: which image of the batch.
        channels: how many channels per layer (the first ones).
        title: the figure's title.
        row_height: inches per row.
    """
    rows = [(n, m) for n, m in maps.items() if m.dim() == 4]
    fig = new_figure(channels * row_height * 1.1 + 1.4, row_height * (len(rows) + 1) + 0.4)
    axes = fig.subplots(len(rows) + 1, 1, squeeze=False)[:, 0]
    picture = image[index].detach().float().cpu().clamp(0, 1).numpy()
    axes[0].imshow(picture[0] if picture.shape[0] == 1 else np.transpose(picture[:3], (1, 2, 0)), cmap="gray",
                   vmin=0, vmax=1)  # fmt: skip
    axes[0].set_ylabel("input", rotation=0, ha="right", va="center", fontsize=8)
    for ax, (name, m) in zip(axes[1:], rows, strict=True):
        a = m[index, :channels].detach().float().cpu().numpy()
        ax.imshow(_mosaic(unit_scale(a, (1, 2))), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(
            f"{name}\n{m.shape[1]}×{m.shape[2]}×{m.shape[3]}", rotation=0, ha="right", va="center", fontsize=7
        )
        w = m.shape[3]
        ax.set_xticks([i * (w + 1) + (w - 1) / 2 for i in range(a.shape[0])], [str(i) for i in range(a.shape[0])],
                      fontsize=6)  # fmt: skip
        ax.tick_params(length=0, pad=1)
        ax.set_yticks([])
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    for ax in axes:
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def stats_figure(stats: Mapping[str, LayerStats]) -> Figure:
    """Dead units and dead channels per layer, as horizontal bars (from :func:`convlens.inspect.activation_stats`)."""
    names = list(stats)
    units = [stats[n].dead_units for n in names]
    chans = [stats[n].dead_channels for n in names]
    fig = new_figure(5.5, 0.28 * len(names) + 1.0)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.barh(y - 0.2, units, 0.4, label="units never active")
    ax.barh(y + 0.2, chans, 0.4, label="channels never active")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction on the batch", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return fig


__all__ = ["feature_maps_figure", "filter_tiles", "filters_figure", "stats_figure", "unit_scale"]
