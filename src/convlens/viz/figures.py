"""Figure plumbing shared by every plot: PNG bytes and atomic saving.

Figures are built with ``matplotlib.figure.Figure`` directly, never through pyplot, so convlens
neither needs a display nor changes the backend of a notebook that imports it."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from .._io import atomic_write_bytes


def new_figure(width: float, height: float) -> Figure:
    """A figure that is not registered with pyplot (no global state, no leaks)."""
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig_or_png: Figure | bytes, path: str | Path) -> Path:
    """Write a figure (or PNG bytes) to ``path`` atomically."""
    return atomic_write_bytes(path, fig_or_png if isinstance(fig_or_png, bytes) else png_bytes(fig_or_png))


__all__ = ["Figure", "new_figure", "png_bytes", "save_png"]
