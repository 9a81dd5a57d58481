"""Plumbing shared by the attribution methods: inputs, memory layout, target scores, batching.

Every method follows the same pattern: check the images and copy them to the model's device
and dtype (the caller's tensor is never touched), run the model under
:func:`convlens._hooks.inspecting` (eval mode, frozen parameters, both restored afterwards)
through a :class:`ModelRunner` (fastest memory layout), score copies with a :class:`Scorer`,
batch many copies per pass (:class:`ChunkPlan`), and return a detached result on the caller's
device and in the caller's dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn

from .._checks import Target, check_images, model_device, target_indices
from .._hooks import activation_size
from ..errors import InputError

# Elements of activations one chunk of copies may produce. Chunks that stay in the CPU's caches
# run fastest (measured on mnist-cnn and squeezenet1_1); with autograd every activation is kept
# until backward, without it only a few live at once, so occlusion can afford more.
GRAD_BUDGET = 1 << 23
NO_GRAD_BUDGET = 1 << 24
MIN_AUTO_BATCH = 8
MAX_AUTO_BATCH = 4096


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` (B,C,H,W) with channels-last strides ``(C·H·W, 1, W·C, C)`` (a copy unless it has them).

    Unlike ``t.contiguous(memory_format=torch.channels_last)``, this also gives a one-channel
    image those strides, so that the first convolution of an MNIST network already produces
    channels-last activations.
    """
    _, c, h, w = t.shape
    strides = (c * h * w, 1, w * c, c)
    if t.stride() == strides:
        return t
    return torch.empty_strided(t.shape, strides, dtype=t.dtype, device=t.device).copy_(t)


class ModelRunner:
    """Calls the model in the fastest memory layout that works for it.

    On the CPU, float32 convolutions and pooling run two to three times faster on channels-last
    activations (oneDNN works in that layout natively; measured on mnist-cnn and
    squeezenet1_1), and a convolution keeps the layout of its input. So the runner gives the
    model channels-last inputs. A model whose ``forward`` assumes the standard layout
    (``x.view(B, -1)`` right after a convolution) raises in that layout; the runner then repeats
    the call with a standard input and keeps to it. Only memory order changes, never the model
    or the values.

    Args:
        model: the model, already under :func:`convlens._hooks.inspecting`.
        x: a tensor on the model's device and dtype, used to pick the layout.
        on_retry: called before a call is repeated in the standard layout (to forget what
            hooks recorded during the failed call).
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, on_retry: Callable[[], None] | None = None) -> None:
        self.model = model
        self.fast = x.device.type == "cpu" and x.dtype == torch.float32
        self.on_retry = on_retry

    def layout(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` in the layout the next call will use (for leaves that need gradients)."""
        return channels_last(t) if self.fast else t

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for ``x``, shape (N, classes)."""
        if self.fast:
            try:
                return check_logits(self.model(channels_last(x)))
            except RuntimeError:
                self.fast = False
                if self.on_retry is not None:
                    self.on_retry()
        return check_logits(self.model(x.contiguous()))


def prepare_input(model: nn.Module, x: object) -> torch.Tensor:
    """Check ``x`` and return a private copy on the model's device, in the model's float dtype.

    Shape:
        ``(B, C, H, W)`` in, the same out.
    """
    x = check_images(x)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
    return x.detach().to(device=model_device(model), dtype=dtype, copy=True)


def finish(result: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A detached result on the caller's device and in the caller's dtype."""
    return result.detach().to(device=like.device, dtype=like.dtype).contiguous()


_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def outside_inference_mode(func: _Fn) -> _Fn:
    """Run a public method outside the caller's ``torch.inference_mode()``.

    The methods need autograd (and tensors that autograd accepts) even when called from inside
    inference mode; their results are ordinary tensors either way.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.inference_mode(False):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextmanager
def gradients_on() -> Iterator[None]:
    """Enable autograd even when the caller is inside ``torch.no_grad()`` or inference mode."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def input_gradient(scores: torch.Tensor, inputs: torch.Tensor, *, retain_graph: bool = False) -> torch.Tensor:
    """``d scores.sum() / d inputs`` with ``torch.autograd.grad`` (zeros where unused)."""
    if not scores.requires_grad:
        return torch.zeros_like(inputs)
    (grad,) = torch.autograd.grad(scores.sum(), inputs, retain_graph=retain_graph, allow_unused=True)
    return torch.zeros_like(inputs) if grad is None else grad


def check_logits(logits: object) -> torch.Tensor:
    """The model's output must be a (N, classes) tensor."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise InputError(f"the model must return logits of shape (B, classes), got {shape}")
    return logits


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
        check_logits(clean_logits)
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
                "a target callable must map logits of shape (N, classes) to scores of shape (N,), "
                "row by row, for any N"
            )
        return scores

    def logit(self, logits: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (N,) of copies whose source images are ``images`` (None: one copy per image)."""
        logits = check_logits(logits)
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
        return torch.softmax(check_logits(logits), dim=1).gather(1, idx[:, None])[:, 0]


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


def broadcast_like(value: float | torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    """A scalar or a tensor broadcastable to ``x`` (B,C,H,W), expanded to ``x``'s shape."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number or a tensor, not a bool")
    if isinstance(value, (int, float)):
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
    return value.contiguous()
