"""Downloads with a progress bar, an MD5 checksum and an atomic rename."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from .._io import atomic_write
from ..errors import DownloadError


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex MD5 of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(urls: Sequence[str], dest: str | Path, md5: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch the first mirror that works into ``dest`` and verify its checksum.

    An existing ``dest`` with the right checksum is kept (no network access at all).

    Args:
        urls: mirrors, tried in order.
        dest: the file to create.
        md5: expected hex MD5; a mismatch deletes the download and raises.
        timeout: seconds to wait for each server.

    Returns:
        ``dest``.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or md5sum(dest) == md5):
        return dest
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:

                    def copy(handle, response=response, bar=bar):
                        while block := response.read(1 << 16):
                            handle.write(block)
                            bar.update(len(block))

                    atomic_write(dest, copy)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if md5 is not None and md5sum(dest) != md5:
            dest.unlink(missing_ok=True)
            errors.append(f"{url}: checksum mismatch")
            continue
        return dest
    raise DownloadError(
        f"could not download {dest.name} ({'; '.join(errors)[:300]}); "
        f"check the network or place the file at {dest} yourself"
    )


def copy_file(src: str | Path, dest: str | Path) -> Path:
    """Copy a local file atomically (used to seed a data folder from an offline copy)."""
    with open(src, "rb") as source:
        return atomic_write(dest, lambda handle: shutil.copyfileobj(source, handle))
