"""images.py: every odd input format, every bad file, resizing and PNG round trips.

All inputs are made here, tiny (16-96 px), with Pillow, numpy, or by hand for what Pillow
cannot write (16-bit RGB PNG, a PNG header that lies about its size).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, WHITE, quadrants
from PIL import Image, features

from timelapse_nst.errors import UserError
from timelapse_nst.images import (
    MAX_PIXELS,
    file_sha256,
    load_image,
    resize_long_edge,
    resize_style,
    save_png,
)

BLACK = (0, 0, 0)


# --- helpers ----------------------------------------------------------------------------------


def _pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(np.int32)


def _stored_mode(path: Path) -> str:
    """The mode Pillow decodes the file in: proves a test exercises the odd format it names."""
    with Image.open(path) as image:
        return image.mode


def _gradient(width: int = 24, height: int = 16) -> np.ndarray:
    """An (H, W, 3) uint8 image with distinct values in every channel."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 10 % 256, y * 15 % 256, (x + y) * 7 % 256], axis=-1).astype(np.uint8)


def _png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written chunk by chunk: for what Pillow will not write (16-bit RGB, lying headers)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _quadrant_centres(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    rows, cols = (height // 4, 3 * height // 4), (width // 4, 3 * width // 4)
    return np.array([[array[r, c] for c in cols] for r in rows], dtype=np.int32)


# --- formats that must load as the expected RGB pixels -------------------------------------------


def test_rgb_png_is_loaded_exactly(tmp_path: Path) -> None:
    expected = _gradient()
    Image.fromarray(expected).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(_pixels(load_image(tmp_path / "rgb.png")), expected)


def test_grayscale_l_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = _gradient()[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    loaded = _pixels(load_image(tmp_path / "l.png"))
    np.testing.assert_array_equal(loaded, np.stack([gray] * 3, axis=-1))


def test_one_bit_image_becomes_black_and_white(tmp_path: Path) -> None:
    checker = (np.indices((16, 16)).sum(axis=0) % 2).astype(bool)
    Image.fromarray(checker).convert("1").save(tmp_path / "bits.png")
    assert _stored_mode(tmp_path / "bits.png") == "1"
    np.testing.assert_array_equal(_pixels(load_image(tmp_path / "bits.png"))[..., 1], checker * 255)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 128 * 257, 40000, 65535]] * 16, np.uint16)
    Image.fromarray(values).save(tmp_path / "gray16.png")
    assert _stored_mode(tmp_path / "gray16.png") == "I;16"  # the 16-bit path is exercised
    loaded = _pixels(load_image(tmp_path / "gray16.png"))
    np.testing.assert_array_equal(loaded[0, :, 0], [0, 4, 128, 156, 255])  # round(v / 257)
    assert (loaded[..., 0] == loaded[..., 2]).all()


def test_16_bit_rgb_png_keeps_its_tonal_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 65536, size=(16, 20, 3)).astype(np.uint16)
    values[0, :3] = [[0, 0, 0], [257 * 100, 257 * 200, 257 * 50], [65535, 65535, 65535]]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    (tmp_path / "rgb16.png").write_bytes(_png_bytes(20, 16, 16, 2, rows))
    loaded = _pixels(load_image(tmp_path / "rgb16.png"))
    np.testing.assert_array_equal(loaded[0, :3], [[0, 0, 0], [100, 200, 50], [255, 255, 255]])
    assert np.abs(loaded - values / 257).max() <= 1  # within one level everywhere


def test_rgba_is_composited_onto_white(tmp_path: Path) -> None:
    rgba = np.zeros((16, 24, 4), np.uint8)
    rgba[:, :8] = (200, 40, 10, 255)  # opaque: colour kept
    rgba[:, 8:16] = (200, 40, 10, 0)  # transparent: white, not the hidden colour or black
    rgba[:, 16:] = (0, 0, 0, 128)  # half-transparent black over white: mid gray
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    loaded = _pixels(load_image(tmp_path / "rgba.png"))
    np.testing.assert_array_equal(loaded[5, 2], (200, 40, 10))
    np.testing.assert_array_equal(loaded[5, 10], WHITE)
    assert np.abs(loaded[5, 20] - 127).max() <= 1


def test_gray_with_alpha_la_is_composited_onto_white(tmp_path: Path) -> None:
    la = np.zeros((16, 16, 2), np.uint8)
    la[:, :8] = (60, 255)
    la[:, 8:] = (60, 0)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert _stored_mode(tmp_path / "la.png") == "LA"
    loaded = _pixels(load_image(tmp_path / "la.png"))
    np.testing.assert_array_equal(loaded[3, 3], (60, 60, 60))
    np.testing.assert_array_equal(loaded[3, 12], WHITE)


def _palette_image() -> Image.Image:
    indices = np.zeros((16, 16), np.uint8)
    indices[:, 8:] = 1
    indices[8:, :] = 2
    image = Image.fromarray(indices, "P")
    image.putpalette([*BLACK, *RED, *BLUE] + [0] * (253 * 3))
    return image


def test_palette_without_transparency(tmp_path: Path) -> None:
    _palette_image().save(tmp_path / "p.png")
    loaded = _pixels(load_image(tmp_path / "p.png"))
    np.testing.assert_array_equal(_quadrant_centres(loaded), [[BLACK, RED], [BLUE, BLUE]])


def test_palette_with_transparency_shows_white(tmp_path: Path) -> None:
    _palette_image().save(tmp_path / "pt.png", transparency=0)  # index 0 (black) transparent
    with Image.open(tmp_path / "pt.png") as opened:
        assert opened.mode == "P" and "transparency" in opened.info
    loaded = _pixels(load_image(tmp_path / "pt.png"))
    np.testing.assert_array_equal(_quadrant_centres(loaded), [[WHITE, RED], [BLUE, BLUE]])


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp(tmp_path: Path) -> None:
    expected = _gradient()
    Image.fromarray(expected).save(tmp_path / "img.webp", lossless=True)
    np.testing.assert_array_equal(_pixels(load_image(tmp_path / "img.webp")), expected)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 32, 4), np.uint8)
    cmyk[:, 16:] = (0, 255, 255, 0)  # magenta + yellow ink: red
    cmyk[8:, :16] = (0, 0, 0, 255)  # black ink
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert _stored_mode(tmp_path / "cmyk.jpg") == "CMYK"
    centres = _quadrant_centres(_pixels(load_image(tmp_path / "cmyk.jpg")))
    expected = [[WHITE, RED], [BLACK, RED]]
    assert np.abs(centres - np.array(expected)).max() <= 8, centres


@pytest.mark.parametrize(
    ("orientation", "upright"),
    [
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored rotated: display turns it 90° clockwise
        (8, lambda a: np.rot90(a, 1)),  # display turns it 90° counter-clockwise
    ],
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, upright) -> None:
    stored = quadrants(32, 16)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"photo{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=95, subsampling=0, exif=exif.tobytes())
    loaded = _pixels(load_image(path))
    expected = upright(stored)
    assert loaded.shape == expected.shape
    assert np.abs(_quadrant_centres(loaded) - _quadrant_centres(expected)).max() <= 8


@pytest.mark.filterwarnings("error")  # Pillow's warnings about the damage do not reach the user
def test_a_damaged_exif_block_still_turns_the_picture_upright(tmp_path: Path) -> None:
    # Found by generated damage: the Make tag (text) turned into XPosition, a tag that holds a
    # fraction, still declared as text. Pillow's exif_transpose raised TypeError writing it back.
    stored = quadrants(32, 16)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Camera"
    path = tmp_path / "photo.jpg"
    Image.fromarray(stored).save(path, quality=95, subsampling=0, exif=exif.tobytes())
    make = b"\x01\x0f\x00\x02"  # tag 0x010F, type 2 (text), as written big-endian
    assert path.read_bytes().count(make) == 1
    path.write_bytes(path.read_bytes().replace(make, b"\x01\x1f\x00\x02"))
    loaded = _pixels(load_image(path))
    expected = np.rot90(stored, -1)
    assert loaded.shape == expected.shape
    assert np.abs(_quadrant_centres(loaded) - _quadrant_centres(expected)).max() <= 8


# --- bad files: one UserError line naming the file -----------------------------------------------


def _valid_bytes(tmp_path: Path, suffix: str) -> bytes:
    path = tmp_path / f"valid{suffix}"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(path)
    return path.read_bytes()


def _bad_file(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """Makes one kind of bad input; returns its path and a word the message must contain."""
    if kind == "missing":
        return tmp_path / "nowhere.jpg", "not found"
    if kind == "directory":
        (tmp_path / "folder.png").mkdir()
        return tmp_path / "folder.png", "directory"
    path = tmp_path / f"bad-{kind}.{'png' if 'png' in kind or 'bomb' in kind else 'jpg'}"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "empty"
    if kind == "text":
        path.write_text("this is a text file, not a photo\n")
        return path, "not an image"
    if kind in ("truncated-jpeg", "truncated-png"):
        data = _valid_bytes(tmp_path, path.suffix)
        path.write_bytes(data[: len(data) // 2])
        return path, "truncated"
    if kind == "bomb-png":  # a 100-byte file claiming 100000 x 100000 pixels
        path.write_bytes(_png_bytes(100_000, 100_000, 8, 2, b"\x00" * 16))
        return path, "too large"
    if kind == "large-png":  # above our limit but under Pillow's own error threshold
        path.write_bytes(_png_bytes(12_000, 10_000, 8, 0, b"\x00" * 16))
        return path, "12000×10000"
    raise AssertionError(kind)


@pytest.mark.filterwarnings("error")  # e.g. no DecompressionBombWarning leaks out
@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "directory",
        "empty",
        "text",
        "truncated-jpeg",
        "truncated-png",
        "bomb-png",
        "large-png",
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, kind: str) -> None:
    path, expected_words = _bad_file(tmp_path, kind)
    with pytest.raises(UserError) as caught:
        load_image(path)
    message = str(caught.value)
    assert path.name in message
    assert expected_words in message
    assert "\n" not in message
    error = caught.value  # no chained Pillow traceback behind it
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_limits_are_stated_in_the_message(tmp_path: Path) -> None:
    path, _ = _bad_file(tmp_path, "large-png")
    with pytest.raises(UserError, match=f"the limit is {MAX_PIXELS:,} pixels"):
        load_image(path)


def test_corrupt_png_checksum_is_reported(tmp_path: Path) -> None:
    data = bytearray(_valid_bytes(tmp_path, ".png"))
    data[40] ^= 0xFF  # inside the first IDAT chunk: its CRC no longer matches
    (tmp_path / "crc.png").write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"crc\.png"):
        load_image(tmp_path / "crc.png")


# --- resizing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_edge", "expected"),
    [
        ((60, 30), 40, (40, 20)),  # landscape, downscale
        ((30, 60), 40, (20, 40)),  # portrait
        ((20, 15), 64, (64, 48)),  # upscale
        ((96, 1), 16, (16, 1)),  # a side never rounds to 0
        ((33, 17), 20, (20, 10)),  # 17 * 20 / 33 = 10.3
    ],
)
def test_resize_long_edge(size: tuple[int, int], long_edge: int, expected: tuple[int, int]) -> None:
    resized = resize_long_edge(Image.new("RGB", size, RED), long_edge)
    assert resized.size == expected
    assert resized.getpixel((0, 0)) == RED


def test_resize_long_edge_is_a_no_op_at_the_target_size() -> None:
    image = Image.new("RGB", (40, 30))
    assert resize_long_edge(image, 40) is image


def test_resize_long_edge_keeps_content_in_place() -> None:
    resized = _pixels(resize_long_edge(Image.fromarray(quadrants(64, 32)), 32))
    np.testing.assert_array_equal(_quadrant_centres(resized), [[RED, GREEN], [BLUE, WHITE]])


def test_resize_long_edge_rejects_nonpositive_size() -> None:
    with pytest.raises(ValueError):
        resize_long_edge(Image.new("RGB", (8, 8)), 0)


@pytest.mark.parametrize(
    ("style_size", "scale", "expected"),
    [
        ((96, 48), 1.0, (64, 32)),  # same long edge as the content (64 x 48)
        ((96, 48), 0.5, (32, 16)),
        ((48, 96), 2.0, (64, 128)),  # upscaled, portrait aspect kept
        ((96, 96), 0.01, (16, 16)),  # guarded at 16 px
    ],
)
def test_resize_style(style_size: tuple[int, int], scale: float, expected: tuple[int, int]) -> None:
    assert resize_style(Image.new("RGB", style_size), (64, 48), scale).size == expected


def test_resize_style_rejects_nonpositive_scale() -> None:
    with pytest.raises(ValueError):
        resize_style(Image.new("RGB", (16, 16)), (64, 48), 0.0)


# --- files -------------------------------------------------------------------------------------


def test_save_png_round_trip_atomic_and_deterministic(tmp_path: Path) -> None:
    array = _gradient(48, 32)
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(b"old contents")  # replaced, not appended to
    save_png(array, first)
    save_png(array.copy(), second)
    np.testing.assert_array_equal(_pixels(load_image(first)), array)
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no .tmp left over


def test_save_png_compress_level_changes_the_encoding(tmp_path: Path) -> None:
    array = np.zeros((64, 64, 3), np.uint8)
    save_png(array, tmp_path / "fast.png", compress_level=0)
    save_png(array, tmp_path / "small.png", compress_level=9)
    assert (tmp_path / "small.png").stat().st_size < (tmp_path / "fast.png").stat().st_size
    np.testing.assert_array_equal(_pixels(load_image(tmp_path / "fast.png")), array)


def test_save_png_rejects_wrong_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_png(np.zeros((8, 8, 3), np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError):
        save_png(np.zeros((8, 8), np.uint8), tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_file_sha256(tmp_path: Path) -> None:
    (tmp_path / "abc").write_bytes(b"abc")
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 vector
    assert file_sha256(tmp_path / "abc") == abc
    data = np.random.default_rng(3).bytes(3_000_000)  # more than one read buffer
    (tmp_path / "big").write_bytes(data)
    assert file_sha256(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_file_sha256_of_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"gone\.jpg"):
        file_sha256(tmp_path / "gone.jpg")
