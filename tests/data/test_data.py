"""Data: format parsers on small files written here, bad files, images, the sample, splits."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.data import (
    load_cifar10,
    load_dataset,
    load_image,
    load_image_folder,
    load_mnist,
    load_sample,
    read_idx,
    sample_splits,
    save_image,
    stratified_split,
)  # fmt: skip
from convlens.data.download import download
from convlens.errors import DataFileError, DownloadError, InputError, UnknownNameError


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist(root, split="test", n=7, compress=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    prefix = "t10k" if split == "test" else "train"
    for name, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        if compress:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_files_parse(tmp_path, compress):
    images, labels = write_mnist(tmp_path, compress=compress)
    data = load_mnist(tmp_path, "test")
    assert data.images.shape == (7, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert torch.equal(data.labels, torch.from_numpy(labels.astype(np.int64)))


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataFileError, match="bad-idx.*magic"):
        read_idx(bad)
    truncated = tmp_path / "short-idx"
    truncated.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8))[:-2])
    with pytest.raises(DataFileError, match="short-idx.*truncated"):
        read_idx(truncated)
    broken_gz = tmp_path / "broken.gz"
    broken_gz.write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(DataFileError, match="broken.gz"):
        read_idx(broken_gz)
    with pytest.raises(DataFileError, match="--download"):
        load_mnist(tmp_path / "nowhere", "train")


def cifar_batch(n, seed, label_names=False):
    rng = np.random.default_rng(seed)
    if label_names:
        return {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                                 b"horse", b"ship", b"truck"]}  # fmt: skip
    return {b"batch_label": b"x", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}  # fmt: skip


def write_cifar(root, as_archive):
    files = {f"data_batch_{i}": cifar_batch(4, i) for i in range(1, 6)}
    files["test_batch"] = cifar_batch(5, 9)
    files["batches.meta"] = cifar_batch(0, 0, label_names=True)
    blobs = {k: pickle.dumps(v, protocol=2) for k, v in files.items()}
    if as_archive:
        with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
            for name, blob in blobs.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (root / "cifar-10-batches-py").mkdir()
        for name, blob in blobs.items():
            (root / "cifar-10-batches-py" / name).write_bytes(blob)
    return files


@pytest.mark.parametrize("as_archive", [True, False])
def test_cifar10_python_batches_parse(tmp_path, as_archive):
    files = write_cifar(tmp_path, as_archive)
    train = load_cifar10(tmp_path, "train")
    test = load_cifar10(tmp_path, "test")
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (5, 3, 32, 32)
    first = files["data_batch_1"][b"data"][0].reshape(3, 32, 32)
    assert torch.equal(train.images[0], torch.from_numpy(first))
    assert test.labels.tolist() == files["test_batch"][b"labels"]
    assert train.classes[1] == "automobile"


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataFileError, match="test_batch.*refusing"):
        load_cifar10(tmp_path, "test")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "cifar-10-python.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataFileError, match="corrupt"):
        load_cifar10(tmp_path / "x", "train")


def test_download_verifies_checksums_offline(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"convlens" * 100)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    dest = download([(tmp_path / "missing").as_uri(), src.as_uri()], tmp_path / "out" / "f.bin", md5)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download([src.as_uri()], tmp_path / "out" / "g.bin", "0" * 32)
    assert not (tmp_path / "out" / "g.bin").exists()


def test_mnist_download_path_uses_mirrors(tmp_path, monkeypatch):
    """The real download code path, pointed at a local mirror in the official layout."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_mnist(mirror, "test")
    import convlens.data.mnist as mnist

    files = {name: hashlib.md5((mirror / name).read_bytes()).hexdigest() for name, _ in mnist.FILES["test"]}
    monkeypatch.setattr(mnist, "MIRRORS", (mirror.as_uri() + "/",))
    monkeypatch.setattr(mnist, "FILES", {"test": tuple(files.items())})
    data = load_mnist(tmp_path / "data", "test", download_missing=True)
    assert len(data) == 7 and (tmp_path / "data" / "t10k-images-idx3-ubyte.gz").exists()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "LA"])
def test_images_of_every_mode_load_as_floats(tmp_path, mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8))
    img = rgb.convert("P") if mode == "P" else rgb.convert(mode) if mode != "I;16" else rgb.convert("L").convert("I;16")
    path = tmp_path / "img.png"
    img.save(path)
    for channels in (1, 3):
        t = load_image(path, size=(8, 9), channels=channels)
        assert t.shape == (channels, 8, 9) and t.dtype == torch.float32
        assert 0 <= float(t.min()) and float(t.max()) <= 1


def test_image_round_trip_and_bad_files(tmp_path):
    x = torch.rand(3, 5, 6)
    save_image(x, tmp_path / "x.png")
    back = load_image(tmp_path / "x.png")
    assert torch.allclose(back, x, atol=1 / 255)
    (tmp_path / "fake.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFileError, match="fake.png"):
        load_image(tmp_path / "fake.png")
    with pytest.raises(DataFileError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError):
        load_image(tmp_path / "x.png", channels=2)


def test_image_folder(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (20, 10), (i * 100, 50, 0)).save(tmp_path / cls / f"{i}.jpg")
    data = load_image_folder(tmp_path, (16, 16), 3)
    assert data.classes == ("cat", "dog") and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images.shape == (4, 3, 16, 16) and data.images.dtype == torch.uint8
    (tmp_path / "dog" / "broken.png").write_bytes(b"junk")
    with pytest.raises(DataFileError, match="broken.png"):
        load_image_folder(tmp_path, (16, 16))
    with pytest.raises(DataFileError, match="no class sub-folders"):
        load_image_folder(tmp_path / "cat", (16, 16))


def test_sample_is_real_mnist_and_splits_are_deterministic_and_stratified():
    data = load_sample()
    assert data.images.shape == (5000, 1, 28, 28) and data.labels.bincount().tolist() == [500] * 10
    assert 0.1 < data.images.float().mean() / 255 < 0.2  # MNIST's mean intensity is 0.13
    a, b = sample_splits(), sample_splits()
    assert (len(a.train), len(a.val), len(a.test)) == (3500, 500, 1000)
    assert torch.equal(a.test.images, b.test.images)
    assert a.test.labels.bincount().tolist() == [100] * 10
    whole = torch.cat([a.train.images, a.val.images, a.test.images]).flatten(1)
    assert len(torch.unique(whole, dim=0)) == len(torch.unique(data.images.flatten(1), dim=0))
    assert not torch.equal(sample_splits(seed=1).test.images, a.test.images)
    with pytest.raises(InputError):
        stratified_split(data, [0.6, 0.5])


def test_load_dataset_by_name():
    assert len(load_dataset("sample")) == 5000
    with pytest.raises(UnknownNameError, match="sample, mnist, cifar10"):
        load_dataset("imagenet")
