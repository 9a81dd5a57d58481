"""Neural style transfer (Gatys, Ecker and Bethge 2016): the content, Gram style and
total-variation losses as plain functions, and :func:`style_transfer`, which optimizes the
pixels with L-BFGS or Adam against the features of VGG-16/19, SqueezeNet 1.1 (published
weights, downloaded) or an offline random-weight multi-scale network.

Compute only: torch, no plotting; figures are in :mod:`convlens.viz.style`.
"""

from .extractors import (
    EXTRACTORS,
    Extractor,
    LayerTap,
    custom_extractor,
    get_extractor,
    list_extractors,
)
from .losses import content_loss, gram_matrix, style_loss, tv_loss
from .samples import sample_image, sample_images
from .transfer import StyleResult, StyleSettings, style_transfer

__all__ = [
    "EXTRACTORS", "Extractor", "LayerTap", "StyleResult", "StyleSettings", "content_loss", "custom_extractor",
    "get_extractor", "gram_matrix", "list_extractors", "sample_image", "sample_images", "style_loss",
    "style_transfer", "tv_loss",
]  # fmt: skip
