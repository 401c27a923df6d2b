"""final.png options: 16-bit RGB and an embedded sRGB ICC profile, read back by other decoders."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import decode
from PIL import Image, ImageCms
from runfolder_factory import make_run

from timelapse_nst.assembly import assemble_run
from timelapse_nst.engine.tensors import to_uint8, to_uint16
from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image, save_png, srgb_profile
from timelapse_nst.settings import presets


def png_header(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">IIBB", data[16:26])


def decode_rgb48(path: Path) -> np.ndarray:
    """16-bit RGB pixels decoded by ffmpeg (Pillow would give only the high bytes)."""
    width, height = png_header(path)[:2]
    return decode(path, pix_fmt="rgb48be").reshape(height, width, 3)


def profile_name(data: bytes) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(data))).strip()


def test_16_bit_png_keeps_the_levels_between_8_bit_values(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0)) * 300 - 20  # out of range too
    path = tmp_path / "final.png"
    save_png(to_uint16(image), path, icc_profile=srgb_profile())

    assert png_header(path) == (53, 37, 16, 2)  # 16 bits per channel, truecolour
    pixels = decode_rgb48(path)
    expected = np.round(image[0].clamp(0, 255).permute(1, 2, 0).double().numpy() * 257)
    assert np.array_equal(pixels, expected)
    assert len(np.unique(pixels % 257)) > 100  # values between the 8-bit levels survive
    with Image.open(path) as opened:
        assert profile_name(opened.info["icc_profile"]) == "sRGB built-in"
        # Pillow reads 48-bit PNGs as their high bytes: within one level of the 8-bit rounding.
        assert np.abs(np.asarray(opened.convert("RGB"), np.int16) - to_uint8(image).astype(np.int16)).max() <= 1


def test_to_uint16_maps_8_bit_levels_exactly() -> None:
    levels = torch.tensor([0.0, 1.0, 128.0, 254.0, 255.0, 300.0, -5.0, float("nan")]).reshape(1, 1, 8).repeat(3, 1, 1)
    assert to_uint16(levels)[0, :, 0].tolist() == [0, 257, 128 * 257, 254 * 257, 65535, 65535, 0, 0]
    with pytest.raises(ValueError, match="shape"):
        to_uint16(torch.zeros(2, 2))


def test_8_bit_png_with_the_srgb_profile(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    save_png(pixels, tmp_path / "a.png", icc_profile=srgb_profile())
    save_png(pixels, tmp_path / "b.png", icc_profile=srgb_profile())
    with Image.open(tmp_path / "a.png") as opened:
        assert opened.mode == "RGB" and np.array_equal(np.asarray(opened), pixels)
        assert profile_name(opened.info["icc_profile"]) == "sRGB built-in"
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert not list(tmp_path.glob("*.partial"))


def test_the_srgb_profile_carries_a_fixed_date_so_final_png_is_reproducible() -> None:
    # LittleCMS would stamp the current time into bytes 24-35 of the header.
    assert struct.unpack(">6H", srgb_profile()[24:36]) == (2000, 1, 1, 0, 0, 0)


def test_assembly_reads_a_16_bit_final_png(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    eight = np.asarray(Image.open(run / "final.png").convert("RGB"))
    save_png(eight.astype(np.uint16) * 257 + 100, run / "final.png")  # the same painting, 16-bit
    read = np.asarray(load_image(run / "final.png"), np.int16)
    assert np.abs(read - eight).max() <= 1  # Pillow gives 48-bit PNGs' high bytes: within one level
    overrides = {"layout": "plain", "resolution": "64x48", "duration": 1, "fps": 10, "intro": 0, "hold": 0.5}
    video = assemble_run(run, overrides={**overrides, "preset": "ultrafast", "crf": 8})
    held = decode(video, seek=("-sseof", "-0.1"), frames=1).reshape(48, 64, 3).astype(np.float32)
    assert np.abs(held - eight).mean() < 4  # not clipped to white, not darkened


def test_final_settings_are_validated() -> None:
    assert presets.resolve("classic").final.bit_depth == 8
    assert presets.resolve("classic", overrides=["final.bit_depth=16"]).final.bit_depth == 16
    with pytest.raises(UserError, match=r"final\.bit_depth: Input should be 8 or 16"):
        presets.resolve("classic", overrides=["final.bit_depth=12"])
    # How final.png is written does not change the painting: the same render.
    assert (
        presets.resolve("classic", overrides=["final.bit_depth=16", "final.icc_profile=false"]).render_hash()
        == presets.resolve("classic").render_hash()
    )
