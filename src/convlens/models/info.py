"""What a model expects: input size, normalization, class names, default Grad-CAM layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

INFO_ATTR = "convlens_info"


@dataclass(frozen=True)
class ModelInfo:
    """Metadata that travels with a model built by :func:`convlens.models.create_model`.

    Attributes:
        name: the registry name (``"mnist-cnn"``).
        input_size: ``(C, H, W)`` the model was designed for.
        mean: per-channel mean of its ``Normalize`` front (informational; it is in the model).
        std: per-channel standard deviation.
        class_names: one name per output class.
        last_conv: ``named_modules()`` name of the last convolutional layer.
        options: the keyword arguments that rebuild the architecture (``batchnorm`` ...).
    """

    name: str
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    last_conv: str
    options: dict[str, object] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def attach_info(model: nn.Module, info: ModelInfo) -> nn.Module:
    """Store ``info`` on the model (a plain attribute, not part of the state_dict)."""
    object.__setattr__(model, INFO_ATTR, info)
    return model


def get_info(model: nn.Module) -> ModelInfo | None:
    """The model's :class:`ModelInfo`, or ``None`` for a model convlens did not build."""
    info = getattr(model, INFO_ATTR, None)
    return info if isinstance(info, ModelInfo) else None


def last_conv_name(model: nn.Module) -> str | None:
    """Name of the last ``nn.Conv2d`` in ``named_modules()`` order (None if there is none).

    Uses the recorded :class:`ModelInfo` when present; otherwise scans the model, so that any
    ``nn.Module`` gets a sensible Grad-CAM default.
    """
    info = get_info(model)
    if info is not None and info.last_conv:
        return info.last_conv
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) or type(module).__name__ == "Conv2d":
            last = name
    return last
