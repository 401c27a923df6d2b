"""The optimisation loop: one true iteration per step, hooks told about each one. No file I/O.

Image tensors are (1, 3, H, W) float32, RGB, 0..255 (the seed's pixel scale).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from timelapse_nst.config import Optimizer, RenderConfig
from timelapse_nst.objective import Objective, Weights
from timelapse_nst.scales import ScalePlan, plan_scales


@dataclass(frozen=True)
class Step:
    """What a hook sees after each iteration. Hooks observe; they must not modify ``image``.

    ``image`` is the picture after this iteration as the user gets it (a detached view of the
    live tensor: copy it to keep it). ``losses`` were measured on the image the iteration
    started from (the evaluation that drove the update); iteration 0 is the initial image, with
    no losses. ``weights`` are the loss weights of the iteration, ``blend`` each style's share of
    the style loss, ``color`` the amount of the photo's colour kept (None: no colour mode).
    """

    iteration: int
    total: int
    scale: int
    image: torch.Tensor
    losses: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    learning_rate: float = 0.0
    evaluations: int = 0
    blend: tuple[float, ...] = (1.0,)
    color: float | None = None


Hook = Callable[[Step], None]
Snapshot = Callable[[], dict[str, Any]]
"""Returns the loop state needed to continue exactly: scale, iteration, image, optimizer."""


class RenderInterrupted(Exception):
    """Raised after the iteration in which a stop was requested (Ctrl-C, SIGTERM)."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"stopped after iteration {iteration}")
        self.iteration = iteration


def weights_at(config: RenderConfig, iteration: int, total: int, styles: int = 1) -> Weights:
    """Every scheduled value of the objective at ``iteration``."""
    terms = {name: getattr(config.weights, name).at(iteration, total) for name in ("content", "style", "tv")}
    blend = config.blend_at(iteration, total, styles)
    return Weights(**terms, blend=blend, color=config.color.amount.at(iteration, total))


def color_at(config: RenderConfig, iteration: int, total: int) -> float | None:
    return None if config.color.preserve == "none" else config.color.amount.at(iteration, total)


def make_optimizer(image: torch.Tensor, settings: Optimizer) -> torch.optim.Optimizer:
    if settings.name == "adam":
        return torch.optim.Adam([image], lr=1.0)
    # max_iter=1: one true iteration per step(); the history lives on in optimizer.state.
    # Tolerances at 0: never skip an iteration silently because the gradient got small.
    return torch.optim.LBFGS(
        [image],
        lr=1.0,
        max_iter=1,
        history_size=settings.history_size,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn=None if settings.line_search == "none" else "strong_wolfe",
    )


def resize_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Carry the painting to the next scale (bicubic, the classic choice for upsampling)."""
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)


FIRST_STEP_PIXELS = 16.0
"""Largest pixel change (0..255 scale) of the first L-BFGS step of each scale. Measured on
128 px renders (40 iterations): 2, 8, 16 and 32 all beat torch's default first step (which
spiked the objective 40x at iteration 6); larger sizes converged slightly faster."""


class Painter:
    """Optimises one image at one scale; each ``step()`` is one true iteration."""

    def __init__(self, objective: Objective, image: torch.Tensor, config: RenderConfig, total: int) -> None:
        self.objective = objective
        self.image = image.detach().clone().requires_grad_(True)
        self.config = config
        self.total = total
        self.optimizer = make_optimizer(self.image, config.optimizer)

    def step(self, iteration: int, scale: int) -> Step:
        """Iteration number ``iteration`` (1-based, global): evaluate, update, report."""
        weights = weights_at(self.config, iteration - 1, self.total, len(self.objective.style_images))
        rate = self.config.optimizer.learning_rate.at(iteration - 1, self.total)  # type: ignore[union-attr]
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        first: dict[str, float] = {}
        evaluations = 0

        def evaluate() -> torch.Tensor:
            nonlocal evaluations
            self.optimizer.zero_grad(set_to_none=False)
            total, parts = self.objective.evaluate(self.image, weights)  # tiled or not: the same contract
            if not first:  # report the evaluation at the iterate, not at line-search trials
                first.update({k: float(v.detach()) for k, v in parts.items()}, total=float(total.detach()))
            evaluations += 1
            return total

        pending = self._first_lbfgs_step(evaluate)

        def closure() -> torch.Tensor:
            nonlocal pending
            if pending is not None:  # evaluated already (gradient in place): don't pay twice
                total, pending = pending, None
                return total
            return evaluate()

        self.optimizer.step(closure)
        if self.config.optimizer.name == "adam":
            with torch.no_grad():
                self.image.clamp_(0.0, 255.0)  # Adam overshoots; L-BFGS is left unclamped (line search)
        if not all(math.isfinite(v) for v in first.values()):
            raise FloatingPointError(f"the loss became {first['total']} at iteration {iteration}")
        return Step(
            iteration,
            self.total,
            scale,
            self.presented(iteration),
            first,
            weights.terms(),
            rate,
            evaluations,
            blend=weights.blend,
            color=color_at(self.config, iteration - 1, self.total),
        )

    def presented(self, iteration: int) -> torch.Tensor:
        """The picture the user gets after ``iteration`` (colour modes put the photo's chroma back)."""
        amount = self.config.color.amount.at(iteration, self.total)
        return self.objective.present(self.image.detach(), amount)

    def _first_lbfgs_step(self, evaluate: Callable[[], torch.Tensor]) -> torch.Tensor | None:
        """Size the first step of a fresh L-BFGS (no line search) to move pixels by a few levels.

        Departure from torch's L-BFGS, whose first step is lr·min(1, 1/‖g‖₁): with gradients of
        ~1e7 that step moves no pixel at all, wasting the first iteration of every render and of
        every scale, and leaving the second one a curvature pair made of rounding noise. A
        steepest-descent step whose largest pixel change is FIRST_STEP_PIXELS gives L-BFGS a
        meaningful first pair. Returns the loss already evaluated (its gradient is in place).
        """
        optimizer = self.optimizer
        if not isinstance(optimizer, torch.optim.LBFGS) or self.config.optimizer.line_search != "none":
            return None
        if optimizer.state[self.image].get("n_iter", 0) != 0:
            return None
        total = evaluate()
        grad = self.image.grad
        assert grad is not None
        largest, l1 = float(grad.abs().max()), float(grad.abs().sum())
        if largest > 0 and math.isfinite(largest) and math.isfinite(l1):
            optimizer.param_groups[0]["lr"] = FIRST_STEP_PIXELS / (min(1.0, 1.0 / l1) * largest)
        return total

    def snapshot(self, iteration: int, scale: int) -> dict[str, Any]:
        return {
            "scale": scale,
            "iteration": iteration,
            "image": self.image.detach().cpu().clone(),
            "optimizer": self.optimizer.state_dict(),
        }


def initial_image(config: RenderConfig, objective: Objective) -> torch.Tensor:
    """Where the painting starts: the photo, the painting stretched to it, or seeded noise."""
    if config.init == "content":
        return objective.content_image.clone()
    height, width = objective.content_size
    if config.init == "style":
        return F.interpolate(
            objective.style_images[0], size=(height, width), mode="bicubic", align_corners=False, antialias=True
        ).clamp(0, 255)
    generator = torch.Generator().manual_seed(config.seed)
    noise = torch.randn((1, 3, height, width), generator=generator) * 90.0  # the seed's noise
    return (noise + objective.features.mean.cpu()).to(objective.content_image.device)


def paint(
    config: RenderConfig,
    make_objective: Callable[[ScalePlan], Objective],
    image: torch.Tensor | None = None,
    *,
    hooks: Sequence[Hook] = (),
    after_step: Callable[[Step, Snapshot, bool], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    scale: int = 0,
    iteration: int = 0,
    optimizer_state: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Run (or continue) a render; returns the final picture (as the user gets it).

    A fresh render passes no image (it starts from ``config.init``); a resumed one passes a
    snapshot's image, scale, iteration and optimizer state.
    """
    plans = plan_scales(config)
    total = plans[-1].last
    for plan in plans[scale:]:
        objective = make_objective(plan)
        height, width = objective.content_size
        if image is None:
            image = initial_image(config, objective)
            shown = objective.present(image.detach(), config.color.amount.at(0, total))
            for hook in hooks:
                hook(Step(0, total, 0, shown, color=color_at(config, 0, total)))
        painter = Painter(objective, resize_to(image.detach(), height, width), config, total)
        if optimizer_state is not None:
            painter.optimizer.load_state_dict(optimizer_state)
            optimizer_state = None
        for number in range(max(iteration, plan.first - 1) + 1, plan.last + 1):
            step = painter.step(number, plan.index)
            for hook in hooks:
                hook(step)
            stopping = number < total and should_stop()  # read once: checkpoint and stop agree
            if after_step is not None:
                after_step(step, lambda n=number, s=plan.index, p=painter: p.snapshot(n, s), stopping)
            if stopping:
                raise RenderInterrupted(number)
        image = painter.image.detach()
    assert image is not None
    return painter.presented(total)
