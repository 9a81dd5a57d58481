"""One declarative registry: a method is one decorated function, and everything else follows."""

from __future__ import annotations

import copy
import importlib

import pytest
import torch

from convlens.cli import main
from convlens.errors import UnknownNameError
from convlens.registry import KIND_PACKAGES, METHODS, Registry, get_method, list_methods, register_method


@pytest.fixture
def toy_method():
    """A method registered by a test, exactly as a new file in convlens.attribution would."""

    @register_method(
        "toy-brightness", kind="attribution", output="map", signed=True,
        summary="the image itself, signed around grey (a toy)", paper="Nobody 2026, A Toy for Tests",
    )  # fmt: skip
    def toy_brightness(model, x, target=None, *, gain: float = 2.0, output=None):  # type: ignore[no-untyped-def]
        return (x.mean(dim=1, keepdim=True) - 0.5) * gain

    yield get_method("toy-brightness")
    METHODS.remove("toy-brightness")


def test_defaults_come_from_the_signature(toy_method):
    assert toy_method.defaults == {"gain": 2.0, "output": None}
    assert not toy_method.takes_layer and toy_method.signed
    assert get_method("grad-cam").takes_layer
    assert get_method("smoothgrad").defaults["seed"] is None  # the function's own default, not a copy


def test_a_name_registered_twice_is_an_error(toy_method):
    with pytest.raises(ValueError, match="registered twice"):
        register_method("toy-brightness", kind="attribution", summary="", paper="")(lambda m, x: x)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean grad-cam"):
        get_method("gradcam")
    registry: Registry[int] = Registry("thing")
    registry.add("alpha", 1)
    with pytest.raises(UnknownNameError, match="choose from: alpha"):
        registry.get("beta")


def test_a_kind_package_that_fails_to_import_raises(monkeypatch):
    monkeypatch.setitem(KIND_PACKAGES, "broken", "convlens.no_such_package")
    with pytest.raises(ModuleNotFoundError):
        list_methods()


def test_toy_method_appears_in_explain_help_and_in_the_report(toy_method, tmp_path, capsys, trained_mnist):
    assert main(["explain", "--help"]) == 0
    assert "toy-brightness" in capsys.readouterr().out
    from convlens.attribution.examples import attribution_methods, explain_examples
    from convlens.data.sample import sample_splits
    from convlens.report.explanations import explanations_section

    specs = attribution_methods(["saliency", "toy-brightness"])
    examples = explain_examples(copy.deepcopy(trained_mnist), sample_splits().test, [s.name for s in specs], n=2)
    body = explanations_section(examples, specs, "test digits", 0).body
    assert "toy-brightness" in body and "A Toy for Tests" in body
    assert "Signed maps (toy-brightness)" in body  # the reading guide follows the registered flag
    assert examples.correct is not None
    expected = (examples.correct.images.mean(dim=1, keepdim=True) - 0.5) * 2.0
    torch.testing.assert_close(examples.correct.maps["toy-brightness"], expected)


def test_package_root_reaches_every_subpackage_lazily():
    import convlens

    assert convlens.attribution.grad_cam is importlib.import_module("convlens.attribution").grad_cam
    assert convlens.models.create_model is not None
    with pytest.raises(AttributeError):
        convlens.no_such_thing  # noqa: B018


def test_importing_train_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, convlens.train, convlens.attribution, convlens.models; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
