"""Small public-domain photographs and textures that ship with convlens (provenance in
``images/PROVENANCE.md``), so that style transfer runs offline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from ..errors import UnknownNameError

# name -> (file, what it is)
SAMPLES = {
    "hopper": ("hopper.jpg", "Grace Hopper, 1984 (US Navy photograph; public domain), via matplotlib"),
    "chelsea": ("chelsea.jpg", "Chelsea the cat (Stefan van der Walt; CC0), via scikit-image"),
    "coffee": ("coffee.jpg", "a cup of coffee (Rachel Michetti; CC0), via scikit-image"),
    "ihc": (
        "ihc.jpg",
        "immunohistochemistry stain, a brown and blue cell texture (no known copyright), via scikit-image",
    ),
    "hubble": ("hubble.jpg", "Hubble eXtreme Deep Field, a crop (NASA; public domain), via scikit-image"),
    "brick": ("brick.jpg", "a brick wall texture (CC0Textures; CC0), via scikit-image"),
}


def sample_path(name: str) -> Path:
    """The file of a bundled sample image."""
    if name not in SAMPLES:
        raise UnknownNameError(f"unknown sample image {name!r}; choose from: {', '.join(SAMPLES)}")
    return Path(str(resources.files("convlens.style").joinpath("images").joinpath(SAMPLES[name][0])))


def sample_image(name: str, long_side: int | None = None) -> torch.Tensor:
    """A bundled image as a float tensor in [0,1], optionally resized (aspect ratio kept).

    Shape:
        ``(1, 3, H, W)``.
    """
    from ..data.images import load_image
    from .colors import resize_long_side

    image = load_image(sample_path(name), channels=3).unsqueeze(0)
    return image if long_side is None else resize_long_side(image, long_side)


def sample_images() -> dict[str, str]:
    """Names of the bundled images and what each is."""
    return {name: what for name, (_, what) in SAMPLES.items()}
