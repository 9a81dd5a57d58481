"""Shared fixtures: real sample data and a small trained ``mnist-cnn`` (trained once per run)."""

from __future__ import annotations

import os

import pytest
import torch

# One thread by default: the tests run many small operations, where OpenMP threads mostly wait for
# each other, and spinning threads make a busy 2-core machine several times slower.
torch.set_num_threads(int(os.environ.get("CONVLENS_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def mnist_splits():
    from convlens.data.sample import sample_splits

    return sample_splits()


@pytest.fixture(scope="session")
def trained_mnist(mnist_splits):
    """``mnist-cnn`` trained for one epoch on the sample's training part (about 97% test accuracy).

    Returns a fresh copy per request via ``copy.deepcopy`` in tests that modify it; tests must
    treat it as read-only.
    """
    from convlens.models import create_model

    torch.manual_seed(0)
    model = create_model("mnist-cnn")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    train = mnist_splits.train
    for x, y in train.batches(64, torch.randperm(len(train), generator=gen)):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def test_digits(mnist_splits):
    """The first 64 real test digits (float, [0,1]) and their labels: every class is among them.

    The split is in a seeded random order (not sorted by class), so the first 64 are mixed.
    """
    return mnist_splits.test.batch(slice(0, 64))
