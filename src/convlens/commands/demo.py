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
from ..report.training import summary_section, training_section
from ..train import TrainConfig, fit
from ..viz.training_files import write_training_outputs
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
    result = fit(
        model, data, TrainConfig(epochs=epochs, seed=seed), out=out / "train", resume=resume, overwrite=not resume
    )
    click.echo(f"      test accuracy {result.test_accuracy:.2%} after {result.seconds:.1f}s")
    files = write_training_outputs(result, data.test, out / "train", title="mnist-cnn on the MNIST sample")
    click.echo("[2/3] building report sections")
    sections = [summary_section(summary(model)), training_section(result, files, "MNIST sample (bundled, real digits)")]
    sections += _later_sections(model, data, seed)
    click.echo("[3/3] writing the report")
    report = write_report(out / "report" / "index.html", "convlens demo: mnist-cnn", sections,
                          subtitle=f"test accuracy {result.test_accuracy:.2%}")  # fmt: skip
    wrote(result.checkpoint, "checkpoint")  # type: ignore[arg-type]
    wrote(report, "report")
    click.echo(f"done in {time.perf_counter() - start:.0f}s")


def _later_sections(model: nn.Module, data: Splits, seed: int) -> list[Section]:
    """The chapters built on the trained model: from-scratch layers and explanations."""
    from ..attribution.examples import attribution_methods, explain_examples
    from ..layers import compare_layers
    from ..report.adversarial import adversarial_section
    from ..report.explanations import explanations_section
    from ..report.layers import layers_section

    images, labels = data.test.batch(slice(None))
    click.echo("      from-scratch layers: rebuilding mnist-cnn and comparing outputs and time")
    layers = compare_layers(model, images, labels, data_name="real MNIST test digits",
                            weights="trained in this demo")  # fmt: skip
    click.echo("      explanations: 10 correct and 10 misclassified digits with every method")
    specs = attribution_methods()
    examples = explain_examples(model, data.test, [s.name for s in specs], n=10, seed=seed)
    sections = [layers_section(layers), explanations_section(examples, specs, "the test split", seed)]
    sections += _inspect_sections(model, data)
    from ..report.trust import trust_section

    click.echo("      can you trust these maps? Captum, randomization sanity check, deletion/insertion")
    sections.append(trust_section(model, data))
    sections.append(adversarial_section(model, data))
    from ..report.style import style_demo_section

    click.echo("      style transfer: three small pictures from the bundled photographs and textures")
    sections.append(style_demo_section(model, data))
    return sections


def _inspect_sections(model: nn.Module, data: Splits) -> list[Section]:
    """Filters and feature maps; what each class looks like (issue 8).

    One thread: these are many small batch-10 steps, where a second thread gains little on an idle
    machine and, on a busy 2-core one, made them 3.5x slower (45.8 s vs 12.9 s at load 10).
    """
    from ..report.inspect import demo_inspection_section
    from ..report.synthesis import demo_synthesis_section

    click.echo("      filters, feature maps and activation statistics; class visualizations with every preset")
    threads, started = torch.get_num_threads(), time.perf_counter()
    torch.set_num_threads(1)
    try:
        sections = [demo_inspection_section(model, data), demo_synthesis_section(model, data)]
    finally:
        torch.set_num_threads(threads)
    click.echo(f"      (filters, feature maps and class visualizations: {time.perf_counter() - started:.1f}s)")
    return sections
