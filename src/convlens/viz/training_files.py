"""Files a training run leaves behind: curves, labelled test images, confusion matrix, history."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .._io import atomic_write_text
from ..data.dataset import ImageDataset
from ..train.fit import FitResult
from .figures import save_png
from .training import confusion_figure, curves_figure, labelled_grid_figure


@dataclass(frozen=True)
class TrainingFiles:
    """Paths of everything :func:`write_training_outputs` wrote."""

    curves: Path
    samples: Path
    confusion: Path
    history_csv: Path
    history_json: Path


def random_test_sample(
    result: FitResult, test: ImageDataset, count: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` random test images (seeded), their labels and the model's predictions."""
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(test), generator=gen)[:count]
    images, labels = test.batch(index)
    return images, labels, result.test.predictions[index]


def history_csv(result: FitResult) -> str:
    rows = result.history_rows()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["epoch"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_training_outputs(result: FitResult, test: ImageDataset, out: str | Path, title: str = "") -> TrainingFiles:
    """Write ``curves.png``, ``test_samples.png``, ``confusion.png``, ``history.csv`` and ``history.json``."""
    out = Path(out)
    images, labels, preds = random_test_sample(result, test)
    confusion = result.test.confusion(len(test.classes))
    files = TrainingFiles(
        curves=save_png(curves_figure(result.history, title), out / "curves.png"),
        samples=save_png(labelled_grid_figure(images, labels, preds, test.classes), out / "test_samples.png"),
        confusion=save_png(confusion_figure(confusion, test.classes), out / "confusion.png"),
        history_csv=atomic_write_text(out / "history.csv", history_csv(result)),
        history_json=atomic_write_text(out / "history.json", json.dumps({
            "config": dataclasses.asdict(result.config), "device": result.device, "seconds": result.seconds,
            "test_loss": result.test.loss, "test_accuracy": result.test.accuracy,
            "history": result.history_rows(),
        }, indent=2) + "\n"),
    )  # fmt: skip
    return files


__all__ = ["TrainingFiles", "history_csv", "random_test_sample", "write_training_outputs"]
