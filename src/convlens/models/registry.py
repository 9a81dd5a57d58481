"""Model registry: ``create_model`` and ``list_models``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..errors import DataFileError, DownloadError, InputError, UnknownNameError
from ..registry import Registry, suggest
from .info import ModelInfo, attach_info
from .simple import CIFAR_MEAN, CIFAR_STD, MNIST_MEAN, MNIST_STD, CifarCNN, MnistCNN
from .squeezenet import IMAGENET_MEAN, IMAGENET_STD, WEIGHT_URLS, SqueezeNet

MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, in the order of torchvision's model outputs."""
    text = resources.files("convlens.models").joinpath("imagenet_classes.txt").read_text("utf-8")
    return tuple(line for line in text.splitlines() if line)


@dataclass(frozen=True)
class ModelEntry:
    """How to build one registered architecture."""

    name: str
    build: Callable[[int, bool], nn.Module]  # (num_classes, batchnorm) -> model
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: Callable[[], tuple[str, ...]]
    last_conv: Callable[[bool], str]
    description: str
    weights_url: str | None = None
    supports_batchnorm: bool = False


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add an architecture to the registry (a name registered twice is an error)."""
    return MODELS.add(entry.name, entry)


register_model(ModelEntry(
    "mnist-cnn", lambda k, bn: MnistCNN(k, bn), (1, 28, 28), MNIST_MEAN, MNIST_STD,
    lambda: MNIST_CLASSES, lambda bn: "features.4" if bn else "features.3",
    "conv32-pool-conv32-pool-fc500-fc10 for 28x28 digits", supports_batchnorm=True,
))  # fmt: skip
register_model(ModelEntry(
    "cifar-cnn", lambda k, bn: CifarCNN(k, bn), (3, 32, 32), CIFAR_MEAN, CIFAR_STD,
    lambda: CIFAR10_CLASSES, lambda bn: "features.4" if bn else "features.3",
    "conv8-pool-conv16-pool-fc128-fc64-fc10 for 32x32 colour images", supports_batchnorm=True,
))  # fmt: skip


def _squeezenet(version: str, num_classes: int, batchnorm: bool) -> nn.Module:
    return SqueezeNet(version, num_classes)


for _version in ("1_0", "1_1"):
    register_model(ModelEntry(
        f"squeezenet{_version}", functools.partial(_squeezenet, _version), (3, 224, 224),
        IMAGENET_MEAN, IMAGENET_STD, imagenet_classes, lambda bn: "features.12",
        f"SqueezeNet {_version.replace('_', '.')} (Iandola et al. 2016), torchvision-compatible",
        weights_url=WEIGHT_URLS[_version],
    ))  # fmt: skip


def list_models() -> list[str]:
    """Names accepted by :func:`create_model` (plus ``torchvision.NAME``/``timm.NAME`` when installed)."""
    return MODELS.names()


def model_description(name: str) -> str:
    """One line describing a registered model."""
    return _entry(name).description


def _entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise UnknownNameError(
            f"unknown model {name!r}; {suggest(name, MODELS.names())}, "
            "or torchvision.NAME / timm.NAME when those packages are installed"
        )
    return MODELS.get(name)


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    batchnorm: bool = False,
    pretrained: bool = False,
    weights_url: str | None = None,
    model_dir: str | Path | None = None,
    progress: bool = True,
) -> nn.Module:
    """Build a registered model (randomly initialised, or with published weights).

    Args:
        name: a name from :func:`list_models`, or ``torchvision.NAME`` / ``timm.NAME``.
        num_classes: number of outputs; default the data set the model was designed for.
        batchnorm: add BatchNorm after each convolution (small CNNs only).
        pretrained: load the published weights: from torch hub's cache when the file is there
            (see :func:`cached_weights_path`; copy a downloaded file there to work offline),
            else downloaded (checksum verified).
        weights_url: override the download address (``file:///path/name-HASH.pth`` reads a local copy).
        model_dir: where downloaded weights are cached (default: torch hub's cache).
        progress: show a download progress bar.

    Returns:
        The model in eval mode on the CPU, with a :class:`ModelInfo` attached.
    """
    if name.startswith(("torchvision.", "timm.")):
        from .zoo import create_zoo_model

        return create_zoo_model(name, num_classes=num_classes, pretrained=pretrained)
    entry = _entry(name)
    if batchnorm and not entry.supports_batchnorm:
        raise InputError(f"{name} has no BatchNorm option; drop batchnorm=True")
    classes = entry.classes()
    if num_classes is not None:
        if num_classes < 1:
            raise InputError(f"num_classes must be positive, got {num_classes}")
        if pretrained and num_classes != len(classes):
            raise InputError(f"pretrained {name} has {len(classes)} classes; omit num_classes")
        if num_classes != len(classes):
            classes = tuple(str(i) for i in range(num_classes))
    model = entry.build(len(classes), batchnorm)
    if pretrained:
        url = weights_url or entry.weights_url
        if url is None:
            raise InputError(f"{name} has no published weights; train it with `convlens train {name}`")
        model.load_state_dict(_download_state_dict(url, model_dir, progress))
    model.eval()
    info = ModelInfo(
        name=name, input_size=entry.input_size, mean=entry.mean, std=entry.std,
        class_names=classes, last_conv=entry.last_conv(batchnorm),
        options={"batchnorm": batchnorm, "num_classes": len(classes)},
        weights="published" if pretrained else "random",
    )  # fmt: skip
    return attach_info(model, info)


def _download_state_dict(url: str, model_dir: str | Path | None, progress: bool) -> dict[str, torch.Tensor]:
    """Download (or take from the cache) a weight file and verify the hash in its name."""
    try:
        return torch.hub.load_state_dict_from_url(
            url, model_dir=None if model_dir is None else str(model_dir), map_location="cpu",
            progress=progress, check_hash=True, weights_only=True,
        )  # fmt: skip
    except RuntimeError as exc:
        if "hash" in str(exc).lower():
            raise DownloadError(f"weights from {url} failed the checksum; delete the cached file and retry") from None
        raise DataFileError(f"cannot read weights from {url}: {exc}") from None
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(
            f"cannot download {url} ({reason}); offline, download that file on another machine and place it at "
            f"{cached_weights_path(url, model_dir)} (torch hub's cache; TORCH_HOME moves it)"
        ) from None


def cached_weights_path(url: str, model_dir: str | Path | None = None) -> Path:
    """Where ``pretrained=True`` looks for the weight file of ``url`` before downloading it.

    Placing a downloaded copy there (file name unchanged) makes ``pretrained=True`` work offline.
    """
    from urllib.parse import urlparse

    folder = Path(model_dir) if model_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    return folder / Path(urlparse(url).path).name
