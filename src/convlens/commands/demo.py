"""``convlens demo``: the main job on the bundled offline sample, ending in an HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    if result.checkpoint is not None:
        wrote(result.checkpoint, "checkpoint")
    wrote(report, "report")
    click.echo(f"done in {time.perf_counter() - start:.0f}s")


def _later_sections(model: nn.Module, data: Splits, seed: int) -> list[Section]:
    """The chapters built on the trained model, in report order, each timed as it is built."""
    from ..attribution.examples import attribution_methods, explain_examples
    from ..layers import compare_layers
    from ..report.adversarial import adversarial_section
    from ..report.explanations import explanations_section
    from ..report.inspect import demo_inspection_section
    from ..report.layers import layers_section
    from ..report.style import style_demo_section
    from ..report.synthesis import demo_synthesis_section
    from ..report.trust import trust_section

    def layers() -> list[Section]:
        images, labels = data.test.batch(slice(None))
        result = compare_layers(
            model, images, labels, data_name="real MNIST test digits", weights="trained in this demo"
        )
        return [layers_section(result)]

    def explanations() -> list[Section]:
        specs = attribution_methods()
        examples = explain_examples(model, data.test, [s.name for s in specs], n=10, seed=seed)
        return [explanations_section(examples, specs, "the test split", seed)]

    def inspection() -> list[Section]:
        # many batch-10 steps: one thread (a second one mostly waits, and on a busy machine slows them 3.5x)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return [demo_inspection_section(model, data), demo_synthesis_section(model, data)]
        finally:
            torch.set_num_threads(threads)

    chapters: list[tuple[str, Callable[[], list[Section]]]] = [
        ("from-scratch layers: rebuilding mnist-cnn and comparing outputs and time", layers),
        ("explanations: 10 correct and 10 misclassified digits with every method", explanations),
        ("filters, feature maps, activation statistics; class visualizations with every preset", inspection),
        ("can you trust these maps? Captum, randomization sanity check, deletion/insertion",
         lambda: [trust_section(model, data)]),
        ("adversarial examples: fooling images, the classic MNIST attacks, FGSM/PGD, robustness",
         lambda: [adversarial_section(model, data)]),
        ("style transfer: three small pictures from the bundled photographs and textures",
         lambda: [style_demo_section(model, data)]),
    ]  # fmt: skip
    sections: list[Section] = []
    for message, build in chapters:
        started = time.perf_counter()
        click.echo(f"      {message}")
        sections += build()
        click.echo(f"        ({time.perf_counter() - started:.1f}s)")
    return sections
