"""The batched similarity metrics equal the reference implementations (scipy, scikit-image)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convlens.errors import InputError
from convlens.trust.similarity import hog, hog_similarity, map_similarity, rank, spearman, ssim

stats = pytest.importorskip("scipy.stats")
skimage_metrics = pytest.importorskip("skimage.metrics")
skimage_feature = pytest.importorskip("skimage.feature")


@pytest.fixture(scope="module")
def maps() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(4, 28, 28, generator=gen, dtype=torch.float64)
    b = torch.rand(4, 28, 28, generator=gen, dtype=torch.float64)
    a[0, :10] = 0.0  # ties, as in rectified maps
    b[1, 5:20] = 0.5
    a[2] = a[2].round(decimals=1)  # many ties
    b[3] = 0.3 * a[3] + 0.7 * b[3]  # correlated pair
    return a, b


def test_rank_matches_scipy_rankdata(maps):
    a, _ = maps
    ours = rank(a.flatten(1))
    for i in range(a.shape[0]):
        np.testing.assert_allclose(ours[i].numpy(), stats.rankdata(a[i].ravel()), rtol=0, atol=1e-12)


def test_spearman_matches_scipy(maps):
    a, b = maps
    ours = spearman(a, b)
    for i in range(a.shape[0]):
        assert float(ours[i]) == pytest.approx(stats.spearmanr(a[i].ravel(), b[i].ravel()).statistic, abs=1e-12)


def test_ssim_matches_skimage(maps):
    a, b = maps
    for win in (7, 3):
        ours = ssim(a, b, data_range=1.0, win_size=win)
        for i in range(a.shape[0]):
            ref = skimage_metrics.structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0, win_size=win)
            assert float(ours[i]) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize(("cell", "block", "orientations"), [(4, 2, 9), (8, 3, 9), (5, 2, 8), (3, 3, 6)])
def test_hog_matches_skimage(maps, cell, block, orientations):
    a, _ = maps
    ours = hog(a, orientations=orientations, cell=cell, block=block)
    for i in range(a.shape[0]):
        ref = skimage_feature.hog(
            a[i].numpy(), orientations=orientations, pixels_per_cell=(cell, cell), cells_per_block=(block, block),
            block_norm="L2-Hys",
        )  # fmt: skip
        assert ours[i].shape == ref.shape
        # scikit-image sums each cell's votes in single precision: agreement to ~1e-8
        np.testing.assert_allclose(ours[i].numpy(), ref, rtol=0, atol=1e-6)


def test_a_map_compared_with_itself_scores_one(maps):
    a, _ = maps
    assert torch.allclose(spearman(a, a), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(ssim(a, a), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(hog_similarity(a, a), torch.ones(4, dtype=torch.float64))
    sims = map_similarity(a[:, None] - 0.5, a[:, None] - 0.5)
    for values in sims.values():
        assert torch.allclose(values, torch.ones(4, dtype=torch.float64))


def test_broadcasting_compares_every_stage_with_the_original(maps):
    a, b = maps
    stages = torch.stack([a, b, 1.0 - a])  # (S, B, H, W) against (1, B, H, W)
    s = spearman(stages, a[None])
    assert s.shape == (3, 4)
    assert torch.allclose(s[0], torch.ones(4, dtype=torch.float64))
    assert torch.allclose(s[2], -torch.ones(4, dtype=torch.float64))  # reversed order
    assert torch.allclose(s[1], spearman(b, a))


def test_constant_map_has_no_rank_correlation(maps):
    a, _ = maps
    assert math.isnan(float(spearman(a[0], torch.zeros_like(a[0]))))


def test_bad_shapes_are_input_errors():
    with pytest.raises(InputError):
        spearman(torch.zeros(3, 5, 5), torch.zeros(3, 4, 4))
    with pytest.raises(InputError):
        ssim(torch.rand(1, 5, 5), torch.rand(1, 5, 5), win_size=7)
    with pytest.raises(InputError):
        hog(torch.rand(1, 6, 6), cell=4, block=2)
