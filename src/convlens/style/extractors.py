"""Feature extractors for style transfer: VGG-16/19 and SqueezeNet 1.1 with their published
ImageNet weights, and a random-weight multi-scale network that needs no download.

An :class:`Extractor` is a plain ``nn.Sequential`` whose children carry the conventional layer
names (``relu4_2``, ``fire3``, ...), the normalization it expects and its default layers.
:class:`LayerTap` runs it, truncated after the last layer that is used, and returns the
features of the chosen layers from ONE forward pass.

Published weights are downloaded with ``torch.hub.load_state_dict_from_url`` and their SHA-256
checked against the hash in the file name, the path every convlens model uses. Without them
(no network, nothing cached), ``"random"`` is the fallback: random convolutional features carry
texture and style surprisingly well (Ustyuzhaninov, Brendel, Gatys and Bethge 2017, "What does
it take to generate natural textures?"; He, Wang and Hopcroft 2016, "A powerful generative model
using random weights for the deep image representation").
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data.transforms import Normalize
from ..errors import InputError, UnknownNameError
from ..registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's published ImageNet weights; the hex part of the file name is the SHA-256 prefix
VGG_URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
_VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_VGG_WIDTHS = (64, 128, 256, 512, 512)
_SQUEEZE_NAMES = ("conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
                  "fire6", "fire7", "fire8", "fire9")  # fmt: skip
RANDOM_SEED = 1  # the random extractor is the same network on every machine
RANDOM_WIDTHS = (32, 64, 128, 128)


@dataclass(frozen=True)
class Extractor:
    """A feature network for style transfer and what it is good at.

    Attributes:
        name: registry name (``"vgg19"``, ``"squeezenet1_1"``, ``"random"``) or ``"custom"``.
        layers: the network as an ``nn.Sequential`` of named children, taking normalized images.
        mean: per-channel mean subtracted from [0,1] images before ``layers``.
        std: per-channel standard deviation.
        content_layer: default content layer.
        style_layers: default style layers.
        style_weights: default weight of each style layer (aligned with ``style_layers``).
        weights: ``"published"`` (downloaded ImageNet weights), ``"random"`` or ``"given"``.
    """

    name: str
    layers: nn.Sequential
    mean: tuple[float, ...]
    std: tuple[float, ...]
    content_layer: str
    style_layers: tuple[str, ...]
    style_weights: tuple[float, ...]
    weights: str

    @property
    def label(self) -> str:
        """How to name the extractor in output: ``"vgg19 (published ImageNet weights)"``."""
        words = {
            "published": "published ImageNet weights",
            "random": "random weights, offline",
            "given": "your weights",
        }
        return f"{self.name} ({words.get(self.weights, self.weights)})"

    @property
    def layer_names(self) -> list[str]:
        """Names of the layers, in order."""
        return [name for name, _ in self.layers.named_children()]


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered extractor: how to build it and where its published weights are.

    Attributes:
        name: the registry name.
        summary: one line for ``--help`` and reports.
        paper: the paper of the architecture.
        build: ``build(weights_url, model_dir, progress)`` → :class:`Extractor`.
        weights_url: the published weight file (``None`` for the random network).
    """

    name: str
    summary: str
    paper: str
    build: Callable[..., Extractor] = field(repr=False)
    weights_url: str | None = None


EXTRACTORS: Registry[ExtractorSpec] = Registry("style extractor")


# --------------------------------------------------------------------------- architectures


def _vgg_layers(arch: str) -> nn.Sequential:
    """VGG convolutional layers named ``conv1_1``, ``relu1_1``, ..., ``pool5`` (torchvision's order)."""
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for block, (repeats, width) in enumerate(zip(_VGG_BLOCKS[arch], _VGG_WIDTHS, strict=False), start=1):
        for k in range(1, repeats + 1):
            modules[f"conv{block}_{k}"] = nn.Conv2d(channels, width, kernel_size=3, padding=1)
            modules[f"relu{block}_{k}"] = nn.ReLU(inplace=True)
            channels = width
        modules[f"pool{block}"] = nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.Sequential(modules)


def _squeezenet_layers() -> nn.Sequential:
    """SqueezeNet 1.1's feature layers named after the paper (``conv1``, ``fire2`` ... ``fire9``)."""
    from ..models.squeezenet import _features

    return nn.Sequential(OrderedDict(zip(_SQUEEZE_NAMES, _features("1_1").children(), strict=False)))


def random_layers(seed: int = RANDOM_SEED) -> nn.Sequential:
    """The random-weight multi-scale network: 3×3 convolutions at full, 1/2, 1/4 and 1/8 resolution.

    Average pooling between the four stages builds an image pyramid, so the style layers
    ``relu1`` ... ``relu4`` describe patterns from 3 to about 45 pixels across. Filters are drawn
    from N(0, 2/fan_in) and biases from U(-0.25, 0.25) with a fixed seed, so the network is the same
    on every machine and its ReLUs cut at varied thresholds.

    Shape:
        input ``(B, 3, H, W)`` (normalized); ``reluK`` outputs ``(B, w_K, H/2^(K-1), W/2^(K-1))``
        with ``w = (32, 64, 128, 128)``.
    """
    gen = torch.Generator().manual_seed(seed)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for stage, width in enumerate(RANDOM_WIDTHS, start=1):
        if stage > 1:
            modules[f"pool{stage - 1}"] = nn.AvgPool2d(kernel_size=2, stride=2)
        conv = nn.Conv2d(channels, width, kernel_size=3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / (channels * 9)))
            conv.bias.copy_((torch.rand(width, generator=gen) - 0.5) * 0.5)  # type: ignore[union-attr]
        modules[f"conv{stage}"] = conv
        modules[f"relu{stage}"] = nn.ReLU(inplace=True)
        channels = width
    return nn.Sequential(modules)


# --------------------------------------------------------------------------- weights


def _load_published(layers: nn.Sequential, url: str, model_dir: str | Path | None, progress: bool) -> None:
    """Load torchvision's ``features.N.*`` weights into the named layers (checksum verified).

    Raises:
        DownloadError: no network, or the file failed its checksum.
        DataFileError: the file is not a weight file of this architecture.
    """
    from ..errors import DataFileError
    from ..models.registry import _download_state_dict

    state = _download_state_dict(url, model_dir, progress)
    names = [name for name, _ in layers.named_children()]
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "features" or not parts[1].isdigit():
            continue  # the classifier is not needed
        index = int(parts[1])
        if index >= len(names):
            raise DataFileError(f"{url} has layer features.{index} but the network has {len(names)} layers")
        mapped[".".join([names[index], *parts[2:]])] = value
    try:
        layers.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise DataFileError(f"{url} does not hold weights of this network ({first})") from None


def cached_weights(url: str, model_dir: str | Path | None = None) -> Path | None:
    """The weight file of ``url`` in torch hub's cache, or ``None`` when it was never downloaded."""
    folder = Path(model_dir) if model_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / Path(url).name
    return path if path.is_file() else None


# --------------------------------------------------------------------------- registry


def _build_vgg(arch: str) -> Callable[..., Extractor]:
    def build(weights_url: str | None = None, model_dir: str | Path | None = None, progress: bool = True) -> Extractor:
        layers = _vgg_layers(arch)
        _load_published(layers, weights_url or VGG_URLS[arch], model_dir, progress)
        style = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
        return Extractor(arch, layers, IMAGENET_MEAN, IMAGENET_STD, "relu4_2", style, (1.0,) * 5, "published")

    return build


def _build_squeezenet(
    weights_url: str | None = None, model_dir: str | Path | None = None, progress: bool = True
) -> Extractor:
    from ..models.squeezenet import WEIGHT_URLS

    layers = _squeezenet_layers()
    _load_published(layers, weights_url or WEIGHT_URLS["1_1"], model_dir, progress)
    style = ("relu1", "fire3", "fire5", "fire6", "fire7")
    return Extractor("squeezenet1_1", layers, IMAGENET_MEAN, IMAGENET_STD, "fire4", style, (1.0,) * 5, "published")


def _build_random(
    weights_url: str | None = None, model_dir: str | Path | None = None, progress: bool = True
) -> Extractor:
    style = ("relu1", "relu2", "relu3", "relu4")
    return Extractor(
        "random", random_layers(), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "relu2", style, (1.0,) * 4, "random"
    )


def _register() -> None:
    from ..models.squeezenet import WEIGHT_URLS

    EXTRACTORS.add("random", ExtractorSpec(
        "random", "random-weight multi-scale CNN (3x3 filters on a 4-level pyramid); offline, no download",
        "Ustyuzhaninov et al. 2017; He et al. 2016", _build_random,
    ))  # fmt: skip
    EXTRACTORS.add("squeezenet1_1", ExtractorSpec(
        "squeezenet1_1", "SqueezeNet 1.1 with published ImageNet weights (5 MB download); fast on CPU",
        "Iandola et al. 2016", _build_squeezenet, WEIGHT_URLS["1_1"],
    ))  # fmt: skip
    for arch in ("vgg16", "vgg19"):
        EXTRACTORS.add(arch, ExtractorSpec(
            arch, f"{arch.upper()} with published ImageNet weights (the classic; ~550 MB download)",
            "Simonyan and Zisserman 2015", _build_vgg(arch), VGG_URLS[arch],
        ))  # fmt: skip


_register()
AUTO = "auto"


def list_extractors() -> list[str]:
    """Names accepted by :func:`get_extractor` (besides ``"auto"``)."""
    return EXTRACTORS.names()


def get_extractor(
    name: str = AUTO,
    *,
    download: bool = True,
    weights_url: str | None = None,
    model_dir: str | Path | None = None,
    progress: bool = True,
) -> Extractor:
    """Build a registered extractor.

    Args:
        name: ``"auto"``, ``"random"``, ``"squeezenet1_1"``, ``"vgg16"`` or ``"vgg19"``. ``"auto"``
            takes SqueezeNet 1.1 when its published weights are already in torch hub's cache (it
            never downloads) and the random network otherwise.
        download: for a published network, allow downloading its weights; without it an
            uncached file is an error.
        weights_url: another address of the same weight file (``file://`` works, for mirrors).
        model_dir: the weight cache (default: torch hub's).
        progress: show a download progress bar.

    Returns:
        A fresh :class:`Extractor` (nothing shared between calls).

    Raises:
        UnknownNameError: no such extractor.
        DownloadError: the weights cannot be downloaded or fail their checksum.
    """
    if name == AUTO:
        spec = EXTRACTORS.get("squeezenet1_1")
        assert spec.weights_url is not None
        if cached_weights(weights_url or spec.weights_url, model_dir) is not None:
            return spec.build(weights_url, model_dir, progress)
        return EXTRACTORS.get("random").build()
    if name not in EXTRACTORS:
        raise UnknownNameError(f"unknown style extractor {name!r}; choose from: auto, {', '.join(EXTRACTORS.names())}")
    spec = EXTRACTORS.get(name)
    if spec.weights_url is not None and not download:
        if cached_weights(weights_url or spec.weights_url, model_dir) is None:
            raise InputError(
                f"{name} needs its published weights, which are not cached; allow the download or use 'random'"
            )
    return spec.build(weights_url, model_dir, progress)


def custom_extractor(
    layers: nn.Sequential,
    content_layer: str,
    style_layers: Sequence[str],
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Extractor:
    """Wrap your own ``nn.Sequential`` of named children (its modules are used as they are, never changed).

    Args:
        layers: the network; children names are the layer names (``"0"``, ``"1"`` ... for a plain list).
        content_layer: its content layer.
        style_layers: its style layers.
        mean: per-channel mean subtracted from [0,1] images.
        std: per-channel standard deviation.
    """
    if not isinstance(layers, nn.Sequential):
        raise InputError(f"a custom extractor must be an nn.Sequential of layers, got {type(layers).__name__}")
    return Extractor(
        "custom", layers, tuple(mean), tuple(std), content_layer, tuple(style_layers), (1.0,) * len(style_layers),
        "given",
    )  # fmt: skip


# --------------------------------------------------------------------------- running


def _check_layers(extractor: Extractor, wanted: Sequence[str]) -> None:
    from ..registry import suggest

    names = extractor.layer_names
    for layer in wanted:
        if layer not in names:
            raise UnknownNameError(f"{extractor.name} has no layer {layer!r}; {suggest(layer, names)}")


class LayerTap(nn.Module):
    """Runs an extractor up to its last wanted layer and returns the wanted layers' outputs.

    The network is sliced, not copied: the same modules run, none is changed. A wanted output
    that the next layer would overwrite in place (an ``inplace`` ReLU) is cloned first.

    Args:
        extractor: the network.
        wanted: layer names, in any order (repeats allowed).

    Shape:
        input ``(B, 3, H, W)`` in [0,1]; output a list of ``(B, C_l, H_l, W_l)``, aligned with ``wanted``.
    """

    def __init__(self, extractor: Extractor, wanted: Sequence[str]) -> None:
        super().__init__()
        _check_layers(extractor, wanted)
        names = extractor.layer_names
        last = max(names.index(w) for w in wanted)
        self.net = extractor.layers[: last + 1]
        # the front lives where the network's weights live (a tap of a CUDA extractor runs on CUDA)
        self.normalize = Normalize(extractor.mean, extractor.std).to(next(extractor.layers.parameters()).device)
        self.wanted = list(wanted)
        children = list(self.net.children())
        self._keep = {name: i for i, name in enumerate(names[: last + 1]) if name in set(wanted)}
        self._clone = {
            name
            for name, i in self._keep.items()
            if i + 1 < len(children) and getattr(children[i + 1], "inplace", False)
        }

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        out = self.normalize(x)
        for name, layer in self.net.named_children():
            out = layer(out)
            if name in self._keep:
                found[name] = out.clone() if name in self._clone else out
        return [found[w] for w in self.wanted]


__all__ = [
    "AUTO", "EXTRACTORS", "Extractor", "ExtractorSpec", "LayerTap", "cached_weights", "custom_extractor",
    "get_extractor", "list_extractors", "random_layers",
]  # fmt: skip
