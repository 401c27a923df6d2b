"""Coarse-to-fine renders stop and resume exactly too, across a scale boundary."""

import os
import signal

import pytest
from conftest import painting_files
from PIL import Image

from timelapse_nst import api
from timelapse_nst.engine.loop import plan_scales
from timelapse_nst.settings import presets

OVERRIDES = [
    "size=64",
    "optimizer.iterations=6",
    "scales={start: 0.5, factor: 1.4142, iterations: 4}",
    "capture.spacing=every",
    "checkpoint.every_iterations=3",
    "seed=5",
]


@pytest.mark.parametrize("stop_at", [4, 5])  # the last iteration of a scale, the first of the next
def test_stop_and_resume_across_scales_is_exact(tmp_path, content_path, style_path, stop_at):
    config = presets.resolve("classic", overrides=OVERRIDES)
    assert [(p.first, p.last) for p in plan_scales(config)] == [(1, 4), (5, 8), (9, 14)]
    reference = tmp_path / "reference"
    api.render(content_path, style_path, out=reference, config=config, weights="random", make_video=False)

    def ctrl_c(step):  # a real SIGINT, handled like the user's Ctrl-C
        if step.iteration == stop_at:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = tmp_path / "stopped"
    with pytest.raises(api.Interrupted, match=f"after iteration {stop_at} of 14"):
        api.render(
            content_path, style_path, out=stopped, config=config, weights="random", make_video=False, hooks=[ctrl_c]
        )
    assert len((stopped / "log.jsonl").read_text().splitlines()) == stop_at
    api.resume(stopped, make_video=False)
    assert painting_files(stopped) == painting_files(reference)
    widths = {}
    for iteration in (4, 5, 14):
        with Image.open(stopped / "frames" / f"{iteration:06d}.png") as frame:
            widths[iteration] = frame.width
    assert widths == {4: 32, 5: 45, 14: 64}  # frames of every scale go into the timelapse
