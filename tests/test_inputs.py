"""A render's inputs: the image it starts from (``init: PATH``) is an input like the photo:
checked first, copied into the run folder, hashed, verified on resume, resized to the painting."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from timelapse_nst import render, resume
from timelapse_nst.errors import UserError
from timelapse_nst.images import file_sha256

QUICK = {"weights": "random", "size": 48, "iterations": 2, "make_video": False}


def test_a_painting_can_start_from_an_image_file(tmp_path, content_path, style_path):
    start = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 50, 3), np.uint8)).save(start)
    run = tmp_path / "run"
    render(content_path, style_path, out=run, overrides=[f"init={start}"], **QUICK)

    manifest = yaml.safe_load((run / "render.yaml").read_text())
    entry = manifest["inputs"]["init"]
    assert entry["sha256"] == file_sha256(start) and entry["name"] == "start.png"
    assert (run / entry["file"]).read_bytes() == start.read_bytes()  # resume needs nothing outside the folder
    with Image.open(run / "final.png") as final:
        painted = final.size
    expected = np.asarray(Image.open(start).convert("RGB").resize(painted, Image.Resampling.LANCZOS))
    assert np.array_equal(np.asarray(Image.open(run / "frames" / "000000.png")), expected)  # stretched to the photo

    Image.new("RGB", (50, 30), (1, 2, 3)).save(run / entry["file"])  # the copy changed behind our back
    with pytest.raises(UserError, match=r"the init image init\.png changed since the render began"):
        resume(run)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nois", "init: no image file nois; did you mean 'noise'?"),
        ("broken.png", "init: 'broken.png' is not an image file"),
    ],
)
def test_a_bad_init_file_is_one_line_before_anything_is_written(
    tmp_path, monkeypatch, content_path, style_path, name, expected
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.png").write_text("not a picture")
    with pytest.raises(UserError) as error:
        render(content_path, style_path, out=tmp_path / "run", overrides=[f"init={name}"], **QUICK)
    message = str(error.value)
    assert message.startswith(expected) and name in message, message
    assert "\n" not in message and not (tmp_path / "run").exists()


def test_a_sound_track_without_sound_is_refused_before_painting(tmp_path, content_path, style_path):
    """The video is made last: a render must not paint for an hour to fail on its sound track."""
    with pytest.raises(UserError, match=r"starry_night\.jpg has no audio stream"):
        render(content_path, style_path, out=tmp_path / "run", overrides=[f"video.audio={style_path}"], **QUICK)
    assert not (tmp_path / "run").exists()
