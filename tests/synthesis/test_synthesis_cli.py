"""`convlens filters`, `convlens features` and `convlens dream` on the offline sample."""

from __future__ import annotations

import pytest
import torch

from convlens.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, trained_mnist):
    from convlens.models.checkpoint import save_model

    return save_model(trained_mnist, tmp_path_factory.mktemp("inspect-train") / "checkpoint.pt")


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_filters_writes_grids_page_and_weights(tmp_path, checkpoint, trained_mnist):
    assert main(["filters", str(checkpoint), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "filters-features.0.png").is_file() and (tmp_path / "filters-features.3.png").is_file()
    weights = torch.load(tmp_path / "filters.pt", weights_only=True)
    assert torch.equal(weights["features.3"], trained_mnist.features[3].weight)
    assert "learned 3×3 filters of features.0" in (tmp_path / "filters.html").read_text()


def test_features_on_image_files_and_default_sample(tmp_path, checkpoint, test_digits):
    from convlens.data.images import save_image

    files = [save_image(test_digits[0][i], tmp_path / f"digit{i}.png") for i in range(2)]
    out = tmp_path / "out"
    assert main(["features", str(checkpoint), "--images", str(files[0]), "--images", str(files[1]),
                 "--channels", "3", "--out", str(out)]) == 0  # fmt: skip
    assert (out / "features-1.png").is_file() and (out / "features-2.png").is_file()
    saved = torch.load(out / "feature_maps.pt", weights_only=True)
    assert list(saved["maps"]) == ["features.0", "features.2", "features.3", "features.5"]
    assert "never active" in (out / "features.html").read_text()
    assert main(["features", str(checkpoint), "--out", str(tmp_path / "sample")]) == 0
    assert (tmp_path / "sample" / "features-3.png").is_file()


def test_dream_classes_presets_and_channels(tmp_path, checkpoint):
    assert main(["dream", str(checkpoint), "--classes", "2-3,7", "--per-class", "2", "--preset", "all",
                 "--steps", "5", "--out", str(tmp_path)]) == 0  # fmt: skip
    saved = torch.load(tmp_path / "dream.pt", weights_only=True)
    assert list(saved) == ["simonyan2014", "yosinski2015", "fourier"]
    assert saved["fourier"]["images"].shape == (6, 1, 28, 28) and saved["fourier"]["history"].shape == (5, 6)
    assert (tmp_path / "images" / "fourier-class7-seed1.png").is_file() and (tmp_path / "curves.png").is_file()
    out = tmp_path / "channels"
    assert main(["dream", str(checkpoint), "--layer", "features.3", "--channel", "0-3", "--steps", "3",
                 "--out", str(out)]) == 0  # fmt: skip
    assert torch.load(out / "dream.pt", weights_only=True)["fourier"]["targets"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["dream", "CKPT", "--layer", "features.33", "--channel", "0"], "closest names: features.3"),
        (["dream", "CKPT", "--layer", "features.3", "--channel", "40"], "has 32 channels (0..31)"),
        (["dream", "CKPT", "--classes", "12"], "classes 0..9"),
        (["dream", "CKPT", "--preset", "lucid"], "choose from: simonyan2014, yosinski2015, fourier"),
        (["dream", "CKPT", "--channel", "3"], "need --layer"),
        (["filters", "CKPT", "--layer", "features.1"], "not a 2-D convolution"),
        (["features", "CKPT", "--layer", "nope"], "unknown layer 'nope'"),
        (["features", "squeezenet1_1"], "pass --images"),
    ],
)
def test_user_errors_are_one_line(tmp_path, checkpoint, capsys, args, needle):
    args = [str(checkpoint) if a == "CKPT" else a for a in args]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert needle in _error(capsys)
