"""Several styles: the blend-weighted mean of each painting's style loss, schedules that morph one
painting into another, every input kept in the run folder, bad blends refused before anything
is written, and a morph that stops and resumes byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import painting_files

from timelapse_nst import api
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings import presets
from timelapse_nst.settings.config import Layers


@pytest.fixture(scope="module")
def objective_parts(random_vgg):
    layers = Layers()
    features = VGGFeatures(random_vgg, [*layers.content, *layers.style])
    generator = torch.Generator().manual_seed(3)
    content, first, second = (torch.rand(1, 3, 32, 32, generator=generator) * 255 for _ in range(3))
    image = torch.rand(1, 3, 32, 32, generator=generator) * 255

    def style_loss(styles, blend):
        objective = Objective(features, layers, content, styles)
        return objective.parts(image, Scheduled(1.0, 1.0, 1.0, blend=blend))["style"].item()

    return style_loss, first, second


def test_the_style_loss_is_the_blend_weighted_mean(objective_parts):
    style_loss, first, second = objective_parts
    alone_first, alone_second = style_loss([first], (1.0,)), style_loss([second], (1.0,))
    assert alone_first != pytest.approx(alone_second)
    assert style_loss([first, second], (1.0, 0.0)) == pytest.approx(alone_first, rel=1e-5)
    assert style_loss([first, second], (0.25, 0.75)) == pytest.approx(
        0.25 * alone_first + 0.75 * alone_second, rel=1e-5
    )
    assert style_loss([first, first], (0.5, 0.5)) == pytest.approx(alone_first, rel=1e-5)


def test_blend_shares_are_normalised_and_follow_schedules():
    config = presets.resolve("style-morph")
    total = config.optimizer.iterations
    assert config.blend_at(0, total, 2) == (1.0, 0.0)
    assert config.blend_at(total, total, 2) == (0.0, 1.0)
    middle = config.blend_at(round(0.575 * total), total, 2)
    assert sum(middle) == pytest.approx(1.0) and 0.3 < middle[0] < 0.7
    two_to_one = presets.resolve("classic", overrides=["style_blend=[2, 1]"])
    assert two_to_one.blend_at(5, 10, 2) == pytest.approx((2 / 3, 1 / 3))
    assert presets.resolve("classic").blend_at(0, 10, 3) == pytest.approx((1 / 3,) * 3)


def into(run) -> list[str]:
    """A quiet render on random weights into ``run``."""
    return ["--weights", "random", "--quiet", "--out", str(run)]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timelapse_nst", *args], capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ("0.7,0.2,0.1", "--style-blend 0.7,0.2,0.1: 3 weights for 2 painting(s)"),
        ("-1,2", "style_blend: the weight of style 1 must not be negative"),
        ("0,0", "the style blend is zero everywhere"),
    ],
)
def test_bad_blends_are_one_line_errors_before_anything_is_written(
    tmp_path, content_path, style_path, weights, expected
):
    second = content_path  # any second picture: the blend is refused before it is read as a painting
    run = tmp_path / "run"
    result = cli("render", str(content_path), str(style_path), str(second), "--style-blend", weights, *into(run))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not run.exists()


def test_a_morph_with_one_painting_says_how_many_it_needs(tmp_path, content_path, style_path):
    """The preset's blend is not the user's: no advice about a --style-blend they never gave."""
    run = tmp_path / "run"
    result = cli("render", str(content_path), str(style_path), "--preset", "style-morph", "--out", str(run))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "style-morph needs 2 paintings" in result.stderr and "--style-blend" not in result.stderr
    assert not run.exists()


def test_a_blend_with_the_photo_s_colours_from_the_command_line(tmp_path, content_path, style_path):
    """`--style-blend` and `--preserve-color histogram` reach the render, its log and `status`."""
    second = tmp_path / "second.png"
    from PIL import Image

    Image.open(style_path).convert("RGB").rotate(90, expand=True).save(second)
    run = tmp_path / "run"
    given = [
        "--style-blend",
        "0.7,0.3",
        "--preserve-color",
        "histogram",
        "--size",
        "32",
        "--iterations",
        "3",
        "--no-video",
    ]
    result = cli("render", str(content_path), str(style_path), str(second), *given, *into(run))
    assert result.returncode == 0, result.stderr
    config = RunFolder(run).read_manifest()["config"]
    assert config["color"]["preserve"] == "histogram"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["blend"] for entry in log] == [[0.7, 0.3]] * 3
    status = cli("status", str(run))
    assert status.returncode == 0 and "starry_night.jpg (70%) + second.png (30%)" in status.stdout, status.stdout


MORPH = [
    "size=48",
    "optimizer.iterations=8",
    "capture.spacing=every",
    "checkpoint.every_iterations=3",
    "color.preserve=luminance",
    "color.amount={schedule: linear, start: 1, end: 0.5}",
]


def test_a_morph_keeps_every_input_logs_each_share_and_resumes_exactly(tmp_path, content_path, style_path):
    second = tmp_path / "second.png"
    from PIL import Image

    Image.open(style_path).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90, expand=True).save(
        second
    )
    config = presets.resolve("style-morph", overrides=MORPH)
    styles = [style_path, second]
    reference = tmp_path / "reference"
    api.render(content_path, styles, out=reference, config=config, weights="random", make_video=False)

    # Every painting is kept, and each iteration logs each one's share.
    folder = RunFolder(reference)
    _, kept = folder.input_files(folder.read_manifest())
    assert [entry.path.read_bytes() for entry in kept] == [style_path.read_bytes(), second.read_bytes()]
    log = [json.loads(line) for line in (reference / "log.jsonl").read_text().splitlines()]
    assert log[0]["blend"] == [1.0, 0.0] and log[-1]["blend"][1] > 0.9
    assert all(sum(entry["blend"]) == pytest.approx(1.0) for entry in log)

    def ctrl_c(step):  # a real SIGINT in the middle of the crossing
        if step.iteration == 5:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = tmp_path / "stopped"
    with pytest.raises(api.Interrupted, match="after iteration 5 of 8"):
        api.render(content_path, styles, out=stopped, config=config, weights="random", make_video=False, hooks=[ctrl_c])
    api.resume(stopped, make_video=False)
    assert painting_files(stopped) == painting_files(reference)
