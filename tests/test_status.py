"""`timelapse-nst status RUN`: progress, frames, checkpoint, losses, video state, next command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from timelapse_nst.images import save_png
from timelapse_nst.rendering.status import describe
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings import presets

SAVED_AT = 1_700_000_000.0


WEIGHTS = {"content": 1e4, "style": 1e5, "tv": 1.0}


def make_run(
    root: Path, *, logged: int = 12, checkpoint_at: int | None = 10, complete: bool = False, weights: bool = True
) -> RunFolder:
    """A stopped 30-iteration render: frames 0..logged, log lines 1..logged plus a cut line."""
    config = presets.resolve("quick-preview", overrides=["size=64", "optimizer.iterations=30"])
    run = RunFolder(root)
    run.frames.mkdir(parents=True)
    run.write_manifest(
        {"weights": "random", "total_iterations": 30, "inputs": {}, "config": config.model_dump(mode="json")}
    )
    for i in range(logged + 1):
        save_png(np.full((4, 4, 3), i, np.uint8), run.frames / f"{i:06d}.png")
    losses = [{"content": 1.5 * i, "style": 2.0, "tv": 7.0, "total": 1.5e4 * i + 2e5 + 7.0} for i in range(logged + 1)]
    lines = [
        json.dumps({"iteration": i, "losses": losses[i], **({"loss_weights": WEIGHTS} if weights else {})})
        for i in range(1, logged + 1)
    ]
    run.log.write_text("\n".join(lines) + '\n{"iteration": 99, "loss')  # the last line cut by a kill
    if checkpoint_at is not None:
        progress = {"iteration": checkpoint_at, "complete": complete, "saved_at": SAVED_AT, "total": 30}
        (RunFolder(root).progress).write_text(json.dumps(progress))
    return run


def line(text: str, label: str) -> str:
    return next(row for row in text.splitlines() if row.startswith(label))


def without_age(text: str) -> list[str]:
    """The lines but the checkpoint's, whose "N s ago" may tick between two calls."""
    return [row for row in text.splitlines() if not row.startswith("checkpoint:")]


def test_status_of_a_stopped_render(tmp_path):
    run = make_run(tmp_path / "my run")
    text = describe(run.root)
    assert "quick-preview, 64 px, lbfgs, weights random" in line(text, "run:")
    assert line(text, "iteration:") == "iteration:  12 of 30 (40%)"  # the cut line is skipped
    assert line(text, "frames:") == "frames:     13 captured"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(SAVED_AT))
    assert line(text, "checkpoint:").startswith(f"checkpoint: iteration 10, saved {stamp}")
    # the total and the terms as they count in it (content 18 × 1e4 ...): they add up
    assert line(text, "losses:") == "losses:     total 3.8e5 = content 1.8e5 + style 2e5 + tv 7 (iteration 12)"
    older = describe(make_run(tmp_path / "older", weights=False).root)  # a log without its weights
    assert line(older, "losses:") == "losses:     total 3.8e5; unweighted content 18, style 2, tv 7 (iteration 12)"
    assert line(text, "video:") == "video:      not made yet"
    assert line(text, "resume:") == f"resume:     timelapse-nst resume '{run.root}'"  # quoted: a space


def test_status_before_the_first_checkpoint_and_when_complete(tmp_path):
    text = describe(make_run(tmp_path / "early", logged=2, checkpoint_at=None).root)
    assert "checkpoint: none yet" in text and "iteration:  2 of 30" in text
    done = make_run(tmp_path / "done", logged=30, checkpoint_at=30, complete=True)
    text = describe(done.root)
    assert "iteration:  30 of 30 (100%) — complete" in text
    assert f"remake:     timelapse-nst assemble {done.root}" in text and "resume:" not in text


def test_status_says_whether_the_video_is_up_to_date(tmp_path):
    run = make_run(tmp_path / "run")
    run.video.write_bytes(b"mp4")
    assert line(describe(run.root), "video:") == "video:      up to date"
    later = time.time() + 60
    os.utime(run.frames / "000005.png", (later, later))  # a frame re-made after the video
    assert line(describe(run.root), "video:") == "video:      older than the frames (run `assemble`)"


def test_the_status_command_runs_without_torch(tmp_path):
    run = make_run(tmp_path / "run")
    code = (
        "import sys; sys.modules['torch'] = None; sys.argv = ['timelapse-nst', 'status', sys.argv[1]]; "
        "from timelapse_nst.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(run.root)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert without_age(result.stdout) == without_age(describe(run.root))
    assert line(result.stdout, "checkpoint:").startswith("checkpoint: iteration 10, saved ")
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "nothing")], capture_output=True, check=False, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: run folder not found: {tmp_path / 'nothing'}"]


def test_status_of_a_running_render_says_so_instead_of_resume(tmp_path):
    """A live process holds the folder's lock: status names it and its pace, and never suggests resume."""
    run = make_run(tmp_path / "run")
    progress = {"iteration": 10, "complete": False, "saved_at": time.time(), "total": 30, "elapsed": 5.0}
    run.progress.write_text(json.dumps(progress))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from timelapse_nst.runfolder.folder import RunFolder;"
            "folder = RunFolder(sys.argv[1]); folder.lock(); print('locked', flush=True); sys.stdin.read()",
            str(run.root),
        ],
        stdin=subprocess.PIPE,  # held until it is killed
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        text = describe(run.root)
        assert line(text, "state:") == f"state:      running (process {holder.pid}), 2.00 it/s, about 9 s left"
        assert line(text, "stop:").startswith(f"stop:       kill -INT {holder.pid}")
        assert "resume:" not in text
    finally:
        holder.kill()
        holder.wait()
    assert "state:" not in describe(run.root) and "resume:" in describe(run.root)  # a dead holder: stopped
