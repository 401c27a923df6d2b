"""What a style per region and a reveal cost a render per iteration (goal: at most +5% each).

Three objectives of the default render at the target size, built as a render builds them
(``rendering.session.objectives``), each evaluated (loss and gradient) in turn, one evaluation at
a time, with the scheduled values of iterations spread over a whole render:

    plain      one painting over the whole canvas
    masks      two paintings, each on one half (masks of the left and right halves); the photo
               stands in for the second painting (the cost does not depend on what it shows)
    reveal     one painting, swept in from the left (``reveal: left-to-right``, its default
               steps): its guides at each moment of the render, the bands of the sweep included

Why evaluations and not whole renders side by side: on a shared machine the slow spells from
other processes last seconds, longer than a short render, and turned a render-level A/B into
anything from -35% to +78% for the same code; evaluations taken in turn see the same spells.
A variant's figure is the lower quartile of its seconds per evaluation (other processes only
ever add time). An iteration's other work (L-BFGS's step, the capture) does not depend on the
variant, so the overhead per evaluation bounds the one per iteration from above.

The reveal also costs evaluations: one more each time its guide moves (``reveal.steps`` times
in a render), and the guides of each new moment (timed apart, off the evaluations' clock); both
are counted for the classic preset's render, and the goal row is the total.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timelapse_nst.bench.settings import BenchSettings

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from timelapse_nst.engine.objective import Objective, Scheduled
    from timelapse_nst.settings.config import RenderConfig

TARGET_REGIONS_OVERHEAD = 0.05
WARM_UP = 2
"""Evaluations of each variant before the clock runs (the first allocate their buffers)."""


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


@dataclass
class Variant:
    """One objective of the study, the image it evaluates and the scheduled values of the
    iterations sampled over a render."""

    config: RenderConfig
    objective: Objective
    image: torch.Tensor
    moments: list[Scheduled]

    def evaluate(self, k: int) -> float:
        """Seconds of one evaluation (loss and gradient) at the ``k``-th moment."""
        self.image.grad = None
        started = time.perf_counter()
        self.objective.evaluate(self.image, self.moments[k])
        return time.perf_counter() - started

    def moved(self, k: int) -> bool:
        """Whether the reveal's guide moved at the ``k``-th moment (a render evaluates afresh then)."""
        return k > 0 and self.moments[k].reveal != self.moments[k - 1].reveal


def build_variants(settings: BenchSettings, work: Path, samples: int) -> dict[str, Variant]:
    """The three objectives, built as a render builds them, on one network."""
    from timelapse_nst.engine.devices import activation_dtype, pick_device
    from timelapse_nst.engine.loop import scheduled_at
    from timelapse_nst.engine.tensors import to_tensor
    from timelapse_nst.engine.weights import load_vgg19_features
    from timelapse_nst.images import load_image, resize_long_edge
    from timelapse_nst.rendering.regions import RegionFiles, read_regions
    from timelapse_nst.rendering.session import network_features, objectives
    from timelapse_nst.settings import presets
    from timelapse_nst.settings.scales import plan_scales

    photo, painting = load_image(settings.content), load_image(settings.style)
    given: dict[str, tuple[dict[str, Any], list[Image.Image], RegionFiles | None]] = {
        "plain": ({}, [painting], None),
        "masks": ({}, [painting, photo], RegionFiles(masks=tuple(halves(work, photo.size)))),
        "reveal": ({"reveal": {"kind": "left-to-right"}}, [painting], RegionFiles()),
    }
    vgg = load_vgg19_features(settings.weights, seed=presets.resolve("classic").seed)
    variants = {}
    for name, (extra, paintings, files) in given.items():
        config = presets.resolve("classic", extra={"size": settings.target_size, **extra})
        device = pick_device(config.device)
        regions = None if files is None else read_regions(config, files, len(paintings))
        plans = plan_scales(config)
        dtype = activation_dtype(config.precision, device)
        make = objectives(
            config,
            network_features(config, vgg, device),
            photo,
            paintings,
            [False] * len(plans),
            dtype,
            regions=regions,
        )
        total = config.optimizer.iterations
        variants[name] = Variant(
            config,
            make(plans[-1]),
            to_tensor(resize_long_edge(photo, config.size)).to(device).requires_grad_(True),
            [scheduled_at(config, k * total // samples, total, len(paintings)) for k in range(samples)],
        )
    return variants


def measure_regions(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Seconds per evaluation of the three variants, their overheads, and the reveal's whole cost."""
    from timelapse_nst.engine.determinism import deterministic_torch

    samples = settings.ab_rounds * settings.ab_iterations
    steps: list[float] = []  # the reveal's evaluations at a new moment (its guides made then)
    with deterministic_torch():
        variants = build_variants(settings, work, samples)
        names = list(variants)
        times: dict[str, list[float]] = {name: [] for name in names}
        for variant in variants.values():
            for _ in range(WARM_UP):
                variant.evaluate(0)
        for k in range(samples):
            for name in names[k % len(names) :] + names[: k % len(names)]:  # rotate the order
                variant = variants[name]
                if variant.moved(k):
                    steps.append(variant.evaluate(k))
                times[name].append(variant.evaluate(k))
    seconds = {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}
    overhead = {name: seconds[name] / seconds["plain"] - 1 for name in names if name != "plain"}
    config = variants["reveal"].config
    assert config.reveal is not None
    step = statistics.median(steps) if steps else seconds["reveal"]
    # Per iteration at least one evaluation of the plain render's time; per step one evaluation more.
    extra = config.reveal.steps * step / (config.optimizer.iterations * seconds["plain"])
    return {
        "size": settings.target_size,
        "evaluations": samples,
        "seconds_per_evaluation": seconds,
        "overhead": overhead,
        "reveal_steps": config.reveal.steps,
        "reveal_render_iterations": config.optimizer.iterations,
        "reveal_step_seconds": step,
        "reveal_total": overhead["reveal"] + extra,
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
    extra = regions["reveal_total"] - overhead["reveal"]
    return [
        (
            f"plain / two masked styles / a reveal, per evaluation ({regions['evaluations']} each, in turn)",
            f"{figures} (masks {overhead['masks']:+.1%}, reveal {overhead['reveal']:+.1%}); the reveal's "
            f"{regions['reveal_steps']} steps (an evaluation and new guides each) add {extra:+.1%}: {regions['reveal_total']:+.1%} in all",
        )
    ]
