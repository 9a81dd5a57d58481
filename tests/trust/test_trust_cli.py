"""``convlens sanity``, ``convlens faithfulness`` and the demo's trust section, offline on the sample."""

from __future__ import annotations

import pytest
import torch

from convlens.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def checkpoint(trained_mnist, tmp_path_factory):
    from convlens.models.checkpoint import save_model

    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_model(trained_mnist, path)
    return path


def test_sanity_command_writes_page_figures_and_maps(tmp_path, checkpoint, capsys):
    out = tmp_path / "s"
    code = main(["sanity", str(checkpoint), "-n", "2", "--methods", "saliency,grad-cam", "--mode", "cascading",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    page = (out / "sanity.html").read_text()
    assert "Cascading randomization" in page and "saliency" in page
    assert (out / "cascading-maps-0.png").stat().st_size > 1000
    assert (out / "cascading-similarity.png").is_file()
    saved = torch.load(out / "sanity.pt", weights_only=True)
    assert saved["cascading"]["maps"]["saliency"].shape == (5, 2, 1, 28, 28)
    assert "wrote page" in capsys.readouterr().out


def test_faithfulness_command(tmp_path, checkpoint, capsys):
    out = tmp_path / "f"
    assert main(["faithfulness", str(checkpoint), "-n", "4", "--steps", "4", "--methods", "saliency,grad-cam",
                 "--out", str(out)]) == 0  # fmt: skip
    assert (out / "deletion-insertion.png").is_file()
    saved = torch.load(out / "faithfulness.pt", weights_only=True)
    assert set(saved) == {"saliency", "grad-cam", "random order"}
    assert saved["saliency"]["deletion"].shape == (4, 5)
    assert "deletion AUC" in capsys.readouterr().out


def test_commands_reject_unknown_methods_and_models_that_do_not_fit_the_sample(tmp_path, capsys):
    assert main(["faithfulness", "mnist-cnn", "--methods", "salincy", "--out", str(tmp_path)]) == 2
    assert "saliency" in capsys.readouterr().err
    assert main(["sanity", "cifar-cnn", "-n", "1", "--out", str(tmp_path)]) == 2
    assert "28" in capsys.readouterr().err


def test_demo_section_compares_with_captum_and_says_what_the_figures_show(trained_mnist, mnist_splits):
    pytest.importorskip("captum")
    from convlens.report.trust import trust_section

    section = trust_section(trained_mnist, mnist_splits, captum_images=1, sanity_images=2, faithfulness_images=4,
                            steps=4)  # fmt: skip
    assert section.title == "Can you trust these maps?"
    body = section.body
    assert "Captum" in body and "agrees" in body and "DIFFERS" not in body
    assert "Gradient maps do change" in body
    assert "reproduces the paper" in body or "does NOT reproduce" in body
    assert "random order" in body
