"""The losses of style transfer against hand computation, and their gradients by gradcheck."""

from __future__ import annotations

import pytest
import torch

from convlens.errors import InputError
from convlens.style import content_loss, gram_matrix, style_loss, tv_loss


def test_content_loss_by_hand():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    p = torch.tensor([[[[0.0, 2.0], [1.0, 1.0]]]])
    # (1-0)^2 + 0 + (3-1)^2 + (4-1)^2 = 1 + 4 + 9 = 14
    assert content_loss(f, p, 0.5).item() == 7.0
    assert content_loss(f, f, 3.0).item() == 0.0


def test_gram_matrix_by_hand():
    # channel 0 = [1, 2], channel 1 = [3, 4] over a 1x2 map
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    raw = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]])
    assert torch.equal(gram_matrix(f, normalize=False), raw)
    assert torch.equal(gram_matrix(f), raw / (2 * 1 * 2))


def test_gram_matrix_batched_and_channels_last_agree():
    torch.manual_seed(0)
    f = torch.randn(3, 5, 4, 6)
    direct = torch.stack([(m.reshape(5, -1) @ m.reshape(5, -1).T) / (5 * 24) for m in f])
    torch.testing.assert_close(gram_matrix(f), direct)
    torch.testing.assert_close(gram_matrix(f.contiguous(memory_format=torch.channels_last)), direct)


def test_style_loss_by_hand_sequences_and_mappings():
    f1 = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # Gram/4 = [[1.25, 2.75], [2.75, 6.25]]
    f2 = torch.tensor([[[[2.0]]]])  # Gram/1 = [[4]]
    a1 = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])
    a2 = torch.tensor([[[1.0]]])
    # layer 1: 0.25^2 + 0.75^2 + 0.25^2 + 0.25^2 = 0.75 ; layer 2: 3^2 = 9
    expected = 2.0 * 0.75 + 0.5 * 9.0
    assert style_loss([f1, f2], [a1, a2], [2.0, 0.5]).item() == pytest.approx(expected)
    by_name = style_loss({"a": f1, "b": f2}, {"a": a1, "b": a2}, {"a": 2.0, "b": 0.5})
    assert by_name.item() == pytest.approx(expected)


def test_style_loss_rejects_misaligned_layers():
    f = torch.ones(1, 2, 2, 2)
    with pytest.raises(InputError, match="one of each"):
        style_loss([f, f], [gram_matrix(f)], [1.0, 1.0])
    with pytest.raises(InputError, match="mappings"):
        style_loss({"a": f}, [gram_matrix(f)], [1.0])


def test_tv_loss_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    # vertical (4-1)^2 + (8-2)^2 = 45, horizontal (2-1)^2 + (8-4)^2 = 17
    assert tv_loss(x, 1.0).item() == 62.0
    two = torch.cat([x, 2 * x], dim=1)  # channels add up: 62 + 4 * 62
    assert tv_loss(two, 0.1).item() == pytest.approx(0.1 * 5 * 62)
    assert tv_loss(torch.full((2, 3, 5, 4), 0.3), 7.0).item() == 0.0


def test_gradients_by_gradcheck_float64():
    torch.manual_seed(0)
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    p = torch.randn(1, 3, 4, 5, dtype=torch.float64)
    a = torch.randn(1, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: content_loss(t, p, 0.7), (f,))
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t), (f,))
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t, normalize=False), (f,))
    assert torch.autograd.gradcheck(lambda t: style_loss([t, t[:, :, :2]], [a, a], [1.5, 0.5]), (f,))
    assert torch.autograd.gradcheck(lambda t: tv_loss(t, 0.3), (f,))
