"""Pictures of attributions: colour maps, heat-map overlays and image × method grids.

Attribution methods return raw, unscaled tensors; everything here turns them into pixels.
Each map is scaled on its own (by a high percentile of its magnitude, so that one hot pixel
does not wash out the rest) before it is coloured:

- *absolute* maps (saliency, Grad-CAM, SmoothGrad: values >= 0) go through a sequential colour
  map and are laid over the image, more opaque where the attribution is larger;
- *signed* maps (guided backprop, integrated gradients, occlusion: evidence for and against
  the class) go through a diverging colour map centred on zero: red for, blue against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import InputError
from .figures import new_figure

SIGNED_CMAP = "RdBu_r"
ABSOLUTE_CMAP = "inferno"
PROBABILITY_CMAP = "viridis"
DEFAULT_PERCENTILE = 99.5


# --------------------------------------------------------------------------- arrays


def image_array(image: torch.Tensor) -> np.ndarray:
    """A (C,H,W) image in [0,1] as an RGB array for display (grayscale is repeated).

    Args:
        image: 1 or 3 channels, values in [0,1] (clipped).

    Returns:
        float array in [0,1].

    Shape:
        ``(C, H, W)`` -> ``(H, W, 3)``.
    """
    t = _as_chw(image, "image").float().clamp(0, 1).cpu()
    if t.shape[0] not in (1, 3):
        raise InputError(f"an image to show must have 1 or 3 channels, got {t.shape[0]}")
    arr = t.permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def reduce_channels(attribution: torch.Tensor, signed: bool) -> np.ndarray:
    """Collapse the channels of one attribution map into one value per pixel.

    Args:
        attribution: a (C,H,W) or (H,W) map.
        signed: sum over channels (keeps the sign); otherwise the largest magnitude over channels.

    Returns:
        float64 array.

    Shape:
        ``(C, H, W)`` -> ``(H, W)``.
    """
    t = attribution.detach().double().cpu()
    if t.dim() == 2:
        t = t[None]
    t = _as_chw(t, "attribution")
    return (t.sum(0) if signed else t.abs().amax(0)).numpy()


def scale_map(values: np.ndarray, signed: bool, percentile: float = DEFAULT_PERCENTILE) -> np.ndarray:
    """Scale one map for display: [0,1] for absolute maps, [-1,1] for signed ones.

    Values are divided by the ``percentile``-th percentile of their magnitude and clipped, so that
    a few extreme pixels do not make the rest invisible. An all-zero map stays zero.

    Args:
        values: the map (any shape).
        signed: keep the sign (zero stays the centre of the colour map).
        percentile: the magnitude that maps to full colour, in (0, 100].

    Returns:
        float array of the same shape.
    """
    if not 0 < percentile <= 100:
        raise InputError(f"percentile must lie in (0, 100], got {percentile}")
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    mag = np.abs(v) if signed else np.clip(v, 0, None)
    top = float(np.percentile(mag, percentile)) if mag.size else 0.0
    if top <= 0:
        top = float(mag.max()) if mag.size else 0.0
    if top <= 0:
        return np.zeros_like(v)
    return np.clip(v / top, -1.0 if signed else 0.0, 1.0)


def colorize(scaled: np.ndarray, signed: bool, cmap: str | None = None) -> np.ndarray:
    """Colour a scaled map ([0,1] absolute or [-1,1] signed).

    Args:
        scaled: output of :func:`scale_map`.
        signed: use the diverging map with zero in the middle (white).
        cmap: a matplotlib colour-map name overriding the default.

    Returns:
        float RGB array in [0,1].

    Shape:
        ``(H, W)`` -> ``(H, W, 3)``.
    """
    colours = colormaps[cmap or (SIGNED_CMAP if signed else ABSOLUTE_CMAP)]
    pos = (scaled + 1.0) / 2.0 if signed else scaled
    return colours(np.clip(pos, 0, 1))[..., :3]


def overlay(
    image: torch.Tensor,
    attribution: torch.Tensor,
    *,
    signed: bool | None = None,
    alpha: float = 0.7,
    cmap: str | None = None,
    percentile: float = DEFAULT_PERCENTILE,
) -> np.ndarray:
    """Lay a coloured attribution map over its image.

    The colour is blended in proportionally to the attribution's (scaled) magnitude, so the
    image shows through where the method sees nothing. A map smaller than the image (an
    un-upsampled Grad-CAM) is resized with bilinear interpolation.

    Args:
        image: the (C,H,W) image in [0,1].
        attribution: its (C',h,w) or (h,w) map, raw (not scaled).
        signed: diverging colours for signed evidence; ``None`` decides from the data
            (signed when the map has negative values).
        alpha: opacity of the colour where the attribution is largest, in [0,1].
        cmap: a matplotlib colour-map name overriding the default.
        percentile: see :func:`scale_map`.

    Returns:
        float RGB array in [0,1].

    Shape:
        ``(H, W, 3)``.
    """
    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must lie in [0,1], got {alpha}")
    base = image_array(image)
    signed = is_signed(attribution) if signed is None else signed
    values = reduce_channels(_resize_like(attribution, base.shape[:2]), signed)
    scaled = scale_map(values, signed, percentile)
    weight = alpha * np.abs(scaled)[..., None]
    return (1 - weight) * base + weight * colorize(scaled, signed, cmap)


def heatmap(
    attribution: torch.Tensor,
    *,
    signed: bool | None = None,
    cmap: str | None = None,
    percentile: float = DEFAULT_PERCENTILE,
) -> np.ndarray:
    """An attribution map on its own, coloured (signed: zero is white).

    Shape:
        ``(C, H, W)`` or ``(H, W)`` -> ``(H, W, 3)``.
    """
    signed = is_signed(attribution) if signed is None else signed
    return colorize(scale_map(reduce_channels(attribution, signed), signed, percentile), signed, cmap)


def is_signed(attribution: torch.Tensor) -> bool:
    """Whether a map carries evidence against the class too (any value below zero)."""
    return bool((attribution < 0).any())


# --------------------------------------------------------------------------- figures


def attribution_grid(
    images: torch.Tensor,
    maps: Mapping[str, torch.Tensor],
    *,
    row_titles: Sequence[str] | None = None,
    row_colors: Sequence[str] | None = None,
    signed: Mapping[str, bool] | None = None,
    style: str = "overlay",
    cell: float = 1.35,
    percentile: float = DEFAULT_PERCENTILE,
) -> Figure:
    """A grid with one row per image: the image, then one column per method.

    Args:
        images: (B,C,H,W) images in [0,1].
        maps: method name -> its (B,C',h,w) or (B,h,w) attribution for the same images.
        row_titles: a caption under each image (for example "pred 3 (97%) / true 5").
        row_colors: a text colour per row (for example red for misclassified images).
        signed: method name -> use signed colours; missing methods are decided from the data.
        style: ``"overlay"`` lays absolute maps over the image; ``"map"`` shows every map on its own.
            Signed maps are always shown on their own (diverging colours on an image are unreadable).
        cell: the size of one cell in inches.
        percentile: see :func:`scale_map`.

    Returns:
        A matplotlib figure (not registered with pyplot).
    """
    images = _as_bchw(images, "images")
    if style not in ("overlay", "map"):
        raise InputError(f"style must be 'overlay' or 'map', got {style!r}")
    batch = images.shape[0]
    for name, m in maps.items():
        if m.shape[0] != batch:
            raise InputError(f"map {name!r} has {m.shape[0]} images, the batch has {batch}")
    _check_len(row_titles, batch, "row_titles")
    _check_len(row_colors, batch, "row_colors")
    signs = {name: (signed or {}).get(name, is_signed(m)) for name, m in maps.items()}
    size = tuple(images.shape[-2:])
    cells = []
    for r in range(batch):
        row = [image_array(images[r])]
        for name, m in maps.items():
            if signs[name] or style == "map":
                row.append(heatmap(_resize_like(m[r], size), signed=signs[name], percentile=percentile))
            else:
                row.append(overlay(images[r], m[r], signed=False, percentile=percentile))
        cells.append(row)
    columns = ["image", *maps]
    return _mosaic_figure(cells, columns, row_titles, row_colors, cell)


def _mosaic_figure(
    cells: list[list[np.ndarray]],
    columns: Sequence[str],
    row_titles: Sequence[str] | None,
    row_colors: Sequence[str] | None,
    cell: float,
) -> Figure:
    """Draw equally sized RGB cells as one picture (one Axes, fast) with column and row labels.

    Row titles go to the left of their row, column titles above the first row.
    """
    rows, cols = len(cells), len(columns)
    height, width = cells[0][0].shape[:2]
    gap = max(1, round(0.06 * max(height, width)))
    mosaic = np.ones((rows * height + (rows - 1) * gap, cols * width + (cols - 1) * gap, 3))
    for r, row in enumerate(cells):
        for c, pixels in enumerate(row):
            top, left = r * (height + gap), c * (width + gap)
            mosaic[top : top + height, left : left + width] = pixels
    left_in = 0.25 + 0.075 * max((len(part) for t in (row_titles or []) for part in t.split("\n")), default=0)
    top_in = 0.3
    img_w = cell * cols * (1 + gap / width)
    img_h = img_w * mosaic.shape[0] / mosaic.shape[1]
    fig = new_figure(left_in + img_w + 0.1, top_in + img_h + 0.1)
    fig.set_layout_engine("none")
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((left_in / fw, 0.1 / fh, img_w / fw, img_h / fh))
    ax.imshow(mosaic, interpolation="antialiased")
    ax.set_axis_off()
    for c, name in enumerate(columns):
        ax.text(c * (width + gap) + width / 2, -gap, name, ha="center", va="bottom", fontsize=8)
    colours = row_colors or ["black"] * rows
    for r in range(rows if row_titles else 0):
        y = r * (height + gap) + height / 2
        ax.text(-gap, y, row_titles[r], ha="right", va="center", fontsize=7, color=colours[r], linespacing=1.2)  # type: ignore[index]
    return fig


def occlusion_figure(
    images: torch.Tensor,
    grids: torch.Tensor,
    *,
    titles: Sequence[str] | None = None,
    cell: float = 1.35,
) -> Figure:
    """Occlusion sensitivity: each image above the probability of its class for every patch position.

    Args:
        images: (B,C,H,W) images in [0,1].
        grids: (B, rows, cols) probabilities in [0,1] (dark = occluding here hurts the class).
        titles: a title per image (for example "class 7, p=0.99").
        cell: the size of one cell in inches.

    Returns:
        A figure with two rows of B panels and a shared colour bar.
    """
    images = _as_bchw(images, "images")
    if grids.dim() != 3 or grids.shape[0] != images.shape[0]:
        raise InputError(f"grids must have shape (B, rows, cols) with B={images.shape[0]}, got {tuple(grids.shape)}")
    _check_len(titles, images.shape[0], "titles")
    batch = images.shape[0]
    fig = new_figure(cell * batch + 0.8, 2 * cell + 0.5)
    axes = np.asarray(fig.subplots(2, batch, squeeze=False))
    shown = None
    values = grids.detach().float().cpu()
    top = max(float(values.max()), 1e-6)  # the scale follows the data: 1000-class probabilities are small
    for i in range(batch):
        axes[0, i].imshow(image_array(images[i]), interpolation="nearest")
        shown = axes[1, i].imshow(values[i].numpy(), cmap=PROBABILITY_CMAP, vmin=0, vmax=top, interpolation="nearest")
        _clean(axes[0, i])
        _clean(axes[1, i])
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=7)
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("p(class)\nper patch", fontsize=8)
    if shown is not None:
        fig.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.9, fraction=0.03)
    return fig


# --------------------------------------------------------------------------- explanations


def explanation_figure(
    explanation: object,
    *,
    truth: torch.Tensor | Sequence[int] | None = None,
    signed: Mapping[str, bool] | None = None,
    style: str = "overlay",
    names: Sequence[str] | None = None,
) -> Figure:
    """Image, prediction, truth and every attribution side by side, one row per image.

    Args:
        explanation: a :class:`convlens.attribution.Explanation` (``images``, ``maps``,
            ``predicted``, ``probability``, ``target``, ``class_names``).
        truth: the true class of each image, if known; wrong predictions are captioned in red.
        signed: method name -> signed colours (default: decided from the data).
        style: see :func:`attribution_grid`.
        names: a name per image (a file name), put first in its caption.

    Returns:
        The figure.
    """
    images = explanation.images  # type: ignore[attr-defined]
    titles, colours = prediction_captions(explanation, truth)
    _check_len(names, len(titles), "names")
    if names is not None:
        titles = [f"{_short(n)}\n{t}" for n, t in zip(names, titles, strict=False)]
    maps = {k: v for k, v in explanation.maps.items() if v.dim() == 4}  # type: ignore[attr-defined]
    return attribution_grid(images, maps, row_titles=titles, row_colors=colours, signed=signed, style=style)


def prediction_captions(
    explanation: object, truth: torch.Tensor | Sequence[int] | None = None
) -> tuple[list[str], list[str]]:
    """A caption ("pred 3 (97%) / true 5") and a text colour per image of an explanation.

    Returns:
        ``(captions, colours)``; the colour is red where the prediction differs from the truth.
    """
    names = getattr(explanation, "class_names", None)
    predicted = explanation.predicted.tolist()  # type: ignore[attr-defined]
    probability = explanation.probability.tolist()  # type: ignore[attr-defined]
    target = explanation.target.tolist()  # type: ignore[attr-defined]
    truths = None if truth is None else [int(t) for t in (truth.tolist() if isinstance(truth, torch.Tensor) else truth)]
    _check_len(truths, len(predicted), "truth")
    captions, colours = [], []
    for i, (p, q) in enumerate(zip(predicted, probability, strict=False)):
        text = f"pred {_name(names, p)} ({format_probability(q)})"
        if truths is not None:
            text += f"\ntrue {_name(names, truths[i])}"
        if target[i] < 0:  # a callable target: a score of the caller's, not a class
            text += "\nexplains a custom score"
        elif target[i] != p:
            text += f"\nexplains {_name(names, target[i])}"
        captions.append(text)
        colours.append("crimson" if truths is not None and truths[i] != p else "black")
    return captions, colours


# --------------------------------------------------------------------------- helpers


def format_probability(p: float) -> str:
    """A probability with enough digits to tell 0.1% from 0% (scientific notation below 0.1%)."""
    if p >= 0.995 or p < 0:
        return f"{p:.1%}" if p < 1 else "100%"
    if p >= 0.1:
        return f"{p:.0%}"
    if p >= 0.001:
        return f"{p:.1%}"
    return f"{p:.1e}"


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(names: Sequence[str] | None, index: int) -> str:
    return names[index] if names is not None and 0 <= index < len(names) else str(index)


def _clean(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _check_len(values: Sequence[object] | None, expected: int, what: str) -> None:
    if values is not None and len(values) != expected:
        raise InputError(f"{what} must have one entry per image ({expected}), got {len(values)}")


def _as_chw(t: object, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dim() != 3:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise InputError(f"{name} must be a tensor of shape (C,H,W), got {shape}")
    return t.detach()


def _as_bchw(t: object, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dim() != 4:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise InputError(f"{name} must be a tensor of shape (B,C,H,W), got {shape}")
    return t.detach()


def _resize_like(attribution: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a (C,h,w) or (h,w) map to ``size`` = (H, W) when it differs."""
    t = attribution.detach().float().cpu()
    t = t[None] if t.dim() == 2 else t
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return torch.nn.functional.interpolate(t[None], size=tuple(size), mode="bilinear", align_corners=False)[0]


__all__ = [
    "ABSOLUTE_CMAP", "PROBABILITY_CMAP", "SIGNED_CMAP", "attribution_grid",
    "colorize", "explanation_figure", "heatmap", "image_array", "is_signed", "occlusion_figure",
    "format_probability", "overlay", "prediction_captions", "reduce_channels", "scale_map",
]  # fmt: skip
