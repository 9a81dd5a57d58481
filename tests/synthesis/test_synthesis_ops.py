"""Blur, jitter, clamping and random transformations, tested as operators."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convlens.synthesis import clamp_pixels, gaussian_blur, jitter, transform
from convlens.synthesis.ops import gaussian_kernel


def test_gaussian_kernel_is_the_normalized_gaussian():
    k = gaussian_kernel(1.5)
    t = torch.arange(-5, 6, dtype=torch.float64)
    want = torch.exp(-(t**2) / (2 * 1.5**2))
    torch.testing.assert_close(k.double(), want / want.sum(), rtol=1e-6, atol=1e-7)
    assert torch.equal(k, k.flip(0)) and gaussian_kernel(0).tolist() == [1.0]


def test_blur_equals_a_2d_gaussian_convolution_with_reflected_borders():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 12, 10)
    k = gaussian_kernel(1.0)
    r = k.numel() // 2
    kernel2d = torch.outer(k, k).expand(3, 1, -1, -1)
    want = F.conv2d(F.pad(x, (r, r, r, r), mode="reflect"), kernel2d, groups=3)
    torch.testing.assert_close(gaussian_blur(x, 1.0), want, rtol=1e-5, atol=1e-6)


def test_blur_keeps_constants_smooths_noise_and_sigma_zero_is_identity():
    torch.manual_seed(0)
    flat = torch.full((1, 1, 9, 9), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    noise = torch.rand(4, 1, 28, 28)
    assert gaussian_blur(noise, 1.0).var() < 0.3 * noise.var()
    assert gaussian_blur(noise, 0.0) is noise


def test_jitter_is_torch_roll_per_image_and_shifts_gradients_back():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 7, 9, requires_grad=True)
    shifts = torch.tensor([[0, 0], [2, -3], [-8, 11]])
    out = jitter(x, shifts)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(out[i], torch.roll(x[i], (dy, dx), dims=(1, 2)))
    assert torch.equal(jitter(out, -shifts), x)
    w = torch.rand_like(x)
    (g,) = torch.autograd.grad((jitter(x, shifts) * w).sum(), x)
    assert torch.equal(g, jitter(w, -shifts))  # the gradient is the weight shifted back


def test_clamp_projects_onto_the_pixel_range_in_place():
    x = torch.tensor([-0.5, 0.0, 0.25, 1.0, 3.0])
    y = clamp_pixels(x)
    assert y is x and x.tolist() == [0.0, 0.0, 0.25, 1.0, 1.0]
    assert clamp_pixels(x.clone()).tolist() == x.tolist()  # idempotent


def test_transform_identity_and_integer_shift_match_jitter():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    identity = torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2)
    torch.testing.assert_close(transform(x, identity), x, rtol=1e-5, atol=1e-5)
    moved = transform(x, torch.tensor([[2.0, -3.0, 1.0, 0.0], [-1.0, 1.0, 1.0, 0.0]]))
    rolled = jitter(x, torch.tensor([[2, -3], [-1, 1]]))
    torch.testing.assert_close(moved[..., 4:-4, 4:-4], rolled[..., 4:-4, 4:-4], rtol=1e-5, atol=1e-5)  # same direction


def test_transform_rotation_by_90_degrees_and_zoom_keep_the_centre():
    x = torch.rand(1, 1, 9, 9)
    quarter = transform(x, torch.tensor([[0.0, 0.0, 1.0, 90.0]]))
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(2, 3))) or torch.allclose(
        quarter, torch.rot90(x, -1, dims=(2, 3))
    )
    zoom = transform(x, torch.tensor([[0.0, 0.0, 2.0, 0.0]]))
    assert zoom[0, 0, 4, 4] == pytest.approx(x[0, 0, 4, 4].item(), abs=1e-5)
