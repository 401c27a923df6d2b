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

from timelapse_nst.engine.lbfgs import BoundedLBFGS
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.settings.config import Optimizer, RenderConfig
from timelapse_nst.settings.scales import ScalePlan, plan_scales


@dataclass(frozen=True)
class Step:
    """What a hook sees after each iteration. Hooks observe; they must not modify ``image``.

    ``image`` is the picture after this iteration as the user gets it (a detached view of the
    live tensor: copy it to keep it). ``losses`` are the seed's objective (its exact TV, even
    where the optimiser minimises a smoothed one) at the image of iteration ``losses_of``: this
    iteration's own image for the bounded L-BFGS (its accepted evaluation), the image it started
    from for Adam and the line-search L-BFGS (the evaluation that drove the update). Iteration 0
    is the initial image, with no losses. ``loss_weights`` are the loss weights of the iteration, ``blend`` each style's share of
    the style loss, ``color`` the amount of the photo's colour kept (None: no colour mode).
    """

    iteration: int
    total: int
    scale: int
    image: torch.Tensor
    losses: Mapping[str, float] = field(default_factory=dict)
    loss_weights: Mapping[str, float] = field(default_factory=dict)
    learning_rate: float = 0.0
    evaluations: int = 0
    blend: tuple[float, ...] = (1.0,)
    color: float | None = None
    losses_of: int | None = None


Hook = Callable[[Step], None]
Snapshot = Callable[[], dict[str, Any]]
"""Returns the loop state needed to continue exactly: scale, iteration, image, optimizer, and
the losses measured at the image (bounded L-BFGS carries its last evaluation into the next step)."""


class RenderInterrupted(Exception):
    """Raised after the iteration in which a stop was requested (Ctrl-C, SIGTERM)."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"stopped after iteration {iteration}")
        self.iteration = iteration


def scheduled_at(config: RenderConfig, iteration: int, total: int, styles: int = 1) -> Scheduled:
    """Every scheduled value of the objective at ``iteration``."""
    terms = {name: getattr(config.loss_weights, name).at(iteration, total) for name in ("content", "style", "tv")}
    blend = config.blend_at(iteration, total, styles)
    reveal = None if config.reveal is None else config.reveal.clock(iteration, total, styles)
    return Scheduled(**terms, blend=blend, color=config.color.amount.at(iteration, total), reveal=reveal)


def color_at(config: RenderConfig, iteration: int, total: int) -> float | None:
    return None if config.color.preserve == "none" else config.color.amount.at(iteration, total)


def make_optimizer(image: torch.Tensor, settings: Optimizer) -> torch.optim.Optimizer:
    if settings.name == "adam":
        return torch.optim.Adam([image], lr=1.0)
    if settings.line_search == "strong_wolfe":
        # The seed's way: torch's L-BFGS with its line search, unbounded (pixels leave 0..255 and
        # are clamped only when saved), several evaluations per iteration. max_iter=1: one true
        # iteration per step(); tolerances at 0: never skip an iteration silently.
        return torch.optim.LBFGS(
            [image],
            lr=1.0,
            max_iter=1,
            history_size=settings.history_size,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
    return BoundedLBFGS([image], history_size=settings.history_size)


def resize_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Carry the painting to the next scale (bicubic, the classic choice for upsampling)."""
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)


class Painter:
    """Optimises one image at one scale; each ``step()`` is one true iteration."""

    def __init__(
        self,
        objective: Objective,
        image: torch.Tensor,
        config: RenderConfig,
        total: int,
        *,
        measured: Mapping[str, Any] | None = None,
    ) -> None:
        self.objective = objective
        self.image = image.detach().clone().requires_grad_(True)
        self.config = config
        self.total = total
        self.optimizer = make_optimizer(self.image, config.optimizer)
        # Bounded L-BFGS keeps the evaluation of the image it ends on for the next iteration;
        # the painter keeps that evaluation's losses and the weights they were measured with.
        self.measured: dict[str, Any] | None = dict(measured) if measured else None

    def step(self, iteration: int, scale: int) -> Step:
        """Iteration number ``iteration`` (1-based, global): evaluate, update, report."""
        # 1. This iteration's weights and step size (any of them may follow a schedule).
        scheduled = scheduled_at(self.config, iteration - 1, self.total, len(self.objective.style_images))
        rate = self.config.optimizer.learning_rate.at(iteration - 1, self.total)  # type: ignore[union-attr]
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        # 2. Update the image; the losses reported are those of a picture the user sees (Step).
        if isinstance(self.optimizer, BoundedLBFGS):
            (losses, evaluations), losses_of = self._bounded_step(scheduled), iteration
        else:
            (losses, evaluations), losses_of = self._plain_step(scheduled), iteration - 1
        if not all(math.isfinite(v) for v in losses.values()):
            raise FloatingPointError(f"the loss became {losses['total']} at iteration {iteration}")
        return Step(
            iteration,
            self.total,
            scale,
            self.presented(iteration),
            losses,
            scheduled.terms(),
            rate,
            evaluations,
            blend=scheduled.blend,
            color=color_at(self.config, iteration - 1, self.total),
            losses_of=losses_of,
        )

    def presented(self, iteration: int) -> torch.Tensor:
        """The picture the user gets after ``iteration`` (colour modes put the photo's chroma back)."""
        amount = self.config.color.amount.at(iteration, self.total)
        return self.objective.present(self.image.detach(), amount)

    def _closure(self, scheduled: Scheduled, evaluations: list[dict[str, Any]]) -> Callable[[], torch.Tensor]:
        """Evaluate the objective at the image as it stands (gradient into image.grad), and
        append each evaluation's losses (the seed's, see Step) and optimised TV to ``evaluations``."""
        terms = scheduled.terms()

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=False)
            total, parts = self.objective.evaluate(self.image, scheduled)  # tiled or not: one contract
            seed = self.objective.seed_parts(self.image.detach(), parts)
            losses = {name: float(value) for name, value in seed.items()}
            losses["total"] = sum(terms[name] * value for name, value in losses.items())
            evaluations.append({"losses": losses, "tv_optimised": float(parts["tv"])})
            return total

        return closure

    def _bounded_step(self, scheduled: Scheduled) -> tuple[dict[str, float], int]:
        """One bounded L-BFGS iteration. Its evaluations are at trial images; the one it accepts
        is at the image it ends on (the losses reported) and starts the next iteration."""
        optimizer = self.optimizer
        assert isinstance(optimizer, BoundedLBFGS)
        self._follow_schedules(optimizer, scheduled)
        evaluations: list[dict[str, Any]] = []
        optimizer.step(self._closure(scheduled, evaluations))
        if self.measured is None:  # a fresh evaluation of the start image came first
            self.measured = {**evaluations[0], "weights": self._key(scheduled)}
        if optimizer.accepted is not None:  # None: the image did not move, its losses stand
            self.measured = {**evaluations[optimizer.accepted], "weights": self._key(scheduled)}
        return self.measured["losses"], len(evaluations)

    def _follow_schedules(self, optimizer: BoundedLBFGS, scheduled: Scheduled) -> None:
        """Keep the kept evaluation true to this iteration's objective.

        Loss weights that moved re-price it from its parts (no new evaluation; the kept gradient
        is one iteration old, a percent or so off). A moved blend of styles, colour level or
        reveal step changes the parts themselves: then the start image is evaluated afresh.
        """
        if self.measured is None or self.measured["weights"] == self._key(scheduled):
            return
        old, new = self.measured["weights"], self._key(scheduled)
        if any(old.get(name) != new.get(name) for name in ("blend", "level", "reveal")):
            optimizer.forget_evaluation()
            self.measured = None
            return
        parts = {name: value for name, value in self.measured["losses"].items() if name != "total"}
        terms = scheduled.terms()
        seed_total = sum(terms[name] * value for name, value in parts.items())
        optimised = {**parts, "tv": self.measured["tv_optimised"]}
        self.measured = {**self.measured, "losses": {**parts, "total": seed_total}, "weights": new}
        optimizer.set_loss(sum(terms[name] * value for name, value in optimised.items()))

    def _key(self, scheduled: Scheduled) -> dict[str, Any]:
        """What an evaluation depends on besides the image, in plain types (checkpoints load them)."""
        level = self.objective.level(scheduled.color)
        key = {**scheduled.terms(), "blend": [float(b) for b in scheduled.blend], "level": level}
        return key if scheduled.reveal is None else {**key, "reveal": scheduled.reveal}

    def _plain_step(self, scheduled: Scheduled) -> tuple[dict[str, float], int]:
        """Adam, or torch's L-BFGS with a line search: evaluate at the image, then update it."""
        evaluations: list[dict[str, Any]] = []
        self.optimizer.step(self._closure(scheduled, evaluations))
        if self.config.optimizer.name == "adam":
            with torch.no_grad():
                self.image.clamp_(0.0, 255.0)  # Adam overshoots the range; its state does not mind
        return evaluations[0]["losses"], len(evaluations)

    def snapshot(self, iteration: int, scale: int) -> dict[str, Any]:
        return {
            "scale": scale,
            "iteration": iteration,
            "image": self.image.detach().cpu().clone(),
            "optimizer": self.optimizer.state_dict(),
            "measured": self.measured,
        }


def initial_image(config: RenderConfig, objective: Objective, picture: torch.Tensor | None = None) -> torch.Tensor:
    """Where the painting starts: the photo, the painting stretched to it, seeded noise, or
    ``picture`` (``init: PATH``: the image file, (1, 3, H, W) 0..255), stretched to the photo."""
    if picture is not None:
        return resize_to(picture.to(objective.content_image.device), *objective.content_size).clamp(0, 255)
    if config.init_file is not None:
        raise ValueError(f"init names an image file ({config.init_file}): pass its picture")
    if config.init == "content":
        return objective.content_image.clone()
    height, width = objective.content_size
    if config.init == "style":
        return F.interpolate(
            objective.style_images[0], size=(height, width), mode="bicubic", align_corners=False, antialias=True
        ).clamp(0, 255)
    generator = torch.Generator().manual_seed(config.seed)
    noise = torch.randn((1, 3, height, width), generator=generator) * 90.0  # the seed's noise ...
    # ... clamped to the range (the seed leaves it unclamped): frame 0 shows what is optimised.
    return (noise + objective.features.mean.cpu()).clamp(0, 255).to(objective.content_image.device)


def paint(
    config: RenderConfig,
    make_objective: Callable[[ScalePlan], Objective],
    image: torch.Tensor | None = None,
    *,
    init: torch.Tensor | None = None,
    hooks: Sequence[Hook] = (),
    after_step: Callable[[Step, Snapshot, bool], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    scale: int = 0,
    iteration: int = 0,
    optimizer_state: dict[str, Any] | None = None,
    measured: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Run (or continue) a render; returns the final picture (as the user gets it).

    A fresh render passes no image (it starts from ``config.init``, the picture ``init`` when
    that is a file); a resumed one passes a snapshot's image, scale, iteration, optimizer state
    and measured losses.
    """
    plans = plan_scales(config)
    total = plans[-1].last
    for plan in plans[scale:]:
        objective = make_objective(plan)
        height, width = objective.content_size
        if image is None:
            image = initial_image(config, objective, init)
            shown = objective.present(image.detach(), config.color.amount.at(0, total))
            for hook in hooks:
                hook(Step(0, total, 0, shown, color=color_at(config, 0, total)))
        painter = Painter(objective, resize_to(image.detach(), height, width), config, total, measured=measured)
        if optimizer_state is not None:
            painter.optimizer.load_state_dict(optimizer_state)
            optimizer_state, measured = None, None
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
