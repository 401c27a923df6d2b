"""Coarse-to-fine: the sizes a render paints at and the iterations each one gets. Pure arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from timelapse_nst.settings.config import RenderConfig


@dataclass(frozen=True)
class ScalePlan:
    """One scale of a coarse-to-fine render: long edge and its global iterations first..last."""

    index: int
    size: int
    first: int
    last: int


def plan_scales(config: RenderConfig) -> list[ScalePlan]:
    """Sizes and iteration ranges; a single full-size scale unless ``scales`` is set."""
    sizes: list[int] = []
    if config.scales is not None:
        k = 0
        while (s := round(config.size * config.scales.start * config.scales.factor**k)) < config.size:
            sizes.append(max(s, 16))
            k += 1
    plans, first = [], 1
    for index, size in enumerate([*sizes, config.size]):
        count = config.optimizer.iterations if index == len(sizes) else config.scales.iterations  # type: ignore[union-attr]
        plans.append(ScalePlan(index, size, first, first + count - 1))
        first += count
    return plans


def total_iterations(config: RenderConfig) -> int:
    return plan_scales(config)[-1].last


def describe_iterations(config: RenderConfig) -> str:
    """'612 iterations: 3 scales of 150 (256, 362, 512 px) + 12 at 1024 px', or '300 iterations at 512 px'."""
    plans = plan_scales(config)
    final = plans[-1]
    count = final.last - final.first + 1
    if len(plans) == 1:
        return f"{final.last} iterations at {final.size} px"
    lower = plans[:-1]
    sizes = ", ".join(str(plan.size) for plan in lower)
    per = lower[0].last - lower[0].first + 1
    scales = "1 scale" if len(lower) == 1 else f"{len(lower)} scales"
    return f"{final.last} iterations: {scales} of {per} ({sizes} px) + {count} at {final.size} px"
