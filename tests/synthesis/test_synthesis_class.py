"""Class visualization and maximization on a trained mnist-cnn: success, determinism, batching, safety."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from convlens.errors import InputError, UnknownNameError
from convlens.synthesis import check_unit, class_visualization, get_preset, list_presets, maximize


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def digits(trained_mnist):
    return class_visualization(trained_mnist, range(10), seed=0)  # the default preset and settings


def test_default_preset_makes_each_digit_predicted_as_itself(digits):
    assert digits.preset == "fourier"
    assert digits.images.shape == (10, 1, 28, 28) and digits.history.shape == (200, 10)
    assert 0 <= digits.images.min() and digits.images.max() <= 1
    assert int((digits.predicted == torch.arange(10)).sum()) >= 9
    assert digits.probability.shape == (10,) and bool(
        (digits.probability[digits.predicted == digits.targets] > 0.5).all()
    )


def test_objective_rises(digits):
    start, end = digits.history[:10].mean(0), digits.history[-10:].mean(0)
    assert bool((end > start + 1.0).all())


def test_score_is_the_raw_logit_of_the_returned_image(trained_mnist, digits):
    with torch.no_grad():
        logits = trained_mnist(digits.images)
    torch.testing.assert_close(digits.score, logits[torch.arange(10), digits.targets], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        digits.probability, logits.softmax(1)[torch.arange(10), digits.targets], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("preset", ["simonyan2014", "yosinski2015", "fourier"])
def test_fixed_seed_gives_identical_images_and_batching_changes_nothing(trained_mnist, preset):
    a = class_visualization(trained_mnist, [1, 3, 7], preset=preset, seed=[5, 6], steps=15)
    b = class_visualization(trained_mnist, [1, 3, 7], preset=preset, seed=[5, 6], steps=15)
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    assert a.targets.tolist() == [1, 1, 3, 3, 7, 7] and a.seeds.tolist() == [5, 6, 5, 6, 5, 6]
    alone = class_visualization(trained_mnist, 3, preset=preset, seed=6, steps=15)
    torch.testing.assert_close(alone.images[0], a.images[3], rtol=1e-4, atol=1e-4)  # same image, batched or alone
    if preset != "simonyan2014":  # random jitter or transformations: another seed, another image
        assert not torch.equal(a.images[2], a.images[3])


def test_presets_do_what_they_say(trained_mnist):
    names = [p.name for p in list_presets()]
    assert names == ["simonyan2014", "yosinski2015", "fourier"]
    plain = get_preset("simonyan2014")
    assert plain.start == "zeros" and plain.blur_every == 0 and plain.jitter == 0 and plain.l2 > 0 and not plain.clamp
    classic = get_preset("yosinski2015")
    assert classic.blur_every > 0 and classic.jitter > 0 and classic.clamp and classic.l2 > 0
    r = class_visualization(trained_mnist, [2], preset="simonyan2014", steps=1, lr=0.01)
    with torch.no_grad():
        at_zero = float(trained_mnist(torch.zeros(1, 1, 28, 28))[0, 2])
    assert r.history[0, 0] == pytest.approx(at_zero, abs=1e-4)  # from zeros, the L2 penalty starts at 0
    with pytest.raises(UnknownNameError, match="simonyan2014"):
        class_visualization(trained_mnist, 0, preset="simonyan")


def test_model_comes_back_untouched_also_on_error(trained_mnist):
    model = copy.deepcopy(trained_mnist).train()
    model.features[0].weight.grad = torch.ones_like(model.features[0].weight)
    model.classifier[1].bias.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    class_visualization(model, [0, 1], steps=3, seed=0)
    maximize(model, "features.3", channel=[0, 1], steps=3, seed=0)
    with pytest.raises(InputError, match="classes 0..9"):
        class_visualization(model, 12, steps=3)
    with pytest.raises(InputError, match="32 channels"):
        maximize(model, "features.3", channel=40, steps=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])
    assert all(m.training for m in model.modules()) and _hooks(model) == 0
    assert torch.equal(model.features[0].weight.grad, torch.ones_like(model.features[0].weight))
    assert not model.classifier[1].bias.requires_grad and model.features[0].weight.requires_grad
    assert model.classifier[1].weight.grad is None


def test_maximize_channel_neuron_and_fully_connected_unit(trained_mnist):
    calls = []
    handle = trained_mnist.classifier.register_forward_hook(lambda *_: calls.append(1))
    try:
        r = maximize(trained_mnist, "features.3", channel=[0, 5], steps=40, seed=0)
    finally:
        handle.remove()
    assert not calls  # the forward pass stops at the layer
    assert r.images.shape == (2, 1, 28, 28) and r.probability is None and r.objective == "features.3 channel mean"
    assert bool((r.history[-5:].mean(0) > r.history[:5].mean(0)).all())
    unit = maximize(trained_mnist, "features.3", channel=2, neuron="center", steps=5, seed=0)
    assert "(y, x) = (7, 7)" in unit.objective
    fc = maximize(trained_mnist, "classifier.1", neuron=7, steps=20, seed=0)
    with torch.no_grad():
        h = trained_mnist.classifier[1](trained_mnist.features(trained_mnist.normalize(fc.images)).flatten(1))
    torch.testing.assert_close(fc.score, h[:, 7], rtol=1e-4, atol=1e-4)
    with pytest.raises(UnknownNameError, match="closest names"):
        maximize(trained_mnist, "features.33", channel=0)
    with pytest.raises(InputError, match="pass channel="):
        maximize(trained_mnist, "features.3")


def test_colour_models_at_224_pixels():
    from convlens.models import create_model

    torch.manual_seed(0)
    model = create_model("squeezenet1_1")
    r = class_visualization(model, [1, 2], steps=2, seed=0)  # 224x224 from the model's metadata
    assert r.images.shape == (2, 3, 224, 224) and torch.isfinite(r.history).all()
    m = maximize(model, "features.3", channel=4, steps=2, seed=0, preset="yosinski2015", image_size=64)
    assert m.images.shape == (1, 3, 64, 64)


def test_bad_options_are_clear(trained_mnist):
    with pytest.raises(InputError, match="steps"):
        class_visualization(trained_mnist, 0, steps=0)
    with pytest.raises(InputError, match="start"):
        class_visualization(trained_mnist, 0, start="gray")
    with pytest.raises(InputError, match="blur_every"):
        class_visualization(trained_mnist, 0, preset="fourier", blur_every=3)
    with pytest.raises(InputError, match="image_size"):
        class_visualization(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2)), 0)


def test_registered_as_synthesis_methods():
    from convlens.registry import get_method

    assert get_method("class-visualization").kind == "synthesis"
    assert get_method("maximize").takes_layer and get_method("maximize").output == "image"
    assert "preset" in get_method("class-visualization").defaults


def test_check_unit_names_the_problem_before_any_step(capsys):
    from convlens.cli import main
    from convlens.models import create_model

    model = create_model("mnist-cnn").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert check_unit(model, "features.0", [0, 31]) == [0, 31]
    with pytest.raises(InputError, match="has 32 channels"):
        check_unit(model, "features.0", [32])
    with pytest.raises(UnknownNameError, match="unknown layer"):
        check_unit(model, "features.99", [0])
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert main(["dream", "mnist-cnn", "--layer", "features.0", "--channel", "40", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "0..31" in err and "step/s" not in err  # refused before the optimization started
