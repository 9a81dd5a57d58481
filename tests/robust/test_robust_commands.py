"""Every command takes a model the same way; notes and hints fit what was actually done."""

from __future__ import annotations

import pytest
import torch

from convlens.cli import main
from convlens.errors import DownloadError
from convlens.models import create_model, save_model
from convlens.models.registry import cached_weights_path
from convlens.models.squeezenet import WEIGHT_URLS


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, trained_mnist):
    folder = tmp_path_factory.mktemp("run")
    save_model(trained_mnist, folder / "checkpoint.pt", epoch=1)
    return folder


@pytest.mark.parametrize("how", ["name", "file", "folder"])
def test_summary_accepts_a_name_a_checkpoint_or_a_training_folder(run_folder, capsys, how):
    spec = {"name": "mnist-cnn", "file": str(run_folder / "checkpoint.pt"), "folder": str(run_folder)}[how]
    assert main(["summary", spec]) == 0
    out = capsys.readouterr().out
    assert "shapes per image, without the batch" in out
    assert "features.0    Conv2d     1x28x28   32x28x28" in out and "1x1x28x28" not in out


def test_layers_accepts_a_training_folder(run_folder, capsys):
    assert main(["layers", str(run_folder), "--samples", "50", "--repeats", "1", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint" in out and "chance level" not in out and "untrained" not in out


def test_layers_without_real_images_does_not_talk_about_accuracy(capsys):
    assert main(["layers", "cifar-cnn", "--repeats", "1", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "untrained" in out and "chance level" not in out and "accurac" not in out.split("untrained")[1][:200]
    assert main(["layers", "mnist-cnn", "--samples", "20", "--repeats", "1", "--batch", "2"]) == 0
    assert "both accuracies are chance level" in capsys.readouterr().out


def test_pretrained_offline_says_where_to_place_the_file_and_uses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = "http://127.0.0.1:9/squeezenet1_1-b8a52dc0.pth"  # nothing listens there: offline
    with pytest.raises(DownloadError, match="place it at .*torch/hub/checkpoints/squeezenet1_1-b8a52dc0.pth") as info:
        create_model("squeezenet1_1", pretrained=True, weights_url=url, progress=False)
    assert "weights_url" not in str(info.value) and "\n" not in str(info.value)
    torch.manual_seed(1)
    donor = create_model("squeezenet1_1")
    place = cached_weights_path(WEIGHT_URLS["1_1"])
    assert place == tmp_path / "torch" / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    place.parent.mkdir(parents=True, exist_ok=True)
    torch.save(donor.state_dict(), place)
    loaded = create_model("squeezenet1_1", pretrained=True)  # read from the cache: no network needed
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in donor.state_dict().items())


def test_a_checkpoint_with_nan_weights_is_refused_by_every_command(tmp_path, trained_mnist, capsys):
    import copy

    broken = copy.deepcopy(trained_mnist)
    with torch.no_grad():
        broken.classifier[1].weight[0, 0] = float("nan")
    save_model(broken, tmp_path / "checkpoint.pt", epoch=1)
    for argv in (["summary", str(tmp_path)], ["layers", str(tmp_path), "--repeats", "1"]):
        assert main(argv) != 0
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "holds NaN or infinite weights (classifier.1.weight)" in err
