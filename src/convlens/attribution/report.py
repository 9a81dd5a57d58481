"""Attribution pictures for HTML pages: the demo report's "Explanations" section and ``convlens explain``.

Methods come from the registry (kind ``"attribution"``), never from a hand-kept list: a method
registered tomorrow shows up in the report and the CLI without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data.dataset import ImageDataset
from ..errors import InputError
from ..registry import MethodSpec, get_method, list_methods
from ..report.html import Section, image, paragraph, table
from ..viz.attribution import explanation_figure, occlusion_figure, pick_examples
from ..viz.figures import png_bytes

GRID_OUTPUT = "grid"

READING_GUIDE = (
    "How to read the pictures: saliency, Grad-CAM and SmoothGrad are magnitudes, laid over the "
    "digit (bright = the class score is sensitive here). Guided backprop, guided Grad-CAM, integrated "
    "gradients and occlusion are signed: red pixels are evidence for the explained class, blue "
    "pixels evidence against it, white is neutral. Each map is scaled on its own. The explained "
    "class is the model's prediction."
)


@dataclass(frozen=True)
class ExampleExplanations:
    """Explanations of images the model gets right and images it gets wrong.

    Attributes:
        correct: the :class:`Explanation` of the correctly classified images (``None`` if there are none).
        wrong: the :class:`Explanation` of the misclassified images (``None`` if there are none).
        correct_index: indices of ``correct``'s images in the data set, shape (<= n,).
        wrong_index: indices of ``wrong``'s images in the data set, shape (<= n,).
        correct_truth: true classes of ``correct``'s images.
        wrong_truth: true classes of ``wrong``'s images.
        accuracy: the model's accuracy on the whole data set, in [0,1].
    """

    correct: object | None
    wrong: object | None
    correct_index: torch.Tensor
    wrong_index: torch.Tensor
    correct_truth: torch.Tensor
    wrong_truth: torch.Tensor
    accuracy: float


def attribution_methods(names: Sequence[str] | None = None) -> list[MethodSpec]:
    """The registered attribution methods, or the named ones (an unknown name lists the valid ones)."""
    if names is None:
        return list_methods("attribution")
    specs: list[MethodSpec] = []
    for name in names:
        spec = get_method(name, "attribution")
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise InputError("no attribution method given; choose from: " + ", ".join(s.name for s in list_methods("attribution")))
    return specs


def signed_methods(specs: Sequence[MethodSpec]) -> dict[str, bool]:
    """Method name -> whether its map is signed (per-pixel methods are; per-image maps are magnitudes)."""
    return {s.name: s.signed for s in specs}


def explain_examples(
    model: nn.Module,
    data: ImageDataset,
    methods: Sequence[str],
    *,
    n: int = 10,
    seed: int = 0,
    target: object = None,
    batch_size: int = 256,
    **options: object,
) -> ExampleExplanations:
    """Pick ``n`` correctly classified and ``n`` misclassified images and explain both groups.

    Args:
        model: the classifier.
        data: a labelled data set whose images fit the model.
        methods: registered attribution method names.
        n: images per group.
        seed: the seed of the random pick.
        target: ``None`` explains each image's predicted class; see :func:`explain`.
        batch_size: images per forward pass while classifying the data set.
        **options: passed to :func:`convlens.attribution.explain` (``layer=...``).

    Returns:
        An :class:`ExampleExplanations`.
    """
    from . import explain

    images, labels = data.batch(slice(None))
    pick = pick_examples(model, images, labels, n=n, seed=seed, batch_size=batch_size)
    accuracy = float((pick.predicted == labels).float().mean()) if len(labels) else 0.0

    def run(index: torch.Tensor) -> object | None:
        if len(index) == 0:
            return None
        return explain(model, images[index], list(methods), target=_subset_target(target, index), **options)

    return ExampleExplanations(
        run(pick.correct), run(pick.wrong), pick.correct, pick.wrong,
        labels[pick.correct], labels[pick.wrong], accuracy,
    )  # fmt: skip


def explanation_html(
    explanation: object,
    specs: Sequence[MethodSpec],
    caption: str,
    truth: torch.Tensor | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """One figure (image, prediction, truth, one column per per-pixel method) as embedded HTML."""
    shown = {s.name for s in specs if s.output != GRID_OUTPUT}
    maps = {k: v for k, v in explanation.maps.items() if k in shown}  # type: ignore[attr-defined]
    if not maps:
        return ""
    fig = explanation_figure(_with_maps(explanation, maps), truth=truth, signed=signed_methods(specs), names=names)
    return image(png_bytes(fig), caption)


def occlusion_html(explanation: object, name: str, caption: str) -> str:
    """The occlusion-sensitivity grids of an explanation as embedded HTML ('' if it has none)."""
    grids = explanation.maps.get(name)  # type: ignore[attr-defined]
    if grids is None:
        return ""
    names = explanation.class_names  # type: ignore[attr-defined]
    titles = [
        f"{names[t] if names and t >= 0 else t}: p={p:.2f}"
        for t, p in zip(explanation.target.tolist(), explanation.target_probability.tolist())  # type: ignore[attr-defined]
    ]
    return image(png_bytes(occlusion_figure(explanation.images, grids, titles=titles)), caption)  # type: ignore[attr-defined]


def methods_table(specs: Sequence[MethodSpec]) -> str:
    """A table of the methods shown: name, what it does, where it comes from."""
    return table(("method", "what it shows", "reference"), [(s.name, s.summary, s.reference) for s in specs])


def explanations_section(
    model: nn.Module, test_data: ImageDataset, *, seed: int = 0, n: int = 10, layer: str | None = None
) -> Section:
    """The demo report's "Explanations" section.

    ``n`` correctly classified and ``n`` misclassified test images explained with every registered
    per-pixel attribution method, and the occlusion-sensitivity grids of ``n`` random test images.

    Args:
        model: a trained classifier (``mnist-cnn`` in the demo).
        test_data: its test set (``sample_splits().test`` in the demo).
        seed: the seed of the random picks.
        n: images per group.
        layer: the Grad-CAM layer (default: the model's last convolution).

    Returns:
        A :class:`convlens.report.html.Section`.
    """
    from . import explain

    specs = attribution_methods()
    pixel = [s.name for s in specs if s.output != GRID_OUTPUT]
    grid = [s.name for s in specs if s.output == GRID_OUTPUT]
    options = {} if layer is None else {"layer": layer}
    examples = explain_examples(model, test_data, pixel, n=n, seed=seed, **options)
    parts = [paragraph(READING_GUIDE), methods_table(specs)]
    parts.append(paragraph(f"Test accuracy of the explained model: {examples.accuracy:.1%} on {len(test_data)} images."))
    for title, expl, truth in (
        ("correctly classified", examples.correct, examples.correct_truth),
        ("misclassified", examples.wrong, examples.wrong_truth),
    ):
        if expl is None:
            parts.append(paragraph(f"No {title} test images: nothing to show."))
            continue
        count = len(truth)
        parts.append(explanation_html(expl, specs, f"{count} {title} test images (random, seed {seed}), every method", truth))
    if grid:
        gen = torch.Generator().manual_seed(seed + 1)
        index = torch.randperm(len(test_data), generator=gen)[:n].sort().values
        images, _ = test_data.batch(index)
        expl = explain(model, images, grid)
        for name in grid:
            parts.append(occlusion_html(
                expl, name,
                f"{name} for {len(index)} random test images: the probability of the predicted class when a "
                "patch centred there is covered (dark = that region matters)",
            ))  # fmt: skip
    return Section("Explanations", "".join(parts))


def _subset_target(target: object, index: torch.Tensor) -> object:
    """Pick the targets of the chosen images when one target per data-set image was given."""
    if isinstance(target, torch.Tensor) and target.dim() == 1:
        return target[index]
    if isinstance(target, (list, tuple)):
        return [target[i] for i in index.tolist()]
    return target


def _with_maps(explanation: object, maps: Mapping[str, torch.Tensor]) -> object:
    """A shallow view of an explanation with only some maps (the dataclass is frozen)."""
    import dataclasses

    if dataclasses.is_dataclass(explanation):
        return dataclasses.replace(explanation, maps=dict(maps))  # type: ignore[arg-type]
    return explanation


__all__ = [
    "ExampleExplanations", "attribution_methods", "explain_examples", "explanation_html",
    "explanations_section", "methods_table", "occlusion_html", "signed_methods",
]  # fmt: skip
