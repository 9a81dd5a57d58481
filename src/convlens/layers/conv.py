"""``Conv2d``: a 2-D convolution built from scratch, twin of ``torch.nn.Conv2d``."""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from ._geometry import (
    IntPair,
    Padding,
    check_config,
    check_implementation,
    check_padding,
    explicit_padding,
    pair,
)
from .functional import convolve


class Conv2d(nn.Module):
    """2-D convolution over images, drop-in and ``state_dict``-compatible with ``torch.nn.Conv2d``.

    Same arguments, same attribute and parameter names (``weight``, ``bias``), same shapes and
    the same initialisation as ``torch.nn.Conv2d``; no ``torch.nn`` convolution is used. Two
    implementations compute the same thing: ``"reference"`` follows the textbook sum (a loop
    over the kernel offsets only) and ``"fast"`` (default) gathers patches into a matrix and
    does one matrix product per block of images. Switch with the ``implementation`` attribute.

    Args:
        in_channels: channels of the input.
        out_channels: channels (filters) of the output.
        kernel_size: an int or ``(kh, kw)``.
        stride: an int or ``(sh, sw)``.
        padding: an int, ``(ph, pw)``, ``"valid"`` (none) or ``"same"`` (output size = input
            size; stride 1 only).
        dilation: spacing between kernel taps, an int or ``(dh, dw)``.
        groups: independent channel groups; both channel counts must be divisible by it.
        bias: learn one additive bias per output channel.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        implementation: ``"fast"`` or ``"reference"``.
        device: where to create the parameters.
        dtype: parameter dtype (default: torch's default float dtype).

    Shape:
        input ``(B, C_in, H, W)`` or ``(C_in, H, W)``; output ``(B, C_out, Ho, Wo)`` (or
        ``(C_out, Ho, Wo)``) with ``Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1`` and likewise ``Wo``.
        The output is contiguous in the standard (NCHW) layout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: Padding = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        implementation: str = "fast",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", minimum=1)
        self.stride = pair(stride, "stride", minimum=1)
        self.padding = check_padding(padding)
        self.dilation = pair(dilation, "dilation", minimum=1)
        check_config(in_channels, out_channels, groups, self.padding, self.stride, padding_mode)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.groups = groups
        self.padding_mode = padding_mode
        self.implementation = check_implementation(implementation)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights (a=√5) and a uniform bias in ±1/√fan_in, as ``torch.nn.Conv2d``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = explicit_padding(self.padding, self.kernel_size, self.dilation)
        return convolve(x, self.weight, self.bias, self.stride, pads, self.dilation, self.groups,
                        self.padding_mode, self.implementation)  # fmt: skip

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        if self.implementation != "fast":
            text += f", implementation={self.implementation}"
        return text

    @classmethod
    def from_torch(cls, module: nn.Conv2d, implementation: str = "fast") -> Conv2d:
        """A ``Conv2d`` that shares ``module``'s parameter tensors (no copy; wrap in ``deepcopy`` to copy).

        Args:
            module: a ``torch.nn.Conv2d``.
            implementation: ``"fast"`` or ``"reference"``.

        Returns:
            The twin layer, in the same training mode, on the same device, with the same dtype.
        """
        twin = cls(
            module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
            module.dilation, module.groups, module.bias is not None, module.padding_mode,
            implementation=implementation, device="meta",
        )  # fmt: skip
        twin.weight = cast(nn.Parameter, module.weight)
        twin.bias = cast("nn.Parameter | None", module.bias)
        twin.train(module.training)
        return twin

    def to_torch(self) -> nn.Conv2d:
        """A ``torch.nn.Conv2d`` that shares this layer's parameter tensors."""
        twin = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation,
            self.groups, self.bias is not None, self.padding_mode, device="meta",  # type: ignore[arg-type]
        )  # fmt: skip
        twin.weight = self.weight
        twin.bias = self.bias
        twin.train(self.training)
        return twin
