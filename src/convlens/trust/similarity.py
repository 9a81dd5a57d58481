"""Similarity of attribution maps, batched in torch: Spearman rank correlation, SSIM and HOG.

These are the three measures Adebayo et al. 2018 ("Sanity Checks for Saliency Maps") use to
compare a model's maps with those of a randomized model. Every function compares two stacks of
2-D maps shaped ``(..., H, W)`` (leading dimensions broadcast, so one call compares every image
of every randomization stage with the original) and returns one value per pair, ``(...)``.
All of them compute in float64 and agree with the usual references (``scipy.stats.spearmanr``,
``skimage.metrics.structural_similarity``, ``skimage.feature.hog``) on the same inputs, which
the tests check.
"""

from __future__ import annotations

import torch

from ..errors import InputError

HOG_EPS = 1e-5  # skimage's epsilon in the block normalization


def _pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """``a`` and ``b`` broadcast to one shape (..., H, W), in float64, and the leading shape."""
    if a.dim() < 2 or b.dim() < 2:
        raise InputError(f"maps must have shape (..., H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-2:] != b.shape[-2:]:
        raise InputError(f"maps of different sizes cannot be compared: {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = torch.broadcast_tensors(a.detach().double(), b.detach().double())
    return a, b, tuple(a.shape[:-2])


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last dimension; NaN where either side is constant.

    Shape:
        ``a``, ``b``: (..., L), broadcastable; result: (...).
    """
    a, b = torch.broadcast_tensors(a.double(), b.double())
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    den = a.norm(dim=-1) * b.norm(dim=-1)
    num = (a * b).sum(dim=-1)
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, float("nan")))


def rank(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..L along the last dimension, ties getting the mean of their ranks (as scipy's ``rankdata``).

    Shape:
        ``values``: (..., L); result: (..., L), float64.
    """
    shape = values.shape
    flat = values.reshape(-1, shape[-1])
    rows, length = flat.shape
    ordered, order = flat.sort(dim=1, stable=True)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = starts.long().cumsum(dim=1) - 1 + torch.arange(rows, device=flat.device)[:, None] * length
    position = torch.arange(length, device=flat.device, dtype=torch.float64).expand(rows, length)
    total = torch.zeros(rows * length, dtype=torch.float64, device=flat.device)
    total.index_add_(0, group.flatten(), position.flatten())
    count = torch.zeros_like(total).index_add_(0, group.flatten(), torch.ones_like(position).flatten())
    mean_rank = total[group] / count[group] + 1.0
    return torch.empty_like(mean_rank).scatter_(1, order, mean_rank).reshape(shape)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps (Pearson correlation of their ranks).

    Equals ``scipy.stats.spearmanr(a.ravel(), b.ravel())`` for every pair; NaN where a map is
    constant (no ranking to compare).

    Shape:
        ``a``, ``b``: (..., H, W), broadcastable; result: (...).
    """
    a, b, lead = _pairs(a, b)
    return pearson(rank(a.reshape(*lead, -1)), rank(b.reshape(*lead, -1)))


def ssim(
    a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0, win_size: int = 7, k1: float = 0.01, k2: float = 0.03
) -> torch.Tensor:
    """Mean structural similarity of each pair of maps (Wang et al. 2004).

    The defaults of ``skimage.metrics.structural_similarity`` with ``data_range`` given: a
    uniform ``win_size`` × ``win_size`` window, sample covariances, and the mean over the
    positions where the window lies inside the map.

    Args:
        a, b: maps (scaled to a common range, e.g. [0,1]).
        data_range: the range of the values (1.0 for maps scaled to [0,1]).
        win_size: the window side (odd).
        k1, k2: the constants of the paper.

    Shape:
        ``a``, ``b``: (..., H, W), broadcastable, with H and W at least ``win_size``; result: (...).
    """
    a, b, lead = _pairs(a, b)
    height, width = a.shape[-2:]
    if win_size < 1 or win_size % 2 == 0 or win_size > min(height, width):
        raise InputError(f"win_size must be odd and at most the map size {height}x{width}, got {win_size}")
    x = torch.stack([a, b, a * a, b * b, a * b], dim=-3).reshape(-1, 5, height, width)
    means = torch.nn.functional.avg_pool2d(x, win_size, stride=1)
    ux, uy, uxx, uyy, uxy = means.unbind(dim=1)
    cov_norm = win_size**2 / (win_size**2 - 1.0) if win_size > 1 else 1.0
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1)).reshape(lead)


def hog(images: torch.Tensor, *, orientations: int = 9, cell: int = 4, block: int = 2) -> torch.Tensor:
    """Histograms of oriented gradients (Dalal & Triggs 2005) of a stack of one-channel maps.

    As ``skimage.feature.hog(image, orientations, pixels_per_cell=(cell, cell),
    cells_per_block=(block, block), block_norm="L2-Hys")``: central-difference gradients (zero
    on the border rows and columns), unsigned orientations in [0°, 180°) binned without
    interpolation, the mean magnitude per bin and cell (pixels past the last whole cell are
    left out), overlapping blocks of cells normalized with L2-Hys (L2, clip at 0.2, L2), and the
    blocks flattened in the order (block row, block column, cell row, cell column, orientation).

    Args:
        images: the maps.
        orientations: orientation bins.
        cell: pixels per cell side.
        block: cells per block side.

    Returns:
        The feature vectors, float64.

    Shape:
        ``images``: (..., H, W); result: (..., F) with
        ``F = (H // cell - block + 1) · (W // cell - block + 1) · block² · orientations``.
    """
    img = images.detach().double()
    lead, (height, width) = tuple(img.shape[:-2]), tuple(img.shape[-2:])
    rows, cols = height // cell, width // cell
    if orientations < 1 or cell < 1 or block < 1 or rows < block or cols < block:
        raise InputError(
            f"a {height}x{width} map holds no {block}x{block} block of {cell}x{cell}-pixel cells; use smaller cells"
        )
    g_row = torch.zeros_like(img)
    g_col = torch.zeros_like(img)
    g_row[..., 1:-1, :] = img[..., 2:, :] - img[..., :-2, :]
    g_col[..., :, 1:-1] = img[..., :, 2:] - img[..., :, :-2]
    magnitude = torch.hypot(g_col, g_row)[..., : rows * cell, : cols * cell]
    angle = torch.remainder(torch.rad2deg(torch.atan2(g_row, g_col)), 180.0)[..., : rows * cell, : cols * cell]
    upper = (180.0 / orientations) * torch.arange(1, orientations + 1, dtype=torch.float64, device=img.device)
    bins = (angle[..., None] >= upper).sum(dim=-1)  # bin i holds [i, i+1) * 180/orientations; 180° itself none
    votes = torch.nn.functional.one_hot(bins, orientations + 1)[..., :orientations] * magnitude[..., None]
    votes = votes.reshape(*lead, rows, cell, cols, cell, orientations)
    hist = votes.sum(dim=(-4, -2)) / (cell * cell)  # (..., rows, cols, O)
    blocks = hist.unfold(-3, block, 1).unfold(-3, block, 1)  # (..., n_rows, n_cols, O, block, block)
    blocks = blocks.movedim(-3, -1)  # (..., n_rows, n_cols, block, block, O)
    flat = blocks.reshape(*blocks.shape[:-3], -1)
    flat = flat / torch.sqrt((flat * flat).sum(dim=-1, keepdim=True) + HOG_EPS**2)
    flat = flat.clamp_max(0.2)
    flat = flat / torch.sqrt((flat * flat).sum(dim=-1, keepdim=True) + HOG_EPS**2)
    return flat.reshape(*lead, -1)


def hog_similarity(
    a: torch.Tensor, b: torch.Tensor, *, orientations: int = 9, cell: int = 4, block: int = 2
) -> torch.Tensor:
    """Pearson correlation of the HOG features of each pair of maps (as Adebayo et al. 2018).

    Shape:
        ``a``, ``b``: (..., H, W), broadcastable; result: (...).
    """
    a, b, _ = _pairs(a, b)
    return pearson(
        hog(a, orientations=orientations, cell=cell, block=block),
        hog(b, orientations=orientations, cell=cell, block=block),
    )


def flatten_map(maps: torch.Tensor, *, absolute: bool) -> torch.Tensor:
    """One 2-D map per image: the sum over channels of the map (or of its absolute value).

    Shape:
        ``maps``: (..., C, H, W) (a (B, rows, cols) grid needs its channel: ``grid[:, None]``);
        result: (..., H, W).
    """
    return (maps.abs() if absolute else maps).sum(dim=-3)


def scaled(maps2d: torch.Tensor) -> torch.Tensor:
    """Each 2-D map divided by its largest absolute value (an all-zero map stays zero), in [-1,1].

    Shape:
        ``maps2d``: (..., H, W); result: the same.
    """
    top = maps2d.abs().amax(dim=(-2, -1), keepdim=True)
    return maps2d / torch.where(top > 0, top, torch.ones_like(top))


def map_similarity(a: torch.Tensor, b: torch.Tensor, *, hog_cell: int | None = None) -> dict[str, torch.Tensor]:
    """The four similarities of the sanity-check paper between maps ``a`` and maps ``b``.

    ``spearman``: rank correlation of the signed maps (summed over channels); ``spearman_abs``:
    of their absolute values; ``ssim`` and ``hog``: SSIM and HOG similarity of the absolute
    maps scaled to [0,1] by their maximum (the pictures people look at).

    Args:
        a, b: maps of the same method, broadcastable, (..., C, H, W).
        hog_cell: HOG cell side; default about a seventh of the smaller side (4 for 28×28).

    Returns:
        Metric name → values, shape (...).
    """
    signed_a, signed_b = flatten_map(a, absolute=False), flatten_map(b, absolute=False)
    abs_a, abs_b = scaled(flatten_map(a, absolute=True)), scaled(flatten_map(b, absolute=True))
    side = min(abs_a.shape[-2:])
    cell = hog_cell or max(1, side // 7)
    win = min(7, side if side % 2 else side - 1)
    return {
        "spearman": spearman(signed_a, signed_b),
        "spearman_abs": spearman(abs_a, abs_b),
        "ssim": ssim(abs_a, abs_b, data_range=1.0, win_size=max(1, win)),
        "hog": hog_similarity(abs_a, abs_b, cell=cell, block=min(2, side // cell)),
    }


METRICS = ("spearman", "spearman_abs", "ssim", "hog")
METRIC_TITLES = {
    "spearman": "Spearman rank correlation",
    "spearman_abs": "Spearman rank correlation of |map|",
    "ssim": "SSIM",
    "hog": "HOG similarity",
}

__all__ = [
    "METRICS", "METRIC_TITLES", "flatten_map", "hog", "hog_similarity", "map_similarity", "pearson", "rank",
    "scaled", "spearman", "ssim",
]  # fmt: skip
