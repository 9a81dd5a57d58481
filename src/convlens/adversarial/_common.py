"""Plumbing shared by the attacks: checks of budgets and pixels, the result object, the re-check.

Every attack follows the pattern of :mod:`convlens._runner`: a private copy of the images on the
model's device, the model under :func:`convlens._hooks.inspecting` (eval mode, frozen
parameters, both restored), gradients with ``torch.autograd.grad`` on the images only, and a
result object of detached tensors on the caller's device. Whether an attack succeeded is always
decided by a fresh forward pass on the final images (:func:`recheck`), never by the logits of
the loop's last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch.nn import functional as F

from .._checks import Target, target_indices
from .._runner import ModelRunner, finish
from ..errors import InputError

# Accepted as "inside [0,1]": images that went through a float division or a resize may stray by an ulp.
PIXEL_SLACK = 1e-6


@dataclass(frozen=True, kw_only=True)
class AttackResult:
    """Adversarial images and what the model makes of them.

    Attributes:
        images: the final images, in [0,1].
        original: the images the attack started from (the input, or the noise it drew).
        target: the class each image was pushed towards (``targeted=True``) or away from (the
            true label, ``targeted=False``).
        targeted: whether the attack aimed at ``target`` rather than away from it.
        success: whether the model predicts ``target`` (targeted) or anything but ``target``
            (untargeted), from a fresh forward pass on ``images``.
        predicted: the model's class for each final image.
        probability: the softmax probability of ``predicted``.
        target_probability: the softmax probability of ``target``.
        steps: the updates each image received (images stop early where the method allows).
        history: the objective the attack ascends, per image and step (NaN after an image
            stopped), or ``None`` for one-step methods.
        method: the registered name of the attack.
        eps: the perturbation budget in pixel units (``None`` where the method has none).
        norm: ``"inf"`` or ``"2"`` for budgeted attacks, else ``""``.

    Shape:
        images, original: (B,C,H,W); target, success, predicted, probability, target_probability,
        steps: (B,); history: (B, T).
    """

    images: torch.Tensor
    original: torch.Tensor
    target: torch.Tensor
    targeted: bool
    success: torch.Tensor
    predicted: torch.Tensor
    probability: torch.Tensor
    target_probability: torch.Tensor
    steps: torch.Tensor
    history: torch.Tensor | None
    method: str
    eps: float | None = None
    norm: str = ""

    @property
    def perturbation(self) -> torch.Tensor:
        """``images - original``, shape (B,C,H,W)."""
        return self.images - self.original

    @property
    def success_rate(self) -> float:
        """The fraction of images for which the attack succeeded."""
        return float(self.success.float().mean()) if self.success.numel() else 0.0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def select(self, index: torch.Tensor | slice) -> AttackResult:
        """The result of a subset of the images (same type, every per-image field indexed)."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor) and value.dim() > 0 and f.name not in _SHARED_FIELDS:
                changes[f.name] = value[index]
        return replace(self, **changes)


_SHARED_FIELDS = frozenset({"noise", "noise_target"})


@dataclass(frozen=True)
class Check:
    """A fresh forward pass on final images: what the model predicts and how confidently."""

    success: torch.Tensor
    predicted: torch.Tensor
    probability: torch.Tensor
    target_probability: torch.Tensor
    loss: torch.Tensor


# ------------------------------------------------------------------------------------------ checks


def check_pixels(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """``x`` itself if every value is in [0,1], else an :class:`InputError` saying what to do."""
    low, high = float(x.min()), float(x.max())
    if low < -PIXEL_SLACK or high > 1 + PIXEL_SLACK:
        raise InputError(
            f"{name} must hold pixel values in [0,1], got values in [{low:.3g}, {high:.3g}]: attack budgets are in "
            "pixel units, so pass raw images (divide 0..255 images by 255; normalization belongs inside the model)"
        )
    return x


def non_negative(value: object, name: str) -> float:
    """``value`` as a finite float ≥ 0 (budgets, weights), else an :class:`InputError`."""
    number = _number(value, name)
    if number < 0:
        raise InputError(f"{name} must be >= 0, got {number:g}")
    return number


def positive(value: object, name: str) -> float:
    """``value`` as a finite float > 0 (step sizes), else an :class:`InputError`."""
    number = _number(value, name)
    if number <= 0:
        raise InputError(f"{name} must be > 0, got {number:g}")
    return number


def count(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum`` (step counts, restarts), else an :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def norm_name(norm: object) -> str:
    """``"inf"`` or ``"2"`` from the spellings people use (``"linf"``, ``"l2"``, ``2``, ``float("inf")``)."""
    text = str(norm).lower().removeprefix("l")
    if text in ("inf", "infinity"):
        return "inf"
    if text in ("2", "2.0"):
        return "2"
    raise InputError(f"norm must be 'inf' or '2', got {norm!r}")


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{name} must be finite, got {number}")
    return number


def class_indices(target: Target, logits: torch.Tensor, name: str = "target") -> torch.Tensor:
    """The (B,) class indices of an int / sequence / tensor target; callables are refused.

    Attacks move images towards or away from classes; ``None`` means each image's predicted class.
    """
    if callable(target) and not isinstance(target, torch.Tensor):
        raise InputError(f"{name} must be a class index or one class per image, not a callable")
    return target_indices(target, logits)


def generator_for(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A seeded generator on ``device``, or ``None`` (the global RNG) when ``seed`` is None."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an int or None, got {seed!r}")
    return torch.Generator(device=device).manual_seed(seed)


# ------------------------------------------------------------------------------------------ running


def scores(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``logits[i, index[i]]`` for every row, shape (B,)."""
    return logits.gather(1, index[:, None])[:, 0]


def recheck(run: ModelRunner, images: torch.Tensor, target: torch.Tensor, targeted: bool) -> Check:
    """One fresh forward pass (no graph) on the final images: success, prediction, confidence."""
    with torch.no_grad():
        logits = run(images).float()
    probs = torch.softmax(logits, dim=1)
    predicted = logits.argmax(dim=1)
    success = predicted == target if targeted else predicted != target
    loss = F.cross_entropy(logits, target, reduction="none")
    return Check(success, predicted, scores(probs, predicted), scores(probs, target), loss)


def model_classes(run: ModelRunner, x: torch.Tensor) -> torch.Tensor:
    """The logits of one image (to learn the number of classes before checking targets)."""
    with torch.no_grad():
        return run(x[:1])


def build_result(
    cls: Callable[..., AttackResult],
    *,
    like: torch.Tensor,
    images: torch.Tensor,
    original: torch.Tensor,
    target: torch.Tensor,
    targeted: bool,
    check: Check,
    steps: torch.Tensor,
    history: torch.Tensor | None,
    method: str,
    **extra: object,
) -> AttackResult:
    """The result object, every tensor detached and on ``like``'s device (images in ``like``'s dtype)."""
    device = like.device
    return cls(
        images=finish(images, like), original=finish(original, like), target=target.to(device),
        targeted=targeted, success=check.success.to(device), predicted=check.predicted.to(device),
        probability=check.probability.detach().to(device),
        target_probability=check.target_probability.detach().to(device),
        steps=steps.to(device), history=None if history is None else history.detach().to(device), method=method,
        **extra,
    )  # fmt: skip


def nan_history(batch: int, steps: int, device: torch.device) -> torch.Tensor:
    """A (B, T) float history filled with NaN (steps an image did not take stay NaN)."""
    return torch.full((batch, steps), float("nan"), device=device)


def predict(model: object, x: torch.Tensor, output: object = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's class and its softmax probability for each image (one forward pass, no graph).

    For captions of the clean images next to their adversarial versions.

    Shape:
        x: (B,C,H,W); results: (B,), (B,).
    """
    from .._hooks import inspecting
    from .._runner import prepare_input

    assert isinstance(model, torch.nn.Module)
    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        logits = ModelRunner(model, xin, output)(xin).float()  # type: ignore[arg-type]
    probs = torch.softmax(logits, dim=1)
    predicted = logits.argmax(dim=1)
    return predicted.to(x.device), scores(probs, predicted).to(x.device)
