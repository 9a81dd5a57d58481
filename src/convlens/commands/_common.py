"""Options and helpers shared by the sub-commands: output folders, devices and model loading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import torch
from torch import nn

from ..errors import InputError

TRAIN_OUT = Path("runs/train")  # where `convlens train` writes by default; `explain` looks there

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def out_option(default: str) -> Decorator:
    """``--out DIR``: where the command writes (created if missing)."""
    return click.option(
        "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path(default),
        show_default=True, help="Folder to write results to (created if missing).",
    )  # fmt: skip


def device_option() -> Decorator:
    """``--device auto|cpu|cuda``."""
    return click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
        help="Where to compute (auto: the GPU when there is one).",
    )  # fmt: skip


def resolve_device(choice: str) -> torch.device:
    """The device for ``--device``; ``cuda`` without a usable GPU is a clear error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available here; use --device cpu")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def split_names(text: str, option: str) -> list[str]:
    """Comma-separated names of an option (``--methods saliency,grad-cam``); empty is an error."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"{option} is empty; give comma-separated names")
    return names


def prepare_out(out: Path) -> Path:
    """Create the output folder and return it."""
    out.mkdir(parents=True, exist_ok=True)
    return out


def wrote(path: Path, what: str = "") -> None:
    """Tell the user where a file went."""
    click.echo(f"wrote {what + ' ' if what else ''}{path}")


@dataclass(frozen=True)
class LoadedModel:
    """A model a command works on, and what the user should know about its weights.

    Attributes:
        model: the model in eval mode on the chosen device.
        label: how to name it in output (``"runs/train/checkpoint.pt"``, ``"squeezenet1_1 (random weights)"``).
        input_size: ``(C, H, W)`` it expects.
        class_names: its class names, when known.
        warning: non-empty when the weights are random, saying what to do instead.
    """

    model: nn.Module
    label: str
    input_size: tuple[int, int, int]
    class_names: tuple[str, ...] | None
    warning: str = ""


def load_cli_model(spec: str, *, pretrained: bool = False, device: str | torch.device = "cpu") -> LoadedModel:
    """The one way commands load a model: a registry name, a checkpoint file or a training folder.

    Args:
        spec: ``mnist-cnn``, ``runs/train/checkpoint.pt`` or ``runs/train``.
        pretrained: with a registry name, download the published weights.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a device.

    Returns:
        A :class:`LoadedModel`; ``warning`` says so when the weights are random.
    """
    from ..models import get_info, load_model
    from ..models.checkpoint import checkpoint_path

    target = device if isinstance(device, torch.device) else resolve_device(device)
    path = checkpoint_path(spec)
    if path is not None and pretrained:
        raise InputError("--pretrained applies to registry names, not to checkpoint files; drop it")
    model = load_model(spec, pretrained=pretrained)
    info = get_info(model)
    warning = ""
    if path is not None:
        label = str(path)
    elif pretrained:
        label = f"{spec} (published weights)"
    else:
        label = f"{spec} (random weights)"
        how = (
            "add --pretrained to download the published weights, or "
            if info is not None and info.name.startswith(("squeezenet", "torchvision.", "timm."))
            else ""
        )
        warning = (
            f"{spec} has RANDOM weights, so what it shows means little; {how}train it with `convlens train {spec}` "
            "and pass the checkpoint (or its folder)"
        )
    size = tuple(info.input_size) if info is not None else (3, 224, 224)
    names = tuple(info.class_names) if info is not None else None
    return LoadedModel(model.to(target).eval(), label, size, names, warning)  # type: ignore[arg-type]
