"""Training figures: loss/accuracy curves, labelled image grids, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..train.fit import EpochRecord
from .figures import new_figure


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """A (C,H,W) tensor in [0,1] as an (H,W) or (H,W,3) array for ``imshow``."""
    t = image.detach().float().cpu().clamp(0, 1)
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).numpy()


def curves_figure(history: Sequence[EpochRecord], title: str = "") -> Figure:
    """Loss and accuracy per epoch, training vs validation, side by side.

    Args:
        history: records with ``epoch``, ``train_loss``, ``val_loss``, ``train_accuracy`` and
            ``val_accuracy`` attributes (:class:`convlens.train.EpochRecord`).
    """
    epochs = [r.epoch for r in history]
    fig = new_figure(10, 3.8)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r.train_loss for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r.val_loss for r in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, [100 * r.train_accuracy for r in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * r.val_accuracy for r in history], "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig


def labelled_grid_figure(
    images: torch.Tensor,
    truth: Sequence[int] | torch.Tensor,
    predicted: Sequence[int] | torch.Tensor,
    class_names: Sequence[str],
    columns: int = 8,
) -> Figure:
    """Images with their true and predicted labels; wrong predictions titled in red.

    Shape:
        images ``(N, C, H, W)`` in [0,1].
    """
    n = len(images)
    rows = max(1, -(-n // columns))
    fig = new_figure(1.4 * columns, 1.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ok = int(truth[i]) == int(predicted[i])
        ax.set_title(
            f"true {class_names[int(truth[i])]}\npred {class_names[int(predicted[i])]}",
            fontsize=8, color="black" if ok else "red",
        )  # fmt: skip
    return fig


def confusion_figure(confusion: torch.Tensor, class_names: Sequence[str], title: str = "confusion matrix") -> Figure:
    """Counts with true class on rows and predicted class on columns, each cell annotated."""
    counts = confusion.cpu().numpy()
    k = len(class_names)
    size = max(4.0, 0.45 * k + 2)
    fig = new_figure(size + 1, size)
    ax = fig.subplots()
    im = ax.imshow(counts, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(class_names, rotation=45 if max(map(len, class_names)) > 2 else 0, ha="right")
    ax.set_yticklabels(class_names)
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > threshold else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def comparison_figure(labels: Sequence[str], accuracy: Sequence[float], seconds: Sequence[float]) -> Figure:
    """Bars of test accuracy (axis from 0 to 100%, so bar heights compare honestly) and training
    time for several runs (e.g. with/without BatchNorm), each bar labelled with its value."""
    fig = new_figure(8, 3.2)
    ax_acc, ax_time = fig.subplots(1, 2)
    ax_acc.bar(labels, [100 * a for a in accuracy], color=["#4c72b0", "#dd8452", "#55a868"][: len(labels)])
    ax_acc.set(ylabel="test accuracy (%)", ylim=(0, 105))
    ax_time.bar(labels, seconds, color=["#4c72b0", "#dd8452", "#55a868"][: len(labels)])
    ax_time.set(ylabel="training time (s)")
    for ax, values, fmt in ((ax_acc, [100 * a for a in accuracy], "{:.2f}%"), (ax_time, seconds, "{:.1f}s")):
        for i, v in enumerate(values):
            ax.text(i, v, fmt.format(v), ha="center", va="bottom", fontsize=9)
    return fig
