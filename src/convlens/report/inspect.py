"""HTML for inspection: filter grids, feature maps and activation statistics.

The demo's "Filters and feature maps" section and ``convlens filters`` / ``convlens features``
use the same builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..inspect import Filters, LayerStats, activation_stats, conv_layers, feature_maps, filters
from ..viz.figures import png_bytes
from ..viz.inspect import feature_maps_figure, filters_figure
from .html import Section, image, paragraph, table


def filters_html(f: Filters, *, inputs: int | None = None, limit: int = 64) -> tuple[str, bytes]:
    """A filter grid and the sentence under it; returns the HTML and the PNG."""
    png = png_bytes(filters_figure(f, inputs=inputs, limit=limit))
    out, cin, kh, kw = f.shape
    shown = f" (the first {limit} of {out})" if out > limit else ""
    if f.first and cin == 3 and not inputs:
        how = "Each tile is one filter drawn in colour (its red, green and blue weights), scaled to [0,1] on its own."
    elif cin == 1:
        how = "Each tile is one filter's weights, scaled to [0,1] on its own (white = most positive)."
    elif inputs:
        how = f"Each row is one filter; the tiles are its weights on the first {min(inputs, cin)} input channels."
    else:
        how = f"Each tile is one filter's weights averaged over its {cin} input channels, scaled to [0,1] on its own."
    caption = f"The {out} learned {kh}×{kw} filters of {f.name}{shown}. {how}"
    return image(png, caption), png


def feature_maps_html(
    maps: Mapping[str, torch.Tensor], images: torch.Tensor, titles: Sequence[str], *, channels: int = 5
) -> tuple[str, list[bytes]]:
    """One feature-map figure per image and the sentence under each; returns the HTML and the PNGs."""
    html, pngs = [], []
    for i, title in enumerate(titles):
        png = png_bytes(feature_maps_figure(maps, images, index=i, channels=channels, title=title))
        caption = (f"{title}: the first {channels} channels after every conv and pool layer (rows, in the order "
                   "they run), each scaled to [0,1] on its own; bright = strong response. Conv rows are the raw "
                   "convolution outputs, before the ReLU.")  # fmt: skip
        html.append(image(png, caption))
        pngs.append(png)
    return "".join(html), pngs


def stats_table(stats: Mapping[str, LayerStats]) -> str:
    """Activation statistics per layer, as an HTML table."""
    rows = [
        (s.name, "×".join(map(str, s.shape)), f"{s.mean:.3f}", f"{s.std:.3f}", f"{s.zeros:.1%}", f"{s.dead_units:.1%}",
         f"{s.dead_channels:.1%}")
        for s in stats.values()
    ]  # fmt: skip
    header = ("layer", "output", "mean", "std", "zeros", "units never active", "channels never active")
    return table(header, rows, numeric=(2, 3, 4, 5, 6))


def stats_html(stats: Mapping[str, LayerStats], count: int) -> str:
    """The statistics table with the sentences that explain it."""
    text = paragraph(
        f"Activation statistics on {count} test images. 'zeros' is the fraction of outputs that are exactly 0 (a "
        "ReLU silencing them); a unit or channel 'never active' is never positive on any of these images, so "
        "it contributes nothing downstream (a dead unit). Conv rows are before their ReLU."
    )
    return text + stats_table(stats)


def inspection_section(
    model: nn.Module, images: torch.Tensor, titles: Sequence[str], *, stats_images: torch.Tensor | None = None,
    filter_layers: Sequence[str] | None = None, channels: int = 5, title: str = "Filters and feature maps",
) -> Section:  # fmt: skip
    """Filters of the first conv layers, feature maps of a few images, and activation statistics.

    Args:
        model: the model (only read).
        images: the images whose feature maps are shown, (B, C, H, W) in [0,1].
        titles: one title per image.
        stats_images: images for the statistics (default: ``images``).
        filter_layers: conv layers whose filters are drawn (default: the first two).
        channels: channels per layer in the feature maps.
        title: the section title.
    """
    layers = list(filter_layers) if filter_layers is not None else conv_layers(model)[:2]
    body = [paragraph("What the network has learned (its filters) and how each layer responds to a digit.")]
    body += [filters_html(filters(model, name))[0] for name in layers]
    body.append(feature_maps_html(feature_maps(model, images), images, titles, channels=channels)[0])
    batch = images if stats_images is None else stats_images
    body.append(stats_html(activation_stats(model, batch), len(batch)))
    return Section(title, "".join(body))


def demo_inspection_section(model: nn.Module, data: object) -> Section:
    """The demo's "Filters and feature maps": conv1 and conv2 filters, feature maps of 3 test digits
    after every conv and pool layer, activation statistics on 250 test digits of every class."""
    test = data.test  # type: ignore[attr-defined]
    images, labels = test.batch(slice(None))
    pick = [int((labels == c).nonzero()[0]) for c in (0, 4, 7) if bool((labels == c).any())][:3] or [0, 1, 2]
    titles = [f"test digit #{i} (a {int(labels[i])})" for i in pick]
    spread = images[:: max(1, len(images) // 250)][:250]  # the test part is sorted by class: take every k-th
    return inspection_section(model, images[pick], titles, stats_images=spread)


__all__ = [
    "demo_inspection_section", "feature_maps_html", "filters_html", "inspection_section", "stats_html", "stats_table",
]  # fmt: skip
