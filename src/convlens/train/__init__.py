"""Training: ``fit`` with checkpoints and resume, evaluation, BatchNorm comparison, outputs."""

from .compare import BatchNormComparison, compare_batchnorm
from .evaluate import Evaluation, evaluate
from .fit import CHECKPOINT_NAME, EpochRecord, FitResult, TrainConfig, default_device, fit
from .outputs import TrainingFiles, write_training_outputs

__all__ = [
    "CHECKPOINT_NAME", "BatchNormComparison", "EpochRecord", "Evaluation", "FitResult", "TrainConfig",
    "TrainingFiles", "compare_batchnorm", "default_device", "evaluate", "fit", "write_training_outputs",
]  # fmt: skip
