"""The optimization loop shared by class visualization and channel/neuron maximization.

All images (every target and every seed) are optimized in ONE batch. Each image has its own
random generator (seeded by its seed), so an image comes out the same whether it is optimized
alone or together with others, and a fixed seed gives identical images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from .._runner import gradients_on
from ..errors import InputError
from .ops import affine_matrices, clamp_pixels, gaussian_blur, jitter, resample, sampling_grid
from .presets import FOURIER, Preset, get_preset

Objective = Callable[[torch.Tensor], torch.Tensor]  # images (N,C,H,W) -> (N,) scores to maximize
Progress = Callable[[int], None]
REFERENCE_PIXELS = 28 * 28  # presets' L2 weights are given for a 28x28 image
PREGRID_ELEMENTS = 8 * 2**20  # precompute every step's sampling grid up to this many numbers (32 MB)

# Colour decorrelation for 3-channel images: pixel colour = OPPONENT @ v. The columns are the
# luminance axis and two colour-opponent axes (red-green, blue-yellow), the principal axes of the
# colour of natural images, weighted by a typical spread along each (luminance dominates).
_AXES = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]])
_AXES = _AXES / _AXES.norm(dim=1, keepdim=True)
OPPONENT = (_AXES.T * torch.tensor([1.0, 0.3, 0.15])).contiguous()  # (3, 3)


@dataclass(frozen=True)
class Options:
    """Resolved settings of one run (a preset with explicit overrides; jitter in pixels)."""

    preset: str
    param: str
    steps: int
    lr: float
    l2: float
    blur_every: int
    blur_sigma: float
    jitter: int
    start: str
    clamp: bool
    scale: float
    rotate: float
    decay: float


def resolve_options(preset: str | Preset, size: tuple[int, int, int], **overrides: object) -> Options:
    """The preset's settings with every non-``None`` override applied, checked.

    Args:
        preset: a preset name or :class:`Preset`.
        size: the image's ``(C, H, W)`` (the preset's jitter is a fraction of its larger side, its
            L2 weight is scaled by 784/(H·W)).
        overrides: ``steps``, ``lr``, ``l2``, ``blur_every``, ``blur_sigma``, ``jitter`` (pixels), ``start``.
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    side, pixels = max(size[1:]), size[1] * size[2]
    base = Options(
        p.name, p.param, p.steps, p.lr, p.l2 * REFERENCE_PIXELS / pixels, p.blur_every, p.blur_sigma,
        max(1, round(p.jitter * side)) if p.jitter > 0 else 0, p.start, p.clamp, p.scale, p.rotate, p.decay,
    )  # fmt: skip
    opts = replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    for name, low in (("steps", 1), ("blur_every", 0), ("jitter", 0)):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    for name in ("lr", "l2", "blur_sigma"):
        value = getattr(opts, name)
        if (
            not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or (name == "lr" and value == 0)
        ):
            raise InputError(f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}, got {value!r}")
    if opts.start not in ("zeros", "noise"):
        raise InputError(f"start must be 'zeros' or 'noise', got {opts.start!r}")
    if opts.param == FOURIER and overrides.get("blur_every"):
        raise InputError(f"blur_every applies to pixel presets; preset {opts.preset!r} already favours smooth images")
    return opts


def seed_list(seed: int | Sequence[int] | None) -> list[int]:
    """Seeds as a list: one int, a sequence (one image per seed and target), or ``None`` (one random seed
    drawn from torch's global generator, so ``torch.manual_seed`` makes it reproducible)."""
    if seed is None:
        return [int(torch.randint(0, 2**31 - 1, ()).item())]
    if isinstance(seed, bool):
        raise InputError("seed must be an int, a sequence of ints or None, not a bool")
    if isinstance(seed, int):
        return [seed]
    seeds = [int(s) for s in seed]
    if not seeds:
        raise InputError("seed is an empty sequence; pass at least one seed")
    return seeds


def _spectrum_scale(h: int, w: int, decay: float) -> torch.Tensor:
    """1/f^decay weights of an rfft2 spectrum (f in cycles per pixel, at least 1/side), shape (H, W//2+1)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freq = torch.sqrt(fy * fy + fx * fx).clamp(min=1.0 / max(h, w))
    return freq.pow(-decay)


class FourierImage:
    """Images as a decorrelated, 1/f-weighted Fourier spectrum passed through a sigmoid (Olah et al. 2017).

    Optimizing the spectrum instead of the pixels equalizes how fast low and high frequencies
    change (natural images have 1/f spectra), and decorrelating the colours does the same for
    luminance and colour; the sigmoid keeps every pixel in (0, 1).
    """

    def __init__(self, spectrum: torch.Tensor, size: tuple[int, int, int], decay: float) -> None:
        c, h, w = size
        self.size = size
        self.spectrum = spectrum  # (N, C, H, W//2+1, 2): real and imaginary parts
        self.scale = _spectrum_scale(h, w, decay).to(spectrum.device, spectrum.dtype)
        self.colour = OPPONENT.to(spectrum.device, spectrum.dtype) if c == 3 else None

    def image(self, spectrum: torch.Tensor) -> torch.Tensor:
        """The images of ``spectrum``, in (0, 1), shape (N, C, H, W)."""
        _, h, w = self.size
        coeffs = torch.view_as_complex(spectrum) * self.scale
        v = torch.fft.irfft2(coeffs, s=(h, w), norm="ortho") / 4
        if self.colour is not None:
            v = torch.einsum("ij,njhw->nihw", self.colour, v)
        return torch.sigmoid(v)


def _draws(seeds: Sequence[int], size: tuple[int, int, int], opts: Options) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image random start and per-step transformation parameters, from each image's own generator.

    Returns:
        start (N, C, H, W) for pixels or (N, C, H, W//2+1, 2) for the spectrum, and per-step
        parameters (steps, N, 2) integer shifts or (steps, N, 4) ``(dy, dx, scale, angle)``.
    """
    c, h, w = size
    starts, moves = [], []
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        if opts.param == FOURIER:
            shape = (c, h, w // 2 + 1, 2)
            starts.append(torch.randn(shape, generator=gen) * 0.01 if opts.start == "noise" else torch.zeros(shape))
            u = torch.rand(opts.steps, 4, generator=gen) * 2 - 1
            moves.append(
                u * torch.tensor([opts.jitter, opts.jitter, opts.scale, opts.rotate]) + torch.tensor([0, 0, 1.0, 0])
            )
        else:
            noise = (0.5 + 0.1 * torch.randn(size, generator=gen)).clamp(0, 1)
            starts.append(noise if opts.start == "noise" else torch.zeros(size))
            moves.append(torch.randint(-opts.jitter, opts.jitter + 1, (opts.steps, 2), generator=gen))
    return torch.stack(starts), torch.stack(moves, dim=1)


def optimize(
    objective: Objective, size: tuple[int, int, int], seeds: Sequence[int], opts: Options, *,
    device: torch.device, dtype: torch.dtype, progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Maximize ``objective(image) - l2·‖image‖²`` for a batch of images, one per seed.

    Args:
        objective: images (N, C, H, W) -> (N,) scores; image i is scored for its own target.
        size: ``(C, H, W)``.
        seeds: one seed per image (its start and random transformations).
        opts: resolved settings.
        device, dtype: where and in what precision the images live (the model's).
        progress: called with the number of finished steps after each step.

    Returns:
        The final images clamped to [0, 1], shape (N, C, H, W), and the objective per step and
        image, shape (steps, N).
    """
    start, moves = _draws(seeds, size, opts)
    start, moves = start.to(device, dtype), moves.to(device)
    history = torch.empty(opts.steps, len(seeds), device=device, dtype=dtype)
    if opts.param == FOURIER:
        images = _optimize_fourier(objective, start, moves, size, opts, history, progress)
    else:
        images = _optimize_pixels(objective, start, moves, opts, history, progress)
    return clamp_pixels(images.detach()), history


def _l2(images: torch.Tensor) -> torch.Tensor:
    return images.square().flatten(1).sum(1)


def _optimize_pixels(
    objective: Objective, image: torch.Tensor, shifts: torch.Tensor, opts: Options, history: torch.Tensor,
    progress: Progress | None,
) -> torch.Tensor:  # fmt: skip
    """Normalized gradient ascent on the pixels (Simonyan et al. 2014; Yosinski et al. 2015)."""
    for step in range(opts.steps):
        x = image.requires_grad_(True)
        with gradients_on():
            seen = jitter(x, shifts[step]) if opts.jitter else x
            value = objective(seen)
            if opts.l2:
                value = value - opts.l2 * _l2(x)
            (grad,) = torch.autograd.grad(value.sum(), x)
        with torch.no_grad():
            history[step] = value.detach()
            rms = grad.square().mean(dim=(1, 2, 3), keepdim=True).sqrt_().add_(1e-12)
            image = x.detach().addcdiv_(grad, rms, value=opts.lr)
            if opts.blur_every and (step + 1) % opts.blur_every == 0:
                image = gaussian_blur(image, opts.blur_sigma)
            if opts.clamp:
                clamp_pixels(image)
        if progress is not None:
            progress(step + 1)
    return image


def _optimize_fourier(
    objective: Objective, spectrum: torch.Tensor, moves: torch.Tensor, size: tuple[int, int, int], opts: Options,
    history: torch.Tensor, progress: Progress | None,
) -> torch.Tensor:  # fmt: skip
    """Adam on a decorrelated Fourier spectrum under random transformations (Olah et al. 2017)."""
    param = FourierImage(spectrum, size, opts.decay)
    _, h, w = size
    theta = affine_matrices(moves, h, w).to(spectrum.dtype)  # (steps, N, 2, 3), all steps at once
    # the sampling grids of every step at once when they are small (28 px: 12 MB for 200 steps of 10 images)
    grids = sampling_grid(theta, h, w) if theta.shape[0] * theta.shape[1] * h * w * 2 <= PREGRID_ELEMENTS else None
    spectrum.requires_grad_(True)
    adam = torch.optim.Adam([spectrum], lr=opts.lr, maximize=True)
    robust = bool(opts.jitter or opts.scale or opts.rotate)
    for step in range(opts.steps):
        with gradients_on():
            image = param.image(spectrum)
            seen = image
            if robust:
                seen = resample(image, grids[step] if grids is not None else sampling_grid(theta[step], h, w))
            value = objective(seen)
            if opts.l2:
                value = value - opts.l2 * _l2(image)
            (grad,) = torch.autograd.grad(value.sum(), spectrum)
        with torch.no_grad():
            history[step] = value.detach()
        spectrum.grad = grad
        adam.step()
        if progress is not None:
            progress(step + 1)
    with torch.no_grad():
        return param.image(spectrum.detach())


__all__ = ["FourierImage", "OPPONENT", "Options", "optimize", "resolve_options", "seed_list"]
