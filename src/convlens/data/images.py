"""Single image files (PNG, JPEG, ...) to float tensors in [0,1], and back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .._io import atomic_write
from ..errors import DataFileError, InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode (palette, RGBA, 16-bit, ...) to L (1 channel) or RGB (3 channels).

    Transparent pixels are composited on white, as they appear in a viewer.
    """
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray((255 * arr / max(float(arr.max()), 1.0)).astype(np.uint8))
    return img.convert("L" if channels == 1 else "RGB")


def load_image(
    path: str | Path, size: Sequence[int] | None = None, channels: int = 3
) -> torch.Tensor:
    """Read one image file as a float tensor in [0,1].

    Args:
        path: a PNG, JPEG, BMP, GIF, WebP or TIFF file.
        size: ``(H, W)`` to resize to (bilinear, with antialiasing); ``None`` keeps the size.
        channels: 1 (grayscale) or 3 (RGB); grayscale, RGBA and palette images are converted.

    Returns:
        The image.

    Shape:
        ``(channels, H, W)``.
    """
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"image file {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            img = _to_mode(img, channels)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataFileError(f"{path} is not a readable image ({exc.__class__.__name__}); use a PNG or JPEG file") from None
    if size is not None:
        h, w = (int(s) for s in size)
        if h < 1 or w < 1:
            raise InputError(f"size must be positive (H, W), got {tuple(size)}")
        img = img.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=None)
    arr = np.asarray(img, dtype=np.uint8)
    tensor = torch.from_numpy(arr.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    return tensor.float().div_(255.0)


def load_images(
    paths: Sequence[str | Path], size: Sequence[int], channels: int = 3
) -> torch.Tensor:
    """Read several image files into one batch of a common size.

    Shape:
        ``(len(paths), channels, H, W)``.
    """
    if not paths:
        raise InputError("no image files given")
    return torch.stack([load_image(p, size, channels) for p in paths])


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write a (C,H,W) or (H,W) float tensor in [0,1] as a PNG, atomically."""
    t = image.detach().cpu().float().clamp(0, 1)
    if t.dim() == 3:
        t = t[0] if t.shape[0] == 1 else t.permute(1, 2, 0)
    arr = (t.numpy() * 255).round().astype(np.uint8)
    return atomic_write(path, lambda handle: Image.fromarray(arr).save(handle, format="PNG"))
