"""style_transfer on small real images: it stylizes, keeps content, leaves the extractor alone."""

from __future__ import annotations

import pytest
import torch

from convlens.errors import DataFileError, InputError, UnknownNameError
from convlens.style import LayerTap, custom_extractor, get_extractor, gram_matrix, sample_image, style_transfer
from convlens.style.colors import rgb_to_yiq
from convlens.style.extractors import random_layers

SIZE = 48


@pytest.fixture(scope="module")
def images():
    return sample_image("hopper", 64), sample_image("ihc", 40)


@pytest.fixture(scope="module")
def short_run(images):
    content, style = images
    return style_transfer(content, style, extractor="random", size=SIZE, steps=25, precision="fp32")


def _features(image, layers):
    ex = get_extractor("random")
    with torch.no_grad():
        return LayerTap(ex, layers)(image)


def test_lowers_the_total_loss_and_reports_the_extractor(short_run):
    total = short_run.history["total"]
    assert len(total) == 25 and set(short_run.history) == {"content", "style", "tv", "total"}
    assert total[-1] < 0.05 * total[0]
    torch.testing.assert_close(
        total, short_run.history["content"] + short_run.history["style"] + short_run.history["tv"]
    )
    assert short_run.extractor == "random (random weights, offline)"
    assert short_run.image.shape == (1, 3, SIZE, 41) and short_run.settings.size == (SIZE, 41)
    assert 0 <= short_run.image.min() and short_run.image.max() <= 1


def test_moves_grams_to_the_style_and_keeps_the_content(short_run, images):
    style_layers = ["relu1", "relu2", "relu3", "relu4"]
    content = short_run.content
    style = short_run.styles[0]
    targets = [gram_matrix(f) for f in _features(style, style_layers)]
    before = [gram_matrix(f) for f in _features(content, style_layers)]
    after = [gram_matrix(f) for f in _features(short_run.image, style_layers)]
    for t, b, a in zip(targets, before, after, strict=False):
        assert (a - t).norm() < 0.5 * (b - t).norm()
    # the content layer's feature maps keep the content's spatial pattern (correlation of each
    # channel around its mean), unlike those of a pure texture synthesis (content weight 0, from
    # noise) with the same style and steps
    texture = style_transfer(
        content, style, extractor="random", steps=25, precision="fp32", content_weight=0, init="noise", seed=0
    ).image
    (fc, fr, ft) = (_features(x, ["relu2"])[0] for x in (content, short_run.image, texture))
    assert _corr(fr, fc) > 0.2 > _corr(ft, fc) + 0.1
    assert _corr(short_run.image, content) > 0.5 > _corr(texture, content) + 0.3


def _corr(a, b):
    """Correlation of two (B,C,H,W) tensors, each channel centred on its spatial mean."""
    a, b = a - a.mean((2, 3), keepdim=True), b - b.mean((2, 3), keepdim=True)
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_extractor_comes_back_untouched_also_on_error(images):
    content, style = images
    layers = random_layers()
    layers.train()
    layers[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in layers.state_dict().items()}
    flags = [p.requires_grad for p in layers.parameters()]
    ex = custom_extractor(layers, "relu2", ["relu1", "relu3"], mean=(0.5,) * 3, std=(0.25,) * 3)
    style_transfer(content, style, extractor=ex, size=32, steps=3)

    def fail(step, total, losses):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        style_transfer(content, style, extractor=ex, size=32, steps=3, callback=fail)
    for k, v in layers.state_dict().items():
        assert torch.equal(v, before[k])
    assert [p.requires_grad for p in layers.parameters()] == flags
    assert all(m.training for m in layers.modules())
    assert all(p.grad is None for p in layers.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in layers.modules())


def test_inputs_are_not_modified(images):
    content, style = images
    c, s = content.clone(), style.clone()
    style_transfer(content, style, size=32, steps=2)
    assert torch.equal(content, c) and torch.equal(style, s)


def test_one_forward_per_evaluation_through_the_truncated_network(images):
    content, style = images
    layers = random_layers()
    calls = {name: 0 for name, _ in layers.named_children()}
    for name, module in layers.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls[name] + 1))
    ex = custom_extractor(layers, "relu2", ["relu1", "relu2"], mean=(0.5,) * 3, std=(0.25,) * 3)
    style_transfer(content, [style, style], extractor=ex, size=32, steps=7)
    # targets: 1 content + 2 styles, once; then one forward per evaluation; relu2 is the last layer used
    assert calls["conv1"] == 3 + 7
    assert calls["conv2"] == 3 + 7
    assert calls["conv3"] == 0 and calls["conv4"] == 0
    assert len(LayerTap(ex, ["relu1"]).net) == 2


def test_deterministic_for_a_fixed_seed(images):
    content, style = images
    run = lambda seed: style_transfer(content, style, size=32, steps=5, init="noise", seed=seed).image  # noqa: E731
    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_sizes_aspect_ratios_and_channels():
    torch.manual_seed(0)
    grey = torch.rand(1, 30, 50)  # (C,H,W), grey, wide
    rgba = torch.rand(1, 4, 70, 20)  # tall, with alpha
    result = style_transfer(grey, rgba, size=40, steps=3)
    assert result.image.shape == (1, 3, 24, 40)
    batch = torch.rand(2, 3, 20, 28)
    assert style_transfer(batch, torch.rand(3, 33, 33), steps=2).image.shape == (2, 3, 20, 28)


def test_keep_colors_keeps_the_content_chrominance(images):
    content, style = images
    result = style_transfer(content, sample_image("brick", 40), size=32, steps=10, keep_colors=True)
    iq_result = rgb_to_yiq(result.image)[:, 1:]
    iq_content = rgb_to_yiq(result.content)[:, 1:]
    inside = ((result.image > 0.01) & (result.image < 0.99)).all(1, keepdim=True).expand_as(iq_result)
    assert inside.float().mean() > 0.5
    torch.testing.assert_close(iq_result[inside], iq_content[inside], atol=1e-4, rtol=0)


def test_blend_of_one_style_equals_that_style(images):
    content, style = images
    other = sample_image("brick", 40)
    alone = style_transfer(content, style, size=32, steps=4, precision="fp32").image
    blended = style_transfer(content, [style, other], blend=[1.0, 0.0], size=32, steps=4, precision="fp32").image
    assert torch.equal(alone, blended)
    mixed = style_transfer(content, [style, other], blend=[1, 1], size=32, steps=4, precision="fp32")
    assert mixed.settings.blend == (0.5, 0.5) and not torch.equal(mixed.image, alone)


def test_adam_levels_and_snapshots(images):
    content, style = images
    result = style_transfer(content, style, size=40, steps=6, levels=2, optimizer="adam", snapshots=3)
    assert result.image.shape[-2:] == (40, 34)
    assert len(result.history["total"]) == 12 and len(result.snapshots) == 3
    assert result.snapshots[0].shape[-2:] == (20, 17) and result.snapshots[-1].shape[-2:] == (40, 34)
    assert result.history["total"][5] < result.history["total"][0]


def test_lbfgs_without_line_search_is_projected(images):
    content, style = images
    result = style_transfer(content, style, size=32, steps=12, line_search=False, precision="fp32")
    total = result.history["total"]
    assert len(total) == 12 and total.min() < 0.2 * total[0]
    assert 0 <= result.image.min() and result.image.max() <= 1


def test_bf16_gives_the_same_picture_as_fp32(images):
    content, style = images
    a = style_transfer(content, style, size=32, steps=20, precision="fp32")
    b = style_transfer(content, style, size=32, steps=20, precision="bf16")
    assert b.settings.precision == "bf16" and a.settings.precision == "fp32"
    # the optimization is chaotic, so the pictures drift apart a little; the quality is the same
    assert (a.image - b.image).abs().mean() < 0.1
    assert 0.8 < float(b.history["total"][-1] / a.history["total"][-1]) < 1.25


def test_clear_errors(images, tmp_path):
    content, style = images
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataFileError, match="not a readable image"):
        style_transfer(bad, style)
    with pytest.raises(UnknownNameError, match="no layer"):
        style_transfer(content, style, style_layers=["relu9"], steps=1)
    with pytest.raises(UnknownNameError, match="choose from"):
        style_transfer(content, style, extractor="vgg99", steps=1)
    with pytest.raises(InputError, match="blend"):
        style_transfer(content, [style, style], blend=[1.0], steps=1)
    with pytest.raises(InputError, match="optimizer"):
        style_transfer(content, style, optimizer="sgd", steps=1)
    with pytest.raises(InputError, match="shape"):
        style_transfer(torch.rand(5, 8, 8), style, steps=1)
    with pytest.raises(InputError, match="cached"):
        style_transfer(content, style, extractor="vgg16", download=False, steps=1)
