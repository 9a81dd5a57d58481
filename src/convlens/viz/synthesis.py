"""Figures of synthesized images: a grid of images (rows: presets or seeds, columns: targets) and
the cost curves. Reads :class:`convlens.synthesis.SynthesisResult` objects; never runs a model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..synthesis.visualize import SynthesisResult
from .figures import new_figure


def _tile(image: torch.Tensor) -> np.ndarray:
    """(C,H,W) in [0,1] -> (H,W) or (H,W,3) array for ``imshow``."""
    a = image.detach().float().cpu().clamp(0, 1).numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a[:3], (1, 2, 0))


def _target_name(target: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= target < len(class_names):
        name = str(class_names[target])
        return name if len(name) <= 14 else name[:13] + "…"
    return str(target)


def image_captions(result: SynthesisResult, class_names: Sequence[str] | None = None) -> list[str]:
    """One caption per image: ``"3: p=0.99"`` (class visualization) or ``"ch 5: 2.31"`` (maximization)."""
    targets = result.targets.tolist()
    prob = result.probability
    if prob is not None:
        return [f"{_target_name(t, class_names)}: p={p:.2f}" for t, p in zip(targets, prob.tolist(), strict=True)]
    return [f"#{t}: {s:.2f}" for t, s in zip(targets, result.score.tolist(), strict=True)]


def synthesis_grid(
    rows: Sequence[tuple[str, SynthesisResult]], class_names: Sequence[str] | None = None, *, tile: float = 1.05
) -> Figure:
    """Synthesized images, one row per result (a preset, say), one column per image.

    Args:
        rows: ``(row title, SynthesisResult)`` pairs; rows may have different lengths.
        class_names: names of the classes, for captions.
        tile: inches per image.

    Returns:
        A figure; each image is captioned with its target and the model's probability for it (or
        the activation reached).
    """
    cols = max(len(r.images) for _, r in rows)
    fig = new_figure(tile * cols + 1.2, (tile + 0.25) * len(rows) + 0.2)
    grid = fig.add_gridspec(len(rows), cols)
    for i, (title, result) in enumerate(rows):
        captions = image_captions(result, class_names)
        images = result.images
        for j in range(cols):
            ax = fig.add_subplot(grid[i, j])
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(_tile(images[j]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(captions[j], fontsize=7, pad=2)
            if j == 0:
                ax.set_ylabel(title, fontsize=8)
    return fig


def cost_curves(rows: Sequence[tuple[str, SynthesisResult]], class_names: Sequence[str] | None = None) -> Figure:
    """The objective (score − λ‖I‖²) per step, one panel per result, one line per image.

    Args:
        rows: ``(panel title, SynthesisResult)`` pairs.
        class_names: names of the classes, for the legend.
    """
    fig = new_figure(3.3 * len(rows), 2.7)
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for ax, (title, result) in zip(axes, rows, strict=True):
        history = result.history.detach().float().cpu().numpy()
        targets = result.targets.tolist()
        for k in range(history.shape[1]):
            ax.plot(
                np.arange(1, history.shape[0] + 1), history[:, k], lw=1, label=_target_name(targets[k], class_names)
            )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("objective", fontsize=8)
    if len(axes[-1].lines) <= 12:
        axes[-1].legend(fontsize=6, ncol=2, frameon=False)
    return fig


__all__ = ["cost_curves", "image_captions", "synthesis_grid"]
