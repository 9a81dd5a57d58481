"""Sanity checks (Adebayo et al. 2018): stages, similarities, and the caller's model left bit-identical."""

from __future__ import annotations

import pytest
import torch

from convlens.data.dataset import Splits
from convlens.errors import InputError
from convlens.train import TrainConfig
from convlens.trust import data_randomization_test, randomizable_layers, randomization_test
from convlens.trust.similarity import METRICS
from model_safety import assert_unchanged, snapshot

METHODS = ["saliency", "guided-backprop", "grad-cam", "occlusion-sensitivity"]
LAYERS = ["features.0", "features.3", "classifier.1", "classifier.3"]


@pytest.fixture(scope="module")
def cascading(trained_mnist, test_digits):
    before = snapshot(trained_mnist)
    rng = torch.get_rng_state()
    result = randomization_test(trained_mnist, test_digits[0][:4], METHODS, mode="cascading", seed=5)
    assert_unchanged(before, trained_mnist)  # randomized a copy: the original is bit-identical
    assert torch.equal(torch.get_rng_state(), rng)  # a seed leaves torch's global generator alone
    return result


def test_layers_are_found_in_the_order_they_run(trained_mnist, test_digits):
    assert randomizable_layers(trained_mnist, test_digits[0][:1]) == LAYERS


def test_cascading_stages_randomize_from_the_output_down(cascading):
    assert cascading.stages == ("original", *(f"down to {n}" for n in reversed(LAYERS)))
    assert cascading.layers == tuple(reversed(LAYERS))
    assert cascading.maps["saliency"].shape == (5, 4, 1, 28, 28)
    assert cascading.maps["occlusion-sensitivity"].shape[:2] == (5, 4)
    for name in METHODS:
        assert set(cascading.similarity[name]) == set(METRICS)
        for metric in METRICS:
            values = cascading.similarity[name][metric]
            assert values.shape == (5, 4)
            assert torch.allclose(values[0], torch.ones(4, dtype=values.dtype))  # stage 0 is the original


def test_similarity_table_has_a_row_per_method_and_stage(cascading):
    rows = cascading.table()
    assert len(rows) == len(METHODS) * 5
    assert rows[0][:2] == ("saliency", "original") and rows[0][2:] == pytest.approx([1.0] * len(METRICS))


def test_randomizing_every_layer_destroys_the_gradient(cascading):
    """The paper's main result for plain gradients: once all layers are random, saliency is unrelated."""
    assert float(cascading.mean_similarity("saliency", "spearman_abs")[-1]) < 0.5
    assert float(cascading.mean_similarity("saliency", "ssim")[-1]) < 0.5


def test_independent_randomizes_one_layer_at_a_time(trained_mnist, test_digits, cascading):
    result = randomization_test(trained_mnist, test_digits[0][:4], METHODS, mode="independent", seed=5)
    assert result.stages == ("original", *reversed(LAYERS))
    # the first stage randomizes the top layer only, with the same seed: the same maps as cascading's
    for name in METHODS:
        torch.testing.assert_close(result.maps[name][:2], cascading.maps[name][:2])
    # later stages restore the layer before randomizing the next: the last stage differs from cascading's
    assert not torch.equal(result.maps["saliency"][-1], cascading.maps["saliency"][-1])


def test_same_seed_same_maps_and_layer_choice(trained_mnist, test_digits):
    x = test_digits[0][:2]
    a = randomization_test(trained_mnist, x, "saliency", seed=1, layers=["classifier.3"])
    b = randomization_test(trained_mnist, x, "saliency", seed=1, layers=["classifier.3"])
    assert a.stages == ("original", "down to classifier.3")
    assert torch.equal(a.maps["saliency"], b.maps["saliency"])
    with pytest.raises(InputError, match="features.0"):
        randomization_test(trained_mnist, x, "saliency", layers=["nope"])
    with pytest.raises(InputError):
        randomization_test(trained_mnist, x, "saliency", mode="sideways")


def test_model_with_batchnorm_in_training_mode_comes_back_exactly(test_digits):
    from convlens.models import create_model

    torch.manual_seed(0)
    model = create_model("mnist-cnn", batchnorm=True).train()
    before = snapshot(model)
    result = randomization_test(model, test_digits[0][:2], ["saliency"], seed=0)
    assert_unchanged(before, model)
    assert len(result.stages) == 1 + len(randomizable_layers(model, test_digits[0][:1]))


def test_data_randomization_trains_a_copy_on_permuted_labels(trained_mnist, test_digits, mnist_splits):
    small = Splits(
        mnist_splits.train.subset(torch.arange(0, 3500, 7)), mnist_splits.val.subset(torch.arange(0, 500, 5)),
        mnist_splits.test.subset(torch.arange(0, 1000, 10)),
    )  # fmt: skip
    before = snapshot(trained_mnist)
    labels = small.train.labels.clone()
    result = data_randomization_test(
        trained_mnist, test_digits[0][:3], small, ["saliency", "grad-cam"], config=TrainConfig(epochs=1, seed=0)
    )
    assert_unchanged(before, trained_mnist)
    assert torch.equal(small.train.labels, labels)  # the caller's data set is not permuted in place
    assert result.random_model is not trained_mnist
    assert result.maps["saliency"].shape == (2, 3, 1, 28, 28)
    assert torch.equal(result.target, trained_mnist(test_digits[0][:3]).argmax(1))
    assert result.similarity["grad-cam"]["ssim"].shape == (3,)
    assert result.test_accuracy < 0.5  # nothing to learn from permuted labels
