"""Adversarial training: the examples a training step learns from (used by :func:`convlens.train.fit`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError
from ._common import count, positive
from .gradient import pgd

METHODS = ("fgsm-rs", "pgd")


@dataclass(frozen=True)
class AdversarialTraining:
    """How :func:`convlens.train.fit` perturbs each training batch.

    ``"fgsm-rs"``: FGSM from a random start with step ``1.25·eps`` (Wong, Rice & Kolter 2020, "Fast
    is better than free: Revisiting adversarial training"): one extra forward and backward per
    batch. ``"pgd"``: ``steps`` steps of PGD with random start and step ``2.5·eps/steps`` (Madry
    et al. 2018): ``steps`` extra passes per batch.

    Attributes:
        method: ``"fgsm-rs"`` or ``"pgd"``.
        eps: the L∞ budget in pixel units.
        steps: PGD steps (ignored by ``"fgsm-rs"``).
        mix: the fraction of each batch replaced by adversarial images (1.0: all of it).
    """

    method: str = "fgsm-rs"
    eps: float = 0.3
    steps: int = 7
    mix: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"adversarial training method must be one of {', '.join(METHODS)}, got {self.method!r}")
        positive(self.eps, "eps")
        count(self.steps, "steps")
        if not 0 < self.mix <= 1:
            raise InputError(f"mix must be in (0, 1], got {self.mix}")


def adversarial_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AdversarialTraining,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The training batch with (a fraction ``config.mix`` of) its images replaced by adversarial ones.

    The attack runs with the model in eval mode and its parameters frozen (both restored), so it
    changes neither weights, BatchNorm statistics nor gradients; the caller trains on the result.

    Shape:
        x: (B,C,H,W); y: (B,); result: (B,C,H,W).
    """
    n = x.shape[0] if config.mix >= 1 else int(round(x.shape[0] * config.mix))
    if n == 0:
        return x
    if config.method == "fgsm-rs":
        options = dict(steps=1, step=1.25 * config.eps)
    else:
        options = dict(steps=config.steps, step=2.5 * config.eps / config.steps)
    seed = None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
    result = pgd(model, x[:n], y[:n], eps=config.eps, random_start=True, seed=seed, **options)  # type: ignore[arg-type]
    return result.images if n == x.shape[0] else torch.cat([result.images, x[n:]])
