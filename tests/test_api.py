"""The Python API as a notebook uses it: hooks, re-running a finished render, changed video settings."""

import functools
import os

import pytest
from conftest import FAST_VIDEO, ffprobe_video

from timelapse_nst import render
from timelapse_nst.errors import UserError, command_line, option, setting

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


@pytest.mark.parametrize(
    ("keywords", "named"),
    [
        ({"weights": "missing.pth"}, 'weights="missing.pth": no such file'),
        ({"overrides": ["loss_weights.styl=1"]}, 'overrides=["loss_weights.styl=1"]: unknown key'),
        ({"size": 8}, "size=8: size: Input should be greater than or equal to 16"),
        ({"iterations": 0}, "iterations=0:"),
    ],
)
def test_errors_from_python_name_the_keyword_not_a_flag(tmp_path, content_path, style_path, keywords, named):
    with pytest.raises(UserError) as error:
        render(content_path, style_path, out=tmp_path / "run", **{"weights": "random", **keywords})
    assert named in str(error.value) and "--" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_advice_names_flags_on_the_command_line_and_keywords_in_python():
    assert (option("weights", "random"), option("weights", "PATH", placeholder=True)) == (
        'weights="random"',
        "weights=PATH",
    )
    assert setting("tiling.mode", "on") == 'overrides=["tiling.mode=on"]'
    with command_line():
        assert (option("weights", "random"), option("restart", True)) == ("--weights random", "--restart")
        assert setting("tiling.mode", "on") == "--set tiling.mode=on"
        assert setting("device", "cpu", flag="--device") == "--device cpu"


def test_painting_larger_than_the_photo_is_said(tmp_path, style_path):
    from conftest import make_image

    small = make_image(tmp_path / "small photo.png", (30, 20))
    notes: list[str] = []
    common = {"weights": "random", "iterations": 1, "make_video": False, "notify": notes.append}
    render(small, style_path, out=tmp_path / "run", size=64, **common)
    [note] = [note for note in notes if "enlarges" in note]
    assert note == "note: painting at 64 px enlarges small photo.png 2.1x (30x20 px to 64 px): expect soft detail"
    notes.clear()
    render(small, style_path, out=tmp_path / "same size", size=30, **common)
    assert not [note for note in notes if "enlarges" in note]  # the painting at 30 px: nothing enlarged


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
