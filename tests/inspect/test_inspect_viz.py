"""Filter tiles and feature-map figures: per-tile scaling and figure plumbing."""

from __future__ import annotations

import numpy as np
import torch

from convlens.inspect import Filters, feature_maps, filters
from convlens.viz.inspect import feature_maps_figure, filter_tiles, filters_figure, unit_scale


def test_unit_scale_scales_each_slice_on_its_own():
    a = np.stack([np.arange(4.0).reshape(2, 2), 10 + 5 * np.arange(4.0).reshape(2, 2), np.full((2, 2), 3.0)])
    s = unit_scale(a, (1, 2))
    assert np.allclose(s[0], s[1]) and s[0].min() == 0 and s[0].max() == 1 and np.all(s[2] == 0.5)


def test_filter_tiles_colour_average_and_inputs():
    w = torch.randn(8, 3, 5, 5)
    assert filter_tiles(w).shape == (8, 5, 5, 3)  # three input channels: colour
    avg = filter_tiles(w, colour=False)
    assert avg.shape == (8, 5, 5) and np.allclose(avg[2], unit_scale(w[2].mean(0).numpy()[None], (1, 2))[0])
    assert filter_tiles(w, colour=False, inputs=2).shape == (8, 2, 5, 5)


def test_figures_render(trained_mnist, test_digits):
    from convlens.viz.figures import png_bytes

    assert png_bytes(filters_figure(filters(trained_mnist, "features.3"), inputs=3)).startswith(b"\x89PNG")
    rgb = Filters("conv", torch.randn(4, 3, 3, 3), None, True)
    assert png_bytes(filters_figure(rgb)).startswith(b"\x89PNG")
    x = test_digits[0][:2]
    assert png_bytes(feature_maps_figure(feature_maps(trained_mnist, x), x, index=1, channels=3)).startswith(b"\x89PNG")
