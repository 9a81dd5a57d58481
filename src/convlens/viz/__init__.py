"""Plots and image grids: the only place that knows numpy and matplotlib."""

from .figures import new_figure, png_bytes, save_png

__all__ = ["new_figure", "png_bytes", "save_png"]
