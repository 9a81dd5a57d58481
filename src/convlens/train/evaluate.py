"""Evaluation of a classifier on an in-memory data set, and picking examples it gets right or wrong."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import model_device
from .._hooks import eval_mode
from .._outputs import OutputSpec, select_logits
from .._runner import model_dtype
from ..data.dataset import ImageDataset
from ..errors import InputError


@dataclass(frozen=True)
class Evaluation:
    """Loss, accuracy and per-image predictions on one data set.

    Attributes:
        loss: mean cross-entropy.
        accuracy: fraction of correct predictions, in [0,1].
        predictions: (N,) long, on the CPU.
        labels: (N,) long, on the CPU.
        confidence: (N,) softmax probability of each prediction, on the CPU.
    """

    loss: float
    accuracy: float
    predictions: torch.Tensor
    labels: torch.Tensor
    confidence: torch.Tensor | None = None

    def confusion(self, num_classes: int) -> torch.Tensor:
        """(num_classes, num_classes) counts: row = true class, column = predicted class."""
        index = self.labels * num_classes + self.predictions
        return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def evaluate(model: nn.Module, data: ImageDataset, batch_size: int = 500, *, output: OutputSpec = None) -> Evaluation:
    """Mean cross-entropy, accuracy and predictions of ``model`` on ``data`` (model left as given).

    Batches go to the model's device and float dtype; every module's ``training`` flag is
    restored afterwards.

    Args:
        model: a classifier.
        data: labelled images.
        batch_size: images per forward pass.
        output: where the logits are in the model's output (:mod:`convlens._outputs`).

    Returns:
        An :class:`Evaluation`.
    """
    device, dtype = model_device(model), model_dtype(model)
    total_loss = torch.zeros((), dtype=torch.float64)
    predictions, confidences = [], []
    with eval_mode(model), torch.inference_mode():
        for x, y in data.batches(batch_size):
            logits = select_logits(model(x.to(device=device, dtype=dtype)), output)
            total_loss += F.cross_entropy(logits, y.to(device), reduction="sum").double().cpu()
            confidence, predicted = torch.softmax(logits.double(), dim=1).max(dim=1)
            predictions.append(predicted.cpu())
            confidences.append(confidence.float().cpu())
    preds = torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)
    conf = torch.cat(confidences) if confidences else torch.zeros(0)
    n = max(len(data), 1)
    accuracy = float((preds == data.labels).sum()) / n
    return Evaluation(float(total_loss) / n, accuracy, preds, data.labels.clone(), conf)


@dataclass(frozen=True)
class ExampleSelection:
    """Images picked from a data set because the model gets them right or wrong.

    Attributes:
        correct: indices of correctly classified images, shape (<= n,), sorted, on the CPU.
        wrong: indices of misclassified images, shape (<= n,), sorted, on the CPU.
        evaluation: the model's :class:`Evaluation` on the whole data set.
    """

    correct: torch.Tensor
    wrong: torch.Tensor
    evaluation: Evaluation

    @property
    def predicted(self) -> torch.Tensor:
        """The model's class for every image of the data set, shape (N,)."""
        return self.evaluation.predictions

    @property
    def accuracy(self) -> float:
        return self.evaluation.accuracy


def pick_examples(
    model: nn.Module,
    data: ImageDataset,
    *,
    n: int = 10,
    seed: int = 0,
    batch_size: int = 256,
    output: OutputSpec = None,
) -> ExampleSelection:
    """Pick ``n`` correctly classified and ``n`` misclassified images at random (reproducibly).

    Built on :func:`evaluate` (one pass over the data set, the model left as given).

    Args:
        model: a classifier.
        data: a labelled data set whose images fit the model.
        n: how many of each kind (fewer when the data set has fewer).
        seed: the random seed of the pick.
        batch_size: images per forward pass.
        output: where the logits are in the model's output.

    Returns:
        An :class:`ExampleSelection`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    evaluation = evaluate(model, data, batch_size, output=output)
    right = evaluation.predictions == evaluation.labels
    gen = torch.Generator().manual_seed(seed)

    def choose(mask: torch.Tensor) -> torch.Tensor:
        idx = torch.nonzero(mask).flatten()
        return idx[torch.randperm(len(idx), generator=gen)[:n]].sort().values

    return ExampleSelection(choose(right), choose(~right), evaluation)


__all__ = ["Evaluation", "ExampleSelection", "evaluate", "pick_examples"]
