"""Deletion/insertion (Petsiuk et al. 2018) and average drop/increase (Chattopadhyay et al. 2018)."""

from __future__ import annotations

import pytest
import torch

import convlens.attribution as A
from convlens.errors import InputError
from convlens.trust import average_drop_increase, deletion_insertion, methods_faithfulness, random_maps
from model_safety import assert_unchanged, snapshot


def loop_reference(model, x, maps, steps, fill=0.0):
    """The textbook way, one image and one step at a time."""
    pixels = x.shape[2] * x.shape[3]
    curves = torch.zeros(x.shape[0], 2, steps + 1)
    with torch.no_grad():
        for b in range(x.shape[0]):
            cls = int(model(x[b : b + 1]).argmax())
            order = maps[b].sum(0).flatten().argsort(descending=True, stable=True)
            for k in range(steps + 1):
                mask = torch.zeros(pixels, dtype=torch.bool)
                mask[order[: k * pixels // steps]] = True
                mask = mask.view(1, 1, *x.shape[2:])
                deleted = torch.where(mask, torch.tensor(fill), x[b : b + 1])
                inserted = torch.where(mask, x[b : b + 1], torch.tensor(fill))
                curves[b, 0, k] = torch.softmax(model(deleted), 1)[0, cls]
                curves[b, 1, k] = torch.softmax(model(inserted), 1)[0, cls]
    return curves


def test_batched_curves_equal_the_per_image_loop(trained_mnist, test_digits):
    x = test_digits[0][:3]
    maps = A.saliency(trained_mnist, x)
    before = snapshot(trained_mnist)
    copy_x = x.clone()
    for batch_size in (None, 7):
        result = deletion_insertion(trained_mnist, x, maps, steps=6, fill=0.2, batch_size=batch_size)
        ref = loop_reference(trained_mnist, x, maps, 6, fill=0.2)
        torch.testing.assert_close(result.deletion, ref[:, 0], atol=1e-5, rtol=0)
        torch.testing.assert_close(result.insertion, ref[:, 1], atol=1e-5, rtol=0)
    assert_unchanged(before, trained_mnist)
    assert torch.equal(x, copy_x)
    # the curves share their end points: the clean image and the blank one
    assert torch.equal(result.deletion[:, -1], result.insertion[:, 0])
    assert torch.equal(result.deletion[:, 0], result.insertion[:, -1])
    assert result.fractions.tolist() == [k / 6 for k in range(7)]


def test_auc_is_the_trapezoid_rule():
    class Constant(torch.nn.Module):
        """Logits that depend linearly on how many pixels are lit: p(class 0) = sigmoid(sum)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.flatten(1).sum(1)
            return torch.stack([s, torch.zeros_like(s)], dim=1)

    x = torch.ones(1, 1, 2, 2)
    maps = torch.tensor([[[[4.0, 3.0], [2.0, 1.0]]]])
    result = deletion_insertion(Constant(), x, maps, steps=4, target=0)
    p = torch.sigmoid(torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]))
    torch.testing.assert_close(result.deletion[0], p)
    torch.testing.assert_close(result.insertion[0], p.flip(0))
    expected = (p.sum() - 0.5 * (p[0] + p[-1])) / 4
    torch.testing.assert_close(result.deletion_auc[0], expected)
    torch.testing.assert_close(result.insertion_auc[0], expected)


def test_faithful_maps_beat_the_random_order(trained_mnist, test_digits):
    """On a trained model, IG and saliency delete the prediction faster and rebuild it faster than chance."""
    x = test_digits[0][:32]
    rand = deletion_insertion(trained_mnist, x, random_maps(x, 0), steps=14)
    for maps in (A.integrated_gradients(trained_mnist, x, steps=16), A.saliency(trained_mnist, x)):
        ours = deletion_insertion(trained_mnist, x, maps, steps=14, target=rand.target)
        assert float(ours.deletion_auc.mean()) < float(rand.deletion_auc.mean())
        assert float(ours.insertion_auc.mean()) > float(rand.insertion_auc.mean())


def test_average_drop_and_increase(trained_mnist, test_digits):
    x = test_digits[0][:6]
    full = average_drop_increase(trained_mnist, x, torch.ones(6, 1, 28, 28))  # the mask keeps the whole image
    assert torch.allclose(full.drop, torch.zeros(6), atol=1e-6)
    assert full.average_drop == pytest.approx(0.0, abs=1e-4)
    assert not bool(full.increase.any())
    with torch.no_grad():
        y = torch.softmax(trained_mnist(x), 1).max(1).values
        o = torch.softmax(trained_mnist(torch.zeros_like(x)), 1).gather(1, full.target[:, None])[:, 0]
    empty = average_drop_increase(trained_mnist, x, -torch.ones(6, 1, 28, 28))  # no positive evidence: black image
    torch.testing.assert_close(empty.drop, ((y - o).clamp_min(0) / y), atol=1e-5, rtol=0)
    assert empty.average_drop == pytest.approx(100 * float(empty.drop.mean()), rel=1e-6)


def test_coarse_maps_are_resized_and_bad_maps_rejected(trained_mnist, test_digits):
    x = test_digits[0][:2]
    coarse = A.grad_cam(trained_mnist, x, upsample=False)
    assert deletion_insertion(trained_mnist, x, coarse, steps=4).deletion.shape == (2, 5)
    grid = A.occlusion_sensitivity(trained_mnist, x)
    assert deletion_insertion(trained_mnist, x, grid, steps=4).insertion.shape == (2, 5)
    with pytest.raises(InputError):
        deletion_insertion(trained_mnist, x, coarse[:1], steps=4)
    with pytest.raises(InputError):
        deletion_insertion(trained_mnist, x, coarse, steps=0)


def test_methods_faithfulness_adds_the_random_baseline(trained_mnist, test_digits):
    result = methods_faithfulness(trained_mnist, test_digits[0][:4], ["saliency", "occlusion-sensitivity"], steps=4)
    assert list(result.curves) == ["saliency", result.baseline]
    assert result.skipped == ("occlusion-sensitivity",)
    assert set(result.drop) == set(result.curves)
