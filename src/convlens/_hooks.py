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


# --------------------------------------------------------------------------------------------
# ReLU gradient override (guided backpropagation) without swapping modules or patching torch
# --------------------------------------------------------------------------------------------


class ReluRule:
    """A switch read by the overridden ReLU's backward pass.

    ``guided=True`` applies the guided-backpropagation rule of Springenberg et al. 2015
    ("Striving for Simplicity: The All Convolutional Net"): a gradient passes a ReLU only where
    the ReLU's input was positive AND the incoming gradient is positive. ``guided=False`` is the
    ordinary ReLU gradient. The switch is read when backward runs, so one forward pass can be
    differentiated once with each rule (guided Grad-CAM does this).

    ``deconv=True`` applies the deconvnet rule of Zeiler & Fergus 2014 ("Visualizing and
    Understanding Convolutional Networks"): the backward pass rectifies the incoming gradient
    and ignores where the ReLU's input was positive (the "reversed" ReLU of the deconvnet).
    """

    __slots__ = ("guided", "deconv")

    def __init__(self, guided: bool = True, *, deconv: bool = False) -> None:
        self.guided = guided
        self.deconv = deconv


class _RuledReLU(torch.autograd.Function):
    """ReLU whose backward follows a :class:`ReluRule`; ``inplace`` mirrors ``relu_``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: ReluRule, inplace: bool) -> torch.Tensor:
        if inplace:
            ctx.mark_dirty(x)
            out = torch.relu_(x)
        else:
            out = torch.relu(x)
        ctx.save_for_backward(out)  # like the built-in ReLU: the mask is where the output is > 0
        ctx.rule = rule
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (out,) = ctx.saved_tensors
        if ctx.rule.deconv:
            return torch.relu(grad), None, None
        grad_in = torch.ops.aten.threshold_backward(grad, out, 0)  # the built-in ReLU backward
        if ctx.rule.guided:
            grad_in.clamp_(min=0)
        return grad_in, None, None


_F_RELU = torch.nn.functional.relu
_RELU, _TENSOR_RELU = torch.relu, torch.Tensor.relu
_RELU_, _TENSOR_RELU_ = torch.relu_, torch.Tensor.relu_  # torch.nn.functional.relu_ is torch.relu_


class _ReluOverrideMode(torch.overrides.TorchFunctionMode):
    """Routes every ReLU call made while the mode is active through :class:`_RuledReLU`.

    Catches ``nn.ReLU`` (which calls ``F.relu``), ``F.relu(x, inplace=...)``, ``F.relu_``,
    ``torch.relu``, ``torch.relu_``, ``Tensor.relu`` and ``Tensor.relu_``. Torch-function modes
    live on a thread-local stack, so other threads and code outside the ``with`` block are not
    affected; nothing in ``torch`` is patched.
    """

    def __init__(self, rule: ReluRule) -> None:
        super().__init__()
        self.rule = rule

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is _F_RELU:
            x = args[0] if args else kwargs["input"]
            inplace = bool(args[1]) if len(args) > 1 else bool(kwargs.get("inplace", False))
        elif func is _RELU or func is _TENSOR_RELU:
            x, inplace = (args[0] if args else kwargs["input"]), False
        elif func is _RELU_ or func is _TENSOR_RELU_:
            x, inplace = (args[0] if args else kwargs["input"]), True
        else:
            return func(*args, **kwargs)
        if not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad):
            return func(*args, **kwargs)
        return _RuledReLU.apply(x, self.rule, inplace)


@contextmanager
def relu_gradient(rule: ReluRule) -> Iterator[ReluRule]:
    """Give every ReLU that runs inside the block the backward rule ``rule``.

    Works for ReLU modules (also ``inplace=True`` and one module reused in several places) and
    for functional calls in ``forward`` (``F.relu``, ``torch.relu``, ``x.relu_()`` ...), without
    swapping modules and without patching ``torch``. Graphs recorded inside the block keep the
    rule; backward may run after the block ends. TorchScript modules are not intercepted
    (check with :func:`reject_scripted`).
    """
    with _ReluOverrideMode(rule):
        yield rule


def reject_scripted(model: nn.Module, method: str) -> None:
    """Raise a clear error for TorchScript modules, whose ReLU calls a mode cannot see."""
    from .errors import InputError

    if any(isinstance(m, torch.jit.ScriptModule) for m in model.modules()):
        raise InputError(f"{method} cannot see the ReLUs inside a TorchScript model; pass the eager nn.Module")


@contextmanager
def layer_output(module: nn.Module, *, stop_gradient: bool) -> Iterator[list[torch.Tensor]]:
    """Record the output of ``module`` on each forward pass, ready to be differentiated.

    The rest of the network receives a clone of the output, so an in-place operation after the
    layer (``nn.ReLU(inplace=True)``) cannot overwrite the recorded activation.

    Args:
        module: the layer.
        stop_gradient: record a detached copy that requires grad, so that a backward pass from
            the output stops at this layer (Grad-CAM needs nothing below it). Otherwise record
            the output itself, and gradients keep flowing to the layers below.

    Returns:
        A list that fills with one recorded output per call of the layer (non-tensor outputs are
        recorded as they are and passed on unchanged).
    """
    recorded: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> object:
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            recorded.append(output)  # type: ignore[arg-type]
            return None
        if stop_gradient or not output.requires_grad:
            output = output.detach().requires_grad_(True)
        recorded.append(output)
        return output.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield recorded
    finally:
        handle.remove()


@contextmanager
def activation_size(model: nn.Module) -> Iterator[list[int]]:
    """Count the elements that the model's leaf modules output inside the block.

    Returns:
        A one-element list holding the running total, used to size batches of copies.
    """
    total = [0]

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            total[0] += output.numel()
        elif isinstance(output, (tuple, list)):
            total[0] += sum(t.numel() for t in output if isinstance(t, torch.Tensor))

    handles = []
    try:
        for module in model.modules():
            if next(module.children(), None) is None:
                handles.append(module.register_forward_hook(hook))
        yield total
    finally:
        for handle in handles:
            handle.remove()
