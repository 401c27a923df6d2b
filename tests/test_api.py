"""The Python API as a notebook uses it: hooks, re-running a finished render, changed video settings."""

import os

from conftest import ffprobe_video

from timelapse_nst import render

SMALL = [
    "size=48",
    "optimizer.iterations=6",
    "video.duration=1",
    "video.fps=10",
    "video.resolution=320x180",
    "video.preset=ultrafast",
    "video.intro=0",
    "video.hold=0.2",
    "checkpoint.every_iterations=3",
]


def test_hooks_and_rerunning_a_finished_render(tmp_path, content_path, style_path):
    seen, notes = [], []
    run = tmp_path / "run"
    result = render(
        content_path,
        style_path,
        out=run,
        preset="quick-preview",
        overrides=SMALL,
        weights="random",
        hooks=[lambda step: seen.append(step.iteration)],
        notify=notes.append,
    )
    assert seen == list(range(7)) and result.video == run / "timelapse.mp4" and result.iterations == 6
    assert any("random VGG19 weights" in note for note in notes)

    # the same render again: nothing to paint, the video is current, nothing re-encoded
    os.utime(result.video, (1e9 + 10**8, 2e9))  # a recognisable mtime, in the future
    notes.clear()
    again = render(
        content_path,
        style_path,
        out=run,
        preset="quick-preview",
        overrides=SMALL,
        weights="random",
        notify=notes.append,
    )
    assert again.video == result.video and result.video.stat().st_mtime == 2e9
    assert any("already complete" in note for note in notes) and any("up to date" in note for note in notes)

    # only the video settings changed: the same render, re-assembled with the new settings
    os.utime(result.video, (1e9, 1e9))  # older than the manifest that is about to change
    render(
        content_path,
        style_path,
        out=run,
        preset="quick-preview",
        overrides=[*SMALL, "video.duration=2"],
        weights="random",
    )
    assert ffprobe_video(run / "timelapse.mp4")["duration"] == 2.0


def test_the_api_leaves_the_callers_rng_and_thread_count_as_they_were(tmp_path, content_path, style_path):
    """A notebook's own torch RNG and threads: a render seeds and a resume restores its own, then
    both put the caller's back (here across a real stop by SIGINT and a resume with other threads)."""
    import signal

    import pytest
    import torch

    from timelapse_nst import resume
    from timelapse_nst.rendering.interruption import Interrupted

    def stop_after_two(step):
        if step.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C in the notebook's kernel would

    threads, run = torch.get_num_threads(), tmp_path / "run"
    try:
        torch.set_num_threads(2)
        torch.manual_seed(1234)
        before = torch.get_rng_state()
        with pytest.raises(Interrupted):
            render(
                content_path,
                style_path,
                out=run,
                preset="quick-preview",
                overrides=SMALL,
                weights="random",
                make_video=False,
                hooks=[stop_after_two],
            )
        assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == 2
        torch.set_num_threads(3)  # the checkpoint says 2: the resume paints with 2, then gives 3 back
        torch.manual_seed(99)
        before = torch.get_rng_state()
        assert resume(run, make_video=False).iterations == 6
        assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
