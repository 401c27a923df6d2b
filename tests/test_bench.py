"""The benchmark machinery end to end at toy sizes: real renders, real baseline, real ffmpeg."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from timelapse_nst.bench import BenchSettings, _parse_sizes, run_bench, to_markdown, to_table
from timelapse_nst.errors import UserError


def test_bench_measures_every_figure_side_by_side(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    settings = BenchSettings(
        sizes=(64,),
        iterations=3,
        target_size=64,
        ab_iterations=3,
        ab_rounds=1,
        rss_size=48,
        rss_iterations=1,
        video_seconds=0.5,
        video_resolution="160x90",
        content=content_path,
        style=style_path,
    )
    messages: list[str] = []
    report = run_bench(settings, say=messages.append)

    [row] = report.rows
    assert row.size == 64 and max(row.width, row.height) == 64
    assert row.floor_s > 0 and row.ours_s > 0 and row.baseline_s > 0
    assert row.ours_over_floor == pytest.approx(row.ours_s / row.floor_s)
    assert row.baseline_over_ours > 0
    assert row.baseline_evaluations >= 2  # strong-Wolfe L-BFGS evaluates at least once per iteration
    # The precision and convergence figures compare fp32 objectives of real renders.
    assert report.precision["objective_fp32"] > 0 and report.precision["relative_gap"] >= 0
    assert report.precision["same_image_gap"] < 0.05
    conv = report.convergence
    assert conv is not None and conv.baseline_objective > 0 and conv.baseline_seconds > 0
    assert conv.multi_scale_sizes[-1] == 64 and len(conv.multi_scale_sizes) > 1
    assert report.overheads["seconds_per_iteration"].keys() == {"none", "capture", "checkpoint"}
    assert report.overheads["checkpoint_seconds_each"] >= 0
    assert 50 < report.rss["peak_rss_mb"] < 8000, report.rss  # a fresh process that loaded torch
    assert report.assembly.get("ours_seconds", 0) > 0 and report.assembly["plain_ffmpeg_seconds"] > 0, report.assembly
    assert {t["what"].split(" ")[0] for t in report.targets} >= {"baseline/ours", "ours/floor", "capturing"}
    assert any("peak memory" in m for m in messages)

    figures = json.loads(report.to_json())
    assert figures["rows"][0]["size"] == 64 and figures["settings"]["iterations"] == 3
    markdown = to_markdown(report)
    assert "| size | floor s/eval |" in markdown and "baseline/ours" in markdown
    assert len(to_table(report)) >= 3


def test_sizes_are_checked_with_a_one_line_error() -> None:
    assert _parse_sizes("128, 256") == (128, 256)
    for bad in ("abc", "", "8", "32,128"):
        with pytest.raises(UserError, match="--sizes"):
            _parse_sizes(bad)
