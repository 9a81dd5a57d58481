"""Boundary checks shared by every public function: images, targets, layer names."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Union

import torch
from torch import nn

from .errors import ConvlensWarning, InputError, UnknownNameError

Target = Union[None, int, Sequence[int], torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]
LayerRef = Union[str, nn.Module, None]


def check_images(x: object, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a finite float image batch with pixels in [0,1].

    Pixel values that look like 0..255 (non-negative with a maximum above 2) are an error;
    other values outside [0,1] (images normalized outside the model, noise) are only
    suspicious and give a :class:`~convlens.errors.ConvlensWarning`.

    Args:
        x: the value to check.
        name: the argument's name, used in the error message.

    Returns:
        ``x`` itself (never a copy, never modified).

    Shape:
        ``(B, C, H, W)``.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B,C,H,W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise InputError(f"{name} must have shape (B,C,H,W), got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise InputError(
            f"{name} must be a float tensor with pixel values in [0,1], got dtype {x.dtype} "
            "(convert with x.float() / 255)"
        )
    if x.shape[0] == 0:
        raise InputError(f"{name} is an empty batch: pass at least one image")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name} contains NaN or infinite values: clean the input first")
    check_pixel_range(x, name)
    return x


def check_pixel_range(x: torch.Tensor | float, name: str) -> None:
    """Refuse 0..255 pixel values; warn about other values outside [0,1] (one min/max pass).

    Args:
        x: images, or one pixel value (a fill colour, a baseline); must be finite.
        name: the argument's name, used in the message.
    """
    if not isinstance(x, torch.Tensor):
        if not math.isfinite(float(x)):
            raise InputError(f"{name} must be a finite pixel value in [0,1], got {x}")
        x = torch.tensor(float(x))
    if x.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(x.detach()))
    if low >= 0 and high > 2:
        raise InputError(
            f"{name} has pixel values up to {high:g}: images must be floats in [0,1] (normalization is "
            "inside the model); divide 0..255 values by 255"
        )
    if low < -1e-3 or high > 1 + 1e-3:
        warnings.warn(
            f"{name} has values from {low:.3g} to {high:.3g}, outside [0,1]: convlens models normalize inside, "
            "so pass unnormalized images in [0,1]",
            ConvlensWarning,
            stacklevel=4,
        )


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def resolve_target(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """Turn a ``target`` argument into the (B,) score that each image is explained for.

    Args:
        target: ``None`` (the predicted class of each image), an ``int`` (that class for all),
            a sequence or 1-D tensor of length B, or a callable from logits to (B,) scores.
        logits: the model's output, shape (B, K).

    Returns:
        The scores, shape (B,), differentiable with respect to ``logits``.
    """
    if logits.dim() != 2:
        raise InputError(f"the model must return logits of shape (B, classes), got {tuple(logits.shape)}")
    batch, classes = logits.shape
    if callable(target) and not isinstance(target, torch.Tensor):
        scores = target(logits)
        if not isinstance(scores, torch.Tensor) or scores.shape != (batch,):
            raise InputError(f"a target callable must return a tensor of shape ({batch},) from the logits")
        return scores
    idx = target_indices(target, logits)
    return logits.gather(1, idx[:, None])[:, 0]


def target_indices(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """The class index explained for each image, shape (B,), as a long tensor on logits' device."""
    batch, classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1)
    if callable(target) and not isinstance(target, torch.Tensor):
        raise InputError("a callable target has no class index; pass an int or a sequence instead")
    if isinstance(target, bool):
        raise InputError("target must be an int class index, not a bool")
    if isinstance(target, int) or (isinstance(target, torch.Tensor) and target.dim() == 0):
        idx = torch.full((batch,), int(target), dtype=torch.long, device=logits.device)
    else:
        try:
            idx = torch.as_tensor(target, device=logits.device)
        except (TypeError, ValueError) as exc:
            raise InputError(f"target must be None, an int, a sequence of ints or a callable: {exc}") from None
        if idx.dim() != 1 or idx.shape[0] != batch:
            raise InputError(f"target must have one class per image ({batch}), got shape {tuple(idx.shape)}")
    return _class_indices(idx, classes)


def _class_indices(idx: torch.Tensor, classes: int) -> torch.Tensor:
    """``idx`` as long class indices, each in ``0..classes-1``, or an :class:`InputError`."""
    if idx.is_floating_point() or idx.dtype == torch.bool:
        raise InputError("target must hold integer class indices")
    idx = idx.long()
    if bool((idx < 0).any()) or bool((idx >= classes).any()):
        bad = idx[(idx < 0) | (idx >= classes)][0].item()
        raise InputError(f"target class {bad} is out of range: the model has classes 0..{classes - 1}")
    return idx


def is_multi(target: Target, top: int | None) -> bool:
    """Whether a call asks for several classes per image: ``top=K`` or a (B, K) target."""
    if top is not None:
        return True
    return isinstance(target, torch.Tensor) and target.dim() == 2


def target_matrix(target: Target, logits: torch.Tensor, top: int | None = None) -> torch.Tensor:
    """The classes explained for each image, shape (B, K), as a long tensor on logits' device.

    Args:
        target: as in :func:`resolve_target` (K = 1), or a (B, K) tensor or nested sequence of
            class indices (K classes per image).
        logits: the model's output, shape (B, classes).
        top: explain each image's ``top`` highest-scoring classes (best first); then ``target``
            must be None.

    Returns:
        Class indices, shape (B, K).
    """
    if logits.dim() != 2:
        raise InputError(f"the model must return logits of shape (B, classes), got {tuple(logits.shape)}")
    batch, classes = logits.shape
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise InputError(f"top must be a positive integer, got {top!r}")
        if target is not None:
            raise InputError("pass either target or top, not both")
        if top > classes:
            raise InputError(f"top={top} is more than the model's {classes} classes")
        return logits.detach().topk(top, dim=1).indices
    if (
        isinstance(target, torch.Tensor)
        and target.dim() == 2
        or (isinstance(target, (list, tuple)) and target and isinstance(target[0], (list, tuple)))
    ):
        idx = torch.as_tensor(target, device=logits.device)
        if idx.dim() != 2 or idx.shape[0] != batch or idx.shape[1] == 0:
            raise InputError(f"a target of several classes must have shape ({batch}, K), got {tuple(idx.shape)}")
        return _class_indices(idx, classes)
    return target_indices(target, logits)[:, None]


def target_scores(target: Target, logits: torch.Tensor, top: int | None = None) -> torch.Tensor:
    """The (B, K) scores explained: one column per class of :func:`target_matrix`.

    A callable target gives one column (its (B,) scores).
    """
    if callable(target) and not isinstance(target, torch.Tensor):
        if top is not None:
            raise InputError("pass either a target callable or top, not both")
        return resolve_target(target, logits)[:, None]
    return logits.gather(1, target_matrix(target, logits, top))


def resolve_layer(model: nn.Module, layer: LayerRef) -> tuple[str, nn.Module]:
    """Find a layer by its ``named_modules()`` name or by identity.

    Args:
        model: the model to search.
        layer: a name such as ``"features.12"`` or a module inside ``model``.

    Returns:
        ``(name, module)``.

    Raises:
        UnknownNameError: the name or module is not in the model; the message lists the closest names.
    """
    names = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in names.items():
            if module is layer:
                return name, module
        raise UnknownNameError("the given layer module is not part of the model; pass one of its named_modules()")
    if not isinstance(layer, str):
        raise InputError(f"layer must be a module name or an nn.Module, got {type(layer).__name__}")
    if layer in names and layer != "":
        return layer, names[layer]
    candidates = [n for n in names if n]
    close = difflib.get_close_matches(layer, candidates, n=5, cutoff=0.3) or candidates[-5:]
    raise UnknownNameError(f"unknown layer {layer!r}; closest names: {', '.join(close)}")


def parse_class(text: str, class_names: Sequence[str] | None) -> int:
    """A class given as an index or a class name (``"7"``, ``"tabby cat"``) as its index.

    Raises:
        InputError: an index out of range, or a name when the model has no class names.
        UnknownNameError: an unknown class name; the message lists the closest names.
    """
    text = text.strip()
    if class_names is not None and text in class_names:
        return list(class_names).index(text)
    if text.lstrip("-").isdigit():
        index = int(text)
        count = len(class_names) if class_names is not None else None
        if index < 0 or (count is not None and index >= count):
            raise InputError(f"class {index} is out of range: the model has classes 0..{(count or 1) - 1}")
        return index
    if class_names is None:
        raise InputError(f"the class must be an index for this model, got {text!r}")
    close = difflib.get_close_matches(text, list(class_names), n=5, cutoff=0.5)
    listing = ", ".join(close) if close else ", ".join(class_names[:20]) + (" ..." if len(class_names) > 20 else "")
    raise UnknownNameError(f"unknown class {text!r}; {'closest' if close else 'valid'} names: {listing}")
