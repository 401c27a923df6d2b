"""The benchmark machinery end to end at toy sizes (real renders, real baseline, real ffmpeg), and
the met / not-met logic of its targets on fabricated figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from timelapse_nst.bench import BenchReport, BenchSettings, run_bench, to_markdown, to_table
from timelapse_nst.bench.report import SizeRow, targets
from timelapse_nst.cli.tools import parse_sizes
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
    assert row.baseline_evaluations >= 2  # strong-Wolfe L-BFGS evaluates at least once per iteration
    assert row.ours_iterations == 3
    # The precision and convergence figures compare fp32 objectives of real renders.
    assert report.precision["same_image_gap"] < 0.05
    conv = report.convergence
    assert conv is not None and conv.baseline_objective > 0
    assert conv.multi_scale_sizes[-1] == 64 and len(conv.multi_scale_sizes) > 1
    assert report.overheads["seconds_per_iteration"].keys() == {"none", "capture", "checkpoint"}
    assert report.controls["seconds_per_iteration"].keys() == {"default", "luminance", "histogram", "second_style"}
    assert 50 < report.rss["peak_rss_mb"] < 8000, report.rss  # a fresh process that loaded torch
    assert report.assembly["frames"] >= 2 and report.assembly["resolution"] == "160x90", report.assembly
    assert {t["what"].split(" ")[0] for t in report.targets} >= {
        "baseline/ours",
        "ours/floor",
        "capturing",
        "keeping",
        "a",
    }
    assert any("peak memory" in m for m in messages)
    assert not [note for note in report.notes if "not measured" in note], report.notes  # no section failed

    figures = json.loads(report.to_json())
    assert figures["rows"][0]["size"] == 64 and figures["settings"]["iterations"] == 3
    markdown = to_markdown(report)
    assert "| size | floor s/eval |" in markdown and "baseline/ours" in markdown
    assert len(to_table(report)) >= 3


def _report(*, baseline_over_ours: float, ours_over_floor: float, rss_mb: float, rss_size: int) -> BenchReport:
    row = SizeRow(256, 192, 256, 0.2, 0.2 * ours_over_floor, 0.4, ours_over_floor, baseline_over_ours, 49, 40)
    report = BenchReport(machine={}, settings={"target_size": 256}, rows=[row])
    report.rss = {"size": rss_size, "peak_rss_mb": rss_mb}
    return report


def test_targets_say_met_or_not_from_the_figures() -> None:
    good = {
        t["what"]: t["met"]
        for t in targets(_report(baseline_over_ours=2.3, ours_over_floor=1.05, rss_mb=900, rss_size=512))
    }
    bad = {
        t["what"]: t["met"]
        for t in targets(_report(baseline_over_ours=1.7, ours_over_floor=1.3, rss_mb=3000, rss_size=512))
    }
    assert good == {
        "baseline/ours per evaluation at 256 px": True,
        "ours/floor per evaluation at 256 px": True,
        "peak RSS at 512 px": True,
    }
    assert set(bad.values()) == {False}
    # A memory run below 512 px says nothing about the 512 px goal: neither met nor missed.
    small = targets(_report(baseline_over_ours=2.3, ours_over_floor=1.05, rss_mb=100, rss_size=128))
    assert next(t for t in small if t["what"].startswith("peak RSS"))["met"] is None


def test_sizes_are_checked_with_a_one_line_error() -> None:
    assert parse_sizes("128, 256") == (128, 256)
    for bad in ("abc", "", "8", "32,128"):
        with pytest.raises(UserError, match="--sizes"):
            parse_sizes(bad)
