"""`render` / `resume` --preview [--port N] on the command line: the link, the errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from conftest import make_image

from timelapse_nst.weights import RANDOM_WEIGHTS_WARNING

TINY = ["--preset", "quick-preview", "--weights", "random", "--size", "32", "--iterations", "4"]
TINY_VIDEO = ["--set", "video.resolution=160x90", "--set", "video.duration=1", "--set", "video.fps=10"]


def cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "timelapse_nst", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def error_line(result: subprocess.CompletedProcess) -> str:
    """Exit 2 and one ``error:`` line (the --weights random warning may come before it)."""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if RANDOM_WEIGHTS_WARNING[:30] not in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_port_without_preview_and_a_busy_port_are_one_line_errors(tmp_path: Path):
    photo, painting = make_image(tmp_path / "a.png", (32, 32), seed=1), make_image(tmp_path / "b.png", (32, 32))
    line = error_line(cli("render", str(photo), str(painting), *TINY, "--port", "8123", "--out", str(tmp_path / "r")))
    assert "--port" in line and "--preview" in line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(
            "render", str(photo), str(painting), *TINY, "--preview", "--port", str(port), "--out", str(tmp_path / "r")
        )
    assert f"cannot serve the preview on 127.0.0.1:{port}" in error_line(result)
    assert not (tmp_path / "r").exists()  # refused before the run folder was made


def test_resume_with_preview_prints_the_link_even_when_quiet_and_ends_without_a_page(tmp_path: Path):
    photo, painting = make_image(tmp_path / "a.png", (32, 32), seed=1), make_image(tmp_path / "b.png", (32, 32))
    run = tmp_path / "run"
    done = cli("render", str(photo), str(painting), *TINY, *TINY_VIDEO, "--no-video", "--quiet", "--out", str(run))
    assert done.returncode == 0, done.stderr
    result = cli("resume", str(run), "--preview", "--quiet")  # complete: it makes the video, then ends
    assert result.returncode == 0, result.stderr
    links = [line for line in result.stderr.splitlines() if line.startswith("preview: http://127.0.0.1:")]
    assert len(links) == 1, result.stderr
    assert (run / "timelapse.mp4").is_file()
