"""Adversarial training in ``fit``: the batches it learns from, checkpoints and resume, and a measured effect."""

from __future__ import annotations

import copy

import pytest
import torch

import convlens.adversarial as A
from convlens.errors import InputError
from convlens.models import create_model
from convlens.models.checkpoint import atomic_save, read_checkpoint
from convlens.train import TrainConfig, fit


def test_adversarial_batches_stay_in_the_ball_and_leave_the_model_training(trained_mnist, test_digits):
    model = copy.deepcopy(trained_mnist).train()
    before = {n: p.clone() for n, p in model.state_dict().items()}
    x, y = test_digits
    for config in (A.AdversarialTraining(eps=0.2), A.AdversarialTraining(method="pgd", eps=0.2, steps=3)):
        adv = A.adversarial_batch(model, x, y, config)
        assert adv.shape == x.shape and (adv - x).abs().max() <= 0.2 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        assert not torch.equal(adv, x)
    half = A.adversarial_batch(model, x, y, A.AdversarialTraining(eps=0.2, mix=0.5))
    assert torch.equal(half[32:], x[32:]) and not torch.equal(half[:32], x[:32])
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())
    with pytest.raises(InputError, match="method"):
        A.AdversarialTraining(method="trades")
    with pytest.raises(InputError, match="eps"):
        A.AdversarialTraining(eps=0.0)


def test_fit_adversarially_checkpoints_and_resumes(mnist_splits, tmp_path):
    from convlens.data.dataset import Splits

    small = Splits(mnist_splits.train.subset(torch.arange(0, 3500, 35)), mnist_splits.val.subset(torch.arange(50)),
                   mnist_splits.test.subset(torch.arange(50)))  # fmt: skip
    adv = A.AdversarialTraining(eps=0.1)  # constant schedule: resuming with more epochs is allowed
    one_epoch = TrainConfig(epochs=1, batch_size=50, adversarial=adv, schedule="constant")
    config = TrainConfig(epochs=2, batch_size=50, adversarial=adv, schedule="constant")
    torch.manual_seed(0)
    first = fit(create_model("mnist-cnn"), small, one_epoch,
                out=tmp_path / "a", progress=False)  # fmt: skip
    assert read_checkpoint(first.checkpoint)["config"]["adversarial"] == {"method": "fgsm-rs", "eps": 0.1,
                                                                          "steps": 7, "mix": 1.0}  # fmt: skip
    resumed = fit(create_model("mnist-cnn"), small, config, out=tmp_path / "a", resume=True, progress=False)
    torch.manual_seed(0)
    straight = fit(create_model("mnist-cnn"), small, config, out=tmp_path / "b", progress=False)
    assert resumed.resumed_from == 1
    for (name, p), q in zip(resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name  # resume is exact with adversarial training too
    three = TrainConfig(epochs=3, batch_size=50, schedule="constant")
    with pytest.raises(InputError, match="adversarial"):
        fit(create_model("mnist-cnn"), small, three, out=tmp_path / "a", resume=True,
            progress=False)  # fmt: skip


def test_checkpoints_from_before_adversarial_training_still_resume(mnist_splits, tmp_path):
    from convlens.data.dataset import Splits

    small = Splits(mnist_splits.train.subset(torch.arange(0, 3500, 70)), mnist_splits.val.subset(torch.arange(20)),
                   mnist_splits.test.subset(torch.arange(20)))  # fmt: skip
    run = fit(
        create_model("mnist-cnn"),
        small,
        TrainConfig(epochs=1, batch_size=50, schedule="constant"),
        out=tmp_path,
        progress=False,
    )
    payload = read_checkpoint(run.checkpoint)
    del payload["config"]["adversarial"]  # as written by the previous version of fit
    atomic_save(payload, run.checkpoint)
    two = TrainConfig(epochs=2, batch_size=50, schedule="constant")
    again = fit(create_model("mnist-cnn"), small, two, out=tmp_path, resume=True,
                progress=False)  # fmt: skip
    assert again.resumed_from == 1 and len(again.history) == 2


def test_adversarial_training_measurably_raises_robust_accuracy(trained_mnist, mnist_splits):
    from convlens.data.dataset import Splits

    quick = Splits(
        mnist_splits.train, mnist_splits.val.subset(torch.arange(50)), mnist_splits.test.subset(torch.arange(50))
    )
    torch.manual_seed(0)
    config = TrainConfig(epochs=1, adversarial=A.AdversarialTraining(eps=0.2))
    robust = fit(create_model("mnist-cnn"), quick, config, progress=False).model  # one epoch, like trained_mnist
    test = mnist_splits.test.subset(torch.arange(0, 1000, 10))
    plain_curve = A.robustness(trained_mnist, test, "pgd", [0.0, 0.15], steps=10, restarts=2, seed=0, progress=False)
    robust_curve = A.robustness(robust, test, "pgd", [0.0, 0.15], steps=10, restarts=2, seed=0, progress=False)
    assert robust_curve.accuracy[1] >= plain_curve.accuracy[1] + 0.2  # evaluated with PGD + restarts, not FGSM
    assert robust_curve.accuracy[0] >= 0.85  # the clean accuracy stays usable
