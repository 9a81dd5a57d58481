"""Attribution pictures: colour maps, overlays, grids, example picking, the report section."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from convlens.errors import InputError
from convlens.viz import (
    attribution_grid,
    colorize,
    explanation_figure,
    heatmap,
    image_array,
    occlusion_figure,
    overlay,
    png_bytes,
    scale_map,
)
from convlens.viz.attribution import prediction_captions, reduce_channels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class FakeExplanation:
    """Stands in for convlens.attribution.Explanation (same fields)."""

    images: torch.Tensor
    maps: dict
    target: torch.Tensor
    target_probability: torch.Tensor
    predicted: torch.Tensor
    probability: torch.Tensor
    class_names: tuple | None = None
    layer: str | None = None


def test_scale_map_absolute_and_signed():
    v = np.array([[0.0, 1.0], [2.0, 100.0]])
    s = scale_map(v, signed=False, percentile=100)
    assert s.min() == 0 and s.max() == 1 and s[1, 0] == pytest.approx(0.02)
    signed = scale_map(np.array([-4.0, 2.0, 0.0]), signed=True, percentile=100)
    np.testing.assert_allclose(signed, [-1.0, 0.5, 0.0])
    # an outlier is clipped, not allowed to wash out the rest
    outlier = np.concatenate([np.ones(999), [1e6]])
    assert scale_map(outlier, signed=False, percentile=99).mean() > 0.99
    assert not scale_map(np.zeros((3, 3)), signed=True).any()
    with pytest.raises(InputError):
        scale_map(v, signed=False, percentile=0)


def test_colorize_signed_zero_is_white_and_absolute_is_sequential():
    rgb = colorize(np.array([[-1.0, 0.0, 1.0]]), signed=True)
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, 1] == pytest.approx(np.ones(3), abs=0.06)  # zero -> (near) white
    assert rgb[0, 0, 2] > rgb[0, 0, 0] and rgb[0, 2, 0] > rgb[0, 2, 2]  # negative blue, positive red
    dark, bright = colorize(np.array([0.0, 1.0]), signed=False)
    assert dark.sum() < bright.sum()


def test_reduce_channels():
    a = torch.tensor([[[1.0]], [[-3.0]], [[1.0]]])  # (3,1,1)
    assert reduce_channels(a, signed=True)[0, 0] == -1.0
    assert reduce_channels(a, signed=False)[0, 0] == 3.0


def test_overlay_shape_range_and_untouched_where_zero():
    img = torch.rand(1, 8, 8)
    att = torch.zeros(1, 8, 8)
    att[0, 2, 3] = 5.0
    out = overlay(img, att)
    assert out.shape == (8, 8, 3) and out.min() >= 0 and out.max() <= 1
    base = image_array(img)
    assert np.allclose(out[0, 0], base[0, 0])  # no attribution: the image shows through
    assert not np.allclose(out[2, 3], base[2, 3])
    # a small (un-upsampled) map is resized to the image; signed maps work too
    assert overlay(torch.rand(3, 16, 16), torch.randn(4, 4), signed=True).shape == (16, 16, 3)
    with pytest.raises(InputError):
        overlay(img, att, alpha=2.0)
    with pytest.raises(InputError):
        overlay(torch.rand(1, 1, 8, 8), att)


def test_heatmap_and_inputs_not_modified():
    att = torch.randn(3, 5, 5)
    before = att.clone()
    assert heatmap(att).shape == (5, 5, 3)
    assert torch.equal(att, before)


def test_attribution_grid_renders_png():
    x = torch.rand(3, 1, 12, 12)
    maps = {"abs": torch.rand(3, 1, 12, 12), "signed": torch.randn(3, 1, 12, 12), "cam": torch.rand(3, 1, 3, 3)}
    fig = attribution_grid(x, maps, row_titles=["a", "b", "c"], row_colors=["black", "crimson", "black"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["image", "abs", "signed", "cam", "a", "b", "c"]
    assert png_bytes(fig).startswith(PNG_MAGIC)
    with pytest.raises(InputError):
        attribution_grid(x, {"bad": torch.rand(2, 1, 12, 12)})
    with pytest.raises(InputError):
        attribution_grid(x, maps, row_titles=["only one"])
    with pytest.raises(InputError):
        attribution_grid(x, maps, style="nope")


def test_occlusion_figure_renders_png():
    fig = occlusion_figure(torch.rand(4, 3, 16, 16), torch.rand(4, 3, 3), titles=list("abcd"))
    assert png_bytes(fig).startswith(PNG_MAGIC)
    with pytest.raises(InputError):
        occlusion_figure(torch.rand(4, 3, 16, 16), torch.rand(3, 3, 3))


def test_explanation_figure_and_captions():
    b = 2
    expl = FakeExplanation(
        images=torch.rand(b, 1, 10, 10),
        maps={"saliency": torch.rand(b, 1, 10, 10), "occlusion-sensitivity": torch.rand(b, 2, 2)},
        target=torch.tensor([3, 1]), target_probability=torch.tensor([0.9, 0.2]),
        predicted=torch.tensor([3, 4]), probability=torch.tensor([0.9, 0.6]),
        class_names=tuple("abcdefghij"),
    )  # fmt: skip
    captions, colours = prediction_captions(expl, truth=torch.tensor([3, 2]))
    assert captions[0] == "pred d (90%)\ntrue d"
    assert "true c" in captions[1] and "explains b" in captions[1]
    assert colours == ["black", "crimson"]
    fig = explanation_figure(expl, truth=[3, 2])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:2] == ["image", "saliency"]  # the (B,rows,cols) grid is not a per-pixel column
    assert "occlusion-sensitivity" not in texts
    named = explanation_figure(expl, names=["one.png", "a-very-long-file-name-indeed.png"])
    assert any(t.get_text().startswith("a-very-long") and "…" in t.get_text() for t in named.axes[0].texts)
    assert png_bytes(fig).startswith(PNG_MAGIC)


class _Threshold(nn.Module):
    """Predicts class 1 when the mean pixel is above 0.5 (and has a dropout to check the mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1) * 10


def test_pick_examples_is_correct_reproducible_and_restores_mode():
    from convlens.data.dataset import ImageDataset
    from convlens.train import pick_examples

    torch.manual_seed(0)
    x = torch.rand(50, 1, 4, 4)
    y = torch.randint(0, 2, (50,))
    model = _Threshold().train()
    data = ImageDataset(x, y, ("0", "1"))
    pick = pick_examples(model, data, n=5, seed=3, batch_size=7)
    assert model.training and model.drop.training
    truth_pred = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    assert torch.equal(pick.predicted, truth_pred)
    assert len(pick.correct) == 5 and len(pick.wrong) == 5
    assert bool((truth_pred[pick.correct] == y[pick.correct]).all())
    assert bool((truth_pred[pick.wrong] != y[pick.wrong]).all())
    again = pick_examples(model, data, n=5, seed=3)
    assert torch.equal(again.correct, pick.correct) and torch.equal(again.wrong, pick.wrong)
    # fewer than n available: all of them
    assert len(pick_examples(model, ImageDataset(x, truth_pred, ("0", "1")), n=5).wrong) == 0
    with pytest.raises(InputError):
        pick_examples(model, data, n=0)
    # a float64 model works (the images are cast to the model's dtype; a regression)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).double()
    double = pick_examples(linear, data, n=5, seed=3)
    with torch.no_grad():
        assert torch.equal(double.predicted, linear(x.double()).argmax(1))


def test_callable_target_is_captioned_as_a_custom_score():
    from convlens.attribution import explain

    model = _Threshold().eval()
    expl = explain(model, torch.rand(2, 1, 4, 4), ["saliency"], target=lambda z: z[:, 1] - z[:, 0])
    captions, _ = prediction_captions(expl)
    assert all("explains a custom score" in c and "-1" not in c for c in captions)


def test_explanations_section_on_trained_mnist(trained_mnist, mnist_splits):
    from convlens.attribution.examples import attribution_methods, explain_examples
    from convlens.report.explanations import explanations_section

    model = copy.deepcopy(trained_mnist)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    specs = attribution_methods()
    examples = explain_examples(model, mnist_splits.test, [s.name for s in specs], n=3, seed=0)
    section = explanations_section(examples, specs, "the test split", seed=0)
    assert section.title == "Explanations"
    assert section.body.count("<img") >= 4  # correct and misclassified, each with occlusion sensitivity
    assert "misclassified" in section.body
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
