"""RISE (Petsiuk, Das & Saenko 2018): saliency from the scores of randomly masked images."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import Target, is_multi
from .._hooks import inspecting
from .._outputs import OutputSpec
from ..errors import InputError
from ..registry import register_method
from ._common import chunks, finish, outside_inference_mode, positive_int, prepare_input
from ._perturb import Engine


class RiseMasks:
    """``count`` random smooth masks of an (H, W) image, built on demand on the device.

    Mask ``i`` is a ``cell × cell`` grid of Bernoulli(``p``) cells, upsampled bilinearly to
    ``(cell + 1) · ceil(H / cell)`` pixels per side and cropped at a random shift (Petsiuk et
    al. 2018, section 3.2). The grids and shifts are drawn once from ``seed``, so mask ``i`` is
    the same in whatever chunk it is built.
    """

    def __init__(
        self, count: int, size: tuple[int, int], cell: int, p: float, seed: int | None, device: torch.device
    ) -> None:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.size = size
        self.step = (math.ceil(size[0] / cell), math.ceil(size[1] / cell))
        self.big = ((cell + 1) * self.step[0], (cell + 1) * self.step[1])
        self.grids = (torch.rand((count, 1, cell, cell), generator=generator) < p).to(device)
        self.shifts = torch.stack([torch.randint(0, s, (count,), generator=generator) for s in self.step], dim=1).to(
            device
        )

    def __call__(self, idx: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Masks ``idx`` (n,), shape (n, 1, H, W), values in [0,1]."""
        big = F.interpolate(self.grids[idx].to(dtype), size=self.big, mode="bilinear", align_corners=False)
        height, width = self.size
        rows = self.shifts[idx, 0, None] + torch.arange(height, device=idx.device)  # (n, H)
        cols = self.shifts[idx, 1, None] + torch.arange(width, device=idx.device)  # (n, W)
        n = idx.numel()
        rows_idx = rows[:, :, None].expand(n, height, self.big[1])
        picked = big[:, 0].gather(1, rows_idx)  # (n, H, bigW)
        return picked.gather(2, cols[:, None, :].expand(n, height, width))[:, None]


@register_method(
    "rise",
    kind="attribution",
    output="map",
    signed=False,
    summary="average of random smooth masks weighted by the class probability of the masked image",
    paper="Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models",
)
@outside_inference_mode
def rise(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    masks: int = 2000,
    cell: int = 7,
    p: float = 0.5,
    seed: int | None = 0,
    batch_size: int | None = None,
    top: int | None = None,
    output: OutputSpec = None,
) -> torch.Tensor:
    """RISE: ``S = Σ_i P(class | x ⊙ M_i) · M_i / (N · p)`` over ``N`` random smooth masks.

    From Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
    Black-box Models" (eq. 6, masks as in section 3.2, see :class:`RiseMasks`). The model is a
    black box: only its class probabilities are used. All images share the same masks; copies
    of every image under every mask run through the perturbation engine
    (:mod:`convlens.attribution._perturb`), the masks built on the device chunk by chunk.

    Args:
        model: any classifier taking [0,1] images.
        x: images in [0,1].
        target: None (predicted class), an int, one class per image, or a (B, K) tensor.
        masks: number of random masks N (the paper uses 4000 to 8000 for ImageNet models).
        cell: cells per side of the random grid (the paper's s).
        p: probability that a cell is kept.
        seed: seed of the masks (reproducible on any device); None draws from torch's global generator.
        batch_size: masked copies per forward pass; default sized to free memory.
        top: explain each image's ``top`` highest-scoring classes; all K come from the same copies.
        output: where the logits are in the model's output.

    Returns:
        The saliency, ≥ 0, detached, on ``x``'s device.

    Shape:
        ``x``: (B,C,H,W); result (B,1,H,W), or (B,K,1,H,W) for K classes per image.
    """
    count = positive_int(masks, "masks")
    cell = positive_int(cell, "cell")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise InputError(f"p must be a probability in (0, 1], got {p!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"seed must be an int or None, got {seed!r}")
    xin = prepare_input(model, x)
    batch = xin.shape[0]
    size = (int(xin.shape[-2]), int(xin.shape[-1]))
    with inspecting(model), torch.no_grad():
        engine = Engine(model, xin, target, top, output, batch_size=batch_size, probability=True)
        make = RiseMasks(count, size, cell, float(p), seed, xin.device)
        layout = engine.run.layout(xin)

        def build(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            first, last = int(idx[0]) // batch, int(idx[-1]) // batch  # mask-major: images inner
            built = make(torch.arange(first, last + 1, device=idx.device), xin.dtype)
            image = idx % batch
            return layout[image] * built[idx // batch - first], image

        scores = engine.inputs(count * batch, build).view(count, batch, -1)  # (N, B, K)
        classes = scores.shape[2]
        total = xin.new_zeros((batch * classes, size[0] * size[1]))
        weights = scores.permute(1, 2, 0).reshape(batch * classes, count)
        for start, stop in chunks(count, 256):
            built = make(torch.arange(start, stop, device=xin.device), xin.dtype).flatten(1)  # (n, H·W)
            total.addmm_(weights[:, start:stop], built)
        heat = (total / (count * float(p))).view(batch, classes, 1, *size)
    return finish(heat if is_multi(target, top) else heat[:, 0], x)
