"""The Python API as a notebook uses it: hooks, re-running a finished render, changed video settings."""

import functools
import os

from conftest import FAST_VIDEO, ffprobe_video

from timelapse_nst import render

SMALL = ["size=48", "optimizer.iterations=6", *FAST_VIDEO, "checkpoint.every_iterations=3"]
paint = functools.partial(render, preset="quick-preview", weights="random")


def test_hooks_and_rerunning_a_finished_render(tmp_path, content_path, style_path):
    seen, notes = [], []
    run = tmp_path / "run"
    hooks = [lambda step: seen.append(step.iteration)]
    result = paint(content_path, style_path, out=run, overrides=SMALL, hooks=hooks, notify=notes.append)
    assert seen == list(range(7)) and result.video == run / "timelapse.mp4" and result.iterations == 6
    assert any("random VGG19 weights" in note for note in notes)

    # the same render again: nothing to paint, the video is current, nothing re-encoded
    os.utime(result.video, (1e9 + 10**8, 2e9))  # a recognisable mtime, in the future
    notes.clear()
    again = paint(content_path, style_path, out=run, overrides=SMALL, notify=notes.append)
    assert again.video == result.video and result.video.stat().st_mtime == 2e9
    assert any("already complete" in note for note in notes) and any("up to date" in note for note in notes)

    # only the video settings changed: the same render, re-assembled with the new settings
    os.utime(result.video, (1e9, 1e9))  # older than the manifest that is about to change
    paint(content_path, style_path, out=run, overrides=[*SMALL, "video.duration=2"])
    assert ffprobe_video(run / "timelapse.mp4")["duration"] == 2.0
