"""Context managers that touch a model for one call and always put it back.

Everything here restores the model in ``finally``: training flags, ``requires_grad`` flags and
hook registrations are exactly as they were when the ``with`` block ends, also on error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode, then restore each module's own ``training`` flag."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Switch off ``requires_grad`` on every parameter, then restore each flag.

    With the parameters frozen, autograd records no weight gradients: a backward pass does only
    the work needed for the tensors the caller asks about.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def inspecting(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration of one explanation or attack."""
    with eval_mode(model), frozen(model):
        yield model


@contextmanager
def capture_outputs(modules: Iterable[nn.Module]) -> Iterator[list[torch.Tensor]]:
    """Record the output of each module on every forward pass inside the block.

    Returns:
        A list that fills with one output per module call, in call order.
    """
    outputs: list[torch.Tensor] = []
    handles = []

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        outputs.append(output)

    try:
        for module in modules:
            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
