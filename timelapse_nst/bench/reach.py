"""Time for our default render to reach the quality of the seed's final image, as a fraction of the seed's time.

At each size, in one process, with the same network weights and inputs:

- the seed's algorithm (``baseline.run_baseline``) for its N iterations, every evaluation's image
  recorded off the clock; the quality to reach is its final image's score;
- our default render (``ours.run_ours``), every full-size iterate scored off the clock; it stops
  once it has reached that score and gone a little further (``REACH_MARGIN``), or at
  ``REACH_BUDGET`` times the seed's iterations.

Every image is scored as saved: clamped to 0..255 and rounded to 8 bits, then the seed's objective
(exact TV) in fp32 (``Fp32Objective``). Seconds leave out the bench's own copies and scoring.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from timelapse_nst.atomic import atomic_path
from timelapse_nst.bench.baseline import run_baseline
from timelapse_nst.bench.ours import Fp32Objective, bench_config, bench_inputs, run_ours
from timelapse_nst.bench.settings import REACH_BUDGET, BenchSettings

if TYPE_CHECKING:
    import torch

# After reaching the seed's score, ours goes on this fraction of its iterations so far (at least 2).
REACH_MARGIN = 0.15
# The goal: ours reaches the seed's final quality in at most this fraction of the seed's time.
TARGET_REACH_FRACTION = 0.35

Curve = list[tuple[float, float]]  # (seconds, score of the saved image)


@dataclass
class Reach:
    size: int
    width: int
    height: int
    seed_iterations: int
    seed_evaluations: int
    seed_seconds: float
    seed_final: float  # the score to reach
    ours_seconds: float | None  # until ours first scored at or below it (None: not within the budget)
    ours_iterations: int | None
    best: float  # ours' best score
    seed_curve: Curve
    ours_curve: Curve

    @property
    def fraction(self) -> float | None:
        return None if self.ours_seconds is None else self.ours_seconds / self.seed_seconds


def measure_reach(settings: BenchSettings, vgg: torch.nn.Sequential, size: int, work: Path) -> Reach:
    """The seed's ``settings.reach_iterations`` against our default render at ``size``."""
    iterations = settings.reach_iterations
    config = bench_config(settings, size, optimizer={"iterations": REACH_BUDGET * iterations})
    content, style = bench_inputs(settings, config)
    score = Fp32Objective(vgg, settings, size=size)
    # 1. The seed first: its final score is where ours may stop.
    seed_config = bench_config(settings, size, optimizer={"iterations": iterations})
    seed = run_baseline(vgg, seed_config, content, style, iterations, work / f"reach-seed-{size}", record=True)
    shutil.rmtree(work / f"reach-seed-{size}", ignore_errors=True)
    seed_final = score(seed.image)
    seed_curve = [(0.0, score(content))]
    seed_curve += [(t, score(image)) for t, image in zip(seed.saved_at, seed.images, strict=True)]
    seed_curve.append((seed.seconds, seed_final))
    # 2. Ours, scored as it goes (off the clock), until a little past the seed's score.
    scores: dict[int, float] = {}
    reached: list[int] = []

    def stop(iteration: int, image: torch.Tensor) -> bool:
        scores[iteration] = score(image)
        if not reached and scores[iteration] <= seed_final:
            reached.append(iteration)
        return bool(reached) and iteration >= reached[0] + max(2, math.ceil(REACH_MARGIN * reached[0]))

    ours = run_ours(settings, config, work / f"reach-ours-{size}", stop=stop)
    shutil.rmtree(ours.root, ignore_errors=True)
    ours_curve = [(ours.seconds_until(i), value) for i, value in sorted(scores.items())]
    return Reach(
        size=size,
        width=int(content.shape[-1]),
        height=int(content.shape[-2]),
        seed_iterations=iterations,
        seed_evaluations=seed.evaluations,
        seed_seconds=seed.seconds,
        seed_final=seed_final,
        ours_seconds=ours.seconds_until(reached[0]) if reached else None,
        ours_iterations=reached[0] if reached else None,
        best=min(scores.values()),
        seed_curve=seed_curve,
        ours_curve=ours_curve,
    )


# -- report parts ---------------------------------------------------------------------------


def reach_targets(reaches: list[Reach]) -> list[tuple[str, str, str, bool | None]]:
    """One goal row per size: our seconds to reach the seed's final score over its seconds."""
    rows = []
    for r in reaches:
        fraction = r.fraction
        measured = (
            f"not reached in {REACH_BUDGET}x its iterations"
            if fraction is None
            else f"{r.ours_seconds:.1f} s / {r.seed_seconds:.1f} s = {fraction:.2f}"
        )
        what = f"time to reach the seed's final saved-image objective at {r.size} px, ours/seed"
        rows.append(
            (
                what,
                measured,
                f"<= {TARGET_REACH_FRACTION:.2f}",
                fraction is not None and fraction <= TARGET_REACH_FRACTION,
            )
        )
    return rows


def reach_lines(reaches: list[Reach]) -> list[tuple[str, str]]:
    lines = []
    for r in reaches:
        ours = (
            f"not reached (best {r.best:.4g})"
            if r.ours_seconds is None
            else f"ours {r.ours_seconds:.1f} s (iteration {r.ours_iterations}) = {r.fraction:.0%}"
        )
        lines.append(
            (
                f"reach at {r.width}x{r.height}: seed {r.seed_iterations} iterations "
                f"({r.seed_evaluations} evaluations)",
                f"{r.seed_seconds:.1f} s to {r.seed_final:.4g}; {ours}",
            )
        )
    return lines


def plot_reach(reaches: list[Reach], path: Path) -> Path:
    """Objective of the saved image vs seconds, the seed and ours, one panel per size (a PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * max(1, len(reaches)), 3.8))
    FigureCanvasAgg(figure)
    for index, r in enumerate(reaches, start=1):
        ax = figure.add_subplot(1, max(1, len(reaches)), index)
        for curve, label, color in (
            (r.seed_curve, "seed (every evaluation)", "tab:gray"),
            (r.ours_curve, "ours (every iteration)", "tab:blue"),
        ):
            ax.plot([t for t, _ in curve], [v for _, v in curve], "-", color=color, label=label)
        ax.axhline(r.seed_final, color="tab:red", lw=0.8, ls="--", label="seed's final (to reach)")
        if r.ours_seconds is not None:
            ax.axvline(r.ours_seconds, color="tab:blue", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("seconds")
        ax.set_ylabel("seed objective of the saved 8-bit image")
        reached = "not reached" if r.fraction is None else f"reached in {r.fraction:.2f} of the seed's time"
        ax.set_title(f"{r.width}x{r.height}: {reached}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=110)
    return path
