"""``timelapse-nst bench``: our renderer measured side by side with the floor and the seed's way.

Everything runs in one process, at the same sizes and iteration counts, and is reported as
ratios, because a shared machine is noisy and absolute seconds are not comparable across runs:

- floor: bare VGG19 forward+backward to the deepest layer in use, at the precision in use
  (weights stored in that precision, channels_last, in-place ReLUs, nothing else);
- baseline: the seed (gordicaleksa/pytorch-neural-style-transfer) as written there: fp32, NCHW,
  the network run to relu5_1, one ``LBFGS(max_iter=N, line_search_fn="strong_wolfe").step``,
  a synchronous JPEG save in every evaluation; rewritten below, same loss definitions as ours;
- ours: ``api.render`` into a temporary run folder (frames, log, checkpoints: the real path).

Per-evaluation times are medians of the intervals between consecutive evaluations (ours:
between consecutive iterations, which include capture, log and checkpoint work), after one
warm-up interval. The floor is measured inside each run, between iterations and off the clock,
and baseline/ours divides each run by its own floor, so a change of load from other processes
between runs cancels out. Objectives that are compared are always recomputed in fp32 by one evaluator.
torch is imported inside the functions, so ``timelapse-nst --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from timelapse_nst.errors import UserError

if TYPE_CHECKING:
    import torch

    from timelapse_nst.config import RenderConfig

__all__ = ["BenchSettings", "bench_command", "run_bench", "to_markdown", "to_table"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The targets (issue 5), checked in the report.
TARGET_BASELINE_OVER_OURS = 2.0
TARGET_OURS_OVER_FLOOR = 1.10
TARGET_CAPTURE_OVERHEAD = 0.03
TARGET_REACH_FRACTION = 0.35
TARGET_RSS_MB = 2048.0
TARGET_PRECISION_GAP = 0.01
# Ours may run this many times the baseline's iterations when measuring the time to reach it.
REACH_BUDGET = 3

Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    """What to measure. ``target_size`` gets the detailed figures (A/B runs, convergence)."""

    sizes: tuple[int, ...] = (128, 256, 384)
    iterations: int = 40
    target_size: int = 256
    ab_iterations: int = 12
    ab_rounds: int = 5
    rss_size: int = 512
    rss_iterations: int = 6
    video_seconds: float = 6.0
    video_resolution: str | None = None  # None: the preset's own (1080p)
    weights: str = "random"
    content: Path = EXAMPLES / "tubingen.jpg"
    style: Path = EXAMPLES / "starry_night.jpg"

    @classmethod
    def quick(cls, weights: str = "random") -> BenchSettings:
        return cls(
            sizes=(128,),
            iterations=8,
            target_size=128,
            ab_iterations=4,
            ab_rounds=2,
            rss_iterations=2,
            video_seconds=2.0,
            weights=weights,
        )


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
    precision: dict[str, Any] = field(default_factory=dict)
    overheads: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, Any] = field(default_factory=dict)
    assembly: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


# -- the command ----------------------------------------------------------------------------


def bench_command(
    sizes: Annotated[str, typer.Option(help="Comma-separated long edges in pixels.")] = "128,256,384",
    iterations: Annotated[int, typer.Option(min=2, help="Iterations per run (baseline and ours alike).")] = 40,
    target_size: Annotated[
        int, typer.Option(min=64, help="Size for the detailed figures (overheads, convergence, bf16 vs fp32).")
    ] = 256,
    rss_size: Annotated[int, typer.Option(min=64, help="Size of the peak-memory run (in a subprocess).")] = 512,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run in under a minute (128 px, 8 iterations).")
    ] = False,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the figures to this JSON file.")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the tables as Markdown (for the README).")
    ] = False,
    weights: Annotated[
        str, typer.Option(help="VGG19 weights: random (timing only), torchvision, or a .pth PATH.")
    ] = "random",
) -> None:
    """Measure our renderer against the bare-network floor and the seed's algorithm, side by side.

    Prints per-evaluation times and ratios at each size, then capture and checkpoint overheads,
    time to reach the baseline's objective, bf16 vs fp32, peak memory and assembly time.

    Example: timelapse-nst bench --quick --json bench.json
    """
    if quick:
        settings = BenchSettings.quick(weights)
    else:
        settings = BenchSettings(
            sizes=_parse_sizes(sizes),
            iterations=iterations,
            target_size=target_size,
            rss_size=rss_size,
            weights=weights,
        )
    err = Console(stderr=True, highlight=False)
    report = run_bench(settings, say=lambda message: err.print(f"[dim]bench:[/dim] {message}"))
    if markdown:
        print(to_markdown(report))
    else:
        Console(highlight=False).print(*to_table(report))
    if json_path is not None:
        try:
            json_path.write_text(report.to_json() + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {json_path}: {exc.strerror or exc}") from None


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"--sizes '{text}': expected comma-separated integers, e.g. 128,256,384") from None
    if not sizes or any(not 64 <= size <= 4096 for size in sizes):
        raise UserError(f"--sizes '{text}': each size must be between 64 and 4096 pixels")
    return sizes


# -- the whole benchmark --------------------------------------------------------------------


def run_bench(settings: BenchSettings, *, say: Say = lambda message: None) -> BenchReport:
    """Run every measurement of ``settings`` and return the figures (no printing besides ``say``)."""
    from timelapse_nst.devices import autocast_dtype, pick_device, precision_name
    from timelapse_nst.weights import load_vgg19_features

    started = time.monotonic()
    for path in (settings.content, settings.style):
        if not path.is_file():
            raise UserError(f"bench input {path} is missing (the examples/ folder of the repository)")
    config = _config(settings, settings.target_size)
    dtype = autocast_dtype(config.precision, pick_device(config.device))
    report = BenchReport(machine=_machine(precision_name(dtype)), settings=_jsonable(asdict(settings)))
    with tempfile.TemporaryDirectory(prefix="timelapse-nst-bench-") as tmp:
        work = Path(tmp)
        # 1. Peak memory first: RUSAGE_CHILDREN is a maximum over every child so far.
        say(f"peak memory at {settings.rss_size} px (subprocess)")
        report.rss = _measure_rss(settings, work)
        vgg = load_vgg19_features(settings.weights, seed=config.seed)
        # 2. Per-evaluation time at every size; the target size keeps its run folder and images.
        target_run: _OursRun | None = None
        target_baseline: _BaselineRun | None = None
        for size in settings.sizes:
            say(f"{size} px: floor, ours, baseline ({settings.iterations} iterations each)")
            row, ours, baseline = _compare_at(settings, size, vgg, dtype, work)
            report.rows.append(row)
            if size == settings.target_size:
                target_run, target_baseline = ours, baseline
        if target_run is None or target_baseline is None:
            say(f"{settings.target_size} px: ours and baseline for the detailed figures")
            _, target_run, target_baseline = _compare_at(settings, settings.target_size, vgg, dtype, work)
        evaluator = _Fp32Objective(vgg, settings)
        # 3. bf16 (or whatever auto picked) against fp32, same iterations.
        # A section that fails (e.g. a render whose loss diverges) becomes a note, not a crash.
        say("precision: the same render in fp32")
        report.precision = _guard(
            report, "precision", lambda: _precision(settings, work, target_run, dtype, evaluator), {}
        )
        # 4. Coarse-to-fine and time to reach the baseline's objective.
        say("multi-scale render and time to reach the baseline's objective")
        report.convergence = _guard(
            report, "convergence", lambda: _convergence(settings, work, target_baseline, evaluator), None
        )
        # 5. Capture and checkpoint overheads, interleaved A/B/C runs.
        say(f"capture and checkpoint overheads ({settings.ab_rounds} interleaved rounds)")
        report.overheads = _guard(report, "overheads", lambda: _overheads(settings, work, target_run), {})
        # 6. Assembly against a plain ffmpeg command on the same frames.
        say("assembly vs plain ffmpeg")
        report.assembly = _assembly(settings, target_run.root, work)
    report.targets = _targets(report)
    report.machine["load_average_at_end"] = round(os.getloadavg()[0], 2)
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


def _config(settings: BenchSettings, size: int, **extra: Any) -> RenderConfig:
    """The default render (the CLI's default preset) at ``size`` with the bench's iterations."""
    from timelapse_nst import presets

    data: dict[str, Any] = {"size": size, "optimizer": {"iterations": settings.iterations}}
    return presets.resolve("classic", extra=_merge(data, extra))


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# -- inputs ---------------------------------------------------------------------------------


def _inputs(settings: BenchSettings, config: RenderConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style tensors exactly as ``api.render`` prepares them at ``config.size``."""
    from timelapse_nst.images import load_image, resize_long_edge, resize_style, to_tensor

    content = resize_long_edge(load_image(settings.content), config.size)
    style = resize_style(load_image(settings.style), content.size, config.style_scale)
    return to_tensor(content), to_tensor(style)


# -- (a) the floor --------------------------------------------------------------------------


def _floor_network(vgg: torch.nn.Sequential, config: RenderConfig, dtype: torch.dtype | None) -> torch.nn.Sequential:
    import copy

    import torch

    from timelapse_nst.config import VGG19_LAYERS

    bare = copy.deepcopy(vgg[: VGG19_LAYERS.index(config.layers.deepest()) + 1])
    bare = bare.to(memory_format=torch.channels_last)
    return bare.to(dtype) if dtype is not None else bare


def _floor_times(bare: torch.nn.Sequential, image: torch.Tensor, repeats: int) -> list[float]:
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


# -- (b) the seed-faithful baseline ---------------------------------------------------------


@dataclass
class _BaselineRun:
    seconds: float
    evaluations: int
    intervals: list[float]
    image: torch.Tensor  # final image, 0..255 (the seed's normalised image plus the mean)


class _SeedVgg19:
    """The seed's Vgg19 wrapper: fp32, NCHW, run through relu5_1, returns the chosen layers."""

    def __init__(self, vgg: torch.nn.Sequential, names: Sequence[str]) -> None:
        import copy

        from torch import nn

        from timelapse_nst.config import VGG19_LAYERS

        modules = copy.deepcopy(vgg[: VGG19_LAYERS.index("relu5_1") + 1])
        # The seed keeps ReLU outputs, so its in-place ReLUs are harmless there; our layer set
        # also keeps conv outputs, which an in-place ReLU would overwrite.
        self.modules = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in modules]
        self.names = [VGG19_LAYERS[i] for i in range(len(self.modules))]
        self.wanted = list(names)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = {}
        for name, module in zip(self.names, self.modules, strict=False):
            x = module(x)
            if name in self.wanted:
                out[name] = x
        return [out[name] for name in self.wanted]


def _seed_gram(x: torch.Tensor) -> torch.Tensor:
    b, ch, h, w = x.size()
    features = x.view(b, ch, w * h)
    return features.bmm(features.transpose(1, 2)) / (ch * h * w)


def _seed_total_variation(y: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.sum(torch.abs(y[:, :, :, :-1] - y[:, :, :, 1:])) + torch.sum(
        torch.abs(y[:, :, :-1, :] - y[:, :, 1:, :])
    )


def _run_baseline(
    vgg: torch.nn.Sequential,
    config: RenderConfig,
    content: torch.Tensor,
    style: torch.Tensor,
    iterations: int,
    dump: Path,
    *,
    between: Callable[[int], None] | None = None,
) -> _BaselineRun:
    import numpy as np
    import torch
    from PIL import Image

    from timelapse_nst.features import IMAGENET_MEAN_255

    mean = torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1)
    content_layer = config.layers.content[0]
    style_layers = [name for name, weight in config.layers.style.items() if weight > 0]
    net = _SeedVgg19(vgg, [content_layer, *style_layers])
    weights = {name: float(getattr(config.weights, name).at(0, iterations)) for name in ("content", "style", "tv")}
    # 1. Targets (as the seed: normalised images, no grad).
    with torch.no_grad():
        target_content = net(content - mean)[0].squeeze(0)
        target_grams = [_seed_gram(x) for x in net(style - mean)[1:]]
    optimizing = (content - mean).clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS((optimizing,), max_iter=iterations, line_search_fn="strong_wolfe")
    dump.mkdir(parents=True, exist_ok=True)
    stamps: list[tuple[float, float]] = []  # (closure entered, ``between`` done): the gap is off the clock

    def closure() -> torch.Tensor:
        entered = time.perf_counter()
        if between is not None:
            between(len(stamps))
        stamps.append((entered, time.perf_counter()))
        if torch.is_grad_enabled():
            optimizer.zero_grad()
        # 2. The seed's build_loss.
        maps = net(optimizing)
        content_loss = torch.nn.MSELoss(reduction="mean")(target_content, maps[0].squeeze(0))
        style_loss = 0.0
        for gram_gt, gram_hat in zip(target_grams, [_seed_gram(x) for x in maps[1:]], strict=False):
            style_loss += torch.nn.MSELoss(reduction="sum")(gram_gt[0], gram_hat[0])
        style_loss /= len(target_grams)
        tv_loss = _seed_total_variation(optimizing)
        total = weights["content"] * content_loss + weights["style"] * style_loss + weights["tv"] * tv_loss
        if total.requires_grad:
            total.backward()
        # 3. The seed's save_and_maybe_display: a synchronous JPEG every evaluation.
        with torch.no_grad():
            pixels = optimizing.squeeze(0).cpu().detach().numpy()
            pixels = np.moveaxis(pixels, 0, 2) + np.array(IMAGENET_MEAN_255).reshape((1, 1, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(dump / f"{len(stamps):04d}.jpg", quality=95)
        return total

    began = time.perf_counter()
    optimizer.step(closure)
    ended = time.perf_counter()
    intervals = [b[0] - a[1] for a, b in zip(stamps, [*stamps[1:], (ended, ended)], strict=False)]
    seconds = stamps[0][0] - began + sum(intervals)
    return _BaselineRun(seconds, len(stamps), intervals, (optimizing.detach() + mean).clone())


# -- (c) ours, through the real code path ---------------------------------------------------


@dataclass
class _OursRun:
    root: Path
    config: Any
    stamps: list[tuple[int, int, float, float]]  # (iteration, scale, hook entered, hook left)
    images: dict[int, torch.Tensor]  # full-size images after each iteration (when recorded)
    final: torch.Tensor

    def _durations(self) -> list[tuple[int, int, float]]:
        """(iteration, scale, seconds) per iteration, the bench hook's own time left out."""
        return [
            (i, scale, entered - previous[3])
            for previous, (i, scale, entered, _) in zip(self.stamps, self.stamps[1:], strict=False)
        ]

    def intervals(self) -> list[float]:
        """Seconds of each full-size iteration after the first (the first warms up)."""
        last_scale = self.stamps[-1][1]
        return [seconds for _, scale, seconds in self._durations() if scale == last_scale][1:]

    def seconds_until(self, iteration: int) -> float:
        elapsed = 0.0
        for i, _, seconds in self._durations():
            elapsed += seconds
            if i == iteration:
                return elapsed
        raise ValueError(f"iteration {iteration} was not run")


def _run_ours(
    settings: BenchSettings,
    config: RenderConfig,
    out: Path,
    *,
    record: bool = False,
    between: Callable[[int], None] | None = None,
) -> _OursRun:
    """``api.render`` with a timing hook; ``between(iteration)`` runs inside it, off the clock
    (the floor is measured there, so both see the same load from other processes)."""
    from timelapse_nst import api
    from timelapse_nst.optimize import Step, plan_scales

    last_scale = len(plan_scales(config)) - 1
    stamps: list[tuple[int, int, float, float]] = []
    images: dict[int, Any] = {}

    def recorder(step: Step) -> None:
        entered = time.perf_counter()
        if record and step.scale == last_scale:  # the last scale is the full size
            images[step.iteration] = step.image.detach().clone()
        if between is not None:
            between(step.iteration)
        stamps.append((step.iteration, step.scale, entered, time.perf_counter()))

    api.render(
        settings.content,
        settings.style,
        out=out,
        config=config,
        weights=settings.weights,
        make_video=False,
        hooks=[recorder],
    )
    return _OursRun(out, config, stamps, images, _final_image(out))


def _final_image(run: Path) -> torch.Tensor:
    from timelapse_nst.images import load_image, to_tensor

    return to_tensor(load_image(run / "final.png"))


def _compare_at(
    settings: BenchSettings, size: int, vgg: torch.nn.Sequential, dtype: torch.dtype | None, work: Path
) -> tuple[SizeRow, _OursRun, _BaselineRun]:
    """Floor, ours and baseline at one size, the floor measured between the others."""
    config = _config(settings, size)
    content, style = _inputs(settings, config)
    bare = _floor_network(vgg, config, dtype)
    _floor_times(bare, content, 1)  # warm-up
    floors: dict[str, list[float]] = {"ours": [], "baseline": []}

    def floor_between(into: str) -> Callable[[int], None]:
        def measure(count: int) -> None:  # every other iteration/evaluation, off the clock
            if count % 2 == 1:
                floors[into].extend(_floor_times(bare, content, 1))

        return measure

    ours = _run_ours(
        settings, config, work / f"ours-{size}", record=size == settings.target_size, between=floor_between("ours")
    )
    baseline = _run_baseline(
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


# -- the common fp32 evaluator --------------------------------------------------------------


class _Fp32Objective:
    """The objective of an image at the target size, always in fp32 (for fair comparisons)."""

    def __init__(self, vgg: torch.nn.Sequential, settings: BenchSettings, *, dtype: torch.dtype | None = None) -> None:
        from timelapse_nst.features import VGGFeatures
        from timelapse_nst.objective import Objective

        config = _config(settings, settings.target_size)
        content, style = _inputs(settings, config)
        features = VGGFeatures(vgg, [*config.layers.content, *config.layers.style], pooling=config.pooling)
        self.vgg, self.settings = vgg, settings
        self.objective = Objective(features, config.layers, content, style, autocast_dtype=dtype)
        self.weights = {name: float(getattr(config.weights, name).at(0, 1)) for name in ("content", "style", "tv")}

    def __call__(self, image: torch.Tensor) -> float:
        import torch

        with torch.inference_mode():
            total, _ = self.objective(image, self.weights)
        return float(total)

    def first_reaching(self, run: _OursRun, threshold: float) -> tuple[int | None, float]:
        """The first recorded iteration at or below ``threshold`` (None if never) and the best seen."""
        best = float("inf")
        for iteration in sorted(run.images):
            value = self(run.images[iteration])
            best = min(best, value)
            if value <= threshold:
                return iteration, best
        return None, best


# -- detailed figures at the target size ----------------------------------------------------


def _precision(
    settings: BenchSettings, work: Path, default: _OursRun, dtype: torch.dtype | None, evaluator: _Fp32Objective
) -> dict[str, Any]:
    """Final fp32 objective of the default (low-precision) render against the same render in fp32."""
    from timelapse_nst.devices import precision_name

    low = default
    if dtype is None:  # auto chose fp32 here: compare an explicit bf16 render instead
        low = _run_ours(settings, _config(settings, settings.target_size, precision="bf16"), work / "ours-bf16")
    fp32 = _run_ours(settings, _config(settings, settings.target_size, precision="fp32"), work / "ours-fp32")
    low_value, fp32_value = evaluator(low.final), evaluator(fp32.final)
    # The precision error alone, without two trajectories drifting apart: one image, two evaluators.
    low_evaluator = _Fp32Objective(evaluator.vgg, evaluator.settings, dtype=dtype or _bf16())
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


def _bf16() -> torch.dtype:
    import torch

    return torch.bfloat16


def _convergence(settings: BenchSettings, work: Path, baseline: _BaselineRun, evaluator: _Fp32Objective) -> Convergence:
    from timelapse_nst.optimize import plan_scales

    # What counts is the time to reach the baseline's objective, so ours may run longer than the
    # baseline's iteration count (it stops mattering once reached).
    budget = {"iterations": REACH_BUDGET * settings.iterations}
    single = _run_ours(
        settings, _config(settings, settings.target_size, optimizer=budget), work / "ours-reach", record=True
    )

    # Half size to full in steps of √2, 5 iterations each: at 256 px this reached the baseline's
    # objective in 48% of its time, starting at a quarter size in 65% (side by side, one run).
    per_scale, start = 5, 0.5
    config = _config(
        settings,
        settings.target_size,
        optimizer=budget,
        scales={"start": start, "factor": 2**0.5, "iterations": per_scale},
    )
    multi = _run_ours(settings, config, work / "ours-multiscale", record=True)
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


def _overheads(settings: BenchSettings, work: Path, default: _OursRun) -> dict[str, Any]:
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
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(settings.ab_rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotate the order
            config = _config(
                settings, settings.target_size, optimizer={"iterations": settings.ab_iterations}, **variants[name]
            )
            run = _run_ours(settings, config, work / f"ab-{name}-{round_}")
            times[name] += run.intervals()
            shutil.rmtree(run.root, ignore_errors=True)
    # The lower quartile, not the median: other processes only ever add time, and a burst of
    # them during one variant's runs would otherwise decide the comparison.
    median = {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}
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


# -- peak memory (a subprocess) -------------------------------------------------------------


def _measure_rss(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Peak RSS of a default render at ``rss_size`` in a fresh process (not this one's memory)."""
    job = {
        "size": settings.rss_size,
        "iterations": settings.rss_iterations,
        "weights": settings.weights,
        "content": str(settings.content),
        "style": str(settings.style),
        "out": str(work / "rss-run"),
    }
    code = "import sys; from timelapse_nst.bench import _rss_child; _rss_child(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-1:])
        return {"size": settings.rss_size, "error": f"the memory run failed: {tail}"}
    shutil.rmtree(work / "rss-run", ignore_errors=True)
    return {
        "size": settings.rss_size,
        "iterations": settings.rss_iterations,
        "peak_rss_mb": json.loads(done.stdout)["peak_rss_mb"],
    }


def _rss_child(job_json: str) -> None:
    """Inside the subprocess: one default render with checkpoints, then report our own peak."""
    job = json.loads(job_json)
    settings = BenchSettings(
        iterations=job["iterations"], weights=job["weights"], content=Path(job["content"]), style=Path(job["style"])
    )
    config = _config(settings, job["size"], checkpoint={"every_iterations": max(1, job["iterations"] // 2)})
    _run_ours(settings, config, Path(job["out"]))
    print(json.dumps({"peak_rss_mb": _peak_self_mb()}))


def _peak_self_mb() -> float:
    """This process's own peak RSS. On Linux VmHWM: ru_maxrss would include the parent's peak,
    which Linux carries across fork+exec into the child's accounting."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return _kb_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _kb_to_mb(value: int) -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    return round(value / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


# -- assembly vs plain ffmpeg ---------------------------------------------------------------


def _assembly(settings: BenchSettings, run: Path, work: Path) -> dict[str, Any]:
    """Our assembly of a run folder against one plain ffmpeg command with the same output shape."""
    try:
        from timelapse_nst.assembly import assemble_run
        from timelapse_nst.assembly.settings import parse_resolution
    except ImportError as exc:  # assembly is another engineer's module; report, don't fail
        return {"error": f"assembly unavailable: {exc}"}
    overrides: dict[str, object] = {"duration": settings.video_seconds}
    if settings.video_resolution is not None:
        overrides["resolution"] = settings.video_resolution
    frames = sorted((run / "frames").glob("[0-9]*.png"))
    try:
        began = time.perf_counter()
        video = assemble_run(run, overrides=overrides)
        ours = time.perf_counter() - began
    except Exception as exc:
        return {"error": f"assemble_run failed: {type(exc).__name__}: {exc}"}
    from timelapse_nst.assembly import video_settings
    from timelapse_nst.run import RunFolder

    video_config = video_settings(RunFolder(run).read_manifest()["config"].get("video", {}), overrides)
    width, height = parse_resolution(video_config.resolution or "1080p")
    plain = _plain_ffmpeg(
        frames,
        work / "plain",
        (width, height),
        video_config.fps,
        settings.video_seconds,
        crf=video_config.crf,
        preset=video_config.preset,
    )
    return {
        "frames": len(frames),
        "video_seconds": settings.video_seconds,
        "resolution": f"{width}x{height}",
        "fps": video_config.fps,
        "ours_seconds": ours,
        "plain_ffmpeg_seconds": plain,
        "ratio": ours / plain,
        "ours_video_bytes": video.stat().st_size,
    }


def _plain_ffmpeg(
    frames: Sequence[Path], folder: Path, size: tuple[int, int], fps: int, seconds: float, *, crf: int, preset: str
) -> float:
    """`ffmpeg -framerate R -i %06d.png -vf scale,pad -r FPS -c:v libx264 ...`, timed."""
    import imageio_ffmpeg

    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):  # numbered links: the input pattern needs 0, 1, 2, ...
        try:
            os.link(frame, folder / f"{index:06d}.png")
        except OSError:
            shutil.copy(frame, folder / f"{index:06d}.png")
    width, height = size
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-framerate",
        f"{len(frames) / seconds:.6f}",
        "-i",
        str(folder / "%06d.png"),
        "-vf",
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2",
        "-r",
        str(fps),
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        str(folder / "plain.mp4"),
    ]
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


# -- targets and output ---------------------------------------------------------------------


def _targets(report: BenchReport) -> list[dict[str, Any]]:
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
    conv = report.convergence
    if conv is not None:
        fraction = conv.multi_scale_fraction
        rows.append(
            (
                "multi-scale reaches the baseline's objective in",
                "not reached" if fraction is None else f"{fraction:.0%} of its time",
                f"<= {TARGET_REACH_FRACTION:.0%}",
                fraction is not None and fraction <= TARGET_REACH_FRACTION,
            )
        )
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
    lines: list[tuple[str, str]] = []
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
    if report.rss:
        r = report.rss
        lines.append(
            (f"peak RSS, default render at {r['size']} px (subprocess)", r.get("error") or f"{r['peak_rss_mb']:.0f} MB")
        )
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


def to_table(report: BenchReport) -> list[Table | str]:
    """Rich tables: per-size times and ratios, detailed figures, the issue's targets."""
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
    targets = Table(title="issue 5 targets")
    for header in ("target", "measured", "goal", "met"):
        targets.add_column(header)
    for t in report.targets:
        targets.add_row(t["what"], t["measured"], t["target"], _met(t["met"]))
    return [sizes, details, targets, *(f"note: {note}" for note in report.notes)]


def to_markdown(report: BenchReport) -> str:
    """The same tables as Markdown, for the README's Performance section."""
    m = report.machine
    lines = [
        f"Measured on {m['cpu']} ({m['threads']} threads, torch {m['torch']}, ours in {m['precision']}), "
        f"{report.settings['iterations']} iterations, weights: {report.settings['weights']}.",
        "",
        "| " + " | ".join(_SIZE_HEADERS) + " |",
        "|" + "---:|" * len(_SIZE_HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _per_size_rows(report)]
    lines += ["", f"| at {report.settings['target_size']} px | |", "|---|---|"]
    lines += [f"| {what} | {figure} |" for what, figure in _detail_lines(report)]
    lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['measured']} | {t['target']} | {_met(t['met'])} |" for t in report.targets]
    lines += [f"\nNote: {note}" for note in report.notes]
    return "\n".join(lines)


def _met(met: bool | None) -> str:
    return "n/a" if met is None else "yes" if met else "no"


def _machine(precision: str) -> dict[str, Any]:
    import torch

    # The load average says whether other processes competed for the cores during the run.
    return {
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "precision": precision,
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
