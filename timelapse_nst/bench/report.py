"""The benchmark's figures: result records, targets met or not, tables and Markdown."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from timelapse_nst.bench.clip import ClipStudy, clip_lines, clip_targets
from timelapse_nst.bench.preview import preview_lines, preview_target
from timelapse_nst.bench.reach import TARGET_REACH_FRACTION, Reach, reach_lines, reach_targets
from timelapse_nst.bench.regions import regions_lines, regions_targets
from timelapse_nst.bench.tiling import to_rows as tiling_rows

# The targets the report checks.
TARGET_BASELINE_OVER_OURS = 2.0
TARGET_OURS_OVER_FLOOR = 1.10
TARGET_CAPTURE_OVERHEAD = 0.03
TARGET_RSS_MB = 2048.0
TARGET_PRECISION_GAP = 0.01
TARGET_COLOR_OVERHEAD = 0.05
TARGET_STYLE_OVERHEAD = 0.03


# -- results --------------------------------------------------------------------------------


@dataclass
class SizeRow:
    """Per-evaluation seconds at one size (medians) and the two headline ratios."""

    size: int
    height: int
    width: int
    floor_s: float
    ours_s: float
    baseline_s: float
    ours_over_floor: float
    baseline_over_ours: float
    baseline_evaluations: int
    ours_iterations: int


@dataclass
class Convergence:
    """Time to reach the baseline's final fp32 objective, at the target size."""

    baseline_objective: float
    baseline_seconds: float
    single_scale_seconds: float | None
    single_scale_fraction: float | None
    single_scale_best: float
    multi_scale_seconds: float | None
    multi_scale_fraction: float | None
    multi_scale_best: float
    multi_scale_sizes: list[int]


@dataclass
class BenchReport:
    machine: dict[str, Any]
    settings: dict[str, Any]
    rows: list[SizeRow] = field(default_factory=list)
    convergence: Convergence | None = None
    reach: list[Reach] = field(default_factory=list)
    tiling: list[dict[str, Any]] = field(default_factory=list)
    preview: dict[str, Any] = field(default_factory=dict)
    precision: dict[str, Any] = field(default_factory=dict)
    overheads: dict[str, Any] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    regions: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, Any] = field(default_factory=dict)
    assembly: dict[str, Any] = field(default_factory=dict)
    clip: ClipStudy | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


# -- targets and output ---------------------------------------------------------------------


def targets(report: BenchReport) -> list[dict[str, Any]]:
    target = next((row for row in report.rows if row.size == report.settings["target_size"]), None)
    rows: list[tuple[str, Any, str, bool | None]] = []
    if target is not None:
        rows.append(
            (
                f"baseline/ours per evaluation at {target.size} px",
                f"{target.baseline_over_ours:.2f}x",
                f">= {TARGET_BASELINE_OVER_OURS:.0f}x",
                target.baseline_over_ours >= TARGET_BASELINE_OVER_OURS,
            )
        )
        rows.append(
            (
                f"ours/floor per evaluation at {target.size} px",
                f"{target.ours_over_floor:.2f}x",
                f"<= {TARGET_OURS_OVER_FLOOR:.2f}x",
                target.ours_over_floor <= TARGET_OURS_OVER_FLOOR,
            )
        )
    if report.overheads:
        value = report.overheads["capture_every_iteration"]
        rows.append(
            (
                "capturing every iteration costs",
                f"{value:+.1%}",
                f"<= {TARGET_CAPTURE_OVERHEAD:.0%}",
                value <= TARGET_CAPTURE_OVERHEAD,
            )
        )
    rows += reach_targets(report.reach)
    conv = report.convergence
    if conv is not None:  # information: the default render is what the goal is about (above)
        fraction = conv.multi_scale_fraction
        rows.append(
            (
                f"multi-scale reaches the baseline's objective at {report.settings['target_size']} px in",
                "not reached" if fraction is None else f"{fraction:.0%} of its time",
                f"(information; default render: <= {TARGET_REACH_FRACTION:.0%})",
                None,
            )
        )
    if report.preview:
        rows.append(preview_target(report.preview))
    if report.precision:
        gap = report.precision["relative_gap"]
        rows.append(
            (
                f"{report.precision['precision']} vs fp32 objective after the same iterations",
                f"{gap:.2%}",
                f"<= {TARGET_PRECISION_GAP:.0%}",
                gap <= TARGET_PRECISION_GAP,
            )
        )
    if report.controls:
        for name, what, goal in (
            ("luminance", "keeping the photo's colours (luminance) costs", TARGET_COLOR_OVERHEAD),
            ("histogram", "keeping the photo's colours (histogram) costs", TARGET_COLOR_OVERHEAD),
            ("second_style", "a second style costs", TARGET_STYLE_OVERHEAD),
        ):
            value = report.controls[name]
            rows.append((what, f"{value:+.1%} per iteration", f"<= {goal:.0%}", value <= goal))
    rows += clip_targets(report.clip)
    if report.regions:
        rows += regions_targets(report.regions)
    if "peak_rss_mb" in report.rss:
        mb = report.rss["peak_rss_mb"]
        rows.append(
            (
                f"peak RSS at {report.rss['size']} px",
                f"{mb:.0f} MB",
                f"<= {TARGET_RSS_MB:.0f} MB",
                mb <= TARGET_RSS_MB if report.rss["size"] >= 512 else None,
            )
        )
    return [{"what": what, "measured": measured, "target": goal, "met": met} for what, measured, goal, met in rows]


def _detail_lines(report: BenchReport) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = reach_lines(report.reach)
    conv = report.convergence
    if conv is not None:

        def reach(seconds: float | None, fraction: float | None, best: float) -> str:
            if seconds is None:
                return f"not reached (best {best:.4g} vs {conv.baseline_objective:.4g})"
            return f"{seconds:.1f} s = {fraction:.0%} of the baseline's {conv.baseline_seconds:.1f} s"

        lines.append(
            (
                "time to reach the baseline's final objective, single scale",
                reach(conv.single_scale_seconds, conv.single_scale_fraction, conv.single_scale_best),
            )
        )
        lines.append(
            (
                f"... multi-scale ({' → '.join(map(str, conv.multi_scale_sizes))} px)",
                reach(conv.multi_scale_seconds, conv.multi_scale_fraction, conv.multi_scale_best),
            )
        )
    if report.precision:
        p = report.precision
        lines.append(
            (
                f"objective after {p['iterations']} iterations, {p['precision']} / fp32",
                f"{p['objective_low']:.5g} / {p['objective_fp32']:.5g} (gap {p['relative_gap']:.2%}; "
                f"same image evaluated both ways: {p['same_image_gap']:.3%}); "
                f"{p['seconds_per_iteration_fp32'] / p['seconds_per_iteration_low']:.2f}x faster",
            )
        )
    if report.overheads:
        o = report.overheads
        lines.append(("capture every iteration vs none", f"{o['capture_every_iteration']:+.1%} per iteration"))
        lines.append(
            (
                "checkpoint every iteration vs none",
                f"{o['checkpoint_every_iteration']:+.1%} ({o['checkpoint_seconds_each'] * 1000:.0f} ms each); "
                f"at the default interval ({o['checkpoint_default_interval']} it.) "
                f"{o['checkpoint_at_default_interval']:+.2%}",
            )
        )
    if report.controls:
        c = report.controls
        lines.append(
            (
                "luminance / histogram colour, a second style vs the default",
                f"{c['luminance']:+.1%} / {c['histogram']:+.1%} / {c['second_style']:+.1%} per iteration",
            )
        )
    if report.regions:
        lines += regions_lines(report.regions)
    if report.preview:
        lines += preview_lines(report.preview)
    if report.rss:
        r = report.rss
        lines.append(
            (f"peak RSS, default render at {r['size']} px (subprocess)", r.get("error") or f"{r['peak_rss_mb']:.0f} MB")
        )
    lines += clip_lines(report.clip)
    if report.assembly:
        a = report.assembly
        lines.append(
            (
                "assembly (assemble_run) vs plain ffmpeg, same frames",
                a.get("error")
                or (
                    f"{a['ours_seconds']:.1f} s vs {a['plain_ffmpeg_seconds']:.1f} s ({a['ratio']:.1f}x; "
                    f"{a['frames']} frames → {a['video_seconds']:g} s {a['resolution']} at {a['fps']} fps)"
                ),
            )
        )
    return lines


def _per_size_rows(report: BenchReport) -> list[list[str]]:
    return [
        [
            f"{r.width}x{r.height}",
            f"{r.floor_s:.3f}",
            f"{r.ours_s:.3f}",
            f"{r.baseline_s:.3f}",
            f"{r.ours_over_floor:.2f}x",
            f"{r.baseline_over_ours:.2f}x",
        ]
        for r in report.rows
    ]


_SIZE_HEADERS = ["size", "floor s/eval", "ours s/eval", "baseline s/eval", "ours/floor", "baseline/ours"]
_TILING_HEADERS = ["size", "mode", "tiles", "peak RSS (plan)", "s/iteration", "tiled/untiled"]


def to_table(report: BenchReport) -> list[Table | str]:
    """Rich tables: per-size times and ratios, detailed figures, the targets."""
    m = report.machine
    sizes = Table(title=f"per evaluation ({m['cpu']}, {m['threads']} threads, ours in {m['precision']})")
    for header in _SIZE_HEADERS:
        sizes.add_column(header, justify="right")
    for row in _per_size_rows(report):
        sizes.add_row(*row)
    details = Table(title=f"at {report.settings['target_size']} px", show_header=False)
    details.add_column("what")
    details.add_column("figure")
    for what, figure in _detail_lines(report):
        details.add_row(what, figure)
    tables: list[Table] = []
    if report.tiling:
        tiling = Table(
            title=f"tiled vs untiled ({report.settings['tiling_iterations']} iterations, each in a subprocess)"
        )
        for header in _TILING_HEADERS:
            tiling.add_column(header, justify="right")
        for row in tiling_rows(report.tiling):
            tiling.add_row(*row)
        tables.append(tiling)
    targets = Table(title="targets")
    for header in ("target", "measured", "goal", "met"):
        targets.add_column(header)
    for t in report.targets:
        targets.add_row(t["what"], t["measured"], t["target"], _met(t["met"]))
    first = [] if report.settings.get("clip_only") else [sizes]  # the clip study alone measures no sizes
    return [*first, details, *tables, targets, *(f"note: {note}" for note in report.notes)]


def to_markdown(report: BenchReport) -> str:
    """The same tables as Markdown, for the documentation's Performance page (docs/performance.md)."""
    m = report.machine
    lines = [
        f"Measured on {m['cpu']} ({m['threads']} threads, torch {m['torch']}, ours in {m['precision']}), "
        f"{report.settings['iterations']} iterations, weights: {report.settings['weights']}.",
    ]
    if not report.settings.get("clip_only"):  # the clip study alone measures no sizes
        lines += ["", "| " + " | ".join(_SIZE_HEADERS) + " |", "|" + "---:|" * len(_SIZE_HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in _per_size_rows(report)]
    lines += ["", f"| at {report.settings['target_size']} px | |", "|---|---|"]
    lines += [f"| {what} | {figure} |" for what, figure in _detail_lines(report)]
    if report.tiling:
        lines += ["", "| " + " | ".join(_TILING_HEADERS) + " |", "|" + "---:|" * len(_TILING_HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in tiling_rows(report.tiling)]
    lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['measured']} | {t['target']} | {_met(t['met'])} |" for t in report.targets]
    lines += [f"\nNote: {note}" for note in report.notes]
    return "\n".join(lines)


def _met(met: bool | None) -> str:
    return "n/a" if met is None else "yes" if met else "no"


def machine_info(precision: str) -> dict[str, Any]:
    import torch

    from timelapse_nst.engine.devices import cpu_name

    # The load average says whether other processes competed for the cores during the run.
    return {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "precision": precision,
        "load_average_at_start": load_average(),
    }


def load_average() -> float:
    """The 1-minute load average: psutil's, since Windows has no ``os.getloadavg``."""
    import psutil

    return round(psutil.getloadavg()[0], 2)


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
