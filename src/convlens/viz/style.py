"""Figures of style transfer results: content, style(s) and result side by side, the loss curves
and the intermediate snapshots. Reads :class:`convlens.style.StyleResult` objects; runs nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..style.transfer import StyleResult
from .figures import new_figure

_COLORS = {"content": "tab:blue", "style": "tab:orange", "tv": "tab:green", "total": "black"}


def _rgb(image: torch.Tensor) -> np.ndarray:
    """``(3,H,W)`` or ``(1,3,H,W)`` in [0,1] → ``(H,W,3)`` array for ``imshow``."""
    t = image.detach().float().cpu()
    t = t[0] if t.dim() == 4 else t
    return t.clamp(0, 1).permute(1, 2, 0).numpy()


def _panel(fig: Figure, rows: int, cols: int, k: int, image: torch.Tensor, title: str) -> None:
    ax = fig.add_subplot(rows, cols, k)
    ax.imshow(_rgb(image), interpolation="lanczos")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def transfer_figure(
    result: StyleResult, content_name: str = "content", style_names: Sequence[str] | None = None
) -> Figure:
    """Content, each style image and the result, in one row (the first image of a batch).

    Args:
        result: a :class:`convlens.style.StyleResult`.
        content_name: title of the content panel.
        style_names: titles of the style panels.
    """
    styles = list(result.styles)
    names = list(style_names) if style_names is not None else [f"style {i + 1}" for i in range(len(styles))]
    blend = result.settings.blend
    cols = 2 + len(styles)
    fig = new_figure(2.6 * cols, 2.9)
    _panel(fig, 1, cols, 1, result.content, content_name)
    for i, (style, name) in enumerate(zip(styles, names, strict=False)):
        share = f" ({blend[i]:.0%})" if len(styles) > 1 else ""
        _panel(fig, 1, cols, 2 + i, style, f"{name}{share}")
    settings = result.settings
    extra = ", colours kept" if settings.keep_colors else ""
    _panel(fig, 1, cols, cols, result.image, f"result ({settings.steps * settings.levels} steps{extra})")
    return fig


def losses_figure(results: Sequence[StyleResult], labels: Sequence[str] | None = None) -> Figure:
    """Loss per evaluation of one or more runs: weighted content, style, TV and total (log scale).

    Args:
        results: :class:`convlens.style.StyleResult` objects; one panel each.
        labels: a title per panel.
    """
    n = len(results)
    fig = new_figure(3.6 * n, 2.8)
    names = list(labels) if labels is not None else [f"run {i + 1}" for i in range(n)]
    for i, (result, label) in enumerate(zip(results, names, strict=False)):
        ax = fig.add_subplot(1, n, i + 1)
        for term, values in result.history.items():
            v = values.float().clamp_min(1e-8).numpy()
            ax.plot(
                np.arange(1, len(v) + 1), v, label=term, color=_COLORS.get(term), lw=1.8 if term == "total" else 1.2
            )
        ax.set_yscale("log")
        tail = [float(v[len(v) // 10 :].min()) for v in result.history.values() if len(v)]
        positive = [t for t in tail if t > 0]
        if positive:
            ax.set_ylim(bottom=min(positive) / 3)  # the content term starts at 0 from the content image
        ax.set_xlabel("evaluation (forward + backward)")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.set_ylabel("weighted loss")
            ax.legend(fontsize=8)
    return fig


def snapshots_figure(result: StyleResult) -> Figure:
    """The intermediate images kept with ``snapshots=K``, then the result."""
    shots = [*result.snapshots]
    total = len(result.history["total"])
    cols = max(1, len(shots))
    fig = new_figure(2.4 * cols, 2.7)
    for k, shot in enumerate(shots, start=1):
        _panel(fig, 1, cols, k, shot, f"step {round(k * total / len(shots))}")
    return fig


__all__ = ["losses_figure", "snapshots_figure", "transfer_figure"]
