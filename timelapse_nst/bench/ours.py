"""Ours through the real code path (``api.render``), timed by a hook; the common fp32 evaluator."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timelapse_nst.bench.settings import BenchSettings
from timelapse_nst.settings.presets import deep_merge

if TYPE_CHECKING:
    import torch

    from timelapse_nst.engine.loop import Hook
    from timelapse_nst.settings.config import RenderConfig

# -- inputs ---------------------------------------------------------------------------------


def bench_inputs(settings: BenchSettings, config: RenderConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Content and style tensors exactly as ``api.render`` prepares them at ``config.size``."""
    from timelapse_nst.engine.tensors import to_tensor
    from timelapse_nst.images import load_image, resize_long_edge, resize_style

    content = resize_long_edge(load_image(settings.content), config.size)
    style = resize_style(load_image(settings.style), content.size, config.style_scale)
    return to_tensor(content), to_tensor(style)


# -- (c) ours, through the real code path ---------------------------------------------------


@dataclass
class OursRun:
    root: Path
    config: Any
    stamps: list[tuple[int, int, float, float]]  # (iteration, scale, hook entered, hook left)
    images: dict[int, torch.Tensor]  # full-size images after each iteration (when recorded)
    final: torch.Tensor
    evaluations: dict[int, int] = field(default_factory=dict)  # objective evaluations of each iteration

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

    def per_evaluation(self) -> list[float]:
        """Seconds per objective evaluation of each full-size iteration after the first."""
        last_scale = self.stamps[-1][1]
        timed = [(i, seconds) for i, scale, seconds in self._durations() if scale == last_scale][1:]
        return [seconds / max(1, self.evaluations.get(i, 1)) for i, seconds in timed]

    def seconds_until(self, iteration: int) -> float:
        if iteration == self.stamps[0][0]:  # the first step seen (the initial image): the clock starts there
            return 0.0
        elapsed = 0.0
        for i, _, seconds in self._durations():
            elapsed += seconds
            if i == iteration:
                return elapsed
        raise ValueError(f"iteration {iteration} was not run")


def run_ours(
    settings: BenchSettings,
    config: RenderConfig,
    out: Path,
    *,
    record: bool = False,
    between: Callable[[int], None] | None = None,
    extra_styles: Sequence[Path] = (),
    stop: Callable[[int, torch.Tensor], bool] | None = None,
    **render: Any,
) -> OursRun:
    """``api.render`` with a timing hook; ``between(iteration)`` runs inside it, off the clock
    (the floor is measured there, so both see the same load from other processes).

    ``stop(iteration, image)``, off the clock too, ends the render early after a full-size
    iteration (``final`` is then that iteration's image); ``render`` goes to ``api.render``."""
    from timelapse_nst import api
    from timelapse_nst.engine.loop import Step
    from timelapse_nst.settings.scales import plan_scales

    last_scale = len(plan_scales(config)) - 1
    stamps: list[tuple[int, int, float, float]] = []
    images: dict[int, Any] = {}
    evaluations: dict[int, int] = {}

    def recorder(step: Step) -> None:
        entered = time.perf_counter()
        if record and step.scale == last_scale:  # the last scale is the full size
            images[step.iteration] = step.image.detach().clone()
        evaluations[step.iteration] = step.evaluations
        if between is not None:
            between(step.iteration)
        enough = stop is not None and step.scale == last_scale and stop(step.iteration, step.image)
        stamps.append((step.iteration, step.scale, entered, time.perf_counter()))
        if enough:
            raise _Enough(step.image.detach().clone())

    try:
        api.render(
            settings.content,
            [settings.style, *extra_styles],
            out=out,
            config=config,
            weights=settings.weights,
            make_video=False,
            hooks=[recorder],
            **render,
        )
    except _Enough as enough:
        return OursRun(out, config, stamps, images, enough.image, evaluations)
    return OursRun(out, config, stamps, images, final_image(out), evaluations)


class _Enough(Exception):
    """Raised by the timing hook to end a render that has shown what it had to."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__("enough")
        self.image = image


def final_image(run: Path) -> torch.Tensor:
    from timelapse_nst.engine.tensors import to_tensor
    from timelapse_nst.images import load_image
    from timelapse_nst.runfolder.folder import RunFolder

    return to_tensor(load_image(RunFolder(run).final))


# -- the common fp32 evaluator --------------------------------------------------------------


class Fp32Objective:
    """The seed's objective (its layers, weights and exact TV) of an image as saved (clamped to
    0..255 and rounded to 8 bits), at the target size or ``size``, in fp32 unless ``dtype``."""

    def __init__(
        self,
        vgg: torch.nn.Sequential,
        settings: BenchSettings,
        *,
        dtype: torch.dtype | None = None,
        size: int | None = None,
    ) -> None:
        from timelapse_nst.engine.features import VGGFeatures
        from timelapse_nst.engine.objective import Objective, Scheduled

        config = bench_config(settings, size or settings.target_size)
        content, style = bench_inputs(settings, config)
        features = VGGFeatures(vgg, [*config.layers.content, *config.layers.style], pooling=config.pooling)
        self.vgg, self.settings = vgg, settings
        # tv_smoothing is left at 0: the exact TV, whatever the render optimises.
        self.objective = Objective(features, config.layers, content, [style], activation_dtype=dtype)
        self.weights = Scheduled(
            *(float(getattr(config.loss_weights, name).at(0, 1)) for name in ("content", "style", "tv"))
        )

    def __call__(self, image: torch.Tensor) -> float:
        import torch

        with torch.inference_mode():
            total, _ = self.objective(image.detach().float().clamp(0, 255).round(), self.weights)
        return float(total)

    def first_reaching(self, run: OursRun, threshold: float) -> tuple[int | None, float]:
        """The first recorded iteration at or below ``threshold`` (None if never) and the best seen."""
        best = float("inf")
        for iteration in sorted(run.images):
            value = self(run.images[iteration])
            best = min(best, value)
            if value <= threshold:
                return iteration, best
        return None, best


def bench_config(settings: BenchSettings, size: int, **extra: Any) -> RenderConfig:
    """The default render (the CLI's default preset) at ``size`` with the bench's iterations."""
    from timelapse_nst.settings import presets

    data: dict[str, Any] = {"size": size, "optimizer": {"iterations": settings.iterations}}
    return presets.resolve("classic", extra=deep_merge(data, extra))


def render_job(job: dict[str, Any], content: str, config: RenderConfig, hooks: Sequence[Hook]) -> None:
    """A bench subprocess's render of ``content``: the job's painting(s), folder and weights, no video."""
    from timelapse_nst import api

    api.render(
        content, job["style"], out=job["out"], config=config, weights=job["weights"], make_video=False, hooks=hooks
    )
