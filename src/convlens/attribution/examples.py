"""Explanations of images a model gets right and images it gets wrong, and method selection.

Compute only: the pictures and pages are built by :mod:`convlens.report.explanations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._checks import Target
from .._outputs import OutputSpec
from ..data.dataset import ImageDataset
from ..data.inputs import Inputs
from ..errors import InputError
from ..registry import MethodSpec, get_method, list_methods
from ..train.evaluate import pick_examples
from .explain import Explanation, explain


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
        count: the number of images in the data set.
    """

    correct: Explanation | None
    wrong: Explanation | None
    correct_index: torch.Tensor
    wrong_index: torch.Tensor
    correct_truth: torch.Tensor
    wrong_truth: torch.Tensor
    accuracy: float
    count: int

    def images(self) -> torch.Tensor:
        """The explained images, correct ones first, (n_correct + n_wrong, C, H, W)."""
        return torch.cat([e.images for e in (self.correct, self.wrong) if e is not None])

    def raw(self) -> dict[str, torch.Tensor]:
        """Every map on the CPU, keyed ``"correct/METHOD"`` and ``"misclassified/METHOD"``, plus the indices."""
        maps = {
            f"{stem}/{name}": m.cpu()
            for stem, group in (("correct", self.correct), ("misclassified", self.wrong)) if group is not None
            for name, m in group.maps.items()
        }  # fmt: skip
        return {**maps, "correct/index": self.correct_index, "misclassified/index": self.wrong_index}


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
        raise InputError(
            "no attribution method given; choose from: " + ", ".join(s.name for s in list_methods("attribution"))
        )
    return specs


def explain_examples(
    model: nn.Module,
    data: ImageDataset,
    methods: Sequence[str],
    *,
    n: int = 10,
    seed: int = 0,
    target: Target = None,
    batch_size: int = 256,
    output: OutputSpec = None,
    **options: object,
) -> ExampleExplanations:
    """Pick ``n`` correctly classified and ``n`` misclassified images and explain both groups.

    Args:
        model: the classifier.
        data: a labelled data set whose images fit the model.
        methods: registered attribution method names.
        n: images per group.
        seed: the seed of the random pick, also given to seeded methods (SmoothGrad's noise).
        target: ``None`` explains each image's predicted class; see :func:`explain`.
        batch_size: images per forward pass while classifying the data set.
        output: where the logits are in the model's output.
        **options: passed to :func:`convlens.attribution.explain` (``layer=...``).

    Returns:
        An :class:`ExampleExplanations`.
    """
    pick = pick_examples(model, data, n=n, seed=seed, batch_size=batch_size, output=output)
    images, labels = data.batch(slice(None))

    def run(index: torch.Tensor) -> Explanation | None:
        if len(index) == 0:
            return None
        chosen = _subset_target(target, index)
        extra: dict[str, Any] = {"seed": seed, **options}
        return explain(model, images[index], list(methods), target=chosen, output=output, **extra)

    return ExampleExplanations(
        run(pick.correct), run(pick.wrong), pick.correct, pick.wrong,
        labels[pick.correct], labels[pick.wrong], pick.accuracy, len(data),
    )  # fmt: skip


def explain_inputs(
    model: nn.Module,
    inputs: Inputs,
    methods: Sequence[str],
    *,
    n: int = 10,
    seed: int = 0,
    target: Target = None,
    output: OutputSpec = None,
    **options: Any,
) -> Explanation | ExampleExplanations:
    """Explain what a command reads: every image file, or ``n`` correct and ``n`` misclassified
    images of a labelled data set (:func:`explain_examples`).

    Args:
        model: the classifier.
        inputs: from :func:`convlens.data.inputs.read_image_files` or ``read_dataset``.
        methods: registered attribution method names.
        n: images per group, for a data set.
        seed: the seed of the pick and of seeded methods.
        target: as in :func:`explain`.
        output: where the logits are in the model's output.
        **options: passed to :func:`explain` (``layer``, ``top``, ``progress`` ...).
    """
    if inputs.labels is None:
        return explain(model, inputs.images, list(methods), target=target, output=output, seed=seed, **options)
    data = inputs.dataset(get_info_classes(model))
    return explain_examples(model, data, methods, n=n, seed=seed, target=target, output=output, **options)


def get_info_classes(model: nn.Module) -> tuple[str, ...] | None:
    """The model's class names when it carries them."""
    from ..models import get_info

    info = get_info(model)
    return None if info is None else tuple(info.class_names)


def _subset_target(target: Target, index: torch.Tensor) -> Target:
    """Pick the targets of the chosen images when one target per data-set image was given."""
    if isinstance(target, torch.Tensor) and target.dim() == 1:
        return target[index]
    if isinstance(target, (list, tuple)):
        return [target[i] for i in index.tolist()]
    return target


__all__ = ["ExampleExplanations", "attribution_methods", "explain_examples", "explain_inputs"]
