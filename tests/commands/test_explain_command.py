"""``convlens explain`` on the offline sample and on image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.cli import main
from convlens.models import save_model
from convlens.registry import list_methods

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, trained_mnist):
    folder = tmp_path_factory.mktemp("run")
    return save_model(trained_mnist, folder / "checkpoint.pt")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("convlens: error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err)
    return errors[0]


def test_explain_sample_writes_pngs_and_html(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    assert main(["explain", "--model", str(checkpoint), "--dataset", "sample", "-n", "2", "--out", str(out)]) == 0
    for name in (
        "correct.png",
        "misclassified.png",
        "correct-occlusion-sensitivity.png",
        "misclassified-occlusion-sensitivity.png",
    ):
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    html = (out / "explain.html").read_text()
    assert html.count("<img") == 4 and "Misclassified" in html and "UNTRAINED" not in html
    for spec in list_methods("attribution"):
        assert spec.name in html
    maps = torch.load(out / "attributions.pt", weights_only=True)["maps"]
    assert maps["correct/saliency"].shape == (2, 1, 28, 28)
    assert maps["misclassified/integrated-gradients"].shape == (2, 1, 28, 28)
    printed = capsys.readouterr().out
    assert str(out / "explain.html") in printed and str(out / "correct.png") in printed


def test_default_data_is_the_sample_and_untrained_model_is_flagged(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no runs/train/checkpoint.pt here
    out = tmp_path / "out"
    assert main(["explain", "--methods", "saliency", "-n", "1", "--out", str(out)]) == 0
    assert "RANDOM weights" in capsys.readouterr().err
    html = (out / "explain.html").read_text()
    assert "RANDOM WEIGHTS" in html and "bundled MNIST sample" in html


def test_default_model_is_the_default_training_checkpoint(tmp_path, monkeypatch, checkpoint, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "train").mkdir(parents=True)
    (tmp_path / "runs" / "train" / "checkpoint.pt").write_bytes(checkpoint.read_bytes())
    assert main(["explain", "--methods", "grad-cam", "-n", "1", "--out", "out"]) == 0
    captured = capsys.readouterr()
    assert "runs/train/checkpoint.pt" in captured.out and "RANDOM" not in captured.err
    assert "UNTRAINED" not in (tmp_path / "out" / "explain.html").read_text()


def test_explain_image_files_are_converted_and_resized(tmp_path, checkpoint, test_digits):
    digits = (test_digits[0][:3, 0].numpy() * 255).astype(np.uint8)
    files = tmp_path / "imgs"
    files.mkdir()
    Image.fromarray(digits[0]).resize((40, 30)).save(files / "a_gray.png")
    rgba = np.dstack([digits[1]] * 3 + [np.full_like(digits[1], 255)])
    Image.fromarray(rgba, "RGBA").resize((56, 56)).save(files / "b_rgba.png")
    Image.fromarray(digits[2]).convert("P").save(files / "c_palette.gif")
    out = tmp_path / "out"
    argv = [
        "explain", "--model", str(checkpoint.parent), "--images", str(files), "--methods", "saliency,grad-cam",
        "--layer", "features.0", "--target", "7", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    assert (out / "explanations.png").read_bytes().startswith(PNG_MAGIC)
    payload = torch.load(out / "attributions.pt", weights_only=True)
    assert payload["images"] == ["a_gray.png", "b_rgba.png", "c_palette.gif"]
    assert payload["maps"]["grad-cam"].shape == (3, 1, 28, 28)
    assert "b_rgba.png" in (out / "explain.html").read_text()


def test_unknown_method_lists_valid_ones(tmp_path, checkpoint, capsys):
    rc = main(["explain", "--model", str(checkpoint), "--methods", "saliency,gradcam", "--out", str(tmp_path)])
    assert rc != 0
    line = _one_line_error(capsys)
    assert "gradcam" in line
    for spec in list_methods("attribution"):
        assert spec.name in line
    assert not (tmp_path / "explain.html").exists()


def test_unknown_layer_lists_valid_ones(tmp_path, checkpoint, capsys):
    rc = main(
        [
            "explain",
            "--model",
            str(checkpoint),
            "--methods",
            "grad-cam",
            "--layer",
            "features.9",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc != 0
    line = _one_line_error(capsys)
    assert "features.9" in line and "features.3" in line and "features.0" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dataset", "imagenet"], "sample"),
        (["--target", "seven"], "unknown class"),
        (["--target", "10"], "0..9"),
        (["--images", "missing.png"], "does not exist"),
        (["--images", "x.png", "--dataset", "sample"], "either"),
        (["--methods", " , "], "empty"),
        (["--model", "no-such-net"], "mnist-cnn"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, args, needle):
    assert main(["explain", *args, "--out", str(tmp_path / "o")]) != 0
    assert needle in _one_line_error(capsys)


def test_help_explains_the_model_choice(capsys):
    assert main(["explain", "--help"]) == 0
    text = capsys.readouterr().out
    assert "RANDOM weights" in text and "--dataset" in text and "--out" in text


def test_compare_captum_adds_the_comparison_and_its_figure(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    argv = ["explain", "--model", str(checkpoint), "-n", "1", "--methods", "saliency,grad-cam,occlusion-sensitivity",
            "--compare-captum", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    html = (out / "explain.html").read_text()
    assert "Compared with Captum" in html and "LayerGradCam" in html and "agrees" in html
    assert "DIFFERS" not in html
    assert (out / "captum.png").read_bytes().startswith(PNG_MAGIC)
    assert "explained" not in torch.load(out / "attributions.pt", weights_only=True)


def test_interrupted_explain_keeps_the_previous_complete_set(tmp_path, checkpoint, monkeypatch):
    out = tmp_path / "out"
    assert main(["explain", "--model", str(checkpoint), "-n", "1", "--methods", "saliency", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import convlens.report.html as html

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(html, "write_report", interrupted)
    argv = ["explain", "--model", str(checkpoint), "-n", "2", "--methods", "saliency,grad-cam", "--out", str(out)]
    assert main(argv) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.stage")] == []


def test_top_k_gives_one_row_per_image_and_class(tmp_path, checkpoint, test_digits):
    from convlens.attribution import explain
    from convlens.models import load_model

    model = load_model(checkpoint)
    expl = explain(model, test_digits[0][:3], ["saliency", "grad-cam"], top=2)
    rows = expl.per_class_rows()
    assert rows.images.shape[0] == 6 and rows.maps["grad-cam"].shape == (6, 1, 28, 28)
    assert torch.equal(rows.target[0::2], expl.predicted) and bool((rows.target[1::2] != expl.predicted).all())
    torch.testing.assert_close(rows.maps["saliency"][1::2], explain(model, test_digits[0][:3], ["saliency"],
                               target=expl.target[:, 1]).maps["saliency"])  # fmt: skip
    out = tmp_path / "out"
    argv = ["explain", "--model", str(checkpoint), "-n", "1", "--methods", "saliency,grad-cam", "--top", "3",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert torch.load(out / "attributions.pt", weights_only=True)["maps"]["correct/saliency"].shape[1] == 3
