"""The model-safety check every capability's tests use: the caller's model and input come back as given.

Parameters bit-identical (values and in-place versions), buffers, every module's ``training``
flag, ``requires_grad``, ``.grad`` (the same tensor, same values), registered hooks, and the
input tensor; no torch-function mode left active. ``Bomb`` makes a model fail mid-call, to check
the same on error.
"""

from __future__ import annotations

import torch
from torch import nn

HOOK_DICTS = (
    "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
    "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks", "_load_state_dict_pre_hooks",
)  # fmt: skip


class Bomb(nn.Module):
    """Identity that raises once it has been called more than ``after`` times (None: never)."""

    def __init__(self) -> None:
        super().__init__()
        self.after: int | None = None
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            raise RuntimeError("boom")
        return x


def snapshot(model: nn.Module, x: torch.Tensor | None = None) -> dict[str, object]:
    """Everything :func:`assert_unchanged` compares, taken before the call."""
    modules = dict(model.named_modules())
    return {
        "params": {
            n: (p.detach().clone(), p._version, p.requires_grad, p.grad, None if p.grad is None else p.grad.clone())
            for n, p in model.named_parameters()
        },
        "buffers": {n: (b.clone(), b._version) for n, b in model.named_buffers()},
        "training": {n: m.training for n, m in modules.items()},
        "hooks": {n: {d: list(getattr(m, d, {}).items()) for d in HOOK_DICTS} for n, m in modules.items()},
        "x": None if x is None else (x.clone(), x._version, x.requires_grad, x.grad),
    }


def assert_unchanged(before: dict, model: nn.Module, x: torch.Tensor | None = None) -> None:
    """Fail with the name of whatever changed since :func:`snapshot`."""
    after = snapshot(model, x)
    for name, (value, version, flag, grad, grad_value) in before["params"].items():
        now = after["params"][name]
        assert torch.equal(now[0], value) and now[1] == version, f"parameter {name} changed"
        assert now[2] == flag, f"requires_grad of {name} changed"
        assert now[3] is grad, f".grad of {name} replaced"
        if grad is not None:
            assert torch.equal(now[4], grad_value), f".grad of {name} changed"
    for name, (value, version) in before["buffers"].items():
        assert torch.equal(after["buffers"][name][0], value) and after["buffers"][name][1] == version, name
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    if x is not None:
        value, version, flag, grad = before["x"]
        assert torch.equal(x, value) and x._version == version and x.requires_grad == flag and x.grad is grad
    assert not torch._C._is_torch_function_mode_enabled()
