"""Inspection: what a network has learned (filters) and how each layer responds to an image.

``filters`` returns a convolution's weights, ``feature_maps`` every conv and pool layer's
output from one forward pass (hooks that live for the call), ``activation_stats`` the mean,
spread and dead units of each layer. Figures are in :mod:`convlens.viz.inspect`, report sections
in :mod:`convlens.report.inspect`.
"""

from ._capture import conv_and_pool_layers, is_conv, is_pool
from .features import LayerStats, activation_stats, feature_maps
from .filters import Filters, conv_layers, filters

__all__ = [
    "Filters", "LayerStats", "activation_stats", "conv_and_pool_layers", "conv_layers", "feature_maps", "filters",
    "is_conv", "is_pool",
]  # fmt: skip
