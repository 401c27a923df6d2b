"""A real clip render, from the command line, ends with both videos: the painted frames in
stylised.mp4 with the sound cut at the trim, and timelapse.mp4 with frame 0's timelapse first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clip_factory import FFMPEG, beep_onset, make_source_clip
from conftest import require_tool


def streams(path: Path) -> dict[str, dict]:
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_streams", "-count_frames", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {stream["codec_type"]: stream for stream in json.loads(result.stdout)["streams"]}


@pytest.mark.slow
def test_a_clip_render_ends_with_stylised_mp4_and_timelapse_mp4(tmp_path: Path, style_path: Path) -> None:
    # 1.5 s at 10 fps, the beep at 1.0 s; painted from 0.5 s on: 10 frames, the beep 0.5 s in.
    source = make_source_clip(tmp_path / "walk.mp4", seconds=1.5, flash=1.0)
    video = ["video.resolution=160x90", "video.duration=1", "video.fps=10", "video.preset=ultrafast"]
    command = [sys.executable, "-m", "timelapse_nst", "render", str(source.path), str(style_path), "--start", "0.5"]
    command += ["--weights", "random", "--size", "48", "--iterations", "4", "--set", "clip.iterations=2", "--quiet"]
    command += [argument for setting in video for argument in ("--set", setting)]
    done = subprocess.run([*command, "--out", str(tmp_path / "run")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr

    run = tmp_path / "run"
    painted = streams(run / "stylised.mp4")
    assert int(painted["video"]["nb_read_frames"]) == 10 == len(list((run / "stylised").glob("*.png")))
    assert painted["video"]["r_frame_rate"] == "10/1" and painted["video"]["profile"] == "High"
    assert abs(float(painted["audio"]["duration"]) - 1.0) <= 0.05
    sound = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(run / "stylised.mp4"), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    onset = beep_onset(np.frombuffer(sound, np.int16).astype(np.float64), 16000)
    assert onset is not None and abs(onset - 0.5) < 0.02, onset
    timelapse = streams(run / "timelapse.mp4")
    assert int(timelapse["video"]["nb_read_frames"]) == 10 + 10  # 1 s of frame 0's timelapse, then the clip
    assert "audio" in timelapse
