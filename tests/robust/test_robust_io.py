"""Output files follow the umask, folders are locked against a second writer, staged sets swap whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from convlens._io import (
    STAGED_MARKER,
    atomic_write_text,
    folder_lock,
    remove_stale_temporaries,
    staged_folder,
)
from convlens.errors import InputError

posix_only = pytest.mark.skipif(os.name != "posix", reason="umask, flock and signals are POSIX")


@posix_only
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        with staged_folder(tmp_path / "set") as stage:
            atomic_write_text(stage / "b.txt", "y")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert (tmp_path / "set" / "b.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "set").stat().st_mode & 0o777 == mode | 0o111 & ~mask


def _holder(tmp_path, code: str) -> subprocess.Popen[str]:
    """A Python child that runs ``code`` and prints READY once it holds what it should."""
    script = textwrap.dedent(code)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert child.stdout is not None and child.stdout.readline().strip() == "READY"
    return child


@posix_only
def test_second_writer_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
    child = _holder(
        tmp_path,
        f"""
        import time
        from convlens._io import folder_lock
        with folder_lock({str(tmp_path / "run")!r}):
            print("READY", flush=True)
            time.sleep(60)
    """,
    )
    try:
        with pytest.raises(InputError, match=rf"run is in use by another convlens run \(pid {child.pid} on "):
            with folder_lock(tmp_path / "run"):
                pass
    finally:
        child.send_signal(signal.SIGKILL)  # dies without releasing anything by hand
        child.wait()
    with folder_lock(tmp_path / "run"), folder_lock(tmp_path / "run"):  # taken over; re-entrant in one process
        pass


def test_leftover_temporaries_are_removed(tmp_path):
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "checkpoint.pt").write_bytes(b"keep")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".checkpoint.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_staged_folder_swaps_a_complete_set_or_keeps_the_old_one(tmp_path):
    out = tmp_path / "explain"
    with staged_folder(out) as stage:
        for name in ("a.png", "b.png", "page.html"):
            atomic_write_text(stage / name, "old")
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out) as stage:
            atomic_write_text(stage / "a.png", "new")
            raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in out.iterdir() if p.name != STAGED_MARKER} == {
        "a.png": "old", "b.png": "old", "page.html": "old",
    }  # fmt: skip
    with staged_folder(out) as stage:
        atomic_write_text(stage / "a.png", "new")
    assert sorted(p.name for p in out.iterdir()) == [STAGED_MARKER, "a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".explain.lock", "explain"]  # no stage left behind


@posix_only
def test_killed_staging_leaves_the_old_set_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "explain"
    with staged_folder(out) as stage:
        atomic_write_text(stage / "page.html", "old")
    child = _holder(
        tmp_path,
        f"""
        import time
        from convlens._io import atomic_write_text, staged_folder
        with staged_folder({str(out)!r}) as stage:
            atomic_write_text(stage / "page.html", "new")
            print("READY", flush=True)
            time.sleep(60)
    """,
    )
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (out / "page.html").read_text() == "old"
    assert any(p.name.startswith(".explain.stage-") for p in tmp_path.iterdir())
    with staged_folder(out) as stage:
        atomic_write_text(stage / "page.html", "newer")
    assert (out / "page.html").read_text() == "newer"
    assert not any(p.name.startswith(".explain.stage-") for p in tmp_path.iterdir())


def test_staged_folder_never_replaces_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="did not write there"):
        with staged_folder(tmp_path / "mine"):
            pass
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
