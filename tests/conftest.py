"""Shared fixtures: tiny real images and seeded random VGG19 weights (never a download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# Tests run single-threaded torch per worker: stable timings on 2 cores, and the same
# thread count for an interrupted run and its resume.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def content_path() -> Path:
    return EXAMPLES / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return EXAMPLES / "starry_night.jpg"


@pytest.fixture(scope="session")
def random_vgg():
    from timelapse_nst.engine.weights import load_vgg19_features

    return load_vgg19_features("random", seed=0)


def make_image(path: Path, size: tuple[int, int] = (48, 32), seed: int = 0) -> Path:
    """A small real picture with structure (gradients + blocks), saved by Pillow."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1)], -1)
    pixels = (pixels + rng.integers(0, 40, pixels.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def shared(tmp_path_factory, worker_id: str, name: str, build: Callable[[Path], None]) -> Path:
    """A folder built once per test session, even when pytest-xdist runs this module's tests
    on several workers (each would otherwise pay for its own module fixtures)."""
    if worker_id == "master":  # no xdist: the module fixture is already built only once
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this session's folder, shared by the workers
    with FileLock(str(root / f"{name}.lock")):  # every platform, not only where fcntl is
        folder = root / name
        if not (folder / "built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / "built").touch()
    return folder


def require_tool(name: str) -> str:
    """Path of a system tool the test needs; skip without it, unless CI demands it."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if os.environ.get("TIMELAPSE_NST_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is required (TIMELAPSE_NST_REQUIRE_TOOLS=1) but not installed")
        pytest.skip(f"{name} is not installed (apt-get install ffmpeg chromium)")
    return path


def ffprobe_video(path: Path) -> dict:
    """codec, profile, pixel format, size, frame count and duration of the first video stream."""
    import json
    import subprocess

    ffprobe = require_tool("ffprobe")
    out = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,pix_fmt,width,height,nb_read_frames,r_frame_rate,avg_frame_rate:format=duration",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return {**data["streams"][0], "duration": float(data["format"]["duration"])}
