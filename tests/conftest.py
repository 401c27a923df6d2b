"""Shared fixtures: tiny real images and seeded random VGG19 weights (never a download)."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

QUICK = ["--preset", "quick-preview", "--weights", "random"]
"""The preset and weights most command-line tests paint with: small, fast, never a download."""


FAST_VIDEO = [
    "video.duration=1",
    "video.fps=10",
    "video.resolution=320x180",
    "video.preset=ultrafast",
    "video.intro=0",
    "video.hold=0.2",
]
"""A video that encodes in a moment (preset keys, as ``--set`` takes them): for tests that make one."""


def command_line(*args: str) -> list[str]:
    """``timelapse-nst ARGS`` as this Python runs it (a subprocess, as a user's shell would)."""
    return [sys.executable, "-m", "timelapse_nst", *args]


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


def wait_until(process: subprocess.Popen, ready: Callable[[], bool], *, what: str, timeout: float = 240) -> None:
    """Return the moment ``ready()`` holds, asked every half millisecond while ``process`` runs
    (kill points are milliseconds apart at test sizes). Fails as soon as the process ends first
    (its pidfd turns readable); ``timeout`` only ends a hang: it measures no speed."""
    deadline = time.monotonic() + timeout
    ended = os.pidfd_open(process.pid)
    try:
        while not ready():
            if select.select([ended], [], [], 0.0005)[0]:
                _, stderr = process.communicate()
                pytest.fail(f"the process ended (exit {process.returncode}) before {what}: {stderr}")
            if time.monotonic() > deadline:
                process.send_signal(signal.SIGINT)
                pytest.fail(f"{what} was never reached")
    finally:
        os.close(ended)


def decode(media: Path, *, seek: tuple[str, ...] = (), frames: int | None = None, pix_fmt: str = "rgb24") -> np.ndarray:
    """The pixels of a video or a picture as ffmpeg decodes them, flat (uint8; big-endian uint16 for
    ``rgb48be``): ``seek`` goes before the input (``("-ss", "1.35")``), ``frames`` caps how many."""
    import imageio_ffmpeg

    limit = ("-frames:v", str(frames)) if frames is not None else ()
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", *seek, "-i", str(media), *limit]
    raw = subprocess.run([*command, "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True)
    return np.frombuffer(raw.stdout, ">u2" if pix_fmt == "rgb48be" else np.uint8)


def torch_loaded_by(code: str, packages: tuple[str, ...] = ("torch", "torchvision")) -> list[str]:
    """The modules of ``packages`` a fresh Python has loaded after running ``code``: what must run
    without torch (the import contracts see imports; this sees what running really loads)."""
    report = f"import sys, json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})))"
    result = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def painting_files(run: Path) -> dict[str, bytes]:
    """final.png, log.jsonl and every frame of a run folder, by name: what a resume must reproduce."""
    names = ["final.png", "log.jsonl", *(f"frames/{p.name}" for p in sorted((run / "frames").glob("*.png")))]
    return {name: (run / name).read_bytes() for name in names}


RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(width: int = 32, height: int = 16) -> np.ndarray:
    """Red, green / blue, white quadrants: any rotation or flip moves them somewhere visible."""
    array = np.zeros((height, width, 3), np.uint8)
    array[: height // 2, : width // 2] = RED
    array[: height // 2, width // 2 :] = GREEN
    array[height // 2 :, : width // 2] = BLUE
    array[height // 2 :, width // 2 :] = WHITE
    return array


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def http_get(port: int, path: str) -> tuple[int, bytes]:
    """A plain GET on this machine's ``port``: the status and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
