"""``convlens demo``: the main job on the bundled offline sample, ending in an HTML report."""

from __future__ import annotations

import time
from pathlib import Path

import click
import torch
from torch import nn

from ..data import sample_splits
from ..data.dataset import Splits
from ..models import create_model, summary
from ..report import Section, write_report
from ..report.sections import summary_section, training_section
from ..train import TrainConfig, fit, write_training_outputs
from ._common import out_option, prepare_out, wrote


@click.command("demo")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Training epochs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted demo from its checkpoint.")
@out_option("demo-output")
def command(epochs: int, seed: int, resume: bool, out: Path) -> None:
    """Train mnist-cnn on the bundled 5,000 real MNIST digits (offline, under a minute on two
    CPU cores) and write a self-contained report: model summary, training curves, test
    accuracy, confusion matrix and labelled test images, then the later chapters."""
    out = prepare_out(out)
    start = time.perf_counter()
    data = sample_splits(seed)
    torch.manual_seed(seed)
    model = create_model("mnist-cnn")
    click.echo(f"[1/3] training mnist-cnn on {len(data.train)} real MNIST digits "
               f"({len(data.val)} validation, {len(data.test)} test)")  # fmt: skip
    result = fit(model, data, TrainConfig(epochs=epochs, seed=seed), out=out / "train", resume=resume)
    click.echo(f"      test accuracy {result.test_accuracy:.2%} after {result.seconds:.1f}s")
    files = write_training_outputs(result, data.test, out / "train", title="mnist-cnn on the MNIST sample")
    click.echo("[2/3] building report sections")
    sections = [summary_section(summary(model)), training_section(result, files, "MNIST sample (bundled, real digits)")]
    sections += _later_sections(model, data)
    click.echo("[3/3] writing the report")
    report = write_report(out / "report" / "index.html", "convlens demo: mnist-cnn", sections,
                          subtitle=f"test accuracy {result.test_accuracy:.2%}")  # fmt: skip
    wrote(result.checkpoint, "checkpoint")  # type: ignore[arg-type]
    wrote(report, "report")
    click.echo(f"done in {time.perf_counter() - start:.0f}s")


def _later_sections(model: nn.Module, data: Splits) -> list[Section]:
    """The chapters built on the trained model: from-scratch layers and explanations."""
    from ..attribution.report import explanations_section
    from ..layers import compare_layers
    from ..layers.report import layers_section

    images, labels = data.test.batch(slice(None))
    click.echo("      from-scratch layers: rebuilding mnist-cnn and comparing outputs and time")
    layers = compare_layers(model, images, labels, data_name="real MNIST test digits",
                            weights="trained in this demo")  # fmt: skip
    click.echo("      explanations: 10 correct and 10 misclassified digits with every method")
    sections = [layers_section(layers), explanations_section(model, data.test, n=10)]
    from ..report.style import style_demo_section

    click.echo("      style transfer: three small pictures from the bundled photographs and textures")
    sections.append(style_demo_section(model, data))
    return sections
