"""Plumbing shared by the attribution methods: target scores and batching of image copies.

Running the model (inputs, outputs, memory layout, autograd scope) is shared with every other
capability and lives in :mod:`convlens._runner`; this module adds what only attribution needs:
score copies with a :class:`Scorer` and batch many copies per pass (:class:`ChunkPlan`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .._checks import Target, check_pixel_range, target_indices, target_matrix
from .._hooks import activation_size, inspecting
from .._outputs import OutputSpec
from .._runner import (
    ModelRunner,
    channels_last,
    finish,
    gradients_on,
    input_gradient,
    outside_inference_mode,
    prepare_input,
)
from ..errors import InputError

# Elements of activations one chunk of copies may produce. Chunks that stay in the CPU's caches
# run fastest (measured on mnist-cnn and squeezenet1_1); with autograd every activation is kept
# until backward, without it only a few live at once, so occlusion can afford more.
GRAD_BUDGET = 1 << 23
NO_GRAD_BUDGET = 1 << 24
MIN_AUTO_BATCH = 8
MAX_AUTO_BATCH = 4096


class Scorer:
    """The score that each (possibly perturbed) copy of an image is explained for.

    Class targets are resolved once, on the clean images; copies then look up the class of the
    image they were made from. A callable target is applied to the logits of every batch of
    copies, so it must work row by row (``lambda z: z[:, 3] - z[:, 5]``).

    Args:
        target: as in DESIGN.md (None, int, sequence, 1-D tensor, or callable).
        clean_logits: the model's logits on the clean images, shape (B, K).
    """

    def __init__(self, target: Target, clean_logits: torch.Tensor) -> None:
        self.fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.indices: torch.Tensor | None = None
        if callable(target) and not isinstance(target, torch.Tensor):
            self.fn = target
            self.fn_check(clean_logits)
        else:
            self.indices = target_indices(target, clean_logits)

    def fn_check(self, logits: torch.Tensor) -> torch.Tensor:
        assert self.fn is not None
        scores = self.fn(logits)
        if not isinstance(scores, torch.Tensor) or scores.shape != (logits.shape[0],):
            raise InputError(
                "a target callable must map logits of shape (N, classes) to scores of shape (N,), row by row, for any N"
            )
        return scores

    def logit(self, logits: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (N,) of copies whose source images are ``images`` (None: one copy per image)."""
        if self.fn is not None:
            return self.fn_check(logits)
        assert self.indices is not None
        idx = self.indices if images is None else self.indices[images]
        return logits.gather(1, idx[:, None])[:, 0]

    def probability(self, logits: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """Softmax probability (N,) of each copy's target class."""
        if self.indices is None:
            raise InputError("a probability needs a target class; pass an int or a sequence, not a callable")
        idx = self.indices if images is None else self.indices[images]
        return torch.softmax(logits, dim=1).gather(1, idx[:, None])[:, 0]


def clean_forward(run: ModelRunner, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Logits of the clean images (no graph) and the activation elements one image produces.

    Call inside :func:`convlens._hooks.inspecting`.
    """
    with torch.no_grad(), activation_size(run.model) as total:
        logits = run(x)
    return logits, max(1, total[0] // x.shape[0])


def probe(run: ModelRunner, x: torch.Tensor, target: Target) -> tuple[Scorer, int]:
    """The :class:`Scorer` for ``target`` and the activation elements one image produces.

    Only ``target=None`` needs the prediction of every clean image; for a class target one
    image is enough to learn the number of classes and the activation size, which saves most
    of a forward pass when the batch of copies is small.
    """
    batch = x.shape[0]
    logits, per_image = clean_forward(run, x if target is None else x[:1])
    return Scorer(target, logits if target is None else logits.expand(batch, -1)), per_image


def positive_int(value: object, name: str) -> int:
    """``value`` as an int ≥ 1, or an :class:`InputError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def batch_size_for(batch_size: int | None, per_image: int, *, grad: bool) -> int:
    """The number of copies per forward pass: the caller's choice, or one bounded by memory."""
    if batch_size is not None:
        return positive_int(batch_size, "batch_size")
    budget = GRAD_BUDGET if grad else NO_GRAD_BUDGET
    return max(MIN_AUTO_BATCH, min(MAX_AUTO_BATCH, budget // per_image))


class ChunkPlan:
    """``(start, stop)`` ranges over ``total`` copies, of a given size or one learnt on the way.

    With neither ``batch_size`` nor ``per_image`` known, the first chunk has
    :data:`MIN_AUTO_BATCH` copies, and the activations of its forward pass (run inside
    :meth:`measuring`) size the rest; this spares a separate clean forward pass.

    Args:
        total: number of copies.
        batch_size: the caller's copies per pass, or None.
        per_image: activation elements per image if already known, or None.
        grad: whether the passes keep activations for a backward pass.
    """

    def __init__(self, total: int, batch_size: int | None, per_image: int | None, *, grad: bool) -> None:
        self.total = total
        self.grad = grad
        self.size: int | None = None
        if batch_size is not None or per_image is not None:
            self.size = batch_size_for(batch_size, per_image or 1, grad=grad)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        start = 0
        while start < self.total:
            stop = min(self.total, start + (self.size or MIN_AUTO_BATCH))
            yield start, stop
            start = stop

    @contextmanager
    def measuring(self, model: nn.Module, copies: int) -> Iterator[None]:
        """Wrap the forward pass of a chunk of ``copies``; the first one sizes the others."""
        if self.size is not None:
            yield
            return
        with activation_size(model) as total:
            yield
        self.size = batch_size_for(None, max(1, total[0] // copies), grad=self.grad)


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of at most ``size`` covering ``range(total)``."""
    for start in range(0, total, size):
        yield start, min(start + size, total)


def per_class(
    func: Callable[..., Any],
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    top: int | None,
    output: OutputSpec,
    **options: Any,
) -> Any:
    """Run a one-class method once per class of a (B, K) target or ``top=K``; stack results at dim 1.

    For the methods whose cost is dominated by many copies per class (integrated gradients,
    SmoothGrad): one clean forward pass picks the classes, then each class runs on its own.
    Tuples (``return_delta``) are stacked element by element.
    """
    xin = prepare_input(model, x)
    with inspecting(model), torch.no_grad():
        logits = ModelRunner(model, xin, output)(xin)
    classes = target_matrix(target, logits, top)
    results = [func(model, x, classes[:, k], output=output, **options) for k in range(classes.shape[1])]
    if isinstance(results[0], tuple):
        return tuple(torch.stack(parts, dim=1) for parts in zip(*results, strict=True))
    return torch.stack(results, dim=1)


def broadcast_like(value: float | torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    """A scalar or a tensor broadcastable to ``x`` (B,C,H,W), expanded to ``x``'s shape."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number or a tensor, not a bool")
    if isinstance(value, (int, float)):
        check_pixel_range(value, name)
        return torch.full_like(x, float(value))
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{name} must be a number or a tensor broadcastable to {tuple(x.shape)}")
    value = value.detach().to(device=x.device, dtype=x.dtype)
    try:
        value = torch.broadcast_to(value, x.shape)
    except RuntimeError:
        raise InputError(
            f"{name} of shape {tuple(value.shape)} does not broadcast to the images' shape {tuple(x.shape)}"
        ) from None
    if not bool(torch.isfinite(value).all()):
        raise InputError(f"{name} contains NaN or infinite values")
    check_pixel_range(value, name)
    return value.contiguous()


__all__ = [
    "ChunkPlan", "ModelRunner", "Scorer", "batch_size_for", "broadcast_like", "channels_last", "chunks",
    "clean_forward", "finish", "gradients_on", "input_gradient", "outside_inference_mode", "per_class", "positive_int",
    "prepare_input", "probe",
]  # fmt: skip
