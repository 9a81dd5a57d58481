"""Single image files (PNG, JPEG, TIFF, ...) to float tensors in [0,1], and back.

Every PIL mode is decoded by its real range, so that the same picture gives the same tensor
whatever the file's bit depth:

=================================  =============================================
mode                               pixel value ``v`` becomes
=================================  =============================================
8-bit (``L``, ``RGB``, ``P``, ...)  ``v / 255``
16-bit (``I;16``, ``I;16B``, ...)   ``v / 65535``
32-bit integer (``I``)              ``v / 65535`` for PNG/PNM (PIL keeps them 16-bit), else
                                    ``v / (2**bits - 1)`` (unsigned) or ``v / (2**(bits-1) - 1)``
                                    (signed) from the TIFF tags; negative values are refused
float (``F``, e.g. 32-bit TIFF)     ``v`` itself, which must lie in [0,1]
=================================  =============================================

Non-finite pixels (NaN, infinity) are refused with a :class:`~convlens.errors.DataFileError`.
Transparent pixels are composited on white, as a viewer shows them; EXIF orientation is applied.

Resizing keeps the aspect ratio: the shorter side is scaled and the centre cropped (the
standard evaluation transform of ImageNet models, see :func:`load_image`). Large images are
downscaled while decoding (JPEG's DCT scaling via ``draft``, then ``reduce`` by an integer
factor before the final filter), and files over :data:`MAX_PIXELS` are refused with a message
instead of PIL's ``DecompressionBombError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .._io import atomic_write
from ..errors import DataFileError, InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

MAX_PIXELS = 50_000_000
"""Largest image (width × height, after JPEG draft scaling) that :func:`load_image` decodes.

A 50-megapixel RGB image already takes 150 MB as bytes; raise this module attribute to read
larger files, or shrink them first."""

IMAGENET_CROP = 224 / 256
"""Share of the shorter side kept by the ImageNet evaluation transform (resize to 256, crop 224)."""

RESIZE_MODES = ("crop", "stretch")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _too_big(path: Path, width: int, height: int) -> DataFileError:
    return DataFileError(
        f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more than convlens decodes "
        f"({MAX_PIXELS / 1e6:.0f} megapixels); shrink it first (e.g. to 4000 pixels on the longer side) "
        "or raise convlens.data.images.MAX_PIXELS"
    )


def _open(path: Path) -> Image.Image:
    """``Image.open`` with PIL's decompression-bomb error turned into a one-line DataFileError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        raise DataFileError(
            f"{path} declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels, more than "
            f"convlens decodes ({MAX_PIXELS / 1e6:.0f}); shrink it first (e.g. to 4000 pixels on the longer side)"
        ) from None


def _integer_range(img: Image.Image, path: Path) -> float:
    """The value that stands for full brightness in an integer mode (``I;16*`` or ``I``)."""
    if img.mode in _SIXTEEN_BIT or img.format in ("PNG", "PPM"):
        return 65535.0
    tags = getattr(img, "tag_v2", None)
    if img.format == "TIFF" and tags is not None:
        bits = tags.get(258, (32,))
        bits = int(bits[0] if isinstance(bits, tuple) else bits)
        sample_format = tags.get(339, (1,))
        signed = int(sample_format[0] if isinstance(sample_format, tuple) else sample_format) == 2
        return float(2 ** (bits - 1) - 1 if signed else 2**bits - 1)
    raise DataFileError(
        f"{path} holds 32-bit integer pixels ({img.format}) whose range convlens cannot tell; "
        "save it as an 8- or 16-bit PNG, or as a float TIFF with values in [0,1]"
    )


def _precise_gray(img: Image.Image, path: Path, top: float) -> Image.Image:
    """A 16-bit, 32-bit integer or float one-channel image as mode ``F`` scaled to [0,1].

    ``top`` is the value of full brightness (1 for float images).
    """
    arr = np.asarray(img)
    if top > 2**31 and arr.dtype == np.int32:  # PIL stores unsigned 32-bit TIFF pixels as signed
        arr = arr.view(np.uint32)
    values = arr.astype(np.float64)
    if img.mode == "F" and not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise DataFileError(f"{path} holds {bad} NaN or infinite pixel(s); clean the image first")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low < 0 or high > top:
        what = "float pixels must lie in [0,1]" if img.mode == "F" else f"pixels must lie in 0..{top:.0f}"
        raise DataFileError(f"{path} has pixel values from {low:g} to {high:g}, but its {what}; rescale the image")
    return Image.fromarray((values / top).astype(np.float32), "F")


def _eight_bit(img: Image.Image, channels: int) -> Image.Image:
    """Any 8-bit PIL mode (palette, RGBA, CMYK, 1-bit, ...) as L or RGB; transparency on white."""
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("L" if channels == 1 else "RGB")


def _crop_box(width: int, height: int, size: tuple[int, int], crop: float) -> tuple[float, float, float, float]:
    """The centred source box that, scaled to ``size`` (H, W), is the shorter-side resize and crop."""
    h, w = size
    scale = max(w / width, h / height) / crop  # output pixels per source pixel
    box_w, box_h = min(width, w / scale), min(height, h / scale)
    left, top = (width - box_w) / 2, (height - box_h) / 2
    return left, top, left + box_w, top + box_h


def _resize(img: Image.Image, size: tuple[int, int], resize: str, crop: float) -> Image.Image:
    h, w = size
    if img.size == (w, h):
        return img
    box = (0.0, 0.0, float(img.width), float(img.height)) if resize == "stretch" else _crop_box(*img.size, size, crop)
    return img.resize((w, h), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)


def _check_size(size: Sequence[int] | None, resize: str, crop: float | None) -> tuple[tuple[int, int] | None, float]:
    if resize not in RESIZE_MODES:
        raise InputError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    if size is None:
        return None, 1.0
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise InputError(f"size must be positive (H, W), got {tuple(size)}")
    if crop is None:
        crop = IMAGENET_CROP if min(h, w) >= 224 else 1.0
    if not 0 < crop <= 1:
        raise InputError(f"crop must lie in (0, 1], got {crop}")
    return (h, w), crop


def load_image(
    path: str | Path,
    size: Sequence[int] | None = None,
    channels: int = 3,
    *,
    resize: str = "crop",
    crop: float | None = None,
) -> torch.Tensor:
    """Read one image file as a float tensor in [0,1], decoding every bit depth by its range.

    Args:
        path: a PNG, JPEG, BMP, GIF, WebP or TIFF file (8-bit, 16-bit, 32-bit integer or float).
        size: ``(H, W)`` to resize to; ``None`` keeps the file's size. An image that already
            has this size is returned unchanged.
        channels: 1 (grayscale) or 3 (RGB); grayscale, RGBA and palette images are converted.
        resize: ``"crop"`` (default): scale the shorter side, keep the aspect ratio and crop the
            centre, the evaluation transform ImageNet models are measured with; ``"stretch"``:
            scale width and height independently (distorts photographs).
        crop: share of the shorter side that the centre crop keeps. ``None`` picks
            :data:`IMAGENET_CROP` (resize to 256, crop 224) for sizes of 224 pixels and more,
            and 1 (the whole shorter side) for small inputs such as 28×28 digits.

    Returns:
        The image (bilinear filter with antialiasing).

    Raises:
        DataFileError: missing or unreadable file, more than :data:`MAX_PIXELS` pixels,
            non-finite pixels, or values outside the mode's range.

    Shape:
        ``(channels, H, W)``.
    """
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    target, crop_share = _check_size(size, resize, crop)
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"image file {path} does not exist")
    try:
        with _open(path) as img:
            if target is not None and img.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale when that suffices
                need = max(target) / crop_share
                shorter = min(img.size)
                img.draft("L" if channels == 1 else "RGB", (int(img.width * need / shorter) + 1,
                                                             int(img.height * need / shorter) + 1))  # fmt: skip
            if img.width * img.height > MAX_PIXELS:
                raise _too_big(path, img.width, img.height)
            img.load()
            precise = img.mode in _SIXTEEN_BIT or img.mode in ("I", "F")
            top = (1.0 if img.mode == "F" else _integer_range(img, path)) if precise else 255.0
            img = ImageOps.exif_transpose(img)  # a copy without the format and TIFF tags read above
            img = _precise_gray(img, path, top) if precise else _eight_bit(img, channels)
    except DataFileError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataFileError(
            f"{path} is not a readable image ({exc.__class__.__name__}); use a PNG, JPEG or TIFF file"
        ) from None
    if target is not None:
        img = _resize(img, target, resize, crop_share)
    if img.mode == "F":
        tensor = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).unsqueeze(0)
        return tensor.expand(channels, -1, -1).contiguous()
    arr = np.asarray(img, dtype=np.uint8)
    tensor = torch.from_numpy(arr.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    return tensor.float().div_(255.0)


def load_images(
    paths: Sequence[str | Path], size: Sequence[int], channels: int = 3, *, resize: str = "crop",
    crop: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """Read several image files into one batch of a common size (arguments as :func:`load_image`).

    Shape:
        ``(len(paths), channels, H, W)``.
    """
    if not paths:
        raise InputError("no image files given")
    return torch.stack([load_image(p, size, channels, resize=resize, crop=crop) for p in paths])


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write a (C,H,W) or (H,W) float tensor in [0,1] as an 8-bit PNG, atomically."""
    t = image.detach().cpu().float().clamp(0, 1)
    if t.dim() == 3:
        t = t[0] if t.shape[0] == 1 else t.permute(1, 2, 0)
    arr = (t.numpy() * 255).round().astype(np.uint8)
    return atomic_write(path, lambda handle: Image.fromarray(arr).save(handle, format="PNG"))
