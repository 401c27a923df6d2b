"""`render` / `resume` --preview [--port N] on the command line and in the API: the link, the errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_image

from timelapse_nst import api
from timelapse_nst.errors import UserError

TINY = {"preset": "quick-preview", "weights": "random", "size": 32, "iterations": 4}
TINY_VIDEO = ["video.resolution=160x90", "video.duration=1", "video.fps=10"]


def cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "timelapse_nst", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_port_without_preview_is_a_one_line_error(tmp_path: Path):
    photo, painting = make_image(tmp_path / "a.png", (32, 32), seed=1), make_image(tmp_path / "b.png", (32, 32))
    for command in (["render", str(photo), str(painting), "--out", str(tmp_path / "r")], ["resume", str(tmp_path)]):
        result = cli(*command, "--port", "8123")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip() == "error: --port is the port of the --preview page: add --preview"
    assert not (tmp_path / "r").exists()


def test_a_busy_port_is_refused_before_the_run_folder_is_made(tmp_path: Path):
    photo, painting = make_image(tmp_path / "a.png", (32, 32), seed=1), make_image(tmp_path / "b.png", (32, 32))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot serve the preview on 127.0.0.1:{port}"):
            api.render(photo, painting, out=tmp_path / "run", **TINY, preview="web", preview_port=port)
    assert not (tmp_path / "run").exists()


def test_resume_with_preview_prints_the_link_even_when_quiet_and_ends_without_a_page(tmp_path: Path):
    photo, painting = make_image(tmp_path / "a.png", (32, 32), seed=1), make_image(tmp_path / "b.png", (32, 32))
    run = tmp_path / "run"
    api.render(photo, painting, out=run, **TINY, overrides=TINY_VIDEO, make_video=False)
    result = cli("resume", str(run), "--preview", "--quiet")  # complete: it makes the video, then ends
    assert result.returncode == 0, result.stderr
    links = [line for line in result.stderr.splitlines() if line.startswith("preview: http://127.0.0.1:")]
    assert len(links) == 1, result.stderr
    assert (run / "timelapse.mp4").is_file()
