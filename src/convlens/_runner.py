"""Running the caller's model safely and fast: inputs, outputs, memory layout, autograd scope.

Every capability that runs a model (attribution, attacks, synthesis, trust checks) follows
the same pattern:

1. ``xin = prepare_input(model, x)``: check the images and copy them to the model's device
   and float dtype (the caller's tensor is never touched);
2. ``with inspecting(model):`` (from :mod:`convlens._hooks`): eval mode and frozen parameters,
   both restored afterwards, also on error;
3. ``run = ModelRunner(model, xin, output=output)`` (before any hooks are registered), then
   ``logits = run(batch)``: the model in its fastest memory layout, with the logits picked out
   of whatever it returns (:func:`convlens._outputs.select_logits`);
4. gradients with :func:`input_gradient` (``torch.autograd.grad``, never ``.backward()``),
   inside :func:`gradients_on`;
5. ``return finish(result, x)``: detached, on the caller's device and dtype.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn

from ._checks import check_images, model_device
from ._hooks import eval_mode
from ._outputs import OutputSpec, check_output_spec, select_logits
from .errors import InputError


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


# model -> {(C,H,W), dtype, device): whether channels-last input works}; decided once per model.
_LAYOUTS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], bool]] = weakref.WeakKeyDictionary()


def _channels_last_works(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``model`` accepts a channels-last batch shaped like ``x``, decided on one image.

    A model whose ``forward`` assumes the standard layout (``x.view(B, -1)`` right after a
    convolution) raises a ``RuntimeError`` on a channels-last input. The probe runs once per
    model, input shape, dtype and device, without autograd, before any hook is registered; a
    model that fails in both layouts fails again in the standard one, where its error shows.
    """
    key = (tuple(x.shape[1:]), x.dtype, x.device)
    known = _LAYOUTS.setdefault(model, {})
    if key not in known:
        with torch.no_grad(), eval_mode(model):
            try:
                model(channels_last(x[:1]))
                known[key] = True
            except RuntimeError:
                known[key] = False
    return known[key]


class ModelRunner:
    """Calls the model in the fastest memory layout that works for it and returns its logits.

    On the CPU, float32 convolutions and pooling run two to three times faster on channels-last
    activations (oneDNN works in that layout natively; measured on mnist-cnn and
    squeezenet1_1), and a convolution keeps the layout of its input. So the runner gives the
    model channels-last inputs when a one-image probe (run once per model and input shape, at
    construction) shows that the model accepts them. Errors raised later are never retried:
    they are the model's own (out of memory, a real bug) and propagate. Only memory order
    changes, never the model or the values.

    Construct the runner before registering hooks that record activations: the probe is a
    forward pass.

    Args:
        model: the model, already under :func:`convlens._hooks.inspecting`.
        x: a tensor on the model's device and dtype, shaped like the batches to come.
        output: where the logits are in the model's output (:mod:`convlens._outputs`).
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, output: OutputSpec = None) -> None:
        self.model = model
        self.output = check_output_spec(output)
        candidate = x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
        self.fast = candidate and _channels_last_works(model, x)

    def layout(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` in the layout the next call will use (for leaves that need gradients)."""
        return channels_last(t) if self.fast else t

    def raw(self, x: torch.Tensor) -> Any:
        """The model's raw output for ``x`` (whatever its ``forward`` returns)."""
        return self.model(channels_last(x) if self.fast else x.contiguous())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for ``x``, shape (N, classes).

        Raises:
            InputError: a score is NaN or infinite (checked on every call: one ``isfinite``
                over the logits), naming a non-finite parameter when there is one.
        """
        logits = select_logits(self.raw(x), self.output)
        if isinstance(logits, torch.Tensor) and not bool(torch.isfinite(logits.detach()).all()):
            raise InputError(non_finite_scores_message(self.model))
        return logits


def non_finite_scores_message(model: nn.Module) -> str:
    """Why a model's scores are not finite, naming the first non-finite parameter or buffer if any."""
    for kind, named in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in named:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                return (
                    f"the model's scores are NaN or infinite because its {kind} {name!r} holds NaN or infinite "
                    "values; reload or retrain the weights"
                )
    return (
        "the model's scores are NaN or infinite for these images although its weights are finite (an "
        "overflow?); check the model on this input, e.g. in float32"
    )


def model_dtype(model: nn.Module, default: torch.dtype = torch.float32) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (``default`` if it has none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), default)


def prepare_input(model: nn.Module, x: object, name: str = "x") -> torch.Tensor:
    """Check ``x`` and return a private copy on the model's device, in the model's float dtype.

    Shape:
        ``(B, C, H, W)`` in, the same out.
    """
    x = check_images(x, name)
    return x.detach().to(device=model_device(model), dtype=model_dtype(model, x.dtype), copy=True)


def finish(result: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A detached result on the caller's device and in the caller's dtype."""
    return result.detach().to(device=like.device, dtype=like.dtype).contiguous()


_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def outside_inference_mode(func: _Fn) -> _Fn:
    """Run a public function outside the caller's ``torch.inference_mode()``.

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


__all__ = [
    "ModelRunner", "channels_last", "finish", "gradients_on", "input_gradient", "model_dtype",
    "non_finite_scores_message", "outside_inference_mode", "prepare_input",
]  # fmt: skip
