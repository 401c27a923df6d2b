"""The benchmark machinery end to end at toy sizes (real renders, real baseline, real ffmpeg), and
the met / not-met logic of its targets on fabricated figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import make_image, require_tool

from timelapse_nst.bench import BenchReport, BenchSettings, preview, run_bench, to_markdown, to_table
from timelapse_nst.bench.ours import bench_config
from timelapse_nst.bench.reach import Reach, plot_reach
from timelapse_nst.bench.report import SizeRow, targets
from timelapse_nst.cli.tools import parse_sizes
from timelapse_nst.errors import UserError


def test_bench_measures_every_figure_side_by_side(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    # Every knob set, as BenchSettings.quick sets them, to toy sizes: alike in shape, not in values.
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
        reach_sizes=(64,),
        reach_iterations=3,
        tiling_sizes=(64,),
        tiling_iterations=2,
        preview_chromium=False,
        clip_size=64,
        clip_frames=4,
        clip_iterations=2,
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
    assert report.regions["seconds_per_evaluation"].keys() == {"plain", "masks", "reveal"}
    assert report.regions["reveal_total"] > report.regions["overhead"]["reveal"]  # its extra evaluations count
    # The reach study: the seed's curve ends at its final score; ours is scored after each iteration.
    [reach] = report.reach
    assert reach.size == 64 and reach.seed_iterations == 3 and reach.seed_curve[-1][1] == reach.seed_final
    assert reach.seed_evaluations == len(reach.seed_curve) - 2 and len(reach.ours_curve) >= 2
    assert reach.best == min(value for _, value in reach.ours_curve)
    assert report.preview["seconds_per_iteration"].keys() == {"off", "poller"}
    assert [(row["size"], row["tiled"]) for row in report.tiling] == [(64, False), (64, True)]
    assert all("seconds_per_iteration" in row for row in report.tiling), report.tiling
    assert 50 < report.rss["peak_rss_mb"] < 8000, report.rss  # a fresh process that loaded torch
    assert report.assembly["frames"] >= 2 and report.assembly["resolution"] == "160x90", report.assembly
    assert report.clip is not None and report.clip.frames == 4 and report.clip.starts[2] == "cut"
    assert {t["what"].split(" ")[0] for t in report.targets} >= {
        "baseline/ours",
        "ours/floor",
        "capturing",
        "keeping",
        "a",
        "two",
        "time",
        "the",
    }
    assert any("peak memory" in m for m in messages)
    assert not [note for note in report.notes if "not measured" in note], report.notes  # no section failed

    figures = json.loads(report.to_json())
    assert figures["rows"][0]["size"] == 64 and figures["settings"]["iterations"] == 3
    markdown = to_markdown(report)
    assert "| size | floor s/eval |" in markdown and "baseline/ours" in markdown
    assert len(to_table(report)) >= 4  # sizes, details, tiling, targets
    assert "| size | mode | tiles |" in markdown
    plot = plot_reach(report.reach, tmp_path / "reach.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def _reach(size: int, seed_seconds: float, ours_seconds: float | None) -> Reach:
    curve = [(0.0, 10.0), (seed_seconds, 4.0)]
    ours = [(0.0, 10.0)] + ([(ours_seconds, 3.9)] if ours_seconds is not None else [(seed_seconds, 5.0)])
    reached = None if ours_seconds is None else 7
    return Reach(size, size, size * 3 // 4, 40, 50, seed_seconds, 4.0, ours_seconds, reached, 3.9, curve, ours)


def test_reach_preview_and_tiling_in_the_report_from_given_figures(tmp_path: Path) -> None:
    report = BenchReport(
        machine={"cpu": "x", "threads": 2, "torch": "t", "precision": "bf16"},
        settings={"target_size": 256, "iterations": 40, "weights": "random", "tiling_iterations": 4},
    )
    report.reach = [_reach(256, 100.0, 30.0), _reach(512, 400.0, 160.0), _reach(1024, 10.0, None)]
    report.preview = {
        "rounds": 5,
        "seconds_per_iteration": {"off": 1.0, "poller": 1.01, "chromium": 1.03},
        "overhead": {"poller": 0.01, "chromium": 0.03},
    }
    report.tiling = [
        {
            "size": 1024,
            "tiled": False,
            "tiles": 1,
            "estimate_mb": 900.0,
            "seconds_per_iteration": 2.0,
            "peak_rss_mb": 1000.0,
        },
        {
            "size": 1024,
            "tiled": True,
            "tiles": 4,
            "estimate_mb": 500.0,
            "seconds_per_iteration": 2.2,
            "peak_rss_mb": 600.0,
        },
        {"size": 2048, "tiled": False, "error": "does not fit: plan 9000 MB"},
    ]
    report.targets = targets(report)
    met = {t["what"]: (t["measured"], t["met"]) for t in report.targets}
    reach = "time to reach the seed's final saved-image objective at {} px, ours/seed"
    assert met[reach.format(256)] == ("30.0 s / 100.0 s = 0.30", True)
    assert met[reach.format(512)] == ("160.0 s / 400.0 s = 0.40", False)
    assert met[reach.format(1024)][1] is False  # not reached within the budget
    # With Chromium measured, the goal row is the real page's cost (+3% > +2%).
    assert met["the preview page open and polled costs"] == ("+3.0% per iteration", False)
    del report.preview["overhead"]["chromium"], report.preview["seconds_per_iteration"]["chromium"]
    assert next(t for t in targets(report) if t["what"].startswith("the preview"))["met"] is True
    markdown = to_markdown(report)
    assert "| 1024 | tiled | 4 | 600 MB (500) | 2.20 | 1.10x |" in markdown
    assert "| 2048 | untiled |  | does not fit: plan 9000 MB |  |  |" in markdown
    assert "seed 40 iterations (50 evaluations) | 100.0 s to 4; ours 30.0 s (iteration 7) = 30%" in markdown
    assert "not reached (best 3.9)" in markdown
    assert len(to_table(report)) == 4
    plot = plot_reach(report.reach, tmp_path / "plots" / "reach.png")
    assert plot.stat().st_size > 1000


def test_sizes_are_checked_with_a_one_line_error() -> None:
    assert parse_sizes("128, 256") == (128, 256)
    for bad in ("abc", "", "8", "32,128"):
        with pytest.raises(UserError, match="--sizes"):
            parse_sizes(bad)


@pytest.mark.parametrize(("flag", "target"), [("--json", "/proc/nope/bench.json"), ("--plot", "/proc/reach.png")])
def test_an_unwritable_output_is_refused_before_the_bench_runs(tmp_path, flag, target) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "timelapse_nst", "bench", "--quick", flag, target],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "bench:" not in result.stderr  # nothing measured
    folder = subprocess.run(
        [sys.executable, "-m", "timelapse_nst", "bench", "--quick", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert folder.returncode == 2 and "is a folder" in folder.stderr


@pytest.mark.slow
def test_the_chromium_figure_counts_the_page_polls_and_fails_when_the_page_stops(tmp_path: Path) -> None:
    """A real render watched by the real page; then one whose requests for the state fail (a page
    that stopped polling), which must fail the figure, not flatter it."""
    require_tool("chromium")
    photo, painting = make_image(tmp_path / "photo.png", (64, 48), seed=1), make_image(tmp_path / "art.png", seed=2)
    settings = BenchSettings(target_size=64, content=photo, style=painting)
    config = bench_config(settings, 64, optimizer={"iterations": 60}, capture={"spacing": "every", "every": 1})

    class Paced(list):
        """When each iteration was painted, each mark 80 ms late: a render of at least 4.8 s on
        any machine, so a page that stops polling is told from a render that ended first."""

        def append(self, moment: float) -> None:
            time.sleep(0.08)
            super().append(moment)

    class Quick(preview.ChromiumPage):
        gap = 2.5  # two missed polls: a short render tells a stopped page too

        def __init__(self) -> None:
            super().__init__()
            self.painted = Paced()

    page = Quick()
    intervals = preview.watched_render(settings, config, tmp_path / "watched", page)
    assert len(intervals) >= 59 and page.polled >= 2, (page.polled, page.polls)

    class Stopped(Quick):
        def notify(self, message: str) -> None:
            super().notify(message)
            self._page.route("**/api/state?*", lambda route: route.abort())  # every later poll fails

    stopped = Stopped()
    with pytest.raises(RuntimeError, match="the preview page stopped polling"):
        preview.watched_render(settings, config, tmp_path / "stopped", stopped)
    assert stopped.painted[-1] - stopped.painted[0] > Quick.gap  # the render was long enough to tell


def test_the_regions_study_evaluates_what_a_render_would(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    from timelapse_nst.bench.regions import build_variants

    settings = BenchSettings(target_size=32, content=content_path, style=style_path)
    variants = build_variants(settings, tmp_path, samples=9)
    plain, masks, reveal = variants["plain"], variants["masks"], variants["reveal"]
    assert plain.objective.guides is None and len(plain.objective.style_images) == 1
    # Two paintings, each on its half of the canvas: one region per painting, nothing held.
    assert masks.objective.guides is not None and len(masks.objective.style_images) == 2
    assert len(masks.objective.guides.regions) == 2 and masks.objective.guides.hold is None
    assert masks.objective.guides.regions[0, :, :8].min() == 1 and masks.objective.guides.regions[0, :, -8:].max() == 0
    # The sweep's moments spread over a whole render: it starts, moves and ends within them.
    clocks = [moment.reveal for moment in reveal.moments]
    guides = reveal.objective.guides
    assert guides is not None and clocks == sorted(clocks) and len(set(clocks)) > 3
    assert guides.weights(clocks[0]).max() < 1 and guides.weights(clocks[-1]).min() == 1
    assert sum(reveal.moved(k) for k in range(9)) == len(set(clocks)) - 1
    assert not any(plain.moved(k) or masks.moved(k) for k in range(9))
    assert reveal.evaluate(3) > 0 and reveal.image.grad is not None and reveal.image.grad.abs().sum() > 0
