"""The three losses of neural style transfer (Gatys, Ecker and Bethge 2016, "Image Style Transfer
Using Convolutional Neural Networks", CVPR), plus total variation (Mahendran and Vedaldi 2015,
"Understanding Deep Image Representations by Inverting Them").

Every loss is a plain function of tensors: differentiable, batched, vectorized, with the exact
formula in its docstring (the tests check each against hand computation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..errors import InputError

Layered = Sequence[torch.Tensor] | Mapping[str, torch.Tensor]


def content_loss(features: torch.Tensor, target_features: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Content loss ``w_c · Σ (F − P)²`` (Gatys et al. 2016, eq. 1, without the 1/2).

    Args:
        features: features ``F`` of the image being optimized at the content layer.
        target_features: features ``P`` of the content image at the same layer (broadcast
            against ``features``, so one target serves a batch).
        weight: ``w_c``.

    Returns:
        A scalar tensor: the sum over every element (and the batch).

    Shape:
        ``features`` ``(B, C, H, W)`` (any shape works); ``target_features`` broadcastable to it.
    """
    return weight * (features - target_features).pow(2).sum()


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Gram matrix of feature maps, ``G = F Fᵀ`` with ``F`` the features reshaped to ``(C, H·W)``.

    ``G[c, d]`` is the inner product of channel ``c`` and channel ``d`` over all positions: which
    features occur together, wherever they are (Gatys et al. 2016, eq. 3). Channels-last
    features are multiplied without a copy.

    Args:
        features: feature maps.
        normalize: divide by ``C·H·W`` so that Grams of different layers and image sizes compare.

    Returns:
        The Gram matrices, one per image.

    Shape:
        ``(B, C, H, W)`` → ``(B, C, C)``.
    """
    if features.dim() != 4:
        raise InputError(f"gram_matrix needs features of shape (B,C,H,W), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        rows = features.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view: (B, HW, C)
        gram = torch.bmm(rows.transpose(1, 2), rows)
    else:
        flat = features.reshape(b, c, h * w)
        gram = torch.bmm(flat, flat.transpose(1, 2))
    return gram / (c * h * w) if normalize else gram


def _aligned(features: Layered, targets: Layered, weights: Sequence[float] | Mapping[str, float]) -> list[tuple]:
    """Pair features, target Grams and weights by layer (sequences by position, mappings by name)."""
    if isinstance(features, Mapping):
        if not isinstance(targets, Mapping) or not isinstance(weights, Mapping):
            raise InputError("style_loss: pass features, target Grams and weights all as mappings or all as sequences")
        missing = [k for k in features if k not in targets or k not in weights]
        if missing:
            raise InputError(f"style_loss: no target Gram or weight for layers {missing}")
        return [(features[k], targets[k], float(weights[k])) for k in features]
    if isinstance(targets, Mapping) or isinstance(weights, Mapping):
        raise InputError("style_loss: pass features, target Grams and weights all as mappings or all as sequences")
    if not len(features) == len(targets) == len(weights):
        raise InputError(
            f"style_loss: {len(features)} feature maps, {len(targets)} target Grams and {len(weights)} weights; "
            "give one of each per style layer"
        )
    return list(zip(features, targets, (float(w) for w in weights), strict=False))


def style_loss(
    features_by_layer: Layered,
    target_grams_by_layer: Layered,
    layer_weights: Sequence[float] | Mapping[str, float],
) -> torch.Tensor:
    """Style loss ``Σ_l w_l · Σ (G_l − A_l)²`` (Gatys et al. 2016, eqs. 4-5, with the constants in ``w_l``).

    ``G_l = gram_matrix(F_l)`` (normalized by ``C·H·W``) of the image being optimized and ``A_l``
    the style image's Gram at the same layer.

    Args:
        features_by_layer: feature maps ``F_l``, one per style layer.
        target_grams_by_layer: target Grams ``A_l``, aligned with the features (``(1, C, C)``
            targets serve a whole batch).
        layer_weights: ``w_l``, aligned with the features.
            All three may instead be mappings keyed by layer name.

    Returns:
        A scalar tensor.

    Shape:
        ``F_l`` ``(B, C_l, H_l, W_l)``; ``A_l`` ``(B or 1, C_l, C_l)``.
    """
    terms = _aligned(features_by_layer, target_grams_by_layer, layer_weights)
    if not terms:
        raise InputError("style_loss needs at least one style layer")
    total = terms[0][0].new_zeros(())
    for feats, target, weight in terms:
        total = total + weight * (gram_matrix(feats) - target).pow(2).sum()
    return total


def tv_loss(image: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Total-variation loss ``w_t · Σ_c [Σ (x[i+1, j] − x[i, j])² + Σ (x[i, j+1] − x[i, j])²]``.

    Squared differences of vertically and horizontally adjacent pixels, summed over channels
    and the batch: it keeps the optimized image smooth (Mahendran and Vedaldi 2015).

    Args:
        image: the images.
        weight: ``w_t``.

    Returns:
        A scalar tensor.

    Shape:
        ``(B, C, H, W)``.
    """
    if image.dim() != 4:
        raise InputError(f"tv_loss needs images of shape (B,C,H,W), got {tuple(image.shape)}")
    down = (image[:, :, 1:, :] - image[:, :, :-1, :]).pow(2).sum()
    right = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).sum()
    return weight * (down + right)
