"""Train the same architecture with and without BatchNorm under the same seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.dataset import Splits
from ..errors import InputError
from ..models import create_model
from ..models.checkpoint import CHECKPOINT_NAME
from .fit import FitResult, TrainConfig, fit

RUNS = (("without BatchNorm", "without-batchnorm"), ("with BatchNorm", "with-batchnorm"))
"""(label, sub-folder) of the two runs, in the order they are trained."""


@dataclass(frozen=True)
class BatchNormComparison:
    """Results of the two runs; ``without`` is the plain network."""

    without: FitResult
    with_bn: FitResult

    def rows(self) -> list[tuple[str, float, float, float]]:
        """(label, test accuracy, final validation accuracy, training seconds) per run."""
        return [
            (label, r.test_accuracy, r.history[-1].val_accuracy, r.seconds)
            for label, r in (("without BatchNorm", self.without), ("with BatchNorm", self.with_bn))
        ]

    def table(self) -> str:
        lines = [f"{'run':<18} {'test acc':>9} {'val acc':>8} {'time':>8}"]
        lines += [f"{label:<18} {acc:>9.2%} {val:>8.2%} {sec:>7.1f}s" for label, acc, val, sec in self.rows()]
        return "\n".join(lines)


def compare_batchnorm(
    name: str,
    data: Splits,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device | None = None,
) -> BatchNormComparison:
    """Train ``name`` twice (same seed, same data order): without and with BatchNorm.

    Args:
        name: a registered model with a BatchNorm option (``mnist-cnn``, ``cifar-cnn``).
        data: train/validation/test parts.
        config: shared settings.
        out: checkpoints go to ``out/without-batchnorm`` and ``out/with-batchnorm``.
        progress, resume, overwrite, device: as for :func:`convlens.train.fit`; progress lines
            are labelled with the run. With ``resume`` a run that had not finished its first
            epoch when the comparison was interrupted starts afresh.

    Returns:
        Both :class:`FitResult` objects; training time and test accuracy of each.
    """
    config = config or TrainConfig()
    folders = [None if out is None else Path(out) / sub for _, sub in RUNS]
    started = [f is not None and (f / CHECKPOINT_NAME).exists() for f in folders]
    if resume and not any(started):
        raise InputError(f"nothing to resume: neither run in {out} has a checkpoint yet; drop --resume")
    results = []
    for batchnorm, (label, _), folder, begun in zip((False, True), RUNS, folders, started, strict=True):
        torch.manual_seed(config.seed)  # same initial weights for the shared layers' RNG stream
        model = create_model(name, batchnorm=batchnorm, num_classes=len(data.train.classes))
        results.append(fit(model, data, config, out=folder, progress=progress,
                           resume=resume and begun, overwrite=overwrite, device=device, label=label))  # fmt: skip
    return BatchNormComparison(*results)
