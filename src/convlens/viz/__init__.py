"""Plots and image grids: the only place that knows numpy and matplotlib."""

from .figures import new_figure, png_bytes, save_png

__all__ = ["new_figure", "png_bytes", "save_png"]

from .attribution import (  # noqa: E402
    attribution_grid,
    colorize,
    explanation_figure,
    heatmap,
    image_array,
    occlusion_figure,
    overlay,
    scale_map,
)

__all__ += [
    "attribution_grid", "colorize", "explanation_figure", "heatmap", "image_array",
    "occlusion_figure", "overlay", "scale_map",
]  # fmt: skip
