"""Sanity checks of attribution maps (Adebayo et al. 2018): randomize the model, see if the maps notice.

Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim 2018, "Sanity Checks for Saliency Maps":
a map that barely changes when the model's weights are replaced by random ones (model
parameter randomization) or when the model is trained on random labels (data randomization)
cannot be explaining what the model learnt. All randomization happens on a copy: the caller's
model is never modified.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import Target, check_images, model_device
from .._hooks import eval_mode
from .._outputs import OutputSpec
from .._probe import trace
from .._runner import outside_inference_mode, prepare_input
from ..errors import InputError
from ..registry import MethodSpec
from ._common import class_targets, compute_maps, method_specs
from .similarity import METRICS, map_similarity

MODES = ("cascading", "independent")
Progress = Callable[[str], None]


def randomizable_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules that own parameters, in the order they first run in a forward pass.

    Shape:
        ``x``: (B,C,H,W) images on the model's device (one is enough).
    """
    calls, _ = trace(model, x[:1])
    names: list[str] = []
    for call in calls:
        if call.name not in names and any(True for _ in call.module.parameters(recurse=False)):
            names.append(call.name)
    return names


def reinitialize(module: nn.Module) -> None:
    """Give one module fresh random parameters, as at construction.

    ``reset_parameters()`` where the module has it (convolutions, linear layers, norms); else
    every own parameter is drawn from a normal distribution with its current mean and standard
    deviation.
    """
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 else 1.0
            p.normal_(float(p.mean()), std or 1.0)


@contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """A block where torch's generators are seeded with ``seed`` and restored afterwards.

    ``None`` leaves the global generators alone (they advance as usual).
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def _copy_for_randomizing(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (the caller's model is never touched), in eval mode."""
    twin = copy.deepcopy(model)
    twin.eval()
    return twin


@dataclass(frozen=True)
class RandomizationResult:
    """Maps of each method at each randomization stage, and their similarity to the original maps.

    Attributes:
        images: the images, (B,C,H,W).
        target: the class explained at every stage (the original model's), (B,).
        mode: ``"cascading"`` or ``"independent"``.
        stages: stage labels; ``stages[0] == "original"``, then one per randomized layer (for
            cascading: every layer from the output down to this one is random).
        layers: the randomized layer of each stage after the first, in the same order.
        maps: method → its maps at every stage, (S, B, ...) with S = ``len(stages)``.
        similarity: method → metric → similarity of each stage's maps to the original ones,
            (S, B); metrics are those of :func:`convlens.trust.similarity.map_similarity`.
    """

    images: torch.Tensor
    target: torch.Tensor
    mode: str
    stages: tuple[str, ...]
    layers: tuple[str, ...]
    maps: dict[str, torch.Tensor]
    similarity: dict[str, dict[str, torch.Tensor]]

    def mean_similarity(self, method: str, metric: str = "spearman_abs") -> torch.Tensor:
        """The similarity averaged over images (images with a constant map left out), (S,)."""
        return self.similarity[method][metric].nanmean(dim=1)

    def table(self) -> list[tuple[object, ...]]:
        """The similarity table: one row per method and stage, ``(method, stage, *means of METRICS)``."""
        means = {n: {m: self.mean_similarity(n, m).tolist() for m in METRICS} for n in self.maps}
        return [
            (name, stage, *(means[name][m][k] for m in METRICS))
            for name in self.maps
            for k, stage in enumerate(self.stages)
        ]


def _similarities(maps: dict[str, torch.Tensor], specs: Sequence[MethodSpec]) -> dict[str, dict[str, torch.Tensor]]:
    """Every stage of every method against stage 0, in one batched call per method.

    ``maps``: method → (S, B, C, H, W), or (S, B, rows, cols) for a grid method.
    """
    out = {}
    for spec in specs:
        stack = maps[spec.name]
        if spec.output == "grid":
            stack = stack[:, :, None]
        out[spec.name] = map_similarity(stack, stack[:1])
    return out


@outside_inference_mode
def randomization_test(
    model: nn.Module,
    x: torch.Tensor,
    methods: str | Sequence[str] | None = None,
    *,
    mode: str = "cascading",
    target: Target = None,
    seed: int | None = None,
    layers: Sequence[str] | None = None,
    output: OutputSpec = None,
    progress: Progress | None = None,
    **options: object,
) -> RandomizationResult:
    """Model parameter randomization test (Adebayo et al. 2018, section 3.1).

    On a copy of the model, the layers with parameters are re-initialized from the output down
    (``"cascading"``: after stage k the top k layers are all random) or one at a time, the rest
    keeping their trained weights (``"independent"``). At every stage every method explains
    the same images for the same classes (the original model's), all images in one batch per
    method, and the maps are compared with the original ones, for all stages and images at
    once: Spearman rank correlation of the maps and of their absolute values, SSIM and HOG
    similarity (:func:`convlens.trust.similarity.map_similarity`). A method whose maps stay
    similar while the model turns random does not explain the model.

    Args:
        model: any classifier taking [0,1] images; never modified (randomization runs on a copy).
        x: images in [0,1].
        methods: registered attribution names, or None for all of them.
        mode: ``"cascading"`` or ``"independent"``.
        target: None (the original model's prediction), an int or one class per image.
        seed: seed of the random weights (None: torch's global generator, which then advances).
        layers: the layers to randomize, top to bottom order is taken from the forward pass;
            default every module with parameters.
        output: where the logits are in the model's output.
        progress: called with each stage's label before it runs (for progress bars).
        **options: method options, as for :func:`convlens.attribution.explain`.

    Returns:
        A :class:`RandomizationResult`.

    Shape:
        ``x``: (B,C,H,W).
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    check_images(x)
    specs = method_specs(methods)
    classes = class_targets(model, x, target, output)
    found = randomizable_layers(model, prepare_input(model, x))
    if layers is not None:
        unknown = [n for n in layers if n not in found]
        if unknown:
            raise InputError(f"cannot randomize {', '.join(unknown)}: layers with parameters are {', '.join(found)}")
        found = [n for n in found if n in set(layers)]
    if not found:
        raise InputError("the model has no layer with parameters to randomize")
    top_down = list(reversed(found))

    def explain_all(net: nn.Module) -> tuple[dict[str, torch.Tensor], str | None]:
        return compute_maps(net, x, specs, classes, output, options)

    if progress:
        progress("original")
    original, layer = explain_all(model)
    if layer is not None:
        options = {**options, "layer": layer}  # the same CAM layer at every stage
    stages: list[dict[str, torch.Tensor]] = [original]
    labels = ["original"]
    twin = _copy_for_randomizing(model)
    modules = dict(twin.named_modules())
    with seeded(seed, model_device(model)):
        for name in top_down:
            if progress:
                progress(name)
            saved = {k: v.clone() for k, v in modules[name].state_dict().items()}
            reinitialize(modules[name])
            stages.append(explain_all(twin)[0])
            labels.append(name if mode == "independent" else f"down to {name}")
            if mode == "independent":
                modules[name].load_state_dict(saved)
    maps = {s.name: torch.stack([stage[s.name] for stage in stages]) for s in specs}
    return RandomizationResult(
        x.detach().clone(), classes.to(x.device), mode, tuple(labels), tuple(top_down), maps, _similarities(maps, specs)
    )


@dataclass(frozen=True)
class DataRandomizationResult:
    """Maps of the real model beside those of the same architecture trained on permuted labels.

    Attributes:
        images: the images, (B,C,H,W).
        target: the class explained (the real model's prediction), (B,).
        maps: method → (2, B, ...): the real model's maps, then the random-label model's.
        similarity: method → metric → (B,) similarity of the two.
        train_accuracy: the random-label model's accuracy on its (permuted) training labels.
        test_accuracy: its accuracy on the real test labels (chance, if the labels were random).
        random_model: the random-label model (a new model; the caller's is untouched).
    """

    images: torch.Tensor
    target: torch.Tensor
    maps: dict[str, torch.Tensor]
    similarity: dict[str, dict[str, torch.Tensor]]
    train_accuracy: float
    test_accuracy: float
    random_model: nn.Module


@outside_inference_mode
def data_randomization_test(
    model: nn.Module,
    x: torch.Tensor,
    data: object,
    methods: str | Sequence[str] | None = None,
    *,
    config: object = None,
    target: Target = None,
    seed: int = 0,
    output: OutputSpec = None,
    progress: bool = False,
    **options: object,
) -> DataRandomizationResult:
    """Data randomization test (Adebayo et al. 2018, section 3.2).

    A copy of the model with fresh random weights is trained with :func:`convlens.train.fit`
    on the same images with their labels permuted (so there is nothing to learn but the
    images by heart), and every method's maps of ``x`` are compared with the real model's.
    Maps that look alike explain the images, not what the model learnt from the labels.

    Args:
        model: the trained classifier; never modified.
        x: images in [0,1] to explain.
        data: the training data: a :class:`convlens.data.dataset.Splits` (its train and
            validation labels are permuted) or one :class:`ImageDataset`.
        methods: registered attribution names, or None for all of them.
        config: a :class:`convlens.train.TrainConfig` for the random-label model (default:
            ``TrainConfig(epochs=5, seed=seed)``; memorizing random labels takes many epochs).
        target: None (the real model's prediction), an int or one class per image.
        seed: seed of the permutation, the fresh weights and the default training config.
        output: where the logits are in the model's output (the model must return plain
            logits to be trained by ``fit``).
        progress: show ``fit``'s progress bars.
        **options: method options, as for :func:`convlens.attribution.explain`.

    Returns:
        A :class:`DataRandomizationResult`.

    Shape:
        ``x``: (B,C,H,W).
    """
    from ..data.dataset import ImageDataset, Splits, train_val_test
    from ..train import TrainConfig, fit

    check_images(x)
    specs = method_specs(methods)
    cfg = config if config is not None else TrainConfig(epochs=5, seed=seed)
    if not isinstance(cfg, TrainConfig):
        raise InputError("config must be a convlens.train.TrainConfig")
    if isinstance(data, ImageDataset):
        data = train_val_test(data, seed=seed)
    if not isinstance(data, Splits):
        raise InputError("data must be a convlens.data.dataset.Splits or an ImageDataset")
    classes = class_targets(model, x, target, output)
    original, layer = compute_maps(model, x, specs, classes, output, options)
    if layer is not None:
        options = {**options, "layer": layer}
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)

    def permuted(part: ImageDataset) -> ImageDataset:
        return dataclasses.replace(part, labels=part.labels[torch.randperm(len(part.labels), generator=gen)])

    shuffled = Splits(permuted(data.train), permuted(data.val), data.test)
    twin = _copy_for_randomizing(model)
    with seeded(seed, device):
        for module in twin.modules():
            if any(True for _ in module.parameters(recurse=False)):
                reinitialize(module)
        result = fit(twin, shuffled, cfg, out=None, device=device, progress=progress)
    twin.eval()
    with eval_mode(twin):
        random_maps, _ = compute_maps(twin, x, specs, classes, output, options)
    train_acc = result.history[-1].train_accuracy if result.history else float("nan")
    maps = {s.name: torch.stack([original[s.name], random_maps[s.name]]) for s in specs}
    similarity = {n: {k: v[1] for k, v in d.items()} for n, d in _similarities(maps, specs).items()}
    return DataRandomizationResult(
        x.detach().clone(), classes.to(x.device), maps, similarity, float(train_acc), float(result.test.accuracy), twin
    )


__all__ = [
    "DataRandomizationResult", "METRICS", "MODES", "RandomizationResult", "data_randomization_test",
    "randomizable_layers", "randomization_test", "reinitialize",
]  # fmt: skip
