"""The CLI tells the truth: user errors are one line and exit 2, bugs show as bugs."""

from __future__ import annotations

import pytest

from convlens import cli
from convlens.cli import main


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err


def test_user_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert main(["summary", "no-such-model"]) == 2
    err = _err(capsys).strip()
    assert err.startswith("convlens: error: unknown model") and "\n" not in err
    assert main(["explain", "--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in _err(capsys)


def test_usage_errors_are_one_line(capsys):
    assert main(["train", "--epochs", "zero"]) == 2
    err = _err(capsys).strip()
    assert "\n" not in err and "--epochs" in err and "--help" in err
    assert main(["no-such-command"]) == 2
    assert "\n" not in _err(capsys).strip()


def test_file_system_errors_on_user_paths_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["summary", "mnist-cnn", "--csv", str(blocker / "inside.csv")]) == 2
    err = _err(capsys).strip()
    assert "\n" not in err and str(blocker) in err


def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(monkeypatch, capsys):
    import convlens.commands.summary as summary_command

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("an internal invariant broke")

    monkeypatch.setattr(summary_command, "summary", broken)
    assert main(["summary", "mnist-cnn"]) == cli.BUG_EXIT
    err = _err(capsys)
    assert "Traceback" in err and "an internal invariant broke" in err and "this is a bug in convlens" in err


def test_an_os_error_that_is_not_about_a_user_path_is_a_bug(monkeypatch, capsys):
    import convlens.commands.summary as summary_command

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("socket went away")

    monkeypatch.setattr(summary_command, "summary", broken)
    assert main(["summary", "mnist-cnn"]) == cli.BUG_EXIT
    assert "this is a bug" in _err(capsys)
