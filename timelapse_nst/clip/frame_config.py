"""The configuration each frame of a clip is painted with: its iterations, scales and schedules.

A fresh frame (frame 0, or the first after a scene cut) is painted as a still is: the preset's
iterations and coarse-to-fine scales. A later frame starts from the previous painted frame, at full
size, with ``clip.iterations``. Schedules (``clip.schedules``): ``frame`` runs them over a fresh
frame's iterations, and a later frame holds the values they ended with (the objective of the
finished painting it continues); ``clip`` holds every frame at its place in the clip instead.
"""

from __future__ import annotations

from typing import Any

from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.scales import total_iterations


def frame_config(config: RenderConfig, frame: int, frames: int, *, fresh: bool) -> RenderConfig:
    """The configuration of frame ``frame`` (0-based) of ``frames``, started fresh or warped."""
    clip = config.clip
    if clip.schedules == "clip":
        data = held_at(config, frame, max(frames - 1, 1))
    elif fresh:
        data = config.model_dump(mode="json")
    else:
        last = total_iterations(config)
        data = held_at(config, last, last)
    if not fresh:
        iterations = clip.later_iterations(config.optimizer.iterations)
        data["optimizer"] = {**data["optimizer"], "iterations": iterations}
        data["scales"] = None  # the previous frame is already full size
    return RenderConfig.model_validate(data)


def held_at(config: RenderConfig, iteration: int, total: int) -> dict[str, Any]:
    """``config`` as data with every schedule replaced by its value at ``iteration`` of ``total``."""
    data = config.model_dump(mode="json")
    weights = config.loss_weights
    data["loss_weights"] = {name: getattr(weights, name).at(iteration, total) for name in ("content", "style", "tv")}
    if config.style_blend is not None:
        data["style_blend"] = [share.at(iteration, total) for share in config.style_blend]
    data["color"] = {**data["color"], "amount": config.color.amount.at(iteration, total)}
    rate = config.optimizer.learning_rate
    if rate is not None:
        data["optimizer"] = {**data["optimizer"], "learning_rate": rate.at(iteration, total)}
    return data
