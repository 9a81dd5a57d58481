"""Pictures of adversarial examples: side-by-side grids, image rows, cost curves, transfer tables, robustness curves.

Everything here draws tensors that the attacks returned; nothing runs a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .attribution import image_array
from .figures import new_figure


def _name(names: Sequence[str] | None, index: int) -> str:
    return names[index] if names is not None and 0 <= index < len(names) else str(index)


def _show(ax: Axes, image: torch.Tensor, title: str = "", color: str = "black") -> None:
    ax.imshow(image_array(image), vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def amplified(difference: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A (C,H,W) difference shown around mid-grey, scaled so that its largest change reaches 0 or 1.

    Returns:
        The image in [0,1] and the amplification factor.
    """
    largest = float(difference.abs().max())
    factor = 0.5 / largest if largest > 0 else 1.0
    return (0.5 + difference * factor).clamp(0, 1), factor


def attack_figure(
    original: torch.Tensor,
    adversarial: torch.Tensor,
    *,
    original_predicted: Sequence[int],
    original_probability: Sequence[float],
    predicted: Sequence[int],
    probability: Sequence[float],
    success: Sequence[bool] | None = None,
    class_names: Sequence[str] | None = None,
    columns: int = 2,
) -> Figure:
    """Original, adversarial and amplified difference side by side, with predictions and confidences.

    Args:
        original, adversarial: the images, in [0,1].
        original_predicted, original_probability: the model's class and confidence on the originals.
        predicted, probability: the same on the adversarial images.
        success: per image, whether the attack succeeded (its adversarial caption turns red).
        class_names: names of the classes (default: the indices).
        columns: triplets per figure row.

    Shape:
        original, adversarial: (B,C,H,W).
    """
    n = len(original)
    rows = max(1, -(-n // columns))
    fig = new_figure(2.3 * 3 * columns, 2.0 * rows)
    axes = np.atleast_2d(fig.subplots(rows, 3 * columns))
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, columns)
        a, b, d = axes[r, 3 * c], axes[r, 3 * c + 1], axes[r, 3 * c + 2]
        for ax in (a, b, d):
            ax.axis("on")
        diff = (adversarial[i] - original[i]).detach().float().cpu()
        shown, factor = amplified(diff)
        hit = success is not None and bool(success[i])
        _show(
            a,
            original[i],
            f"original\n{_name(class_names, int(original_predicted[i]))} ({original_probability[i]:.0%})",
        )
        _show(b, adversarial[i], f"adversarial\n{_name(class_names, int(predicted[i]))} ({probability[i]:.0%})",
              "crimson" if hit else "black")  # fmt: skip
        _show(d, shown, f"difference ×{factor:.1f}\nmax |Δ| {float(diff.abs().max()):.2f}")
    return fig


def image_row_figure(
    images: torch.Tensor, titles: Sequence[str], *, columns: int = 10, colors: Sequence[str] | None = None,
    signed: bool = False,
) -> Figure:  # fmt: skip
    """Images in a grid with a title each (class images from noise, look-alikes, noises).

    Args:
        images: (N,C,H,W) in [0,1], or any values with ``signed=True`` (noise), shown around mid-grey.
        titles: one title per image.
        columns: images per row.
        colors: a title colour per image.
        signed: show values symmetric around 0 (all images on one scale).
    """
    n = len(images)
    rows = max(1, -(-n // columns))
    fig = new_figure(1.45 * min(columns, n), 1.7 * rows)
    axes = np.atleast_1d(fig.subplots(rows, min(columns, n))).ravel()
    scale = float(images.detach().abs().max()) if signed else 1.0
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i].detach().float().cpu()
        if signed:
            image = (0.5 + 0.5 * image / max(scale, 1e-12)).clamp(0, 1)
        _show(ax, image, titles[i], colors[i] if colors is not None else "black")
        ax.axis("on")
    return fig


def cost_figure(history: torch.Tensor, labels: Sequence[str], *, ylabel: str, title: str = "") -> Figure:
    """The objective per step, one line per image (lines end where an image stopped).

    Shape:
        history: (N, T) with NaN after an image stopped.
    """
    values = history.detach().float().cpu().numpy()
    fig = new_figure(6.5, 3.6)
    ax = fig.subplots()
    steps = np.arange(values.shape[1])
    for row, label in zip(values, labels, strict=True):
        ax.plot(steps, row, lw=1.2, label=label)
    ax.set(xlabel="step", ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(labels) <= 12:
        ax.legend(fontsize=7, ncol=2)
    return fig


def transfer_figure(
    predicted: torch.Tensor, noise_target: Sequence[int], labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Figure:  # fmt: skip
    """The transfer table as a picture: rows are the fixed images, columns the noises.

    Each cell shows the predicted class; green where it is the noise's target.

    Shape:
        predicted: (N, K).
    """
    table = predicted.detach().cpu()
    n, k = table.shape
    hits = (table == torch.as_tensor(list(noise_target))[None, :]).numpy()
    fig = new_figure(0.55 * k + 1.6, 0.45 * n + 1.2)
    ax = fig.subplots()
    ax.imshow(hits, cmap="Greens", vmin=0, vmax=1.6, aspect="auto")
    for i in range(n):
        for j in range(k):
            ax.text(j, i, _name(class_names, int(table[i, j])), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(k), [_name(class_names, int(t)) for t in noise_target])
    rows = [f"#{i}" if labels is None else _name(class_names, int(labels[i])) for i in range(n)]
    ax.set_yticks(range(n), rows)
    ax.set_xlabel("noise learned for target class")
    ax.set_ylabel("test image (true class)" if labels is not None else "test image")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    return fig


def robustness_figure(curves: Sequence[tuple[str, Sequence[float], Sequence[float]]], *, title: str = "") -> Figure:
    """Accuracy against the budget, one line per model.

    Args:
        curves: ``(label, eps, accuracy)`` per model; accuracy in [0,1].
    """
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    for label, eps, accuracy in curves:
        ax.plot(list(eps), [100 * a for a in accuracy], "o-", label=label)
    ax.set(xlabel="eps (pixel units, L∞ unless stated)", ylabel="accuracy under attack (%)", ylim=(-2, 102))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


__all__ = ["amplified", "attack_figure", "cost_figure", "image_row_figure", "robustness_figure", "transfer_figure"]
