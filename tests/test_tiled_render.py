"""Tiled renders end to end (real subprocesses, files, signals): no seams, the same objective
as an untiled render, byte-exact resume; and the memory plan's limits as the CLI shows them.

Renders use two shallow style layers (relu1_1, relu2_1) and content relu2_2 at 96 px in tiles of
32 px: nine tiles with real borders between them, cheap enough for a test. The seed's deep
layers are checked against the untiled objective in test_tiling.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_resume import assert_identical, assert_one_line_error, checkpointed, cli, outputs, start, stop_when

from timelapse_nst import api
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.engine.tensors import to_tensor
from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image, resize_long_edge, resize_style
from timelapse_nst.rendering import checkpoint
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.config import Layers

SIZE, TILE, ITERATIONS = 96, 32, 20
LAYERS = Layers(content=["relu2_2"], style=["relu1_1", "relu2_1"])
BASE = [
    "--preset",
    "classic",
    "--weights",
    "random",
    "--size",
    str(SIZE),
    "--iterations",
    str(ITERATIONS),
    "--set",
    "layers.content=[relu2_2]",
    "--set",
    "layers.style=[relu1_1, relu2_1]",
    "--set",
    "capture.spacing=every",
    "--set",
    "checkpoint.every_iterations=5",
    "--set",
    "precision=fp32",
    "--no-video",
    "--quiet",
]
TILED = [*BASE, "--set", "tiling.mode=on", "--set", f"tiling.tile={TILE}"]


def render(content: Path, style: Path, out: Path, *args: str) -> Path:
    result = cli("render", str(content), str(style), *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def inputs(content_path, style_path) -> tuple[Path, Path]:
    return content_path, style_path


@pytest.fixture(scope="module")
def tiled_run(inputs, tmp_path_factory) -> Path:
    return render(*inputs, tmp_path_factory.mktemp("tiled") / "run", *TILED, "--set", "capture.max_size=64")


@pytest.fixture(scope="module")
def untiled_run(inputs, tmp_path_factory) -> Path:
    return render(*inputs, tmp_path_factory.mktemp("untiled") / "run", *BASE, "--set", "tiling.mode=off")


def seam_ratio(picture: np.ndarray, borders_x: list[int], borders_y: list[int]) -> float:
    """Mean |difference| of neighbouring pixels across tile borders over that elsewhere."""
    pixels = picture.astype(np.float64)
    dx = np.abs(pixels[:, 1:] - pixels[:, :-1])  # dx[:, x - 1]: between columns x - 1 and x
    dy = np.abs(pixels[1:] - pixels[:-1])
    on_x = np.zeros(dx.shape[1], bool)
    on_x[[x - 1 for x in borders_x]] = True
    on_y = np.zeros(dy.shape[0], bool)
    on_y[[y - 1 for y in borders_y]] = True
    across = np.concatenate([dx[:, on_x].ravel(), dy[on_y].ravel()])
    elsewhere = np.concatenate([dx[:, ~on_x].ravel(), dy[~on_y].ravel()])
    return float(across.mean() / elsewhere.mean())


BORDERS = ([32, 64], [24, 48])  # 96x72 in 3 x 3 tiles: 32 px wide, 24 px high


def test_a_tiled_render_shows_no_seam(tiled_run):
    """Neighbouring pixels across tile borders differ as much as anywhere else (within 1.2x
    either way: a seam may be a step or a smear)."""
    picture = np.asarray(Image.open(tiled_run / "final.png"))
    assert picture.shape == (72, 96, 3)
    ratio = seam_ratio(picture, *BORDERS)
    print(f"seam ratio {ratio:.3f}")
    assert 1 / 1.2 <= ratio <= 1.2


def test_tiles_without_context_would_show_their_borders(inputs, tmp_path):
    """The check above can fail: cut without context, tiles see zero padding at their borders,
    and the painting shows where they were."""
    run = render(*inputs, tmp_path / "run", *TILED, "--set", "tiling.overlap=0")
    ratio = seam_ratio(np.asarray(Image.open(run / "final.png")), *BORDERS)
    print(f"seam ratio without context {ratio:.3f}")
    assert not 1 / 1.2 <= ratio <= 1.2


def test_frames_are_capped_and_final_is_full_size(tiled_run):
    frames = sorted((tiled_run / "frames").iterdir())
    assert len(frames) == ITERATIONS + 1
    assert {Image.open(frame).size for frame in frames} == {(64, 48)}
    assert Image.open(tiled_run / "final.png").size == (96, 72)


def test_a_tiled_render_reaches_the_untiled_objective(tiled_run, untiled_run, inputs, random_vgg):
    """After the same iterations, both paintings scored by the one untiled objective: within 2%."""
    photo = resize_long_edge(load_image(inputs[0]), SIZE)
    painting = resize_style(load_image(inputs[1]), photo.size, 1.0)
    features = VGGFeatures(random_vgg, [*LAYERS.content, *LAYERS.style])
    objective = Objective(features, LAYERS, to_tensor(photo), [to_tensor(painting)])
    weights = Scheduled(content=1.0e5, style=3.0e4, tv=1.0)
    start_score = float(objective(to_tensor(photo), weights)[0])
    scores = {}
    for name, run in (("tiled", tiled_run), ("untiled", untiled_run)):
        with torch.no_grad():
            scores[name] = float(objective(to_tensor(load_image(run / "final.png")), weights)[0])
    print(scores, f"start {start_score:.4g}")
    assert scores["untiled"] < 0.9 * start_score  # the renders did paint
    assert scores["tiled"] == pytest.approx(scores["untiled"], rel=0.02)


# -- resume ---------------------------------------------------------------------------------------


def test_a_killed_tiled_render_resumes_byte_identically(tiled_run, inputs, tmp_path):
    """kill -9 after the second checkpoint; the resume's frames, log, render.yaml and final.png
    are the uninterrupted tiled render's, byte for byte."""
    run = tmp_path / "run"
    process = start("render", *map(str, inputs), *TILED, "--set", "capture.max_size=64", "--out", str(run))
    stop_when(process, run, lambda r: checkpointed(r) >= 10, sig=signal.SIGKILL)
    assert 10 <= checkpointed(run) < ITERATIONS
    result = cli("resume", str(run), "--quiet", "--no-video")
    assert result.returncode == 0, result.stderr
    assert_identical(run, outputs(tiled_run))
    plan = RunFolder(run).read_manifest()["plan"]
    assert plan["tiled"] == [True] and plan["activations"] in ("fp32", "bf16")


def test_out_of_memory_keeps_the_checkpoint_and_says_how_to_continue(inputs, tmp_path, untiled_run):
    """A device that runs out of memory mid-render (raised here by a hook, as CUDA raises it in
    the loop): one line naming the intact checkpoint and `resume --set tiling.mode=on`, which
    then finishes the render tiled."""
    run = tmp_path / "run"

    def exhaust(step) -> None:
        if step.iteration == 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    args = [a for a in BASE if a not in ("--no-video", "--quiet")]
    overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    config_args = {"size": SIZE, "iterations": ITERATIONS, "weights": "random", "make_video": False}
    with pytest.raises(UserError) as error:
        api.render(
            *inputs,
            out=run,
            preset="classic",
            overrides=[*overrides, "tiling.mode=off"],
            hooks=[exhaust],
            **config_args,
        )
    message = str(error.value)
    assert "\n" not in message and "ran out of memory" in message
    assert "the last checkpoint (iteration 5) is intact" in message
    assert f"timelapse-nst resume {run} --set tiling.mode=on" in message
    state, warnings = checkpoint.load(RunFolder(run))
    assert state is not None and state["iteration"] == 5 and not warnings
    api.resume(run, overrides=["tiling.mode=on", f"tiling.tile={TILE}"], make_video=False)
    config = RunFolder(run).read_manifest()["config"]
    assert config["tiling"] == {"mode": "on", "tile": TILE, "overlap": "auto"}
    assert Image.open(run / "final.png").size == (96, 72)
    assert len((run / "log.jsonl").read_text().splitlines()) == ITERATIONS


def test_resume_set_refuses_what_decides_the_pixels(tiled_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiled_run, run)
    result = cli("resume", str(run), "--set", "loss_weights.style=1e3", "--no-video")
    assert_one_line_error(result, "loss_weights.style decides the pixels", "tiling")
    assert RunFolder(run).read_manifest() == RunFolder(tiled_run).read_manifest()


# -- the plan and its limits at the command line ------------------------------------------------


def test_plan_prints_every_scale_and_the_disk(inputs, tmp_path):
    out = ["--out", str(tmp_path / "run")]
    result = cli("plan", *map(str, inputs), "--preset", "youtube-4k", "--size", "512", "--weights", "random", *out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("device cpu") and "available to the render" in lines[0]
    rows = [line.split() for line in lines[2:7]]
    assert [row[1] for row in rows] == ["128x96", "181x136", "256x192", "362x272", "512x384"]
    assert all(row[2] == "no" for row in rows)  # small scales fit untiled
    assert lines[7].startswith("disk: ") and "checkpoints 2 x" in lines[7]
    assert lines[-2].startswith("free disk there: ") and lines[-2].endswith(": fits")
    assert lines[-1].startswith("peak memory") and lines[-1].endswith(": fits")


def test_plan_for_a_gpu_that_is_not_here_tiles_what_does_not_fit(inputs):
    """--device cuda --memory: a plan for another machine's GPU (this one has none)."""
    plan = api.plan(*inputs, preset="youtube-4k", overrides=["device=cuda"], memory=8 * 2**30)
    assert plan.machine.device == "cuda" and plan.fits
    assert [(s.size, s.tiled) for s in plan.scales] == [
        (960, False),
        (1358, False),
        (1920, False),
        (2715, True),
        (3840, True),
    ]
    assert plan.scales[-1].tiles == 3 * 4  # 3840x2880 in tiles of about 1024 px


def test_a_render_too_large_to_fit_is_refused_before_anything_is_written(inputs, tmp_path):
    out = tmp_path / "run"
    result = cli(
        "render", *map(str, inputs), "--size", "4096", "--memory", "3GB", "--weights", "random", "--out", str(out)
    )
    line = assert_one_line_error(result, "a 4096 px painting needs about", "the largest size that fits is")
    largest = int(line.split("the largest size that fits is ")[1].split()[0])
    assert 16 < largest < 4096 and f"(--size {largest})" in line
    assert not out.exists()


def test_bad_memory_and_tile_are_one_line_errors():
    from timelapse_nst.cli.options import parse_bytes as _bytes
    from timelapse_nst.settings import presets

    with pytest.raises(UserError, match="--memory lots: expected a size like 24GB"):
        _bytes("lots")
    assert _bytes("24GB") == 24 * 2**30 and _bytes("1.5g") == 3 * 2**29
    with pytest.raises(UserError, match=r"tiling\.tile must be at least 16 px"):
        presets.resolve("classic", overrides=["tiling.tile=8"])
