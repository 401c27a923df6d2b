"""The whole benchmark: every measurement in one process, in a fixed order."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from timelapse_nst.bench.baseline import BaselineRun
from timelapse_nst.bench.clip import measure_clip
from timelapse_nst.bench.measure import (
    compare_at,
    measure_controls,
    measure_convergence,
    measure_overheads,
    measure_precision,
)
from timelapse_nst.bench.memory import measure_rss
from timelapse_nst.bench.ours import Fp32Objective, OursRun, bench_config
from timelapse_nst.bench.preview import measure_preview
from timelapse_nst.bench.reach import Reach, measure_reach
from timelapse_nst.bench.regions import measure_regions
from timelapse_nst.bench.report import BenchReport, jsonable, load_average, machine_info, targets
from timelapse_nst.bench.settings import BenchSettings, Say
from timelapse_nst.bench.tiling import measure_tiling
from timelapse_nst.bench.video import measure_assembly
from timelapse_nst.errors import UserError

# -- the whole benchmark --------------------------------------------------------------------


def run_bench(settings: BenchSettings, *, say: Say = lambda message: None) -> BenchReport:
    """Run every measurement of ``settings`` and return the figures (no printing besides ``say``)."""
    from timelapse_nst.engine.devices import activation_dtype, pick_device, precision_name
    from timelapse_nst.engine.weights import load_vgg19_features

    started = time.monotonic()
    for path in (settings.content, settings.style):
        if not path.is_file():
            raise UserError(f"bench input {path} is missing; pass --content and --style")
    config = bench_config(settings, settings.target_size)
    dtype = activation_dtype(config.precision, pick_device(config.device))
    report = BenchReport(machine=machine_info(precision_name(dtype)), settings=jsonable(asdict(settings)))
    if settings.clip_only:
        with tempfile.TemporaryDirectory(prefix="timelapse-nst-bench-") as tmp:
            say(_CLIP_STUDY.format(settings=settings))
            report.clip = _guard(report, "clip study", lambda: measure_clip(settings, Path(tmp)), None)
        return _finished(report, started)
    with tempfile.TemporaryDirectory(prefix="timelapse-nst-bench-") as tmp:
        work = Path(tmp)
        # 1. Peak memory first: RUSAGE_CHILDREN is a maximum over every child so far.
        say(f"peak memory at {settings.rss_size} px (subprocess)")
        report.rss = measure_rss(settings, work)
        vgg = load_vgg19_features(settings.weights, seed=config.seed)
        # 2. Per-evaluation time at every size; the target size keeps its run folder and images.
        target_run: OursRun | None = None
        target_baseline: BaselineRun | None = None
        for size in settings.sizes:
            say(f"{size} px: floor, ours, baseline ({settings.iterations} iterations each)")
            row, ours, baseline = compare_at(settings, size, vgg, dtype, work)
            report.rows.append(row)
            if size == settings.target_size:
                target_run, target_baseline = ours, baseline
        if target_run is None or target_baseline is None:
            say(f"{settings.target_size} px: ours and baseline for the detailed figures")
            _, target_run, target_baseline = compare_at(settings, settings.target_size, vgg, dtype, work)
        evaluator = Fp32Objective(vgg, settings)
        # 3. bf16 (or whatever auto picked) against fp32, same iterations.
        # A section that fails (e.g. a render whose loss diverges) becomes a note, not a crash.
        say("precision: the same render in fp32")
        report.precision = _guard(
            report, "precision", lambda: measure_precision(settings, work, target_run, dtype, evaluator), {}
        )
        # 4. Coarse-to-fine and time to reach the baseline's objective.
        say("multi-scale render and time to reach the baseline's objective")
        report.convergence = _guard(
            report, "convergence", lambda: measure_convergence(settings, work, target_baseline, evaluator), None
        )
        # 4b. Our default render to the seed's final quality, at each reach size.
        for size in settings.reach_sizes:
            say(f"{size} px: time for ours to reach the seed's final image ({settings.reach_iterations} iterations)")
            reach: Reach | None = _guard(
                report, f"reach at {size} px", lambda s=size: measure_reach(settings, vgg, s, work), None
            )
            if reach is not None:
                report.reach.append(reach)
        # 5. Capture and checkpoint overheads, interleaved A/B/C runs.
        say(f"capture and checkpoint overheads ({settings.ab_rounds} interleaved rounds)")
        report.overheads = _guard(report, "overheads", lambda: measure_overheads(settings, work, target_run), {})
        say(f"colour modes and a second style ({settings.ab_rounds} interleaved rounds)")
        report.controls = _guard(report, "controls", lambda: measure_controls(settings, work), {})
        say(f"two masked styles and a reveal ({settings.ab_rounds * settings.ab_iterations} evaluations each, in turn)")
        report.regions = _guard(report, "regions", lambda: measure_regions(settings, work), {})
        say(f"the live preview off, polled and open ({settings.ab_rounds} interleaved rounds)")
        report.preview = _guard(report, "preview", lambda: measure_preview(settings, work), {})
        if settings.tiling_sizes:
            say(f"tiled vs untiled at {', '.join(map(str, settings.tiling_sizes))} px (subprocesses)")
            report.tiling = _guard(
                report,
                "tiling",
                lambda: measure_tiling(
                    settings, work, sizes=settings.tiling_sizes, iterations=settings.tiling_iterations
                ),
                [],
            )
        # 6. A painted clip against its frames painted alone (a subprocess for its memory).
        say(_CLIP_STUDY.format(settings=settings))
        report.clip = _guard(report, "clip study", lambda: measure_clip(settings, work), None)
        # 7. Assembly against a plain ffmpeg command on the same frames.
        say("assembly vs plain ffmpeg")
        report.assembly = measure_assembly(settings, target_run.root, work)
    return _finished(report, started)


_CLIP_STUDY = (
    "clip study at {settings.clip_size} px: {settings.clip_frames} frames painted as a clip (subprocess), "
    "then each painted alone ({settings.clip_iterations} iterations)"
)


def _finished(report: BenchReport, started: float) -> BenchReport:
    """The targets, a note if other processes competed for the cores, and the time it all took."""
    report.targets = targets(report)
    report.machine["load_average_at_end"] = load_average()
    if (
        max(report.machine["load_average_at_start"], report.machine["load_average_at_end"])
        > report.machine["threads"] + 0.5
    ):
        report.notes.append(
            f"other processes were busy (load average {report.machine['load_average_at_start']} → "
            f"{report.machine['load_average_at_end']} on {os.cpu_count()} CPUs): figures are noisy"
        )
    report.seconds = round(time.monotonic() - started, 1)
    return report


T = TypeVar("T")


def _guard(report: BenchReport, name: str, measure: Callable[[], T], fallback: T) -> T:
    try:
        return measure()
    except (FloatingPointError, RuntimeError, UserError, OSError) as exc:  # RuntimeError: torch
        report.notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        return fallback
