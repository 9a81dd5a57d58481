"""Image files decode by their real range in every PIL mode; huge and hostile files fail in one line."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.data import images as images_module
from convlens.data import load_image, load_images
from convlens.errors import DataFileError, InputError


def _write(tmp_path, name, img):
    path = tmp_path / name
    img.save(path)
    return path


# mode, file, array, expected value of every pixel
CASES = [
    ("L 8-bit PNG", "a.png", np.full((6, 5), 128, np.uint8), 128 / 255),
    ("I;16 PNG at half", "b.png", np.full((6, 5), 32768, np.uint16), 32768 / 65535),
    ("I;16 PNG dark", "c.png", np.full((6, 5), 1000, np.uint16), 1000 / 65535),
    ("I;16 TIFF", "d.tif", np.full((6, 5), 40000, np.uint16), 40000 / 65535),
    ("I 32-bit signed TIFF", "e.tif", np.full((6, 5), 2**30, np.int32), 2**30 / (2**31 - 1)),
    ("F 32-bit float TIFF", "f.tif", np.full((6, 5), 0.25, np.float32), 0.25),
    ("F 64-bit float TIFF", "h.tif", np.full((6, 5), 0.75, np.float64), 0.75),
]


@pytest.mark.parametrize(("what", "name", "array", "value"), CASES, ids=[c[0] for c in CASES])
def test_every_mode_decodes_by_its_real_range(tmp_path, what, name, array, value):
    path = _write(tmp_path, name, Image.fromarray(array))
    for channels in (1, 3):
        t = load_image(path, channels=channels)
        assert t.shape == (channels, 6, 5) and t.dtype == torch.float32
        assert torch.allclose(t, torch.full_like(t, value), atol=1e-6), (what, float(t[0, 0, 0]))


def test_unsigned_32_bit_tiff_uses_the_full_unsigned_range(tmp_path):
    _write(tmp_path, "s.tif", Image.fromarray(np.full((3, 2), 3_000_000_000, np.uint32)))  # PIL writes it signed
    signed_format = b"\x53\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # tag 339 SampleFormat = 2 (signed)
    data = (tmp_path / "s.tif").read_bytes()
    assert data.count(signed_format) == 1
    (tmp_path / "u.tif").write_bytes(data.replace(signed_format, signed_format[:-2] + b"\x01\x00"))  # unsigned
    assert torch.allclose(load_image(tmp_path / "u.tif"), torch.tensor(3_000_000_000 / (2**32 - 1)), atol=1e-6)
    with pytest.raises(DataFileError, match="pixel values from -1.29497e"):  # the signed file holds a negative value
        load_image(tmp_path / "s.tif")


def test_sixteen_bit_and_eight_bit_twins_agree(tmp_path):
    ramp8 = np.tile(np.arange(0, 256, 17, dtype=np.uint8), (4, 1))
    ramp16 = ramp8.astype(np.uint16) * 257  # 255 * 257 = 65535: the same picture at 16 bits
    a = load_image(_write(tmp_path, "8.png", Image.fromarray(ramp8)), channels=1)
    b = load_image(_write(tmp_path, "16.png", Image.fromarray(ramp16)), channels=1)
    assert torch.allclose(a, b, atol=1e-6)


def test_float_tiff_ramp_is_kept_exactly_and_resized_by_value(tmp_path):
    ramp = np.linspace(0, 1, 8 * 8, dtype=np.float32).reshape(8, 8)
    t = load_image(_write(tmp_path, "ramp.tif", Image.fromarray(ramp)), channels=1)
    assert torch.equal(t[0], torch.from_numpy(ramp))
    half = load_image(tmp_path / "ramp.tif", size=(4, 4), channels=1)
    assert abs(float(half.mean()) - float(ramp.mean())) < 1e-3  # not rescaled to 8 bits, not darkened


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_pixels_are_refused(tmp_path, bad):
    arr = np.full((4, 4), 0.5, np.float32)
    arr[1, 2] = bad
    path = _write(tmp_path, "nan.tif", Image.fromarray(arr))
    with pytest.raises(DataFileError, match=r"nan.tif holds 1 NaN or infinite pixel"):
        load_image(path)


@pytest.mark.parametrize(
    ("array", "pattern"),
    [(np.full((4, 4), 3.0, np.float32), "float pixels must lie in"), (np.full((4, 4), -5, np.int32), "0..2147483647")],
)
def test_values_outside_the_modes_range_are_refused(tmp_path, array, pattern):
    path = _write(tmp_path, "out.tif", Image.fromarray(array))
    with pytest.raises(DataFileError, match=pattern):
        load_image(path)


def test_photographs_are_scaled_on_the_shorter_side_and_centre_cropped(tmp_path):
    arr = np.zeros((40, 80), np.uint8)  # a wide picture: black at the left and right edges, white centre
    arr[:, 16:64] = 255  # the centre square is columns 20..60; the filter reaches 2 pixels beyond
    path = _write(tmp_path, "wide.png", Image.fromarray(arr))
    crop = load_image(path, size=(20, 20), channels=1)
    assert torch.allclose(crop, torch.ones_like(crop))  # the centre square, not the squashed whole
    stretched = load_image(path, size=(20, 20), channels=1, resize="stretch")
    assert float(stretched[0, :, 0].max()) < 0.1 and float(stretched[0, :, 10].min()) > 0.9
    same = load_image(path, size=(40, 80), channels=1)
    assert torch.equal(same[0], torch.from_numpy(arr).float() / 255)  # already the right size: untouched


def test_imagenet_sizes_keep_the_central_224_of_256(tmp_path):
    arr = np.zeros((256, 256), np.uint8)
    arr[16:240, 16:240] = 255  # white exactly where the 224/256 centre crop looks
    t = load_image(_write(tmp_path, "x.png", Image.fromarray(arr)), size=(224, 224), channels=1)
    assert float(t.min()) > 0.99
    with pytest.raises(InputError, match="resize must be one of"):
        load_image(tmp_path / "x.png", size=(8, 8), resize="squash")


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge size (the decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13000, 30000])
def test_huge_declared_images_are_refused_in_one_line(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(DataFileError, match="megapixels") as info:
        load_image(path, size=(28, 28))
    assert "\n" not in str(info.value) and "bomb.png" in str(info.value)


def test_pixel_limit_is_adjustable_and_jpeg_decodes_downscaled(tmp_path, monkeypatch):
    rgb = np.zeros((400, 600, 3), np.uint8)
    rgb[..., 0] = 200
    path = _write(tmp_path, "photo.jpg", Image.fromarray(rgb))
    monkeypatch.setattr(images_module, "MAX_PIXELS", 50_000)  # smaller than the file (240,000 pixels)
    with pytest.raises(DataFileError, match="raise convlens.data.images.MAX_PIXELS"):
        load_image(path)
    small = load_image(path, size=(32, 32))  # JPEG draft decodes at 1/8 scale: 75x50, under the limit
    assert small.shape == (3, 32, 32) and abs(float(small[0].mean()) - 200 / 255) < 0.02
    png = _write(tmp_path, "photo.png", Image.fromarray(rgb))
    with pytest.raises(DataFileError, match="megapixels"):
        load_image(png, size=(32, 32))  # PNG cannot decode downscaled: the limit applies


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((10, 20), np.uint8)  # stored wide; EXIF says "rotate 90": shown tall
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg", channels=1).shape == (1, 20, 10)


def test_batches_share_the_resize_mode(tmp_path):
    a = _write(tmp_path, "a.png", Image.fromarray(np.zeros((30, 60), np.uint8)))
    b = _write(tmp_path, "b.png", Image.fromarray(np.full((60, 30), 255, np.uint8)))
    batch = load_images([a, b], (16, 16), 1)
    assert batch.shape == (2, 1, 16, 16) and float(batch[0].max()) == 0 and float(batch[1].min()) == 1


def test_idx_files_are_read_only_as_far_as_their_header_declares(tmp_path):
    import gzip

    from convlens.data import read_idx

    header = b"\x00\x00\x08\x03" + struct.pack(">III", 1, 28, 28)
    with gzip.open(tmp_path / "bomb-idx3-ubyte.gz", "wb") as handle:
        handle.write(header + bytes(784 + 50_000_000))  # 50 MB of padding behind one digit
    with pytest.raises(DataFileError, match="truncated or padded"):
        read_idx(tmp_path / "bomb-idx3-ubyte.gz")
    (tmp_path / "huge-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 60000, 28000, 28000))
    with pytest.raises(DataFileError, match="GB of data, more than any MNIST-format file"):
        read_idx(tmp_path / "huge-idx3-ubyte")
