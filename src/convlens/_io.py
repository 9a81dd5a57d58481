"""Safe output: atomic files, atomically swapped output folders, folder locks, leftover clean-up.

- :func:`atomic_write` (and ``_bytes``/``_text``): write a temporary file in the same folder,
  then rename it over the target; the file gets the permissions of the user's umask (0644
  normally), like any file the user creates.
- :func:`staged_folder`: build a whole set of outputs in a hidden sibling folder and swap it in
  for the target folder at the end, so an interrupted command leaves either the old complete
  set or the new complete set, never a mixture.
- :func:`folder_lock`: one writer per output folder; a second process is refused with a
  one-line error, and the lock of a process that died is taken over (``flock`` is released
  by the kernel when its holder exits).
- :func:`remove_stale_temporaries`: delete the ``.NAME.*.tmp`` files an interrupted
  :func:`atomic_write` left behind (call it while holding the folder's lock).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError

LOCK_NAME = ".convlens.lock"
STAGED_MARKER = ".convlens-output"  # in every folder built by staged_folder


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _follow_umask(path: str | Path, folder: bool = False) -> None:
    """Give a file (0666) or folder (0777) made by ``tempfile`` (0600/0700) the umask's permissions."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(handle)`` on a temporary file, then rename it over ``path``.

    A crash or interrupt leaves either the old file or the new one, never half of one (a
    killed process may leave ``.NAME.*.tmp``: see :func:`remove_stale_temporaries`). The file
    gets mode ``0666 & ~umask``; the parent folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        _follow_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.NAME.XXXX.tmp`` files that interrupted :func:`atomic_write` calls left in ``folder``.

    Only safe while no other process writes there: hold :func:`folder_lock` first.

    Returns:
        The deleted files.
    """
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


# Locks this process holds: (resolved lock file) -> depth; a lock is re-entrant within a process.
_HELD: dict[Path, int] = {}


def _lock_file(fd: int) -> bool:
    """Try to take an exclusive lock on ``fd``; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: an exclusive lock on the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


@contextlib.contextmanager
def folder_lock(folder: str | Path, lock_name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder (created if missing) while writing to it.

    The lock is the kernel's ``flock`` on ``folder/.convlens.lock`` (which records the holder's
    process id for the message): it is released when the block ends or when the holding
    process dies, so a crashed run never blocks the next one. Re-entrant within a process.

    Raises:
        InputError: another process holds the lock (one line naming its process id).

    Yields:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / lock_name
    key = lock_path.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _lock_file(fd):
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputError(
                f"{folder} is in use by another convlens run ({holder}); wait for it to finish or use another "
                "--out folder"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        _HELD[key] = 1
        try:
            yield folder
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), f"cannot swap {a} and {b}: {os.strerror(ctypes.get_errno())}")


def _clean_leftover_stages(target: Path) -> None:
    for leftover in target.parent.glob(f".{target.name}.stage-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Build a complete set of outputs in a hidden sibling folder, then swap it in for ``target``.

    Use it for a command that owns its whole output folder (``convlens explain --out DIR``)::

        with staged_folder(out) as stage:
            write_figures(stage)          # paths inside `stage`; print the final names
            write_page(stage / "explain.html")
        # here `out` holds the new set; on an error or Ctrl-C it still holds the old one

    Guarantees: while the block runs, ``target`` is untouched; when it ends normally the new
    folder replaces the old one in one atomic rename (``renameat2(RENAME_EXCHANGE)`` on
    Linux; elsewhere two renames, with a moment where ``target`` is missing) and the old set is
    deleted; when it raises (also ``KeyboardInterrupt``) the stage is deleted. A lock on a
    sibling file refuses a second process staging the same target; leftover stages of killed
    runs are removed. So that a mistaken ``--out`` never wipes unrelated files, an existing
    non-empty ``target`` that this function did not build (it has no ``.convlens-output``
    marker) is refused with an :class:`InputError` before anything runs.

    Yields:
        The stage folder to write into (mode per umask).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; pass a folder for --out")
    if target.is_dir() and any(target.iterdir()) and not (target / STAGED_MARKER).exists():
        raise InputError(
            f"{target} already holds files that convlens did not write there; choose a new or empty --out folder"
        )
    with folder_lock(target.parent, f".{target.name}.lock"):
        _clean_leftover_stages(target)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.stage-", dir=target.parent))
        try:
            _follow_umask(stage, folder=True)
            (stage / STAGED_MARKER).write_text("built by convlens; replaced as a whole by the next run\n")
            yield stage
            if not target.exists():
                os.replace(stage, target)
            elif not _exchange(stage, target):
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.stage-", dir=target.parent))
                os.replace(target, old / "old")
                os.replace(stage, target)
                stage = old
        finally:
            shutil.rmtree(stage, ignore_errors=True)


__all__ = [
    "LOCK_NAME", "STAGED_MARKER", "atomic_write", "atomic_write_bytes", "atomic_write_text", "folder_lock",
    "remove_stale_temporaries", "staged_folder",
]  # fmt: skip
