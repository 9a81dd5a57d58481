"""Image operators of feature visualization: Gaussian blur, jitter, clamping, random transformations.

Every operator works on a whole batch (B, C, H, W) at once, with one setting per image where the
setting is random, so that a batch of images optimized together gets exactly what each image
would get alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, radius: int | None = None, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalized 1-D Gaussian ``exp(-t²/2σ²)`` for t = -radius..radius (radius: ⌈3σ⌉ by default).

    Shape:
        (2·radius + 1,), summing to 1.
    """
    if sigma <= 0:
        return torch.ones(1, dtype=dtype)
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    return (k / k.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of each image with a Gaussian of standard deviation ``sigma`` pixels.

    Separable (a row pass then a column pass, each a depthwise convolution), with reflected
    borders, so a constant image stays constant. ``sigma <= 0`` returns ``x`` unchanged.

    Shape:
        x: (B, C, H, W); result: the same.
    """
    if sigma <= 0:
        return x
    b, c, h, w = x.shape
    k = gaussian_kernel(sigma, dtype=x.dtype).to(x.device)
    r = min(k.numel() // 2, h - 1, w - 1)
    if r < 1:
        return x
    k = k[k.numel() // 2 - r : k.numel() // 2 + r + 1]
    k = k / k.sum()
    flat = x.reshape(b * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return flat.reshape(b, c, h, w)


def jitter(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each image circularly by its own ``(dy, dx)``, like ``torch.roll`` per image, in one op.

    Differentiable: the gradient of a jittered image flows back un-shifted to ``x``.

    Args:
        x: images.
        shifts: integer shifts, one ``(dy, dx)`` row per image; positive moves content down/right.

    Shape:
        x: (B, C, H, W); shifts: (B, 2); result: (B, C, H, W).
    """
    b, c, h, w = x.shape
    shifts = shifts.to(x.device).long()
    rows = (torch.arange(h, device=x.device)[None, :] - shifts[:, :1]) % h  # (B, H): source row of each row
    cols = (torch.arange(w, device=x.device)[None, :] - shifts[:, 1:]) % w  # (B, W)
    out = x.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def clamp_pixels(x: torch.Tensor) -> torch.Tensor:
    """Project images onto the valid pixel range [0, 1] (in place; returns ``x``)."""
    return x.clamp_(0.0, 1.0)


def affine_matrices(params: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The sampling matrices of :func:`transform` for ``(dy, dx, scale, angle)`` rows (any leading shape).

    Shape:
        params: (..., 4); result: (..., 2, 3), mapping output to input coordinates in [-1, 1] units.
    """
    p = params.float()
    angle = p[..., 3] * (math.pi / 180)
    cos, sin = torch.cos(angle) / p[..., 2], torch.sin(angle) / p[..., 2]
    row0 = torch.stack([cos, -sin, -2 * p[..., 1] / width], -1)
    row1 = torch.stack([sin, cos, -2 * p[..., 0] / height], -1)
    return torch.stack([row0, row1], -2)


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The sampling grids of affine matrices (any leading shape), for :func:`resample`.

    Shape:
        theta: (..., 2, 3); result: (..., H, W, 2).
    """
    lead = theta.shape[:-2]
    flat = theta.reshape(-1, 2, 3)
    grid = F.affine_grid(flat, [flat.shape[0], 1, height, width], align_corners=False)
    return grid.reshape(*lead, height, width, 2)


def resample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Resample each image at its own sampling grid (bilinear, reflected borders); differentiable.

    Shape:
        x: (B, C, H, W); grid: (B, H, W, 2) from :func:`sampling_grid`; result: (B, C, H, W).
    """
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)


def transform(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Translate, scale and rotate each image by its own amount, in one differentiable resampling.

    The transformation robustness of Olah et al. 2017 ("Feature Visualization", Distill): an
    image that keeps its effect under small random transformations carries fewer adversarial,
    high-frequency patterns. Borders are reflected.

    Args:
        x: images.
        params: one row ``(dy, dx, scale, angle)`` per image: shifts in pixels (positive moves the
            content down/right, like :func:`jitter`), a zoom factor (1 = none) and a rotation in degrees.

    Shape:
        x: (B, C, H, W); params: (B, 4); result: (B, C, H, W).
    """
    h, w = x.shape[2], x.shape[3]
    return resample(x, sampling_grid(affine_matrices(params, h, w).to(x.device), h, w))


__all__ = [
    "affine_matrices", "clamp_pixels", "gaussian_blur", "gaussian_kernel", "jitter", "resample", "sampling_grid",
    "transform",
]  # fmt: skip
