"""The bench's clip study: its clip (pan, zoom, one scene cut), its goals on fabricated figures, and
the whole study end to end at toy sizes (a real clip render, real independent renders)."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from timelapse_nst.bench import BenchReport, BenchSettings, run_bench, to_markdown, to_table
from timelapse_nst.bench.clip import ClipStudy, clip_targets, cut_frame, make_study_clip
from timelapse_nst.bench.report import targets


def decoded(path: Path, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3).astype(np.float32)


def test_the_study_clip_pans_and_zooms_then_cuts_once(tmp_path: Path, content_path: Path) -> None:
    clip = make_study_clip(content_path, tmp_path / "clip.mp4", frames=12, size=(128, 72))
    frames = decoded(clip, (128, 72))
    assert len(frames) == 12 and cut_frame(12) == 6
    steps = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
    cut = steps.pop(5)  # frame 5 -> 6
    assert all(0.5 < step < cut / 2 for step in steps), (steps, cut)  # it moves, and the cut is a jump


def study(**changes: object) -> ClipStudy:
    figures: dict = {
        "width": 256,
        "height": 144,
        "frames": 16,
        "cut": 8,
        "first_iterations": 40,
        "later_iterations": 10,
        "starts": ["fresh", *["warped"] * 7, "cut", *["warped"] * 7],
        "warping_ours": 0.002,
        "warping_independent": 0.02,
        "objective_ratios": [1.0, *[1.05] * 15],
        "frame_seconds": [10.0, *[2.0] * 15],
        "independent_seconds": [10.0] * 16,
        "flow_seconds": 0.5,
        "render_seconds": 40.0,
        "rss_mb": {"frame_10": 1000.0, "last": 1010.0},
    }
    return ClipStudy(**{**figures, **changes})


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({}, set()),
        ({"warping_ours": 0.008}, {"warping"}),
        ({"objective_ratios": [1.0, *[1.05] * 14, 1.2]}, {"objective"}),
        ({"frame_seconds": [10.0, *[6.0] * 15]}, {"seconds"}),
        ({"flow_seconds": 3.0}, {"flow"}),
        ({"rss_mb": {"frame_10": 1000.0, "last": 1100.0}}, {"RSS"}),
    ],
)
def test_each_goal_is_met_or_missed_by_its_own_figure(changes: dict, missed: set[str]) -> None:
    rows = clip_targets(study(**changes))
    assert len(rows) == 5
    failed = {word for what, _, _, met in rows if not met for word in missed if word in what}
    assert failed == missed and sum(not met for *_, met in rows) == len(missed)


def test_a_clip_too_short_for_frame_10_reports_no_memory_goal() -> None:
    rows = clip_targets(study(frames=8, cut=4, starts=["fresh"] * 8, objective_ratios=[1.0] * 8))
    assert not [row for row in rows if "RSS" in row[0]]


def test_the_report_carries_the_study() -> None:
    report = BenchReport(machine={"cpu": "x", "threads": 2, "torch": "t", "precision": "fp32"}, settings={})
    report.settings = {"iterations": 40, "weights": "random", "target_size": 256, "clip_only": True}
    report.clip = study()
    report.targets = targets(report)
    assert any(t["what"].startswith("clip: warping error") and t["met"] for t in report.targets)
    markdown = to_markdown(report)
    assert "| size |" not in markdown  # the clip study alone: no per-size table
    assert "clip: optical flow | 0.50 s of 40.0 s (1.2%)" in markdown
    assert len(to_table(report)) == 2  # details and targets
    assert '"warping_ours": 0.002' in report.to_json()


@pytest.mark.slow
def test_the_clip_study_runs_alone_end_to_end(content_path: Path, style_path: Path) -> None:
    settings = BenchSettings.quick(
        clip_only=True, clip_size=64, clip_frames=8, clip_iterations=3, content=content_path, style=style_path
    )
    report = run_bench(settings)

    assert not report.notes or "not measured" not in " ".join(report.notes), report.notes
    clip = report.clip
    assert clip is not None and clip.frames == 8 and max(clip.width, clip.height) == 64
    assert clip.starts[0] == "fresh" and clip.starts[clip.cut] == "cut"  # the scene cut starts afresh
    assert clip.warping_ours > 0 and clip.warping_independent > 0
    # Frame 0 is painted as a still is: the very frame painted alone.
    assert len(clip.objective_ratios) == 8 and clip.objective_ratios[0] == pytest.approx(1.0, abs=1e-6)
    assert len(clip.frame_seconds) == 8 and all(seconds > 0 for seconds in clip.frame_seconds)
    assert 0 < clip.flow_seconds < clip.render_seconds
    assert clip.rss_mb["frame_10"] > 100 and clip.rss_mb["last"] > 100  # a process that loaded torch
    assert {t["what"].split(":")[0] for t in report.targets} == {"clip"}
    assert len(report.targets) == 4  # 8 frames: no peak RSS at frame 10
    assert report.rows == [] and report.reach == []  # nothing else was measured
