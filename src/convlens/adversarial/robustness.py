"""Robustness curves: accuracy against the attack budget over a data set."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .._checks import model_device
from .._hooks import inspecting
from .._outputs import OutputSpec
from .._runner import ModelRunner, outside_inference_mode
from ..data.dataset import ImageDataset
from ..errors import InputError
from ._common import check_pixels, non_negative

DEFAULT_EPS = (0.0, 0.05, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class RobustnessResult:
    """Accuracy of a model under attack, for each budget.

    Attributes:
        eps: the budgets, ascending, in pixel units.
        accuracy: the fraction of images still classified correctly under attack, per budget.
        clean_accuracy: the accuracy without attack (equal to ``accuracy`` at ``eps=0``).
        attack: the attack's name.
        options: the options the attack ran with (beyond ``eps``).
        images: how many images were evaluated.
        robust: which images survive each budget.

    Shape:
        eps, accuracy: (E,); robust: (E, N) bool.
    """

    eps: torch.Tensor
    accuracy: torch.Tensor
    clean_accuracy: float
    attack: str
    options: dict[str, Any]
    images: int
    robust: torch.Tensor

    def rows(self) -> list[tuple[float, float]]:
        """``(eps, accuracy)`` pairs, for tables."""
        return list(zip(self.eps.tolist(), self.accuracy.tolist(), strict=True))


AttackFn = Callable[..., Any]


def _attack_function(attack: str | AttackFn) -> tuple[str, AttackFn]:
    if callable(attack):
        return getattr(attack, "__name__", "attack"), attack
    from ..registry import get_method

    spec = get_method(str(attack), "attack")
    if "eps" not in spec.parameters:
        from ..registry import list_methods

        valid = [s.name for s in list_methods("attack") if "eps" in s.parameters]
        raise InputError(f"attack {attack!r} has no eps budget; choose from: {', '.join(valid)}")
    return spec.name, spec.func


def _data(data: ImageDataset | tuple[torch.Tensor, torch.Tensor]) -> ImageDataset:
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise InputError("data must be an ImageDataset or a pair (images, labels) of tensors")
        classes = tuple(str(i) for i in range(int(labels.max()) + 1)) if labels.numel() else ()
        return ImageDataset(images, labels.long(), classes, "images")
    raise InputError(f"data must be an ImageDataset or a pair (images, labels), got {type(data).__name__}")


@outside_inference_mode
def robustness(
    model: nn.Module,
    data: ImageDataset | tuple[torch.Tensor, torch.Tensor],
    attack: str | AttackFn = "pgd",
    eps: Sequence[float] = DEFAULT_EPS,
    *,
    batch_size: int = 256,
    progress: bool = True,
    output: OutputSpec = None,
    **options: Any,
) -> RobustnessResult:
    """Accuracy against the attack budget over a data set.

    An image counts as robust at a budget when the model classifies it correctly and the
    attack (untargeted, from its true label) does not change that. A point inside a smaller ball
    is inside every larger one, so each budget attacks only the images that survived the
    previous one (budgets are sorted): the curve cannot rise, and strong budgets cost less. At
    ``eps = 0`` the ball is the image itself, so the accuracy is exactly the clean accuracy.

    Args:
        model: any classifier taking [0,1] images; given back unchanged.
        data: an :class:`~convlens.data.ImageDataset` or ``(images, labels)``.
        attack: a registered attack with an ``eps`` option (``"pgd"``, ``"fgsm"``) or a
            callable ``attack(model, x, label, eps=..., output=..., **options)`` returning an
            object with a ``success`` tensor.
        eps: the budgets, in pixel units (≥ 0).
        batch_size: images per batch (> 0).
        progress: show a progress bar.
        output: where the logits are in the model's output.
        **options: passed to the attack (``steps=40, restarts=5, norm="2"`` ...).

    Returns:
        A :class:`RobustnessResult`.
    """
    name, func = _attack_function(attack)
    budgets = sorted({non_negative(e, "eps") for e in eps})
    if not budgets:
        raise InputError("eps is empty: give at least one budget, e.g. 0,0.1,0.3")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    dataset = _data(data)
    if len(dataset) == 0:
        raise InputError("the data set is empty")
    if name == "pgd" and "early_stop" not in options and "early_stop" in inspect.signature(func).parameters:
        options["early_stop"] = True  # same robust accuracy, less work: a fooled image stays fooled
    device = model_device(model)
    robust = torch.zeros(len(budgets), len(dataset), dtype=torch.bool)
    bar = tqdm(total=len(dataset) * len(budgets), desc=f"{name} robustness", unit="img", disable=not progress,
               leave=False, mininterval=0.5)  # fmt: skip
    try:
        start = 0
        for x, y in dataset.batches(batch_size):
            x, y = check_pixels(x.to(device)), y.to(device)
            rows = slice(start, start + len(y))
            with inspecting(model), torch.no_grad():
                alive = ModelRunner(model, x, output)(x).argmax(dim=1) == y
            for e, budget in enumerate(budgets):
                if budget > 0 and bool(alive.any()):
                    which = alive.nonzero()[:, 0]
                    result = func(model, x[which], y[which], eps=budget, output=output, **options)
                    alive = alive.clone()
                    alive[which] = ~result.success.to(device)
                robust[e, rows] = alive.cpu()
                bar.update(len(y))
            start += len(y)
    finally:
        bar.close()
    accuracy = robust.float().mean(dim=1)
    clean = float(robust[0].float().mean()) if budgets[0] == 0 else _clean_accuracy(model, dataset, batch_size, output)
    return RobustnessResult(
        torch.tensor(budgets, dtype=torch.float64), accuracy, clean, name, dict(options), len(dataset), robust
    )


def _clean_accuracy(model: nn.Module, data: ImageDataset, batch_size: int, output: OutputSpec) -> float:
    correct = 0
    device = model_device(model)
    with inspecting(model), torch.no_grad():
        for x, y in data.batches(batch_size):
            x = x.to(device)
            correct += int((ModelRunner(model, x, output)(x).argmax(dim=1).cpu() == y).sum())
    return correct / len(data)
