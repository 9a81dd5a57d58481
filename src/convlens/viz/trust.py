"""Pictures of the trust checks: ours beside Captum, maps as the model is randomized, faithfulness curves.

Everything here reads result objects of :mod:`convlens.trust` and never runs a model. Maps are
shown as one value per pixel: signed maps summed over channels on a diverging colour map
centred on zero (red for the class, blue against), magnitudes on a sequential one; each map
scaled on its own unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..trust.captum import CaptumComparison
from ..trust.faithfulness import DeletionInsertion
from ..trust.randomization import RandomizationResult
from .figures import new_figure

SIGNED_CMAP = "RdBu_r"
ABSOLUTE_CMAP = "inferno"
CELL = 1.05  # inches per small map


def map_2d(m: torch.Tensor, signed: bool) -> np.ndarray:
    """One map as an (H,W) array: summed over channels if signed, else the largest magnitude.

    Shape:
        ``m``: (C,H,W), (1,H,W) or (H,W).
    """
    t = m.detach().double().cpu()
    if t.dim() == 2:
        t = t[None]
    return (t.sum(0) if signed else t.abs().amax(0)).numpy()


def _rgb(values: np.ndarray, signed: bool, scale: float | None = None) -> np.ndarray:
    """An (H,W) map coloured as an (H,W,3) array, scaled by ``scale`` (default its own largest magnitude)."""
    top = float(np.abs(values).max()) if scale is None else scale
    top = top if top > 0 else 1.0
    if signed:
        return colormaps[SIGNED_CMAP](np.clip(0.5 + 0.5 * values / top, 0, 1))[..., :3]
    return colormaps[ABSOLUTE_CMAP](np.clip(values / top, 0, 1))[..., :3]


def _image_rgb(image: torch.Tensor) -> np.ndarray:
    arr = image.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _mosaic(
    cells: Sequence[Sequence[np.ndarray | None]], row_labels: Sequence[str], col_labels: Sequence[str], title: str
) -> Figure:
    """One picture of equally sized RGB cells with row and column labels (one axes: fast to draw)."""
    h, w = next(c for row in cells for c in row if c is not None).shape[:2]
    pad = max(1, h // 14)
    rows, cols = len(cells), max(len(r) for r in cells)
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3))
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if cell is not None:
                top, left = pad + r * (h + pad), pad + c * (w + pad)
                canvas[top : top + h, left : left + w] = cell
    label_width = 1.5 if any(row_labels) else 0.2
    fig = new_figure(label_width + CELL * cols, 0.5 + CELL * rows)
    ax = fig.add_subplot()
    ax.imshow(canvas, interpolation="nearest")
    for r, label in enumerate(row_labels):
        ax.text(-pad, pad + r * (h + pad) + h / 2, label, ha="right", va="center", fontsize=7)
    for c, label in enumerate(col_labels):
        ax.text(pad + c * (w + pad) + w / 2, -pad, label, ha="center", va="bottom", fontsize=7)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, pad=28)
    return fig


def captum_figure(comparison: CaptumComparison, signed: Mapping[str, bool], images: int = 3) -> Figure:
    """Per method (rows): for each of the first ``images`` images, our map, Captum's, and the difference.

    The difference is drawn on the same colour scale as our map, so a blank cell means the two
    agree at the scale you look at the map with.

    Args:
        comparison: a :class:`convlens.trust.CaptumComparison`.
        signed: method name → whether its map is signed.
        images: how many images to show.
    """
    rows = comparison.rows
    count = min(images, comparison.images.shape[0])
    header: list[np.ndarray | None] = []
    for i in range(count):
        header += [None, _image_rgb(comparison.images[i]), None]
    cells = [header]
    labels = [""]
    for row in rows:
        sign = signed.get(row.method, True)
        line: list[np.ndarray | None] = []
        for i in range(count):
            ours, theirs = map_2d(row.ours[i], sign), map_2d(row.theirs[i], sign)
            scale = float(np.abs(ours).max())
            line += [_rgb(ours, sign, scale), _rgb(theirs, sign, scale), _rgb(ours - theirs, True, scale)]
        cells.append(line)
        labels.append(f"{row.method}\nrel. diff {row.max_rel_diff:.0e}" + (" (stat.)" if row.statistical else ""))
    cols = ["ours", "Captum", "ours − Captum"] * count
    return _mosaic(cells, labels, cols, "convlens beside Captum (same model, images, classes and settings)")


def randomization_figure(result: RandomizationResult, signed: Mapping[str, bool], image: int = 0) -> Figure:
    """Rows: methods; columns: the image, then its maps at each randomization stage.

    Each map is its magnitude scaled to its own maximum (what SSIM and HOG compare).

    Args:
        result: a :class:`convlens.trust.RandomizationResult`.
        signed: method name → whether its map is signed (signed maps are summed over channels
            before the magnitude is taken).
        image: which image of the batch.
    """
    maps = result.maps
    stages = result.stages
    picture = _image_rgb(result.images[image])
    cells: list[list[np.ndarray | None]] = []
    for name, stack in maps.items():
        line: list[np.ndarray | None] = [picture]
        for s in range(len(stages)):
            m = stack[s, image]
            m = m[None] if m.dim() == 2 else m
            values = np.abs(map_2d(m, True)) if signed.get(name, False) else map_2d(m, False)
            cell = _rgb(values, False)
            if cell.shape[:2] != picture.shape[:2]:
                reps = (max(1, picture.shape[0] // cell.shape[0]), max(1, picture.shape[1] // cell.shape[1]), 1)
                cell = _fit(np.kron(cell, np.ones(reps)), picture.shape[:2])
            line.append(cell)
        cells.append(line)
    cols = ["image", *(_wrap(s) for s in stages)]
    return _mosaic(cells, list(maps), cols, f"{result.mode} randomization, top layers first (image {image})")


def _fit(cell: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    out = np.ones((size[0], size[1], 3))
    h, w = min(size[0], cell.shape[0]), min(size[1], cell.shape[1])
    out[:h, :w] = cell[:h, :w]
    return out


def _wrap(label: str) -> str:
    return label.replace("down to ", "down to\n")


def similarity_figure(result: RandomizationResult, metrics: Sequence[str], titles: Mapping[str, str]) -> Figure:
    """One panel per metric: the mean similarity to the original maps at each stage, one line per method.

    Args:
        result: a :class:`convlens.trust.RandomizationResult`.
        metrics: the metric names to plot.
        titles: metric name → panel title.
    """
    stages = result.stages
    fig = new_figure(3.2 * len(metrics), 3.4)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    xs = np.arange(len(stages))
    for ax, metric in zip(axes, metrics, strict=True):
        for name in result.maps:
            ys = result.mean_similarity(name, metric).cpu().numpy()
            ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.set_title(titles.get(metric, metric), fontsize=9)
        ax.set_xticks(xs, [_wrap(s) for s in stages], rotation=60, fontsize=6, ha="right")
        ax.set_ylim(-0.4, 1.05)
        ax.axhline(0.0, color="#999", lw=0.6)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("similarity to the original maps", fontsize=8)
    axes[-1].legend(fontsize=6, loc="upper right")
    return fig


def faithfulness_figure(curves: Mapping[str, DeletionInsertion], baseline: str | None = None) -> Figure:
    """Mean deletion and insertion curves of each method, the random-order baseline dashed.

    Args:
        curves: method name → :class:`convlens.trust.DeletionInsertion`.
        baseline: the key of the random-order baseline in ``curves``.
    """
    fig = new_figure(9.0, 3.4)
    axes = fig.subplots(1, 2)
    for ax, field, better in zip(axes, ("deletion", "insertion"), ("lower", "higher"), strict=True):
        for name, c in curves.items():
            xs = c.fractions.cpu().numpy()
            ys = getattr(c, field).mean(dim=0).cpu().numpy()
            auc = float(getattr(c, f"{field}_auc").mean())
            style = {"color": "black", "ls": "--", "lw": 1.5} if name == baseline else {"lw": 1.2}
            ax.plot(xs, ys, label=f"{name} ({auc:.2f})", **style)
        ax.set_title(f"{field} (AUC in brackets, {better} is better)", fontsize=9)
        ax.set_xlabel(f"fraction of pixels {'removed' if field == 'deletion' else 'inserted'}", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the class", fontsize=8)
    axes[1].legend(fontsize=6, loc="lower right")
    return fig


__all__ = ["captum_figure", "faithfulness_figure", "map_2d", "randomization_figure", "similarity_figure"]
