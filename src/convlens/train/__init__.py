"""Training: ``fit`` with checkpoints and resume, evaluation, BatchNorm comparison.

Compute only (torch): the files a run leaves behind (curves, confusion matrix ...) are drawn by
:func:`convlens.viz.training_files.write_training_outputs`.
"""

from .compare import BatchNormComparison, compare_batchnorm
from .evaluate import Evaluation, ExampleSelection, evaluate, pick_examples
from .fit import CHECKPOINT_NAME, EpochRecord, FitResult, TrainConfig, default_device, fit

__all__ = [
    "CHECKPOINT_NAME", "BatchNormComparison", "EpochRecord", "Evaluation", "ExampleSelection", "FitResult",
    "TrainConfig", "compare_batchnorm", "default_device", "evaluate", "fit", "pick_examples",
]  # fmt: skip
