"""``Linear``: a fully connected layer written as one matrix product, twin of ``torch.nn.Linear``."""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from ..errors import InputError
from .functional import linear


class Linear(nn.Module):
    """``y = x Wᵀ + b``, drop-in and ``state_dict``-compatible with ``torch.nn.Linear``.

    The parameters are named ``weight`` and ``bias`` with the same shapes as in
    ``torch.nn.Linear``, so ``load_state_dict`` works in both directions, and they are
    initialised the same way (for the same random seed, the same values).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.
        device: where to create the parameters.
        dtype: parameter dtype (default: torch's default float dtype).

    Shape:
        input ``(*, in_features)``; output ``(*, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty((out_features, in_features), device=device, dtype=dtype))
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights (a=√5) and a uniform bias in ±1/√fan_in, as ``torch.nn.Linear``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    @classmethod
    def from_torch(cls, module: nn.Linear) -> Linear:
        """A ``Linear`` that shares ``module``'s parameter tensors (no copy; wrap in ``deepcopy`` to copy).

        Args:
            module: a ``torch.nn.Linear``.

        Returns:
            The twin layer, in the same training mode, on the same device, with the same dtype.
        """
        twin = cls(module.in_features, module.out_features, bias=module.bias is not None, device="meta")
        twin.weight = cast(nn.Parameter, module.weight)
        twin.bias = cast("nn.Parameter | None", module.bias)
        twin.train(module.training)
        return twin

    def to_torch(self) -> nn.Linear:
        """A ``torch.nn.Linear`` that shares this layer's parameter tensors."""
        twin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, device="meta")
        twin.weight = self.weight
        if self.bias is None:
            twin.register_parameter("bias", None)
        else:
            twin.bias = self.bias
        twin.train(self.training)
        return twin
