"""Layer-by-layer summary: shapes, parameters, neurons and multiply-adds."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._checks import model_device
from .._hooks import eval_mode
from ..errors import InputError


@dataclass(frozen=True)
class LayerRow:
    """One call of one leaf module during a forward pass of a single image.

    Attributes:
        name: ``named_modules()`` name.
        type: class name (``"Conv2d"``).
        kind: ``"conv"``, ``"fc"`` or ``"other"``.
        input_shape: shape of the first input, batch dimension included (batch 1); the text
            table and CSV show it without the batch (:func:`format_shape`).
        output_shape: shape of the output, batch dimension included (shown without it).
        params: parameters owned by this module (counted once even if it is called twice).
        neurons: output units, for conv and fully connected layers (0 for others).
        mult_adds: multiply-accumulate operations for one image.
    """

    name: str
    type: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    neurons: int
    mult_adds: int


@dataclass(frozen=True)
class ModelSummary:
    """Totals and per-layer rows; see :func:`summary`."""

    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    conv_params: int
    fc_params: int
    other_params: int
    conv_neurons: int
    fc_neurons: int
    mult_adds: int
    input_size: tuple[int, ...]
    model_name: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def total_neurons(self) -> int:
        return self.conv_neurons + self.fc_neurons

    def totals(self) -> dict[str, int]:
        """The totals as a flat dict (parameters, neurons, multiply-adds)."""
        return {
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "conv_params": self.conv_params, "fc_params": self.fc_params,
            "other_params": self.other_params, "conv_neurons": self.conv_neurons,
            "fc_neurons": self.fc_neurons, "total_neurons": self.total_neurons,
            "mult_adds": self.mult_adds,
        }  # fmt: skip

    def table(self) -> str:
        """A fixed-width text table followed by the totals."""
        header = ("layer", "type", "input", "output", "params", "neurons", "mult-adds")
        lines = [header] + [
            (r.name, r.type, format_shape(r.input_shape), format_shape(r.output_shape), f"{r.params:,}",
             f"{r.neurons:,}" if r.neurons else "", f"{r.mult_adds:,}" if r.mult_adds else "")
            for r in self.rows
        ]  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        right = {4, 5, 6}
        fmt = lambda line: "  ".join(  # noqa: E731
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        rule = "-" * len(fmt(header))
        out = [f"{self.model_name}: input and output shapes per image, without the batch (C x H x W)"]
        out += [fmt(header), rule, *map(fmt, lines[1:]), rule]
        out += [
            f"parameters: {self.total_params:,} total = {self.conv_params:,} conv + {self.fc_params:,} "
            f"fully connected + {self.other_params:,} other ({self.trainable_params:,} trainable)",
            f"neurons:    {self.total_neurons:,} total = {self.conv_neurons:,} conv + "
            f"{self.fc_neurons:,} fully connected",
            f"mult-adds:  {self.mult_adds:,} per image of size {format_shape(self.input_size, batch=False)}",
        ]
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model_name, "input_size": list(self.input_size), **self.totals(),
                "layers": [asdict(r) for r in self.rows]}  # fmt: skip

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_csv(self, path: str | Path | None = None) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["name", "type", "kind", "input_shape", "output_shape", "params", "neurons", "mult_adds"])
        for r in self.rows:
            writer.writerow([r.name, r.type, r.kind, format_shape(r.input_shape), format_shape(r.output_shape),
                             r.params, r.neurons, r.mult_adds])  # fmt: skip
        if path is not None:
            Path(path).write_text(buf.getvalue(), encoding="utf-8")
        return buf.getvalue()


def format_shape(shape: Sequence[int], batch: bool = True) -> str:
    """``"1x28x28"``: a shape as the summary shows it everywhere, per image (without the batch).

    Args:
        shape: the shape; its first entry is the batch unless ``batch=False``.
        batch: whether ``shape`` starts with a batch dimension (dropped).
    """
    per_image = tuple(shape[1:]) if batch and len(shape) > 1 else tuple(shape)
    return "x".join(str(s) for s in per_image)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear) or type(module).__name__ == "Linear":
        return "fc"
    if isinstance(module, nn.modules.conv._ConvNd) or type(module).__name__.startswith("Conv"):
        return "conv"
    return "other"


def _mult_adds(module: nn.Module, kind: str, first: torch.Tensor | None, output: torch.Tensor) -> int:
    weight = getattr(module, "weight", None)
    if kind == "other" or not isinstance(weight, torch.Tensor):
        return 0
    if getattr(module, "transposed", False):  # ConvTranspose: every input value meets out/groups*k*k weights
        return 0 if first is None else int(first[0].numel()) * int(weight[0].numel())
    per_output = weight[0].numel()  # in_channels/groups * kernel area, or in_features
    return int(output[0].numel()) * int(per_output)


def summary(model: nn.Module, input_size: Sequence[int] | None = None) -> ModelSummary:
    """Count what is in a model by running one image through it.

    Args:
        model: any ``nn.Module`` taking ``(B, C, H, W)``; left exactly as it was.
        input_size: ``(C, H, W)``; default the size recorded for a convlens model.

    Returns:
        A :class:`ModelSummary` with one row per leaf-module call and the totals: parameters
        (conv, fully connected, other), neurons (output units of conv and fully connected
        layers) and multiply-adds, all for a single image.
    """
    from .info import get_info

    info = get_info(model)
    if input_size is None:
        if info is None:
            raise InputError("pass input_size=(C,H,W) for a model that convlens did not build")
        input_size = info.input_size
    input_size = tuple(int(s) for s in input_size)
    if len(input_size) != 3 or min(input_size) < 1:
        raise InputError(f"input_size must be (C,H,W) with positive sizes, got {input_size}")

    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    rows: list[LayerRow] = []
    seen: set[int] = set()

    def hook(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
        if not isinstance(output, torch.Tensor):
            return
        kind = _kind(module)
        params = 0 if id(module) in seen else sum(p.numel() for p in module.parameters(recurse=False))
        seen.add(id(module))
        neurons = int(output[0].numel()) if kind != "other" else 0
        rows.append(LayerRow(
            names[module], type(module).__name__, kind,
            tuple(first.shape) if first is not None else (), tuple(output.shape),
            params, neurons, _mult_adds(module, kind, first, output),
        ))  # fmt: skip

    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            try:
                model(torch.zeros(1, *input_size, device=model_device(model)))
            except RuntimeError as exc:
                raise InputError(
                    f"the model cannot run on input of size {input_size}: {str(exc).splitlines()[0]}"
                ) from None
    finally:
        for handle in handles:
            handle.remove()

    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    by_kind = {"conv": 0, "fc": 0}
    for m in leaves:
        kind = _kind(m)
        if kind in by_kind:
            by_kind[kind] += sum(p.numel() for p in m.parameters(recurse=False))
    return ModelSummary(
        rows=rows,
        total_params=total,
        trainable_params=sum(p.numel() for p in unique.values() if p.requires_grad),
        conv_params=by_kind["conv"],
        fc_params=by_kind["fc"],
        other_params=total - by_kind["conv"] - by_kind["fc"],
        conv_neurons=sum(r.neurons for r in rows if r.kind == "conv"),
        fc_neurons=sum(r.neurons for r in rows if r.kind == "fc"),
        mult_adds=sum(r.mult_adds for r in rows),
        input_size=input_size,
        model_name=info.name if info else type(model).__name__,
    )
