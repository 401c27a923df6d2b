"""Two processes, one run folder: whatever would change a folder a render is painting in
(`render --restart`, `resume --set`, `assemble`, `publish`) is refused in one line naming the render's
process, and changes nothing; two `render --restart` started together: one paints, the other
refuses, and no render is lost. Real processes throughout, synchronised on files and the lock."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import one_error_line

from timelapse_nst.runfolder.folder import RunFolder

QUICK = ["--weights", "random", "--size", "32", "--quiet", "--no-video", "--preset", "quick-preview"]
FOREVER = ["--iterations", "100000", "--set", "checkpoint.every_iterations=1000000", "--out"]  # until killed
pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "timelapse_nst", *args], capture_output=True, text=True, timeout=240, check=False
    )


def wait_for_holder(process: subprocess.Popen, run: Path) -> None:
    """Until the render holds the folder's lock and has painted a frame or two."""
    folder = RunFolder(run)
    while folder.holder() != process.pid or len(folder.frame_iterations()) < 2:
        if process.poll() is not None:
            pytest.fail(f"the render ended early: {process.communicate()[1]}")
        time.sleep(0.05)


def snapshot(run: Path) -> dict[str, object]:
    """What a refused command must not touch: render.yaml, the inputs, what else lies in the folder
    and beside it (the frames, the log and the checkpoints are the running render's to change)."""
    painting = ("frames", "log.jsonl", "progress.json", "checkpoint.pt", "checkpoint.prev.pt")
    return {
        "manifest": (run / "render.yaml").read_bytes(),
        "inputs": {p.name: p.read_bytes() for p in (run / "inputs").iterdir()},
        "names": sorted(p.name for p in run.iterdir() if p.name not in painting),
        "neighbours": sorted(p.name for p in run.parent.iterdir()),
    }


def test_restart_resume_set_and_assemble_are_refused_while_a_render_paints(tmp_path, content_path, style_path):
    run = tmp_path / "run"
    painting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "timelapse_nst",
            "render",
            str(content_path),
            str(style_path),
            *QUICK,
            *FOREVER,
            str(run),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_holder(painting, run)
        before = snapshot(run)
        attempts = {
            "render --restart": cli(
                "render", str(content_path), str(style_path), *QUICK, "--out", str(run), "--restart"
            ),
            "resume --set": cli("resume", str(run), "--set", "checkpoint.every_iterations=7", "--quiet", "--no-video"),
            "assemble": cli("assemble", str(run), "--quiet"),
            "publish": cli("publish", str(run), "--quiet"),
        }
        for what, result in attempts.items():
            line = one_error_line(result)
            assert f"{run} is in use by process {painting.pid} (" in line, (what, line)
            assert "timelapse_nst render" in line, (what, line)  # the holder's command line
        assert snapshot(run) == before
        assert not (run / "timelapse.mp4").exists() and RunFolder(run).holder() == painting.pid
    finally:
        painting.send_signal(signal.SIGKILL)
        painting.communicate(timeout=60)


def test_two_restarts_at_once_one_paints_one_refuses_nothing_is_lost(tmp_path, content_path, style_path):
    from together import start_together

    run = tmp_path / "run"
    first = cli("render", str(content_path), str(style_path), *QUICK, "--iterations", "2", "--out", str(run))
    assert first.returncode == 0, first.stderr
    original = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}

    # Long enough (seconds) that the loser, started at the same moment, finds the lock held even
    # on a loaded machine (20 iterations once ended before the other process got there).
    argv = ["timelapse-nst", "render", str(content_path), str(style_path), *QUICK, "--iterations", "200"]
    argv += ["--out", str(run), "--restart"]
    prepare = "import sys\nfrom timelapse_nst.cli import main\n"
    act = f"sys.argv = {argv!r}\nmain()\n"
    processes = start_together(prepare, act, tmp_path / "gate", args=[[], []])
    results = [(p.wait(timeout=240), p.communicate()[1]) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert f"{run} is in use by process" in refused and "Traceback" not in refused
    # The first render was moved aside whole, the winner's is complete, there is nothing else.
    moved = tmp_path / "run.previous-1"
    assert {p.relative_to(moved).as_posix(): p.read_bytes() for p in moved.rglob("*") if p.is_file()} == original
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["gate", "run", "run.previous-1"]
    assert json.loads((run / "progress.json").read_text())["complete"] is True
    assert RunFolder(run).holder() is None
