"""Colour helpers for style transfer: luminance-only transfer keeps the content's colours
(Gatys, Bethge, Hertzmann and Shechtman 2016, "Preserving Color in Neural Artistic Style
Transfer"), and images of any size and channel count brought to a common form."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError

# RGB -> YIQ (NTSC); the inverse is computed once
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_RGB = torch.linalg.inv(_YIQ)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB in [0,1] to YIQ (Y = luminance in [0,1]; I and Q = chrominance).

    Shape:
        ``(B, 3, H, W)`` → ``(B, 3, H, W)``.
    """
    return torch.einsum("ij,bjhw->bihw", _YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_yiq` (not clamped).

    Shape:
        ``(B, 3, H, W)`` → ``(B, 3, H, W)``.
    """
    return torch.einsum("ij,bjhw->bihw", _RGB.to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` repeated on three channels.

    Shape:
        ``(B, 3, H, W)`` → ``(B, 3, H, W)``.
    """
    y = torch.einsum("j,bjhw->bhw", _YIQ[0].to(image), image).unsqueeze(1)
    return y.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content luminance's mean and std.

    Shape:
        ``style`` ``(1, 3, h, w)``, ``content`` ``(B, 3, H, W)`` → ``(1, 3, h, w)`` (grey).
    """
    ys, yc = luminance(style), luminance(content)
    scaled = (ys - ys.mean()) * (yc.std() / ys.std().clamp_min(1e-6)) + yc.mean()
    return scaled.clamp(0, 1)


def recolor(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chrominance (I and Q).

    Shape:
        ``(B, 3, H, W)`` both → ``(B, 3, H, W)`` in [0,1].
    """
    yiq = rgb_to_yiq(content)
    yiq = torch.cat([rgb_to_yiq(result)[:, :1], yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def as_rgb_batch(image: torch.Tensor, name: str) -> torch.Tensor:
    """A float ``(B, 3, H, W)`` batch from ``(C, H, W)`` or ``(B, C, H, W)`` with 1, 3 or 4 channels.

    Grey is repeated on three channels; a 4th (alpha) channel composites the image on white.
    """
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name} must be a tensor (C,H,W) or (B,C,H,W) in [0,1], or an image file path")
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] not in (1, 3, 4):
        raise InputError(
            f"{name} must have shape (C,H,W) or (B,C,H,W) with 1, 3 or 4 channels, got {tuple(image.shape)}"
        )
    if not image.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0,1], got {image.dtype} (convert with x.float() / 255)")
    if image.numel() == 0 or min(image.shape[2:]) < 1:
        raise InputError(f"{name} is empty: {tuple(image.shape)}")
    if not bool(torch.isfinite(image).all()):
        raise InputError(f"{name} contains NaN or infinite values")
    if image.shape[1] == 4:
        alpha = image[:, 3:]
        image = image[:, :3] * alpha + (1 - alpha)
    elif image.shape[1] == 1:
        image = image.expand(-1, 3, -1, -1)
    return image


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize keeping the aspect ratio so that the longer side has ``long_side`` pixels (antialiased).

    Shape:
        ``(B, C, H, W)`` → ``(B, C, H', W')`` with ``max(H', W') == long_side``.
    """
    h, w = image.shape[-2:]
    if max(h, w) == long_side:
        return image
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
