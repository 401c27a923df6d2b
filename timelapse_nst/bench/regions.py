"""What a style per region and a reveal cost a render per iteration (goal: at most +5% each).

Three variants of the default render at the target size, side by side in interleaved rounds that
rotate their order (no capture, no checkpoints):

    plain      one painting over the whole canvas
    masks      two paintings, each on one half (masks of the left and right halves); the photo
               stands in for the second painting (the cost does not depend on what it shows)
    reveal     one painting, swept in from the left (``reveal: left-to-right``, its default steps)

A variant's figure is the lower quartile of its seconds per evaluation (an iteration's time over
its evaluations: other processes only ever add time). The reveal also costs evaluations: one
more each time its guide moves (``reveal.steps`` times in a render), which the short runs here
cannot show at their real rate; it is counted for the classic preset's render, and the goal row
is the two together.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path
from typing import Any

from timelapse_nst.bench.ours import bench_config, run_ours
from timelapse_nst.bench.settings import BenchSettings

TARGET_REGIONS_OVERHEAD = 0.05


def halves(work: Path, size: tuple[int, int]) -> list[Path]:
    """Masks of the left and right halves of a (width, height) canvas, written into ``work``."""
    from PIL import Image

    width, height = size
    left = Image.new("L", size, 0)
    left.paste(255, (0, 0, width // 2, height))
    paths = [work / "bench-left.png", work / "bench-right.png"]
    left.save(paths[0])
    left.point(lambda value: 255 - value).save(paths[1])
    return paths


def measure_regions(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Seconds per evaluation of the three variants, their overheads, and the reveal's whole cost."""
    from timelapse_nst.images import load_image
    from timelapse_nst.settings import presets
    from timelapse_nst.settings.regions import Reveal

    masks = halves(work, load_image(settings.content).size)
    quiet = {
        "optimizer": {"iterations": settings.ab_iterations},
        "capture": {"spacing": "every", "every": 10**9},
        "checkpoint": {"every_iterations": None, "every_seconds": None},
    }
    variants: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "plain": ({}, {}),
        "masks": ({}, {"extra_styles": [settings.content], "masks": masks}),
        "reveal": ({"reveal": {"kind": "left-to-right"}}, {}),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(settings.ab_rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotate the order
            extra, render = variants[name]
            config = bench_config(settings, settings.target_size, **quiet, **extra)
            run = run_ours(settings, config, work / f"regions-{name}-{round_}", **render)
            times[name] += run.per_evaluation()
            shutil.rmtree(run.root, ignore_errors=True)
    seconds = {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}
    overhead = {name: seconds[name] / seconds["plain"] - 1 for name in names if name != "plain"}
    steps, iterations = Reveal(kind="left-to-right").steps, presets.resolve("classic").optimizer.iterations
    evaluations = steps / iterations  # one more per step of the guide (loop.Painter._follow_schedules)
    return {
        "size": settings.target_size,
        "iterations": settings.ab_iterations,
        "rounds": settings.ab_rounds,
        "seconds_per_evaluation": seconds,
        "overhead": overhead,
        "reveal_steps": steps,
        "reveal_render_iterations": iterations,
        "reveal_total": (1 + overhead["reveal"]) * (1 + evaluations) - 1,
    }


# -- report parts ---------------------------------------------------------------------------


def regions_targets(regions: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    masks, reveal = regions["overhead"]["masks"], regions["reveal_total"]
    goal = f"<= +{TARGET_REGIONS_OVERHEAD:.0%}"
    return [
        ("two masked styles cost", f"{masks:+.1%} per iteration", goal, masks <= TARGET_REGIONS_OVERHEAD),
        (
            f"a reveal costs (its {regions['reveal_steps']} steps in a {regions['reveal_render_iterations']}-iteration render)",
            f"{reveal:+.1%} per iteration",
            goal,
            reveal <= TARGET_REGIONS_OVERHEAD,
        ),
    ]


def regions_lines(regions: dict[str, Any]) -> list[tuple[str, str]]:
    seconds, overhead = regions["seconds_per_evaluation"], regions["overhead"]
    figures = " / ".join(f"{seconds[name]:.3f} s" for name in seconds)
    extra = regions["reveal_steps"] / regions["reveal_render_iterations"]
    return [
        (
            f"plain / two masked styles / a reveal, per evaluation ({regions['rounds']} interleaved rounds)",
            f"{figures} (masks {overhead['masks']:+.1%}, reveal {overhead['reveal']:+.1%}); the reveal's "
            f"{regions['reveal_steps']} extra evaluations add {extra:+.1%}: {regions['reveal_total']:+.1%} in all",
        )
    ]
