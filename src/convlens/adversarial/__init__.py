"""Adversarial examples: fool a classifier, measure how robust it is, and train it to resist.

Fooling images (Szegedy et al. 2014), the three classic MNIST exercises (a class image from
noise, a targeted image that must look like another one, additive noise per target class and
its transfer to other images), FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018, L∞ and
L2, random start and restarts), and robustness curves (accuracy against the budget). Budgets are
in [0,1] pixel units because normalization is inside the model. Every attack is batched,
leaves the model exactly as it was, takes ``output=`` for models that return more than logits,
and is registered in :mod:`convlens.registry` (kind ``"attack"``) where it is defined.
"""

# isort: off  (the import order is the order of the methods in tables and the CLI)
from ._common import AttackResult, predict
from .fooling import fooling_image, image_from_noise, lookalike
from .gradient import fgsm, pgd
from .noise import NoiseResult, TransferResult, additive_noise, noise_transfer
from .robustness import RobustnessResult, robustness
from .training import AdversarialTraining, adversarial_batch

# isort: on

__all__ = [
    "AdversarialTraining", "AttackResult", "NoiseResult", "RobustnessResult", "TransferResult", "additive_noise",
    "adversarial_batch", "fgsm", "fooling_image", "image_from_noise", "lookalike", "noise_transfer", "pgd",
    "predict", "robustness",
]  # fmt: skip
