"""``convlens layers``: rebuild a network from the from-scratch layers and measure the twin."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch
from torch import nn

from .._io import atomic_write_text
from ..errors import InputError
from ._common import prepare_out, wrote

MNIST_SIZE = (1, 28, 28)
JSON_NAME = "layers.json"

HELP = """Rebuild MODEL from convlens' own Linear and Conv2d layers and compare it with the original.

\b
Prints the mean and max absolute difference of the two networks' outputs on random input and
on real test images (the bundled MNIST sample, for 28x28 grey models), the accuracy of both,
and the mean inference time of both with the ratio own/default.

\b
MODEL is a registry name (mnist-cnn, cifar-cnn, squeezenet1_1, ...), a checkpoint file or a
training folder written by `convlens train`. A registry name without --pretrained has random
weights: the two networks must still agree, but any accuracy is chance level.
"""


@click.command("layers", help=HELP)
@click.argument("model")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Weights to load (a checkpoint written by `convlens train`).",
)
@click.option("--pretrained", is_flag=True, help="Load the published weights (squeezenet; needs a network once).")
@click.option(
    "--implementation",
    type=click.Choice(["fast", "reference"]),
    default="fast",
    show_default=True,
    help="Which from-scratch convolution the twin uses.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Real test images for the differences and the accuracy (at most the sample's 1,000).",
)
@click.option(
    "--batch",
    "timing_batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Images per timed forward pass.",
)
@click.option(
    "--repeats", type=click.IntRange(min=1), default=20, show_default=True, help="Timed forward passes of each network."
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (default: torch's choice)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as JSON to this folder (created if missing).",
)
def command(
    model: str, checkpoint: Path | None, pretrained: bool, implementation: str, samples: int, timing_batch: int,
    repeats: int, threads: int | None, out: Path | None,
) -> None:  # fmt: skip
    from ..layers import compare_layers

    if threads is not None:
        torch.set_num_threads(threads)
    net, weights, untrained = _load(model, checkpoint, pretrained)
    images, labels, data_name, data_note = _real_images(net, samples)
    notes = [_untrained_note(model, labels is not None)] if untrained else []
    result = compare_layers(
        net, images, labels, implementation=implementation, timing_batch=timing_batch, repeats=repeats,
        data_name=data_name, weights=weights, notes=tuple(notes + data_note),
    )  # fmt: skip
    for line in result.lines():
        click.echo(line)
    if out is not None:
        path = prepare_out(out) / JSON_NAME
        atomic_write_text(path, json.dumps(result.to_dict(), indent=2) + "\n")
        wrote(path, "figures")


def _load(spec: str, checkpoint: Path | None, pretrained: bool) -> tuple[nn.Module, str, bool]:
    """The model (name, checkpoint file or training folder), a description of its weights, and
    whether they are untrained."""
    from ..models import get_info
    from ._common import load_cli_model

    if checkpoint is not None:
        if pretrained:
            raise InputError("--checkpoint and --pretrained exclude each other; pass one of them")
        net = load_cli_model(str(checkpoint)).model
        info = get_info(net)
        name = info.name if info is not None else "?"
        if spec != name and Path(spec) != checkpoint:
            raise InputError(
                f"{checkpoint} holds a {name} model, not {spec}; run `convlens layers {name} --checkpoint {checkpoint}`"
            )
        return net, f"checkpoint {checkpoint}", False
    loaded = load_cli_model(spec, pretrained=pretrained)
    if loaded.warning:
        return loaded.model, "untrained (random initialisation)", True
    return loaded.model, "published pretrained weights" if pretrained else f"checkpoint {loaded.label}", False


def _untrained_note(spec: str, with_accuracy: bool) -> str:
    """What random weights mean for the figures, and how to get real ones for this model."""
    from ..models import list_models
    from ..models.registry import _entry

    published = spec in list_models() and _entry(spec).weights_url is not None
    how = "Pass --pretrained for the published weights." if published else (
        f"Pass a checkpoint or training folder written by `convlens train {spec}` for real accuracy."
    )  # fmt: skip
    if with_accuracy:
        return f"the weights are untrained (random initialisation), so both accuracies are chance level; the two " \
            f"networks must still agree. {how}"  # fmt: skip
    return f"the weights are untrained (random initialisation); the two networks must still agree. {how}"


def _real_images(net: nn.Module, samples: int) -> tuple[torch.Tensor | None, torch.Tensor | None, str, list[str]]:
    """Real test images that fit the model: the bundled MNIST sample for 28x28 grey models."""
    from ..models import get_info

    info = get_info(net)
    if info is None or tuple(info.input_size) != MNIST_SIZE:
        size = "x".join(str(v) for v in info.input_size) if info is not None else "its input size"
        return None, None, "", [f"no real images of size {size} ship with convlens; compared on random inputs only"]
    from ..data.sample import sample_splits

    test = sample_splits().test
    # The split is ordered by class: take a seeded random subset, so that every digit is in it.
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:samples]
    images, labels = test.batch(order.sort().values)
    if info.num_classes != len(test.classes):
        return images, None, "real MNIST test digits", ["the model does not have 10 classes: no accuracy on digits"]
    return images, labels, "real MNIST test digits", []
