"""Attacks against analytic references, a peer implementation (torchattacks) and their own promises."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convlens.adversarial as A
from convlens.errors import InputError


def linear_model(channels: int = 3, size: int = 4, classes: int = 5) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, classes)).eval()


def images(n: int = 6, channels: int = 3, size: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def madry_pgd(model, x, y, eps, step, steps, norm="inf", targeted=False):
    """Hand-written reference of Madry et al.'s PGD without random start (the textbook loop)."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(-loss if targeted else loss, adv)
        with torch.no_grad():
            if norm == "inf":
                adv = adv + step * grad.sign()
                adv = x + (adv - x).clamp(-eps, eps)
            else:
                adv = adv + step * grad / (grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10)
                delta = adv - x
                factor = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1).view(-1, 1, 1, 1)
                adv = x + delta * factor
            adv = adv.clamp(0, 1)
    return adv.detach()


# ------------------------------------------------------------------ FGSM and PGD: exact references


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_on_a_linear_model_equals_the_hand_formula(targeted):
    model, x = linear_model(), images()
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    eps = 0.1
    leaf = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(leaf), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, leaf)
    expected = (x - eps * grad.sign() if targeted else x + eps * grad.sign()).clamp(0, 1)
    result = A.fgsm(model, x, y, eps=eps, targeted=targeted)
    assert torch.equal(result.images, expected)
    assert torch.equal(result.original, x) and result.steps.tolist() == [1] * 6
    logits = model(result.images)
    assert torch.equal(result.predicted, logits.argmax(1))
    assert torch.equal(result.success, logits.argmax(1) == y if targeted else logits.argmax(1) != y)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_equals_a_hand_written_madry_pgd(norm):
    model = linear_model().double()
    x, y = images().double(), torch.tensor([0, 1, 2, 3, 4, 0])
    eps, step = (0.1, 0.03) if norm == "inf" else (0.5, 0.2)
    ours = A.pgd(model, x, y, eps=eps, step=step, steps=7, norm=norm, random_start=False)
    ref = madry_pgd(model, x, y, eps, step, 7, norm)
    torch.testing.assert_close(ours.images, ref, rtol=0, atol=1e-8)  # L2: the 1e-10 floor meets a mean vs sum
    targeted = A.pgd(model, x, 2, eps=eps, step=step, steps=7, norm=norm, random_start=False, targeted=True)
    torch.testing.assert_close(targeted.images, madry_pgd(model, x, torch.full((6,), 2), eps, step, 7, norm, True),
                               rtol=0, atol=1e-8)  # fmt: skip


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_equals_torchattacks_without_random_start(trained_mnist, test_digits, norm):
    torchattacks = pytest.importorskip("torchattacks", reason="install with: pip install --no-deps torchattacks")
    model = copy.deepcopy(trained_mnist).double()
    x, y = test_digits[0][:16].double(), test_digits[1][:16]
    eps, step = (0.1, 0.02) if norm == "inf" else (1.5, 0.3)
    kind = torchattacks.PGD if norm == "inf" else torchattacks.PGDL2
    theirs = kind(model, eps=eps, alpha=step, steps=10, random_start=False)(x, y)
    ours = A.pgd(model, x, y, eps=eps, step=step, steps=10, norm=norm, random_start=False)
    # L2: torchattacks adds its 1e-10 floor to the gradient norm of the batch-MEAN loss, ours to the
    # per-image loss's. Where that norm is small (an image the model is very sure of) the floors make
    # the steps differ by ~1e-10/norm relative, enough to flip a ReLU within 10 steps and send the two
    # paths apart: compare the images whose gradient is large enough for the floor not to matter.
    keep = torch.ones(len(y), dtype=torch.bool)
    if norm == "2":
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), y), xg)
        keep = grad.flatten(1).norm(dim=1) > 1e-3
        assert int(keep.sum()) >= 4
    torch.testing.assert_close(ours.images[keep], theirs[keep], rtol=0, atol=1e-8 if norm == "inf" else 1e-4)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_stays_inside_the_ball_and_the_pixel_range(trained_mnist, test_digits, norm):
    x, y = test_digits[0][:32], test_digits[1][:32]
    eps = 0.15 if norm == "inf" else 1.0
    result = A.pgd(trained_mnist, x, y, eps=eps, steps=5, norm=norm, restarts=2, seed=0)
    delta = result.images - x
    size = delta.abs().flatten(1).amax(1) if norm == "inf" else delta.flatten(1).norm(dim=1)
    assert bool((size <= eps + 1e-5).all())
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert result.history.shape == (32, 5) and torch.isfinite(result.history).all()


def test_pgd_at_eps_zero_returns_the_images_unchanged(trained_mnist, test_digits):
    x, y = test_digits
    result = A.pgd(trained_mnist, x, y, eps=0.0, steps=3)
    assert torch.equal(result.images, x)
    assert torch.equal(result.predicted, trained_mnist(x).argmax(1))


def test_targeted_pgd_reaches_its_target_on_a_trained_model(trained_mnist, test_digits):
    x, y = test_digits
    x = x[y != 8][:32]
    result = A.pgd(trained_mnist, x, 8, eps=0.3, steps=40, targeted=True, seed=0)
    assert result.success.float().mean() >= 0.9
    assert torch.equal(trained_mnist(result.images).argmax(1) == 8, result.success)
    assert (result.history[:, -1] > result.history[:, 0]).all()  # minus the target's cross-entropy rose


def test_restarts_and_early_stop_only_make_the_attack_stronger(trained_mnist, test_digits):
    x, y = test_digits[0][:48], test_digits[1][:48]
    one = A.pgd(trained_mnist, x, y, eps=0.1, steps=5, seed=0)
    more = A.pgd(trained_mnist, x, y, eps=0.1, steps=5, restarts=3, seed=0)
    assert bool((more.success | ~one.success).all())  # the first run is kept where it already succeeded
    assert more.success.sum() >= one.success.sum() and bool((more.steps >= one.steps).all())
    early = A.pgd(trained_mnist, x, y, eps=0.1, steps=5, seed=0, early_stop=True)
    assert torch.equal(early.success, trained_mnist(early.images).argmax(1) != y)
    assert early.steps.float().mean() < 5 and early.success.sum() >= one.success.sum() - 2
    again = A.pgd(trained_mnist, x, y, eps=0.1, steps=5, restarts=3, seed=0)
    assert torch.equal(again.images, more.images)  # seeded: reproducible


# ------------------------------------------------------------------ fooling images and the MNIST exercises


def test_fooling_images_reach_their_target_within_the_default_budget(trained_mnist, test_digits):
    x, y = test_digits
    target = (y + 3) % 10
    result = A.fooling_image(trained_mnist, x, target)
    assert result.success.float().mean() >= 0.95
    fresh = trained_mnist(result.images).argmax(1)
    assert torch.equal(result.success, fresh == target) and torch.equal(result.predicted, fresh)
    # each image stopped as soon as it reached its target: its last recorded score is followed by NaN
    done = result.success & (result.steps < 100)
    assert torch.isnan(result.history[done, -1]).all()
    assert bool((result.steps[done] >= 1).all())
    assert result.images.min() >= 0 and result.images.max() <= 1
    part = result.select(slice(2, 5))
    assert (
        len(part) == 3 and torch.equal(part.images, result.images[2:5]) and torch.equal(part.steps, result.steps[2:5])
    )


def test_fooling_an_image_already_of_the_target_takes_no_step(trained_mnist, test_digits):
    x = test_digits[0][:4]
    predicted = trained_mnist(x).argmax(1)
    result = A.fooling_image(trained_mnist, x, predicted)
    assert result.steps.tolist() == [0, 0, 0, 0] and torch.equal(result.images, x)


def test_image_from_noise_makes_every_class_confidently(trained_mnist):
    result = A.image_from_noise(trained_mnist)
    assert result.images.shape == (10, 1, 28, 28) and result.target.tolist() == list(range(10))
    assert result.success.all() and (result.target_probability > 0.9).all()
    assert (result.history[:, -1] > result.history[:, 0]).all()  # the cost curve rises
    assert abs(float(result.original.mean()) - 0.5) < 0.02  # started at mid-grey noise


def test_lookalike_defaults_give_the_target_and_a_small_mse(trained_mnist, mnist_splits):
    x, y = mnist_splits.test.batch(slice(None))
    twos = x[y == 2][:6]
    result = A.lookalike(trained_mnist, 5, twos)
    mse = (result.images - twos).pow(2).mean(dim=(1, 2, 3))
    assert result.success.all() and (mse < 0.05).all()


def test_additive_noise_and_its_transfer_table(trained_mnist, mnist_splits):
    x, y = mnist_splits.test.batch(slice(None))
    sevens = x[y == 7][:8]
    result = A.additive_noise(trained_mnist, sevens, [0, 3, 5])
    assert result.noise.shape == (3, 1, 28, 28) and result.images.shape == (24, 1, 28, 28)
    assert result.noise.abs().max() <= 0.4 + 1e-6
    expected = (sevens[None] + result.noise[:, None]).clamp(0, 1).flatten(0, 1)
    assert torch.equal(result.images, expected)
    assert result.success.float().mean() >= 0.9
    fixed = torch.stack([x[y == c][0] for c in range(10)])
    table = A.noise_transfer(trained_mnist, result, fixed, labels=torch.arange(10))
    assert table.predicted.shape == (10, 3)
    by_hand = trained_mnist((fixed[:, None] + result.noise[None]).clamp(0, 1).flatten(0, 1)).argmax(1).view(10, 3)
    assert torch.equal(table.predicted, by_hand)
    assert torch.equal(table.hit_rate, (by_hand == torch.tensor([0, 3, 5])).float().mean(0))


# ------------------------------------------------------------------ bad input: one clear error


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: A.pgd(m, x, 12), "out of range"),
        (lambda m, x: A.fooling_image(m, x, -1), "out of range"),
        (lambda m, x: A.pgd(m, x, 0, eps=-0.1), "eps must be >= 0"),
        (lambda m, x: A.fgsm(m, x, 0, eps=-1), "eps must be >= 0"),
        (lambda m, x: A.pgd(m, x, 0, step=0.0), "step must be > 0"),
        (lambda m, x: A.fooling_image(m, x, 1, step=-1.0), "step must be > 0"),
        (lambda m, x: A.pgd(m, x * 2 + 0.5, 0), r"\[0,1\]"),
        (lambda m, x: A.fgsm(m, x - 0.5, 0), r"\[0,1\]"),
        (lambda m, x: A.pgd(m, x.clone().index_fill_(0, torch.tensor([0]), float("nan")), 0), "NaN"),
        (lambda m, x: A.pgd(m, x, 0, norm="l1"), "norm must be"),
        (lambda m, x: A.pgd(m, x, 0, steps=0), "steps must be"),
        (lambda m, x: A.image_from_noise(m, 10, image_size=(3, 4, 4)), "out of range"),
        (lambda m, x: A.lookalike(m, 7, x), "out of range"),
        (lambda m, x: A.additive_noise(m, x, [1, 9]), "out of range"),
        (lambda m, x: A.pgd(m, x, None, targeted=True), "target"),
    ],
)
def test_bad_input_raises_one_clear_error(call, message):
    with pytest.raises(InputError, match=message):
        call(linear_model(), images())
