"""Places a render cannot write, checks that fail before a folder is made, and stops during the
video: one line each, the right exit code, nothing half-made left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import one_error_line, wait_until

QUICK = ["--weights", "random", "--size", "48", "--iterations", "3", "--quiet"]


def cli(*args: str, prefix: tuple[str, ...] = (), **kwargs) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "timelapse_nst", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture()
def public_inputs():
    """Inputs in a world-readable folder (the non-root test reads them as another user)."""
    folder = Path(tempfile.mkdtemp(prefix="tlnst-public-"))
    folder.chmod(0o755)
    repo = Path(__file__).resolve().parent.parent
    for name in ("tubingen.jpg", "starry_night.jpg"):
        shutil.copy(repo / "examples" / name, folder / name)
        (folder / name).chmod(0o644)
    yield folder / "tubingen.jpg", folder / "starry_night.jpg"
    shutil.rmtree(folder, ignore_errors=True)


def test_out_naming_a_file_or_an_impossible_place_is_one_line(tmp_path, content_path, style_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    line = one_error_line(cli("render", str(content_path), str(style_path), *QUICK, "--out", str(afile)))
    assert str(afile) in line and "is a file" in line and afile.read_text() == "mine"
    line = one_error_line(cli("render", str(content_path), str(style_path), *QUICK, "--out", "/proc/x/run"))
    assert "/proc/x/run" in line


def test_a_read_only_file_system_is_one_line(tmp_path, content_path, style_path):
    """A real read-only mount (a tmpfs mounted ro in a private mount namespace)."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    where = tmp_path / "ro"
    where.mkdir()
    script = (
        f"mount -t tmpfs -o ro none {where} && exec {sys.executable} -m timelapse_nst "
        f"render {content_path} {style_path} {' '.join(QUICK)} --out {where}/run"
    )
    result = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    line = one_error_line(result)
    assert f"{where}/run" in line and "read-only file system" in line


def test_a_folder_without_write_permission_is_one_line(public_inputs):
    """As an unprivileged user (root would be let through), a folder it may not write in."""
    content, style = public_inputs
    locked = Path(tempfile.mkdtemp(prefix="tlnst-locked-"))
    locked.chmod(0o755)  # readable, not writable, by others
    try:
        prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") if os.geteuid() == 0 else ()
        env = {**os.environ, "HOME": str(content.parent), "TIMELAPSE_NST_CACHE": str(content.parent / "cache")}
        result = cli("render", str(content), str(style), *QUICK, "--out", str(locked / "run"), prefix=prefix, env=env)
        line = one_error_line(result)
        assert str(locked / "run") in line and "permission denied" in line
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(locked, ignore_errors=True)


def test_a_failed_check_leaves_no_folder_and_a_half_set_up_one_is_taken_over(tmp_path, content_path, style_path):
    run = tmp_path / "run"
    line = one_error_line(
        cli("render", str(content_path), str(style_path), *QUICK, "--device", "mps", "--out", str(run))
    )
    assert "device 'mps' is not available" in line and not run.exists()
    # A render killed between copying its inputs and writing render.yaml left only inputs/:
    (run / "inputs").mkdir(parents=True)
    shutil.copy(content_path, run / "inputs" / "content.jpg")
    result = cli("render", str(content_path), str(style_path), *QUICK, "--no-video", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert (run / "final.png").is_file() and (run / "render.yaml").is_file()


def test_assemble_to_an_unwritable_place_is_one_line(tmp_path):
    from runfolder_factory import make_run

    run = make_run(tmp_path / "run")
    line = one_error_line(cli("assemble", str(run), "--out", "/proc/x/video.mp4"))
    assert "/proc/x" in line
    assert not list(run.glob("*.partial"))


def _encoding(run: Path) -> bool:
    """Whether ffmpeg has written video into the temporary file: the encode is under way."""
    for partial in run.glob("timelapse.mp4.*.partial"):
        try:
            if partial.stat().st_size > 0:
                return True
        except FileNotFoundError:  # renamed or removed between the listing and the look
            pass
    return False


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_during_the_video_says_how_to_make_it(tmp_path, content_path, style_path, sig, code):
    """A Ctrl-C reaches the whole process group (ffmpeg too), as a terminal sends it."""
    run = tmp_path / "run"
    args = [*QUICK[:-1], "--set", "video.duration=120", "--set", "video.resolution=1080p", "--out", str(run)]
    process = subprocess.Popen(
        [sys.executable, "-m", "timelapse_nst", "render", str(content_path), str(style_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which we signal like a terminal would
    )
    wait_until(process, lambda: _encoding(run), what="ffmpeg writing the video")
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "ffmpeg failed" not in stderr
    assert f"make it with: timelapse-nst assemble {run}" in stderr
    assert (run / "final.png").is_file() and not (run / "timelapse.mp4").exists()
    assert not list(run.glob("*.partial"))
