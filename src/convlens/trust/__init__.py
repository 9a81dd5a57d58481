"""Can you trust the map? Captum comparison, sanity checks and faithfulness metrics.

- :func:`compare_with_captum`: every registered attribution method that Captum also implements,
  computed both ways with equal settings, and the differences.
- :func:`randomization_test` and :func:`data_randomization_test`: the sanity checks of Adebayo
  et al. 2018 (model parameter randomization, cascading or independent, and data
  randomization), with Spearman, SSIM and HOG similarity computed batched in torch.
- :func:`deletion_insertion` and :func:`average_drop_increase`: faithfulness metrics (Petsiuk et
  al. 2018; Chattopadhyay et al. 2018), every perturbed copy in batched forward passes.

Everything runs on the model's device, leaves the model exactly as it was (randomization works
on a copy) and returns small frozen dataclasses of detached tensors.
"""

from .captum import CAPTUM_CALLS, CaptumComparison, CaptumNotInstalled, CaptumRow, compare_with_captum
from .faithfulness import (
    DeletionInsertion,
    DropIncrease,
    MethodsFaithfulness,
    average_drop_increase,
    deletion_insertion,
    methods_faithfulness,
    pixel_ranks,
    random_maps,
)
from .randomization import (
    DataRandomizationResult,
    RandomizationResult,
    data_randomization_test,
    randomizable_layers,
    randomization_test,
)
from .similarity import METRICS, hog, hog_similarity, map_similarity, spearman, ssim

__all__ = [
    "CAPTUM_CALLS", "METRICS", "CaptumComparison", "CaptumNotInstalled", "CaptumRow", "DataRandomizationResult",
    "DeletionInsertion", "DropIncrease", "MethodsFaithfulness", "RandomizationResult", "average_drop_increase",
    "compare_with_captum", "data_randomization_test", "deletion_insertion", "hog", "hog_similarity", "map_similarity",
    "methods_faithfulness", "pixel_ranks", "random_maps", "randomizable_layers", "randomization_test", "spearman",
    "ssim",
]  # fmt: skip
