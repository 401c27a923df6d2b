"""Painting a clip end to end, through the real CLI: steadier than painting each frame alone while
each frame's objective stays close, a still scene that stays still, nothing carried across a scene
cut, a phone's portrait clip painted upright, kill -9 at any moment then the same command paints
the same bytes, and bad clips refused in one line before anything is written.

Tiny clips made with the bundled ffmpeg (a pan over a photo with a sine tone, 64 px), seeded
random weights, a few iterations a frame.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from clips import cut_clip, pan_clip, rotated, run_ffmpeg, still_clip
from conftest import shared
from PIL import Image

from timelapse_nst.clip.warping_error import warping_error
from timelapse_nst.engine.weights import RANDOM_WEIGHTS_WARNING
from timelapse_nst.errors import UserError
from timelapse_nst.rendering.status import read_progress
from timelapse_nst.runfolder.clip import read_clip_log
from timelapse_nst.runfolder.folder import RunFolder

STYLE = Path(__file__).resolve().parent.parent / "examples" / "starry_night.jpg"
PAINT = [
    "--preset",
    "quick-preview",
    "--weights",
    "random",
    "--size",
    "64",
    "--iterations",
    "16",
    "--set",
    "clip.iterations=6",
    "--set",
    "checkpoint.every_iterations=3",
    "--no-video",
]
FRAMES = 7  # the portrait pan's 10 frames from 0.25 s on, at 12 fps


def cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "timelapse_nst", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def start(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "timelapse_nst", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def render(clip: Path, out: Path, *more: str) -> subprocess.CompletedProcess:
    result = cli("render", str(clip), str(STYLE), *PAINT, "--quiet", *more, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return result


def pictures(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(path)) for path in sorted(folder.glob("*.png"))]


def painting(run: Path) -> dict[str, bytes]:
    """Every file the painting leaves, by name (not the checkpoints, progress.json or the lock)."""
    files = {name: (run / name).read_bytes() for name in ("final.png", "log.jsonl", "clip.jsonl", "render.yaml")}
    for folder in ("frames", "stylised", "source", "inputs"):
        files.update({f"{folder}/{p.name}": p.read_bytes() for p in sorted((run / folder).iterdir())})
    return files


@pytest.fixture(scope="module")
def portrait(tmp_path_factory) -> Path:
    """A phone's portrait clip: a pan over a photo with sound, stored on its side with a display matrix."""
    folder = tmp_path_factory.mktemp("clips")
    return rotated(pan_clip(folder / "pan.mp4", frames=10, fps=12), folder / "portrait.mp4", 90)


@pytest.fixture(scope="module")
def reference(portrait, tmp_path_factory, worker_id) -> Path:
    """The clip painted without a stop, from 0.25 s on."""
    return (
        shared(tmp_path_factory, worker_id, "clip-reference", lambda f: render(portrait, f / "run", "--start", "0.25"))
        / "run"
    )


@pytest.fixture(scope="module")
def independent(portrait, tmp_path_factory, worker_id) -> Path:
    """The same frames each painted on its own (every frame a scene cut: fresh, no temporal term)."""

    def build(folder: Path) -> None:
        render(portrait, folder / "run", "--start", "0.25", "--set", "clip.scene_cut=1")

    return shared(tmp_path_factory, worker_id, "clip-independent", build) / "run"


@pytest.mark.slow
def test_the_painted_clip_is_steadier_than_independent_frames_and_each_frame_as_good(reference, independent):
    ours, alone = read_clip_log(reference / "clip.jsonl"), read_clip_log(independent / "clip.jsonl")
    assert [f.start for f in ours] == ["fresh"] + ["warped"] * (FRAMES - 1)
    assert [f.start for f in alone] == ["fresh"] + ["cut"] * (FRAMES - 1)
    inputs = pictures(reference / "source")
    steady, flickering = (
        warping_error(pictures(reference / "stylised"), inputs),
        warping_error(pictures(independent / "stylised"), inputs),
    )
    assert steady <= 0.3 * flickering, (steady, flickering)
    objective = np.mean([f.losses["total"] for f in ours[1:]]) / np.mean([f.losses["total"] for f in alone[1:]])
    assert objective <= 1.10, objective
    assert all(f.consistency > 0.8 and f.temporal is not None for f in ours[1:])
    assert [f.iterations for f in ours] == [16] + [6] * (FRAMES - 1)


@pytest.mark.slow
def test_a_portrait_clip_is_painted_upright_from_its_trim_and_recorded(reference):
    record = yaml.safe_load((reference / "render.yaml").read_text())["clip"]
    assert record["frames"] == FRAMES and record["fps"] == [12, 1] and record["start"] == 0.25
    assert record["size"] == [42, 64] and record["rotation"] == 90 and record["audio"] is True
    assert record["source"]["width"] == 96 and record["source"]["height"] == 64  # as stored, on its side
    for folder in ("source", "stylised"):
        frames = pictures(reference / folder)
        assert len(frames) == FRAMES and {f.shape for f in frames} == {(64, 42, 3)}
    # Frame 0 is painted as a still render is: its timelapse frames, log and final.png.
    assert (
        len(RunFolder(reference).frame_list()) == 17 and len((reference / "log.jsonl").read_text().splitlines()) == 16
    )
    assert np.array_equal(pictures(reference / "stylised")[0], np.asarray(Image.open(reference / "final.png")))
    assert (reference / "inputs" / "content.mp4").stat().st_size > 0


def stop_when(process: subprocess.Popen, ready: Callable[[], bool]) -> None:
    """kill -9 the moment ``ready()`` holds; fail if the process ends first."""
    deadline = time.monotonic() + 240
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"the render ended (exit {process.returncode}) before the kill point: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the kill point was never reached")
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def checkpoint_at(run: Path) -> tuple[int, int]:
    progress = read_progress(RunFolder(run))
    return (int(progress.get("frame", 0)), int(progress["iteration"])) if progress else (-1, -1)


@pytest.mark.slow
def test_kill_9_at_any_moment_then_the_same_command_paints_the_same_bytes(portrait, reference, tmp_path):
    run = tmp_path / "run"
    command = ["render", str(portrait), str(STYLE), *PAINT, "--quiet", "--start", "0.25", "--out", str(run)]
    # 1. Killed in frame 0, after a checkpoint.
    stop_when(start(*command), lambda: checkpoint_at(run) >= (0, 3))
    status = cli("status", str(run)).stdout
    assert f"frame:      1 of {FRAMES} (0 painted)" in status
    # 2. The same command again continues; killed in the middle of a later frame.
    stop_when(start(*command), lambda: checkpoint_at(run) >= (3, 3))
    painted = len(read_clip_log(run / "clip.jsonl"))
    assert painted >= 3
    status = cli("status", str(run)).stdout
    assert f"frame:      {painted + 1} of {FRAMES} ({painted} painted)" in status, status
    if checkpoint_at(run)[0] == painted:  # the kill came before that frame was finished
        assert f"iteration {checkpoint_at(run)[1]} of 6 (at the last checkpoint)" in status
    # 3. resume finishes it, showing frames and the time left.
    result = cli("resume", str(run), "--no-video")
    assert result.returncode == 0, result.stderr
    assert f"painting frame {FRAMES}/{FRAMES}" in result.stderr and "left" in result.stderr
    expected, got = painting(reference), painting(run)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    assert "complete" in cli("status", str(run)).stdout


@pytest.mark.slow
def test_a_still_scene_stays_still(tmp_path):
    clip = still_clip(tmp_path / "still.mp4", frames=24)
    render(clip, tmp_path / "run", "--set", "clip.iterations=4")
    frames = [frame.astype(float) for frame in pictures(tmp_path / "run" / "stylised")]
    assert len(frames) == 24
    drift = np.abs(frames[-1] - frames[0]).mean()
    assert drift <= 1.0, drift  # within a level on average after 24 frames
    assert abs((frames[-1] - frames[0]).mean()) <= 0.25  # and no darkening
    log = read_clip_log(tmp_path / "run" / "clip.jsonl")
    assert log[-1].losses["total"] == pytest.approx(log[0].losses["total"], rel=0.01)  # no creeping on


@pytest.mark.slow
def test_a_scene_cut_starts_fresh_and_nothing_is_carried_across_it(tmp_path):
    clip = cut_clip(tmp_path / "cut.mp4", before=3, after=3)
    render(clip, tmp_path / "run")
    log = read_clip_log(tmp_path / "run" / "clip.jsonl")
    assert [f.start for f in log] == ["fresh", "warped", "warped", "cut", "warped", "warped"]
    assert log[3].consistency < 0.5
    # The first frame after the cut is exactly that frame painted on its own, as a still.
    alone = tmp_path / "alone"
    render(tmp_path / "run" / "source" / "000003.png", alone)
    after_cut = pictures(tmp_path / "run" / "stylised")[3]
    assert np.array_equal(after_cut, np.asarray(Image.open(alone / "final.png")))


MORPH_IN_TILES = ["clip.schedules=clip", "clip.iterations=4", "color.preserve=luminance", "tiling.mode=on"]
MORPH_IN_TILES += ["tiling.tile=32"]  # the morph along the clip, the photo's colours, tiles of 32 px


@pytest.mark.slow
def test_every_still_feature_works_per_frame_and_a_morph_runs_along_the_clip(tmp_path):
    from timelapse_nst import api

    clip = pan_clip(tmp_path / "pan.mp4", frames=4, sound=False)
    second = STYLE.parent / "tubingen.jpg"
    notes: list[str] = []
    api.render(
        clip,
        [STYLE, second],
        out=tmp_path / "run",
        preset="style-morph",
        size=64,
        iterations=12,
        weights="random",
        overrides=MORPH_IN_TILES,
        make_video=False,
        notify=notes.append,
    )
    log = read_clip_log(tmp_path / "run" / "clip.jsonl")
    assert log[0].blend == (1.0, 0.0) and log[-1].blend == (0.0, 1.0)  # the first painting, then the second
    assert log[1].blend[1] < log[2].blend[1]
    assert any("4 frames" in note and "in tiles of 32 px" in note for note in notes), notes
    # The photo's colours kept in every frame (luminance mode): its chroma, within a level or so.
    for painted, photo in zip(
        pictures(tmp_path / "run" / "stylised"), pictures(tmp_path / "run" / "source"), strict=True
    ):
        chroma = [
            np.asarray(Image.fromarray(frame).convert("YCbCr"))[..., 1:].astype(float) for frame in (painted, photo)
        ]
        assert np.abs(chroma[0] - chroma[1]).mean() <= 1.5


def bad_clip(kind: str, portrait: Path, folder: Path) -> Path:
    """A clip that is wrong in one way."""
    path = folder / f"{kind}.mp4"
    if kind == "text":
        path.write_text("not a video\n")
    elif kind == "sound":
        run_ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path))
    elif kind == "zero":
        path = folder / "zero.avi"
        run_ffmpeg("-f", "lavfi", "-i", "color=size=64x48", "-t", "0", "-c:v", "rawvideo", str(path))
    elif kind == "damaged":
        run_ffmpeg("-i", str(portrait), "-c", "copy", "-movflags", "+faststart", str(folder / "whole.mp4"))
        data = (folder / "whole.mp4").read_bytes()
        path.write_bytes(data[: len(data) * 6 // 10])
    else:
        path = portrait
    return path


@pytest.mark.parametrize(
    ("kind", "overrides", "fragment"),
    [
        ("text", [], "neither an image nor a video"),
        ("sound", [], "holds no moving pictures to paint (audio)"),
        ("zero", [], "has no frames"),
        ("damaged", [], "is damaged"),
        ("pan", ["clip.start=5"], "--start 5 is outside the clip"),
        ("pan", ["clip.end=9"], "--end 9 is outside the clip"),
        ("pan", ["clip.max_frames=4"], "about 10 frames (0.8 s at 12 fps); the limit is 4 (clip.max_frames)"),
    ],
)
def test_bad_clips_are_refused_before_anything_is_written(portrait, tmp_path, kind, overrides, fragment):
    from timelapse_nst import api

    clip = bad_clip(kind, portrait, tmp_path)
    with pytest.raises(UserError) as caught:
        api.render(
            clip, STYLE, out=tmp_path / "run", preset="quick-preview", size=64, weights="random", overrides=overrides
        )
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_a_bad_clip_is_one_line_on_stderr_and_exit_2(portrait, tmp_path):
    clip = bad_clip("damaged", portrait, tmp_path)
    result = cli("render", str(clip), str(STYLE), *PAINT, "--end", "0.5", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "damaged.mp4" in lines[0] and "is damaged" in lines[0], result.stderr
    assert result.stderr.replace(lines[0], "").strip() in ("", f"warning: {RANDOM_WEIGHTS_WARNING}")
    assert not (tmp_path / "run").exists()
