"""Evaluation of a classifier on an in-memory data set."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import model_device
from .._hooks import eval_mode
from ..data.dataset import ImageDataset


@dataclass(frozen=True)
class Evaluation:
    """Loss, accuracy and per-image predictions on one data set."""

    loss: float
    accuracy: float
    predictions: torch.Tensor  # (N,) long, on the CPU
    labels: torch.Tensor  # (N,) long, on the CPU

    def confusion(self, num_classes: int) -> torch.Tensor:
        """(num_classes, num_classes) counts: row = true class, column = predicted class."""
        index = self.labels * num_classes + self.predictions
        return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def evaluate(model: nn.Module, data: ImageDataset, batch_size: int = 500) -> Evaluation:
    """Mean cross-entropy, accuracy and predictions of ``model`` on ``data`` (model left as given)."""
    device = model_device(model)
    total_loss = torch.zeros((), dtype=torch.float64)
    predictions = []
    with eval_mode(model), torch.inference_mode():
        for x, y in data.batches(batch_size):
            logits = model(x.to(device))
            total_loss += F.cross_entropy(logits, y.to(device), reduction="sum").double().cpu()
            predictions.append(logits.argmax(1).cpu())
    preds = torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)
    n = max(len(data), 1)
    accuracy = float((preds == data.labels).sum()) / n
    return Evaluation(float(total_loss) / n, accuracy, preds, data.labels.clone())
