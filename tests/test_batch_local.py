"""The local runner for real: worker processes, a damaged image failing alone, Ctrl-C, re-runs."""

from __future__ import annotations

import signal

import pytest
from batch_series import (
    GOOD,
    SLOW_ITERATIONS,
    alive,
    attempts,
    batch,
    checkpointed,
    frames,
    lock_holder,
    painting,
    reference_series,
    start,
    write_series,
)
from conftest import ffprobe_video, wait_until

from timelapse_nst.batch import BatchFolder
from timelapse_nst.rendering import checkpoint
from timelapse_nst.runfolder.folder import RunFolder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, worker_id):
    return reference_series(tmp_path_factory, worker_id)


def test_a_damaged_image_fails_alone_and_the_results_hold_every_finished_job(reference):
    folder = BatchFolder(reference)
    views = {view.name: view for view in (folder.view(job.name) for job in folder.read_jobs())}
    states = {name: (view.state, view.reason) for name, view in views.items()}
    assert [name for name, view in views.items() if view.state == "done"] == list(GOOD), states
    assert views["damaged"].state == "failed" and "broken.png" in views["damaged"].reason
    blend = RunFolder(folder.run("c-a+b"))
    assert [style.name for style in blend.input_files(blend.read_manifest())[1]] == ["a.png", "b.png"]
    assert "\n" not in views["damaged"].reason and "Traceback" not in views["damaged"].reason
    for name in GOOD:
        assert (folder.run(name) / "timelapse.mp4").is_file() and lock_holder(folder.run(name)) is None
    assert folder.gallery.is_file()
    info = ffprobe_video(folder.compilation)  # 3 timelapses of 10 frames, each after a 20-frame card
    assert (info["codec_name"], info["pix_fmt"], info["width"], info["height"]) == ("h264", "yuv420p", 96, 54)
    assert int(info["nb_read_frames"]) == 3 * (20 + 10)
    # `batch status` shows the same, with the reason of the failure.
    result = batch("status", str(reference))
    assert result.returncode == 0, result.stderr
    assert "3 done, 1 failed" in result.stdout and "failed: damaged:" in result.stdout
    assert result.stdout.count("100%") == 3


def test_ctrl_c_checkpoints_the_running_job_and_a_rerun_skips_finished_and_resumes_exactly(reference, tmp_path):
    jobs = write_series(tmp_path / "inputs")
    out = tmp_path / "batch"
    args = (str(jobs), "--out", str(out), "--weights", "random")
    slow = out / "runs" / "slow"
    # 1. Ctrl-C while the third job (slow) is between checkpoints: the first is done, the second failed.
    process = start(*args)
    wait_until(
        process,
        lambda: checkpointed(slow) >= 10 and frames(slow) >= checkpointed(slow) + 2,
        what="the point to stop the batch",
    )
    pid = lock_holder(slow)
    process.send_signal(signal.SIGINT)  # to the batch process only, as a terminal's Ctrl-C reaches it
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopped" in stderr and "Traceback" not in stderr
    assert pid is not None and not alive(pid), "the render process outlived the batch"
    state, _ = checkpoint.load(RunFolder(slow))  # checkpointed at the iteration where it stopped
    stopped_at = state["iteration"]
    assert 10 <= stopped_at < SLOW_ITERATIONS and checkpointed(slow) == stopped_at
    assert frames(slow) == stopped_at + 1 and not (slow / "final.png").exists()
    folder = BatchFolder(out)
    assert folder.view("quick").state == "done" and folder.view("slow").state == "stopped"
    assert folder.view("damaged").state == "failed"
    assert folder.view("c-a+b").state == "pending" and not folder.gallery.exists()
    finished = {p: p.stat().st_mtime_ns for p in (out / "runs" / "quick").rglob("*") if p.is_file()}

    # 2. The same command again: the finished job is skipped, the stopped one continues, the
    #    failed one is tried again (and fails again); every painting equals the reference.
    result = batch(*args, "--quiet")
    assert result.returncode == 3, result.stderr
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # untouched
    assert attempts(out, "quick") == 1 and attempts(out, "slow") == 2 and attempts(out, "damaged") == 2
    assert f"continuing after iteration {stopped_at}" in (out / "jobs" / "slow.log").read_text()
    for name in GOOD:
        assert painting(out / "runs" / name) == painting(reference / "runs" / name), name
    assert folder.gallery.is_file() and folder.compilation.is_file()
