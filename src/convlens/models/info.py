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
        last_conv: ``named_modules()`` name of the default layer of CAM methods (the last
            feature map); empty when a probe forward pass should find it.
        options: the keyword arguments that rebuild the architecture (``batchnorm`` ...).
        weights: where the weights came from: ``"random"`` (untrained), ``"published"``
            (downloaded pretrained weights) or ``"checkpoint PATH"``.
    """

    name: str
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    last_conv: str
    options: dict[str, object] = field(default_factory=dict)
    weights: str = "random"

    @property
    def trained(self) -> bool:
        """Whether the weights were trained (published or from a checkpoint), not random."""
        return self.weights != "random"

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
    """The default CAM layer recorded in the model's :class:`ModelInfo` (None if none is recorded).

    Models without a record get theirs from a probe forward pass
    (:func:`convlens._probe.default_cam_layer`), never from registration order.
    """
    info = get_info(model)
    return info.last_conv if info is not None and info.last_conv else None
