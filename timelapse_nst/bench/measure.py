"""Per-evaluation times (floor, ours, baseline side by side) and the detailed figures at the target size."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timelapse_nst.bench.baseline import BaselineRun, run_baseline
from timelapse_nst.bench.ours import Fp32Objective, OursRun, bench_config, bench_inputs, run_ours
from timelapse_nst.bench.report import Convergence, SizeRow
from timelapse_nst.bench.settings import REACH_BUDGET, BenchSettings

if TYPE_CHECKING:
    import torch

    from timelapse_nst.settings.config import RenderConfig

# -- (a) the floor --------------------------------------------------------------------------


def floor_network(vgg: torch.nn.Sequential, config: RenderConfig, dtype: torch.dtype | None) -> torch.nn.Sequential:
    import copy

    import torch

    from timelapse_nst.settings.config import VGG19_LAYERS

    bare = copy.deepcopy(vgg[: VGG19_LAYERS.index(config.layers.deepest()) + 1])
    bare = bare.to(memory_format=torch.channels_last)
    return bare.to(dtype) if dtype is not None else bare


def floor_times(bare: torch.nn.Sequential, image: torch.Tensor, repeats: int) -> list[float]:
    """Bare forward + backward to the input image: the least any evaluation can cost."""
    import torch

    dtype = next(bare.parameters()).dtype
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        x = image.clone().requires_grad_(True)
        out = bare(x.to(dtype).contiguous(memory_format=torch.channels_last))
        out.float().sum().backward()
        times.append(time.perf_counter() - began)
    return times


def compare_at(
    settings: BenchSettings, size: int, vgg: torch.nn.Sequential, dtype: torch.dtype | None, work: Path
) -> tuple[SizeRow, OursRun, BaselineRun]:
    """Floor, ours and baseline at one size, the floor measured between the others."""
    config = bench_config(settings, size)
    content, style = bench_inputs(settings, config)
    bare = floor_network(vgg, config, dtype)
    floor_times(bare, content, 1)  # warm-up
    floors: dict[str, list[float]] = {"ours": [], "baseline": []}

    def floor_between(into: str) -> Callable[[int], None]:
        def measure(count: int) -> None:  # every other iteration/evaluation, off the clock
            if count % 2 == 1:
                floors[into].extend(floor_times(bare, content, 1))

        return measure

    ours = run_ours(
        settings, config, work / f"ours-{size}", record=size == settings.target_size, between=floor_between("ours")
    )
    baseline = run_baseline(
        vgg, config, content, style, settings.iterations, work / f"seed-{size}", between=floor_between("baseline")
    )
    shutil.rmtree(work / f"seed-{size}", ignore_errors=True)
    floor_ours, floor_baseline = statistics.median(floors["ours"]), statistics.median(floors["baseline"])
    ours_s = statistics.median(ours.intervals())
    baseline_s = statistics.median(baseline.intervals[1:])
    # Each run is divided by the floor measured inside it, so a change of load between the
    # two runs (other processes on a shared machine) cancels out of baseline/ours.
    row = SizeRow(
        size,
        int(content.shape[-2]),
        int(content.shape[-1]),
        floor_ours,
        ours_s,
        baseline_s,
        ours_s / floor_ours,
        (baseline_s / floor_baseline) / (ours_s / floor_ours),
        baseline.evaluations,
        settings.iterations,
    )
    return row, ours, baseline


# -- detailed figures at the target size ----------------------------------------------------


def measure_precision(
    settings: BenchSettings, work: Path, default: OursRun, dtype: torch.dtype | None, evaluator: Fp32Objective
) -> dict[str, Any]:
    """Final fp32 objective of the default (low-precision) render against the same render in fp32."""
    from timelapse_nst.engine.devices import precision_name

    low = default
    if dtype is None:  # auto chose fp32 here: compare an explicit bf16 render instead
        low = run_ours(settings, bench_config(settings, settings.target_size, precision="bf16"), work / "ours-bf16")
    fp32 = run_ours(settings, bench_config(settings, settings.target_size, precision="fp32"), work / "ours-fp32")
    low_value, fp32_value = evaluator(low.final), evaluator(fp32.final)
    # The precision error alone, without two trajectories drifting apart: one image, two evaluators.
    low_evaluator = Fp32Objective(evaluator.vgg, evaluator.settings, dtype=dtype or bf16())
    same_image_gap = abs(low_evaluator(fp32.final) - fp32_value) / fp32_value
    return {
        "precision": precision_name(dtype) if dtype is not None else "bf16",
        "iterations": settings.iterations,
        "objective_low": low_value,
        "objective_fp32": fp32_value,
        "relative_gap": abs(low_value - fp32_value) / fp32_value,
        "same_image_gap": same_image_gap,
        "seconds_per_iteration_low": statistics.median(low.intervals()),
        "seconds_per_iteration_fp32": statistics.median(fp32.intervals()),
    }


def bf16() -> torch.dtype:
    import torch

    return torch.bfloat16


def measure_convergence(
    settings: BenchSettings, work: Path, baseline: BaselineRun, evaluator: Fp32Objective
) -> Convergence:
    from timelapse_nst.settings.scales import plan_scales

    # What counts is the time to reach the baseline's objective, so ours may run longer than the
    # baseline's iteration count (it stops mattering once reached).
    budget = {"iterations": REACH_BUDGET * settings.iterations}
    single = run_ours(
        settings, bench_config(settings, settings.target_size, optimizer=budget), work / "ours-reach", record=True
    )

    # Half size to full in steps of √2, 5 iterations each: at 256 px this reached the baseline's
    # objective in 48% of its time, starting at a quarter size in 65% (side by side, one run).
    per_scale, start = 5, 0.5
    config = bench_config(
        settings,
        settings.target_size,
        optimizer=budget,
        scales={"start": start, "factor": 2**0.5, "iterations": per_scale},
    )
    multi = run_ours(settings, config, work / "ours-multiscale", record=True)
    threshold = evaluator(baseline.image)
    results = []
    for run in (single, multi):
        reached, best = evaluator.first_reaching(run, threshold)
        seconds = None if reached is None else run.seconds_until(reached)
        results.append((seconds, None if seconds is None else seconds / baseline.seconds, best))
    (s_sec, s_frac, s_best), (m_sec, m_frac, m_best) = results
    return Convergence(
        threshold,
        baseline.seconds,
        s_sec,
        s_frac,
        s_best,
        m_sec,
        m_frac,
        m_best,
        [plan.size for plan in plan_scales(config)],
    )


def measure_overheads(settings: BenchSettings, work: Path, default: OursRun) -> dict[str, Any]:
    """Capture every iteration vs none, checkpoint every iteration vs none: interleaved runs."""
    never = 10**9
    variants = {
        "none": {
            "capture": {"spacing": "every", "every": never},
            "checkpoint": {"every_iterations": None, "every_seconds": None},
        },
        "capture": {
            "capture": {"spacing": "every", "every": 1},
            "checkpoint": {"every_iterations": None, "every_seconds": None},
        },
        "checkpoint": {
            "capture": {"spacing": "every", "every": never},
            "checkpoint": {"every_iterations": 1, "every_seconds": None},
        },
    }
    median = interleaved(settings, work, {name: (extra, ()) for name, extra in variants.items()}, "ab")
    per_checkpoint = max(0.0, median["checkpoint"] - median["none"])
    every = default.config.checkpoint.every_iterations or never
    seconds = default.config.checkpoint.every_seconds
    per_iteration = statistics.median(default.intervals())
    if seconds is not None:
        every = min(every, max(1, int(seconds / per_iteration)))
    return {
        "seconds_per_iteration": median,
        "capture_every_iteration": median["capture"] / median["none"] - 1,
        "checkpoint_every_iteration": median["checkpoint"] / median["none"] - 1,
        "checkpoint_seconds_each": per_checkpoint,
        "checkpoint_default_interval": every,
        "checkpoint_at_default_interval": per_checkpoint / (every * per_iteration),
    }


Variant = tuple[dict[str, Any], Sequence[Path]]  # (config keys on top of the default, extra style images)


def interleaved(settings: BenchSettings, work: Path, variants: dict[str, Variant], tag: str) -> dict[str, float]:
    """Seconds per iteration of each variant, from rounds that rotate their order.

    The lower quartile, not the median: other processes only ever add time, and a burst of them
    during one variant's runs would otherwise decide the comparison.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(settings.ab_rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotate the order
            extra, styles = variants[name]
            config = bench_config(
                settings, settings.target_size, optimizer={"iterations": settings.ab_iterations}, **extra
            )
            run = run_ours(settings, config, work / f"{tag}-{name}-{round_}", extra_styles=styles)
            times[name] += run.intervals()
            shutil.rmtree(run.root, ignore_errors=True)
    return {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}


def measure_controls(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Per-iteration cost of the artist's controls against the default render, side by side:
    keeping the photo's colours (luminance, histogram) and a second painting (the photo itself
    stands in for it: the cost does not depend on what the painting shows)."""
    quiet = {
        "capture": {"spacing": "every", "every": 10**9},
        "checkpoint": {"every_iterations": None, "every_seconds": None},
    }
    variants: dict[str, Variant] = {
        "default": (quiet, ()),
        "luminance": ({**quiet, "color": {"preserve": "luminance"}}, ()),
        "histogram": ({**quiet, "color": {"preserve": "histogram"}}, ()),
        "second_style": (quiet, (settings.content,)),
    }
    seconds = interleaved(settings, work, variants, "controls")
    base = seconds["default"]
    return {
        "seconds_per_iteration": seconds,
        **{name: seconds[name] / base - 1 for name in variants if name != "default"},
    }
